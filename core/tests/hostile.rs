//! Hostile input: lines of 0 bytes to 100 MB, invalid UTF-8, NUL and escape sequences, floods of
//! distinct templates and session ids (caps, LRU and memory bounded), huge session ids, API keys of
//! every wrong shape, concurrent create/delete, a full disk and a read-only storage directory.
//!
//! The floods run `LOGSENTINEL_HOSTILE_SCALE` lines (default 200,000; the report runs millions). Heap
//! is measured with a counting allocator while no other test of this file runs.
#![allow(clippy::unwrap_used)]

mod common;
use common::{hdfs_lines, slope};

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use logsentinel::store::{project_blob, Store};
use logsentinel::{
    Config, Error, ErrorKind, LogFormat, LogRecord, ManualClock, NewProject, TenantDetector,
};

// ---------------------------------------------------------------------------------------------------
// Live heap bytes, counted by a wrapper of the system allocator.

struct CountingAlloc;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call forwards to `System` with the caller's arguments; only a counter is added.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn heap_mb() -> f64 {
    LIVE_BYTES.load(Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
}

/// Tests that measure the heap run alone; the others share.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(PoisonError::into_inner)
}

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    EXCLUSIVE.write().unwrap_or_else(PoisonError::into_inner)
}

fn scale() -> usize {
    std::env::var("LOGSENTINEL_HOSTILE_SCALE")
        .ok()
        .map(|v| v.parse().unwrap())
        .unwrap_or(200_000)
}

fn tiny_config(dir: &Path) -> Config {
    let mut c = Config::with_storage_dir(dir).tiny_models();
    c.training_threads = 1;
    c
}

/// A word made of letters only (never masked as a variable), distinct for every `n`.
fn word(mut n: u64) -> String {
    let mut s = String::from("w");
    loop {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            return s;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Line sizes and bytes.

#[test]
fn lines_from_0_bytes_to_100_mb_are_scored_or_truncated_as_documented() {
    let _g = shared();
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let max = det.config().max_line_bytes;
    let p = det.create_project(NewProject::named("sizes")).unwrap();
    let k = &p.api_key;
    let mut count = 0;
    for len in [
        0,
        1,
        63,
        64,
        max - 1,
        max,
        max + 1,
        1 << 20,
        10 << 20,
        100 << 20,
    ] {
        for line in [
            "x".repeat(len),
            "word ".repeat(len / 5),
            // Two-byte characters: the cut must land on a character boundary.
            "é".repeat(len / 2),
        ] {
            let n = line.len();
            let d = det.detect(k, LogRecord::new(line)).unwrap();
            count += 1;
            assert_eq!(d.truncated, n > max, "{n} bytes");
            assert_eq!(
                d.reasons.iter().any(|r| r.contains("truncated")),
                n > max,
                "{n} bytes: {:?}",
                d.reasons
            );
            assert!(d.template.len() <= max + 64, "template of a {n}-byte line");
            assert!(d.anomaly_score.is_finite() && (0.0..=1.0).contains(&d.anomaly_score));
        }
    }
    // In a batch, between ordinary lines.
    let big = "y".repeat(100 << 20);
    let batch = vec![
        LogRecord::new("before"),
        LogRecord::new(big),
        LogRecord::new(""),
        LogRecord::new("after"),
    ];
    let r = det.detect_batch(k, &batch).unwrap();
    count += 4;
    assert_eq!(
        r.results.iter().map(|d| d.truncated).collect::<Vec<_>>(),
        [false, true, false, false]
    );
    assert_eq!(det.status(k).unwrap().log_count, count);
    // Raw bytes of 10 MB that are not UTF-8 at all (each byte becomes U+FFFD: 30 MB, cut to the cap).
    let d = det
        .detect(k, LogRecord::from_bytes(&vec![0xFFu8; 10 << 20]))
        .unwrap();
    assert!(d.truncated);
}

#[test]
fn invalid_utf8_nul_ansi_and_control_bytes_are_scored_and_survive_storage() {
    let _g = shared();
    let dir = tempfile::tempdir().unwrap();
    let odd: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\0".to_vec(),
        b"nul\0in\0the\0middle".to_vec(),
        b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec(),
        b"bytes \xff\xfe\xfd not utf8".to_vec(),
        b"truncated utf8 \xe2\x82".to_vec(),
        b"overlong \xc0\xaf and surrogate \xed\xa0\x80".to_vec(),
        b"\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J\x1b[H".to_vec(),
        b"\r\n\t\x0b\x0c\x08\x7f".to_vec(),
        "\u{feff}bom \u{202e}rtl override\u{202c} \u{200b}zero width"
            .as_bytes()
            .to_vec(),
        "emoji 😀 combining e\u{301}\u{301}\u{301} cjk 日本語"
            .as_bytes()
            .to_vec(),
        b"081109 203615 148 INFO dfs.DataNode: \0\xff blk_123 \x1b[0m".to_vec(),
        b"{\"message\": \"\\u0000 json \\ud800 escape\", \"level\": \"error\"}".to_vec(),
    ];
    // Plus seeded random bytes.
    let mut rng = logsentinel::util::rng::SplitMix64::new(7);
    let mut lines = odd.clone();
    for _ in 0..5_000 {
        let len = rng.below(200);
        lines.push((0..len).map(|_| rng.next_u64() as u8).collect());
    }
    let (key, templates) = {
        let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
        let p = det
            .create_project(NewProject::named("bytes").warmup_threshold(100_000))
            .unwrap();
        for (i, l) in lines.iter().enumerate() {
            let rec =
                LogRecord::from_bytes(l).session(String::from_utf8_lossy(&l[..l.len().min(8)]));
            let d = det.detect(&p.api_key, rec).unwrap();
            // Every result is serializable for the bindings (JSON, Python, C).
            serde_json::to_string(&d).unwrap();
            if i % 1000 == 0 {
                det.flush().unwrap();
            }
        }
        let batch: Vec<LogRecord> = odd.iter().map(|l| LogRecord::from_bytes(l)).collect();
        det.detect_batch(&p.api_key, &batch).unwrap();
        let verdicts = det.close_all_sessions(&p.api_key).unwrap();
        serde_json::to_string(&verdicts).unwrap();
        let st = det.status(&p.api_key).unwrap();
        assert_eq!(st.log_count as usize, lines.len() + odd.len());
        det.close().unwrap();
        (p.api_key, st.template_count)
    };
    // The miner with its odd templates round-trips through storage.
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let st = det.status(&key).unwrap();
    assert_eq!(st.template_count, templates);
    assert_eq!(st.log_count as usize, lines.len() + odd.len());
    for l in &odd {
        det.detect(&key, LogRecord::from_bytes(l)).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------
// Floods.

#[test]
fn a_flood_of_distinct_templates_keeps_the_cap_the_lru_and_memory_bounded() {
    let _g = exclusive();
    // The miner's caches grow to their caps (tens of MB) over the first few hundred thousand distinct
    // lines: the heap is measured over the second half of at least a million lines.
    let n = scale().max(1_000_000);
    let cap = 256;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.max_templates_per_project = cap;
    let det = TenantDetector::open(cfg).unwrap();
    let p = det
        .create_project(NewProject::named("templates").warmup_threshold(1_000_000_000))
        .unwrap();
    let k = &p.api_key;
    let hot = "scheduler heartbeat ok from the control plane";
    let hot_id = det.detect(k, LogRecord::new(hot)).unwrap().template_id;
    let batch = 5_000;
    let mut last_id = hot_id;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let mut i = 0u64;
    while (i as usize) < n {
        let records: Vec<LogRecord> = (0..batch)
            .map(|j| {
                i += 1;
                if j % 50 == 0 {
                    LogRecord::new(hot)
                } else {
                    LogRecord::new(format!("{} happened near {} again", word(i), word(i * 7)))
                }
            })
            .collect();
        let r = det.detect_batch(k, &records).unwrap();
        for (j, d) in r.results.iter().enumerate() {
            if j % 50 == 0 {
                assert_eq!(d.template_id, hot_id, "the hot template survives the LRU");
            } else {
                // A new template each time, and an evicted id is never handed out again.
                assert!(d.template_id > last_id, "template ids are never reused");
                last_id = d.template_id;
            }
        }
        let st = det.status(k).unwrap();
        assert!(st.template_count <= cap, "{} templates", st.template_count);
        if i as usize >= n / 2 {
            xs.push(i as f64);
            ys.push(heap_mb());
        }
    }
    let st = det.status(k).unwrap();
    assert!(
        st.parsing_warning.is_some(),
        "the status says the logs do not mine well"
    );
    det.flush().unwrap();
    let per_million = slope(&xs, &ys) * 1e6;
    let max = ys.iter().cloned().fold(f64::MIN, f64::max);
    eprintln!(
        "distinct templates: {n} lines in {:.1} s, cap {cap}: heap over the second half {:.1} MB -> {:.1} MB (max {max:.1} MB, slope {per_million:.1} MB per million lines)",
        started.elapsed().as_secs_f64(),
        ys[0],
        ys[ys.len() - 1]
    );
    assert!(
        per_million < 8.0,
        "memory grows with distinct templates: {per_million:.1} MB per million lines"
    );
}

#[test]
fn a_flood_of_distinct_session_ids_keeps_the_cap_and_memory_bounded() {
    let _g = exclusive();
    let n = scale().max(200_000);
    let cap = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.max_sessions_per_project = cap;
    let det = TenantDetector::open(cfg).unwrap();
    let p = det
        .create_project(
            NewProject::named("sessions")
                .warmup_threshold(1_000_000_000)
                .format(LogFormat::Hdfs),
        )
        .unwrap();
    let k = &p.api_key;
    let lines = hdfs_lines(20_000);
    let batch = 5_000;
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let mut i = 0usize;
    let mut polled = 0usize;
    while i < n {
        let records: Vec<LogRecord> = (0..batch)
            .map(|_| {
                i += 1;
                LogRecord::new(&lines[i % lines.len()]).session(format!("tenant-session-{i}"))
            })
            .collect();
        det.detect_batch(k, &records).unwrap();
        let st = det.status(k).unwrap();
        assert!(
            st.open_sessions <= cap,
            "{} open sessions",
            st.open_sessions
        );
        // The host polls verdicts in the first fifth only: the queue stays bounded when nobody does.
        if i <= n / 5 {
            polled += det.poll_session_verdicts(k, usize::MAX).unwrap().len();
        }
        // The unpolled queue reaches its cap at n / 5 + 101,000 lines: flat after that.
        if i >= n / 5 + 120_000 {
            // Flushed first: a group commit (at most one a second, so its timing depends on the
            // machine's speed) keeps the open sessions' templates with the samples, and a commit
            // landing inside the window read as growth (0.6 MB) on a slow CI machine.
            det.flush().unwrap();
            xs.push(i as f64);
            ys.push(heap_mb());
        }
    }
    let open = det.status(k).unwrap().open_sessions;
    let queued = det.poll_session_verdicts(k, usize::MAX).unwrap().len();
    // Every closed session gave a verdict; the unpolled queue keeps the newest 100,000.
    let unpolled = n - open - polled;
    assert_eq!(
        queued,
        unpolled.min(100_000),
        "{polled} polled, {open} open"
    );
    let growth = ys.iter().cloned().fold(f64::MIN, f64::max) - ys[0];
    let per_million = slope(&xs, &ys) * 1e6;
    eprintln!(
        "distinct sessions: {n} lines in {:.1} s, cap {cap}: heap once the verdict queue is full {:.1} MB -> {:.1} MB (max growth {growth:.1} MB, slope {per_million:.1} MB per million lines; {queued} verdicts queued unpolled)",
        started.elapsed().as_secs_f64(),
        ys[0],
        ys[ys.len() - 1]
    );
    // Unpolled verdicts fill the queue up to its cap; beyond that nothing grows.
    assert!(
        per_million < 8.0 && growth < 8.0,
        "memory grows with distinct sessions: {per_million:.1} MB per million lines, {growth:.1} MB"
    );
}

#[test]
fn huge_session_ids_are_bounded_and_stay_distinct() {
    let _g = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let p = det
        .create_project(NewProject::named("long ids").warmup_threshold(1_000_000))
        .unwrap();
    let k = &p.api_key;
    let ids = 2_000;
    let before = heap_mb();
    for chunk in 0..(ids / 100) {
        let records: Vec<LogRecord> = (0..100)
            .map(|j| {
                let i = chunk * 100 + j;
                // 64 KiB ids that differ only at their end.
                let mut id = "s".repeat(64 * 1024);
                id.push_str(&i.to_string());
                LogRecord::new(format!("request {i} served")).session(id)
            })
            .collect();
        let r = det.detect_batch(k, &records).unwrap();
        for d in &r.results {
            assert!(d.session_id.as_ref().unwrap().len() <= 256);
        }
    }
    let st = det.status(k).unwrap();
    assert_eq!(st.open_sessions, ids, "long ids that differ stay distinct");
    let growth = heap_mb() - before;
    eprintln!("2,000 sessions with 64 KiB ids: heap +{growth:.1} MB");
    assert!(growth < 24.0, "session ids are kept whole: +{growth:.1} MB");
    // The host closes a session by the id it gave.
    let mut id = "s".repeat(64 * 1024);
    id.push_str("17");
    let v = det.close_session(k, &id).unwrap().expect("session found");
    assert_eq!(v.lines, 1);
    // A session pattern capturing a huge token.
    let q = det
        .create_project(NewProject::named("pattern").session_pattern(r"sid=(\S+)"))
        .unwrap();
    let line = format!("GET /x sid={} done", "z".repeat(60_000));
    let d = det.detect(&q.api_key, LogRecord::new(line)).unwrap();
    assert!(d.session_id.unwrap().len() <= 256);
}

#[test]
fn distinct_lines_at_the_length_cap_cost_memory_per_kept_template_only() {
    let _g = exclusive();
    // The worst case of the template cap: every line distinct and as long as `max_line_bytes`. Memory
    // follows the templates kept (cap x line), not the lines seen.
    let cap = 32;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path());
    cfg.max_templates_per_project = cap;
    let max = cfg.max_line_bytes;
    let det = TenantDetector::open(cfg).unwrap();
    let p = det
        .create_project(NewProject::named("long lines").warmup_threshold(1_000_000))
        .unwrap();
    let before = heap_mb();
    let mut peak: f64 = 0.0;
    let lines = 1_000u64;
    for i in 0..lines {
        let mut line = String::with_capacity(max + 16);
        let mut t = i * 1_000_003;
        while line.len() < max + 8 {
            line.push_str(&word(t));
            line.push(' ');
            t += 1;
        }
        let d = det.detect(&p.api_key, LogRecord::new(line)).unwrap();
        assert!(d.truncated);
        if i % 50 == 49 {
            peak = peak.max(heap_mb() - before);
        }
    }
    assert!(det.status(&p.api_key).unwrap().template_count <= cap);
    let per_template = peak / cap as f64;
    eprintln!(
        "{lines} distinct {max}-byte lines, cap {cap}: heap +{peak:.1} MB at most ({per_template:.2} MB per kept template)"
    );
    assert!(
        per_template < 16.0 * max as f64 / (1024.0 * 1024.0),
        "{per_template:.2} MB per template"
    );
}

// ---------------------------------------------------------------------------------------------------
// Keys.

#[test]
fn api_keys_of_every_wrong_shape_are_refused_without_effect() {
    let _g = shared();
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let p = det.create_project(NewProject::named("keys")).unwrap();
    let gone = det.create_project(NewProject::named("gone")).unwrap();
    det.delete_project(&gone.project_id).unwrap();
    let old = det.create_project(NewProject::named("rotated")).unwrap();
    let rotated = det.rotate_key(&old.api_key).unwrap();
    det.detect(&p.api_key, LogRecord::new("one line")).unwrap();
    let k = p.api_key.clone();
    let body = &k[3..];
    let mut flipped = k.clone().into_bytes();
    flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let hash_hex: String = {
        use std::fmt::Write as _;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(k.as_bytes());
        digest.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    };
    let bad: Vec<String> = vec![
        String::new(),
        " ".into(),
        "sk-".into(),
        "sk".into(),
        body.into(),
        format!("SK-{body}"),
        format!("sk_{body}"),
        format!("pk-{body}"),
        format!(" {k}"),
        format!("{k} "),
        format!("{k}\n"),
        format!("{k}\0"),
        format!("\0{}", &k[1..]),
        k[..k.len() - 1].to_string(),
        format!("{k}A"),
        k.to_uppercase(),
        k.to_lowercase(),
        flipped,
        k.replace('-', "+").replace('_', "/"),
        format!("sk-{}", "A".repeat(43)),
        format!("sk-{}", "é".repeat(21)),
        format!("sk-{}", "\u{FFFD}".repeat(14)),
        format!("Bearer {k}"),
        hash_hex,
        p.project_id.clone(),
        format!("logs-{}", p.project_id),
        gone.api_key.clone(),
        old.api_key.clone(),
        "x".repeat(10 << 20),
        format!("{k}{}", "=".repeat(1 << 20)),
    ];
    assert!(det.status(&rotated).is_ok());
    for b in &bad {
        let rec = LogRecord::new("should not count");
        let errors = [
            det.detect(b, rec.clone()).err(),
            det.detect_batch(b, &[rec]).err(),
            det.status(b).err(),
            det.rotate_key(b).err(),
            det.close_session(b, "s").err(),
            det.close_all_sessions(b).err(),
            det.poll_session_verdicts(b, 10).err(),
            det.reset_sessions(b).err(),
            det.training_job(b).err(),
            det.wait_for_training(b, None).err(),
        ];
        for e in errors {
            let e = e.unwrap_or_else(|| panic!("{:?} was accepted", &b[..b.len().min(60)]));
            assert!(matches!(e, Error::InvalidApiKey), "{e}");
            let text = format!("{e} {e:?}");
            assert!(!text.contains(&k[3..]) && (b.len() < 8 || !text.contains(b.as_str())));
        }
    }
    // Nothing counted, nothing rotated.
    assert_eq!(det.status(&k).unwrap().log_count, 1);
    assert!(det.status(&rotated).is_ok());
}

// ---------------------------------------------------------------------------------------------------
// Concurrency.

#[test]
fn concurrent_create_delete_rotate_and_detect_on_the_same_project() {
    let _g = shared();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000.0));
    let mut cfg = tiny_config(dir.path());
    cfg.commit_every_logs = 20;
    let lines = Arc::new(hdfs_lines(2_000));
    let mut deleted = Vec::new();
    let mut survivors = Vec::new();
    {
        let det = TenantDetector::open_with_clock(cfg.clone(), clock.clone()).unwrap();
        for round in 0..25 {
            let p = det
                .create_project(NewProject::named("same").format(LogFormat::Hdfs))
                .unwrap();
            let barrier = Arc::new(Barrier::new(6));
            let deletes_ok = Arc::new(AtomicUsize::new(0));
            let mut handles = Vec::new();
            for _ in 0..2 {
                let (det, id, b, ok) = (
                    det.clone(),
                    p.project_id.clone(),
                    barrier.clone(),
                    deletes_ok.clone(),
                );
                handles.push(std::thread::spawn(move || {
                    b.wait();
                    std::thread::sleep(std::time::Duration::from_micros(round * 150));
                    match det.delete_project(&id) {
                        Ok(()) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(Error::ProjectNotFound { .. }) => {}
                        Err(e) => panic!("delete: {e}"),
                    }
                    None
                }));
            }
            {
                let (det, key, b, lines, clock) = (
                    det.clone(),
                    p.api_key.clone(),
                    barrier.clone(),
                    lines.clone(),
                    clock.clone(),
                );
                handles.push(std::thread::spawn(move || {
                    b.wait();
                    let mut refused = false;
                    for c in lines.chunks(50) {
                        clock.advance(2.0);
                        let recs: Vec<LogRecord> = c.iter().map(LogRecord::new).collect();
                        match det.detect_batch(&key, &recs) {
                            Ok(_) => assert!(!refused, "a deleted project's key worked again"),
                            Err(Error::InvalidApiKey) => refused = true,
                            Err(e) => panic!("detect: {e}"),
                        }
                    }
                    assert!(refused, "the key outlived the deletion");
                    None
                }));
            }
            {
                let (det, id, b) = (det.clone(), p.project_id.clone(), barrier.clone());
                handles.push(std::thread::spawn(move || {
                    b.wait();
                    for _ in 0..5 {
                        match det.rotate_key_by_id(&id) {
                            Ok(_) | Err(Error::ProjectNotFound { .. }) => {}
                            Err(e) => panic!("rotate: {e}"),
                        }
                    }
                    None
                }));
            }
            {
                let (det, b) = (det.clone(), barrier.clone());
                handles.push(std::thread::spawn(move || {
                    b.wait();
                    let q = det
                        .create_project(NewProject::named("same").format(LogFormat::Hdfs))
                        .unwrap();
                    det.detect(&q.api_key, LogRecord::new("created concurrently"))
                        .unwrap();
                    Some((q.project_id, q.api_key))
                }));
            }
            {
                let (det, b) = (det.clone(), barrier.clone());
                handles.push(std::thread::spawn(move || {
                    b.wait();
                    for _ in 0..20 {
                        det.list_projects().unwrap();
                        det.health().unwrap();
                    }
                    None
                }));
            }
            for h in handles {
                if let Some(s) = h.join().unwrap() {
                    survivors.push(s);
                }
            }
            assert_eq!(
                deletes_ok.load(Ordering::SeqCst),
                1,
                "exactly one delete wins"
            );
            assert!(matches!(
                det.project_status(&p.project_id),
                Err(Error::ProjectNotFound { .. })
            ));
            assert!(matches!(det.status(&p.api_key), Err(Error::InvalidApiKey)));
            deleted.push(p.project_id);
        }
        det.flush().unwrap();
    }
    // After a restart: the survivors and only them, nothing of the deleted ones left in storage.
    {
        let det = TenantDetector::open(cfg.clone()).unwrap();
        let mut listed: Vec<String> = det
            .list_projects()
            .unwrap()
            .into_iter()
            .map(|p| p.project_id)
            .collect();
        listed.sort();
        let mut want: Vec<String> = survivors.iter().map(|s| s.0.clone()).collect();
        want.sort();
        assert_eq!(listed, want);
        for (_, key) in &survivors {
            assert_eq!(det.status(key).unwrap().log_count, 1);
        }
    }
    let store = Store::open(dir.path()).unwrap();
    for id in &deleted {
        for name in ["miner", "samples"] {
            assert!(store.blob(&project_blob(id, name)).unwrap().is_none());
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Full disk and read-only storage.

/// A tmpfs mounted for the test (root only), unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(options: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount(&self, options: &str) -> Result<(), String> {
        // A child process another test forks holds our descriptors until it execs: "busy" passes.
        let mut last = String::new();
        for _ in 0..40 {
            let out = Command::new("mount")
                .args(["-o", &format!("remount,{options}")])
                .arg(self.dir.path())
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                return Ok(());
            }
            last = String::from_utf8_lossy(&out.stderr).trim().to_string();
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(last)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// What a full-disk run acknowledged before the disk filled.
struct FullDisk {
    key: String,
    project_id: String,
    flushed: u64,
    error: String,
}

/// Writes distinct, long lines and flushes until storage refuses; checks the refusal is a storage
/// error and that the detector keeps answering.
fn fill_until_full(storage: &Path) -> FullDisk {
    let det = TenantDetector::open(tiny_config(storage)).unwrap();
    let p = det
        .create_project(NewProject::named("full").warmup_threshold(1_000_000))
        .unwrap();
    let mut flushed = 0;
    let mut error = None;
    'fill: for round in 0..20_000u64 {
        let batch: Vec<LogRecord> = (0..20)
            .map(|j| {
                let i = round * 20 + j;
                let mut line = format!("{} {} ", word(i), word(i * 3));
                for t in 0..150 {
                    line.push_str(&word(i * 151 + t));
                    line.push(' ');
                }
                LogRecord::new(line).session(format!("s{}", i % 97))
            })
            .collect();
        if let Err(e) = det.detect_batch(&p.api_key, &batch) {
            error = Some(e);
            break 'fill;
        }
        match det.flush() {
            Ok(()) => flushed = det.status(&p.api_key).unwrap().log_count,
            Err(e) => {
                error = Some(e);
                break 'fill;
            }
        }
    }
    let error = error.expect("storage never filled");
    assert_eq!(error.kind(), ErrorKind::Storage, "{error}");
    // Still answering from memory; writes keep failing cleanly.
    assert!(det.status(&p.api_key).is_ok());
    assert!(det.health().is_ok());
    let mut later = std::collections::BTreeSet::new();
    for _ in 0..3 {
        if let Err(e) = det.flush() {
            assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
            later.insert(e.to_string());
        }
        if let Err(e) = det.create_project(NewProject::named("while full")) {
            assert_eq!(e.kind(), ErrorKind::Storage, "{e}");
            later.insert(e.to_string());
        }
    }
    eprintln!("after the disk filled: {later:?}");
    drop(det);
    FullDisk {
        key: p.api_key,
        project_id: p.project_id,
        flushed,
        error: error.to_string(),
    }
}

/// After space is back: the storage opens as is and holds everything flushed before the disk filled.
fn check_after_full(storage: &Path, full: &FullDisk) {
    let det = TenantDetector::open(tiny_config(storage)).unwrap();
    let st = det.status(&full.key).unwrap();
    assert_eq!(st.project_id, full.project_id);
    assert!(
        st.log_count >= full.flushed,
        "{} < {} flushed",
        st.log_count,
        full.flushed
    );
    det.detect(&full.key, LogRecord::new("space is back"))
        .unwrap();
    det.flush().unwrap();
    let q = det.create_project(NewProject::named("after")).unwrap();
    drop(det);
    let det = TenantDetector::open(tiny_config(storage)).unwrap();
    assert!(det.status(&q.api_key).is_ok());
    assert!(det.status(&full.key).unwrap().log_count > full.flushed);
}

#[test]
fn a_full_disk_is_a_storage_error_and_corrupts_nothing_tmpfs() {
    let _g = shared();
    let fs = match Tmpfs::mount("size=6m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED full disk on tmpfs: {why} (the RLIMIT_FSIZE variant still runs)");
            return;
        }
    };
    // Ballast removed once the disk is full, to give space back.
    let ballast = fs.path().join("ballast");
    std::fs::write(&ballast, vec![1u8; 1 << 20]).unwrap();
    let storage = fs.path().join("storage");
    let full = fill_until_full(&storage);
    eprintln!(
        "full tmpfs: {} ({} lines flushed before)",
        full.error, full.flushed
    );
    assert!(full.error.contains("No space left"), "{}", full.error);
    std::fs::remove_file(&ballast).unwrap();
    check_after_full(&storage, &full);
}

const FULL_DISK_CHILD: &str = "LOGSENTINEL_FULL_DISK_CHILD";

#[test]
#[ignore = "the child process of a_full_disk_..._rlimit (it starts it; never run by hand)"]
fn full_disk_child() {
    let Ok(dir) = std::env::var(FULL_DISK_CHILD) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let full = fill_until_full(&dir.join("storage"));
    std::fs::write(
        dir.join("result"),
        format!(
            "{}\n{}\n{}\n{}",
            full.key, full.project_id, full.flushed, full.error
        ),
    )
    .unwrap();
}

#[test]
fn a_full_disk_is_a_storage_error_and_corrupts_nothing_rlimit() {
    let _g = shared();
    // A file size limit (RLIMIT_FSIZE, set by the shell's ulimit, with SIGXFSZ ignored so writes fail
    // with EFBIG instead of killing) stands for a full disk without privileges.
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 12288 || exit 97; exec \"$0\" \"$@\"")
        .arg(&exe)
        .args(["--exact", "full_disk_child", "--ignored", "--nocapture"])
        .env(FULL_DISK_CHILD, dir.path())
        .output()
        .unwrap();
    if out.status.code() == Some(97) {
        eprintln!("SKIPPED full disk by RLIMIT_FSIZE: ulimit -f refused");
        return;
    }
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let result = std::fs::read_to_string(dir.path().join("result")).unwrap();
    let mut it = result.splitn(4, '\n');
    let full = FullDisk {
        key: it.next().unwrap().to_string(),
        project_id: it.next().unwrap().to_string(),
        flushed: it.next().unwrap().parse().unwrap(),
        error: it.next().unwrap().to_string(),
    };
    eprintln!(
        "file size limit: {} ({} lines flushed before)",
        full.error, full.flushed
    );
    assert!(full.error.contains("too large"), "{}", full.error);
    check_after_full(&dir.path().join("storage"), &full);
}

#[test]
fn a_read_only_storage_directory_is_a_clear_error() {
    let _g = shared();
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let check = |storage: &Path, fresh: &Path| {
        for dir in [storage, fresh] {
            let err = match TenantDetector::open(tiny_config(dir)) {
                Ok(_) => panic!("opened read-only storage {}", dir.display()),
                Err(e) => e,
            };
            assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
            let text = err.to_string();
            assert!(text.contains(&*dir.to_string_lossy()), "{text}");
            eprintln!("read-only: {text}");
        }
    };
    let make = |storage: &Path| -> String {
        let det = TenantDetector::open(tiny_config(storage)).unwrap();
        let p = det.create_project(NewProject::named("ro")).unwrap();
        det.detect(&p.api_key, LogRecord::new("a line")).unwrap();
        det.close().unwrap();
        p.api_key
    };
    if is_root {
        let fs = match Tmpfs::mount("size=16m") {
            Ok(fs) => fs,
            Err(why) => {
                eprintln!("SKIPPED read-only storage: running as root (permissions do not bind) and {why}");
                return;
            }
        };
        let storage = fs.path().join("storage");
        let key = make(&storage);
        fs.remount("ro")
            .unwrap_or_else(|e| panic!("remount read-only: {e}"));
        check(&storage, &fs.path().join("never-created"));
        fs.remount("rw").unwrap();
        // Nothing was harmed.
        let det = TenantDetector::open(tiny_config(&storage)).unwrap();
        assert_eq!(det.status(&key).unwrap().log_count, 1);
    } else {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        let key = make(&storage);
        let set = |p: &Path, mode: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(&storage.join(logsentinel::store::DB_FILE), 0o444);
        set(&storage, 0o555);
        set(dir.path(), 0o555);
        check(&storage, &dir.path().join("never-created"));
        set(dir.path(), 0o755);
        set(&storage, 0o755);
        set(&storage.join(logsentinel::store::DB_FILE), 0o644);
        let det = TenantDetector::open(tiny_config(&storage)).unwrap();
        assert_eq!(det.status(&key).unwrap().log_count, 1);
    }
}
