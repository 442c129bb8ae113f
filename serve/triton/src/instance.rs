//! One model instance: its own `Pipeline` on the device its instance group names, and the
//! execution of a batch of requests (read → group by settings → batched runtime → respond →
//! statistics → release).

use crate::ffi;
use crate::model::ModelState;
use crate::params::Settings;
use crate::request::{read, requested_outputs, to_item, RawRequest};
use crate::response::{send, send_final_flag};
use crate::run::{groups, run_group, Item};
use crate::status::{log_error, BackendError};
use std::panic::{catch_unwind, AssertUnwindSafe};
use tempfile::{NamedTempFile, TempDir};
use unival_manifest::TaskKind;
use unival_runtime::tasks::{Pipeline, TaskOutput};
use unival_runtime::{Device, SessionOptions};

/// The state of one instance.
pub struct Instance {
    pipeline: Pipeline,
    task: TaskKind,
    decoupled: bool,
    /// Requests' media are written here for the duration of a batch.
    scratch: TempDir,
}

impl Instance {
    /// Opens the model's bundle for an instance of `kind` on `device_id`.
    pub fn open(model: &ModelState, gpu: bool, device_id: i32) -> Result<Instance, BackendError> {
        let config = &model.config;
        let device = if gpu {
            config.gpu_provider.device(device_id)
        } else {
            Device::Cpu
        };
        let opts = SessionOptions {
            device,
            intra_threads: config.threads,
            ..SessionOptions::default()
        };
        let pipeline = Pipeline::open(&model.bundle, &opts)?;
        pipeline.check_task(config.task)?;
        let scratch = tempfile::Builder::new()
            .prefix("unival-triton-")
            .tempdir()
            .map_err(|e| BackendError::Config(format!("temporary directory: {e}")))?;
        Ok(Instance {
            pipeline,
            task: config.task,
            decoupled: config.decoupled,
            scratch,
        })
    }
}

/// Nanoseconds on the clock Triton's statistics use (`steady_clock`, i.e. CLOCK_MONOTONIC).
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// One request of the batch while it is served.
struct Pending {
    request: *mut ffi::TRITONBACKEND_Request,
    /// Its input, or why it could not be read.
    item: Result<(Item, NamedTempFile), BackendError>,
    outputs: Vec<crate::interface::Output>,
    answered: bool,
    success: bool,
}

/// Serves `requests` on `instance` and releases them. Never fails: every request gets a
/// response (its result or its error), also after a panic, and statistics are reported.
///
/// # Safety
/// `requests` are live requests whose ownership Triton passes to this call.
pub unsafe fn execute(
    handle: *mut ffi::TRITONBACKEND_ModelInstance,
    instance: &mut Instance,
    requests: &[*mut ffi::TRITONBACKEND_Request],
) {
    let exec_start = now_ns();
    let mut pending: Vec<Pending> = requests
        .iter()
        .enumerate()
        .map(|(i, &request)| read_pending(instance, request, i))
        .collect();
    let compute_start = now_ns();
    let outcome = catch_unwind(AssertUnwindSafe(|| serve(instance, &mut pending)));
    let compute_end = now_ns();
    let panic = outcome
        .err()
        .map(|p| crate::status::panic_message(p.as_ref()));
    for p in pending.iter_mut().filter(|p| !p.answered) {
        let e = BackendError::Panic {
            what: "ModelInstanceExecute".into(),
            message: panic.clone().unwrap_or_else(|| "no result".into()),
        };
        respond(p, Err(e), instance.decoupled);
    }
    let exec_end = now_ns();
    let served = pending.iter().filter(|p| p.item.is_ok()).count() as u64;
    for p in &pending {
        report(ffi::TRITONBACKEND_ModelInstanceReportStatistics(
            handle,
            p.request,
            p.success,
            exec_start,
            compute_start,
            compute_end,
            exec_end,
        ));
        report(ffi::TRITONBACKEND_RequestRelease(
            p.request,
            ffi::REQUEST_RELEASE_ALL,
        ));
    }
    if served > 0 {
        report(ffi::TRITONBACKEND_ModelInstanceReportBatchStatistics(
            handle,
            served,
            exec_start,
            compute_start,
            compute_end,
            exec_end,
        ));
    }
}

/// Logs a failed Triton call that nothing can be done about.
fn report(err: *mut ffi::TRITONSERVER_Error) {
    if let Err(e) = crate::status::check(err) {
        log_error(&e.to_string());
    }
}

/// Reads request `index` of the batch into its input (or its error).
unsafe fn read_pending(
    instance: &Instance,
    request: *mut ffi::TRITONBACKEND_Request,
    index: usize,
) -> Pending {
    let raw = read(request);
    let label = |raw: &RawRequest| {
        if raw.id.is_empty() {
            format!("request {index} of the batch")
        } else {
            raw.id.clone()
        }
    };
    let (item, outputs) = match &raw {
        Ok(raw) => (
            to_item(instance.task, raw, label(raw), instance.scratch.path()),
            requested_outputs(instance.task, raw),
        ),
        Err(e) => (Err(BackendError::BadRequest(e.to_string())), Vec::new()),
    };
    Pending {
        request,
        item,
        outputs,
        answered: false,
        success: false,
    }
}

/// Answers bad requests at once, then runs each settings group and answers its requests as
/// soon as it is done.
fn serve(instance: &mut Instance, pending: &mut [Pending]) {
    for p in pending.iter_mut() {
        if let Err(e) = &p.item {
            let e = BackendError::BadRequest(e.to_string());
            respond(p, Err(e), instance.decoupled);
        }
    }
    let good: Vec<usize> = (0..pending.len())
        .filter(|&i| pending[i].item.is_ok())
        .collect();
    let settings: Vec<Settings> = good
        .iter()
        .filter_map(|&i| item(&pending[i]).map(|it| it.settings.clone()))
        .collect();
    for group in groups(&settings) {
        let members: Vec<&Item> = group
            .iter()
            .filter_map(|&g| item(&pending[good[g]]))
            .collect();
        let results = run_group(&mut instance.pipeline, instance.task, &members);
        for (&g, result) in group.iter().zip(results) {
            respond(&mut pending[good[g]], result, instance.decoupled);
        }
    }
}

/// The input of `p`, if it could be read.
fn item(p: &Pending) -> Option<&Item> {
    p.item.as_ref().ok().map(|(item, _)| item)
}

/// Sends `result` for `p` (decoupled: the result, then the final flag alone).
fn respond(p: &mut Pending, result: Result<TaskOutput, BackendError>, decoupled: bool) {
    p.success = result.is_ok();
    p.answered = true;
    let flags = if decoupled {
        0
    } else {
        ffi::RESPONSE_COMPLETE_FINAL
    };
    // SAFETY: `p.request` is live and not yet released (release happens after serving).
    unsafe {
        if let Err(e) = send(p.request, &result, &p.outputs, flags) {
            log_error(&format!("sending a response: {e}"));
            p.success = false;
        }
        if decoupled {
            if let Err(e) = send_final_flag(p.request) {
                log_error(&format!("ending a response stream: {e}"));
            }
        }
    }
}
