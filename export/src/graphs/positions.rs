//! Position machinery of docs/model.md §2.7, built inside the graphs from position indices so that
//! the cached decoder equals the uncached one exactly: the 1-D log-bucketed text buckets, the 2-D
//! perception buckets and the perception position ids.

use crate::onnx::ops::{binary, concat, reshape, transpose, unsqueeze};
use crate::onnx::{Attr, GraphBuilder, Value};
use unival_manifest::DType;

/// `max_position` of `make_token_bucket_position` (its default argument, never configured).
pub const TOKEN_BUCKET_MAX_POSITION: i64 = 1024;

/// Text relative-position buckets for query positions `q [tq]` and key positions `k [tk]`
/// (int64) → `[tq, tk]` int64 bucket ids (docs/model.md §2.7 `tok_bucket(i − j)`).
pub fn token_buckets(
    g: &mut GraphBuilder,
    name: &str,
    q: Value,
    k: Value,
    bucket_size: i64,
) -> Value {
    let mid = bucket_size / 2;
    let qi = unsqueeze(g, &format!("{name}.q"), q, &[1]);
    let kj = unsqueeze(g, &format!("{name}.k"), k, &[0]);
    let rel = binary(g, "Sub", &format!("{name}.rel"), qi, kj);
    let relf = g.cast(&format!("{name}.relf"), rel, DType::F32);
    let absf = g.node("Abs", &format!("{name}.abs"), &[relf], &[]);
    let sign = g.node("Sign", &format!("{name}.sign"), &[relf], &[]);
    let midc = g.weight_f32(&format!("{name}.mid"), &[], &[mid as f32]);
    let ratio = binary(g, "Div", &format!("{name}.ratio"), absf, midc);
    let log = g.node("Log", &format!("{name}.log"), &[ratio], &[]);
    let denom = (((TOKEN_BUCKET_MAX_POSITION - 1) as f64) / mid as f64).ln() as f32;
    let denomc = g.weight_f32(&format!("{name}.denom"), &[], &[denom]);
    let scaled = binary(g, "Div", &format!("{name}.scaled"), log, denomc);
    let m1 = g.weight_f32(&format!("{name}.mid_minus_1"), &[], &[(mid - 1) as f32]);
    let scaled = binary(g, "Mul", &format!("{name}.scaled_mid"), scaled, m1);
    let ceil = g.node("Ceil", &format!("{name}.ceil"), &[scaled], &[]);
    let log_pos = binary(g, "Add", &format!("{name}.log_pos"), ceil, midc);
    let signed = binary(g, "Mul", &format!("{name}.signed"), log_pos, sign);
    let near = g.node("LessOrEqual", &format!("{name}.near"), &[absf, midc], &[]);
    let bucketf = g.node(
        "Where",
        &format!("{name}.select"),
        &[near, relf, signed],
        &[],
    );
    let bucket = g.cast(&format!("{name}.bucket_i64"), bucketf, DType::I64);
    let off = g.const_i64(&format!("{name}.offset"), &[], &[bucket_size - 1]);
    binary(g, "Add", name, bucket, off)
}

/// Perception relative buckets for ids `[p]` (int64, ≥ 1) → `[p, p]` int64:
/// `(hᵢ − hⱼ + b − 1)·(2b − 1) + (wᵢ − wⱼ + b − 1)` with `(h, w) = divmod(id − 1, b)`.
pub fn image_buckets(g: &mut GraphBuilder, name: &str, ids: Value, b: i64) -> Value {
    let one = g.const_i64(&format!("{name}.one"), &[], &[1]);
    let bc = g.const_i64(&format!("{name}.b"), &[], &[b]);
    let z = binary(g, "Sub", &format!("{name}.zero_based"), ids, one);
    let h = binary(g, "Div", &format!("{name}.h"), z, bc);
    let w = g.node(
        "Mod",
        &format!("{name}.w"),
        &[z, bc],
        &[("fmod", Attr::Int(0))],
    );
    let hi = unsqueeze(g, &format!("{name}.hi"), h, &[1]);
    let hj = unsqueeze(g, &format!("{name}.hj"), h, &[0]);
    let wi = unsqueeze(g, &format!("{name}.wi"), w, &[1]);
    let wj = unsqueeze(g, &format!("{name}.wj"), w, &[0]);
    let off = g.const_i64(&format!("{name}.off"), &[], &[b - 1]);
    let stride = g.const_i64(&format!("{name}.stride"), &[], &[2 * b - 1]);
    let dh = binary(g, "Sub", &format!("{name}.dh"), hi, hj);
    let dh = binary(g, "Add", &format!("{name}.dh_off"), dh, off);
    let dh = binary(g, "Mul", &format!("{name}.dh_stride"), dh, stride);
    let dw = binary(g, "Sub", &format!("{name}.dw"), wi, wj);
    let dw = binary(g, "Add", &format!("{name}.dw_off"), dw, off);
    binary(g, "Add", name, dh, dw)
}

/// Looks up a relative table `[buckets, heads]` at `idx [a, b]` → `[heads, a, b]`.
pub fn rel_bias(g: &mut GraphBuilder, name: &str, table: Value, idx: Value) -> Value {
    let gathered = g.node(
        "Gather",
        &format!("{name}.gather"),
        &[table, idx],
        &[("axis", Attr::Int(0))],
    );
    transpose(g, name, gathered, &[2, 0, 1])
}

/// Grid position ids `1 + r·b + c` for an `h × w` grid (1-element int64 `h`, `w`) → `[h·w]`.
pub fn grid_ids(g: &mut GraphBuilder, name: &str, h: Value, w: Value, b: i64) -> Value {
    let zero = g.const_i64(&format!("{name}.zero"), &[], &[0]);
    let rows = crate::onnx::ops::range(g, &format!("{name}.rows"), zero, h);
    let cols = crate::onnx::ops::range(g, &format!("{name}.cols"), zero, w);
    let bc = g.const_i64(&format!("{name}.b"), &[], &[b]);
    let one = g.const_i64(&format!("{name}.one"), &[], &[1]);
    let rb = binary(g, "Mul", &format!("{name}.rb"), rows, bc);
    let rb = unsqueeze(g, &format!("{name}.rb2"), rb, &[1]);
    let c = unsqueeze(g, &format!("{name}.c2"), cols, &[0]);
    let ids = binary(g, "Add", &format!("{name}.rc"), rb, c);
    let ids = binary(g, "Add", &format!("{name}.plus1"), ids, one);
    reshape(g, name, ids, &[-1])
}

/// A `[heads, a, b]` block matrix `[[tl, 0], [0, br]]` for square blocks `tl [h,p,p]` and
/// `br [h,l,l]` → `[h, p+l, p+l]`.
pub fn block_diag(g: &mut GraphBuilder, name: &str, tl: Value, br: Value, heads: i64) -> Value {
    let p = crate::onnx::ops::dim(g, &format!("{name}.p"), tl, 1);
    let l = crate::onnx::ops::dim(g, &format!("{name}.l"), br, 1);
    let hc = g.ints(&format!("{name}.h"), &[heads]);
    let shape_tr = concat(g, &format!("{name}.shape_tr"), &[hc, p, l], 0);
    let shape_bl = concat(g, &format!("{name}.shape_bl"), &[hc, l, p], 0);
    let tr = g.zeros(&format!("{name}.tr"), shape_tr);
    let bl = g.zeros(&format!("{name}.bl"), shape_bl);
    let top = concat(g, &format!("{name}.top"), &[tl, tr], 2);
    let bottom = concat(g, &format!("{name}.bottom"), &[bl, br], 2);
    concat(g, name, &[top, bottom], 1)
}
