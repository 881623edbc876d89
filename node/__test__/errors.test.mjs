// Every error path: each core error kind reached for real, with its `code` and a message keeping the
// cause; argument errors; calls after close(); async calls reject rather than throw.
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'

import { hdfsLines, logsentinel, openTiny, rejectsWithCode, tempDir, tinyOptions } from './helpers.mjs'

const { TenantDetector } = logsentinel

describe('errors', () => {
  let tmp
  let det
  let key
  before(() => {
    tmp = tempDir()
    det = openTiny(`${tmp.dir}/s`)
    key = det.createProject('x', { format: 'hdfs' }).apiKey
  })
  after(() => {
    det.close()
    tmp.cleanup()
  })

  test('errors are Error objects with the core code and the cause in the message', async () => {
    const e = await rejectsWithCode(() => det.detect('sk-nope', 'line'), 'INVALID_API_KEY')
    assert.ok(e instanceof Error)
    assert.equal(e.message, 'invalid API key')
    assert.ok(e.stack.includes('errors.test.mjs'), 'a JavaScript stack trace')
  })

  test('INVALID_API_KEY', async () => {
    for (const bad of ['', 'sk-nope', `sk-${'0'.repeat(43)}`, key.slice(0, -1)]) {
      await rejectsWithCode(() => det.detect(bad, 'line'), 'INVALID_API_KEY')
      await rejectsWithCode(() => det.status(bad), 'INVALID_API_KEY')
      await rejectsWithCode(() => det.detectBatch(bad, ['line']), 'INVALID_API_KEY')
      await rejectsWithCode(() => det.waitForTraining(bad), 'INVALID_API_KEY')
    }
    await rejectsWithCode(() => det.rotateKey('sk-nope'), 'INVALID_API_KEY')
    await rejectsWithCode(() => det.closeAllSessions('sk-nope'), 'INVALID_API_KEY')
    await rejectsWithCode(() => det.pollSessionVerdicts('sk-nope'), 'INVALID_API_KEY')
    await rejectsWithCode(() => det.trainingJob('sk-nope'), 'INVALID_API_KEY')
  })

  test('PROJECT_NOT_FOUND names the project', async () => {
    await rejectsWithCode(() => det.projectStatus('no-such-project'), 'PROJECT_NOT_FOUND', 'no-such-project')
    await rejectsWithCode(() => det.deleteProject('no-such-project'), 'PROJECT_NOT_FOUND')
    await rejectsWithCode(() => det.rotateKeyById('no-such-project'), 'PROJECT_NOT_FOUND')
  })

  test('INVALID_INPUT: projects, batches and records', async () => {
    await rejectsWithCode(() => det.detectBatch(key, []), 'INVALID_INPUT', 'batch is empty')
    await rejectsWithCode(() => det.createProject('   '), 'INVALID_INPUT')
    await rejectsWithCode(() => det.createProject('x', { warmupThreshold: 5 }), 'INVALID_INPUT', 'warmup_threshold')
    await rejectsWithCode(() => det.createProject('x', { format: 'no-such-format' }), 'INVALID_INPUT', 'unknown log format')
    await rejectsWithCode(() => det.createProject('x', { sessionPattern: '(unclosed' }), 'INVALID_INPUT')
    await rejectsWithCode(() => det.createProject('x', { sesionPattern: 'x' }), 'INVALID_INPUT', 'sesionPattern')
    await rejectsWithCode(
      () => det.createProject('x', { customRules: [{ name: 'r', pattern: '(', severity: 1 }] }),
      'INVALID_INPUT',
    )
    await rejectsWithCode(() => det.createProject('x', 'hdfs'), 'INVALID_INPUT', 'must be an object')
    // Records: each bad one is named by its index; async errors reject the promise.
    const p = det.detectBatch(key, ['ok', 3])
    assert.ok(p instanceof Promise)
    await rejectsWithCode(() => p, 'INVALID_INPUT', 'record 1')
    await rejectsWithCode(() => det.detectBatch(key, [{ sessionId: 'a' }]), 'INVALID_INPUT', 'no logLine')
    await rejectsWithCode(() => det.detectBatch(key, [{ logLine: 'a', session: 'b' }]), 'INVALID_INPUT', 'unknown key "session"')
    await rejectsWithCode(() => det.detectBatch(key, [{ logLine: 'a', sessionId: 7 }]), 'INVALID_INPUT', 'sessionId')
    await rejectsWithCode(() => det.detectBatch(key, [null]), 'INVALID_INPUT', 'record 0')
    await rejectsWithCode(() => det.detect(key, 42), 'INVALID_INPUT', 'logLine must be a string or a Buffer')
    // Lossy decoding instead of an error: invalid UTF-8 and NUL.
    const r = await det.detectBatch(key, [Buffer.from([0x62, 0x79, 0xff, 0x74, 0x65]), 'a\u0000b'])
    assert.equal(r.totalLogs, 2)
    assert.ok((r.results[0].template + r.results[0].parameters.join('')).includes('\ufffd'))
    // The batch size limit comes from the config.
    const small = openTiny(`${tmp.dir}/small`, { maxBatchSize: 10 })
    const k = small.createProject('x').apiKey
    await rejectsWithCode(() => small.detectBatch(k, Array(11).fill('line')), 'INVALID_INPUT', 'max_batch_size')
    small.close()
    // Timeouts must be non-negative.
    await rejectsWithCode(() => det.waitForTraining(key, -1), 'INVALID_INPUT', 'timeoutMs')
  })

  test('napi argument conversion errors keep napi codes', () => {
    assert.throws(() => det.detect(42, 'line'), (e) => e instanceof Error && typeof e.code === 'string')
  })

  test('INVALID_CONFIG names the option', async () => {
    const dir = `${tmp.dir}/cfg`
    const e = await rejectsWithCode(() => new TenantDetector({ storageDir: dir, warmupThreshold: 5 }), 'INVALID_CONFIG')
    assert.match(e.message, /WARMUP_THRESHOLD.*at least 100/)
    await rejectsWithCode(() => new TenantDetector({ storageDir: dir, warmupTreshold: 500 }), 'INVALID_CONFIG', 'warmupTreshold')
    await rejectsWithCode(() => new TenantDetector({ storageDir: dir, maxBatchSize: 'ten' }), 'INVALID_CONFIG', 'maxBatchSize')
    await rejectsWithCode(() => new TenantDetector({ storageDir: dir, tinyModels: 'yes' }), 'INVALID_CONFIG', 'tinyModels')
    await rejectsWithCode(() => new TenantDetector({ storageDir: dir, student: { nLayers: 1 } }), 'INVALID_CONFIG', 'student')
    await rejectsWithCode(() => new TenantDetector({ storageDir: dir, anomalyThreshold: 2 }), 'INVALID_CONFIG', 'anomaly_threshold')
    await rejectsWithCode(() => new TenantDetector({ storageDir: dir, device: 'tpu' }), 'INVALID_CONFIG', 'device')
    await rejectsWithCode(() => new TenantDetector('tiny'), 'INVALID_CONFIG', 'expected an object')
  })

  test('STORAGE_ERROR: not a directory, and locked by another detector', async () => {
    const file = `${tmp.dir}/file`
    writeFileSync(file, 'x')
    await rejectsWithCode(() => openTiny(file), 'STORAGE_ERROR')
    // The storage of `det` is locked while it is open.
    await rejectsWithCode(() => openTiny(`${tmp.dir}/s`), 'STORAGE_ERROR')
  })

  test('MODEL_ERROR: a broken pre-trained teacher', async () => {
    const modelDir = `${tmp.dir}/model`
    mkdirSync(modelDir, { recursive: true })
    const cfg = { vocab_size: 16, d_model: 32, n_layers: 1, n_heads: 2, d_ff: 64, window: 16, word_buckets: 0, rope_theta: 10000.0 }
    writeFileSync(`${modelDir}/teacher.json`, JSON.stringify(cfg))
    writeFileSync(`${modelDir}/teacher.safetensors`, 'not safetensors')
    await rejectsWithCode(() => openTiny(`${tmp.dir}/m`, { modelDir }), 'MODEL_ERROR')
  })

  test('TIMEOUT and CANCELLED on real jobs', async () => {
    // Full-size models on a fresh storage: the first training (teacher and student) takes far longer
    // than the waits below. A teacher update queued behind it on the one job worker is cancelled
    // before it starts; then the training itself is cancelled.
    const busy = new TenantDetector({ storageDir: `${tmp.dir}/busy`, warmupThreshold: 1000, trainingThreads: 1 })
    try {
      const p = busy.createProject('busy', { format: 'hdfs' })
      await busy.detectBatch(p.apiKey, hdfsLines(1500))
      const training = busy.trainingJob(p.apiKey)
      assert.ok(training && !training.done())
      await rejectsWithCode(() => training.wait(50), 'TIMEOUT', 'still running')
      await rejectsWithCode(() => busy.waitForTraining(p.apiKey, 10), 'TIMEOUT')
      const update = busy.forceTeacherUpdate()
      assert.match(update.name, /^teacher-update/)
      update.cancel()
      training.cancel()
      await rejectsWithCode(() => update.result(600_000), 'CANCELLED')
      assert.equal(update.status().state, 'cancelled')
      await rejectsWithCode(() => training.result(600_000), 'CANCELLED')
      assert.deepEqual(await busy.waitForTraining(p.apiKey, 0), training.status())
      assert.equal((await training.wait()).state, 'cancelled') // wait() resolves whatever the outcome
    } finally {
      busy.close()
    }
  })

  test('CLOSED: every call after close() throws or rejects; close() is idempotent', async () => {
    const d = openTiny(`${tmp.dir}/closed`)
    const k = d.createProject('x').apiKey
    d.close()
    d.close()
    assert.equal(d.closed, true)
    assert.match(String(d), /closed/)
    const sync = [
      () => d.detect(k, 'line'),
      () => d.status(k),
      () => d.projectStatus('p'),
      () => d.createProject('y'),
      () => d.listProjects(),
      () => d.deleteProject('p'),
      () => d.rotateKey(k),
      () => d.rotateKeyById('p'),
      () => d.closeSession(k, 's'),
      () => d.closeAllSessions(k),
      () => d.pollSessionVerdicts(k),
      () => d.setVerdictCallback(null),
      () => d.resetSessions(k),
      () => d.trainingJob(k),
      () => d.health(),
      () => d.teacherInfo(),
      () => d.forceTeacherUpdate(),
      () => d.updateHistory(),
      () => d.flush(),
      () => d.config,
    ]
    for (const call of sync) {
      const e = await rejectsWithCode(call, 'CLOSED', 'closed')
      assert.ok(e instanceof Error)
    }
    // Async calls reject (never throw synchronously).
    const batch = d.detectBatch(k, ['line'])
    assert.ok(batch instanceof Promise)
    await rejectsWithCode(() => batch, 'CLOSED')
    const wait = d.waitForTraining(k)
    assert.ok(wait instanceof Promise)
    await rejectsWithCode(() => wait, 'CLOSED')
    // The storage was released: a new detector opens it.
    const again = openTiny(`${tmp.dir}/closed`)
    assert.deepEqual(again.listProjects().map((s) => s.projectName), ['x'])
    again.close()
  })

  test('close() while batches run: they finish or reject with CLOSED, never hang', async () => {
    const d = new TenantDetector(tinyOptions(`${tmp.dir}/racing`))
    const k = d.createProject('x', { format: 'hdfs' }).apiKey
    const lines = hdfsLines(500)
    const pending = Array.from({ length: 6 }, () => d.detectBatch(k, lines))
    d.close()
    const settled = await Promise.allSettled(pending)
    for (const s of settled) {
      if (s.status === 'rejected') assert.equal(s.reason.code, 'CLOSED')
      else assert.equal(s.value.totalLogs, 500)
    }
  })
})
