//! The part of Triton's C API this backend calls, declared by hand from `tritonbackend.h` and
//! `tritonserver.h` (backend API 1.19, server API 1.34: Triton 2.51). About forty functions
//! are cheaper to keep exact here than bindgen and libclang in the build. The symbols are
//! resolved when the server loads the library (the server exports them), so nothing links
//! against Triton at build time.
#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::{c_char, c_void};

/// Declares opaque C types that are only ever used behind pointers.
macro_rules! opaque {
    ($($name:ident),* $(,)?) => {$(
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
        }
    )*};
}

opaque!(
    TRITONSERVER_Error,
    TRITONSERVER_Message,
    TRITONBACKEND_Backend,
    TRITONBACKEND_Model,
    TRITONBACKEND_ModelInstance,
    TRITONBACKEND_Request,
    TRITONBACKEND_Input,
    TRITONBACKEND_Response,
    TRITONBACKEND_ResponseFactory,
    TRITONBACKEND_Output,
);

/// The backend API version this library is written against.
pub const BACKEND_API_MAJOR: u32 = 1;
/// Request parameters (`TRITONBACKEND_RequestParameter`) need at least this minor version.
pub const BACKEND_API_MINOR: u32 = 19;

/// `TRITONSERVER_Error_Code`.
pub type ErrorCode = u32;
pub const ERROR_INTERNAL: ErrorCode = 1;
pub const ERROR_INVALID_ARG: ErrorCode = 3;
pub const ERROR_UNSUPPORTED: ErrorCode = 5;

/// `TRITONSERVER_DataType`.
pub type DataType = u32;
pub const TYPE_INT64: DataType = 9;
pub const TYPE_FP32: DataType = 11;
pub const TYPE_BYTES: DataType = 13;

/// `TRITONSERVER_MemoryType`.
pub type MemoryType = u32;
pub const MEMORY_CPU: MemoryType = 0;
pub const MEMORY_CPU_PINNED: MemoryType = 1;

/// `TRITONSERVER_ParameterType`.
pub type ParameterType = u32;
pub const PARAMETER_STRING: ParameterType = 0;
pub const PARAMETER_INT: ParameterType = 1;
pub const PARAMETER_BOOL: ParameterType = 2;
pub const PARAMETER_DOUBLE: ParameterType = 3;

/// `TRITONSERVER_InstanceGroupKind`.
pub type InstanceGroupKind = u32;
pub const INSTANCEGROUPKIND_GPU: InstanceGroupKind = 2;

/// `TRITONSERVER_LogLevel`.
pub type LogLevel = u32;
pub const LOG_INFO: LogLevel = 0;
pub const LOG_ERROR: LogLevel = 2;

/// `TRITONBACKEND_ArtifactType`.
pub type ArtifactType = u32;

/// `TRITONSERVER_RESPONSE_COMPLETE_FINAL`.
pub const RESPONSE_COMPLETE_FINAL: u32 = 1;
/// `TRITONSERVER_REQUEST_RELEASE_ALL`.
pub const REQUEST_RELEASE_ALL: u32 = 1;

type Err = *mut TRITONSERVER_Error;

extern "C" {
    pub fn TRITONSERVER_ErrorNew(code: ErrorCode, msg: *const c_char) -> Err;
    pub fn TRITONSERVER_ErrorDelete(error: Err);
    pub fn TRITONSERVER_ErrorMessage(error: Err) -> *const c_char;
    pub fn TRITONSERVER_MessageSerializeToJson(
        message: *mut TRITONSERVER_Message,
        base: *mut *const c_char,
        byte_size: *mut usize,
    ) -> Err;
    pub fn TRITONSERVER_MessageDelete(message: *mut TRITONSERVER_Message) -> Err;
    pub fn TRITONSERVER_LogMessage(
        level: LogLevel,
        filename: *const c_char,
        line: i32,
        msg: *const c_char,
    ) -> Err;

    pub fn TRITONBACKEND_ApiVersion(major: *mut u32, minor: *mut u32) -> Err;

    pub fn TRITONBACKEND_ModelName(
        model: *mut TRITONBACKEND_Model,
        name: *mut *const c_char,
    ) -> Err;
    pub fn TRITONBACKEND_ModelVersion(model: *mut TRITONBACKEND_Model, version: *mut u64) -> Err;
    pub fn TRITONBACKEND_ModelRepository(
        model: *mut TRITONBACKEND_Model,
        artifact_type: *mut ArtifactType,
        location: *mut *const c_char,
    ) -> Err;
    pub fn TRITONBACKEND_ModelConfig(
        model: *mut TRITONBACKEND_Model,
        config_version: u32,
        config: *mut *mut TRITONSERVER_Message,
    ) -> Err;
    pub fn TRITONBACKEND_ModelSetState(model: *mut TRITONBACKEND_Model, state: *mut c_void) -> Err;
    pub fn TRITONBACKEND_ModelState(
        model: *mut TRITONBACKEND_Model,
        state: *mut *mut c_void,
    ) -> Err;

    pub fn TRITONBACKEND_ModelInstanceModel(
        instance: *mut TRITONBACKEND_ModelInstance,
        model: *mut *mut TRITONBACKEND_Model,
    ) -> Err;
    pub fn TRITONBACKEND_ModelInstanceName(
        instance: *mut TRITONBACKEND_ModelInstance,
        name: *mut *const c_char,
    ) -> Err;
    pub fn TRITONBACKEND_ModelInstanceKind(
        instance: *mut TRITONBACKEND_ModelInstance,
        kind: *mut InstanceGroupKind,
    ) -> Err;
    pub fn TRITONBACKEND_ModelInstanceDeviceId(
        instance: *mut TRITONBACKEND_ModelInstance,
        device_id: *mut i32,
    ) -> Err;
    pub fn TRITONBACKEND_ModelInstanceSetState(
        instance: *mut TRITONBACKEND_ModelInstance,
        state: *mut c_void,
    ) -> Err;
    pub fn TRITONBACKEND_ModelInstanceState(
        instance: *mut TRITONBACKEND_ModelInstance,
        state: *mut *mut c_void,
    ) -> Err;
    pub fn TRITONBACKEND_ModelInstanceReportStatistics(
        instance: *mut TRITONBACKEND_ModelInstance,
        request: *mut TRITONBACKEND_Request,
        success: bool,
        exec_start_ns: u64,
        compute_start_ns: u64,
        compute_end_ns: u64,
        exec_end_ns: u64,
    ) -> Err;
    pub fn TRITONBACKEND_ModelInstanceReportBatchStatistics(
        instance: *mut TRITONBACKEND_ModelInstance,
        batch_size: u64,
        exec_start_ns: u64,
        compute_start_ns: u64,
        compute_end_ns: u64,
        exec_end_ns: u64,
    ) -> Err;

    pub fn TRITONBACKEND_RequestId(
        request: *mut TRITONBACKEND_Request,
        id: *mut *const c_char,
    ) -> Err;
    pub fn TRITONBACKEND_RequestInputCount(
        request: *mut TRITONBACKEND_Request,
        count: *mut u32,
    ) -> Err;
    pub fn TRITONBACKEND_RequestInputByIndex(
        request: *mut TRITONBACKEND_Request,
        index: u32,
        input: *mut *mut TRITONBACKEND_Input,
    ) -> Err;
    pub fn TRITONBACKEND_InputProperties(
        input: *mut TRITONBACKEND_Input,
        name: *mut *const c_char,
        datatype: *mut DataType,
        shape: *mut *const i64,
        dims_count: *mut u32,
        byte_size: *mut u64,
        buffer_count: *mut u32,
    ) -> Err;
    pub fn TRITONBACKEND_InputBuffer(
        input: *mut TRITONBACKEND_Input,
        index: u32,
        buffer: *mut *const c_void,
        buffer_byte_size: *mut u64,
        memory_type: *mut MemoryType,
        memory_type_id: *mut i64,
    ) -> Err;
    pub fn TRITONBACKEND_RequestOutputCount(
        request: *mut TRITONBACKEND_Request,
        count: *mut u32,
    ) -> Err;
    pub fn TRITONBACKEND_RequestOutputName(
        request: *mut TRITONBACKEND_Request,
        index: u32,
        name: *mut *const c_char,
    ) -> Err;
    pub fn TRITONBACKEND_RequestParameterCount(
        request: *mut TRITONBACKEND_Request,
        count: *mut u32,
    ) -> Err;
    pub fn TRITONBACKEND_RequestParameter(
        request: *mut TRITONBACKEND_Request,
        index: u32,
        key: *mut *const c_char,
        kind: *mut ParameterType,
        value: *mut *const c_void,
    ) -> Err;
    pub fn TRITONBACKEND_RequestRelease(request: *mut TRITONBACKEND_Request, flags: u32) -> Err;

    pub fn TRITONBACKEND_ResponseNew(
        response: *mut *mut TRITONBACKEND_Response,
        request: *mut TRITONBACKEND_Request,
    ) -> Err;
    pub fn TRITONBACKEND_ResponseDelete(response: *mut TRITONBACKEND_Response) -> Err;
    pub fn TRITONBACKEND_ResponseOutput(
        response: *mut TRITONBACKEND_Response,
        output: *mut *mut TRITONBACKEND_Output,
        name: *const c_char,
        datatype: DataType,
        shape: *const i64,
        dims_count: u32,
    ) -> Err;
    pub fn TRITONBACKEND_OutputBuffer(
        output: *mut TRITONBACKEND_Output,
        buffer: *mut *mut c_void,
        byte_size: u64,
        memory_type: *mut MemoryType,
        memory_type_id: *mut i64,
    ) -> Err;
    pub fn TRITONBACKEND_ResponseSend(
        response: *mut TRITONBACKEND_Response,
        flags: u32,
        error: Err,
    ) -> Err;

    pub fn TRITONBACKEND_ResponseFactoryNew(
        factory: *mut *mut TRITONBACKEND_ResponseFactory,
        request: *mut TRITONBACKEND_Request,
    ) -> Err;
    pub fn TRITONBACKEND_ResponseFactoryDelete(factory: *mut TRITONBACKEND_ResponseFactory) -> Err;
    pub fn TRITONBACKEND_ResponseFactorySendFlags(
        factory: *mut TRITONBACKEND_ResponseFactory,
        flags: u32,
    ) -> Err;
}
