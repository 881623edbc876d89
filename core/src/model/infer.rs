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
//! Matrix products go through `gemm` (one `[B, d] × [d, n]` product per weight for a batch of 4 or
//! more sessions) or a register-blocked kernel for 1-3 rows; the output bias is folded into the head
//! matrix. The transcendental functions of the hot loop (softmax, GELU) use a vectorisable `exp` with
//! ~1e-7 relative error, shared with the training kernels. The hot loops are compiled for AVX-512 and
//! AVX2+FMA too and chosen at run time (the binary still runs on any x86-64). Scratch buffers are per
//! thread, so a step allocates nothing but the result and the caller's `top` list.

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
    /// The output head `[d + 1, vocab]`: the embeddings transposed, then the output bias as the
    /// last row (PAD and BOS at [`HEAD_MASKED`]), so that `[h, 1] · head` gives the logits.
    head: Vec<f32>,
    layers: Vec<Layer>,
    lnf_w: Vec<f32>,
    lnf_b: Vec<f32>,
    inv_freq: Vec<f64>,
    start: SessionState,
}

/// The output bias of PAD and BOS in the engine: finite (a matrix product may multiply it by 0) but
/// low enough that `exp` gives exactly 0 and no real token ranks below it.
const HEAD_MASKED: f32 = -1.0e30;

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
        let net = m.net();
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
        Self::from_parts(
            m.config().clone(),
            to_vec(&m.embeddings()?)?,
            to_vec(&net.out_bias)?,
            layers,
            to_vec(&net.lnf_w)?,
            to_vec(&net.lnf_b)?,
        )
    }

    /// Builds the engine straight from the bytes of [`SeqModel::to_bytes`], without candle tensors:
    /// the cold load of a student. The token embeddings are the id embeddings as stored, which is
    /// what a model without word-piece embeddings in use (a student) computes.
    pub fn from_weight_bytes(bytes: &[u8], cfg: SeqModelConfig) -> Result<Self> {
        let mut w = SeqModel::read_weights(bytes, &cfg)?;
        let mut take = |name: String| {
            w.remove(&name)
                .ok_or_else(|| Error::model(format!("model weights lack tensor {name}")))
        };
        let layers = (0..cfg.n_layers)
            .map(|i| {
                let mut t = |n: &str| take(format!("blocks.{i}.{n}"));
                Ok(Layer {
                    ln1_w: t("ln1.weight")?,
                    ln1_b: t("ln1.bias")?,
                    wqkv: t("attn.qkv.weight")?,
                    bqkv: t("attn.qkv.bias")?,
                    wo: t("attn.out.weight")?,
                    bo: t("attn.out.bias")?,
                    ln2_w: t("ln2.weight")?,
                    ln2_b: t("ln2.bias")?,
                    w1: t("ffn.up.weight")?,
                    b1: t("ffn.up.bias")?,
                    w2: t("ffn.down.weight")?,
                    b2: t("ffn.down.bias")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let emb = take("tok.ids".into())?;
        let bias = take("head.bias".into())?;
        let lnf_w = take("final_ln.weight".into())?;
        let lnf_b = take("final_ln.bias".into())?;
        Self::from_parts(cfg, emb, bias, layers, lnf_w, lnf_b)
    }

    fn from_parts(
        cfg: SeqModelConfig,
        emb: Vec<f32>,
        bias: Vec<f32>,
        layers: Vec<Layer>,
        lnf_w: Vec<f32>,
        lnf_b: Vec<f32>,
    ) -> Result<Self> {
        cfg.validate()?;
        let d = cfg.d_model;
        let vocab = cfg.vocab_size;
        if emb.len() != vocab * d || bias.len() != vocab {
            return Err(Error::model("embedding matrix has an unexpected size"));
        }
        let mut head = vec![0f32; (d + 1) * vocab];
        for (v, row) in emb.chunks_exact(d).enumerate() {
            for (j, &x) in row.iter().enumerate() {
                head[j * vocab + v] = x;
            }
        }
        head[d * vocab..].copy_from_slice(&bias);
        head[d * vocab + PAD as usize] = HEAD_MASKED;
        head[d * vocab + BOS as usize] = HEAD_MASKED;
        let mut me = Self {
            d,
            heads: cfg.n_heads,
            hd: cfg.head_dim(),
            window: cfg.window,
            vocab,
            ff: cfg.d_ff,
            emb,
            head,
            layers,
            lnf_w,
            lnf_b,
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
            + self.head.len()
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
    /// two are ignored. A state made by a model of another shape is restarted (as after BOS) rather
    /// than misread.
    pub fn observe_batch(
        &self,
        states: &mut [&mut SessionState],
        tokens: &[u32],
        top_k: usize,
    ) -> Vec<TokenScore> {
        let n = states.len().min(tokens.len());
        let states = &mut states[..n];
        for s in states.iter_mut() {
            if !self.fits(s) {
                **s = self.new_session();
            }
        }
        let toks: Vec<u32> = tokens[..n]
            .iter()
            .map(|&t| canonical_token(t, self.vocab))
            .collect();
        let scores = self.score(states, &toks, top_k);
        self.advance(states, &toks);
        scores
    }

    /// Whether `s` has this model's buffer sizes (a state of another model is not).
    fn fits(&self, s: &SessionState) -> bool {
        s.kv.len() == self.start.kv.len() && s.h.len() == self.d
    }

    /// Scores EOS given the session's history, without advancing it (no `top` list).
    pub fn end_of_session(&self, s: &SessionState) -> TokenScore {
        self.end_of_session_top(s, 0)
    }

    /// [`InferenceModel::end_of_session`] with the `top_k` most likely tokens listed.
    pub fn end_of_session_top(&self, s: &SessionState, top_k: usize) -> TokenScore {
        let s = if self.fits(s) { s } else { &self.start };
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
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let sc = &mut *guard;
            match simd_level() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `simd_level` reports V4 only when the CPU has every feature `score_v4` enables.
                Simd::V4 => unsafe { self.score_v4(sc, states, toks, top_k) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `simd_level` reports V3 only when the CPU has every feature `score_v3` enables.
                Simd::V3 => unsafe { self.score_v3(sc, states, toks, top_k) },
                _ => self.score_impl(sc, states, toks, top_k),
            }
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,avx,fma,sse4.2,popcnt")]
    unsafe fn score_v4(
        &self,
        sc: &mut Scratch,
        states: &[&SessionState],
        toks: &[u32],
        top_k: usize,
    ) -> Vec<TokenScore> {
        self.score_impl(sc, states, toks, top_k)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx,fma,sse4.2,popcnt")]
    unsafe fn score_v3(
        &self,
        sc: &mut Scratch,
        states: &[&SessionState],
        toks: &[u32],
        top_k: usize,
    ) -> Vec<TokenScore> {
        self.score_impl(sc, states, toks, top_k)
    }

    #[inline(always)]
    fn score_impl(
        &self,
        sc: &mut Scratch,
        states: &[&SessionState],
        toks: &[u32],
        top_k: usize,
    ) -> Vec<TokenScore> {
        let b = states.len();
        let (d, v) = (self.d, self.vocab);
        let d1 = d + 1;
        grow(&mut sc.x, b * d1);
        grow(&mut sc.logits, b * v);
        for (i, s) in states.iter().enumerate() {
            sc.x[i * d1..i * d1 + d].copy_from_slice(&s.h);
            sc.x[i * d1 + d] = 1.0;
        }
        let logits = &mut sc.logits[..b * v];
        matmul(logits, &sc.x[..b * d1], &self.head, b, d1, v, false);
        let mut out = Vec::with_capacity(b);
        for (row, &tok) in logits.chunks_exact(v).zip(toks) {
            out.push(score_row(row, tok, top_k));
        }
        out
    }

    /// Feeds `toks[i]` to `states[i]`: one position through every layer, updating the caches and `h`.
    fn advance(&self, states: &mut [&mut SessionState], toks: &[u32]) {
        if states.is_empty() {
            return;
        }
        SCRATCH.with(|cell| {
            let mut guard = cell.borrow_mut();
            let sc = &mut *guard;
            match simd_level() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `simd_level` reports V4 only when the CPU has every feature `advance_v4` enables.
                Simd::V4 => unsafe { self.advance_v4(sc, states, toks) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `simd_level` reports V3 only when the CPU has every feature `advance_v3` enables.
                Simd::V3 => unsafe { self.advance_v3(sc, states, toks) },
                _ => self.advance_impl(sc, states, toks),
            }
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,avx,fma,sse4.2,popcnt")]
    unsafe fn advance_v4(&self, sc: &mut Scratch, states: &mut [&mut SessionState], toks: &[u32]) {
        self.advance_impl(sc, states, toks)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx,fma,sse4.2,popcnt")]
    unsafe fn advance_v3(&self, sc: &mut Scratch, states: &mut [&mut SessionState], toks: &[u32]) {
        self.advance_impl(sc, states, toks)
    }

    #[inline(always)]
    fn advance_impl(&self, sc: &mut Scratch, states: &mut [&mut SessionState], toks: &[u32]) {
        let b = states.len();
        let (d, ff, hd, w) = (self.d, self.ff, self.hd, self.window);
        let half = hd / 2;
        let scale = 1.0 / (hd as f32).sqrt();
        {
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
        }
    }
}

/// The widest instruction set the hot loops are compiled for on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Simd {
    /// AVX-512 (x86-64-v4).
    V4,
    /// AVX2 + FMA (x86-64-v3).
    V3,
    /// Baseline.
    Scalar,
}

fn simd_level() -> Simd {
    #[cfg(test)]
    if tests::FORCE_SCALAR.with(|f| f.get()) {
        return Simd::Scalar;
    }
    static LEVEL: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let v3 = is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("avx")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("sse4.2")
                && is_x86_feature_detected!("popcnt");
            let v4 = v3
                && is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512dq");
            if v4 {
                return Simd::V4;
            }
            if v3 {
                return Simd::V3;
            }
        }
        Simd::Scalar
    })
}

const LANES: usize = 16;

/// Maximum (vectorisable: independent lanes, then a tree reduction).
#[inline(always)]
fn max_of(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut it = xs.chunks_exact(LANES);
    for c in &mut it {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    for (i, &v) in it.remainder().iter().enumerate() {
        acc[i] = if v > acc[i] { v } else { acc[i] };
    }
    let mut w = LANES / 2;
    while w > 0 {
        for i in 0..w {
            acc[i] = if acc[i + w] > acc[i] {
                acc[i + w]
            } else {
                acc[i]
            };
        }
        w /= 2;
    }
    acc[0]
}

/// Whether any element of a full block exceeds `t` (one vector comparison).
#[inline(always)]
fn any_greater(block: &[f32; LANES], t: f32) -> bool {
    let mut any = false;
    for &x in block {
        any |= x > t;
    }
    any
}

/// `Σ exp(x - mx)` (vectorisable).
#[inline(always)]
fn sum_exp(xs: &[f32], mx: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut it = xs.chunks_exact(LANES);
    for c in &mut it {
        for i in 0..LANES {
            acc[i] += fast_exp(c[i] - mx);
        }
    }
    let rest: f32 = it.remainder().iter().map(|&x| fast_exp(x - mx)).sum();
    acc.iter().sum::<f32>() + rest
}

/// Number of elements strictly greater than `t` (vectorisable).
#[inline(always)]
fn count_greater(xs: &[f32], t: f32) -> usize {
    let mut acc = [0u32; LANES];
    let mut it = xs.chunks_exact(LANES);
    for c in &mut it {
        for i in 0..LANES {
            acc[i] += (c[i] > t) as u32;
        }
    }
    let rest = it.remainder().iter().filter(|&&x| x > t).count();
    acc.iter().map(|&c| c as usize).sum::<usize>() + rest
}

/// Sum (vectorisable).
#[inline(always)]
fn sum_of(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut it = xs.chunks_exact(LANES);
    for c in &mut it {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
}

/// `Σ (x - m)²` (vectorisable).
#[inline(always)]
fn sum_sq_dev(xs: &[f32], m: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut it = xs.chunks_exact(LANES);
    for c in &mut it {
        for i in 0..LANES {
            let d = c[i] - m;
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>()
        + it.remainder()
            .iter()
            .map(|x| (x - m) * (x - m))
            .sum::<f32>()
}

/// nll, probability, rank and top-k of `tok` for one row of logits (PAD/BOS at -inf).
#[inline(always)]
fn score_row(logits: &[f32], tok: u32, top_k: usize) -> TokenScore {
    let mx = max_of(logits);
    let lse = mx + sum_exp(logits, mx).ln();
    let lt = logits[tok as usize];
    let nll = lse - lt;
    let rank = 1 + count_greater(logits, lt) as u32;
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

/// The `k` largest logits (ties: lower id first), skipping PAD and BOS. Blocks of logits whose
/// maximum cannot enter the list are skipped with one vectorised comparison.
#[inline(always)]
fn top_k_of(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let k = k.min(logits.len().saturating_sub(2));
    let mut top: Vec<(u32, f32)> = Vec::with_capacity(k);
    if k == 0 {
        return top;
    }
    for (c, chunk) in logits.chunks(LANES).enumerate() {
        if top.len() == k {
            if let (Some(&(_, worst)), Ok(block)) = (top.last(), <&[f32; LANES]>::try_from(chunk)) {
                if !any_greater(block, worst) {
                    continue;
                }
            }
        }
        for (j, &l) in chunk.iter().enumerate() {
            let i = c * LANES + j;
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
    }
    top
}

/// Batches below this many rows use [`matmul_small`]; larger ones `gemm` (whose packing pays off
/// from about 4 rows on).
const GEMM_MIN_ROWS: usize = 4;

/// `out[m×n] = (accumulate ? out : 0) + a[m×k] · b[k×n]`, all dense row-major.
#[inline(always)]
fn matmul(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, accumulate: bool) {
    assert!(out.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    if m < GEMM_MIN_ROWS {
        let mut r = 0;
        if !accumulate {
            out[..m * n].fill(0.0);
        }
        while r + 4 <= m {
            matmul_small::<4, 64>(
                &mut out[r * n..(r + 4) * n],
                &a[r * k..(r + 4) * k],
                b,
                k,
                n,
            );
            r += 4;
        }
        match m - r {
            1 => matmul_small::<1, 128>(&mut out[r * n..], &a[r * k..], b, k, n),
            2 => matmul_small::<2, 64>(&mut out[r * n..], &a[r * k..], b, k, n),
            3 => matmul_small::<3, 64>(&mut out[r * n..], &a[r * k..], b, k, n),
            _ => {}
        }
        return;
    }
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

/// `out[R×n] += a[R×k] · b[k×n]` for a few rows: blocks of `BLK` output columns per row stay in
/// registers while the weights stream by once for all `R` rows. Uses fused multiply-adds (a native
/// instruction in the AVX2/AVX-512 builds of the hot path).
#[inline(always)]
fn matmul_small<const R: usize, const BLK: usize>(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    k: usize,
    n: usize,
) {
    let mut j0 = 0;
    while j0 + BLK <= n {
        let mut acc = [[0f32; BLK]; R];
        for (r, acc_r) in acc.iter_mut().enumerate() {
            acc_r.copy_from_slice(&out[r * n + j0..r * n + j0 + BLK]);
        }
        for i in 0..k {
            let w: &[f32; BLK] = match b[i * n + j0..i * n + j0 + BLK].try_into() {
                Ok(w) => w,
                Err(_) => return,
            };
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let x = a[r * k + i];
                for t in 0..BLK {
                    acc_r[t] = x.mul_add(w[t], acc_r[t]);
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            out[r * n + j0..r * n + j0 + BLK].copy_from_slice(acc_r);
        }
        j0 += BLK;
    }
    if j0 < n {
        for r in 0..R {
            let y = &mut out[r * n + j0..r * n + n];
            for i in 0..k {
                let x = a[r * k + i];
                for (o, &wv) in y.iter_mut().zip(&b[i * n + j0..i * n + n]) {
                    *o += x * wv;
                }
            }
        }
    }
}

#[inline(always)]
fn fill_rows(out: &mut [f32], row: &[f32]) {
    for r in out.chunks_exact_mut(row.len()) {
        r.copy_from_slice(row);
    }
}

#[inline(always)]
fn add_bias_rows(out: &mut [f32], row: &[f32]) {
    for r in out.chunks_exact_mut(row.len()) {
        for (o, b) in r.iter_mut().zip(row) {
            *o += b;
        }
    }
}

#[inline(always)]
fn layer_norm_rows(x: &[f32], out: &mut [f32], w: &[f32], b: &[f32], d: usize) {
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let mean = sum_of(xr) / d as f32;
        let var = sum_sq_dev(xr, mean) / d as f32;
        let inv = 1.0 / (var + LN_EPS as f32).sqrt();
        for (((o, &v), &ww), &bb) in or.iter_mut().zip(xr).zip(w).zip(b) {
            *o = (v - mean) * inv * ww + bb;
        }
    }
}

#[inline(always)]
fn rope(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    let (x1, x2) = x.split_at_mut(half);
    for i in 0..half {
        let (a, b) = (x1[i], x2[i]);
        x1[i] = a * cos[i] - b * sin[i];
        x2[i] = b * cos[i] + a * sin[i];
    }
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut ia = a.chunks_exact(8);
    let mut ib = b.chunks_exact(8);
    for (ca, cb) in (&mut ia).zip(&mut ib) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    let rest: f32 = ia
        .remainder()
        .iter()
        .zip(ib.remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + rest
}

#[inline(always)]
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

    thread_local! {
        pub(super) static FORCE_SCALAR: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    #[test]
    fn scalar_and_simd_paths_agree() -> Result<()> {
        let dev = Device::Cpu;
        let m = SeqModel::new(SeqModelConfig::tiny(40), words(40, 64), &dev, 5)?;
        sharpen(&m, 8.0)?;
        let im = InferenceModel::from_model(&m)?;
        let mut rng = SplitMix64::new(1);
        let toks: Vec<u32> = (0..30).map(|_| rng.below(40) as u32).collect();
        let run = |scalar: bool, batch: usize| {
            FORCE_SCALAR.with(|f| f.set(scalar));
            let mut states: Vec<SessionState> = (0..batch).map(|_| im.new_session()).collect();
            let mut out = Vec::new();
            for &t in &toks {
                let mut refs: Vec<&mut SessionState> = states.iter_mut().collect();
                let tk = vec![t; batch];
                out.push(im.observe_batch(&mut refs, &tk, 3)[batch - 1].clone());
            }
            FORCE_SCALAR.with(|f| f.set(false));
            out
        };
        for batch in [1, 2, 5, 17] {
            let (a, b) = (run(true, batch), run(false, batch));
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x.nll - y.nll).abs() < 1e-4,
                    "batch {batch}: {} vs {}",
                    x.nll,
                    y.nll
                );
                assert_eq!(x.top.len(), y.top.len());
            }
        }
        Ok(())
    }

    #[test]
    fn loading_from_weight_bytes_equals_loading_through_candle() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = SeqModelConfig::tiny(40);
        let trained = SeqModel::new(cfg.clone(), words(40, 64), &dev, 9)?;
        sharpen(&trained, 6.0)?;
        let bytes = trained.to_bytes()?;
        // A student: no word pieces in use.
        let via_candle = InferenceModel::from_model(&SeqModel::from_bytes(
            &bytes,
            cfg.clone(),
            vec![Vec::new(); 40],
            &dev,
        )?)?;
        let direct = InferenceModel::from_weight_bytes(&bytes, cfg.clone())?;
        let (mut a, mut b) = (via_candle.new_session(), direct.new_session());
        let mut rng = SplitMix64::new(3);
        for _ in 0..40 {
            let t = rng.below(40) as u32;
            assert_eq!(
                via_candle.observe(&mut a, t, 3),
                direct.observe(&mut b, t, 3)
            );
        }
        assert_eq!(a, b);
        // Damaged or mismatched bytes are errors, never a panic.
        for cut in [0, 7, 8, 100, bytes.len() - 1] {
            assert!(InferenceModel::from_weight_bytes(&bytes[..cut], cfg.clone()).is_err());
        }
        assert!(InferenceModel::from_weight_bytes(&bytes, SeqModelConfig::tiny(41)).is_err());
        Ok(())
    }

    /// Throughput figures (not a timed assertion). Run in release:
    /// `cargo test --release --lib observe_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn observe_throughput() -> Result<()> {
        use std::time::Instant;
        let dev = Device::Cpu;
        for (name, cfg) in [
            ("student", SeqModelConfig::student(50)),
            ("student", SeqModelConfig::student(1000)),
            ("teacher", SeqModelConfig::teacher(50)),
            ("teacher", SeqModelConfig::teacher(1000)),
        ] {
            let v = cfg.vocab_size;
            let m = SeqModel::new(cfg.clone(), words(v, cfg.word_buckets), &dev, 1)?;
            let im = InferenceModel::from_model(&m)?;
            let mut rng = SplitMix64::new(2);
            let mut s = im.new_session();
            let mut lat = Vec::new();
            for i in 0..3000 {
                if i % 40 == 0 {
                    s = im.new_session();
                }
                let t = rng.below(v) as u32;
                let t0 = Instant::now();
                std::hint::black_box(im.observe(&mut s, t, 5));
                lat.push(t0.elapsed().as_secs_f64() * 1e6);
            }
            lat.sort_by(|a, b| a.total_cmp(b));
            let mean = lat.iter().sum::<f64>() / lat.len() as f64;
            let b = 64;
            let mut states: Vec<SessionState> = (0..b).map(|_| im.new_session()).collect();
            let steps = 100;
            let t0 = Instant::now();
            for i in 0..steps {
                if i % 40 == 0 {
                    states.iter_mut().for_each(|s| *s = im.new_session());
                }
                let toks: Vec<u32> = (0..b).map(|_| rng.below(v) as u32).collect();
                let mut refs: Vec<&mut SessionState> = states.iter_mut().collect();
                std::hint::black_box(im.observe_batch(&mut refs, &toks, 5));
            }
            let per = t0.elapsed().as_secs_f64() * 1e6 / (steps * b) as f64;
            println!(
                "{name} vocab {v:>4}: single mean {mean:6.1} us, p50 {:6.1}, p99 {:6.1} | batch 64: {per:6.2} us/line ({:.0} lines/s) | state {} B | engine {:.2} MB",
                lat[lat.len() / 2],
                lat[lat.len() * 99 / 100],
                1e6 / per,
                s.memory_bytes(),
                im.memory_bytes() as f64 / 1e6
            );
        }
        Ok(())
    }

    #[test]
    fn thread_safety_and_foreign_states() -> Result<()> {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<InferenceModel>();
        send_sync::<SessionState>();
        send_sync::<SeqModel>();
        let dev = Device::Cpu;
        let a = InferenceModel::from_model(&SeqModel::new(
            SeqModelConfig::tiny(9),
            words(9, 64),
            &dev,
            1,
        )?)?;
        let mut cfg = SeqModelConfig::tiny(9);
        cfg.window = 3;
        let b = InferenceModel::from_model(&SeqModel::new(cfg, words(9, 64), &dev, 1)?)?;
        let mut s = a.new_session();
        a.observe(&mut s, 5, 0);
        // A state of `a` given to `b` restarts instead of panicking.
        let fresh = b.observe(&mut b.new_session(), 6, 0);
        assert_eq!(
            b.end_of_session(&s).nll,
            b.end_of_session(&b.new_session()).nll
        );
        assert_eq!(b.observe(&mut s, 6, 0).nll, fresh.nll);
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
