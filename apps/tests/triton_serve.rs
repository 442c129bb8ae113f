//! Issue 14 "serve at scale" acceptance: `tritonserver` (from the nvidia-pytriton wheel) loads
//! a repository written by `unival triton-repo` with caption, VQA, grounding and audio-caption
//! bundles, served by `libtriton_unival.so`, and
//! - answers as the CLI does (same text and tokens, scores within 1e-5 relative) over HTTP with
//!   binary outputs and with JSON outputs (`unival remote`; files always travel as binary
//!   tensors, text inputs as JSON) and over gRPC (`ModelInfer`);
//! - answers 16 concurrent requests, batched (the model's statistics show a batch > 1), while
//!   a malformed image in the same burst gets an error for that request only and the server
//!   stays up; Triton's success counter moves by the number of answers;
//! - a streaming (decoupled) request ends with its final response;
//! - `unival remote --out F --resume` sends only what a previous run did not finish.
//!
//! Skips loudly without a tritonserver (`scripts/triton.sh fetch`) or ../shared; fails under
//! CI=true.

mod common;
mod triton_support;

use common::{export, scratch, shared_dir, tiny_fp32, unival};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use triton_support::grpc::{self, Choice, InferParameter, ModelInferRequest, RequestedOutput};
use triton_support::{tritonserver, Server};

const QUESTION: &str = "what is in the picture?";
const REGION: &str = "small green triangle on the right side";

/// One model of the repository and how the CLI runs the same input.
struct Case {
    /// Model name on the server (the bundle's directory name).
    model: &'static str,
    /// `unival` subcommand and its text flag.
    command: &'static str,
    text: Option<(&'static str, &'static str, &'static str)>,
    file: PathBuf,
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Asserts that `got` (from the server) is the CLI's `want`: every field but `file` and
/// `timings_ms`; tokens exact, scores within 1e-5 relative, boxes within 1e-3 px.
fn assert_same(what: &str, got: &Value, want: &Value) {
    let close = |g: &Value, w: &Value, tol: f64| {
        let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
        assert!(
            (g - w).abs() <= tol * w.abs().max(1.0),
            "{what}: {g} vs {w}"
        );
    };
    for key in ["task", "text", "tokens", "label"] {
        assert_eq!(got.get(key), want.get(key), "{what}: {key}");
    }
    if !want["score"].is_null() {
        close(&got["score"], &want["score"], 1e-5);
    }
    let (gb, wb) = (
        got["beams"].as_array().unwrap(),
        want["beams"].as_array().unwrap(),
    );
    assert_eq!(gb.len(), wb.len(), "{what}: beams");
    for (g, w) in gb.iter().zip(wb) {
        assert_eq!(g["tokens"], w["tokens"], "{what}: beam tokens");
        close(&g["score"], &w["score"], 1e-5);
    }
    if let Some(w) = want["box"].as_array() {
        for (g, w) in got["box"].as_array().unwrap().iter().zip(w) {
            close(g, w, 1e-3);
        }
    }
}

/// The CLI's `--json` object for `case` on `file`.
fn cli(bundles: &Path, case: &Case, file: &Path) -> Value {
    let mut args: Vec<String> = vec![case.command.into(), "--json".into(), "--model".into()];
    args.push(bundles.join(case.model).display().to_string());
    if let Some((flag, _, value)) = case.text {
        args.extend([flag.to_string(), value.to_string()]);
    }
    args.push(file.display().to_string());
    json_lines(&unival(&args).ok().stdout).remove(0)
}

/// `unival remote` on `files` against `server`.
fn remote(server: &Server, case: &Case, files: &[PathBuf], extra: &[&str]) -> common::Run {
    let mut args: Vec<String> = vec!["remote".into(), case.command.into(), "--json".into()];
    args.extend(["--server".into(), server.url("")]);
    args.extend(["--model-name".into(), case.model.into()]);
    if let Some((flag, _, value)) = case.text {
        args.extend([flag.to_string(), value.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(files.iter().map(|f| f.display().to_string()));
    unival(&args)
}

/// The RESULT_JSON of `case` on its file through gRPC `ModelInfer` (or, for a `_stream` model,
/// `ModelStreamInfer`, returning every streamed reply).
fn grpc_infer(
    server: &Server,
    model: &str,
    case: &Case,
    scratch: &Path,
) -> Vec<grpc::ModelInferResponse> {
    let media = std::fs::read(&case.file).unwrap();
    let mut inputs = vec![grpc::Tensor {
        name: media_name(case.model).into(),
        datatype: "BYTES".into(),
        shape: vec![1, 1],
    }];
    let mut raw = vec![grpc::bytes_element(&media)];
    if let Some((_, name, value)) = case.text {
        inputs.push(grpc::Tensor {
            name: name.into(),
            datatype: "BYTES".into(),
            shape: vec![1, 1],
        });
        raw.push(grpc::bytes_element(value.as_bytes()));
    }
    let streaming = model.ends_with("_stream");
    let mut parameters = HashMap::new();
    if streaming {
        let on = InferParameter {
            choice: Some(Choice::Bool(true)),
        };
        parameters.insert("triton_enable_empty_final_response".to_string(), on);
    }
    let request = ModelInferRequest {
        model_name: model.into(),
        id: "grpc".into(),
        parameters,
        inputs,
        outputs: ["TEXT", "RESULT_JSON"]
            .map(|n| RequestedOutput { name: n.into() })
            .to_vec(),
        raw_input_contents: raw,
    };
    let method = if streaming {
        "ModelStreamInfer"
    } else {
        "ModelInfer"
    };
    let (status, messages) = grpc::call(server.grpc, method, &request, scratch);
    assert_eq!(
        status,
        "0",
        "gRPC {method} on {model} failed:\n{}",
        server.logs()
    );
    messages
        .iter()
        .map(|m| {
            if streaming {
                let r: grpc::ModelStreamInferResponse = prost::Message::decode(&m[..]).unwrap();
                assert_eq!(r.error_message, "", "stream error");
                r.infer_response.unwrap()
            } else {
                prost::Message::decode(&m[..]).unwrap()
            }
        })
        .collect()
}

fn media_name(model: &str) -> &'static str {
    if model.starts_with("audio") {
        "AUDIO"
    } else {
        "IMAGE"
    }
}

/// Exports the four bundles and writes the repository; returns (bundles, repository).
fn repository(shared: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let bundles = dir.join("bundles");
    let checkpoint = |f: &str| shared.join("oracle/dev/checkpoints").join(f);
    export(tiny_fp32(), "caption", &bundles.join("caption"), &[]).ok();
    export(tiny_fp32(), "vqa", &bundles.join("vqa"), &[]).ok();
    export(
        &checkpoint("micro_img_fp16.pt"),
        "refcoco",
        &bundles.join("refcoco"),
        &["--no-ema"],
    )
    .ok();
    export(
        &checkpoint("micro_cnn14_fp16.pt"),
        "audio_caption",
        &bundles.join("audio_caption"),
        &[],
    )
    .ok();
    let repo = dir.join("repo");
    let mut args = vec![
        "triton-repo".to_string(),
        "--out".into(),
        repo.display().to_string(),
    ];
    for m in ["caption", "vqa", "refcoco", "audio_caption"] {
        args.extend(["--model".into(), bundles.join(m).display().to_string()]);
    }
    args.extend(["--max-batch", "8", "--stream"].map(String::from));
    let listed = unival(&args).ok().stdout;
    assert_eq!(listed.lines().count(), 8, "{listed}");
    (bundles, repo)
}

#[test]
fn triton_serves_every_task_as_the_cli_answers() {
    let Some(server_bin) = tritonserver() else {
        return;
    };
    let Some(shared) = shared_dir() else { return };
    let dir = scratch();
    let (bundles, repo) = repository(&shared, dir.path());
    let server = Server::start(&server_bin, &repo, dir.path());
    let demo = |n: u32| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../models/demo-images/{n}.png"))
    };
    let cases = [
        Case {
            model: "caption",
            command: "caption",
            text: None,
            file: demo(100000),
        },
        Case {
            model: "vqa",
            command: "vqa",
            text: Some(("--question", "QUESTION", QUESTION)),
            file: demo(100001),
        },
        Case {
            model: "refcoco",
            command: "ground",
            text: Some(("--text", "TEXT", REGION)),
            file: shared.join("oracle/dev/refcoco/img0.png"),
        },
        Case {
            model: "audio_caption",
            command: "audio-caption",
            text: None,
            file: shared.join("oracle/dev/audio_caption/audio0.wav"),
        },
    ];
    for case in &cases {
        let want = cli(&bundles, case, &case.file);
        let files = [case.file.clone()];
        for (how, extra) in [
            ("HTTP binary", &[][..]),
            ("HTTP JSON", &["--json-outputs"][..]),
        ] {
            let got = json_lines(&remote(&server, case, &files, extra).ok().stdout).remove(0);
            assert_same(&format!("{} over {how}", case.model), &got, &want);
            assert_eq!(got["file"], want["file"]);
        }
        let reply = grpc_infer(&server, case.model, case, dir.path()).remove(0);
        let got: Value = serde_json::from_str(&reply.bytes_output("RESULT_JSON").unwrap()).unwrap();
        assert_same(&format!("{} over gRPC", case.model), &got, &want);
        eprintln!(
            "{}: HTTP binary, HTTP JSON and gRPC answer as the CLI",
            case.model
        );
    }

    // Streaming: the decoupled twin answers, then ends the stream with a final response.
    let caption = &cases[0];
    let replies = grpc_infer(&server, "caption_stream", caption, dir.path());
    assert!(replies.len() >= 2, "{} streamed replies", replies.len());
    let want = cli(&bundles, caption, &caption.file);
    assert_eq!(
        replies[0].bytes_output("TEXT").as_deref(),
        want["text"].as_str()
    );
    let last = replies.last().unwrap();
    assert!(
        last.outputs.is_empty(),
        "the final response carries no outputs"
    );
    assert_eq!(
        last.parameters
            .get("triton_final_response")
            .and_then(|p| p.choice.clone()),
        Some(Choice::Bool(true))
    );

    // 16 concurrent requests plus a malformed image: 16 answers equal to the CLI's, batched,
    // one error naming the bad file, the server still up, the success counter +16.
    let successes_before = server.metric("nv_inference_request_success", "caption");
    // The five demo pictures, cycled: 16 requests.
    let images: Vec<PathBuf> = (0..16).map(|i| demo(100000 + i % 5)).collect();
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"this is not a picture").unwrap();
    let mut burst = images.clone();
    burst.insert(7, broken.clone());
    let run = remote(&server, caption, &burst, &["--concurrency", "17"]);
    assert_eq!(run.code, 1, "one input fails:\n{}", run.stderr);
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("broken.png") && errors[0].contains("not a recognised image"),
        "{}",
        errors[0]
    );
    let answers = json_lines(&run.stdout);
    assert_eq!(answers.len(), 16, "{}", run.stdout);
    let mut expected = HashMap::new();
    for got in &answers {
        let file = got["file"].as_str().unwrap().to_string();
        let want = expected
            .entry(file.clone())
            .or_insert_with(|| cli(&bundles, caption, Path::new(&file)));
        assert_same(&file, got, want);
    }
    assert_eq!(expected.len(), 5);
    assert!(server.alive(), "the server stopped:\n{}", server.logs());
    ureq::get(&server.url("/v2/health/ready"))
        .call()
        .expect("server ready after the burst");
    let stats: Value = serde_json::from_str(
        &ureq::get(&server.url("/v2/models/caption/stats"))
            .call()
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    let batches: Vec<u64> = stats["model_stats"][0]["batch_stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["batch_size"].as_u64().unwrap())
        .collect();
    eprintln!("caption batch sizes executed: {batches:?}");
    assert!(
        batches.iter().any(|&b| b > 1),
        "no batch above 1: {batches:?}"
    );
    let successes = server.metric("nv_inference_request_success", "caption") - successes_before;
    assert_eq!(
        successes, 16.0,
        "nv_inference_request_success moved by {successes}"
    );

    // An archive job resumed: the second run sends only the file the first did not finish.
    let out = dir.path().join("archive.jsonl");
    let out_arg = out.display().to_string();
    let resume = ["--out", out_arg.as_str(), "--resume"];
    remote(&server, caption, &images[..2], &resume).ok();
    let run = remote(&server, caption, &images[..3], &resume).ok();
    assert!(
        run.stderr.contains("2 of 3 files already done"),
        "{}",
        run.stderr
    );
    assert_eq!(json_lines(&run.stdout).len(), 1, "{}", run.stdout);
    let all = json_lines(&std::fs::read_to_string(&out).unwrap());
    let mut files: Vec<&str> = all.iter().map(|v| v["file"].as_str().unwrap()).collect();
    files.sort();
    let want: Vec<String> = images[..3]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(files, want);
}
