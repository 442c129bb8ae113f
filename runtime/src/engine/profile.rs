//! Where a graph's time goes, from ONNX Runtime's profiler (issue 6: "where a target is missed,
//! a profile that says where the time goes").
//!
//! With [`crate::SessionOptions::profile_dir`] set, every session writes ONNX Runtime's Chrome
//! trace JSON; [`crate::GraphSession::end_profiling`] closes it. [`GraphProfile::parse`] turns
//! one such file into time per operator type and per node: only the `*_kernel_time` events of
//! category `Node` count (the fences around them are bookkeeping), and `model_run` events give
//! the number of runs, so figures are per run. Control-flow nodes (`If`, `Loop`, `Scan`) are
//! left out: their kernel time is the time of the nodes in their bodies, which the profiler
//! lists on their own, so counting both would count that time twice.

use std::collections::BTreeMap;

/// Operators whose kernel time is their subgraphs' nodes' time.
const CONTAINERS: [&str; 3] = ["If", "Loop", "Scan"];

/// Kernel time of one operator type, or of one node, summed over every profiled run.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    /// Operator type (`MatMul`) or node name.
    pub name: String,
    /// Operator type of the node (equal to `name` for a per-type entry).
    pub op_type: String,
    /// Summed kernel time in microseconds.
    pub total_us: f64,
    /// How many kernel executions were summed.
    pub calls: usize,
}

/// One graph's profile: kernel time by operator type and by node, sorted slowest first.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphProfile {
    /// Number of `model_run` events (runs of the session while profiling).
    pub runs: usize,
    /// Summed wall time of those runs, microseconds.
    pub run_us: f64,
    /// Per operator type, slowest first.
    pub by_op_type: Vec<OpTime>,
    /// Per node, slowest first.
    pub by_node: Vec<OpTime>,
}

/// Why a profile file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    #[error("not ONNX Runtime profiler JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not ONNX Runtime profiler JSON: expected an array of events")]
    NotAnArray,
}

impl GraphProfile {
    /// Parses the profiler's JSON (an array of trace events).
    pub fn parse(json: &str) -> Result<GraphProfile, ProfileError> {
        let events: serde_json::Value = serde_json::from_str(json)?;
        let events = events.as_array().ok_or(ProfileError::NotAnArray)?;
        let mut runs = 0;
        let mut run_us = 0.0;
        let mut types: BTreeMap<String, OpTime> = BTreeMap::new();
        let mut nodes: BTreeMap<String, OpTime> = BTreeMap::new();
        for e in events {
            let cat = e["cat"].as_str().unwrap_or("");
            let name = e["name"].as_str().unwrap_or("");
            let dur = e["dur"].as_f64().unwrap_or(0.0);
            if cat == "Session" && name == "model_run" {
                runs += 1;
                run_us += dur;
                continue;
            }
            let Some(node) = name.strip_suffix("_kernel_time").filter(|_| cat == "Node") else {
                continue;
            };
            let op = e["args"]["op_name"].as_str().unwrap_or("?").to_string();
            if CONTAINERS.contains(&op.as_str()) {
                continue;
            }
            for (map, key) in [(&mut types, op.clone()), (&mut nodes, node.to_string())] {
                let entry = map.entry(key.clone()).or_insert_with(|| OpTime {
                    name: key,
                    op_type: op.clone(),
                    total_us: 0.0,
                    calls: 0,
                });
                entry.total_us += dur;
                entry.calls += 1;
            }
        }
        let sorted = |m: BTreeMap<String, OpTime>| {
            let mut v: Vec<OpTime> = m.into_values().collect();
            v.sort_by(|a, b| b.total_us.total_cmp(&a.total_us));
            v
        };
        Ok(GraphProfile {
            runs,
            run_us,
            by_op_type: sorted(types),
            by_node: sorted(nodes),
        })
    }

    /// Summed kernel time of every node, microseconds.
    pub fn kernel_us(&self) -> f64 {
        self.by_op_type.iter().map(|o| o.total_us).sum()
    }

    /// Milliseconds per run of `us` microseconds summed over all runs.
    pub fn ms_per_run(&self, us: f64) -> f64 {
        us / 1e3 / self.runs.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = r#"[
        {"cat":"Session","pid":1,"tid":1,"dur":900,"ts":1,"ph":"X","name":"model_loading_uri","args":{}},
        {"cat":"Session","pid":1,"tid":1,"dur":120,"ts":2,"ph":"X","name":"model_run","args":{}},
        {"cat":"Node","pid":1,"tid":1,"dur":2,"ts":3,"ph":"X","name":"mm0_fence_before","args":{"op_name":"MatMul"}},
        {"cat":"Node","pid":1,"tid":1,"dur":50,"ts":3,"ph":"X","name":"mm0_kernel_time","args":{"op_name":"MatMul","provider":"CPUExecutionProvider"}},
        {"cat":"Node","pid":1,"tid":1,"dur":30,"ts":4,"ph":"X","name":"mm1_kernel_time","args":{"op_name":"MatMul"}},
        {"cat":"Node","pid":1,"tid":1,"dur":10,"ts":5,"ph":"X","name":"sm_kernel_time","args":{"op_name":"Softmax"}},
        {"cat":"Node","pid":1,"tid":1,"dur":35,"ts":5,"ph":"X","name":"head_kernel_time","args":{"op_name":"If"}},
        {"cat":"Session","pid":1,"tid":1,"dur":100,"ts":6,"ph":"X","name":"model_run","args":{}},
        {"cat":"Node","pid":1,"tid":1,"dur":40,"ts":7,"ph":"X","name":"mm0_kernel_time","args":{"op_name":"MatMul"}},
        {"cat":"Node","pid":1,"tid":1,"dur":12,"ts":8,"ph":"X","name":"sm_kernel_time","args":{"op_name":"Softmax"}}
    ]"#;

    #[test]
    fn sums_kernel_time_by_type_and_node_per_run() {
        let p = GraphProfile::parse(TRACE).unwrap();
        assert_eq!(p.runs, 2);
        assert_eq!(p.run_us, 220.0);
        let types: Vec<(&str, f64, usize)> = p
            .by_op_type
            .iter()
            .map(|o| (o.name.as_str(), o.total_us, o.calls))
            .collect();
        assert_eq!(types, vec![("MatMul", 120.0, 3), ("Softmax", 22.0, 2)]);
        assert_eq!(p.by_node[0].name, "mm0");
        assert_eq!(p.by_node[0].total_us, 90.0);
        assert_eq!(p.by_node[0].op_type, "MatMul");
        assert_eq!(p.kernel_us(), 142.0);
        assert_eq!(p.ms_per_run(142.0), 0.071);
    }

    #[test]
    fn rejects_what_is_not_a_trace() {
        assert!(matches!(
            GraphProfile::parse("{}"),
            Err(ProfileError::NotAnArray)
        ));
        assert!(matches!(
            GraphProfile::parse("[{\"cat\""),
            Err(ProfileError::Json(_))
        ));
    }
}
