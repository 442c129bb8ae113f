//! TensorRT optimisation profiles from real exported bundles (image, video and audio): every
//! symbolic dimension of every graph has a range, the ranges hold the shapes the oracle case
//! actually ran with, and each graph gets a profile. (Building engines needs a GPU; this checks
//! what the runtime would hand to TensorRT.)

use unival_manifest::{Dim, Precision};
use unival_runtime::engine::trt_shapes::{dim_ranges, profile_shapes};
use unival_tests::{export_case, OracleDir};

#[test]
fn every_graph_of_every_modality_gets_a_profile_covering_its_defaults() {
    let Some(oracle) = OracleDir::find() else {
        return;
    };
    for case in ["caption", "video_caption", "audio_caption"] {
        let tmp = tempfile::tempdir().unwrap();
        let m = export_case(&oracle, &oracle.case(case), tmp.path(), Precision::Fp32);
        let ranges = dim_ranges(&m);
        for r in ranges.values() {
            assert!(r.min <= r.opt && r.opt <= r.max, "{case}: {r:?}");
        }
        for (name, g) in &m.graphs {
            for input in &g.inputs {
                for d in &input.dims {
                    if let Dim::Symbol(s) = d {
                        assert!(
                            ranges.contains_key(s),
                            "{case}: graph {name} input {} uses `{s}`, which has no range",
                            input.name
                        );
                    }
                }
            }
            let [min, opt, max] = profile_shapes(g, &ranges)
                .unwrap_or_else(|| panic!("{case}: no profile for graph {name}"));
            for shapes in [&min, &opt, &max] {
                assert_eq!(
                    shapes.split(',').count(),
                    g.inputs
                        .iter()
                        .filter(|i| i.dims.iter().any(|d| matches!(d, Dim::Symbol(_))))
                        .count()
                );
            }
        }
        // The decoder's typical shape is a beam of one-token steps.
        let beam = m.task.generation.beam;
        let (_, opt, _) = {
            let [a, b, c] = profile_shapes(&m.graphs["decoder"], &ranges).unwrap();
            (a, b, c)
        };
        assert!(opt.contains(&format!("tokens:{beam}x1")), "{case}: {opt}");
        assert_eq!(ranges["n"].opt, beam as i64);
        if case == "audio_caption" {
            // The oracle's log-mel input is [1, 1, 2401, 64] (10 s at 48 kHz, hop 200).
            assert_eq!(ranges["frames"].opt, 2401);
        }
    }
}
