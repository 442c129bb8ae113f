//! `unival bench --profile`: reads back each graph's ONNX Runtime trace and reports where the
//! time goes, per operator type and per node, in milliseconds per run of the graph.

use anyhow::Context;
use serde_json::{json, Value};
use std::path::PathBuf;
use unival_runtime::engine::profile::{GraphProfile, OpTime};
use unival_runtime::model::Model;

/// Operator types and nodes listed per graph.
const TOP: usize = 12;

/// One graph's parsed trace and where it was written.
pub struct Profiled {
    pub graph: String,
    pub file: PathBuf,
    pub profile: GraphProfile,
}

/// Closes every graph's trace and parses it.
pub fn collect(model: &mut Model) -> anyhow::Result<Vec<Profiled>> {
    let mut out = Vec::new();
    for (graph, file) in model.end_profiling()? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading the profile {}", file.display()))?;
        let profile = GraphProfile::parse(&text)
            .with_context(|| format!("parsing the profile {}", file.display()))?;
        out.push(Profiled {
            graph,
            file,
            profile,
        });
    }
    Ok(out)
}

fn rows(p: &GraphProfile, list: &[OpTime]) -> Vec<Value> {
    let kernel = p.kernel_us().max(1e-9);
    list.iter()
        .take(TOP)
        .map(|o| {
            json!({
                "name": o.name,
                "op_type": o.op_type,
                "ms_per_run": p.ms_per_run(o.total_us),
                "calls_per_run": o.calls as f64 / p.runs.max(1) as f64,
                "share": o.total_us / kernel,
            })
        })
        .collect()
}

/// `{"<graph>": {"file", "runs", "run_ms", "kernel_ms", "by_op_type": [...], "slowest_nodes": [...]}}`.
pub fn to_json(profiles: &[Profiled]) -> Value {
    let mut map = serde_json::Map::new();
    for p in profiles {
        let g = &p.profile;
        map.insert(
            p.graph.clone(),
            json!({
                "file": p.file.display().to_string(),
                "runs": g.runs,
                "run_ms": g.ms_per_run(g.run_us),
                "kernel_ms": g.ms_per_run(g.kernel_us()),
                "by_op_type": rows(g, &g.by_op_type),
                "slowest_nodes": rows(g, &g.by_node),
            }),
        );
    }
    Value::Object(map)
}

/// The table under the bench's: per graph, its top operator types and nodes.
pub fn print(profiles: &[Profiled]) {
    for p in profiles {
        let g = &p.profile;
        println!(
            "\nprofile of `{}` ({} runs, {:.2} ms per run, {:.2} ms in kernels; {})",
            p.graph,
            g.runs,
            g.ms_per_run(g.run_us),
            g.ms_per_run(g.kernel_us()),
            p.file.display()
        );
        let kernel = g.kernel_us().max(1e-9);
        println!(
            "  {:<28} {:>9} {:>7} {:>7}",
            "operator type", "ms/run", "share", "calls"
        );
        for o in g.by_op_type.iter().take(TOP) {
            println!(
                "  {:<28} {:>9.3} {:>6.1}% {:>7.0}",
                o.op_type,
                g.ms_per_run(o.total_us),
                100.0 * o.total_us / kernel,
                o.calls as f64 / g.runs.max(1) as f64
            );
        }
        println!(
            "  {:<40} {:<16} {:>9} {:>7}",
            "slowest nodes", "type", "ms/run", "share"
        );
        for o in g.by_node.iter().take(6) {
            println!(
                "  {:<40} {:<16} {:>9.3} {:>6.1}%",
                shorten(&o.name, 40),
                o.op_type,
                g.ms_per_run(o.total_us),
                100.0 * o.total_us / kernel
            );
        }
    }
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn long_node_names_keep_their_tail() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("decoder.layers.5.fc2", 8), "…s.5.fc2");
    }
}
