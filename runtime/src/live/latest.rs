//! Newest-wins hand-over (ARCHITECTURE.md §5): what lies between a capture thread and
//! the inference loop, and between the loop and the web page's viewers.
//!
//! [`Latest`] holds at most one pending item: a put while one is pending replaces it and counts
//! the replaced one as dropped, so a slow consumer sees fresh items and memory stays flat.
//! [`Watch`] publishes the newest value to any number of readers, each of which waits for a
//! value newer than the last one it saw and skips whatever it missed.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// What a wait on a [`Latest`] slot gave.
#[derive(Debug, PartialEq)]
pub enum Taken<T> {
    /// The pending item.
    Item(T),
    /// Nothing arrived before the timeout.
    Empty,
    /// The slot is closed and empty: no item will ever come.
    Closed,
}

#[derive(Debug)]
struct SlotState<T> {
    item: Option<T>,
    closed: bool,
    put: u64,
    dropped: u64,
}

/// A one-item mailbox where the newest item wins. Cheap to share behind an [`Arc`].
#[derive(Debug)]
pub struct Latest<T> {
    state: Mutex<SlotState<T>>,
    ready: Condvar,
}

/// A lock that survives a panicked holder: the state is plain data and stays consistent.
fn lock<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Latest {
            state: Mutex::new(SlotState {
                item: None,
                closed: false,
                put: 0,
                dropped: 0,
            }),
            ready: Condvar::new(),
        }
    }
}

impl<T> Latest<T> {
    /// An empty, open slot.
    pub fn new() -> Latest<T> {
        Latest::default()
    }

    /// Leaves `item` for the consumer, replacing (and counting as dropped) one still pending.
    /// Returns whether an item was replaced. Items put after [`Latest::close`] are dropped.
    pub fn put(&self, item: T) -> bool {
        let mut s = lock(&self.state);
        s.put += 1;
        if s.closed {
            s.dropped += 1;
            return true;
        }
        let replaced = s.item.replace(item).is_some();
        if replaced {
            s.dropped += 1;
        }
        drop(s);
        self.ready.notify_all();
        replaced
    }

    /// Takes the pending item, waiting up to `timeout` for one.
    pub fn take_timeout(&self, timeout: Duration) -> Taken<T> {
        let deadline = Instant::now() + timeout;
        let mut s = lock(&self.state);
        loop {
            if let Some(item) = s.item.take() {
                return Taken::Item(item);
            }
            if s.closed {
                return Taken::Closed;
            }
            let now = Instant::now();
            if now >= deadline {
                return Taken::Empty;
            }
            s = self
                .ready
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// No more items will be put; a consumer drains the pending one, then sees
    /// [`Taken::Closed`].
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.ready.notify_all();
    }

    /// Items replaced before anyone took them (or put after closing).
    pub fn dropped(&self) -> u64 {
        lock(&self.state).dropped
    }

    /// Items put in all.
    pub fn put_count(&self) -> u64 {
        lock(&self.state).put
    }
}

#[derive(Debug)]
struct WatchState<T> {
    value: Option<Arc<T>>,
    version: u64,
    closed: bool,
}

/// The newest value for many readers. Readers hold [`Arc`]s, so a value is never copied per
/// reader and a slow reader only delays itself.
#[derive(Debug)]
pub struct Watch<T> {
    state: Mutex<WatchState<T>>,
    changed: Condvar,
}

impl<T> Default for Watch<T> {
    fn default() -> Self {
        Watch {
            state: Mutex::new(WatchState {
                value: None,
                version: 0,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }
}

impl<T> Watch<T> {
    /// A watch with no value yet (version 0).
    pub fn new() -> Watch<T> {
        Watch::default()
    }

    /// Publishes `value` as the newest; returns its version (1, 2, …).
    pub fn publish(&self, value: Arc<T>) -> u64 {
        let mut s = lock(&self.state);
        s.value = Some(value);
        s.version += 1;
        let v = s.version;
        drop(s);
        self.changed.notify_all();
        v
    }

    /// The newest value and its version, if any.
    pub fn current(&self) -> Option<(Arc<T>, u64)> {
        let s = lock(&self.state);
        s.value.clone().map(|v| (v, s.version))
    }

    /// Waits up to `timeout` for a value newer than version `seen`; `None` on timeout or once
    /// the watch is closed.
    pub fn wait_newer(&self, seen: u64, timeout: Duration) -> Option<(Arc<T>, u64)> {
        let deadline = Instant::now() + timeout;
        let mut s = lock(&self.state);
        loop {
            if s.closed {
                return None;
            }
            if s.version > seen {
                if let Some(v) = s.value.clone() {
                    return Some((v, s.version));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Ends every wait; readers stop.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.changed.notify_all();
    }

    /// Whether [`Watch::close`] was called.
    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn newest_item_wins_and_replaced_ones_are_counted() {
        let slot = Latest::new();
        assert!(!slot.put(1));
        assert!(slot.put(2));
        assert!(slot.put(3));
        assert_eq!(slot.take_timeout(Duration::ZERO), Taken::Item(3));
        assert_eq!(slot.take_timeout(Duration::from_millis(5)), Taken::Empty);
        assert_eq!(slot.dropped(), 2);
        assert_eq!(slot.put_count(), 3);
    }

    #[test]
    fn consumer_waits_for_a_producer_and_sees_the_close() {
        let slot = Arc::new(Latest::new());
        let producer = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                slot.put("frame");
                slot.close();
            })
        };
        assert_eq!(
            slot.take_timeout(Duration::from_secs(5)),
            Taken::Item("frame")
        );
        assert_eq!(slot.take_timeout(Duration::from_secs(5)), Taken::Closed);
        producer.join().unwrap();
        assert!(slot.put("late"));
        assert_eq!(slot.dropped(), 1);
    }

    #[test]
    fn a_slow_consumer_never_sees_a_backlog() {
        // A producer 10x faster than the consumer: the consumer always gets a recent item and
        // the slot never holds more than one.
        let slot = Arc::new(Latest::new());
        let producer = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                for i in 0..200u32 {
                    slot.put(i);
                    thread::sleep(Duration::from_millis(1));
                }
                slot.close();
            })
        };
        let mut got = Vec::new();
        loop {
            match slot.take_timeout(Duration::from_millis(50)) {
                Taken::Item(i) => {
                    got.push(i);
                    thread::sleep(Duration::from_millis(10));
                }
                Taken::Empty => {}
                Taken::Closed => break,
            }
        }
        producer.join().unwrap();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        assert!(got.len() < 100, "consumer saw {} items", got.len());
        assert_eq!(slot.dropped() + got.len() as u64, 200);
    }

    #[test]
    fn watch_readers_skip_to_the_newest_value() {
        let w = Watch::new();
        assert!(w.wait_newer(0, Duration::from_millis(5)).is_none());
        w.publish(Arc::new("a"));
        w.publish(Arc::new("b"));
        let (v, ver) = w.wait_newer(0, Duration::ZERO).unwrap();
        assert_eq!((*v, ver), ("b", 2));
        assert!(w.wait_newer(ver, Duration::from_millis(5)).is_none());
        w.publish(Arc::new("c"));
        assert_eq!(*w.wait_newer(ver, Duration::ZERO).unwrap().0, "c");
        w.close();
        assert!(w.is_closed());
        assert!(w.wait_newer(0, Duration::from_secs(5)).is_none());
    }
}
