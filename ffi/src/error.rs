//! Errors at the C boundary: the [`ls_status`] every fallible C function returns, the thread-local
//! message behind [`crate::c_api::ls_last_error_message`], and the one mapping from
//! [`logsentinel::Error`] to both (the C++ bridge reuses [`FfiError::code`]).

use std::cell::RefCell;
use std::fmt;

use logsentinel::ErrorKind;

/// Status of a C call: `LS_STATUS_OK` (0) on success, otherwise the reason. One value per
/// `logsentinel::ErrorKind`, plus the failures only the C boundary has.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ls_status {
    /// Success.
    Ok = 0,
    /// The API key is unknown, malformed or revoked.
    InvalidApiKey = 1,
    /// No project with this id exists.
    ProjectNotFound = 2,
    /// An argument was unusable (bad JSON, an empty name, an empty batch...).
    InvalidInput = 3,
    /// The configuration JSON was invalid; the message names the field.
    InvalidConfig = 4,
    /// The embedded database failed.
    StorageError = 5,
    /// A model could not be built, trained, saved or loaded.
    ModelError = 6,
    /// A background job was cancelled.
    Cancelled = 7,
    /// The detector was closed with `ls_detector_close`; it accepts no further calls but `_free`.
    Closed = 8,
    /// A wait ran past its deadline.
    Timeout = 9,
    /// A required pointer argument was NULL.
    NullPointer = 10,
    /// A string argument was not valid UTF-8.
    InvalidUtf8 = 11,
    /// The library panicked (a bug); the call did nothing reliable, the handle stays usable.
    Panic = 12,
    /// A caller-supplied buffer was too small (the needed size is reported).
    BufferTooSmall = 13,
    /// An error kind newer than this header (the core's error kinds are non-exhaustive).
    Other = 14,
    /// The shared database is leased by another instance (named in the message): send the call
    /// there, or wait. Also what a detector whose lease was taken over gets.
    LeaseHeld = 15,
}

impl ls_status {
    /// Upper snake case code, the same as the core's `ErrorKind::code` (`"OK"` for success).
    pub fn code(self) -> &'static str {
        match self {
            ls_status::Ok => "OK",
            ls_status::InvalidApiKey => ErrorKind::InvalidApiKey.code(),
            ls_status::ProjectNotFound => ErrorKind::ProjectNotFound.code(),
            ls_status::InvalidInput => ErrorKind::InvalidInput.code(),
            ls_status::InvalidConfig => ErrorKind::InvalidConfig.code(),
            ls_status::StorageError => ErrorKind::Storage.code(),
            ls_status::ModelError => ErrorKind::Model.code(),
            ls_status::Cancelled => ErrorKind::Cancelled.code(),
            ls_status::Closed => ErrorKind::Closed.code(),
            ls_status::Timeout => ErrorKind::Timeout.code(),
            ls_status::NullPointer => "NULL_POINTER",
            ls_status::InvalidUtf8 => "INVALID_UTF8",
            ls_status::Panic => "PANIC",
            ls_status::BufferTooSmall => "BUFFER_TOO_SMALL",
            ls_status::Other => "OTHER",
            ls_status::LeaseHeld => ErrorKind::LeaseHeld.code(),
        }
    }

    /// The status of a core error kind.
    pub fn from_kind(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidApiKey => ls_status::InvalidApiKey,
            ErrorKind::ProjectNotFound => ls_status::ProjectNotFound,
            ErrorKind::InvalidInput => ls_status::InvalidInput,
            ErrorKind::InvalidConfig => ls_status::InvalidConfig,
            ErrorKind::Storage => ls_status::StorageError,
            ErrorKind::Model => ls_status::ModelError,
            ErrorKind::Cancelled => ls_status::Cancelled,
            ErrorKind::Closed => ls_status::Closed,
            ErrorKind::Timeout => ls_status::Timeout,
            ErrorKind::LeaseHeld => ls_status::LeaseHeld,
            _ => ls_status::Other,
        }
    }
}

/// An error at the boundary: a core error or one of the boundary's own failures.
#[derive(Debug)]
pub enum FfiError {
    /// An error of the core library.
    Core(logsentinel::Error),
    /// A required pointer (named) was NULL.
    NullPointer(&'static str),
    /// A string argument (named) was not UTF-8.
    InvalidUtf8(&'static str),
    /// A buffer was too small.
    BufferTooSmall(String),
    /// A panic caught at the boundary, with its message.
    Panic(String),
}

impl FfiError {
    /// The status this error is reported as.
    pub fn status(&self) -> ls_status {
        match self {
            FfiError::Core(e) => ls_status::from_kind(e.kind()),
            FfiError::NullPointer(_) => ls_status::NullPointer,
            FfiError::InvalidUtf8(_) => ls_status::InvalidUtf8,
            FfiError::BufferTooSmall(_) => ls_status::BufferTooSmall,
            FfiError::Panic(_) => ls_status::Panic,
        }
    }

    /// The stable upper snake case code (`INVALID_API_KEY`, `NULL_POINTER`, ...).
    pub fn code(&self) -> &'static str {
        self.status().code()
    }

    /// Shorthand for an invalid-input core error.
    pub fn invalid_input(reason: impl Into<String>) -> Self {
        FfiError::Core(logsentinel::Error::invalid_input(reason))
    }
}

impl fmt::Display for FfiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FfiError::Core(e) => write!(f, "{e}"),
            FfiError::NullPointer(what) => write!(f, "{what} must not be NULL"),
            FfiError::InvalidUtf8(what) => write!(f, "{what} is not valid UTF-8"),
            FfiError::BufferTooSmall(what) => write!(f, "buffer too small: {what}"),
            FfiError::Panic(msg) => write!(f, "logsentinel panicked (a bug): {msg}"),
        }
    }
}

impl std::error::Error for FfiError {}

impl From<logsentinel::Error> for FfiError {
    fn from(e: logsentinel::Error) -> Self {
        FfiError::Core(e)
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: String) {
    // `try_with`: during thread teardown the slot may be gone; losing the text then is harmless.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut s) = slot.try_borrow_mut() {
            *s = message;
        }
    });
}

/// This thread's last error message (empty when no call failed on this thread).
pub(crate) fn last_error() -> String {
    LAST_ERROR
        .try_with(|slot| slot.try_borrow().map(|s| s.clone()).unwrap_or_default())
        .unwrap_or_default()
}

/// The message of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status, in numeric order.
    const ALL: [ls_status; 15] = [
        ls_status::Ok,
        ls_status::InvalidApiKey,
        ls_status::ProjectNotFound,
        ls_status::InvalidInput,
        ls_status::InvalidConfig,
        ls_status::StorageError,
        ls_status::ModelError,
        ls_status::Cancelled,
        ls_status::Closed,
        ls_status::Timeout,
        ls_status::NullPointer,
        ls_status::InvalidUtf8,
        ls_status::Panic,
        ls_status::BufferTooSmall,
        ls_status::Other,
    ];

    #[test]
    fn statuses_are_numbered_in_order_and_codes_match_the_core() {
        for (i, s) in ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        assert_eq!(
            ls_status::from_kind(ErrorKind::Storage).code(),
            "STORAGE_ERROR"
        );
        let e = FfiError::from(logsentinel::Error::InvalidApiKey);
        assert_eq!(e.status(), ls_status::InvalidApiKey);
        assert_eq!(e.code(), "INVALID_API_KEY");
    }

    #[test]
    fn last_error_is_per_thread() {
        set_last_error("boom".into());
        assert_eq!(last_error(), "boom");
        std::thread::spawn(|| assert_eq!(last_error(), ""))
            .join()
            .unwrap();
    }
}
