// Incidents and operator feedback through the Node API, on a real (tiny-model) detector and real
// storage: a flagged line joins an incident (polled, listed, looked up, delivered to a callback);
// feedback on it changes the very next verdict, is stored (it survives close and reopen) and is
// undone; bad arguments are INVALID_INPUT errors naming what is allowed.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'

import { logsentinel, openTiny, rejectsWithCode, tempDir } from './helpers.mjs'

const { TenantDetector } = logsentinel

// A custom rule at full severity flags every line it matches, from the first line of warmup on: the
// rules component alone decides, whatever the (tiny, untrained) models say.
const RULE = { name: 'boom', pattern: 'BOOM', severity: 1 }
const PATTERN = 'rule:custom:boom'
const boom = (i) => `BOOM reactor ${i} overheated`

/** `got` resolves with the first value `push` receives, or with `undefined` after `ms`. */
function firstCall(ms = 5000) {
  let resolve
  const got = new Promise((r) => {
    resolve = r
  })
  const timer = setTimeout(() => resolve(undefined), ms)
  return {
    push: (v) => {
      clearTimeout(timer)
      resolve(v)
    },
    got,
  }
}

describe('incidents and feedback', () => {
  const { dir, cleanup } = tempDir()
  const storage = `${dir}/storage`
  after(cleanup)

  let saved // what the persistence test checks

  test('a flagged line raises an incident; feedback silences its pattern', async () => {
    const det = openTiny(storage)
    try {
      const received = []
      const first = firstCall()
      det.setIncidentCallback((incident) => {
        received.push(incident)
        first.push(incident)
      })
      const p = det.createProject('reactor', { customRules: [RULE] })
      const other = det.createProject('other reactor', { customRules: [RULE] })
      assert.deepEqual(det.pollIncidents(p.apiKey), [])
      assert.deepEqual(det.incidents(p.apiKey), [])

      // Unflagged lines carry no incident.
      const quiet = det.detect(p.apiKey, 'reactor 1 nominal', 'q1')
      assert.equal(quiet.isAnomaly, false)
      assert.equal(quiet.incidentId, null)
      assert.equal(quiet.feedbackId, null)

      // The flagged line carries its pattern and incident.
      const flagged = det.detect(p.apiKey, boom(1), 'c1')
      assert.equal(flagged.isAnomaly, true, flagged.reasons.join('; '))
      assert.ok(flagged.matchedRules.includes('custom:boom'), flagged.matchedRules.join(', '))
      assert.equal(flagged.cause, PATTERN)
      assert.equal(flagged.pattern, PATTERN)
      assert.equal(typeof flagged.incidentId, 'number')
      assert.equal(flagged.feedbackId, null)
      const incidentId = flagged.incidentId
      assert.equal(received.length, 0, 'the callback is never called synchronously')
      // More of the same join it (the batch path too).
      const batch = await det.detectBatch(p.apiKey, [{ logLine: boom(2), sessionId: 'c1' }, 'all fine'])
      assert.equal(batch.results[0].incidentId, incidentId)
      assert.equal(batch.results[1].incidentId, null)

      // The callback receives the incident as it was raised.
      const delivered = await first.got
      assert.ok(delivered, 'the incident callback was called')
      assert.equal(delivered.id, incidentId)
      assert.equal(delivered.pattern, PATTERN)
      assert.equal(delivered.projectId, p.projectId)
      // pollIncidents: raised once, oldest first, then the queue is empty.
      const polled = det.pollIncidents(p.apiKey, 10)
      assert.equal(polled.length, 1)
      assert.equal(polled[0].id, incidentId)
      assert.deepEqual(det.pollIncidents(p.apiKey), [])

      // incident() and incidents(): as it is now.
      const incident = det.incident(p.apiKey, incidentId)
      assert.equal(incident.id, incidentId)
      assert.equal(incident.projectId, p.projectId)
      assert.equal(incident.pattern, PATTERN)
      assert.equal(incident.state, 'open')
      assert.equal(incident.lines, 2)
      assert.equal(incident.sessions, 1)
      assert.equal(incident.sessionVerdicts, 0)
      assert.deepEqual(incident.sessionIds, ['c1'])
      assert.deepEqual(incident.topRules[0], { name: 'custom:boom', count: 2 })
      // Counted by template text (the template of a line may still be refined by the next one).
      assert.equal(incident.topTemplates.reduce((n, t) => n + t.count, 0), 2)
      assert.match(incident.topTemplates[0].name, /^BOOM reactor/)
      assert.match(incident.title, /boom/)
      assert.equal(incident.examples[0].sessionId, 'c1')
      assert.equal(incident.examples[0].sessionVerdict, false)
      assert.ok(incident.examples[0].reasons.length > 0)
      assert.ok(incident.firstSeen > 0 && incident.lastSeen >= incident.firstSeen)
      assert.equal(incident.lastLine, 3)
      assert.equal(incident.feedback, null)
      assert.deepEqual(JSON.parse(JSON.stringify(incident)), incident) // plain JSON data
      assert.deepEqual(det.incidents(p.apiKey, 'open'), [incident])
      assert.deepEqual(det.incidents(p.apiKey), [incident])
      assert.deepEqual(det.incidents(p.apiKey, null), [incident])
      assert.deepEqual(det.incidents(p.apiKey, 'resolved'), [])

      // "Normal here": the next line of the same pattern is not flagged, saying which mark decided.
      const mark = det.feedback(p.apiKey, { incidentId, label: 'normal', note: 'drill' })
      assert.equal(typeof mark.id, 'number')
      assert.equal(mark.label, 'normal')
      assert.equal(mark.scope, 'pattern')
      assert.equal(mark.key, PATTERN)
      assert.equal(mark.incidentId, incidentId)
      assert.equal(mark.expiresAt, null)
      assert.equal(mark.note, 'drill')
      assert.ok(mark.createdAt > 0)
      const next = det.detect(p.apiKey, boom(3), 'c1')
      assert.equal(next.isAnomaly, false)
      assert.equal(next.feedbackId, mark.id)
      assert.equal(next.pattern, PATTERN)
      assert.match(next.reasons[0], new RegExp(`marked normal by operator feedback #${mark.id}`))
      assert.deepEqual(det.listFeedback(p.apiKey), [mark])
      assert.equal(det.incident(p.apiKey, incidentId).feedback, 'normal')
      // The other project is untouched.
      assert.equal(det.detect(other.apiKey, boom(3), 'c1').isAnomaly, true)
      assert.deepEqual(det.listFeedback(other.apiKey), [])
      // The callback saw one incident per project, each once.
      await new Promise((r) => setTimeout(r, 50))
      assert.deepEqual(
        received.map((i) => i.projectId).sort(),
        [p.projectId, other.projectId].sort(),
      )
      // Cleared: no more calls.
      det.setIncidentCallback(null)
      const third = det.createProject('third', { customRules: [RULE] })
      assert.equal(det.detect(third.apiKey, boom(1)).isAnomaly, true)
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(received.length, 2)
      assert.equal(det.pollIncidents(third.apiKey).length, 1, 'still queued for polling')

      saved = { apiKey: p.apiKey, incidentId, mark }
    } finally {
      det.close()
    }
  })

  test('feedback survives close and reopen; undoFeedback restores flagging', async () => {
    assert.ok(saved, 'runs after the first test')
    const { apiKey, incidentId, mark } = saved
    const det = openTiny(storage)
    try {
      assert.deepEqual(det.listFeedback(apiKey), [mark])
      const stillQuiet = det.detect(apiKey, boom(4), 'c1')
      assert.equal(stillQuiet.isAnomaly, false)
      assert.equal(stillQuiet.feedbackId, mark.id)
      const [incident] = det.incidents(apiKey)
      assert.equal(incident.id, incidentId)
      assert.equal(incident.feedback, 'normal')
      // The raised queue is not stored: a reopened detector starts a new one.
      assert.deepEqual(det.pollIncidents(apiKey), [])

      assert.deepEqual(det.undoFeedback(apiKey, mark.id), mark)
      assert.deepEqual(det.listFeedback(apiKey), [])
      const again = det.detect(apiKey, boom(5), 'c1')
      assert.equal(again.isAnomaly, true)
      assert.equal(again.feedbackId, null)
      assert.equal(again.incidentId, incidentId)
      assert.equal(det.incident(apiKey, incidentId).feedback, null)
      await rejectsWithCode(() => det.undoFeedback(apiKey, mark.id), 'INVALID_INPUT', `#${mark.id}`)
    } finally {
      det.close()
    }
  })

  test('feedback on a key, with a scope and a duration', () => {
    const det = openTiny(`${dir}/keys`)
    try {
      const p = det.createProject('web', { customRules: [RULE] })
      // "Real, whatever the detector says" for one client, for a minute.
      const mark = det.feedback(p.apiKey, {
        key: '10.9.9.9',
        scope: 'client',
        label: 'anomaly',
        durationSecs: 60,
        note: 'pen test',
      })
      assert.equal(mark.incidentId, null)
      assert.equal(mark.scope, 'client')
      assert.equal(mark.key, '10.9.9.9')
      assert.ok(Math.abs(mark.expiresAt - (mark.createdAt + 60)) < 1e-6)
      const d = det.detect(p.apiKey, 'GET /index.html 200', '10.9.9.9')
      assert.equal(d.isAnomaly, true)
      assert.equal(d.feedbackId, mark.id)
      assert.match(d.reasons[0], /confirmed by operator feedback/)
      // null and undefined are the same as left out.
      const flagged = det.detect(p.apiKey, boom(1), 'c2')
      const byRule = det.feedback(p.apiKey, {
        incidentId: flagged.incidentId,
        key: null,
        label: 'normal',
        scope: 'rule',
        durationSecs: null,
        note: undefined,
      })
      assert.equal(byRule.note, null)
      assert.equal(byRule.key, 'custom:boom')
      assert.deepEqual(det.listFeedback(p.apiKey).map((f) => f.id), [mark.id, byRule.id])
      assert.equal(det.detect(p.apiKey, boom(2), 'c3').feedbackId, byRule.id)
    } finally {
      det.close()
    }
  })

  test('bad arguments: INVALID_INPUT naming what is allowed', async () => {
    const det = openTiny(`${dir}/errors`)
    try {
      const p = det.createProject('x', { customRules: [RULE] })
      const key = p.apiKey
      const { incidentId } = det.detect(key, boom(1), 'c1')
      assert.equal(typeof incidentId, 'number')

      let e = await rejectsWithCode(() => det.feedback(key, { incidentId, label: 'fine' }), 'INVALID_INPUT')
      assert.match(e.message, /"normal", "anomaly"/)
      assert.match(e.message, /"fine"/)
      e = await rejectsWithCode(
        () => det.feedback(key, { incidentId, label: 'normal', scope: 'everything' }),
        'INVALID_INPUT',
      )
      assert.match(e.message, /"pattern", "template", "rule", "client"/)
      await rejectsWithCode(
        () => det.feedback(key, { incidentId, key: 'k', label: 'normal' }),
        'INVALID_INPUT',
        'not both',
      )
      await rejectsWithCode(() => det.feedback(key, { label: 'normal' }), 'INVALID_INPUT', 'incidentId or key')
      await rejectsWithCode(() => det.feedback(key, { incidentId }), 'INVALID_INPUT', 'label')
      await rejectsWithCode(
        () => det.feedback(key, { incidentId, label: 'normal', scop: 'rule' }),
        'INVALID_INPUT',
        'unknown feedback key "scop"',
      )
      await rejectsWithCode(() => det.feedback(key, { incidentId: -1, label: 'normal' }), 'INVALID_INPUT', 'incidentId')
      await rejectsWithCode(() => det.feedback(key, { incidentId: '1', label: 'normal' }), 'INVALID_INPUT', 'incidentId')
      await rejectsWithCode(() => det.feedback(key, { key: 7, label: 'normal' }), 'INVALID_INPUT', 'key must be a string')
      await rejectsWithCode(() => det.feedback(key, 'normal'), 'INVALID_INPUT', 'must be an object')
      // The core's own checks.
      await rejectsWithCode(
        () => det.feedback(key, { incidentId: incidentId + 100, label: 'normal' }),
        'INVALID_INPUT',
        `no incident ${incidentId + 100}`,
      )
      await rejectsWithCode(
        () => det.feedback(key, { incidentId, label: 'normal', durationSecs: -5 }),
        'INVALID_INPUT',
        'duration',
      )
      await rejectsWithCode(() => det.feedback(key, { key: '', label: 'normal' }), 'INVALID_INPUT')
      assert.deepEqual(det.listFeedback(key), [], 'nothing refused was stored')

      e = await rejectsWithCode(() => det.incidents(key, 'closed'), 'INVALID_INPUT')
      assert.match(e.message, /"open", "resolved"/)
      await rejectsWithCode(() => det.incident(key, incidentId + 100), 'INVALID_INPUT', 'no incident')
      await rejectsWithCode(() => det.incident(key, 1.5), 'INVALID_INPUT', 'incidentId')
      await rejectsWithCode(() => det.undoFeedback(key, 12345), 'INVALID_INPUT', '#12345')
      await rejectsWithCode(() => det.undoFeedback(key, -1), 'INVALID_INPUT', 'feedbackId')

      for (const call of [
        () => det.pollIncidents('sk-nope'),
        () => det.incidents('sk-nope'),
        () => det.incident('sk-nope', incidentId),
        () => det.feedback('sk-nope', { incidentId, label: 'normal' }),
        () => det.listFeedback('sk-nope'),
        () => det.undoFeedback('sk-nope', 1),
      ]) {
        await rejectsWithCode(call, 'INVALID_API_KEY')
      }
    } finally {
      det.close()
    }
    for (const call of [
      () => det.pollIncidents('sk-x'),
      () => det.incidents('sk-x'),
      () => det.incident('sk-x', 1),
      () => det.setIncidentCallback(null),
      () => det.feedback('sk-x', { incidentId: 1, label: 'normal' }),
      () => det.listFeedback('sk-x'),
      () => det.undoFeedback('sk-x', 1),
    ]) {
      await rejectsWithCode(call, 'CLOSED')
    }
    assert.ok(det instanceof TenantDetector)
  })
})
