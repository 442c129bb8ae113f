//! The names of a weight's quantised forms and the contrib domain of the operators reading
//! them: one definition shared by the graph builder's emitters.

/// ONNX Runtime's contrib-operator domain (`MatMulNBits`).
pub(crate) const MS_DOMAIN: &str = "com.microsoft";

pub(crate) fn codes_name(w: &str, bits: u8) -> String {
    format!("{w}.q{bits}")
}

pub(crate) fn scales_name(w: &str) -> String {
    format!("{w}.scales")
}

pub(crate) fn lookup_codes_name(w: &str) -> String {
    format!("{w}.lookup_q8")
}

pub(crate) fn lookup_scales_name(w: &str) -> String {
    format!("{w}.lookup_scales")
}
