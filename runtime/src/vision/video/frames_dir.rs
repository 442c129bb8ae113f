//! A directory of frame images used as a video: the files whose extension is an image format
//! the image loader reads, sorted by file name (byte-wise, like Python's `sorted(os.listdir())`;
//! name frames with zero-padded numbers, `frame_0001.png`, so that this is temporal order).
//! Each frame is decoded like an image input (`vision::load_rgb`, Pillow-equivalent RGB).

use super::error::VideoError;
use crate::vision::{load_rgb, ImageOptions};
use image::RgbImage;
use std::path::{Path, PathBuf};

/// File extensions (lower-case) taken as frames.
pub const FRAME_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "jpe"];

/// The frame files of `dir` in temporal (sorted-name) order.
///
/// Fails with [`VideoError::NotFound`], [`VideoError::Io`] or [`VideoError::EmptyDirectory`].
pub fn list_frames(dir: &Path) -> Result<Vec<PathBuf>, VideoError> {
    let io = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::NotFound {
            VideoError::NotFound {
                file: dir.to_path_buf(),
            }
        } else {
            VideoError::Io {
                file: dir.to_path_buf(),
                source,
            }
        }
    };
    let mut frames = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_frame = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| FRAME_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if is_frame && path.is_file() {
            frames.push(path);
        }
    }
    if frames.is_empty() {
        return Err(VideoError::EmptyDirectory {
            dir: dir.to_path_buf(),
            extensions: FRAME_EXTENSIONS.join(", "),
        });
    }
    frames.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(frames)
}

/// Loads `frames[i]` for each `i` of `indices` (repeats are decoded once).
///
/// Fails with [`VideoError::IndexOutOfRange`] or [`VideoError::FrameImage`] (naming the frame).
pub fn load_frames(
    dir: &Path,
    frames: &[PathBuf],
    indices: &[usize],
) -> Result<Vec<RgbImage>, VideoError> {
    let opts = ImageOptions::default();
    let mut loaded: Vec<(usize, RgbImage)> = Vec::new();
    indices
        .iter()
        .map(|&i| {
            if let Some((_, img)) = loaded.iter().find(|(j, _)| *j == i) {
                return Ok(img.clone());
            }
            let file = frames.get(i).ok_or_else(|| VideoError::IndexOutOfRange {
                file: dir.to_path_buf(),
                index: i,
                total_frames: frames.len(),
            })?;
            let img = load_rgb(file, &opts).map_err(|source| VideoError::FrameImage {
                dir: dir.to_path_buf(),
                file: file.clone(),
                source,
            })?;
            loaded.push((i, img.clone()));
            Ok(img)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_images_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["f_010.png", "f_002.PNG", "notes.txt", "f_001.jpg"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.png")).unwrap();
        let names: Vec<String> = list_frames(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["f_001.jpg", "f_002.PNG", "f_010.png"]);
    }

    #[test]
    fn empty_and_missing_directories_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("readme.md"), b"x").unwrap();
        assert!(matches!(
            list_frames(dir.path()),
            Err(VideoError::EmptyDirectory { .. })
        ));
        assert!(matches!(
            list_frames(&dir.path().join("nope")),
            Err(VideoError::NotFound { .. })
        ));
    }

    #[test]
    fn bad_frame_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("a.png");
        std::fs::write(&bad, b"not a png").unwrap();
        let frames = list_frames(dir.path()).unwrap();
        match load_frames(dir.path(), &frames, &[0]) {
            Err(VideoError::FrameImage { file, .. }) => assert_eq!(file, bad),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            load_frames(dir.path(), &frames, &[1]),
            Err(VideoError::IndexOutOfRange { index: 1, .. })
        ));
    }
}
