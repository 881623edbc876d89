//! The C ABI (`include/logsentinel.h`), called exactly as C calls it: the `extern "C"` functions with
//! NUL-terminated buffers made from the input (invalid UTF-8, interior NUL, up to 1 MiB lines),
//! NULL wherever the header allows it, random keys, project ids, JSON configs and project
//! definitions, a host clock the input moves (backwards too), and batches of every size.
//!
//! One detector (tiny models, small caps) lives for the whole process, in a temporary directory,
//! with two projects: `A` (format auto, stays in warmup: the teacher scores) and `B` (HDFS, session
//! pattern, a custom rule, warmup 100: a student is trained in the background and takes over). The
//! input is a program of operations on it; state carries over between inputs, so a crash may need
//! the inputs before it (libFuzzer's `-runs` on the corpus replays them).
//!
//! Checked after every call, besides "no crash, no hang, bounded memory":
//! - no call returns `LS_STATUS_PANIC` (a panic caught at the boundary is still a bug);
//! - on failure every out-parameter is NULL; on success JSON outputs parse;
//! - no output, error message or verdict ever contains a live API key (outside create/rotate);
//! - `ls_last_error_message` writes within `buf_len` and NUL-terminates;
//! - a closed detector answers `LS_STATUS_CLOSED`.
#![no_main]

use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use logsentinel_ffi::*;

const OK: ls_status = ls_status::Ok;

/// The host clock: Unix seconds as f64 bits, set by the input (finite, as the header requires).
static CLOCK: AtomicU64 = AtomicU64::new(0x41D9_5A8F_0000_0000); // ~1.7e9
/// Verdicts delivered to the callback.
static VERDICTS: AtomicU64 = AtomicU64::new(0);
/// Live secrets the callback checks verdicts against (copied from the harness).
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn clock(_user: *mut c_void) -> f64 {
    f64::from_bits(CLOCK.load(Ordering::Relaxed))
}

unsafe extern "C" fn on_verdict(json: *const c_char, user: *mut c_void) {
    assert!(!json.is_null());
    assert_eq!(user as usize, 0x5e551017);
    // SAFETY: the library passes a NUL-terminated string for the duration of the call.
    let s = unsafe { CStr::from_ptr(json) }
        .to_str()
        .expect("verdict JSON is UTF-8");
    serde_json::from_str::<serde_json::Value>(s).expect("verdict is JSON");
    for k in SECRETS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        assert!(!s.contains(k.as_str()), "a verdict carries an API key");
    }
    VERDICTS.fetch_add(1, Ordering::Relaxed);
}

struct Harness {
    dir: tempfile::TempDir,
    det: *mut ls_detector,
    /// Live keys and ids of projects A and B.
    keys: [CString; 2],
    ids: [CString; 2],
    /// Keys that were rotated away (must be refused).
    old_keys: Vec<CString>,
    /// Ids of projects the input created (deleted beyond 3).
    extra: VecDeque<CString>,
    runs: u64,
    last_teacher_update: u64,
}

// SAFETY: the detector handle is thread-safe (the header says so); the harness is behind a Mutex.
unsafe impl Send for Harness {}

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

fn base_config(dir: &std::path::Path) -> serde_json::Value {
    let tiny = serde_json::json!({"n_layers": 1, "d_model": 16, "n_heads": 2, "d_ff": 32});
    serde_json::json!({
        "storage_dir": dir,
        "warmup_threshold": 100000,
        "teacher": tiny,
        "student": tiny,
        "max_line_bytes": 512,
        "max_batch_size": 64,
        "max_sessions_per_project": 32,
        "max_templates_per_project": 16,
        "min_training_sequences": 5,
        "max_training_sequences": 40,
        "distill_epochs": 1,
        "teacher_epochs": 1,
        "teacher_finetune_epochs": 1,
        "training_threads": 1,
        "commit_every_logs": 50,
        "window": 8,
        "session_idle_timeout_secs": 30.0,
        "student_memory_budget_bytes": 1 << 20,
    })
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

/// A C string from input bytes: NUL-terminated, cut at the first interior NUL (as C sees it).
fn c_bytes(b: &[u8]) -> CString {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    CString::new(&b[..end]).expect("cut at NUL")
}

/// Takes an owned string result (asserting it is NULL on failure), checks it and frees it.
fn take_out(status: ls_status, out: *mut c_char, json: bool, secrets: &[&str]) {
    if status != OK {
        assert!(
            out.is_null(),
            "out-parameter not NULL on failure ({status:?})"
        );
        return;
    }
    if out.is_null() {
        return;
    }
    // SAFETY: a string this library returned, freed once below.
    let s = unsafe { CStr::from_ptr(out) }
        .to_str()
        .expect("result is UTF-8")
        .to_string();
    // SAFETY: as above.
    unsafe { ls_string_free(out) };
    if json {
        serde_json::from_str::<serde_json::Value>(&s)
            .unwrap_or_else(|e| panic!("result is not JSON ({e}): {s}"));
    }
    for k in secrets {
        assert!(!s.contains(k), "a result carries an API key");
    }
}

fn last_error() -> String {
    let mut buf = vec![0 as c_char; 4096];
    let mut needed = 0usize;
    // SAFETY: buf is writable for its length.
    let st = unsafe { ls_last_error_message(buf.as_mut_ptr(), buf.len(), &mut needed) };
    assert!(st == OK || st == ls_status::BufferTooSmall);
    // SAFETY: NUL-terminated by the call.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// A status check shared by every call.
fn check(status: ls_status, what: &str, secrets: &[&str]) {
    assert!(
        status != ls_status::Panic,
        "{what}: panic caught at the C boundary: {}",
        last_error()
    );
    if status != OK {
        let msg = last_error();
        for k in secrets {
            assert!(
                !msg.contains(k),
                "{what}: the error message carries an API key"
            );
        }
    }
}

struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    fn u64(&mut self) -> u64 {
        let mut v = [0u8; 8];
        for b in &mut v {
            *b = self.byte();
        }
        u64::from_le_bytes(v)
    }
    /// A length-prefixed slice (one byte, or 0xff then two bytes), cut to what is left.
    fn bytes(&mut self) -> &'a [u8] {
        let mut n = usize::from(self.byte());
        if n == 0xff {
            n = usize::from(self.byte()) | usize::from(self.byte()) << 8;
        }
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = cstr(&base_config(dir.path()).to_string());
        let mut det = null_mut();
        // SAFETY: valid strings and out-pointer.
        let st =
            unsafe { ls_detector_open_with_clock(cfg.as_ptr(), Some(clock), null_mut(), &mut det) };
        assert_eq!(st, OK, "open: {}", last_error());
        let mut keys = Vec::new();
        let mut ids = Vec::new();
        for p in [
            r#"{"name": "fuzz-a"}"#,
            r#"{"name": "fuzz-b", "warmup_threshold": 100, "format": "hdfs",
                "session_pattern": "(blk_-?\\d+)",
                "custom_rules": [{"name": "oops", "pattern": "(?i)oops|fatal", "severity": 0.9}]}"#,
        ] {
            let json = cstr(p);
            let mut cp = null_mut();
            // SAFETY: live handle, valid string and out-pointer.
            let st = unsafe { ls_create_project(det, json.as_ptr(), &mut cp) };
            assert_eq!(st, OK, "create: {}", last_error());
            // SAFETY: a project this library returned, freed once.
            unsafe {
                keys.push(CStr::from_ptr((*cp).api_key).to_owned());
                ids.push(CStr::from_ptr((*cp).project_id).to_owned());
                ls_created_project_free(cp);
            }
        }
        let h = Harness {
            dir,
            det,
            keys: [keys[0].clone(), keys[1].clone()],
            ids: [ids[0].clone(), ids[1].clone()],
            old_keys: Vec::new(),
            extra: VecDeque::new(),
            runs: 0,
            last_teacher_update: 0,
        };
        h.publish_secrets();
        h
    }

    fn publish_secrets(&self) {
        let mut s = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
        s.clear();
        s.extend(self.keys.iter().map(|k| k.to_string_lossy().into_owned()));
    }

    fn secrets(&self) -> Vec<&str> {
        self.keys
            .iter()
            .map(|k| k.to_str().expect("keys are ASCII"))
            .collect()
    }

    /// A key argument: A's, B's, a rotated-away one, input bytes, a well-shaped unknown key, NULL.
    fn key(&self, inp: &mut Input) -> Option<CString> {
        match inp.byte() % 8 {
            0 | 1 | 2 => Some(self.keys[0].clone()),
            3 | 4 => Some(self.keys[1].clone()),
            5 => Some(
                self.old_keys
                    .last()
                    .cloned()
                    .unwrap_or_else(|| c_bytes(inp.bytes())),
            ),
            6 => {
                let b = inp.bytes();
                let mut k = b"sk-".to_vec();
                k.extend((0..43).map(|i| {
                    let c = b.get(i).copied().unwrap_or(b'A');
                    if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' {
                        c
                    } else {
                        b'x'
                    }
                }));
                Some(CString::new(k).expect("no NUL"))
            }
            _ => {
                if inp.byte() & 1 == 0 {
                    None
                } else {
                    Some(c_bytes(inp.bytes()))
                }
            }
        }
    }

    /// A project-id argument: A's, B's, an extra project's, input bytes, or NULL.
    fn project_id(&self, inp: &mut Input) -> Option<CString> {
        match inp.byte() % 5 {
            0 => Some(self.ids[0].clone()),
            1 => Some(self.ids[1].clone()),
            2 => self.extra.front().cloned(),
            3 => Some(c_bytes(inp.bytes())),
            _ => None,
        }
    }
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(null(), |c| c.as_ptr())
}

/// An optional C string from the input (NULL when the flag byte says so).
fn opt_str(inp: &mut Input) -> Option<CString> {
    if inp.byte() % 4 == 0 {
        None
    } else {
        Some(c_bytes(inp.bytes()))
    }
}

fn run(h: &mut Harness, inp: &mut Input) {
    let det = h.det;
    let mut ops = 0;
    while !inp.is_empty() && ops < 64 {
        ops += 1;
        let op = inp.byte();
        let secrets_owned: Vec<String> = h.secrets().iter().map(|s| s.to_string()).collect();
        let secrets: Vec<&str> = secrets_owned.iter().map(String::as_str).collect();
        let sec = &secrets[..];
        // A NULL detector now and then: every function must refuse it.
        let d = if op & 0x80 != 0 && inp.byte() == 0 {
            null()
        } else {
            det.cast_const()
        };
        match op % 26 {
            0 | 1 => {
                let key = h.key(inp);
                let line = c_bytes(inp.bytes());
                let sid = opt_str(inp);
                let mut res = std::mem::MaybeUninit::<ls_detection>::zeroed();
                let out = if inp.byte() == 1 {
                    null_mut()
                } else {
                    res.as_mut_ptr()
                };
                // SAFETY: valid strings or NULL; `out` NULL or writable.
                let st = unsafe { ls_detect(d, ptr(&key), line.as_ptr(), ptr(&sid), out) };
                check(st, "ls_detect", sec);
                if st == OK {
                    // SAFETY: written on success.
                    let r = unsafe { res.assume_init() };
                    assert!(r.anomaly_score.is_finite() && (0.0..=1.0).contains(&r.anomaly_score));
                    assert!((0.0..=1.0).contains(&r.warmup_progress));
                }
            }
            2 | 3 => {
                let key = h.key(inp);
                let line = c_bytes(inp.bytes());
                let sid = opt_str(inp);
                let mut out = null_mut();
                // SAFETY: valid strings or NULL, writable out-pointer.
                let st =
                    unsafe { ls_detect_json(d, ptr(&key), line.as_ptr(), ptr(&sid), &mut out) };
                check(st, "ls_detect_json", sec);
                take_out(st, out, true, sec);
            }
            4 | 5 | 6 => {
                // Batches: 0..=8 lines, or more than max_batch_size; NULL arrays and entries.
                let key = h.key(inp);
                let sel = inp.byte();
                let n = if sel == 0xff {
                    65 + usize::from(inp.byte())
                } else {
                    usize::from(sel % 9)
                };
                let mut lines: Vec<CString> = Vec::with_capacity(n);
                let mut sids: Vec<Option<CString>> = Vec::with_capacity(n);
                let with_sids = inp.byte() % 3 != 0;
                for i in 0..n {
                    lines.push(if i < 9 {
                        c_bytes(inp.bytes())
                    } else {
                        lines[i % 9].clone()
                    });
                    sids.push(if with_sids && i < 9 {
                        opt_str(inp)
                    } else {
                        None
                    });
                }
                let line_ptrs: Vec<*const c_char> = lines.iter().map(|c| c.as_ptr()).collect();
                let sid_ptrs: Vec<*const c_char> = sids.iter().map(ptr).collect();
                let lp = if inp.byte() == 7 {
                    null()
                } else {
                    line_ptrs.as_ptr()
                };
                let sp = if with_sids { sid_ptrs.as_ptr() } else { null() };
                if op % 26 == 6 {
                    let mut out = null_mut();
                    // SAFETY: `n` readable pointers in each array (or NULL).
                    let st = unsafe { ls_detect_batch_json(d, ptr(&key), lp, sp, n, &mut out) };
                    check(st, "ls_detect_batch_json", sec);
                    take_out(st, out, true, sec);
                } else {
                    let mut results = vec![
                        // SAFETY: plain data; zero is a valid ls_detection.
                        unsafe { std::mem::zeroed::<ls_detection>() };
                        n
                    ];
                    let rp = if inp.byte() == 3 {
                        null_mut()
                    } else {
                        results.as_mut_ptr()
                    };
                    let mut anomalies = usize::MAX;
                    let ap = if inp.byte() & 1 == 0 {
                        null_mut()
                    } else {
                        &mut anomalies as *mut usize
                    };
                    // SAFETY: `n` readable pointers in each array, `n` writable results (or NULL).
                    let st = unsafe { ls_detect_batch(d, ptr(&key), lp, sp, n, rp, ap) };
                    check(st, "ls_detect_batch", sec);
                    if st == OK {
                        assert!(n >= 1 && n <= 64, "batch of {n} accepted");
                        if !ap.is_null() {
                            assert!(anomalies <= n);
                        }
                    }
                }
            }
            7 => {
                // A very long line: the input repeated up to 1 MiB (truncated at max_line_bytes).
                let key = h.key(inp);
                let unit = inp.bytes();
                let unit = if unit.is_empty() { &b"x"[..] } else { unit };
                let target = 1usize << (inp.byte() % 21);
                let mut line = Vec::with_capacity(target + unit.len());
                while line.len() < target {
                    line.extend_from_slice(unit);
                }
                let line = c_bytes(&line);
                let mut out = null_mut();
                // SAFETY: valid strings, writable out-pointer.
                let st = unsafe { ls_detect_json(d, ptr(&key), line.as_ptr(), null(), &mut out) };
                check(st, "ls_detect_json(long)", sec);
                take_out(st, out, true, sec);
            }
            8 => {
                let key = h.key(inp);
                let sid = opt_str(inp);
                let mut out = null_mut();
                // SAFETY: valid strings or NULL, writable out-pointer.
                let st = unsafe { ls_close_session(d, ptr(&key), ptr(&sid), &mut out) };
                check(st, "ls_close_session", sec);
                take_out(st, out, true, sec);
            }
            9 => {
                let key = h.key(inp);
                let mut out = null_mut();
                // SAFETY: as above.
                let st = unsafe { ls_close_all_sessions(d, ptr(&key), &mut out) };
                check(st, "ls_close_all_sessions", sec);
                take_out(st, out, true, sec);
            }
            10 => {
                let key = h.key(inp);
                let max = inp.u64() as usize;
                let mut out = null_mut();
                // SAFETY: as above.
                let st = unsafe { ls_poll_session_verdicts(d, ptr(&key), max, &mut out) };
                check(st, "ls_poll_session_verdicts", sec);
                take_out(st, out, true, sec);
            }
            11 => {
                let key = h.key(inp);
                let mut n = usize::MAX;
                let np = if inp.byte() & 1 == 0 {
                    null_mut()
                } else {
                    &mut n as *mut usize
                };
                // SAFETY: as above.
                let st = unsafe { ls_reset_sessions(d, ptr(&key), np) };
                check(st, "ls_reset_sessions", sec);
            }
            12 => {
                let key = h.key(inp);
                let id = h.project_id(inp);
                let mut out = null_mut();
                // SAFETY: as above.
                let st = unsafe { ls_project_status(d, ptr(&key), &mut out) };
                check(st, "ls_project_status", sec);
                take_out(st, out, true, sec);
                let mut out = null_mut();
                // SAFETY: as above.
                let st = unsafe { ls_project_status_by_id(d, ptr(&id), &mut out) };
                check(st, "ls_project_status_by_id", sec);
                take_out(st, out, true, sec);
            }
            13 => {
                let key = h.key(inp);
                let mut job: *mut ls_job = null_mut();
                let jp = if inp.byte() == 1 {
                    null_mut()
                } else {
                    &mut job as *mut *mut ls_job
                };
                // SAFETY: as above.
                let st = unsafe { ls_training_job(d, ptr(&key), jp) };
                check(st, "ls_training_job", sec);
                if st != OK {
                    assert!(job.is_null());
                }
                job_ops(job, inp, sec);
            }
            14 => {
                let key = h.key(inp);
                let timeout = i64::from(inp.byte() % 20);
                let mut out = null_mut();
                // SAFETY: as above.
                let st = unsafe { ls_wait_for_training(d, ptr(&key), timeout, &mut out) };
                check(st, "ls_wait_for_training", sec);
                take_out(st, out, true, sec);
            }
            15 => {
                type F = unsafe extern "C" fn(*const ls_detector, *mut *mut c_char) -> ls_status;
                let fs: [(F, &str); 4] = [
                    (ls_health, "ls_health"),
                    (ls_teacher_info, "ls_teacher_info"),
                    (ls_update_history, "ls_update_history"),
                    (ls_list_projects, "ls_list_projects"),
                ];
                let (f, name) = fs[usize::from(inp.byte()) % fs.len()];
                let mut out = null_mut();
                let op = if inp.byte() == 1 {
                    null_mut()
                } else {
                    &mut out as *mut *mut c_char
                };
                // SAFETY: live handle or NULL, out-pointer writable or NULL.
                let st = unsafe { f(d, op) };
                check(st, name, sec);
                take_out(st, out, true, sec);
            }
            16 => {
                // SAFETY: live handle or NULL.
                let st = unsafe { ls_flush(d) };
                check(st, "ls_flush", sec);
            }
            17 => {
                // Rotation by key or by id; a real rotation of A or B updates the harness.
                let by_id = inp.byte() & 1 == 1;
                let which = usize::from(inp.byte() & 1);
                let arg = if inp.byte() % 4 == 0 {
                    if by_id {
                        h.project_id(inp)
                    } else {
                        h.key(inp)
                    }
                } else if by_id {
                    Some(h.ids[which].clone())
                } else {
                    Some(h.keys[which].clone())
                };
                let mut out = null_mut();
                // SAFETY: as above.
                let st = unsafe {
                    if by_id {
                        ls_rotate_key_by_id(d, ptr(&arg), &mut out)
                    } else {
                        ls_rotate_key(d, ptr(&arg), &mut out)
                    }
                };
                check(st, "ls_rotate_key", sec);
                if !by_id && !d.is_null() && arg.as_ref().is_some_and(|a| h.old_keys.contains(a)) {
                    assert_eq!(
                        st,
                        ls_status::InvalidApiKey,
                        "a rotated-away key still works"
                    );
                }
                if st == OK {
                    assert!(!out.is_null());
                    // SAFETY: a string this library returned, freed once.
                    let new = unsafe { CStr::from_ptr(out) }.to_owned();
                    // SAFETY: as above.
                    unsafe { ls_string_free(out) };
                    let new_s = new.to_str().expect("ASCII key");
                    assert!(new_s.starts_with("sk-") && new_s.len() == 46);
                    let arg = arg.expect("a rotation succeeded with a NULL argument");
                    let slot = if by_id {
                        h.ids.iter().position(|i| *i == arg)
                    } else {
                        h.keys.iter().position(|k| *k == arg)
                    };
                    match slot {
                        Some(i) => {
                            let old = std::mem::replace(&mut h.keys[i], new);
                            h.old_keys.push(old);
                            if h.old_keys.len() > 4 {
                                h.old_keys.remove(0);
                            }
                            h.publish_secrets();
                        }
                        // An extra project's key: not tracked.
                        None => {}
                    }
                } else {
                    assert!(out.is_null());
                }
            }
            18 => {
                // A project from input JSON; extra projects beyond 3 are deleted.
                let json = if inp.byte() % 3 == 0 {
                    let name = c_bytes(inp.bytes());
                    let name = serde_json::to_string(&name.to_string_lossy()).expect("json");
                    cstr(&format!(r#"{{"name": {name}, "warmup_threshold": 100}}"#))
                } else {
                    c_bytes(inp.bytes())
                };
                let jp = if inp.byte() == 1 {
                    null()
                } else {
                    json.as_ptr()
                };
                let mut cp = null_mut();
                // SAFETY: as above.
                let st = unsafe { ls_create_project(d, jp, &mut cp) };
                check(st, "ls_create_project", sec);
                if st == OK {
                    // SAFETY: a project this library returned, freed once.
                    unsafe {
                        let p = &*cp;
                        assert!(!p.api_key.is_null() && !p.project_id.is_null());
                        h.extra.push_back(CStr::from_ptr(p.project_id).to_owned());
                        ls_created_project_free(cp);
                    }
                    while h.extra.len() > 3 {
                        let id = h.extra.pop_front().expect("non-empty");
                        // SAFETY: live handle, valid string.
                        let st = unsafe { ls_delete_project(det, id.as_ptr()) };
                        assert!(
                            st == OK || st == ls_status::ProjectNotFound,
                            "{}",
                            last_error()
                        );
                    }
                } else {
                    assert!(cp.is_null());
                }
            }
            19 => {
                // Delete: an extra project, or an input id (never A or B).
                let id = match inp.byte() % 3 {
                    0 => h.extra.pop_front(),
                    1 => Some(c_bytes(inp.bytes())),
                    _ => None,
                };
                if id.as_ref().is_some_and(|i| h.ids.contains(i)) {
                    continue;
                }
                // SAFETY: as above.
                let st = unsafe { ls_delete_project(d, ptr(&id)) };
                check(st, "ls_delete_project", sec);
            }
            20 => {
                let on = inp.byte() & 1 == 1;
                // SAFETY: a thread-safe callback; user_data is only compared.
                let st = unsafe {
                    ls_set_verdict_callback(
                        d,
                        if on { Some(on_verdict) } else { None },
                        0x5e551017 as *mut c_void,
                    )
                };
                check(st, "ls_set_verdict_callback", sec);
            }
            21 => {
                // Move the host clock (any finite value: backwards, far future, negative).
                let v = f64::from_bits(inp.u64());
                let cur = f64::from_bits(CLOCK.load(Ordering::Relaxed));
                let next = match inp.byte() % 4 {
                    0 if v.is_finite() => v,
                    1 => cur + f64::from(inp.byte()),
                    2 => cur - f64::from(inp.byte()) * 60.0,
                    _ => cur + 86_400.0 * f64::from(inp.byte() % 16),
                };
                if next.is_finite() {
                    CLOCK.store(next.to_bits(), Ordering::Relaxed);
                }
            }
            22 => {
                // Error-message copy into buffers of every size, with a guard zone.
                let len = usize::from(inp.byte());
                let mut buf = vec![0x55 as c_char; len + 16];
                let mut needed = 0usize;
                let bp = if len == 0 && inp.byte() & 1 == 1 {
                    null_mut()
                } else {
                    buf.as_mut_ptr()
                };
                let np = if inp.byte() & 1 == 1 {
                    null_mut()
                } else {
                    &mut needed as *mut usize
                };
                // SAFETY: `bp` writable for `len` bytes (or NULL with len 0).
                let st = unsafe { ls_last_error_message(bp, len, np) };
                assert!(st != ls_status::Panic);
                assert!(buf[len..].iter().all(|&c| c == 0x55), "wrote past buf_len");
                if len > 0 {
                    assert!(buf[..len].contains(&0), "not NUL-terminated");
                }
                let code = c_int::from(inp.byte() as i8) * 1000 + c_int::from(inp.byte());
                // SAFETY: static strings.
                unsafe {
                    assert!(!CStr::from_ptr(ls_status_name(code)).to_bytes().is_empty());
                    assert!(!CStr::from_ptr(ls_version()).to_bytes().is_empty());
                    ls_string_free(null_mut());
                    ls_created_project_free(null_mut());
                    ls_job_free(null_mut());
                    ls_detector_free(null_mut());
                }
            }
            23 => {
                let mut closed = true;
                let cp = if inp.byte() == 1 {
                    null_mut()
                } else {
                    &mut closed as *mut bool
                };
                // SAFETY: as above.
                let st = unsafe { ls_detector_is_closed(d, cp) };
                check(st, "ls_detector_is_closed", sec);
                if st == OK {
                    assert!(!closed);
                }
            }
            24 => {
                // A whole teacher update (rare: it retrains on pooled data).
                if h.runs.saturating_sub(h.last_teacher_update) < 2000 {
                    continue;
                }
                h.last_teacher_update = h.runs;
                let mut job: *mut ls_job = null_mut();
                // SAFETY: as above.
                let st = unsafe { ls_force_teacher_update(d, &mut job) };
                check(st, "ls_force_teacher_update", sec);
                job_ops(job, inp, sec);
            }
            _ => open_fresh(h, inp, sec),
        }
    }
}

/// Operations on a job handle (NULL included), then frees it.
fn job_ops(job: *mut ls_job, inp: &mut Input, sec: &[&str]) {
    let mut out = null_mut();
    // SAFETY: `job` is NULL or live.
    let st = unsafe { ls_job_status(job, &mut out) };
    check(st, "ls_job_status", sec);
    take_out(st, out, true, sec);
    let mut out = null_mut();
    // SAFETY: as above.
    let st = unsafe { ls_job_wait(job, i64::from(inp.byte() % 20), &mut out) };
    check(st, "ls_job_wait", sec);
    take_out(st, out, true, sec);
    if inp.byte() % 8 == 0 {
        // SAFETY: as above.
        check(unsafe { ls_job_cancel(job) }, "ls_job_cancel", sec);
    }
    // SAFETY: freed once.
    unsafe { ls_job_free(job) };
}

/// `ls_detector_open` with an input config. A config that does not parse goes in as the raw bytes
/// (any byte, any length); one that parses is confined to a fresh directory and tiny models (a host
/// config is trusted to size its own models), opened, used, closed, used after close, freed.
fn open_fresh(h: &mut Harness, inp: &mut Input, sec: &[&str]) {
    let cut = c_bytes(inp.bytes());
    let Ok(text) = cut.to_str() else {
        let mut det = null_mut();
        // SAFETY: valid string, writable out-pointer.
        let st = unsafe { ls_detector_open(cut.as_ptr(), &mut det) };
        check(st, "ls_detector_open(bytes)", sec);
        assert_eq!(st, ls_status::InvalidUtf8);
        assert!(det.is_null());
        return;
    };
    if text.trim().is_empty() {
        // NULL and "" (after trimming) mean the defaults, i.e. ./data: not here.
        return;
    }
    if serde_json::from_str::<logsentinel::Config>(text).is_err() {
        let mut det = null_mut();
        // SAFETY: valid string, writable out-pointer.
        let st = unsafe { ls_detector_open(cut.as_ptr(), &mut det) };
        check(st, "ls_detector_open(text)", sec);
        assert_eq!(st, ls_status::InvalidConfig, "{}", last_error());
        assert!(det.is_null());
        return;
    }
    let Ok(serde_json::Value::Object(mut value)) = serde_json::from_str(text) else {
        return;
    };
    let sub = h.dir.path().join(format!("fresh-{}", h.runs % 4));
    let _ = std::fs::remove_dir_all(&sub);
    let base = base_config(&sub);
    for k in [
        "storage_dir",
        "model_dir",
        "teacher",
        "student",
        "training_threads",
        "max_training_sequences",
        "min_training_sequences",
        "distill_epochs",
        "teacher_epochs",
        "teacher_finetune_epochs",
        "student_memory_budget_bytes",
        "max_batch_size",
        "max_sessions_per_project",
        "max_templates_per_project",
        "max_line_bytes",
        "window",
    ] {
        value.remove(k);
        if let Some(v) = base.get(k) {
            value.insert(k.to_string(), v.clone());
        }
    }
    let cfg = cstr(&serde_json::Value::Object(value).to_string());
    let mut fresh = null_mut();
    // SAFETY: valid strings, out-pointers, and a thread-safe clock.
    let st = unsafe {
        if inp.byte() & 1 == 0 {
            ls_detector_open(cfg.as_ptr(), &mut fresh)
        } else {
            ls_detector_open_with_clock(cfg.as_ptr(), Some(clock), null_mut(), &mut fresh)
        }
    };
    check(st, "ls_detector_open(config)", sec);
    if st != OK {
        assert!(fresh.is_null());
        let _ = std::fs::remove_dir_all(&sub);
        return;
    }
    let json = cstr(r#"{"name": "fresh"}"#);
    let mut cp = null_mut();
    // SAFETY: live handle.
    let st = unsafe { ls_create_project(fresh, json.as_ptr(), &mut cp) };
    check(st, "ls_create_project(fresh)", sec);
    if st == OK {
        // SAFETY: a project this library returned; the key copied before freeing.
        let key = unsafe { CStr::from_ptr((*cp).api_key).to_owned() };
        // SAFETY: freed once.
        unsafe { ls_created_project_free(cp) };
        for _ in 0..(inp.byte() % 4) {
            let line = c_bytes(inp.bytes());
            let mut out = null_mut();
            // SAFETY: live handle, valid strings.
            let st =
                unsafe { ls_detect_json(fresh, key.as_ptr(), line.as_ptr(), null(), &mut out) };
            check(st, "ls_detect_json(fresh)", &[]);
            take_out(st, out, true, &[key.to_str().expect("ASCII")]);
        }
    }
    // SAFETY: live handle, closed then freed once.
    unsafe {
        assert_eq!(ls_detector_close(fresh), OK, "{}", last_error());
        assert_eq!(ls_detector_close(fresh), OK);
        let mut closed = false;
        assert_eq!(ls_detector_is_closed(fresh, &mut closed), OK);
        assert!(closed);
        let mut out = null_mut();
        assert_eq!(ls_health(fresh, &mut out), ls_status::Closed);
        assert!(out.is_null());
        assert_eq!(ls_flush(fresh), ls_status::Closed);
        ls_detector_free(fresh);
    }
    let _ = std::fs::remove_dir_all(&sub);
}

fuzz_target!(|data: &[u8]| {
    let mut guard = HARNESS.lock().unwrap_or_else(|e| e.into_inner());
    let h = guard.get_or_insert_with(Harness::new);
    h.runs += 1;
    let mut inp = Input { data };
    run(h, &mut inp);
    if h.runs % 500 == 0 && std::env::var_os("C_API_DEBUG").is_some() {
        // C_API_DEBUG=1: where the two projects are (phase, logs), every 500 inputs.
        for key in &h.keys {
            let mut out = null_mut();
            // SAFETY: live handle, valid key, writable out-pointer.
            if unsafe { ls_project_status(h.det, key.as_ptr(), &mut out) } == OK {
                // SAFETY: a string this library returned, freed once.
                let s = unsafe { CStr::from_ptr(out) }.to_string_lossy().into_owned();
                unsafe { ls_string_free(out) };
                let v: serde_json::Value = serde_json::from_str(&s).expect("JSON");
                eprintln!(
                    "run {}: {} phase {} logs {} students {}",
                    h.runs, v["project_name"], v["phase"], v["log_count"], v["students_trained"]
                );
            }
        }
    }
});
