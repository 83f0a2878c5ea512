//! Typed records the rest of the exporter sees. Only `iadvize/` knows JSON field names:
//! the poller and ledger work with these.

/// Unix time in milliseconds.
pub type UnixMillis = i64;

/// One closed conversation as read from iAdvize, already validated. Fields that failed
/// validation are `None` here and reported as a [`Rejection`] on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// The conversation id as sent (a UUID in practice; not assumed).
    pub id: String,
    /// `project.id`.
    pub project_id: i64,
    /// `channel` exactly as sent (may be empty); normalisation is the metrics' job.
    pub channel: String,
    /// `closedAt`.
    pub closed_at: UnixMillis,
    /// The parsed `duration`; when it is null or rejected, `closedAt - createdAt`;
    /// `None` when neither gives a non-negative number of seconds.
    pub duration_seconds: Option<f64>,
    /// CSAT, validated to 1..=5.
    pub csat: Option<u8>,
    /// NPS, validated to 0..=10.
    pub nps: Option<u8>,
    /// Valid transactions, in the order sent. May repeat a key: the ledger de-duplicates.
    pub transactions: Vec<Transaction>,
}

/// One transaction attributed to a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// Identity: `id` when present, else `externalConversionId`.
    pub key: String,
    /// Finite and non-negative.
    pub amount: f64,
    /// Three ASCII letters, upper-cased.
    pub currency: String,
}

/// Why a record or a field was rejected. The label values of
/// `iadvize_invalid_records_total{reason}`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum InvalidReason {
    /// Record skipped: the node is not an object, or a required part has the wrong type.
    Malformed,
    /// Record skipped: no usable conversation id.
    MissingId,
    /// Record skipped: no project or no integer project id.
    MissingProject,
    /// Record skipped: `closedAt` null or not RFC 3339.
    BadClosedAt,
    /// Field dropped: `createdAt` not RFC 3339.
    BadCreatedAt,
    /// Field dropped: `duration` neither ISO 8601 nor a number of seconds, or negative.
    BadDuration,
    /// Field dropped: CSAT outside 1..=5.
    BadCsat,
    /// Field dropped: NPS outside 0..=10.
    BadNps,
    /// Transaction dropped: no id and no externalConversionId, amount negative or not a
    /// number, or currency not three letters.
    BadTransaction,
}

impl InvalidReason {
    pub const ALL: [InvalidReason; 9] = [
        InvalidReason::Malformed,
        InvalidReason::MissingId,
        InvalidReason::MissingProject,
        InvalidReason::BadClosedAt,
        InvalidReason::BadCreatedAt,
        InvalidReason::BadDuration,
        InvalidReason::BadCsat,
        InvalidReason::BadNps,
        InvalidReason::BadTransaction,
    ];

    pub fn as_label(self) -> &'static str {
        match self {
            InvalidReason::Malformed => "malformed",
            InvalidReason::MissingId => "missing_id",
            InvalidReason::MissingProject => "missing_project",
            InvalidReason::BadClosedAt => "bad_closed_at",
            InvalidReason::BadCreatedAt => "bad_created_at",
            InvalidReason::BadDuration => "bad_duration",
            InvalidReason::BadCsat => "bad_csat",
            InvalidReason::BadNps => "bad_nps",
            InvalidReason::BadTransaction => "bad_transaction",
        }
    }

    /// Whether the whole record was skipped (else only a field or a transaction was).
    pub fn skips_record(self) -> bool {
        matches!(
            self,
            InvalidReason::Malformed
                | InvalidReason::MissingId
                | InvalidReason::MissingProject
                | InvalidReason::BadClosedAt
        )
    }
}

/// A rejected record or field, with the conversation id when one could be read, so the
/// ledger counts each rejection once however often the record is re-read.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: InvalidReason,
    pub conversation_id: Option<String>,
}

/// One page of closed conversations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub conversations: Vec<Conversation>,
    pub rejections: Vec<Rejection>,
    /// Nodes read on this page, valid or not (`iadvize_conversations_fetched_total`).
    pub records: usize,
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}
