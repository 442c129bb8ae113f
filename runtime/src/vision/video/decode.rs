//! Video files → RGB24 frames through FFmpeg, the way decord (the original's reader,
//! `data/video_utils.py:read_frames_decord`) produces them.
//!
//! decord demuxes with libavformat, decodes with libavcodec and converts every frame through a
//! libavfilter graph `buffer → "scale=W:H" → buffersink(pix_fmts = rgb24)` at the stream's own
//! size, so the only pixel operation is swscale's YUV → RGB24 conversion with the filter's default
//! flags and the frame's colour tags (untagged = BT.601 limited range). We build the very same
//! graph, so the conversion code path, coefficients and rounding are FFmpeg's own.
//!
//! Frame count and order follow decord too: `len(VideoReader)` is the number of packets of the
//! video stream (decord indexes packets up front), frame `i` is the `i`-th frame in presentation
//! order. Frames are decoded sequentially from the start and only the requested ones are kept
//! (inputs are short clips; this is simpler and more robust than seeking).

use super::error::VideoError;
use ff::format::context::Input;
use ff::{codec, filter, format, media, Rational};
use ffmpeg_next as ff;
use image::RgbImage;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What [`probe_video`] learns from a video file without decoding it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// Frames of the video stream (decord's `len(vr)`: its packet count).
    pub total_frames: usize,
    /// Average frame rate (decord's `get_avg_fps()`), frames per second.
    pub fps: f64,
    /// Presentation time of each frame in seconds from the first frame, non-decreasing.
    pub frame_times: Vec<f64>,
    /// Duration in seconds (`total_frames / fps`).
    pub duration: f64,
    /// FFmpeg's name of the codec, e.g. `h264`, `mpeg4`, `vp9`, `mjpeg`.
    pub codec: String,
    /// Coded frame width and height in pixels.
    pub size: (u32, u32),
}

/// Initialises FFmpeg once per process and keeps its console logging to fatal messages (every
/// problem reaches the caller as a [`VideoError`] instead).
fn init() -> Result<(), VideoError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        ff::init().map_err(|e| e.to_string())?;
        ff::util::log::set_level(ff::util::log::Level::Fatal);
        Ok(())
    })
    .clone()
    .map_err(|detail| VideoError::Init { detail })
}

/// Opens `path` as a media file (never as a URL or protocol), with typed errors.
pub(crate) fn open(path: &Path) -> Result<Input, VideoError> {
    init()?;
    let file = path.to_path_buf();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VideoError::NotFound { file })
        }
        Err(source) => return Err(VideoError::Io { file, source }),
        Ok(m) if m.len() == 0 => {
            return Err(VideoError::NotAVideo {
                file,
                detail: "the file is empty".into(),
            })
        }
        Ok(_) => {}
    }
    let Some(name) = path.to_str() else {
        return Err(VideoError::NotAVideo {
            file,
            detail: "FFmpeg needs a UTF-8 path".into(),
        });
    };
    // The `file:` protocol prefix keeps names such as `x:y.mp4` from being taken as URLs.
    let input = format::input(&format!("file:{name}")).map_err(|e| VideoError::NotAVideo {
        file: file.clone(),
        detail: e.to_string(),
    })?;
    // FFmpeg's `tty` demuxer accepts any `.txt`/`.nfo` file as an "ANSI art video".
    if input.format().name() == "tty" {
        return Err(VideoError::NotAVideo {
            file,
            detail: "text file (FFmpeg would render it as ANSI art)".into(),
        });
    }
    Ok(input)
}

/// Index of the video stream decord would read: FFmpeg's best video stream, skipping cover art.
pub(crate) fn video_stream(input: &Input, file: &Path) -> Result<usize, VideoError> {
    let is_real_video = |s: &format::stream::Stream| {
        s.parameters().medium() == media::Type::Video
            && !s
                .disposition()
                .contains(format::stream::Disposition::ATTACHED_PIC)
    };
    if let Some(best) = input.streams().best(media::Type::Video) {
        if is_real_video(&best) {
            return Ok(best.index());
        }
    }
    if let Some(s) = input.streams().find(|s| is_real_video(s)) {
        return Ok(s.index());
    }
    let streams: Vec<String> = input
        .streams()
        .map(|s| {
            format!(
                "{:?} {}",
                s.parameters().medium(),
                s.parameters().id().name()
            )
        })
        .collect();
    Err(VideoError::NoVideoStream {
        file: file.to_path_buf(),
        streams: if streams.is_empty() {
            "none".into()
        } else {
            streams.join(", ")
        },
    })
}

/// Opens the decoder of stream `index`: `(decoder, codec name)`.
pub(crate) fn open_decoder(
    input: &Input,
    index: usize,
    file: &Path,
) -> Result<(codec::decoder::Video, String), VideoError> {
    let Some(stream) = input.stream(index) else {
        return Err(corrupt(file, "video stream vanished"));
    };
    let params = stream.parameters();
    let codec_name = params.id().name().to_string();
    let decoder = codec::context::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|e| VideoError::UnsupportedCodec {
            file: file.to_path_buf(),
            codec: codec_name.clone(),
            detail: e.to_string(),
        })?;
    Ok((decoder, codec_name))
}

pub(crate) fn corrupt(file: &Path, detail: impl Into<String>) -> VideoError {
    VideoError::Corrupt {
        file: file.to_path_buf(),
        detail: detail.into(),
    }
}

pub(crate) fn as_f64(r: Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

/// Counts the frames of the video stream and their timestamps by demuxing only (no decoding).
///
/// Fails with [`VideoError::NotFound`], [`VideoError::NotAVideo`],
/// [`VideoError::NoVideoStream`], [`VideoError::UnsupportedCodec`] (no decoder in the linked
/// FFmpeg), [`VideoError::Corrupt`] (read error, or fewer frames than the container announces)
/// or [`VideoError::NoFrames`].
pub fn probe_video(path: &Path) -> Result<VideoInfo, VideoError> {
    let mut input = open(path)?;
    let index = video_stream(&input, path)?;
    let (time_base, avg_rate, real_rate, announced) = {
        let Some(stream) = input.stream(index) else {
            return Err(corrupt(path, "video stream vanished"));
        };
        let announced = usize::try_from(stream.frames()).unwrap_or(0);
        (
            stream.time_base(),
            stream.avg_frame_rate(),
            stream.rate(),
            announced,
        )
    };
    let (decoder, codec) = open_decoder(&input, index, path)?;
    let size = (decoder.width(), decoder.height());
    drop(decoder);
    let mut stamps: Vec<Option<i64>> = Vec::new();
    let mut packet = codec::packet::Packet::empty();
    loop {
        match packet.read(&mut input) {
            Ok(()) if packet.stream() == index => stamps.push(packet.pts().or(packet.dts())),
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(corrupt(path, format!("reading packet: {e}"))),
        }
    }
    let total_frames = stamps.len();
    // Containers with a sample index (mp4/mov, avi) announce their frame count; fewer packets
    // means the file was cut short (the demuxer reports that as a plain end of file).
    if total_frames < announced {
        return Err(corrupt(
            path,
            format!(
                "the container announces {announced} frames but only {total_frames} are present"
            ),
        ));
    }
    if total_frames == 0 {
        return Err(VideoError::NoFrames {
            file: path.to_path_buf(),
        });
    }
    let tb = as_f64(time_base).unwrap_or(0.0);
    let mut pts: Vec<i64> = stamps.iter().flatten().copied().collect();
    let fps = as_f64(avg_rate)
        .or_else(|| as_f64(real_rate))
        .or_else(|| {
            // Last resort: the packets' own time span.
            let (lo, hi) = (pts.iter().min()?, pts.iter().max()?);
            let span = (hi - lo) as f64 * tb;
            (span > 0.0).then(|| (total_frames - 1) as f64 / span)
        })
        .unwrap_or(1.0);
    let frame_times = if pts.len() == total_frames && tb > 0.0 {
        pts.sort_unstable();
        let first = pts[0];
        pts.iter().map(|&p| (p - first) as f64 * tb).collect()
    } else {
        (0..total_frames).map(|i| i as f64 / fps).collect()
    };
    Ok(VideoInfo {
        total_frames,
        fps,
        duration: total_frames as f64 / fps,
        frame_times,
        codec,
        size,
    })
}

/// decord's conversion graph for frames of one geometry/pixel format.
pub(crate) struct RgbGraph {
    graph: filter::Graph,
    pub(crate) key: (u32, u32, ff::format::Pixel),
}

impl RgbGraph {
    /// `buffer → scale=W:H → buffersink(rgb24)` for frames like `frame`.
    pub(crate) fn new(
        frame: &ff::frame::Video,
        time_base: Rational,
        sar: Rational,
    ) -> Result<Self, String> {
        let (w, h, fmt) = (frame.width(), frame.height(), frame.format());
        let fmt_name = fmt
            .descriptor()
            .map(|d| d.name())
            .ok_or_else(|| format!("decoder produced an unknown pixel format {fmt:?}"))?;
        let sar = if sar.numerator() > 0 && sar.denominator() > 0 {
            sar
        } else {
            Rational::new(1, 1)
        };
        let tb = if time_base.numerator() > 0 && time_base.denominator() > 0 {
            time_base
        } else {
            Rational::new(1, 25)
        };
        let args = format!(
            "video_size={w}x{h}:pix_fmt={fmt_name}:time_base={}/{}:pixel_aspect={}/{}",
            tb.numerator(),
            tb.denominator(),
            sar.numerator(),
            sar.denominator()
        );
        let find = |name: &str| filter::find(name).ok_or_else(|| format!("no `{name}` filter"));
        let mut graph = filter::Graph::new();
        let err = |e: ff::Error| format!("building the RGB24 filter graph: {e}");
        graph.add(&find("buffer")?, "in", &args).map_err(err)?;
        let mut sink = graph.add(&find("buffersink")?, "out", "").map_err(err)?;
        sink.set_pixel_format(ff::format::Pixel::RGB24);
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(&format!("scale={w}:{h}")))
            .map_err(err)?;
        graph.validate().map_err(err)?;
        Ok(Self {
            graph,
            key: (w, h, fmt),
        })
    }

    /// Converts one decoded frame to an RGB image (the graph passes frames through one to one).
    pub(crate) fn convert(&mut self, frame: &ff::frame::Video) -> Result<RgbImage, String> {
        let mut src = self.graph.get("in").ok_or("filter graph lost its source")?;
        src.source()
            .add(frame)
            .map_err(|e| format!("filter source: {e}"))?;
        let mut rgb = ff::frame::Video::empty();
        let mut sink = self.graph.get("out").ok_or("filter graph lost its sink")?;
        sink.sink()
            .frame(&mut rgb)
            .map_err(|e| format!("filter sink: {e}"))?;
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let stride = rgb.stride(0);
        let data = rgb.data(0);
        let mut raw = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            let row = data
                .get(y * stride..y * stride + w * 3)
                .ok_or("RGB frame smaller than announced")?;
            raw.extend_from_slice(row);
        }
        RgbImage::from_raw(w as u32, h as u32, raw).ok_or_else(|| "RGB frame size".to_string())
    }
}

/// Decodes the frames `indices` (presentation order, any order, repeats allowed) of `path` to
/// RGB24 exactly as decord does. Returns one image per entry of `indices`.
///
/// Fails like [`probe_video`], with [`VideoError::UnsupportedCodec`] when the linked FFmpeg has
/// no decoder for the stream, and with [`VideoError::Corrupt`] when decoding fails or the stream
/// ends before the highest requested frame.
pub fn decode_frames(path: &Path, indices: &[usize]) -> Result<Vec<RgbImage>, VideoError> {
    let mut input = open(path)?;
    let index = video_stream(&input, path)?;
    let time_base = input
        .stream(index)
        .map_or(Rational::new(0, 1), |s| s.time_base());
    let (mut decoder, _) = open_decoder(&input, index, path)?;
    let sar = decoder.aspect_ratio();

    let Some(&last_wanted) = indices.iter().max() else {
        return Ok(Vec::new());
    };
    let mut wanted: BTreeMap<usize, Option<RgbImage>> =
        indices.iter().map(|&i| (i, None)).collect();
    let mut state = DecodeState {
        file: path.to_path_buf(),
        graph: None,
        next: 0,
        time_base,
        sar,
    };
    let mut packet = codec::packet::Packet::empty();
    let mut frame = ff::frame::Video::empty();
    while state.next <= last_wanted {
        match packet.read(&mut input) {
            Ok(()) if packet.stream() == index => {
                decoder
                    .send_packet(&packet)
                    .map_err(|e| corrupt(path, format!("decoding frame {}: {e}", state.next)))?;
            }
            Ok(()) => continue,
            Err(ff::Error::Eof) => {
                decoder
                    .send_eof()
                    .map_err(|e| corrupt(path, format!("flushing the decoder: {e}")))?;
                state.drain(&mut decoder, &mut frame, &mut wanted)?;
                break;
            }
            Err(e) => return Err(corrupt(path, format!("reading packet: {e}"))),
        }
        state.drain(&mut decoder, &mut frame, &mut wanted)?;
    }
    indices
        .iter()
        .map(|i| {
            wanted.get(i).cloned().flatten().ok_or_else(|| {
                corrupt(
                    path,
                    format!(
                        "the stream ended after {} decoded frames; frame {i} was requested",
                        state.next
                    ),
                )
            })
        })
        .collect()
}

/// Progress of a sequential decode: which output frame comes next and the conversion graph.
struct DecodeState {
    file: PathBuf,
    graph: Option<RgbGraph>,
    next: usize,
    time_base: Rational,
    sar: Rational,
}

impl DecodeState {
    /// Takes every frame the decoder has ready, converting the wanted ones.
    fn drain(
        &mut self,
        decoder: &mut codec::decoder::Video,
        frame: &mut ff::frame::Video,
        wanted: &mut BTreeMap<usize, Option<RgbImage>>,
    ) -> Result<(), VideoError> {
        loop {
            match decoder.receive_frame(frame) {
                Ok(()) => {}
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(())
                }
                Err(e) => {
                    return Err(corrupt(
                        &self.file,
                        format!("decoding frame {}: {e}", self.next),
                    ))
                }
            }
            if let Some(slot) = wanted.get_mut(&self.next) {
                let key = (frame.width(), frame.height(), frame.format());
                if self.graph.as_ref().is_none_or(|g| g.key != key) {
                    self.graph = Some(
                        RgbGraph::new(frame, self.time_base, self.sar)
                            .map_err(|d| corrupt(&self.file, d))?,
                    );
                }
                if let Some(graph) = self.graph.as_mut() {
                    *slot =
                        Some(graph.convert(frame).map_err(|d| {
                            corrupt(&self.file, format!("frame {}: {d}", self.next))
                        })?);
                }
            }
            self.next += 1;
        }
    }
}
