// A detector kept in a shared PostgreSQL database, from Node (issue 24). Run by scripts/test-node.sh
// under the throwaway server of scripts/test-postgres.sh (LOGSENTINEL_TEST_POSTGRES_URL set); the main
// `node --test __test__/` run does not include this folder.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { TRAIN_TIMEOUT_MS, WARMUP, hdfsLines, logsentinel, rejectsWithCode } from '../__test__/helpers.mjs'

const url = process.env.LOGSENTINEL_TEST_POSTGRES_URL
if (!url) throw new Error('LOGSENTINEL_TEST_POSTGRES_URL is not set: run through scripts/test-postgres.sh')

function shared(instanceId, extra = {}) {
  return new logsentinel.TenantDetector({
    storageUrl: url,
    instanceId,
    leaseTtlSecs: 2,
    warmupThreshold: WARMUP,
    tinyModels: true,
    trainingThreads: 1,
    ...extra,
  })
}

test('a project kept in PostgreSQL is served by the next detector with its student', async () => {
  const lines = hdfsLines(1600)
  const first = shared('node-a')
  assert.equal(first.config.storageUrl, url)
  const p = first.createProject('hdfs-node', { format: 'hdfs' })
  for (let start = 0; start < 1500; start += 500) {
    await first.detectBatch(p.apiKey, lines.slice(start, start + 500))
  }
  const done = await first.waitForTraining(p.apiKey, TRAIN_TIMEOUT_MS)
  assert.equal(done.state, 'succeeded', done.error ?? '')
  first.close()

  const next = shared('node-b')
  try {
    const st = next.status(p.apiKey)
    assert.equal(st.phase, 'active')
    assert.equal(st.hasStudentModel, true)
    assert.equal(st.logCount, 1500)
    assert.equal(next.detect(p.apiKey, lines[1500]).modelType, 'student')
  } finally {
    next.close()
  }
})

test('a second detector is told which instance holds the database, and opens once it is let go', async () => {
  const holder = shared('node-holder:8000')
  try {
    await rejectsWithCode(() => shared('node-other:8000'), 'LEASE_HELD', 'node-holder:8000')
  } finally {
    holder.close()
  }
  shared('node-other:8000').close()
})
