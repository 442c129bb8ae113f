//! Test support: a capture "microphone" without a sound card, so that the real cpal → ALSA
//! capture path runs in tests and CI.
//!
//! [`AlsaFifo::create`] writes an ALSA configuration defining a capture PCM named
//! [`AlsaFifo::DEVICE`]: ALSA's `file` plugin over the `null` PCM, whose `infile` is a FIFO we
//! create, wrapped in a `plug` PCM whose slave is fixed to the FIFO's format (S16_LE, the given
//! rate and channels), so cpal may open it at any format and `plug` converts. alsa-lib is pointed
//! at that configuration with `ALSA_CONFIG_PATH` ([`AlsaFifo::env`]; the file first includes the
//! system `alsa.conf`), which changes nothing else in the process (unlike a fake `HOME` with an
//! `.asoundrc`).
//!
//! Why the writes come in periods: the `file` plugin asks the `null` PCM for a period of
//! frames (it always has them, at once) and then `read()`s up to as many bytes from the FIFO; a
//! short read would leave the rest of the period stale. So the FIFO is written in blocks of
//! exactly one period ([`AlsaFifo::period_frames`], one `write` each), and the period is pinned:
//! with cpal's default buffer size alsa-lib picks the shortest period allowed, which the
//! configuration sets to [`AlsaFifo::PERIOD_US`] with `defaults.pcm.minperiodtime`. Every read
//! then finds whole periods or blocks until one arrives, and writing in real time
//! ([`FifoWriter::write`]) paces capture like a real microphone.
//!
//! This module keeps the FIFO open for reading and writing itself, so ALSA's `open()` of the
//! `infile` never blocks and the pipe outlives cpal's probing opens; capture stalls (it does
//! not see an end of file) when nothing is written.

use std::ffi::{CString, OsString};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A FIFO-fed ALSA capture device; see the module documentation.
#[derive(Debug)]
pub struct AlsaFifo {
    /// Samples per second of the FIFO's data.
    pub rate: u32,
    /// Interleaved channels of the FIFO's data.
    pub channels: u16,
    /// The FIFO.
    pub fifo: PathBuf,
    /// The ALSA configuration file (`ALSA_CONFIG_PATH`).
    pub config: PathBuf,
    /// Open read+write: keeps the pipe alive and ALSA's open from blocking.
    keeper: File,
}

/// The system's top-level ALSA configuration, which the test configuration includes.
pub fn system_alsa_conf() -> Option<PathBuf> {
    let dir = std::env::var_os("ALSA_CONFIG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/alsa"));
    Some(dir.join("alsa.conf")).filter(|p| p.is_file())
}

/// The ALSA configuration text defining [`AlsaFifo::DEVICE`] over `fifo`.
pub fn alsa_config_text(system_conf: &Path, fifo: &Path, rate: u32, channels: u16) -> String {
    format!(
        r#"# unival test microphone: capture reads raw S16_LE frames from a FIFO.
<{system}>

# alsa-lib picks the shortest period allowed: pin it to the FIFO writer's block.
defaults.pcm.minperiodtime {period_us}

pcm.{name}_raw {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{fifo}"
    format "raw"
}}

pcm.{name} {{
    type plug
    slave {{
        pcm "{name}_raw"
        format S16_LE
        rate {rate}
        channels {channels}
    }}
    hint {{
        show on
        description "unival FIFO capture"
    }}
}}
"#,
        system = system_conf.display(),
        name = AlsaFifo::DEVICE,
        fifo = fifo.display(),
        period_us = AlsaFifo::PERIOD_US,
    )
}

impl AlsaFifo {
    /// The PCM name to open: `mic:unival_fifo`.
    pub const DEVICE: &'static str = "unival_fifo";
    /// Microseconds per ALSA period and per FIFO write (10 ms).
    pub const PERIOD_US: u32 = 10_000;

    /// Frames per ALSA period and per FIFO write.
    pub fn period_frames(&self) -> usize {
        (u64::from(self.rate) * u64::from(Self::PERIOD_US) / 1_000_000) as usize
    }

    /// Creates the FIFO and the configuration in `dir` for S16_LE data at `rate` Hz (a
    /// multiple of 100, so that a period is a whole number of frames) with `channels` channels
    /// (1 to 8). `Err` when mkfifo fails or the system has no `alsa.conf` (alsa-lib is not
    /// installed).
    pub fn create(dir: &Path, rate: u32, channels: u16) -> std::io::Result<AlsaFifo> {
        if !(1..=8).contains(&channels) || rate == 0 || !rate.is_multiple_of(100) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{rate} Hz x {channels} channels: need 1..=8 channels and a rate that is a multiple of 100"),
            ));
        }
        let system = system_alsa_conf().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no alsa.conf in /usr/share/alsa (install libasound2)",
            )
        })?;
        let fifo = dir.join("unival_mic.fifo");
        let c_path = CString::new(fifo.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `c_path` is a valid NUL-terminated path that outlives the call.
        if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let keeper = OpenOptions::new().read(true).write(true).open(&fifo)?;
        let config = dir.join("unival_asound.conf");
        std::fs::write(&config, alsa_config_text(&system, &fifo, rate, channels))?;
        Ok(AlsaFifo {
            rate,
            channels,
            fifo,
            config,
            keeper,
        })
    }

    /// Environment variables that make alsa-lib (in this process or a child) see the device.
    pub fn env(&self) -> Vec<(String, OsString)> {
        vec![(
            "ALSA_CONFIG_PATH".to_string(),
            self.config.as_os_str().to_os_string(),
        )]
    }

    /// Sets [`AlsaFifo::env`] in this process (before cpal is first used by the test).
    pub fn apply_env(&self) {
        for (key, value) in self.env() {
            std::env::set_var(key, value);
        }
    }

    /// A writer into the FIFO (it may be moved to another thread).
    pub fn writer(&self) -> std::io::Result<FifoWriter> {
        Ok(FifoWriter {
            file: self.keeper.try_clone()?,
            period: self.period_frames(),
            rate: self.rate,
            channels: self.channels,
            pending: Vec::new(),
            start: None,
            frames: 0,
        })
    }
}

/// Writes mono samples into the FIFO as S16_LE frames (the sample repeated on every channel),
/// in whole periods, paced in real time.
#[derive(Debug)]
pub struct FifoWriter {
    file: File,
    period: usize,
    rate: u32,
    channels: u16,
    /// Samples not yet making up a whole period.
    pending: Vec<f32>,
    start: Option<Instant>,
    frames: u64,
}

impl FifoWriter {
    /// Queues `mono` (values in [-1, 1]) and writes every whole period, each when it is due in
    /// real time from the first write. A trailing partial period waits for the next call (or
    /// [`FifoWriter::finish`]).
    pub fn write(&mut self, mono: &[f32]) -> std::io::Result<()> {
        self.pending.extend_from_slice(mono);
        let period = self.period;
        let whole = self.pending.len() / period * period;
        let start = *self.start.get_or_insert_with(Instant::now);
        let mut block = Vec::with_capacity(period * 2 * usize::from(self.channels));
        for samples in self.pending[..whole].chunks_exact(period) {
            block.clear();
            for &s in samples {
                let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
                for _ in 0..self.channels {
                    block.extend_from_slice(&v.to_le_bytes());
                }
            }
            // Due when its first frame would be captured, so the reader never starves.
            let due = start + Duration::from_secs_f64(self.frames as f64 / f64::from(self.rate));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            self.file.write_all(&block)?;
            self.frames += period as u64;
        }
        self.pending.drain(..whole);
        Ok(())
    }

    /// Pads the pending partial period with zeros and writes it.
    pub fn finish(&mut self) -> std::io::Result<()> {
        let period = self.period;
        let rest = self.pending.len() % period;
        if rest > 0 {
            self.write(&vec![0.0; period - rest])?;
        }
        Ok(())
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }
}

/// `seconds` of a sine at `hz` with peak `amplitude`, at `rate` Hz.
pub fn tone(hz: f64, rate: u32, seconds: f64, amplitude: f32) -> Vec<f32> {
    let n = (f64::from(rate) * seconds).round() as usize;
    (0..n)
        .map(|i| {
            amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin() as f32
        })
        .collect()
}

/// Root-mean-square of `x` (0 for an empty slice).
pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

/// Frequency estimated from sign changes: crossings / 2 / duration.
pub fn zero_crossing_hz(x: &[f32], rate: u32) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let crossings = x
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    crossings as f64 / 2.0 / (x.len() as f64 / f64::from(rate))
}

/// Whether this machine can run the ALSA FIFO tests; when not, prints a loud SKIPPED line (and
/// panics under `CI=true`, where they must run).
pub fn available(test: &str) -> bool {
    if system_alsa_conf().is_some() {
        return true;
    }
    let msg = format!(
        "SKIPPED {test}: no ALSA configuration (/usr/share/alsa/alsa.conf); install libasound2"
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
    false
}
