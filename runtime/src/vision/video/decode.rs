//! Video files → RGB24 frames through FFmpeg, the way decord (the original's reader,
//! `data/video_utils.py:read_frames_decord`) produces them.
//!
//! decord demuxes with libavformat, decodes with libavcodec and converts every frame through a
//! libavfilter graph `buffer → "scale=W:H" → buffersink(pix_fmts = rgb24)` at the stream's own
//! size, so the only pixel operation is swscale's YUV → RGB24 conversion with the frame's colour
//! tags (untagged = BT.601 limited range). We build the very same graph, so the conversion code
//! path, coefficients and rounding are FFmpeg's own.
//!
//! The scale filter's flags are pinned to `DECORD_SWS_FLAGS`: decord 0.6.0 bundles FFmpeg 4.1,
//! whose `scale` filter defaulted to `bilinear`, while FFmpeg ≥ 5.0 leaves the choice to swscale
//! (`bicubic`). The flags only matter where swscale cannot take its unscaled YUV → RGB shortcut
//! and must interpolate chroma: 4:2:0 frames of odd height (their chroma plane has
//! `ceil(h / 2)` rows, which is not exactly half). With the default flags of Debian's FFmpeg 5.1
//! those frames differed from decord's by up to 102 levels; with `bilinear` all ten clips of
//! `oracle/dev/video_decode` are bit-identical (the arithmetic itself did not change).
//!
//! Frame count and order follow decord too: `len(VideoReader)` is the number of packets of the
//! video stream (decord indexes packets up front), frame `i` is the `i`-th frame in presentation
//! order. Frames are decoded sequentially from the start and only the requested ones are kept
//! (inputs are short clips; this is simpler and more robust than seeking). Where a stream has
//! more packets than frames (an MP4 edit list starting after its first frames) the indices past
//! the last frame repeat it, as decord returns them. Rotation metadata turns the frames before
//! the conversion (`rotation.rs`).
//!
//! Known differences from decord 0.6.0 (all where decord itself misbehaves or FFmpeg changed):
//! MPEG-TS clips (decord's seeking returns the last frames and then repeats one, or raises;
//! we return the frames in order), 90°/270° rotation (decord raises; we turn the frames), and
//! the average fps of variable-frame-rate MP4s (FFmpeg 5.1's demuxer computes it over the
//! whole file: 5.0 where decord said 2.0 on the test clip; frames and count are equal).

use super::error::VideoError;
use super::rotation::{stream_rotation, Rotation};
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
    /// Coded frame width and height in pixels (before any rotation metadata is applied).
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

/// Flags of decord's `scale` filter: FFmpeg 4.1's default for the filter (see the module docs).
pub(crate) const DECORD_SWS_FLAGS: &str = "bilinear";

/// decord's conversion graph for frames of one geometry/pixel format.
pub(crate) struct RgbGraph {
    graph: filter::Graph,
    pub(crate) key: (u32, u32, ff::format::Pixel),
}

/// What a conversion graph is built from besides the frame itself: the stream's time base,
/// sample aspect ratio and rotation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GraphParams {
    pub(crate) time_base: Rational,
    pub(crate) sar: Rational,
    pub(crate) rotation: Rotation,
}

impl GraphParams {
    /// The parameters of stream `index` of `input` decoded by `decoder`.
    pub(crate) fn of_stream(
        input: &Input,
        index: usize,
        decoder: &codec::decoder::Video,
    ) -> GraphParams {
        let stream = input.stream(index);
        GraphParams {
            time_base: stream
                .as_ref()
                .map_or(Rational::new(0, 1), |s| s.time_base()),
            sar: decoder.aspect_ratio(),
            rotation: stream.as_ref().map_or(Rotation::None, stream_rotation),
        }
    }
}

impl RgbGraph {
    /// `buffer → [transpose…,] scale=W:H:flags=bilinear → buffersink(rgb24)` for frames like
    /// `frame` (W×H: the frame's size, turned by the rotation).
    pub(crate) fn new(frame: &ff::frame::Video, params: GraphParams) -> Result<Self, String> {
        let GraphParams {
            time_base,
            sar,
            rotation,
        } = params;
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
            .and_then(|p| {
                let (ow, oh) = rotation.turned(w, h);
                let turn = rotation.filters();
                p.parse(&format!("{turn}scale={ow}:{oh}:flags={DECORD_SWS_FLAGS}"))
            })
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
/// A stream can hold more packets than it decodes to frames (an MP4 edit list that starts after
/// the first frames: the demuxer still returns those packets, flagged for discarding). decord
/// counts packets, and for the indices past the last decoded frame it returns that last frame;
/// so do we.
///
/// Fails like [`probe_video`], with [`VideoError::UnsupportedCodec`] when the linked FFmpeg has
/// no decoder for the stream, and with [`VideoError::Corrupt`] when decoding fails or an index
/// is at or past the stream's packet count.
pub fn decode_frames(path: &Path, indices: &[usize]) -> Result<Vec<RgbImage>, VideoError> {
    let mut input = open(path)?;
    let index = video_stream(&input, path)?;
    let (mut decoder, _) = open_decoder(&input, index, path)?;
    let params = GraphParams::of_stream(&input, index, &decoder);

    let Some(&last_wanted) = indices.iter().max() else {
        return Ok(Vec::new());
    };
    let mut state = DecodeState {
        file: path.to_path_buf(),
        wanted: indices.iter().map(|&i| (i, None)).collect(),
        graph: None,
        next: 0,
        params,
        frame: ff::frame::Video::empty(),
        last: None,
    };
    let mut packets = 0usize;
    let mut packet = codec::packet::Packet::empty();
    while state.next <= last_wanted {
        match packet.read(&mut input) {
            Ok(()) if packet.stream() == index => {
                packets += 1;
                decoder
                    .send_packet(&packet)
                    .map_err(|e| corrupt(path, format!("decoding frame {}: {e}", state.next)))?;
            }
            Ok(()) => continue,
            Err(ff::Error::Eof) => {
                decoder
                    .send_eof()
                    .map_err(|e| corrupt(path, format!("flushing the decoder: {e}")))?;
                state.drain(&mut decoder)?;
                state.fill_tail(packets)?;
                break;
            }
            Err(e) => return Err(corrupt(path, format!("reading packet: {e}"))),
        }
        state.drain(&mut decoder)?;
    }
    indices
        .iter()
        .map(|i| {
            state.wanted.get(i).cloned().flatten().ok_or_else(|| {
                corrupt(
                    path,
                    format!(
                        "the stream ended after {} decoded frames ({packets} packets); \
                         frame {i} was requested",
                        state.next
                    ),
                )
            })
        })
        .collect()
}

/// Progress of a sequential decode: the frames asked for, which output frame comes next, the
/// conversion graph and the most recent decoded frame.
struct DecodeState {
    file: PathBuf,
    wanted: BTreeMap<usize, Option<RgbImage>>,
    graph: Option<RgbGraph>,
    next: usize,
    params: GraphParams,
    /// Buffer the decoder writes into.
    frame: ff::frame::Video,
    /// The latest decoded frame (swapped with `frame`, never copied).
    last: Option<ff::frame::Video>,
}

impl DecodeState {
    /// Takes every frame the decoder has ready, converting the wanted ones.
    fn drain(&mut self, decoder: &mut codec::decoder::Video) -> Result<(), VideoError> {
        loop {
            match decoder.receive_frame(&mut self.frame) {
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
            if self.wanted.contains_key(&self.next) {
                let rgb = self.convert_current()?;
                self.wanted.insert(self.next, Some(rgb));
            }
            let done = std::mem::replace(&mut self.frame, ff::frame::Video::empty());
            if let Some(old) = self.last.replace(done) {
                self.frame = old;
            }
            self.next += 1;
        }
    }

    /// decord's answer for indices past the last decoded frame but within the packet count:
    /// that last frame.
    fn fill_tail(&mut self, packets: usize) -> Result<(), VideoError> {
        let missing = self.wanted.iter().any(|(&i, f)| f.is_none() && i < packets);
        let (Some(last), true) = (self.last.take(), missing) else {
            return Ok(());
        };
        let last_index = self.next - 1;
        // Converting hands the frame to the filter graph (it is moved out), so a last frame
        // that was itself wanted is taken from its converted copy.
        let rgb = match self.wanted.get(&last_index).cloned().flatten() {
            Some(rgb) => rgb,
            None => {
                self.frame = last;
                self.next = last_index;
                let rgb = self.convert_current();
                self.next = last_index + 1;
                rgb?
            }
        };
        for (_, slot) in self
            .wanted
            .iter_mut()
            .filter(|(&i, f)| f.is_none() && i < packets)
        {
            *slot = Some(rgb.clone());
        }
        Ok(())
    }

    /// Converts `self.frame` (output frame `self.next`) to RGB, (re)building the graph when the
    /// geometry or pixel format changed.
    fn convert_current(&mut self) -> Result<RgbImage, VideoError> {
        let frame = &self.frame;
        let key = (frame.width(), frame.height(), frame.format());
        if self.graph.as_ref().is_none_or(|g| g.key != key) {
            self.graph =
                Some(RgbGraph::new(frame, self.params).map_err(|d| corrupt(&self.file, d))?);
        }
        let graph = self
            .graph
            .as_mut()
            .ok_or_else(|| corrupt(&self.file, "no conversion graph"))?;
        graph
            .convert(frame)
            .map_err(|d| corrupt(&self.file, format!("frame {}: {d}", self.next)))
    }
}
