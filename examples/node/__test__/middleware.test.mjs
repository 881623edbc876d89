// The access-log middleware on a real `http` server: combined lines, per-project routing, batching off
// the main thread, attacks and server errors flagged.
import assert from 'node:assert/strict'
import http from 'node:http'
import { after, before, describe, test } from 'node:test'

import { TenantDetector } from 'logsentinel'

import { accessLogMiddleware, clfDate, combinedLine } from '../access-log-middleware.mjs'
import { TINY, tempDir } from './helpers.mjs'

describe('access-log middleware', () => {
  let tmp
  before(() => {
    tmp = tempDir()
  })
  after(() => tmp.cleanup())

  test('combined access-log lines', () => {
    assert.equal(clfDate(new Date(Date.UTC(2000, 9, 10, 13, 55, 36))), '10/Oct/2000:13:55:36 +0000')
    const req = {
      socket: { remoteAddress: '::ffff:10.0.0.7' },
      method: 'GET',
      url: '/a b"c',
      httpVersion: '1.1',
      headers: { 'user-agent': 'curl/8.0', referer: 'https://example.com/' },
    }
    const res = { statusCode: 404, getHeader: (h) => (h === 'content-length' ? 12 : undefined) }
    assert.equal(
      combinedLine(req, res, new Date(Date.UTC(2024, 0, 2, 3, 4, 5))),
      '10.0.0.7 - - [02/Jan/2024:03:04:05 +0000] "GET /a b\\"c HTTP/1.1" 404 12 "https://example.com/" "curl/8.0"',
    )
  })

  test('scores every request in its project; attacks and 5xx are flagged', async () => {
    const det = new TenantDetector({ ...TINY, storageDir: `${tmp.dir}/s` })
    try {
      const a = det.createProject('site-a', { format: 'combined' }).apiKey
      const b = det.createProject('site-b', { format: 'combined' }).apiKey
      const results = []
      const anomalies = []
      const scorer = accessLogMiddleware(det, {
        // Per project: by path prefix here (by Host header or tenant in real code); /health is not scored.
        apiKey: (req) => (req.url.startsWith('/a/') ? a : req.url.startsWith('/b/') ? b : undefined),
        onResult: (d, line) => results.push({ d, line }),
        onAnomaly: (d, line) => anomalies.push({ d, line }),
        flushMs: 20,
      })
      const server = http.createServer((req, res) =>
        scorer(req, res, () => {
          res.statusCode = req.url.includes('/admin') ? 503 : 200
          res.setHeader('content-type', 'text/plain')
          res.end('ok\n')
        }),
      )
      await new Promise((r) => server.listen(0, '127.0.0.1', r))
      const base = `http://127.0.0.1:${server.address().port}`
      const paths = []
      for (let i = 0; i < 40; i++) paths.push(`/a/products/${i}?page=${i % 4}`, `/b/articles/${i}`)
      paths.push('/health')
      const sqli = "/a/search?q=1'%20OR%20'1'='1'%20--"
      const traversal = '/b/download?file=..%2F..%2F..%2Fetc%2Fpasswd'
      const error = '/a/admin/export'
      paths.push(sqli, traversal, error)
      // Requests in parallel, as a server sees them.
      const statuses = await Promise.all(paths.map((p) => fetch(base + p).then((r) => r.status)))
      assert.equal(statuses.filter((s) => s === 503).length, 1)
      await scorer.close()
      server.close()

      assert.equal(det.status(a).logCount, 40 + 2)
      assert.equal(det.status(b).logCount, 40 + 1)
      assert.equal(results.length, 83)
      assert.deepEqual(scorer.scored(), new Map([[a, 42], [b, 41]]))
      // The format's header was parsed: the client IP is the session, the path is in the line.
      assert.ok(results.every(({ d }) => d.sessionId === '127.0.0.1'), JSON.stringify(results[0].d))
      // (fetch percent-encodes the quotes of the query: match on the path.)
      const of = (p) => results.find(({ line }) => line.includes(` ${p.split('?')[0]}`))
      const rules = (p) => of(p).d.matchedRules
      assert.ok(rules(sqli).includes('attack:sqli'), rules(sqli).join(','))
      assert.ok(rules(traversal).includes('attack:traversal'), rules(traversal).join(','))
      assert.ok(rules(error).includes('http:5xx'), rules(error).join(','))
      const flagged = new Set(anomalies.map(({ line }) => line))
      assert.ok(flagged.has(of(sqli).line), 'the SQL injection is an anomaly')
      assert.ok(flagged.has(of(traversal).line), 'the traversal is an anomaly')
      assert.ok(anomalies.every(({ d }) => d.isAnomaly))
    } finally {
      det.close()
    }
  })

  test('Express-style use: next() is called at once, responses are never delayed', async () => {
    const det = new TenantDetector({ ...TINY, storageDir: `${tmp.dir}/x` })
    try {
      const key = det.createProject('express', { format: 'combined' }).apiKey
      const scorer = accessLogMiddleware(det, { apiKey: key })
      let nextCalled = false
      const req = { socket: {}, method: 'GET', url: '/', httpVersion: '1.1', headers: {} }
      const listeners = {}
      const res = {
        statusCode: 200,
        getHeader: () => undefined,
        once: (event, fn) => {
          listeners[event] = fn
        },
      }
      scorer(req, res, () => {
        nextCalled = true
      })
      assert.ok(nextCalled)
      listeners.finish()
      await scorer.flush()
      assert.equal(det.status(key).logCount, 1)
    } finally {
      det.close()
    }
  })
})
