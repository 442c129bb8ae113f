//! Python-free weight quantisation at build time (issue 6, "Precision"; issue 12): the options
//! and the numerics. The graph builder holds the options in its
//! [`WeightFormat`](crate::onnx::WeightFormat), and the emitters that wire a weight consult them:
//! every `Linear` product becomes a quantised operator ([`crate::onnx::ops::linear`]), the
//! vocabulary tables' lookups and the tied output projection read codes
//! ([`crate::onnx::tables`]), selected convolutions take the integer form
//! ([`crate::onnx::conv`]); [`crate::onnx::prune::quantize_model`] then only drops the float
//! tables nothing reads.
//! No pass finds weights by name. Activations, LayerNorm, softmax, GELU and the attention products
//! stay fp32 (ARCHITECTURE.md §4); convolutions stay fp32 unless [`QuantOptions::convs`] asks for
//! [`conv`]'s `ConvInteger` form (opt-in: measured below).
//!
//! Weights are quantised symmetrically per output channel ([`pack`]) for
//! [`Scheme::NBits`]: ONNX Runtime's `com.microsoft.MatMulNBits` (4 or 8 bits, one scale per
//! channel and `block_size` inputs; `accuracy_level = 4` lets the CPU kernel quantise the
//! activations to int8 per block and use VNNI dot products). (A `DynamicQuantizeLinear` +
//! `MatMulInteger` scheme was measured and dropped: it missed the logit-error target, see
//! [`QuantOptions::for_precision`].)
//!
//! The tied embedding's lookup (`Gather` of the output projection's table) reads 8-bit codes
//! with per-row block scales, so no fp32 copy of the table stays behind.
//!
//! Which is faster on which machine is measured in BENCHMARKS.md ("Precision"). The ResNet
//! convolutions (≈ 72 GFLOP at 480², ≈ 360 ms of the ≈ 940 ms int8 caption on an idle box)
//! can run as `DynamicQuantizeLinear` + `ConvInteger` ([`conv`]): on this VNNI CPU that saves
//! only 4–16 % of the perception time and raises the logit error from 1.87e-2 to 2.05–2.35e-2,
//! past the 2e-2 target, so the default int8 bundle keeps fp32 convolutions.

pub mod conv;
pub mod matrix;
mod names;
pub(crate) use names::{codes_name, lookup_codes_name, lookup_scales_name, scales_name, MS_DOMAIN};
pub mod pack;

pub use conv::{ConvKernels, ConvOptions};
use unival_manifest::Precision;

/// Untied tables with at least this many rows are looked up from 8-bit codes: vocabularies
/// (59457 rows), not position or bucket tables (≤ 6892 rows).
pub const VOCAB_TABLE_ROWS: usize = 16_384;

/// The operator quantised weights are run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `com.microsoft.MatMulNBits`: `bits` ∈ {4, 8}, `block_size` a power of two ≥ 16,
    /// `accuracy_level` as ONNX Runtime defines it (0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8).
    NBits {
        bits: u8,
        block_size: usize,
        accuracy_level: i64,
    },
}

/// How the graph builder quantises the weights it wires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantOptions {
    pub scheme: Scheme,
    /// Weights with fewer than this many rows or columns stay float (tiny projections gain
    /// nothing and lose accuracy).
    pub min_dim: usize,
    /// Convolutions wired in `ConvInteger` form ([`conv`]); `None` keeps them fp32.
    pub convs: Option<ConvOptions>,
}

impl QuantOptions {
    /// The options an export precision implies: `None` for float precisions. Int8 and int4
    /// use `MatMulNBits` with 32-input blocks and int8 compute (`accuracy_level = 4`; 8 bits
    /// has no other CPU path in ONNX Runtime 1.22). `DynamicQuantizeLinear` + `MatMulInteger`
    /// (int8 per-column weights) ran the base model faster on the AVX-512 VNNI CPU but missed
    /// the 2e-2 logit-error target (2.8e-2: its per-tensor activation quantisation is coarser),
    /// so it is not offered; 128-input blocks miss it too (2.3e-2).
    /// Figures in BENCHMARKS.md, "Precision".
    ///
    /// Convolutions stay fp32 (`convs: None`): quantising them ([`conv`], `ConvInteger` with
    /// uint8 activations per tensor and per-channel weights) was measured on the base model
    /// (480², beam 5, teacher forcing on 10 images, shared 2-core VNNI machine) at a perception
    /// speed-up of 1.10–1.16× (all convs), 1.01–1.09× (3×3 only), 1.04× (1×1 only), and a
    /// logit error of 2.35e-2 / 2.05e-2 / 2.15e-2 (KL mean 2.5e-4 / 1.9e-4 / 2.1e-4 nats)
    /// against 1.87e-2 (KL 1.6e-4) without: none reaches 1.3× and all miss the 2e-2 target.
    /// The export flag `--quantize-convs all|3x3|1x1` opts in.
    pub fn for_precision(p: Precision) -> Option<QuantOptions> {
        let nbits = |bits| QuantOptions {
            scheme: Scheme::NBits {
                bits,
                block_size: 32,
                accuracy_level: 4,
            },
            min_dim: 16,
            convs: None,
        };
        match p {
            Precision::Fp32 | Precision::Fp16 => None,
            Precision::Int8 => Some(nbits(8)),
            Precision::Int4 => Some(nbits(4)),
        }
    }
}

/// Why a graph could not be quantised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuantError {
    #[error("cannot quantise: unsupported {0}")]
    Unsupported(String),
    #[error("weight `{tensor}`: {values} values do not fill shape {expected:?}")]
    Shape {
        tensor: String,
        expected: Vec<usize>,
        values: usize,
    },
    #[error("weight `{tensor}`: value {index} is NaN or infinite")]
    NonFinite { tensor: String, index: usize },
}
