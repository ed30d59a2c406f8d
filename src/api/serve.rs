//! Serving the control API over TCP, with the limits `axum::serve` does not offer.
//!
//! # Design
//!
//! `axum::serve` keeps a connection open as long as its peer likes: a client that sends
//! half a request head, or connects and sends nothing, holds a task and a file descriptor
//! for ever, and enough of them exhaust the process. So the API has its own accept loop:
//!
//! - **Header-read timeout, which is also the idle timeout.** hyper starts its header
//!   timer whenever it waits for a request head: on a fresh connection and again after
//!   every answer on a kept-alive one. A connection that has not delivered a whole head
//!   within [`ServeLimits::header_read_timeout`] is closed, whether it trickles bytes
//!   (slowloris), sends nothing (half-open, idle) or sits idle between requests. A request
//!   whose head arrived is never cut: a sync may rightly take minutes to answer.
//! - **A connection cap.** A semaphore holds one place per open connection; when all
//!   [`ServeLimits::max_connections`] are taken, a new connection gets a JSON 503 and is
//!   closed (after a bounded drain, so the answer is not overtaken by a reset), so the ones
//!   already open (a waiting sync) are not starved. At most [`MAX_DRAINS`] refused
//!   connections drain at once; past that one is closed at once, so a flood of connections
//!   over the cap holds no more than that many sockets beyond the cap.
//! - **Graceful shutdown.** When `shutdown` resolves, the listener closes, idle connections
//!   close at once, and a connection with a request in flight closes after its answer.
//!   The places of the cap double as the count of open connections, so waiting for all
//!   of them to come back is waiting for the last answer to be written.

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::{debug, warn};

/// The limits on connections to the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// How long a connection may take to deliver a whole request head, counted from when
    /// the server starts waiting for one (on connect, and after each answer): also how long
    /// an idle connection stays open.
    pub header_read_timeout: Duration,
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
}

impl Default for ServeLimits {
    /// Generous for loopback clients (the CLI, the tray, a local cron), which send a head in
    /// microseconds and hold a handful of connections.
    fn default() -> Self {
        Self { header_read_timeout: Duration::from_secs(10), max_connections: 128 }
    }
}

/// The answer to a connection over the cap, written before it is closed. No request has
/// been read (none may have been sent yet), so it names no endpoint.
const TOO_MANY: &str =
    "{\"error\":\"too many open connections to the control API; try again shortly\"}";

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then waits for
/// the open connections to finish their answers (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, app, limits, shutdown, Arc::new(Drains::new(MAX_DRAINS))).await;
}

/// [`serve`] with the drains of refused connections given (a test watches them).
async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
    drains: Arc<Drains>,
) {
    let places = Arc::new(Semaphore::new(limits.max_connections));
    let (closing, closed) = watch::channel(false);
    let mut refusing = false;
    let mut accept_warnings = Throttle::new(ACCEPT_WARNING_EVERY);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // the listener itself is fine; a short pause keeps the loop from spinning,
                    // and the warning is said at most once a minute (EMFILE lasts).
                    if let Some(more) = accept_warnings.allow(std::time::Instant::now()) {
                        let also = if more > 0 {
                            format!(" ({more} more since the last warning)")
                        } else {
                            String::new()
                        };
                        warn!(
                            "the control API could not accept a connection: {}{also}",
                            crate::datadir::dir::in_words(&e)
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(place) = Arc::clone(&places).try_acquire_owned() else {
            if !refusing {
                warn!(
                    limit = limits.max_connections,
                    "the control API has as many connections open as it allows; refusing more"
                );
                refusing = true;
            }
            refuse(stream, &drains);
            continue;
        };
        refusing = false;
        let service = TowerToHyperService::new(app.clone());
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let _place = place;
            let mut builder = http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let mut asked_to_close = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            // A header timeout, a reset, a malformed head: the peer's doing.
                            debug!("control API connection ended: {e}");
                        }
                        break;
                    }
                    changed = closed.changed(), if !asked_to_close => {
                        asked_to_close = true;
                        if changed.is_ok() {
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every place back: every connection has written its last answer and closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = places.acquire_many(all).await;
}

/// How often a failing `accept` is said at most.
const ACCEPT_WARNING_EVERY: Duration = Duration::from_secs(60);

/// At most one warning per `every`; counts the ones it held back.
#[derive(Debug)]
struct Throttle {
    every: Duration,
    last: Option<std::time::Instant>,
    held_back: u64,
}

impl Throttle {
    fn new(every: Duration) -> Self {
        Self { every, last: None, held_back: 0 }
    }

    /// `Some(held back since the last one)` when a warning may be said `now`.
    fn allow(&mut self, now: std::time::Instant) -> Option<u64> {
        if self.last.is_some_and(|last| now.duration_since(last) < self.every) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// How long, and how much, a refused connection is read before it is closed.
const REFUSE_DRAIN: Duration = Duration::from_secs(1);
const REFUSE_DRAIN_BYTES: usize = 64 * 1024;

/// Refused connections drained at once, at most: past that one is closed at once.
pub const MAX_DRAINS: usize = 16;

/// The places of refused connections that are being drained, and (for tests) how many
/// were drained at once at most.
#[derive(Debug)]
struct Drains {
    places: Arc<Semaphore>,
    now: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl Drains {
    fn new(at_most: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(at_most)),
            now: std::sync::atomic::AtomicUsize::new(0),
            peak: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

/// Answers a connection over the cap with a JSON 503 and closes it. The socket is fresh,
/// so its send buffer takes the few bytes at once; `try_write` never blocks the accept loop.
/// Closing a socket with unread bytes (the request the client already sent) makes the
/// kernel send a reset, which can overtake the answer: so a small task shuts the write side
/// (the client sees the answer, then the end) and reads what the client sent, for at most
/// [`REFUSE_DRAIN`] and [`REFUSE_DRAIN_BYTES`], before it closes. Only [`MAX_DRAINS`]
/// connections drain at once: past that, the connection is closed at once (its answer may
/// then be lost to a reset), so a flood cannot pile up sockets.
fn refuse(stream: tokio::net::TcpStream, drains: &Arc<Drains>) {
    use std::sync::atomic::Ordering;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{TOO_MANY}",
        TOO_MANY.len()
    );
    let _ = stream.try_write(answer.as_bytes());
    let Ok(place) = Arc::clone(&drains.places).try_acquire_owned() else {
        return;
    };
    let now = drains.now.fetch_add(1, Ordering::SeqCst) + 1;
    drains.peak.fetch_max(now, Ordering::SeqCst);
    let drains = Arc::clone(drains);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let drain = async {
            let mut buffer = [0u8; 4096];
            let mut read = 0;
            while read < REFUSE_DRAIN_BYTES {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
        };
        let _ = tokio::time::timeout(REFUSE_DRAIN, drain).await;
        drop(stream);
        drains.now.fetch_sub(1, Ordering::SeqCst);
        drop(place);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lasting_accept_failure_is_said_once_a_minute_with_a_count() {
        let start = std::time::Instant::now();
        let mut throttle = Throttle::new(Duration::from_secs(60));
        assert_eq!(throttle.allow(start), Some(0));
        for ms in (50..60_000).step_by(50) {
            assert_eq!(throttle.allow(start + Duration::from_millis(ms)), None, "{ms} ms");
        }
        assert_eq!(throttle.allow(start + Duration::from_secs(60)), Some(1199));
        assert_eq!(throttle.allow(start + Duration::from_secs(61)), None);
    }

    /// A flood of connections over the cap that send nothing (each drain would wait its
    /// whole second): no more than the bound drain at once, the rest are closed at once,
    /// and every one is answered or closed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refused_connections_drain_at_most_the_bound_at_once() {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let limits =
            ServeLimits { header_read_timeout: Duration::from_secs(60), max_connections: 1 };
        let drains = Arc::new(Drains::new(4));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_with(
            listener,
            Router::new(),
            limits,
            async move {
                let _ = stopped.await;
            },
            Arc::clone(&drains),
        ));
        // The one place, held by a connection that sends nothing.
        let holder = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut refused = Vec::new();
        for _ in 0..40 {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            // The server has refused it once the client sees the end (after the answer,
            // or at once); the socket stays open on this side, so a drain lasts its second.
            let mut seen = Vec::new();
            let _ = stream.read_to_end(&mut seen).await;
            refused.push(stream);
        }
        let peak = drains.peak.load(std::sync::atomic::Ordering::SeqCst);
        assert!(peak <= 4, "{peak} refused connections drained at once");
        assert!(peak >= 1, "the drain still runs within its bound");
        drop(holder);
        drop(refused);
        let _ = stop.send(());
        server.await.unwrap();
    }
}
