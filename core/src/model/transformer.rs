//! The sequence model: a small causal Transformer over template ids of one session.
//!
//! Teacher and student are one module family with two configurations ([`SeqModelConfig::teacher`],
//! [`SeqModelConfig::student`]). The design choices that matter downstream:
//!
//! - **Token embedding** = `id_embedding[i] + mean(word_embedding[b] for b in token_words[i])` when
//!   `word_buckets > 0`: a template is embedded by its hashed words as well as by its id, so a teacher
//!   carries what it learned about "connection refused" from one project to another.
//! - **Tied output head**: `logits = h · Eᵀ + bias`, with `E` the full token-embedding matrix, so a new
//!   template gets sensible logits from its words before it was ever trained on.
//! - **Sliding-window causal attention with rotary positions in every layer**: position `p` attends to
//!   `max(0, p - window + 1)..=p`. Rotary positions are relative, so a per-layer key/value cache of the
//!   last `window` positions makes one incremental step give exactly the full recomputation's result,
//!   however long the session (see [`crate::model::infer`]).
//! - PAD and BOS are never predicted: their logits are pushed to [`MASKED_LOGIT`] in [`SeqModel::forward`].
//! - Inside a session, an id that is PAD, BOS or outside the vocabulary stands for UNK (as input and as
//!   target), everywhere: training, [`SeqModel::sequence_nll`] and the inference engine.
//!
//! Weights live in a candle [`VarMap`] (initialised deterministically from a seed with
//! [`SplitMix64`]) and are saved as safetensors bytes.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::util::rng::SplitMix64;

/// Padding id: fills batches; never an input of a real position, never a target.
pub const PAD: u32 = 0;
/// Unknown template (also the student's "other" bucket in distillation).
pub const UNK: u32 = 1;
/// Beginning of session: the first input of every session; never a target.
pub const BOS: u32 = 2;
/// End of session: the last target of a complete session.
pub const EOS: u32 = 3;
/// The first id given to a real template.
pub const FIRST_TEMPLATE_TOKEN: u32 = 4;

/// The logit given to PAD and BOS by [`SeqModel::forward`]: finite (so `0 · log p` stays 0 in a KL term)
/// but far enough below any real logit that `exp` underflows to exactly 0.
pub const MASKED_LOGIT: f32 = -1.0e9;

/// Most word pieces kept per template.
pub const MAX_WORD_PIECES: usize = 8;

/// Epsilon of every LayerNorm.
pub const LN_EPS: f64 = 1e-5;

/// Hyper-parameters of a [`SeqModel`]. Serializable, so it can be stored next to the weights.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeqModelConfig {
    /// Number of token ids, specials included (`>= FIRST_TEMPLATE_TOKEN`).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Number of Transformer blocks.
    pub n_layers: usize,
    /// Attention heads per block (`d_model / n_heads` must be even, for rotary positions).
    pub n_heads: usize,
    /// Hidden width of the feed-forward network.
    pub d_ff: usize,
    /// Attention window: position `p` attends to `max(0, p - window + 1)..=p` in every layer.
    pub window: usize,
    /// Size of the hashed word-piece embedding table; 0 embeds tokens by id only.
    pub word_buckets: usize,
    /// Base of the rotary position frequencies.
    pub rope_theta: f32,
}

impl SeqModelConfig {
    /// The shared teacher: 4 layers, d_model 256, 8 heads, FFN 1024, window 16, 4096 word buckets.
    pub fn teacher(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            d_model: 256,
            n_layers: 4,
            n_heads: 8,
            d_ff: 1024,
            window: 16,
            word_buckets: 4096,
            rope_theta: 10_000.0,
        }
    }

    /// A per-project student: 2 layers, d_model 128, 4 heads, FFN 512, window 16.
    ///
    /// Ids only (`word_buckets = 0`): a student is distilled on one project's small, known vocabulary
    /// from a teacher that already embeds templates by their words, so a word table would only add
    /// weight (4096 × 128 floats, 2 MiB, more than the rest of the student) to every project.
    pub fn student(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            d_model: 128,
            n_layers: 2,
            n_heads: 4,
            d_ff: 512,
            window: 16,
            word_buckets: 0,
            rope_theta: 10_000.0,
        }
    }

    /// A very small model for tests: 2 layers, d_model 32, 4 heads, FFN 64, window 6, 64 word buckets.
    pub fn tiny(vocab_size: usize) -> Self {
        Self {
            vocab_size,
            d_model: 32,
            n_layers: 2,
            n_heads: 4,
            d_ff: 64,
            window: 6,
            word_buckets: 64,
            rope_theta: 10_000.0,
        }
    }

    /// Dimension of one attention head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads.max(1)
    }

    /// How many positions back a position's output can depend on, through all layers:
    /// `n_layers * (window - 1)`. Training chunks overlap by this much.
    pub fn receptive_field(&self) -> usize {
        self.n_layers * self.window.saturating_sub(1)
    }

    /// Checks that the hyper-parameters describe a buildable model.
    pub fn validate(&self) -> Result<()> {
        let bad = |name: &str, reason: &str| {
            Err(Error::InvalidConfig {
                name: format!("SeqModelConfig.{name}"),
                reason: reason.to_string(),
            })
        };
        if self.vocab_size < FIRST_TEMPLATE_TOKEN as usize {
            return bad("vocab_size", "must include the 4 special tokens");
        }
        if self.vocab_size > u32::MAX as usize {
            return bad("vocab_size", "must fit in u32");
        }
        if self.d_model == 0 || self.n_layers == 0 || self.n_heads == 0 || self.d_ff == 0 {
            return bad(
                "d_model",
                "d_model, n_layers, n_heads and d_ff must be positive",
            );
        }
        if self.d_model % self.n_heads != 0 {
            return bad("n_heads", "must divide d_model");
        }
        if self.head_dim() % 2 != 0 {
            return bad(
                "n_heads",
                "d_model / n_heads must be even (rotary positions)",
            );
        }
        if self.window == 0 {
            return bad("window", "must be positive");
        }
        if self.word_buckets > u32::MAX as usize {
            return bad("word_buckets", "must fit in u32");
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return bad("rope_theta", "must be a finite number > 1");
        }
        Ok(())
    }
}

/// Hashed word pieces of a template's text, the ids into the word-embedding table.
///
/// Words are split at non-alphanumeric characters and camelCase boundaries (`connectionRefused`,
/// `HTTPServer` → `http`, `server`), lowercased; the mask `<*>` and pure numbers are skipped; each word is
/// hashed with 64-bit FNV-1a modulo `buckets`. Duplicates are dropped; at most [`MAX_WORD_PIECES`].
/// Empty when `buckets == 0`.
pub fn word_pieces(template_text: &str, buckets: usize) -> Vec<u32> {
    let mut out = Vec::new();
    if buckets == 0 {
        return out;
    }
    for word in split_words(template_text) {
        if word.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let b = (fnv1a(word.as_bytes()) % buckets as u64) as u32;
        if !out.contains(&b) {
            out.push(b);
            if out.len() == MAX_WORD_PIECES {
                break;
            }
        }
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Lowercased words of `text`, split at non-alphanumerics and camelCase boundaries.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for raw in text.split(|c: char| !c.is_alphanumeric()) {
        if raw.is_empty() {
            continue;
        }
        let chars: Vec<char> = raw.chars().collect();
        let mut cur = String::new();
        for (i, &c) in chars.iter().enumerate() {
            if i > 0 && c.is_uppercase() {
                let prev = chars[i - 1];
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
                if prev.is_lowercase() || prev.is_numeric() || (prev.is_uppercase() && next_lower) {
                    words.push(std::mem::take(&mut cur));
                }
            }
            cur.extend(c.to_lowercase());
        }
        if !cur.is_empty() {
            words.push(cur);
        }
    }
    words
}

/// Maps a session's token id to the id the model sees: PAD, BOS and ids outside the vocabulary are UNK.
#[inline]
pub fn canonical_token(token: u32, vocab_size: usize) -> u32 {
    if token == PAD || token == BOS || token as usize >= vocab_size {
        UNK
    } else {
        token
    }
}

/// Rotary inverse frequencies `theta^(-2i / head_dim)` for `i < head_dim / 2` (f64, so that angles
/// at large absolute positions stay accurate).
pub(crate) fn rope_angles(cfg: &SeqModelConfig) -> Vec<f64> {
    let half = cfg.head_dim() / 2;
    let theta = cfg.rope_theta as f64;
    (0..half)
        .map(|i| theta.powf(-(2.0 * i as f64) / cfg.head_dim() as f64))
        .collect()
}

/// Safetensors bytes of f32 tensors `(name, shape, values)`, in the given order, with `format` in the
/// header's metadata. A shape that does not hold its values is an error.
pub fn safetensors_bytes(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    format: &str,
) -> Result<Vec<u8>> {
    let mut header = serde_json::Map::new();
    let mut meta = serde_json::Map::new();
    meta.insert("format".into(), format.into());
    header.insert("__metadata__".into(), serde_json::Value::Object(meta));
    let mut offset = 0usize;
    for (name, shape, values) in tensors {
        if shape.iter().product::<usize>() != values.len() {
            return Err(Error::model(format!(
                "tensor {name}: shape {shape:?} does not hold {} values",
                values.len()
            )));
        }
        let len = values.len() * 4;
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": "F32",
                "shape": shape,
                "data_offsets": [offset, offset + len],
            }),
        );
        offset += len;
    }
    let mut h = serde_json::to_vec(&serde_json::Value::Object(header))
        .map_err(|e| Error::model(format!("serializing safetensors header: {e}")))?;
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + offset);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for (_, _, values) in tensors {
        for x in values {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    Ok(out)
}

/// Rotary cos/sin for positions `0..len`, each `[len, head_dim / 2]`, angles computed in f64.
#[derive(Clone, Debug)]
struct RopeTables {
    len: usize,
    half: usize,
    cos: Arc<Vec<f32>>,
    sin: Arc<Vec<f32>>,
}

impl RopeTables {
    fn new(cfg: &SeqModelConfig, len: usize) -> Self {
        let inv = rope_angles(cfg);
        let half = inv.len();
        let mut cos = vec![0f32; len * half];
        let mut sin = vec![0f32; len * half];
        for p in 0..len {
            for (i, f) in inv.iter().enumerate() {
                let (s, c) = (p as f64 * f).sin_cos();
                cos[p * half + i] = c as f32;
                sin[p * half + i] = s as f32;
            }
        }
        Self {
            len,
            half,
            cos: Arc::new(cos),
            sin: Arc::new(sin),
        }
    }

    /// `[len, head_dim]` tensors (both halves repeated), for the composed (non-CPU) path.
    fn full_tensors(&self, device: &Device) -> Result<(Tensor, Tensor)> {
        let c = Tensor::from_vec(self.cos.to_vec(), (self.len, self.half), device)?;
        let s = Tensor::from_vec(self.sin.to_vec(), (self.len, self.half), device)?;
        Ok((
            Tensor::cat(&[&c, &c], D::Minus1)?,
            Tensor::cat(&[&s, &s], D::Minus1)?,
        ))
    }
}

/// Additive sliding-window causal mask `[len, len]`: 0 where `p - window < j <= p`, -inf elsewhere.
fn window_mask(len: usize, window: usize, device: &Device) -> Result<Tensor> {
    let mut m = vec![f32::NEG_INFINITY; len * len];
    for p in 0..len {
        let lo = (p + 1).saturating_sub(window);
        for j in lo..=p {
            m[p * len + j] = 0.0;
        }
    }
    Ok(Tensor::from_vec(m, (len, len), device)?)
}

/// LayerNorm over the last dimension (a fused kernel with its backward on CPU).
fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        return Ok(x.contiguous()?.apply_op3(w, b, kernels::LayerNorm)?);
    }
    layer_norm_composed(x, w, b)
}

fn layer_norm_composed(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let y = xc.broadcast_div(&(var + LN_EPS)?.sqrt()?)?;
    Ok(y.broadcast_mul(w)?.broadcast_add(b)?)
}

/// GELU, tanh approximation written as `x·σ(2u)` (a fused kernel with its backward on CPU).
fn gelu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() {
        return Ok(x.contiguous()?.apply_op1(kernels::Gelu)?);
    }
    gelu_composed(x)
}

fn gelu_composed(x: &Tensor) -> Result<Tensor> {
    // x·σ(2u) with u = √(2/π)·(x + 0.044715·x³): the same function as the fused kernel.
    let u = ((x.sqr()? * 0.044715)? + 1.0)?.mul(x)?;
    Ok(x.mul(&candle_nn::ops::sigmoid(&(u * (2.0 * GELU_C as f64))?)?)?)
}

/// `x [.., in] · w [in, out] + b`, flattened to one matrix product.
fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (inp, out) = w.dims2()?;
    let rows = x.elem_count() / inp;
    let y = x.reshape((rows, inp))?.matmul(w)?.broadcast_add(b)?;
    let mut od = dims;
    if let Some(last) = od.last_mut() {
        *last = out;
    }
    Ok(y.reshape(od)?)
}

/// Rotary positions on `x [B, H, L, hd]`: `x * cos + rotate_half(x) * sin`.
fn apply_rope(x: &Tensor, rope: &RopeTables) -> Result<Tensor> {
    if x.device().is_cpu() {
        return Ok(x.contiguous()?.apply_op1(kernels::Rope {
            tables: rope.clone(),
            inverse: false,
        })?);
    }
    apply_rope_composed(x, rope)
}

fn apply_rope_composed(x: &Tensor, rope: &RopeTables) -> Result<Tensor> {
    let (cos, sin) = rope.full_tensors(x.device())?;
    let half = rope.half;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(&cos)? + rot.broadcast_mul(&sin)?)?)
}

/// Attention weights from raw scores `[B, H, L, L]`: `softmax(scale · s)` over the sliding window.
fn window_softmax(scores: &Tensor, scale: f64, window: usize) -> Result<Tensor> {
    if scores.device().is_cpu() {
        return Ok(scores.contiguous()?.apply_op1(kernels::WindowSoftmax {
            scale: scale as f32,
            window,
        })?);
    }
    window_softmax_composed(scores, scale, window)
}

fn window_softmax_composed(scores: &Tensor, scale: f64, window: usize) -> Result<Tensor> {
    let l = scores.dim(D::Minus1)?;
    let mask = window_mask(l, window, scores.device())?;
    let s = (scores * scale)?.broadcast_add(&mask)?;
    Ok(candle_nn::ops::softmax(&s, D::Minus1)?)
}

/// `exp(x)` with ~1e-7 relative error, branch-free (vectorisable); inputs are clamped to
/// `[-87.3, 88.7]`, so `exp(-inf)` gives ~1e-38 rather than 0. Shared by training kernels and the
/// inference engine so that both compute the same function.
#[inline(always)]
pub(crate) fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let x = x.clamp(-87.3, 88.7);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let ni = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let r = x - n * LN2_HI - n * LN2_LO;
    let z = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5e-1;
    let y = p * z + r + 1.0;
    y * f32::from_bits(((ni + 127) << 23) as u32)
}

const GELU_C: f32 = 0.797_884_6; // sqrt(2 / pi)

/// GELU (tanh approximation): `0.5·x·(1 + tanh(u)) = x·σ(2u)`, `u = √(2/π)·(x + 0.044715·x³)`.
#[inline(always)]
pub(crate) fn gelu_f32(x: f32) -> f32 {
    let u = GELU_C * x * (1.0 + 0.044715 * x * x);
    x / (1.0 + fast_exp(-2.0 * u))
}

/// Derivative of [`gelu_f32`].
#[inline(always)]
fn gelu_grad_f32(x: f32) -> f32 {
    let u = GELU_C * x * (1.0 + 0.044715 * x * x);
    let s = 1.0 / (1.0 + fast_exp(-2.0 * u));
    s + x * s * (1.0 - s) * 2.0 * GELU_C * (1.0 + 3.0 * 0.044715 * x * x)
}

/// Fused CPU kernels (forward and backward) for the elementwise parts of a block: candle would run
/// each as 5-12 separate tensor ops. Inputs are contiguous f32.
mod kernels {
    use super::{fast_exp, gelu_f32, gelu_grad_f32, RopeTables, LN_EPS};
    use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Storage, Tensor};

    type CResult<T> = candle_core::Result<T>;

    fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> CResult<&'a [f32]> {
        let v = s.as_slice::<f32>()?;
        match l.contiguous_offsets() {
            Some((a, b)) => Ok(&v[a..b]),
            None => bail!("fused kernel needs a contiguous input"),
        }
    }

    /// Runs `f` on the f32 data of up to three CPU tensors (made contiguous first).
    fn read<R>(ts: &[&Tensor], f: impl FnOnce(&[&[f32]]) -> R) -> CResult<R> {
        let ts: Vec<Tensor> = ts.iter().map(|t| t.contiguous()).collect::<CResult<_>>()?;
        let guards: Vec<_> = ts.iter().map(|t| t.storage_and_layout()).collect();
        let mut slices = Vec::with_capacity(guards.len());
        for (st, l) in &guards {
            match &**st {
                Storage::Cpu(c) => slices.push(slice(c, l)?),
                _ => bail!("fused kernel: CPU tensors only"),
            }
        }
        Ok(f(&slices))
    }

    fn tensor_like(v: Vec<f32>, like: &Tensor) -> CResult<Tensor> {
        Tensor::from_vec(v, like.shape(), like.device())
    }

    /// GELU.
    pub(super) struct Gelu;

    impl CustomOp1 for Gelu {
        fn name(&self) -> &'static str {
            "ls-gelu"
        }
        fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
            let x = slice(s, l)?;
            Ok((
                CpuStorage::F32(x.iter().map(|&v| gelu_f32(v)).collect()),
                l.shape().clone(),
            ))
        }
        fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
            let g = read(&[arg, grad], |s| {
                s[0].iter()
                    .zip(s[1])
                    .map(|(&x, &g)| g * gelu_grad_f32(x))
                    .collect::<Vec<f32>>()
            })?;
            Ok(Some(tensor_like(g, arg)?))
        }
    }

    /// LayerNorm over the last dimension: `(x, weight, bias)`.
    pub(super) struct LayerNorm;

    impl CustomOp3 for LayerNorm {
        fn name(&self) -> &'static str {
            "ls-layer-norm"
        }
        fn cpu_fwd(
            &self,
            s1: &CpuStorage,
            l1: &Layout,
            s2: &CpuStorage,
            l2: &Layout,
            s3: &CpuStorage,
            l3: &Layout,
        ) -> CResult<(CpuStorage, Shape)> {
            let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
            let d = w.len();
            if d == 0 || x.len() % d != 0 || b.len() != d {
                bail!("layer norm: shape mismatch");
            }
            let mut y = vec![0f32; x.len()];
            for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
                let mean = xr.iter().sum::<f32>() / d as f32;
                let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                let inv = 1.0 / (var + LN_EPS as f32).sqrt();
                for (((o, &v), &ww), &bb) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                    *o = (v - mean) * inv * ww + bb;
                }
            }
            Ok((CpuStorage::F32(y), l1.shape().clone()))
        }
        fn bwd(
            &self,
            x: &Tensor,
            w: &Tensor,
            b: &Tensor,
            _res: &Tensor,
            grad: &Tensor,
        ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
            let (dx, dw, db) = read(&[x, w, grad], |s| {
                let (x, w, g) = (s[0], s[1], s[2]);
                let d = w.len();
                let mut dx = vec![0f32; x.len()];
                let mut dw = vec![0f32; d];
                let mut db = vec![0f32; d];
                let mut xhat = vec![0f32; d];
                for ((xr, gr), dxr) in x
                    .chunks_exact(d)
                    .zip(g.chunks_exact(d))
                    .zip(dx.chunks_exact_mut(d))
                {
                    let mean = xr.iter().sum::<f32>() / d as f32;
                    let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
                    let inv = 1.0 / (var + LN_EPS as f32).sqrt();
                    let mut m1 = 0f32;
                    let mut m2 = 0f32;
                    for j in 0..d {
                        xhat[j] = (xr[j] - mean) * inv;
                        let dxh = gr[j] * w[j];
                        m1 += dxh;
                        m2 += dxh * xhat[j];
                        dw[j] += gr[j] * xhat[j];
                        db[j] += gr[j];
                    }
                    m1 /= d as f32;
                    m2 /= d as f32;
                    for j in 0..d {
                        dxr[j] = inv * (gr[j] * w[j] - m1 - xhat[j] * m2);
                    }
                }
                (dx, dw, db)
            })?;
            Ok((
                Some(tensor_like(dx, x)?),
                Some(tensor_like(dw, w)?),
                Some(tensor_like(db, b)?),
            ))
        }
    }

    /// Rotary positions on `[.., L, head_dim]` (inverse: rotate by minus the angle, the backward).
    pub(super) struct Rope {
        pub(super) tables: RopeTables,
        pub(super) inverse: bool,
    }

    impl CustomOp1 for Rope {
        fn name(&self) -> &'static str {
            "ls-rope"
        }
        fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
            let x = slice(s, l)?;
            let (half, len) = (self.tables.half, self.tables.len);
            let hd = 2 * half;
            let dims = l.shape().dims();
            if dims.len() < 2 || dims[dims.len() - 1] != hd || dims[dims.len() - 2] != len {
                bail!("rope: expected [.., {len}, {hd}], got {dims:?}");
            }
            let sign = if self.inverse { -1.0 } else { 1.0 };
            let mut y = vec![0f32; x.len()];
            for (r, (xr, yr)) in x.chunks_exact(hd).zip(y.chunks_exact_mut(hd)).enumerate() {
                let p = r % len;
                let c = &self.tables.cos[p * half..(p + 1) * half];
                let sn = &self.tables.sin[p * half..(p + 1) * half];
                let (x1, x2) = xr.split_at(half);
                let (y1, y2) = yr.split_at_mut(half);
                for i in 0..half {
                    let s = sign * sn[i];
                    y1[i] = x1[i] * c[i] - x2[i] * s;
                    y2[i] = x2[i] * c[i] + x1[i] * s;
                }
            }
            Ok((CpuStorage::F32(y), l.shape().clone()))
        }
        fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
            let inv = Rope {
                tables: self.tables.clone(),
                inverse: !self.inverse,
            };
            Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&inv)?))
        }
    }

    /// `softmax(scale · s)` over the sliding causal window of each row of `[.., L, L]` scores.
    pub(super) struct WindowSoftmax {
        pub(super) scale: f32,
        pub(super) window: usize,
    }

    impl CustomOp1 for WindowSoftmax {
        fn name(&self) -> &'static str {
            "ls-window-softmax"
        }
        fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
            let x = slice(s, l)?;
            let dims = l.shape().dims();
            let len = dims.last().copied().unwrap_or(0);
            if dims.len() < 2 || dims[dims.len() - 2] != len || len == 0 {
                bail!("window softmax: expected [.., L, L], got {dims:?}");
            }
            let mut y = vec![0f32; x.len()];
            for (r, (xr, yr)) in x.chunks_exact(len).zip(y.chunks_exact_mut(len)).enumerate() {
                let p = r % len;
                let lo = (p + 1).saturating_sub(self.window);
                let xs = &xr[lo..=p];
                let ys = &mut yr[lo..=p];
                let mx = xs.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) * self.scale;
                let mut sum = 0f32;
                for (o, &v) in ys.iter_mut().zip(xs) {
                    *o = fast_exp(v * self.scale - mx);
                    sum += *o;
                }
                let inv = 1.0 / sum;
                ys.iter_mut().for_each(|o| *o *= inv);
            }
            Ok((CpuStorage::F32(y), l.shape().clone()))
        }
        fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
            let len = res.dim(candle_core::D::Minus1)?;
            let (scale, window) = (self.scale, self.window);
            let g = read(&[res, grad], |s| {
                let (pr, gr) = (s[0], s[1]);
                let mut out = vec![0f32; pr.len()];
                for (r, ((p_row, g_row), o_row)) in pr
                    .chunks_exact(len)
                    .zip(gr.chunks_exact(len))
                    .zip(out.chunks_exact_mut(len))
                    .enumerate()
                {
                    let p = r % len;
                    let lo = (p + 1).saturating_sub(window);
                    let dot: f32 = (lo..=p).map(|j| p_row[j] * g_row[j]).sum();
                    for j in lo..=p {
                        o_row[j] = scale * p_row[j] * (g_row[j] - dot);
                    }
                }
                out
            })?;
            Ok(Some(tensor_like(g, res)?))
        }
    }
}

/// One pre-norm Transformer block. Weights are stored `[in, out]`.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    pub(crate) ln1_w: Tensor,
    pub(crate) ln1_b: Tensor,
    pub(crate) wqkv: Tensor,
    pub(crate) bqkv: Tensor,
    pub(crate) wo: Tensor,
    pub(crate) bo: Tensor,
    pub(crate) ln2_w: Tensor,
    pub(crate) ln2_b: Tensor,
    pub(crate) w1: Tensor,
    pub(crate) b1: Tensor,
    pub(crate) w2: Tensor,
    pub(crate) b2: Tensor,
}

impl Block {
    fn load(vb: VarBuilder, cfg: &SeqModelConfig) -> Result<Self> {
        let d = cfg.d_model;
        let f = cfg.d_ff;
        Ok(Self {
            ln1_w: vb.get(d, "ln1.weight")?,
            ln1_b: vb.get(d, "ln1.bias")?,
            wqkv: vb.get((d, 3 * d), "attn.qkv.weight")?,
            bqkv: vb.get(3 * d, "attn.qkv.bias")?,
            wo: vb.get((d, d), "attn.out.weight")?,
            bo: vb.get(d, "attn.out.bias")?,
            ln2_w: vb.get(d, "ln2.weight")?,
            ln2_b: vb.get(d, "ln2.bias")?,
            w1: vb.get((d, f), "ffn.up.weight")?,
            b1: vb.get(f, "ffn.up.bias")?,
            w2: vb.get((f, d), "ffn.down.weight")?,
            b2: vb.get(d, "ffn.down.bias")?,
        })
    }

    fn forward(&self, x: &Tensor, cfg: &SeqModelConfig, rope: &RopeTables) -> Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        let h = cfg.n_heads;
        let hd = cfg.head_dim();
        let xn = layer_norm(x, &self.ln1_w, &self.ln1_b)?;
        let qkv = linear(&xn, &self.wqkv, &self.bqkv)?
            .reshape((b, l, 3, h, hd))?
            .permute((2, 0, 3, 1, 4))?; // [3, B, H, L, hd]
        let q = apply_rope(&qkv.get(0)?, rope)?;
        let k = apply_rope(&qkv.get(1)?, rope)?;
        let v = qkv.get(2)?.contiguous()?;
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = q.matmul(&k.t()?.contiguous()?)?;
        let attn = window_softmax(&scores, scale, cfg.window)?;
        let ctx = attn
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, l, d))?;
        let x = (x + linear(&ctx, &self.wo, &self.bo)?)?;
        let xn = layer_norm(&x, &self.ln2_w, &self.ln2_b)?;
        let ff = linear(
            &gelu(&linear(&xn, &self.w1, &self.b1)?)?,
            &self.w2,
            &self.b2,
        )?;
        Ok((x + ff)?)
    }
}

/// The word-piece layout of the vocabulary as index tensors: piece `k` adds
/// `weight[k] * word_emb[bucket[k]]` to token `token[k]`'s embedding.
#[derive(Clone, Debug)]
struct WordIndex {
    bucket: Tensor,
    token: Tensor,
    weight: Tensor,
}

/// The network's tensors, built from the [`VarMap`] (`load(vb, cfg)` in candle's style).
#[derive(Clone, Debug)]
pub(crate) struct Net {
    pub(crate) id_emb: Tensor,
    pub(crate) word_emb: Option<Tensor>,
    pub(crate) out_bias: Tensor,
    pub(crate) blocks: Vec<Block>,
    pub(crate) lnf_w: Tensor,
    pub(crate) lnf_b: Tensor,
}

impl Net {
    fn load(vb: VarBuilder, cfg: &SeqModelConfig) -> Result<Self> {
        let d = cfg.d_model;
        let word_emb = if cfg.word_buckets > 0 {
            Some(vb.get((cfg.word_buckets, d), "tok.words")?)
        } else {
            None
        };
        let blocks = (0..cfg.n_layers)
            .map(|i| Block::load(vb.pp(format!("blocks.{i}")), cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            id_emb: vb.get((cfg.vocab_size, d), "tok.ids")?,
            word_emb,
            out_bias: vb.get(cfg.vocab_size, "head.bias")?,
            blocks,
            lnf_w: vb.get(d, "final_ln.weight")?,
            lnf_b: vb.get(d, "final_ln.bias")?,
        })
    }
}

/// Name, shape and initialiser of every parameter (`Init::Normal(std)`, `Zeros`, `Ones`).
#[derive(Clone, Copy, Debug)]
enum Init {
    Normal(f32),
    Zeros,
    Ones,
}

fn param_specs(cfg: &SeqModelConfig) -> Vec<(String, Vec<usize>, Init)> {
    let d = cfg.d_model;
    let f = cfg.d_ff;
    let std = 0.02f32;
    let resid = std / (2.0 * cfg.n_layers as f32).sqrt();
    let mut v = vec![
        (
            "tok.ids".to_string(),
            vec![cfg.vocab_size, d],
            Init::Normal(std),
        ),
        ("head.bias".to_string(), vec![cfg.vocab_size], Init::Zeros),
        ("final_ln.weight".to_string(), vec![d], Init::Ones),
        ("final_ln.bias".to_string(), vec![d], Init::Zeros),
    ];
    if cfg.word_buckets > 0 {
        v.push((
            "tok.words".to_string(),
            vec![cfg.word_buckets, d],
            Init::Normal(std),
        ));
    }
    for i in 0..cfg.n_layers {
        let p = |n: &str| format!("blocks.{i}.{n}");
        v.extend([
            (p("ln1.weight"), vec![d], Init::Ones),
            (p("ln1.bias"), vec![d], Init::Zeros),
            (p("attn.qkv.weight"), vec![d, 3 * d], Init::Normal(std)),
            (p("attn.qkv.bias"), vec![3 * d], Init::Zeros),
            (p("attn.out.weight"), vec![d, d], Init::Normal(resid)),
            (p("attn.out.bias"), vec![d], Init::Zeros),
            (p("ln2.weight"), vec![d], Init::Ones),
            (p("ln2.bias"), vec![d], Init::Zeros),
            (p("ffn.up.weight"), vec![d, f], Init::Normal(std)),
            (p("ffn.up.bias"), vec![f], Init::Zeros),
            (p("ffn.down.weight"), vec![f, d], Init::Normal(resid)),
            (p("ffn.down.bias"), vec![d], Init::Zeros),
        ]);
    }
    v
}

fn init_values(shape: &[usize], init: Init, rng: &mut SplitMix64) -> Vec<f32> {
    let n: usize = shape.iter().product();
    match init {
        Init::Normal(std) => (0..n).map(|_| rng.normal() * std).collect(),
        Init::Zeros => vec![0.0; n],
        Init::Ones => vec![1.0; n],
    }
}

/// The sequence model (candle, [`VarMap`]-backed). See the module docs for the architecture.
pub struct SeqModel {
    cfg: SeqModelConfig,
    token_words: Vec<Vec<u32>>,
    varmap: VarMap,
    net: Net,
    words: Option<WordIndex>,
    vocab_mask: Tensor,
    device: Device,
}

impl std::fmt::Debug for SeqModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeqModel")
            .field("cfg", &self.cfg)
            .field("parameters", &self.parameter_count())
            .finish()
    }
}

impl SeqModel {
    /// A freshly initialised model; `token_words[i]` are the word pieces of token `i`'s template text
    /// (from [`word_pieces`]; empty for specials). Same `seed` → same weights.
    pub fn new(
        cfg: SeqModelConfig,
        token_words: Vec<Vec<u32>>,
        device: &Device,
        seed: u64,
    ) -> Result<Self> {
        cfg.validate()?;
        let varmap = VarMap::new();
        let mut rng = SplitMix64::new(seed);
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| Error::model("poisoned var map"))?;
            for (name, shape, init) in param_specs(&cfg) {
                let vals = init_values(&shape, init, &mut rng);
                let t = Tensor::from_vec(vals, shape, device)?;
                data.insert(name, Var::from_tensor(&t)?);
            }
        }
        Self::assemble(cfg, token_words, varmap, device)
    }

    fn assemble(
        cfg: SeqModelConfig,
        token_words: Vec<Vec<u32>>,
        varmap: VarMap,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()?;
        let token_words = normalise_words(&cfg, token_words)?;
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let net = Net::load(vb, &cfg)?;
        let words = build_word_index(&cfg, &token_words, device)?;
        let mut mask = vec![0f32; cfg.vocab_size];
        mask[PAD as usize] = MASKED_LOGIT;
        mask[BOS as usize] = MASKED_LOGIT;
        let vocab_mask = Tensor::from_vec(mask, cfg.vocab_size, device)?;
        Ok(Self {
            cfg,
            token_words,
            varmap,
            net,
            words,
            vocab_mask,
            device: device.clone(),
        })
    }

    /// An independent copy with its own variables: training the copy leaves this model unchanged.
    pub fn deep_copy(&self) -> Result<Self> {
        Self::from_bytes(
            &self.to_bytes()?,
            self.cfg.clone(),
            self.token_words.clone(),
            &self.device,
        )
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &SeqModelConfig {
        &self.cfg
    }

    /// The word pieces of every token (as given, truncated to [`MAX_WORD_PIECES`]).
    pub fn token_words(&self) -> &[Vec<u32>] {
        &self.token_words
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The trainable variables, in a stable (name-sorted) order.
    pub fn named_vars(&self) -> Result<Vec<(String, Var)>> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::model("poisoned var map"))?;
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(v)
    }

    pub(crate) fn net(&self) -> &Net {
        &self.net
    }

    /// The full token-embedding matrix `E` `[vocab, d_model]` (id embedding plus mean word embedding).
    pub fn embeddings(&self) -> Result<Tensor> {
        let e = &self.net.id_emb;
        match (&self.net.word_emb, &self.words) {
            (Some(we), Some(wi)) => {
                let pieces = we.index_select(&wi.bucket, 0)?.broadcast_mul(&wi.weight)?;
                Ok(e.index_add(&wi.token, &pieces, 0)?)
            }
            _ => Ok(e.clone()),
        }
    }

    /// Logits `[B, L, vocab]` for input ids `[B, L]` (u32), each position attending to the last
    /// `window` positions of its row. PAD and BOS logits are [`MASKED_LOGIT`]. Ids are taken as given
    /// (use [`canonical_token`] first for raw session ids); ids outside the vocabulary are an error.
    pub fn forward(&self, input_ids: &Tensor) -> Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        let d = self.cfg.d_model;
        let e = self.embeddings()?;
        let mut x = e
            .index_select(&input_ids.flatten_all()?, 0)?
            .reshape((b, l, d))?;
        let rope = RopeTables::new(&self.cfg, l);
        for blk in &self.net.blocks {
            x = blk.forward(&x, &self.cfg, &rope)?;
        }
        let h = layer_norm(&x, &self.net.lnf_w, &self.net.lnf_b)?.reshape((b * l, d))?;
        let bias = (&self.net.out_bias + &self.vocab_mask)?;
        let logits = h.matmul(&e.t()?)?.broadcast_add(&bias)?;
        Ok(logits.reshape((b, l, self.cfg.vocab_size))?)
    }

    /// Full-recompute reference scoring: the negative log-likelihood of each of `t1..tn` (and of EOS
    /// when `complete`) given BOS and the tokens before it. Ids are mapped by [`canonical_token`].
    pub fn sequence_nll(&self, tokens: &[u32], complete: bool) -> Result<Vec<f32>> {
        let v = self.cfg.vocab_size;
        let mut input = Vec::with_capacity(tokens.len() + 1);
        input.push(BOS);
        input.extend(tokens.iter().map(|&t| canonical_token(t, v)));
        let mut targets: Vec<u32> = input[1..].to_vec();
        if complete {
            targets.push(EOS);
        } else {
            input.pop();
        }
        if input.is_empty() {
            return Ok(Vec::new());
        }
        let n = input.len();
        let ids = Tensor::from_vec(input, (1, n), &self.device)?;
        let logits = self.forward(&ids)?.reshape((n, v))?;
        let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let tgt = Tensor::from_vec(targets, (n, 1), &self.device)?;
        let picked = logp.gather(&tgt, 1)?.squeeze(1)?.to_vec1::<f32>()?;
        Ok(picked.into_iter().map(|x| -x).collect())
    }

    /// The weights as safetensors bytes (f32, little-endian, names sorted).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let tensors = self
            .named_vars()?
            .iter()
            .map(|(name, var)| {
                let t = var.as_tensor();
                let values = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
                Ok((name.clone(), t.dims().to_vec(), values))
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors_bytes(&tensors, "logsentinel-seq-v1")
    }

    /// Reads the tensors of weights written by [`SeqModel::to_bytes`] as plain f32 vectors, without
    /// building candle tensors (the cold-load path of inference); every tensor `cfg` needs must be
    /// there with its shape.
    pub fn read_weights(bytes: &[u8], cfg: &SeqModelConfig) -> Result<HashMap<String, Vec<f32>>> {
        cfg.validate()?;
        let bad = |why: &str| Error::model(format!("reading model weights: {why}"));
        let header_len = bytes
            .get(..8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
            .ok_or_else(|| bad("truncated header"))? as usize;
        let data_start = 8usize
            .checked_add(header_len)
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| bad("header longer than the data"))?;
        let header: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..data_start]).map_err(|e| bad(&e.to_string()))?;
        let data = &bytes[data_start..];
        let mut out = HashMap::new();
        for (name, shape, _) in param_specs(cfg) {
            let entry = header
                .get(&name)
                .ok_or_else(|| bad(&format!("tensor {name} missing")))?;
            if entry.get("dtype").and_then(|v| v.as_str()) != Some("F32") {
                return Err(bad(&format!("tensor {name} is not F32")));
            }
            let dims: Vec<usize> = entry
                .get("shape")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .ok_or_else(|| bad(&format!("tensor {name} has no shape")))?;
            if dims != shape {
                return Err(bad(&format!(
                    "tensor {name} has shape {dims:?}, the config expects {shape:?}"
                )));
            }
            let [start, end]: [usize; 2] = entry
                .get("data_offsets")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .ok_or_else(|| bad(&format!("tensor {name} has no offsets")))?;
            let raw = data
                .get(start..end)
                .filter(|r| r.len() == shape.iter().product::<usize>() * 4)
                .ok_or_else(|| bad(&format!("tensor {name} lies outside the data")))?;
            let values = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            out.insert(name, values);
        }
        Ok(out)
    }

    /// Loads weights written by [`SeqModel::to_bytes`]; every tensor must match `cfg`'s shapes.
    pub fn from_bytes(
        bytes: &[u8],
        cfg: SeqModelConfig,
        token_words: Vec<Vec<u32>>,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate()?;
        let mut tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load_buffer(bytes, device)
                .map_err(|e| Error::model(format!("reading model weights: {e}")))?;
        let varmap = VarMap::new();
        {
            let mut data = varmap
                .data()
                .lock()
                .map_err(|_| Error::model("poisoned var map"))?;
            for (name, shape, _) in param_specs(&cfg) {
                let t = tensors
                    .remove(&name)
                    .ok_or_else(|| Error::model(format!("model weights lack tensor {name}")))?;
                if t.dims() != shape.as_slice() {
                    return Err(Error::model(format!(
                        "tensor {name} has shape {:?}, the config expects {shape:?}",
                        t.dims()
                    )));
                }
                let t = t.to_dtype(DType::F32)?;
                data.insert(name, Var::from_tensor(&t)?);
            }
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(Error::model(format!(
                "model weights have an unexpected tensor {extra}"
            )));
        }
        Self::assemble(cfg, token_words, varmap, device)
    }

    /// Extends the vocabulary to `token_words.len()` tokens. Old ids keep their rows; a new token's id
    /// embedding starts at zero when the model has word pieces (its embedding is then the mean of its
    /// words) and small random (from `seed`) otherwise; its output bias starts at the mean bias of the
    /// existing templates.
    pub fn grow_vocab(&mut self, token_words: Vec<Vec<u32>>, seed: u64) -> Result<()> {
        let old_v = self.cfg.vocab_size;
        let new_v = token_words.len();
        if new_v < old_v {
            return Err(Error::invalid_input(format!(
                "grow_vocab: {new_v} tokens is fewer than the current {old_v}"
            )));
        }
        let d = self.cfg.d_model;
        let mut cfg = self.cfg.clone();
        cfg.vocab_size = new_v;
        cfg.validate()?;
        let token_words = normalise_words(&cfg, token_words)?;
        let mut rng = SplitMix64::new(seed);
        let ids = self.net.id_emb.flatten_all()?.to_vec1::<f32>()?;
        let bias = self.net.out_bias.to_vec1::<f32>()?;
        let mut new_ids = ids;
        let extra = (new_v - old_v) * d;
        if cfg.word_buckets > 0 {
            new_ids.extend(std::iter::repeat_n(0f32, extra));
        } else {
            new_ids.extend((0..extra).map(|_| rng.normal() * 0.02));
        }
        let templ = &bias[FIRST_TEMPLATE_TOKEN as usize..];
        let mean_bias = if templ.is_empty() {
            0.0
        } else {
            templ.iter().sum::<f32>() / templ.len() as f32
        };
        let mut new_bias = bias;
        new_bias.extend(std::iter::repeat_n(mean_bias, new_v - old_v));
        {
            let mut data = self
                .varmap
                .data()
                .lock()
                .map_err(|_| Error::model("poisoned var map"))?;
            let t = Tensor::from_vec(new_ids, (new_v, d), &self.device)?;
            data.insert("tok.ids".to_string(), Var::from_tensor(&t)?);
            let t = Tensor::from_vec(new_bias, new_v, &self.device)?;
            data.insert("head.bias".to_string(), Var::from_tensor(&t)?);
        }
        let varmap = self.varmap.clone();
        let device = self.device.clone();
        *self = Self::assemble(cfg, token_words, varmap, &device)?;
        Ok(())
    }

    /// Number of scalar parameters.
    pub fn parameter_count(&self) -> usize {
        self.named_vars()
            .map(|v| v.iter().map(|(_, t)| t.elem_count()).sum())
            .unwrap_or(0)
    }
}

/// Checks `token_words` against the config and truncates each list to [`MAX_WORD_PIECES`].
fn normalise_words(cfg: &SeqModelConfig, mut words: Vec<Vec<u32>>) -> Result<Vec<Vec<u32>>> {
    if words.len() != cfg.vocab_size {
        return Err(Error::invalid_input(format!(
            "token_words has {} entries, the vocabulary {}",
            words.len(),
            cfg.vocab_size
        )));
    }
    for (i, w) in words.iter_mut().enumerate() {
        w.truncate(MAX_WORD_PIECES);
        if cfg.word_buckets > 0 {
            if let Some(b) = w.iter().find(|&&b| b as usize >= cfg.word_buckets) {
                return Err(Error::invalid_input(format!(
                    "token {i} has word piece {b}, outside the {} buckets",
                    cfg.word_buckets
                )));
            }
        }
    }
    Ok(words)
}

fn build_word_index(
    cfg: &SeqModelConfig,
    words: &[Vec<u32>],
    device: &Device,
) -> Result<Option<WordIndex>> {
    if cfg.word_buckets == 0 {
        return Ok(None);
    }
    let mut bucket = Vec::new();
    let mut token = Vec::new();
    let mut weight = Vec::new();
    for (t, w) in words.iter().enumerate() {
        for &b in w {
            bucket.push(b);
            token.push(t as u32);
            weight.push(1.0 / w.len() as f32);
        }
    }
    if bucket.is_empty() {
        return Ok(None);
    }
    let n = bucket.len();
    Ok(Some(WordIndex {
        bucket: Tensor::from_vec(bucket, n, device)?,
        token: Tensor::from_vec(token, n, device)?,
        weight: Tensor::from_vec(weight, (n, 1), device)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_for(v: usize, buckets: usize) -> Vec<Vec<u32>> {
        (0..v)
            .map(|i| {
                if i < FIRST_TEMPLATE_TOKEN as usize {
                    Vec::new()
                } else {
                    word_pieces(&format!("event{} kind{} <*> 42", i, i % 3), buckets)
                }
            })
            .collect()
    }

    #[test]
    fn word_pieces_split_hash_and_skip() {
        let a = word_pieces("Connection refused from <*> port 8080", 4096);
        assert_eq!(a.len(), 4); // connection, refused, from, port
        assert_eq!(
            a,
            word_pieces("connection REFUSED from <*> port 9", 4096)[..4].to_vec()
        );
        assert_eq!(
            split_words("HTTPServer connectionRefused x2Y"),
            vec!["http", "server", "connection", "refused", "x2", "y"]
        );
        assert!(word_pieces("<*> 123 456", 4096).is_empty());
        assert!(word_pieces("anything", 0).is_empty());
        let many = word_pieces("a b c d e f g h i j k", 1 << 20);
        assert_eq!(many.len(), MAX_WORD_PIECES);
        assert!(word_pieces("alpha beta", 7).iter().all(|&b| b < 7));
    }

    /// The fused CPU kernels match the composed candle ops, values and gradients.
    #[test]
    fn fused_kernels_match_composed_ops() -> Result<()> {
        let dev = Device::Cpu;
        let mut rng = SplitMix64::new(3);
        let mut randn = |shape: &[usize]| -> Result<Var> {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            Ok(Var::from_tensor(&Tensor::from_vec(v, shape, &dev)?)?)
        };
        let cfg = SeqModelConfig::tiny(8);
        let (b, h, l, hd) = (2, 3, 7, cfg.head_dim());
        let x = randn(&[b, h, l, hd])?;
        let w = randn(&[hd])?;
        let bias = randn(&[hd])?;
        let probe = Tensor::from_vec(
            (0..b * h * l * hd)
                .map(|i| ((i * 7) % 11) as f32 - 5.0)
                .collect::<Vec<f32>>(),
            (b, h, l, hd),
            &dev,
        )?;
        let rope = RopeTables::new(&cfg, l);
        let scores = randn(&[b, h, l, l])?;
        let sprobe = Tensor::from_vec(
            (0..b * h * l * l)
                .map(|i| ((i * 5) % 13) as f32 - 6.0)
                .collect::<Vec<f32>>(),
            (b, h, l, l),
            &dev,
        )?;
        type F<'a> = Box<dyn Fn(bool) -> Result<Tensor> + 'a>;
        let cases: Vec<(&str, F, Tensor)> = vec![
            (
                "ln",
                Box::new(|f| {
                    if f {
                        layer_norm(&x, &w, &bias)
                    } else {
                        layer_norm_composed(&x, &w, &bias)
                    }
                }),
                probe.clone(),
            ),
            (
                "gelu",
                Box::new(|f| {
                    if f {
                        gelu(&(x.as_tensor() * 3.0)?)
                    } else {
                        gelu_composed(&(x.as_tensor() * 3.0)?)
                    }
                }),
                probe.clone(),
            ),
            (
                "rope",
                Box::new(|f| {
                    if f {
                        apply_rope(&x, &rope)
                    } else {
                        apply_rope_composed(&x, &rope)
                    }
                }),
                probe.clone(),
            ),
            (
                "softmax",
                Box::new(|f| {
                    if f {
                        window_softmax(&scores, 0.7, 3)
                    } else {
                        window_softmax_composed(&scores, 0.7, 3)
                    }
                }),
                sprobe,
            ),
        ];
        for (name, f, pr) in cases {
            let (yf, yc) = (f(true)?, f(false)?);
            let diff = (&yf - &yc)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-5, "{name}: forward differs by {diff}");
            let gf = (yf * &pr)?.sum_all()?.backward()?;
            let gc = (yc * &pr)?.sum_all()?.backward()?;
            for v in [&x, &w, &bias, &scores] {
                match (gf.get(v.as_tensor()), gc.get(v.as_tensor())) {
                    (Some(a), Some(c)) => {
                        let d = (a - c)?.abs()?.max_all()?.to_scalar::<f32>()?;
                        let scale = c.abs()?.max_all()?.to_scalar::<f32>()?.max(1.0);
                        assert!(
                            d / scale < 1e-4,
                            "{name}: gradient differs by {d} (scale {scale})"
                        );
                    }
                    (None, None) => {}
                    _ => panic!("{name}: gradient present in one path only"),
                }
            }
        }
        Ok(())
    }

    #[test]
    fn config_validation() {
        assert!(SeqModelConfig::teacher(100).validate().is_ok());
        assert!(SeqModelConfig::student(100).validate().is_ok());
        assert!(SeqModelConfig::tiny(10).validate().is_ok());
        let mut c = SeqModelConfig::tiny(10);
        c.n_heads = 3;
        assert!(c.validate().is_err());
        let mut c = SeqModelConfig::tiny(10);
        c.window = 0;
        assert!(c.validate().is_err());
        assert!(SeqModelConfig::tiny(2).validate().is_err());
    }

    #[test]
    fn safetensors_bytes_lays_out_tensors_and_refuses_bad_shapes() -> Result<()> {
        let tensors = vec![
            ("b".to_string(), vec![2], vec![1.0f32, 2.0]),
            ("a".to_string(), vec![1, 1], vec![3.0f32]),
        ];
        let bytes = safetensors_bytes(&tensors, "test")?;
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
        assert_eq!(header["b"]["data_offsets"], serde_json::json!([0, 8]));
        assert_eq!(header["a"]["data_offsets"], serde_json::json!([8, 12]));
        assert_eq!(header["__metadata__"]["format"], "test");
        assert_eq!(&bytes[8 + header_len + 8..], &3.0f32.to_le_bytes());
        let bad = vec![("c".to_string(), vec![3], vec![1.0f32])];
        assert!(safetensors_bytes(&bad, "test").is_err());
        Ok(())
    }

    #[test]
    fn forward_shapes_masks_and_bytes_roundtrip() -> Result<()> {
        let cfg = SeqModelConfig::tiny(12);
        let dev = Device::Cpu;
        let m = SeqModel::new(cfg.clone(), words_for(12, cfg.word_buckets), &dev, 5)?;
        let ids = Tensor::from_vec(vec![2u32, 4, 5, 6, 2, 7, 7, 0], (2, 4), &dev)?;
        let logits = m.forward(&ids)?;
        assert_eq!(logits.dims(), &[2, 4, 12]);
        let row = logits.get(0)?.get(1)?.to_vec1::<f32>()?;
        assert_eq!(row[PAD as usize], row[BOS as usize]);
        assert!(row[PAD as usize] < -1e8);
        let nll = m.sequence_nll(&[4, 5, 99, 6], true)?;
        assert_eq!(nll.len(), 5);
        assert!(nll.iter().all(|x| x.is_finite() && *x > 0.0));
        let bytes = m.to_bytes()?;
        let m2 = SeqModel::from_bytes(&bytes, cfg.clone(), words_for(12, cfg.word_buckets), &dev)?;
        assert_eq!(nll, m2.sequence_nll(&[4, 5, 99, 6], true)?);
        assert_eq!(m.parameter_count(), m2.parameter_count());
        let mut wrong = cfg.clone();
        wrong.d_model = 16;
        assert!(SeqModel::from_bytes(&bytes, wrong, words_for(12, 64), &dev).is_err());
        assert!(SeqModel::from_bytes(&bytes[..100], cfg, words_for(12, 64), &dev).is_err());
        // Same seed, same weights.
        let m3 = SeqModel::new(SeqModelConfig::tiny(12), words_for(12, 64), &dev, 5)?;
        assert_eq!(m3.to_bytes()?, bytes);
        Ok(())
    }

    #[test]
    fn grow_vocab_keeps_old_rows() -> Result<()> {
        let cfg = SeqModelConfig::tiny(10);
        let dev = Device::Cpu;
        let mut m = SeqModel::new(cfg, words_for(10, 64), &dev, 1)?;
        let old_e = m.embeddings()?.to_vec2::<f32>()?;
        let old_nll = m.sequence_nll(&[4, 5, 6], false)?;
        m.grow_vocab(words_for(15, 64), 3)?;
        assert_eq!(m.config().vocab_size, 15);
        let new_e = m.embeddings()?.to_vec2::<f32>()?;
        assert_eq!(new_e.len(), 15);
        assert_eq!(&new_e[..10], &old_e[..]);
        // The new tokens' embeddings are their words' mean (id rows start at zero): not all zero.
        assert!(new_e[12].iter().any(|x| *x != 0.0));
        // Old tokens' relative scores change only by the new tokens' probability mass.
        let new_nll = m.sequence_nll(&[4, 5, 6], false)?;
        for (a, b) in old_nll.iter().zip(&new_nll) {
            assert!(b >= a);
        }
        assert!(m.grow_vocab(words_for(12, 64), 3).is_err());
        Ok(())
    }
}
