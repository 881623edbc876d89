// The pino transport (in pino's worker thread, with its own detector) and the in-process stream.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'

import { TenantDetector } from 'logsentinel'
import pino from 'pino'

import { createLogsentinelStream, recordLine } from '../pino-transport.mjs'
import { EXAMPLES, TINY, tempDir } from './helpers.mjs'

const ERROR_MESSAGE = 'database connection lost: ECONNRESET, giving up after 3 retries'

/** An application's logs: routine request lines, then one error. */
function logSome(logger, n = 200) {
  for (let i = 0; i < n; i++) {
    const child = logger.child({ reqId: `req-${i % 20}` })
    child.info({ route: '/orders', ms: 10 + (i % 7) }, `request handled in ${10 + (i % 7)} ms`)
    if (i % 10 === 0) child.debug('cache miss for key orders:%d', i)
  }
  logger.error({ reqId: 'req-x' }, ERROR_MESSAGE)
}

describe('pino', () => {
  let tmp
  before(() => {
    tmp = tempDir()
  })
  after(() => tmp.cleanup())

  test('recordLine names the level', () => {
    const line = recordLine({ level: 50, time: 1700000000000, msg: 'boom', pid: 1 })
    assert.deepEqual(JSON.parse(line), { level: 'error', time: 1700000000000, msg: 'boom', pid: 1 })
  })

  test('transport: a worker thread feeds the logs into the project', async () => {
    const storageDir = join(tmp.dir, 'transport')
    const anomalies = join(tmp.dir, 'anomalies.jsonl')
    // The project is created once (its key kept by the app); the transport's worker owns the storage.
    const setup = new TenantDetector({ ...TINY, storageDir })
    const { apiKey } = setup.createProject('orders-service', { format: 'json' })
    setup.close()

    const transport = pino.transport({
      target: join(EXAMPLES, 'pino-transport.mjs'),
      options: { storageDir, apiKey, detector: TINY, anomalies, sessionKey: 'reqId', flushMs: 20 },
    })
    const logger = pino({ level: 'info' }, transport)
    logSome(logger)
    logger.flush()
    // The worker scores the last batch and closes its detector before the transport closes. Nothing
    // else keeps this test's event loop alive meanwhile (a server's would be): a timer does.
    const keepAlive = setInterval(() => {}, 1000)
    transport.end()
    await once(transport, 'close')
    clearInterval(keepAlive)

    // The worker closed its detector: the storage has every record (info and error; debug is below the
    // logger's level).
    const det = new TenantDetector({ ...TINY, storageDir })
    try {
      const st = det.status(apiKey)
      assert.equal(st.logCount, 201)
      assert.equal(st.format, 'json')
      assert.ok(st.templateCount >= 2 && st.templateCount < 20, `${st.templateCount} templates`)
      assert.ok(existsSync(anomalies))
      const flagged = readFileSync(anomalies, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
      const error = flagged.find((a) => a.line.includes('ECONNRESET'))
      assert.ok(error, `the error is reported: ${JSON.stringify(flagged)}`)
      assert.equal(error.session, 'req-x')
      assert.equal(JSON.parse(error.line).level, 'error')
    } finally {
      det.close()
    }
  })

  test('in-process stream: pino(options, createLogsentinelStream(det, apiKey))', async () => {
    const det = new TenantDetector({ ...TINY, storageDir: join(tmp.dir, 'stream') })
    try {
      const { apiKey } = det.createProject('api', { format: 'json' })
      const seen = []
      const stream = createLogsentinelStream(det, apiKey, { onAnomaly: (d, line) => seen.push({ d, line }) })
      const logger = pino({ level: 'debug' }, stream)
      // (The error stands out once errors are rare in the project: a rule's score is discounted by
      // how often it fires there.)
      logSome(logger, 300)
      await stream.flushed()
      assert.equal(det.status(apiKey).logCount, 300 + 30 + 1)
      const error = seen.find(({ line }) => line.includes('ECONNRESET'))
      assert.ok(error, 'the error line is an anomaly')
      assert.ok(error.d.matchedRules.some((r) => r.startsWith('severity:')), error.d.matchedRules.join(','))
      stream.end()
      await once(stream, 'finish')
    } finally {
      det.close()
    }
  })
})
