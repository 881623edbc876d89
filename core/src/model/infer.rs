//! The exact incremental inference engine: the hot path of per-log scoring.
//!
//! [`InferenceModel`] holds plain f32 copies of a [`SeqModel`]'s weights (no candle op per token); a
//! [`SessionState`] holds, per layer, a ring buffer of the keys and values of the session's last
//! `window` positions (rotary positions applied at the absolute position, so slots stay valid as the
//! window slides) and the final hidden state of the last position. One [`InferenceModel::observe`]
//! scores a token against the model's next-token distribution and advances the session by one
//! position; since every layer attends to a sliding window with relative positions, the result equals
//! the full recomputation [`SeqModel::sequence_nll`] however long the session.
//!
//! Matrix products go through `gemm` (one `[B, d] × [d, n]` product per weight for a batch of
//! sessions); the transcendental functions of the hot loop (softmax, GELU) use a vectorisable `exp`
//! with ~1e-7 relative error. Scratch buffers are per thread, so a step allocates nothing but the
//! caller's `top` list.

use std::cell::RefCell;

use crate::error::{Error, Result};
use crate::model::transformer::{
    canonical_token, fast_exp, gelu_f32, rope_angles, SeqModel, SeqModelConfig, BOS, EOS, LN_EPS,
    PAD,
};

/// The score of one token under the model's next-token distribution (PAD and BOS excluded).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenScore {
    /// Negative log-likelihood (natural log) of the token.
    pub nll: f32,
    /// Probability of the token, `exp(-nll)`.
    pub prob: f32,
    /// 1 + the number of tokens strictly more likely than this one (1 = most likely).
    pub rank: u32,
    /// The `top_k` most likely tokens with their probabilities, most likely first.
    pub top: Vec<(u32, f32)>,
}

/// The per-session incremental state: the key/value ring buffers of every layer and the final hidden
/// state of the last position. `Clone` to fork a session.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionState {
    /// Number of positions fed so far (BOS included); the next token goes to this position.
    pos: u64,
    /// `[n_layers][2 (k, v)][window][d_model]`.
    kv: Vec<f32>,
    /// Final (normalised) hidden state of the last position: the next token's logits are `h · Eᵀ + b`.
    h: Vec<f32>,
}

impl SessionState {
    /// Bytes held by this state (its buffers plus the struct itself).
    pub fn memory_bytes(&self) -> usize {
        (self.kv.len() + self.h.len()) * std::mem::size_of::<f32>() + std::mem::size_of::<Self>()
    }

    /// Number of tokens fed so far, BOS included.
    pub fn position(&self) -> u64 {
        self.pos
    }
}

#[derive(Clone, Debug)]
struct Layer {
    ln1_w: Vec<f32>,
    ln1_b: Vec<f32>,
    wqkv: Vec<f32>,
    bqkv: Vec<f32>,
    wo: Vec<f32>,
    bo: Vec<f32>,
    ln2_w: Vec<f32>,
    ln2_b: Vec<f32>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

impl Layer {
    fn floats(&self) -> usize {
        [
            &self.ln1_w,
            &self.ln1_b,
            &self.wqkv,
            &self.bqkv,
            &self.wo,
            &self.bo,
            &self.ln2_w,
            &self.ln2_b,
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
        ]
        .iter()
        .map(|v| v.len())
        .sum()
    }
}

/// Plain-f32 weights of a [`SeqModel`] for incremental scoring. Immutable after build, `Send + Sync`.
#[derive(Clone, Debug)]
pub struct InferenceModel {
    cfg: SeqModelConfig,
    d: usize,
    heads: usize,
    hd: usize,
    window: usize,
    vocab: usize,
    ff: usize,
    /// Token embeddings `[vocab, d]` (ids and words folded together).
    emb: Vec<f32>,
    /// The same, transposed `[d, vocab]`: the output head.
    emb_t: Vec<f32>,
    /// Output bias `[vocab]`, PAD and BOS at -inf.
    bias: Vec<f32>,
    layers: Vec<Layer>,
    lnf_w: Vec<f32>,
    lnf_b: Vec<f32>,
    inv_freq: Vec<f64>,
    start: SessionState,
}

/// Per-thread scratch buffers, grown on demand and reused across steps and models.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    hid: Vec<f32>,
    logits: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
    att: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn grow(v: &mut Vec<f32>, n: usize) {
    if v.len() < n {
        v.resize(n, 0.0);
    }
}

fn to_vec(t: &candle_core::Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

impl InferenceModel {
    /// Extracts the weights of `m` (computing the folded token embeddings once).
    pub fn from_model(m: &SeqModel) -> Result<Self> {
        let cfg = m.config().clone();
        cfg.validate()?;
        let d = cfg.d_model;
        let vocab = cfg.vocab_size;
        let net = m.net();
        let emb = to_vec(&m.embeddings()?)?;
        if emb.len() != vocab * d {
            return Err(Error::model("embedding matrix has an unexpected size"));
        }
        let mut emb_t = vec![0f32; vocab * d];
        for v in 0..vocab {
            for j in 0..d {
                emb_t[j * vocab + v] = emb[v * d + j];
            }
        }
        let mut bias = to_vec(&net.out_bias)?;
        bias[PAD as usize] = f32::NEG_INFINITY;
        bias[BOS as usize] = f32::NEG_INFINITY;
        let layers = net
            .blocks
            .iter()
            .map(|b| {
                Ok(Layer {
                    ln1_w: to_vec(&b.ln1_w)?,
                    ln1_b: to_vec(&b.ln1_b)?,
                    wqkv: to_vec(&b.wqkv)?,
                    bqkv: to_vec(&b.bqkv)?,
                    wo: to_vec(&b.wo)?,
                    bo: to_vec(&b.bo)?,
                    ln2_w: to_vec(&b.ln2_w)?,
                    ln2_b: to_vec(&b.ln2_b)?,
                    w1: to_vec(&b.w1)?,
                    b1: to_vec(&b.b1)?,
                    w2: to_vec(&b.w2)?,
                    b2: to_vec(&b.b2)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut me = Self {
            d,
            heads: cfg.n_heads,
            hd: cfg.head_dim(),
            window: cfg.window,
            vocab,
            ff: cfg.d_ff,
            emb,
            emb_t,
            bias,
            layers,
            lnf_w: to_vec(&net.lnf_w)?,
            lnf_b: to_vec(&net.lnf_b)?,
            inv_freq: rope_angles(&cfg),
            start: SessionState {
                pos: 0,
                kv: vec![0.0; cfg.n_layers * 2 * cfg.window * d],
                h: vec![0.0; d],
            },
            cfg,
        };
        let mut start = me.start.clone();
        me.advance(&mut [&mut start], &[BOS]);
        me.start = start;
        Ok(me)
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &SeqModelConfig {
        &self.cfg
    }

    /// Bytes held by the weights.
    pub fn memory_bytes(&self) -> usize {
        let floats = self.emb.len()
            + self.emb_t.len()
            + self.bias.len()
            + self.lnf_w.len()
            + self.lnf_b.len()
            + self.layers.iter().map(Layer::floats).sum::<usize>();
        floats * 4
            + self.inv_freq.len() * 8
            + self.start.memory_bytes()
            + std::mem::size_of::<Self>()
    }

    /// A new session's state after BOS: ready to score its first token.
    pub fn new_session(&self) -> SessionState {
        self.start.clone()
    }

    /// Scores `token` given the session's history, then feeds it. Out-of-range ids (and PAD/BOS)
    /// count as UNK. `top_k` most likely tokens are listed in the result.
    pub fn observe(&self, s: &mut SessionState, token: u32, top_k: usize) -> TokenScore {
        let mut out = self.observe_batch(&mut [s], &[token], top_k);
        out.pop().unwrap_or_else(|| TokenScore {
            nll: f32::NAN,
            prob: f32::NAN,
            rank: 0,
            top: Vec::new(),
        })
    }

    /// One batched step for distinct sessions: scores `tokens[i]` in `states[i]` and feeds it. Equal to
    /// calling [`InferenceModel::observe`] on each. Extra states or tokens beyond the shorter of the
    /// two are ignored.
    pub fn observe_batch(
        &self,
        states: &mut [&mut SessionState],
        tokens: &[u32],
        top_k: usize,
    ) -> Vec<TokenScore> {
        let n = states.len().min(tokens.len());
        let states = &mut states[..n];
        let toks: Vec<u32> = tokens[..n]
            .iter()
            .map(|&t| canonical_token(t, self.vocab))
            .collect();
        let scores = self.score(states, &toks, top_k);
        self.advance(states, &toks);
        scores
    }

    /// Scores EOS given the session's history, without advancing it (no `top` list).
    pub fn end_of_session(&self, s: &SessionState) -> TokenScore {
        self.end_of_session_top(s, 0)
    }

    /// [`InferenceModel::end_of_session`] with the `top_k` most likely tokens listed.
    pub fn end_of_session_top(&self, s: &SessionState, top_k: usize) -> TokenScore {
        let mut tmp = [s];
        let mut out = self.score_refs(&mut tmp, &[EOS], top_k);
        out.pop().unwrap_or_else(|| TokenScore {
            nll: f32::NAN,
            prob: f32::NAN,
            rank: 0,
            top: Vec::new(),
        })
    }

    fn score(
        &self,
        states: &mut [&mut SessionState],
        toks: &[u32],
        top_k: usize,
    ) -> Vec<TokenScore> {
        let mut refs: Vec<&SessionState> = states.iter().map(|s| &**s).collect();
        self.score_refs(&mut refs, toks, top_k)
    }

    /// Logits of the next token for each state, then the score of `toks[i]` in row `i`.
    fn score_refs(
        &self,
        states: &mut [&SessionState],
        toks: &[u32],
        top_k: usize,
    ) -> Vec<TokenScore> {
        let b = states.len();
        let (d, v) = (self.d, self.vocab);
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let sc = &mut *guard;
            grow(&mut sc.x, b * d);
            grow(&mut sc.logits, b * v);
            for (i, s) in states.iter().enumerate() {
                sc.x[i * d..(i + 1) * d].copy_from_slice(&s.h);
                sc.logits[i * v..(i + 1) * v].copy_from_slice(&self.bias);
            }
            matmul(
                &mut sc.logits[..b * v],
                &sc.x[..b * d],
                &self.emb_t,
                b,
                d,
                v,
                true,
            );
            (0..b)
                .map(|i| score_row(&sc.logits[i * v..(i + 1) * v], toks[i], top_k))
                .collect()
        })
    }

    /// Feeds `toks[i]` to `states[i]`: one position through every layer, updating the caches and `h`.
    fn advance(&self, states: &mut [&mut SessionState], toks: &[u32]) {
        let b = states.len();
        if b == 0 {
            return;
        }
        let (d, ff, hd, w) = (self.d, self.ff, self.hd, self.window);
        let half = hd / 2;
        let scale = 1.0 / (hd as f32).sqrt();
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let sc = &mut *guard;
            grow(&mut sc.x, b * d);
            grow(&mut sc.xn, b * d);
            grow(&mut sc.qkv, b * 3 * d);
            grow(&mut sc.ctx, b * d);
            grow(&mut sc.hid, b * ff);
            grow(&mut sc.cos, b * half);
            grow(&mut sc.sin, b * half);
            grow(&mut sc.att, w);
            for (i, (s, &t)) in states.iter().zip(toks).enumerate() {
                let t = t as usize;
                sc.x[i * d..(i + 1) * d].copy_from_slice(&self.emb[t * d..(t + 1) * d]);
                for (j, f) in self.inv_freq.iter().enumerate() {
                    let (sn, cs) = (s.pos as f64 * f).sin_cos();
                    sc.cos[i * half + j] = cs as f32;
                    sc.sin[i * half + j] = sn as f32;
                }
            }
            let x = &mut sc.x[..b * d];
            let xn = &mut sc.xn[..b * d];
            let qkv = &mut sc.qkv[..b * 3 * d];
            let ctx = &mut sc.ctx[..b * d];
            let hid = &mut sc.hid[..b * ff];
            for (li, ly) in self.layers.iter().enumerate() {
                // Attention sub-block.
                layer_norm_rows(x, xn, &ly.ln1_w, &ly.ln1_b, d);
                fill_rows(qkv, &ly.bqkv);
                matmul(qkv, xn, &ly.wqkv, b, d, 3 * d, true);
                for (i, s) in states.iter_mut().enumerate() {
                    let row = &mut qkv[i * 3 * d..(i + 1) * 3 * d];
                    let (cos, sin) = (
                        &sc.cos[i * half..(i + 1) * half],
                        &sc.sin[i * half..(i + 1) * half],
                    );
                    let (q, rest) = row.split_at_mut(d);
                    let (k, v) = rest.split_at_mut(d);
                    for h in 0..self.heads {
                        rope(&mut q[h * hd..(h + 1) * hd], cos, sin);
                        rope(&mut k[h * hd..(h + 1) * hd], cos, sin);
                    }
                    let slot = (s.pos % w as u64) as usize;
                    let base = li * 2 * w * d;
                    let kc = base + slot * d;
                    let vc = base + w * d + slot * d;
                    s.kv[kc..kc + d].copy_from_slice(k);
                    s.kv[vc..vc + d].copy_from_slice(v);
                    let n_valid = ((s.pos + 1).min(w as u64)) as usize;
                    let keys = &s.kv[base..base + w * d];
                    let vals = &s.kv[base + w * d..base + 2 * w * d];
                    let out = &mut ctx[i * d..(i + 1) * d];
                    let att = &mut sc.att[..n_valid];
                    for h in 0..self.heads {
                        let qh = &q[h * hd..(h + 1) * hd];
                        let mut mx = f32::NEG_INFINITY;
                        for (j, a) in att.iter_mut().enumerate() {
                            let kh = &keys[j * d + h * hd..j * d + (h + 1) * hd];
                            *a = dot(qh, kh) * scale;
                            mx = mx.max(*a);
                        }
                        let mut sum = 0.0;
                        for a in att.iter_mut() {
                            *a = fast_exp(*a - mx);
                            sum += *a;
                        }
                        let inv = 1.0 / sum;
                        let oh = &mut out[h * hd..(h + 1) * hd];
                        oh.fill(0.0);
                        for (j, a) in att.iter().enumerate() {
                            let vh = &vals[j * d + h * hd..j * d + (h + 1) * hd];
                            let wgt = a * inv;
                            for (o, vv) in oh.iter_mut().zip(vh) {
                                *o += wgt * vv;
                            }
                        }
                    }
                }
                add_bias_rows(x, &ly.bo);
                matmul(x, ctx, &ly.wo, b, d, d, true);
                // Feed-forward sub-block.
                layer_norm_rows(x, xn, &ly.ln2_w, &ly.ln2_b, d);
                fill_rows(hid, &ly.b1);
                matmul(hid, xn, &ly.w1, b, d, ff, true);
                gelu_in_place(hid);
                add_bias_rows(x, &ly.b2);
                matmul(x, hid, &ly.w2, b, ff, d, true);
            }
            layer_norm_rows(x, xn, &self.lnf_w, &self.lnf_b, d);
            for (i, s) in states.iter_mut().enumerate() {
                s.h.copy_from_slice(&xn[i * d..(i + 1) * d]);
                s.pos += 1;
            }
        });
    }
}

/// nll, probability, rank and top-k of `tok` for one row of logits (PAD/BOS at -inf).
fn score_row(logits: &[f32], tok: u32, top_k: usize) -> TokenScore {
    let mx = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let sum: f32 = logits.iter().map(|&l| fast_exp(l - mx)).sum();
    let lse = mx + sum.ln();
    let lt = logits[tok as usize];
    let nll = lse - lt;
    let rank = 1 + logits.iter().filter(|&&l| l > lt).count() as u32;
    let top = top_k_of(logits, top_k)
        .into_iter()
        .map(|(id, l)| (id, (l - lse).exp()))
        .collect();
    TokenScore {
        nll,
        prob: (-nll).exp(),
        rank,
        top,
    }
}

/// The `k` largest logits (ties: lower id first), skipping PAD and BOS.
fn top_k_of(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let k = k.min(logits.len().saturating_sub(2));
    let mut top: Vec<(u32, f32)> = Vec::with_capacity(k);
    if k == 0 {
        return top;
    }
    for (i, &l) in logits.iter().enumerate() {
        if i == PAD as usize || i == BOS as usize {
            continue;
        }
        if top.len() == k {
            match top.last() {
                Some(&(_, worst)) if l > worst => {
                    top.pop();
                }
                _ => continue,
            }
        }
        let at = top.partition_point(|&(_, x)| x >= l);
        top.insert(at, (i as u32, l));
    }
    top
}

/// `out[m×n] = (accumulate ? out : 0) + a[m×k] · b[k×n]`, all dense row-major.
fn matmul(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, accumulate: bool) {
    assert!(out.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    // SAFETY: the assert above guarantees every element gemm reads (a: m×k, b: k×n, row strides k
    // and n, column stride 1) and writes (out: m×n) lies inside its slice; `out` is borrowed mutably,
    // so it does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

fn fill_rows(out: &mut [f32], row: &[f32]) {
    for r in out.chunks_exact_mut(row.len()) {
        r.copy_from_slice(row);
    }
}

fn add_bias_rows(out: &mut [f32], row: &[f32]) {
    for r in out.chunks_exact_mut(row.len()) {
        for (o, b) in r.iter_mut().zip(row) {
            *o += b;
        }
    }
}

fn layer_norm_rows(x: &[f32], out: &mut [f32], w: &[f32], b: &[f32], d: usize) {
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let mean = xr.iter().sum::<f32>() / d as f32;
        let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / (var + LN_EPS as f32).sqrt();
        for (((o, &v), &ww), &bb) in or.iter_mut().zip(xr).zip(w).zip(b) {
            *o = (v - mean) * inv * ww + bb;
        }
    }
}

fn rope(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    let (x1, x2) = x.split_at_mut(half);
    for i in 0..half {
        let (a, b) = (x1[i], x2[i]);
        x1[i] = a * cos[i] - b * sin[i];
        x2[i] = b * cos[i] + a * sin[i];
    }
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn gelu_in_place(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = gelu_f32(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::transformer::{word_pieces, FIRST_TEMPLATE_TOKEN, UNK};
    use crate::util::rng::SplitMix64;
    use candle_core::Device;

    fn words(v: usize, buckets: usize) -> Vec<Vec<u32>> {
        (0..v)
            .map(|i| {
                if i < FIRST_TEMPLATE_TOKEN as usize {
                    Vec::new()
                } else {
                    word_pieces(&format!("w{} group{} <*>", i, i % 4), buckets)
                }
            })
            .collect()
    }

    /// Scales every weight matrix so that attention and logits are far from uniform (a sterner test
    /// than the small initialisation).
    fn sharpen(m: &SeqModel, factor: f64) -> Result<()> {
        for (name, var) in m.named_vars()? {
            if name.ends_with("weight") && var.as_tensor().rank() == 2 || name.starts_with("tok.") {
                var.set(&(var.as_tensor() * factor)?)?;
            }
        }
        Ok(())
    }

    #[test]
    fn fast_exp_is_accurate() {
        for i in -8000..8000 {
            let x = i as f32 / 100.0;
            let (a, b) = (fast_exp(x), x.exp());
            assert!(((a - b) / b).abs() < 3e-7, "{x}: {a} vs {b}");
        }
        assert!(fast_exp(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn incremental_equals_full_recompute() -> Result<()> {
        let dev = Device::Cpu;
        for (seed, window, buckets) in [(1u64, 4usize, 64usize), (2, 8, 0), (3, 5, 16)] {
            let mut cfg = SeqModelConfig::tiny(11);
            cfg.window = window;
            cfg.word_buckets = buckets;
            let m = SeqModel::new(cfg, words(11, buckets), &dev, seed)?;
            sharpen(&m, 12.0)?;
            let im = InferenceModel::from_model(&m)?;
            let mut rng = SplitMix64::new(seed + 100);
            let len = 3 * window + 1;
            // Include out-of-range and special ids: they count as UNK everywhere.
            let toks: Vec<u32> = (0..len).map(|_| rng.below(13) as u32).collect();
            let full = m.sequence_nll(&toks, true)?;
            let spread = full.iter().fold(0f32, |a, &b| a.max(b))
                - full.iter().fold(f32::MAX, |a, &b| a.min(b));
            assert!(
                spread > 2.0,
                "weights too uniform for a stern test: {full:?}"
            );
            let mut s = im.new_session();
            for (i, &t) in toks.iter().enumerate() {
                let sc = im.observe(&mut s, t, 3);
                assert!(
                    (sc.nll - full[i]).abs() < 1e-4,
                    "pos {i}: {} vs {}",
                    sc.nll,
                    full[i]
                );
                assert!((sc.prob - (-full[i]).exp()).abs() < 1e-4);
                assert!(sc.rank >= 1 && sc.top.len() == 3);
                assert!(sc.top.iter().all(|&(id, _)| id != PAD && id != BOS));
                assert!(sc.top[0].1 >= sc.top[1].1 && sc.top[1].1 >= sc.top[2].1);
            }
            let eos = im.end_of_session(&s);
            assert!((eos.nll - full[len]).abs() < 1e-4);
            assert_eq!(s.position(), len as u64 + 1);
            // Incomplete-session reference agrees too.
            let part = m.sequence_nll(&toks[..len - 2], false)?;
            assert!(part.iter().zip(&full).all(|(a, b)| (a - b).abs() < 1e-5));
        }
        Ok(())
    }

    #[test]
    fn batch_equals_single_and_ranks_are_consistent() -> Result<()> {
        let dev = Device::Cpu;
        let m = SeqModel::new(SeqModelConfig::tiny(9), words(9, 64), &dev, 7)?;
        let im = InferenceModel::from_model(&m)?;
        let mut rng = SplitMix64::new(9);
        let n = 5;
        let mut single: Vec<SessionState> = (0..n).map(|_| im.new_session()).collect();
        let mut batched = single.clone();
        for step in 0..20 {
            // Sessions of different lengths: session i starts at step i.
            let active: Vec<usize> = (0..n).filter(|&i| step >= i).collect();
            let toks: Vec<u32> = active.iter().map(|_| rng.below(10) as u32).collect();
            let want: Vec<TokenScore> = active
                .iter()
                .zip(&toks)
                .map(|(&i, &t)| im.observe(&mut single[i], t, 4))
                .collect();
            let mut refs: Vec<&mut SessionState> = batched
                .iter_mut()
                .enumerate()
                .filter(|(i, _)| active.contains(i))
                .map(|(_, s)| s)
                .collect();
            let got = im.observe_batch(&mut refs, &toks, 4);
            for (a, b) in want.iter().zip(&got) {
                assert!((a.nll - b.nll).abs() < 1e-5);
                assert_eq!(a.rank, b.rank);
                let ids_a: Vec<u32> = a.top.iter().map(|x| x.0).collect();
                let ids_b: Vec<u32> = b.top.iter().map(|x| x.0).collect();
                assert_eq!(ids_a, ids_b);
                // rank 1 <=> the token is the top-1 (or tied with it).
                if a.rank == 1 {
                    assert!((a.prob - a.top[0].1).abs() < 1e-6);
                }
            }
        }
        // A huge top_k lists every token but PAD and BOS; probabilities sum to 1.
        let mut s = im.new_session();
        let sc = im.observe(&mut s, UNK, 100);
        assert_eq!(sc.top.len(), 7);
        let total: f32 = sc.top.iter().map(|x| x.1).sum();
        assert!((total - 1.0).abs() < 1e-5);
        assert!(s.memory_bytes() >= (2 * 2 * 6 * 32 + 32) * 4);
        assert!(im.memory_bytes() > 0);
        Ok(())
    }
}
