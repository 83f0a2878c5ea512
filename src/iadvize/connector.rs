//! The TCP connections to iAdvize: one warm keep-alive connection that acknowledges what
//! it reads at once.
//!
//! Many servers and proxies write a response's headers and its body in two `send`s. With
//! Nagle's algorithm on their side, the body waits until our kernel acknowledges the
//! headers, and on a keep-alive connection Linux delays that acknowledgement (up to
//! 40 ms) in the hope of sending it with our next request, which only comes after the
//! body: every page stalls. `TCP_QUICKACK` makes the kernel acknowledge at once, but it
//! is not sticky (the kernel drops back to delayed acknowledgements on its own), so it is
//! set again after every read. Setting it also sends the acknowledgement still pending
//! for the bytes just read. reqwest offers no hook on its sockets, hence this connector
//! under a hyper client.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Connects like [`HttpConnector`] (no TLS: that is layered on top), and hands out
/// [`QuickAckStream`]s.
#[derive(Clone, Debug)]
pub(crate) struct QuickAckConnector {
    http: HttpConnector,
}

impl QuickAckConnector {
    pub(crate) fn new() -> Self {
        let mut http = HttpConnector::new();
        // TLS sits above this connector and needs https URLs let through.
        http.enforce_http(false);
        // Our requests are one write each; Nagle on our side would only delay them.
        http.set_nodelay(true);
        QuickAckConnector { http }
    }
}

impl tower_service::Service<Uri> for QuickAckConnector {
    type Response = QuickAckStream;
    type Error = <HttpConnector as tower_service::Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<QuickAckStream, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.http.call(uri);
        Box::pin(async move {
            let stream = QuickAckStream {
                inner: connecting.await?,
            };
            stream.rearm();
            Ok(stream)
        })
    }
}

/// A TCP stream that sets `TCP_QUICKACK` again after each read.
#[derive(Debug)]
pub(crate) struct QuickAckStream {
    inner: TokioIo<TcpStream>,
}

impl QuickAckStream {
    fn rearm(&self) {
        // Only Linux has the option, and only a slower exchange is at stake if it fails.
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
        if let Err(error) = self.inner.inner().set_quickack(true) {
            tracing::trace!(%error, "cannot set TCP_QUICKACK");
        }
    }
}

impl Read for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if polled.is_ready() {
            self.rearm();
        }
        polled
    }
}

impl Write for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}

impl Connection for QuickAckStream {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}
