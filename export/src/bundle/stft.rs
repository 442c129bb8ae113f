//! The audio front end's file: the checkpoint's STFT kernels, which the Rust front end must
//! use verbatim (docs/model.md §0.1 item 4), and the front end's description for the manifest.

use super::error::ExportError;
use crate::config::ModelConfig;
use crate::graphs::weights::Weights;
use std::path::Path;
use unival_manifest::AudioFrontEnd;

/// The bundle file holding the kernels.
pub const STFT_FILE: &str = "stft_kernels.bin";

/// Scope of the torchlibrosa STFT kernels under the checkpoint root.
const STFT_PREFIX: &str = "encoder.embed_audios.spectrogram_extractor.stft";

/// Writes the DFT·window kernels under `root` as raw little-endian f32 `[2, bins, n_fft]`
/// (real, then imaginary) to `file` and describes the front end.
pub fn write_stft_kernels(
    root: &Weights,
    cfg: &ModelConfig,
    (sample_rate, max_audio_len): (usize, usize),
    file: &Path,
) -> Result<AudioFrontEnd, ExportError> {
    let stft = root.pp(STFT_PREFIX);
    let graph_err = |e| ExportError::graph(root.file(), e);
    let shape = stft.shape("conv_real.weight").map_err(graph_err)?;
    let imag_shape = stft.shape("conv_imag.weight").map_err(graph_err)?;
    let (bins, n_fft) = match shape.as_slice() {
        [b, 1, n] if imag_shape == shape && *b == n / 2 + 1 => (*b, *n),
        _ => {
            return Err(ExportError::invalid(
                root.file(),
                format!(
                    "STFT kernels have shapes {shape:?} and {imag_shape:?}, expected [n_fft/2+1, 1, n_fft]"
                ),
            ))
        }
    };
    let mut bytes = Vec::with_capacity(2 * bins * n_fft * 4);
    for part in ["conv_real.weight", "conv_imag.weight"] {
        for v in stft.get(part, &shape).map_err(graph_err)? {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(file, bytes).map_err(|source| ExportError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let hop = cfg.hop_size;
    Ok(AudioFrontEnd {
        sample_rate,
        window_size: n_fft,
        hop_size: hop,
        mel_bins: cfg.mel_bins,
        // torchlibrosa's settings in the original's AUDIO_CFG (docs/model.md §2.4).
        fmin: 50.0,
        fmax: 14000.0,
        frames: 1 + max_audio_len / hop.max(1),
        stft_kernels: STFT_FILE.to_string(),
    })
}
