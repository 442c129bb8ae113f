//! Answering one request: a result's output tensors ([`tensor`], plain Rust) and sending them,
//! or its error, through the C API ([`send`]).

use crate::ffi;
use crate::interface::Output;
use crate::status::{c_string, check, BackendError};
use unival_runtime::tasks::TaskOutput;

/// One output tensor ready to copy: datatype, shape (batch dimension first) and bytes.
#[derive(Debug, PartialEq)]
pub struct Tensor {
    pub datatype: ffi::DataType,
    pub shape: Vec<i64>,
    pub data: Vec<u8>,
}

/// A BYTES tensor of one element.
fn bytes_tensor(value: &[u8]) -> Tensor {
    let mut data = Vec::with_capacity(4 + value.len());
    // Results are far below 4 GiB; a longer one would be cut, never mis-framed.
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    data.extend_from_slice(&len.to_le_bytes());
    data.extend_from_slice(&value[..len as usize]);
    Tensor {
        datatype: ffi::TYPE_BYTES,
        shape: vec![1, 1],
        data,
    }
}

/// FP32 values as one row.
fn f32_tensor(values: &[f32]) -> Tensor {
    Tensor {
        datatype: ffi::TYPE_FP32,
        shape: vec![1, values.len() as i64],
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// The tensor of `output` for `out`; `None` when the result has no such value (a score for
/// entailment, a box outside grounding).
pub fn tensor(output: Output, out: &TaskOutput) -> Option<Tensor> {
    Some(match output {
        Output::Text => bytes_tensor(out.text.as_bytes()),
        Output::Label => bytes_tensor(out.label.as_ref()?.as_bytes()),
        Output::ResultJson => bytes_tensor(serde_json::to_string(out).ok()?.as_bytes()),
        Output::Score => f32_tensor(&[out.score? as f32]),
        Output::Box => {
            let b = out.bbox?;
            f32_tensor(&b.map(|v| v as f32))
        }
        Output::Tokens => Tensor {
            datatype: ffi::TYPE_INT64,
            shape: vec![1, out.tokens.len() as i64],
            data: out.tokens.iter().flat_map(|t| t.to_le_bytes()).collect(),
        },
    })
}

/// Sends `result` as a response to `request` with `flags`: the requested `outputs`, or the
/// error. The error of sending itself is returned (the request is then answered by Triton).
///
/// # Safety
/// `request` is a live request owned by this backend, not yet released.
pub unsafe fn send(
    request: *mut ffi::TRITONBACKEND_Request,
    result: &Result<TaskOutput, BackendError>,
    outputs: &[Output],
    flags: u32,
) -> Result<(), BackendError> {
    let mut response = std::ptr::null_mut();
    check(ffi::TRITONBACKEND_ResponseNew(&mut response, request))?;
    let filled = match result {
        Ok(out) => fill(response, out, outputs),
        Err(_) => Ok(()),
    };
    let error = match (result, &filled) {
        (Err(e), _) | (Ok(_), Err(e)) => e.to_triton(),
        (Ok(_), Ok(())) => std::ptr::null_mut(),
    };
    let sent = check(ffi::TRITONBACKEND_ResponseSend(response, flags, error));
    if !error.is_null() {
        ffi::TRITONSERVER_ErrorDelete(error);
    }
    sent
}

/// Adds each requested output of `out` to `response`.
unsafe fn fill(
    response: *mut ffi::TRITONBACKEND_Response,
    out: &TaskOutput,
    outputs: &[Output],
) -> Result<(), BackendError> {
    for &output in outputs {
        let Some(t) = tensor(output, out) else {
            continue;
        };
        let name = c_string(output.name());
        let mut handle = std::ptr::null_mut();
        check(ffi::TRITONBACKEND_ResponseOutput(
            response,
            &mut handle,
            name.as_ptr(),
            t.datatype,
            t.shape.as_ptr(),
            t.shape.len() as u32,
        ))?;
        let (mut buffer, mut memory, mut memory_id) = (std::ptr::null_mut(), ffi::MEMORY_CPU, 0);
        check(ffi::TRITONBACKEND_OutputBuffer(
            handle,
            &mut buffer,
            t.data.len() as u64,
            &mut memory,
            &mut memory_id,
        ))?;
        if memory != ffi::MEMORY_CPU && memory != ffi::MEMORY_CPU_PINNED {
            return Err(BackendError::Triton(format!(
                "output {} was given GPU memory",
                output.name()
            )));
        }
        if !t.data.is_empty() {
            if buffer.is_null() {
                return Err(BackendError::Triton(format!(
                    "no buffer for output {}",
                    output.name()
                )));
            }
            std::ptr::copy_nonoverlapping(t.data.as_ptr(), buffer.cast::<u8>(), t.data.len());
        }
    }
    Ok(())
}

/// Sends the final flag alone (decoupled models: the stream of this request is over).
///
/// # Safety
/// `request` is a live request owned by this backend, not yet released.
pub unsafe fn send_final_flag(
    request: *mut ffi::TRITONBACKEND_Request,
) -> Result<(), BackendError> {
    let mut factory = std::ptr::null_mut();
    check(ffi::TRITONBACKEND_ResponseFactoryNew(&mut factory, request))?;
    let sent = check(ffi::TRITONBACKEND_ResponseFactorySendFlags(
        factory,
        ffi::RESPONSE_COMPLETE_FINAL,
    ));
    let deleted = check(ffi::TRITONBACKEND_ResponseFactoryDelete(factory));
    sent.and(deleted)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn results_become_tensors_with_a_batch_dimension() {
        let mut out = TaskOutput::empty("a.png", "refcoco");
        out.text = "<bin_1>".into();
        out.tokens = vec![5, 2];
        out.score = Some(-0.5);
        out.bbox = Some([1.0, 2.0, 3.0, 4.5]);
        let text = tensor(Output::Text, &out).unwrap();
        assert_eq!(text.shape, [1, 1]);
        assert_eq!(text.data, b"\x07\0\0\0<bin_1>");
        let tokens = tensor(Output::Tokens, &out).unwrap();
        assert_eq!(
            (tokens.datatype, tokens.shape.clone()),
            (ffi::TYPE_INT64, vec![1, 2])
        );
        assert_eq!(tokens.data[..8], 5i64.to_le_bytes());
        let b = tensor(Output::Box, &out).unwrap();
        assert_eq!(b.shape, [1, 4]);
        assert_eq!(b.data[12..], 4.5f32.to_le_bytes());
        assert_eq!(
            tensor(Output::Score, &out).unwrap().data,
            (-0.5f32).to_le_bytes()
        );
        assert!(tensor(Output::Label, &out).is_none());
        let json = tensor(Output::ResultJson, &out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json.data[4..]).unwrap();
        assert_eq!(v["box"][3], 4.5);
    }
}
