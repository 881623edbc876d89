//! Python bindings of [logsentinel](../logsentinel/index.html): the native module
//! `logsentinel._native` behind the typed `logsentinel` package (see `python/logsentinel/`).
//!
//! The bindings only convert types, map errors (all in [`error`]), release the GIL around every call
//! into the core, and manage the handle's lifetime (close, context manager, fork). All logic lives in
//! the core crate.

#![deny(missing_docs)]

use pyo3::prelude::*;

pub mod convert;
pub mod detector;
pub mod error;
pub mod job;
pub mod types;

/// The version of the package (the workspace version).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Default config values as a dict (what a field left out of `config` becomes).
#[pyfunction]
fn default_config(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    convert::to_py_dict(py, &logsentinel::Config::default())
}

/// The native module.
#[pymodule]
#[pyo3(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", VERSION)?;
    error::register(m)?;
    types::register(m)?;
    detector::register(m)?;
    m.add_function(wrap_pyfunction!(default_config, m)?)?;
    Ok(())
}
