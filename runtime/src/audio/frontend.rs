//! The log-mel front end of the audio encoder (docs/model.md §2.4 steps 2–3 with §0.1 item 4):
//! torchlibrosa's `Spectrogram` + `LogmelFilterBank` as the original runs them.
//!
//! 1. Reflect-pad `n_fft/2` samples on each side (`center=True`, `pad_mode="reflect"`).
//! 2. Frames of `n_fft` every `hop` samples; real and imaginary parts are dot products with the
//!    checkpoint's DFT kernels `conv_{real,imag}.weight [n_fft/2+1, 1, n_fft]`, which already
//!    include the periodic Hann window and are fp16-rounded in fp16-trained files. They are used
//!    verbatim: an exact FFT differs from what the model saw by up to 27 dB in quiet bins.
//! 3. `power = re² + im²`, `mel = power · melWᵀ` ([`super::mel_filterbank`], librosa 0.9.2
//!    Slaney), `10·log10(max(mel, 1e-10))` (ref 1, no top-dB clamp).
//!
//! Inputs, kernels, filterbank and output are `f32` as in the original; the products and sums
//! run in f64 by default or f32 on request ([`Precision`]). Step 2 is one matrix product
//! `frames [T, n_fft] × kernelsᵀ [n_fft, 2·(n_fft/2+1)]` through ndarray's `general_mat_mul`,
//! i.e. the `matrixmultiply` crate's cache-blocked SIMD dgemm/sgemm (pure Rust, no BLAS), split
//! by rows over up to 8 threads: about 2.5 GFLOP for a 10 s clip at hop 200.

use super::error::AudioError;
use super::mel::mel_filterbank;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array4, ArrayView2, Axis, LinalgScalar};
use std::path::Path;

/// Floor of the mel power before the logarithm (torchlibrosa `amin`): silence gives −100 dB.
pub const AMIN: f32 = 1e-10;

/// Arithmetic of the STFT and mel products.
///
/// The original runs them in f32 (oneDNN convolution, then `torch.matmul`) in a summation order
/// that cannot be reproduced, so bins far below their frame's peak carry f32 rounding noise in
/// the reference itself. [`Precision::F64`] computes the same formula with f64 products and sums
/// (the exact value the original approximates); it is the default because it lands closer to
/// the oracle's `log_mel.npy` (numbers in the module tests) at about twice the cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 products and sums, like the original (sgemm).
    F32,
    /// f64 products and sums (dgemm), rounded to f32 at the end.
    #[default]
    F64,
}

/// The float types [`LogMel`] can compute in.
trait Real: LinalgScalar + PartialOrd + Send + Sync {
    fn from_f32(v: f32) -> Self;
    /// `10·log10(max(mel, 1e-10))` rounded to f32.
    fn to_db(self) -> f32;
}

impl Real for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_db(self) -> f32 {
        10.0 * self.max(AMIN).log10()
    }
}

impl Real for f64 {
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    fn to_db(self) -> f32 {
        (10.0 * self.max(f64::from(AMIN)).log10()) as f32
    }
}

/// Front-end settings; [`Default`] is what UnIVAL's audio checkpoints use (`data/audio_utils.py`
/// `AUDIO_CFG` with `hop_size` 200 and `mel_bins` 64 from the model args).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogMelConfig {
    /// Window / DFT length (`window_size`), 1024.
    pub n_fft: usize,
    /// Frame step in samples (`hop_size`), 200 in audio checkpoints.
    pub hop: usize,
    /// Input sample rate in Hz, 48000.
    pub sample_rate: u32,
    /// Number of mel bands (`mel_bins`), 64.
    pub mel_bins: usize,
    /// Lowest mel filter edge in Hz, 50.
    pub fmin: f64,
    /// Highest mel filter edge in Hz, 14000.
    pub fmax: f64,
    /// Arithmetic of the products (default [`Precision::F64`]).
    pub precision: Precision,
    /// Threads for the STFT product; 0 (default) = the available cores, at most 8. The result
    /// is the same for any value.
    pub threads: usize,
}

impl Default for LogMelConfig {
    fn default() -> Self {
        Self {
            n_fft: 1024,
            hop: 200,
            sample_rate: 48000,
            mel_bins: 64,
            fmin: 50.0,
            fmax: 14000.0,
            precision: Precision::default(),
            threads: 0,
        }
    }
}

impl LogMelConfig {
    /// Frequency bins of the one-sided DFT, `n_fft/2 + 1`.
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Frames produced for `len` samples: `1 + len/hop` (centred frames).
    pub fn frames(&self, len: usize) -> usize {
        1 + len / self.hop.max(1)
    }
}

/// A ready-to-run log-mel front end (kernels and filterbank prepared once).
#[derive(Debug, Clone)]
pub struct LogMel {
    cfg: LogMelConfig,
    /// `[2·n_bins, n_fft]`: the real kernels, then the imaginary ones.
    kernels: Array2<f32>,
    /// `melW` as `[n_bins, mel_bins]`.
    mel_t: Array2<f32>,
}

impl LogMel {
    /// Builds the front end from the checkpoint's DFT kernels, each `[n_fft/2+1, n_fft]`
    /// row-major (`conv_real.weight` / `conv_imag.weight` without the middle axis of size 1).
    ///
    /// Fails with [`AudioError::KernelShape`] for wrong kernel sizes and
    /// [`AudioError::InvalidConfig`] for an odd or zero `n_fft`, a zero `hop`, or a mel range
    /// [`mel_filterbank`] rejects.
    pub fn new(
        kernels_real: Vec<f32>,
        kernels_imag: Vec<f32>,
        cfg: LogMelConfig,
    ) -> Result<LogMel, AudioError> {
        if cfg.n_fft < 2 || !cfg.n_fft.is_multiple_of(2) || cfg.hop == 0 {
            return Err(AudioError::InvalidConfig {
                detail: format!(
                    "STFT needs an even n_fft >= 2 and hop >= 1 (got n_fft {}, hop {})",
                    cfg.n_fft, cfg.hop
                ),
            });
        }
        let (n_bins, n_fft) = (cfg.n_bins(), cfg.n_fft);
        let expected = n_bins * n_fft;
        for (which, k) in [("real", &kernels_real), ("imag", &kernels_imag)] {
            if k.len() != expected {
                return Err(AudioError::KernelShape {
                    which,
                    expected,
                    actual: k.len(),
                });
            }
        }
        let mut all = kernels_real;
        all.extend_from_slice(&kernels_imag);
        let kernels = Array2::from_shape_vec((2 * n_bins, n_fft), all).map_err(|e| {
            AudioError::InvalidConfig {
                detail: format!("kernel matrix: {e}"),
            }
        })?;
        let mel = mel_filterbank(cfg.sample_rate, n_fft, cfg.mel_bins, cfg.fmin, cfg.fmax)?;
        let mel_t = Array2::from_shape_vec((cfg.mel_bins, n_bins), mel)
            .map_err(|e| AudioError::InvalidConfig {
                detail: format!("mel matrix: {e}"),
            })?
            .reversed_axes()
            .as_standard_layout()
            .into_owned();
        Ok(LogMel {
            cfg,
            kernels,
            mel_t,
        })
    }

    /// Loads the kernels from the bundle's raw file: little-endian f32 `[2, n_fft/2+1, n_fft]`
    /// (real, then imaginary). Fails with [`AudioError::NotFound`]/[`AudioError::Io`], with
    /// [`AudioError::KernelFileSize`] when the size does not match `cfg`, or like [`LogMel::new`].
    pub fn from_kernel_file(path: &Path, cfg: LogMelConfig) -> Result<LogMel, AudioError> {
        let file = path.to_path_buf();
        let bytes = std::fs::read(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => AudioError::NotFound { file: file.clone() },
            _ => AudioError::Io {
                file: file.clone(),
                source,
            },
        })?;
        let per = cfg.n_bins() * cfg.n_fft;
        let expected = 2 * per as u64 * 4;
        if bytes.len() as u64 != expected {
            return Err(AudioError::KernelFileSize {
                file,
                expected,
                actual: bytes.len() as u64,
            });
        }
        let mut values: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let imag = values.split_off(per);
        LogMel::new(values, imag, cfg)
    }

    /// The settings this front end was built with.
    pub fn config(&self) -> &LogMelConfig {
        &self.cfg
    }

    /// Log-mel spectrogram of a mono waveform at `sample_rate`: `[1, 1, frames, mel_bins]` f32 in
    /// dB, `frames = 1 + len/hop` (2401 for the model's 480000 samples at hop 200). Fails with
    /// [`AudioError::WaveformTooShort`] when `len <= n_fft/2` (reflect padding impossible).
    pub fn compute(&self, wave: &[f32]) -> Result<Array4<f32>, AudioError> {
        let (n_fft, hop) = (self.cfg.n_fft, self.cfg.hop);
        let pad = n_fft / 2;
        let len = wave.len();
        if len <= pad {
            return Err(AudioError::WaveformTooShort { len, n_fft });
        }
        let padded = reflect_pad(wave, pad);
        let n_frames = self.cfg.frames(len);
        // Frames are overlapping windows of `padded`, materialised once (T·n_fft floats).
        let mut buf = Vec::with_capacity(n_frames * n_fft);
        for t in 0..n_frames {
            buf.extend_from_slice(&padded[t * hop..t * hop + n_fft]);
        }
        let frames = Array2::from_shape_vec((n_frames, n_fft), buf).map_err(|e| {
            AudioError::InvalidConfig {
                detail: format!("frame matrix: {e}"),
            }
        })?;
        let mel = match self.cfg.precision {
            Precision::F32 => self.log_mel::<f32>(&frames),
            Precision::F64 => self.log_mel::<f64>(&frames),
        };
        let mel_bins = self.cfg.mel_bins;
        mel.into_shape_with_order((1, 1, n_frames, mel_bins))
            .map_err(|e| AudioError::InvalidConfig {
                detail: format!("log-mel shape: {e}"),
            })
    }

    /// `frames [T, n_fft]` → log-mel `[T, mel_bins]`, every product and sum in `T`.
    fn log_mel<T: Real>(&self, frames: &Array2<f32>) -> Array2<f32> {
        let n_bins = self.cfg.n_bins();
        let kernels = self.kernels.mapv(T::from_f32);
        let frames = frames.mapv(T::from_f32);
        let mut spec = Array2::<T>::zeros((frames.nrows(), 2 * n_bins));
        // Row blocks of the product on separate threads; each output element is computed the
        // same way whatever the split, so the result does not depend on the thread count.
        let rows = frames.nrows().div_ceil(self.threads()).max(1);
        std::thread::scope(|scope| {
            for (f, mut out) in frames
                .axis_chunks_iter(Axis(0), rows)
                .zip(spec.axis_chunks_iter_mut(Axis(0), rows))
            {
                let k = kernels.t();
                scope.spawn(move || general_mat_mul(T::one(), &f, &k, T::zero(), &mut out));
            }
        });
        let mut power = Array2::<T>::zeros((frames.nrows(), n_bins));
        for (p_row, s_row) in power.rows_mut().into_iter().zip(spec.rows()) {
            let (re, im) = s_row.split_at(Axis(0), n_bins);
            for ((p, &r), &i) in p_row.into_iter().zip(re).zip(im) {
                *p = r * r + i * i;
            }
        }
        let mel_t = self.mel_t.mapv(T::from_f32);
        let mut mel = Array2::<T>::zeros((frames.nrows(), self.cfg.mel_bins));
        general_mat_mul(T::one(), &power, &mel_t, T::zero(), &mut mel);
        mel.mapv(T::to_db)
    }

    /// Threads for the STFT product: [`LogMelConfig::threads`], or the available cores (at most
    /// 8) when that is 0.
    fn threads(&self) -> usize {
        match self.cfg.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
            n => n,
        }
    }

    /// The kernels as `[2·n_bins, n_fft]` (real rows, then imaginary rows), e.g. for tests.
    pub fn kernels(&self) -> ArrayView2<'_, f32> {
        self.kernels.view()
    }
}

/// `torch.nn.functional.pad(x, (pad, pad), mode="reflect")`: mirrored around the first and last
/// sample without repeating them. Requires `x.len() > pad`.
fn reflect_pad(x: &[f32], pad: usize) -> Vec<f32> {
    let len = x.len();
    let mut out = Vec::with_capacity(len + 2 * pad);
    out.extend((1..=pad).rev().map(|i| x[i]));
    out.extend_from_slice(x);
    out.extend((0..pad).map(|i| x[len - 2 - i]));
    out
}

// These tests read the oracle WAVs (feature `audio`).
#[cfg(all(test, feature = "audio"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "frontend_tests.rs"]
mod tests;
