//! Connections: a small tokio runtime owned by the web server accepts them, caps how many are
//! open and hands each to hyper's HTTP/1.1 engine with its limits set (issue 15: one client
//! must not be able to hold the server).
//!
//! - At most [`MAX_CONNECTIONS`] connections are served at once; one more is answered 503 at
//!   once and closed.
//! - A request head longer than [`MAX_HEAD_BYTES`] is answered 431 by hyper (its read buffer
//!   is that size, the smallest hyper allows).
//! - A request head must arrive within [`HEAD_DEADLINE`] of hyper starting to read it (a
//!   connection that sends nothing counts too): a client sending one byte a second (slowloris)
//!   is closed. hyper closes without an answer here: it sends no 408 for its own timeout.
//! - Every write may stall at most [`WRITE_TIMEOUT`] ([`TimedIo`]): a viewer that stops reading
//!   its stream is dropped instead of holding its task and buffers.
//! - One request per connection (no keep-alive): an idle keep-alive connection would hold a
//!   slot of the cap for nothing, and the page opens few connections.

use super::routes::{self, Shared};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Sleep;

/// Connections served at once, streams included (of which at most `routes::MAX_STREAMS`).
pub const MAX_CONNECTIONS: usize = 64;
/// Longest request head (request line and headers); hyper's smallest read buffer.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Time allowed for a request head to arrive.
pub const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// Longest a single write may stall (a viewer that stopped reading).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After a 503, how long unread request bytes are drained so the client sees the answer
/// rather than a connection reset.
const LINGER_REFUSED: Duration = Duration::from_millis(50);

/// Runs the accept loop on a runtime of its own until `stop` turns true.
pub fn run(listener: std::net::TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return eprintln!("warning: web server: cannot start its runtime: {e}"),
    };
    runtime.block_on(async move {
        let listener = match listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
        {
            Ok(l) => l,
            Err(e) => return eprintln!("warning: web server: {e}"),
        };
        accept_loop(listener, shared, stop).await;
    });
}

/// Releases a connection slot when the connection's task ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    eprintln!("warning: web server: {e}");
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        if open.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::Relaxed);
            tokio::spawn(refuse(stream));
            continue;
        }
        let slot = Slot(Arc::clone(&open));
        tokio::spawn(connection(stream, Arc::clone(&shared), slot));
    }
}

/// Serves one connection through hyper with the limits above.
async fn connection(stream: TcpStream, shared: Arc<Shared>, _slot: Slot) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(TimedIo::new(stream, WRITE_TIMEOUT));
    let service = service_fn(move |req| routes::route(req, Arc::clone(&shared)));
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_DEADLINE)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false)
        .serve_connection(io, service)
        .await;
    // Clients leaving, timeouts and malformed requests end here; none concerns the operator.
    drop(served);
}

/// Answers 503 and closes politely: the client may still be sending its request, and closing
/// with unread bytes would reset the connection before it read the answer.
async fn refuse(mut stream: TcpStream) {
    let answer = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
        Content-Length: 39\r\nConnection: close\r\n\r\ntoo many connections, try again later\r\n";
    let sent = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer).await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(LINGER_REFUSED, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// A socket whose writes fail once one has stalled for `limit` ([`WRITE_TIMEOUT`] here).
pub struct TimedIo<S> {
    stream: S,
    limit: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> TimedIo<S> {
    fn new(stream: S, limit: Duration) -> TimedIo<S> {
        TimedIo {
            stream,
            limit,
            stalled: None,
        }
    }

    /// Runs a write-side poll, failing it once it has been pending for too long.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match poll(Pin::new(&mut self.stream), cx) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = self.limit;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(std::io::ErrorKind::TimedOut.into())),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.bounded(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.bounded(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.bounded(cx, |s, cx| s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that stops reading: the write that stalls fails after the limit instead of
    /// waiting forever; writes that progress are not cut.
    #[test]
    fn a_stalled_write_times_out() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (near, mut far) = tokio::io::duplex(64);
            let mut io = TimedIo::new(near, Duration::from_millis(200));
            io.write_all(&[1; 64]).await.unwrap();
            let mut got = [0u8; 64];
            far.read_exact(&mut got).await.unwrap();
            io.write_all(&[2; 64]).await.unwrap();
            let started = std::time::Instant::now();
            let stalled = io.write_all(&[3; 1]).await.unwrap_err();
            assert_eq!(stalled.kind(), std::io::ErrorKind::TimedOut);
            assert!(started.elapsed() >= Duration::from_millis(200));
        });
    }
}
