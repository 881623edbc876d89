//! `bench detect`'s peer: the same sequence models, with the same weights, in ONNX Runtime, side by side.
//!
//! logsentinel scores a line with one incremental step per session (cached keys and values of the
//! window). The peer is what a team would get from exporting the model to ONNX: recompute the window
//! of the last `receptive_field + 1` tokens for every line (the exact next-token distribution, since
//! a sliding-window model's last position sees no further back). Both run on one thread. The script
//! `scripts/bench/onnx_peer.py` builds the ONNX graph from the exported weights, checks that it
//! computes the same log-likelihoods as logsentinel on the same windows, and times ONNX Runtime; it
//! also measures this machine's f32 matrix rate (numpy's OpenBLAS sgemm, one thread), against which
//! both sides' arithmetic rates are put.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use clap::Args;
use logsentinel::model::infer::{InferenceModel, SessionState};
use logsentinel::model::transformer::{
    safetensors_bytes, word_pieces, SeqModel, SeqModelConfig, BOS, FIRST_TEMPLATE_TOKEN,
    MASKED_LOGIT, PAD,
};
use logsentinel::util::rng::SplitMix64;
use logsentinel::Error;
use serde::Deserialize;

/// Pinned packages of the peer (installed into the bench venv on first use).
const PEER_PACKAGES: [&str; 3] = ["onnxruntime==1.20.1", "onnx==1.17.0", "numpy==2.1.3"];
/// Sessions scored together in the batched measurements (both sides).
const BATCH: usize = 64;
/// Most likely tokens listed per score, as the detector asks for.
const TOP_K: usize = 3;

/// Options of the ONNX Runtime peer of `bench detect`.
#[derive(Args, Clone)]
pub struct PeerArgs {
    /// Skip the ONNX Runtime peer (it installs onnxruntime, onnx and numpy into `--venv`).
    #[arg(long)]
    no_peer: bool,
    /// Virtual environment of the peer (created and filled on first use).
    #[arg(long, default_value = ".venv-bench")]
    venv: PathBuf,
    /// Python used to create `--venv`.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Seconds each peer figure is timed for.
    #[arg(long, default_value_t = 3.0)]
    peer_seconds: f64,
}

/// The product's own `detect_batch` rates of full-size models, measured earlier in the same run.
pub struct ProductRates {
    /// Lines/s of an active project (student).
    pub student: f64,
    /// Lines/s of a project in warmup (teacher).
    pub teacher: f64,
}

/// One model measured on logsentinel's side.
struct Ours {
    name: &'static str,
    cfg: SeqModelConfig,
    window_len: usize,
    batch_rate: f64,
    single_rate: f64,
}

/// One line of the peer script's output for a model.
#[derive(Deserialize)]
struct PeerModel {
    model: String,
    checked: usize,
    max_abs_nll_diff: f64,
    lines_per_s_batch: f64,
    lines_per_s_single: f64,
}

/// The peer script's first line: the machine's matrix rate.
#[derive(Deserialize)]
struct PeerMachine {
    onnxruntime: String,
    sgemm_gflops: f64,
}

/// Runs the peer comparison for a student and a teacher of the given vocabulary sizes (token ids,
/// specials included) and prints its table rows.
pub fn run(
    args: &PeerArgs,
    student_vocab: usize,
    teacher_vocab: usize,
    product: Option<&ProductRates>,
) -> Result<(), Error> {
    if args.no_peer {
        println!("| ONNX Runtime peer | skipped (--no-peer) |");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let mut ours = Vec::new();
    for (name, cfg) in [
        ("student", SeqModelConfig::student(student_vocab)),
        ("teacher", SeqModelConfig::teacher(teacher_vocab)),
    ] {
        ours.push(export_and_time(name, cfg, &dir.path().join(name))?);
    }
    let python = super::python::ensure_venv(
        &args.venv,
        &args.python,
        "import onnxruntime, onnx, numpy",
        &PEER_PACKAGES,
    )?;
    let script = super::python::find_script("onnx_peer.py")?;
    eprintln!("running the ONNX Runtime peer...");
    let mut script_args: Vec<std::ffi::OsString> =
        vec!["--seconds".into(), args.peer_seconds.to_string().into()];
    script_args.extend(
        ours.iter()
            .map(|o| dir.path().join(o.name).into_os_string()),
    );
    let stdout = super::python::run_script(&python, &script, script_args)?;
    let mut lines = stdout.lines().filter(|l| l.starts_with('{'));
    let machine: PeerMachine = serde_json::from_str(lines.next().unwrap_or("{}"))?;
    let peers = lines
        .map(serde_json::from_str)
        .collect::<Result<Vec<PeerModel>, _>>()?;
    print_rows(&ours, &peers, &machine, product)
}

/// Builds a model of `cfg` (seeded weights), writes what the peer needs to `dir`, and times
/// logsentinel's incremental engine on it.
fn export_and_time(name: &'static str, cfg: SeqModelConfig, dir: &Path) -> Result<Ours, Error> {
    std::fs::create_dir_all(dir)?;
    let words = (0..cfg.vocab_size)
        .map(|i| {
            if i < FIRST_TEMPLATE_TOKEN as usize {
                Vec::new()
            } else {
                word_pieces(
                    &format!("event {i} of group {} <*>", i % 7),
                    cfg.word_buckets,
                )
            }
        })
        .collect();
    let model = SeqModel::new(cfg.clone(), words, &Device::Cpu, 7)?;
    let engine = InferenceModel::from_model(&model)?;
    let window_len = cfg.receptive_field() + 1;
    std::fs::write(dir.join("weights.safetensors"), peer_weights(&model)?)?;
    let spec = serde_json::json!({
        "name": name,
        "config": cfg,
        "window_len": window_len,
        "batch": BATCH,
        "first_template_token": FIRST_TEMPLATE_TOKEN,
        "check": check_windows(&engine, window_len, cfg.vocab_size),
    });
    std::fs::write(dir.join("model.json"), serde_json::to_vec(&spec)?)?;
    let batch_rate = median(
        (0..3)
            .map(|_| incremental_rate(&engine, window_len, BATCH))
            .collect(),
    );
    let single_rate = median(
        (0..3)
            .map(|_| incremental_rate(&engine, window_len, 1))
            .collect(),
    );
    Ok(Ours {
        name,
        cfg,
        window_len,
        batch_rate,
        single_rate,
    })
}

/// The weights in the form of the peer's graph: the full token embedding (id plus word pieces), the
/// output bias with PAD and BOS masked, and every block and final-norm tensor as stored.
fn peer_weights(model: &SeqModel) -> Result<Vec<u8>, Error> {
    let cfg = model.config();
    let embed = model.embeddings()?.flatten_all()?.to_vec1::<f32>()?;
    let mut tensors = vec![(
        "embed".to_string(),
        vec![cfg.vocab_size, cfg.d_model],
        embed,
    )];
    for (name, var) in model.named_vars()? {
        let t = var.as_tensor();
        let mut values = t.flatten_all()?.to_vec1::<f32>()?;
        if name == "head.bias" {
            values[PAD as usize] += MASKED_LOGIT;
            values[BOS as usize] += MASKED_LOGIT;
        } else if !(name.starts_with("blocks.") || name.starts_with("final_ln.")) {
            continue;
        }
        tensors.push((name, t.dims().to_vec(), values));
    }
    safetensors_bytes(&tensors, "logsentinel-onnx-peer-v1")
}

/// Windows the peer must score as logsentinel does: sessions of random template tokens fed one by
/// one; every 7th position whose history fills the window is kept with its target and our NLL.
fn check_windows(engine: &InferenceModel, window_len: usize, vocab: usize) -> serde_json::Value {
    let mut rng = SplitMix64::new(11);
    let mut checks = Vec::new();
    for _ in 0..4 {
        let mut state = engine.new_session();
        let mut history = vec![BOS];
        for step in 0..(window_len + 40) {
            let token = random_template(&mut rng, vocab);
            let score = engine.observe(&mut state, token, 0);
            if history.len() >= window_len && step % 7 == 0 {
                checks.push(serde_json::json!({
                    "window": &history[history.len() - window_len..],
                    "target": token,
                    "nll": score.nll,
                }));
            }
            history.push(token);
        }
    }
    serde_json::Value::Array(checks)
}

fn random_template(rng: &mut SplitMix64, vocab: usize) -> u32 {
    (FIRST_TEMPLATE_TOKEN as usize + rng.below(vocab - FIRST_TEMPLATE_TOKEN as usize)) as u32
}

/// Lines/s of `engine.observe_batch` over `batch` sessions already past their first window (the
/// steady state of long sessions), timed for about a second.
fn incremental_rate(engine: &InferenceModel, window_len: usize, batch: usize) -> f64 {
    let vocab = engine.config().vocab_size;
    let mut rng = SplitMix64::new(5);
    let mut states: Vec<SessionState> = (0..batch).map(|_| engine.new_session()).collect();
    let step = |rng: &mut SplitMix64, states: &mut [SessionState]| {
        let tokens: Vec<u32> = (0..batch).map(|_| random_template(rng, vocab)).collect();
        let mut refs: Vec<&mut SessionState> = states.iter_mut().collect();
        std::hint::black_box(engine.observe_batch(&mut refs, &tokens, TOP_K));
    };
    for _ in 0..window_len {
        step(&mut rng, &mut states);
    }
    let (mut steps, start) = (0usize, Instant::now());
    while start.elapsed().as_secs_f64() < 1.0 {
        step(&mut rng, &mut states);
        steps += 1;
    }
    (steps * batch) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// Floating-point operations (2 per multiply-add) of one incremental step: each layer's projections
/// for one position, attention over the window, the output head.
fn incremental_flops(cfg: &SeqModelConfig) -> f64 {
    let (d, f, w, v) = (
        cfg.d_model as f64,
        cfg.d_ff as f64,
        cfg.window as f64,
        cfg.vocab_size as f64,
    );
    cfg.n_layers as f64 * (8.0 * d * d + 4.0 * d * f + 4.0 * w * d) + 2.0 * d * v
}

/// Floating-point operations of the peer's recompute of a `len`-token window: every position of every
/// layer, full `len × len` attention products (masked), the head for the last position.
fn recompute_flops(cfg: &SeqModelConfig, len: usize) -> f64 {
    let (d, f, l, v) = (
        cfg.d_model as f64,
        cfg.d_ff as f64,
        len as f64,
        cfg.vocab_size as f64,
    );
    cfg.n_layers as f64 * (l * (8.0 * d * d + 4.0 * d * f) + 4.0 * l * l * d) + 2.0 * d * v
}

fn print_rows(
    ours: &[Ours],
    peers: &[PeerModel],
    machine: &PeerMachine,
    product: Option<&ProductRates>,
) -> Result<(), Error> {
    let peak = machine.sgemm_gflops;
    println!(
        "| CPU | {} |",
        cpu_name().unwrap_or_else(|| "unknown".into())
    );
    println!("| f32 matrix rate of this machine, 1 thread (numpy/OpenBLAS sgemm 1024^3) | {peak:.1} GFLOP/s |");
    for o in ours {
        let p = peers
            .iter()
            .find(|p| p.model == o.name)
            .ok_or_else(|| Error::model(format!("the peer did not report the {}", o.name)))?;
        if p.max_abs_nll_diff > 1e-3 {
            return Err(Error::model(format!(
                "the ONNX peer computes another function for the {}: NLLs differ by up to {:.2e}",
                o.name, p.max_abs_nll_diff
            )));
        }
        let (inc, rec) = (
            incremental_flops(&o.cfg),
            recompute_flops(&o.cfg, o.window_len),
        );
        println!(
            "| {name}: logsentinel incremental vs ONNX Runtime {ver} recompute of {len} tokens, 1 thread, batch {BATCH} | {a:.0} vs {b:.0} lines/s = **{r:.1}x** |",
            name = o.name,
            ver = machine.onnxruntime,
            len = o.window_len,
            a = o.batch_rate,
            b = p.lines_per_s_batch,
            r = o.batch_rate / p.lines_per_s_batch,
        );
        println!(
            "| {name}: the same, one session per call | {a:.0} vs {b:.0} lines/s = {r:.1}x |",
            name = o.name,
            a = o.single_rate,
            b = p.lines_per_s_single,
            r = o.single_rate / p.lines_per_s_single,
        );
        if let Some(product) = product {
            let rate = if o.name == "student" {
                product.student
            } else {
                product.teacher
            };
            println!(
                "| {name}: detect_batch (parsing, rules, forest, sessions included) vs the peer's model alone | {rate:.0} vs {b:.0} lines/s = {r:.1}x |",
                name = o.name,
                b = p.lines_per_s_batch,
                r = rate / p.lines_per_s_batch,
            );
        }
        println!(
            "| {name}: arithmetic rate, share of the sgemm rate: logsentinel / peer | {ga:.1} GFLOP/s ({sa:.0}%) / {gb:.1} GFLOP/s ({sb:.0}%); {fa:.2} vs {fb:.1} MFLOP per line; NLLs agree to {diff:.1e} on {n} windows |",
            name = o.name,
            ga = o.batch_rate * inc / 1e9,
            sa = 100.0 * o.batch_rate * inc / 1e9 / peak,
            gb = p.lines_per_s_batch * rec / 1e9,
            sb = 100.0 * p.lines_per_s_batch * rec / 1e9 / peak,
            fa = inc / 1e6,
            fb = rec / 1e6,
            diff = p.max_abs_nll_diff,
            n = p.checked,
        );
    }
    Ok(())
}

/// The CPU's model name and its widest vector extension, from `/proc/cpuinfo`.
fn cpu_name() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let field = |key: &str| {
        info.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let flags = field("flags").unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let simd = if has("avx512f") {
        "AVX-512"
    } else if has("avx2") {
        "AVX2"
    } else {
        "no AVX2"
    };
    Some(format!("{} ({simd})", field("model name")?))
}
