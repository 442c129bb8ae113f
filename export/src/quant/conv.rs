//! Integer convolutions for the ResNet backbones (issue 6, "Precision"; docs/model.md §2.2:
//! BatchNorm is already folded into each conv's weight and bias by `graphs::resnet`).
//!
//! Each selected 2-D `Conv(x, W, b)` becomes
//!
//! ```text
//! DynamicQuantizeLinear(x)            → x_q (uint8), x_scale, x_zero   (once per input tensor)
//! ConvInteger(x_q, W_q, x_zero, 128)  → int32 accumulators
//! DequantizeLinear(acc, x_scale · w_scale[m], axis 1) → Add(b[m])  → y (the old output name)
//! ```
//!
//! ONNX Runtime 1.22's CPU `ConvInteger` kernel registers uint8 weights only, with one weight
//! zero point per tensor (`conv_integer.cc`). So the weight is quantised symmetrically per
//! output channel (`scale[m] = max |W[m]| / 127`, codes in `-127..=127`, like
//! [`pack::quantize_per_column`](super::pack::quantize_per_column)) and stored as `code + 128`
//! with the single zero point 128; the per-channel scales are applied after the integer
//! product, where they commute with the sum. Padding reads the activation's zero point, i.e.
//! exact zeros. Activations are quantised per tensor and per call (uint8, asymmetric), so no
//! calibration data is needed. `DequantizeLinear` (int32, per-axis scale) does the `Cast` and
//! the scale `Mul` in one pass over the output.
//!
//! Measured on the base model (480², 2-core Cascade Lake with VNNI, ORT 1.22.1, a shared and
//! loaded machine, perception graphs timed interleaved in one process): `ConvInteger` runs the
//! convolutions ≈ 1.9× faster than ORT's fp32 NCHWc `Conv` (the CPU kernel is MLAS's u8u8
//! GEMM after an uint8 im2col; VNNI serves only u8s8), but the per-conv elementwise passes that
//! fp32 `Conv` fuses (bias, ReLU, residual add) or does not need (activation quantisation,
//! dequantisation) eat most of it: ≈ 45 % of the integer graph's time. Perception speed-up over
//! the default int8 bundle: all convs 1.10–1.16×, 3×3 only 1.01–1.09×, 1×1 only 1.04×. Logit
//! error against fp32 (`unival compare`, teacher forcing, 10 images; default int8 1.87e-2): all
//! convs 2.35e-2, 3×3 only 2.05e-2, 1×1 only 2.15e-2, each over the 2e-2 target. Hence
//! integer convs are opt-in (`--quantize-convs`), not part of the default int8 export.

use super::matrix::transpose_matrix;
use super::pack::quantize_per_column;
use super::QuantError;

/// The weight zero point of every quantised conv (codes are stored `code + 128`).
pub const WEIGHT_ZERO_POINT: u8 = 128;

/// Which convolutions are wired in integer form ([`crate::onnx::conv::conv`]), by kernel size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKernels {
    /// Every 2-D convolution.
    All,
    /// 1×1 convolutions only (the Bottleneck's channel projections and downsamples).
    Pointwise,
    /// Convolutions with a kernel wider than 1×1 (the Bottleneck's 3×3 and the 7×7 stem).
    Spatial,
}

impl ConvKernels {
    /// Whether a kernel of size `kernel` (`[kh, kw]`) is selected.
    pub fn admits(self, kernel: &[i64]) -> bool {
        let pointwise = kernel.iter().all(|&k| k == 1);
        match self {
            ConvKernels::All => true,
            ConvKernels::Pointwise => pointwise,
            ConvKernels::Spatial => !pointwise,
        }
    }
}

/// Which convolutions the integer form is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvOptions {
    pub kernels: ConvKernels,
    /// Convolutions with fewer input channels than this stay float (the 3-channel stem has too
    /// little reduction depth to gain and its input is the normalised image).
    pub min_in_channels: usize,
}

/// The stored uint8 codes `[M, C, kh, kw]` (`code + 128`) and the `[M]` per-channel scales of
/// the float weight `w` of shape `dims`. Fails on NaN or infinite values.
pub fn conv_codes(
    what: &str,
    w: &[f32],
    dims: &[usize],
) -> Result<(Vec<u8>, Vec<f32>), QuantError> {
    let m = dims.first().copied().unwrap_or(0);
    let k = dims.iter().skip(1).product::<usize>();
    // `[M, K]` rows are output channels; `quantize_per_column` scales the columns of `[K, M]`.
    let q = quantize_per_column(what, &transpose_matrix(w, m, k), k, m)?;
    let stored: Vec<u8> = q
        .codes
        .iter()
        .map(|&c| (i16::from(c) + i16::from(WEIGHT_ZERO_POINT)) as u8)
        .collect();
    Ok((transpose_matrix(&stored, k, m), q.scales))
}

/// Name of a weight's stored codes.
pub fn codes_name(w: &str) -> String {
    format!("{w}.qu8")
}

/// Name of a weight's zero point.
pub fn zero_name(w: &str) -> String {
    format!("{w}.qu8_zero")
}

/// Name of a weight's per-channel scales.
pub fn scales_name(w: &str) -> String {
    format!("{w}.qu8_scales")
}

/// Name of a bias reshaped to `[M, 1, 1]` for the add after `DequantizeLinear`.
pub fn bias_name(b: &str) -> String {
    format!("{b}.m11")
}
