//! Training of the sequence model: next-token cross-entropy ([`train_next_token`]) and knowledge
//! distillation from a teacher ([`distill`]).
//!
//! A session `[t1..tn]` is trained as inputs `[BOS, t1, .., tn]` and targets `[t1, .., tn, EOS]` (the
//! EOS target only when the session is complete). Long sessions are cut into chunks of at most
//! `max_len` positions that overlap by the model's receptive field (`n_layers * (window - 1)`), so
//! every position is scored exactly once and with all the context the model can see at inference.
//! Chunks are batched by similar length (little padding) in a seeded order; the optimiser is AdamW
//! with global-norm gradient clipping, linear warm-up and cosine decay. Same seed and data → the same
//! weights, bit for bit.

use std::time::Instant;

use candle_core::{Device, Tensor, Var, D};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::transformer::{canonical_token, SeqModel, SeqModelConfig, BOS, EOS, PAD, UNK};
use crate::util::rng::SplitMix64;

/// One session as training data: its token ids and whether it ended (then EOS is a target).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainSequence {
    /// Token ids `t1..tn` (no BOS/EOS). PAD, BOS and out-of-vocabulary ids count as UNK.
    pub tokens: Vec<u32>,
    /// Whether the session is complete (EOS is then the last target).
    pub complete: bool,
}

/// Optimisation settings shared by [`train_next_token`] and [`distill`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Passes over the data.
    pub epochs: usize,
    /// Chunks (sessions or pieces of long sessions) per optimiser step.
    pub batch_size: usize,
    /// Peak AdamW learning rate (linear warm-up, cosine decay to 10%).
    pub learning_rate: f64,
    /// AdamW decoupled weight decay, applied to the weight matrices of the blocks.
    pub weight_decay: f64,
    /// Global gradient-norm clip (`<= 0` disables clipping).
    pub grad_clip: f64,
    /// Chunk length for long sessions; raised to `2 * n_layers * (window - 1)` when smaller, so that
    /// chunks can overlap by the receptive field.
    pub max_len: usize,
    /// Seed of the shuffling.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 32,
            learning_rate: 3e-3,
            weight_decay: 0.01,
            grad_clip: 1.0,
            max_len: 128,
            seed: 0,
        }
    }
}

/// What a training run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Epochs completed.
    pub epochs: usize,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Scored positions per epoch.
    pub positions: usize,
    /// Mean training loss of the last epoch.
    pub final_loss: f32,
    /// Wall-clock seconds (distillation: teacher pass included).
    pub seconds: f64,
}

/// Progress callbacks of a training run; `Sync` so a job handle can share it with other threads.
pub trait TrainMonitor: Sync {
    /// Called after each step with the fraction of steps done and the step's loss.
    fn progress(&self, fraction: f32, loss: f32);
    /// Polled before each step; `true` stops the run with [`Error::Cancelled`].
    fn is_cancelled(&self) -> bool;
}

/// A monitor that ignores progress and never cancels.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMonitor;

impl TrainMonitor for NoMonitor {
    fn progress(&self, _fraction: f32, _loss: f32) {}
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// Settings of [`distill`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DistillOptions {
    /// Optimisation settings (default: 5 epochs).
    pub train: TrainOptions,
    /// Weight of the KL term: `L = (1 - α)·CE + α·T²·KL`.
    pub alpha: f64,
    /// Softmax temperature of the KL term.
    pub temperature: f64,
}

impl Default for DistillOptions {
    fn default() -> Self {
        Self {
            train: TrainOptions {
                epochs: 5,
                ..TrainOptions::default()
            },
            alpha: 0.5,
            temperature: 3.0,
        }
    }
}

/// Trains `model` on next-token cross-entropy. On error or cancellation the model keeps its
/// previous weights.
pub fn train_next_token(
    model: &mut SeqModel,
    data: &[TrainSequence],
    opts: &TrainOptions,
    monitor: &dyn TrainMonitor,
) -> Result<TrainReport> {
    let start = Instant::now();
    check_options(opts)?;
    let chunks = make_chunks(data, model.config(), opts.max_len);
    let mut report = guarded(model, |m| fit(m, &chunks, opts, None, monitor))?;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

/// Distils `teacher` into `student`: `L = (1-α)·CE(student, next token) + α·T²·KL(p_T ‖ q_T)` with
/// `p_T` the teacher's distribution restricted to the student's classes at temperature `T` and `q_T`
/// the student's. Student class `c` is teacher token `class_map[c]`; the student's UNK is the
/// "other" bucket, whose logit is the logsumexp of every teacher token no other student class maps
/// to (PAD and BOS excluded); a teacher token that `k` student classes map to is shared evenly (its
/// logit minus `ln k`). The temperature divides these merged logits, so the restriction is exact at
/// `T = 1` and the student is not pulled toward an inflated "other" class at high `T`. The teacher
/// is run once, before training. `teacher_data[i]` and `student_data[i]` are the same session in the
/// two id spaces (same length and completeness). On error or cancellation the student keeps its
/// previous weights.
pub fn distill(
    teacher: &SeqModel,
    teacher_data: &[TrainSequence],
    student: &mut SeqModel,
    student_data: &[TrainSequence],
    class_map: &[u32],
    opts: &DistillOptions,
    monitor: &dyn TrainMonitor,
) -> Result<TrainReport> {
    let start = Instant::now();
    check_options(&opts.train)?;
    if !(opts.alpha.is_finite() && (0.0..=1.0).contains(&opts.alpha)) {
        return Err(bad_option("alpha", "must be in [0, 1]"));
    }
    if !(opts.temperature.is_finite() && opts.temperature > 0.0) {
        return Err(bad_option("temperature", "must be positive"));
    }
    if teacher_data.len() != student_data.len() {
        return Err(Error::invalid_input(format!(
            "distill: {} teacher sequences but {} student sequences",
            teacher_data.len(),
            student_data.len()
        )));
    }
    for (i, (a, b)) in teacher_data.iter().zip(student_data).enumerate() {
        if a.tokens.len() != b.tokens.len() || a.complete != b.complete {
            return Err(Error::invalid_input(format!(
                "distill: sequence {i} differs in length or completeness between teacher and student"
            )));
        }
    }
    let classes = ClassMap::new(
        class_map,
        student.config().vocab_size,
        teacher.config().vocab_size,
    )?;
    let targets = teacher_targets(teacher, teacher_data, &classes, opts, monitor)?;
    let chunks = make_chunks(student_data, student.config(), opts.train.max_len);
    let kd = Kd {
        targets: &targets,
        alpha: opts.alpha,
        temperature: opts.temperature,
    };
    let mut report = guarded(student, |m| {
        fit(m, &chunks, &opts.train, Some(&kd), monitor)
    })?;
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

fn bad_option(name: &str, reason: &str) -> Error {
    Error::InvalidConfig {
        name: format!("TrainOptions.{name}"),
        reason: reason.to_string(),
    }
}

fn check_options(o: &TrainOptions) -> Result<()> {
    if o.batch_size == 0 {
        return Err(bad_option("batch_size", "must be positive"));
    }
    if !(o.learning_rate.is_finite() && o.learning_rate > 0.0) {
        return Err(bad_option("learning_rate", "must be positive"));
    }
    if !(o.weight_decay.is_finite() && o.weight_decay >= 0.0) {
        return Err(bad_option("weight_decay", "must be >= 0"));
    }
    if !o.grad_clip.is_finite() {
        return Err(bad_option("grad_clip", "must be finite"));
    }
    if o.max_len < 2 {
        return Err(bad_option("max_len", "must be at least 2"));
    }
    Ok(())
}

/// Runs `f` on the model; if it fails, restores the weights it had before.
fn guarded<T>(model: &mut SeqModel, f: impl FnOnce(&mut SeqModel) -> Result<T>) -> Result<T> {
    let saved: Vec<(Var, Tensor)> = model
        .named_vars()?
        .into_iter()
        .map(|(_, v)| {
            let copy = v.as_tensor().copy()?;
            Ok((v, copy))
        })
        .collect::<Result<Vec<_>>>()?;
    match f(model) {
        Ok(r) => Ok(r),
        Err(e) => {
            for (v, t) in saved {
                v.set(&t)?;
            }
            Err(e)
        }
    }
}

/// A piece of one session: positions `start..start + inputs.len()` of `[BOS, t1, .., tn]`.
#[derive(Clone, Debug)]
struct Chunk {
    seq: usize,
    start: usize,
    inputs: Vec<u32>,
    /// Target per position (UNK-mapped); meaningful where `ce` is set.
    targets: Vec<u32>,
    /// Position has a next-token target and is scored in this chunk.
    ce: Vec<bool>,
    /// Position is scored in this chunk (distillation target exists for every real position).
    scored: Vec<bool>,
}

/// Effective chunk length and overlap for a model.
fn chunk_geometry(cfg: &SeqModelConfig, max_len: usize) -> (usize, usize) {
    let overlap = cfg.receptive_field();
    (max_len.max(2 * overlap).max(2), overlap)
}

fn make_chunks(data: &[TrainSequence], cfg: &SeqModelConfig, max_len: usize) -> Vec<Chunk> {
    let (max_len, overlap) = chunk_geometry(cfg, max_len);
    let v = cfg.vocab_size;
    let mut out = Vec::new();
    for (si, s) in data.iter().enumerate() {
        let mut inputs = Vec::with_capacity(s.tokens.len() + 1);
        inputs.push(BOS);
        inputs.extend(s.tokens.iter().map(|&t| canonical_token(t, v)));
        let mut targets: Vec<u32> = inputs[1..].to_vec();
        targets.push(if s.complete { EOS } else { PAD });
        let mut has_target = vec![true; inputs.len()];
        if !s.complete {
            if let Some(last) = has_target.last_mut() {
                *last = false;
            }
        }
        let n = inputs.len();
        let mut scored_from = 0;
        while scored_from < n {
            let start = scored_from.saturating_sub(overlap);
            let end = (start + max_len).min(n);
            let scored: Vec<bool> = (start..end).map(|p| p >= scored_from).collect();
            let ce = (start..end)
                .map(|p| p >= scored_from && has_target[p])
                .collect();
            out.push(Chunk {
                seq: si,
                start,
                inputs: inputs[start..end].to_vec(),
                targets: targets[start..end]
                    .iter()
                    .map(|&t| if t == PAD { UNK } else { t })
                    .collect(),
                ce,
                scored,
            });
            scored_from = end;
        }
    }
    out
}

/// Seeded batches of chunk indices, grouped by similar length.
fn make_batches(chunks: &[Chunk], batch: usize, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..chunks.len()).collect();
    rng.shuffle(&mut idx);
    let mut batches = Vec::new();
    for group in idx.chunks(batch * 8) {
        let mut g = group.to_vec();
        g.sort_by_key(|&i| chunks[i].inputs.len());
        batches.extend(g.chunks(batch).map(|c| c.to_vec()));
    }
    rng.shuffle(&mut batches);
    batches
}

/// Padded input ids `[B, L]` of a batch of chunks.
fn batch_inputs(chunks: &[&Chunk], device: &Device) -> Result<(Tensor, usize)> {
    let l = chunks
        .iter()
        .map(|c| c.inputs.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut ids = vec![PAD; chunks.len() * l];
    for (i, c) in chunks.iter().enumerate() {
        ids[i * l..i * l + c.inputs.len()].copy_from_slice(&c.inputs);
    }
    Ok((Tensor::from_vec(ids, (chunks.len(), l), device)?, l))
}

/// Student class → teacher token mapping, with the "other" bucket.
struct ClassMap {
    /// Per student class: the teacher token and the share of its probability the class gets (a
    /// teacher token claimed by `k` student classes is split evenly among them); `None` for PAD,
    /// BOS (never predicted) and UNK (the other bucket).
    mapped: Vec<Option<(usize, f64)>>,
    /// Teacher tokens that fall in the student's UNK ("other") bucket.
    other: Vec<usize>,
}

impl ClassMap {
    fn new(class_map: &[u32], student_vocab: usize, teacher_vocab: usize) -> Result<Self> {
        if class_map.len() != student_vocab {
            return Err(Error::invalid_input(format!(
                "class_map has {} entries, the student vocabulary {student_vocab}",
                class_map.len()
            )));
        }
        let mut claims = vec![0usize; teacher_vocab];
        let mut mapped = vec![None; student_vocab];
        for (c, &t) in class_map.iter().enumerate() {
            let c32 = c as u32;
            if c32 == PAD || c32 == BOS || c32 == UNK {
                continue;
            }
            let t = t as usize;
            if t >= teacher_vocab || t == PAD as usize || t == BOS as usize {
                return Err(Error::invalid_input(format!(
                    "class_map maps student token {c} to teacher token {t}, which cannot be predicted"
                )));
            }
            claims[t] += 1;
            mapped[c] = Some((t, 1.0));
        }
        for (t, share) in mapped.iter_mut().flatten() {
            *share = 1.0 / claims[*t] as f64; // used as ln(share) on logits
        }
        let other = (0..teacher_vocab)
            .filter(|&t| claims[t] == 0 && t != PAD as usize && t != BOS as usize)
            .collect();
        Ok(Self { mapped, other })
    }
}

/// Per session, the teacher's restricted temperature distribution over the student's classes at
/// every input position: `[n_positions * student_vocab]`.
type KdTargets = Vec<Vec<f32>>;

struct Kd<'a> {
    targets: &'a KdTargets,
    alpha: f64,
    temperature: f64,
}

fn teacher_targets(
    teacher: &SeqModel,
    data: &[TrainSequence],
    classes: &ClassMap,
    opts: &DistillOptions,
    monitor: &dyn TrainMonitor,
) -> Result<KdTargets> {
    let vs = classes.mapped.len();
    let vt = teacher.config().vocab_size;
    let inv_t = 1.0 / opts.temperature;
    let mut out: KdTargets = data
        .iter()
        .map(|s| vec![0f32; (s.tokens.len() + 1) * vs])
        .collect();
    let chunks = make_chunks(data, teacher.config(), opts.train.max_len);
    let order = {
        let mut idx: Vec<usize> = (0..chunks.len()).collect();
        idx.sort_by_key(|&i| chunks[i].inputs.len());
        idx
    };
    // The student's classes as merged teacher logits (at T = 1): a mapped class has its teacher
    // token's logit (minus ln k when k classes share it), the other bucket the logsumexp of its
    // tokens. The temperature is applied to these merged logits, so that matching them at T also
    // matches the teacher's restricted distribution at T = 1.
    let mut merged = vec![f64::NEG_INFINITY; vs];
    for group in order.chunks(opts.train.batch_size.max(16)) {
        if monitor.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let cs: Vec<&Chunk> = group.iter().map(|&i| &chunks[i]).collect();
        let (ids, l) = batch_inputs(&cs, teacher.device())?;
        let logits = teacher.forward(&ids)?.detach();
        let flat = logits.flatten_all()?.to_vec1::<f32>()?;
        for (bi, c) in cs.iter().enumerate() {
            for (p, &scored) in c.scored.iter().enumerate() {
                if !scored {
                    continue;
                }
                let lg = &flat[(bi * l + p) * vt..(bi * l + p + 1) * vt];
                for (z, m) in merged.iter_mut().zip(&classes.mapped) {
                    *z = m.map_or(f64::NEG_INFINITY, |(t, share)| lg[t] as f64 + share.ln());
                }
                merged[UNK as usize] = log_sum_exp(classes.other.iter().map(|&t| lg[t] as f64));
                let mx = merged
                    .iter()
                    .fold(f64::NEG_INFINITY, |a, &b| a.max(b * inv_t));
                let sum: f64 = merged.iter().map(|&z| (z * inv_t - mx).exp()).sum();
                let dst = &mut out[c.seq][(c.start + p) * vs..(c.start + p + 1) * vs];
                for (d, &z) in dst.iter_mut().zip(&merged) {
                    *d = ((z * inv_t - mx).exp() / sum) as f32;
                }
            }
        }
    }
    Ok(out)
}

fn log_sum_exp(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let mx = xs.clone().fold(f64::NEG_INFINITY, f64::max);
    if mx == f64::NEG_INFINITY {
        return mx;
    }
    mx + xs.map(|x| (x - mx).exp()).sum::<f64>().ln()
}

/// One parameter's update inputs: the variable (and whether it decays), its moments, its gradient.
type ParamWork<'a> = (
    &'a (Var, bool),
    &'a mut Vec<f32>,
    &'a mut Vec<f32>,
    Vec<f32>,
);

/// AdamW over plain vectors (moments in f32), with global-norm clipping.
struct AdamW {
    vars: Vec<(Var, bool)>,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    t: i32,
}

impl AdamW {
    fn new(model: &SeqModel) -> Result<Self> {
        let vars: Vec<(Var, bool)> = model
            .named_vars()?
            .into_iter()
            .map(|(name, v)| {
                let decay = name.starts_with("blocks.")
                    && name.ends_with(".weight")
                    && v.as_tensor().rank() == 2;
                (v, decay)
            })
            .collect();
        let m = vars
            .iter()
            .map(|(v, _)| vec![0f32; v.elem_count()])
            .collect();
        let v = vars
            .iter()
            .map(|(v, _)| vec![0f32; v.elem_count()])
            .collect();
        Ok(Self { vars, m, v, t: 0 })
    }

    fn step(
        &mut self,
        grads: &candle_core::backprop::GradStore,
        lr: f64,
        wd: f64,
        clip: f64,
    ) -> Result<()> {
        let gs: Vec<Option<Vec<f32>>> = self
            .vars
            .iter()
            .map(|(v, _)| match grads.get(v.as_tensor()) {
                Some(g) => Ok(Some(g.flatten_all()?.to_vec1::<f32>()?)),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        let norm = gs
            .iter()
            .flatten()
            .flat_map(|g| g.iter())
            .map(|&x| (x as f64) * (x as f64))
            .sum::<f64>()
            .sqrt();
        if !norm.is_finite() {
            return Err(Error::model("training diverged (non-finite gradient)"));
        }
        let scale = if clip > 0.0 && norm > clip {
            (clip / norm) as f32
        } else {
            1.0
        };
        self.t += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let c1 = 1.0 / (1.0 - b1.powi(self.t));
        let c2 = 1.0 / (1.0 - b2.powi(self.t));
        let lr = lr as f32;
        let wd = wd as f32;
        let work: Vec<ParamWork> = self
            .vars
            .iter()
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut())
            .zip(gs)
            .filter_map(|(((var, m), v), g)| g.map(|g| (var, m, v, g)))
            .collect();
        // Parameters are independent: update them in parallel (same result on any thread count).
        work.into_par_iter()
            .try_for_each(|((var, decay), m, v, g)| -> Result<()> {
                let mut theta = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
                let keep = if *decay { 1.0 - lr * wd } else { 1.0 };
                for (((th, mj), vj), &gj) in
                    theta.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(&g)
                {
                    let gj = gj * scale;
                    *mj = b1 * *mj + (1.0 - b1) * gj;
                    *vj = b2 * *vj + (1.0 - b2) * gj * gj;
                    let upd = (*mj * c1) / ((*vj * c2).sqrt() + eps);
                    *th = *th * keep - lr * upd;
                }
                let t = Tensor::from_vec(theta, var.shape(), var.device())?;
                var.set(&t)?;
                Ok(())
            })
    }
}

/// Learning rate at `step` of `total`: linear warm-up over 5% (at least 1 step), cosine to 10%.
fn lr_at(base: f64, step: usize, total: usize) -> f64 {
    let warm = (total / 20).max(1);
    if step < warm {
        return base * (step + 1) as f64 / warm as f64;
    }
    let p = (step - warm) as f64 / (total - warm).max(1) as f64;
    base * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
}

fn fit(
    model: &mut SeqModel,
    chunks: &[Chunk],
    opts: &TrainOptions,
    kd: Option<&Kd>,
    monitor: &dyn TrainMonitor,
) -> Result<TrainReport> {
    let positions: usize = chunks
        .iter()
        .map(|c| c.scored.iter().filter(|&&s| s).count())
        .sum();
    if positions == 0 {
        return Err(Error::invalid_input("no training positions"));
    }
    let device = model.device().clone();
    let vocab = model.config().vocab_size;
    let mut rng = SplitMix64::new(opts.seed);
    let mut opt = AdamW::new(model)?;
    let per_epoch = chunks.len().div_ceil(opts.batch_size);
    let total = per_epoch * opts.epochs;
    let mut step = 0usize;
    let mut final_loss = f32::NAN;
    for _epoch in 0..opts.epochs {
        let mut loss_sum = 0f64;
        let mut loss_w = 0f64;
        for batch in make_batches(chunks, opts.batch_size, &mut rng) {
            if monitor.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let cs: Vec<&Chunk> = batch.iter().map(|&i| &chunks[i]).collect();
            let (ids, l) = batch_inputs(&cs, &device)?;
            let n = cs.len() * l;
            let mut tgt = vec![0u32; n];
            let mut ce_mask = vec![0f32; n];
            for (i, c) in cs.iter().enumerate() {
                for p in 0..c.inputs.len() {
                    if c.ce[p] {
                        tgt[i * l + p] = c.targets[p];
                        ce_mask[i * l + p] = 1.0;
                    }
                }
            }
            let n_ce: f32 = ce_mask.iter().sum();
            let logits = model.forward(&ids)?.reshape((n, vocab))?;
            let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let picked = logp
                .gather(&Tensor::from_vec(tgt, (n, 1), &device)?, 1)?
                .squeeze(1)?;
            let ce = if n_ce > 0.0 {
                ((picked * Tensor::from_vec(ce_mask, n, &device)?)?.sum_all()?
                    * (-1.0 / n_ce as f64))?
            } else {
                Tensor::new(0f32, &device)?
            };
            let (loss, weight) = match kd {
                None => (ce, n_ce as f64),
                Some(kd) => {
                    let mut pt = vec![0f32; n * vocab];
                    let mut n_kd = 0usize;
                    let mut ent = 0f64;
                    for (i, c) in cs.iter().enumerate() {
                        let src = &kd.targets[c.seq];
                        for p in 0..c.inputs.len() {
                            if !c.scored[p] {
                                continue;
                            }
                            let a = (c.start + p) * vocab;
                            let row = &src[a..a + vocab];
                            pt[(i * l + p) * vocab..(i * l + p + 1) * vocab].copy_from_slice(row);
                            ent += row
                                .iter()
                                .filter(|&&x| x > 0.0)
                                .map(|&x| x as f64 * (x as f64).ln())
                                .sum::<f64>();
                            n_kd += 1;
                        }
                    }
                    let n_kd = n_kd.max(1) as f64;
                    let logq = candle_nn::ops::log_softmax(&(logits / kd.temperature)?, D::Minus1)?;
                    let cross = (Tensor::from_vec(pt, (n, vocab), &device)? * logq)?.sum_all()?;
                    // KL = (Σ p ln p - Σ p ln q) / positions; the first term is a constant.
                    let kl = ((cross * (-1.0 / n_kd))? + ent / n_kd)?;
                    let t2 = kd.temperature * kd.temperature;
                    let loss = ((ce * (1.0 - kd.alpha))? + (kl * (kd.alpha * t2))?)?;
                    (loss, n_kd)
                }
            };
            let grads = loss.backward()?;
            let lv = loss.to_scalar::<f32>()?;
            if !lv.is_finite() {
                return Err(Error::model("training diverged (non-finite loss)"));
            }
            opt.step(
                &grads,
                lr_at(opts.learning_rate, step, total),
                opts.weight_decay,
                opts.grad_clip,
            )?;
            step += 1;
            loss_sum += lv as f64 * weight;
            loss_w += weight;
            monitor.progress(step as f32 / total.max(1) as f32, lv);
        }
        final_loss = (loss_sum / loss_w.max(1.0)) as f32;
    }
    Ok(TrainReport {
        epochs: opts.epochs,
        steps: step,
        positions,
        final_loss,
        seconds: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::infer::InferenceModel;
    use crate::model::transformer::{word_pieces, FIRST_TEMPLATE_TOKEN};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn words(v: usize, buckets: usize) -> Vec<Vec<u32>> {
        (0..v)
            .map(|i| {
                if i < FIRST_TEMPLATE_TOKEN as usize {
                    Vec::new()
                } else {
                    word_pieces(&format!("step{} phase{}", i, i % 3), buckets)
                }
            })
            .collect()
    }

    /// Sessions following `a -> b -> c -> EOS` chains: 4->5->6, 7->8->9 (and repeats of 10 11).
    fn pattern_data(n: usize, seed: u64) -> Vec<TrainSequence> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                let tokens = match rng.below(3) {
                    0 => vec![4, 5, 6],
                    1 => vec![7, 8, 9],
                    _ => vec![10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11],
                };
                TrainSequence {
                    tokens,
                    complete: true,
                }
            })
            .collect()
    }

    fn small_opts(epochs: usize) -> TrainOptions {
        TrainOptions {
            epochs,
            batch_size: 16,
            learning_rate: 1e-2,
            max_len: 12,
            seed: 3,
            ..TrainOptions::default()
        }
    }

    /// Sessions from a sparse random Markov chain over `n` templates (mean length ~20).
    fn markov_sessions(count: usize, n: usize, seed: u64) -> Vec<TrainSequence> {
        let mut rng = SplitMix64::new(seed);
        let succ: Vec<[u32; 3]> = (0..n)
            .map(|_| [0, 1, 2].map(|_| FIRST_TEMPLATE_TOKEN + rng.below(n) as u32))
            .collect();
        (0..count)
            .map(|_| {
                let len = 5 + rng.below(31);
                let mut t = FIRST_TEMPLATE_TOKEN + rng.below(n) as u32;
                let mut tokens = Vec::with_capacity(len);
                for _ in 0..len {
                    tokens.push(t);
                    let r = rng.below(10);
                    let k = if r < 7 {
                        0
                    } else if r < 9 {
                        1
                    } else {
                        2
                    };
                    t = succ[(t - FIRST_TEMPLATE_TOKEN) as usize][k];
                }
                TrainSequence {
                    tokens,
                    complete: rng.below(10) < 8,
                }
            })
            .collect()
    }

    /// Training-time figures (not a timed assertion): teacher training and the student distillation
    /// budget (~500 sessions / 10,000 tokens, 5 epochs). Run in release:
    /// `cargo test --release --lib training_budget -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn training_budget() -> Result<()> {
        let dev = Device::Cpu;
        let all = markov_sessions(600, 50, 7);
        let (data, held) = all.split_at(500);
        let tokens: usize = data.iter().map(|s| s.tokens.len()).sum();
        let tv = 300;
        let tcfg = SeqModelConfig::teacher(tv);
        let mut teacher = SeqModel::new(tcfg.clone(), words(tv, tcfg.word_buckets), &dev, 3)?;
        let opts = TrainOptions {
            epochs: 5,
            ..TrainOptions::default()
        };
        let r = train_next_token(&mut teacher, data, &opts, &NoMonitor)?;
        println!(
            "teacher train ({} sessions, {tokens} tokens, {} epochs): {:.2} s, {} steps, loss {:.3}",
            data.len(),
            r.epochs,
            r.seconds,
            r.steps,
            r.final_loss
        );
        let sv = 54;
        let class_map: Vec<u32> = (0..sv as u32).collect();
        let mut student =
            SeqModel::new(SeqModelConfig::student(sv), vec![Vec::new(); sv], &dev, 4)?;
        let r = distill(
            &teacher,
            data,
            &mut student,
            data,
            &class_map,
            &DistillOptions::default(),
            &NoMonitor,
        )?;
        println!(
            "distill student ({} epochs): {:.2} s, {} steps, loss {:.3}; student bytes {}",
            r.epochs,
            r.seconds,
            r.steps,
            r.final_loss,
            student.to_bytes()?.len()
        );
        for (name, m) in [("teacher", &teacher), ("student", &student)] {
            let im = InferenceModel::from_model(m)?;
            let (mut tot, mut n) = (0.0f64, 0usize);
            for s in held {
                let mut st = im.new_session();
                for &t in &s.tokens {
                    tot += im.observe(&mut st, t, 0).nll as f64;
                    n += 1;
                }
            }
            println!("held-out mean nll, {name}: {:.3}", tot / n as f64);
        }
        Ok(())
    }

    #[test]
    fn chunks_score_every_position_once_with_context() {
        let cfg = SeqModelConfig::tiny(20); // receptive field 2 * 5 = 10
        let data = vec![
            TrainSequence {
                tokens: (4..19).chain(4..19).collect(),
                complete: false,
            },
            TrainSequence {
                tokens: vec![4, 0, 2, 99],
                complete: true,
            },
        ];
        let chunks = make_chunks(&data, &cfg, 4);
        let (max_len, overlap) = chunk_geometry(&cfg, 4);
        assert_eq!((max_len, overlap), (20, 10));
        let mut seen = [vec![0; 31], vec![0; 5]];
        for c in &chunks {
            assert!(c.inputs.len() <= max_len);
            for (p, &s) in c.scored.iter().enumerate() {
                if s {
                    seen[c.seq][c.start + p] += 1;
                    assert!(c.start + p < overlap || p >= overlap || c.start == 0);
                }
            }
        }
        assert!(seen.iter().all(|v| v.iter().all(|&x| x == 1)));
        let last = chunks.iter().filter(|c| c.seq == 1).count();
        assert_eq!(last, 1);
        let c = chunks.iter().find(|c| c.seq == 1).cloned();
        let c = c.unwrap_or_else(|| panic!("no chunk"));
        assert_eq!(c.inputs, vec![BOS, 4, UNK, UNK, UNK]);
        assert_eq!(c.targets, vec![4, UNK, UNK, UNK, EOS]);
        // The incomplete session's last position has no next-token target.
        let c0_last = chunks
            .iter()
            .rfind(|c| c.seq == 0)
            .map(|c| *c.ce.last().unwrap_or(&true));
        assert_eq!(c0_last, Some(false));
    }

    #[test]
    fn training_learns_a_pattern_and_is_deterministic() -> Result<()> {
        let dev = Device::Cpu;
        let data = pattern_data(60, 1);
        let mut m = SeqModel::new(SeqModelConfig::tiny(12), words(12, 64), &dev, 11)?;
        let before: f32 = m.sequence_nll(&[4, 5, 6], true)?.iter().sum();
        let r = train_next_token(&mut m, &data, &small_opts(12), &NoMonitor)?;
        assert!(r.steps > 0 && r.positions > 0 && r.final_loss.is_finite());
        let after: f32 = m.sequence_nll(&[4, 5, 6], true)?.iter().sum();
        assert!(
            after < before * 0.3,
            "loss did not fall: {before} -> {after}"
        );
        let im = InferenceModel::from_model(&m)?;
        for chain in [[4u32, 5, 6], [7, 8, 9]] {
            let mut s = im.new_session();
            im.observe(&mut s, chain[0], 1);
            for w in chain.windows(2) {
                let sc = im.observe(&mut s, w[1], 1);
                assert_eq!(sc.rank, 1, "after {} expected {}", w[0], w[1]);
            }
            assert_eq!(im.end_of_session(&s).rank, 1);
        }
        // Same seed and data: identical weights.
        let mut m2 = SeqModel::new(SeqModelConfig::tiny(12), words(12, 64), &dev, 11)?;
        train_next_token(&mut m2, &data, &small_opts(12), &NoMonitor)?;
        assert_eq!(m.to_bytes()?, m2.to_bytes()?);
        Ok(())
    }

    struct CancelAfter(AtomicUsize);
    impl TrainMonitor for CancelAfter {
        fn progress(&self, _f: f32, _l: f32) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
        fn is_cancelled(&self) -> bool {
            self.0.load(Ordering::SeqCst) == 0
        }
    }

    #[test]
    fn cancel_returns_cancelled_and_keeps_weights() -> Result<()> {
        let dev = Device::Cpu;
        let mut m = SeqModel::new(SeqModelConfig::tiny(12), words(12, 64), &dev, 1)?;
        let before = m.to_bytes()?;
        let mon = CancelAfter(AtomicUsize::new(2));
        let r = train_next_token(&mut m, &pattern_data(40, 2), &small_opts(5), &mon);
        assert!(matches!(r, Err(Error::Cancelled)));
        assert_eq!(m.to_bytes()?, before);
        let bad = TrainOptions {
            batch_size: 0,
            ..TrainOptions::default()
        };
        assert!(train_next_token(&mut m, &pattern_data(4, 2), &bad, &NoMonitor).is_err());
        Ok(())
    }

    #[test]
    fn distillation_moves_student_toward_teacher() -> Result<()> {
        let dev = Device::Cpu;
        // Teacher vocabulary: 14 tokens; the student knows templates 4..=9 as its ids 4..=9, and
        // teacher tokens 10..13 fall into its UNK ("other") bucket.
        let tdata = pattern_data(60, 5);
        let mut teacher = SeqModel::new(SeqModelConfig::tiny(14), words(14, 64), &dev, 2)?;
        train_next_token(&mut teacher, &tdata, &small_opts(10), &NoMonitor)?;
        let class_map: Vec<u32> = (0..10).collect();
        let sdata: Vec<TrainSequence> = tdata
            .iter()
            .map(|s| TrainSequence {
                tokens: s
                    .tokens
                    .iter()
                    .map(|&t| if t >= 10 { UNK } else { t })
                    .collect(),
                complete: s.complete,
            })
            .collect();
        let mut scfg = SeqModelConfig::tiny(10);
        scfg.n_layers = 1;
        scfg.word_buckets = 0;
        let mut student = SeqModel::new(scfg, vec![Vec::new(); 10], &dev, 4)?;
        let classes = ClassMap::new(&class_map, 10, 14)?;
        let opts = DistillOptions {
            train: small_opts(8),
            ..DistillOptions::default()
        };
        let targets = teacher_targets(&teacher, &tdata, &classes, &opts, &NoMonitor)?;
        let kl = |s: &SeqModel| -> Result<f64> {
            let mut tot = 0.0;
            let mut n = 0usize;
            for (i, seq) in sdata.iter().enumerate().take(20) {
                let ids: Vec<u32> = std::iter::once(BOS)
                    .chain(seq.tokens.iter().copied())
                    .collect();
                let len = ids.len();
                let lg = s
                    .forward(&Tensor::from_vec(ids, (1, len), &dev)?)?
                    .reshape((len, 10))?;
                let lq = candle_nn::ops::log_softmax(&(lg / opts.temperature)?, D::Minus1)?
                    .to_vec2::<f32>()?;
                for (p, q) in lq.iter().enumerate() {
                    let pt = &targets[i][p * 10..(p + 1) * 10];
                    for (a, b) in pt.iter().zip(q) {
                        if *a > 0.0 {
                            tot += *a as f64 * ((*a as f64).ln() - *b as f64);
                        }
                    }
                    n += 1;
                }
            }
            Ok(tot / n as f64)
        };
        // Teacher distribution rows are distributions over the student's classes.
        let row = &targets[0][..10];
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert_eq!((row[PAD as usize], row[BOS as usize]), (0.0, 0.0));
        let before = kl(&student)?;
        let r = distill(
            &teacher,
            &tdata,
            &mut student,
            &sdata,
            &class_map,
            &opts,
            &NoMonitor,
        )?;
        let after = kl(&student)?;
        assert!(r.steps > 0);
        assert!(after < before * 0.5, "KL {before} -> {after}");
        // Mismatched data and bad class maps are refused.
        assert!(distill(
            &teacher,
            &tdata[..3],
            &mut student,
            &sdata,
            &class_map,
            &opts,
            &NoMonitor
        )
        .is_err());
        let mut bad = class_map.clone();
        bad[5] = BOS;
        let r = distill(
            &teacher,
            &tdata,
            &mut student,
            &sdata,
            &bad,
            &opts,
            &NoMonitor,
        );
        assert!(r.is_err());
        // Two student classes claiming one teacher token share its probability.
        let mut dup = class_map.clone();
        dup[5] = 4;
        let classes = ClassMap::new(&dup, 10, 14)?;
        let t2 = teacher_targets(&teacher, &tdata, &classes, &opts, &NoMonitor)?;
        let row = &t2[0][10..20];
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        assert!((row[4] - row[5]).abs() < 1e-7);
        Ok(())
    }
}
