//! `libtriton_unival.so`: UnIVAL as a backend of NVIDIA Triton Inference Server.
//!
//! Triton loads `backends/unival/libtriton_unival.so` for every model whose `config.pbtxt`
//! says `backend: "unival"` (written by `unival triton-repo`, [`repo`]). Each model instance
//! opens its own `Pipeline` on the bundle (version directory) on the device its instance group
//! names; a batch of requests (Triton's dynamic batcher) is read, grouped by generation
//! settings and run through the runtime; every request gets its own response or error, and
//! statistics go back to Triton so its metrics count. Every entry point runs under
//! `catch_unwind`: a panic becomes an error response, never an unwind into the server.
#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod ffi;
mod instance;
pub mod interface;
mod model;
pub mod params;
pub mod repo;
mod request;
mod response;
mod run;
mod status;

use ffi::{
    TRITONBACKEND_Backend, TRITONBACKEND_Model, TRITONBACKEND_ModelInstance, TRITONBACKEND_Request,
    TRITONSERVER_Error,
};
use instance::Instance;
use model::ModelState;
use status::{check, guarded, log_info, BackendError};
use std::ffi::c_void;

/// Checks that the server speaks the backend API this library was written for.
///
/// # Safety
/// Called by Triton once, when it loads the library.
#[no_mangle]
pub unsafe extern "C" fn TRITONBACKEND_Initialize(
    _backend: *mut TRITONBACKEND_Backend,
) -> *mut TRITONSERVER_Error {
    guarded("TRITONBACKEND_Initialize", || {
        let (mut major, mut minor) = (0u32, 0u32);
        check(ffi::TRITONBACKEND_ApiVersion(&mut major, &mut minor))?;
        if major != ffi::BACKEND_API_MAJOR || minor < ffi::BACKEND_API_MINOR {
            return Err(BackendError::Config(format!(
                "the unival backend needs Triton's backend API {}.{} or newer, this server has \
                 {major}.{minor}",
                ffi::BACKEND_API_MAJOR,
                ffi::BACKEND_API_MINOR
            )));
        }
        log_info(&format!(
            "unival backend {} (Triton backend API {major}.{minor})",
            env!("CARGO_PKG_VERSION")
        ));
        Ok(())
    })
}

/// Nothing to release: the library keeps no global state.
///
/// # Safety
/// Called by Triton once, before it unloads the library.
#[no_mangle]
pub unsafe extern "C" fn TRITONBACKEND_Finalize(
    _backend: *mut TRITONBACKEND_Backend,
) -> *mut TRITONSERVER_Error {
    std::ptr::null_mut()
}

/// Reads the model's configuration and bundle location into its state.
///
/// # Safety
/// Called by Triton with a live model.
#[no_mangle]
pub unsafe extern "C" fn TRITONBACKEND_ModelInitialize(
    model: *mut TRITONBACKEND_Model,
) -> *mut TRITONSERVER_Error {
    guarded("TRITONBACKEND_ModelInitialize", || {
        let state = ModelState::read(model)?;
        log_info(&format!(
            "unival model {}: task {}, bundle {}{}",
            state.config.name,
            state.config.task.name(),
            state.bundle.display(),
            if state.config.decoupled {
                ", decoupled"
            } else {
                ""
            }
        ));
        let raw = Box::into_raw(Box::new(state));
        let set = check(ffi::TRITONBACKEND_ModelSetState(
            model,
            raw.cast::<c_void>(),
        ));
        if set.is_err() {
            drop(Box::from_raw(raw));
        }
        set
    })
}

/// Frees the model's state.
///
/// # Safety
/// Called by Triton with a model whose instances are all finalized.
#[no_mangle]
pub unsafe extern "C" fn TRITONBACKEND_ModelFinalize(
    model: *mut TRITONBACKEND_Model,
) -> *mut TRITONSERVER_Error {
    guarded("TRITONBACKEND_ModelFinalize", || {
        let mut state = std::ptr::null_mut();
        check(ffi::TRITONBACKEND_ModelState(model, &mut state))?;
        if !state.is_null() {
            drop(Box::from_raw(state.cast::<ModelState>()));
        }
        Ok(())
    })
}

/// Opens the instance's `Pipeline` on its device.
///
/// # Safety
/// Called by Triton with a live instance of an initialized model.
#[no_mangle]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceInitialize(
    instance: *mut TRITONBACKEND_ModelInstance,
) -> *mut TRITONSERVER_Error {
    guarded("TRITONBACKEND_ModelInstanceInitialize", || {
        let mut model = std::ptr::null_mut();
        check(ffi::TRITONBACKEND_ModelInstanceModel(instance, &mut model))?;
        let mut state = std::ptr::null_mut();
        check(ffi::TRITONBACKEND_ModelState(model, &mut state))?;
        let model_state = state
            .cast::<ModelState>()
            .as_ref()
            .ok_or_else(|| BackendError::Triton("model state missing".into()))?;
        let (mut kind, mut device) = (0, 0i32);
        check(ffi::TRITONBACKEND_ModelInstanceKind(instance, &mut kind))?;
        check(ffi::TRITONBACKEND_ModelInstanceDeviceId(
            instance,
            &mut device,
        ))?;
        let gpu = kind == ffi::INSTANCEGROUPKIND_GPU;
        let opened = Instance::open(model_state, gpu, device)?;
        let raw = Box::into_raw(Box::new(opened));
        let set = check(ffi::TRITONBACKEND_ModelInstanceSetState(
            instance,
            raw.cast::<c_void>(),
        ));
        if set.is_err() {
            drop(Box::from_raw(raw));
        }
        set
    })
}

/// Closes the instance's `Pipeline`.
///
/// # Safety
/// Called by Triton with an instance that has no execution in flight.
#[no_mangle]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceFinalize(
    instance: *mut TRITONBACKEND_ModelInstance,
) -> *mut TRITONSERVER_Error {
    guarded("TRITONBACKEND_ModelInstanceFinalize", || {
        let mut state = std::ptr::null_mut();
        check(ffi::TRITONBACKEND_ModelInstanceState(instance, &mut state))?;
        if !state.is_null() {
            drop(Box::from_raw(state.cast::<Instance>()));
        }
        Ok(())
    })
}

/// Serves a batch of requests. Returns an error only when no request was touched (Triton
/// then answers them); otherwise every request is answered and released here.
///
/// # Safety
/// Called by Triton with `count` live requests for this instance.
#[no_mangle]
pub unsafe extern "C" fn TRITONBACKEND_ModelInstanceExecute(
    instance: *mut TRITONBACKEND_ModelInstance,
    requests: *mut *mut TRITONBACKEND_Request,
    count: u32,
) -> *mut TRITONSERVER_Error {
    guarded("TRITONBACKEND_ModelInstanceExecute", || {
        let mut state = std::ptr::null_mut();
        check(ffi::TRITONBACKEND_ModelInstanceState(instance, &mut state))?;
        let state = state
            .cast::<Instance>()
            .as_mut()
            .ok_or_else(|| BackendError::Triton("instance state missing".into()))?;
        let requests = if requests.is_null() || count == 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(requests, count as usize)
        };
        instance::execute(instance, state, requests);
        Ok(())
    })
}
