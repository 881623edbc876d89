//! Background jobs (student training, teacher update) seen from JavaScript, and the promises that wait
//! for them.
//!
//! A wait can last minutes, so it does not run as an `AsyncTask`: that would hold one of libuv's four
//! worker threads (shared with `fs`, `dns.lookup`, `zlib` and `crypto`) for the whole training, and four
//! concurrent waits would stall every file operation of the process. Each wait gets its own small
//! thread instead, blocked on the job's condition variable, and settles a deferred promise on the
//! JavaScript thread when the job finishes (or the timeout passes). Short CPU work (`detectBatch`) does
//! use `AsyncTask`s.

use std::sync::Arc;
use std::time::Duration;

use logsentinel::{Error, JobState};
use napi::bindgen_prelude::{Env, Object};
use napi::JsDeferred;
use napi_derive::napi;
use parking_lot::Mutex;

use crate::convert::timeout_arg;
use crate::error::{reject_with, to_js_err, IntoJs, Result};
use crate::types::{enum_name, f32_js, JobStatus};

/// What a wait settles its promise with, resolved on the JavaScript thread.
type Resolver<T> = Box<dyn FnOnce(Env) -> napi::Result<T> + Send>;

/// Runs `work` on a new thread and returns a promise settled with its result: the value converted on
/// the JavaScript thread, or the error as a JavaScript `Error` with its `code`.
pub(crate) fn promise_on_thread<'env, T, R, F>(
    env: &'env Env,
    name: &str,
    work: F,
) -> Result<Object<'env>>
where
    T: napi::bindgen_prelude::ToNapiValue + 'static,
    R: Send + 'static,
    F: FnOnce() -> Result<R> + Send + 'static,
    R: Into<T>,
{
    let (deferred, promise) = env.create_deferred::<T, Resolver<T>>().js()?;
    // The deferred travels to the thread through a slot, so it can be rejected here if the thread
    // cannot be started.
    type Slot<T> = Arc<Mutex<Option<JsDeferred<T, Resolver<T>>>>>;
    let slot: Slot<T> = Arc::new(Mutex::new(Some(deferred)));
    let theirs = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let result = work();
            if let Some(deferred) = theirs.lock().take() {
                deferred.resolve(Box::new(move |env: Env| match result {
                    Ok(value) => Ok(value.into()),
                    Err(e) => Err(reject_with(&env, e)),
                }));
            }
        });
    if let Err(e) = spawned {
        if let Some(deferred) = slot.lock().take() {
            let err = to_js_err(Error::model(format!(
                "cannot start a thread to wait on: {e}"
            )));
            deferred.resolve(Box::new(move |env: Env| Err(reject_with(&env, err))));
        }
    }
    Ok(promise)
}

/// Waits for `job`; with `strict`, a cancelled job is a `CANCELLED` error and a failed one a
/// `MODEL_ERROR` carrying the job's error.
pub(crate) fn wait_job(
    job: &logsentinel::JobHandle,
    timeout: Option<Duration>,
    strict: bool,
) -> logsentinel::Result<logsentinel::JobStatus> {
    let status = job.wait(timeout)?;
    if strict {
        match status.state {
            JobState::Cancelled => return Err(Error::Cancelled),
            JobState::Failed => {
                return Err(Error::model(format!(
                    "job {} failed: {}",
                    status.name,
                    status.error.as_deref().unwrap_or("unknown error")
                )))
            }
            _ => {}
        }
    }
    Ok(status)
}

/// A background job: `status()`, `progress`, `wait(timeoutMs)`, `cancel()` and `result(timeoutMs)`.
/// Cheap to keep; it stays valid after the job finished and after the detector closed.
#[napi]
pub struct JobHandle {
    inner: logsentinel::JobHandle,
}

impl JobHandle {
    /// Wraps a core job handle.
    pub(crate) fn new(inner: logsentinel::JobHandle) -> Self {
        Self { inner }
    }
}

#[napi]
impl JobHandle {
    /// A snapshot of the job.
    #[napi]
    pub fn status(&self) -> JobStatus {
        self.inner.status().into()
    }

    /// What the job does, e.g. `train-student:PROJECT`.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.status().name
    }

    /// Where the job stands.
    #[napi(getter, ts_return_type = "JobState")]
    pub fn state(&self) -> String {
        enum_name(&self.inner.status().state)
    }

    /// Progress in `[0, 1]`.
    #[napi(getter)]
    pub fn progress(&self) -> f64 {
        f32_js(self.inner.status().progress)
    }

    /// Whether the job finished (succeeded, failed or cancelled).
    #[napi]
    pub fn done(&self) -> bool {
        self.inner.status().state.is_finished()
    }

    /// Asks the job to stop at its next checkpoint (it then ends as `'cancelled'`).
    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Resolves with the job's final status when it finishes, whatever the outcome; rejects with
    /// `code === 'TIMEOUT'` after `timeoutMs` milliseconds (no limit by default). Waits off the
    /// JavaScript thread.
    #[napi(ts_return_type = "Promise<JobStatus>")]
    pub fn wait<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> Result<Object<'env>> {
        let timeout = timeout_arg(timeout_ms);
        let job = self.inner.clone();
        promise_on_thread::<JobStatus, _, _>(env, "logsentinel-wait", move || {
            wait_job(&job, timeout?, false).js()
        })
    }

    /// Like `wait`, but rejects when the job did not succeed: `code === 'CANCELLED'` when it was
    /// cancelled, `'MODEL_ERROR'` (with the job's error in the message) when it failed.
    #[napi(ts_return_type = "Promise<JobStatus>")]
    pub fn result<'env>(&self, env: &'env Env, timeout_ms: Option<f64>) -> Result<Object<'env>> {
        let timeout = timeout_arg(timeout_ms);
        let job = self.inner.clone();
        promise_on_thread::<JobStatus, _, _>(env, "logsentinel-wait", move || {
            wait_job(&job, timeout?, true).js()
        })
    }

    /// `JobHandle(name, state, progress)`, for logs and the REPL.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> String {
        let st = self.inner.status();
        format!(
            "JobHandle(name={:?}, state={}, progress={})",
            st.name,
            enum_name(&st.state),
            f32_js(st.progress)
        )
    }
}
