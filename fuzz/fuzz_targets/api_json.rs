//! JSON inputs of the HTTP API and the C ABI, up to the point where they reach the detector:
//!
//! - HTTP request bodies, with the server's own types (`cli/src/serve/api.rs`, included by path):
//!   `POST /projects` (then `into_core`), `POST /detect`, `POST /detect/batch`,
//!   `POST /project/close-session`, and the `GET /project/session-verdicts` query string;
//! - the C ABI's and the core's JSON: `NewProject` (`ls_create_project`), `LogRecord` and batches;
//! - what `create_project` checks before touching storage: session pattern regexes and custom rules
//!   (`RuleSet::new`, then the rules evaluated on the input itself), and API keys of every shape
//!   (`presented_key_hash`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use logsentinel::model::rules::{RuleInput, RuleSet};
use logsentinel::tenant::keys::presented_key_hash;
use logsentinel::tenant::project::compile_session_pattern;
use logsentinel::{LogRecord, NewProject};

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../cli/src/serve/api.rs"]
mod api;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // HTTP bodies (axum's Json extractor is serde_json::from_slice on the body bytes).
    if let Ok(req) = serde_json::from_slice::<api::CreateProjectRequest>(data) {
        if let Ok(p) = req.into_core() {
            check_new_project(&p, &text);
        }
    }
    if let Ok(req) = serde_json::from_slice::<api::DetectRequest>(data) {
        let rec: LogRecord = req.into();
        round_trip(&rec);
    }
    if let Ok(req) = serde_json::from_slice::<api::BatchRequest>(data) {
        let recs: Vec<LogRecord> = req.logs.into_iter().map(LogRecord::from).collect();
        for r in &recs {
            round_trip(r);
        }
    }
    let _ = serde_json::from_slice::<api::CloseSessionRequest>(data);
    // Query strings (axum's Query extractor is serde_urlencoded).
    if let Ok(q) = serde_urlencoded::from_bytes::<api::VerdictsQuery>(data) {
        let _ = q.max;
    }

    // The C ABI's / core's JSON.
    if let Ok(p) = serde_json::from_slice::<NewProject>(data) {
        if check_new_project(&p, &text) {
            // What create_project accepts is stored as JSON (the project record): it must reload.
            // (Unvalidated input may hold a severity that overflowed to inf, written as null.)
            let json = serde_json::to_string(&p).expect("NewProject serializes");
            let back: NewProject = serde_json::from_str(&json).expect("NewProject reloads");
            assert_eq!(back, p);
        }
    }
    if let Ok(r) = serde_json::from_slice::<LogRecord>(data) {
        round_trip(&r);
    }
    if let Ok(rs) = serde_json::from_slice::<Vec<LogRecord>>(data) {
        for r in &rs {
            round_trip(r);
        }
    }
    let r = LogRecord::from_bytes(data);
    round_trip(&r);

    // Keys of every shape: never a panic, and only a well-shaped key gets a hash.
    if presented_key_hash(&text).is_ok() {
        assert_eq!(text.len(), 46);
        assert!(text.starts_with("sk-"));
    }
});

/// What `create_project` checks before touching storage; whether all of it passed.
fn check_new_project(p: &NewProject, text: &str) -> bool {
    let pattern_ok = compile_session_pattern(p.session_pattern.as_deref()).is_ok();
    let Ok(rules) = RuleSet::new(p.custom_rules.clone()) else {
        return false;
    };
    {
        let input = RuleInput {
            line: text,
            content: text,
            level: Some(text),
            http_status: Some(500),
            http_target: Some(text),
            http_user_agent: Some(text),
            http_referrer: Some(text),
        };
        for hit in rules.evaluate(&input) {
            let _ = serde_json::to_string(&hit).expect("rule hit serializes");
        }
    }
    pattern_ok
}

fn round_trip(r: &LogRecord) {
    let json = serde_json::to_string(r).expect("LogRecord serializes");
    let back: LogRecord = serde_json::from_str(&json).expect("LogRecord reloads");
    assert_eq!(&back, r);
}
