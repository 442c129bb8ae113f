//! Command lines parse into the types the commands expect, and every argument has help.

use super::*;
use clap::CommandFactory;

/// Every flag and positional argument of every command says what it does in `--help`.
#[test]
fn every_argument_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), "unival", &mut missing);
    assert!(missing.is_empty(), "arguments without help: {missing:?}");
}

#[test]
fn device_sample_and_crop_are_typed() {
    let cli = Cli::try_parse_from(["unival", "caption", "x.png", "--device", "cuda:1"]);
    let Ok(Cli {
        command: Command::Caption(a),
    }) = cli
    else {
        panic!("{cli:?}");
    };
    assert_eq!(a.common.run_on.device, Device::Cuda(1));
    let err = Cli::try_parse_from(["unival", "caption", "x.png", "--device", "gpu"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown device `gpu`"), "{err}");
    let cli = Cli::try_parse_from(["unival", "video-caption", "v.mp4", "--sample", "rand"]);
    let Ok(Cli {
        command: Command::VideoCaption(v),
    }) = cli
    else {
        panic!("{cli:?}");
    };
    assert_eq!(v.video.sample, SampleArg::Rand);
    let cli = Cli::try_parse_from(["unival", "audio-caption", "a.wav", "--crop", "center"]);
    let Ok(Cli {
        command: Command::AudioCaption(a),
    }) = cli
    else {
        panic!("{cli:?}");
    };
    assert_eq!(a.crop.crop, CropArg::Center);
    assert!(Cli::try_parse_from(["unival", "audio-caption", "a.wav", "--crop", "end"]).is_err());
}

#[test]
fn resolution_and_seconds_flags() {
    assert_eq!(parse_resolution("1280x720"), Ok((1280, 720)));
    assert_eq!(parse_resolution("640X480"), Ok((640, 480)));
    for bad in ["1280", "0x720", "ax b", "1280x"] {
        assert!(parse_resolution(bad).is_err(), "{bad}");
    }
    assert_eq!(positive_number("2.5"), Ok(2.5));
    assert!(positive_number("0").is_err() && positive_number("-1").is_err());
    assert!(positive_number("inf").is_err());
}

#[test]
fn live_command_lines_parse() {
    let cli = Cli::try_parse_from([
        "unival",
        "live",
        "audio-caption",
        "--silence-db",
        "-40",
        "--hop",
        "1",
        "--json",
    ])
    .unwrap();
    let Command::Live(LiveCmd {
        task: LiveTask::AudioCaption(a),
    }) = cli.command
    else {
        panic!("parsed as {:?}", cli.command);
    };
    assert_eq!(
        (a.hop, a.silence_db, a.live.common.json),
        (1.0, -40.0, true)
    );
    let cli = Cli::try_parse_from([
        "unival",
        "live",
        "vqa",
        "--source",
        "images:x",
        "--loop",
        "--every",
        "--serve",
        "8080",
        "--resolution",
        "640x480",
    ])
    .unwrap();
    let Command::Live(LiveCmd {
        task: LiveTask::Vqa(v),
    }) = cli.command
    else {
        panic!("parsed as {:?}", cli.command);
    };
    assert!(v.every && v.live.looped);
    assert_eq!(v.frames.resolution, Some((640, 480)));
    assert_eq!(v.live.serve.as_deref(), Some("8080"));
}
