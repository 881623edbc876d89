// Groups records into `detectBatch` calls: one promise per batch instead of one call per line, so a
// busy service scores its logs off the main thread at batch speed. Used by the access-log middleware
// and the pino transport.
//
//   const b = new Batcher(det, apiKey, { maxBatch: 256, flushMs: 50, onResult: (d, record) => {} })
//   b.push('a line')  or  b.push({ logLine, sessionId })
//   await b.flush()   // scores what is queued now
//   await b.close()   // flushes and stops the timer

/** Batches records of one project. */
export class Batcher {
  /**
   * @param {import('logsentinel').TenantDetector} det
   * @param {string} apiKey
   * @param {{ maxBatch?: number, flushMs?: number,
   *   onResult?: (d: import('logsentinel').Detection, record: string | import('logsentinel').LogInput, meta: unknown) => void,
   *   onError?: (err: Error, records: Array<string | import('logsentinel').LogInput>) => void }} [options]
   */
  constructor(det, apiKey, { maxBatch = 256, flushMs = 50, onResult, onError } = {}) {
    this.det = det
    this.apiKey = apiKey
    this.maxBatch = maxBatch
    this.flushMs = flushMs
    this.onResult = onResult ?? (() => {})
    this.onError = onError ?? ((err) => process.emitWarning(`logsentinel: ${err.code ?? ''} ${err.message}`))
    this.queue = []
    this.metas = []
    this.timer = null
    // Batches of one project are scored in order: each waits for the previous one.
    this.tail = Promise.resolve()
    this.scored = 0
  }

  /** Queues one record (with optional metadata handed back to `onResult`). */
  push(record, meta) {
    this.queue.push(record)
    this.metas.push(meta)
    if (this.queue.length >= this.maxBatch) {
      void this.flush()
    } else if (this.timer === null) {
      this.timer = setTimeout(() => void this.flush(), this.flushMs)
      this.timer.unref?.()
    }
  }

  /** Scores everything queued so far; resolves when it (and every earlier batch) is scored. */
  flush() {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    if (this.queue.length > 0) {
      const records = this.queue
      const metas = this.metas
      this.queue = []
      this.metas = []
      this.tail = this.tail.then(async () => {
        try {
          const batch = await this.det.detectBatch(this.apiKey, records)
          this.scored += batch.totalLogs
          batch.results.forEach((d, i) => this.onResult(d, records[i], metas[i]))
        } catch (err) {
          this.onError(err, records)
        }
      })
    }
    return this.tail
  }

  /** Flushes and stops. */
  async close() {
    await this.flush()
  }
}
