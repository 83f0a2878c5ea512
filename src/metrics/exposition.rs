//! What a scrape answers with: the format asked for, the body as chunks, and why it failed.

use bytes::Bytes;
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;

/// Which text format a scrape gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            Format::Text => 0,
            Format::OpenMetrics => 1,
        }
    }

    /// Without OpenMetrics' `# EOF`: a body is joined from several registries, and only
    /// its end may carry one.
    pub(super) fn encode_registry(self, out: &mut String, registry: &Registry) -> std::fmt::Result {
        match self {
            Format::Text => prometheus_text::encode(out, registry),
            Format::OpenMetrics => text::encode_registry(out, registry),
        }
    }

    /// `# EOF` in OpenMetrics; the text format has no end marker.
    pub(super) fn encode_end(self, out: &mut String) -> std::fmt::Result {
        match self {
            Format::Text => Ok(()),
            Format::OpenMetrics => text::encode_eof(out),
        }
    }
}

/// A scrape that could not be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScrapeError {
    #[error("encoding the metrics failed")]
    Encode(#[from] std::fmt::Error),
    #[error("compressing the metrics failed")]
    Compress,
}

/// The body of one scrape, as chunks to send in order: the live parts were encoded for
/// this scrape, the business parts are shared with every scrape of the same snapshot.
#[derive(Clone)]
pub struct Exposition {
    chunks: Vec<Bytes>,
    len: usize,
    gzip: bool,
}

impl Exposition {
    pub(super) fn new(chunks: impl IntoIterator<Item = Bytes>, gzip: bool) -> Self {
        let chunks: Vec<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let len = chunks.iter().map(Bytes::len).sum();
        Exposition { chunks, len, gzip }
    }

    /// Whether the chunks form one gzip member (`Content-Encoding: gzip`).
    pub fn is_gzip(&self) -> bool {
        self.gzip
    }

    /// Bytes in all, the `Content-Length`.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    pub fn into_chunks(self) -> Vec<Bytes> {
        self.chunks
    }

    /// The body in one piece; a copy.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        out
    }
}

/// Sizes only: a body is hundreds of kilobytes.
impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("chunks", &self.chunks.len())
            .field("len", &self.len)
            .field("gzip", &self.gzip)
            .finish()
    }
}
