//! The weight-format policy a [`GraphBuilder`](super::GraphBuilder) holds: the float type of
//! weights and activations and, for the quantised precisions, how the matrix products that
//! read a weight are stored. The emitters consult it where they wire a weight, so no pass has
//! to find weights in the finished graph.

use crate::quant::QuantOptions;
use unival_manifest::DType;

/// How a graph stores its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightFormat {
    /// Element type of float weights and activations (F32 or F16).
    pub float: DType,
    /// Weight quantisation of the int8/int4 precisions; `None` keeps every weight float.
    pub quant: Option<QuantOptions>,
}

impl From<DType> for WeightFormat {
    /// Float weights of type `float`, nothing quantised.
    fn from(float: DType) -> Self {
        WeightFormat { float, quant: None }
    }
}
