//! `JobHandle`: a background job (student training, teacher update) seen from Python.

use std::time::{Duration, Instant};

use logsentinel::{Error, JobState};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::error::{new_error, to_py_err, wrong_process, Exc};
use crate::types::JobStatus;

/// How long one GIL-free wait lasts before Python gets a chance to handle signals (Ctrl-C).
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// A timeout argument in seconds (`None`: no limit) as a `Duration`.
pub(crate) fn timeout_arg(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => Duration::try_from_secs_f64(t)
            .map(Some)
            .map_err(|e| PyValueError::new_err(format!("invalid timeout: {e}"))),
        Some(t) => Err(PyValueError::new_err(format!(
            "timeout must be a non-negative number of seconds, got {t}"
        ))),
    }
}

/// Waits for `job` without holding the GIL, in slices so Ctrl-C (and other signals) still work.
pub(crate) fn wait_job(
    py: Python<'_>,
    job: &logsentinel::JobHandle,
    timeout: Option<Duration>,
) -> PyResult<logsentinel::JobStatus> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let slice = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(WAIT_SLICE),
            None => WAIT_SLICE,
        };
        let j = job.clone();
        match py.detach(move || j.wait(Some(slice))) {
            Ok(status) => return Ok(status),
            Err(Error::Timeout(msg)) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(to_py_err(py, Error::Timeout(msg)));
                }
                py.check_signals()?;
            }
            Err(e) => return Err(to_py_err(py, e)),
        }
    }
}

/// A background job: `status()`, `progress`, `wait(timeout)`, `cancel()` and `result(timeout)`.
/// Cheap to keep; it stays valid after the job finished.
#[pyclass(module = "logsentinel", name = "JobHandle", frozen)]
pub struct JobHandle {
    inner: logsentinel::JobHandle,
    pid: u32,
}

impl JobHandle {
    /// Wraps a core job handle created in this process.
    pub(crate) fn new(inner: logsentinel::JobHandle) -> Self {
        Self {
            inner,
            pid: std::process::id(),
        }
    }

    fn job(&self, py: Python<'_>) -> PyResult<&logsentinel::JobHandle> {
        if std::process::id() != self.pid {
            return Err(wrong_process(py, "job"));
        }
        Ok(&self.inner)
    }
}

#[pymethods]
impl JobHandle {
    /// A snapshot of the job.
    fn status(&self, py: Python<'_>) -> PyResult<JobStatus> {
        Ok(self.job(py)?.status().into())
    }

    /// What the job does, e.g. `train-student:PROJECT`.
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.job(py)?.status().name)
    }

    /// `"queued"`, `"running"`, `"succeeded"`, `"failed"` or `"cancelled"`.
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<String> {
        Ok(crate::convert::enum_name(&self.job(py)?.status().state))
    }

    /// Progress in `[0, 1]`.
    #[getter]
    fn progress(&self, py: Python<'_>) -> PyResult<f64> {
        Ok(crate::types::f32_py(self.job(py)?.status().progress))
    }

    /// Whether the job finished (succeeded, failed or cancelled).
    fn done(&self, py: Python<'_>) -> PyResult<bool> {
        Ok(self.job(py)?.status().state.is_finished())
    }

    /// Asks the job to stop at its next checkpoint (it then ends as `"cancelled"`).
    fn cancel(&self, py: Python<'_>) -> PyResult<()> {
        self.job(py)?.cancel();
        Ok(())
    }

    /// Blocks (without the GIL) until the job finishes and returns its final status, whatever the
    /// outcome. Raises `logsentinel.TimeoutError` after `timeout` seconds (`None`: no limit).
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<JobStatus> {
        let timeout = timeout_arg(timeout)?;
        Ok(wait_job(py, self.job(py)?, timeout)?.into())
    }

    /// Like `wait`, but raises when the job did not succeed: `Cancelled` when it was cancelled,
    /// `ModelError` (with the job's error) when it failed.
    #[pyo3(signature = (timeout=None))]
    fn result(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<JobStatus> {
        let timeout = timeout_arg(timeout)?;
        let status = wait_job(py, self.job(py)?, timeout)?;
        match status.state {
            JobState::Cancelled => Err(to_py_err(py, Error::Cancelled)),
            JobState::Failed => Err(new_error(
                py,
                Exc::Model,
                &format!(
                    "job {} failed: {}",
                    status.name,
                    status.error.as_deref().unwrap_or("unknown error")
                ),
                &[],
            )),
            _ => Ok(status.into()),
        }
    }

    fn __repr__(&self) -> String {
        let st = self.inner.status();
        format!(
            "JobHandle(name={:?}, state={:?}, progress={})",
            st.name,
            crate::convert::enum_name(&st.state),
            crate::types::f32_py(st.progress)
        )
    }
}
