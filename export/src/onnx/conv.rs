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
