//! `--source` strings: which camera, file or folder a loop reads, and opening it.

use super::{AudioFileSource, AudioSource, FrameSource, ImageFolderSource, LiveError};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Where frames come from: `camera:N`, `video:FILE` or `images:DIR`.
#[derive(Debug, Clone, PartialEq)]
pub enum FrameSpec {
    /// A camera by index (`/dev/videoN` on Linux).
    Camera(u32),
    /// A video file played in real time.
    Video(PathBuf),
    /// A folder of images shown as a slideshow.
    Images(PathBuf),
}

/// Where audio comes from: `mic`, `mic:NAME`, `mic:INDEX` or `file:FILE`.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioSpec {
    /// The default input device (`None`) or one chosen by name or index as `unival devices`
    /// lists them.
    Microphone(Option<String>),
    /// A sound file played in real time.
    File(PathBuf),
}

/// How a frame source is opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameOptions {
    /// Requested camera resolution (width, height); the nearest the camera offers is used.
    pub resolution: Option<(u32, u32)>,
    /// Camera frame rate, or the pace of an image folder; a video plays at its own rate
    /// unless this is given.
    pub fps: Option<f64>,
    /// Start a file or folder over at its end (`--loop`).
    pub looped: bool,
}

fn split(spec: &str) -> Result<(&str, &str), LiveError> {
    spec.split_once(':').ok_or_else(|| LiveError::BadSpec {
        spec: spec.to_string(),
        reason: "expected KIND:VALUE".into(),
    })
}

fn nonempty(spec: &str, value: &str, what: &str) -> Result<PathBuf, LiveError> {
    if value.is_empty() {
        return Err(LiveError::BadSpec {
            spec: spec.to_string(),
            reason: format!("missing {what}"),
        });
    }
    Ok(PathBuf::from(value))
}

impl FromStr for FrameSpec {
    type Err = LiveError;

    fn from_str(spec: &str) -> Result<FrameSpec, LiveError> {
        if spec == "camera" {
            return Ok(FrameSpec::Camera(0));
        }
        let (kind, value) = split(spec)?;
        match kind {
            "camera" => value
                .parse()
                .map(FrameSpec::Camera)
                .map_err(|_| LiveError::BadSpec {
                    spec: spec.to_string(),
                    reason: "the camera is a number, e.g. camera:0".into(),
                }),
            "video" => Ok(FrameSpec::Video(nonempty(spec, value, "the video file")?)),
            "images" => Ok(FrameSpec::Images(nonempty(spec, value, "the folder")?)),
            _ => Err(LiveError::BadSpec {
                spec: spec.to_string(),
                reason: format!("unknown kind `{kind}`; use camera:N, video:FILE or images:DIR"),
            }),
        }
    }
}

impl FromStr for AudioSpec {
    type Err = LiveError;

    fn from_str(spec: &str) -> Result<AudioSpec, LiveError> {
        if spec == "mic" || spec == "microphone" {
            return Ok(AudioSpec::Microphone(None));
        }
        let (kind, value) = split(spec)?;
        match kind {
            "mic" | "microphone" if !value.is_empty() => {
                Ok(AudioSpec::Microphone(Some(value.to_string())))
            }
            "file" => Ok(AudioSpec::File(nonempty(spec, value, "the sound file")?)),
            _ => Err(LiveError::BadSpec {
                spec: spec.to_string(),
                reason: "use mic, mic:NAME, mic:INDEX or file:FILE".into(),
            }),
        }
    }
}

/// Opens the frame source `spec` describes.
pub fn open_frame_source(
    spec: &FrameSpec,
    opts: &FrameOptions,
) -> Result<Box<dyn FrameSource>, LiveError> {
    match spec {
        FrameSpec::Images(dir) => Ok(Box::new(ImageFolderSource::open(dir, opts)?)),
        FrameSpec::Camera(index) => open_camera(*index, opts),
        FrameSpec::Video(path) => open_video_file(path, opts),
    }
}

#[cfg(feature = "live")]
fn open_camera(index: u32, opts: &FrameOptions) -> Result<Box<dyn FrameSource>, LiveError> {
    Ok(Box::new(super::CameraSource::open(index, opts)?))
}

/// Built without `live`: no camera backend.
#[cfg(not(feature = "live"))]
fn open_camera(_index: u32, _opts: &FrameOptions) -> Result<Box<dyn FrameSource>, LiveError> {
    Err(crate::error::MissingFeature::CAMERA.into())
}

#[cfg(feature = "video")]
fn open_video_file(path: &Path, opts: &FrameOptions) -> Result<Box<dyn FrameSource>, LiveError> {
    Ok(Box::new(super::VideoFileSource::open(path, opts)?))
}

/// Built without `video`: no FFmpeg to decode the file.
#[cfg(not(feature = "video"))]
fn open_video_file(_path: &Path, _opts: &FrameOptions) -> Result<Box<dyn FrameSource>, LiveError> {
    Err(crate::error::MissingFeature::VIDEO.into())
}

#[cfg(feature = "live")]
fn open_microphone(selector: Option<&str>) -> Result<Box<dyn AudioSource>, LiveError> {
    Ok(Box::new(super::MicrophoneSource::open(selector)?))
}

/// Built without `live`: no audio capture backend.
#[cfg(not(feature = "live"))]
fn open_microphone(_selector: Option<&str>) -> Result<Box<dyn AudioSource>, LiveError> {
    Err(crate::error::MissingFeature::MICROPHONE.into())
}

/// Opens the audio source `spec` describes; `looped` repeats a file.
pub fn open_audio_source(
    spec: &AudioSpec,
    looped: bool,
) -> Result<Box<dyn AudioSource>, LiveError> {
    match spec {
        AudioSpec::Microphone(selector) => open_microphone(selector.as_deref()),
        AudioSpec::File(path) => Ok(Box::new(AudioFileSource::open(path, looped)?)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A build without a device feature says which feature to turn on, instead of failing
    /// some other way.
    #[test]
    fn sources_of_features_left_out_say_which_feature_to_build() {
        let mut expected = Vec::new();
        if cfg!(not(feature = "live")) {
            let cam = open_frame_source(&FrameSpec::Camera(0), &FrameOptions::default());
            expected.push((cam.err(), "`live`"));
            let mic = open_audio_source(&AudioSpec::Microphone(None), false);
            expected.push((mic.err(), "`live`"));
        }
        if cfg!(not(feature = "video")) {
            let spec = FrameSpec::Video("clip.mp4".into());
            let video = open_frame_source(&spec, &FrameOptions::default());
            expected.push((video.err(), "`video`"));
        }
        for (err, feature) in expected {
            let err = err.expect("a source of a feature left out cannot open");
            assert!(matches!(err, LiveError::NotBuilt(_)), "{err}");
            let text = err.to_string();
            assert!(
                text.contains("this build has no") && text.contains(feature),
                "{text}"
            );
        }
    }

    #[test]
    fn parses_frame_specs() {
        assert_eq!(
            "camera:2".parse::<FrameSpec>().unwrap(),
            FrameSpec::Camera(2)
        );
        assert_eq!("camera".parse::<FrameSpec>().unwrap(), FrameSpec::Camera(0));
        assert_eq!(
            "video:a b.mp4".parse::<FrameSpec>().unwrap(),
            FrameSpec::Video("a b.mp4".into())
        );
        assert_eq!(
            "images:/x/y".parse::<FrameSpec>().unwrap(),
            FrameSpec::Images("/x/y".into())
        );
        for bad in ["camera:x", "video:", "webcam:0", "clip.mp4"] {
            let err = bad.parse::<FrameSpec>().unwrap_err();
            assert!(matches!(err, LiveError::BadSpec { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn parses_audio_specs() {
        assert_eq!(
            "mic".parse::<AudioSpec>().unwrap(),
            AudioSpec::Microphone(None)
        );
        assert_eq!(
            "mic:USB Audio".parse::<AudioSpec>().unwrap(),
            AudioSpec::Microphone(Some("USB Audio".into()))
        );
        assert_eq!(
            "file:x.wav".parse::<AudioSpec>().unwrap(),
            AudioSpec::File("x.wav".into())
        );
        for bad in ["mic:", "file:", "speaker:1", "x.wav"] {
            assert!(bad.parse::<AudioSpec>().is_err(), "{bad}");
        }
    }
}
