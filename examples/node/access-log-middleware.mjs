// Access-log middleware for Node's `http` servers and Express: each finished request is written as a
// combined access-log line (the Apache/Nginx format) and scored by logsentinel in the project the request
// belongs to (one project per site, tenant or service: `apiKey` may be a function of the request).
// Scoring runs in batches off the main thread (`detectBatch`) and never delays the response.
//
//   import { accessLogMiddleware } from './access-log-middleware.mjs'
//   const scorer = accessLogMiddleware(det, {
//     apiKey: (req) => keysByHost[req.headers.host],       // or one key for every request
//     onAnomaly: (d, line) => console.warn('anomaly', d.anomalyScore.toFixed(2), line, d.reasons),
//   })
//   app.use(scorer)                                           // Express
//   http.createServer((req, res) => scorer(req, res, () => handler(req, res)))   // plain http
//   await scorer.close()                                      // scores what is still queued
//
// Projects should be created with `{ format: 'combined' }`: the header then gives the client IP (the
// default session key), time, status (5xx rule), request path and user agent (attack rules).
//
//   node examples/node/access-log-middleware.mjs    # a demo server on a random port, a few requests
import { fileURLToPath } from 'node:url'

import { Batcher } from './batcher.mjs'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** `10/Oct/2000:13:55:36 +0000` (UTC). */
export function clfDate(date = new Date()) {
  const p = (n) => String(n).padStart(2, '0')
  return (
    `${p(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:` +
    `${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`
  )
}

/** A quoted field of the combined format (`"` and `\` escaped, control characters dropped). */
function quoted(value) {
  if (value === undefined || value === null || value === '') return '"-"'
  // eslint-disable-next-line no-control-regex
  return `"${String(value).replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f]/g, '')}"`
}

/**
 * The combined access-log line of a finished request:
 * `ip - user [date] "METHOD url HTTP/x" status bytes "referer" "user-agent"`.
 */
export function combinedLine(req, res, now = new Date()) {
  const ip = (req.socket?.remoteAddress ?? '-').replace(/^::ffff:/, '')
  const user = req.user?.name ?? req.user?.id ?? '-'
  const url = req.originalUrl ?? req.url ?? '/'
  const length = res.getHeader('content-length') ?? res.bytesWritten ?? '-'
  const request = `${req.method} ${url} HTTP/${req.httpVersion}`
  return (
    `${ip} - ${String(user).replace(/\s/g, '_')} [${clfDate(now)}] ${quoted(request)} ${res.statusCode} ` +
    `${length} ${quoted(req.headers.referer ?? req.headers.referrer)} ${quoted(req.headers['user-agent'])}`
  )
}

/**
 * Returns a `(req, res, next)` middleware scoring every request's access-log line.
 *
 * @param {import('logsentinel').TenantDetector} det
 * @param {{
 *   apiKey: string | ((req: import('node:http').IncomingMessage) => string | undefined),
 *   onAnomaly?: (d: import('logsentinel').Detection, line: string, req: import('node:http').IncomingMessage) => void,
 *   onResult?: (d: import('logsentinel').Detection, line: string, req: import('node:http').IncomingMessage) => void,
 *   sessionId?: (req: import('node:http').IncomingMessage) => string | undefined,
 *   maxBatch?: number, flushMs?: number,
 * }} options `apiKey` picks the project (requests it maps to `undefined` are not scored);
 *   `sessionId` overrides the default session (the client IP); `onResult` sees every verdict.
 */
export function accessLogMiddleware(det, options) {
  const { apiKey, onAnomaly, onResult, sessionId, maxBatch = 256, flushMs = 50 } = options
  const keyOf = typeof apiKey === 'function' ? apiKey : () => apiKey
  const batchers = new Map()
  const batcherFor = (key) => {
    let b = batchers.get(key)
    if (!b) {
      b = new Batcher(det, key, {
        maxBatch,
        flushMs,
        onResult: (d, record, req) => {
          const line = typeof record === 'string' ? record : record.logLine
          onResult?.(d, line, req)
          if (d.isAnomaly) onAnomaly?.(d, line, req)
        },
      })
      batchers.set(key, b)
    }
    return b
  }

  function middleware(req, res, next) {
    res.once('finish', () => {
      const key = keyOf(req)
      if (!key) return
      const logLine = combinedLine(req, res)
      const session = sessionId?.(req)
      batcherFor(key).push(session ? { logLine, sessionId: session } : logLine, req)
    })
    next()
  }
  /** Scores every queued line now. */
  middleware.flush = () => Promise.all([...batchers.values()].map((b) => b.flush()))
  /** Flushes; call before closing the detector. */
  middleware.close = () => Promise.all([...batchers.values()].map((b) => b.close()))
  /** Lines scored so far, per API key. */
  middleware.scored = () => new Map([...batchers].map(([k, b]) => [k, b.scored]))
  return middleware
}

// Demo: `node examples/node/access-log-middleware.mjs`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const http = await import('node:http')
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { TenantDetector } = await import('logsentinel')
  const storageDir = mkdtempSync(join(tmpdir(), 'logsentinel-mw-'))
  const det = new TenantDetector({ storageDir, warmupThreshold: 1000, tinyModels: true })
  const { apiKey } = det.createProject('demo-site', { format: 'combined' })
  const scorer = accessLogMiddleware(det, {
    apiKey,
    onAnomaly: (d, line) => console.log(`anomaly ${d.anomalyScore.toFixed(2)} ${line}\n  ${d.reasons.join('; ')}`),
  })
  const server = http.createServer((req, res) =>
    scorer(req, res, () => {
      res.statusCode = req.url.startsWith('/admin') ? 500 : 200
      res.end('ok\n')
    }),
  )
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const base = `http://127.0.0.1:${server.address().port}`
  for (let i = 0; i < 50; i++) await fetch(`${base}/products/${i}?page=${i % 3}`)
  await fetch(`${base}/search?q=1'%20OR%20'1'='1`)
  await fetch(`${base}/admin/export`)
  await scorer.close()
  console.log(`scored ${det.status(apiKey).logCount} requests`)
  server.close()
  det.close()
  rmSync(storageDir, { recursive: true, force: true })
}
