//! The listener and connection wrapper behind the `slow_body` fault.
//!
//! A slow body means: the client receives the status line and headers at once, then waits
//! for the body. The natural way to build that is a streaming response body, but neither
//! `futures_core::Stream` nor `http_body::Frame` is nameable from our direct dependencies,
//! so no such body can be written without a new crate. Instead every connection is wrapped
//! in [`HoldIo`]: a handler marks its response with [`SlowBody`], the [`apply_body_hold`]
//! middleware arms the connection's [`BodyHold`], and the wrapper writes the response head
//! (everything up to the blank line) and then sleeps before writing the rest. On the wire
//! this is exactly a server that stalls after the headers. HTTP/1 serves one request at a
//! time per connection, so the next head written is the marked response's.

use axum::extract::{ConnectInfo, Request, connect_info::Connected};
use axum::middleware::Next;
use axum::response::Response;
use axum::serve::{IncomingStream, Listener};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use super::state::lock;

/// Response extension: hold this response's body back for the duration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlowBody(pub Duration);

/// Shared between a connection's [`HoldIo`] and the requests it carries (as connect info).
#[derive(Debug, Clone, Default)]
pub(crate) struct BodyHold(Arc<Mutex<Option<Duration>>>);

impl BodyHold {
    /// Holds the body of the next response written on the connection.
    fn arm(&self, delay: Duration) {
        *lock(&self.0) = Some(delay);
    }

    /// Takes the pending hold, if any.
    fn take(&self) -> Option<Duration> {
        lock(&self.0).take()
    }
}

impl Connected<IncomingStream<'_, SimListener>> for BodyHold {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.io().hold.clone()
    }
}

/// Middleware: arms the connection's hold when the handler marked its response slow.
pub(crate) async fn apply_body_hold(request: Request, next: Next) -> Response {
    let hold = request.extensions().get::<ConnectInfo<BodyHold>>().map(|info| info.0.clone());
    let response = next.run(request).await;
    if let (Some(hold), Some(SlowBody(delay))) = (hold, response.extensions().get::<SlowBody>()) {
        hold.arm(*delay);
    }
    response
}

/// A TCP listener whose connections can hold a response body back.
#[derive(Debug)]
pub(crate) struct SimListener(TcpListener);

impl SimListener {
    /// Wraps a bound listener.
    pub(crate) fn new(listener: TcpListener) -> Self {
        Self(listener)
    }
}

impl Listener for SimListener {
    type Io = HoldIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    // Small responses must leave at once, not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    let io = HoldIo { stream, hold: BodyHold::default(), state: Hold::Idle };
                    return (io, addr);
                }
                // Typically out of file descriptors: wait instead of spinning.
                Err(error) => {
                    tracing::debug!(%error, "vendor simulator failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Where a connection is in holding a body back.
#[derive(Debug)]
enum Hold {
    /// Writes pass through.
    Idle,
    /// The next response head is written alone, then the body waits this long.
    Armed(Duration),
    /// The head is out; the body waits for the timer.
    Holding(Pin<Box<Sleep>>),
}

/// A TCP connection that can stall between a response's head and its body.
#[derive(Debug)]
pub(crate) struct HoldIo {
    stream: TcpStream,
    hold: BodyHold,
    state: Hold,
}

/// The length of the HTTP head at the start of `buf` (through the blank line), if complete.
fn head_len(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4)
}

impl AsyncRead for HoldIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for HoldIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                Hold::Idle => match this.hold.take() {
                    Some(delay) => this.state = Hold::Armed(delay),
                    None => return Pin::new(&mut this.stream).poll_write(cx, buf),
                },
                Hold::Armed(delay) => {
                    let delay = *delay;
                    let Some(end) = head_len(buf) else {
                        // The head continues in a later write.
                        return Pin::new(&mut this.stream).poll_write(cx, buf);
                    };
                    let written = ready!(Pin::new(&mut this.stream).poll_write(cx, &buf[..end]))?;
                    if written == end {
                        this.state = Hold::Holding(Box::pin(tokio::time::sleep(delay)));
                    }
                    return Poll::Ready(Ok(written));
                }
                Hold::Holding(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state = Hold::Idle;
                    return Pin::new(&mut this.stream).poll_write(cx, buf);
                }
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_length() {
        assert_eq!(head_len(b"HTTP/1.1 200 OK\r\na: b\r\n\r\n{}"), Some(25));
        assert_eq!(head_len(b"HTTP/1.1 200 OK\r\na: b\r\n"), None);
    }
}
