//! The hardware floor of each stage: the time its arithmetic takes at the machine's measured
//! GFLOP/s or the time its bytes take at the measured bandwidth, whichever is longer (a
//! roofline). Weight products are counted from the graphs ([`unival_export::onnx::cost`]);
//! attention products and cache reads follow from the model's dimensions (docs/model.md §3:
//! `4·q·k·dim` FLOPs per layer for scores and weighted sum).

use super::machine::Machine;
use serde_json::{json, Value};
use std::path::Path;
use unival_export::onnx::cost::{graph_cost, GraphCost, Rows};
use unival_manifest::{io, Manifest};

/// What one caption does, counted.
#[derive(Debug, Clone)]
pub struct Work {
    pub perception: GraphCost,
    pub encoder: GraphCost,
    /// One decoder step at full beam, attention and cache reads included.
    pub decoder_step: GraphCost,
    /// Bytes a search step moves over the logits (read, log-softmax write, top-k read).
    pub search_step_bytes: f64,
    /// Bytes preprocessing reads and writes (decoded image, resized image, tensor).
    pub preprocess_bytes: f64,
    /// Perception tokens + source text tokens.
    pub encoder_seq: usize,
}

/// The shape of the measured run.
#[derive(Debug, Clone, Copy)]
pub struct RunShape {
    pub image_size: usize,
    pub original: (u32, u32),
    pub src_len: usize,
    pub beam: usize,
    pub steps: usize,
}

/// Counts the work of one caption of `shape` on the bundle in `dir`.
pub fn count_work(dir: &Path, manifest: &Manifest, shape: RunShape) -> anyhow::Result<Work> {
    let file = |graph: &str| -> anyhow::Result<std::path::PathBuf> {
        let spec = manifest
            .graphs
            .get(graph)
            .ok_or_else(|| anyhow::anyhow!("{}: no `{graph}` graph", dir.display()))?;
        Ok(dir.join(&spec.file))
    };
    let s = shape.image_size;
    let perception = graph_cost(
        &file(io::graph::IMAGE_ENCODER)?,
        &[(io::PATCH_IMAGES, vec![1, 3, s, s])],
        Rows::ConvGrid,
    )?;
    let patches = perception
        .last_conv_hw
        .map(|(h, w)| h * w)
        .unwrap_or((s / 16) * (s / 16));
    let seq = patches + shape.src_len;
    let m = &manifest.model;
    let dim = m.embed_dim as f64;
    let mut encoder = graph_cost(&file(io::graph::ENCODER)?, &[], Rows::Fixed(seq))?;
    encoder.flops += m.encoder_layers as f64 * 4.0 * (seq * seq) as f64 * dim;

    let rows = shape.beam;
    let mut decoder_step = graph_cost(&file(io::graph::DECODER)?, &[], Rows::Fixed(rows))?;
    // The average step attends to half the generated tokens besides the encoder output.
    let past = shape.steps.saturating_sub(1) as f64 / 2.0;
    let layers = m.decoder_layers as f64;
    decoder_step.flops += layers * 4.0 * rows as f64 * (seq as f64 + past) * dim;
    let f32_bytes = 4.0;
    // Cross-attention K and V (batch 1, shared by the rows), then each row's own cache.
    decoder_step.weight_bytes += layers * 2.0 * seq as f64 * dim * f32_bytes;
    decoder_step.weight_bytes += layers * 2.0 * rows as f64 * past * dim * f32_bytes;

    let vocab = manifest.vocab.size.max(0) as f64;
    let (w, h) = shape.original;
    Ok(Work {
        perception,
        encoder,
        decoder_step,
        search_step_bytes: 3.0 * rows as f64 * vocab * f32_bytes,
        preprocess_bytes: 3.0 * f64::from(w) * f64::from(h) + 3.0 * (s * s) as f64 * (1.0 + 4.0),
        encoder_seq: seq,
    })
}

/// Floor of each stage, milliseconds, in the report's stage order.
#[derive(Debug, Clone, Copy)]
pub struct Floors {
    pub preprocess: f64,
    pub perception: f64,
    pub encoder: f64,
    pub decoder_step: f64,
    /// Over the whole search (all steps).
    pub search_overhead: f64,
    pub total: f64,
}

fn roofline(c: &GraphCost, machine: &Machine) -> f64 {
    let compute = c.flops / (machine.gflops * 1e9);
    let memory = c.weight_bytes / (machine.bandwidth_gbs * 1e9);
    compute.max(memory) * 1e3
}

/// Floors of `work` on `machine` for a search of `steps` steps.
pub fn floors(work: &Work, machine: &Machine, steps: usize) -> Floors {
    let bw = machine.bandwidth_gbs * 1e9;
    let preprocess = work.preprocess_bytes / bw * 1e3;
    let perception = roofline(&work.perception, machine);
    let encoder = roofline(&work.encoder, machine);
    let decoder_step = roofline(&work.decoder_step, machine);
    let search_overhead = steps as f64 * work.search_step_bytes / bw * 1e3;
    Floors {
        preprocess,
        perception,
        encoder,
        decoder_step,
        search_overhead,
        total: preprocess + perception + encoder + steps as f64 * decoder_step + search_overhead,
    }
}

/// The `work` object of the JSON report: what each floor was computed from.
pub fn work_json(work: &Work) -> Value {
    let g = |c: &GraphCost| {
        json!({
            "gflop": c.flops / 1e9,
            "weight_mb_read": c.weight_bytes / 1e6,
            "weight_mb": c.all_weight_bytes / 1e6,
        })
    };
    json!({
        "perception": g(&work.perception),
        "encoder": g(&work.encoder),
        "decoder_step": g(&work.decoder_step),
        "search_step_mb": work.search_step_bytes / 1e6,
        "preprocess_mb": work.preprocess_bytes / 1e6,
        "encoder_seq": work.encoder_seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_the_slower_of_compute_and_memory() {
        let machine = Machine {
            bandwidth_gbs: 10.0,
            gflops: 100.0,
            cores: 2,
        };
        let heavy = GraphCost {
            flops: 1e9,
            weight_bytes: 1e6,
            ..GraphCost::default()
        };
        let light = GraphCost {
            flops: 1e6,
            weight_bytes: 1e9,
            ..GraphCost::default()
        };
        assert!((roofline(&heavy, &machine) - 10.0).abs() < 1e-9);
        assert!((roofline(&light, &machine) - 100.0).abs() < 1e-9);
        let work = Work {
            perception: heavy,
            encoder: heavy,
            decoder_step: light,
            search_step_bytes: 1e7,
            preprocess_bytes: 1e7,
            encoder_seq: 10,
        };
        let f = floors(&work, &machine, 3);
        assert!((f.search_overhead - 3.0).abs() < 1e-9);
        assert!((f.total - (1.0 + 10.0 + 10.0 + 300.0 + 3.0)).abs() < 1e-9);
    }
}
