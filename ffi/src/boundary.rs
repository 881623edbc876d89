//! The C boundary's plumbing: the `catch_unwind` wrapper every `extern "C"` body runs in, and checked
//! conversions of the raw pointers C passes in and out.

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::Serialize;

use crate::error::{ls_status, panic_message, set_last_error, FfiError};

/// Runs `f`, turning its error or a panic into a status (and this thread's last error message).
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), FfiError>) -> ls_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => ls_status::Ok,
        Ok(Err(e)) => {
            set_last_error(e.to_string());
            e.status()
        }
        Err(payload) => {
            let e = FfiError::Panic(panic_message(payload.as_ref()));
            set_last_error(e.to_string());
            // Dropping a payload can itself panic in theory; never let that unwind into C.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            ls_status::Panic
        }
    }
}

/// Runs `f` for a function that returns nothing (the `_free` functions): a panic is swallowed.
pub(crate) fn boundary_void(f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        set_last_error(FfiError::Panic(panic_message(payload.as_ref())).to_string());
        let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// A required string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(
    p: *const c_char,
    what: &'static str,
) -> Result<&'a str, FfiError> {
    if p.is_null() {
        return Err(FfiError::NullPointer(what));
    }
    // SAFETY: non-NULL, and the caller guarantees a NUL-terminated string live for 'a.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|_| FfiError::InvalidUtf8(what))
}

/// An optional string argument (NULL means absent).
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    p: *const c_char,
    what: &'static str,
) -> Result<Option<&'a str>, FfiError> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { str_arg(p, what) }.map(Some)
    }
}

/// A shared reference to a handle.
///
/// # Safety
/// `p` is NULL or a pointer this library returned and that was not freed yet.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &'static str) -> Result<&'a T, FfiError> {
    // SAFETY: the caller guarantees `p` is NULL or a live handle.
    unsafe { p.as_ref() }.ok_or(FfiError::NullPointer(what))
}

/// An out-parameter: checked for NULL and cleared (set to NULL) so that it is NULL on every failure.
///
/// # Safety
/// `p` is NULL or valid for writing one pointer.
pub(crate) unsafe fn out_ptr<'a, T>(
    p: *mut *mut T,
    what: &'static str,
) -> Result<&'a mut *mut T, FfiError> {
    // SAFETY: the caller guarantees `p` is NULL or writable.
    let slot = unsafe { p.as_mut() }.ok_or(FfiError::NullPointer(what))?;
    *slot = std::ptr::null_mut();
    Ok(slot)
}

/// An owned C string for the caller (freed with `ls_string_free`).
pub(crate) fn owned_string(s: String) -> Result<*mut c_char, FfiError> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|_| FfiError::invalid_input("a result contains a NUL byte"))
}

/// A result encoded as JSON, as an owned C string.
pub(crate) fn owned_json<T: Serialize + ?Sized>(v: &T) -> Result<*mut c_char, FfiError> {
    let s = serde_json::to_string(v).map_err(|e| {
        FfiError::Core(logsentinel::Error::model(format!(
            "cannot encode result: {e}"
        )))
    })?;
    owned_string(s)
}

/// Frees a string made by [`owned_string`].
///
/// # Safety
/// `p` is NULL or came from [`owned_string`] and was not freed yet.
pub(crate) unsafe fn free_string(p: *mut c_char) {
    if !p.is_null() {
        // SAFETY: `p` came from `CString::into_raw` and is freed once.
        drop(unsafe { CString::from_raw(p) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::last_error;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let s = boundary(|| panic!("kaboom"));
        assert_eq!(s, ls_status::Panic);
        assert!(last_error().contains("kaboom"), "{}", last_error());
        boundary_void(|| panic!("in a free"));
        assert!(last_error().contains("in a free"));
        assert_eq!(boundary(|| Ok(())), ls_status::Ok);
        // Success leaves the message alone.
        assert!(last_error().contains("in a free"));
    }

    #[test]
    fn string_arguments_are_checked() {
        // SAFETY: NULL and valid NUL-terminated literals.
        unsafe {
            assert!(matches!(
                str_arg(std::ptr::null(), "x"),
                Err(FfiError::NullPointer("x"))
            ));
            assert!(matches!(
                str_arg(c"a\xffb".as_ptr(), "y"),
                Err(FfiError::InvalidUtf8("y"))
            ));
            assert_eq!(str_arg(c"héllo".as_ptr(), "z").unwrap(), "héllo");
            assert_eq!(opt_str_arg(std::ptr::null(), "z").unwrap(), None);
        }
    }

    #[test]
    fn out_pointers_are_cleared_first() {
        let mut p: *mut c_char = std::ptr::dangling_mut::<c_char>();
        // SAFETY: `p` is a writable local.
        let slot = unsafe { out_ptr(&mut p, "out") }.unwrap();
        assert!(slot.is_null());
        // SAFETY: NULL is allowed.
        assert!(unsafe { out_ptr::<c_char>(std::ptr::null_mut(), "out") }.is_err());
        let s = owned_json(&serde_json::json!({"a": [1, 2]})).unwrap();
        // SAFETY: `s` is a fresh owned string, read then freed once.
        unsafe {
            assert_eq!(CStr::from_ptr(s).to_str().unwrap(), r#"{"a":[1,2]}"#);
            free_string(s);
        }
        assert!(owned_string("nul\0inside".into()).is_err());
    }
}
