fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opts = unival_export::bundle::ExportOptions {
        checkpoint: args[1].clone().into(),
        out_dir: args[2].clone().into(),
        task: args.get(3).map(|t| t.parse().unwrap()),
        precision: unival_manifest::Precision::Fp32,
        weights: unival_export::WeightsChoice::Auto,
        image_size: None,
        num_frames: None,
        frame_size: None,
        external_data: false,
    };
    let t = std::time::Instant::now();
    match unival_export::bundle::export(&opts, &mut |s| eprintln!("{s:?}")) {
        Ok(m) => eprintln!("ok {:?} {:.2}s", m.task.task, t.elapsed().as_secs_f64()),
        Err(e) => eprintln!("error: {e}"),
    }
}
