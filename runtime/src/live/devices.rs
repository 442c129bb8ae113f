//! What capture devices this machine has (`unival devices`), and finding one by the name or
//! index a user typed (`mic:NAME`, `mic:INDEX`).

use super::LiveError;
use cpal::traits::{DeviceTrait, HostTrait};
use serde::Serialize;

/// One microphone (cpal input device) as `unival devices` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MicInfo {
    /// Position in the list; `mic:INDEX` opens it.
    pub index: usize,
    /// The backend's identifier (the ALSA PCM name, e.g. `hw:CARD=0,DEV=0`); `mic:ID` opens it.
    pub id: String,
    /// Human-readable name (first line of the ALSA description).
    pub name: String,
    /// The configuration capture would use; `None` when it cannot be read (see `error`).
    pub default_config: Option<MicConfig>,
    /// Why the configuration could not be read (device busy, no access), if so.
    pub error: Option<String>,
}

/// A device's default capture configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MicConfig {
    /// Samples per second.
    pub sample_rate: u32,
    /// Interleaved channels (mixed down to mono by the source).
    pub channels: u16,
    /// Sample format name, e.g. `i16`, `f32`.
    pub sample_format: String,
}

/// One camera as `unival devices` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraInfo {
    /// `camera:INDEX` opens it.
    pub index: u32,
    /// The camera's name as the driver reports it.
    pub name: String,
    /// Driver details (device path, bus).
    pub description: String,
}

fn host_error(what: &str, e: impl std::fmt::Display) -> LiveError {
    LiveError::Open {
        source_name: what.to_string(),
        reason: e.to_string(),
    }
}

/// The input devices in listing order with their identifiers and names.
fn input_devices() -> Result<Vec<(cpal::Device, String, String)>, LiveError> {
    let host = cpal::default_host();
    let devices = host
        .input_devices()
        .map_err(|e| host_error("audio input devices", e))?;
    Ok(devices
        .map(|d| {
            let id = d.id().map(|i| i.id().to_string()).unwrap_or_default();
            let name = d
                .description()
                .map(|desc| desc.name().to_string())
                .unwrap_or_else(|_| id.clone());
            (d, id, name)
        })
        .collect())
}

/// Lists the microphones. Reading a device's default configuration opens it briefly; a device
/// that cannot be opened is still listed, with the reason.
pub fn list_microphones() -> Result<Vec<MicInfo>, LiveError> {
    Ok(input_devices()?
        .into_iter()
        .enumerate()
        .map(|(index, (device, id, name))| {
            let (default_config, error) = match device.default_input_config() {
                Ok(c) => (
                    Some(MicConfig {
                        sample_rate: c.sample_rate(),
                        channels: c.channels(),
                        sample_format: c.sample_format().to_string(),
                    }),
                    None,
                ),
                Err(e) => (None, Some(e.to_string())),
            };
            MicInfo {
                index,
                id,
                name,
                default_config,
                error,
            }
        })
        .collect())
}

/// Which of `candidates` (`(id, name)` in listing order) `selector` means: an index into the
/// list, else an exact id, else an exact name, else the only id or name containing it
/// (case-insensitive). `Err` says why none was chosen.
pub fn pick_device(selector: &str, candidates: &[(String, String)]) -> Result<usize, String> {
    if let Ok(index) = selector.parse::<usize>() {
        return if index < candidates.len() {
            Ok(index)
        } else {
            Err(format!(
                "there is no input device {index} ({} listed)",
                candidates.len()
            ))
        };
    }
    if let Some(i) = candidates.iter().position(|(id, _)| id == selector) {
        return Ok(i);
    }
    if let Some(i) = candidates.iter().position(|(_, name)| name == selector) {
        return Ok(i);
    }
    let needle = selector.to_lowercase();
    let matches: Vec<usize> = candidates
        .iter()
        .enumerate()
        .filter(|(_, (id, name))| {
            id.to_lowercase().contains(&needle) || name.to_lowercase().contains(&needle)
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!("no input device matches `{selector}`")),
        many => Err(format!(
            "`{selector}` matches {} devices: {}",
            many.len(),
            many.iter()
                .map(|&i| candidates[i].0.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The device `selector` names ([`pick_device`]), or the default input device for `None`:
/// `(device, id, name)`. Fails with [`LiveError::Open`] listing the available devices.
pub fn find_input_device(
    selector: Option<&str>,
) -> Result<(cpal::Device, String, String), LiveError> {
    let Some(selector) = selector else {
        let host = cpal::default_host();
        let device = host
            .default_input_device()
            .ok_or_else(|| host_error("the default microphone", "no input device"))?;
        let id = device
            .id()
            .map(|i| i.id().to_string())
            .unwrap_or_else(|_| "default".into());
        let name = device
            .description()
            .map(|d| d.name().to_string())
            .unwrap_or_else(|_| id.clone());
        return Ok((device, id, name));
    };
    let mut devices = input_devices()?;
    let pairs: Vec<(String, String)> = devices
        .iter()
        .map(|(_, id, name)| (id.clone(), name.clone()))
        .collect();
    match pick_device(selector, &pairs) {
        Ok(i) => Ok(devices.swap_remove(i)),
        Err(reason) => {
            let listed: Vec<String> = pairs
                .iter()
                .enumerate()
                .map(|(i, (id, _))| format!("{i}: {id}"))
                .collect();
            Err(host_error(
                &format!("microphone `{selector}`"),
                format!(
                    "{reason}; input devices: {}",
                    if listed.is_empty() {
                        "none".to_string()
                    } else {
                        listed.join(", ")
                    }
                ),
            ))
        }
    }
}

/// Lists the cameras through nokhwa (V4L2 on Linux). No camera is an empty list, not an error.
pub fn list_cameras() -> Result<Vec<CameraInfo>, LiveError> {
    let Some(backend) = nokhwa::native_api_backend() else {
        return Ok(Vec::new());
    };
    let cams = nokhwa::query(backend).map_err(|e| host_error("camera list", e))?;
    Ok(cams
        .into_iter()
        .enumerate()
        .map(|(i, c)| CameraInfo {
            index: c
                .index()
                .as_index()
                .unwrap_or(u32::try_from(i).unwrap_or(u32::MAX)),
            name: c.human_name(),
            description: format!("{} {}", c.description(), c.misc()),
        })
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cands() -> Vec<(String, String)> {
        [
            ("default", "Default Audio Device"),
            ("hw:CARD=USB,DEV=0", "USB Audio, USB Audio"),
            ("plughw:CARD=USB,DEV=0", "USB Audio, USB Audio"),
            ("unival_fifo", "unival FIFO capture"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    #[test]
    fn picks_by_index_id_name_and_unique_substring() {
        let c = cands();
        assert_eq!(pick_device("1", &c), Ok(1));
        assert_eq!(pick_device("plughw:CARD=USB,DEV=0", &c), Ok(2));
        assert_eq!(pick_device("unival FIFO capture", &c), Ok(3));
        assert_eq!(pick_device("fifo", &c), Ok(3));
        assert_eq!(pick_device("Default Audio Device", &c), Ok(0));
    }

    #[test]
    fn refuses_out_of_range_missing_and_ambiguous() {
        let c = cands();
        assert!(pick_device("4", &c)
            .unwrap_err()
            .contains("no input device 4"));
        assert!(pick_device("bluetooth", &c)
            .unwrap_err()
            .contains("no input"));
        let err = pick_device("usb", &c).unwrap_err();
        assert!(err.contains("matches 2 devices"), "{err}");
        assert!(err.contains("hw:CARD=USB,DEV=0"), "{err}");
    }

    #[test]
    fn unknown_microphone_is_an_open_error_naming_it() {
        let err = find_input_device(Some("no-such-microphone-xyz")).unwrap_err();
        assert!(matches!(err, LiveError::Open { .. }), "{err}");
        assert!(err.to_string().contains("no-such-microphone-xyz"), "{err}");
    }

    #[test]
    fn camera_listing_is_empty_without_cameras() {
        // No machine this runs on has a camera: the list is empty rather than an error.
        if std::path::Path::new("/dev/video0").exists() {
            eprintln!("/dev/video0 exists; not checking the empty listing");
            return;
        }
        assert_eq!(list_cameras().unwrap(), Vec::new());
    }
}
