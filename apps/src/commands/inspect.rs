//! `unival inspect BUNDLE`: what a bundle holds, with every file's hash verified.

use crate::cli::InspectArgs;
use anyhow::Context;
use std::process::ExitCode;
use unival_manifest::{Dim, Manifest, TensorSpec};

pub fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let m = Manifest::load(&args.bundle)?;
    let verified = m
        .verify_files(&args.bundle)
        .and_then(|()| m.check_external_data(&args.bundle));
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&m).context("serialising the manifest")?
        );
    } else {
        print_summary(&m);
    }
    match verified {
        Ok(()) => {
            eprintln!("all {} files match their sha256", m.files.len());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn print_summary(m: &Manifest) {
    println!(
        "bundle      {} (format {}, exporter {})",
        m.name, m.format_version, m.exporter_version
    );
    println!(
        "source      {} ({} weights, sha256 {}…)",
        m.source.checkpoint,
        m.source.weights,
        m.source.sha256.get(..16).unwrap_or(&m.source.sha256)
    );
    println!("precision   {:?}", m.precision);
    let md = &m.model;
    println!(
        "model       dim {} · {} heads · {}+{} layers · ffn {} · modalities {:?} · backbones {:?}",
        md.embed_dim,
        md.heads,
        md.encoder_layers,
        md.decoder_layers,
        md.ffn_dim,
        md.modalities,
        md.backbones
    );
    let t = &m.task;
    let g = &t.generation;
    println!(
        "task        {} · {} · beam {} · max_len {}·src+{} · min_len {} · no-repeat {} · {}",
        t.task,
        t.perception,
        g.beam,
        g.max_len_a,
        g.max_len_b,
        g.min_len,
        g.no_repeat_ngram_size,
        if g.unnormalized {
            "unnormalized"
        } else {
            "normalized"
        }
    );
    println!(
        "vocab       {} ids (bins from {}, codes from {})",
        m.vocab.size, m.vocab.bin_start, m.vocab.code_start
    );
    for (name, spec) in &m.graphs {
        println!("graph       {name}: {}", spec.file);
        for i in &spec.inputs {
            println!("  in        {}", fmt_spec(i));
        }
        for o in &spec.outputs {
            println!("  out       {}", fmt_spec(o));
        }
    }
    for (name, f) in &m.files {
        println!("file        {name}  {} bytes  sha256 {}", f.bytes, f.sha256);
    }
}

fn fmt_spec(s: &TensorSpec) -> String {
    let dims: Vec<String> = s
        .dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Symbol(x) => x.clone(),
        })
        .collect();
    format!("{} {:?} [{}]", s.name, s.dtype, dims.join(", "))
}
