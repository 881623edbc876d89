// Off the main thread: concurrent detectBatch calls, the event loop staying responsive while a large
// batch or a training runs, and session verdicts delivered to a callback on the JavaScript thread.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { TRAIN_TIMEOUT_MS, WARMUP, hdfsLines, openTiny, tempDir, withLoopProbe } from './helpers.mjs'

/** Bound on a timer's lateness while native work runs (generous: a shared 2-core CI machine). */
const MAX_LOOP_DELAY_MS = Number(process.env.LOGSENTINEL_MAX_LOOP_DELAY_MS ?? 250)

describe('async', () => {
  let tmp
  before(() => {
    tmp = tempDir()
  })
  after(() => tmp.cleanup())

  test('concurrent detectBatch calls on several projects give the same results as sequential ones', async () => {
    const lines = hdfsLines(3000)
    const det = openTiny(`${tmp.dir}/concurrent`)
    try {
      const keys = [0, 1, 2, 3].map((i) => det.createProject(`p${i}`, { format: 'hdfs' }).apiKey)
      const chunks = [0, 1, 2, 3].map((i) => lines.slice(i * 600, (i + 1) * 600))
      // Sequential reference on a second set of projects.
      const refKeys = [0, 1, 2, 3].map((i) => det.createProject(`ref${i}`, { format: 'hdfs' }).apiKey)
      const reference = []
      for (let i = 0; i < 4; i++) reference.push(await det.detectBatch(refKeys[i], chunks[i]))
      // Two concurrent batches per project (each project's batches are applied one after the other).
      const all = await Promise.all(
        [0, 1, 2, 3].flatMap((i) => [
          det.detectBatch(keys[i], chunks[i].slice(0, 300)),
          det.detectBatch(keys[i], chunks[i].slice(300)),
        ]),
      )
      assert.equal(all.length, 8)
      for (let i = 0; i < 4; i++) {
        const st = det.status(keys[i])
        assert.equal(st.logCount, 600)
        const got = [...all[2 * i].results, ...all[2 * i + 1].results]
        assert.equal(got.length, 600)
        assert.deepEqual(
          got.map((r) => r.logCount).sort((a, b) => a - b),
          Array.from({ length: 600 }, (_, j) => j + 1),
        )
        // As many anomalies as some order of the same lines gives: the same lines, scored once each.
        assert.equal(reference[i].totalLogs, got.length)
        assert.ok(got.every((r) => r.projectId === all[2 * i].projectId))
      }
      // Concurrent batches on ONE project: all lines counted once.
      const one = keys[0]
      await Promise.all([det.detectBatch(one, lines.slice(0, 200)), det.detectBatch(one, lines.slice(200, 400)), det.detect(one, lines[400])])
      assert.equal(det.status(one).logCount, 600 + 401)
    } finally {
      det.close()
    }
  })

  test('the event loop keeps running during a large batch', async () => {
    const lines = hdfsLines(20_000)
    const det = openTiny(`${tmp.dir}/loop`)
    try {
      const key = det.createProject('loop', { format: 'hdfs', warmupThreshold: 1_000_000 }).apiKey
      const { result, ticks, maxDelayMs, elapsedMs } = await withLoopProbe(() => det.detectBatch(key, lines))
      assert.equal(result.totalLogs, 20_000)
      console.log(
        `# detectBatch of 20,000 lines: ${elapsedMs.toFixed(0)} ms, ${ticks} timer ticks, ` +
          `max event-loop delay ${maxDelayMs.toFixed(1)} ms`,
      )
      // A 5 ms timer fires all along (the batch takes far longer than 5 ms).
      assert.ok(ticks >= Math.min(20, elapsedMs / 20), `only ${ticks} ticks in ${elapsedMs} ms`)
      assert.ok(maxDelayMs < MAX_LOOP_DELAY_MS, `event loop blocked ${maxDelayMs} ms`)
    } finally {
      det.close()
    }
  })

  test('the event loop keeps running while a student trains; verdicts reach the callback', async () => {
    const lines = hdfsLines(1500)
    // A somewhat larger student and more epochs: a training of about a second to watch the loop through.
    const det = openTiny(`${tmp.dir}/training`, {
      distillEpochs: 20,
      student: { nLayers: 2, dModel: 64, nHeads: 4, dFf: 128 },
    })
    try {
      const p = det.createProject('training', { format: 'hdfs' })
      await det.detectBatch(p.apiKey, lines.slice(0, WARMUP + 200))
      const job = det.trainingJob(p.apiKey)
      assert.ok(job, 'training started at the threshold')
      const other = det.createProject('other', { format: 'hdfs' }).apiKey
      // While it trains: the loop ticks, and detection keeps serving (the teacher scores).
      const { result, ticks, maxDelayMs, elapsedMs } = await withLoopProbe(async () => {
        const during = await det.detectBatch(p.apiKey, lines.slice(WARMUP + 200))
        const single = det.detect(other, lines[0])
        const status = await det.waitForTraining(p.apiKey, TRAIN_TIMEOUT_MS)
        return { during, single, status }
      })
      console.log(
        `# training wait: ${elapsedMs.toFixed(0)} ms, ${ticks} timer ticks, ` +
          `max event-loop delay ${maxDelayMs.toFixed(1)} ms`,
      )
      assert.equal(result.status.state, 'succeeded')
      assert.ok(det.status(p.apiKey).training.lastDistillSecs > 0.1)
      assert.ok(result.during.results.every((r) => r.modelType === 'teacher'))
      assert.equal(result.single.logCount, 1)
      assert.ok(ticks >= Math.min(20, elapsedMs / 20), `only ${ticks} ticks in ${elapsedMs} ms`)
      assert.ok(maxDelayMs < MAX_LOOP_DELAY_MS, `event loop blocked ${maxDelayMs} ms`)

      // Verdicts: delivered asynchronously, the same as the returned ones, and also queued.
      det.pollSessionVerdicts(p.apiKey, 100_000) // sessions that expired (log time) so far
      const verdicts = []
      det.setVerdictCallback((v) => verdicts.push(v))
      const closed = det.closeAllSessions(p.apiKey)
      assert.ok(closed.length > 0)
      assert.equal(verdicts.length, 0, 'not called synchronously')
      await new Promise((r) => setTimeout(r, 50))
      assert.deepEqual(verdicts, closed)
      assert.equal(det.pollSessionVerdicts(p.apiKey, 100_000).length, closed.length)
      // Cleared: no more calls.
      det.setVerdictCallback(null)
      det.detect(p.apiKey, lines[0])
      assert.equal(det.closeAllSessions(p.apiKey).length, 1)
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(verdicts.length, closed.length)
    } finally {
      det.close()
    }
  })
})
