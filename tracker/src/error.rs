//! Error types. Every malformed tracker answer becomes one of these, never a panic.

/// A tracker URL could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a parseable absolute URL.
    #[error("invalid tracker URL {url:?}: {reason}")]
    Invalid {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// Scheme other than http, https or udp.
    #[error("unsupported tracker URL scheme {0:?}")]
    UnsupportedScheme(String),
    /// BEP 48: the last path element does not start with `announce`.
    #[error("tracker URL {0:?} has no scrape convention (last path element is not `announce…`)")]
    NoScrape(String),
}

/// An HTTP tracker reply could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The tracker said no (`failure reason`).
    #[error("tracker failure: {0}")]
    Failure(String),
    /// The body is not bencode.
    #[error("tracker reply is not valid bencode: {0}")]
    Bencode(String),
    /// The top-level value is not a dictionary.
    #[error("tracker reply is a {0}, expected a dictionary")]
    NotADict(&'static str),
    /// A field has the wrong type or an impossible value.
    #[error("tracker reply field `{field}`: {reason}")]
    Field {
        /// The key.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A required field is absent.
    #[error("tracker reply lacks field `{0}`")]
    Missing(&'static str),
    /// The HTTP head is malformed or incomplete.
    #[error("malformed HTTP response: {0}")]
    Http(String),
    /// The HTTP status is not 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The (decoded) body exceeds the limit.
    #[error("tracker reply body exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// gzip/deflate decoding failed.
    #[error("cannot decode {encoding} body: {reason}")]
    Decode {
        /// The content encoding.
        encoding: String,
        /// The decoder's message.
        reason: String,
    },
    /// Too many redirects or a bad `Location`.
    #[error("redirect: {0}")]
    Redirect(String),
}

/// A BEP 15 datagram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// Shorter than the fixed part of the message.
    #[error("UDP {message} packet too short: {len} bytes, need {need}")]
    TooShort {
        /// Which message.
        message: &'static str,
        /// Received length.
        len: usize,
        /// Required length.
        need: usize,
    },
    /// Unknown action number.
    #[error("unknown UDP tracker action {action} at byte {offset}")]
    UnknownAction {
        /// The action value.
        action: u32,
        /// Where it is.
        offset: usize,
    },
    /// Connect request without the magic protocol id.
    #[error("UDP connect request has protocol id {0:#x}, expected 0x41727101980")]
    BadProtocolId(u64),
    /// The peer list length is not a multiple of the entry size.
    #[error("UDP announce reply peer area of {len} bytes is not a multiple of {entry}")]
    RaggedPeers {
        /// Length of the peer area.
        len: usize,
        /// Entry size (6 or 18).
        entry: usize,
    },
    /// A scrape request with no or too many info-hashes.
    #[error("UDP scrape request carries {0} info-hashes (allowed 1..=74)")]
    ScrapeCount(usize),
    /// A scrape reply whose length is not 8 + 12·n.
    #[error("UDP scrape reply body of {0} bytes is not a multiple of 12")]
    RaggedScrape(usize),
    /// The tracker answered with an error packet.
    #[error("tracker error: {0}")]
    Tracker(String),
    /// A reply matched no outstanding transaction.
    #[error("unexpected transaction id {0:#010x}")]
    UnexpectedTransaction(u32),
    /// No reply after all retransmissions.
    #[error("UDP tracker timed out after {attempts} attempts")]
    Timeout {
        /// Attempts made.
        attempts: u32,
    },
}

/// An HTTP announce or scrape query string a tracker server received is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A required parameter is absent.
    #[error("missing query parameter `{0}`")]
    Missing(&'static str),
    /// A parameter has a malformed value.
    #[error("invalid query parameter `{param}`: {reason}")]
    Invalid {
        /// The parameter name.
        param: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Too many parameters or `info_hash` values.
    #[error("query has too many parameters (limit {0})")]
    TooMany(usize),
}
