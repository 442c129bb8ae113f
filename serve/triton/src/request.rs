//! Reading one Triton request: its BYTES inputs, parameters and requested outputs
//! ([`read`], through the C API), then checking them against the task into an [`Item`]
//! ([`to_item`], plain Rust).

use crate::ffi;
use crate::interface::{inputs, media_input, text_input, Output};
use crate::params::{settings, ParamValue};
use crate::run::Item;
use crate::status::{check, read_c_str, BackendError};
use std::ffi::c_void;
use std::io::Write;
use std::path::Path;
use tempfile::NamedTempFile;
use unival_manifest::TaskKind;

/// Largest input tensor accepted, bytes: a server limit far above any picture, clip or sound
/// the models take (a 4-minute 1080p clip is far less).
pub const MAX_INPUT_BYTES: u64 = 512 << 20;

/// What a request carries, copied out of Triton's buffers.
#[derive(Debug, Default)]
pub struct RawRequest {
    /// The request id, if the client gave one.
    pub id: String,
    /// Each input: name, datatype, shape and its bytes (all buffers joined).
    pub inputs: Vec<RawInput>,
    pub params: Vec<(String, ParamValue)>,
    /// The outputs the client asked for (all of the model's when it named none).
    pub outputs: Vec<String>,
}

/// One input tensor as received.
#[derive(Debug)]
pub struct RawInput {
    pub name: String,
    pub datatype: ffi::DataType,
    pub shape: Vec<i64>,
    pub data: Vec<u8>,
}

/// The single element of a BYTES tensor (`u32` little-endian length, then the bytes).
pub fn single_bytes_element(input: &RawInput) -> Result<&[u8], String> {
    let name = &input.name;
    if input.datatype != ffi::TYPE_BYTES {
        return Err(format!("input {name} must be BYTES"));
    }
    let elements: i64 = input.shape.iter().product();
    if elements != 1 {
        return Err(format!(
            "input {name} has shape {:?}: send one element per request (Triton batches \
             requests)",
            input.shape
        ));
    }
    let data = &input.data;
    let len = data
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| format!("input {name} is not a serialized BYTES tensor"))?;
    data.get(4..)
        .filter(|rest| rest.len() == len)
        .ok_or_else(|| format!("input {name}: element length {len} does not match the data"))
}

/// Checks `raw` against `task` and writes its media to a temporary file in `dir`; the file
/// lives as long as the returned handle.
pub fn to_item(
    task: TaskKind,
    raw: &RawRequest,
    label: String,
    dir: &Path,
) -> Result<(Item, NamedTempFile), BackendError> {
    let bad = |m: String| BackendError::BadRequest(format!("{label}: {m}"));
    let expected = inputs(task);
    for input in &raw.inputs {
        if !expected.contains(&input.name.as_str()) {
            return Err(bad(format!(
                "unexpected input {} (this model takes {})",
                input.name,
                expected.join(", ")
            )));
        }
    }
    let find = |name: &str| -> Result<&[u8], BackendError> {
        let input = raw
            .inputs
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| bad(format!("missing input {name}")))?;
        single_bytes_element(input).map_err(bad)
    };
    let media = find(media_input(task))?;
    if media.is_empty() {
        return Err(bad(format!("input {} is empty", media_input(task))));
    }
    let text = match text_input(task) {
        Some(name) => Some(
            String::from_utf8(find(name)?.to_vec())
                .map_err(|_| bad(format!("input {name} is not UTF-8")))?,
        ),
        None => None,
    };
    let settings = settings(&raw.params).map_err(bad)?;
    let io = |e: std::io::Error| {
        BackendError::Config(format!("temporary file in {}: {e}", dir.display()))
    };
    let mut file = tempfile::Builder::new()
        .prefix("input-")
        .tempfile_in(dir)
        .map_err(io)?;
    file.write_all(media).map_err(io)?;
    file.flush().map_err(io)?;
    let item = Item {
        label,
        media: file.path().to_path_buf(),
        text,
        settings,
    };
    Ok((item, file))
}

/// The outputs to produce for `raw` among `task`'s.
pub fn requested_outputs(task: TaskKind, raw: &RawRequest) -> Vec<Output> {
    Output::ALL
        .into_iter()
        .filter(|o| o.serves(task))
        .filter(|o| raw.outputs.is_empty() || raw.outputs.iter().any(|n| n == o.name()))
        .collect()
}

/// Copies everything this backend needs out of `request`.
///
/// # Safety
/// `request` is a live request owned by this backend.
pub unsafe fn read(request: *mut ffi::TRITONBACKEND_Request) -> Result<RawRequest, BackendError> {
    let mut raw = RawRequest::default();
    let mut id = std::ptr::null();
    check(ffi::TRITONBACKEND_RequestId(request, &mut id))?;
    raw.id = read_c_str(id);
    let mut count = 0u32;
    check(ffi::TRITONBACKEND_RequestInputCount(request, &mut count))?;
    for index in 0..count {
        raw.inputs.push(read_input(request, index)?);
    }
    check(ffi::TRITONBACKEND_RequestParameterCount(
        request, &mut count,
    ))?;
    for index in 0..count {
        raw.params.push(read_parameter(request, index)?);
    }
    check(ffi::TRITONBACKEND_RequestOutputCount(request, &mut count))?;
    for index in 0..count {
        let mut name = std::ptr::null();
        check(ffi::TRITONBACKEND_RequestOutputName(
            request, index, &mut name,
        ))?;
        raw.outputs.push(read_c_str(name));
    }
    Ok(raw)
}

/// Input `index` of `request`, its buffers joined in CPU memory.
unsafe fn read_input(
    request: *mut ffi::TRITONBACKEND_Request,
    index: u32,
) -> Result<RawInput, BackendError> {
    let mut input = std::ptr::null_mut();
    check(ffi::TRITONBACKEND_RequestInputByIndex(
        request, index, &mut input,
    ))?;
    let (mut name, mut datatype, mut shape) = (std::ptr::null(), 0, std::ptr::null());
    let (mut dims, mut byte_size, mut buffers) = (0u32, 0u64, 0u32);
    check(ffi::TRITONBACKEND_InputProperties(
        input,
        &mut name,
        &mut datatype,
        &mut shape,
        &mut dims,
        &mut byte_size,
        &mut buffers,
    ))?;
    let name = read_c_str(name);
    if byte_size > MAX_INPUT_BYTES {
        return Err(BackendError::BadRequest(format!(
            "input {name} is {byte_size} bytes; the limit is {MAX_INPUT_BYTES}"
        )));
    }
    let shape = if shape.is_null() || dims == 0 {
        Vec::new()
    } else {
        std::slice::from_raw_parts(shape, dims as usize).to_vec()
    };
    // byte_size is bounded above, so this allocation is too.
    let mut data = Vec::with_capacity(byte_size as usize);
    for b in 0..buffers {
        let (mut ptr, mut len): (*const c_void, u64) = (std::ptr::null(), 0);
        let (mut memory, mut memory_id) = (ffi::MEMORY_CPU, 0i64);
        check(ffi::TRITONBACKEND_InputBuffer(
            input,
            b,
            &mut ptr,
            &mut len,
            &mut memory,
            &mut memory_id,
        ))?;
        if memory != ffi::MEMORY_CPU && memory != ffi::MEMORY_CPU_PINNED {
            return Err(BackendError::BadRequest(format!(
                "input {name} is in GPU memory; send it in CPU memory"
            )));
        }
        if len > 0 && !ptr.is_null() {
            data.extend_from_slice(std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize));
        }
    }
    Ok(RawInput {
        name,
        datatype,
        shape,
        data,
    })
}

/// Parameter `index` of `request`.
unsafe fn read_parameter(
    request: *mut ffi::TRITONBACKEND_Request,
    index: u32,
) -> Result<(String, ParamValue), BackendError> {
    let (mut key, mut kind, mut value) = (std::ptr::null(), 0, std::ptr::null());
    check(ffi::TRITONBACKEND_RequestParameter(
        request, index, &mut key, &mut kind, &mut value,
    ))?;
    let key = read_c_str(key);
    if value.is_null() {
        return Err(BackendError::BadRequest(format!(
            "parameter `{key}` has no value"
        )));
    }
    let value = match kind {
        ffi::PARAMETER_STRING => ParamValue::Str(read_c_str(value.cast())),
        ffi::PARAMETER_INT => ParamValue::Int(*value.cast::<i64>()),
        ffi::PARAMETER_BOOL => ParamValue::Bool(*value.cast::<bool>()),
        ffi::PARAMETER_DOUBLE => ParamValue::Double(*value.cast::<f64>()),
        _ => {
            return Err(BackendError::BadRequest(format!(
                "parameter `{key}` has a type this backend does not read"
            )))
        }
    };
    Ok((key, value))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bytes_input(name: &str, payload: &[u8]) -> RawInput {
        let mut data = (payload.len() as u32).to_le_bytes().to_vec();
        data.extend_from_slice(payload);
        RawInput {
            name: name.into(),
            datatype: ffi::TYPE_BYTES,
            shape: vec![1, 1],
            data,
        }
    }

    #[test]
    fn one_bytes_element_is_read_and_anything_else_refused() {
        assert_eq!(
            single_bytes_element(&bytes_input("IMAGE", b"abc")).unwrap(),
            b"abc"
        );
        let mut two = bytes_input("IMAGE", b"abc");
        two.shape = vec![2, 1];
        assert!(single_bytes_element(&two)
            .unwrap_err()
            .contains("one element"));
        let mut short = bytes_input("IMAGE", b"abc");
        short.data.pop();
        assert!(single_bytes_element(&short)
            .unwrap_err()
            .contains("length 3"));
        let mut fp = bytes_input("IMAGE", b"abc");
        fp.datatype = ffi::TYPE_FP32;
        assert!(single_bytes_element(&fp).unwrap_err().contains("BYTES"));
    }

    #[test]
    fn items_take_the_media_text_and_settings() {
        let dir = tempfile::tempdir().unwrap();
        let raw = RawRequest {
            id: "r1".into(),
            inputs: vec![
                bytes_input("IMAGE", b"\x89PNG"),
                bytes_input("QUESTION", b"why?"),
            ],
            params: vec![("beam".into(), ParamValue::Int(2))],
            outputs: vec!["TEXT".into()],
        };
        let (item, file) = to_item(TaskKind::Vqa, &raw, "r1".into(), dir.path()).unwrap();
        assert_eq!(std::fs::read(file.path()).unwrap(), b"\x89PNG");
        assert_eq!(item.text.as_deref(), Some("why?"));
        assert_eq!(item.settings.search.beam, Some(2));
        assert_eq!(requested_outputs(TaskKind::Vqa, &raw), [Output::Text]);

        let err = to_item(TaskKind::Caption, &raw, "r1".into(), dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("unexpected input QUESTION"),
            "{err}"
        );
        let no_q = RawRequest {
            inputs: vec![bytes_input("IMAGE", b"x")],
            ..RawRequest::default()
        };
        let err = to_item(TaskKind::Vqa, &no_q, "r2".into(), dir.path()).unwrap_err();
        assert_eq!(err.to_string(), "r2: missing input QUESTION");
        let empty = RawRequest {
            inputs: vec![bytes_input("IMAGE", b"")],
            ..RawRequest::default()
        };
        let err = to_item(TaskKind::Caption, &empty, "r3".into(), dir.path()).unwrap_err();
        assert!(err.to_string().contains("IMAGE is empty"), "{err}");
        assert_eq!(requested_outputs(TaskKind::Caption, &empty).len(), 4);
    }
}
