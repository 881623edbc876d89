// A pino transport that feeds an application's logs into a logsentinel project.
//
// pino runs transports in a worker thread, so the application's event loop never waits for scoring.
// The worker opens its own detector on `storageDir` (one detector per storage: the application must not
// open the same storage itself while the transport runs), scores each log record in batches, and
// appends the anomalies as JSON lines to `anomalies` (a file path; default: stderr).
//
//   import pino from 'pino'
//   const logger = pino({
//     transport: {
//       target: './pino-transport.mjs',         // an absolute path or file URL in real code
//       options: { storageDir: './data', apiKey: process.env.LOGSENTINEL_KEY, anomalies: './anomalies.jsonl' },
//     },
//   })
//
// Options: `storageDir` and `apiKey` (required), `detector` (more detector options, e.g.
// `{ tinyModels: true }`), `sessionKey` (a record field giving the session id; default: the core's JSON
// format picks `session`, `session_id`, `trace_id` or `request_id`), `maxBatch`, `flushMs`.
//
// Each record is scored as the JSON line pino wrote, with the numeric level replaced by its name
// (`"level":"error"`), so a project created with `{ format: 'json' }` sees the message (`msg`), level,
// time and logger name. Records are scored in order; the last batch is scored when the logger ends.
//
// `createLogsentinelStream(det, apiKey)` is the in-process alternative: a destination stream for
// `pino(options, stream)` feeding a detector the application already has open.
import { createWriteStream } from 'node:fs'
import { Writable } from 'node:stream'

import build from 'pino-abstract-transport'
import { TenantDetector } from 'logsentinel'

import { Batcher } from './batcher.mjs'

const LEVELS = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/** The line to score for one pino record (an object): its JSON, with the level's name. */
export function recordLine(record) {
  const level = LEVELS[record.level] ?? record.level
  return JSON.stringify({ ...record, level })
}

function recordInput(record, sessionKey) {
  const logLine = recordLine(record)
  const session = sessionKey ? record[sessionKey] : undefined
  return session === undefined || session === null ? logLine : { logLine, sessionId: String(session) }
}

/** The transport (pino calls it in its worker thread with the `options` of `transport`). */
export default async function logsentinelTransport(options) {
  const { storageDir, apiKey, detector = {}, anomalies, sessionKey, maxBatch = 256, flushMs = 100 } = options
  if (!storageDir || !apiKey) throw new Error('logsentinel transport: storageDir and apiKey are required')
  const det = new TenantDetector({ ...detector, storageDir })
  const out = anomalies ? createWriteStream(anomalies, { flags: 'a' }) : process.stderr
  const batcher = new Batcher(det, apiKey, {
    maxBatch,
    flushMs,
    onResult: (d, input) => {
      if (!d.isAnomaly) return
      const line = typeof input === 'string' ? input : input.logLine
      out.write(
        `${JSON.stringify({
          score: d.anomalyScore,
          template: d.template,
          reasons: d.reasons,
          session: d.sessionId,
          modelType: d.modelType,
          line,
        })}\n`,
      )
    },
  })
  return build(
    async (source) => {
      for await (const record of source) batcher.push(recordInput(record, sessionKey))
    },
    {
      async close() {
        await batcher.close()
        det.close()
        if (out !== process.stderr) await new Promise((r) => out.end(r))
      },
    },
  )
}

/**
 * An in-process pino destination: `pino(options, createLogsentinelStream(det, apiKey, { onAnomaly }))`.
 * Lines are scored in batches off the main thread; `await stream.flushed()` waits for what was written.
 */
export function createLogsentinelStream(det, apiKey, { onAnomaly, sessionKey, maxBatch = 256, flushMs = 50 } = {}) {
  const batcher = new Batcher(det, apiKey, {
    maxBatch,
    flushMs,
    onResult: (d, input) => {
      if (d.isAnomaly) onAnomaly?.(d, typeof input === 'string' ? input : input.logLine)
    },
  })
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (!text) continue
        let record
        try {
          record = JSON.parse(text)
        } catch {
          batcher.push(text)
          continue
        }
        batcher.push(recordInput(record, sessionKey))
      }
      callback()
    },
    final(callback) {
      batcher.close().then(() => callback(), callback)
    },
  })
  stream.flushed = () => batcher.flush()
  return stream
}
