//! The one place where logsentinel errors become JavaScript errors.
//!
//! Every error thrown (or rejected) by the addon is a plain JavaScript `Error` whose `code` is the core's
//! stable kind name ([`logsentinel::ErrorKind::code`]: `INVALID_API_KEY`, `PROJECT_NOT_FOUND`,
//! `INVALID_INPUT`, `INVALID_CONFIG`, `STORAGE_ERROR`, `MODEL_ERROR`, `CANCELLED`, `CLOSED`, `TIMEOUT`,
//! `LEASE_HELD`)
//! and whose `message` is the core error's text, cause included (`project not found: p-12`,
//! `invalid configuration WARMUP_THRESHOLD: must be at least 100`, ...). Arguments the addon cannot use
//! (a record that is neither a string, a Buffer nor `{ logLine }`, an unknown option) are
//! `INVALID_INPUT` / `INVALID_CONFIG` errors too, so callers switch on one `code` field. Errors raised
//! by napi itself while converting arguments (a number where a string is expected) keep napi's codes
//! (`StringExpected`, `InvalidArg`, ...).

use std::borrow::Cow;

use logsentinel::Error;
use napi::bindgen_prelude::{Env, JsError, Unknown};

/// The `code` of a thrown error: a core error kind name, or a napi status name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCode(pub Cow<'static, str>);

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<napi::Status> for ErrorCode {
    fn from(status: napi::Status) -> Self {
        ErrorCode(Cow::Owned(status.as_ref().to_string()))
    }
}

/// A napi error whose `code` is an [`ErrorCode`].
pub type JsErr = napi::Error<ErrorCode>;

/// `Result` of every exported function (named `Result` so `#[napi]` treats it as one: an `Err` is thrown
/// or rejects the promise).
pub type Result<T> = std::result::Result<T, JsErr>;

/// Maps a core error to the error thrown in JavaScript.
pub fn to_js_err(err: Error) -> JsErr {
    napi::Error::new(ErrorCode(Cow::Borrowed(err.kind().code())), err.to_string())
}

/// A napi error (argument conversion, a failed napi call) with its status as `code`.
pub fn napi_err(err: napi::Error) -> JsErr {
    napi::Error::new(ErrorCode::from(err.status), err.reason)
}

/// An `INVALID_INPUT` error (the message reads like the core's: `invalid input: ...`).
pub fn invalid_input(reason: impl Into<String>) -> JsErr {
    to_js_err(Error::invalid_input(reason))
}

/// An `INVALID_CONFIG` error naming the option.
pub fn invalid_config(name: impl Into<String>, reason: impl Into<String>) -> JsErr {
    to_js_err(Error::InvalidConfig {
        name: name.into(),
        reason: reason.into(),
    })
}

/// Builds the JavaScript error object of `err` (see [`to_js_err`]) and wraps it in a plain napi error that hands that very
/// object back when it is thrown or used to reject a promise.
///
/// Promise settlement (`Task::resolve`, deferred resolvers) only takes `napi::Error<Status>`, whose
/// `code` would be a napi status name: this keeps the core's code on asynchronous paths too. Must run on
/// the JavaScript thread.
pub fn reject_with(env: &Env, err: JsErr) -> napi::Error {
    let js: Unknown<'_> = JsError::from(err).into_unknown(*env);
    napi::Error::from(js)
}

/// Extension turning a core `Result` into a [`Result`].
pub trait IntoJs<T> {
    /// Maps the error with [`to_js_err`].
    fn js(self) -> Result<T>;
}

impl<T> IntoJs<T> for logsentinel::Result<T> {
    fn js(self) -> Result<T> {
        self.map_err(to_js_err)
    }
}

impl<T> IntoJs<T> for napi::Result<T> {
    fn js(self) -> Result<T> {
        self.map_err(napi_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_core_kind_names() {
        let e = to_js_err(Error::InvalidApiKey);
        assert_eq!(e.status.as_ref(), "INVALID_API_KEY");
        assert_eq!(e.reason, "invalid API key");
        let e = to_js_err(Error::ProjectNotFound { id: "p-1".into() });
        assert_eq!(e.status.as_ref(), "PROJECT_NOT_FOUND");
        assert!(e.reason.contains("p-1"));
        let e = invalid_config("storageDir", "nope");
        assert_eq!(e.status.as_ref(), "INVALID_CONFIG");
        assert!(e.reason.contains("storageDir") && e.reason.contains("nope"));
        let e = napi_err(napi::Error::new(napi::Status::StringExpected, "x"));
        assert_eq!(e.status.as_ref(), "StringExpected");
    }
}
