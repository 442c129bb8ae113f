//! Rotation metadata the way decord 0.6.0 reads and applies it (`VideoReader::GetRotation`,
//! `FFMPEGThreadedDecoder::SetCodecContext`).
//!
//! decord takes the stream's `rotate` tag when it is set and not `"0"`, otherwise the negated
//! angle of the display matrix (FFmpeg's `av_display_rotation_get`), wraps it into [0, 360),
//! truncates it to an integer and turns frames with libavfilter's `transpose` before the RGB24
//! conversion: 90 → `transpose=1` (clockwise), 180 → `transpose=1` twice, 270 → `transpose=2`
//! (counter-clockwise); any other angle is ignored. FFmpeg 4.1's MP4 demuxer exported the
//! matrix as the `rotate` tag with that same sign convention, FFmpeg 5.1's only as side data, so
//! reading both gives decord's angle on either version.
//!
//! decord 0.6.0 itself returns correct frames for 180° but fails for 90°/270° (`get_batch`
//! raises "The size must exactly match", indexing returns a 4-channel array of the wrong bytes;
//! checked with its wheel); we return the frames turned as its filter graph intends.

use ff::format::stream::Stream;
use ff::packet::side_data::Type as SideDataType;
use ffmpeg_next as ff;

/// The quarter turn decord applies to a stream's frames, clockwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    None,
    Clockwise90,
    Half,
    Clockwise270,
}

impl Rotation {
    /// decord's angle → rotation (`static_cast<int>` then exact 90/180/270).
    fn from_degrees(theta: f64) -> Rotation {
        let wrapped = theta % 360.0;
        let wrapped = if wrapped < 0.0 {
            wrapped + 360.0
        } else {
            wrapped
        };
        // `static_cast<int>` truncates toward zero.
        match wrapped.trunc() as i64 {
            90 => Rotation::Clockwise90,
            180 => Rotation::Half,
            270 => Rotation::Clockwise270,
            _ => Rotation::None,
        }
    }

    /// The filters decord puts before `scale` (each ends with a comma).
    pub(crate) fn filters(self) -> &'static str {
        match self {
            Rotation::None => "",
            Rotation::Clockwise90 => "transpose=1,",
            Rotation::Half => "transpose=1,transpose=1,",
            Rotation::Clockwise270 => "transpose=2,",
        }
    }

    /// Output (width, height) of a `w×h` frame.
    pub(crate) fn turned(self, w: u32, h: u32) -> (u32, u32) {
        match self {
            Rotation::Clockwise90 | Rotation::Clockwise270 => (h, w),
            Rotation::None | Rotation::Half => (w, h),
        }
    }
}

/// The rotation decord applies to `stream` (see the module docs).
pub(crate) fn stream_rotation(stream: &Stream) -> Rotation {
    let tag = stream
        .metadata()
        .get("rotate")
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "0")
        .map(leading_number);
    let theta = match tag {
        Some(t) if t != 0.0 => t,
        _ => stream
            .side_data()
            .find(|d| d.kind() == SideDataType::DisplayMatrix)
            .and_then(|d| display_rotation(d.data()))
            .map_or(0.0, |r| -r),
    };
    Rotation::from_degrees(theta)
}

/// C's `atof`: the longest leading decimal number of `text`, 0 when there is none.
fn leading_number(text: &str) -> f64 {
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+'))))
        .map_or(text.len(), |(i, _)| i);
    text[..end].parse().unwrap_or(0.0)
}

/// The counter-clockwise rotation in degrees a 3×3 display matrix (nine native-endian i32,
/// 16.16 fixed point except the last column) describes, as `av_display_rotation_get` computes
/// it; `None` for a malformed or degenerate matrix.
fn display_rotation(matrix: &[u8]) -> Option<f64> {
    let value = |k: usize| -> Option<f64> {
        let bytes: [u8; 4] = matrix.get(4 * k..4 * k + 4)?.try_into().ok()?;
        Some(f64::from(i32::from_ne_bytes(bytes)) / 65536.0)
    };
    let (a, b, c, d) = (value(0)?, value(1)?, value(3)?, value(4)?);
    let (scale_x, scale_y) = (a.hypot(c), b.hypot(d));
    if scale_x == 0.0 || scale_y == 0.0 {
        return None;
    }
    Some(-(b / scale_y).atan2(a / scale_x).to_degrees())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(values: [i32; 9]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn display_matrix_angles_map_to_decords_turns() {
        let one = 65536;
        // What FFmpeg writes for `-metadata:s:v rotate=90` (ffprobe: rotation=90): decord
        // negates it → 270 → counter-clockwise.
        let m = matrix([0, -one, 0, one, 0, 0, 0, 0, 1 << 30]);
        assert_eq!(display_rotation(&m), Some(90.0));
        assert_eq!(Rotation::from_degrees(-90.0), Rotation::Clockwise270);
        let m = matrix([-one, 0, 0, 0, -one, 0, 0, 0, 1 << 30]);
        assert_eq!(display_rotation(&m).map(f64::abs), Some(180.0));
        assert_eq!(Rotation::from_degrees(180.0), Rotation::Half);
        assert_eq!(Rotation::from_degrees(-180.0), Rotation::Half);
        assert_eq!(Rotation::from_degrees(90.0), Rotation::Clockwise90);
        assert_eq!(Rotation::from_degrees(450.0), Rotation::Clockwise90);
        assert_eq!(Rotation::from_degrees(45.0), Rotation::None);
        assert_eq!(Rotation::from_degrees(89.9), Rotation::None);
        assert_eq!(display_rotation(&matrix([0; 9])), None);
        assert_eq!(display_rotation(&[0u8; 7]), None);
        assert_eq!(leading_number("90"), 90.0);
        assert_eq!(leading_number("-90.5deg"), -90.5);
        assert_eq!(leading_number("abc"), 0.0);
    }
}
