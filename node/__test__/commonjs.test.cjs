// The README's CommonJS use: a plain `npm init -y` project (no "type": "module") loads the package with
// require() and gets the same named exports that `import { TenantDetector } from 'logsentinel'` gets.
const test = require('node:test')
const assert = require('node:assert/strict')
const { mkdtempSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')

const { TenantDetector } = require('..')

test('require() loads the package and a detector scores a line', () => {
  assert.equal(typeof TenantDetector, 'function')
  const dir = mkdtempSync(join(tmpdir(), 'logsentinel-cjs-'))
  try {
    const det = new TenantDetector({ storageDir: dir, tinyModels: true, warmupThreshold: 1000 })
    const p = det.createProject('My Web App', { format: 'combined' })
    const d = det.detect(p.apiKey, 'ERROR db connection refused', '10.0.0.7')
    assert.equal(typeof d.isAnomaly, 'boolean')
    assert.equal(d.sessionId, '10.0.0.7')
    det.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
