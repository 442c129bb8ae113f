//! A camera through `nokhwa` (V4L2 on Linux, `/dev/videoN`; AVFoundation and Media Foundation
//! elsewhere).
//!
//! nokhwa's camera handle is not `Send`, so it lives on a capture thread of its own, which
//! opens it, picks the format ([`choose_format`]) and then keeps only the newest raw frame in a
//! one-slot mailbox (a frame captured while the consumer is busy replaces the waiting one; the
//! gap shows in [`Frame::seq`]). Frames are decoded to RGB on the consumer's side, so frames that
//! nobody takes are never decoded. A capture error (camera unplugged) or no frame for
//! [`STALL_TIMEOUT`] becomes [`LiveError::Lost`]; damaged frames are skipped.

use super::camera_format::{choose_format, decode_frame};
use super::{Frame, FrameOptions, FrameSource, LiveError, Stamp};
use nokhwa::utils::{CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType};
use nokhwa::Camera;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A camera that delivers nothing for this long counts as lost.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Consecutive undecodable frames after which the camera counts as lost.
const MAX_BAD_FRAMES: u32 = 30;
/// Formats we can decode, for nokhwa's initial format request.
const DECODABLE: [FrameFormat; 6] = [
    FrameFormat::MJPEG,
    FrameFormat::YUYV,
    FrameFormat::NV12,
    FrameFormat::RAWRGB,
    FrameFormat::RAWBGR,
    FrameFormat::GRAY,
];

/// One captured, not yet decoded frame.
struct RawFrame {
    bytes: Vec<u8>,
    format: FrameFormat,
    width: u32,
    height: u32,
    captured: Stamp,
    seq: u64,
}

#[derive(Default)]
struct Mailbox {
    frame: Option<RawFrame>,
    lost: Option<String>,
}

#[derive(Default)]
struct Shared {
    mailbox: Mutex<Mailbox>,
    ready: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The camera frame source.
pub struct CameraSource {
    index: u32,
    label: String,
    shared: Arc<Shared>,
}

/// Where camera `index` lives, for messages.
fn device_name(index: u32) -> String {
    if cfg!(target_os = "linux") {
        format!("camera {index} (/dev/video{index})")
    } else {
        format!("camera {index}")
    }
}

/// Opens the camera and its stream on the capture thread: the camera and a description.
fn open_camera(index: u32, opts: &FrameOptions) -> Result<(Camera, String), String> {
    let request = RequestedFormat::with_formats(RequestedFormatType::None, &DECODABLE);
    let mut camera = Camera::new(CameraIndex::Index(index), request).map_err(|e| {
        let path = format!("/dev/video{index}");
        if cfg!(target_os = "linux") && !std::path::Path::new(&path).exists() {
            format!("{path} does not exist (no such camera): {e}")
        } else {
            e.to_string()
        }
    })?;
    let offered = camera
        .compatible_camera_formats()
        .map_err(|e| format!("listing formats: {e}"))?;
    let chosen = choose_format(&offered, opts.resolution, opts.fps).ok_or_else(|| {
        let list: Vec<String> = offered.iter().map(|f| f.to_string()).collect();
        format!(
            "no decodable format among: {} (MJPEG, YUYV, NV12, RGB, BGR and grey are supported)",
            list.join(", ")
        )
    })?;
    camera
        .set_camera_requset(RequestedFormat::with_formats(
            RequestedFormatType::Exact(chosen),
            &DECODABLE,
        ))
        .map_err(|e| format!("setting {chosen}: {e}"))?;
    camera
        .open_stream()
        .map_err(|e| format!("starting the stream: {e}"))?;
    let label = format!(
        "{} ({}) {}x{} {} {} fps",
        device_name(index),
        camera.info().human_name(),
        chosen.width(),
        chosen.height(),
        chosen.format(),
        chosen.frame_rate()
    );
    Ok((camera, label))
}

/// The capture thread: open, report, then keep the newest frame in the mailbox until stopped.
fn capture(
    index: u32,
    opts: FrameOptions,
    shared: Arc<Shared>,
    opened: mpsc::Sender<Result<String, String>>,
) {
    let mut camera = match open_camera(index, &opts) {
        Ok((camera, label)) => {
            if opened.send(Ok(label)).is_err() {
                return;
            }
            camera
        }
        Err(reason) => {
            // The receiver is waiting for exactly this message; nothing to do if it left.
            let _ = opened.send(Err(reason));
            return;
        }
    };
    let mut seq = 0u64;
    while !shared.stop.load(Ordering::Acquire) {
        match camera.frame() {
            Ok(buffer) => {
                let res = buffer.resolution();
                let raw = RawFrame {
                    bytes: buffer.buffer().to_vec(),
                    format: buffer.source_frame_format(),
                    width: res.width(),
                    height: res.height(),
                    captured: Stamp::now(),
                    seq,
                };
                seq += 1;
                shared.lock().frame = Some(raw);
                shared.ready.notify_all();
            }
            Err(e) => {
                shared.lock().lost = Some(e.to_string());
                shared.ready.notify_all();
                break;
            }
        }
    }
    // Best effort: the device is released when `camera` drops anyway.
    let _ = camera.stop_stream();
}

impl CameraSource {
    /// Opens camera `index` at the format nearest `opts.resolution` / `opts.fps`
    /// ([`choose_format`]). Fails with [`LiveError::Open`] naming the device when it does not
    /// exist, is busy, or offers nothing decodable.
    pub fn open(index: u32, opts: &FrameOptions) -> Result<CameraSource, LiveError> {
        if let Some(fps) = opts.fps {
            if !(fps.is_finite() && fps > 0.0) {
                return Err(LiveError::BadSpec {
                    spec: format!("--fps {fps}"),
                    reason: "the frame rate must be a positive number".into(),
                });
            }
        }
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::channel();
        let thread_shared = Arc::clone(&shared);
        let thread_opts = opts.clone();
        std::thread::Builder::new()
            .name(format!("camera-{index}"))
            .spawn(move || capture(index, thread_opts, thread_shared, tx))
            .map_err(|e| LiveError::Open {
                source_name: device_name(index),
                reason: format!("starting the capture thread: {e}"),
            })?;
        let label = rx
            .recv()
            .map_err(|_| "the capture thread ended without a word".to_string())
            .and_then(|r| r)
            .map_err(|reason| LiveError::Open {
                source_name: device_name(index),
                reason,
            })?;
        Ok(CameraSource {
            index,
            label,
            shared,
        })
    }

    fn lost(&self, reason: String) -> LiveError {
        LiveError::Lost {
            source_name: device_name(self.index),
            reason,
        }
    }
}

impl Drop for CameraSource {
    fn drop(&mut self) {
        // The thread notices after its current frame and releases the camera.
        self.shared.stop.store(true, Ordering::Release);
    }
}

impl FrameSource for CameraSource {
    fn describe(&self) -> String {
        self.label.clone()
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, LiveError> {
        let mut bad = 0u32;
        loop {
            let raw = {
                let started = Instant::now();
                let mut mailbox = self.shared.lock();
                loop {
                    if let Some(raw) = mailbox.frame.take() {
                        break raw;
                    }
                    if let Some(reason) = mailbox.lost.clone() {
                        return Err(self.lost(reason));
                    }
                    let waited = started.elapsed();
                    if waited >= STALL_TIMEOUT {
                        return Err(
                            self.lost(format!("no frame for {:.0} s", STALL_TIMEOUT.as_secs_f64()))
                        );
                    }
                    mailbox = self
                        .shared
                        .ready
                        .wait_timeout(mailbox, STALL_TIMEOUT - waited)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            };
            match decode_frame(&raw.bytes, raw.format, raw.width, raw.height) {
                Ok(image) => {
                    return Ok(Some(Frame {
                        image,
                        captured: raw.captured,
                        seq: raw.seq,
                    }))
                }
                Err(e) => {
                    bad += 1;
                    if bad >= MAX_BAD_FRAMES {
                        return Err(
                            self.lost(format!("{bad} frames in a row could not be decoded ({e})"))
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_camera_is_an_open_error_naming_the_device() {
        if std::path::Path::new("/dev/video7").exists() {
            eprintln!("/dev/video7 exists; not checking the missing-camera error");
            return;
        }
        let err = CameraSource::open(7, &FrameOptions::default())
            .err()
            .unwrap();
        assert!(matches!(err, LiveError::Open { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("camera 7"), "{text}");
        assert!(text.contains("/dev/video7"), "{text}");
        assert!(err.is_recoverable());
    }

    #[test]
    fn camera_zero_through_the_spec_fails_to_open_here() {
        if std::path::Path::new("/dev/video0").exists() {
            eprintln!("/dev/video0 exists; not checking the missing-camera error");
            return;
        }
        let spec: super::super::FrameSpec = "camera:0".parse().unwrap();
        let err = super::super::open_frame_source(&spec, &FrameOptions::default())
            .err()
            .unwrap();
        assert!(matches!(err, LiveError::Open { .. }), "{err}");
        assert!(err.to_string().contains("/dev/video0"), "{err}");
    }

    #[test]
    fn bad_fps_is_refused_before_touching_the_device() {
        let opts = FrameOptions {
            fps: Some(-1.0),
            ..FrameOptions::default()
        };
        assert!(matches!(
            CameraSource::open(0, &opts),
            Err(LiveError::BadSpec { .. })
        ));
    }
}
