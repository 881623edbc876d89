//! The `logsentinel parse --jsonl` record, written by hand into a reused buffer: the same bytes as
//! `serde_json::to_writer` of `{"line", "template_id", "template", "parameters"}`, without its
//! per-call formatter setup and per-character dispatch (the writer, not the miner, bounded the
//! speed of `parse --jsonl`).

/// Appends `{"line":L,"template_id":T,"template":"...","parameters":[...]}` and a newline to `out`.
pub fn write_parsed_line(
    out: &mut Vec<u8>,
    line: usize,
    template_id: u32,
    template: &str,
    parameters: &[String],
) {
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(b"{\"line\":");
    out.extend_from_slice(numbers.format(line).as_bytes());
    out.extend_from_slice(b",\"template_id\":");
    out.extend_from_slice(numbers.format(template_id).as_bytes());
    out.extend_from_slice(b",\"template\":");
    write_json_string(out, template);
    out.extend_from_slice(b",\"parameters\":[");
    for (index, parameter) in parameters.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_json_string(out, parameter);
    }
    out.extend_from_slice(b"]}\n");
}

/// Whether `byte` must be escaped in a JSON string (as `serde_json` does: quote, backslash and
/// control characters below 0x20; DEL and non-ASCII are written as is).
const fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Appends `text` as a JSON string literal, escaped exactly like `serde_json`.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if !needs_escape(byte) {
            continue;
        }
        // Cuts before ASCII bytes are char boundaries: the runs between escapes are copied whole.
        out.extend_from_slice(&bytes[start..index]);
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
        }
        start = index + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct ParsedLine<'a> {
        line: usize,
        template_id: u32,
        template: &'a str,
        parameters: &'a [String],
    }

    #[test]
    fn same_bytes_as_serde_json() {
        let mut tricky: Vec<String> = vec![
            String::new(),
            "plain <*> text".into(),
            "quote \" and backslash \\ and \\\" both".into(),
            "controls \u{0}\u{1}\u{7}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1b}\u{1f} end".into(),
            "del \u{7f} and unicode é 中文 🚀 \u{2028}\u{2029} \u{feff}".into(),
            "\"".into(),
            "\\".into(),
            "\n".into(),
            "ends with escape\t".into(),
        ];
        tricky.extend((0u8..0x80).map(|b| format!("{}x{}", char::from(b), char::from(b))));
        let mut out = Vec::new();
        for (index, template) in tricky.iter().enumerate() {
            let parameters: Vec<String> = tricky.iter().skip(index).take(3).cloned().collect();
            for params in [&parameters[..], &[]] {
                out.clear();
                write_parsed_line(
                    &mut out,
                    index * 977,
                    u32::MAX - index as u32,
                    template,
                    params,
                );
                let mut want = serde_json::to_vec(&ParsedLine {
                    line: index * 977,
                    template_id: u32::MAX - index as u32,
                    template,
                    parameters: params,
                })
                .unwrap_or_default();
                want.push(b'\n');
                assert_eq!(
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&want)
                );
            }
        }
    }
}
