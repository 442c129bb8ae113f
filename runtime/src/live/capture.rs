//! The capture thread's loop: read a source until it ends, reopening it with exponential
//! backoff when the device goes away (ARCHITECTURE.md §5; issue "live loops", robustness), and
//! telling the user what happens ("camera 0 lost, retrying in 2 s", "camera 0 resumed").

use super::LiveError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// First wait before reopening a lost source.
pub const BACKOFF_START: Duration = Duration::from_millis(500);
/// Longest wait between reopening attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(8);

/// Exponential backoff 0.5 s, 1 s, 2 s, … capped at 8 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: BACKOFF_START,
        }
    }
}

impl Backoff {
    /// The wait before the next attempt; doubles the one after it.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        d
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.next = BACKOFF_START;
    }
}

/// Seconds as a person reads them: `0.5 s`, `2 s`.
pub fn human_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if (s - s.round()).abs() < 1e-9 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

/// How a capture loop ended.
#[derive(Debug)]
pub enum CaptureEnd {
    /// The stop flag was raised.
    Stopped,
    /// A finite source (a file played once) ran out.
    Finished,
    /// An error that reopening cannot fix.
    Failed(LiveError),
}

/// What a capture loop needs besides its source: where status lines go and when to stop.
pub struct CaptureCtx<'a> {
    /// Name used in status lines ("camera 0", "microphone").
    pub name: String,
    /// Receives each status line.
    pub status: &'a mut dyn FnMut(String),
    /// Receives each skipped item's error (one unreadable image), the loop goes on.
    pub item_error: &'a mut dyn FnMut(LiveError),
    /// Raised by the owner to end the loop.
    pub stop: &'a AtomicBool,
}

/// Sleeps `d` in short steps; false when `stop` was raised meanwhile.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
    false
}

/// Reads items from `source` with `next` and hands them to `deliver` until the source ends,
/// `ctx.stop` is raised, or an unrecoverable error occurs. A recoverable error
/// ([`LiveError::is_recoverable`]) reports "NAME lost (…), retrying in D", waits with
/// [`Backoff`] and calls `reopen` until it succeeds ("NAME resumed"); an item error
/// ([`LiveError::is_item_error`]) is reported and skipped.
pub fn run_capture<S, T>(
    mut source: S,
    mut reopen: impl FnMut() -> Result<S, LiveError>,
    mut next: impl FnMut(&mut S) -> Result<Option<T>, LiveError>,
    mut deliver: impl FnMut(T),
    ctx: CaptureCtx<'_>,
) -> CaptureEnd {
    let mut backoff = Backoff::default();
    loop {
        if ctx.stop.load(Ordering::Relaxed) {
            return CaptureEnd::Stopped;
        }
        let err = match next(&mut source) {
            Ok(Some(item)) => {
                deliver(item);
                continue;
            }
            Ok(None) => return CaptureEnd::Finished,
            Err(e) if e.is_item_error() => {
                (ctx.item_error)(e);
                continue;
            }
            Err(e) if e.is_recoverable() => e,
            Err(e) => return CaptureEnd::Failed(e),
        };
        // Lost: reopen until it comes back.
        let mut reason = err.to_string();
        loop {
            let delay = backoff.next_delay();
            (ctx.status)(format!(
                "{} lost ({reason}), retrying in {}",
                ctx.name,
                human_secs(delay)
            ));
            if !sleep_unless_stopped(delay, ctx.stop) {
                return CaptureEnd::Stopped;
            }
            match reopen() {
                Ok(s) => {
                    source = s;
                    backoff.reset();
                    (ctx.status)(format!("{} resumed", ctx.name));
                    break;
                }
                Err(e) if e.is_recoverable() => reason = e.to_string(),
                Err(e) => return CaptureEnd::Failed(e),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lost() -> LiveError {
        LiveError::Lost {
            source_name: "camera 0".into(),
            reason: "unplugged".into(),
        }
    }

    #[test]
    fn backoff_doubles_to_eight_seconds_and_resets() {
        let mut b = Backoff::default();
        let secs: Vec<f64> = (0..7).map(|_| b.next_delay().as_secs_f64()).collect();
        assert_eq!(secs, vec![0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]);
        b.reset();
        assert_eq!(b.next_delay(), BACKOFF_START);
        assert_eq!(human_secs(Duration::from_millis(500)), "0.5 s");
        assert_eq!(human_secs(Duration::from_secs(2)), "2 s");
    }

    #[test]
    fn a_lost_source_is_reopened_with_status_lines() {
        // Source: yields 1, 2, then is lost; the first reopen fails (still unplugged), the
        // second gives a source yielding 3 and ending.
        let stop = AtomicBool::new(false);
        let mut statuses = Vec::new();
        let mut errors = Vec::new();
        let mut got = Vec::new();
        let mut reopens = 0;
        let start = Instant::now();
        let end = run_capture(
            vec![Err(lost()), Ok(2), Ok(1)],
            || {
                reopens += 1;
                if reopens == 1 {
                    Err(LiveError::Open {
                        source_name: "camera 0".into(),
                        reason: "no such device".into(),
                    })
                } else {
                    Ok(vec![Ok(3)])
                }
            },
            |s: &mut Vec<Result<u32, LiveError>>| s.pop().transpose(),
            |x| got.push(x),
            CaptureCtx {
                name: "camera 0".into(),
                status: &mut |s| statuses.push(s),
                item_error: &mut |e| errors.push(e.to_string()),
                stop: &stop,
            },
        );
        assert!(matches!(end, CaptureEnd::Finished), "{end:?}");
        assert_eq!(got, vec![1, 2, 3]);
        assert_eq!(statuses.len(), 3, "{statuses:?}");
        assert!(statuses[0].starts_with("camera 0 lost ("), "{statuses:?}");
        assert!(statuses[0].ends_with("retrying in 0.5 s"), "{statuses:?}");
        assert!(statuses[1].contains("no such device") && statuses[1].ends_with("retrying in 1 s"));
        assert_eq!(statuses[2], "camera 0 resumed");
        assert!(errors.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(1500));
    }

    #[test]
    fn item_errors_are_skipped_and_fatal_errors_end_the_loop() {
        let stop = AtomicBool::new(false);
        let mut errors = Vec::new();
        let mut got = Vec::new();
        let bad_image = LiveError::Vision(crate::vision::VisionError::Empty {
            file: "x.png".into(),
        });
        let bad_spec = LiveError::BadSpec {
            spec: "x".into(),
            reason: "y".into(),
        };
        let end = run_capture(
            vec![Err(bad_spec), Ok(5), Err(bad_image), Ok(4)],
            || -> Result<Vec<Result<u32, LiveError>>, LiveError> { Ok(Vec::new()) },
            |s: &mut Vec<Result<u32, LiveError>>| s.pop().transpose(),
            |x| got.push(x),
            CaptureCtx {
                name: "images".into(),
                status: &mut |_| {},
                item_error: &mut |e| errors.push(e.to_string()),
                stop: &stop,
            },
        );
        assert!(matches!(end, CaptureEnd::Failed(LiveError::BadSpec { .. })));
        assert_eq!(got, vec![4, 5]);
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn stop_interrupts_the_backoff_wait() {
        let stop = AtomicBool::new(false);
        let start = Instant::now();
        let mut statuses = Vec::new();
        let end = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                stop.store(true, Ordering::Relaxed);
            });
            run_capture(
                (),
                || Err(lost()),
                |_: &mut ()| -> Result<Option<u32>, LiveError> { Err(lost()) },
                |_| {},
                CaptureCtx {
                    name: "camera 0".into(),
                    status: &mut |s| statuses.push(s),
                    item_error: &mut |_| {},
                    stop: &stop,
                },
            )
        });
        assert!(matches!(end, CaptureEnd::Stopped));
        assert!(start.elapsed() < Duration::from_millis(450));
        assert_eq!(statuses.len(), 1);
    }
}
