//! Vocabulary-sized tables under the builder's quantisation policy: a row lookup reads 8-bit
//! codes with per-row block scales (so no fp32 copy of a 59457-row table stays behind), and the
//! tied output projection `x · Tᵀ` becomes `MatMulNBits` over the table's codes. Both are
//! decided where the table is made and wired where it is read; the float table is emitted as
//! usual and dropped when nothing reads it.

use super::builder::{float_bytes, Attr, GraphBuilder, LateGroup, Value};
use super::make::tensor;
use super::proto::data_type;
use crate::quant::pack::{effective_block, lookup_block, quantize_blockwise};
use crate::quant::{
    codes_name, lookup_codes_name, lookup_scales_name, scales_name, Scheme, MS_DOMAIN,
    VOCAB_TABLE_ROWS,
};
use unival_manifest::DType;

/// 8-bit codes a lookup made for a tied product: `(value, dims, codes)`.
type SharedCodes = (Value, [usize; 3], Vec<u8>);

/// A table's data and the quantised forms made of it so far.
pub struct QuantTable {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    /// Whether `x · Tᵀ` reads it as `MatMulNBits` (a tied table large enough to quantise).
    product: bool,
    /// The lookup's block size when lookups read 8-bit codes.
    lookup: Option<usize>,
    /// Codes, scales, row length and zero point once a lookup made them.
    lookup_values: Option<LookupValues>,
    /// The product's 8-bit codes `(value, dims, codes)` when a lookup made (and shares) them
    /// before the product placed them; [`GraphBuilder::finish`] places them if no product did.
    shared_codes: Option<SharedCodes>,
    /// `(codes, scales)` once the product made them (several products share them).
    product_values: Option<(Value, Value)>,
}

impl GraphBuilder {
    /// A `[rows, cols]` float table read by row lookups ([`lookup`]) and, when `tied`, by the
    /// product [`tied_product`]. Under a quantisation policy its lookups read 8-bit codes when
    /// it is tied or vocabulary-sized, and the tied product reads `bits`-bit codes; `data` is
    /// kept (moved, not copied) until they are made.
    pub fn table(
        &mut self,
        name: &str,
        [rows, cols]: [usize; 2],
        data: Vec<f32>,
        tied: bool,
    ) -> Value {
        let v = self.weight(name, &[rows, cols], &data);
        let Some(q) = self.quant_options() else {
            return v;
        };
        if self.float_type() != DType::F32 {
            return v;
        }
        let product = tied && rows >= q.min_dim && cols >= q.min_dim;
        let lookup = if product || rows >= VOCAB_TABLE_ROWS {
            lookup_block(cols)
        } else {
            None
        };
        let state = QuantTable {
            data,
            rows,
            cols,
            product,
            lookup,
            lookup_values: None,
            shared_codes: None,
            product_values: None,
        };
        self.tables.insert(v, state);
        v
    }
}

/// What a lookup of a quantised table reads.
#[derive(Debug, Clone, Copy)]
struct LookupValues {
    codes: Value,
    scales: Value,
    row_len: usize,
    zero_point: f32,
}

/// The `(bits, block size, accuracy level)` of `table`'s product codes.
fn product_scheme(g: &GraphBuilder, cols: usize) -> Option<(u8, usize, i64)> {
    let Scheme::NBits {
        bits,
        block_size,
        accuracy_level,
    } = g.quant_options()?.scheme;
    Some((bits, effective_block(block_size, cols), accuracy_level))
}

/// Row lookup `table[ids]` (`Gather`, axis 0), from 8-bit codes where the policy says so:
/// gather code blocks `[..., k_blocks, block]` and their scales `[..., k_blocks, 1]`,
/// `(code − 128) · scale`, reshape to `[..., K]`.
pub fn lookup(g: &mut GraphBuilder, name: &str, table: Value, ids: Value) -> Value {
    let Some(made) = lookup_codes(g, table) else {
        return g.node("Gather", name, &[table, ids], &[("axis", Attr::Int(0))]);
    };
    let out = g.value(name);
    let v = |s: &str| format!("{name}.{s}");
    let zero_point = g.value(&v("zero_point"));
    let row_len = g.value(&v("row_len"));
    let zp = float_bytes(&[made.zero_point], DType::F32);
    let zp = tensor("", &[], data_type::FLOAT, zp);
    let len = (made.row_len as i64).to_le_bytes().to_vec();
    let len = tensor("", &[1], data_type::INT64, len);
    let (codes, scales) = (made.codes, made.scales);
    let constant = ("Constant", "");
    g.node_into(
        constant,
        &[zero_point],
        (out, "zero_point.const"),
        &[],
        &[("value", Attr::Tensor(zp))],
    );
    g.node_into(
        constant,
        &[row_len],
        (out, "row_len.const"),
        &[],
        &[("value", Attr::Tensor(len))],
    );
    let step = |g: &mut GraphBuilder,
                op: &str,
                value: &str,
                node: &str,
                inputs: &[Value],
                attrs: &[(&str, Attr)]| {
        let o = g.value(&v(value));
        g.node_into((op, ""), &[o], (out, node), inputs, attrs);
        o
    };
    let c = step(g, "Gather", "codes", "gather_codes", &[codes, ids], &[]);
    let to_float = [("to", Attr::Int(i64::from(data_type::FLOAT)))];
    let cf = step(g, "Cast", "codes_f32", "cast", &[c], &to_float);
    let centered = step(g, "Sub", "centered", "center", &[cf, zero_point], &[]);
    let s = step(g, "Gather", "scales", "gather_scales", &[scales, ids], &[]);
    let blocks = step(g, "Mul", "blocks", "dequantize", &[centered, s], &[]);
    let idx_shape = step(g, "Shape", "idx_shape", "idx_shape", &[ids], &[]);
    let axis0 = [("axis", Attr::Int(0))];
    let shape = step(
        g,
        "Concat",
        "out_shape",
        "out_shape",
        &[idx_shape, row_len],
        &axis0,
    );
    g.node_into(
        ("Reshape", ""),
        &[out],
        (out, "reshape"),
        &[blocks, shape],
        &[],
    );
    out
}

/// What lookups of `table` read, made at its first lookup; `None` keeps the float lookup.
fn lookup_codes(g: &mut GraphBuilder, table: Value) -> Option<LookupValues> {
    let t = g.tables.get(&table)?;
    if let Some(made) = t.lookup_values {
        return Some(made);
    }
    let block = t.lookup?;
    let name = g.name_of(table).to_string();
    let q = match quantize_blockwise(&name, &t.data, t.rows, t.cols, 8, block) {
        Ok(q) => q,
        Err(e) => {
            g.defer_error(e);
            return None;
        }
    };
    let shared =
        t.product && product_scheme(g, t.cols).is_some_and(|(b, pb, _)| b == 8 && pb == block);
    let codes = if shared {
        let c = g.reserve_initializer(&codes_name(&name, 8));
        if let Some(t) = g.tables.get_mut(&table) {
            t.shared_codes = Some((c, [q.n, q.k_blocks(), q.blob()], q.codes.clone()));
        }
        c
    } else {
        let dims = [q.n, q.k_blocks(), q.blob()];
        g.late_initializer(
            LateGroup::Lookups,
            &lookup_codes_name(&name),
            (&dims, data_type::UINT8),
            q.codes.clone(),
        )
    };
    let scales_raw = float_bytes(&q.scales, DType::F32);
    let dims = [q.n, q.k_blocks(), 1];
    let scales = g.late_initializer(
        LateGroup::Lookups,
        &lookup_scales_name(&name),
        (&dims, data_type::FLOAT),
        scales_raw,
    );
    let made = LookupValues {
        codes,
        scales,
        row_len: q.k_blocks() * q.block_size,
        zero_point: q.zero_point() as f32,
    };
    if let Some(t) = g.tables.get_mut(&table) {
        t.lookup_values = Some(made);
    }
    Some(made)
}

/// `x · tableᵀ` for `x [M, K]` and the tied `table [N, K]`: `MatMulNBits` over the table's
/// codes where the policy quantises it, else `Gemm(transB = 1)`.
pub fn tied_product(g: &mut GraphBuilder, name: &str, x: Value, table: Value) -> Value {
    let gemm =
        |g: &mut GraphBuilder| g.node("Gemm", name, &[x, table], &[("transB", Attr::Int(1))]);
    let Some(t) = g.tables.get(&table).filter(|t| t.product) else {
        return gemm(g);
    };
    let Some((bits, block, accuracy_level)) = product_scheme(g, t.cols) else {
        return gemm(g);
    };
    let (rows, cols) = (t.rows, t.cols);
    let attrs = [
        ("K", Attr::Int(cols as i64)),
        ("N", Attr::Int(rows as i64)),
        ("bits", Attr::Int(i64::from(bits))),
        ("block_size", Attr::Int(block as i64)),
        ("accuracy_level", Attr::Int(accuracy_level)),
    ];
    let mms = ("MatMulNBits", MS_DOMAIN);
    if let Some((codes, scales)) = t.product_values {
        return g.contrib_node(mms, name, "matmulnbits", &[x, codes, scales], &attrs);
    }
    let tname = g.name_of(table).to_string();
    let q = match quantize_blockwise(&tname, &t.data, rows, cols, bits, block) {
        Ok(q) => q,
        Err(e) => {
            g.defer_error(e);
            return gemm(g);
        }
    };
    let (codes_dims, scales_dims) = ([q.n, q.k_blocks(), q.blob()], [q.n, q.k_blocks()]);
    let shared = g.tables.get_mut(&table).and_then(|t| t.shared_codes.take());
    let codes = match shared {
        Some((c, dims, codes)) => {
            g.place_initializer(LateGroup::Products, c, &dims, data_type::UINT8, codes);
            c
        }
        None => g.late_initializer(
            LateGroup::Products,
            &codes_name(&tname, bits),
            (&codes_dims, data_type::UINT8),
            q.codes.clone(),
        ),
    };
    let scales_raw = float_bytes(&q.scales, DType::F32);
    let scales = g.late_initializer(
        LateGroup::Products,
        &scales_name(&tname),
        (&scales_dims, data_type::FLOAT),
        scales_raw,
    );
    if let Some(t) = g.tables.get_mut(&table) {
        t.product_values = Some((codes, scales));
    }
    g.contrib_node(mms, name, "matmulnbits", &[x, codes, scales], &attrs)
}

impl GraphBuilder {
    /// Places the 8-bit codes a lookup shared with a tied product that was never wired (in
    /// name order), so no value is left without its initializer.
    pub(super) fn place_unwired_shared_codes(&mut self) {
        let mut unplaced: Vec<SharedCodes> = self
            .tables
            .values_mut()
            .filter_map(QuantTable::unplaced_codes)
            .collect();
        let mut named: Vec<(String, SharedCodes)> = unplaced
            .drain(..)
            .map(|c| (self.name_of(c.0).to_string(), c))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, (v, dims, codes)) in named {
            self.place_initializer(LateGroup::Products, v, &dims, data_type::UINT8, codes);
        }
    }
}

impl QuantTable {
    /// Shared codes a lookup reserved for a product that was never wired:
    /// `(value, dims, codes)`, placed by [`GraphBuilder::finish`].
    pub(super) fn unplaced_codes(&mut self) -> Option<SharedCodes> {
        self.shared_codes.take()
    }
}

#[cfg(test)]
#[path = "tables_tests.rs"]
mod tests;
