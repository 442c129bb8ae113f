//! Convolutions under the builder's weight format: a float `Conv`, or, where the policy's
//! [`ConvOptions`](crate::quant::ConvOptions) select the kernel, the integer form of
//! [`crate::quant::conv`] (`DynamicQuantizeLinear` of the input, once per value;
//! `ConvInteger`; `DequantizeLinear` by `x_scale · w_scales`; `Add(bias)`).

use super::builder::{float_bytes, Attr, GraphBuilder, LateGroup, Value};
use super::proto::data_type;
use crate::quant::conv::{
    bias_name, codes_name, conv_codes, scales_name, zero_name, WEIGHT_ZERO_POINT,
};
use unival_manifest::DType;

/// A convolution's weights: `weight [M, C/groups, kh, kw]` (row-major), `bias [M]`.
pub struct ConvWeights<'a> {
    pub weight: &'a [f32],
    pub bias: &'a [f32],
    pub shape: &'a [usize],
    pub groups: usize,
}

/// `Conv(x, W, b)` with the geometry `attrs` (strides, pads, group, kernel_shape), its output
/// named `{name}.conv`.
pub fn conv(
    g: &mut GraphBuilder,
    name: &str,
    x: Value,
    w: &ConvWeights,
    attrs: &[(&str, Attr)],
) -> Value {
    if integer_conv_selected(g, w) {
        let wname = g.reserve_name(&format!("{name}.weight"));
        let bname = g.reserve_name(&format!("{name}.bias"));
        match conv_codes(&wname, w.weight, w.shape) {
            Ok((codes, scales)) => {
                let names = (wname.as_str(), bname.as_str());
                return integer_conv(g, name, x, w, names, (codes, scales), attrs);
            }
            Err(e) => g.defer_error(e),
        }
    }
    let wv = g.weight(&format!("{name}.weight"), w.shape, w.weight);
    let bv = g.weight(&format!("{name}.bias"), &[w.shape[0]], w.bias);
    g.node("Conv", &format!("{name}.conv"), &[x, wv, bv], attrs)
}

/// Whether the policy asks for this convolution in integer form (fp32, group 1, enough input
/// channels, a selected kernel size).
fn integer_conv_selected(g: &GraphBuilder, w: &ConvWeights) -> bool {
    let Some(c) = g.quant_options().and_then(|q| q.convs) else {
        return false;
    };
    let kernel: Vec<i64> = w.shape.iter().skip(2).map(|&k| k as i64).collect();
    g.float_type() == DType::F32
        && w.groups == 1
        && w.shape.len() == 4
        && w.shape.iter().all(|&d| d > 0)
        && w.shape[1] >= c.min_in_channels
        && c.kernels.admits(&kernel)
}

/// The integer form, ending in the value `{name}.conv`.
fn integer_conv(
    g: &mut GraphBuilder,
    name: &str,
    x: Value,
    w: &ConvWeights,
    (wname, bname): (&str, &str),
    (codes, scales): (Vec<u8>, Vec<f32>),
    attrs: &[(&str, Attr)],
) -> Value {
    let m = w.shape[0];
    let convs = LateGroup::Convs;
    let codes = g.late_initializer(
        convs,
        &codes_name(wname),
        (w.shape, data_type::UINT8),
        codes,
    );
    let zero = vec![WEIGHT_ZERO_POINT];
    let zero = g.late_initializer(convs, &zero_name(wname), (&[], data_type::UINT8), zero);
    let scales = float_bytes(&scales, DType::F32);
    let scales = g.late_initializer(convs, &scales_name(wname), (&[m], data_type::FLOAT), scales);
    let bias = float_bytes(w.bias, DType::F32);
    let bias = g.late_initializer(
        convs,
        &bias_name(bname),
        (&[m, 1, 1], data_type::FLOAT),
        bias,
    );
    let [xq, x_scale, x_zero] = quantized_input(g, x);
    let out = g.value(&format!("{name}.conv"));
    let v = |g: &mut GraphBuilder, s: &str| {
        let name = format!("{}.{s}", g.name_of(out));
        g.value(&name)
    };
    let acc = v(g, "acc");
    let inputs = [xq, codes, x_zero, zero];
    g.node_into(
        ("ConvInteger", ""),
        &[acc],
        (out, "convinteger"),
        &inputs,
        attrs,
    );
    let scale = v(g, "scale");
    g.node_into(
        ("Mul", ""),
        &[scale],
        (out, "scale_product"),
        &[x_scale, scales],
        &[],
    );
    let scaled = v(g, "scaled");
    let axis1 = [("axis", Attr::Int(1))];
    g.node_into(
        ("DequantizeLinear", ""),
        &[scaled],
        (out, "dequantize"),
        &[acc, scale],
        &axis1,
    );
    g.node_into(("Add", ""), &[out], (out, "bias"), &[scaled, bias], &[]);
    out
}

/// `DynamicQuantizeLinear(x)` → `[x_q, x_scale, x_zero]`, made once per value however many
/// convolutions read it (a block's input feeds both `conv1` and `downsample`).
fn quantized_input(g: &mut GraphBuilder, x: Value) -> [Value; 3] {
    if let Some(q) = g.quantized_inputs.get(&x) {
        return *q;
    }
    let xname = g.name_of(x).to_string();
    let q = ["q8", "q8_scale", "q8_zero"].map(|s| g.value(&format!("{xname}.{s}")));
    g.node_into(
        ("DynamicQuantizeLinear", ""),
        &q,
        (x, "quantize"),
        &[x],
        &[],
    );
    g.quantized_inputs.insert(x, q);
    q
}

#[cfg(test)]
mod tests {
    use super::{conv as wire_conv, ConvWeights};
    use crate::onnx::proto::{data_type, ModelProto, TensorProto};
    use crate::onnx::{Attr, GraphBuilder, WeightFormat};
    use crate::quant::conv::*;
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
