//! Header formats on arbitrary lines: every `LogFormat`'s parser, the stateful `Auto` parser,
//! `detect_format`, `LogFormat::from_str`, and line truncation at `max_line_bytes`.
//!
//! Input: lines (`\n`-separated; invalid UTF-8 decoded lossily, NUL and control bytes kept).
#![no_main]

use libfuzzer_sys::fuzz_target;
use logsentinel::parse::{detect_format, HeaderParser, LogFormat};
use logsentinel::tenant::project::truncate;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').collect();

    let auto = HeaderParser::new(LogFormat::Auto);
    for line in &lines {
        let trimmed = line.trim_end_matches(['\n', '\r']);
        for &format in LogFormat::ALL {
            let h = HeaderParser::new(format).parse(line);
            check(format, trimmed, &h);
        }
        // The shared Auto parser remembers the last format that matched.
        let h = auto.parse(line);
        check(LogFormat::Auto, trimmed, &h);

        // Truncation (detect's max_line_bytes) always cuts on a character boundary.
        for max in [0, 1, 2, 3, 63, 64, line.len().saturating_sub(1)] {
            let (cut, was_cut) = truncate(line, max);
            assert!(cut.len() <= max || !was_cut);
            assert_eq!(was_cut, line.len() > max);
            assert!(line.starts_with(cut));
        }
    }
    let format = detect_format(&lines);
    assert!(LogFormat::ALL.contains(&format));

    // A format name as a user types it (HTTP `format`, CLI --format).
    if let Ok(f) = text.parse::<LogFormat>() {
        assert!(f.name().eq_ignore_ascii_case(text.trim()));
    }
    let _ = serde_json::from_slice::<LogFormat>(data);
});

fn check(format: LogFormat, line: &str, h: &logsentinel::parse::Header) {
    if let Some(ts) = h.timestamp {
        assert!(
            ts.is_finite(),
            "{format}: non-finite timestamp {ts} from {line:?}"
        );
    }
    if !h.header_matched {
        assert_eq!(
            h.content, line,
            "{format}: unmatched line must be the whole content"
        );
    } else {
        assert!(
            h.content.len() <= line.len(),
            "{format}: content longer than the line: {line:?}"
        );
    }
    // Every header serializes (the JSON results carry parts of it).
    serde_json::to_string(h).expect("header serializes");
}
