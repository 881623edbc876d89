//! SQL injection and XSS fingerprinting with libinjection (through `libinjectionrs`, its Rust
//! port, checked by its authors against the C library's own test files and by differential fuzzing).
//!
//! libinjection judges one input value, not a whole URL: SQL injection by the token
//! fingerprint of the value read as the start of an SQL statement in each quote context, XSS by an
//! HTML5 tokenizer that looks for executable markup. So a request is cut the way ModSecurity's Core
//! Rule Set feeds it (rules 942100 `@detectSQLi` and 941100 `@detectXSS`): every query argument name
//! and value, decoded; for XSS also the path, the user agent and the referrer's arguments.
//! [`scan_request`] returns what it found; [`super::rules::RuleSet`] turns a finding into an
//! `attack:sqli` / `attack:xss` hit when its own patterns did not already give one.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::rules::{decode_for_rules, suspicious_in_user_agent};
use crate::parse::mask::truncate_to_boundary;

/// Which kind of injection libinjection recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectionKind {
    /// SQL injection (`attack:sqli`).
    Sqli,
    /// Cross-site scripting (`attack:xss`).
    Xss,
}

/// One value libinjection judged to be an injection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectionFinding {
    /// SQL injection or XSS.
    pub kind: InjectionKind,
    /// libinjection's SQL token fingerprint (`s&sos` for `' OR '1'='1`); empty for XSS.
    pub fingerprint: String,
    /// The decoded value it was found in.
    pub value: String,
}

/// Values longer than this are cut before they are judged: libinjection reads a value from its
/// start, and a request line that long is already unusual (bounds the time spent on one line).
const MAX_VALUE_BYTES: usize = 4096;

/// Injections in one request: its target (path and query, still URL-encoded as logged), user agent
/// and referrer. At most one finding per kind (the first value that shows it).
pub fn scan_request(
    target: &str,
    user_agent: Option<&str>,
    referrer: Option<&str>,
) -> Vec<InjectionFinding> {
    let mut found = Vec::new();
    let (path, query) = split_query(target);
    for value in query_parts(query) {
        judge(&value, true, &mut found);
    }
    judge(&decode_for_rules(path), false, &mut found);
    // An ordinary user agent (`Mozilla/5.0 (X11; ...)`) has none of the bytes markup needs: the
    // common case skips the HTML tokenizer.
    if let Some(agent) = user_agent.filter(|ua| ua.bytes().any(suspicious_in_user_agent)) {
        judge(&decode_for_rules(agent), false, &mut found);
    }
    if let Some(referrer) = referrer {
        for value in query_parts(split_query(referrer).1) {
            judge(&value, false, &mut found);
        }
    }
    found
}

/// `(path, query)` of a target; the query is empty without a `?`.
fn split_query(target: &str) -> (&str, &str) {
    target.split_once('?').unwrap_or((target, ""))
}

/// The decoded names and values of a query string (`a=1&b=2` gives `a`, `1`, `b`, `2`). The
/// query is split before decoding, so an encoded `&` stays inside its value.
fn query_parts(query: &str) -> impl Iterator<Item = String> + '_ {
    query
        .split('&')
        .filter(|arg| !arg.is_empty())
        .flat_map(|arg| match arg.split_once('=') {
            Some((name, value)) => [Some(name), Some(value)],
            None => [Some(arg), None],
        })
        .flatten()
        .filter(|part| !part.is_empty())
        .map(decode_for_rules)
}

/// Runs the detectors on one decoded value, recording a kind not found yet. `sql` is false where
/// CRS checks only XSS (path, user agent, referrer).
fn judge(value: &str, sql: bool, found: &mut Vec<InjectionFinding>) {
    // A value of letters, digits and plain path punctuation holds no markup or quote: the common
    // case costs one byte scan.
    if value.is_empty() || value.bytes().all(inert_byte) {
        return;
    }
    let cut = truncate_to_boundary(value, MAX_VALUE_BYTES);
    if sql && !has_kind(found, InjectionKind::Sqli) {
        if let Some(fingerprint) = sqli_fingerprint(cut.as_bytes()) {
            found.push(InjectionFinding {
                kind: InjectionKind::Sqli,
                fingerprint,
                value: cut.to_string(),
            });
        }
    }
    if !has_kind(found, InjectionKind::Xss) && is_xss(cut.as_bytes()) {
        found.push(InjectionFinding {
            kind: InjectionKind::Xss,
            fingerprint: String::new(),
            value: cut.to_string(),
        });
    }
}

/// Whether a finding of `kind` is already recorded.
fn has_kind(found: &[InjectionFinding], kind: InjectionKind) -> bool {
    found.iter().any(|finding| finding.kind == kind)
}

/// Bytes that cannot start SQL syntax beyond a bare word or number, nor markup.
fn inert_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b'~' | b',' | b':')
}

/// libinjection's SQL verdict: the fingerprint when the value is an injection. The port is written
/// without unsafe code but may still index out of bounds on some input; a panic there is read as
/// "no finding" rather than taking the caller's thread down.
fn sqli_fingerprint(value: &[u8]) -> Option<String> {
    catch_unwind(AssertUnwindSafe(|| {
        let result = libinjectionrs::detect_sqli(value);
        result.is_injection().then(|| {
            result
                .fingerprint
                .map(|fp| fp.as_str().to_string())
                .unwrap_or_default()
        })
    }))
    .ok()
    .flatten()
}

/// libinjection's XSS verdict (a panic in the port reads as no finding, as for SQL).
fn is_xss(value: &[u8]) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        libinjectionrs::detect_xss(value).is_injection()
    }))
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(target: &str) -> Vec<InjectionKind> {
        scan_request(target, None, None)
            .into_iter()
            .map(|f| f.kind)
            .collect()
    }

    #[test]
    fn classic_injections_in_arguments_are_found() {
        assert_eq!(
            kinds("/item.php?id=1%27%20OR%20%271%27%3D%271"),
            [InjectionKind::Sqli]
        );
        let union = scan_request("/p?id=-1+UNION+SELECT+1,2,3--", None, None);
        assert_eq!(union.len(), 1);
        assert_eq!(union[0].kind, InjectionKind::Sqli);
        assert!(!union[0].fingerprint.is_empty());
        assert_eq!(
            kinds("/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
            [InjectionKind::Xss]
        );
        assert_eq!(
            kinds("/p?q=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
            [InjectionKind::Xss]
        );
    }

    #[test]
    fn ordinary_requests_are_not_injections() {
        for target in [
            "/",
            "/images/logo-2x.png",
            "/search?q=red+shoes&page=2",
            "/blog/2015/05/17/how-to-do-it/?utm_source=feed&utm_medium=rss",
            "/api/v1/users?sort=-created_at&fields=id,name",
            "/wp-login.php?redirect_to=https%3A%2F%2Fexample.com%2Fwp-admin%2F&reauth=1",
            "/p?name=O%27Brien",
        ] {
            assert!(kinds(target).is_empty(), "{target}");
        }
    }

    #[test]
    fn an_encoded_ampersand_stays_inside_its_value() {
        // `%26` decodes to `&` after the split: the value is `1' or '1'='1&x`, one argument.
        let found = scan_request("/p?id=1%27+or+%271%27%3D%271%26x=2", None, None);
        assert_eq!(found.len(), 1);
        assert!(found[0].value.contains('&'), "{found:?}");
    }

    #[test]
    fn xss_in_the_user_agent_and_referrer_is_found() {
        let ua = scan_request("/", Some("<script>alert(1)</script>"), None);
        assert_eq!(ua.len(), 1);
        assert_eq!(ua[0].kind, InjectionKind::Xss);
        let referrer = scan_request(
            "/",
            None,
            Some("http://x.test/?q=%3Csvg%2Fonload%3Dalert(1)%3E"),
        );
        assert_eq!(referrer.len(), 1);
    }

    #[test]
    fn long_and_odd_values_never_panic() {
        let long = format!("/p?q={}", "%27%22%3C".repeat(5000));
        let _ = scan_request(&long, Some(&"é".repeat(3000)), Some("?=&=&"));
        let _ = scan_request("?&&=&%", Some(""), Some(""));
        assert_eq!(truncate_to_boundary("aé", 2), "a");
    }
}
