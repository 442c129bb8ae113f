//! Triton's gRPC inference calls from a test without a gRPC stack: the messages of
//! `grpc_service.proto` that the test uses (only the fields it reads or writes), encoded with
//! prost, framed as gRPC frames and carried over HTTP/2 by `curl --http2-prior-knowledge`
//! (tonic and its protos would cost a long build for one test).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// `inference.InferParameter`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InferParameter {
    #[prost(oneof = "Choice", tags = "1, 2, 3, 4")]
    pub choice: Option<Choice>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Choice {
    #[prost(bool, tag = "1")]
    Bool(bool),
    #[prost(int64, tag = "2")]
    Int64(i64),
    #[prost(string, tag = "3")]
    String(String),
    #[prost(double, tag = "4")]
    Double(f64),
}

/// `inference.ModelInferRequest.InferInputTensor` (and the output tensor: same fields 1–3).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Tensor {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub datatype: String,
    #[prost(int64, repeated, tag = "3")]
    pub shape: Vec<i64>,
}

/// `inference.ModelInferRequest.InferRequestedOutputTensor`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestedOutput {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `inference.ModelInferRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelInferRequest {
    #[prost(string, tag = "1")]
    pub model_name: String,
    #[prost(string, tag = "3")]
    pub id: String,
    #[prost(map = "string, message", tag = "4")]
    pub parameters: HashMap<String, InferParameter>,
    #[prost(message, repeated, tag = "5")]
    pub inputs: Vec<Tensor>,
    #[prost(message, repeated, tag = "6")]
    pub outputs: Vec<RequestedOutput>,
    #[prost(bytes = "vec", repeated, tag = "7")]
    pub raw_input_contents: Vec<Vec<u8>>,
}

/// `inference.ModelInferResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelInferResponse {
    #[prost(string, tag = "1")]
    pub model_name: String,
    #[prost(map = "string, message", tag = "4")]
    pub parameters: HashMap<String, InferParameter>,
    #[prost(message, repeated, tag = "5")]
    pub outputs: Vec<Tensor>,
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub raw_output_contents: Vec<Vec<u8>>,
}

/// `inference.ModelStreamInferResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelStreamInferResponse {
    #[prost(string, tag = "1")]
    pub error_message: String,
    #[prost(message, optional, tag = "2")]
    pub infer_response: Option<ModelInferResponse>,
}

impl ModelInferResponse {
    /// The first element of BYTES output `name`, as text.
    pub fn bytes_output(&self, name: &str) -> Option<String> {
        let i = self.outputs.iter().position(|o| o.name == name)?;
        let raw = self.raw_output_contents.get(i)?;
        Some(String::from_utf8_lossy(raw.get(4..)?).into_owned())
    }
}

/// One BYTES element, framed as raw tensor contents are.
pub fn bytes_element(data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// Calls `method` of `inference.GRPCInferenceService` on `port` with one request message;
/// returns the `grpc-status` and the reply messages.
pub fn call(
    port: u16,
    method: &str,
    request: &impl prost::Message,
    scratch: &Path,
) -> (String, Vec<Vec<u8>>) {
    let body = request.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    let req_file = scratch.join(format!("{method}.req"));
    let (resp_file, head_file) = (
        scratch.join(format!("{method}.resp")),
        scratch.join(format!("{method}.head")),
    );
    std::fs::write(&req_file, framed).unwrap();
    let out = Command::new("curl")
        .args(["-s", "--http2-prior-knowledge", "--max-time", "120"])
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .arg("--data-binary")
        .arg(format!("@{}", req_file.display()))
        .arg("-D")
        .arg(&head_file)
        .arg("-o")
        .arg(&resp_file)
        .arg(format!(
            "http://127.0.0.1:{port}/inference.GRPCInferenceService/{method}"
        ))
        .status()
        .expect("running curl (scripts/setup.sh installs it)");
    assert!(out.success(), "curl failed: {out}");
    let head = std::fs::read_to_string(&head_file).unwrap();
    let status = head
        .lines()
        .find_map(|l| l.strip_prefix("grpc-status:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let raw = std::fs::read(&resp_file).unwrap_or_default();
    let mut messages = Vec::new();
    let mut at = 0;
    while at + 5 <= raw.len() {
        let len = u32::from_be_bytes([raw[at + 1], raw[at + 2], raw[at + 3], raw[at + 4]]) as usize;
        messages.push(raw[at + 5..at + 5 + len].to_vec());
        at += 5 + len;
    }
    (status, messages)
}
