// Quick start (Node.js): the README's example, run by scripts/test-node.sh.
//
// Streams the first 3,000 lines of the committed HDFS sample through one project: warmup on the shared
// teacher, a student trained in the background at 1,000 lines, then the student serving. Tiny models keep
// it to seconds; drop `tinyModels: true` for the real sizes.
//
//   node examples/node/quickstart.mjs [LOG_FILE]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import { TenantDetector } from 'logsentinel'

const here = dirname(fileURLToPath(import.meta.url))
const LOG = process.argv[2] ?? resolve(here, '..', '..', 'tests', 'fixtures', 'hdfs', 'hdfs_dev_20k.log')

const lines = readFileSync(LOG, 'utf8').split('\n').filter(Boolean).slice(0, 3000)
const storageDir = mkdtempSync(join(tmpdir(), 'logsentinel-quickstart-'))

const det = new TenantDetector({ storageDir, warmupThreshold: 1000, tinyModels: true })
let ok = false
try {
  const p = det.createProject('My HDFS', { format: 'hdfs' }) // p.apiKey is shown only here
  const anomalousSessions = []
  det.setVerdictCallback((v) => {
    // called on the event loop as each session closes
    if (v.isAnomaly) anomalousSessions.push(v)
  })

  let flagged = 0
  for (const line of lines.slice(0, 1500)) {
    // one synchronous call per line; the session is the HDFS block id
    const d = det.detect(p.apiKey, line)
    if (d.isAnomaly) flagged += 1
  }
  console.log(`warmup: ${flagged} of 1500 lines flagged by the teacher`)

  const job = det.trainingJob(p.apiKey) // started at the threshold, in the background
  const status = await job.wait(300_000) // or: await det.waitForTraining(p.apiKey)
  console.log(`training ${status.state} in the background; phase now ${det.status(p.apiKey).phase}`)

  const batch = await det.detectBatch(p.apiKey, lines.slice(1500)) // off the main thread, faster per line
  console.log(`student: ${batch.anomaliesDetected} of ${batch.totalLogs} lines flagged`)
  for (const d of batch.results.filter((r) => r.isAnomaly).slice(0, 3)) {
    console.log(`  ${d.anomalyScore.toFixed(2)} ${d.template} | ${d.reasons.join('; ')}`)
  }

  det.closeAllSessions(p.apiKey) // end of input: every open session gets a verdict
  const polled = det.pollSessionVerdicts(p.apiKey, 100_000) // the same verdicts, queued for polling
  await new Promise((r) => setImmediate(r)) // let the callback see them
  console.log(`${polled.length} session verdicts, ${anomalousSessions.length} anomalous (seen by the callback)`)
  for (const v of anomalousSessions.slice(0, 3)) {
    console.log(`  ${v.sessionId} ${v.anomalyScore.toFixed(2)} ${v.reasons.join('; ')}`)
  }

  try {
    det.detect('sk-not-a-key', lines[0])
  } catch (err) {
    console.log(`errors carry the core's code: ${err.code} (${err.message})`)
  }
  ok = status.state === 'succeeded' && batch.results[0].modelType === 'student'
} finally {
  det.close()
  rmSync(storageDir, { recursive: true, force: true })
}
process.exitCode = ok ? 0 : 1
