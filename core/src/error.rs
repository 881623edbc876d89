//! The one error type of logsentinel.
//!
//! Every fallible call returns [`Result`]. Bindings map each variant to their own idiom (a Python
//! exception class, a Node `code`, a C status) through [`Error::kind`], so variants carry structured
//! fields rather than only text.

use std::fmt;

/// Errors returned by every fallible logsentinel call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API key is unknown, malformed or revoked. Never says which project it might belong to.
    #[error("invalid API key")]
    InvalidApiKey,
    /// No project with this id exists (or it was deleted).
    #[error("project not found: {id}")]
    ProjectNotFound {
        /// The project id that was asked for.
        id: String,
    },
    /// The caller passed something unusable (an empty name, an unknown format, a bad regex...).
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What was wrong, in words a user can act on.
        reason: String,
    },
    /// A configuration value is invalid; `name` is the field or environment variable.
    #[error("invalid configuration {name}: {reason}")]
    InvalidConfig {
        /// The config field or environment variable name (e.g. `WARMUP_THRESHOLD`).
        name: String,
        /// Why the value was refused.
        reason: String,
    },
    /// The embedded database failed (I/O, corruption, full disk, read-only directory...).
    #[error("storage error: {0}")]
    Storage(String),
    /// A model could not be built, trained, saved or loaded.
    #[error("model error: {0}")]
    Model(String),
    /// A background job was cancelled before it finished.
    #[error("job cancelled")]
    Cancelled,
    /// The detector was closed; no further calls are accepted.
    #[error("detector is closed")]
    Closed,
    /// A wait ran past its deadline.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The shared storage is leased by another detector instance (`owner`): calls go there (a router
    /// forwards them; HTTP 409), or wait until the lease expires. Also what a holder whose lease was
    /// taken over gets for its writes, which are refused.
    #[error("the storage is leased by another instance, {owner} (expires in {expires_in_secs:.1} s unless renewed)")]
    LeaseHeld {
        /// The instance holding the lease (its `LOGSENTINEL_INSTANCE_ID`).
        owner: String,
        /// Seconds until the lease expires unless its holder renews it.
        expires_in_secs: f64,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A stable, machine-readable name for each error variant, shared by every binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::InvalidApiKey`].
    InvalidApiKey,
    /// See [`Error::ProjectNotFound`].
    ProjectNotFound,
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::InvalidConfig`].
    InvalidConfig,
    /// See [`Error::Storage`].
    Storage,
    /// See [`Error::Model`].
    Model,
    /// See [`Error::Cancelled`].
    Cancelled,
    /// See [`Error::Closed`].
    Closed,
    /// See [`Error::Timeout`].
    Timeout,
    /// See [`Error::LeaseHeld`].
    LeaseHeld,
}

impl ErrorKind {
    /// Upper snake case code used by the HTTP API and the Node binding, e.g. `INVALID_API_KEY`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidApiKey => "INVALID_API_KEY",
            ErrorKind::ProjectNotFound => "PROJECT_NOT_FOUND",
            ErrorKind::InvalidInput => "INVALID_INPUT",
            ErrorKind::InvalidConfig => "INVALID_CONFIG",
            ErrorKind::Storage => "STORAGE_ERROR",
            ErrorKind::Model => "MODEL_ERROR",
            ErrorKind::Cancelled => "CANCELLED",
            ErrorKind::Closed => "CLOSED",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::LeaseHeld => "LEASE_HELD",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Error {
    /// The machine-readable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidApiKey => ErrorKind::InvalidApiKey,
            Error::ProjectNotFound { .. } => ErrorKind::ProjectNotFound,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::InvalidConfig { .. } => ErrorKind::InvalidConfig,
            Error::Storage(_) => ErrorKind::Storage,
            Error::Model(_) => ErrorKind::Model,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Closed => ErrorKind::Closed,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::LeaseHeld { .. } => ErrorKind::LeaseHeld,
        }
    }

    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid_input(reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Model`].
    pub fn model(reason: impl fmt::Display) -> Self {
        Error::Model(reason.to_string())
    }

    /// Shorthand for [`Error::Storage`].
    pub fn storage(reason: impl fmt::Display) -> Self {
        Error::Storage(reason.to_string())
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Model(e.to_string())
    }
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Storage(e.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error,
    serde_json::Error
);
