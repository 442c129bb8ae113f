//! `unival devices`: the cameras and microphones the live commands can open, with the index
//! or name to pass (`--source camera:N`, `--source mic:INDEX` or `mic:NAME`).

use anyhow::Context;
use clap::Args;
use std::process::ExitCode;
use unival_runtime::live::{list_cameras, list_microphones, CameraInfo, MicInfo};

/// Options of `unival devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print one JSON object `{"cameras": [...], "microphones": [...]}`.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DevicesArgs) -> anyhow::Result<ExitCode> {
    // A machine without a camera subsystem or sound system still lists the other kind.
    let (cameras, camera_error) = split(list_cameras());
    let (mics, mic_error) = split(list_microphones());
    if args.json {
        let doc = serde_json::json!({
            "cameras": cameras,
            "camera_error": camera_error,
            "microphones": mics,
            "microphone_error": mic_error,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("serialising the device list")?
        );
    } else {
        print!(
            "{}",
            render(
                &cameras,
                camera_error.as_deref(),
                &mics,
                mic_error.as_deref()
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn split<T, E: std::fmt::Display>(r: Result<Vec<T>, E>) -> (Vec<T>, Option<String>) {
    match r {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    }
}

/// The human-readable listing.
fn render(
    cameras: &[CameraInfo],
    camera_error: Option<&str>,
    mics: &[MicInfo],
    mic_error: Option<&str>,
) -> String {
    let mut out = String::from("cameras (--source camera:N):\n");
    match camera_error {
        Some(e) => out.push_str(&format!("  cannot list cameras: {e}\n")),
        None if cameras.is_empty() => out.push_str("  none found\n"),
        None => {
            for c in cameras {
                out.push_str(&format!("  {}  {}  ({})\n", c.index, c.name, c.description));
            }
        }
    }
    out.push_str("microphones (--source mic:INDEX or mic:NAME):\n");
    match mic_error {
        Some(e) => out.push_str(&format!("  cannot list microphones: {e}\n")),
        None if mics.is_empty() => out.push_str("  none found\n"),
        None => {
            for m in mics {
                let config = match (&m.default_config, &m.error) {
                    (Some(c), _) => format!(
                        "{} Hz, {} ch, {}",
                        c.sample_rate, c.channels, c.sample_format
                    ),
                    (None, Some(e)) => format!("unavailable: {e}"),
                    (None, None) => "unavailable".to_string(),
                };
                out.push_str(&format!(
                    "  {}  {}  \"{}\"  [{}]\n",
                    m.index, m.id, m.name, config
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use unival_runtime::live::MicConfig;

    #[test]
    fn renders_none_found_and_device_lines() {
        let mics = vec![
            MicInfo {
                index: 0,
                id: "hw:CARD=USB,DEV=0".into(),
                name: "USB Audio".into(),
                default_config: Some(MicConfig {
                    sample_rate: 48000,
                    channels: 2,
                    sample_format: "i16".into(),
                }),
                error: None,
            },
            MicInfo {
                index: 1,
                id: "default".into(),
                name: "Default Audio Device".into(),
                default_config: None,
                error: Some("busy".into()),
            },
        ];
        let text = render(&[], None, &mics, None);
        assert!(
            text.contains("cameras (--source camera:N):\n  none found\n"),
            "{text}"
        );
        assert!(
            text.contains("  0  hw:CARD=USB,DEV=0  \"USB Audio\"  [48000 Hz, 2 ch, i16]\n"),
            "{text}"
        );
        assert!(text.contains("[unavailable: busy]"), "{text}");
        let text = render(&[], Some("no v4l"), &[], None);
        assert!(text.contains("cannot list cameras: no v4l"), "{text}");
        assert!(text.contains("microphones (--source mic:INDEX or mic:NAME):\n  none found"));
    }
}
