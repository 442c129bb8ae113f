//! Errors across the C boundary: Triton's `TRITONSERVER_Error*` in and out, and the guard that
//! keeps every panic on the Rust side (a panic unwinding into the server is undefined behaviour).

use crate::ffi;
use std::any::Any;
use std::ffi::{CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use unival_runtime::tasks::TaskError;

/// Why a call into the backend, or one request, failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The request is malformed (missing input, bad parameter, undecodable file): the client's
    /// fault, answered with `INVALID_ARG`.
    #[error("{0}")]
    BadRequest(String),
    /// The model configuration or repository is wrong: the operator's fault.
    #[error("{0}")]
    Config(String),
    /// Opening or running the model failed.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// Running the model on one input failed (not the input's fault).
    #[error("{0}")]
    Model(String),
    /// A Triton API call failed.
    #[error("Triton: {0}")]
    Triton(String),
    /// A panic was caught; the server stays up.
    #[error("internal error (panic) in {what}: {message}")]
    Panic { what: String, message: String },
}

impl BackendError {
    /// Triton's error code for this error.
    fn code(&self) -> ffi::ErrorCode {
        match self {
            BackendError::BadRequest(_) => ffi::ERROR_INVALID_ARG,
            BackendError::Config(_) => ffi::ERROR_UNSUPPORTED,
            BackendError::Task(e) if is_input_error(e) => ffi::ERROR_INVALID_ARG,
            _ => ffi::ERROR_INTERNAL,
        }
    }

    /// A new `TRITONSERVER_Error` with this message (owned by the caller).
    pub fn to_triton(&self) -> *mut ffi::TRITONSERVER_Error {
        let msg = c_string(&self.to_string());
        // SAFETY: `msg` is a valid NUL-terminated string; Triton copies it.
        unsafe { ffi::TRITONSERVER_ErrorNew(self.code(), msg.as_ptr()) }
    }
}

/// Whether a task error is the input's fault (bad file, empty text) rather than the model's.
pub fn is_input_error(e: &TaskError) -> bool {
    !matches!(e, TaskError::Runtime(_) | TaskError::Generate(_))
}

/// `s` as a C string; interior NULs (never in our messages, possibly in a client's text) become
/// spaces rather than losing the message.
pub fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// Turns a Triton call's result into a `Result`, taking ownership of (and freeing) the error.
pub fn check(err: *mut ffi::TRITONSERVER_Error) -> Result<(), BackendError> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: `err` is a live error returned by Triton, read once and deleted once.
    let message = unsafe {
        let text = ffi::TRITONSERVER_ErrorMessage(err);
        let message = if text.is_null() {
            String::from("unknown error")
        } else {
            CStr::from_ptr(text).to_string_lossy().into_owned()
        };
        ffi::TRITONSERVER_ErrorDelete(err);
        message
    };
    Err(BackendError::Triton(message))
}

/// Reads a C string Triton owns (a name, an id); empty when null.
///
/// # Safety
/// `ptr` is null or a NUL-terminated string alive for the call.
pub unsafe fn read_c_str(ptr: *const std::ffi::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    CStr::from_ptr(ptr).to_string_lossy().into_owned()
}

/// The text of a caught panic's payload.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("(no message)")
    }
}

/// Runs `f` with every panic caught: the entry points' wrapper. Returns what Triton expects
/// from an entry point: null on success, a new error otherwise.
pub fn guarded(
    what: &str,
    f: impl FnOnce() -> Result<(), BackendError>,
) -> *mut ffi::TRITONSERVER_Error {
    let outcome = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(BackendError::Panic {
            what: what.to_string(),
            message: panic_message(payload.as_ref()),
        })
    });
    match outcome {
        Ok(()) => std::ptr::null_mut(),
        Err(e) => {
            log_error(&format!("{what}: {e}"));
            e.to_triton()
        }
    }
}

/// Writes `msg` to Triton's log at `level`; errors of the log itself are dropped.
fn log(level: ffi::LogLevel, msg: &str) {
    let file = c_string(file!());
    let text = c_string(msg);
    // SAFETY: both strings are valid for the call; Triton copies them.
    let err = unsafe { ffi::TRITONSERVER_LogMessage(level, file.as_ptr(), 0, text.as_ptr()) };
    let _ = check(err);
}

/// An informational line in Triton's log.
pub fn log_info(msg: &str) {
    log(ffi::LOG_INFO, msg);
}

/// An error line in Triton's log.
pub fn log_error(msg: &str) {
    log(ffi::LOG_ERROR, msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_payloads_become_text() {
        let caught = catch_unwind(|| panic!("boom {}", 7)).unwrap_err();
        assert_eq!(panic_message(caught.as_ref()), "boom 7");
        let caught = catch_unwind(|| std::panic::panic_any(3u8)).unwrap_err();
        assert_eq!(panic_message(caught.as_ref()), "(no message)");
    }

    #[test]
    fn c_strings_keep_the_message_around_nuls() {
        assert_eq!(c_string("a\0b").to_str().unwrap_or(""), "a b");
    }
}
