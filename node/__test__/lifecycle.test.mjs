// The whole lifecycle of a project through the Node API, on the committed HDFS sample: warmup on the
// teacher, a real (tiny) student trained in the background, the student serving, session verdicts,
// admin views, keys; then persistence across a new detector on the same storage.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import {
  TRAIN_TIMEOUT_MS,
  WARMUP,
  hdfsLines,
  logsentinel,
  openTiny,
  rejectsWithCode,
  tempDir,
} from './helpers.mjs'

const { TenantDetector, JobHandle } = logsentinel

describe('lifecycle', () => {
  const lines = hdfsLines(3000)
  const { dir, cleanup } = tempDir()
  const storage = `${dir}/storage`
  after(cleanup)

  let saved // what the persistence test checks

  test('warmup, background training, student, sessions, admin, keys', async () => {
    const det = openTiny(storage)
    assert.equal(det.config.warmupThreshold, WARMUP)
    assert.deepEqual(det.config.teacher, { nLayers: 1, dModel: 32, nHeads: 2, dFf: 64 })
    assert.equal(det.storageDir, storage)
    assert.equal(det.closed, false)
    assert.match(String(det), /TenantDetector\(storageDir=/)

    const p = det.createProject('My HDFS', { format: 'hdfs' })
    assert.match(p.apiKey, /^sk-/)
    assert.equal(p.esIndexPattern, `logs-${p.projectId}`)
    assert.equal(p.warmupThreshold, WARMUP)
    assert.equal(p.projectName, 'My HDFS')
    assert.equal(det.trainingJob(p.apiKey), null)
    assert.equal(await det.waitForTraining(p.apiKey, 1000), null)

    // Warmup: single lines, scored synchronously by the teacher.
    const first = det.detect(p.apiKey, lines[0])
    assert.equal(first.phase, 'warmup')
    assert.equal(first.modelType, 'teacher')
    assert.equal(first.logCount, 1)
    assert.match(first.sessionId, /^blk_/)
    assert.ok(first.anomalyScore >= 0 && first.anomalyScore <= 1)
    assert.deepEqual(Object.keys(first.components).sort(), ['isolationForest', 'rules', 'sequence'])
    assert.equal(typeof first.isAnomaly, 'boolean')
    assert.ok(Array.isArray(first.reasons) && Array.isArray(first.parameters))
    assert.equal(first.templateRank, null) // absent values are null, never missing
    assert.deepEqual(JSON.parse(JSON.stringify(first)), first) // plain JSON data
    // Buffers are decoded as UTF-8.
    const second = det.detect(p.apiKey, Buffer.from(lines[1]))
    assert.equal(second.logCount, 2)
    for (const line of lines.slice(2, WARMUP - 1)) det.detect(p.apiKey, line)
    let st = det.status(p.apiKey)
    assert.equal(st.phase, 'warmup')
    assert.equal(st.logCount, WARMUP - 1)
    assert.equal(st.hasStudentModel, false)
    assert.ok(st.warmupProgress > 0.99 && st.warmupProgress < 1)
    assert.ok(st.templateCount > 5 && st.openSessions > 0)
    assert.equal(st.format, 'hdfs')
    assert.equal(st.training.state, null)

    // The threshold: training starts in the background; detection never waits.
    const batch = await det.detectBatch(p.apiKey, lines.slice(WARMUP - 1, 1500))
    assert.equal(batch.totalLogs, 1500 - WARMUP + 1)
    assert.equal(batch.results.length, batch.totalLogs)
    assert.equal(batch.projectId, p.projectId)
    assert.equal(batch.anomaliesDetected, batch.results.filter((r) => r.isAnomaly).length)
    assert.deepEqual(
      batch.results.map((r) => r.logCount),
      Array.from({ length: batch.totalLogs }, (_, i) => WARMUP + i),
    )
    const job = det.trainingJob(p.apiKey)
    assert.ok(job instanceof JobHandle)
    assert.match(job.name, /^train-student/)
    assert.ok(['queued', 'running', 'succeeded'].includes(job.state), job.state)
    assert.ok(job.progress >= 0 && job.progress <= 1)
    const final = await det.waitForTraining(p.apiKey, TRAIN_TIMEOUT_MS)
    assert.equal(final.state, 'succeeded', final.error ?? '')
    assert.equal(final.finished, true)
    assert.equal(final.progress, 1)
    assert.equal(final.error, null)
    assert.equal(job.done(), true)
    assert.deepEqual(job.status(), final)
    assert.deepEqual(await job.wait(0), final)
    assert.deepEqual(await job.result(), final)
    assert.match(String(job), /state=succeeded/)

    st = det.status(p.apiKey)
    assert.equal(st.phase, 'active')
    assert.equal(st.hasStudentModel, true)
    assert.equal(st.training.state, 'succeeded')
    assert.equal(st.training.studentsTrained, 1)
    assert.ok(st.training.lastDurationSecs > 0)
    assert.ok(st.training.lastDistillSecs > 0)

    // Active: the student serves; records as objects with sessions work too.
    const records = lines.slice(1500, 2500).map((logLine) => ({ logLine }))
    records[0] = { logLine: lines[1500], sessionId: 'my-session' }
    records[1] = { logLine: Buffer.from(lines[1501]), sessionId: null }
    const active = await det.detectBatch(p.apiKey, records)
    assert.deepEqual(new Set(active.results.map((r) => r.modelType)), new Set(['student']))
    assert.deepEqual(new Set(active.results.map((r) => r.phase)), new Set(['active']))
    assert.equal(active.results[0].sessionId, 'my-session')
    assert.match(active.results[1].sessionId, /^blk_/)
    assert.ok(active.results.some((r) => r.templateProbability !== null))
    const single = det.detect(p.apiKey, lines[2500], 'other-session')
    assert.equal(single.modelType, 'student')
    assert.equal(single.sessionId, 'other-session')
    assert.equal(single.logCount, 2501)
    await det.detectBatch(p.apiKey, lines.slice(2501))

    // Session verdicts: close one, then all; every verdict is also queued for polling.
    const one = det.closeSession(p.apiKey, 'my-session')
    assert.equal(one.reason, 'closed')
    assert.equal(one.sessionId, 'my-session')
    assert.equal(det.closeSession(p.apiKey, 'no-such-session'), null)
    const rest = det.closeAllSessions(p.apiKey)
    assert.ok(rest.length > 0)
    // Sessions inside their idle timeout were cut by the end of the input; those silent longer than
    // the project's sessions pause had finished, and say so.
    const finished = (v) => v.reason === 'expired' && v.reasons.some((r) => r.includes('finished, not cut'))
    assert.ok(rest.every((v) => (v.reason === 'end_of_input' || finished(v)) && v.modelType === 'student'))
    assert.ok(rest.every((v) => Array.isArray(v.missingTemplates) && v.lines >= 1))
    assert.ok(rest.some((v) => v.sessionId === 'other-session'))
    const polled = det.pollSessionVerdicts(p.apiKey, 5)
    assert.equal(polled.length, 5)
    const restPolled = det.pollSessionVerdicts(p.apiKey, 100_000)
    // Every verdict was queued: the closed sessions (and any that expired on log time meanwhile).
    assert.ok(polled.length + restPolled.length >= rest.length + 1) // + my-session
    assert.deepEqual(det.pollSessionVerdicts(p.apiKey), [])
    assert.equal(det.status(p.apiKey).openSessions, 0)

    // Admin views.
    const health = det.health()
    assert.equal(health.status, 'healthy')
    assert.equal(health.totalProjects, 1)
    assert.equal(health.teacherLoaded, true)
    assert.equal(health.activeStudentModels, 1)
    const info = det.teacherInfo()
    assert.ok(info.trained && info.vocabularySize > 0 && info.parameters > 0)
    assert.ok('sequence_nll' in info.thresholds && 'isolation_forest' in info.thresholds)
    const history = det.updateHistory()
    assert.equal(history.length, 1)
    assert.equal(history[0].success, true)
    assert.equal(history[0].trigger, 'first-distillation')
    const [summary] = det.listProjects()
    assert.deepEqual(
      [summary.projectId, summary.phase, summary.logCount],
      [p.projectId, 'active', 3000],
    )
    assert.equal(det.projectStatus(p.projectId).logCount, 3000)

    // Keys: rotate (old key refused), by id.
    const newKey = det.rotateKey(p.apiKey)
    await rejectsWithCode(() => det.status(p.apiKey), 'INVALID_API_KEY')
    const newer = det.rotateKeyById(p.projectId)
    await rejectsWithCode(() => det.status(newKey), 'INVALID_API_KEY')
    assert.equal(det.status(newer).logCount, 3000)
    assert.equal(det.resetSessions(newer), 0)
    det.detect(newer, lines[0])
    assert.equal(det.resetSessions(newer), 1)

    // Fork (admin): a new project and key from the learned state, active at once.
    const fork = det.forkProject(p.projectId, 'staging')
    assert.notEqual(fork.projectId, p.projectId)
    assert.equal(fork.projectName, 'staging')
    assert.equal(det.status(fork.apiKey).phase, 'active')
    assert.equal(det.detect(fork.apiKey, lines[0]).modelType, 'student')
    await rejectsWithCode(() => det.forkProject('no-such-project', 'x'), 'PROJECT_NOT_FOUND')
    det.deleteProject(fork.projectId)
    det.flush()
    saved = { apiKey: newer, projectId: p.projectId, logCount: 3001, templates: st.templateCount }
    det.close()
    det.close() // idempotent
    assert.equal(det.closed, true)
    await rejectsWithCode(() => det.status(newer), 'CLOSED')
  })

  test('persistence: a new detector on the same storage serves the same student', async () => {
    assert.ok(saved, 'runs after the lifecycle test')
    const det = openTiny(storage)
    try {
      const st = det.status(saved.apiKey)
      assert.equal(st.projectId, saved.projectId)
      assert.equal(st.logCount, saved.logCount)
      assert.equal(st.phase, 'active')
      assert.equal(st.hasStudentModel, true)
      assert.equal(st.templateCount, saved.templates)
      assert.equal(det.health().teacherLoaded, true)
      assert.equal(det.updateHistory().length, 1)
      const more = await det.detectBatch(saved.apiKey, hdfsLines(3200).slice(3000))
      assert.ok(more.results.every((r) => r.modelType === 'student'))
      assert.equal(more.results.at(-1).logCount, saved.logCount + 200)
      // Deleting removes the project and its key for good.
      const second = det.createProject('second')
      det.deleteProject(saved.projectId)
      await rejectsWithCode(() => det.detect(saved.apiKey, 'x'), 'INVALID_API_KEY')
      assert.deepEqual(det.listProjects().map((s) => s.projectName), ['second'])
      assert.equal(det.status(second.apiKey).logCount, 0)
    } finally {
      det.close()
    }
    // A third opening sees the deletion.
    const again = openTiny(storage)
    assert.deepEqual(again.listProjects().map((s) => s.projectName), ['second'])
    again.close()
  })
})

describe('configuration', () => {
  let tmp
  before(() => {
    tmp = tempDir()
  })
  after(() => tmp.cleanup())

  test('every Config field is settable in camelCase; tinyModels; defaults', () => {
    const defaults = logsentinel.defaultConfig()
    assert.equal(defaults.warmupThreshold, 10_000)
    assert.equal(defaults.storageDir, './data')
    assert.equal(defaults.modelDir, null)
    assert.deepEqual(defaults.teacher, { nLayers: 4, dModel: 256, nHeads: 8, dFf: 1024 })
    assert.equal(typeof logsentinel.VERSION, 'string')

    // Every field of the config (as `defaultConfig()` gives it) is an option; `teacher` and `student`
    // given explicitly would win over `tinyModels`, so they are left out here.
    const { teacher: _teacher, student: _student, ...rest } = defaults
    const det = new TenantDetector({
      ...rest,
      storageDir: `${tmp.dir}/a`,
      tinyModels: true,
      maxBatchSize: 10,
      sessionIdleTimeoutSecs: 5,
      seed: 7,
      teacherEpochs: 3, // wins over tinyModels
      studentMemoryBudgetBytes: 8_000_000_000,
      modelDir: undefined,
    })
    try {
      const c = det.config
      assert.equal(c.storageDir, `${tmp.dir}/a`)
      assert.equal(c.maxBatchSize, 10)
      assert.equal(c.sessionIdleTimeoutSecs, 5)
      assert.equal(c.seed, 7)
      assert.equal(c.teacherEpochs, 3)
      assert.equal(c.studentMemoryBudgetBytes, 8_000_000_000)
      assert.deepEqual(c.student, { nLayers: 1, dModel: 32, nHeads: 2, dFf: 64 })
      assert.equal(c.anomalyThreshold, defaults.anomalyThreshold)
      assert.deepEqual(Object.keys(c).sort(), Object.keys(defaults).sort())
    } finally {
      det.close()
    }
    // snake_case keys (the core's spelling) are accepted too.
    const snake = new TenantDetector({ storage_dir: `${tmp.dir}/b`, warmup_threshold: 500 })
    assert.equal(snake.config.warmupThreshold, 500)
    snake.close()
  })
})
