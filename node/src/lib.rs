//! Node.js bindings of [logsentinel](../logsentinel/index.html): the native addon behind the
//! `logsentinel` npm package (`node/index.js`, typed by the generated `node/index.d.ts`).
//!
//! The bindings only convert types (results are plain objects in camelCase), map errors (all in
//! [`error`]: a JavaScript `Error` whose `code` is the core's error kind), keep heavy work off the
//! JavaScript thread (`detectBatch` as an `AsyncTask`, waits for training on their own threads) and
//! manage the handle's lifetime (`close()`). All logic lives in the core crate.

#![deny(missing_docs)]

use napi_derive::napi;

pub mod convert;
pub mod deliver;
pub mod detector;
pub mod error;
pub mod job;
pub mod types;

/// The version of the package (the workspace version).
#[napi]
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The default configuration (what an option left out becomes).
#[napi]
pub fn default_config() -> convert::DetectorConfig {
    convert::DetectorConfig::from(&logsentinel::Config::default())
}
