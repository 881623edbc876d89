//! The one place where logsentinel errors become Python exceptions.
//!
//! Every exception derives from `logsentinel.LogSentinelError`; there is one subclass per
//! [`logsentinel::ErrorKind`], and a few also derive from the built-in exception a Python user would
//! catch anyway (`InvalidInput` and `InvalidConfig` are `ValueError`s, `TimeoutError` is the built-in
//! `TimeoutError`, `DetectorClosed` is a `RuntimeError`). Each class has a `code` attribute (the stable
//! upper snake case name shared with the HTTP API and the other bindings); instances carry the structured
//! fields of the error (`project_id`, `name`, `reason`) where it has them.

use logsentinel::{Error, ErrorKind};
use pyo3::exceptions::{PyRuntimeError, PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::PyTypeInfo;

/// Code of the error raised when a detector (or job) opened in a parent process is used after `fork()`.
pub(crate) const WRONG_PROCESS: &str = "WRONG_PROCESS";

/// The exception classes, in the order of [`Exc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exc {
    /// `LogSentinelError`, the base of all.
    Base,
    /// `InvalidApiKey`.
    InvalidApiKey,
    /// `ProjectNotFound`.
    ProjectNotFound,
    /// `InvalidInput` (also a `ValueError`).
    InvalidInput,
    /// `InvalidConfig` (also a `ValueError`).
    InvalidConfig,
    /// `StorageError`.
    Storage,
    /// `ModelError`.
    Model,
    /// `Cancelled`.
    Cancelled,
    /// `DetectorClosed` (also a `RuntimeError`).
    Closed,
    /// `TimeoutError` (also the built-in `TimeoutError`).
    Timeout,
    /// `LeaseHeld`.
    LeaseHeld,
}

struct Spec {
    exc: Exc,
    name: &'static str,
    code: &'static str,
    doc: &'static str,
}

const SPECS: [Spec; 11] = [
    Spec {
        exc: Exc::Base,
        name: "LogSentinelError",
        code: "ERROR",
        doc: "Base class of every logsentinel error. `code` is a stable machine-readable name.",
    },
    Spec {
        exc: Exc::InvalidApiKey,
        name: "InvalidApiKey",
        code: "INVALID_API_KEY",
        doc: "The API key is unknown, malformed or revoked.",
    },
    Spec {
        exc: Exc::ProjectNotFound,
        name: "ProjectNotFound",
        code: "PROJECT_NOT_FOUND",
        doc: "No project with this id exists (`project_id` names it).",
    },
    Spec {
        exc: Exc::InvalidInput,
        name: "InvalidInput",
        code: "INVALID_INPUT",
        doc: "An argument is unusable (`reason` says why). Also a ValueError.",
    },
    Spec {
        exc: Exc::InvalidConfig,
        name: "InvalidConfig",
        code: "INVALID_CONFIG",
        doc: "A configuration value is invalid (`name` is the field, `reason` why). Also a ValueError.",
    },
    Spec {
        exc: Exc::Storage,
        name: "StorageError",
        code: "STORAGE_ERROR",
        doc: "The embedded database failed (I/O, corruption, full disk, locked by another process...).",
    },
    Spec {
        exc: Exc::Model,
        name: "ModelError",
        code: "MODEL_ERROR",
        doc: "A model could not be built, trained, saved or loaded (also a failed training job).",
    },
    Spec {
        exc: Exc::Cancelled,
        name: "Cancelled",
        code: "CANCELLED",
        doc: "A background job was cancelled before it finished.",
    },
    Spec {
        exc: Exc::Closed,
        name: "DetectorClosed",
        code: "CLOSED",
        doc: "The detector was closed; no further calls are accepted. Also a RuntimeError.",
    },
    Spec {
        exc: Exc::Timeout,
        name: "TimeoutError",
        code: "TIMEOUT",
        doc: "A wait ran past its deadline. Also the built-in TimeoutError.",
    },
    Spec {
        exc: Exc::LeaseHeld,
        name: "LeaseHeld",
        code: "LEASE_HELD",
        doc: "The shared database is leased by another instance (`owner`): send the call there, or \
              wait. Also what a detector whose lease was taken over gets.",
    },
];

static TYPES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

fn build_types(py: Python<'_>) -> PyResult<Vec<Py<PyType>>> {
    let type_fn = py.import("builtins")?.getattr("type")?;
    let mut out: Vec<Py<PyType>> = Vec::with_capacity(SPECS.len());
    for (i, spec) in SPECS.iter().enumerate() {
        debug_assert_eq!(spec.exc as usize, i);
        let builtin = match spec.exc {
            Exc::Base => Some(py.get_type::<pyo3::exceptions::PyException>()),
            Exc::InvalidInput | Exc::InvalidConfig => Some(PyValueError::type_object(py)),
            Exc::Closed => Some(PyRuntimeError::type_object(py)),
            Exc::Timeout => Some(PyTimeoutError::type_object(py)),
            _ => None,
        };
        let mut bases: Vec<Bound<'_, PyType>> = Vec::new();
        if let Some(first) = out.first() {
            bases.push(first.bind(py).clone());
        }
        bases.extend(builtin);
        let dict = PyDict::new(py);
        dict.set_item("__module__", "logsentinel")?;
        dict.set_item("__doc__", spec.doc)?;
        dict.set_item("code", spec.code)?;
        let ty = type_fn
            .call1((spec.name, PyTuple::new(py, bases)?, dict))?
            .cast_into::<PyType>()?;
        out.push(ty.unbind());
    }
    Ok(out)
}

/// The class of one exception.
pub(crate) fn exc_type(py: Python<'_>, exc: Exc) -> PyResult<Bound<'_, PyType>> {
    let types = TYPES.get_or_try_init(py, || build_types(py))?;
    types
        .get(exc as usize)
        .map(|t| t.bind(py).clone())
        .ok_or_else(|| PyRuntimeError::new_err("logsentinel exception table is incomplete"))
}

/// Adds every exception class to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for spec in &SPECS {
        m.add(spec.name, exc_type(py, spec.exc)?)?;
    }
    Ok(())
}

/// Builds an exception of class `exc` with `message` and instance attributes.
pub(crate) fn new_error(
    py: Python<'_>,
    exc: Exc,
    message: &str,
    attrs: &[(&str, Option<&str>)],
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let value = exc_type(py, exc)?.call1((message,))?;
        for (k, v) in attrs {
            value.setattr(*k, *v)?;
        }
        Ok(PyErr::from_value(value))
    };
    build().unwrap_or_else(|e| e)
}

/// The error raised when a detector or job opened in another process (before a `fork()`) is used.
pub(crate) fn wrong_process(py: Python<'_>, what: &str) -> PyErr {
    new_error(
        py,
        Exc::Base,
        &format!(
            "this {what} was opened in another process (before a fork); its background threads do not \
             exist here. Open a new TenantDetector in the child process"
        ),
        &[("code", Some(WRONG_PROCESS))],
    )
}

/// Maps a core error to its Python exception.
pub(crate) fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    let message = err.to_string();
    let exc = match err.kind() {
        ErrorKind::InvalidApiKey => Exc::InvalidApiKey,
        ErrorKind::ProjectNotFound => Exc::ProjectNotFound,
        ErrorKind::InvalidInput => Exc::InvalidInput,
        ErrorKind::InvalidConfig => Exc::InvalidConfig,
        ErrorKind::Storage => Exc::Storage,
        ErrorKind::Model => Exc::Model,
        ErrorKind::Cancelled => Exc::Cancelled,
        ErrorKind::Closed => Exc::Closed,
        ErrorKind::Timeout => Exc::Timeout,
        ErrorKind::LeaseHeld => Exc::LeaseHeld,
        // ErrorKind is non-exhaustive: a kind added later is still a LogSentinelError.
        _ => Exc::Base,
    };
    match &err {
        Error::ProjectNotFound { id } => {
            new_error(py, exc, &message, &[("project_id", Some(id.as_str()))])
        }
        Error::InvalidInput { reason } => {
            new_error(py, exc, &message, &[("reason", Some(reason.as_str()))])
        }
        Error::InvalidConfig { name, reason } => new_error(
            py,
            exc,
            &message,
            &[
                ("name", Some(name.as_str())),
                ("reason", Some(reason.as_str())),
            ],
        ),
        Error::LeaseHeld { owner, .. } => {
            new_error(py, exc, &message, &[("owner", Some(owner.as_str()))])
        }
        _ => new_error(py, exc, &message, &[]),
    }
}

/// Extension turning a core `Result` into a `PyResult`.
pub(crate) trait IntoPyResult<T> {
    /// Maps the error with [`to_py_err`].
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for logsentinel::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py_err(py, e))
    }
}
