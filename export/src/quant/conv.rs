//! Integer convolutions for the ResNet backbones (issue 6, "Precision"; docs/model.md §2.2: BatchNorm is
//! already folded into each conv's weight and bias by `graphs::resnet`).
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

use super::pack::quantize_per_column;
use super::QuantError;
use crate::onnx::ops::transpose_matrix;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::conv::{conv as wire_conv, ConvWeights};
    use crate::onnx::proto::{data_type, ModelProto, TensorProto};
    use crate::onnx::{Attr, GraphBuilder, WeightFormat};
    use crate::quant::{QuantOptions, Scheme};
    use unival_manifest::{DType, Dim};

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 37 + seed * 11) % 101) as f32 - 50.0) / 50.0)
            .collect()
    }

    fn conv(
        g: &mut GraphBuilder,
        name: &str,
        x: crate::onnx::Value,
        dims: [usize; 4],
    ) -> crate::onnx::Value {
        let n: usize = dims.iter().product();
        let (weight, bias) = (values(n, dims[0]), values(dims[0], 3));
        let w = ConvWeights {
            weight: &weight,
            bias: &bias,
            shape: &dims,
            groups: 1,
        };
        let pad = (dims[2] / 2) as i64;
        wire_conv(
            g,
            name,
            x,
            &w,
            &[
                ("strides", Attr::Ints(vec![1, 1])),
                ("pads", Attr::Ints(vec![pad; 4])),
                (
                    "kernel_shape",
                    Attr::Ints(vec![dims[2] as i64, dims[3] as i64]),
                ),
            ],
        )
    }

    /// `x [1,8,6,6]` → 3×3 conv (8→16) → Relu → 1×1 conv (16→16), plus a 1×1 conv (8→16) of
    /// `x` (a shortcut) and a 3-channel 3×3 "stem" of `rgb`.
    fn model(kernels: ConvKernels) -> ModelProto {
        let quant = QuantOptions {
            scheme: Scheme::NBits {
                bits: 8,
                block_size: 32,
                accuracy_level: 4,
            },
            min_dim: 16,
            convs: Some(ConvOptions {
                kernels,
                min_in_channels: 4,
            }),
        };
        let format = WeightFormat {
            float: DType::F32,
            quant: Some(quant),
        };
        let mut g = GraphBuilder::new("t", format);
        let d = |n| Dim::Fixed(n);
        let x = g.input("x", DType::F32, vec![d(1), d(8), d(6), d(6)]);
        let rgb = g.input("rgb", DType::F32, vec![d(1), d(3), d(6), d(6)]);
        let h = conv(&mut g, "c3", x, [16, 8, 3, 3]);
        let h = g.node("Relu", "relu", &[h], &[]);
        let h = conv(&mut g, "c1", h, [16, 16, 1, 1]);
        let s = conv(&mut g, "short", x, [16, 8, 1, 1]);
        let y = g.node("Add", "sum", &[h, s], &[]);
        let stem = conv(&mut g, "stem", rgb, [16, 3, 3, 3]);
        let shape = vec![d(1), d(16), d(6), d(6)];
        g.output("y", y, DType::F32, shape.clone());
        g.output("stem", stem, DType::F32, shape);
        g.finish("test")
    }

    fn ops(m: &ModelProto, op: &str) -> usize {
        m.graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .filter(|n| n.op_type == op)
            .count()
    }

    fn init<'a>(m: &'a ModelProto, name: &str) -> &'a TensorProto {
        m.graph
            .as_ref()
            .unwrap()
            .initializer
            .iter()
            .find(|t| t.name == name)
            .unwrap()
    }

    #[test]
    fn rewrites_selected_convs_and_quantises_each_input_once() {
        let m = model(ConvKernels::All);
        // The 3-channel stem stays float.
        assert_eq!((ops(&m, "ConvInteger"), ops(&m, "Conv")), (3, 1));
        // `x` feeds two convs but is quantised once; the Relu output once more.
        assert_eq!(ops(&m, "DynamicQuantizeLinear"), 2);
        assert_eq!(ops(&m, "DequantizeLinear"), 3);
        let g = m.graph.as_ref().unwrap();
        let ci = g.node.iter().find(|n| n.op_type == "ConvInteger").unwrap();
        assert_eq!(ci.input.len(), 4);
        // Geometry is carried over.
        let pads = ci.attribute.iter().find(|a| a.name == "pads").unwrap();
        assert_eq!(pads.ints, vec![1; 4]);
        // Old output names are still produced, so `Add` and the graph outputs resolve.
        for out in ["c3.conv", "c1.conv", "short.conv"] {
            assert!(
                g.node
                    .iter()
                    .any(|n| n.op_type == "Add" && n.output[0] == out),
                "{out}"
            );
        }
        let codes = init(&m, "c3.weight.qu8");
        assert_eq!(
            (codes.dims.clone(), codes.data_type),
            (vec![16, 8, 3, 3], data_type::UINT8)
        );
        let zero = init(&m, "c3.weight.qu8_zero");
        assert_eq!(
            (zero.dims.len(), zero.raw_data.clone()),
            (0, vec![WEIGHT_ZERO_POINT])
        );
        assert_eq!(init(&m, "c3.weight.qu8_scales").dims, vec![16]);
        assert_eq!(init(&m, "c3.bias.m11").dims, vec![16, 1, 1]);
    }

    #[test]
    fn kernel_filters_pick_pointwise_or_spatial() {
        let m = model(ConvKernels::Pointwise);
        assert_eq!((ops(&m, "ConvInteger"), ops(&m, "Conv")), (2, 2));
        let m = model(ConvKernels::Spatial);
        assert_eq!((ops(&m, "ConvInteger"), ops(&m, "Conv")), (1, 3));
        let g = m.graph.as_ref().unwrap();
        assert!(g
            .node
            .iter()
            .any(|n| n.op_type == "ConvInteger" && n.output[0] == "c3.conv.acc"));
    }

    #[test]
    fn codes_are_per_channel_symmetric_around_128() {
        let m = model(ConvKernels::All);
        let w = values(16 * 8 * 9, 16);
        let codes = &init(&m, "c3.weight.qu8").raw_data;
        let scales: Vec<f32> = init(&m, "c3.weight.qu8_scales")
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        for (ch, row) in w.chunks_exact(72).enumerate() {
            let max = row.iter().fold(0f32, |a, v| a.max(v.abs()));
            assert!((scales[ch] - max / 127.0).abs() <= 1e-7, "channel {ch}");
            for (i, v) in row.iter().enumerate() {
                let c = codes[ch * 72 + i];
                assert!((1..=255).contains(&c));
                let back = (f32::from(c) - 128.0) * scales[ch];
                assert!((back - v).abs() <= scales[ch] / 2.0 + 1e-6, "{ch}/{i}");
            }
        }
    }
}
