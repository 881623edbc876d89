// Lines/s of detect and detectBatch from Node, next to the same work in Rust, and the event-loop delay
// while a large batch runs.
//
//   node examples/node/bench.mjs [--lines N] [--rust target/node/release/examples/binding_bench] [--json out.json]
//
// The work is that of `core/examples/binding_bench.rs` (the same as the Python binding's benchmark):
// tiny models; a project trained at warmup 1,000 on lines 0..2000 (untimed); then N lines scored in
// the warmup phase (teacher) one call per line on a fresh project, the same lines in batches of 256 on
// another fresh project, then lines 2000..2000+N on the trained project (student) one call per line,
// its sessions reset, and the same lines again in batches. Each cell is the best of 3 runs. With
// `--rust`, the Rust binary runs right before and right after, on the same machine (each Rust cell the
// better of the two), and a Markdown table compares both.
//
// Then: one detectBatch of every line of the sample (20,000) on a warmup project while a 1 ms interval
// timer and `perf_hooks.monitorEventLoopDelay` watch the event loop.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { TenantDetector } from 'logsentinel'

const here = dirname(fileURLToPath(import.meta.url))
const LOG = resolve(here, '..', '..', 'tests', 'fixtures', 'hdfs', 'hdfs_dev_20k.log')
const BATCH = 256
const REPEATS = 3
const NEVER = 1_000_000_000 // a warmup threshold never reached: teacher scoring throughout

function rate(n, work) {
  const start = performance.now()
  work()
  return n / ((performance.now() - start) / 1000)
}

async function rateAsync(n, work) {
  const start = performance.now()
  await work()
  return n / ((performance.now() - start) / 1000)
}

export async function benchNode(path, n) {
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean)
  if (lines.length < 2000 + n) throw new Error(`${path} has ${lines.length} lines, need ${2000 + n}`)
  const storageDir = mkdtempSync(join(tmpdir(), 'logsentinel-bench-'))
  const det = new TenantDetector({ storageDir, warmupThreshold: 1000, tinyModels: true })
  try {
    const active = det.createProject('bench-active', { format: 'hdfs' })
    for (let i = 0; i < 2000; i += 500) await det.detectBatch(active.apiKey, lines.slice(i, i + 500))
    await det.waitForTraining(active.apiKey, 600_000)

    const singles = (key, chunk) => () => {
      for (const line of chunk) det.detect(key, line)
    }
    const batches = (key, chunk) => async () => {
      for (let i = 0; i < chunk.length; i += BATCH) await det.detectBatch(key, chunk.slice(i, i + BATCH))
    }
    const fresh = (name) => det.createProject(name, { format: 'hdfs', warmupThreshold: NEVER }).apiKey
    const warm = lines.slice(0, n)
    const act = lines.slice(2000, 2000 + n)
    const best = { warmupDetect: 0, warmupBatch: 0, activeDetect: 0, activeBatch: 0 }
    for (let rep = 0; rep < REPEATS; rep++) {
      best.warmupDetect = Math.max(best.warmupDetect, rate(n, singles(fresh(`bench-warmup-single-${rep}`), warm)))
      best.warmupBatch = Math.max(best.warmupBatch, await rateAsync(n, batches(fresh(`bench-warmup-batch-${rep}`), warm)))
      det.resetSessions(active.apiKey)
      best.activeDetect = Math.max(best.activeDetect, rate(n, singles(active.apiKey, act)))
      det.resetSessions(active.apiKey)
      best.activeBatch = Math.max(best.activeBatch, await rateAsync(n, batches(active.apiKey, act)))
    }

    // The event loop during one large batch.
    const big = fresh('bench-loop')
    const histogram = monitorEventLoopDelay({ resolution: 1 })
    let last = performance.now()
    let maxGap = 0
    let ticks = 0
    const timer = setInterval(() => {
      const now = performance.now()
      maxGap = Math.max(maxGap, now - last)
      last = now
      ticks += 1
    }, 1)
    histogram.enable()
    const started = performance.now()
    const result = await det.detectBatch(big, lines)
    const batchMs = performance.now() - started
    await new Promise((r) => setTimeout(r, 5)) // one more tick after the result arrived
    histogram.disable()
    clearInterval(timer)
    return {
      lang: 'node',
      lines: n,
      warmup_detect: best.warmupDetect,
      warmup_batch: best.warmupBatch,
      active_detect: best.activeDetect,
      active_batch: best.activeBatch,
      loop: {
        batchLines: result.totalLogs,
        batchMs,
        ticks,
        maxTimerGapMs: maxGap,
        eventLoopDelayP99Ms: histogram.percentile(99) / 1e6,
        eventLoopDelayMaxMs: histogram.max / 1e6,
      },
    }
  } finally {
    det.close()
    rmSync(storageDir, { recursive: true, force: true })
  }
}

function benchRust(binary, path, n) {
  const out = execFileSync(binary, [path, String(n)], { encoding: 'utf8' })
  return JSON.parse(out.trim().split('\n').at(-1))
}

function table(node, rust) {
  const f = (x) => (x === undefined ? '-' : Math.round(x).toLocaleString('en-US'))
  const rows = [
    '| phase (model) | Node detect | Node detectBatch | Rust detect | Rust detect_batch |',
    '|---|---:|---:|---:|---:|',
  ]
  for (const [phase, label] of [['warmup', 'warmup (teacher)'], ['active', 'active (student)']]) {
    rows.push(
      `| ${label} | ${f(node[`${phase}_detect`])} | ${f(node[`${phase}_batch`])} | ` +
        `${f(rust?.[`${phase}_detect`])} | ${f(rust?.[`${phase}_batch`])} |`,
    )
  }
  if (rust) {
    rows.push(
      `| Node / Rust | ${(node.warmup_detect / rust.warmup_detect).toFixed(2)}, ${(node.active_detect / rust.active_detect).toFixed(2)} | ` +
        `${(node.warmup_batch / rust.warmup_batch).toFixed(2)}, ${(node.active_batch / rust.active_batch).toFixed(2)} | | |`,
    )
  }
  return rows.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '4000' },
      log: { type: 'string', default: LOG },
      rust: { type: 'string' },
      json: { type: 'string' },
    },
  })
  const n = Number(values.lines)
  // Rust right before and right after Node, each cell the better of the two: a machine whose load
  // changes during the run (CI) then favours neither side.
  const before = values.rust ? benchRust(values.rust, values.log, n) : undefined
  const node = await benchNode(values.log, n)
  const after = values.rust ? benchRust(values.rust, values.log, n) : undefined
  const rust = before && after
    ? Object.fromEntries(Object.entries(before).map(([k, v]) => [k, typeof v === 'number' && k !== 'lines' ? Math.max(v, after[k]) : v]))
    : undefined
  console.log(`lines/s, ${n} lines per cell, best of ${REPEATS} (batches of ${BATCH}), tiny models:`)
  console.log(table(node, rust))
  const l = node.loop
  console.log(
    `event loop during one detectBatch of ${l.batchLines} lines (${l.batchMs.toFixed(0)} ms, ` +
      `${Math.round(l.batchLines / (l.batchMs / 1000)).toLocaleString('en-US')} lines/s): ` +
      `${l.ticks} ticks of a 1 ms timer, largest gap ${l.maxTimerGapMs.toFixed(1)} ms; ` +
      `monitorEventLoopDelay p99 ${l.eventLoopDelayP99Ms.toFixed(1)} ms, max ${l.eventLoopDelayMaxMs.toFixed(1)} ms`,
  )
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ node, rust }, null, 2)}\n`)
}
