//! A proxy that answers the way many servers and proxies do: the response headers in one
//! `send`, the body in another, with Nagle's algorithm on (as Python's `http.server`
//! does). A client whose kernel delays its acknowledgements waits about 40 ms for every
//! body behind it.
//!
//! Plain threads and blocking sockets, so that it behaves the same under any runtime and
//! the load bench can run it too (`#[path]`). Each request goes to `upstream` on a
//! connection of its own (`Connection: close`), while the client side stays keep-alive.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

/// What the proxy has seen, for the test to check.
#[derive(Debug, Default)]
pub struct SplitStats {
    /// Client connections accepted.
    pub connections: AtomicU64,
    /// Responses written headers first, then body.
    pub responses: AtomicU64,
}

/// Whether the proxy keeps client connections open between responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientConnections {
    KeepAlive,
    /// `Connection: close` on every response: the client must connect for each request,
    /// as a client without a connection pool does (the load bench's yardstick).
    CloseEach,
}

/// A running proxy; it lives as long as the process (its threads are detached).
pub struct SplitWrites {
    pub addr: SocketAddr,
    pub stats: Arc<SplitStats>,
}

impl SplitWrites {
    /// Listens on a loopback port and forwards to `upstream` (`host:port`), keeping
    /// client connections alive.
    pub fn start(upstream: SocketAddr) -> io::Result<SplitWrites> {
        SplitWrites::start_with(upstream, ClientConnections::KeepAlive)
    }

    pub fn start_with(upstream: SocketAddr, mode: ClientConnections) -> io::Result<SplitWrites> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(SplitStats::default());
        let shared = stats.clone();
        thread::Builder::new()
            .name("split-writes".into())
            .spawn(move || {
                for client in listener.incoming().flatten() {
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    let stats = shared.clone();
                    let _ = thread::Builder::new()
                        .name("split-writes-conn".into())
                        .spawn(move || {
                            // A connection ends when the client closes it, or on any error.
                            let _ = serve(client, upstream, mode, &stats);
                        });
                }
            })?;
        Ok(SplitWrites { addr, stats })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn responses(&self) -> u64 {
        self.stats.responses.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> u64 {
        self.stats.connections.load(Ordering::Relaxed)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// One request's head (request line and headers, without `Connection`) and its body.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(invalid("request cut short"))
            };
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value
                .trim()
                .parse()
                .map_err(|_| invalid("bad content-length"))?;
        }
        if !lower.starts_with("connection:") {
            head.push_str(&line);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    mode: ClientConnections,
    stats: &SplitStats,
) -> io::Result<()> {
    let mut writer = client.try_clone()?;
    let mut reader = BufReader::new(client);
    while let Some((head, body)) = read_request(&mut reader)? {
        let mut origin = TcpStream::connect(upstream)?;
        origin.set_nodelay(true)?;
        origin.write_all(head.as_bytes())?;
        origin.write_all(b"Connection: close\r\n\r\n")?;
        origin.write_all(&body)?;
        let mut response = Vec::new();
        origin.read_to_end(&mut response)?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| invalid("response without a header end"))?;
        let (response_head, response_body) = response.split_at(split + 4);
        // The upstream's `Connection: close` is ours, not the client's.
        let mut response_head: String = String::from_utf8_lossy(response_head)
            .split_inclusive("\r\n")
            .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
            .collect();
        if mode == ClientConnections::CloseEach {
            response_head.insert_str(response_head.len() - 2, "Connection: close\r\n");
        }
        // Two sends, Nagle on: the body waits for the client to acknowledge the headers.
        writer.write_all(response_head.as_bytes())?;
        writer.write_all(response_body)?;
        stats.responses.fetch_add(1, Ordering::Relaxed);
        if mode == ClientConnections::CloseEach {
            break;
        }
    }
    Ok(())
}
