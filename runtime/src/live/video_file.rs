//! A video file played in real time: the stand-in for a camera. Frames are decoded
//! sequentially with the same FFmpeg demuxing, decoding and RGB24 conversion graph as the
//! offline video input ([`crate::vision::video::decode`]), and each is handed out when it is due
//! by its presentation timestamp (or every `1/fps` seconds with an `fps` override).
//!
//! A consumer that falls behind does not make playback rush to catch up: the clock is
//! re-anchored on the late frame. `looped` reopens the file at its end.

use super::{Frame, FrameOptions, FrameSource, LiveError};
use crate::vision::video::decode::{
    as_f64, corrupt, open, open_decoder, video_stream, GraphParams, RgbGraph,
};
use crate::vision::video::VideoError;
use ff::codec;
use ff::format::context::Input;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One pass over the file: demuxer, decoder and conversion graph.
struct Pass {
    input: Input,
    stream: usize,
    decoder: codec::decoder::Video,
    params: GraphParams,
    graph: Option<RgbGraph>,
    eof_sent: bool,
    /// Presentation time (s) of the first frame of this pass.
    first_t: Option<f64>,
    /// Frames decoded in this pass.
    count: u64,
}

impl Pass {
    fn open(path: &Path) -> Result<Pass, VideoError> {
        let input = open(path)?;
        let stream = video_stream(&input, path)?;
        let (decoder, _) = open_decoder(&input, stream, path)?;
        let params = GraphParams::of_stream(&input, stream, &decoder);
        Ok(Pass {
            input,
            stream,
            decoder,
            params,
            graph: None,
            eof_sent: false,
            first_t: None,
            count: 0,
        })
    }

    /// The next decoded frame in presentation order, `None` at the end of the stream.
    fn next(&mut self, path: &Path) -> Result<Option<ff::frame::Video>, VideoError> {
        let mut frame = ff::frame::Video::empty();
        let mut packet = codec::packet::Packet::empty();
        loop {
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    self.count += 1;
                    return Ok(Some(frame));
                }
                Err(ff::Error::Eof) => return Ok(None),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
                Err(e) => return Err(corrupt(path, format!("decoding frame {}: {e}", self.count))),
            }
            if self.eof_sent {
                return Ok(None);
            }
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.stream => {
                    self.decoder.send_packet(&packet).map_err(|e| {
                        corrupt(path, format!("decoding frame {}: {e}", self.count))
                    })?;
                }
                Ok(()) => {}
                Err(ff::Error::Eof) => {
                    self.decoder
                        .send_eof()
                        .map_err(|e| corrupt(path, format!("flushing the decoder: {e}")))?;
                    self.eof_sent = true;
                }
                Err(e) => return Err(corrupt(path, format!("reading packet: {e}"))),
            }
        }
    }

    fn rgb(
        &mut self,
        frame: &ff::frame::Video,
        path: &Path,
    ) -> Result<image::RgbImage, VideoError> {
        let key = (frame.width(), frame.height(), frame.format());
        if self.graph.as_ref().is_none_or(|g| g.key != key) {
            self.graph = Some(RgbGraph::new(frame, self.params).map_err(|d| corrupt(path, d))?);
        }
        match self.graph.as_mut() {
            Some(graph) => graph
                .convert(frame)
                .map_err(|d| corrupt(path, format!("frame {}: {d}", self.count))),
            None => Err(corrupt(path, "no conversion graph")),
        }
    }
}

/// The video-file frame source.
pub struct VideoFileSource {
    path: PathBuf,
    pass: Pass,
    /// Nominal frame rate of the stream (for timestamps it lacks, and for `describe`).
    nominal_fps: f64,
    /// `--fps`: pace at this rate instead of the timestamps.
    fps_override: Option<f64>,
    looped: bool,
    seq: u64,
    /// Wall-clock instant that corresponds to media time 0 of the current pass.
    anchor: Option<Instant>,
}

impl VideoFileSource {
    /// Opens `path`; `opts.fps` overrides the file's own pace, `opts.looped` restarts it at the
    /// end. Fails with [`LiveError::Video`] naming the file (missing, not a video, no video
    /// stream, unsupported codec) or [`LiveError::BadSpec`] for a non-positive `fps`.
    pub fn open(path: &Path, opts: &FrameOptions) -> Result<VideoFileSource, LiveError> {
        if let Some(fps) = opts.fps {
            if !(fps.is_finite() && fps > 0.0) {
                return Err(LiveError::BadSpec {
                    spec: format!("--fps {fps}"),
                    reason: "the frame rate must be a positive number".into(),
                });
            }
        }
        let pass = Pass::open(path)?;
        let nominal_fps = pass
            .input
            .stream(pass.stream)
            .and_then(|s| as_f64(s.avg_frame_rate()).or_else(|| as_f64(s.rate())))
            .unwrap_or(25.0);
        Ok(VideoFileSource {
            path: path.to_path_buf(),
            pass,
            nominal_fps,
            fps_override: opts.fps,
            looped: opts.looped,
            seq: 0,
            anchor: None,
        })
    }

    /// Seconds from the start of the pass at which `frame` is due.
    fn media_time(&mut self, frame: &ff::frame::Video) -> f64 {
        let index = (self.pass.count - 1) as f64;
        if let Some(fps) = self.fps_override {
            return index / fps;
        }
        let tb = as_f64(self.pass.params.time_base);
        let t = match (frame.timestamp().or(frame.pts()), tb) {
            (Some(ts), Some(tb)) => ts as f64 * tb,
            _ => return index / self.nominal_fps,
        };
        let first = *self.pass.first_t.get_or_insert(t);
        (t - first).max(0.0)
    }
}

impl FrameSource for VideoFileSource {
    fn describe(&self) -> String {
        format!(
            "video {} ({:.1} fps{})",
            self.path.display(),
            self.fps_override.unwrap_or(self.nominal_fps),
            if self.looped { ", looped" } else { "" }
        )
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, LiveError> {
        let frame = match self.pass.next(&self.path)? {
            Some(frame) => frame,
            None if self.looped && self.pass.count > 0 => {
                self.pass = Pass::open(&self.path)?;
                self.anchor = None;
                match self.pass.next(&self.path)? {
                    Some(frame) => frame,
                    None => return Ok(None),
                }
            }
            None if self.pass.count == 0 => {
                return Err(VideoError::NoFrames {
                    file: self.path.clone(),
                }
                .into())
            }
            None => return Ok(None),
        };
        let image = self.pass.rgb(&frame, &self.path)?;
        let t = Duration::from_secs_f64(self.media_time(&frame));
        let now = Instant::now();
        let anchor = *self.anchor.get_or_insert(now);
        let due = anchor + t;
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > Duration::from_millis(50) {
            // Late (slow consumer or slow decode): continue from here instead of rushing.
            self.anchor = Some(now - t);
        }
        Ok(Some(Frame::captured_now(image, &mut self.seq)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A clip made by the `ffmpeg` CLI (installed by scripts/setup.sh): `n` frames at `fps`,
    /// the test pattern whose first pixel changes over time.
    fn clip(dir: &Path, n: u32, fps: u32) -> Option<PathBuf> {
        let path = dir.join("clip.mp4");
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size=64x48:rate={fps}"))
            .args(["-frames:v", &n.to_string(), "-pix_fmt", "yuv420p"])
            .args(["-c:v", "mpeg4"])
            .arg(&path)
            .status();
        match status {
            Ok(s) if s.success() => Some(path),
            _ => {
                let msg = "SKIPPED video_file tests: the ffmpeg CLI is missing";
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
                eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
                None
            }
        }
    }

    #[test]
    fn plays_every_frame_in_real_time_then_ends() {
        let dir = tempfile::tempdir().unwrap();
        let Some(path) = clip(dir.path(), 6, 25) else {
            return;
        };
        let mut src = VideoFileSource::open(&path, &FrameOptions::default()).unwrap();
        assert!(src.describe().contains("25.0 fps"), "{}", src.describe());
        let start = Instant::now();
        let mut seqs = Vec::new();
        while let Some(f) = src.next_frame().unwrap() {
            assert_eq!(f.image.dimensions(), (64, 48));
            seqs.push(f.seq);
        }
        assert_eq!(seqs, vec![0, 1, 2, 3, 4, 5]);
        // The sixth frame is due 5/25 s = 200 ms after the first.
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(190), "{took:?}");
        assert!(src.next_frame().unwrap().is_none());
    }

    #[test]
    fn frames_match_the_offline_decoder() {
        let dir = tempfile::tempdir().unwrap();
        let Some(path) = clip(dir.path(), 4, 25) else {
            return;
        };
        let opts = FrameOptions {
            fps: Some(1000.0),
            ..FrameOptions::default()
        };
        let mut src = VideoFileSource::open(&path, &opts).unwrap();
        let live: Vec<_> = std::iter::from_fn(|| src.next_frame().unwrap())
            .map(|f| f.image)
            .collect();
        let offline = crate::vision::video::decode_frames(&path, &[0, 1, 2, 3]).unwrap();
        assert_eq!(live, offline);
    }

    #[test]
    fn fps_override_and_loop() {
        let dir = tempfile::tempdir().unwrap();
        let Some(path) = clip(dir.path(), 3, 5) else {
            return;
        };
        let opts = FrameOptions {
            fps: Some(100.0),
            looped: true,
            ..FrameOptions::default()
        };
        let mut src = VideoFileSource::open(&path, &opts).unwrap();
        let start = Instant::now();
        let frames: Vec<Frame> = (0..7).map(|_| src.next_frame().unwrap().unwrap()).collect();
        // At the file's own 5 fps seven frames would take 1.2 s; at 100 fps well under that.
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(frames[6].seq, 6);
        // The loop restarts at the first frame.
        assert_eq!(frames[3].image, frames[0].image);
        assert_eq!(frames[6].image, frames[0].image);
        assert_ne!(frames[1].image, frames[0].image);
    }

    #[test]
    fn missing_and_corrupt_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.mp4");
        let err = VideoFileSource::open(&missing, &FrameOptions::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("nope.mp4"), "{err}");
        let junk = dir.path().join("junk.mp4");
        std::fs::write(&junk, vec![0x5au8; 4096]).unwrap();
        let err = VideoFileSource::open(&junk, &FrameOptions::default())
            .err()
            .unwrap();
        assert!(matches!(err, LiveError::Video(_)), "{err}");
        assert!(err.to_string().contains("junk.mp4"), "{err}");
        assert!(!err.is_recoverable());
    }
}
