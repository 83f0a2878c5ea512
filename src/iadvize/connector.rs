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
//!
//! Proxies are those of the environment, as curl reads them (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, lower case too), reached with `CONNECT`: TLS to iAdvize then
//! runs inside the tunnel, end to end.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects like [`HttpConnector`] (no TLS: that is layered on top), and hands out
/// [`QuickAckStream`]s.
#[derive(Clone)]
pub(crate) struct QuickAckConnector {
    http: HttpConnector,
    /// The proxies of the environment, read once at start-up.
    proxies: Arc<Matcher>,
}

impl std::fmt::Debug for QuickAckConnector {
    // The proxies may carry credentials: they are not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickAckConnector").finish_non_exhaustive()
    }
}

impl QuickAckConnector {
    /// A connector through the proxies of the environment.
    pub(crate) fn new() -> Self {
        QuickAckConnector::with_proxies(Matcher::from_env())
    }

    fn with_proxies(proxies: Matcher) -> Self {
        let mut http = HttpConnector::new();
        // TLS sits above this connector and needs https URLs let through.
        http.enforce_http(false);
        // Our requests are one write each; Nagle on our side would only delay them.
        http.set_nodelay(true);
        QuickAckConnector {
            http,
            proxies: Arc::new(proxies),
        }
    }

    /// The same connector, straight to its destination: what reaches the proxy itself.
    fn direct(&self) -> Self {
        QuickAckConnector {
            http: self.http.clone(),
            proxies: Arc::new(Matcher::builder().build()),
        }
    }
}

/// `uri` with its port written out, which `CONNECT` needs (it assumes 443 otherwise).
fn with_port(uri: Uri) -> Uri {
    let (Some(host), None) = (uri.host(), uri.port_u16()) else {
        return uri;
    };
    let port = if uri.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut parts = uri.clone().into_parts();
    match authority.parse() {
        Ok(authority) => {
            parts.authority = Some(authority);
            Uri::from_parts(parts).unwrap_or(uri)
        }
        Err(_) => uri,
    }
}

impl tower_service::Service<Uri> for QuickAckConnector {
    type Response = QuickAckStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<QuickAckStream, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        if let Some(proxy) = self.proxies.intercept(&uri) {
            let mut tunnel = Tunnel::new(proxy.uri().clone(), self.direct());
            if let Some(auth) = proxy.basic_auth() {
                tunnel = tunnel.with_auth(auth.clone());
            }
            let connecting = tunnel.call(with_port(uri));
            return Box::pin(async move { connecting.await.map_err(Into::into) });
        }
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
