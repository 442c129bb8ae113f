//! Fan-out to the page's viewers, bounded per viewer: results as Server-Sent Events (each
//! viewer has its own queue; a slow viewer loses its oldest events) and frames as JPEG (encoded
//! once per frame whoever watches; each viewer takes the newest and skips what it missed).

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};
use unival_runtime::live::{Frame, Watch};

/// Events a viewer may have pending; beyond it the oldest go.
pub const VIEWER_QUEUE: usize = 64;
/// Recent events a newly connected viewer is sent first.
pub const HISTORY: usize = 20;
/// Widest JPEG sent; larger frames are scaled down.
pub const MAX_JPEG_WIDTH: u32 = 960;
/// Fastest JPEG rate, frames per second.
pub const MAX_JPEG_FPS: f64 = 15.0;
/// JPEG quality, 1–100.
const JPEG_QUALITY: u8 = 80;

/// One viewer's pending events.
#[derive(Debug, Default)]
pub struct ViewerQueue {
    events: Mutex<VecDeque<String>>,
    ready: Condvar,
    closed: AtomicBool,
}

impl ViewerQueue {
    fn push(&self, event: &str) {
        let mut q = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() >= VIEWER_QUEUE {
            q.pop_front();
        }
        q.push_back(event.to_string());
        drop(q);
        self.ready.notify_all();
    }

    /// The next event, waiting up to `timeout`; `None` on timeout or when the hub closed.
    pub fn pop(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut q = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(e) = q.pop_front() {
                return Some(e);
            }
            let now = Instant::now();
            if self.closed.load(Ordering::Relaxed) || now >= deadline {
                return None;
            }
            q = self
                .ready
                .wait_timeout(q, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Whether the hub has closed (the run ended).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Events pending now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// Every connected viewer's queue, plus the recent history.
#[derive(Debug, Default)]
pub struct EventHub {
    viewers: Mutex<Vec<Arc<ViewerQueue>>>,
    history: Mutex<VecDeque<String>>,
}

impl EventHub {
    /// Sends `event` (a JSON text) to every viewer and keeps it in the history.
    pub fn publish(&self, event: &str) {
        {
            let mut h = self.history.lock().unwrap_or_else(PoisonError::into_inner);
            if h.len() >= HISTORY {
                h.pop_front();
            }
            h.push_back(event.to_string());
        }
        for v in self
            .viewers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            v.push(event);
        }
    }

    /// A new viewer's queue, holding the recent history.
    pub fn subscribe(&self) -> Arc<ViewerQueue> {
        let q = Arc::new(ViewerQueue::default());
        for e in self
            .history
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            q.push(e);
        }
        self.viewers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&q));
        q
    }

    /// Forgets a viewer that left.
    pub fn unsubscribe(&self, q: &Arc<ViewerQueue>) {
        self.viewers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|v| !Arc::ptr_eq(v, q));
    }

    /// Ends every viewer's stream.
    pub fn close(&self) {
        for v in self
            .viewers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            v.closed.store(true, Ordering::Relaxed);
            v.ready.notify_all();
        }
    }

    /// Viewers connected now.
    #[cfg(test)]
    pub fn viewers(&self) -> usize {
        self.viewers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// JPEG of a frame, scaled down to at most [`MAX_JPEG_WIDTH`] wide.
pub fn encode_jpeg(frame: &Frame) -> Result<Vec<u8>, image::ImageError> {
    let img = &frame.image;
    let scaled;
    let img = if img.width() > MAX_JPEG_WIDTH {
        let h = (u64::from(img.height()) * u64::from(MAX_JPEG_WIDTH) / u64::from(img.width()))
            .max(1) as u32;
        scaled = image::imageops::resize(img, MAX_JPEG_WIDTH, h, FilterType::Triangle);
        &scaled
    } else {
        img
    };
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).encode_image(img)?;
    Ok(out)
}

/// Encodes the newest frame as JPEG into `jpegs` while anyone watches (`watchers > 0`), at
/// most [`MAX_JPEG_FPS`] times a second, until `frames` closes.
pub fn encode_frames(frames: &Watch<Frame>, jpegs: &Watch<Vec<u8>>, watchers: &AtomicUsize) {
    let mut seen = 0;
    let period = Duration::from_secs_f64(1.0 / MAX_JPEG_FPS);
    while !frames.is_closed() {
        let Some((frame, version)) = frames.wait_newer(seen, Duration::from_millis(200)) else {
            continue;
        };
        seen = version;
        // The first frame is always encoded, so a viewer arriving later sees something at once.
        if watchers.load(Ordering::Relaxed) == 0 && jpegs.current().is_some() {
            continue;
        }
        let started = Instant::now();
        match encode_jpeg(&frame) {
            Ok(jpeg) => {
                jpegs.publish(Arc::new(jpeg));
            }
            Err(e) => eprintln!("warning: cannot encode frame {} as JPEG: {e}", frame.seq),
        }
        if let Some(rest) = period.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    jpegs.close();
}

#[cfg(test)]
mod tests {
    use super::*;
    use unival_runtime::live::Stamp;

    #[test]
    fn slow_viewer_loses_oldest_events_only() {
        let hub = EventHub::default();
        hub.publish("early");
        let slow = hub.subscribe();
        let fast = hub.subscribe();
        assert_eq!(fast.pop(Duration::ZERO).as_deref(), Some("early"));
        for i in 0..100 {
            hub.publish(&format!("e{i}"));
            assert!(fast.pop(Duration::ZERO).is_some());
        }
        assert_eq!(slow.len(), VIEWER_QUEUE);
        assert_eq!(slow.pop(Duration::ZERO).as_deref(), Some("e36"));
        assert_eq!(hub.viewers(), 2);
        hub.unsubscribe(&slow);
        assert_eq!(hub.viewers(), 1);
        // A new viewer gets the last HISTORY events first.
        let late = hub.subscribe();
        assert_eq!(late.len(), HISTORY);
        assert_eq!(late.pop(Duration::ZERO).as_deref(), Some("e80"));
        hub.close();
        assert!(fast.pop(Duration::from_secs(5)).is_none());
        assert!(fast.is_closed());
    }

    #[test]
    fn frames_become_bounded_jpegs() {
        let frame = Frame {
            image: image::RgbImage::from_pixel(1920, 1080, image::Rgb([200, 10, 10])),
            captured: Stamp::now(),
            seq: 0,
        };
        let jpeg = encode_jpeg(&frame).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (960, 540));

        let frames = Arc::new(Watch::new());
        let jpegs = Arc::new(Watch::new());
        let watchers = Arc::new(AtomicUsize::new(1));
        let encoder = {
            let (f, j, w) = (
                Arc::clone(&frames),
                Arc::clone(&jpegs),
                Arc::clone(&watchers),
            );
            std::thread::spawn(move || encode_frames(&f, &j, &w))
        };
        frames.publish(Arc::new(frame));
        let (jpeg, _) = jpegs.wait_newer(0, Duration::from_secs(5)).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        frames.close();
        encoder.join().unwrap();
        assert!(jpegs.is_closed());
    }
}
