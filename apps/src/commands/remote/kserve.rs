//! The KServe v2 (Open Inference Protocol) HTTP request of one input and its reply, with
//! Triton's binary tensor extension: the file travels as raw bytes after the JSON header
//! (`Inference-Header-Content-Length`), never as base64 or JSON text.

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Map, Value};

/// The header naming the JSON part's length in a binary request or reply.
pub const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

/// One inference request: the media file's bytes, an optional text input and parameters.
pub struct InferRequest<'a> {
    pub id: &'a str,
    /// Media input name (`IMAGE`, `VIDEO`, `AUDIO`) and the file's bytes.
    pub media: (&'a str, &'a [u8]),
    /// Text input name and value (sent as JSON data).
    pub text: Option<(&'a str, &'a str)>,
    pub parameters: &'a Map<String, Value>,
    /// Ask for the outputs as binary tensors instead of JSON.
    pub binary_outputs: bool,
}

/// A BYTES element as the binary extension frames it: `u32` little-endian length, then bytes.
pub fn bytes_element(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let len = u32::try_from(data.len()).context("input larger than 4 GiB")?;
    let mut out = Vec::with_capacity(data.len() + 4);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(data);
    Ok(out)
}

impl InferRequest<'_> {
    /// The request body and the JSON header's length.
    pub fn encode(&self) -> anyhow::Result<(Vec<u8>, usize)> {
        let element = bytes_element(self.media.1)?;
        let mut inputs = vec![json!({
            "name": self.media.0, "datatype": "BYTES", "shape": [1, 1],
            "parameters": {"binary_data_size": element.len()},
        })];
        if let Some((name, text)) = self.text {
            inputs
                .push(json!({"name": name, "datatype": "BYTES", "shape": [1, 1], "data": [text]}));
        }
        let header = json!({
            "id": self.id,
            "inputs": inputs,
            "outputs": [{"name": "RESULT_JSON", "parameters": {"binary_data": self.binary_outputs}}],
            "parameters": self.parameters,
        });
        let mut body = serde_json::to_vec(&header)?;
        let header_len = body.len();
        body.extend_from_slice(&element);
        Ok((body, header_len))
    }
}

/// The `RESULT_JSON` text of a reply body; `header_len` is the binary reply's JSON length
/// (`None`: the whole body is JSON).
pub fn result_json(body: &[u8], header_len: Option<usize>) -> anyhow::Result<String> {
    let json_part = match header_len {
        Some(n) => body
            .get(..n)
            .ok_or_else(|| anyhow!("reply shorter than its header"))?,
        None => body,
    };
    let reply: Value = serde_json::from_slice(json_part).context("reply is not JSON")?;
    if let Some(e) = reply["error"].as_str() {
        bail!("{e}");
    }
    let outputs = reply["outputs"]
        .as_array()
        .ok_or_else(|| anyhow!("reply has no outputs"))?;
    let mut offset = header_len.unwrap_or(0);
    for out in outputs {
        let binary = out["parameters"]["binary_data_size"].as_u64();
        if out["name"] != "RESULT_JSON" {
            offset += binary.unwrap_or(0) as usize;
            continue;
        }
        return match binary {
            None => out["data"][0]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow!("RESULT_JSON has no data")),
            Some(size) => {
                let end = offset.saturating_add(size as usize);
                let raw = body
                    .get(offset..end)
                    .ok_or_else(|| anyhow!("binary output cut short"))?;
                let text = raw
                    .get(4..)
                    .ok_or_else(|| anyhow!("binary output cut short"))?;
                Ok(String::from_utf8_lossy(text).into_owned())
            }
        };
    }
    bail!("reply has no RESULT_JSON output")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_request_puts_the_file_after_the_header() {
        let params = Map::new();
        let req = InferRequest {
            id: "a.png",
            media: ("IMAGE", b"PNG"),
            text: Some(("QUESTION", "why?")),
            parameters: &params,
            binary_outputs: true,
        };
        let (body, n) = req.encode().unwrap();
        let header: Value = serde_json::from_slice(&body[..n]).unwrap();
        assert_eq!(header["inputs"][0]["parameters"]["binary_data_size"], 7);
        assert_eq!(header["inputs"][1]["data"][0], "why?");
        assert_eq!(&body[n..], b"\x03\0\0\0PNG");
    }

    #[test]
    fn result_json_is_read_from_json_or_binary_replies() {
        let json_reply = br#"{"outputs":[{"name":"RESULT_JSON","data":["{\"text\":\"a\"}"]}]}"#;
        assert_eq!(result_json(json_reply, None).unwrap(), r#"{"text":"a"}"#);
        let header = br#"{"outputs":[{"name":"TEXT","parameters":{"binary_data_size":5}},{"name":"RESULT_JSON","parameters":{"binary_data_size":6}}]}"#;
        let mut body = header.to_vec();
        body.extend_from_slice(b"\x01\0\0\0a\x02\0\0\0{}");
        assert_eq!(result_json(&body, Some(header.len())).unwrap(), "{}");
        let err = result_json(br#"{"error":"bad image"}"#, None).unwrap_err();
        assert_eq!(err.to_string(), "bad image");
    }
}
