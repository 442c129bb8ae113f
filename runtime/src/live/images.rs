//! A folder of images shown as a slideshow in real time: the stand-in for a camera that makes
//! loops testable without one. Files are taken in name order (as
//! [`crate::vision::video::frames_dir::list_frames`] lists them), one every `1/fps` seconds.

use super::{Frame, FrameOptions, FrameSource, LiveError};
use crate::vision::video::frames_dir::list_frames;
use crate::vision::{load_rgb, ImageOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Slides per second when `--fps` is not given.
pub const DEFAULT_SLIDE_FPS: f64 = 2.0;

/// The image-folder frame source.
pub struct ImageFolderSource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    period: Duration,
    looped: bool,
    next: usize,
    seq: u64,
    /// When frame `seq` is due.
    due: Option<Instant>,
    image: ImageOptions,
}

impl ImageFolderSource {
    /// Lists the images of `dir` (at least one) and paces them at `opts.fps` (default
    /// `DEFAULT_SLIDE_FPS`); `opts.looped` starts over after the last one.
    pub fn open(dir: &Path, opts: &FrameOptions) -> Result<ImageFolderSource, LiveError> {
        let files = list_frames(dir)?;
        let fps = opts.fps.unwrap_or(DEFAULT_SLIDE_FPS);
        if !(fps.is_finite() && fps > 0.0) {
            return Err(LiveError::BadSpec {
                spec: format!("--fps {fps}"),
                reason: "the frame rate must be a positive number".into(),
            });
        }
        Ok(ImageFolderSource {
            dir: dir.to_path_buf(),
            files,
            period: Duration::from_secs_f64(1.0 / fps),
            looped: opts.looped,
            next: 0,
            seq: 0,
            due: None,
            image: ImageOptions::default(),
        })
    }
}

impl FrameSource for ImageFolderSource {
    fn describe(&self) -> String {
        format!(
            "images {} ({} files, {:.1} fps{})",
            self.dir.display(),
            self.files.len(),
            1.0 / self.period.as_secs_f64(),
            if self.looped { ", looped" } else { "" }
        )
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, LiveError> {
        if self.next == self.files.len() {
            if !self.looped {
                return Ok(None);
            }
            self.next = 0;
        }
        let now = Instant::now();
        let due = self.due.unwrap_or(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        // A consumer that fell behind does not make the slideshow rush to catch up.
        self.due = Some(due.max(now) + self.period);
        let path = &self.files[self.next];
        self.next += 1;
        let image = load_rgb(path, &self.image)?;
        Ok(Some(Frame::captured_now(image, &mut self.seq)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn folder(n: usize) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..n {
            let img = image::RgbImage::from_pixel(8, 6, image::Rgb([i as u8 * 40, 0, 0]));
            img.save(dir.path().join(format!("f{i:02}.png"))).unwrap();
        }
        dir
    }

    #[test]
    fn yields_files_in_order_then_ends() {
        let dir = folder(3);
        let opts = FrameOptions {
            fps: Some(200.0),
            ..FrameOptions::default()
        };
        let mut src = ImageFolderSource::open(dir.path(), &opts).unwrap();
        let reds: Vec<u8> = std::iter::from_fn(|| src.next_frame().unwrap())
            .map(|f| f.image.get_pixel(0, 0)[0])
            .collect();
        assert_eq!(reds, vec![0, 40, 80]);
    }

    #[test]
    fn loops_and_paces_in_real_time() {
        let dir = folder(2);
        let opts = FrameOptions {
            fps: Some(50.0),
            looped: true,
            ..FrameOptions::default()
        };
        let mut src = ImageFolderSource::open(dir.path(), &opts).unwrap();
        let start = Instant::now();
        let seqs: Vec<u64> = (0..6)
            .map(|_| src.next_frame().unwrap().unwrap().seq)
            .collect();
        assert_eq!(seqs, vec![0, 1, 2, 3, 4, 5]);
        // Six frames at 50 fps: the sixth is due 100 ms after the first.
        assert!(start.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn empty_folder_and_bad_rate_are_refused() {
        let empty = tempfile::tempdir().unwrap();
        let err = ImageFolderSource::open(empty.path(), &FrameOptions::default());
        assert!(matches!(err, Err(LiveError::Video(_))));
        let dir = folder(1);
        let opts = FrameOptions {
            fps: Some(0.0),
            ..FrameOptions::default()
        };
        assert!(matches!(
            ImageFolderSource::open(dir.path(), &opts),
            Err(LiveError::BadSpec { .. })
        ));
    }

    #[test]
    fn an_unreadable_image_is_an_item_error() {
        let dir = folder(1);
        std::fs::write(dir.path().join("f99.png"), b"not a png").unwrap();
        let opts = FrameOptions {
            fps: Some(500.0),
            ..FrameOptions::default()
        };
        let mut src = ImageFolderSource::open(dir.path(), &opts).unwrap();
        assert!(src.next_frame().unwrap().is_some());
        let err = src.next_frame().unwrap_err();
        assert!(err.is_item_error(), "{err}");
        assert!(err.to_string().contains("f99.png"), "{err}");
        assert!(src.next_frame().unwrap().is_none());
    }
}
