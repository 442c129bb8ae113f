//! Caption one image with an exported bundle, through the runtime's public API.
//!
//! ```sh
//! unival export --checkpoint models/checkpoints/demo_shapes.pt --task caption --out models/caption
//! cargo run -p unival-runtime --example caption -- picture.png [models/caption]
//! ```
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use unival_runtime::tasks::{Pipeline, Request, TaskError};
use unival_runtime::SessionOptions;

fn caption(image: &Path, bundle: &Path) -> Result<String, TaskError> {
    // Verifies the bundle's hashes; `Device::Auto` runs on TensorRT, CUDA or the CPU, as available.
    let mut pipeline = Pipeline::open(bundle, &SessionOptions::default())?;
    // Preprocessing, encoder and beam search with the task settings stored in the bundle.
    Ok(pipeline.run(image, &Request::Caption)?.text)
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let Some(image) = args.next() else {
        eprintln!("usage: caption IMAGE [BUNDLE_DIR, default models/caption]");
        return ExitCode::from(2);
    };
    let bundle = args
        .next()
        .unwrap_or_else(|| PathBuf::from("models/caption"));
    match caption(&image, &bundle) {
        Ok(text) => {
            println!("{}: {text}", image.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("caption: {e}");
            ExitCode::FAILURE
        }
    }
}
