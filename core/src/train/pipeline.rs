//! The training pipeline: bringing the teacher up to date, distilling students, scheduled teacher
//! updates, and loading stored models.
//!
//! Order of a project's first training (DESIGN 2-4): its templates join the global vocabulary; the
//! teacher is trained on pooled project data if it never was, else fine-tuned on this project's warmup;
//! then the student is distilled from it over the same id space, calibrated on held-out sequences, stored
//! and swapped in atomically.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::config::{Config, ModelDims};
use crate::detector::{Inner, ProjectSlot};
use crate::error::{Error, Result};
use crate::model::calibrate::Threshold;
use crate::model::ensemble::{
    Student, StudentMeta, TeacherView, Thresholds, MIN_LEARNED_OCCURRENCES,
};
use crate::model::features::feature_vector;
use crate::model::forest::{ForestConfig, IsolationForest};
use crate::model::infer::InferenceModel;
use crate::model::transformer::{
    SeqModel, SeqModelConfig, BOS, EOS, FIRST_TEMPLATE_TOKEN, PAD, UNK,
};
use crate::model::vocab::GlobalVocab;
use crate::store::{global_blob, project_blob, Store, Write};
use crate::tenant::project::{ProjectState, Samples, StoredSequence};
use crate::train::job::{JobHandle, JobState};
use crate::train::lm::{
    distill, train_next_token, DistillOptions, TrainMonitor, TrainOptions, TrainSequence,
};
use crate::train::model_dir;
use crate::types::TeacherUpdate;
use crate::util::rng::SplitMix64;

/// Word-piece buckets of the teacher's embeddings.
const TEACHER_WORD_BUCKETS: usize = 4096;
/// Most pooled sequences a teacher (re)training uses.
const MAX_POOLED_SEQUENCES: usize = 20_000;
/// Most pooled feature rows the teacher's forest is fitted on.
const MAX_POOLED_FEATURES: usize = 8192;
/// Share of sequences held out for calibration.
const HOLDOUT_SHARE: f64 = 0.2;
/// Calibrated components sharing the target false-positive rate (line sequence surprise, session-end
/// surprise, isolation forest): each gets an equal part, so the ensemble's max stays near the target
/// rather than at a multiple of it.
const CALIBRATED_COMPONENTS: f64 = 3.0;
/// Surprise (nats) below which no line or session end is flagged: a template the model gives at
/// least ~5% is never surprising.
const MIN_SURPRISE_NLL: f32 = 3.0;

/// The teacher's trainable model, touched only by jobs (which run one at a time).
#[derive(Default)]
pub struct TeacherCore {
    /// The candle model (`None` until first trained or loaded).
    pub model: Option<SeqModel>,
}

/// Persisted facts about the teacher and its schedule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TeacherMeta {
    /// Config of the stored model.
    pub config: Option<SeqModelConfig>,
    /// Thresholds.
    pub thresholds: Option<Thresholds>,
    /// Forest over pooled features.
    pub forest: Option<IsolationForest>,
    /// Parameters of the model.
    pub parameters: usize,
    /// Updates so far.
    pub version: u64,
    /// Time of the last update.
    pub last_update: Option<f64>,
    /// Time the next scheduled update is due.
    pub next_update: f64,
    /// Logs processed in earlier runs.
    pub logs_processed_before: u64,
}

impl TeacherCore {
    /// Loads the stored teacher, or on a storage without one the pre-trained teacher `pretrained`
    /// read from `MODEL_DIR` (its vocabulary already in `vocab`), which is then committed to the
    /// storage so that it no longer needs the directory.
    pub fn load(
        store: &Store,
        config: &Config,
        device: &Device,
        vocab: &GlobalVocab,
        now: f64,
        pretrained: Option<model_dir::StoredTeacher>,
    ) -> Result<(Self, TeacherView, TeacherMeta)> {
        let mut meta: TeacherMeta = match store.blob(&global_blob("teacher_meta"))? {
            Some(b) => serde_json::from_slice(&b)?,
            None => TeacherMeta {
                next_update: now + config.teacher_update_days * 86_400.0,
                ..TeacherMeta::default()
            },
        };
        let mut bytes = store.blob(&global_blob("teacher_model"))?;
        let mut adopted = false;
        if bytes.is_none() {
            if let Some(teacher) = pretrained {
                meta.config = Some(teacher.config);
                if let Some(calibration) = teacher.calibration {
                    meta.thresholds = Some(calibration.thresholds);
                    meta.forest = calibration.forest;
                }
                bytes = Some(teacher.weights);
                adopted = true;
            }
        }
        let mut core = TeacherCore::default();
        let mut view = TeacherView {
            generation: 1,
            thresholds: meta.thresholds.unwrap_or_default(),
            forest: meta.forest.clone().map(Arc::new),
            ..TeacherView::default()
        };
        if let (Some(bytes), Some(cfg)) = (bytes.as_ref(), meta.config.clone()) {
            let words = padded_words(vocab, cfg.vocab_size, cfg.word_buckets);
            let model = SeqModel::from_bytes(bytes, cfg.clone(), words, device)?;
            view.seq = Some(Arc::new(InferenceModel::from_model(&model)?));
            view.model_tokens = cfg.vocab_size;
            meta.parameters = model.parameter_count();
            core.model = Some(model);
        }
        if adopted {
            if let Some(bytes) = bytes {
                store.commit(vec![
                    Write::Blob {
                        name: global_blob("teacher_model"),
                        bytes,
                    },
                    Write::Blob {
                        name: global_blob("teacher_meta"),
                        bytes: serde_json::to_vec(&meta)?,
                    },
                    Write::Blob {
                        name: global_blob("vocab"),
                        bytes: serde_json::to_vec(vocab)?,
                    },
                ])?;
            }
        }
        Ok((core, view, meta))
    }
}

/// Word pieces of every token up to `vocab_size` (vocabulary entries beyond it are ignored, missing ones
/// are empty).
fn padded_words(vocab: &GlobalVocab, vocab_size: usize, buckets: usize) -> Vec<Vec<u32>> {
    let mut w = vocab.token_words(buckets);
    w.resize(vocab_size, Vec::new());
    w.truncate(vocab_size);
    w
}

fn seq_config(
    dims: ModelDims,
    window: usize,
    vocab_size: usize,
    word_buckets: usize,
) -> SeqModelConfig {
    let mut c = SeqModelConfig::teacher(vocab_size);
    c.n_layers = dims.n_layers;
    c.d_model = dims.d_model;
    c.n_heads = dims.n_heads;
    c.d_ff = dims.d_ff;
    c.window = window;
    c.word_buckets = word_buckets;
    c
}

struct JobMonitor<'a> {
    job: &'a JobHandle,
    from: f32,
    to: f32,
}

impl TrainMonitor for JobMonitor<'_> {
    fn progress(&self, fraction: f32, _loss: f32) {
        self.job
            .set_progress(self.from + (self.to - self.from) * fraction);
    }
    fn is_cancelled(&self) -> bool {
        self.job.is_cancel_requested()
    }
}

/// Splits sequences into (train, holdout) deterministically.
fn split_holdout<T: Clone>(items: &[T], seed: u64) -> (Vec<T>, Vec<T>) {
    let mut idx: Vec<usize> = (0..items.len()).collect();
    SplitMix64::new(seed).shuffle(&mut idx);
    let n_hold = ((items.len() as f64) * HOLDOUT_SHARE).round() as usize;
    let n_hold = if items.len() >= 10 { n_hold.max(1) } else { 0 };
    let hold = idx[..n_hold].iter().map(|&i| items[i].clone()).collect();
    let train = idx[n_hold..].iter().map(|&i| items[i].clone()).collect();
    (train, hold)
}

/// Per-session maximum line surprise and end-of-session surprise of `seqs` under `model`.
fn surprise(model: &InferenceModel, seqs: &[TrainSequence]) -> (Vec<f32>, Vec<f32>) {
    let mut session_max = Vec::new();
    let mut ends = Vec::new();
    for s in seqs {
        let mut st = model.new_session();
        let mut worst = f32::NEG_INFINITY;
        for &t in &s.tokens {
            worst = worst.max(model.observe(&mut st, t, 0).nll);
        }
        if worst.is_finite() {
            session_max.push(worst);
        }
        if s.complete {
            ends.push(model.end_of_session(&st).nll);
        }
    }
    (session_max, ends)
}

/// Thresholds of the sequence model. The false-positive target is per *session*: a line threshold at
/// the target rate would flag `1 - (1 - fpr)^L` of normal sessions of L lines (about 10% of 20-line
/// sessions at 0.5%), so the line threshold is the quantile of each held-out session's worst line.
fn calibrate_sequence(
    model: &InferenceModel,
    holdout: &[TrainSequence],
    fpr: f64,
    base: &Thresholds,
) -> Thresholds {
    let (worst, ends) = surprise(model, holdout);
    let floor = surprise_floor(fpr);
    Thresholds {
        sequence_nll: Threshold::learn(&worst, fpr, floor).unwrap_or(base.sequence_nll),
        end_nll: Threshold::learn(&ends, fpr, floor).unwrap_or(base.end_nll),
        forest: base.forest,
    }
}

/// The least surprise (nats) flagged at a false-positive target `fpr`: an event the model itself
/// expects with probability p happens in about a share p of the sessions reaching that point, so
/// flagging it at p >= fpr would spend the whole budget on it alone, whatever a small holdout's
/// (extrapolated) quantile says.
fn surprise_floor(fpr: f64) -> f32 {
    (-(fpr.max(1e-12)).ln() as f32).max(MIN_SURPRISE_NLL)
}

/// The project's templates held by fewer than [`MIN_LEARNED_OCCURRENCES`] lines of the training
/// sequences, sorted.
fn thin_templates(data: &ProjectData) -> Vec<u32> {
    let mut lines: HashMap<u32, usize> = HashMap::new();
    for t in data.sequences.iter().flat_map(|s| &s.templates) {
        *lines.entry(*t).or_insert(0) += 1;
    }
    let mut thin: Vec<u32> = data
        .templates
        .iter()
        .map(|(t, _)| *t)
        .filter(|t| lines.get(t).copied().unwrap_or(0) < MIN_LEARNED_OCCURRENCES)
        .collect();
    thin.sort_unstable();
    thin
}

/// Mean number of lines per session, for turning a per-session false-positive target into a per-line
/// one where lines are scored one by one.
fn mean_session_len(seqs: &[StoredSequence]) -> f64 {
    let complete: Vec<usize> = seqs
        .iter()
        .filter(|s| s.complete)
        .map(|s| s.templates.len())
        .collect();
    let lens: Vec<usize> = if complete.is_empty() {
        seqs.iter().map(|s| s.templates.len()).collect()
    } else {
        complete
    };
    if lens.is_empty() {
        1.0
    } else {
        (lens.iter().sum::<usize>() as f64 / lens.len() as f64).max(1.0)
    }
}

fn fit_forest(
    rows: &[Vec<f32>],
    seed: u64,
    fpr: f64,
) -> Result<Option<(IsolationForest, Threshold)>> {
    if rows.len() < 32 {
        return Ok(None);
    }
    let forest = IsolationForest::fit(
        rows,
        &ForestConfig {
            seed,
            ..ForestConfig::default()
        },
    )?;
    let scores = forest.score_many(rows);
    let t = Threshold::learn(&scores, fpr, 0.55).unwrap_or(Threshold::prior(0.62));
    Ok(Some((forest, t)))
}

/// A snapshot of one project's data for training.
struct ProjectData {
    templates: Vec<(u32, String)>,
    sequences: Vec<StoredSequence>,
    feature_rows: Vec<Vec<f32>>,
}

/// A copy of what training needs of a project; `stored` stands in for spilled samples (read from
/// storage without loading them into the project). Sequences and feature rows holding a template the
/// operator confirmed anomalous (live feedback at `now`) are kept out: what a person said is an
/// anomaly never becomes part of what normal looks like.
fn snapshot(st: &ProjectState, stored: Option<&Samples>, now: f64) -> ProjectData {
    let infos = st.miner.templates();
    let total: u64 = infos.iter().map(|t| t.count).sum::<u64>().max(1);
    let share: HashMap<u32, f32> = infos
        .iter()
        .map(|t| (t.id, t.count as f32 / total as f32))
        .collect();
    let confirmed = st.record.feedback.confirmed_anomalous_templates(now);
    let excluded: HashSet<u32> = infos
        .iter()
        .filter(|t| confirmed.contains(t.template.as_str()))
        .map(|t| t.id)
        .collect();
    let mut sequences = st.training_sequences_with(stored);
    sequences.retain(|s| !s.templates.iter().any(|t| excluded.contains(t)));
    ProjectData {
        templates: infos.into_iter().map(|t| (t.id, t.template)).collect(),
        sequences,
        feature_rows: st
            .samples()
            .or(stored)
            .map(|s| {
                s.features
                    .iter()
                    .filter(|r| !excluded.contains(&r.template))
                    .map(|r| feature_vector(r, share.get(&r.template).copied().unwrap_or(0.0)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl Inner {
    /// Starts a training job when the project is due (project lock held). Never stuck: when data are
    /// short, the reason is recorded and collection goes on.
    pub(crate) fn maybe_start_training(&self, st: &mut ProjectState) {
        if st.deleted
            || st
                .job
                .as_ref()
                .is_some_and(|j| !j.status().state.is_finished())
        {
            return;
        }
        let due_first = !st.record.has_student && st.record.log_count >= st.record.warmup_threshold;
        let due_drift = st.record.has_student
            && st.drift() > self.config.drift_retrain_ratio as f32
            && st.record.active_logs >= 1000
            && st
                .job
                .as_ref()
                .is_none_or(|j| j.status().state != JobState::Failed);
        // A training a crash or `close` interrupted (first or after drift) is redone.
        let redo = st.record.training_pending;
        if !(due_first || due_drift || redo) {
            return;
        }
        if let Err(e) = st.load_samples(&self.store) {
            st.waiting_reason = Some(format!("cannot read the training samples: {e}"));
            return;
        }
        let available = st.samples().map_or(0, |s| s.sequences.len())
            + st.sessions
                .iter()
                .filter(|s| s.templates.len() >= 2)
                .count();
        if available < self.config.min_training_sequences {
            st.waiting_reason = Some(format!(
                "only {available} training sequences (need {}): still collecting",
                self.config.min_training_sequences
            ));
            return;
        }
        // A failed first training is retried only after another warmup's worth of logs.
        if let (Some(job), false) = (&st.job, st.record.has_student) {
            if job.status().state == JobState::Failed
                && st.record.log_count < st.record.warmup_threshold.saturating_mul(2)
            {
                return;
            }
        }
        if due_drift {
            // Lines no template matched are learned into the vocabulary before retraining.
            let pending: Vec<String> = st
                .samples_mut()
                .map(|s| s.pending_novel.drain(..).collect())
                .unwrap_or_default();
            for content in pending {
                st.miner.learn(&content);
            }
        }
        st.waiting_reason = None;
        let Some(me) = self.self_ref.upgrade() else {
            return;
        };
        let id = st.record.id.clone();
        match self.jobs.submit(format!("train-student:{id}"), move |job| {
            me.train_student(&id, job)
        }) {
            Ok(job) => {
                st.job = Some(job);
                st.record.training_pending = true;
                let now = self.clock.now();
                if let Ok(writes) = st.persist_writes(now) {
                    if self.store.commit(writes).is_ok() {
                        st.mark_persisted();
                    }
                }
            }
            Err(e) => st.record.last_training_error = Some(e.to_string()),
        }
    }

    /// Loads a stored student on first use (project lock held).
    pub(crate) fn ensure_student_loaded(&self, st: &mut ProjectState) -> Result<()> {
        if !st.record.has_student || st.student.is_some() {
            return Ok(());
        }
        let id = st.record.id.clone();
        let meta: StudentMeta = self
            .store
            .read_blob(&project_blob(&id, "student_meta"), crate::store::decode)?
            .ok_or_else(|| Error::storage(format!("student metadata of project {id} missing")))?;
        let student = self
            .store
            .read_blob(&project_blob(&id, "student"), |bytes| {
                self.build_student(bytes, meta)
            })?
            .ok_or_else(|| {
                Error::storage(format!("student of project {id} missing from storage"))
            })?;
        st.student = Some(Arc::new(student));
        Ok(())
    }

    fn build_student(&self, bytes: &[u8], meta: StudentMeta) -> Result<Student> {
        // Students have no word pieces in use: their weights load straight into the inference engine.
        let seq = InferenceModel::from_weight_bytes(bytes, meta.config.clone())?;
        let token_of_local = meta
            .local_of_token
            .iter()
            .enumerate()
            .filter(|(_, &l)| l != 0)
            .map(|(t, &l)| (l, t as u32))
            .collect();
        Ok(Student {
            generation: self.next_generation(),
            seq: Arc::new(seq),
            token_of_local,
            local_of_token: meta.local_of_token,
            forest: meta.forest.map(Arc::new),
            thresholds: meta.thresholds,
            profile: meta.profile,
            template_share: meta.template_share,
            thin_templates: meta.thin_templates.into_iter().collect(),
        })
    }

    pub(crate) fn project_slot(&self, id: &str) -> Result<crate::detector::ProjectSlot> {
        self.projects
            .read()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::ProjectNotFound { id: id.to_string() })
    }

    /// The training job of one project.
    fn train_student(&self, project_id: &str, job: &JobHandle) -> Result<()> {
        let result = self.train_student_inner(project_id, job);
        if let Ok(slot) = self.project_slot(project_id) {
            let mut st = slot.lock();
            match &result {
                Ok(()) => st.record.last_training_error = None,
                Err(Error::Cancelled) => {}
                Err(e) => {
                    st.record.last_training_error = Some(e.to_string());
                    st.record.training_pending = false;
                }
            }
            if !matches!(result, Err(Error::Cancelled)) {
                let now = self.clock.now();
                let writes = st.persist_writes(now)?;
                self.store.commit(writes)?;
                st.mark_persisted();
            }
        }
        result
    }

    fn train_student_inner(&self, project_id: &str, job: &JobHandle) -> Result<()> {
        let started = Instant::now();
        let slot = self.project_slot(project_id)?;
        let (data, profile, version, tenure) = {
            let mut st = slot.lock();
            st.load_samples(&self.store)?;
            (
                snapshot(&st, None, self.clock.now()),
                st.samples().map(Samples::profile).unwrap_or_default(),
                st.record.students_trained + 1,
                st.lease_token,
            )
        };
        let seed = self.config.seed ^ version;

        // 1. A private copy of the teacher learns this project's templates and data. The shared teacher,
        //    which scores every warming-up tenant, changes only in a teacher update (from all
        //    projects): one tenant's training never moves another tenant's verdicts.
        let teacher_started = Instant::now();
        let local_to_global: HashMap<u32, u32> = {
            let mut vocab = self.vocab.write();
            data.templates
                .iter()
                .map(|(id, text)| (*id, vocab.insert(text)))
                .collect()
        };
        let to_global = |s: &StoredSequence| TrainSequence {
            tokens: s
                .templates
                .iter()
                .map(|t| local_to_global.get(t).copied().unwrap_or(UNK))
                .collect(),
            complete: s.complete,
        };
        let project_global: Vec<TrainSequence> = data.sequences.iter().map(to_global).collect();
        let teacher_model = {
            let mut core = self.teacher.lock();
            // The first teacher, unless another instance published one meanwhile.
            let first = core.model.is_none()
                && self.with_teacher_lease(&mut core, |core| {
                    if core.model.is_some() {
                        return Ok(false);
                    }
                    self.retrain_teacher(core, job, "first-distillation", 0.0, 0.5)?;
                    Ok(true)
                })?;
            match &core.model {
                None => return Err(Error::model("teacher has no trained model")),
                Some(fresh) if first => fresh.deep_copy()?,
                Some(shared) => {
                    let mut copy = shared.deep_copy()?;
                    drop(core);
                    self.finetune_copy(&mut copy, &project_global, job, seed)?;
                    copy
                }
            }
        };
        let teacher_secs = teacher_started.elapsed().as_secs_f64();

        // 2. The student: its own vocabulary (the project's templates), distilled from the teacher.
        let distill_started = Instant::now();
        let mut local_of_token: Vec<u32> = vec![0; FIRST_TEMPLATE_TOKEN as usize];
        let mut class_map: Vec<u32> = vec![PAD, UNK, BOS, EOS];
        let mut token_of_local = HashMap::new();
        let mut ids: Vec<u32> = data.templates.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        for id in ids {
            token_of_local.insert(id, local_of_token.len() as u32);
            local_of_token.push(id);
            let g = local_to_global.get(&id).copied().unwrap_or(UNK);
            class_map.push(if (g as usize) < teacher_model.config().vocab_size {
                g
            } else {
                UNK
            });
        }
        let to_student = |s: &StoredSequence| TrainSequence {
            tokens: s
                .templates
                .iter()
                .map(|t| token_of_local.get(t).copied().unwrap_or(UNK))
                .collect(),
            complete: s.complete,
        };
        let pairs: Vec<(TrainSequence, TrainSequence)> = data
            .sequences
            .iter()
            .map(|s| {
                let mut t = to_global(s);
                for tok in &mut t.tokens {
                    if *tok as usize >= teacher_model.config().vocab_size {
                        *tok = UNK;
                    }
                }
                (to_student(s), t)
            })
            .collect();
        let (train, holdout) = split_holdout(&pairs, seed);
        let (student_train, teacher_train): (Vec<_>, Vec<_>) = train.into_iter().unzip();
        let student_holdout: Vec<TrainSequence> = holdout.into_iter().map(|p| p.0).collect();
        let cfg = seq_config(
            self.config.student,
            self.config.window,
            local_of_token.len(),
            0,
        );
        let mut student = SeqModel::new(
            cfg.clone(),
            vec![Vec::new(); cfg.vocab_size],
            &self.device,
            seed,
        )?;
        let opts = DistillOptions {
            train: TrainOptions {
                epochs: self.config.distill_epochs,
                seed,
                ..TrainOptions::default()
            },
            alpha: self.config.distill_alpha,
            temperature: self.config.distill_temperature,
        };
        let monitor = JobMonitor {
            job,
            from: 0.5,
            to: 0.95,
        };
        distill(
            &teacher_model,
            &teacher_train,
            &mut student,
            &student_train,
            &class_map,
            &opts,
            &monitor,
        )?;
        drop(teacher_model);
        let infer = InferenceModel::from_model(&student)?;
        let calib_set = if student_holdout.is_empty() {
            &student_train
        } else {
            &student_holdout
        };
        let mut thresholds = calibrate_sequence(
            &infer,
            calib_set,
            self.config.target_false_positive_rate / CALIBRATED_COMPONENTS,
            &Thresholds::default(),
        );
        let line_fpr = (self.config.target_false_positive_rate / CALIBRATED_COMPONENTS)
            / mean_session_len(&data.sequences);
        let forest = match fit_forest(&data.feature_rows, seed, line_fpr)? {
            Some((f, t)) => {
                thresholds.forest = t;
                Some(f)
            }
            None => None,
        };
        let total: u64 = {
            let st = slot.lock();
            st.miner
                .templates()
                .iter()
                .map(|t| t.count)
                .sum::<u64>()
                .max(1)
        };
        let template_share: HashMap<u32, f32> = {
            let st = slot.lock();
            st.miner
                .templates()
                .iter()
                .map(|t| (t.id, t.count as f32 / total as f32))
                .collect()
        };
        let thin_templates = thin_templates(&data);
        let meta = StudentMeta {
            thin_templates: thin_templates.clone(),
            config: cfg,
            local_of_token: local_of_token.clone(),
            forest: forest.clone(),
            thresholds,
            profile: profile.clone(),
            template_share: template_share.clone(),
            version,
        };
        let bytes = student.to_bytes()?;
        let distill_secs = distill_started.elapsed().as_secs_f64();
        if job.is_cancel_requested() {
            return Err(Error::Cancelled);
        }

        // 3. Store it and swap it in atomically.
        let new_student = Student {
            generation: self.next_generation(),
            seq: Arc::new(infer),
            token_of_local,
            local_of_token,
            forest: forest.map(Arc::new),
            thresholds,
            profile,
            template_share,
            thin_templates: thin_templates.into_iter().collect(),
        };
        let mut st = slot.lock();
        // Deleted, or read back under another lease (another instance served the project meanwhile):
        // this student was trained on a state that is gone.
        if st.deleted || st.lease_token != tenure {
            return Err(Error::Cancelled);
        }
        st.record.has_student = true;
        st.record.training_pending = false;
        st.record.students_trained = version;
        st.record.last_training_secs =
            Some((started.elapsed().as_secs_f64(), teacher_secs, distill_secs));
        let now = self.clock.now();
        let mut writes = vec![
            Write::Blob {
                name: project_blob(project_id, "student"),
                bytes,
            },
            Write::Blob {
                name: project_blob(project_id, "student_meta"),
                bytes: crate::store::encode(&meta)?,
            },
        ];
        writes.extend(st.persist_writes(now)?);
        self.store.commit(writes)?;
        st.mark_persisted();
        st.student = Some(Arc::new(new_student));
        // The student scores without the samples: they go back to storage until a retraining.
        st.spill_samples();
        Ok(())
    }

    /// Pools every project's sequences (in global ids) and feature rows.
    fn pooled_data(&self) -> (Vec<TrainSequence>, Vec<Vec<f32>>, usize) {
        // In creation order (then name; ids are random): the global vocabulary grows in this order,
        // so the teacher's token ids, training data and weights are the same in every run.
        let slots: Vec<ProjectSlot> = self.projects.read().values().cloned().collect();
        let mut keyed: Vec<((f64, String, String), ProjectSlot)> = slots
            .into_iter()
            .map(|slot| {
                let key = {
                    let st = slot.lock();
                    (
                        st.record.created_at,
                        st.record.name.clone(),
                        st.record.id.clone(),
                    )
                };
                (key, slot)
            })
            .collect();
        keyed.sort_by(|a, b| {
            a.0 .0
                .total_cmp(&b.0 .0)
                .then_with(|| a.0 .1.cmp(&b.0 .1))
                .then_with(|| a.0 .2.cmp(&b.0 .2))
        });
        let slots: Vec<ProjectSlot> = keyed.into_iter().map(|(_, slot)| slot).collect();
        let mut seqs = Vec::new();
        let mut rows = Vec::new();
        let mut projects = 0;
        let per_project = (MAX_POOLED_SEQUENCES / slots.len().max(1)).max(100);
        for slot in slots {
            let data = {
                let st = slot.lock();
                if st.deleted {
                    continue;
                }
                // Spilled samples are read for the pool, not loaded back into the idle project.
                match st.samples_view(&self.store) {
                    Ok(samples) => snapshot(&st, Some(&samples), self.clock.now()),
                    // Unreadable stored samples leave the project's open sessions to pool.
                    Err(_) => snapshot(&st, None, self.clock.now()),
                }
            };
            if data.sequences.is_empty() {
                continue;
            }
            projects += 1;
            let map: HashMap<u32, u32> = {
                let mut vocab = self.vocab.write();
                data.templates
                    .iter()
                    .map(|(id, text)| (*id, vocab.insert(text)))
                    .collect()
            };
            let start = data.sequences.len().saturating_sub(per_project);
            seqs.extend(data.sequences[start..].iter().map(|s| {
                TrainSequence {
                    tokens: s
                        .templates
                        .iter()
                        .map(|t| map.get(t).copied().unwrap_or(UNK))
                        .collect(),
                    complete: s.complete,
                }
            }));
            rows.extend(data.feature_rows);
        }
        if rows.len() > MAX_POOLED_FEATURES {
            let mut rng = SplitMix64::new(self.config.seed);
            rng.shuffle(&mut rows);
            rows.truncate(MAX_POOLED_FEATURES);
        }
        (seqs, rows, projects)
    }

    /// Trains (or continues training) the teacher on pooled data, refits its forest, recalibrates,
    /// persists it, swaps the view and records the update in the history.
    fn retrain_teacher(
        &self,
        core: &mut TeacherCore,
        job: &JobHandle,
        trigger: &str,
        from: f32,
        to: f32,
    ) -> Result<()> {
        let started_at = self.clock.now();
        let started = Instant::now();
        let (seqs, rows, projects) = self.pooled_data();
        let pooled_len = {
            let lens: Vec<usize> = seqs
                .iter()
                .filter(|s| s.complete)
                .map(|s| s.tokens.len())
                .collect();
            if lens.is_empty() {
                1.0
            } else {
                (lens.iter().sum::<usize>() as f64 / lens.len() as f64).max(1.0)
            }
        };
        let result = (|| -> Result<()> {
            if seqs.is_empty() {
                return Err(Error::model(
                    "no training data yet: no project has collected sequences",
                ));
            }
            let seed = self.config.seed ^ 0x7EAC_4E12;
            let (train, holdout) = split_holdout(&seqs, seed);
            self.prepare_teacher_vocab(core, seed)?;
            let model = core
                .model
                .as_mut()
                .ok_or_else(|| Error::model("teacher missing"))?;
            let opts = TrainOptions {
                epochs: self.config.teacher_epochs,
                seed,
                ..TrainOptions::default()
            };
            train_next_token(model, &train, &opts, &JobMonitor { job, from, to })?;
            let forest = fit_forest(
                &rows,
                seed,
                (self.config.target_false_positive_rate / CALIBRATED_COMPONENTS) / pooled_len,
            )?;
            self.publish_teacher(core, &holdout, forest)?;
            Ok(())
        })();
        let record = TeacherUpdate {
            started_at,
            duration_secs: started.elapsed().as_secs_f64(),
            samples_used: seqs.len(),
            projects,
            success: result.is_ok(),
            error: result.as_ref().err().map(|e| e.to_string()),
            trigger: trigger.to_string(),
        };
        self.store.append_history(&serde_json::to_vec(&record)?)?;
        {
            let mut meta = self.teacher_meta.lock();
            meta.next_update = self.clock.now() + self.config.teacher_update_days * 86_400.0;
            if result.is_ok() {
                meta.version += 1;
                meta.last_update = Some(started_at);
            }
            let bytes = serde_json::to_vec(&*meta)?;
            // Committed with the lock held, as every writer of the global blobs does (see
            // `Inner::flush_all`): an older snapshot can never land after this one.
            self.store.commit(vec![Write::Blob {
                name: global_blob("teacher_meta"),
                bytes,
            }])?;
            drop(meta);
        }
        result
    }

    /// A short fine-tune of a private copy of the teacher on one project's data before its
    /// distillation, its vocabulary grown to the global one first.
    fn finetune_copy(
        &self,
        model: &mut SeqModel,
        data: &[TrainSequence],
        job: &JobHandle,
        seed: u64,
    ) -> Result<()> {
        self.grow_to_vocab(model, seed)?;
        let (train, _) = split_holdout(data, seed);
        let opts = TrainOptions {
            epochs: self.config.teacher_finetune_epochs,
            seed,
            ..TrainOptions::default()
        };
        train_next_token(
            model,
            &train,
            &opts,
            &JobMonitor {
                job,
                from: 0.0,
                to: 0.5,
            },
        )?;
        Ok(())
    }

    /// Grows `model`'s vocabulary to the global vocabulary (new rows embedded by their words).
    fn grow_to_vocab(&self, model: &mut SeqModel, seed: u64) -> Result<()> {
        let vocab = self.vocab.read();
        let size = vocab.token_count();
        if model.config().vocab_size < size {
            let buckets = model.config().word_buckets;
            model.grow_vocab(padded_words(&vocab, size, buckets), seed)?;
        }
        Ok(())
    }

    /// Creates the teacher or grows its vocabulary to the global vocabulary.
    fn prepare_teacher_vocab(&self, core: &mut TeacherCore, seed: u64) -> Result<()> {
        match &mut core.model {
            Some(m) => self.grow_to_vocab(m, seed)?,
            None => {
                let vocab = self.vocab.read();
                let size = vocab.token_count();
                let cfg = seq_config(
                    self.config.teacher,
                    self.config.window,
                    size,
                    TEACHER_WORD_BUCKETS,
                );
                let words = padded_words(&vocab, size, cfg.word_buckets);
                core.model = Some(SeqModel::new(cfg, words, &self.device, seed)?);
            }
        }
        Ok(())
    }

    /// Calibrates, persists and swaps in the teacher.
    fn publish_teacher(
        &self,
        core: &TeacherCore,
        holdout: &[TrainSequence],
        forest: Option<(IsolationForest, Threshold)>,
    ) -> Result<()> {
        let model = core
            .model
            .as_ref()
            .ok_or_else(|| Error::model("teacher missing"))?;
        let infer = InferenceModel::from_model(model)?;
        let vocab_size = model.config().vocab_size;
        let clipped: Vec<TrainSequence> = holdout
            .iter()
            .map(|s| TrainSequence {
                tokens: s
                    .tokens
                    .iter()
                    .map(|&t| if (t as usize) < vocab_size { t } else { UNK })
                    .collect(),
                complete: s.complete,
            })
            .collect();
        let mut thresholds = calibrate_sequence(
            &infer,
            &clipped,
            self.config.target_false_positive_rate / CALIBRATED_COMPONENTS,
            &Thresholds::default(),
        );
        if let Some((_, t)) = &forest {
            thresholds.forest = *t;
        }
        let bytes = model.to_bytes()?;
        let view = TeacherView {
            generation: self.next_generation(),
            seq: Some(Arc::new(infer)),
            model_tokens: vocab_size,
            forest: forest.as_ref().map(|(f, _)| Arc::new(f.clone())),
            thresholds,
        };
        {
            let mut meta = self.teacher_meta.lock();
            meta.config = Some(model.config().clone());
            meta.thresholds = Some(thresholds);
            meta.forest = forest.map(|(f, _)| f);
            meta.parameters = model.parameter_count();
            let meta_bytes = serde_json::to_vec(&*meta)?;
            // Snapshot and commit with the metadata lock held (see `Inner::flush_all`): a flush that
            // snapshotted the old metadata cannot commit it over this model's.
            let vocab_bytes = serde_json::to_vec(&*self.vocab.read())?;
            self.store.commit(vec![
                Write::Blob {
                    name: global_blob("teacher_model"),
                    bytes,
                },
                Write::Blob {
                    name: global_blob("teacher_meta"),
                    bytes: meta_bytes,
                },
                Write::Blob {
                    name: global_blob("vocab"),
                    bytes: vocab_bytes,
                },
            ])?;
            drop(meta);
        }
        *self.teacher_view.write() = Arc::new(view);
        Ok(())
    }

    /// Submits a teacher update unless one is already queued or running.
    pub(crate) fn submit_teacher_update(&self, trigger: &str) -> Result<JobHandle> {
        let mut slot = self.teacher_job.lock();
        if let Some(j) = slot.as_ref() {
            if !j.status().state.is_finished() {
                return Ok(j.clone());
            }
        }
        let me = self.self_ref.upgrade().ok_or(Error::Closed)?;
        let trigger = trigger.to_string();
        let seen = self.known_history.load(Ordering::SeqCst);
        let job = self
            .jobs
            .submit(format!("teacher-update:{trigger}"), move |job| {
                let mut core = me.teacher.lock();
                me.with_teacher_lease(&mut core, |core| {
                    // Another instance made the scheduled update since it was submitted here (its
                    // teacher was read back): not made twice.
                    if trigger == "scheduled" && me.known_history.load(Ordering::SeqCst) > seen {
                        return Ok(());
                    }
                    me.retrain_teacher(core, job, &trigger, 0.0, 1.0)
                })
            })?;
        *slot = Some(job.clone());
        Ok(job)
    }

    /// Starts the scheduled teacher update when due (cheap when not).
    pub(crate) fn maybe_schedule_teacher_update(&self) {
        let due = {
            let meta = self.teacher_meta.lock();
            self.clock.now() >= meta.next_update
        };
        if due {
            let _ = self.submit_teacher_update("scheduled");
            // Push the schedule forward now so a failing update is not resubmitted on every call.
            let mut meta = self.teacher_meta.lock();
            let next = self.clock.now() + self.config.teacher_update_days * 86_400.0;
            if meta.next_update < next {
                meta.next_update = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_event_the_model_expects_more_often_than_the_target_rate_is_flagged() {
        // 0.5% split over three components: events of p >= 0.17% are never surprising.
        let floor = surprise_floor(0.005 / CALIBRATED_COMPONENTS);
        assert!(
            (floor - (0.005f32 / 3.0).ln().abs()).abs() < 1e-4,
            "{floor}"
        );
        assert!(
            Threshold::learn(&[1.0, 2.0, 3.5], 0.005 / 3.0, floor)
                .unwrap()
                .value
                >= floor
        );
        // A loose target still keeps the absolute floor.
        assert_eq!(surprise_floor(0.5), MIN_SURPRISE_NLL);
    }
}
