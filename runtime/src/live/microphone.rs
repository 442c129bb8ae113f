//! A microphone through `cpal` (ALSA on Linux): whatever sample format, rate and channel count
//! the device offers by default, mixed down to mono `f32` at the device's own rate (the audio
//! pipeline resamples to the model's rate).
//!
//! cpal calls us back on its own audio thread; the callback only converts and appends to a
//! bounded buffer ([`MicOptions::buffer_seconds`]). When the consumer falls behind, the oldest
//! samples are dropped and counted ([`MicrophoneSource::dropped_samples`]), so memory never
//! grows. A stream error (device unplugged) or a device that stops delivering for
//! [`MicOptions::stall_timeout`] becomes [`LiveError::Lost`].

use super::devices::find_input_device;
use super::{AudioChunk, AudioSource, LiveError, Stamp};
use cpal::traits::{DeviceTrait, StreamTrait};
use cpal::{Data, FromSample, Sample, SampleFormat, SizedSample, I24, U24};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How a microphone is opened.
#[derive(Debug, Clone, PartialEq)]
pub struct MicOptions {
    /// Seconds of audio kept between the device and [`AudioSource::next_chunk`]; older samples
    /// are dropped when the consumer falls further behind. 2 s.
    pub buffer_seconds: f64,
    /// Seconds per delivered chunk (at least this much is waited for). 0.1 s.
    pub chunk_seconds: f64,
    /// A device that delivers nothing for this long counts as lost. 5 s.
    pub stall_timeout: Duration,
}

impl Default for MicOptions {
    fn default() -> Self {
        MicOptions {
            buffer_seconds: 2.0,
            chunk_seconds: 0.1,
            stall_timeout: Duration::from_secs(5),
        }
    }
}

/// Mixes interleaved frames of `channels` samples down to their mean (a trailing partial frame
/// is ignored). `channels == 0` yields nothing.
pub fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels == 0 {
        return Vec::new();
    }
    if channels == 1 {
        return interleaved.to_vec();
    }
    let scale = 1.0 / channels as f32;
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() * scale)
        .collect()
}

/// Interleaved samples of any cpal sample type to mono `f32` (cpal's own scaling to [-1, 1]).
fn slice_to_mono<T>(samples: &[T], channels: usize) -> Vec<f32>
where
    T: Sample,
    f32: FromSample<T>,
{
    let as_f32: Vec<f32> = samples.iter().map(|&s| s.to_sample::<f32>()).collect();
    downmix(&as_f32, channels)
}

fn mono_of<T>(data: &Data, channels: usize) -> Option<Vec<f32>>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    Some(slice_to_mono(data.as_slice::<T>()?, channels))
}

/// Converts one callback's buffer in any integer or float format to mono `f32` in [-1, 1].
/// `None` for formats cpal can deliver but microphones do not use (DSD).
pub fn data_to_mono(data: &Data, channels: usize) -> Option<Vec<f32>> {
    match data.sample_format() {
        SampleFormat::I8 => mono_of::<i8>(data, channels),
        SampleFormat::I16 => mono_of::<i16>(data, channels),
        SampleFormat::I24 => mono_of::<I24>(data, channels),
        SampleFormat::I32 => mono_of::<i32>(data, channels),
        SampleFormat::I64 => mono_of::<i64>(data, channels),
        SampleFormat::U8 => mono_of::<u8>(data, channels),
        SampleFormat::U16 => mono_of::<u16>(data, channels),
        SampleFormat::U24 => mono_of::<U24>(data, channels),
        SampleFormat::U32 => mono_of::<u32>(data, channels),
        SampleFormat::U64 => mono_of::<u64>(data, channels),
        SampleFormat::F32 => mono_of::<f32>(data, channels),
        SampleFormat::F64 => mono_of::<f64>(data, channels),
        _ => None,
    }
}

/// The bounded buffer between cpal's callback and the consumer.
#[derive(Debug)]
struct Buffer {
    samples: VecDeque<f32>,
    capacity: usize,
    dropped: u64,
    overruns: u64,
    /// When the newest sample arrived.
    last: Option<Stamp>,
    /// Set by the error callback: the stream is gone.
    lost: Option<String>,
}

impl Buffer {
    fn new(capacity: usize) -> Buffer {
        Buffer {
            samples: VecDeque::with_capacity(capacity),
            capacity,
            dropped: 0,
            overruns: 0,
            last: None,
            lost: None,
        }
    }

    /// Appends `mono`, dropping (and counting) the oldest samples beyond the capacity.
    fn push(&mut self, mono: &[f32], at: Stamp) {
        let tail = &mono[mono.len().saturating_sub(self.capacity)..];
        self.dropped += (mono.len() - tail.len()) as u64;
        let excess = (self.samples.len() + tail.len()).saturating_sub(self.capacity);
        self.samples.drain(..excess);
        self.dropped += excess as u64;
        self.samples.extend(tail);
        self.last = Some(at);
    }
}

#[derive(Debug)]
struct Shared {
    buffer: Mutex<Buffer>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A panic on the audio thread must not take the consumer down with it.
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The microphone audio source.
pub struct MicrophoneSource {
    name: String,
    id: String,
    rate: u32,
    channels: u16,
    format: SampleFormat,
    chunk: usize,
    stall_timeout: Duration,
    shared: Arc<Shared>,
    /// Kept alive for as long as the source: dropping it stops capture.
    _stream: cpal::Stream,
}

fn open_error(name: &str, reason: impl std::fmt::Display) -> LiveError {
    LiveError::Open {
        source_name: format!("microphone `{name}`"),
        reason: reason.to_string(),
    }
}

impl MicrophoneSource {
    /// Opens the default input device (`None`) or the one `selector` names: an index or a name
    /// as `unival devices` lists them (see [`super::devices::find_input_device`]).
    pub fn open(selector: Option<&str>) -> Result<MicrophoneSource, LiveError> {
        MicrophoneSource::open_with(selector, &MicOptions::default())
    }

    /// [`MicrophoneSource::open`] with explicit buffer, chunk and stall settings.
    pub fn open_with(
        selector: Option<&str>,
        opts: &MicOptions,
    ) -> Result<MicrophoneSource, LiveError> {
        let wanted = selector.unwrap_or("default");
        if !(opts.buffer_seconds > 0.0 && opts.chunk_seconds > 0.0)
            || opts.chunk_seconds > opts.buffer_seconds
        {
            return Err(LiveError::BadSpec {
                spec: format!("{opts:?}"),
                reason: "need 0 < chunk_seconds <= buffer_seconds".into(),
            });
        }
        let (device, id, name) = find_input_device(selector)?;
        let config = device
            .default_input_config()
            .map_err(|e| open_error(wanted, format!("{id}: no input configuration: {e}")))?;
        let rate = config.sample_rate();
        let channels = config.channels();
        let format = config.sample_format();
        if rate == 0 || channels == 0 {
            return Err(open_error(
                wanted,
                format!("{id} reports {rate} Hz, {channels} channels"),
            ));
        }
        let capacity = ((f64::from(rate) * opts.buffer_seconds) as usize).max(1);
        let chunk = ((f64::from(rate) * opts.chunk_seconds) as usize).clamp(1, capacity);
        let shared = Arc::new(Shared {
            buffer: Mutex::new(Buffer::new(capacity)),
            ready: Condvar::new(),
        });
        let on_data = {
            let shared = Arc::clone(&shared);
            let ch = usize::from(channels);
            move |data: &Data, _: &cpal::InputCallbackInfo| {
                let Some(mono) = data_to_mono(data, ch) else {
                    return;
                };
                shared.lock().push(&mono, Stamp::now());
                shared.ready.notify_all();
            }
        };
        let on_error = {
            let shared = Arc::clone(&shared);
            move |err: cpal::Error| {
                let mut buf = shared.lock();
                match err.kind() {
                    // cpal restarts the stream itself after an overrun; only count it.
                    cpal::ErrorKind::Xrun => buf.overruns += 1,
                    cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied => {}
                    _ => buf.lost = Some(err.to_string()),
                }
                drop(buf);
                shared.ready.notify_all();
            }
        };
        let stream = device
            .build_input_stream_raw(config.config(), format, on_data, on_error, None)
            .map_err(|e| open_error(wanted, format!("{id}: {e}")))?;
        stream
            .play()
            .map_err(|e| open_error(wanted, format!("{id}: starting capture: {e}")))?;
        Ok(MicrophoneSource {
            name,
            id,
            rate,
            channels,
            format,
            chunk,
            stall_timeout: opts.stall_timeout,
            shared,
            _stream: stream,
        })
    }

    /// Samples dropped because the consumer fell more than the buffer behind.
    pub fn dropped_samples(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// Overruns the device reported (samples it lost before we saw them).
    pub fn overruns(&self) -> u64 {
        self.shared.lock().overruns
    }

    /// The device's channel count and sample format, e.g. `(2, F32)` (mixed down to mono).
    pub fn native_format(&self) -> (u16, SampleFormat) {
        (self.channels, self.format)
    }

    fn lost(&self, reason: String) -> LiveError {
        LiveError::Lost {
            source_name: format!("microphone {}", self.id),
            reason,
        }
    }
}

impl AudioSource for MicrophoneSource {
    fn describe(&self) -> String {
        format!(
            "microphone {} ({}), {} Hz, {} ch {}",
            self.id, self.name, self.rate, self.channels, self.format
        )
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn next_chunk(&mut self) -> Result<Option<AudioChunk>, LiveError> {
        let started = Instant::now();
        let mut buf = self.shared.lock();
        loop {
            if let Some(reason) = buf.lost.clone() {
                return Err(self.lost(reason));
            }
            if buf.samples.len() >= self.chunk {
                let samples: Vec<f32> = buf.samples.drain(..).collect();
                let captured = buf.last.unwrap_or_else(Stamp::now);
                return Ok(Some(AudioChunk { samples, captured }));
            }
            let last = buf.last.map_or(started, |s| s.at.max(started));
            let waited = last.elapsed();
            if waited >= self.stall_timeout {
                return Err(self.lost(format!(
                    "no samples for {:.1} s",
                    self.stall_timeout.as_secs_f64()
                )));
            }
            let (guard, _) = self
                .shared
                .ready
                .wait_timeout(buf, self.stall_timeout - waited)
                .unwrap_or_else(|e| e.into_inner());
            buf = guard;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "microphone_tests.rs"]
mod tests;
