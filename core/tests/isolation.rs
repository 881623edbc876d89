//! Tenant isolation and secrets.
//!
//! A property test drives random operations of several tenants (detect, batch, status, reset, close
//! sessions, poll verdicts, rotate, delete, stale keys) against one detector whose teacher was trained
//! on other tenants' templates, and checks that nothing a tenant gets back (results, statuses, verdicts,
//! errors) carries another tenant's data: its templates (each tenant's lines carry a marker word of its
//! own), session ids, project id or name, or any API key; and that a deleted project's or a rotated key
//! stops working at once. `PROPTEST_CASES` sets the number of cases (default 24).
//!
//! Secrets: keys never appear in `Debug` output, error messages, anything the library prints, or the
//! storage files (only their hashes).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use proptest::prelude::*;

use logsentinel::{
    Config, Error, JobState, LogRecord, ModelType, NewProject, Phase, TenantDetector,
};

// ---------------------------------------------------------------------------------------------------
// Tenants and their lines.

/// A marker word of fixed width ("mk" + 6 letters + "z"): two markers are never substrings of each
/// other, and none is hex (project ids) or likely in a key.
fn marker(n: usize) -> String {
    let mut s = String::from("mk");
    let mut v = n;
    for _ in 0..6 {
        s.push((b'a' + (v % 26) as u8) as char);
        v /= 26;
    }
    s.push('z');
    s
}

const TEMPLATES: [&str; 8] = [
    "{m} open connection from gateway {n}",
    "{m} read block {n} of volume",
    "{m} write block {n} of volume",
    "{m} close connection to gateway",
    "{m} ERROR failed to flush cache after {n} ms",
    "{m} retry scheduled for job {n}",
    "{m} user {n} logged in",
    "{m} GET /api/{m}/items/{n} 500",
];

/// Lines every tenant sends (no marker): the teacher knows them from the veterans, so a fresh tenant's
/// lines of these templates are scored by the teacher, whose predictions cover the veterans' templates.
const SHARED: [&str; 3] = [
    "session heartbeat ok",
    "cache flush completed in {n} ms",
    "worker pool resized to {n}",
];

fn line(m: &str, i: usize) -> String {
    let t = if i % 4 == 3 {
        SHARED[(i / 4) % SHARED.len()]
    } else {
        TEMPLATES[i % TEMPLATES.len()]
    };
    t.replace("{m}", m)
        .replace("{n}", &(i * 37 % 1000).to_string())
}

fn is_shared(template: &str) -> bool {
    let words = |t: &str| -> Vec<String> {
        t.split_whitespace()
            .filter(|w| !w.contains('{') && !w.contains('<'))
            .map(str::to_string)
            .collect()
    };
    SHARED.iter().any(|s| words(s) == words(template))
}

/// Detections whose expected templates were checked (how much the test exercised).
static EXPECTED_SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn session(m: &str, s: usize) -> String {
    format!("{m}-sess-{s}")
}

#[derive(Debug, Clone)]
struct Tenant {
    id: String,
    name: String,
    marker: String,
    key: String,
    /// Keys that were valid once (rotated away or of the deleted project).
    revoked: Vec<String>,
    /// Lines sent (the expected `log_count`).
    lines: u64,
}

fn create(det: &TenantDetector, n: usize, warmup: u64) -> Tenant {
    let m = marker(n);
    let name = format!("iso {m}");
    let p = det
        .create_project(NewProject::named(name.clone()).warmup_threshold(warmup))
        .unwrap();
    Tenant {
        id: p.project_id,
        name,
        marker: m,
        key: p.api_key,
        revoked: Vec::new(),
        lines: 0,
    }
}

fn tiny_config(dir: &Path) -> Config {
    let mut c = Config::with_storage_dir(dir).tiny_models();
    c.training_threads = 1;
    c.min_training_sequences = 20;
    c
}

/// One detector for every case: two veteran tenants with students, and a teacher trained on their
/// templates (so a leak through the shared teacher would show).
struct Fixture {
    det: TenantDetector,
    veterans: Mutex<Vec<Tenant>>,
    next_marker: Mutex<usize>,
    /// Every marker, id, name and key ever handed out, by tenant marker.
    everyone: Mutex<Vec<Tenant>>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
        let mut veterans = Vec::new();
        for n in 0..2 {
            let mut t = create(&det, n, 300);
            for chunk in 0..8 {
                let recs: Vec<LogRecord> = (0..60)
                    .map(|i| {
                        let i = chunk * 60 + i;
                        LogRecord::new(line(&t.marker, i)).session(session(&t.marker, i / 6))
                    })
                    .collect();
                det.detect_batch(&t.key, &recs).unwrap();
                t.lines += 60;
            }
            det.close_all_sessions(&t.key).unwrap();
            let st = det
                .wait_for_training(&t.key, Some(Duration::from_secs(600)))
                .unwrap()
                .expect("training started");
            assert_eq!(st.state, JobState::Succeeded, "{:?}", st.error);
            let d = det
                .detect(&t.key, LogRecord::new(line(&t.marker, 1)).session("v"))
                .unwrap();
            assert_eq!(d.model_type, ModelType::Student);
            det.close_all_sessions(&t.key).unwrap();
            t.lines += 1;
            veterans.push(t);
        }
        assert!(det.teacher_info().unwrap().trained);
        Fixture {
            det,
            everyone: Mutex::new(veterans.clone()),
            veterans: Mutex::new(veterans),
            next_marker: Mutex::new(2),
            _dir: dir,
        }
    })
}

// ---------------------------------------------------------------------------------------------------
// Operations.

/// Fresh tenants per case (0..FRESH) and the veterans after them.
const FRESH: usize = 3;
const TENANTS: usize = FRESH + 2;

#[derive(Debug, Clone)]
enum Op {
    Detect {
        t: usize,
        i: usize,
        s: usize,
    },
    Batch {
        t: usize,
        n: usize,
        start: usize,
    },
    Status(usize),
    Reset(usize),
    /// Tenant `t` closes a session named like tenant `of`'s.
    Close {
        t: usize,
        of: usize,
        s: usize,
    },
    CloseAll(usize),
    Poll(usize),
    Rotate(usize),
    Delete(usize),
    StaleKey(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TENANTS;
    prop_oneof![
        4 => (t.clone(), 0..64usize, 0..6usize).prop_map(|(t, i, s)| Op::Detect { t, i, s }),
        3 => (t.clone(), 1..40usize, 0..64usize).prop_map(|(t, n, start)| Op::Batch { t, n, start }),
        1 => t.clone().prop_map(Op::Status),
        1 => t.clone().prop_map(Op::Reset),
        2 => (t.clone(), t.clone(), 0..6usize).prop_map(|(t, of, s)| Op::Close { t, of, s }),
        1 => t.clone().prop_map(Op::CloseAll),
        1 => t.clone().prop_map(Op::Poll),
        1 => t.clone().prop_map(Op::Rotate),
        1 => (0..FRESH).prop_map(Op::Delete),
        1 => t.prop_map(Op::StaleKey),
    ]
}

/// Checks that `text` (a result, status, verdict or error, as JSON or text) carries nothing of any
/// tenant but `own`, and no key at all.
fn assert_clean(text: &str, own: &Tenant, everyone: &[Tenant], what: &str) {
    for other in everyone {
        for k in std::iter::once(&other.key).chain(&other.revoked) {
            assert!(
                !text.contains(&k[3..]),
                "{what} of {} carries a key",
                own.name
            );
        }
        if other.id == own.id {
            continue;
        }
        for (label, s) in [
            ("marker", &other.marker),
            ("id", &other.id),
            ("name", &other.name),
        ] {
            assert!(
                !text.contains(s.as_str()),
                "{what} of {} carries the {label} of {}: {text}",
                own.name,
                other.name
            );
        }
    }
}

fn run_case(ops: &[Op]) {
    let f = fixture();
    let det = &f.det;
    let mut tenants: Vec<Tenant> = Vec::new();
    let fresh_marker = || {
        let mut n = f.next_marker.lock().unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        *n - 1
    };
    for _ in 0..FRESH {
        let t = create(det, fresh_marker(), 150);
        f.everyone.lock().unwrap().push(t.clone());
        tenants.push(t);
    }
    tenants.extend(f.veterans.lock().unwrap().iter().cloned());
    // Veterans' counts as of now (earlier cases sent lines too).
    for t in &mut tenants[FRESH..] {
        t.lines = det.status(&t.key).unwrap().log_count;
    }
    let snapshot = |tenants: &[Tenant]| {
        let mut all = f.everyone.lock().unwrap().clone();
        for t in tenants {
            if let Some(a) = all.iter_mut().find(|a| a.id == t.id) {
                *a = t.clone();
            }
        }
        all
    };
    for op in ops {
        let everyone = snapshot(&tenants);
        match op.clone() {
            Op::Detect { t, i, s } => {
                let tn = &mut tenants[t];
                let sid = session(&tn.marker, s);
                let d = det
                    .detect(
                        &tn.key,
                        LogRecord::new(line(&tn.marker, i)).session(sid.clone()),
                    )
                    .unwrap();
                tn.lines += 1;
                assert_eq!(d.project_id, tn.id);
                assert_eq!(d.project_name, tn.name);
                assert_eq!(d.session_id.as_deref(), Some(sid.as_str()));
                assert_eq!(d.log_count, tn.lines);
                for e in &d.expected {
                    assert!(
                        e.template.contains(&tn.marker) || is_shared(&e.template),
                        "expected {:?}",
                        e.template
                    );
                }
                if !d.expected.is_empty() {
                    EXPECTED_SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                let tn = tn.clone();
                assert_clean(
                    &serde_json::to_string(&d).unwrap(),
                    &tn,
                    &everyone,
                    "detect",
                );
                assert_clean(&format!("{d:?}"), &tn, &everyone, "detect debug");
            }
            Op::Batch { t, n, start } => {
                let tn = &mut tenants[t];
                let recs: Vec<LogRecord> = (start..start + n)
                    .map(|i| {
                        LogRecord::new(line(&tn.marker, i)).session(session(&tn.marker, i % 7))
                    })
                    .collect();
                let b = det.detect_batch(&tn.key, &recs).unwrap();
                tn.lines += n as u64;
                assert_eq!(b.project_id, tn.id);
                assert_eq!(b.results.len(), n);
                assert!(b.results.iter().all(|d| d.project_id == tn.id));
                assert_eq!(b.results.last().unwrap().log_count, tn.lines);
                let tn = tn.clone();
                assert_clean(&serde_json::to_string(&b).unwrap(), &tn, &everyone, "batch");
            }
            Op::Status(t) => {
                let tn = &tenants[t];
                let st = det.status(&tn.key).unwrap();
                assert_eq!(st.project_id, tn.id);
                assert_eq!(st.project_name, tn.name);
                assert_eq!(st.log_count, tn.lines, "a tenant's count is its own lines");
                assert_clean(
                    &serde_json::to_string(&st).unwrap(),
                    tn,
                    &everyone,
                    "status",
                );
                let by_id = det.project_status(&tn.id).unwrap();
                assert_eq!(by_id.project_id, tn.id);
            }
            Op::Reset(t) => {
                det.reset_sessions(&tenants[t].key).unwrap();
            }
            Op::Close { t, of, s } => {
                let tn = &tenants[t];
                let sid = session(&tenants[of].marker, s);
                let v = det.close_session(&tn.key, &sid).unwrap();
                if tenants[of].id != tn.id {
                    assert!(v.is_none(), "closed another tenant's session");
                }
                if let Some(v) = v {
                    assert_eq!(v.project_id, tn.id);
                    assert_eq!(v.session_id, sid);
                    assert_clean(
                        &serde_json::to_string(&v).unwrap(),
                        tn,
                        &everyone,
                        "verdict",
                    );
                }
            }
            Op::CloseAll(t) => {
                let tn = &tenants[t];
                let vs = det.close_all_sessions(&tn.key).unwrap();
                for v in &vs {
                    assert_eq!(v.project_id, tn.id);
                    assert!(v.session_id.starts_with(&tn.marker), "{}", v.session_id);
                }
                assert_clean(
                    &serde_json::to_string(&vs).unwrap(),
                    tn,
                    &everyone,
                    "verdicts",
                );
            }
            Op::Poll(t) => {
                let tn = &tenants[t];
                let vs = det.poll_session_verdicts(&tn.key, usize::MAX).unwrap();
                assert!(vs.iter().all(|v| v.project_id == tn.id));
                assert_clean(
                    &serde_json::to_string(&vs).unwrap(),
                    tn,
                    &everyone,
                    "polled",
                );
            }
            Op::Rotate(t) => {
                let tn = &mut tenants[t];
                let new = det.rotate_key(&tn.key).unwrap();
                let old = std::mem::replace(&mut tn.key, new);
                assert!(matches!(det.status(&old), Err(Error::InvalidApiKey)));
                assert!(matches!(
                    det.detect(&old, LogRecord::new("x")),
                    Err(Error::InvalidApiKey)
                ));
                assert_eq!(det.status(&tn.key).unwrap().project_id, tn.id);
                tn.revoked.push(old);
                if t >= FRESH {
                    f.veterans.lock().unwrap()[t - FRESH] = tn.clone();
                }
            }
            Op::Delete(t) => {
                let gone = tenants[t].clone();
                det.delete_project(&gone.id).unwrap();
                // Immediately: every call with its key fails, its id is unknown.
                for e in [
                    det.status(&gone.key).err(),
                    det.detect(&gone.key, LogRecord::new("x")).err(),
                    det.detect_batch(&gone.key, &[LogRecord::new("x")]).err(),
                    det.close_all_sessions(&gone.key).err(),
                    det.rotate_key(&gone.key).err(),
                ] {
                    assert!(matches!(e, Some(Error::InvalidApiKey)), "{e:?}");
                }
                assert!(matches!(
                    det.project_status(&gone.id),
                    Err(Error::ProjectNotFound { .. })
                ));
                let mut record = gone.clone();
                record.revoked.push(gone.key.clone());
                if let Some(a) = f
                    .everyone
                    .lock()
                    .unwrap()
                    .iter_mut()
                    .find(|a| a.id == gone.id)
                {
                    *a = record;
                }
                // The slot goes on with a new tenant.
                let t2 = create(det, fresh_marker(), 150);
                f.everyone.lock().unwrap().push(t2.clone());
                tenants[t] = t2;
            }
            Op::StaleKey(t) => {
                let everyone_keys = snapshot(&tenants);
                let Some(stale) = everyone_keys
                    .iter()
                    .flat_map(|a| a.revoked.iter())
                    .nth(t)
                    .cloned()
                else {
                    continue;
                };
                for e in [
                    det.status(&stale).err(),
                    det.detect(&stale, LogRecord::new("x")).err(),
                    det.reset_sessions(&stale).err(),
                    det.poll_session_verdicts(&stale, 1).err(),
                ] {
                    let e = e.expect("a revoked key worked");
                    assert!(matches!(e, Error::InvalidApiKey), "{e}");
                }
            }
        }
        // Errors carry nobody's data: the same call with a wrong key for every tenant.
        if let Err(e) = det.status(&format!("{}x", &tenants[0].key[..45])) {
            assert_clean(&format!("{e} {e:?}"), &tenants[0], &everyone, "error");
        }
    }
    // The phase machinery stays per tenant: fresh tenants past their warmup never show a veteran's
    // student.
    for t in &tenants[..FRESH] {
        let st = det.status(&t.key).unwrap();
        if st.phase != Phase::Active {
            assert!(!st.has_student_model);
        }
    }
    if std::env::var("ISOLATION_STATS").is_ok() {
        eprintln!(
            "detections with expected templates so far: {}",
            EXPECTED_SEEN.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    // Clean up this case's tenants; their keys stop working at once.
    for t in &tenants[..FRESH] {
        let _ = det.wait_for_training(&t.key, Some(Duration::from_secs(300)));
        det.delete_project(&t.id).unwrap();
        assert!(matches!(det.status(&t.key), Err(Error::InvalidApiKey)));
        if let Some(a) = f.everyone.lock().unwrap().iter_mut().find(|a| a.id == t.id) {
            a.revoked.push(t.key.clone());
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_tenant_ever_sees_another_tenants_data(ops in prop::collection::vec(op(), 1..40)) {
        run_case(&ops);
    }
}

// ---------------------------------------------------------------------------------------------------
// Secrets.

/// Every string that would betray `key` (the whole key and its random part).
fn leaks(hay: &[u8], key: &str) -> bool {
    let find = |needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    find(key.as_bytes()) || find(&key.as_bytes()[3..])
}

#[test]
fn keys_never_appear_in_debug_output_errors_or_storage() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let mut keys = Vec::new();
    let p = det
        .create_project(NewProject::named("secret").warmup_threshold(150))
        .unwrap();
    keys.push(p.api_key.clone());
    // A created project shows its key through the field (and serialization, for the HTTP answer),
    // never through Debug.
    let debug = format!("{p:?} {p:#?}");
    assert!(!leaks(debug.as_bytes(), &p.api_key), "{debug}");
    assert!(debug.contains(&p.project_id));
    let mut key = p.api_key.clone();
    let mut debug_out = String::new();
    for round in 0..3 {
        let recs: Vec<LogRecord> = (0..120)
            .map(|i| LogRecord::new(line("mksecretz", i)).session(session("mksecretz", i / 5)))
            .collect();
        let b = det.detect_batch(&key, &recs).unwrap();
        debug_out += &format!("{b:?}");
        debug_out += &format!("{:?}", det.status(&key).unwrap());
        debug_out += &format!("{:?}", det.close_all_sessions(&key).unwrap());
        debug_out += &format!("{:?}", det.training_job(&key).unwrap());
        debug_out += &format!(
            "{:?}",
            det.wait_for_training(&key, Some(Duration::from_secs(300)))
        );
        debug_out += &format!("{:?}", det.health().unwrap());
        debug_out += &format!("{:?}", det.list_projects().unwrap());
        debug_out += &format!("{:?}", det.teacher_info().unwrap());
        debug_out += &format!("{:?}", det.update_history().unwrap());
        if round < 2 {
            key = det.rotate_key(&key).unwrap();
            keys.push(key.clone());
        }
    }
    let q = det.create_project(NewProject::named("deleted")).unwrap();
    keys.push(q.api_key.clone());
    det.detect(&q.api_key, LogRecord::new("one line")).unwrap();
    det.delete_project(&q.project_id).unwrap();
    // Errors for revoked, deleted and mangled keys.
    for k in &keys {
        for bad in [k.clone(), format!("{k}x"), k[..k.len() - 1].to_string()] {
            for e in [
                det.status(&bad).err(),
                det.detect(&bad, LogRecord::new("x")).err(),
                det.rotate_key(&bad).err(),
            ]
            .into_iter()
            .flatten()
            {
                debug_out += &format!("{e} {e:?}");
            }
        }
    }
    debug_out += &format!("{:?}", det.delete_project(&q.project_id).unwrap_err());
    debug_out += &format!("{:?}", det.config());
    for k in &keys {
        assert!(
            !leaks(debug_out.as_bytes(), k),
            "a key in debug or error text"
        );
    }
    let job = det.force_teacher_update().unwrap();
    job.wait(Some(Duration::from_secs(300))).unwrap();
    det.close().unwrap();
    drop(det);
    // Every file under the storage directory: hashes only.
    let mut files = 0;
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        files += 1;
        for k in &keys {
            assert!(!leaks(&bytes, k), "a key in {}", entry.display());
        }
    }
    assert!(files >= 1);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

const SECRETS_CHILD: &str = "LOGSENTINEL_SECRETS_CHILD";

#[test]
#[ignore = "the child process of the library_prints_no_key test (it starts it; never run by hand)"]
fn secrets_child() {
    let Ok(dir) = std::env::var(SECRETS_CHILD) else {
        return;
    };
    let dir = Path::new(&dir);
    let det = TenantDetector::open(tiny_config(&dir.join("storage"))).unwrap();
    let p = det
        .create_project(NewProject::named("printer").warmup_threshold(150))
        .unwrap();
    let mut keys = vec![p.api_key.clone()];
    let recs: Vec<LogRecord> = (0..300)
        .map(|i| LogRecord::new(line("mkprintrz", i)).session(session("mkprintrz", i / 5)))
        .collect();
    det.detect_batch(&p.api_key, &recs).unwrap();
    det.close_all_sessions(&p.api_key).unwrap();
    let _ = det.wait_for_training(&p.api_key, Some(Duration::from_secs(300)));
    let k2 = det.rotate_key(&p.api_key).unwrap();
    keys.push(k2.clone());
    let _ = det.detect(&p.api_key, LogRecord::new("revoked"));
    det.force_teacher_update()
        .unwrap()
        .wait(Some(Duration::from_secs(300)))
        .unwrap();
    det.delete_project(&p.project_id).unwrap();
    let _ = det.status(&k2);
    det.close().unwrap();
    std::fs::write(dir.join("keys"), keys.join("\n")).unwrap();
}

#[test]
fn the_library_prints_no_key() {
    // Whatever the library writes to stdout or stderr (it has no logger; this keeps it so) while a
    // project lives, trains, rotates and is deleted carries no key.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "secrets_child", "--ignored", "--nocapture"])
        .env(SECRETS_CHILD, dir.path())
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = std::fs::read_to_string(dir.path().join("keys")).unwrap();
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 2);
    for k in keys {
        assert!(!leaks(&out.stdout, k) && !leaks(&out.stderr, k));
    }
}

/// Everything tenant `b` got back for `lines` lines of its warmup and the verdicts of their sessions,
/// without the wall-clock fields.
fn warmup_outcome(det: &TenantDetector, b: &Tenant, from: usize, lines: usize) -> Vec<String> {
    let recs: Vec<LogRecord> = (from..from + lines)
        .map(|i| LogRecord::new(line(&b.marker, i)).session(session(&b.marker, i / 6)))
        .collect();
    let batch = det.detect_batch(&b.key, &recs).unwrap();
    let mut out: Vec<String> = batch
        .results
        .iter()
        .map(|d| {
            assert_eq!(d.model_type, ModelType::Teacher);
            format!(
                "{} {:08x} {:08x} {:?} {:?}",
                d.is_anomaly,
                d.anomaly_score.to_bits(),
                d.components.sequence.to_bits(),
                d.template_probability.map(f32::to_bits),
                d.reasons
            )
        })
        .collect();
    for v in det.close_all_sessions(&b.key).unwrap() {
        assert_eq!(v.threshold, det.config().anomaly_threshold as f32);
        assert_eq!(v.is_anomaly, v.anomaly_score >= v.threshold);
        out.push(format!(
            "{} {} {:08x} {:08x} {:?}",
            v.session_id,
            v.is_anomaly,
            v.anomaly_score.to_bits(),
            v.end_score.to_bits(),
            v.reasons
        ));
    }
    out
}

/// Sends a tenant its warmup and waits until its student serves.
fn train(det: &TenantDetector, t: &Tenant, warmup: &[LogRecord]) {
    det.detect_batch(&t.key, warmup).unwrap();
    det.close_all_sessions(&t.key).unwrap();
    let job = det
        .wait_for_training(&t.key, Some(Duration::from_secs(600)))
        .unwrap()
        .expect("training started");
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    assert_eq!(det.status(&t.key).unwrap().phase, Phase::Active);
}

/// A tenant warming up under the shared teacher gets the same verdicts, to the bit, whether or not
/// another tenant trained its student in the meantime: that training fine-tunes a private copy of the
/// teacher, so neither the teacher's weights nor its thresholds move. Session verdicts are cut at the
/// configured `anomaly_threshold`, as lines are.
#[test]
fn another_tenants_training_does_not_move_a_warming_up_tenants_verdicts() {
    let run = |other_trains: bool| -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let mut config = tiny_config(dir.path());
        config.anomaly_threshold = 0.6;
        let det = TenantDetector::open(config).unwrap();
        // A first tenant trains: the shared teacher exists from then on.
        let mut trainees = Vec::new();
        for n in [0, 2] {
            let t = create(&det, n, 300);
            let recs: Vec<LogRecord> = (0..480)
                .map(|i| LogRecord::new(line(&t.marker, i)).session(session(&t.marker, i / 6)))
                .collect();
            trainees.push((t, recs));
        }
        train(&det, &trainees[0].0, &trainees[0].1);
        let b = create(&det, 1, 100_000);
        let mut seen = warmup_outcome(&det, &b, 0, 120);
        let version = det.teacher_info().unwrap().version;
        if other_trains {
            train(&det, &trainees[1].0, &trainees[1].1);
        }
        assert_eq!(det.teacher_info().unwrap().version, version);
        seen.extend(warmup_outcome(&det, &b, 120, 240));
        seen
    };
    let alone = run(false);
    let beside = run(true);
    assert!(
        alone.iter().any(|l| l.contains("Some(")),
        "the teacher scored none of the lines"
    );
    assert_eq!(alone.len(), beside.len());
    let differs = alone.iter().zip(&beside).position(|(a, b)| a != b);
    assert!(
        differs.is_none(),
        "result {differs:?} moved: {:?}",
        differs.map(|i| (&alone[i], &beside[i]))
    );
}
