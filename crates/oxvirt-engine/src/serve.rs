//! Limits of the HTTPS front door: how many connections may be open at once, how long a
//! client may take to send a request's headers (and to start the next one on a kept-alive
//! connection), how long a TLS handshake may take.
//!
//! Why: without them, clients that open connections and send nothing — or a header a byte a
//! minute — hold a socket, a task and buffers each until the machine runs out of descriptors,
//! and the engine stops answering its hosts and administrators. With them an idle connection
//! costs at most one slot for [`DEFAULT_HEADER_READ_TIMEOUT`], and past
//! [`DEFAULT_MAX_CONNECTIONS`] new connections are closed at once (counted and logged) while
//! those already open are served. The descriptor limit is raised at start so the cap, not the
//! kernel, is what refuses.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections served at once unless configured otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// How long a request's headers may take to arrive (also: how long a kept-alive connection
/// may sit idle before its next request).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a TLS handshake may take (at most the header read timeout).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts a TCP connection only while fewer than the cap are open (the slot is held until
/// the connection closes, TLS handshake included); sets TCP_NODELAY: a reply written in several
/// pieces must not wait for the client's delayed ACK (Nagle's algorithm added ~40 ms to some
/// replies, B3's p99 in docs/BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct CappedAcceptor {
    slots: Arc<Semaphore>,
    max: usize,
    refused: Arc<AtomicU64>,
}

impl CappedAcceptor {
    pub fn new(max_connections: usize) -> Self {
        let max = max_connections.max(1);
        Self { slots: Arc::new(Semaphore::new(max)), max, refused: Arc::new(AtomicU64::new(0)) }
    }
}

impl<S: Send + 'static> axum_server::accept::Accept<TcpStream, S> for CappedAcceptor {
    type Stream = Capped;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Capped, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged at the first refusal and then every 1,000th: a flood must not flood the log.
            if n == 1 || n.is_multiple_of(1000) {
                tracing::warn!(
                    max = self.max,
                    refused = n,
                    peer = ?stream.peer_addr().ok(),
                    "connection refused: the engine serves its maximum of connections (OXVIRT_MAX_CONNECTIONS)"
                );
            }
            return std::future::ready(Err(io::Error::other("too many connections")));
        };
        std::future::ready(stream.set_nodelay(true).map(|()| (Capped { stream, _slot: slot }, service)))
    }
}

/// A TCP stream holding its connection slot.
#[derive(Debug)]
pub struct Capped {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Capped {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Raises the soft limit of open files to the hard limit (as far as `wanted`), so that the
/// connection cap is reached before the kernel refuses descriptors. Returns the soft limit now.
pub fn open_files_limit_raise(wanted: u64) -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    #[allow(unsafe_code)]
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        let target = wanted.min(limit.rlim_max);
        if limit.rlim_cur < target {
            let raised = libc::rlimit { rlim_cur: target, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return target;
            }
        }
    }
    limit.rlim_cur
}
