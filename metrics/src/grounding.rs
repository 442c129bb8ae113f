//! Visual grounding (RefCOCO/+/g) Acc@IoU, as OFA/UnIVAL's `RefcocoTask._calculate_ap_score`
//! computes it: boxes are continuous `x0,y0,x1,y1` coordinates (no "+1 pixel" convention), the
//! IoU denominator carries `+1e-6`, a hit needs `iou >= threshold` **and** a positive overlap
//! width and height. The original works in float32 tensors; this works in f64, which can only
//! differ for an IoU within ~1e-7 of the threshold.

use serde::{Deserialize, Serialize};

/// One grounding prediction and its target box, both `[x0, y0, x1, y1]` in image pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundingItem {
    /// Item id, for messages.
    pub id: String,
    /// Predicted box.
    pub predicted: [f64; 4],
    /// Annotated box.
    pub target: [f64; 4],
}

/// Overlap `(width, height)` of two boxes (negative when they do not overlap).
fn overlap(a: [f64; 4], b: [f64; 4]) -> (f64, f64) {
    let x0 = a[0].max(b[0]);
    let y0 = a[1].max(b[1]);
    let x1 = a[2].min(b[2]);
    let y1 = a[3].min(b[3]);
    (x1 - x0, y1 - y0)
}

/// Intersection over union of two `[x0, y0, x1, y1]` boxes with the original's `+1e-6` in the
/// denominator; 0 when they do not overlap.
pub fn box_iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let (w, h) = overlap(a, b);
    if w <= 0.0 || h <= 0.0 {
        return 0.0;
    }
    let inter = w * h;
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    inter / (area_a + area_b - inter + 1e-6)
}

/// Whether `item` counts as correct at `threshold` (the original's rule, see the module doc).
pub fn grounding_hit(item: &GroundingItem, threshold: f64) -> bool {
    let (w, h) = overlap(item.predicted, item.target);
    w > 0.0 && h > 0.0 && box_iou(item.predicted, item.target) >= threshold
}

/// Fraction (in [0, 1]) of items whose IoU reaches `threshold` (Acc@0.5 with 0.5); 0 for no items.
pub fn grounding_accuracy(items: &[GroundingItem], threshold: f64) -> f64 {
    let hits = items.iter().filter(|i| grounding_hit(i, threshold)).count();
    crate::accuracy(hits, items.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(p: [f64; 4], t: [f64; 4]) -> GroundingItem {
        GroundingItem {
            id: "x".into(),
            predicted: p,
            target: t,
        }
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = [10.0, 10.0, 20.0, 20.0];
        assert!((box_iou(a, a) - 100.0 / (100.0 + 1e-6)).abs() < 1e-12);
        assert_eq!(box_iou(a, [20.0, 10.0, 30.0, 20.0]), 0.0); // touching edge: no overlap
        assert_eq!(box_iou(a, [30.0, 30.0, 40.0, 40.0]), 0.0);
    }

    #[test]
    fn iou_half_overlap_uses_continuous_coordinates() {
        // 10x10 boxes shifted by 5: inter 50, union 150 -> 1/3 (no +1 pixel widths).
        let iou = box_iou([0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]);
        assert!((iou - 50.0 / (150.0 + 1e-6)).abs() < 1e-12);
    }

    #[test]
    fn accuracy_counts_iou_at_threshold_as_hit() {
        // inter 100, union 200 -> 0.5 minus the 1e-6 epsilon effect: just below 0.5.
        let below = item([0.0, 0.0, 10.0, 20.0], [0.0, 10.0, 10.0, 30.0]);
        assert!(box_iou(below.predicted, below.target) < 0.5);
        let good = item([0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 11.0]);
        assert_eq!(grounding_accuracy(&[below, good], 0.5), 0.5);
        assert_eq!(grounding_accuracy(&[], 0.5), 0.0);
    }
}
