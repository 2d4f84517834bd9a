//! A connection's timeouts: the [`Clock`] that knows which deadline applies (the
//! request header's, none while a handler runs, or the idle one) and the [`Timed`]
//! stream that ends the connection once it passes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::web::ServerLimits;

/// Which of a connection's timeouts runs, and since when.
pub(super) struct Clock {
    limits: ServerLimits,
    state: Mutex<ClockState>,
}

struct ClockState {
    /// Requests whose header is complete and whose handler runs: no timeout.
    handling: usize,
    /// When the request header being read began; `None` between requests.
    header_since: Option<Instant>,
    /// The last write to the client, or the end of the last handler.
    last_progress: Instant,
    /// The connection task, woken when a handler ends: hyper does not poll the
    /// stream again by itself, and the idle timeout must be armed.
    waker: Option<Waker>,
}

/// The failure a [`Clock`] reports when its deadline passes.
enum Expired {
    Header,
    Idle,
}

impl Clock {
    pub(super) fn new(limits: ServerLimits) -> Self {
        let now = Instant::now();
        Clock {
            limits,
            state: Mutex::new(ClockState {
                handling: 0,
                header_since: Some(now),
                last_progress: now,
                waker: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The deadline that applies now and what passing it means; remembers the
    /// task waiting for the stream.
    fn deadline(&self, waker: &Waker) -> Option<(Instant, Expired)> {
        let mut state = self.state();
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        if state.handling > 0 {
            None
        } else if let Some(since) = state.header_since {
            Some((since + self.limits.read_header_timeout, Expired::Header))
        } else {
            Some((
                state.last_progress + self.limits.idle_timeout,
                Expired::Idle,
            ))
        }
    }

    fn read_progress(&self) {
        let mut state = self.state();
        if state.handling == 0 && state.header_since.is_none() {
            state.header_since = Some(Instant::now());
        }
    }

    fn write_progress(&self) {
        self.state().last_progress = Instant::now();
    }

    /// A request header is complete: no timeout until the returned guard drops.
    pub(super) fn request_begins(self: &Arc<Self>) -> Handling {
        let mut state = self.state();
        state.handling += 1;
        state.header_since = None;
        Handling(Arc::clone(self))
    }
}

/// A running handler; its drop restarts the connection's idle clock.
pub(super) struct Handling(Arc<Clock>);

impl Drop for Handling {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.state();
            state.handling -= 1;
            state.header_since = None;
            state.last_progress = Instant::now();
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A connection's stream whose reads and writes fail once its [`Clock`]'s
/// deadline passes. Hyper polls the stream whenever it waits for the client, so
/// a failure here ends the connection.
pub(super) struct Timed<S> {
    inner: S,
    clock: Arc<Clock>,
    sleep: Pin<Box<Sleep>>,
    armed_for: Option<Instant>,
}

impl<S> Timed<S> {
    pub(super) fn new(inner: S, clock: Arc<Clock>) -> Self {
        Timed {
            inner,
            clock,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed_for: None,
        }
    }

    /// Called when the stream is not ready: the error to end the connection with
    /// once the deadline has passed; until then, a wake-up at the deadline.
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        let (deadline, expired) = self.clock.deadline(cx.waker())?;
        if self.armed_for != Some(deadline) {
            self.sleep.as_mut().reset(deadline.into());
            self.armed_for = Some(deadline);
        }
        self.sleep.as_mut().poll(cx).is_ready().then(|| {
            let message = match expired {
                Expired::Header => format!(
                    "no complete request header within {:?}",
                    self.clock.limits.read_header_timeout
                ),
                Expired::Idle => format!("idle for {:?}", self.clock.limits.idle_timeout),
            };
            io::Error::new(io::ErrorKind::TimedOut, message)
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => this
                .expired(cx)
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.clock.read_progress();
                Poll::Ready(Ok(()))
            }
            ready => ready,
        }
    }
}

impl<S> Timed<S> {
    /// A write's outcome: progress moves the idle deadline; a write that waits
    /// fails once the deadline has passed.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Pending => self
                .expired(cx)
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.clock.write_progress();
                }
                Poll::Ready(Ok(n))
            }
            ready => ready,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.after_write(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.after_write(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this
                .expired(cx)
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Pending => this
                .expired(cx)
                .map_or(Poll::Pending, |e| Poll::Ready(Err(e))),
            ready => ready,
        }
    }
}
