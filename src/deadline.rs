//! A deadline on writing responses: a connection whose response makes no
//! progress for `--write-timeout` is closed.
//!
//! The handler answers from memory in microseconds, so what can hold a
//! request open is a client that does not read: it pipelines requests and
//! lets the answers pile up in the socket until the write blocks. hyper has
//! no write timeout, so the socket is wrapped here. The timer is made once
//! per connection and armed only while a write is blocked; a write that
//! completes costs one branch.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// `inner` with writes that fail with `TimedOut` after stalling `limit`.
pub(crate) struct WriteDeadline<T> {
    inner: T,
    limit: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
}

impl<T> WriteDeadline<T> {
    pub fn new(inner: T, limit: Duration) -> WriteDeadline<T> {
        WriteDeadline {
            inner,
            limit,
            timer: Box::pin(tokio::time::sleep(limit)),
            armed: false,
        }
    }

    /// Called when a write is blocked: `Pending` until the deadline, then
    /// the error that makes hyper close the connection.
    fn stalled<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        if !self.armed {
            self.timer.as_mut().reset(Instant::now() + self.limit);
            self.armed = true;
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading its responses",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<R>(&mut self, result: io::Result<R>) -> Poll<io::Result<R>> {
        self.armed = false;
        Poll::Ready(result)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(result) => self.progressed(result),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => self.progressed(result),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(result) => self.progressed(result),
            Poll::Pending => self.stalled(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_write_that_never_completes_times_out() {
        // A pipe nobody reads: the second write blocks forever.
        let (client, _server) = tokio::io::duplex(16);
        let mut io = WriteDeadline::new(client, Duration::from_secs(3));
        io.write_all(&[0; 16]).await.unwrap();
        let started = Instant::now();
        let err = io.write_all(&[0; 16]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_but_steady_progress_is_not_cut() {
        use tokio::io::AsyncReadExt;
        let (client, mut server) = tokio::io::duplex(4);
        let mut io = WriteDeadline::new(client, Duration::from_secs(1));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 4];
            for _ in 0..8 {
                tokio::time::sleep(Duration::from_millis(600)).await;
                server.read_exact(&mut buf).await.unwrap();
            }
        });
        // 32 bytes through a 4-byte pipe read every 0.6 s: each stall is
        // under the 1 s limit, the whole write takes longer.
        io.write_all(&[1; 32]).await.unwrap();
        reader.await.unwrap();
    }
}
