// Shared helpers of the example tests.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const EXAMPLES = resolve(here, '..')
export const HDFS_LOG = resolve(here, '..', '..', '..', 'tests', 'fixtures', 'hdfs', 'hdfs_dev_20k.log')

/** A fresh temporary directory and its cleanup. */
export function tempDir(prefix = 'logsentinel-examples-') {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The first `n` lines of the committed HDFS sample. */
export function hdfsLines(n) {
  return readFileSync(HDFS_LOG, 'utf8').split('\n').filter(Boolean).slice(0, n)
}

/** Detector options for tests: tiny models, one training thread. */
export const TINY = { warmupThreshold: 1000, tinyModels: true, trainingThreads: 1 }
