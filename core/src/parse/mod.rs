//! Log parsing: header formats and online template mining.
//!
//! - [`HeaderParser`] splits a raw line into timestamp, level, component and message for one of the
//!   [`LogFormat`]s (or detects the format); [`HeaderParser::parse_ref`] gives a [`HeaderRef`] that
//!   borrows from the line instead of copying it. [`FormatString`] compiles a user header format
//!   string (`<Date> <Time> <Level> <Component>: <Content>`, the logparser convention).
//! - [`TemplateMiner`] groups messages into templates (`<*>` for variable parts) online, with stable
//!   ids, parameters per line, a match-only mode, protected words and a bounded template count.
//! - [`eval`] scores the miner against the Loghub ground truth.

pub mod eval;
pub mod format;
pub mod format_string;
pub mod jsonl;
pub(crate) mod mask;
pub mod miner;

pub use format::{
    detect_format, Header, HeaderCounts, HeaderParser, HeaderRef, HttpRequest, LogFormat,
};
pub use format_string::{preset_format_string, FormatString};
pub use miner::{
    LineMatch, MinerConfig, MinerStats, ProtectedWords, TemplateInfo, TemplateMatch, TemplateMiner,
};
