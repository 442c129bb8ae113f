//! Exporting the checkpoint an oracle case used, exactly as the original ran it.

use crate::{OracleCase, OracleDir};
use std::path::Path;
use unival_export::bundle::{export, ExportOptions};
use unival_export::WeightsChoice;
use unival_manifest::{Manifest, Precision, TaskKind};

/// Exports the checkpoint `case` used into `out`, with the case's task, input sizes and EMA
/// choice. Panics on a malformed oracle: this is test support.
pub fn export_case(
    oracle: &OracleDir,
    case: &OracleCase,
    out: &Path,
    precision: Precision,
) -> Manifest {
    let meta = case.meta().expect("oracle case meta");
    let ckpt = meta["checkpoint"]
        .as_str()
        .expect("oracle case meta")
        .rsplit('/')
        .next()
        .expect("oracle case meta")
        .to_string();
    let task: TaskKind = meta["task"]
        .as_str()
        .expect("oracle case meta")
        .parse()
        .expect("oracle case meta");
    let cfg = &meta["task_cfg"];
    let image_size = cfg["patch_image_size"].as_u64().expect("oracle case meta") as usize;
    let video = task.modality() == unival_manifest::task::Modality::Video;
    let frames = video.then(|| cfg["num_frames"].as_u64().expect("oracle case meta") as usize);
    let frame_size =
        video.then(|| cfg["patch_frame_size"].as_u64().expect("oracle case meta") as usize);
    let ema = meta["ema_eval"].as_bool().expect("oracle case meta");
    let opts = ExportOptions {
        checkpoint: oracle.checkpoint(&ckpt),
        out_dir: out.to_path_buf(),
        task: Some(task),
        precision,
        weights: if ema {
            WeightsChoice::Ema
        } else {
            WeightsChoice::Model
        },
        image_size: Some(image_size),
        num_frames: frames,
        frame_size,
        external_data: false,
        quantize_convs: None,
    };
    export(&opts, &mut |_| {}).expect("oracle case meta")
}
