// Compile-only (tsc --strict, scripts/test-node.sh): a typed use of the whole API, so index.d.ts is
// checked to be valid TypeScript and to type what the tests do at run time.
import {
  type BatchDetection,
  type CreatedProject,
  type Detection,
  type DetectorConfig,
  type DetectorOptions,
  type Feedback,
  type FeedbackLabel,
  type FeedbackScope,
  type Health,
  type Incident,
  type IncidentExample,
  type IncidentState,
  JobHandle,
  type JobState,
  type JobStatus,
  type LogFormat,
  type LogInput,
  type NewFeedback,
  type Phase,
  type ProjectStatus,
  type ProjectSummary,
  type SessionVerdict,
  type TeacherInfo,
  type TeacherUpdate,
  TenantDetector,
  VERSION,
  defaultConfig,
} from '../index.js'

export async function useEverything(lines: string[]): Promise<void> {
  const version: string = VERSION
  const defaults: DetectorConfig = defaultConfig()
  const options: DetectorOptions = {
    storageDir: './data',
    warmupThreshold: 1000,
    tinyModels: true,
    teacher: { nLayers: 1, dModel: 32, nHeads: 2, dFf: 64 },
    device: 'cpu',
    modelDir: null,
  }
  const det = new TenantDetector(options)
  const cfg: DetectorConfig = det.config
  const dir: string = det.storageDir
  const closed: boolean = det.closed

  const format: LogFormat = 'hdfs'
  const p: CreatedProject = det.createProject('web', {
    format,
    warmupThreshold: 10_000,
    sessionPattern: 'blk_-?\\d+',
    customRules: [{ name: 'boom', pattern: 'BOOM', severity: 1 }],
  })
  det.createProject('raw string format', { format: 'combined' })
  const key: string = p.apiKey

  const d: Detection = det.detect(key, lines[0] ?? '', '10.0.0.7')
  det.detect(key, Buffer.from('bytes'))
  det.detect(key, 'no session', null)
  const phase: Phase = d.phase
  if (d.phase === 'warmup' && d.modelType === 'teacher') {
    const score: number = d.anomalyScore + d.components.sequence + d.components.isolationForest
    const rank: number | null = d.templateRank
    const session: string | null = d.sessionId
    void [score, rank, session]
  }
  const records: LogInput[] = [{ logLine: 'a', sessionId: 's' }, { logLine: Buffer.from('b') }]
  const batch: BatchDetection = await det.detectBatch(key, ['x', Buffer.from('y'), ...records])
  const flagged: Detection[] = batch.results.filter((r) => r.isAnomaly)

  det.setVerdictCallback((v: SessionVerdict) => {
    if (v.reason === 'end_of_input') console.log(v.sessionId, v.missingTemplates)
  })
  det.setVerdictCallback(null)
  const one: SessionVerdict | null = det.closeSession(key, 's')
  const all: SessionVerdict[] = det.closeAllSessions(key)
  const polled: SessionVerdict[] = det.pollSessionVerdicts(key, 10)
  const reset: number = det.resetSessions(key)

  const pattern: string | null = d.pattern
  const incidentId: number | null = d.incidentId
  const feedbackId: number | null = d.feedbackId
  det.setIncidentCallback((i: Incident) => {
    const isOpen: boolean = i.state === 'open'
    console.log(i.id, i.title, i.pattern, isOpen, i.topRules[0]?.name, i.topTemplates[0]?.count)
  })
  det.setIncidentCallback(null)
  const raised: Incident[] = det.pollIncidents(key, 10)
  const allIncidents: Incident[] = det.pollIncidents(key)
  const incidentState: IncidentState = 'resolved'
  const open: Incident[] = det.incidents(key, 'open')
  const resolved: Incident[] = det.incidents(key, incidentState)
  const every: Incident[] = det.incidents(key)
  if (incidentId !== null) {
    const incident: Incident = det.incident(key, incidentId)
    const example: IncidentExample | undefined = incident.examples[0]
    const given: FeedbackLabel | null = incident.feedback
    const sessions: string[] = incident.sessionIds
    void [example?.sessionId, example?.sessionVerdict, given, sessions, incident.lastSeen]
    const mark: Feedback = det.feedback(key, { incidentId, label: 'normal' })
    // A result's nullable incidentId goes in as it is.
    det.feedback(key, { incidentId: d.incidentId, key: null, label: 'anomaly', scope: 'rule', note: null })
    const label: FeedbackLabel = mark.label
    const scope: FeedbackScope = mark.scope
    const expires: number | null = mark.expiresAt
    const on: number | null = mark.incidentId
    const undone: Feedback = det.undoFeedback(key, mark.id)
    void [label, scope, expires, on, undone, mark.key, mark.note, mark.createdAt]
  }
  const byKey: NewFeedback = {
    key: '10.0.0.7',
    label: 'anomaly',
    scope: 'client',
    durationSecs: 3600,
    note: 'pen test',
  }
  const marked: Feedback = det.feedback(key, byKey)
  const marks: Feedback[] = det.listFeedback(key)

  const status: ProjectStatus = det.status(key)
  const state: JobState | null = status.training.state
  const byId: ProjectStatus = det.projectStatus(p.projectId)
  const job: JobHandle | null = det.trainingJob(key)
  if (job) {
    const st: JobStatus = job.status()
    const s: JobState = job.state
    const done: boolean = job.done()
    const waited: JobStatus = await job.wait(1000)
    const result: JobStatus = await job.result()
    job.cancel()
    void [st, s, done, waited, result, job.name, job.progress, job.toString()]
  }
  const finished: JobStatus | null = await det.waitForTraining(key, 60_000)
  if (finished?.state === 'succeeded') console.log('trained')

  const health: Health = det.health()
  const teacher: TeacherInfo = det.teacherInfo()
  const threshold: number | undefined = teacher.thresholds['sequence_nll']
  const update: JobHandle = det.forceTeacherUpdate()
  const history: TeacherUpdate[] = det.updateHistory()
  const projects: ProjectSummary[] = det.listProjects()
  const newKey: string = det.rotateKey(key)
  const newerKey: string = det.rotateKeyById(p.projectId)
  const forked: CreatedProject = det.forkProject(p.projectId, 'copy')
  const forkedKey: string = forked.apiKey
  det.deleteProject(p.projectId)
  det.flush()
  det.close()

  try {
    det.detect(newerKey, 'after close')
  } catch (e) {
    const code: unknown = (e as Error & { code?: string }).code
    void code
  }
  void [version, defaults, cfg, dir, closed, phase, flagged, one, all, polled, reset, state, byId]
  void [pattern, feedbackId, raised, allIncidents, open, resolved, every, marked, marks]
  void [health, threshold, update, history, projects, newKey]
}
