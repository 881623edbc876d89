//! Per-call cost of the C boundary next to the Rust call, in one run.
//!
//! Two detectors with the same configuration, each with one identical project, score the same HDFS
//! lines: one through `TenantDetector::detect` (Rust), the other through the C ABI (`ls_detect`,
//! called exactly as a C program calls it: NUL-terminated strings in, an `ls_detection` out; and
//! `ls_detect_json`). Blocks of lines alternate between the two so drift hits both alike; the
//! median block gives ns per call. Also timed: a call rejected for a bad key (authentication only,
//! so the boundary's share is largest) and the cheapest call (`ls_detector_is_closed`).
//!
//! `cargo run --release -p logsentinel-ffi --example overhead [-- LINES]`
#![allow(clippy::unwrap_used)]

use std::ffi::{c_char, CString};
use std::time::Instant;

use logsentinel::{Config, LogRecord, NewProject, Phase, TenantDetector};
use logsentinel_ffi::*;

const BLOCK: usize = 100;
/// Each scenario runs this many times on fresh detectors; the median run is reported.
const REPS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn config_json(dir: &std::path::Path, tiny: bool, warmup: u64) -> String {
    let mut c = serde_json::json!({
        "storage_dir": dir, "warmup_threshold": warmup, "training_threads": 1,
    });
    if tiny {
        let dims = serde_json::json!({"n_layers": 1, "d_model": 32, "n_heads": 2, "d_ff": 64});
        c["teacher"] = dims.clone();
        c["student"] = dims;
        c["teacher_epochs"] = 2.into();
    }
    c.to_string()
}

struct Pair {
    rust: TenantDetector,
    rust_key: String,
    c: *mut ls_detector,
    c_key: CString,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn pair(tiny: bool, warmup: u64) -> Pair {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg: Config = serde_json::from_str(&config_json(d1.path(), tiny, warmup)).unwrap();
    let rust = TenantDetector::open(cfg).unwrap();
    let p = rust
        .create_project(
            NewProject::named("bench")
                .warmup_threshold(warmup)
                .format(logsentinel::LogFormat::Hdfs),
        )
        .unwrap();
    let cfg2 = CString::new(config_json(d2.path(), tiny, warmup)).unwrap();
    let new = CString::new(format!(
        r#"{{"name": "bench", "warmup_threshold": {warmup}, "format": "hdfs"}}"#
    ))
    .unwrap();
    let mut c: *mut ls_detector = std::ptr::null_mut();
    let mut cp: *mut ls_created_project = std::ptr::null_mut();
    // SAFETY: valid strings and out-pointers; `cp` is freed once.
    let c_key = unsafe {
        assert_eq!(ls_detector_open(cfg2.as_ptr(), &mut c), ls_status::Ok);
        assert_eq!(ls_create_project(c, new.as_ptr(), &mut cp), ls_status::Ok);
        let k = std::ffi::CStr::from_ptr((*cp).api_key).to_owned();
        ls_created_project_free(cp);
        k
    };
    Pair {
        rust,
        rust_key: p.api_key,
        c,
        c_key,
        _dirs: (d1, d2),
    }
}

fn c_detect(p: &Pair, line: &CString) -> ls_detection {
    let mut out = std::mem::MaybeUninit::<ls_detection>::uninit();
    // SAFETY: live handle, NUL-terminated strings, writable out.
    let s = unsafe {
        ls_detect(
            p.c,
            p.c_key.as_ptr(),
            line.as_ptr(),
            std::ptr::null(),
            out.as_mut_ptr(),
        )
    };
    assert_eq!(s, ls_status::Ok);
    // SAFETY: initialised on success.
    unsafe { out.assume_init() }
}

/// Feeds `lines` to both sides (untimed), waiting for training where it starts.
fn feed(p: &Pair, lines: &[String], c_lines: &[CString]) {
    for chunk in lines.chunks(200) {
        let recs: Vec<LogRecord> = chunk.iter().map(LogRecord::new).collect();
        p.rust.detect_batch(&p.rust_key, &recs).unwrap();
        if p.rust.status(&p.rust_key).unwrap().phase == Phase::Training {
            p.rust.wait_for_training(&p.rust_key, None).unwrap();
        }
    }
    for chunk in c_lines.chunks(200) {
        let ptrs: Vec<*const c_char> = chunk.iter().map(|c| c.as_ptr()).collect();
        let mut out = vec![c_detect(p, &chunk[0]); chunk.len()];
        // SAFETY: `ptrs` and `out` hold chunk.len() elements.
        let s = unsafe {
            ls_detect_batch(
                p.c,
                p.c_key.as_ptr(),
                ptrs.as_ptr(),
                std::ptr::null(),
                ptrs.len(),
                out.as_mut_ptr(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(s, ls_status::Ok);
        let mut st: *mut c_char = std::ptr::null_mut();
        // SAFETY: live handle, owned result freed once.
        unsafe {
            ls_wait_for_training(p.c, p.c_key.as_ptr(), -1, &mut st);
            ls_string_free(st);
        }
    }
}

fn measure(p: &Pair, lines: &[String], c_lines: &[CString]) -> (f64, f64, f64, Phase) {
    let (mut rust_ns, mut c_ns, mut json_ns) = (Vec::new(), Vec::new(), Vec::new());
    let mut rust_phase = Phase::Warmup;
    let mut c_phase = ls_phase::Warmup;
    for (b, (block, c_block)) in lines.chunks(BLOCK).zip(c_lines.chunks(BLOCK)).enumerate() {
        // The JSON variant scores lines too: give it a third of the blocks, both sides alike.
        let json_block = b % 3 == 2;
        let run_rust = |rust_ns: &mut Vec<f64>, rust_phase: &mut Phase| {
            let t = Instant::now();
            for l in block {
                let d = p
                    .rust
                    .detect(&p.rust_key, LogRecord::new(l.as_str()))
                    .unwrap();
                *rust_phase = d.phase;
            }
            rust_ns.push(t.elapsed().as_nanos() as f64 / block.len() as f64);
        };
        let run_c = |c_ns: &mut Vec<f64>, json_ns: &mut Vec<f64>, c_phase: &mut ls_phase| {
            let t = Instant::now();
            if json_block {
                for l in c_block {
                    let mut js: *mut c_char = std::ptr::null_mut();
                    // SAFETY: live handle, valid strings, owned result freed once.
                    unsafe {
                        let s = ls_detect_json(
                            p.c,
                            p.c_key.as_ptr(),
                            l.as_ptr(),
                            std::ptr::null(),
                            &mut js,
                        );
                        assert_eq!(s, ls_status::Ok);
                        ls_string_free(js);
                    }
                }
                json_ns.push(t.elapsed().as_nanos() as f64 / block.len() as f64);
            } else {
                for l in c_block {
                    *c_phase = c_detect(p, l).phase;
                }
                c_ns.push(t.elapsed().as_nanos() as f64 / block.len() as f64);
            }
        };
        if b % 2 == 0 {
            run_rust(&mut rust_ns, &mut rust_phase);
            run_c(&mut c_ns, &mut json_ns, &mut c_phase);
        } else {
            run_c(&mut c_ns, &mut json_ns, &mut c_phase);
            run_rust(&mut rust_ns, &mut rust_phase);
        }
    }
    assert_eq!(rust_phase.as_str(), format!("{c_phase:?}").to_lowercase());
    (median(rust_ns), median(c_ns), median(json_ns), rust_phase)
}

fn report(name: &str, runs: Vec<(f64, f64, f64, Phase)>) {
    let phase = runs[0].3;
    let r = median(runs.iter().map(|x| x.0).collect());
    let c = median(runs.iter().map(|x| x.1).collect());
    let j = median(runs.iter().map(|x| x.2).collect());
    let spread: Vec<String> = runs.iter().map(|x| format!("{:+.0}", x.1 - x.0)).collect();
    println!(
        "{name:<28} rust {r:>7.0} ns/detect | C ls_detect {c:>7.0} ns ({:+.0} ns, {:+.1}%; runs {}) | C ls_detect_json {j:>7.0} ns ({:+.0} ns)  [phase {}]",
        c - r,
        (c - r) / r * 100.0,
        spread.join(" "),
        j - r,
        phase.as_str(),
    );
}

fn micro(p: &Pair) {
    let n = 20_000;
    let bad = "sk-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let bad_c = CString::new(bad).unwrap();
    let line = "081109 203518 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_1 terminating";
    let line_c = CString::new(line).unwrap();
    let (mut r, mut c) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let t = Instant::now();
        for _ in 0..n {
            assert!(p.rust.detect(bad, LogRecord::new(line)).is_err());
        }
        r.push(t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        for _ in 0..n {
            let mut out = std::mem::MaybeUninit::<ls_detection>::uninit();
            // SAFETY: live handle, valid strings, writable out.
            let s = unsafe {
                ls_detect(
                    p.c,
                    bad_c.as_ptr(),
                    line_c.as_ptr(),
                    std::ptr::null(),
                    out.as_mut_ptr(),
                )
            };
            assert_eq!(s, ls_status::InvalidApiKey);
        }
        c.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    let (r, c) = (median(r), median(c));
    println!(
        "{:<28} rust {r:>9.0} ns/call   | C ls_detect {c:>9.0} ns ({:+.0} ns; includes setting the thread's last error)",
        "rejected key (auth only)",
        c - r
    );
    let mut closed = false;
    let t = Instant::now();
    for _ in 0..1_000_000 {
        // SAFETY: live handle, writable out.
        unsafe { ls_detector_is_closed(p.c, &mut closed) };
    }
    let c = t.elapsed().as_nanos() as f64 / 1e6;
    let t = Instant::now();
    for _ in 0..1_000_000 {
        closed |= std::hint::black_box(&p.rust).is_closed();
    }
    let r = t.elapsed().as_nanos() as f64 / 1e6;
    println!(
        "{:<28} rust {r:>9.1} ns/call   | C ls_detector_is_closed {c:>6.1} ns ({:+.1} ns: catch_unwind + NULL checks)",
        "cheapest call",
        c - r
    );
    assert!(!closed);
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(6000);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/hdfs/hdfs_dev_20k.log"
    );
    let all: Vec<String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let c_all: Vec<CString> = all
        .iter()
        .map(|l| CString::new(l.as_str()).unwrap())
        .collect();
    println!(
        "C boundary overhead: {n} HDFS lines per scenario, blocks of {BLOCK} alternating Rust / C, median block"
    );

    // Warmup: the shared (untrained, full-size) teacher scores: the cheapest detection path, so the
    // boundary's share is largest.
    let mut runs = Vec::new();
    for _ in 0..REPS {
        let warm = pair(false, 1_000_000);
        runs.push(measure(&warm, &all[..n], &c_all[..n]));
        close(warm);
    }
    report("warmup, full-size teacher", runs);
    let warm = pair(false, 1_000_000);
    micro(&warm);
    close(warm);
    // Active: a trained (tiny) student scores.
    let mut runs = Vec::new();
    for _ in 0..REPS {
        let active = pair(true, 1000);
        feed(&active, &all[..3000], &c_all[..3000]);
        let end = (3000 + n).min(all.len());
        runs.push(measure(&active, &all[3000..end], &c_all[3000..end]));
        close(active);
    }
    report("active, tiny student", runs);
}

fn close(p: Pair) {
    // SAFETY: the handle is freed once, with no call in progress.
    unsafe { ls_detector_free(p.c) };
    p.rust.close().unwrap();
}
