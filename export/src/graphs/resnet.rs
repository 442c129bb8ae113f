//! The 2-D ResNet image backbones (docs/model.md §2.2): the timm ResNet of the released models
//! (four stages, stride 32) and the 3-stage torchvision-style `resnet.py` of OFA-style configs
//! (stride 16). Both are Bottleneck ResNets with the stride on the 3×3 conv; depth and widths are
//! read from the state dict, BatchNorm is folded into the convolutions.

use super::weights::Weights;
use super::GraphError;
use crate::onnx::conv::{conv, ConvWeights};
use crate::onnx::{Attr, GraphBuilder, Value};

/// BatchNorm epsilon of every BN in the model (spec conventions).
pub const BN_EPS: f32 = 1e-5;

/// A convolution with its BatchNorm folded in: `[out, in/groups, k…]` weight and a bias.
pub struct ConvBn {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub shape: Vec<usize>,
    /// Stride per spatial dimension.
    pub strides: Vec<usize>,
    /// Symmetric padding per spatial dimension.
    pub pads: Vec<usize>,
    pub groups: usize,
}

impl ConvBn {
    /// [`ConvBn::fold_nd`] with the same stride and padding in every spatial dimension.
    pub fn fold(
        conv: &Weights,
        bn: &Weights,
        stride: usize,
        pad: usize,
        groups: usize,
    ) -> Result<Self, GraphError> {
        let spatial = conv.shape("weight")?.len().saturating_sub(2);
        Self::fold_nd(conv, bn, vec![stride; spatial], vec![pad; spatial], groups)
    }

    /// Reads `conv` (no bias) and folds the eval-mode BatchNorm `bn` into it:
    /// `w' = w·γ/√(σ²+ε)`, `b' = β − μ·γ/√(σ²+ε)`. Works for 2-D and 3-D kernels.
    pub fn fold_nd(
        conv: &Weights,
        bn: &Weights,
        strides: Vec<usize>,
        pads: Vec<usize>,
        groups: usize,
    ) -> Result<Self, GraphError> {
        let (shape, mut weight) = conv.get_any("weight")?;
        if shape.len() < 3 {
            return Err(GraphError::Shape {
                key: conv.key("weight"),
                expected: vec![0, 0, 0, 0],
                actual: shape,
            });
        }
        let out = shape[0];
        let gamma = bn.get("weight", &[out])?;
        let beta = bn.get("bias", &[out])?;
        let mean = bn.get("running_mean", &[out])?;
        let var = bn.get("running_var", &[out])?;
        bn.skip("num_batches_tracked");
        let per_out = weight.len() / out;
        let mut bias = vec![0f32; out];
        for o in 0..out {
            // f64 for the fold itself so that it adds no error of its own.
            let s = gamma[o] as f64 / ((var[o] as f64) + BN_EPS as f64).sqrt();
            for v in &mut weight[o * per_out..(o + 1) * per_out] {
                *v = (*v as f64 * s) as f32;
            }
            bias[o] = (beta[o] as f64 - mean[o] as f64 * s) as f32;
        }
        Ok(ConvBn {
            weight,
            bias,
            shape,
            strides,
            pads,
            groups,
        })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.shape[0]
    }

    /// Wires `Conv(x)` (+ `Relu` when `relu`).
    pub fn build(&self, g: &mut GraphBuilder, name: &str, x: Value, relu: bool) -> Value {
        let pads: Vec<i64> = self
            .pads
            .iter()
            .chain(&self.pads)
            .map(|&p| p as i64)
            .collect();
        let weights = ConvWeights {
            weight: &self.weight,
            bias: &self.bias,
            shape: &self.shape,
            groups: self.groups,
        };
        let y = conv(
            g,
            name,
            x,
            &weights,
            &[
                (
                    "strides",
                    Attr::Ints(self.strides.iter().map(|&s| s as i64).collect()),
                ),
                ("pads", Attr::Ints(pads)),
                ("group", Attr::Int(self.groups as i64)),
                (
                    "kernel_shape",
                    Attr::Ints(self.shape[2..].iter().map(|&k| k as i64).collect()),
                ),
            ],
        );
        if relu {
            g.node("Relu", &format!("{name}.relu"), &[y], &[])
        } else {
            y
        }
    }
}

/// One Bottleneck block: 1×1 → 3×3 (stride) → 1×1, shortcut (`downsample` when present), ReLU.
pub struct Bottleneck {
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
    downsample: Option<ConvBn>,
}

impl Bottleneck {
    /// Reads block weights under `w` (e.g. `layer2.0`). The 3×3 conv's group count comes from
    /// its weight shape (`[mid, mid/groups, …]`): 1 for ResNet, 32 for ResNeXt.
    pub fn new(w: &Weights, stride: usize) -> Result<Self, GraphError> {
        let mid = w.shape("conv1.weight")?.first().copied().unwrap_or(0);
        let per_group = w.shape("conv2.weight")?.get(1).copied().unwrap_or(0);
        if per_group == 0 || mid % per_group != 0 {
            return Err(GraphError::Shape {
                key: w.key("conv2.weight"),
                expected: vec![mid, 0],
                actual: w.shape("conv2.weight")?,
            });
        }
        let groups = mid / per_group;
        let downsample = if w.has("downsample.0.weight") {
            Some(ConvBn::fold(
                &w.pp("downsample.0"),
                &w.pp("downsample.1"),
                stride,
                0,
                1,
            )?)
        } else {
            None
        };
        Ok(Bottleneck {
            conv1: ConvBn::fold(&w.pp("conv1"), &w.pp("bn1"), 1, 0, 1)?,
            conv2: ConvBn::fold(&w.pp("conv2"), &w.pp("bn2"), stride, 1, groups)?,
            conv3: ConvBn::fold(&w.pp("conv3"), &w.pp("bn3"), 1, 0, 1)?,
            downsample,
        })
    }

    /// Wires the block.
    pub fn build(&self, g: &mut GraphBuilder, name: &str, x: Value) -> Value {
        let h = self.conv1.build(g, &format!("{name}.conv1"), x, true);
        let h = self.conv2.build(g, &format!("{name}.conv2"), h, true);
        let h = self.conv3.build(g, &format!("{name}.conv3"), h, false);
        let shortcut = match &self.downsample {
            Some(d) => d.build(g, &format!("{name}.downsample"), x, false),
            None => x,
        };
        let y = g.node("Add", &format!("{name}.residual"), &[h, shortcut], &[]);
        g.node("Relu", &format!("{name}.relu"), &[y], &[])
    }
}

/// Number of blocks of `layer{stage}` present in the state dict under `w`.
pub fn count_blocks(w: &Weights, stage: usize) -> usize {
    (0..)
        .take_while(|i| w.has(&format!("layer{stage}.{i}.conv1.weight")))
        .count()
}

/// Which stem a backbone has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stem {
    /// 2-D image ResNets: 7×7 stride 2.
    Image2d,
    /// 3-D ResNeXt of the video encoder (docs/model.md §2.3): 7×7×7, stride (1, 2, 2) — time kept.
    Video3d,
}

/// A ResNet/ResNeXt backbone (2-D or 3-D): stem, max-pool, then the stages found in the state
/// dict.
pub struct ResNet {
    stem: ConvBn,
    stages: Vec<Vec<Bottleneck>>,
    spatial: usize,
}

/// The image backbone.
pub type ResNet2d = ResNet;

impl ResNet {
    /// Reads `conv1`/`bn1` and `layer1..4` under `w` (e.g. `encoder.embed_images`).
    pub fn new(w: &Weights) -> Result<Self, GraphError> {
        Self::with_stem(w, Stem::Image2d)
    }

    /// As [`ResNet::new`] for the given stem kind.
    pub fn with_stem(w: &Weights, kind: Stem) -> Result<Self, GraphError> {
        let (stem, spatial) = match kind {
            Stem::Image2d => (ConvBn::fold(&w.pp("conv1"), &w.pp("bn1"), 2, 3, 1)?, 2),
            Stem::Video3d => (
                ConvBn::fold_nd(
                    &w.pp("conv1"),
                    &w.pp("bn1"),
                    vec![1, 2, 2],
                    vec![3, 3, 3],
                    1,
                )?,
                3,
            ),
        };
        let mut stages = Vec::new();
        for stage in 1..=4 {
            let n = count_blocks(w, stage);
            if n == 0 {
                break;
            }
            let stride = if stage == 1 { 1 } else { 2 };
            let blocks = (0..n)
                .map(|i| {
                    let s = if i == 0 { stride } else { 1 };
                    Bottleneck::new(&w.pp(format!("layer{stage}.{i}")), s)
                })
                .collect::<Result<Vec<_>, _>>()?;
            stages.push(blocks);
        }
        if stages.is_empty() {
            return Err(GraphError::Unsupported(format!(
                "{}: no `layer1.0.conv1.weight`; not a ResNet backbone",
                w.key("")
            )));
        }
        // The classifier head of the timm model is stored but never used (docs/model.md §2.2).
        if w.has("fc.weight") {
            w.skip("fc.weight");
            w.skip("fc.bias");
        }
        Ok(ResNet {
            stem,
            stages,
            spatial,
        })
    }

    /// Channels of the last stage's output.
    pub fn out_channels(&self) -> usize {
        self.stages
            .last()
            .and_then(|s| s.last())
            .map(|b| b.conv3.out_channels())
            .unwrap_or(self.stem.out_channels())
    }

    /// Number of blocks per stage (for the manifest and logs).
    pub fn depths(&self) -> Vec<usize> {
        self.stages.iter().map(Vec::len).collect()
    }

    /// `[B,3,H,W]` → `[B,C,H/32,W/32]` (2-D), `[B,3,T,H,W]` → `[B,C,t,h,w]` (3-D).
    pub fn build(&self, g: &mut GraphBuilder, name: &str, x: Value) -> Value {
        let x = self.stem.build(g, &format!("{name}.stem"), x, true);
        let mut x = g.node(
            "MaxPool",
            &format!("{name}.maxpool"),
            &[x],
            &[
                ("kernel_shape", Attr::Ints(vec![3; self.spatial])),
                ("strides", Attr::Ints(vec![2; self.spatial])),
                ("pads", Attr::Ints(vec![1; 2 * self.spatial])),
            ],
        );
        for (s, blocks) in self.stages.iter().enumerate() {
            for (i, b) in blocks.iter().enumerate() {
                x = b.build(g, &format!("{name}.layer{}.{i}", s + 1), x);
            }
        }
        x
    }
}
