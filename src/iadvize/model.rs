//! Typed records the rest of the exporter sees. Only `iadvize/` knows JSON field names:
//! the poller and ledger work with these.

/// Unix time in milliseconds.
pub type UnixMillis = i64;

/// A conversation or transaction id, as 128 bits: the ledger keeps millions of them.
///
/// A canonical UUID (36 characters, lower case, the form iAdvize sends) is stored as its
/// value, so two such ids are equal exactly when their text is. Any other text is stored
/// as 125 bits of its SHA-256 plus a tag that no parsed UUID has: two different texts
/// collide with odds of about 2^-125 per pair, far below those of a memory error.
#[derive(
    Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Id128(pub u64, pub u64);

impl Id128 {
    pub fn of(text: &str) -> Id128 {
        if let Some(value) = canonical_uuid(text.as_bytes()) {
            return Id128((value >> 64) as u64, value as u64);
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(text.as_bytes());
        let mut high = [0u8; 8];
        let mut low = [0u8; 8];
        high.copy_from_slice(&digest[..8]);
        low.copy_from_slice(&digest[8..16]);
        Id128(
            u64::from_be_bytes(high),
            u64::from_be_bytes(low) | HASHED_TAG,
        )
    }

    /// Whether this is a hash of the text (not a canonical UUID, whose text it keeps).
    pub fn is_hashed(&self) -> bool {
        self.1 & HASHED_TAG == HASHED_TAG
    }

    /// The canonical lower-case text of a UUID id, exactly as it was read; `None` for a
    /// hashed one.
    pub fn uuid_text(&self) -> Option<String> {
        if self.is_hashed() {
            return None;
        }
        let hex = format!("{:016x}{:016x}", self.0, self.1);
        Some(format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ))
    }
}

/// The variant bits of a UUID (the top three of its 9th byte) set to `111`, which RFC 9562
/// reserves. Hashed ids always carry them and parsed ids never do (a UUID with that
/// variant is hashed like any other text), so the two kinds can never be equal.
const HASHED_TAG: u64 = 0xE000_0000_0000_0000;

/// The value of a canonical lower-case hyphenated UUID whose variant is not `111`.
fn canonical_uuid(b: &[u8]) -> Option<u128> {
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    // Table lookups and an OR of all nibbles, tested once at the end: this runs for every
    // conversation read, so no branch per character.
    let mut invalid = 0u8;
    let mut hex = |groups: [&[u8]; 3]| {
        let mut value = 0u64;
        for group in groups {
            for &c in group {
                let nibble = HEX[usize::from(c)];
                invalid |= nibble;
                value = (value << 4) | u64::from(nibble & 0x0f);
            }
        }
        value
    };
    let high = hex([&b[..8], &b[9..13], &b[14..18]]);
    let low = hex([&b[19..23], &b[24..], &[]]);
    (invalid & 0xf0 == 0 && low & HASHED_TAG != HASHED_TAG)
        .then_some((u128::from(high) << 64) | u128::from(low))
}

/// Lower-case hex digits to their value; anything else to 0xff.
const HEX: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut c = 0;
    while c < 10 {
        table[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        table[b'a' as usize + c] = 10 + c as u8;
        c += 1;
    }
    table
};

impl std::fmt::Debug for Id128 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Id128({:016x}{:016x})", self.0, self.1)
    }
}

/// One closed conversation as read from iAdvize, already validated. Fields that failed
/// validation are `None` here and reported as a [`Rejection`] on the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    /// The conversation id (a UUID in practice; not assumed).
    pub id: Id128,
    /// The id's text when `id` is a hash and cannot give it back, for exemplars.
    pub id_text: Option<std::sync::Arc<str>>,
    /// `project.id`.
    pub project_id: i64,
    /// Index in [`Page::channels`] of `channel` exactly as sent (may be empty):
    /// normalisation is the ledger's job, done once per distinct value.
    pub channel: u16,
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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transaction {
    /// Identity: `id` when present, else `externalConversionId`.
    pub key: Id128,
    /// Finite and non-negative.
    pub amount: f64,
    /// Three ASCII letters, upper-cased.
    pub currency: Currency,
}

/// An ISO 4217-like code: three upper-case ASCII letters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(pub [u8; 3]);

impl Currency {
    /// `eur` -> `EUR`; `None` unless three ASCII letters.
    pub fn parse(text: &str) -> Option<Currency> {
        let b = text.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        Some(Currency([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }

    pub fn as_str(&self) -> &str {
        // Three ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl std::fmt::Debug for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    pub conversation_id: Option<Id128>,
}

/// One page of closed conversations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub conversations: Vec<Conversation>,
    /// The distinct `channel` values of this page, as sent; see [`Conversation::channel`].
    pub channels: Vec<String>,
    pub rejections: Vec<Rejection>,
    /// Nodes read on this page, valid or not (`iadvize_conversations_fetched_total`).
    pub records: usize,
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
    /// Each project of this page and its `name` as sent, `None` when null: the last one
    /// sent on the page wins.
    pub project_names: Vec<(i64, Option<String>)>,
}

impl Page {
    /// Records the name a conversation of `project_id` carries. Few projects per page: a
    /// linear search.
    pub fn name_project(&mut self, project_id: i64, name: Option<&str>) {
        match self
            .project_names
            .iter_mut()
            .find(|(id, _)| *id == project_id)
        {
            Some((_, known)) => {
                if known.as_deref() != name {
                    *known = name.map(str::to_owned);
                }
            }
            None => self
                .project_names
                .push((project_id, name.map(str::to_owned))),
        }
    }

    /// The index of `channel` in [`Page::channels`], adding it when new. A page holds at
    /// most 100 records, so a linear search beats hashing.
    pub fn channel_index(&mut self, channel: &str) -> u16 {
        if let Some(at) = self.channels.iter().position(|c| c == channel) {
            return at as u16;
        }
        self.channels.push(channel.to_owned());
        (self.channels.len() - 1) as u16
    }

    /// The channel of `conversation` as sent.
    pub fn channel(&self, conversation: &Conversation) -> &str {
        self.channels
            .get(usize::from(conversation.channel))
            .map_or("", String::as_str)
    }
}

/// The two documented ways to list closed conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryShape {
    /// `searchClosedConversations`: nodes wrap conversation / satisfactionSurvey / conversions.
    SearchClosedConversations,
    /// `closedConversations`: Conversation nodes carry the survey and conversions.
    ClosedConversations,
}

impl QueryShape {
    /// The query field, which is also the key of the connection under `data`.
    pub fn field_name(self) -> &'static str {
        match self {
            QueryShape::SearchClosedConversations => "searchClosedConversations",
            QueryShape::ClosedConversations => "closedConversations",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuids_keep_their_value_and_other_text_is_hashed() {
        let uuid = "e4f20b66-b89e-42a5-94db-15b4a4723bbd";
        assert_eq!(
            Id128::of(uuid),
            Id128(0xe4f2_0b66_b89e_42a5, 0x94db_15b4_a472_3bbd)
        );
        assert_ne!(
            Id128::of(uuid),
            Id128::of(&uuid.to_uppercase()),
            "text identity"
        );
        assert_ne!(Id128::of("c-1"), Id128::of("c-2"));
        assert_eq!(Id128::of("c-1"), Id128::of("c-1"));
        let hashed = Id128::of("c-1");
        assert_eq!(hashed.1 & HASHED_TAG, HASHED_TAG);
        // A UUID with the reserved variant `111` is hashed, not parsed.
        let reserved = "00000000-0000-0000-e000-000000000000";
        assert_ne!(Id128::of(reserved), Id128(0, HASHED_TAG));
        assert_eq!(Id128::of(reserved).1 & HASHED_TAG, HASHED_TAG);
    }

    #[test]
    fn currencies() {
        assert_eq!(Currency::parse("eur").map(|c| c.0), Some(*b"EUR"));
        assert_eq!(Currency::parse("EURO"), None);
        assert_eq!(Currency::parse("E1R"), None);
        assert_eq!(Currency::parse("ÉUR"), None);
    }
}
