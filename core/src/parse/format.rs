//! Log header formats: split a raw line into timestamp, level, component and the message to mine.
//!
//! The Loghub formats follow the Drain benchmark settings (`<Date> <Time> <Pid> <Level> ...`), so that
//! `Header::content` is exactly the `Content` column of the Loghub ground truth. Every parser is hand
//! written (no regex on the hot path) and never panics: a line that does not fit the format comes back
//! with `header_matched == false` and the whole line as content.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::format_string::{preset_format_string, FormatString};
use crate::error::{Error, Result};

/// A log header format. `Auto` detects the format line by line; `Raw` takes the whole line as message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Try every format and keep the one that matched last (see [`HeaderParser::parse`]).
    Auto,
    /// No header: the whole line is the message.
    Raw,
    /// Hadoop HDFS: `081109 203518 143 INFO dfs.DataNode$DataXceiver: msg`.
    Hdfs,
    /// Blue Gene/L RAS: `- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 ...`.
    Bgl,
    /// Hadoop MapReduce: `2015-10-18 18:01:47,978 INFO [main] org.apache...: msg`.
    Hadoop,
    /// Spark: `17/06/09 20:10:40 INFO executor.Executor: msg`.
    Spark,
    /// Zookeeper: `2015-07-29 17:41:44,747 - INFO  [node:Component@774] - msg`.
    Zookeeper,
    /// HPC cluster: `134681 node-246 unix.hw state_change.unavailable 1077804742 1 msg`.
    Hpc,
    /// Thunderbird: `- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond[2915]: msg`.
    Thunderbird,
    /// Windows CBS: `2016-09-28 04:30:30, Info                  CBS    msg`.
    Windows,
    /// Linux syslog as in Loghub: `Jun 14 15:16:01 combo sshd(pam_unix)[19939]: msg`.
    Linux,
    /// Android logcat: `03-17 16:13:38.811  1702  2395 D WindowManager: msg`.
    Android,
    /// HealthApp: `20171223-22:15:29:606|Step_LSC|30002312|msg`.
    Healthapp,
    /// Apache error log: `[Sun Dec 04 04:47:44 2005] [notice] msg`.
    Apache,
    /// Proxifier: `[10.30 16:49:06] chrome.exe - msg`.
    Proxifier,
    /// OpenSSH: `Dec 10 06:55:46 LabSZ sshd[24200]: msg`.
    Openssh,
    /// OpenStack: `nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO comp [req-...] msg`.
    Openstack,
    /// macOS syslog: `Jul  1 09:00:55 host kernel[0]: msg`.
    Mac,
    /// Apache/Nginx combined access log (common + referrer and user agent).
    Combined,
    /// Common Log Format: `127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326`.
    Common,
    /// Syslog, RFC 3164 (`<34>Oct 11 22:14:15 host app[12]: msg`) or RFC 5424 (`<165>1 2003-10-11T22:14:15Z ...`).
    Syslog,
    /// One JSON object per line, with `message`/`msg`, `level`, `timestamp`/`time`, `logger`... keys.
    Json,
}

impl LogFormat {
    /// Every format, in the order used by [`detect_format`] to break ties (most specific first, `Auto`
    /// and `Raw` last).
    pub const ALL: &'static [LogFormat] = &[
        LogFormat::Hdfs,
        LogFormat::Bgl,
        LogFormat::Thunderbird,
        LogFormat::Hpc,
        LogFormat::Hadoop,
        LogFormat::Zookeeper,
        LogFormat::Spark,
        LogFormat::Windows,
        LogFormat::Android,
        LogFormat::Healthapp,
        LogFormat::Apache,
        LogFormat::Proxifier,
        LogFormat::Openssh,
        LogFormat::Openstack,
        LogFormat::Mac,
        LogFormat::Linux,
        LogFormat::Combined,
        LogFormat::Common,
        LogFormat::Json,
        LogFormat::Syslog,
        LogFormat::Auto,
        LogFormat::Raw,
    ];

    /// The lowercase name used on the command line and in serialized configs.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Auto => "auto",
            LogFormat::Raw => "raw",
            LogFormat::Hdfs => "hdfs",
            LogFormat::Bgl => "bgl",
            LogFormat::Hadoop => "hadoop",
            LogFormat::Spark => "spark",
            LogFormat::Zookeeper => "zookeeper",
            LogFormat::Hpc => "hpc",
            LogFormat::Thunderbird => "thunderbird",
            LogFormat::Windows => "windows",
            LogFormat::Linux => "linux",
            LogFormat::Android => "android",
            LogFormat::Healthapp => "healthapp",
            LogFormat::Apache => "apache",
            LogFormat::Proxifier => "proxifier",
            LogFormat::Openssh => "openssh",
            LogFormat::Openstack => "openstack",
            LogFormat::Mac => "mac",
            LogFormat::Combined => "combined",
            LogFormat::Common => "common",
            LogFormat::Syslog => "syslog",
            LogFormat::Json => "json",
        }
    }

    /// Formats that `Auto` and [`detect_format`] try, in tie-break order.
    fn concrete() -> &'static [LogFormat] {
        // ALL minus the trailing Auto and Raw.
        &Self::ALL[..Self::ALL.len() - 2]
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim();
        LogFormat::ALL
            .iter()
            .copied()
            .find(|format| format.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                let names: Vec<&str> = LogFormat::ALL.iter().map(|f| f.name()).collect();
                Error::invalid_input(format!(
                    "unknown log format {wanted:?}; valid formats: {}",
                    names.join(", ")
                ))
            })
    }
}

/// One request of an access log (`combined` / `common` formats).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Client address as written (first field).
    pub client: String,
    /// Request method (`GET`, `POST`...), or the whole request text when it is not `METHOD TARGET PROTO`.
    pub method: String,
    /// Path and query exactly as written (not decoded).
    pub target: String,
    /// Protocol, e.g. `HTTP/1.1`; empty when absent.
    pub protocol: String,
    /// Status code, when it is a number.
    pub status: Option<u16>,
    /// Response size; `None` for `-`.
    pub bytes: Option<u64>,
    /// Referrer (`combined` only); `None` for `-`.
    pub referrer: Option<String>,
    /// User agent (`combined` only); `None` for `-`.
    pub user_agent: Option<String>,
}

/// The parsed header of one line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Unix seconds (UTC when the line has no zone). Formats without a year use a fixed year, so only
    /// differences between lines are meaningful.
    pub timestamp: Option<f64>,
    /// Severity as written (`INFO`, `WARN`, `E`...).
    pub level: Option<String>,
    /// Component, logger or program name as written.
    pub component: Option<String>,
    /// The message to mine; the whole line when the header did not match.
    pub content: String,
    /// Whether the line matched the format's header.
    pub header_matched: bool,
    /// The format's natural session key: HDFS block id, BGL node, access-log client, OpenSSH pid,
    /// OpenStack instance id.
    pub session_hint: Option<String>,
    /// The request of an access-log line.
    pub http: Option<HttpRequest>,
}

/// [`Header`] borrowing from the line: what [`HeaderParser::parse_ref`] returns. Every field is
/// computed as for [`Header`], but text fields point into the line instead of being copied (only
/// the access-log formats, whose message is rebuilt from the request, and JSON lines allocate).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeaderRef<'a> {
    /// See [`Header::timestamp`].
    pub timestamp: Option<f64>,
    /// See [`Header::level`].
    pub level: Option<Cow<'a, str>>,
    /// See [`Header::component`].
    pub component: Option<Cow<'a, str>>,
    /// See [`Header::content`].
    pub content: Cow<'a, str>,
    /// See [`Header::header_matched`].
    pub header_matched: bool,
    /// See [`Header::session_hint`].
    pub session_hint: Option<Cow<'a, str>>,
    /// See [`Header::http`] (boxed: it is rare and large, and this struct is moved on every line).
    pub http: Option<Box<HttpRequest>>,
}

impl<'a> HeaderRef<'a> {
    /// A header that did not match: the whole line is the message.
    fn unmatched(line: &'a str) -> Self {
        HeaderRef {
            content: Cow::Borrowed(line),
            ..HeaderRef::default()
        }
    }

    /// The owned [`Header`].
    pub fn into_owned(self) -> Header {
        Header {
            timestamp: self.timestamp,
            level: self.level.map(Cow::into_owned),
            component: self.component.map(Cow::into_owned),
            content: self.content.into_owned(),
            header_matched: self.header_matched,
            session_hint: self.session_hint.map(Cow::into_owned),
            http: self.http.map(|http| *http),
        }
    }
}

/// Splits lines of one format into [`Header`]s. Cheap to share between threads (`Send + Sync`).
///
/// Built from a preset ([`HeaderParser::new`]) or a user format string
/// ([`HeaderParser::with_format_string`]). A line whose header does not match is not sent to the miner
/// whole when it can be helped: the parser learns the shape of the headers that matched, then tries
/// the format string's tolerant regex (checked against that shape) and finally strips a prefix of
/// header-like tokens, so that one event keeps one template (see [`HeaderParser::header_counts`]).
#[derive(Debug)]
pub struct HeaderParser {
    format: LogFormat,
    /// For `Auto`: index in `LogFormat::concrete()` of the format that matched last, tried first.
    last_auto: AtomicU8,
    /// The user's format string: the primary parser when set.
    custom: Option<Arc<FormatString>>,
    /// The format string of the preset, tried when its hand-written parser fails.
    tolerant: Option<Arc<FormatString>>,
    /// What was learned from matching headers, and the counts of the fallback.
    recovery: Option<Recovery>,
}

impl Clone for HeaderParser {
    fn clone(&self) -> Self {
        HeaderParser {
            format: self.format,
            last_auto: AtomicU8::new(self.last_auto.load(Ordering::Relaxed)),
            custom: self.custom.clone(),
            tolerant: self.tolerant.clone(),
            recovery: self.recovery.clone(),
        }
    }
}

/// How many lines a [`HeaderParser`] could not match with its format, and how many of them its
/// fallback still split into header and message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderCounts {
    /// Lines whose header did not match the format (strict preset parser, or the format string with
    /// fields unlike those of the lines that matched).
    pub unmatched: u64,
    /// Of those, lines whose message was still found (tolerant format match, or a stripped prefix of
    /// header-like tokens); the others were mined whole.
    pub recovered: u64,
}

/// Matched headers learned from: every one of the first `LEARN_FIRST`, then one in `LEARN_EVERY`.
const LEARN_FIRST: u64 = 512;
const LEARN_EVERY: u64 = 1024;
/// Matched headers needed before a field's shape is trusted to reject a tolerant match.
const TRUST_SAMPLES: u32 = 16;
/// Distinct header tokens and token shapes kept.
const MAX_HEADER_TOKENS: usize = 2048;

/// Digits, signed digits, or a lone `-` (the usual spelling of an absent number, as in the Common
/// Log Format): what a numeric header field may hold.
fn number_like(value: &str) -> bool {
    value == "-" || all_digits(value.strip_prefix('-').unwrap_or(value))
}

/// What the values of one field of matched headers look like.
#[derive(Clone, Debug, Default)]
struct FieldShape {
    samples: u32,
    /// Samples that were all digits.
    digits: u32,
}

impl FieldShape {
    /// Whether `value` is unlike this field: not digits where every sample was (a pid, a time in
    /// seconds). Other signs proved unreliable on real logs: a field that never held whitespace, or
    /// held few distinct values, gains new ones long after the first lines (a Hadoop `[Process]`,
    /// a node, a component).
    fn unlike(&self, value: &str) -> bool {
        self.samples >= TRUST_SAMPLES && self.digits == self.samples && !number_like(value)
    }

    fn observe(&mut self, value: &str) {
        self.samples = self.samples.saturating_add(1);
        self.digits = self.digits.saturating_add(u32::from(all_digits(value)));
    }
}

/// What the headers that matched look like, per field of the format string and per token.
#[derive(Clone, Debug, Default)]
struct HeaderShape {
    /// Per field of the format string (Content excluded).
    fields: Vec<FieldShape>,
    /// Tokens of matched header prefixes without digits (levels, components, hosts, literals).
    words: std::collections::HashSet<String>,
    /// Shapes of the header tokens with digits (digit runs `9`, letter runs `a`).
    shapes: std::collections::HashSet<String>,
    /// Most whitespace-separated tokens seen in a matched header prefix.
    max_tokens: usize,
}

#[derive(Debug)]
struct Recovery {
    learned: AtomicU64,
    shape: Mutex<HeaderShape>,
    unmatched: AtomicU64,
    recovered: AtomicU64,
}

impl Clone for Recovery {
    fn clone(&self) -> Self {
        let shape = self.shape.lock().map(|s| s.clone()).unwrap_or_default();
        Recovery {
            learned: AtomicU64::new(self.learned.load(Ordering::Relaxed)),
            shape: Mutex::new(shape),
            unmatched: AtomicU64::new(self.unmatched.load(Ordering::Relaxed)),
            recovered: AtomicU64::new(self.recovered.load(Ordering::Relaxed)),
        }
    }
}

impl Recovery {
    fn new() -> Self {
        Recovery {
            learned: AtomicU64::new(0),
            shape: Mutex::new(HeaderShape::default()),
            unmatched: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
        }
    }
}

/// `9` for a digit run, `a` for a letter run, other characters as written: the class of a header
/// token with digits (`081109` and `203518` share `9`, `dn228` is `a9`).
fn token_shape(token: &str) -> String {
    let mut shape = String::with_capacity(token.len());
    let mut last = '\0';
    for c in token.chars() {
        let class = if c.is_ascii_digit() {
            '9'
        } else if c.is_alphabetic() {
            'a'
        } else {
            c
        };
        if class != last || !(class == '9' || class == 'a') {
            shape.push(class);
        }
        last = class;
    }
    shape
}

/// Byte offset of `inner` within `outer`, when it is a subslice.
fn offset_in(outer: &str, inner: &str) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start + inner.len() <= outer.len()).then_some(start)
}

impl HeaderParser {
    /// A parser for `format`.
    pub fn new(format: LogFormat) -> Self {
        let tolerant = preset_pattern(format);
        let recovery = match format {
            LogFormat::Auto | LogFormat::Raw | LogFormat::Json => None,
            LogFormat::Combined | LogFormat::Common => None,
            _ => Some(Recovery::new()),
        };
        HeaderParser {
            format,
            last_auto: AtomicU8::new(u8::MAX),
            custom: None,
            tolerant,
            recovery,
        }
    }

    /// A parser for a user format string such as `<Date> <Time> <Level> <Component>: <Content>` (the
    /// logparser convention, see [`FormatString`]). Fails with [`Error::InvalidConfig`] naming the
    /// problem of a bad string. [`HeaderParser::format`] is `Raw` for such a parser.
    pub fn with_format_string(format: &str) -> Result<Self> {
        let compiled = Arc::new(FormatString::compile(format)?);
        Ok(HeaderParser {
            format: LogFormat::Raw,
            last_auto: AtomicU8::new(u8::MAX),
            custom: Some(compiled),
            tolerant: None,
            recovery: Some(Recovery::new()),
        })
    }

    /// A parser for a project's settings: the format string when one is given (it wins), else the
    /// preset.
    pub fn from_settings(format: LogFormat, log_format: Option<&str>) -> Result<Self> {
        match log_format.filter(|text| !text.trim().is_empty()) {
            Some(text) => Self::with_format_string(text),
            None => Ok(Self::new(format)),
        }
    }

    /// The format this parser was built for (`Raw` for a user format string).
    pub fn format(&self) -> LogFormat {
        self.format
    }

    /// The user format string this parser was built from, if any.
    pub fn format_string(&self) -> Option<&str> {
        self.custom.as_deref().map(FormatString::as_str)
    }

    /// Lines whose header did not match, and how many of them the fallback recovered, since the
    /// parser was built.
    pub fn header_counts(&self) -> HeaderCounts {
        self.recovery
            .as_ref()
            .map_or_else(HeaderCounts::default, |recovery| HeaderCounts {
                unmatched: recovery.unmatched.load(Ordering::Relaxed),
                recovered: recovery.recovered.load(Ordering::Relaxed),
            })
    }

    /// Parses one line (a trailing `\r`/`\n` is ignored). Never fails: a line that does not match
    /// and cannot be recovered comes back with `header_matched == false` and the whole line as
    /// `content`.
    pub fn parse(&self, line: &str) -> Header {
        self.parse_ref(line).into_owned()
    }

    /// [`HeaderParser::parse`] without copying: the text fields borrow from `line` (the hot path of
    /// mining, which only needs the message).
    pub fn parse_ref<'a>(&self, line: &'a str) -> HeaderRef<'a> {
        // Most lines end with neither: skip the char-pattern trim.
        let line = if line.ends_with(['\n', '\r']) {
            line.trim_end_matches(['\n', '\r'])
        } else {
            line
        };
        if let Some(custom) = &self.custom {
            return match custom.parse_with_values(line) {
                Some((header, values)) => {
                    let fits = self.fits_shape(custom, &values);
                    self.observe_fields(custom, &values);
                    if fits {
                        self.learn(line, &header, None, false);
                        header
                    } else {
                        self.recover(line, false)
                    }
                }
                None => self.recover(line, false),
            };
        }
        match self.format {
            LogFormat::Raw => HeaderRef::unmatched(line),
            LogFormat::Auto => self.parse_auto(line),
            format => match parse_with(format, line) {
                Some(header) => {
                    self.learn(line, &header, None, true);
                    header
                }
                None => self.recover(line, true),
            },
        }
    }

    /// Learns the shape of a matched header from a sample of the lines (a relaxed load otherwise).
    #[inline]
    fn learn(&self, line: &str, header: &HeaderRef<'_>, values: Option<&[&str]>, fields: bool) {
        let Some(recovery) = &self.recovery else {
            return;
        };
        // A load and a store, not a locked add: the hot path of every matched line. Racing threads
        // may lose a count, which only shifts the sample.
        let seen = recovery.learned.load(Ordering::Relaxed);
        recovery.learned.store(seen + 1, Ordering::Relaxed);
        if seen >= LEARN_FIRST && seen % LEARN_EVERY != 0 {
            return;
        }
        let Cow::Borrowed(content) = &header.content else {
            return;
        };
        let trimmed = trim_line(line);
        let Some(start) = offset_in(trimmed, content) else {
            return;
        };
        let prefix = &trimmed[..start];
        let pattern = self
            .custom
            .as_ref()
            .or(self.tolerant.as_ref())
            .filter(|_| fields);
        let computed;
        let values = match (values, pattern) {
            (Some(values), Some(pattern)) => Some((pattern.fields(), values)),
            (None, Some(pattern)) => {
                computed = pattern.field_values(line);
                computed.as_deref().map(|values| (pattern.fields(), values))
            }
            _ => None,
        };
        let Ok(mut shape) = recovery.shape.lock() else {
            return;
        };
        if let Some((names, values)) = values {
            shape.fields.resize(names.len(), FieldShape::default());
            for ((name, &value), counts) in names.iter().zip(values).zip(shape.fields.iter_mut()) {
                if name == "Content" {
                    continue;
                }
                counts.observe(value);
            }
        }
        let mut tokens = 0;
        for token in prefix.split_whitespace() {
            tokens += 1;
            if token.bytes().any(|b| b.is_ascii_digit()) {
                if shape.shapes.len() < MAX_HEADER_TOKENS {
                    shape.shapes.insert(token_shape(token));
                }
            } else if shape.words.len() < MAX_HEADER_TOKENS && !shape.words.contains(token) {
                shape.words.insert(token.to_string());
            }
        }
        shape.max_tokens = shape.max_tokens.max(tokens);
    }

    /// Counts the field values of every match of a user format string (not a sample: a real new
    /// value such as a `-` where a number was is refused once, then known).
    fn observe_fields(&self, pattern: &FormatString, values: &[&str]) {
        let Some(recovery) = &self.recovery else {
            return;
        };
        let Ok(mut shape) = recovery.shape.lock() else {
            return;
        };
        shape
            .fields
            .resize(pattern.fields().len(), FieldShape::default());
        for ((name, &value), field) in pattern.fields().iter().zip(values).zip(&mut shape.fields) {
            if name != "Content" {
                field.observe(value);
            }
        }
    }

    /// Whether a format-string match has fields like those of the headers learned so far: a lazy
    /// match of a line that lacks a field shifts every later field into the wrong place, and a field
    /// that was always digits (a pid) then holds a word.
    fn fits_shape(&self, pattern: &FormatString, values: &[&str]) -> bool {
        let Some(recovery) = &self.recovery else {
            return true;
        };
        if recovery.learned.load(Ordering::Relaxed) < u64::from(TRUST_SAMPLES) {
            return true;
        }
        let Ok(shape) = recovery.shape.lock() else {
            return true;
        };
        pattern
            .fields()
            .iter()
            .zip(values)
            .zip(shape.fields.iter())
            .all(|((name, &value), field)| name.as_str() == "Content" || !field.unlike(value))
    }

    /// The fallback for a line whose header did not match: the preset's format string (tolerant,
    /// checked against the learned shape), else the longest prefix of header-like tokens, else the
    /// whole line.
    #[cold]
    fn recover<'a>(&self, line: &'a str, try_tolerant: bool) -> HeaderRef<'a> {
        let Some(recovery) = &self.recovery else {
            return HeaderRef::unmatched(line);
        };
        recovery.unmatched.fetch_add(1, Ordering::Relaxed);
        if try_tolerant {
            if let Some(pattern) = &self.tolerant {
                if let Some((header, values)) = pattern.parse_with_values(line) {
                    if self.fits_shape(pattern, &values) {
                        recovery.recovered.fetch_add(1, Ordering::Relaxed);
                        return header;
                    }
                }
            }
        }
        let trimmed = trim_line(line);
        let Ok(shape) = recovery.shape.lock() else {
            return HeaderRef::unmatched(line);
        };
        let mut content_start = None;
        let mut taken = 0;
        let mut rest = trimmed;
        while taken < shape.max_tokens {
            let token_start = trimmed.len() - rest.len();
            let token = rest.split(char::is_whitespace).next().unwrap_or("");
            if token.is_empty() {
                break;
            }
            let header_like = if token.bytes().any(|b| b.is_ascii_digit()) {
                shape.shapes.contains(&token_shape(token))
            } else {
                shape.words.contains(token)
            };
            if !header_like {
                content_start = Some(token_start);
                break;
            }
            taken += 1;
            rest = rest[token.len()..].trim_start();
            content_start = Some(trimmed.len() - rest.len());
        }
        match content_start {
            Some(start) if taken > 0 => {
                recovery.recovered.fetch_add(1, Ordering::Relaxed);
                HeaderRef {
                    content: Cow::Borrowed(&trimmed[start..]),
                    header_matched: true,
                    ..HeaderRef::default()
                }
            }
            _ => HeaderRef::unmatched(line),
        }
    }

    fn parse_auto<'a>(&self, line: &'a str) -> HeaderRef<'a> {
        let formats = LogFormat::concrete();
        let last = usize::from(self.last_auto.load(Ordering::Relaxed));
        if let Some(&format) = formats.get(last) {
            if let Some(header) = parse_with(format, line) {
                return header;
            }
        }
        for (index, &format) in formats.iter().enumerate() {
            if index == last {
                continue;
            }
            if let Some(header) = parse_with(format, line) {
                // Lossless: there are fewer than 255 formats.
                self.last_auto
                    .store(u8::try_from(index).unwrap_or(u8::MAX), Ordering::Relaxed);
                return header;
            }
        }
        HeaderRef::unmatched(line)
    }
}

/// The compiled format string of a preset, compiled once per process.
fn preset_pattern(format: LogFormat) -> Option<Arc<FormatString>> {
    static PATTERNS: OnceLock<Vec<Option<Arc<FormatString>>>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        LogFormat::ALL
            .iter()
            .map(|&format| {
                preset_format_string(format)
                    .and_then(|text| FormatString::compile(text).ok())
                    .map(Arc::new)
            })
            .collect()
    });
    let index = LogFormat::ALL.iter().position(|&f| f == format)?;
    patterns.get(index).cloned().flatten()
}

/// The format that parses most of `sample` (ties go to the more specific format); `Raw` when no
/// format matches at least half of the non-empty lines.
pub fn detect_format(sample: &[&str]) -> LogFormat {
    let lines: Vec<&str> = sample
        .iter()
        .map(|line| line.trim_end_matches(['\n', '\r']))
        .filter(|line| !line.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return LogFormat::Raw;
    }
    let mut best = (LogFormat::Raw, 0usize);
    for &format in LogFormat::concrete() {
        let matched = lines
            .iter()
            .filter(|line| parse_with(format, line).is_some())
            .count();
        if matched > best.1 {
            best = (format, matched);
        }
    }
    if best.1 * 2 >= lines.len() && best.1 > 0 {
        best.0
    } else {
        LogFormat::Raw
    }
}

/// Parses `line` as `format`; `None` when it does not match.
fn parse_with(format: LogFormat, line: &str) -> Option<HeaderRef<'_>> {
    // Loghub strips each line before matching its header regex.
    let line = trim_line(line);
    match format {
        LogFormat::Auto | LogFormat::Raw => None,
        LogFormat::Hdfs => parse_hdfs(line),
        LogFormat::Bgl => parse_bgl(line),
        LogFormat::Hadoop => parse_hadoop(line),
        LogFormat::Spark => parse_spark(line),
        LogFormat::Zookeeper => parse_zookeeper(line),
        LogFormat::Hpc => parse_hpc(line),
        LogFormat::Thunderbird => parse_thunderbird(line),
        LogFormat::Windows => parse_windows(line),
        LogFormat::Linux => parse_linux(line),
        LogFormat::Android => parse_android(line),
        LogFormat::Healthapp => parse_healthapp(line),
        LogFormat::Apache => parse_apache(line),
        LogFormat::Proxifier => parse_proxifier(line),
        LogFormat::Openssh => parse_openssh(line),
        LogFormat::Openstack => parse_openstack(line),
        LogFormat::Mac => parse_mac(line),
        LogFormat::Combined => parse_access(line, true),
        LogFormat::Common => parse_access(line, false),
        LogFormat::Syslog => parse_syslog(line),
        LogFormat::Json => parse_json(line),
    }
}

// ---------------------------------------------------------------------------------------------
// Small scanning helpers.

/// `line.trim()`, with the common case (a visible ASCII byte at both ends) checked first.
#[inline]
fn trim_line(line: &str) -> &str {
    let visible = |byte: &u8| (b'!'..0x80).contains(byte);
    let bytes = line.as_bytes();
    if bytes.first().is_some_and(visible) && bytes.last().is_some_and(visible) {
        line
    } else {
        line.trim()
    }
}

/// A forward-only cursor over a line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(line: &'a str) -> Self {
        Cursor { rest: line }
    }

    /// The next run of non-whitespace characters, then at least one whitespace (consumed).
    #[inline(always)]
    fn field(&mut self) -> Option<&'a str> {
        let bytes = self.rest.as_bytes();
        let end = find_blank(bytes)?;
        if end == 0 {
            return None;
        }
        let mut next = end + 1;
        while next < bytes.len() && (bytes[next] == b' ' || bytes[next] == b'\t') {
            next += 1;
        }
        // Both cuts are next to ASCII bytes, so on char boundaries.
        let field = self.rest.get(..end)?;
        self.rest = self.rest.get(next..).unwrap_or("");
        Some(field)
    }

    /// Text up to the first occurrence of `delimiter` (consumed, not returned).
    fn until(&mut self, delimiter: &str) -> Option<&'a str> {
        let end = find_short(self.rest.as_bytes(), delimiter.as_bytes())?;
        let field = &self.rest[..end];
        self.rest = &self.rest[end + delimiter.len()..];
        Some(field)
    }

    /// Text up to the first `delimiter` that is followed by whitespace; both are consumed.
    fn until_then_space(&mut self, delimiter: u8) -> Option<&'a str> {
        let bytes = self.rest.as_bytes();
        let mut from = 0;
        loop {
            let at = from + find_byte(bytes.get(from..)?, delimiter)?;
            // `delimiter` is ASCII: the cuts around it are char boundaries.
            let after = self.rest.get(at + 1..)?;
            if after.starts_with(is_space) {
                let field = self.rest.get(..at)?;
                self.rest = after.trim_start_matches(is_space);
                return Some(field);
            }
            from = at + 1;
        }
    }

    /// Consumes `prefix` if the rest starts with it.
    fn eat(&mut self, prefix: &str) -> Option<()> {
        self.rest = self.rest.strip_prefix(prefix)?;
        Some(())
    }

    /// Consumes at least one whitespace character.
    fn spaces(&mut self) -> Option<()> {
        // Usually a single space.
        if let Some(rest) = self.rest.strip_prefix(' ') {
            if !rest.starts_with(is_space) {
                self.rest = rest;
                return Some(());
            }
        }
        let trimmed = self.rest.trim_start_matches(is_space);
        if trimmed.len() == self.rest.len() {
            return None;
        }
        self.rest = trimmed;
        Some(())
    }

    fn rest(&self) -> &'a str {
        self.rest
    }
}

/// First occurrence of a short `needle` in `haystack`: a `memchr` on its first
/// byte, without the setup of a two-way searcher (`str::find(&str)` costs more than the header).
/// Offsets of a `&str` needle found in a `&str` haystack are char boundaries.
fn find_short(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut from = 0;
    while from + needle.len() <= haystack.len() {
        let at = from + find_byte(&haystack[from..], first)?;
        if haystack.get(at + 1..at + needle.len()) == Some(tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Index of the first `needle` byte in `bytes` (SIMD `memchr`: messages are scanned for `_` and
/// `[` on every line).
#[inline]
fn find_byte(bytes: &[u8], needle: u8) -> Option<usize> {
    memchr::memchr(needle, bytes)
}

/// Index of the first space or tab in `bytes`, eight bytes at a time (headers are scanned field by
/// field on every line; a byte loop costs several times more).
#[inline(always)]
fn find_blank(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[at..at + 8]);
        let word = u64::from_le_bytes(chunk);
        let spaces = word ^ (ONES * u64::from(b' '));
        let tabs = word ^ (ONES * u64::from(b'\t'));
        // A zero byte of `spaces` or `tabs` is a match; the lowest flagged byte is exact.
        let found =
            ((spaces.wrapping_sub(ONES) & !spaces) | (tabs.wrapping_sub(ONES) & !tabs)) & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .map(|offset| at + offset)
}

/// The value of a string of ASCII digits (at most 19, so it cannot overflow).
fn digits_value(s: &str) -> u64 {
    s.bytes()
        .fold(0u64, |value, byte| value * 10 + u64::from(byte - b'0'))
}

fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_level_word(s: &str) -> bool {
    !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Parses an unsigned decimal number of exactly `digits` digits.
fn fixed_number(s: &str, digits: usize) -> Option<u32> {
    if s.len() != digits || digits > 9 {
        return None;
    }
    s.bytes().try_fold(0u32, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

fn number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !all_digits(s) {
        return None;
    }
    u32::try_from(digits_value(s)).ok()
}

/// Unix seconds written as an integer.
pub(super) fn epoch(s: &str) -> Option<f64> {
    if s.is_empty() || s.len() > 12 {
        return None;
    }
    // Check and convert in one pass.
    let mut value = 0u64;
    for byte in s.bytes() {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u64::from(digit);
    }
    Some(value as f64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(super) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Unix seconds of a civil date and time, after range checks.
fn unix_time(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: f64) -> Option<f64> {
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || !(0.0..61.0).contains(&second)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days as f64 * 86_400.0 + f64::from(hour * 3600 + minute * 60) + second)
}

/// The year assumed for formats that do not write one (only differences between lines matter).
pub(super) const ASSUMED_YEAR: i64 = 2000;

pub(super) fn month_from_name(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if name.len() < 3 {
        return None;
    }
    let prefix = name.as_bytes().get(..3)?;
    // Lowercase the three bytes once instead of comparing case-insensitively twelve times.
    let lower = [
        prefix[0].to_ascii_lowercase(),
        prefix[1].to_ascii_lowercase(),
        prefix[2].to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|month| month.as_bytes() == lower)
        .and_then(|index| u32::try_from(index + 1).ok())
}

/// `hh:mm:ss` with an optional fraction after `.` or `,`; returns (hour, minute, seconds).
fn clock(s: &str) -> Option<(u32, u32, f64)> {
    let bytes = s.as_bytes();
    if bytes.len() < 8 || bytes[2] != b':' || bytes[5] != b':' {
        return None;
    }
    let hour = fixed_number(s.get(0..2)?, 2)?;
    let minute = fixed_number(s.get(3..5)?, 2)?;
    let whole = fixed_number(s.get(6..8)?, 2)?;
    let mut second = f64::from(whole);
    if bytes.len() > 8 {
        let fraction = s.get(9..)?;
        if !(bytes[8] == b'.' || bytes[8] == b',') || !all_digits(fraction) {
            return None;
        }
        second += fraction_value(fraction);
    }
    Some((hour, minute, second))
}

/// `h:mm:ss` or `hh:mm:ss` with an optional fraction after `.`, `,` or `:`, one- or two-digit minutes
/// and seconds accepted (what a tolerant header match may hold: `5:16:01`, `22:15:29:606`).
pub(super) fn clock_loose(s: &str) -> Option<(u32, u32, f64)> {
    let mut parts = s.splitn(4, [':', '.', ',']);
    let hour = parts
        .next()
        .filter(|p| (1..=2).contains(&p.len()))
        .and_then(number)?;
    let minute = parts
        .next()
        .filter(|p| (1..=2).contains(&p.len()))
        .and_then(number)?;
    let whole = parts
        .next()
        .filter(|p| (1..=2).contains(&p.len()))
        .and_then(number)?;
    let fraction = match parts.next() {
        Some(digits) if all_digits(digits) => fraction_value(digits),
        Some(_) => return None,
        None => 0.0,
    };
    // Only `:` separates hours, minutes and seconds.
    let colons = s
        .bytes()
        .take_while(|b| *b != b'.' && *b != b',')
        .filter(|b| *b == b':')
        .count();
    if colons < 2 || hour > 23 || minute > 59 || whole > 60 {
        return None;
    }
    Some((hour, minute, f64::from(whole) + fraction))
}

/// The value of the decimal digits after a decimal point.
fn fraction_value(digits: &str) -> f64 {
    let mut value = 0.0;
    let mut scale = 0.1;
    for byte in digits.bytes().take(9) {
        value += f64::from(byte - b'0') * scale;
        scale /= 10.0;
    }
    value
}

/// `yyyy-mm-dd` (or with another one-byte separator).
pub(super) fn iso_date(s: &str, separator: u8) -> Option<(i64, u32, u32)> {
    let bytes = s.as_bytes();
    if bytes.len() != 10 || bytes[4] != separator || bytes[7] != separator {
        return None;
    }
    Some((
        i64::from(fixed_number(s.get(0..4)?, 4)?),
        fixed_number(s.get(5..7)?, 2)?,
        fixed_number(s.get(8..10)?, 2)?,
    ))
}

/// `yy-mm-dd` (or with another one-byte separator), years from 2000: `17/06/09`.
pub(super) fn short_date(s: &str, separator: u8) -> Option<(i64, u32, u32)> {
    let bytes = s.as_bytes();
    if bytes.len() != 8 || bytes[2] != separator || bytes[5] != separator {
        return None;
    }
    Some((
        2000 + i64::from(fixed_number(s.get(0..2)?, 2)?),
        fixed_number(s.get(3..5)?, 2)?,
        fixed_number(s.get(6..8)?, 2)?,
    ))
}

/// Unix seconds of an ISO 8601 / RFC 3339 timestamp: `2003-10-11T22:14:15.003Z`, `... +02:00`.
pub(super) fn iso_timestamp(s: &str) -> Option<f64> {
    let (year, month, day) = iso_date(s.get(..10)?, b'-')?;
    let sep = s.as_bytes().get(10)?;
    if *sep != b'T' && *sep != b' ' && *sep != b't' {
        return None;
    }
    let rest = s.get(11..)?;
    let zone_at = rest
        .char_indices()
        .skip(8)
        .find(|&(_, c)| c == 'Z' || c == 'z' || c == '+' || c == '-')
        .map(|(index, _)| index)
        .unwrap_or(rest.len());
    let (hour, minute, second) = clock(rest.get(..zone_at)?)?;
    let base = unix_time(year, month, day, hour, minute, second)?;
    Some(base - zone_offset(rest.get(zone_at..)?)?)
}

/// Seconds east of UTC of `Z`, `+hh:mm`, `-hhmm` or an empty zone (UTC).
fn zone_offset(zone: &str) -> Option<f64> {
    if zone.is_empty() || zone.eq_ignore_ascii_case("z") {
        return Some(0.0);
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1.0,
        b'-' => -1.0,
        _ => return None,
    };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !all_digits(&digits) {
        return None;
    }
    let hours = f64::from(fixed_number(&digits[..2], 2)?);
    let minutes = f64::from(fixed_number(&digits[2..], 2)?);
    Some(sign * (hours * 3600.0 + minutes * 60.0))
}

/// `Mon dd hh:mm:ss` (syslog style, no year) from three fields.
fn syslog_time(month: &str, day: &str, time: &str) -> Option<f64> {
    let month = month_from_name(month)?;
    let day = number(day)?;
    let (hour, minute, second) = clock(time)?;
    unix_time(ASSUMED_YEAR, month, day, hour, minute, second)
}

/// A borrowed text field.
fn borrowed(s: &str) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(s))
}

/// First `blk_<digits>` (optionally negative) in `text`.
fn hdfs_block_id(text: &str) -> Option<Cow<'_, str>> {
    let bytes = text.as_bytes();
    let mut from = 0;
    // Search the `_` (a `memchr`, rarer than `b`), then look back for `blk`.
    while let Some(offset) = find_byte(bytes.get(from..)?, b'_') {
        let underscore = from + offset;
        from = underscore + 1;
        if underscore < 3 || &bytes[underscore - 3..underscore] != b"blk" {
            continue;
        }
        let start = underscore - 3;
        let mut end = underscore + 1;
        if bytes.get(end) == Some(&b'-') {
            end += 1;
        }
        let digits_start = end;
        end = digits_end(bytes, end);
        if end > digits_start {
            return text.get(start..end).map(Cow::Borrowed);
        }
    }
    None
}

/// The end of the run of ASCII digits that starts at `from`, eight bytes at a time (block ids
/// are about 20 digits).
fn digits_end(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while at + 8 <= bytes.len() {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[at..at + 8]);
        let word = u64::from_le_bytes(chunk);
        // Per ASCII byte: above `9` sets the high bit of `+ 0x46`, below `0` leaves it clear in
        // `+ 0x50`; non-ASCII bytes have it already. Carries only leave a non-ASCII byte, which
        // is flagged itself, so the lowest flagged byte is exact.
        let above = word.wrapping_add(ONES * 0x46);
        let below = !word.wrapping_add(ONES * 0x50);
        let other = (word | above | below) & HIGHS;
        if other != 0 {
            return at + (other.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while at < bytes.len() && bytes[at].is_ascii_digit() {
        at += 1;
    }
    at
}

// ---------------------------------------------------------------------------------------------
// The formats.

fn parse_hdfs(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let date = cursor.field()?;
    let time = cursor.field()?;
    let pid = cursor.field()?;
    let level = cursor.field()?;
    if date.len() != 6
        || time.len() != 6
        || !all_digits(date)
        || !all_digits(time)
        || !all_digits(pid)
        || !is_level_word(level)
    {
        return None;
    }
    let timestamp = unix_time(
        2000 + i64::from(fixed_number(&date[0..2], 2)?),
        fixed_number(&date[2..4], 2)?,
        fixed_number(&date[4..6], 2)?,
        fixed_number(&time[0..2], 2)?,
        fixed_number(&time[2..4], 2)?,
        f64::from(fixed_number(&time[4..6], 2)?),
    )?;
    let component = cursor.until_then_space(b':').or_else(|| {
        // A message can be empty: `comp:` at the very end.
        cursor.rest().strip_suffix(':').map(|c| {
            let component = c;
            cursor.rest = "";
            component
        })
    })?;
    let content = cursor.rest();
    Some(HeaderRef {
        timestamp: Some(timestamp),
        level: borrowed(level),
        component: borrowed(component),
        session_hint: hdfs_block_id(content),
        content: Cow::Borrowed(content),
        header_matched: true,
        http: None,
    })
}

fn parse_bgl(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let _label = cursor.field()?;
    let epoch_text = cursor.field()?;
    let date = cursor.field()?;
    let node = cursor.field()?;
    let time = cursor.field()?;
    let _node_repeat = cursor.field()?;
    let _kind = cursor.field()?;
    let component = cursor.field()?;
    // The level may end the line (empty message).
    let (level, content) = match cursor.field() {
        Some(level) => (level, cursor.rest()),
        None => (cursor.rest(), ""),
    };
    if iso_date(date, b'.').is_none() || !is_level_word(level) {
        return None;
    }
    let mut timestamp = epoch(epoch_text)?;
    // The time field (local time) carries microseconds: `2005-06-03-15.42.50.675872`.
    if let Some(fraction) = time.get(20..).filter(|f| all_digits(f)) {
        timestamp += fraction_value(fraction);
    }
    Some(HeaderRef {
        timestamp: Some(timestamp),
        level: borrowed(level),
        component: borrowed(component),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: borrowed(node),
        http: None,
    })
}

fn parse_hadoop(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let date = cursor.field()?;
    let time = cursor.field()?;
    let level = cursor.field()?;
    let (year, month, day) = iso_date(date, b'-')?;
    let (hour, minute, second) = clock(time)?;
    if !is_level_word(level) {
        return None;
    }
    cursor.eat("[")?;
    let _process = cursor.until_then_space(b']')?;
    let component = cursor.until_then_space(b':')?;
    Some(HeaderRef {
        timestamp: unix_time(year, month, day, hour, minute, second),
        level: borrowed(level),
        component: borrowed(component),
        content: Cow::Borrowed(cursor.rest()),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_spark(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let date = cursor.field()?;
    let time = cursor.field()?;
    let level = cursor.field()?;
    let (year, month, day) = short_date(date, b'/').or_else(|| iso_date(date, b'/'))?;
    let (hour, minute, second) = clock(time)?;
    if !is_level_word(level) {
        return None;
    }
    let component = cursor.until_then_space(b':')?;
    Some(HeaderRef {
        timestamp: unix_time(year, month, day, hour, minute, second),
        level: borrowed(level),
        component: borrowed(component),
        content: Cow::Borrowed(cursor.rest()),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_zookeeper(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let date = cursor.field()?;
    let time = cursor.field()?;
    let (year, month, day) = iso_date(date, b'-')?;
    let (hour, minute, second) = clock(time)?;
    cursor.eat("-")?;
    cursor.spaces()?;
    let level = cursor.field()?;
    if !is_level_word(level) {
        return None;
    }
    cursor.eat("[")?;
    // `[node:Component@id] - ` ends at the first `]` followed by ` - `.
    let rest = cursor.rest();
    let mut from = 0;
    let (inside, content) = loop {
        let at = from + find_byte(rest.as_bytes().get(from..)?, b']')?;
        let mut after = Cursor::new(&rest[at + 1..]);
        if after.spaces().is_some() && after.eat("-").is_some() {
            if after.spaces().is_some() {
                break (&rest[..at], after.rest());
            }
            if after.rest().is_empty() {
                break (&rest[..at], "");
            }
        }
        from = at + 1;
    };
    let component = inside
        .as_bytes()
        .iter()
        .position(|&b| b == b':')
        .map(|colon| {
            // `:` and `@` are ASCII: the cuts are char boundaries.
            let tail = inside.get(colon + 1..).unwrap_or("");
            match tail.as_bytes().iter().rposition(|&b| b == b'@') {
                Some(at) => tail.get(..at).unwrap_or(tail),
                None => tail,
            }
        })
        .unwrap_or(inside);
    Some(HeaderRef {
        timestamp: unix_time(year, month, day, hour, minute, second),
        level: borrowed(level),
        component: borrowed(component),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_hpc(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let log_id = cursor.field()?;
    let _node = cursor.field()?;
    let component = cursor.field()?;
    let _state = cursor.field()?;
    let time = cursor.field()?;
    let flag = cursor.field()?;
    let flag = flag.strip_prefix('-').unwrap_or(flag);
    if !all_digits(log_id) || !all_digits(flag) {
        return None;
    }
    Some(HeaderRef {
        timestamp: Some(epoch(time)?),
        level: None,
        component: borrowed(component),
        content: Cow::Borrowed(cursor.rest()),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

/// `comp[pid]: msg` or `comp: msg`; returns (component, pid, message).
fn program_and_message<'a>(cursor: &mut Cursor<'a>) -> Option<(&'a str, Option<&'a str>, &'a str)> {
    let program = cursor.until_then_space(b':').or_else(|| {
        let program = cursor.rest().strip_suffix(':')?;
        cursor.rest = "";
        Some(program)
    })?;
    if program.is_empty() {
        return None;
    }
    let (component, pid) = match program.strip_suffix(']').and_then(|p| p.rsplit_once('[')) {
        Some((component, pid)) => (component, Some(pid)),
        None => (program, None),
    };
    Some((component, pid, cursor.rest()))
}

fn parse_thunderbird(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let _label = cursor.field()?;
    let epoch_text = cursor.field()?;
    let date = cursor.field()?;
    let _user = cursor.field()?;
    let month = cursor.field()?;
    let day = cursor.field()?;
    let time = cursor.field()?;
    let _location = cursor.field()?;
    let timestamp = epoch(epoch_text)?;
    iso_date(date, b'.')?;
    syslog_time(month, day, time)?;
    let (component, _pid, content) = program_and_message(&mut cursor)?;
    Some(HeaderRef {
        timestamp: Some(timestamp),
        level: None,
        component: borrowed(component),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_windows(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let date = cursor.field()?;
    let time = cursor.field()?;
    let time = time.strip_suffix(',')?;
    let (year, month, day) = iso_date(date, b'-')?;
    let (hour, minute, second) = clock(time)?;
    let level = cursor.field()?;
    if !is_level_word(level) {
        return None;
    }
    let (component, content) = match cursor.field() {
        Some(component) => (component, cursor.rest()),
        None => (cursor.rest(), ""),
    };
    Some(HeaderRef {
        timestamp: unix_time(year, month, day, hour, minute, second),
        level: borrowed(level),
        component: borrowed(component),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_linux(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let month = cursor.field()?;
    let day = cursor.field()?;
    let time = cursor.field()?;
    let timestamp = syslog_time(month, day, time)?;
    let _host = cursor.field()?;
    let (component, _pid, content) = program_and_message(&mut cursor)?;
    Some(HeaderRef {
        timestamp: Some(timestamp),
        level: None,
        component: borrowed(component),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_android(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let date = cursor.field()?;
    let time = cursor.field()?;
    let pid = cursor.field()?;
    let tid = cursor.field()?;
    let level = cursor.field()?;
    let bytes = date.as_bytes();
    if bytes.len() != 5 || bytes[2] != b'-' || !all_digits(pid) || !all_digits(tid) {
        return None;
    }
    if !is_level_word(level) {
        return None;
    }
    let (hour, minute, second) = clock(time)?;
    let timestamp = unix_time(
        ASSUMED_YEAR,
        fixed_number(&date[0..2], 2)?,
        fixed_number(&date[3..5], 2)?,
        hour,
        minute,
        second,
    )?;
    let (component, content) = match cursor.until_then_space(b':') {
        Some(component) => (component, cursor.rest()),
        None => (cursor.rest().strip_suffix(':')?, ""),
    };
    Some(HeaderRef {
        timestamp: Some(timestamp),
        level: borrowed(level),
        component: borrowed(component.trim_end()),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_healthapp(line: &str) -> Option<HeaderRef<'_>> {
    let mut parts = line.splitn(4, '|');
    let time = parts.next()?;
    let component = parts.next()?;
    let pid = parts.next()?;
    let content = parts.next()?;
    if !all_digits(pid) {
        return None;
    }
    // `20171223-22:15:29:606`
    let bytes = time.as_bytes();
    if bytes.len() < 17 || bytes[8] != b'-' {
        return None;
    }
    let (hour, minute, second) = clock(time.get(9..17)?)?;
    let millis = time
        .get(18..)
        .and_then(number)
        .map_or(0.0, |ms| f64::from(ms) / 1000.0);
    let timestamp = unix_time(
        i64::from(fixed_number(time.get(0..4)?, 4)?),
        fixed_number(time.get(4..6)?, 2)?,
        fixed_number(time.get(6..8)?, 2)?,
        hour,
        minute,
        second + millis,
    )?;
    Some(HeaderRef {
        timestamp: Some(timestamp),
        level: None,
        component: borrowed(component),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_apache(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    cursor.eat("[")?;
    let time = cursor.until("]")?;
    cursor.spaces()?;
    cursor.eat("[")?;
    let level = cursor.until("]")?;
    if !is_level_word(level) {
        return None;
    }
    let content = cursor.rest().trim_start_matches(is_space);
    // `Sun Dec 04 04:47:44 2005`
    let mut fields = time.split_ascii_whitespace();
    let _weekday = fields.next()?;
    let month = month_from_name(fields.next()?)?;
    let day = number(fields.next()?)?;
    let (hour, minute, second) = clock(fields.next()?)?;
    let year = i64::from(number(fields.next()?)?);
    Some(HeaderRef {
        timestamp: unix_time(year, month, day, hour, minute, second),
        level: borrowed(level),
        component: None,
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_proxifier(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    cursor.eat("[")?;
    let time = cursor.until("]")?;
    cursor.spaces()?;
    let program = cursor.until(" - ")?;
    let content = cursor.rest().trim_start_matches(is_space);
    // `10.30 16:49:06`
    let (date, clock_text) = time.split_once(' ')?;
    let (month, day) = date.split_once('.')?;
    let (hour, minute, second) = clock(clock_text)?;
    Some(HeaderRef {
        timestamp: unix_time(
            ASSUMED_YEAR,
            number(month)?,
            number(day)?,
            hour,
            minute,
            second,
        ),
        level: None,
        component: borrowed(program),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_openssh(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let month = cursor.field()?;
    let day = cursor.field()?;
    let time = cursor.field()?;
    let timestamp = syslog_time(month, day, time)?;
    let component = cursor.field()?;
    cursor.eat("sshd[")?;
    let pid = cursor.until("]:")?;
    if !all_digits(pid) {
        return None;
    }
    let content = cursor.rest().trim_start_matches(is_space);
    Some(HeaderRef {
        timestamp: Some(timestamp),
        level: None,
        component: borrowed(component),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: borrowed(pid),
        http: None,
    })
}

fn parse_openstack(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let _record = cursor.field()?;
    let date = cursor.field()?;
    let time = cursor.field()?;
    let pid = cursor.field()?;
    let level = cursor.field()?;
    let component = cursor.field()?;
    let (year, month, day) = iso_date(date, b'-')?;
    let (hour, minute, second) = clock(time)?;
    if !all_digits(pid) || !is_level_word(level) {
        return None;
    }
    cursor.eat("[")?;
    let _request = cursor.until("]")?;
    let content = cursor.rest().trim_start_matches(is_space);
    Some(HeaderRef {
        timestamp: unix_time(year, month, day, hour, minute, second),
        level: borrowed(level),
        component: borrowed(component),
        session_hint: openstack_instance(content),
        content: Cow::Borrowed(content),
        header_matched: true,
        http: None,
    })
}

/// The instance id of `[instance: <uuid>]`.
fn openstack_instance(content: &str) -> Option<Cow<'_, str>> {
    let start = find_short(content.as_bytes(), b"[instance: ")? + "[instance: ".len();
    let rest = content.get(start..)?;
    let end = rest.find(']')?;
    borrowed(&rest[..end])
}

fn parse_mac(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let month = cursor.field()?;
    let day = cursor.field()?;
    let time = cursor.field()?;
    let timestamp = syslog_time(month, day, time)?;
    let _user = cursor.field()?;
    // `Component[pid]( (address))?: message`, the component may contain spaces.
    let rest = cursor.rest();
    let mut from = 0;
    loop {
        let open = from + rest.get(from..)?.find('[')?;
        let close = open + rest.get(open..)?.find(']')?;
        let pid = &rest[open + 1..close];
        if all_digits(pid) {
            let mut tail = Cursor::new(&rest[close + 1..]);
            if tail.rest().starts_with(" (") {
                tail.eat(" (")?;
                tail.until(")")?;
            }
            if tail.eat(":").is_some() {
                let content = tail.rest().trim_start_matches(is_space);
                return Some(HeaderRef {
                    timestamp: Some(timestamp),
                    level: None,
                    component: borrowed(&rest[..open]),
                    content: Cow::Borrowed(content),
                    header_matched: true,
                    session_hint: None,
                    http: None,
                });
            }
        }
        from = close + 1;
    }
}

fn parse_access(line: &str, combined: bool) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let client = cursor.field()?;
    let _ident = cursor.field()?;
    let _user = cursor.field()?;
    cursor.eat("[")?;
    let time = cursor.until("]")?;
    cursor.spaces()?;
    cursor.eat("\"")?;
    let request = quoted_until_end(&mut cursor)?;
    cursor.spaces()?;
    let status_text = cursor.field().or_else(|| {
        let status = cursor.rest();
        cursor.rest = "";
        Some(status)
    })?;
    let status = status_text.parse::<u16>().ok();
    if status.is_none() && status_text != "-" {
        return None;
    }
    let bytes_text = cursor.field().unwrap_or_else(|| {
        let bytes = cursor.rest();
        cursor.rest = "";
        bytes
    });
    let bytes = bytes_text.parse::<u64>().ok();
    if bytes.is_none() && bytes_text != "-" && !bytes_text.is_empty() {
        return None;
    }
    let (referrer, user_agent) = if combined {
        cursor.eat("\"")?;
        let referrer = quoted_until_end(&mut cursor)?;
        cursor.spaces()?;
        cursor.eat("\"")?;
        // A truncated user agent (no closing quote) is kept as written.
        let agent = quoted_until_end(&mut cursor).unwrap_or_else(|| {
            let agent = cursor.rest();
            cursor.rest = "";
            agent
        });
        (dash_none(referrer), dash_none(agent))
    } else {
        (None, None)
    };
    let mut parts = request.splitn(3, ' ');
    let (method, target, protocol) = match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), protocol) if !method.is_empty() => {
            (method, target, protocol.unwrap_or(""))
        }
        _ => (request, "", ""),
    };
    let content = if target.is_empty() {
        format!("{method} {status_text}")
    } else if protocol.is_empty() {
        format!("{method} {target} {status_text}")
    } else {
        format!("{method} {target} {protocol} {status_text}")
    };
    Some(HeaderRef {
        timestamp: access_time(time),
        level: None,
        component: None,
        content: Cow::Owned(content),
        header_matched: true,
        session_hint: borrowed(client),
        http: Some(Box::new(HttpRequest {
            client: client.to_string(),
            method: method.to_string(),
            target: target.to_string(),
            protocol: protocol.to_string(),
            status,
            bytes,
            referrer,
            user_agent,
        })),
    })
}

/// Text up to the closing `"` (a `\"` inside does not close); the cursor is left after it.
fn quoted_until_end<'a>(cursor: &mut Cursor<'a>) -> Option<&'a str> {
    let rest = cursor.rest();
    let bytes = rest.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' => {
                cursor.rest = &rest[index + 1..];
                return Some(&rest[..index]);
            }
            _ => index += 1,
        }
    }
    None
}

fn dash_none(value: &str) -> Option<String> {
    (value != "-" && !value.is_empty()).then(|| value.to_string())
}

/// `10/Oct/2000:13:55:36 -0700`
fn access_time(time: &str) -> Option<f64> {
    let (stamp, zone) = time.split_once(' ').unwrap_or((time, ""));
    let mut parts = stamp.splitn(3, '/');
    let day = number(parts.next()?)?;
    let month = month_from_name(parts.next()?)?;
    let year_and_clock = parts.next()?;
    let (year, clock_text) = year_and_clock.split_once(':')?;
    let (hour, minute, second) = clock(clock_text)?;
    let base = unix_time(i64::from(number(year)?), month, day, hour, minute, second)?;
    Some(base - zone_offset(zone.trim())?)
}

fn parse_syslog(line: &str) -> Option<HeaderRef<'_>> {
    let mut cursor = Cursor::new(line);
    let mut level = None;
    if cursor.rest().starts_with('<') {
        cursor.eat("<")?;
        let priority = number(cursor.until(">")?)?;
        const SEVERITIES: [&str; 8] = [
            "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
        ];
        level = SEVERITIES
            .get((priority % 8) as usize)
            .map(|&s| Cow::Borrowed(s));
    }
    // RFC 5424: `1 2003-10-11T22:14:15.003Z host app procid msgid [sd] msg`.
    if cursor.rest().starts_with("1 ") {
        let _version = cursor.field()?;
        let stamp = cursor.field()?;
        let _host = cursor.field()?;
        let app = cursor.field()?;
        let _procid = cursor.field()?;
        let _msgid = cursor.field().or_else(|| {
            let msgid = cursor.rest();
            cursor.rest = "";
            Some(msgid)
        })?;
        let mut rest = cursor.rest();
        if rest.starts_with('[') {
            // Structured data: `[id k="v"]...`, `]` inside quotes does not close.
            let bytes = rest.as_bytes();
            let mut index = 0;
            let mut quoted = false;
            while index < bytes.len() {
                match bytes[index] {
                    b'\\' => index += 1,
                    b'"' => quoted = !quoted,
                    b' ' if !quoted && index > 0 && bytes[index - 1] == b']' => break,
                    _ => {}
                }
                index += 1;
            }
            rest = rest.get(index.min(rest.len())..)?.trim_start();
        } else if let Some(tail) = rest.strip_prefix("- ") {
            rest = tail;
        } else if rest == "-" {
            rest = "";
        }
        return Some(HeaderRef {
            timestamp: if stamp == "-" {
                None
            } else {
                iso_timestamp(stamp)
            },
            level,
            component: (app != "-").then_some(Cow::Borrowed(app)),
            content: Cow::Borrowed(rest.strip_prefix('\u{feff}').unwrap_or(rest)),
            header_matched: true,
            session_hint: None,
            http: None,
        });
    }
    // RFC 3164: `Oct 11 22:14:15 host tag[pid]: msg`, or an ISO timestamp in place of the date.
    let first = cursor.field()?;
    let timestamp = if let Some(stamp) = iso_timestamp(first) {
        stamp
    } else {
        let day = cursor.field()?;
        let time = cursor.field()?;
        syslog_time(first, day, time)?
    };
    let _host = cursor.field()?;
    let (component, _pid, content) = program_and_message(&mut cursor)?;
    if component.contains(' ') {
        return None;
    }
    Some(HeaderRef {
        timestamp: Some(timestamp),
        level,
        component: borrowed(component),
        content: Cow::Borrowed(content),
        header_matched: true,
        session_hint: None,
        http: None,
    })
}

fn parse_json(line: &str) -> Option<HeaderRef<'_>> {
    if !line.starts_with('{') {
        return None;
    }
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line).ok()?;
    let text = |keys: &[&str]| -> Option<Cow<'_, str>> {
        keys.iter().find_map(|key| match object.get(*key)? {
            serde_json::Value::String(s) => Some(Cow::Owned(s.clone())),
            serde_json::Value::Null => None,
            other => Some(Cow::Owned(other.to_string())),
        })
    };
    let content = text(&["message", "msg", "log", "text", "event", "body"])?;
    let timestamp = ["timestamp", "@timestamp", "time", "ts", "datetime", "date"]
        .iter()
        .find_map(|key| match object.get(*key)? {
            serde_json::Value::Number(n) => {
                let value = n.as_f64()?;
                // Milliseconds since the epoch are common in JSON logs.
                Some(if value > 1e11 { value / 1000.0 } else { value })
            }
            serde_json::Value::String(s) => iso_timestamp(s),
            _ => None,
        });
    Some(HeaderRef {
        timestamp,
        level: text(&["level", "severity", "lvl", "loglevel", "log.level"]),
        component: text(&[
            "logger",
            "logger_name",
            "component",
            "module",
            "name",
            "service",
        ]),
        content,
        header_matched: true,
        session_hint: text(&["session", "session_id", "trace_id", "request_id"]),
        http: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: LogFormat, line: &str) -> Header {
        HeaderParser::new(format).parse(line)
    }

    #[test]
    fn hdfs_header_and_block_session() {
        let header = parse(
            LogFormat::Hdfs,
            "081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
        );
        assert!(header.header_matched);
        assert_eq!(header.level.as_deref(), Some("INFO"));
        assert_eq!(
            header.component.as_deref(),
            Some("dfs.DataNode$DataXceiver")
        );
        assert_eq!(
            header.session_hint.as_deref(),
            Some("blk_-1608999687919862906")
        );
        assert!(header
            .content
            .starts_with("Receiving block blk_-1608999687919862906 src:"));
        // 2008-11-09 20:35:18 UTC
        assert_eq!(header.timestamp, Some(1_226_262_918.0));
    }

    #[test]
    fn bgl_header_uses_epoch_and_node() {
        let header = parse(
            LogFormat::Bgl,
            "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
        );
        assert!(header.header_matched);
        assert_eq!(header.content, "instruction cache parity error corrected");
        assert_eq!(header.level.as_deref(), Some("INFO"));
        assert_eq!(header.component.as_deref(), Some("KERNEL"));
        assert_eq!(header.session_hint.as_deref(), Some("R02-M1-N0-C:J12-U11"));
        let timestamp = header.timestamp.unwrap_or_default();
        assert!((timestamp - 1_117_838_570.675_872).abs() < 1e-3);
    }

    #[test]
    fn hadoop_spark_zookeeper_headers() {
        let hadoop = parse(
            LogFormat::Hadoop,
            "2015-10-18 18:01:47,978 INFO [IPC Server handler 5 on 62270] org.apache.hadoop.mapred.TaskAttemptListenerImpl: Progress of TaskAttempt attempt_1 is : 0.02",
        );
        assert!(hadoop.header_matched);
        assert_eq!(
            hadoop.content,
            "Progress of TaskAttempt attempt_1 is : 0.02"
        );
        assert_eq!(
            hadoop.component.as_deref(),
            Some("org.apache.hadoop.mapred.TaskAttemptListenerImpl")
        );
        assert_eq!(hadoop.timestamp, Some(1_445_191_307.978));

        let spark = parse(
            LogFormat::Spark,
            "17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls to: yarn,curi",
        );
        assert_eq!(spark.content, "Changing view acls to: yarn,curi");
        assert_eq!(spark.timestamp, Some(1_497_039_040.0));

        let zookeeper = parse(
            LogFormat::Zookeeper,
            "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200",
        );
        assert!(zookeeper.header_matched);
        assert_eq!(zookeeper.level.as_deref(), Some("INFO"));
        assert_eq!(zookeeper.content, "Notification time out: 3200");
        assert_eq!(
            zookeeper.component.as_deref(),
            Some("0:0:0:0:0:0:0:2181:FastLeaderElection")
        );
    }

    #[test]
    fn hpc_windows_android_apache_openstack_headers() {
        let hpc = parse(
            LogFormat::Hpc,
            "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change: Component \\042alt0\\042 is in the unavailable state (HWID=1973)",
        );
        assert_eq!(hpc.timestamp, Some(1_077_804_742.0));
        assert!(hpc.content.starts_with("Component State Change"));

        let windows = parse(
            LogFormat::Windows,
            "2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505",
        );
        assert_eq!(windows.level.as_deref(), Some("Info"));
        assert_eq!(windows.component.as_deref(), Some("CBS"));
        assert_eq!(windows.content, "Loaded Servicing Stack v6.1.7601.23505");

        let android = parse(
            LogFormat::Android,
            "03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app",
        );
        assert_eq!(android.level.as_deref(), Some("D"));
        assert_eq!(android.component.as_deref(), Some("WindowManager"));
        assert_eq!(android.content, "printFreezingDisplayLogsopening app");

        let apache = parse(
            LogFormat::Apache,
            "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
        );
        assert_eq!(apache.level.as_deref(), Some("notice"));
        assert_eq!(apache.timestamp, Some(1_133_671_664.0));

        let openstack = parse(
            LogFormat::Openstack,
            "nova-compute.log.1.2017-05-16_13:55:31 2017-05-16 00:00:04.500 2931 INFO nova.compute.manager [req-3ea4052c-895d-4b64-9e2d-04d64c4d94ab - - - - -] [instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM Started (Lifecycle Event)",
        );
        assert_eq!(
            openstack.content,
            "[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM Started (Lifecycle Event)"
        );
        assert_eq!(
            openstack.session_hint.as_deref(),
            Some("b9000564-fe1a-409b-b8cc-1e88b294cd1d")
        );
    }

    #[test]
    fn syslog_family_headers() {
        let ssh = parse(
            LogFormat::Openssh,
            "Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!",
        );
        assert!(ssh.header_matched);
        assert_eq!(ssh.session_hint.as_deref(), Some("24200"));
        assert!(ssh.content.starts_with("reverse mapping"));

        let linux = parse(
            LogFormat::Linux,
            "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0",
        );
        assert_eq!(linux.component.as_deref(), Some("sshd(pam_unix)"));
        assert_eq!(linux.content, "authentication failure; logname= uid=0");

        let mac = parse(
            LogFormat::Mac,
            "Jul  1 09:00:55 calvisitor-10-105-160-95 kernel[0]: IOThunderboltSwitch<0>(0x0)::listenerCallback - Thunderbolt HPD packet",
        );
        assert_eq!(mac.component.as_deref(), Some("kernel"));
        assert!(mac.content.starts_with("IOThunderboltSwitch"));

        let rfc3164 = parse(
            LogFormat::Syslog,
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed",
        );
        assert_eq!(rfc3164.level.as_deref(), Some("crit"));
        assert_eq!(rfc3164.content, "'su root' failed");

        let rfc5424 = parse(
            LogFormat::Syslog,
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event",
        );
        assert_eq!(rfc5424.content, "An application event");
        assert_eq!(rfc5424.component.as_deref(), Some("evntslog"));
        assert_eq!(rfc5424.timestamp, Some(1_065_910_455.003));

        let thunderbird = parse(
            LogFormat::Thunderbird,
            "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for user root",
        );
        assert_eq!(thunderbird.content, "session closed for user root");
        assert_eq!(thunderbird.component.as_deref(), Some("crond(pam_unix)"));
    }

    #[test]
    fn access_logs_fill_http() {
        let header = parse(
            LogFormat::Combined,
            "83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1\" 200 203023 \"http://semicomplete.com/presentations/\" \"Mozilla/5.0 (Macintosh)\"",
        );
        assert!(header.header_matched);
        let http = header.http.clone().unwrap_or_default();
        assert_eq!(http.method, "GET");
        assert_eq!(http.status, Some(200));
        assert_eq!(http.bytes, Some(203_023));
        assert_eq!(http.user_agent.as_deref(), Some("Mozilla/5.0 (Macintosh)"));
        assert_eq!(header.session_hint.as_deref(), Some("83.149.9.216"));
        assert_eq!(header.timestamp, Some(1_431_857_103.0));

        let common = parse(
            LogFormat::Common,
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 -",
        );
        assert_eq!(common.content, "GET /apache_pb.gif HTTP/1.0 200");
        assert_eq!(common.http.and_then(|h| h.bytes), None);
        assert_eq!(common.timestamp, Some(971_211_336.0));
    }

    #[test]
    fn json_lines() {
        let header = parse(
            LogFormat::Json,
            r#"{"ts": 1700000000.5, "level": "warn", "logger": "db", "msg": "slow query 35 ms"}"#,
        );
        assert_eq!(header.content, "slow query 35 ms");
        assert_eq!(header.level.as_deref(), Some("warn"));
        assert_eq!(header.timestamp, Some(1_700_000_000.5));
    }

    #[test]
    fn unmatched_lines_keep_whole_content() {
        let header = parse(LogFormat::Hdfs, "not an hdfs line");
        assert!(!header.header_matched);
        assert_eq!(header.content, "not an hdfs line");
        let raw = parse(LogFormat::Raw, "081109 203518 143 INFO x: y");
        assert_eq!(raw.content, "081109 203518 143 INFO x: y");
    }

    #[test]
    fn format_names_round_trip() {
        for &format in LogFormat::ALL {
            assert_eq!(format.to_string().parse::<LogFormat>().ok(), Some(format));
            let json = serde_json::to_string(&format).unwrap_or_default();
            assert_eq!(json, format!("\"{format}\""));
        }
        assert_eq!("HDFS".parse::<LogFormat>().ok(), Some(LogFormat::Hdfs));
        let error = "nope"
            .parse::<LogFormat>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("hdfs") && error.contains("zookeeper"),
            "{error}"
        );
    }

    #[test]
    fn detect_and_auto() {
        let hdfs = [
            "081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_1 src: /1.2.3.4:5 dest: /1.2.3.4:6",
            "081109 203519 145 INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: /a. blk_2",
        ];
        assert_eq!(detect_format(&hdfs), LogFormat::Hdfs);
        let ssh = ["Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186"];
        assert_eq!(detect_format(&ssh), LogFormat::Openssh);
        assert_eq!(detect_format(&["hello world", "no header"]), LogFormat::Raw);
        let auto = HeaderParser::new(LogFormat::Auto);
        assert_eq!(
            auto.parse(hdfs[0]).component.as_deref(),
            Some("dfs.DataNode$DataXceiver")
        );
        assert_eq!(auto.parse(ssh[0]).session_hint.as_deref(), Some("24200"));
        assert!(!auto.parse("plain text").header_matched);
    }

    /// A small deterministic generator (no `rand` dependency).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    #[test]
    fn mutated_real_lines_never_panic() {
        let samples = [
            "081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106",
            "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction",
            "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster",
            "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification",
            "03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app wtoken = AppWindowToken{9f4ef63",
            "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [req-38101a0b] x",
            "83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET /a.png HTTP/1.1\" 200 203023 \"http://x/\" \"Mozilla/5.0\"",
            "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An event",
            "Jul  1 09:00:55 calvisitor-10-105-160-95 kernel[0]: IOThunderboltSwitch<0>(0x0)::listenerCallback - Thunderbolt",
            "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
            "[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy",
            "{\"ts\": 1700000000.5, \"level\": \"warn\", \"msg\": \"slow query 35 ms\"}",
        ];
        let inserts = [
            "é", "\u{0}", " ", "\t", ":", "[", "]", "\"", "中", "🚀", "-", "=", "/", "9",
        ];
        let mut rng = Lcg(7);
        let parsers: Vec<HeaderParser> = LogFormat::ALL
            .iter()
            .map(|&f| HeaderParser::new(f))
            .collect();
        for round in 0..3000 {
            let sample = samples[round % samples.len()];
            let mut line = sample.to_string();
            for _ in 0..(1 + rng.next() % 4) {
                let mut at = (rng.next() as usize) % (line.len() + 1);
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                if rng.next() % 3 == 0 {
                    let mut end = (at + 1 + (rng.next() as usize) % 8).min(line.len());
                    while !line.is_char_boundary(end) {
                        end += 1;
                    }
                    line.replace_range(at..end, "");
                } else {
                    line.insert_str(at, inserts[(rng.next() as usize) % inserts.len()]);
                }
            }
            for parser in &parsers {
                let header = parser.parse(&line);
                assert!(
                    header.header_matched || header.content == line.trim_end_matches(['\n', '\r'])
                );
            }
        }
    }

    #[test]
    fn byte_scans_match_byte_loops() {
        let alphabet = [
            b'a', b' ', b'\t', b'_', b']', b'0', b'9', b'/', 0x80, 0xff, 0x3a, 0x2f,
        ];
        let mut rng = Lcg(9);
        for _ in 0..20_000 {
            let bytes: Vec<u8> = (0..rng.next() % 40)
                .map(|_| alphabet[(rng.next() as usize) % alphabet.len()])
                .collect();
            let blank = bytes.iter().position(|&b| b == b' ' || b == b'\t');
            assert_eq!(find_blank(&bytes), blank, "{bytes:?}");
            for needle in [b'_', b']', b'0'] {
                let at = bytes.iter().position(|&b| b == needle);
                assert_eq!(find_byte(&bytes, needle), at, "{bytes:?}");
            }
            let from = (rng.next() as usize) % (bytes.len() + 1);
            let end = bytes[from..]
                .iter()
                .position(|b| !b.is_ascii_digit())
                .map_or(bytes.len(), |at| from + at);
            assert_eq!(digits_end(&bytes, from), end, "{bytes:?} from {from}");
        }
        assert_eq!(find_short(b"a - b - c", b" - "), Some(1));
        assert_eq!(find_short(b"a -b", b" - "), None);
    }

    #[test]
    fn borrowed_and_owned_headers_agree() {
        let lines = [
            "081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106",
            "17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls to: yarn,curi",
            "83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET /a.png HTTP/1.1\" 200 203023 \"http://x/\" \"Mozilla/5.0\"",
            "{\"ts\": 1700000000.5, \"level\": \"warn\", \"msg\": \"slow query 35 ms\"}",
            "not a header at all",
        ];
        for &format in LogFormat::ALL {
            let parser = HeaderParser::new(format);
            for line in lines {
                let borrowed = parser.parse_ref(line);
                assert_eq!(borrowed.clone().into_owned(), parser.parse(line));
                assert_eq!(borrowed.content.as_ref(), parser.parse(line).content);
            }
        }
        // `17/06/09` is 2017-06-09.
        assert_eq!(short_date("17/06/09", b'/'), Some((2017, 6, 9)));
        assert_eq!(short_date("2017/06/09", b'/'), None);
    }

    /// Loghub-2k logs to compare the hand parsers with the format strings: the committed fixtures,
    /// and the ten given systems of `../shared/data/loghub_2k` when that folder exists.
    fn loghub_logs() -> Vec<(LogFormat, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut logs = Vec::new();
        for dir in [
            root.join("tests/fixtures/loghub"),
            root.join("../../shared/data/loghub_2k"),
        ] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                let Ok(format) = name.parse::<LogFormat>() else {
                    continue;
                };
                let path = entry.path().join(format!("{name}_2k.log"));
                if let Ok(text) = std::fs::read_to_string(path) {
                    logs.push((format, text));
                }
            }
        }
        logs
    }

    /// Lines written for the presets without a committed log (same shapes as the format docs).
    const WRITTEN_LINES: &[(LogFormat, &str)] = &[
        (LogFormat::Thunderbird, "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for user root"),
        (LogFormat::Thunderbird, "- 1131566461 2005.11.09 tbird-admin1 Nov 9 12:01:01 local@tbird-admin1 postfix/postdrop[10896]: warning: unable to look up public/pickup: No such file or directory"),
        (LogFormat::Linux, "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4"),
        (LogFormat::Linux, "Jul  1 09:00:55 combo kernel: Linux version 2.6.5-1.358 (bhcompile@bugs.build.redhat.com)"),
        (LogFormat::Healthapp, "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579"),
        (LogFormat::Healthapp, "20171224-0:3:12:9|Step_SPUtils|30002312| getTodayTotalDetailSteps = 1514044980000##7007##548365##8661##16740##27008908"),
        (LogFormat::Proxifier, "[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy proxy.cse.cuhk.edu.hk:5070 HTTPS"),
        (LogFormat::Openssh, "Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!"),
        (LogFormat::Mac, "Jul  1 09:00:55 calvisitor-10-105-160-95 kernel[0]: IOThunderboltSwitch<0>(0x0)::listenerCallback - Thunderbolt HPD packet for route = 0x0 port = 11 unplug = 0"),
        (LogFormat::Mac, "Jul  1 09:01:05 calvisitor-10-105-160-95 com.apple.CDScheduler[43]: Thermal pressure state: 1 Memory pressure state: 0"),
        (LogFormat::Mac, "Jul  1 09:02:26 calvisitor-10-105-160-95 QQ[10018] (UserNotifications): FA||Url||taskID[2019352994] dealloc"),
        (LogFormat::Windows, "2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505 with Core: C:\\Windows\\winsxs\\cbscore.dll"),
        (LogFormat::Android, "03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app wtoken = AppWindowToken{9f4ef63 token=Token{a64f992 ActivityRecord{de9231d u0 com.tencent.qt.qtl/.activity.info.NewsDetailXmlActivity t761}}}, allDrawn= false"),
        (LogFormat::Bgl, "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected"),
        (LogFormat::Hadoop, "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster for application appattempt_1445144423722_0020_000001"),
        (LogFormat::Openstack, "nova-compute.log.1.2017-05-16_13:55:31 2017-05-16 00:00:04.500 2931 INFO nova.compute.manager [req-3ea4052c-895d-4b64-9e2d-04d64c4d94ab - - - - -] [instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM Started (Lifecycle Event)"),
    ];

    #[test]
    fn hand_parsers_agree_with_their_format_strings() {
        let mut lines: Vec<(LogFormat, String)> = Vec::new();
        for (format, text) in loghub_logs() {
            lines.extend(text.lines().map(|line| (format, line.to_string())));
        }
        lines.extend(WRITTEN_LINES.iter().map(|&(f, l)| (f, l.to_string())));
        let mut compared = std::collections::HashMap::new();
        for (format, line) in &lines {
            let pattern = preset_pattern(*format).unwrap_or_else(|| panic!("{format}"));
            let (Some(hand), Some(string)) = (parse_with(*format, line), pattern.parse_ref(line))
            else {
                continue;
            };
            assert_eq!(hand.content, string.content, "{format}: {line}");
            *compared.entry(*format).or_insert(0usize) += 1;
        }
        for &(format, _) in WRITTEN_LINES {
            assert!(compared.get(&format).copied().unwrap_or(0) > 0, "{format}");
        }
        // On a real log both match nearly every line, so the comparison is not vacuous.
        for (format, text) in loghub_logs() {
            let lines = text.lines().count();
            let both = compared.get(&format).copied().unwrap_or(0);
            assert!(both * 100 >= lines * 95, "{format}: {both} of {lines}");
        }
    }

    /// Mines `lines` after warming the parser and miner up on `warmup`; the template ids of `lines`.
    fn template_ids(parser: &HeaderParser, warmup: &[String], lines: &[&str]) -> Vec<u32> {
        let mut miner = crate::parse::TemplateMiner::new(crate::parse::MinerConfig::default());
        for line in warmup {
            miner.learn(&parser.parse_ref(line).content);
        }
        lines
            .iter()
            .map(|line| miner.learn(&parser.parse_ref(line).content).template_id)
            .collect()
    }

    #[test]
    fn odd_headers_keep_the_template() {
        // A stream of valid lines with varied fields, then one event with odd headers.
        let components = [
            "dfs.DataNode$PacketResponder",
            "dfs.FSNamesystem",
            "dfs.DataNode",
        ];
        let warmup: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    "081109 {:02}{:02}{:02} {} INFO {}: Served block blk_{} to /10.251.{}.{}",
                    10 + i % 13,
                    i % 60,
                    (i * 7) % 60,
                    100 + i * 3,
                    components[i % 3],
                    1000 + i * 17,
                    i % 200,
                    i % 50
                )
            })
            .collect();
        let parser = HeaderParser::new(LogFormat::Hdfs);
        let ids = template_ids(
            &parser,
            &warmup,
            &[
                "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
                // One-digit hour.
                "081109 23615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 2 for block blk_-6952295868487656571 terminating",
                // Extra spaces.
                "081109  203616   149 INFO  dfs.DataNode$PacketResponder: PacketResponder 0 for block blk_8229193803249955061 terminating",
                // No pid.
                "081109 203617 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_-6670958622368987959 terminating",
            ],
        );
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
        let counts = parser.header_counts();
        assert_eq!(
            counts,
            HeaderCounts {
                unmatched: 2,
                recovered: 2
            }
        );
        // A line without any header is mined whole and counted.
        let before = parser.header_counts();
        let header = parser.parse("java.io.IOException: Connection reset by peer");
        assert!(!header.header_matched);
        assert_eq!(
            header.content,
            "java.io.IOException: Connection reset by peer"
        );
        assert_eq!(parser.header_counts().unmatched, before.unmatched + 1);
        assert_eq!(parser.header_counts().recovered, before.recovered);

        // A syslog preset: one-digit hour, extra spaces, no pid.
        let warmup: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    "Jun {:2} {:02}:{:02}:{:02} combo sshd(pam_unix)[{}]: session opened for user u{} by (uid=0)",
                    1 + i % 28,
                    10 + i % 13,
                    i % 60,
                    (i * 7) % 60,
                    1000 + i * 31,
                    i % 9
                )
            })
            .collect();
        let parser = HeaderParser::new(LogFormat::Linux);
        let ids = template_ids(
            &parser,
            &warmup,
            &[
                "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: session opened for user root by (uid=0)",
                "Jun 14 5:16:01 combo sshd(pam_unix)[19940]: session opened for user news by (uid=0)",
                "Jun 14  15:16:02   combo sshd(pam_unix)[19941]: session opened for user root by (uid=0)",
                "Jun 14 15:16:03 combo sshd(pam_unix): session opened for user cyrus by (uid=0)",
            ],
        );
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
        assert_eq!(parser.header_counts().recovered, 1);
    }

    #[test]
    fn user_format_strings_parse_and_recover() {
        let parser =
            HeaderParser::with_format_string(r"\[<Time>\] <Pid> <Level> <Component>: <Content>")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parser.format(), LogFormat::Raw);
        assert!(parser.format_string().is_some());
        let warmup: Vec<String> = (0..100)
            .map(|i| {
                format!(
                    "[2024-01-{:02} {:02}:{:02}:00] {} INFO worker.pool: job {} done in {} ms",
                    1 + i % 28,
                    10 + i % 13,
                    i % 60,
                    300 + i,
                    i,
                    i * 3
                )
            })
            .collect();
        let header = parser.parse(&warmup[0]);
        assert_eq!(header.level.as_deref(), Some("INFO"));
        assert_eq!(header.component.as_deref(), Some("worker.pool"));
        assert_eq!(header.content, "job 0 done in 0 ms");
        assert!(header.timestamp.is_some());
        let ids = template_ids(
            &parser,
            &warmup,
            &[
                "[2024-01-03 10:11:00] 512 INFO worker.pool: job 7 done in 35 ms",
                "[2024-01-03 9:11:00] 513 INFO worker.pool: job 8 done in 36 ms",
                "[2024-01-03 10:11:01]   514 INFO   worker.pool: job 9 done in 37 ms",
                // No pid: the lazy match would shift every field; the learned shape refuses it.
                "[2024-01-03 10:11:02] INFO worker.pool: job 10 done in 38 ms",
            ],
        );
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
        assert_eq!(
            parser.header_counts(),
            HeaderCounts {
                unmatched: 1,
                recovered: 1
            }
        );
        let error = HeaderParser::with_format_string("<Date> <Time>")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("<Content>"), "{error}");
        assert!(HeaderParser::from_settings(LogFormat::Hdfs, Some("  "))
            .map(|p| p.format() == LogFormat::Hdfs)
            .unwrap_or(false));
    }

    #[test]
    fn hostile_lines_never_panic() {
        let long = "x".repeat(1 << 20);
        let lines = [
            "",
            " ",
            "\0",
            "\u{1}\u{2}\u{7f}",
            "[",
            "[[]]",
            "{",
            "<",
            "<1",
            "é:é",
            long.as_str(),
            "\"",
            "1 ",
        ];
        for &format in LogFormat::ALL {
            let parser = HeaderParser::new(format);
            for line in lines {
                let _ = parser.parse(line);
            }
        }
        let _ = detect_format(&lines);
    }
}
