//! The C API: every `extern "C"` function of `include/logsentinel.h`.
//!
//! Conventions (stated once in the header's preamble, repeated where a function differs):
//! - every function body runs inside [`crate::boundary::boundary`] (`catch_unwind`);
//! - fallible functions return [`ls_status`]; on failure this thread's last error message is set
//!   (`ls_last_error_message`) and every out-parameter is NULL;
//! - `const char *` arguments are NUL-terminated UTF-8, read during the call only;
//! - `char *` results are owned by the caller and freed with `ls_string_free`.
#![allow(non_camel_case_types)]

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;
use std::time::Duration;

use logsentinel::{
    Clock, Config, CreatedProject, Detection, Incident, IncidentState, JobHandle, LogRecord,
    ModelType, NewFeedback, NewProject, Phase, SessionVerdict, TenantDetector,
};
use parking_lot::RwLock;

use crate::boundary::{
    boundary, boundary_void, free_string, handle, opt_str_arg, out_ptr, owned_json, owned_string,
    str_arg,
};
use crate::error::{last_error, ls_status, FfiError};

/// A detector handle: opaque to C. Made by `ls_detector_open`, freed by `ls_detector_free`.
pub struct ls_detector {
    det: TenantDetector,
    verdicts: Arc<CallbackSlot>,
    incidents: Arc<CallbackSlot>,
}

/// A background job handle (a student training or a teacher update): opaque to C. Freed by
/// `ls_job_free`; independent of the detector's lifetime.
pub struct ls_job {
    job: JobHandle,
}

/// A project's lifecycle phase.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ls_phase {
    /// Collecting data; the shared teacher scores.
    Warmup = 0,
    /// A student is being trained; the teacher still scores.
    Training = 1,
    /// The project's own student scores.
    Active = 2,
}

impl From<Phase> for ls_phase {
    fn from(p: Phase) -> Self {
        match p {
            Phase::Warmup => ls_phase::Warmup,
            Phase::Training => ls_phase::Training,
            Phase::Active => ls_phase::Active,
        }
    }
}

/// Which model scored a line.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ls_model_type {
    /// The shared teacher.
    Teacher = 0,
    /// The project's student.
    Student = 1,
}

impl From<ModelType> for ls_model_type {
    fn from(m: ModelType) -> Self {
        match m {
            ModelType::Teacher => ls_model_type::Teacher,
            ModelType::Student => ls_model_type::Student,
        }
    }
}

/// The hot fields of one line's verdict, written into caller-owned memory (nothing to free). The full
/// verdict (template text, parameters, component scores, reasons, expected templates) comes from
/// `ls_detect_json` / `ls_detect_batch_json`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ls_detection {
    /// Whether the line is anomalous (`anomaly_score >= threshold`).
    pub is_anomaly: bool,
    /// Ensemble score in [0, 1].
    pub anomaly_score: f32,
    /// The decision threshold.
    pub threshold: f32,
    /// The project's phase when the line was scored.
    pub phase: ls_phase,
    /// Which model scored the line.
    pub model_type: ls_model_type,
    /// The project's local template id of the line (0: a template never seen, in the active phase).
    pub template_id: u32,
    /// Logs the project has seen, this one included.
    pub log_count: u64,
    /// Warmup progress in [0, 1].
    pub warmup_progress: f32,
}

impl From<&Detection> for ls_detection {
    fn from(d: &Detection) -> Self {
        Self {
            is_anomaly: d.is_anomaly,
            anomaly_score: d.anomaly_score,
            threshold: d.threshold,
            phase: d.phase.into(),
            model_type: d.model_type.into(),
            template_id: d.template_id,
            log_count: d.log_count,
            warmup_progress: d.warmup_progress,
        }
    }
}

/// A created project. Allocated by `ls_create_project`, owned by the caller, freed (strings included)
/// by `ls_created_project_free`; never free or modify its fields one by one.
#[repr(C)]
#[derive(Debug)]
pub struct ls_created_project {
    /// Project id (NUL-terminated).
    pub project_id: *mut c_char,
    /// Display name (NUL-terminated).
    pub project_name: *mut c_char,
    /// The API key (`sk-...`), shown only here: store it now, only its hash is kept.
    pub api_key: *mut c_char,
    /// Warmup threshold in logs.
    pub warmup_threshold: u64,
    /// Index name, `logs-{project_id}`.
    pub es_index_pattern: *mut c_char,
}

/// Receives one session verdict as JSON (a NUL-terminated string borrowed for the duration of the
/// call only: copy it to keep it) and the `user_data` given to `ls_set_verdict_callback`.
pub type ls_verdict_callback =
    Option<unsafe extern "C" fn(verdict_json: *const c_char, user_data: *mut c_void)>;

/// Receives one incident as JSON, as it is raised (a NUL-terminated string borrowed for the duration
/// of the call only: copy it to keep it) and the `user_data` given to `ls_set_incident_callback`.
pub type ls_incident_callback =
    Option<unsafe extern "C" fn(incident_json: *const c_char, user_data: *mut c_void)>;

/// A clock: returns the current time in Unix seconds (finite), given the `user_data` passed to
/// `ls_detector_open_with_clock`.
pub type ls_clock_callback = Option<unsafe extern "C" fn(user_data: *mut c_void) -> f64>;

// ---------------------------------------------------------------------------------------------------
// Verdict and incident callback plumbing.

#[derive(Clone, Copy)]
struct CJsonCallback {
    f: unsafe extern "C" fn(*const c_char, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the header requires a verdict or incident callback and its user data to be callable from
// any thread (it runs on whichever thread produced the event); the pointer is only passed back.
unsafe impl Send for CJsonCallback {}
// SAFETY: as above; the struct is copied, never mutated through a shared reference.
unsafe impl Sync for CJsonCallback {}

/// The C callback currently registered for one kind of event (session verdicts, incidents). A
/// dispatch holds the read lock for the whole C call, so replacing or clearing the callback (write
/// lock) waits for calls in progress: once `ls_set_verdict_callback` (or `ls_set_incident_callback`)
/// returns, the old callback is never called again.
#[derive(Default)]
struct CallbackSlot {
    cb: RwLock<Option<CJsonCallback>>,
}

thread_local! {
    /// Depth of verdict and incident callbacks running on this thread (to refuse re-registering or
    /// closing from inside one).
    static IN_CALLBACK: Cell<u32> = const { Cell::new(0) };
}

fn in_callback() -> bool {
    IN_CALLBACK.try_with(|d| d.get() > 0).unwrap_or(false)
}

impl CallbackSlot {
    /// Calls the registered callback, if any, with `event` as JSON.
    fn dispatch<T: serde::Serialize>(&self, event: &T) {
        // Recursive: a callback may call into the detector, producing events on this same thread.
        let guard = self.cb.read_recursive();
        let Some(cb) = *guard else { return };
        let Ok(json) = serde_json::to_string(event) else {
            return;
        };
        let Ok(json) = std::ffi::CString::new(json) else {
            return;
        };
        let _ = IN_CALLBACK.try_with(|d| d.set(d.get() + 1));
        // SAFETY: the host registered `f` with this signature and promised it is callable from any
        // thread with `user_data` until it is replaced (which waits for this read lock).
        unsafe { (cb.f)(json.as_ptr(), cb.user_data) };
        let _ = IN_CALLBACK.try_with(|d| d.set(d.get().saturating_sub(1)));
        drop(guard);
    }

    fn set(&self, cb: Option<CJsonCallback>) {
        *self.cb.write() = cb;
    }
}

struct CClock {
    f: unsafe extern "C" fn(*mut c_void) -> f64,
    user_data: *mut c_void,
}

// SAFETY: the header requires the clock function and its user data to be callable from any thread
// until `ls_detector_free` returns.
unsafe impl Send for CClock {}
// SAFETY: as above; the struct is never mutated.
unsafe impl Sync for CClock {}

impl Clock for CClock {
    fn now(&self) -> f64 {
        // SAFETY: see the Send/Sync contract above.
        unsafe { (self.f)(self.user_data) }
    }
}

// ---------------------------------------------------------------------------------------------------
// Helpers.

impl ls_detector {
    /// The detector, or `Closed` once `ls_detector_close` was called.
    fn live(&self) -> Result<&TenantDetector, FfiError> {
        if self.det.is_closed() {
            return Err(FfiError::Core(logsentinel::Error::Closed));
        }
        Ok(&self.det)
    }
}

fn parse_config(config_json: Option<&str>) -> Result<Config, FfiError> {
    match config_json {
        None => Ok(Config::default()),
        Some(s) if s.trim().is_empty() => Ok(Config::default()),
        Some(s) => serde_json::from_str(s).map_err(|e| {
            FfiError::Core(logsentinel::Error::InvalidConfig {
                name: "config_json".into(),
                reason: e.to_string(),
            })
        }),
    }
}

fn open_boxed(config: Config, clock: Option<Arc<dyn Clock>>) -> Result<*mut ls_detector, FfiError> {
    let det = match clock {
        Some(c) => TenantDetector::open_with_clock(config, c)?,
        None => TenantDetector::open(config)?,
    };
    let verdicts = Arc::new(CallbackSlot::default());
    let slot = verdicts.clone();
    det.set_verdict_callback(Some(Arc::new(move |v: &SessionVerdict| slot.dispatch(v))));
    let incidents = Arc::new(CallbackSlot::default());
    let slot = incidents.clone();
    det.set_incident_callback(Some(Arc::new(move |i: &Incident| slot.dispatch(i))));
    Ok(Box::into_raw(Box::new(ls_detector {
        det,
        verdicts,
        incidents,
    })))
}

fn timeout_from_ms(timeout_ms: i64) -> Option<Duration> {
    u64::try_from(timeout_ms).ok().map(Duration::from_millis)
}

/// Reads the `n` strings of a batch (and their optional session ids) into records.
///
/// # Safety
/// `lines` points to `n` string pointers; `session_ids` is NULL or points to `n` pointers, each NULL
/// or a string.
unsafe fn batch_records(
    lines: *const *const c_char,
    session_ids: *const *const c_char,
    n: usize,
) -> Result<Vec<LogRecord>, FfiError> {
    if lines.is_null() {
        return Err(FfiError::NullPointer("lines"));
    }
    // SAFETY: the caller guarantees `n` readable pointers at `lines` (and at `session_ids` if set).
    let lines = unsafe { std::slice::from_raw_parts(lines, n) };
    let sessions = if session_ids.is_null() {
        None
    } else {
        // SAFETY: as above.
        Some(unsafe { std::slice::from_raw_parts(session_ids, n) })
    };
    let mut out = Vec::with_capacity(n);
    for (i, &p) in lines.iter().enumerate() {
        // SAFETY: each element is a NUL-terminated string per the contract.
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let line = unsafe { str_arg(p, "lines[i]") }?;
        let mut rec = LogRecord::new(line);
        if let Some(s) = sessions {
            // SAFETY: as above, NULL allowed.
            if let Some(sid) = unsafe { opt_str_arg(s[i], "session_ids[i]") }? {
                rec = rec.session(sid);
            }
        }
        out.push(rec);
    }
    Ok(out)
}

fn status_cstr(status: c_int) -> &'static CStr {
    match status {
        0 => c"OK",
        1 => c"INVALID_API_KEY",
        2 => c"PROJECT_NOT_FOUND",
        3 => c"INVALID_INPUT",
        4 => c"INVALID_CONFIG",
        5 => c"STORAGE_ERROR",
        6 => c"MODEL_ERROR",
        7 => c"CANCELLED",
        8 => c"CLOSED",
        9 => c"TIMEOUT",
        10 => c"NULL_POINTER",
        11 => c"INVALID_UTF8",
        12 => c"PANIC",
        13 => c"BUFFER_TOO_SMALL",
        14 => c"OTHER",
        15 => c"LEASE_HELD",
        _ => c"UNKNOWN",
    }
}

// ---------------------------------------------------------------------------------------------------
// Library-wide functions.

/// The library version, e.g. "0.1.0": a static string (never free it).
#[no_mangle]
pub extern "C" fn ls_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(c) => c,
            Err(_) => panic!("version string has an interior NUL"),
        };
    VERSION.as_ptr()
}

/// The stable name of a status value (e.g. "INVALID_API_KEY", the same codes as the HTTP API and the
/// other bindings), or "UNKNOWN" for a value that is not a status: a static string (never free it).
#[no_mangle]
pub extern "C" fn ls_status_name(status: c_int) -> *const c_char {
    status_cstr(status).as_ptr()
}

/// Copies this thread's last error message (of the latest call on this thread that did not return
/// LS_STATUS_OK; "" when none failed yet) into `buf`, NUL-terminated. Not cleared by successful calls.
///
/// `buf` is caller-owned, `buf_len` bytes long; it may be NULL only when `buf_len` is 0 (to ask for the
/// size). `needed_out` (may be NULL) receives the full message length plus one (for the NUL). When the
/// message does not fit, as much as fits is copied (cut at a UTF-8 character boundary, NUL-terminated
/// if `buf_len` > 0) and LS_STATUS_BUFFER_TOO_SMALL is returned. This function never changes the last
/// error itself.
///
/// # Safety
/// `buf` is NULL or writable for `buf_len` bytes; `needed_out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ls_last_error_message(
    buf: *mut c_char,
    buf_len: usize,
    needed_out: *mut usize,
) -> ls_status {
    let r = std::panic::catch_unwind(|| {
        let msg = last_error();
        if !needed_out.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { needed_out.write(msg.len() + 1) };
        }
        if buf_len == 0 {
            return ls_status::BufferTooSmall;
        }
        if buf.is_null() {
            return ls_status::NullPointer;
        }
        let mut n = msg.len().min(buf_len - 1);
        while !msg.is_char_boundary(n) {
            n -= 1;
        }
        // SAFETY: `buf` is writable for `buf_len` > n bytes; the source is `n` readable bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr().cast::<c_char>(), buf, n);
            buf.add(n).write(0);
        }
        if n == msg.len() {
            ls_status::Ok
        } else {
            ls_status::BufferTooSmall
        }
    });
    r.unwrap_or(ls_status::Panic)
}

/// Frees a string this library returned (every `char *` out-parameter). NULL is a no-op. Freeing a
/// string twice, or one not from this library, is the caller's bug.
///
/// # Safety
/// `s` is NULL or a string returned by this library and not freed yet.
#[no_mangle]
pub unsafe extern "C" fn ls_string_free(s: *mut c_char) {
    // SAFETY: forwarded contract.
    boundary_void(|| unsafe { free_string(s) });
}

// ---------------------------------------------------------------------------------------------------
// Detector lifecycle.

/// Opens (or creates) a detector's storage. `config_json` is a JSON object of `logsentinel::Config`
/// fields, each optional (e.g. `{"storage_dir": "/var/lib/app/logsentinel", "warmup_threshold": 10000}`);
/// NULL or "" takes every default (storage under "./data"). An unknown field or a bad value gives
/// LS_STATUS_INVALID_CONFIG with a message naming it.
///
/// On success `*detector_out` is a new handle owned by the caller: close it with `ls_detector_close`
/// (to see persistence errors) and free it with `ls_detector_free`.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `detector_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ls_detector_open(
    config_json: *const c_char,
    detector_out: *mut *mut ls_detector,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let out = unsafe { out_ptr(detector_out, "detector_out") }?;
        // SAFETY: forwarded contract.
        let config = parse_config(unsafe { opt_str_arg(config_json, "config_json") }?)?;
        *out = open_boxed(config, None)?;
        Ok(())
    })
}

/// Like `ls_detector_open` with a clock of the caller's choosing: `now(user_data)` returns Unix
/// seconds. Tests use it to drive teacher-update schedules and session expiry on arrival time.
///
/// `now` is called from any thread (detection threads and the background training thread), possibly
/// concurrently, until `ls_detector_free` returns: it must be thread-safe, must not call back into
/// this library, and `user_data` must stay valid until then.
///
/// # Safety
/// As `ls_detector_open`; `now` is a valid function following the contract above.
#[no_mangle]
pub unsafe extern "C" fn ls_detector_open_with_clock(
    config_json: *const c_char,
    now: ls_clock_callback,
    user_data: *mut c_void,
    detector_out: *mut *mut ls_detector,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let out = unsafe { out_ptr(detector_out, "detector_out") }?;
        let f = now.ok_or(FfiError::NullPointer("now"))?;
        // SAFETY: forwarded contract.
        let config = parse_config(unsafe { opt_str_arg(config_json, "config_json") }?)?;
        let clock: Arc<dyn Clock> = Arc::new(CClock { f, user_data });
        *out = open_boxed(config, Some(clock))?;
        Ok(())
    })
}

/// Closes the detector: stops background work (a running training is redone at the next open),
/// persists everything and clears the verdict callback. Every later call on the handle (but
/// `ls_detector_free`, `ls_detector_is_closed` and another `ls_detector_close`, which returns
/// LS_STATUS_OK) returns LS_STATUS_CLOSED; the handle stays valid memory until `ls_detector_free`.
/// Safe to call while other threads use the handle: their calls finish or return LS_STATUS_CLOSED.
/// Must not be called from inside a verdict or incident callback (LS_STATUS_INVALID_INPUT).
///
/// # Safety
/// `detector` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ls_detector_close(detector: *mut ls_detector) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let d = unsafe { handle(detector.cast_const(), "detector") }?;
        if in_callback() {
            return Err(FfiError::invalid_input(
                "ls_detector_close cannot be called from inside a verdict or incident callback",
            ));
        }
        let r = d.det.close();
        d.verdicts.set(None);
        d.incidents.set(None);
        r?;
        Ok(())
    })
}

/// Writes whether `ls_detector_close` was called into `*closed_out`.
///
/// # Safety
/// `detector` is NULL or a live handle; `closed_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ls_detector_is_closed(
    detector: *const ls_detector,
    closed_out: *mut bool,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let d = unsafe { handle(detector, "detector") }?;
        // SAFETY: forwarded contract.
        let out = unsafe { closed_out.as_mut() }.ok_or(FfiError::NullPointer("closed_out"))?;
        *out = d.det.is_closed();
        Ok(())
    })
}

/// Frees a detector handle, closing it first if needed (errors of that close are dropped: call
/// `ls_detector_close` first to see them). NULL is a no-op. No other call on the handle may be in
/// progress or follow (use after free, or a double free, is the caller's bug, as in every C API).
///
/// # Safety
/// `detector` is NULL or a handle from `ls_detector_open*` that was not freed yet, with no call on it
/// in progress on any thread.
#[no_mangle]
pub unsafe extern "C" fn ls_detector_free(detector: *mut ls_detector) {
    boundary_void(|| {
        if detector.is_null() {
            return;
        }
        // SAFETY: the pointer came from Box::into_raw in `open_boxed` and is freed once.
        let d = unsafe { Box::from_raw(detector) };
        let _ = d.det.close();
        d.verdicts.set(None);
        d.incidents.set(None);
        drop(d);
    });
}

// ---------------------------------------------------------------------------------------------------
// Projects (admin).

/// Creates a project. `new_project_json` is a JSON object: `{"name": "My Web App"}` plus optional
/// `"warmup_threshold"` (logs), `"format"` ("auto", "hdfs", "bgl", "combined", ...), `"log_format"`
/// (a header format string the logparser way, `"<Date> <Time> <Level> <Component>: <Content>"`,
/// which wins over `"format"`), `"session_pattern"` (regex) and `"custom_rules"`. On success `*project_out` is a new
/// `ls_created_project` owned by the caller (free it with `ls_created_project_free`); its `api_key`
/// is shown only here.
///
/// # Safety
/// `detector` is NULL or a live handle; `new_project_json` a string; `project_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_create_project(
    detector: *const ls_detector,
    new_project_json: *const c_char,
    project_out: *mut *mut ls_created_project,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, json) = unsafe {
            (
                out_ptr(project_out, "project_out")?,
                handle(detector, "detector")?,
                str_arg(new_project_json, "new_project_json")?,
            )
        };
        let det = d.live()?;
        let new: NewProject = serde_json::from_str(json)
            .map_err(|e| FfiError::invalid_input(format!("new_project_json: {e}")))?;
        *out = created_project_out(det.create_project(new)?)?;
        Ok(())
    })
}

/// Creates a project from another's learned state (admin): a copy of the source's templates,
/// training samples and student under a new id, `name` and key, living on its own from then on (a
/// staging copy of a tenant, or tenants seeded from one). On success `*project_out` is a new
/// `ls_created_project` owned by the caller (free it with `ls_created_project_free`); its `api_key`
/// is shown only here. An unknown source is `LS_STATUS_PROJECT_NOT_FOUND`.
///
/// # Safety
/// `detector` is NULL or a live handle; `source_project_id` and `name` strings; `project_out`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ls_fork_project(
    detector: *const ls_detector,
    source_project_id: *const c_char,
    name: *const c_char,
    project_out: *mut *mut ls_created_project,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, source, name) = unsafe {
            (
                out_ptr(project_out, "project_out")?,
                handle(detector, "detector")?,
                str_arg(source_project_id, "source_project_id")?,
                str_arg(name, "name")?,
            )
        };
        *out = created_project_out(d.live()?.fork_project(source, name)?)?;
        Ok(())
    })
}

/// A created project as the caller's `ls_created_project` (free it with `ls_created_project_free`).
fn created_project_out(p: CreatedProject) -> Result<*mut ls_created_project, FfiError> {
    let mut cp = ls_created_project {
        project_id: std::ptr::null_mut(),
        project_name: std::ptr::null_mut(),
        api_key: std::ptr::null_mut(),
        warmup_threshold: p.warmup_threshold,
        es_index_pattern: std::ptr::null_mut(),
    };
    let filled = (|| -> Result<(), FfiError> {
        cp.project_id = owned_string(p.project_id)?;
        cp.project_name = owned_string(p.project_name)?;
        cp.api_key = owned_string(p.api_key)?;
        cp.es_index_pattern = owned_string(p.es_index_pattern)?;
        Ok(())
    })();
    if let Err(e) = filled {
        // SAFETY: each field is NULL or was just made by owned_string.
        unsafe { free_created_strings(&cp) };
        return Err(e);
    }
    Ok(Box::into_raw(Box::new(cp)))
}

/// Frees the strings of a created project.
///
/// # Safety
/// Each field is NULL or from `owned_string`, not freed yet.
unsafe fn free_created_strings(p: &ls_created_project) {
    // SAFETY: forwarded contract.
    unsafe {
        free_string(p.project_id);
        free_string(p.project_name);
        free_string(p.api_key);
        free_string(p.es_index_pattern);
    }
}

/// Frees an `ls_created_project` and its strings. NULL is a no-op.
///
/// # Safety
/// `project` is NULL or came from `ls_create_project`, unmodified and not freed yet.
#[no_mangle]
pub unsafe extern "C" fn ls_created_project_free(project: *mut ls_created_project) {
    boundary_void(|| {
        if project.is_null() {
            return;
        }
        // SAFETY: the pointer came from Box::into_raw in `ls_create_project`; freed once, as are
        // the strings it owns.
        let p = unsafe { Box::from_raw(project) };
        // SAFETY: the strings were made by owned_string and are owned by `p`.
        unsafe { free_created_strings(&p) };
    });
}

/// Lists every project (admin) as a JSON array of `{"project_id", "project_name", "phase",
/// "log_count", "warmup_threshold", "created_at"}`: never a key. `*json_out` is owned by the caller
/// (`ls_string_free`).
///
/// # Safety
/// `detector` is NULL or a live handle; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_list_projects(
    detector: *const ls_detector,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
            )
        };
        *out = owned_json(&d.live()?.list_projects()?)?;
        Ok(())
    })
}

/// Deletes a project by id (admin): its key stops working at once and its data is removed.
/// LS_STATUS_PROJECT_NOT_FOUND when there is no such project.
///
/// # Safety
/// `detector` is NULL or a live handle; `project_id` a string.
#[no_mangle]
pub unsafe extern "C" fn ls_delete_project(
    detector: *const ls_detector,
    project_id: *const c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (d, id) = unsafe {
            (
                handle(detector, "detector")?,
                str_arg(project_id, "project_id")?,
            )
        };
        d.live()?.delete_project(id)?;
        Ok(())
    })
}

/// Replaces the project's key (the old one stops working at once). `*new_key_out` is the new key,
/// owned by the caller (`ls_string_free`), shown only here.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `new_key_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_rotate_key(
    detector: *const ls_detector,
    api_key: *const c_char,
    new_key_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(new_key_out, "new_key_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        *out = owned_string(d.live()?.rotate_key(key)?)?;
        Ok(())
    })
}

/// Like `ls_rotate_key` by project id (admin): revokes the project's current key.
///
/// # Safety
/// `detector` is NULL or a live handle; `project_id` a string; `new_key_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_rotate_key_by_id(
    detector: *const ls_detector,
    project_id: *const c_char,
    new_key_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, id) = unsafe {
            (
                out_ptr(new_key_out, "new_key_out")?,
                handle(detector, "detector")?,
                str_arg(project_id, "project_id")?,
            )
        };
        *out = owned_string(d.live()?.rotate_key_by_id(id)?)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------
// Detection.

/// Scores one line of the project owning `api_key`. `session_id` may be NULL (the project's session
/// pattern or its format's default key decides). The hot fields of the verdict are written into the
/// caller's `*result_out`.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` and `log_line` strings; `session_id` NULL or a
/// string; `result_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ls_detect(
    detector: *const ls_detector,
    api_key: *const c_char,
    log_line: *const c_char,
    session_id: *const c_char,
    result_out: *mut ls_detection,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let d = unsafe { handle(detector, "detector") }?;
        // SAFETY: `result_out` is NULL or writable per the contract.
        let out = unsafe { result_out.as_mut() }.ok_or(FfiError::NullPointer("result_out"))?;
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (key, line, sid) = unsafe {
            (
                str_arg(api_key, "api_key")?,
                str_arg(log_line, "log_line")?,
                opt_str_arg(session_id, "session_id")?,
            )
        };
        let mut rec = LogRecord::new(line);
        if let Some(s) = sid {
            rec = rec.session(s);
        }
        *out = ls_detection::from(&d.live()?.detect(key, rec)?);
        Ok(())
    })
}

/// Like `ls_detect`, giving the full verdict as JSON (`is_anomaly, anomaly_score, threshold,
/// model_type, phase, project_id, project_name, session_id, log_count, warmup_progress, template_id,
/// template, parameters, components, reasons, timestamp, template_probability, template_rank,
/// expected, matched_rules, unknown_template_ratio, truncated`). `*json_out` is owned by the caller
/// (`ls_string_free`).
///
/// # Safety
/// As `ls_detect`; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_detect_json(
    detector: *const ls_detector,
    api_key: *const c_char,
    log_line: *const c_char,
    session_id: *const c_char,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key, line, sid) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
                str_arg(log_line, "log_line")?,
                opt_str_arg(session_id, "session_id")?,
            )
        };
        let mut rec = LogRecord::new(line);
        if let Some(s) = sid {
            rec = rec.session(s);
        }
        *out = owned_json(&d.live()?.detect(key, rec)?)?;
        Ok(())
    })
}

/// Scores `n` lines in order with one batched model step per round (faster per line than
/// `ls_detect`). `lines` holds `n` strings; `session_ids` is NULL or holds `n` entries, each NULL or a
/// string. `results_out` is the caller's array of `n` `ls_detection`s, filled in order.
/// `anomalies_out` (may be NULL) receives the number of anomalous lines. `n` = 0 or more than the
/// config's `max_batch_size` gives LS_STATUS_INVALID_INPUT.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `lines` (and `session_ids` if not NULL)
/// readable for `n` pointers; `results_out` writable for `n` elements; `anomalies_out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ls_detect_batch(
    detector: *const ls_detector,
    api_key: *const c_char,
    lines: *const *const c_char,
    session_ids: *const *const c_char,
    n: usize,
    results_out: *mut ls_detection,
    anomalies_out: *mut usize,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let d = unsafe { handle(detector, "detector") }?;
        if results_out.is_null() {
            return Err(FfiError::NullPointer("results_out"));
        }
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (key, records) = unsafe {
            (
                str_arg(api_key, "api_key")?,
                batch_records(lines, session_ids, n)?,
            )
        };
        let batch = d.live()?.detect_batch(key, &records)?;
        // SAFETY: `results_out` is writable for `n` elements; the core returns one result per line.
        let out = unsafe { std::slice::from_raw_parts_mut(results_out, n) };
        for (slot, det) in out.iter_mut().zip(&batch.results) {
            *slot = ls_detection::from(det);
        }
        if !anomalies_out.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { anomalies_out.write(batch.anomalies_detected) };
        }
        Ok(())
    })
}

/// Like `ls_detect_batch`, giving the whole result as JSON: `{"results": [...one full verdict per
/// line...], "total_logs", "anomalies_detected", "project_id"}`. `*json_out` is owned by the caller
/// (`ls_string_free`).
///
/// # Safety
/// As `ls_detect_batch`; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_detect_batch_json(
    detector: *const ls_detector,
    api_key: *const c_char,
    lines: *const *const c_char,
    session_ids: *const *const c_char,
    n: usize,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key, records) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
                batch_records(lines, session_ids, n)?,
            )
        };
        *out = owned_json(&d.live()?.detect_batch(key, &records)?)?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------
// Sessions.

/// Closes one session now. `*verdict_json_out` is its verdict as JSON (`{"project_id", "session_id",
/// "is_anomaly", "anomaly_score", "threshold", "model_type", "phase", "reason", "lines",
/// "anomalous_lines", "end_score", "missing_templates", "reasons", "timestamp"}`), owned by the caller
/// (`ls_string_free`), or NULL when no such session is open. The verdict also goes to the callback
/// and the poll queue.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key`, `session_id` strings; `verdict_json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_close_session(
    detector: *const ls_detector,
    api_key: *const c_char,
    session_id: *const c_char,
    verdict_json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key, sid) = unsafe {
            (
                out_ptr(verdict_json_out, "verdict_json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
                str_arg(session_id, "session_id")?,
            )
        };
        if let Some(v) = d.live()?.close_session(key, sid)? {
            *out = owned_json(&v)?;
        }
        Ok(())
    })
}

/// Closes every open session of the project (the end of the input). `*verdicts_json_out` is a JSON
/// array of their verdicts (see `ls_close_session`), owned by the caller (`ls_string_free`).
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `verdicts_json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_close_all_sessions(
    detector: *const ls_detector,
    api_key: *const c_char,
    verdicts_json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(verdicts_json_out, "verdicts_json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        *out = owned_json(&d.live()?.close_all_sessions(key)?)?;
        Ok(())
    })
}

/// Takes up to `max` queued session verdicts of the project, oldest first, as a JSON array (see
/// `ls_close_session`; `[]` when none), owned by the caller (`ls_string_free`). Verdicts are queued
/// whether or not a callback is set.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `verdicts_json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_poll_session_verdicts(
    detector: *const ls_detector,
    api_key: *const c_char,
    max: usize,
    verdicts_json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(verdicts_json_out, "verdicts_json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        *out = owned_json(&d.live()?.poll_session_verdicts(key, max)?)?;
        Ok(())
    })
}

/// Sets (or, with `callback` NULL, clears) the function receiving every session verdict of every
/// project of this detector as JSON, with `user_data`.
///
/// Threading: the callback runs synchronously on the thread whose call closed the session
/// (`ls_detect`, `ls_detect_batch*`, `ls_close_session`, `ls_close_all_sessions`), before that call
/// returns, after the detector's internal locks are released; several threads may run it at once, so
/// it must be thread-safe. It may call this library (e.g. `ls_project_status`), except
/// `ls_set_verdict_callback` and `ls_detector_close` (LS_STATUS_INVALID_INPUT from inside a callback)
/// and `ls_detector_free` (the caller's bug). It must not unwind (no C++ exception or longjmp out of
/// it).
///
/// When this function returns, no call to the previous callback is running or will start: its
/// `user_data` may be released. `ls_detector_close` clears the callback the same way.
///
/// # Safety
/// `detector` is NULL or a live handle; `callback` NULL or a function following the contract above,
/// with `user_data` valid until the callback is replaced or cleared.
#[no_mangle]
pub unsafe extern "C" fn ls_set_verdict_callback(
    detector: *const ls_detector,
    callback: ls_verdict_callback,
    user_data: *mut c_void,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let d = unsafe { handle(detector, "detector") }?;
        if in_callback() {
            return Err(FfiError::invalid_input(
                "ls_set_verdict_callback cannot be called from inside a verdict or incident callback",
            ));
        }
        d.live()?;
        d.verdicts
            .set(callback.map(|f| CJsonCallback { f, user_data }));
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------
// Incidents and operator feedback.

/// Takes up to `max` of the project's newly raised incidents, oldest first, as a JSON array (`[]`
/// when none), owned by the caller (`ls_string_free`). Each incident is `{"id", "project_id",
/// "title", "pattern", "state", "first_seen", "last_seen", "last_line", "lines", "sessions",
/// "session_verdicts", "top_templates": [{"name", "count"}], "top_rules", "examples": [{"session_id",
/// "timestamp", "template", "reasons", "session_verdict"}], "session_ids", "feedback"}` as it was when
/// raised (`ls_incident` gives its state now). Incidents are queued whether or not a callback is set.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_poll_incidents(
    detector: *const ls_detector,
    api_key: *const c_char,
    max: usize,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        *out = owned_json(&d.live()?.poll_incidents(key, max)?)?;
        Ok(())
    })
}

/// The project's kept incidents, open ones first (each group newest first), as a JSON array (see
/// `ls_poll_incidents`), owned by the caller (`ls_string_free`). `state` is NULL (all), `"open"` or
/// `"resolved"`; any other value is LS_STATUS_INVALID_INPUT.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `state` NULL or a string; `json_out`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ls_incidents(
    detector: *const ls_detector,
    api_key: *const c_char,
    state: *const c_char,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key, state) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
                opt_str_arg(state, "state")?,
            )
        };
        let state = state.map(str::parse::<IncidentState>).transpose()?;
        *out = owned_json(&d.live()?.incidents(key, state)?)?;
        Ok(())
    })
}

/// One incident of the project as it is now, as JSON (see `ls_poll_incidents`), owned by the caller
/// (`ls_string_free`); LS_STATUS_INVALID_INPUT when the project has no incident `incident_id`.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_incident(
    detector: *const ls_detector,
    api_key: *const c_char,
    incident_id: u64,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        *out = owned_json(&d.live()?.incident(key, incident_id)?)?;
        Ok(())
    })
}

/// Sets (or, with `callback` NULL, clears) the function receiving every incident of every project
/// of this detector as JSON (see `ls_poll_incidents`), with `user_data`, as it is raised. The
/// threading contract is the verdict callback's (`ls_set_verdict_callback`): it runs on the thread
/// whose call raised the incident, must be thread-safe and must not unwind; from inside it
/// `ls_set_verdict_callback`, `ls_set_incident_callback` and `ls_detector_close` return
/// LS_STATUS_INVALID_INPUT. When this function returns, the previous callback is not running and
/// will not run again. `ls_detector_close` clears it.
///
/// # Safety
/// `detector` is NULL or a live handle; `callback` NULL or a function following the contract above,
/// with `user_data` valid until the callback is replaced or cleared.
#[no_mangle]
pub unsafe extern "C" fn ls_set_incident_callback(
    detector: *const ls_detector,
    callback: ls_incident_callback,
    user_data: *mut c_void,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let d = unsafe { handle(detector, "detector") }?;
        if in_callback() {
            return Err(FfiError::invalid_input(
                "ls_set_incident_callback cannot be called from inside a verdict or incident callback",
            ));
        }
        d.live()?;
        d.incidents
            .set(callback.map(|f| CJsonCallback { f, user_data }));
        Ok(())
    })
}

/// Gives operator feedback. `feedback_json` is the HTTP API's `POST /feedback` body: a JSON object
/// with the `"target"`, either `{"incident_id": 3}` or `{"key": "<pattern, template, rule or
/// client>"}`, `"label"` (`"normal"` or `"anomaly"`), and optionally `"scope"` (`"pattern"`, the default,
/// `"template"`, `"rule"` or `"client"`), `"duration_secs"` (omitted: for good) and `"note"`. A
/// "normal" mark stops results of the same pattern from alerting from the next line on; an "anomaly"
/// mark keeps them alerting. `*json_out` is the stored mark (`{"id", "label", "scope", "key",
/// "incident_id", "created_at", "expires_at", "note"}`), owned by the caller (`ls_string_free`).
/// Malformed JSON, unknown fields or values: LS_STATUS_INVALID_INPUT, nothing stored.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` and `feedback_json` strings; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_feedback(
    detector: *const ls_detector,
    api_key: *const c_char,
    feedback_json: *const c_char,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key, body) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
                str_arg(feedback_json, "feedback_json")?,
            )
        };
        let new: NewFeedback = serde_json::from_str(body)
            .map_err(|e| FfiError::invalid_input(format!("feedback_json: {e}")))?;
        *out = owned_json(&d.live()?.feedback(key, new)?)?;
        Ok(())
    })
}

/// The project's feedback marks (expired ones included), oldest first, as a JSON array (see
/// `ls_feedback`), owned by the caller (`ls_string_free`).
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_list_feedback(
    detector: *const ls_detector,
    api_key: *const c_char,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        *out = owned_json(&d.live()?.list_feedback(key)?)?;
        Ok(())
    })
}

/// Undoes feedback mark `feedback_id`: results it decided alert (or stop alerting) as before it was
/// given. `*json_out` is the removed mark (see `ls_feedback`), owned by the caller
/// (`ls_string_free`); LS_STATUS_INVALID_INPUT when the project has no such mark.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_undo_feedback(
    detector: *const ls_detector,
    api_key: *const c_char,
    feedback_id: u64,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        *out = owned_json(&d.live()?.undo_feedback(key, feedback_id)?)?;
        Ok(())
    })
}

/// Drops every open session of the project without verdicts; `*count_out` (may be NULL) receives
/// how many were open.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `count_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ls_reset_sessions(
    detector: *const ls_detector,
    api_key: *const c_char,
    count_out: *mut usize,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (d, key) = unsafe { (handle(detector, "detector")?, str_arg(api_key, "api_key")?) };
        let n = d.live()?.reset_sessions(key)?;
        if !count_out.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { count_out.write(n) };
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------
// Status, training, teacher.

/// The project's status as JSON (`project_id, project_name, format, log_format, header_unmatched,
/// header_recovered, phase, log_count, anomaly_count,
/// warmup_threshold, warmup_progress, has_student_model, training {state, progress, last_error,
/// waiting_reason, ...}, template_count, training_sequences, open_sessions, drift, novel_logs,
/// parsing_warning, es_index_pattern, created_at, last_activity`), owned by the caller
/// (`ls_string_free`).
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_project_status(
    detector: *const ls_detector,
    api_key: *const c_char,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        *out = owned_json(&d.live()?.status(key)?)?;
        Ok(())
    })
}

/// Like `ls_project_status` by project id (admin).
///
/// # Safety
/// `detector` is NULL or a live handle; `project_id` a string; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_project_status_by_id(
    detector: *const ls_detector,
    project_id: *const c_char,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, id) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
                str_arg(project_id, "project_id")?,
            )
        };
        *out = owned_json(&d.live()?.project_status(id)?)?;
        Ok(())
    })
}

/// The project's current or last training job: `*job_out` is a new job handle owned by the caller
/// (`ls_job_free`), or NULL when the project never started a training.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `job_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_training_job(
    detector: *const ls_detector,
    api_key: *const c_char,
    job_out: *mut *mut ls_job,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(job_out, "job_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        if let Some(job) = d.live()?.training_job(key)? {
            *out = Box::into_raw(Box::new(ls_job { job }));
        }
        Ok(())
    })
}

/// Blocks until the project's training (running or queued) finishes, at most `timeout_ms`
/// milliseconds (negative: no limit; LS_STATUS_TIMEOUT past it). `*status_json_out` is the job's
/// final status as JSON (`{"name", "state": "succeeded"|"failed"|"cancelled", "progress", "error"}`),
/// owned by the caller (`ls_string_free`), or NULL when the project never started a training.
///
/// # Safety
/// `detector` is NULL or a live handle; `api_key` a string; `status_json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_wait_for_training(
    detector: *const ls_detector,
    api_key: *const c_char,
    timeout_ms: i64,
    status_json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d, key) = unsafe {
            (
                out_ptr(status_json_out, "status_json_out")?,
                handle(detector, "detector")?,
                str_arg(api_key, "api_key")?,
            )
        };
        if let Some(st) = d
            .live()?
            .wait_for_training(key, timeout_from_ms(timeout_ms))?
        {
            *out = owned_json(&st)?;
        }
        Ok(())
    })
}

/// Detector health as JSON (`{"status", "teacher_loaded", "total_projects", "active_student_models",
/// "loaded_student_bytes", "projects_with_samples_loaded", "training_in_progress"}`), owned by the
/// caller (`ls_string_free`).
///
/// # Safety
/// `detector` is NULL or a live handle; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_health(
    detector: *const ls_detector,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
            )
        };
        *out = owned_json(&d.live()?.health()?)?;
        Ok(())
    })
}

/// The teacher's state as JSON (`vocabulary_size, model_vocabulary_size, templates, trained,
/// parameters, thresholds, logs_processed, update_in_progress, last_update, next_update, version`),
/// owned by the caller (`ls_string_free`).
///
/// # Safety
/// `detector` is NULL or a live handle; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_teacher_info(
    detector: *const ls_detector,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
            )
        };
        *out = owned_json(&d.live()?.teacher_info()?)?;
        Ok(())
    })
}

/// Starts a teacher update now (admin). `*job_out` is its job handle, owned by the caller
/// (`ls_job_free`).
///
/// # Safety
/// `detector` is NULL or a live handle; `job_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_force_teacher_update(
    detector: *const ls_detector,
    job_out: *mut *mut ls_job,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d) = unsafe { (out_ptr(job_out, "job_out")?, handle(detector, "detector")?) };
        let job = d.live()?.force_teacher_update()?;
        *out = Box::into_raw(Box::new(ls_job { job }));
        Ok(())
    })
}

/// The teacher update history, oldest first, as a JSON array of `{"started_at", "duration_secs",
/// "samples_used", "projects", "success", "error", "trigger"}`, owned by the caller
/// (`ls_string_free`).
///
/// # Safety
/// `detector` is NULL or a live handle; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_update_history(
    detector: *const ls_detector,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, d) = unsafe {
            (
                out_ptr(json_out, "json_out")?,
                handle(detector, "detector")?,
            )
        };
        *out = owned_json(&d.live()?.update_history()?)?;
        Ok(())
    })
}

/// Persists every project's state now (also done by group commits, on close and on free).
///
/// # Safety
/// `detector` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn ls_flush(detector: *const ls_detector) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let d = unsafe { handle(detector, "detector") }?;
        d.live()?.flush()?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------------
// Jobs.

/// The job's current status as JSON (`{"name", "state": "queued"|"running"|"succeeded"|"failed"|
/// "cancelled", "progress", "error"}`), owned by the caller (`ls_string_free`).
///
/// # Safety
/// `job` is NULL or a live job handle; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_job_status(
    job: *const ls_job,
    json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, j) = unsafe { (out_ptr(json_out, "json_out")?, handle(job, "job")?) };
        *out = owned_json(&j.job.status())?;
        Ok(())
    })
}

/// Blocks until the job finishes, at most `timeout_ms` milliseconds (negative: no limit;
/// LS_STATUS_TIMEOUT past it). `*status_json_out` receives the final status as JSON (see
/// `ls_job_status`), owned by the caller (`ls_string_free`).
///
/// # Safety
/// `job` is NULL or a live job handle; `status_json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn ls_job_wait(
    job: *const ls_job,
    timeout_ms: i64,
    status_json_out: *mut *mut c_char,
) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let (out, j) = unsafe {
            (
                out_ptr(status_json_out, "status_json_out")?,
                handle(job, "job")?,
            )
        };
        *out = owned_json(&j.job.wait(timeout_from_ms(timeout_ms))?)?;
        Ok(())
    })
}

/// Asks the job to stop at its next checkpoint (it then ends "cancelled"); returns at once.
///
/// # Safety
/// `job` is NULL or a live job handle.
#[no_mangle]
pub unsafe extern "C" fn ls_job_cancel(job: *const ls_job) -> ls_status {
    boundary(|| {
        // SAFETY: the arguments follow this function's `# Safety` contract.
        let j = unsafe { handle(job, "job") }?;
        j.job.cancel();
        Ok(())
    })
}

/// Frees a job handle (the job itself goes on). NULL is a no-op.
///
/// # Safety
/// `job` is NULL or a job handle from this library, not freed yet, with no call on it in progress.
#[no_mangle]
pub unsafe extern "C" fn ls_job_free(job: *mut ls_job) {
    boundary_void(|| {
        if !job.is_null() {
            // SAFETY: the pointer came from Box::into_raw and is freed once.
            drop(unsafe { Box::from_raw(job) });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::set_last_error;

    #[test]
    fn status_names_match_the_codes() {
        for i in 0..16 {
            // SAFETY: static NUL-terminated strings.
            let name = unsafe { CStr::from_ptr(ls_status_name(i)) }
                .to_str()
                .unwrap();
            assert_ne!(name, "UNKNOWN");
        }
        assert_eq!(
            status_cstr(ls_status::Closed as c_int).to_str().unwrap(),
            ls_status::Closed.code()
        );
        assert_eq!(status_cstr(99).to_str().unwrap(), "UNKNOWN");
    }

    #[test]
    fn last_error_is_cut_at_a_character_boundary() {
        set_last_error("ééé".into()); // 6 bytes
        let mut buf = [0 as c_char; 4];
        let mut needed = 0usize;
        // SAFETY: `buf` has 4 writable bytes, `needed` is a local.
        let s = unsafe { ls_last_error_message(buf.as_mut_ptr(), buf.len(), &mut needed) };
        assert_eq!(s, ls_status::BufferTooSmall);
        assert_eq!(needed, 7);
        // SAFETY: the function NUL-terminated `buf`.
        let got = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert_eq!(got, "é");
    }

    #[test]
    fn the_rust_side_of_the_c_api_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let config =
            std::ffi::CString::new(serde_json::json!({"storage_dir": dir.path()}).to_string())
                .unwrap();
        let mut det: *mut ls_detector = std::ptr::null_mut();
        let mut p: *mut ls_created_project = std::ptr::null_mut();
        let mut d = std::mem::MaybeUninit::<ls_detection>::uninit();
        // SAFETY: every pointer is a live local or a handle this test owns, freed once at the end.
        unsafe {
            assert_eq!(ls_detector_open(config.as_ptr(), &mut det), ls_status::Ok);
            assert_eq!(
                ls_create_project(det, c"{\"name\": \"rust\"}".as_ptr(), &mut p),
                ls_status::Ok
            );
            assert_eq!(
                ls_detect(
                    det,
                    (*p).api_key,
                    c"GET / 200".as_ptr(),
                    c"s".as_ptr(),
                    d.as_mut_ptr()
                ),
                ls_status::Ok
            );
            let d = d.assume_init();
            assert_eq!(d.log_count, 1);
            assert_eq!(d.phase, ls_phase::Warmup);
            ls_created_project_free(p);
            assert_eq!(ls_detector_close(det), ls_status::Ok);
            ls_detector_free(det);
        }
    }
}
