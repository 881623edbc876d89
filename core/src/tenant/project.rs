//! One project's persistent record and in-memory state, and the per-line pipeline: header, template,
//! session, sequence model, forest, rules, ensemble, reasons.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::behaviour::{failures_hit, is_failure, BaseRate};
use crate::model::ensemble::{
    Profile, Scorer, Student, TeacherView, COMMON_TEMPLATE_SHARE, NORMAL_RULE_SHARE,
};
use crate::model::features::{feature_vector, level_rank, method_class, RawFeatures};
use crate::model::infer::{SessionState, TokenScore};
use crate::model::novelty::{known_key, novel_key, RarityKey, RecentRarity};
use crate::model::pause::Pauses;
use crate::model::rules::{CustomRule, RuleCategory, RuleHit, RuleInput, RuleSet};
use crate::model::shape::{
    count_vector, CountVector, SessionShape, RARE_SESSION_SHARE, RECURRING_SHAPE_SUPPORT,
};
use crate::model::transformer::UNK;
use crate::model::vocab::GlobalVocab;
use crate::parse::{
    Header, HeaderCounts, HeaderParser, LogFormat, MinerConfig, TemplateMatch, TemplateMiner,
};
use crate::store::{project_blob, Store, Write};
use crate::tenant::feedback::FeedbackBook;
use crate::tenant::incident::{line_pattern, IncidentBook};
use crate::tenant::keys::KeyHash;
use crate::tenant::session::{Session, SessionTable, MAX_SESSION_TOKENS};
use crate::train::job::{JobHandle, JobState};
use crate::types::{
    CloseReason, Components, Detection, ExpectedTemplate, LogRecord, ModelType, Phase,
    ProjectStatus, SessionVerdict, TrainingStatus,
};

/// Internal id of the pseudo-session of lines that have no session.
const STREAM: &str = "";
/// The stream pseudo-session is cut into training chunks of this many templates.
const STREAM_CHUNK: usize = 64;
/// Most raw feature rows kept per project for fitting forests.
pub const MAX_FEATURE_ROWS: usize = 4096;
/// Most session verdicts queued per project before the oldest are dropped.
const MAX_QUEUED_VERDICTS: usize = 100_000;
/// Most unmatched active-phase lines kept to learn at the next retraining.
const MAX_PENDING_NOVEL: usize = 2_000;
/// Templates of the model's expectations reported per line.
const TOP_EXPECTED: usize = 3;
/// Complete sessions needed before missing-template verdicts are given.
const MIN_PROFILE_SESSIONS: usize = 30;
/// Session score when it holds a template rare in the project's complete sessions.
const RARE_SHAPE_SCORE: f32 = 0.9;
/// Session score when it lacks a template nearly every complete session has.
const MISSING_SHAPE_SCORE: f32 = 0.8;
/// Rules score of a line from a session that already matched a web-attack rule.
const TAINT_SCORE: f32 = 0.6;
/// Session score when it breaks a count tie between two templates.
const BROKEN_SHAPE_SCORE: f32 = 0.7;

/// What is persisted of a project besides its miner and samples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// Project id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Hex SHA-256 of the API key.
    pub key_hash: String,
    /// Warmup threshold.
    pub warmup_threshold: u64,
    /// Header format.
    pub format: LogFormat,
    /// User header format string (logparser convention); wins over `format` when set.
    #[serde(default)]
    pub log_format: Option<String>,
    /// Lines whose header did not match the format.
    #[serde(default)]
    pub header_unmatched: u64,
    /// Of those, lines whose message the header fallback still found.
    #[serde(default)]
    pub header_recovered: u64,
    /// Session pattern.
    pub session_pattern: Option<String>,
    /// Operator feedback (see [`crate::tenant::feedback`]).
    #[serde(default)]
    pub feedback: FeedbackBook,
    /// Custom rules.
    pub custom_rules: Vec<CustomRule>,
    /// Creation time.
    pub created_at: f64,
    /// Last call time.
    pub last_activity: f64,
    /// Logs seen.
    pub log_count: u64,
    /// Lines flagged.
    pub anomaly_count: u64,
    /// Lines with an unknown template in the active phase.
    pub novel_logs: u64,
    /// Lines scored by a student.
    pub active_logs: u64,
    /// Students trained.
    pub students_trained: u64,
    /// Whether a student is stored.
    pub has_student: bool,
    /// Whether a training was running when this record was written (redone after a crash).
    pub training_pending: bool,
    /// Last training error.
    pub last_training_error: Option<String>,
    /// Seconds of the last training (total, teacher fine-tune, distillation).
    pub last_training_secs: Option<(f64, f64, f64)>,
    /// Training sequences in the stored samples at the last commit (the status of a project whose
    /// samples are not loaded).
    #[serde(default)]
    pub stored_sequences: usize,
    /// Training sequences in the stored additions at the last commit (see `ProjectState::additions`).
    #[serde(default)]
    pub stored_additions: usize,
}

/// A training sequence as stored: local template ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSequence {
    /// Local template ids (0: unknown).
    pub templates: Vec<u32>,
    /// Whether the session closed by an idle timeout or by the host (its shape is complete).
    pub complete: bool,
}

/// Data collected for training and calibration, persisted with group commits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Samples {
    /// Recent sequences, oldest first (bounded).
    pub sequences: VecDeque<StoredSequence>,
    /// Raw feature rows (bounded reservoir).
    pub features: Vec<RawFeatures>,
    /// Rows offered to the reservoir so far.
    pub features_seen: u64,
    /// Warmup lines each rule fired on.
    pub rule_counts: HashMap<String, u64>,
    /// Warmup lines counted for rule shares.
    pub warmup_lines: u64,
    /// Warmup lines that failed (see [`is_failure`]): the project's base failure rate.
    #[serde(default)]
    pub warmup_failures: u64,
    /// Warmup sessions (and stream chunks, for lines without a session) each rule fired in.
    #[serde(default)]
    pub rule_sessions: HashMap<String, u64>,
    /// Warmup stream chunks (runs of [`STREAM_CHUNK`] lines without a session) begun: the sessions
    /// of a log that has none, for the rules' evidence.
    #[serde(default)]
    pub warmup_stream_chunks: u32,
    /// Complete sessions holding each template (for the missing-template profile).
    pub template_presence: HashMap<u32, u32>,
    /// Complete sessions counted in `template_presence`.
    pub complete_sessions: u32,
    /// Active-phase lines no template matched, learned at the next retraining.
    pub pending_novel: VecDeque<String>,
    /// Template count vectors of complete warmup sessions (closed by an idle timeout or the host),
    /// oldest first (bounded): the data of the session-shape model.
    #[serde(default)]
    pub shapes: VecDeque<CountVector>,
    /// Warmup sessions seen (complete or not).
    #[serde(default)]
    pub warmup_sessions: u32,
    /// Warmup sessions (complete or not) holding each template.
    #[serde(default)]
    pub warmup_template_sessions: HashMap<u32, u32>,
    /// Templates of the sessions open at the last commit (at least two templates each). Sessions do
    /// not survive a restart; their templates do, as incomplete training sequences, so a training a
    /// crash interrupted is redone on the data it started with. Empty in memory.
    #[serde(default)]
    pub open_sequences: Vec<Vec<u32>>,
    /// Pauses between consecutive lines of warmup sessions (see [`crate::model::pause`]).
    #[serde(default)]
    pub pauses: Pauses,
}

/// Opens the shape part of a session verdict's pattern (see [`crate::tenant::feedback::pattern_subject`]).
pub const SHAPE_TAG_OPEN: &str = "[session of ";

/// Name of the project blob holding its incidents.
const INCIDENTS_BLOB: &str = "incidents";

/// Most complete-session count vectors kept for the shape model.
const MAX_SHAPES: usize = 20_000;

/// Warmup lines needed before any rule is discounted as common in the project: the discount is
/// scaled on a share of [`NORMAL_RULE_SHARE`] of the lines, which cannot be told from a one-off with
/// fewer than `1 / NORMAL_RULE_SHARE` lines (one hit in fewer lines already reads as that share).
pub const MIN_RULE_LINES: u64 = (1.0 / NORMAL_RULE_SHARE) as u64;

/// Distinct warmup sessions (or stream chunks) a rule must fire in before it is discounted, out of
/// `sessions` seen: at least [`RECURRING_SHAPE_SUPPORT`] (the fewest independent sessions in which a
/// behaviour recurs rather than being one incident), and at least [`RARE_SESSION_SHARE`] of them
/// (the share of anomalous sessions an unlabelled warmup may hold: hits confined to fewer sessions
/// may all come from the anomalous ones).
pub fn min_rule_sessions(sessions: u64) -> u64 {
    let share = (RARE_SESSION_SHARE as f64 * sessions as f64).ceil() as u64;
    share.max(u64::from(RECURRING_SHAPE_SUPPORT))
}

impl Samples {
    fn push_sequence(&mut self, seq: StoredSequence, cap: usize) {
        if seq.templates.is_empty() {
            return;
        }
        self.sequences.push_back(seq);
        while self.sequences.len() > cap {
            self.sequences.pop_front();
        }
    }

    fn offer_features(&mut self, row: RawFeatures, rng_state: &mut u64) {
        self.features_seen += 1;
        if self.features.len() < MAX_FEATURE_ROWS {
            self.features.push(row);
            return;
        }
        // Reservoir sampling keeps a uniform sample of the whole warmup.
        *rng_state = rng_state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((*rng_state >> 33) % self.features_seen) as usize;
        if j < MAX_FEATURE_ROWS {
            self.features[j] = row;
        }
    }

    /// Whether nothing was collected here (the additions of a project with nothing to add).
    fn is_empty(&self) -> bool {
        self.sequences.is_empty() && self.pending_novel.is_empty() && self.open_sequences.is_empty()
    }

    /// These (stored) samples with what the active phase collected while they were spilled, both
    /// as [`Samples::restored`] makes them. Returns whether anything was added.
    fn merged(mut self, additions: Samples, max_sequences: usize) -> (Self, bool) {
        if additions.is_empty() {
            return (self.restored(max_sequences), false);
        }
        // The sessions open when the samples were stored went on: the additions hold them as they
        // ended (or, open again at the additions' last commit, their longer prefixes).
        self.open_sequences.clear();
        let mut samples = self.restored(max_sequences);
        let additions = additions.restored(max_sequences);
        for seq in additions.sequences {
            samples.push_sequence(seq, max_sequences);
        }
        let room = MAX_PENDING_NOVEL.saturating_sub(samples.pending_novel.len());
        samples
            .pending_novel
            .extend(additions.pending_novel.into_iter().take(room));
        (samples, true)
    }

    /// Samples as read back from storage: the sequences of sessions that were open at the commit
    /// become (incomplete) training sequences, so a training redone after a crash sees them.
    fn restored(mut self, max_sequences: usize) -> Self {
        for templates in std::mem::take(&mut self.open_sequences) {
            self.push_sequence(
                StoredSequence {
                    templates,
                    complete: false,
                },
                max_sequences,
            );
        }
        self
    }

    /// The warmup profile learned so far.
    pub fn profile(&self) -> Profile {
        self.profile_with(self.fit_shape())
    }

    fn fit_shape(&self) -> SessionShape {
        let shapes: Vec<CountVector> = self.shapes.iter().cloned().collect();
        SessionShape::fit(&shapes)
            .with_seen(
                self.warmup_sessions as usize,
                &self.warmup_template_sessions,
            )
            .with_rare_holding(&shapes)
    }

    /// The project's base failure rate over its warmup lines.
    pub fn failure_base(&self) -> BaseRate {
        BaseRate {
            lines: self.warmup_lines,
            failures: self.warmup_failures,
        }
    }

    /// The warmup profile with an already fitted shape.
    fn profile_with(&self, shape: SessionShape) -> Profile {
        let lines = self.warmup_lines.max(1) as f32;
        // A rule's normal share is only known on evidence (see `MIN_RULE_LINES` and
        // `min_rule_sessions`); until then it fires at full severity.
        let needed = min_rule_sessions(
            u64::from(self.warmup_sessions) + u64::from(self.warmup_stream_chunks),
        );
        let rule_share = self
            .rule_counts
            .iter()
            .filter(|(k, _)| {
                self.warmup_lines >= MIN_RULE_LINES
                    && self.rule_sessions.get(*k).copied().unwrap_or(0) >= needed
            })
            .map(|(k, &v)| (k.clone(), v as f32 / lines))
            .collect();
        let n = self.complete_sessions as usize;
        let mut common_templates: Vec<u32> = if n >= MIN_PROFILE_SESSIONS {
            self.template_presence
                .iter()
                .filter(|(_, &c)| c as f32 >= COMMON_TEMPLATE_SHARE * n as f32)
                .map(|(&t, _)| t)
                .collect()
        } else {
            Vec::new()
        };
        if shape.is_ready() {
            common_templates = shape.common();
        }
        common_templates.sort_unstable();
        Profile {
            rule_share,
            common_templates,
            complete_sessions: n,
            shape,
            failure_base: self.failure_base(),
            pauses: self.pauses.clone(),
        }
    }
}

/// Most user agents of one session kept as caught attacking: beyond them, later agents are not
/// tainted (a scanner that rotates its agent is still caught line by line and by its behaviour).
const MAX_ATTACK_AGENTS: usize = 8;

/// A line after parsing, mining and session bookkeeping, waiting for the model.
struct Prepared {
    line_len: usize,
    /// Hash of the line's HTTP user agent (0: none), which with the session names the client.
    agent: u64,
    truncated: bool,
    timestamp: f64,
    session: Option<String>,
    slot: Option<usize>,
    template: Option<TemplateMatch>,
    token: u32,
    unknown: bool,
    novelty: f32,
    /// Whether the line's template, unknown to the project's miner, has become common in recent
    /// sessions (novelty that wore off).
    worn_off: bool,
    raw: RawFeatures,
    hits: Vec<RuleHit>,
    /// The mined text of a line no template matched (its template is shown as this, masked).
    novel_text: Option<String>,
}

/// Everything a project holds in memory.
pub struct ProjectState {
    /// The persisted record.
    pub record: ProjectRecord,
    /// Hash of the current key.
    pub key_hash: KeyHash,
    parser: HeaderParser,
    /// The record's header counts when the parser was built (the parser counts from zero).
    header_base: HeaderCounts,
    session_regex: Option<Regex>,
    rules: RuleSet,
    /// The template miner.
    pub miner: TemplateMiner,
    /// Open sessions.
    pub sessions: SessionTable,
    /// Collected data.
    /// Training samples; `None` while spilled to storage (an idle project), loaded again on demand by
    /// [`ProjectState::load_samples`].
    samples: Option<Samples>,
    /// Whether the samples changed since a commit last stored them: only then are they written again,
    /// and spilling needs them clean.
    samples_dirty: bool,
    /// What an active project collects (sequences, unmatched lines) while its samples stay in
    /// storage: an active project never loads its samples to score, only to retrain. Stored beside
    /// them as the `additions` blob and merged into them when they are next loaded. `None` until
    /// read from storage (see [`ProjectState::load_additions`]).
    additions: Option<Samples>,
    /// Whether the additions changed since a commit last stored them.
    additions_dirty: bool,
    /// The student, when loaded.
    pub student: Option<Arc<Student>>,
    /// The current or last training job.
    pub job: Option<JobHandle>,
    /// Why training waits, when it does.
    pub waiting_reason: Option<String>,
    verdicts: VecDeque<SessionVerdict>,
    /// Local template id → the teacher's token, for the teacher generation in `teacher_tokens_of`
    /// (another instance's teacher update brings another vocabulary: its ids are looked up again).
    teacher_tokens: HashMap<u32, u32>,
    teacher_tokens_of: u64,
    /// The fencing token of the project's lease this state was read under, on a shared database
    /// with project leases (`None`: not held; the next call takes the lease and reads the project
    /// back from the database).
    pub lease_token: Option<i64>,
    template_counts: HashMap<u32, u64>,
    max_sequences: usize,
    /// The configured `anomaly_threshold`: session verdicts are cut where lines are.
    anomaly_threshold: f32,
    log_now: f64,
    dirty_logs: u64,
    last_commit: f64,
    drift: f32,
    rng_state: u64,
    /// The warmup profile fitted so far, keyed by the complete sessions and the lines it saw (see
    /// `live_profile`).
    shape_cache: Option<((u32, u64), Arc<Profile>)>,
    /// Set when the project was deleted: later calls on a stale handle fail.
    pub deleted: bool,
    /// The teacher scores even once a student is trained ([`Config::ablation_teacher_scores`]).
    teacher_scores: bool,
    /// Templates of active-phase lines that no project template matches (the project's miner only
    /// matches once a student serves): they tell one new event type from another.
    novel_miner: TemplateMiner,
    /// Rarity over recent closed active sessions (novelty that wears off), with the generation of
    /// the student it was started for.
    recent: Option<(u64, RecentRarity)>,
    /// Sessions found idle past the timeout while a batch was prepared, closed after it.
    idle_closed: Vec<Session>,
    /// The project's incidents (read from storage with the samples, see
    /// [`ProjectState::load_for_lines`]).
    incidents: Option<IncidentBook>,
}

/// Read-only context a line is processed with.
pub struct LineContext<'a> {
    /// Detector config.
    pub config: &'a Config,
    /// The teacher snapshot.
    pub teacher: &'a TeacherView,
    /// The global vocabulary.
    pub vocab: &'a GlobalVocab,
    /// Arrival time.
    pub now: f64,
}

impl ProjectState {
    /// Builds the state of a project from its record and stored parts.
    pub fn new(
        record: ProjectRecord,
        miner: Option<TemplateMiner>,
        samples: Option<Samples>,
        config: &Config,
    ) -> Result<Self> {
        let key_hash = KeyHash::from_hex(&record.key_hash)?;
        let session_regex = compile_session_pattern(record.session_pattern.as_deref())?;
        let rules = RuleSet::new(record.custom_rules.clone())?;
        let miner = miner.unwrap_or_else(|| {
            TemplateMiner::new(MinerConfig {
                max_templates: config.max_templates_per_project,
                ..MinerConfig::default()
            })
        });
        let novel_config = miner.config().clone();
        // Seeded by the name, not the random id, so a replay is deterministic under the seed.
        let seed = config.seed ^ fxhash(&record.name);
        let template_counts = miner
            .templates()
            .into_iter()
            .map(|t| (t.id, t.count))
            .collect();
        Ok(Self {
            parser: HeaderParser::from_settings(record.format, record.log_format.as_deref())?,
            header_base: HeaderCounts {
                unmatched: record.header_unmatched,
                recovered: record.header_recovered,
            },
            session_regex,
            rules,
            miner,
            sessions: SessionTable::default(),
            samples: samples.map(|s| s.restored(config.max_training_sequences)),
            samples_dirty: false,
            additions: None,
            additions_dirty: false,
            student: None,
            job: None,
            waiting_reason: None,
            verdicts: VecDeque::new(),
            teacher_tokens: HashMap::new(),
            teacher_tokens_of: 0,
            lease_token: None,
            template_counts,
            max_sequences: config.max_training_sequences,
            anomaly_threshold: config.anomaly_threshold as f32,
            log_now: f64::NEG_INFINITY,
            dirty_logs: 0,
            last_commit: 0.0,
            drift: 0.0,
            rng_state: seed,
            shape_cache: None,
            deleted: false,
            teacher_scores: config.ablation_teacher_scores,
            novel_miner: TemplateMiner::new(novel_config),
            recent: None,
            idle_closed: Vec::new(),
            incidents: None,
            key_hash,
            record,
        })
    }

    /// The warmup profile learned so far. Refitting the session shape costs O(sessions), so it is redone
    /// on a geometric schedule (every 1/8 more complete sessions, at least every 32) rather than at
    /// every closed session, which kept warmup scoring quadratic in the number of sessions.
    fn live_profile(&mut self) -> Arc<Profile> {
        let Some(samples) = self.samples.as_ref() else {
            return Arc::new(Samples::default().profile());
        };
        // Refit once the sessions or the lines seen grew by an eighth: the shape follows closed
        // sessions, the rules' normal shares follow lines (sessions may not close for thousands of
        // lines, and shares frozen at the first line would never discount a common rule).
        let key = (samples.complete_sessions, samples.warmup_lines);
        if let Some(((sessions_at, lines_at), profile)) = &self.shape_cache {
            let fresh =
                |now: u64, at: u64, min_step: u64| now >= at && now < at + (at / 8).max(min_step);
            if fresh(u64::from(key.0), u64::from(*sessions_at), 32) && fresh(key.1, *lines_at, 256)
            {
                return profile.clone();
            }
        }
        let profile = Arc::new(samples.profile());
        self.shape_cache = Some((key, profile.clone()));
        profile
    }

    /// The project's phase.
    pub fn phase(&self) -> Phase {
        if self.record.has_student {
            Phase::Active
        } else if self
            .job
            .as_ref()
            .is_some_and(|j| !j.status().state.is_finished())
        {
            Phase::Training
        } else {
            Phase::Warmup
        }
    }

    fn warmup_progress(&self) -> f32 {
        if self.record.has_student {
            1.0
        } else {
            (self.record.log_count as f64 / self.record.warmup_threshold.max(1) as f64).min(1.0)
                as f32
        }
    }

    /// The writes that persist this project's state.
    pub fn persist_writes(&mut self, now: f64) -> Result<Vec<Write>> {
        self.dirty_logs = 0;
        self.last_commit = now;
        match (&self.samples, &self.additions) {
            (Some(samples), _) => {
                self.record.stored_sequences = samples.sequences.len();
                self.record.stored_additions = 0;
            }
            (None, Some(additions)) => self.record.stored_additions = additions.sequences.len(),
            (None, None) => {}
        }
        let mut writes = vec![
            Write::Project {
                id: self.record.id.clone(),
                json: serde_json::to_vec(&self.record)?,
            },
            Write::Blob {
                name: project_blob(&self.record.id, "miner"),
                bytes: serde_json::to_vec(&self.miner)?,
            },
        ];
        if let Some(book) = self.incidents.as_mut().filter(|b| b.is_dirty()) {
            writes.push(Write::Blob {
                name: project_blob(&self.record.id, INCIDENTS_BLOB),
                bytes: crate::store::encode(&*book)?,
            });
            book.mark_persisted();
        }
        // Unchanged or spilled samples are already stored as they are.
        let (part, collected) = match (&mut self.samples, &mut self.additions) {
            (Some(samples), _) if self.samples_dirty => ("samples", samples),
            (None, Some(additions)) if self.additions_dirty => ("additions", additions),
            _ => return Ok(writes),
        };
        collected.open_sequences = self
            .sessions
            .iter()
            .filter(|s| s.templates.len() >= 2)
            .take(self.max_sequences)
            .map(|s| s.templates.clone())
            .collect();
        let bytes = crate::store::encode(&*collected);
        collected.open_sequences = Vec::new();
        writes.push(Write::Blob {
            name: project_blob(&self.record.id, part),
            bytes: bytes?,
        });
        if part == "samples" {
            // Stored samples hold every addition merged into them (no-op when none was stored).
            writes.push(Write::RemoveBlob {
                name: project_blob(&self.record.id, "additions"),
            });
        }
        Ok(writes)
    }

    /// Where collected training data goes: the samples when loaded, else the additions; with the
    /// flag to set when they change.
    fn collection(&mut self) -> Option<(&mut Samples, &mut bool)> {
        match (&mut self.samples, &mut self.additions) {
            (Some(samples), _) => Some((samples, &mut self.samples_dirty)),
            (None, Some(additions)) => Some((additions, &mut self.additions_dirty)),
            (None, None) => None,
        }
    }

    /// Reads a part stored as [`Samples`] (`samples` or `additions`; default when absent). Open
    /// sessions still here were not lost: their stored copies are dropped.
    fn read_part(&self, store: &Store, part: &str) -> Result<Samples> {
        let Some(bytes) = store.blob(&project_blob(&self.record.id, part))? else {
            return Ok(Samples::default());
        };
        let mut stored: Samples = crate::store::decode(&bytes)?;
        if !self.sessions.is_empty() {
            stored.open_sequences.clear();
        }
        Ok(stored)
    }

    /// The samples with every addition merged, read from storage when spilled (without loading them
    /// into the project): what a fork copies and a teacher update pools.
    pub fn samples_view(&self, store: &Store) -> Result<Cow<'_, Samples>> {
        if let Some(samples) = &self.samples {
            return Ok(Cow::Borrowed(samples));
        }
        let additions = match &self.additions {
            Some(additions) => additions.clone(),
            None => self.read_part(store, "additions")?,
        };
        let (samples, _) = self
            .read_part(store, "samples")?
            .merged(additions, self.max_sequences);
        Ok(Cow::Owned(samples))
    }

    /// The training samples, when loaded (see [`ProjectState::load_samples`]).
    pub fn samples(&self) -> Option<&Samples> {
        self.samples.as_ref()
    }

    /// The training samples for a change, when loaded.
    pub fn samples_mut(&mut self) -> Option<&mut Samples> {
        self.samples_dirty = true;
        self.samples.as_mut()
    }

    /// Loads the samples from storage when they were spilled (or never loaded since the detector
    /// opened). Every call that feeds the project loads them first.
    pub fn load_samples(&mut self, store: &Store) -> Result<()> {
        if self.samples.is_none() {
            // The additions in memory hold the stored ones (read first by `load_additions`).
            let additions = match self.additions.take() {
                Some(additions) => additions,
                None => self.read_part(store, "additions")?,
            };
            let (samples, added) = self
                .read_part(store, "samples")?
                .merged(additions, self.max_sequences);
            // Merged samples are written at the next commit, which removes the stored additions.
            self.samples_dirty = added;
            self.additions_dirty = false;
            self.samples = Some(samples);
        }
        Ok(())
    }

    /// Makes sure active-phase collection has somewhere to go without loading the samples: reads
    /// the stored additions when neither they nor the samples are in memory.
    pub fn load_additions(&mut self, store: &Store) -> Result<()> {
        if self.samples.is_none() && self.additions.is_none() {
            let stored = self.read_part(store, "additions")?;
            self.additions = Some(stored.restored(self.max_sequences));
            self.additions_dirty = false;
        }
        Ok(())
    }

    /// Loads what feeding the project needs: the samples during warmup (the live profile and the
    /// first training read them), only the additions once a student serves.
    pub fn load_for_lines(&mut self, store: &Store) -> Result<()> {
        self.load_incidents(store)?;
        // The teacher's live profile is learned from the samples.
        if self.record.has_student && !self.teacher_scores {
            self.load_additions(store)
        } else {
            self.load_samples(store)
        }
    }

    /// Reads the project's incidents from storage, once.
    pub fn load_incidents(&mut self, store: &Store) -> Result<()> {
        if self.incidents.is_none() {
            let stored = store.blob(&project_blob(&self.record.id, INCIDENTS_BLOB))?;
            self.incidents = Some(match stored {
                Some(bytes) => crate::store::decode(&bytes)?,
                None => IncidentBook::default(),
            });
        }
        Ok(())
    }

    /// The incidents raised since the last call, for the host's callback.
    pub fn take_fresh_incidents(&mut self) -> Vec<crate::tenant::incident::Incident> {
        self.incidents
            .as_mut()
            .map(IncidentBook::take_fresh)
            .unwrap_or_default()
    }

    /// The project's incidents (empty until loaded).
    pub fn incidents(&self) -> Option<&IncidentBook> {
        self.incidents.as_ref()
    }

    /// The project's incidents for a change (loaded by the caller).
    pub fn incidents_mut(&mut self) -> Option<&mut IncidentBook> {
        self.incidents.as_mut()
    }

    /// Whether [`ProjectState::spill_samples`] needs a commit first.
    pub fn samples_dirty(&self) -> bool {
        (self.samples_dirty && self.samples.is_some())
            || (self.additions_dirty && self.additions.is_some())
    }

    /// Records that the writes of [`ProjectState::persist_writes`] were committed, with no change to
    /// the project since.
    pub fn mark_persisted(&mut self) {
        self.samples_dirty = false;
        self.additions_dirty = false;
    }

    /// Drops the model caches of the open sessions (stale once the student is dropped).
    pub fn drop_session_caches(&mut self) {
        for s in self.sessions.iter_mut() {
            s.cache = None;
        }
    }

    /// Drops what a project past warmup need not hold to score: its persisted samples and
    /// additions (read again when needed). Returns whether samples were dropped; dirty ones are kept
    /// (commit them first).
    pub fn spill_samples(&mut self) -> bool {
        if !self.record.has_student || self.teacher_scores {
            return false;
        }
        if !self.additions_dirty {
            self.additions = None;
        }
        if self.samples_dirty {
            return false;
        }
        match self.samples.take() {
            Some(_) => {
                // Stored samples hold every addition: there are none in storage now.
                self.additions = Some(Samples::default());
                self.additions_dirty = false;
                self.shape_cache = None;
                true
            }
            None => false,
        }
    }

    /// Whether enough has changed since the last commit (group commit).
    pub fn needs_commit(&self, config: &Config, now: f64) -> bool {
        self.dirty_logs >= config.commit_every_logs && now - self.last_commit >= 1.0
    }

    /// Queued session verdicts, oldest first.
    pub fn take_verdicts(&mut self, max: usize) -> Vec<SessionVerdict> {
        let n = max.min(self.verdicts.len());
        self.verdicts.drain(..n).collect()
    }

    /// Scores lines (the whole pipeline), updating state. Returns the detections and the session
    /// verdicts produced meanwhile (also queued for polling).
    pub fn process(
        &mut self,
        ctx: &LineContext<'_>,
        records: &[LogRecord],
    ) -> (Vec<Detection>, Vec<SessionVerdict>) {
        let phase = self.phase();
        let student = if phase == Phase::Active && !self.teacher_scores {
            self.student.clone()
        } else {
            None
        };
        let scorer = match &student {
            Some(s) => Scorer::Student(s),
            None => Scorer::Teacher(ctx.teacher),
        };
        let mut verdicts = self.expire(ctx, &scorer, phase);

        // 1. Parse, mine and book-keep every line in order.
        let mut prepared = Vec::with_capacity(records.len());
        let mut slots: Vec<(String, SessionState)> = Vec::new();
        let mut slot_of: HashMap<String, usize> = HashMap::new();
        for rec in records {
            prepared.push(self.prepare(ctx, &scorer, phase, rec, &mut slots, &mut slot_of));
        }
        for s in std::mem::take(&mut self.idle_closed) {
            verdicts.extend(self.close(s, CloseReason::Expired, &scorer, phase));
        }

        // 2. The sequence model, one batched step per round (a round holds at most one line per session).
        let mut scores: Vec<Option<TokenScore>> = vec![None; prepared.len()];
        if let Some(seq) = scorer.seq() {
            let mut round_of_slot = vec![0usize; slots.len()];
            let mut rounds: Vec<Vec<usize>> = Vec::new();
            for (i, p) in prepared.iter().enumerate() {
                if let Some(slot) = p.slot {
                    let r = round_of_slot[slot];
                    round_of_slot[slot] += 1;
                    if rounds.len() <= r {
                        rounds.push(Vec::new());
                    }
                    rounds[r].push(i);
                }
            }
            for round in rounds {
                let wanted: HashMap<usize, usize> = round
                    .iter()
                    .enumerate()
                    .filter_map(|(k, &i)| prepared[i].slot.map(|s| (s, k)))
                    .collect();
                let mut picked: Vec<(usize, &mut SessionState)> = slots
                    .iter_mut()
                    .enumerate()
                    .filter_map(|(s, (_, st))| wanted.get(&s).map(|&k| (k, st)))
                    .collect();
                picked.sort_by_key(|(k, _)| *k);
                let tokens: Vec<u32> = picked
                    .iter()
                    .map(|(k, _)| prepared[round[*k]].token)
                    .collect();
                let mut states: Vec<&mut SessionState> =
                    picked.into_iter().map(|(_, s)| s).collect();
                let out = seq.observe_batch(&mut states, &tokens, TOP_EXPECTED);
                for (k, score) in out.into_iter().enumerate() {
                    scores[round[k]] = Some(score);
                }
            }
        }
        let generation = scorer.generation();
        for (id, state) in slots {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.cache = Some((generation, state));
            }
        }

        // 3. Ensemble, reasons and counters, in order.
        let live_profile;
        let profile = match &scorer {
            Scorer::Student(s) => &s.profile,
            Scorer::Teacher(_) => {
                live_profile = self.live_profile();
                &*live_profile
            }
        };
        let thresholds = *scorer.thresholds();
        let total_lines = self.template_counts.values().sum::<u64>().max(1) as f32;
        let mut out = Vec::with_capacity(prepared.len());
        for (p, score) in prepared.into_iter().zip(scores) {
            let share = match (&scorer, &p.template) {
                (Scorer::Student(s), Some(t)) => {
                    s.template_share.get(&t.template_id).copied().unwrap_or(0.0)
                }
                (_, Some(t)) => self.template_count(t.template_id) as f32 / total_lines,
                _ => 0.0,
            };
            let forest_raw = scorer
                .forest()
                .map(|f| f.score(&feature_vector(&p.raw, share)));
            let forest = forest_raw
                .map(|r| thresholds.forest.calibrate(r))
                .unwrap_or(0.0);
            let teacher_unknown = matches!(scorer, Scorer::Teacher(_)) && p.unknown;
            // A template the student learned from a line or two (thin), or none: the models have
            // nothing to tell it by but its rarity, which the session shape and the novelty judge
            // (and let wear off). Their surprise there is no evidence of its own.
            let thin = match (&scorer, &p.template) {
                (Scorer::Student(s), Some(t)) => !s.knows_context_of(t.template_id),
                _ => false,
            };
            let forest = if p.template.is_none() || thin {
                forest.min(p.novelty)
            } else {
                forest
            };
            let sequence = match &score {
                Some(_) if thin => 0.0,
                // A template no model knows is only as surprising as the project's template set is
                // settled: on a project whose warmup kept finding new templates (few lines per
                // template), one more new template is expected, not an anomaly.
                Some(s) if p.unknown && !teacher_unknown => {
                    thresholds.sequence_nll.calibrate(s.nll).min(p.novelty)
                }
                Some(s) if !teacher_unknown => thresholds.sequence_nll.calibrate(s.nll),
                _ => p.novelty,
            };
            // What the rules say of the line as of a known event: a never-seen event's rules count at
            // full severity (below), but a flag only that gives is the novelty's, which wears off.
            let rules_as_known = profile.rules_score(&p.hits);
            let mut rules = if p.template.is_none() && phase == Phase::Active && !p.worn_off {
                profile.rules_score_novel(&p.hits)
            } else {
                rules_as_known
            };
            // A client already caught attacking in this session: its later requests are part of the
            // attack (scanners crawl ordinary-looking pages between payloads). The client is the
            // session's address and user agent: another browser behind the same address (a NAT, a
            // proxy) is another client.
            let attack_hit = p.hits.iter().any(|h| {
                matches!(
                    h.category,
                    RuleCategory::SqlInjection
                        | RuleCategory::Behaviour
                        | RuleCategory::Xss
                        | RuleCategory::PathTraversal
                        | RuleCategory::CommandInjection
                ) && profile.rules_score(std::slice::from_ref(h)) >= 0.5
            });
            let tainted = p
                .session
                .as_ref()
                .and_then(|sid| self.sessions.get_mut(sid))
                .map(|s| {
                    let was = s.attack_agents.contains(&p.agent);
                    if attack_hit {
                        s.attack_lines += 1;
                        if !was && s.attack_agents.len() < MAX_ATTACK_AGENTS {
                            s.attack_agents.push(p.agent);
                        }
                    }
                    was
                })
                .unwrap_or(false);
            let taint_only = tainted && rules < TAINT_SCORE;
            if tainted {
                rules = rules.max(TAINT_SCORE);
            }
            let components = Components {
                sequence,
                isolation_forest: forest,
                rules,
            };
            let anomaly_score = sequence.max(forest).max(rules);
            let cut = ctx.config.anomaly_threshold as f32;
            let is_anomaly = anomaly_score >= cut;
            // Flagged for more than the novelty of an unmatched template: the session is not in
            // ordinary company (see `model::novelty`).
            // (The models' scores of a template they never learned are its novelty, see `thin`.)
            let learned = p.template.is_some() && !thin;
            let taint = if tainted { TAINT_SCORE } else { 0.0 };
            let flagged_known =
                (learned && forest.max(sequence) >= cut) || rules_as_known.max(taint) >= cut;
            let (mut reasons, mut cause) =
                self.reasons(&p, score.as_ref(), &components, &scorer, ctx.vocab, profile);
            if taint_only {
                reasons.insert(
                    0,
                    "client already matched a web-attack rule in this session".to_string(),
                );
                cause = Some("attack_session".to_string());
            }
            let expected = score
                .as_ref()
                .map(|s| self.expected_templates(s, &scorer, ctx.vocab))
                .unwrap_or_default();
            if is_anomaly {
                self.record.anomaly_count += 1;
            }
            let mut unknown_ratio = 0.0;
            if let Some(sid) = &p.session {
                if let Some(s) = self.sessions.get_mut(sid) {
                    if is_anomaly {
                        s.anomalous_lines += 1;
                    }
                    if flagged_known {
                        s.flagged_known += 1;
                    }
                    if let Some(sc) = &score {
                        s.nll_sum += sc.nll;
                    }
                    unknown_ratio = s.unknown_lines as f32 / s.lines.max(1) as f32;
                }
            }
            let (template_id, template, parameters) = match p.template {
                Some(t) => (t.template_id, t.template, t.parameters),
                None => {
                    // A line no template matches (active phase) still shows what it is: its
                    // masked text, as the miner would start a template with it.
                    let novel = self
                        .miner
                        .describe_novel(p.novel_text.as_deref().unwrap_or(""));
                    (0, novel.template, novel.parameters)
                }
            };
            let _ = p.line_len;
            out.push(Detection {
                is_anomaly,
                anomaly_score,
                threshold: ctx.config.anomaly_threshold as f32,
                model_type: scorer.model_type(),
                phase,
                project_id: self.record.id.clone(),
                project_name: self.record.name.clone(),
                session_id: p.session,
                log_count: self.record.log_count,
                warmup_progress: self.warmup_progress(),
                template_id,
                template,
                parameters,
                components,
                reasons,
                timestamp: p.timestamp,
                template_probability: score.as_ref().map(|s| s.prob),
                template_rank: score.as_ref().map(|s| s.rank),
                expected,
                matched_rules: p.hits.iter().map(|h| h.rule.clone()).collect(),
                unknown_template_ratio: unknown_ratio,
                truncated: p.truncated,
                cause,
                pattern: None,
                incident_id: None,
                feedback_id: None,
            });
        }
        // Log counts in the results are per line: fix them up from the final count backwards.
        let final_count = self.record.log_count;
        let n = out.len() as u64;
        for (i, d) in out.iter_mut().enumerate() {
            d.log_count = final_count + 1 + i as u64 - n;
        }

        // 4. Session limits after the batch.
        for s in self
            .sessions
            .enforce_cap(ctx.config.max_sessions_per_project)
        {
            verdicts.extend(self.close(s, CloseReason::Evicted, &scorer, phase));
        }
        verdicts.extend(self.expire(ctx, &scorer, phase));
        self.forget_evicted_templates();
        self.record.last_activity = ctx.now;
        self.review(&mut out, &mut verdicts, ctx.config, ctx.now);
        self.queue_verdicts(&verdicts);
        (out, verdicts)
    }

    /// Drops what is kept per template id for templates the miner evicted (ids are never reused), so a
    /// flood of distinct templates costs memory for the templates kept, not for every one ever seen.
    /// Runs when the per-id maps hold twice the live templates (amortized O(1) per line).
    fn forget_evicted_templates(&mut self) {
        if self.template_counts.len() <= 2 * self.miner.len() + 1024 {
            return;
        }
        let miner = &self.miner;
        let live = |id: &u32| miner.template(*id).is_some();
        self.template_counts.retain(|id, _| live(id));
        self.teacher_tokens.retain(|id, _| live(id));
        if let Some(samples) = self.samples.as_mut() {
            samples
                .template_presence
                .retain(|id, _| *id == 0 || live(id));
            samples
                .warmup_template_sessions
                .retain(|id, _| *id == 0 || live(id));
        }
    }

    fn template_count(&self, id: u32) -> u64 {
        self.template_counts.get(&id).copied().unwrap_or(0)
    }

    fn prepare(
        &mut self,
        ctx: &LineContext<'_>,
        scorer: &Scorer<'_>,
        phase: Phase,
        rec: &LogRecord,
        slots: &mut Vec<(String, SessionState)>,
        slot_of: &mut HashMap<String, usize>,
    ) -> Prepared {
        let (line, truncated) = truncate(&rec.log_line, ctx.config.max_line_bytes);
        let header: Header = self.parser.parse(line);
        let counts = self.parser.header_counts();
        self.record.header_unmatched = self.header_base.unmatched + counts.unmatched;
        self.record.header_recovered = self.header_base.recovered + counts.recovered;
        let timestamp = header
            .timestamp
            .filter(|t| t.is_finite())
            .unwrap_or(ctx.now);
        self.log_now = self.log_now.max(timestamp);
        self.record.log_count += 1;
        self.dirty_logs += 1;

        let before = self.miner.len();
        // Templates are mined from the first MAX_MINED_BYTES of the message: a template's cost grows
        // with its length, and distinct lines at the 64 KiB line cap made each kept template cost ~10 MB.
        let (mined, _) = truncate(&header.content, MAX_MINED_BYTES);
        // A line cut at the line-length cap is matched, never learned: its cut-off text would become
        // a template of the project and, at its training, a token of the shared teacher's vocabulary.
        let template = if phase == Phase::Active || truncated {
            self.miner.match_only(mined)
        } else {
            Some(self.miner.learn(mined))
        };
        if let Some(t) = &template {
            if t.template_changed || t.is_new {
                self.teacher_tokens.remove(&t.template_id);
            }
        }
        let local = template.as_ref().map(|t| t.template_id).unwrap_or(0);
        if local != 0 {
            *self.template_counts.entry(local).or_insert(0) += 1;
        }
        let token = self.token_for(scorer, local, ctx.vocab);
        let unknown = token == UNK;
        if phase == Phase::Active {
            let novel = if template.is_none() { 1.0 } else { 0.0 };
            self.drift += (novel - self.drift) / 1000.0;
            self.record.active_logs += 1;
            if template.is_none() {
                self.record.novel_logs += 1;
            }
            // (Truncated lines are never learned at a retraining either.)
            if template.is_none() && !truncated {
                if let Some((collected, dirty)) = self.collection() {
                    if collected.pending_novel.len() < MAX_PENDING_NOVEL {
                        collected.pending_novel.push_back(mined.to_string());
                        *dirty = true;
                    }
                }
            }
        }
        // Novelty, used where no sequence model knows the template: a brand-new template once the
        // project's template set has settled. Settled is judged by the lines the miner learned from
        // (warmup): in the active phase it only matches, so counting those lines too would make any
        // template set look settled in time (BGL's warmup found a template every ten lines, yet
        // every unmatched active line became news once the active lines outnumbered the rest).
        let novel_text = template.is_none().then(|| mined.to_string());
        let is_new = template.as_ref().is_some_and(|t| t.is_new) || template.is_none();
        let learned_from = self
            .record
            .log_count
            .saturating_sub(self.record.active_logs);
        let novelty = if is_new {
            template_novelty(before, learned_from)
        } else {
            0.0
        };
        // A line no project template matches is told apart from other such lines by its own
        // template, and is no news once that template is common in recent ordinary sessions.
        let novel_id = (phase == Phase::Active && template.is_none())
            .then(|| self.novel_miner.learn(mined).template_id);
        let worn_off = novel_id.is_some_and(|id| {
            self.recent_rarity(scorer)
                .is_some_and(|r| r.is_common(novel_key(id)))
        });
        let novelty = if worn_off { 0.0 } else { novelty };

        let session = rec
            .session_id
            .as_ref()
            .filter(|s| !s.is_empty())
            .cloned()
            .or_else(|| {
                self.session_regex.as_ref().and_then(|re| {
                    re.captures(line).and_then(|c| {
                        c.get(1)
                            .or_else(|| c.get(0))
                            .map(|m| m.as_str().to_string())
                    })
                })
            })
            .or_else(|| {
                if self.session_regex.is_none() {
                    header.session_hint.clone()
                } else {
                    None
                }
            });
        let session = session.map(|s| match bound_session_id(&s) {
            std::borrow::Cow::Borrowed(_) => s,
            std::borrow::Cow::Owned(bounded) => bounded,
        });
        let key = session.clone().unwrap_or_else(|| STREAM.to_string());
        let level = level_rank(header.level.as_deref());
        let http_status = header.http.as_ref().and_then(|h| h.status);
        let mut hits = self.rules.evaluate(&RuleInput {
            line,
            content: &header.content,
            level: header.level.as_deref(),
            http_status,
            http_target: header.http.as_ref().map(|h| h.target.as_str()),
            http_user_agent: header.http.as_ref().and_then(|h| h.user_agent.as_deref()),
            http_referrer: header.http.as_ref().and_then(|h| h.referrer.as_deref()),
        });
        // A session idle past the timeout is over even when its next line comes in the same batch
        // (the expiry check runs between batches, and a batch of a quiet log spans hours): it is
        // closed (judged after the batch is prepared) and the line starts a new session. A session
        // already stepped in this batch keeps its model slot and goes on.
        if key != STREAM && !slot_of.contains_key(&key) {
            let idle = self
                .sessions
                .get_mut(&key)
                .is_some_and(|s| timestamp - s.last_time > ctx.config.session_idle_timeout_secs);
            if let Some(s) = idle.then(|| self.sessions.remove(&key)).flatten() {
                self.idle_closed.push(s);
            }
        }

        // Session bookkeeping; the model state is taken out for the batched step.
        let seq = scorer.seq().cloned();
        let generation = scorer.generation();
        let tokens_for_rebuild: Option<Vec<u32>>;
        let failed = is_failure(http_status, level);
        let agent = header
            .http
            .as_ref()
            .and_then(|h| h.user_agent.as_deref())
            .map(fxhash)
            .unwrap_or(0);
        let base = self.failure_base(scorer);
        // The session's previous line time, before this line moves it.
        let previous_time = self.sessions.get_mut(&key).map(|s| s.last_time);
        let (gap, pause, session_len, session_errors) = {
            let (s, _) = self.sessions.touch(&key, timestamp);
            if key != STREAM {
                let window = s.outcomes_of(agent);
                window.push(failed);
                hits.extend(failures_hit(window, &base));
            }
            // (`touch` already moved the session's time to this line's.)
            let since_previous = previous_time.filter(|_| s.lines > 0).map(|t| timestamp - t);
            let gap = since_previous.map_or(-1.0, |g| g.max(0.0) as f32);
            let pause = since_previous.filter(|_| key != STREAM);
            tokens_for_rebuild = (!slot_of.contains_key(&key)
                && seq.is_some()
                && s.cache.as_ref().is_none_or(|(g, _)| *g != generation))
            .then(|| s.templates.clone());
            s.lines += 1;
            if level >= 3 {
                s.error_lines += 1;
            }
            if unknown {
                s.unknown_lines += 1;
            }
            (gap, pause, s.lines, s.error_lines)
        };
        if let (false, Some(samples)) = (phase == Phase::Active, self.samples.as_mut()) {
            self.samples_dirty = true;
            if let Some(pause) = pause {
                samples.pauses.record(pause);
            }
            samples.warmup_lines += 1;
            samples.warmup_failures += u64::from(failed);
            for h in &hits {
                *samples.rule_counts.entry(h.rule.clone()).or_insert(0) += 1;
            }
        }
        let slot = if let Some(seq) = &seq {
            Some(match slot_of.get(&key) {
                Some(&i) => i,
                None => {
                    let state = match tokens_for_rebuild {
                        Some(history) => {
                            let mut st = seq.new_session();
                            let keep = history.len().saturating_sub(4 * ctx.config.window);
                            for &t in &history[keep..] {
                                let tok = self.token_for(scorer, t, ctx.vocab);
                                seq.observe(&mut st, tok, 0);
                            }
                            st
                        }
                        None => match self.sessions.get_mut(&key).and_then(|s| s.cache.take()) {
                            Some((_, st)) => st,
                            None => seq.new_session(),
                        },
                    };
                    slots.push((key.clone(), state));
                    slot_of.insert(key.clone(), slots.len() - 1);
                    slots.len() - 1
                }
            })
        } else {
            None
        };
        // Record the template in the session; long sessions and the stream are cut into chunks.
        let mut chunk = None;
        if let Some(s) = self.sessions.get_mut(&key) {
            if let (true, Some(samples)) = (phase != Phase::Active, self.samples.as_mut()) {
                if key != STREAM {
                    if s.lines == 1 {
                        samples.warmup_sessions += 1;
                    }
                    if !s.templates.contains(&local) {
                        *samples.warmup_template_sessions.entry(local).or_insert(0) += 1;
                    }
                } else if s.templates.is_empty() {
                    samples.warmup_stream_chunks += 1;
                }
                for h in &hits {
                    if !s.rules_seen.contains(&h.rule) {
                        s.rules_seen.push(h.rule.clone());
                        *samples.rule_sessions.entry(h.rule.clone()).or_insert(0) += 1;
                    }
                }
            }
            s.templates.push(local);
            if let Some(id) = novel_id {
                if s.novel.len() < MAX_SESSION_TOKENS && !s.novel.contains(&id) {
                    s.novel.push(id);
                }
            }
            let cap = if key == STREAM {
                STREAM_CHUNK
            } else {
                MAX_SESSION_TOKENS
            };
            if s.templates.len() >= cap {
                chunk = Some(std::mem::take(&mut s.templates));
                if key == STREAM {
                    // The next chunk of the stream is a new pseudo-session for the rules' evidence.
                    s.rules_seen.clear();
                }
            }
        }
        if let (Some(templates), Some((collected, dirty))) = (chunk, self.collection()) {
            *dirty = true;
            collected.push_sequence(
                StoredSequence {
                    templates,
                    complete: false,
                },
                ctx.config.max_training_sequences,
            );
        }

        let raw = RawFeatures {
            template: local,
            novel: unknown,
            params: template
                .as_ref()
                .map(|t| t.parameters.len().min(u16::MAX as usize) as u16)
                .unwrap_or(0),
            len: line.len().min(u32::MAX as usize) as u32,
            level,
            gap,
            session_len: session_len.min(u32::MAX as u64) as u32,
            session_errors: session_errors.min(u32::MAX as u64) as u32,
            http_status: header.http.as_ref().and_then(|h| h.status).unwrap_or(0),
            http_method: header
                .http
                .as_ref()
                .map(|h| method_class(&h.method))
                .unwrap_or(0),
            path_depth: header
                .http
                .as_ref()
                .map(|h| {
                    h.target
                        .split('?')
                        .next()
                        .unwrap_or("")
                        .matches('/')
                        .count()
                        .min(32) as u8
                })
                .unwrap_or(0),
            query_len: header
                .http
                .as_ref()
                .and_then(|h| {
                    h.target
                        .split_once('?')
                        .map(|(_, q)| q.len().min(u16::MAX as usize) as u16)
                })
                .unwrap_or(0),
        };
        if let (false, Some(samples)) = (phase == Phase::Active, self.samples.as_mut()) {
            let mut rng = self.rng_state;
            samples.offer_features(raw, &mut rng);
            self.rng_state = rng;
        }
        Prepared {
            agent,
            line_len: line.len(),
            truncated,
            timestamp,
            session,
            slot,
            template,
            token,
            unknown,
            novelty,
            worn_off,
            raw,
            hits,
            novel_text,
        }
    }

    /// The base failure rate the behaviour test compares a session with: the one the student was
    /// trained with, else the warmup's so far.
    fn failure_base(&self, scorer: &Scorer<'_>) -> BaseRate {
        match scorer {
            Scorer::Student(s) => s.profile.failure_base,
            Scorer::Teacher(_) => self
                .samples
                .as_ref()
                .map(Samples::failure_base)
                .unwrap_or_default(),
        }
    }

    /// The token of a local template for the scoring model (UNK when it does not know it).
    fn token_for(&mut self, scorer: &Scorer<'_>, local: u32, vocab: &GlobalVocab) -> u32 {
        if local == 0 {
            return UNK;
        }
        match scorer {
            Scorer::Student(s) => s.token_of_local.get(&local).copied().unwrap_or(UNK),
            Scorer::Teacher(t) => {
                if self.teacher_tokens_of != t.generation {
                    self.teacher_tokens.clear();
                    self.teacher_tokens_of = t.generation;
                }
                let token = match self.teacher_tokens.get(&local) {
                    Some(&tok) => tok,
                    None => {
                        // A template the global vocabulary lacks is looked up again next time: a
                        // teacher update adds it, and a cached miss kept it unknown to the teacher
                        // for good (every session end then looked abnormal to it).
                        match self
                            .miner
                            .template(local)
                            .and_then(|text| vocab.token_of(text))
                        {
                            Some(tok) => {
                                self.teacher_tokens.insert(local, tok);
                                tok
                            }
                            None => UNK,
                        }
                    }
                };
                if (token as usize) < t.model_tokens {
                    token
                } else {
                    UNK
                }
            }
        }
    }

    fn expected_templates(
        &self,
        score: &TokenScore,
        scorer: &Scorer<'_>,
        vocab: &GlobalVocab,
    ) -> Vec<ExpectedTemplate> {
        // Only this project's own templates are ever shown: teacher tokens are mapped back through the
        // project's templates, and anything else is dropped.
        let mut out = Vec::new();
        for &(token, prob) in &score.top {
            let local = match scorer {
                Scorer::Student(s) => s
                    .local_of_token
                    .get(token as usize)
                    .copied()
                    .filter(|&l| l != 0),
                Scorer::Teacher(_) => self
                    .teacher_tokens
                    .iter()
                    .find(|(_, &t)| t == token)
                    .map(|(&l, _)| l)
                    .filter(|_| vocab.text(token).is_some()),
            };
            if let Some(local) = local {
                if let Some(text) = self.miner.template(local) {
                    out.push(ExpectedTemplate {
                        template_id: local,
                        template: text.to_string(),
                        probability: prob,
                    });
                }
            }
        }
        out
    }

    fn reasons(
        &self,
        p: &Prepared,
        score: Option<&TokenScore>,
        c: &Components,
        scorer: &Scorer<'_>,
        vocab: &GlobalVocab,
        profile: &Profile,
    ) -> (Vec<String>, Option<String>) {
        // (weight, kind, words): the kind of the strongest reason is the line's cause.
        let mut reasons: Vec<(f32, String, String)> = Vec::new();
        if p.template.is_none() {
            let why = if p.worn_off {
                "template never seen before (novel), now common in recent ordinary sessions"
            } else {
                "template never seen before (novel)"
            };
            reasons.push((1.0, "novel_template".into(), why.into()));
        }
        if c.sequence >= 0.5 {
            match score {
                Some(s) if !(p.unknown && matches!(scorer, Scorer::Teacher(_))) => {
                    let expected = self.expected_templates(s, scorer, vocab);
                    let exp = expected
                        .first()
                        .map(|e| {
                            format!(
                                "; expected \"{}\" ({:.0}%)",
                                e.template,
                                e.probability * 100.0
                            )
                        })
                        .unwrap_or_default();
                    reasons.push((
                        c.sequence,
                        "sequence".into(),
                        format!(
                            "unexpected template in this session (p={:.4}, rank {}){exp}",
                            s.prob, s.rank
                        ),
                    ));
                }
                _ => reasons.push((
                    c.sequence,
                    "new_template".into(),
                    "new template after the project's templates had settled".into(),
                )),
            }
        }
        if c.isolation_forest >= 0.5 {
            reasons.push((
                c.isolation_forest,
                "isolation_forest".into(),
                "unusual features (isolation forest)".into(),
            ));
        }
        for h in &p.hits {
            // Ranked by the rule's weight for this project: a rule that fires on normal lines of this
            // project comes last, and says so.
            let weight = profile.rules_score(std::slice::from_ref(h));
            let note = if weight < h.severity * 0.5 {
                " (common in this project)"
            } else {
                ""
            };
            reasons.push((
                weight,
                format!("rule:{}", h.rule),
                format!("rule {} matched: {}{note}", h.rule, h.evidence),
            ));
        }
        if p.truncated {
            reasons.push((
                0.0,
                "truncated".into(),
                format!("line truncated to {} bytes", p.line_len),
            ));
        }
        reasons.sort_by(|a, b| b.0.total_cmp(&a.0));
        let cause = reasons.first().map(|r| r.1.clone());
        (reasons.into_iter().map(|(_, _, r)| r).collect(), cause)
    }

    fn expire(
        &mut self,
        ctx: &LineContext<'_>,
        scorer: &Scorer<'_>,
        phase: Phase,
    ) -> Vec<SessionVerdict> {
        if !self.log_now.is_finite() {
            return Vec::new();
        }
        let expired = self
            .sessions
            .expire(self.log_now, ctx.config.session_idle_timeout_secs);
        let mut out = Vec::new();
        for s in expired {
            out.extend(self.close(s, CloseReason::Expired, scorer, phase));
        }
        out
    }

    /// Closes one session: its training sample, the missing-template profile and its verdict.
    pub fn close(
        &mut self,
        s: Session,
        reason: CloseReason,
        scorer: &Scorer<'_>,
        phase: Phase,
    ) -> Option<SessionVerdict> {
        if s.id == STREAM {
            return None;
        }
        let complete = matches!(reason, CloseReason::Expired | CloseReason::Closed);
        let whole = s.templates.len() as u64 == s.lines && s.lines > 0;
        if let (true, Some(samples)) = (
            phase != Phase::Active && complete && whole,
            self.samples.as_mut(),
        ) {
            samples.complete_sessions += 1;
            let distinct: HashSet<u32> = s.templates.iter().copied().filter(|&t| t != 0).collect();
            for t in distinct {
                *samples.template_presence.entry(t).or_insert(0) += 1;
            }
            samples.shapes.push_back(count_vector(&s.templates));
            while samples.shapes.len() > MAX_SHAPES {
                samples.shapes.pop_front();
            }
        }
        let max_sequences = self.max_sequences;
        if let Some((collected, dirty)) = self.collection() {
            *dirty = true;
            collected.push_sequence(
                StoredSequence {
                    templates: s.templates.clone(),
                    complete: complete && whole,
                },
                max_sequences,
            );
        }

        let live;
        let profile = match scorer {
            Scorer::Student(st) => &st.profile,
            Scorer::Teacher(_) => {
                live = self.live_profile();
                &*live
            }
        };
        let present: HashSet<u32> = s.templates.iter().copied().collect();
        // A session still open at the end of the input was cut, not finished: what it holds is
        // evidence (a rare or never-seen event), what it lacks or how it ends is not.
        let cut = reason == CloseReason::EndOfInput;
        let mut judged = if whole && profile.shape.is_ready() {
            profile.shape.judge(&s.templates)
        } else {
            Default::default()
        };
        if cut {
            judged.missing.clear();
            judged.broken.clear();
        }
        // A surprising end is a sign of a session that stopped early, unless the session holds exactly
        // what many complete warmup sessions hold: then only the order of its last events is unusual,
        // and the model is not asked.
        let thresholds = *scorer.thresholds();
        let generation = scorer.generation();
        let end_score = match (scorer.seq(), &s.cache) {
            (Some(seq), Some((g, st)))
                if *g == generation && whole && !cut && !judged.recurring =>
            {
                thresholds.end_nll.calibrate(seq.end_of_session(st).nll)
            }
            _ => 0.0,
        };
        if phase == Phase::Active && whole && profile.shape.is_ready() {
            self.wear_off(&s, &mut judged, end_score, scorer);
        }
        // Where holding a rare template is the project's ordinary business, rarity is no verdict
        // (it still fed the wear-off window above; a never-seen line is judged on its own novelty).
        if !profile.shape.rarity_is_news() {
            judged.rare.clear();
        }
        let missing_ids: Vec<u32> = if profile.shape.is_ready() {
            judged.missing.clone()
        } else if whole && !cut && profile.complete_sessions >= MIN_PROFILE_SESSIONS {
            profile
                .common_templates
                .iter()
                .copied()
                .filter(|t| !present.contains(t))
                .collect()
        } else {
            Vec::new()
        };
        let text = |t: u32| -> String {
            if t == 0 {
                "<unknown template>".to_string()
            } else {
                self.miner
                    .template(t)
                    .unwrap_or("<evicted template>")
                    .to_string()
            }
        };
        let missing: Vec<String> = missing_ids.iter().map(|&t| text(t)).collect();
        let mut shape_score = 0.0f32;
        let mut reasons = Vec::new();
        let mut cause: Option<&str> = None;
        if end_score >= 0.5 {
            cause = Some("end_surprise");
            reasons.push("session ended where normal sessions do not".to_string());
        }
        for &t in &judged.rare {
            shape_score = shape_score.max(RARE_SHAPE_SCORE);
            cause = cause.or(Some("rare_template"));
            let held = profile.shape.presence.get(&t).copied().unwrap_or(0);
            reasons.push(format!(
                "holds \"{}\", which only {held} of {} normal sessions hold",
                text(t),
                profile.shape.sessions
            ));
        }
        if !missing.is_empty() {
            shape_score = shape_score.max(MISSING_SHAPE_SCORE);
            cause = cause.or(Some("missing_template"));
        }
        for m in &missing {
            reasons.push(format!("missing \"{m}\", which nearly every session has"));
        }
        for &(a, ca, b, cb) in judged.broken.iter().take(3) {
            shape_score = shape_score.max(BROKEN_SHAPE_SCORE);
            cause = cause.or(Some("broken_tie"));
            reasons.push(format!(
                "{ca} x \"{}\" but {cb} x \"{}\" (equal in nearly every session)",
                text(a),
                text(b)
            ));
        }
        // The verdict's pattern: its cause, the event(s) behind it, and the session's shape (which
        // event types it holds: a normal re-run and a failure can share a rare event and differ in
        // the rest, and feedback on one must not silence the other).
        let shape = session_shape_tag(&s.templates);
        let pattern = cause.map(|c| match c {
            // A never-seen event is named by its own template (the novel miner's), not as
            // "unknown": two different new events are two patterns.
            "rare_template" => match judged.rare.first() {
                Some(0) => match s.novel.first().and_then(|&id| self.novel_miner.template(id)) {
                    Some(novel) => format!("novel_template: {novel}"),
                    None => format!("{c}: {}", text(0)),
                },
                Some(&t) => format!("{c}: {}", text(t)),
                None => c.to_string(),
            },
            "missing_template" => format!("{c}: {}", missing.join(" + ")),
            "broken_tie" => judged.broken.first().map_or(c.to_string(), |&(a, _, b, _)| {
                format!("{c}: {} / {}", text(a), text(b))
            }),
            _ => c.to_string(),
        } + &shape);
        let anomaly_score = end_score.max(shape_score);
        let threshold = self.anomaly_threshold;
        let is_anomaly = anomaly_score >= threshold;
        if cut {
            reasons.push(
                "still open at the end of the input: cut, judged only on what it holds".to_string(),
            );
        }
        Some(SessionVerdict {
            project_id: self.record.id.clone(),
            session_id: s.id,
            is_anomaly,
            anomaly_score,
            threshold,
            model_type: scorer.model_type(),
            phase,
            reason,
            lines: s.lines,
            anomalous_lines: s.anomalous_lines,
            end_score,
            missing_templates: missing,
            reasons,
            timestamp: s.last_time,
            open_at_end_of_input: cut,
            cause: cause.map(str::to_string),
            pattern,
            incident_id: None,
            feedback_id: None,
        })
    }

    /// The rarity window of the serving student (`None` while the teacher scores or the shape is not
    /// ready), started at the first call with the number of warmup sessions as its width.
    fn recent_rarity(&mut self, scorer: &Scorer<'_>) -> Option<&mut RecentRarity> {
        let Scorer::Student(st) = scorer else {
            return None;
        };
        let shape = &st.profile.shape;
        if !shape.is_ready() {
            return None;
        }
        let window = shape.seen_sessions.max(shape.sessions);
        Some(
            &mut self
                .recent
                .get_or_insert_with(|| (st.generation, RecentRarity::new(window)))
                .1,
        )
    }

    /// Novelty that wears off, at a session's close: its rare templates that are common over the
    /// recent window are no longer rare, then the session takes its place in the window, vouching
    /// for its rare templates when it is in ordinary company (nothing else wrong). Judged before it
    /// is recorded, so a session never excuses itself.
    fn wear_off(
        &mut self,
        s: &Session,
        judged: &mut crate::model::shape::ShapeJudgement,
        end_score: f32,
        scorer: &Scorer<'_>,
    ) {
        let Some(recent) = self.recent_rarity(scorer) else {
            return;
        };
        let keys: Vec<RarityKey> = judged
            .rare
            .iter()
            .flat_map(|&t| match t {
                // Unmatched lines: the session's own novel templates.
                0 => s.novel.iter().map(|&n| novel_key(n)).collect::<Vec<_>>(),
                t => vec![known_key(t)],
            })
            .collect();
        let ordinary = judged.missing.is_empty()
            && judged.broken.is_empty()
            && end_score < 0.5
            && s.flagged_known == 0;
        judged.rare.retain(|&t| match t {
            0 => s.novel.is_empty() || !s.novel.iter().all(|&n| recent.is_common(novel_key(n))),
            t => !recent.is_common(known_key(t)),
        });
        recent.record(if ordinary { keys } else { Vec::new() });
    }

    /// What operators said and what they read: each result gets its pattern, operator feedback
    /// decides the results it matches, and flagged results join their incidents.
    fn review(
        &mut self,
        lines: &mut [Detection],
        verdicts: &mut [SessionVerdict],
        config: &Config,
        now: f64,
    ) {
        let gap = config.incident_gap_secs;
        for d in lines.iter_mut() {
            d.pattern = line_pattern(d);
            if !self.record.feedback.is_empty() {
                let was = d.is_anomaly;
                self.record.feedback.apply_to_line(d, now);
                match (was, d.is_anomaly) {
                    (false, true) => self.record.anomaly_count += 1,
                    (true, false) => {
                        self.record.anomaly_count = self.record.anomaly_count.saturating_sub(1)
                    }
                    _ => {}
                }
            }
            if let Some(book) = self.incidents.as_mut() {
                book.add_line(&self.record.id, d, gap);
            }
        }
        for v in verdicts.iter_mut() {
            if !self.record.feedback.is_empty() {
                self.record.feedback.apply_to_verdict(v, now);
            }
            if let Some(book) = self.incidents.as_mut() {
                book.add_verdict(&self.record.id, v, gap);
            }
        }
    }

    fn queue_verdicts(&mut self, verdicts: &[SessionVerdict]) {
        for v in verdicts {
            self.verdicts.push_back(v.clone());
        }
        while self.verdicts.len() > MAX_QUEUED_VERDICTS {
            self.verdicts.pop_front();
        }
    }

    /// Closes sessions on the host's request (`None`: all of them, as at the end of input). At the
    /// end of input, sessions idle past the idle timeout (log time) finished and close as expired, and
    /// so do sessions silent longer than the project's sessions pause inside at the target
    /// false-positive rate (see [`crate::model::pause`]); the others were cut
    /// ([`CloseReason::EndOfInput`]).
    pub fn close_sessions(
        &mut self,
        teacher: &TeacherView,
        id: Option<&str>,
        config: &Config,
        now: f64,
    ) -> Vec<SessionVerdict> {
        let phase = self.phase();
        let student = if phase == Phase::Active && !self.teacher_scores {
            self.student.clone()
        } else {
            None
        };
        let scorer = match &student {
            Some(s) => Scorer::Student(s),
            None => Scorer::Teacher(teacher),
        };
        let idle_timeout = config.session_idle_timeout_secs;
        let mut closing: Vec<(Session, CloseReason)> = Vec::new();
        let mut settled = Vec::new();
        match id {
            Some(id) => closing.extend(
                self.sessions
                    .remove(&bound_session_id(id))
                    .map(|s| (s, CloseReason::Closed)),
            ),
            None => {
                if self.log_now.is_finite() {
                    let finished = self.sessions.expire(self.log_now, idle_timeout);
                    closing.extend(finished.into_iter().map(|s| (s, CloseReason::Expired)));
                    let longest = self
                        .longest_pause(&scorer, config.target_false_positive_rate)
                        .filter(|&p| p < idle_timeout);
                    if let Some(longest) = longest {
                        for s in self.sessions.expire(self.log_now, longest) {
                            settled.push((s.id.clone(), self.log_now - s.last_time, longest));
                            closing.push((s, CloseReason::Expired));
                        }
                    }
                }
                closing.extend(
                    self.sessions
                        .drain()
                        .into_iter()
                        .map(|s| (s, CloseReason::EndOfInput)),
                );
            }
        }
        let mut verdicts: Vec<SessionVerdict> = closing
            .into_iter()
            .filter_map(|(s, reason)| self.close(s, reason, &scorer, phase))
            .collect();
        self.review(&mut [], &mut verdicts, config, now);
        for v in &mut verdicts {
            if let Some((_, silent, longest)) = settled.iter().find(|(id, ..)| *id == v.session_id)
            {
                v.reasons.push(format!(
                    "silent for {silent:.0} s at the end of the input, longer than the project's \
                     sessions pause ({longest:.1} s): finished, not cut"
                ));
            }
        }
        self.queue_verdicts(&verdicts);
        verdicts
    }

    /// The longest pause a session may take and go on, exceeded by at most `share` of the pauses
    /// inside the serving student's warmup sessions (or the warmup's so far while the teacher
    /// serves); `None` while too few pauses were seen to tell.
    fn longest_pause(&self, scorer: &Scorer<'_>, share: f64) -> Option<f64> {
        match scorer {
            Scorer::Student(st) => st.profile.pauses.longest_normal(share),
            Scorer::Teacher(_) => self.samples.as_ref()?.pauses.longest_normal(share),
        }
    }

    /// Drops every open session without verdicts. Returns how many there were.
    pub fn reset_sessions(&mut self) -> usize {
        let n = self.sessions.len();
        self.sessions.drain();
        n
    }

    /// Sequences available for training now: stored ones plus open sessions' prefixes (at least two
    /// templates, so they carry a next-template signal; never marked complete).
    pub fn training_sequences(&self) -> Vec<StoredSequence> {
        self.training_sequences_with(None)
    }

    /// [`ProjectState::training_sequences`], with `stored` standing in for spilled samples.
    pub fn training_sequences_with(&self, stored: Option<&Samples>) -> Vec<StoredSequence> {
        let mut out: Vec<StoredSequence> = self
            .samples
            .as_ref()
            .or(stored)
            .map(|s| s.sequences.iter().cloned().collect())
            .unwrap_or_default();
        out.extend(
            self.sessions
                .iter()
                .filter(|s| s.templates.len() >= 2)
                .map(|s| StoredSequence {
                    templates: s.templates.clone(),
                    complete: false,
                }),
        );
        out
    }

    /// The project's status.
    pub fn status(&self, config: &Config) -> ProjectStatus {
        let job = self.job.as_ref().map(|j| j.status());
        let stats = self.miner.stats();
        let _ = config;
        ProjectStatus {
            project_id: self.record.id.clone(),
            project_name: self.record.name.clone(),
            format: self.record.format,
            log_format: self.record.log_format.clone(),
            header_unmatched: self.record.header_unmatched,
            header_recovered: self.record.header_recovered,
            phase: self.phase(),
            log_count: self.record.log_count,
            anomaly_count: self.record.anomaly_count,
            warmup_threshold: self.record.warmup_threshold,
            warmup_progress: self.warmup_progress(),
            has_student_model: self.record.has_student,
            training: TrainingStatus {
                state: job
                    .as_ref()
                    .map(|j| j.state)
                    .or(self.record.has_student.then_some(JobState::Succeeded)),
                progress: job.as_ref().map(|j| j.progress).unwrap_or(0.0),
                last_error: self.record.last_training_error.clone(),
                waiting_reason: self.waiting_reason.clone(),
                last_duration_secs: self.record.last_training_secs.map(|t| t.0),
                last_teacher_finetune_secs: self.record.last_training_secs.map(|t| t.1),
                last_distill_secs: self.record.last_training_secs.map(|t| t.2),
                students_trained: self.record.students_trained,
            },
            template_count: stats.templates,
            training_sequences: self.samples.as_ref().map_or_else(
                || {
                    let added = self
                        .additions
                        .as_ref()
                        .map_or(self.record.stored_additions, |a| a.sequences.len());
                    (self.record.stored_sequences + added).min(self.max_sequences)
                },
                |s| s.sequences.len(),
            ),
            open_sessions: self.sessions.len(),
            drift: self.drift,
            novel_logs: self.record.novel_logs,
            parsing_warning: self.miner.quality_warning(),
            es_index_pattern: format!("logs-{}", self.record.id),
            created_at: self.record.created_at,
            last_activity: self.record.last_activity,
        }
    }

    /// Current drift (share of recent active lines with an unknown template).
    pub fn drift(&self) -> f32 {
        self.drift
    }
}

/// Compiles a session pattern; an invalid regex is [`Error::InvalidInput`].
pub fn compile_session_pattern(pattern: Option<&str>) -> Result<Option<Regex>> {
    pattern
        .map(|p| {
            if p.is_empty() {
                return Err(Error::invalid_input("session pattern must not be empty"));
            }
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| Error::invalid_input(format!("invalid session pattern: {e}")))
        })
        .transpose()
}

/// Longest prefix of a message its template is mined from, in bytes (longer messages keep their full
/// text, up to `max_line_bytes`, for rules and features).
pub const MAX_MINED_BYTES: usize = 4096;

/// Longest session id kept as given, in bytes.
pub const MAX_SESSION_ID_BYTES: usize = 256;

/// A session id as the project keeps it: ids up to [`MAX_SESSION_ID_BYTES`] as given; a longer one is
/// cut and ends with `~` and 16 hex digits of the SHA-256 of the whole id, so distinct ids stay distinct
/// while a hostile id cannot make every open session hold megabytes.
pub fn bound_session_id(id: &str) -> std::borrow::Cow<'_, str> {
    if id.len() <= MAX_SESSION_ID_BYTES {
        return std::borrow::Cow::Borrowed(id);
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    let (head, _) = truncate(id, MAX_SESSION_ID_BYTES - 17);
    let mut out = String::with_capacity(MAX_SESSION_ID_BYTES);
    out.push_str(head);
    out.push('~');
    for b in &digest[..8] {
        out.push_str(&format!("{b:02x}"));
    }
    std::borrow::Cow::Owned(out)
}

/// How much news a template the project has never seen is, from how settled its template set was
/// when it was learned: `templates` found in the `learned_from` lines the miner learned from. A warmup
/// that found a template every ten lines or more often expects another (0); one whose templates are
/// few per line calls a new one news (up to 0.9). Fewer than 200 lines say nothing yet (0).
fn template_novelty(templates: usize, learned_from: u64) -> f32 {
    if learned_from < 200 {
        return 0.0;
    }
    let rate = templates as f32 / learned_from as f32;
    (1.0 - 10.0 * rate).clamp(0.0, 0.9)
}

/// Cuts a line to at most `max` bytes on a character boundary.
pub fn truncate(line: &str, max: usize) -> (&str, bool) {
    if line.len() <= max {
        return (line, false);
    }
    let mut end = max;
    while end > 0 && !line.is_char_boundary(end) {
        end -= 1;
    }
    (&line[..end], true)
}

/// The shape part of a session verdict's pattern: how many distinct event types the session holds
/// and a hash of which.
fn session_shape_tag(templates: &[u32]) -> String {
    let mut distinct: Vec<u32> = templates.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let ids: Vec<String> = distinct.iter().map(u32::to_string).collect();
    format!(
        " {SHAPE_TAG_OPEN}{} event types, {:08x}]",
        distinct.len(),
        fxhash(&ids.join(",")) as u32
    )
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

impl ModelType {
    /// Whether this is the student.
    pub fn is_student(self) -> bool {
        self == ModelType::Student
    }
}

#[cfg(test)]
mod tests {
    use super::template_novelty;

    #[test]
    fn novelty_follows_how_settled_the_learned_lines_were() {
        // HDFS-like: 20 templates in a 10,000-line warmup: a new one is news.
        assert_eq!(template_novelty(20, 10_000), 0.9);
        // BGL-like: a template every ten lines: another one is expected.
        assert_eq!(template_novelty(54, 500), 0.0);
        // In between, less news the more often templates were found.
        let middle = template_novelty(20, 400);
        assert!(middle > 0.0 && middle < 0.9, "{middle}");
        // Too few lines learned from to judge.
        assert_eq!(template_novelty(1, 199), 0.0);
    }
}
