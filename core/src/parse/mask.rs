//! Tokenising and masking of a message, hand-rolled (no regex) because it runs on every line.
//!
//! A message is split on whitespace into tokens. Each token is masked into a *shape*: variable parts
//! (numbers, IPs, ids, paths, hex, UUIDs, URLs, e-mails, dates...) become `<*>` and the rest is kept,
//! e.g. `ambient=30` -> `ambient=<*>`, `/10.1.2.3:50010` -> `/<*>`. The granularity is that of the
//! Loghub-2.0 template post-processing: a token is cut at punctuation delimiters into *units*, and a
//! unit is either kept or replaced as a whole.
//!
//! A token whose shape has no letter or digit left (only `<*>` and punctuation) is a *wildcard*
//! token. Runs of wildcard tokens are collapsed into one slot, so that an event with a varying number
//! of variable tokens (`ask 1.2.3.4:50010 to delete blk_1 blk_2 ...`) keeps one shape.

/// The placeholder for a variable part.
pub const WILDCARD: &str = "<*>";

/// One slot of a masked line: a token, or a collapsed run of wildcard tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Byte range of the slot's masked shape in [`MaskedLine::shapes`].
    pub shape_start: u32,
    /// End of the shape (exclusive).
    pub shape_end: u32,
    /// Byte range of the original text in the message (first token start .. last token end).
    pub text_start: u32,
    /// End of the original text (exclusive).
    pub text_end: u32,
    /// Whether the slot is entirely variable (its shape has no letter or digit).
    pub wildcard: bool,
    /// Number of whitespace tokens in the slot (more than one for collapsed wildcard runs).
    pub tokens: u16,
}

/// A masked message: slots plus one buffer holding every slot's shape, reused between lines.
#[derive(Clone, Debug, Default)]
pub struct MaskedLine {
    /// Concatenated shapes of the slots.
    pub shapes: String,
    /// The slots, in order.
    pub slots: Vec<Slot>,
}

impl MaskedLine {
    /// The masked shape of a slot.
    pub fn shape(&self, slot: &Slot) -> &str {
        self.shapes
            .get(slot.shape_start as usize..slot.shape_end as usize)
            .unwrap_or("")
    }

    /// Masks `content` into `self`, replacing what was there.
    pub fn fill(&mut self, content: &str) {
        self.shapes.clear();
        self.slots.clear();
        // Offsets are stored as u32; a message longer than 4 GiB is cut (never happens in practice).
        let content = truncate_to_boundary(content, u32::MAX as usize / 2);
        let bytes = content.as_bytes();
        let mut index = 0;
        while index < bytes.len() {
            if is_space_byte(bytes[index]) {
                index += 1;
                continue;
            }
            let start = index;
            let mut classes = 0u8;
            while index < bytes.len() {
                let class = BYTE_CLASS[usize::from(bytes[index])];
                if class & SPACE != 0 {
                    break;
                }
                classes |= class;
                index += 1;
            }
            let opens_quote = classes & EQUALS != 0
                && bytes[start..index]
                    .windows(2)
                    .any(|w| w[0] == b'=' && (w[1] == b'"' || w[1] == b'\''));
            // `key="a quoted value"`: the value may hold spaces; take it whole.
            if opens_quote {
                if let Some(end) = quoted_value_end(bytes, start, index) {
                    // The quoted part may hold any byte: classify the whole token again.
                    index = end;
                    classes = token_classes(&bytes[start..index]);
                }
            }
            // Token boundaries are ASCII bytes, so slicing is on char boundaries.
            let token = &content[start..index];
            let shape_start = self.shapes.len();
            // A size unit belongs to the number before it (`5.2 KB,` is one value), and the
            // protocol of an HTTP request to its path (`/index.html HTTP/1.1"`): only their
            // trailing punctuation stays visible.
            if let Some(previous) = self.slots.last_mut() {
                if previous.wildcard && (is_size_unit(token) || is_http_protocol(token)) {
                    let word_end = token
                        .bytes()
                        .rposition(|b| b.is_ascii_alphanumeric())
                        .map_or(0, |at| at + 1);
                    self.shapes.push_str(&token[word_end..]);
                    previous.shape_end = self.shapes.len() as u32;
                    previous.text_end = index as u32;
                    previous.tokens = previous.tokens.saturating_add(1);
                    continue;
                }
            }
            let wildcard = mask_classified_token(token, classes, &mut self.shapes);
            let shape_end = self.shapes.len();
            let slot = Slot {
                shape_start: shape_start as u32,
                shape_end: shape_end as u32,
                text_start: start as u32,
                text_end: index as u32,
                wildcard,
                tokens: 1,
            };
            match self.slots.last_mut() {
                Some(previous) if wildcard && previous.wildcard => {
                    // Collapse: extend the previous wildcard slot; its shape is contiguous in the
                    // buffer, so insert a space between the two shapes.
                    self.shapes.insert(shape_start, ' ');
                    previous.shape_end = self.shapes.len() as u32;
                    previous.text_end = slot.text_end;
                    previous.tokens = previous.tokens.saturating_add(1);
                }
                _ => self.slots.push(slot),
            }
        }
    }
}

/// End of a token that opens a quoted value (`tag="View Lock",`) closed after a space: the byte
/// after the closing quote and any punctuation glued to it. `None` when the token is complete.
fn quoted_value_end(bytes: &[u8], start: usize, end: usize) -> Option<usize> {
    let token = &bytes[start..end];
    let open = token
        .windows(2)
        .position(|w| w[0] == b'=' && (w[1] == b'"' || w[1] == b'\''))?;
    let quote = token[open + 1];
    if token[open + 2..].contains(&quote) {
        return None;
    }
    // Look a little ahead for the closing quote; values are short.
    let limit = (end + 256).min(bytes.len());
    let close = end + bytes[end..limit].iter().position(|&b| b == quote)?;
    let mut after = close + 1;
    while after < bytes.len() && !is_space_byte(bytes[after]) {
        after += 1;
    }
    Some(after)
}

/// Size units that follow a number: `B`, `KB`, `MiB`...
fn is_size_unit(token: &str) -> bool {
    let word = token.trim_end_matches([',', ';', ')', ']', '.', ':']);
    matches!(
        word,
        "B" | "KB" | "MB" | "GB" | "TB" | "PB" | "KiB" | "MiB" | "GiB" | "TiB" | "kB"
    )
}

/// `HTTP/1.1`, `HTTP/2`, with closing punctuation (`HTTP/1.0"`).
fn is_http_protocol(token: &str) -> bool {
    let word = token.trim_end_matches(['"', '\'', ',', ')', ']']);
    word.strip_prefix("HTTP/").is_some_and(|version| {
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    })
}

fn truncate_to_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whitespace that separates tokens: space, tab and the other ASCII control separators.
#[inline]
pub const fn is_space_byte(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

/// Delimiters that cut a token into units (the Loghub-2.0 post-processing set, minus whitespace).
#[inline]
const fn is_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        b',' | b'!'
            | b';'
            | b':'
            | b'='
            | b'|'
            | b'"'
            | b'\''
            | b'['
            | b']'
            | b'('
            | b')'
            | b'{'
            | b'}'
            | b'.'
            | b'-'
            | b'+'
            | b'@'
            | b'#'
            | b'$'
            | b'%'
            | b'&'
    )
}

/// Leading punctuation that wraps a value: `(/path`, `"value`, `[id`.
#[inline]
fn is_opening(byte: u8) -> bool {
    matches!(byte, b'(' | b'[' | b'{' | b'<' | b'"' | b'\'' | b'`')
}

/// Trailing punctuation after a value: `value),`, `id].`, `path:`.
#[inline]
fn is_closing(byte: u8) -> bool {
    matches!(
        byte,
        b')' | b']' | b'}' | b'>' | b'"' | b'\'' | b'`' | b',' | b';' | b':' | b'.' | b'!' | b'?'
    )
}

/// Masks one whitespace-free token, appending its shape to `out`. Returns whether the shape is a
/// wildcard (no letter or digit left).
pub fn mask_token(token: &str, out: &mut String) -> bool {
    mask_classified_token(token, token_classes(token.as_bytes()), out)
}

/// The union of the byte classes of `bytes`.
fn token_classes(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0, |classes, &byte| classes | BYTE_CLASS[usize::from(byte)])
}

/// [`mask_token`] with the token's byte classes already known.
fn mask_classified_token(token: &str, classes: u8, out: &mut String) -> bool {
    let bytes = token.as_bytes();
    // Fast path: words without digits or path/URL markers are kept as they are.
    let has_digit = classes & DIGIT != 0;
    let has_marker = classes & MARKER != 0;
    let has_colon = classes & COLON != 0;
    if classes & EQUALS != 0
        && bytes
            .windows(2)
            .any(|w| w[0] == b'=' && (w[1] == b'"' || w[1] == b'\''))
    {
        return mask_quoted_value(token, out);
    }
    let has_literal_value = !has_digit && contains_literal_value(token, classes);
    if !has_digit && !has_marker && !has_literal_value {
        out.push_str(token);
        return false;
    }

    // Strip wrapping punctuation so that `(/var/x):` and `[10.0.0.1]` are recognised as wholes.
    let mut start = 0;
    while start < bytes.len() && is_opening(bytes[start]) {
        start += 1;
    }
    let mut end = bytes.len();
    while end > start && is_closing(bytes[end - 1]) {
        end -= 1;
    }
    let core = &token[start..end];
    // Numbers, IPs with ports, dates and times: digits and separators only (the common case).
    if has_digit && is_numeric_run(core.as_bytes()) || is_block_id(core) {
        out.push_str(&token[..start]);
        out.push_str(WILDCARD);
        out.push_str(&token[end..]);
        return true;
    }
    if has_colon && has_marker {
        if let Some((scheme_start, scheme_end)) = url_scheme(core) {
            out.push_str(&token[..start + scheme_end + 3]);
            out.push_str(WILDCARD);
            out.push_str(&token[end..]);
            // `:[akka.tcp://<*>]`: a literal scheme, unless nothing precedes it.
            return scheme_start == scheme_end;
        }
    }
    if !core.is_empty() && is_whole_variable(core) {
        out.push_str(&token[..start]);
        out.push_str(WILDCARD);
        out.push_str(&token[end..]);
        return true;
    }
    if !has_digit && !has_literal_value {
        out.push_str(token);
        return false;
    }
    // `key=value` with a whole-variable value (`rhost=10.0.0.1`): keep the key as written.
    if let Some(equals) = token.find('=') {
        let value = &token[equals + 1..];
        let mut value_end = value
            .bytes()
            .rposition(|b| !is_closing(b))
            .map_or(0, |at| at + 1);
        // A bracketed value (`[0,1080][720,1920]`) keeps its closing bracket inside the value.
        if value.starts_with(['[', '(', '{']) {
            value_end = value
                .bytes()
                .rposition(|b| matches!(b, b']' | b')' | b'}'))
                .map_or(value_end, |at| at + 1);
        }
        let value_core = &value[..value_end];
        if equals > 0
            && !value_core.is_empty()
            && !value_core.contains('=')
            && is_whole_variable(value_core)
        {
            out.push_str(&token[..equals + 1]);
            out.push_str(WILDCARD);
            out.push_str(&value[value_end..]);
            return false;
        }
    }
    mask_units(token, out)
}

/// Masks unit by unit; returns whether no letter or digit is left in the shape.
fn mask_units(token: &str, out: &mut String) -> bool {
    let bytes = token.as_bytes();
    let mut index = 0;
    let mut kept_alphanumeric = false;
    while index < bytes.len() {
        let byte = bytes[index];
        if is_delimiter(byte) {
            // A `-` directly before a digit is a sign when it follows a delimiter, `_` or the start.
            let is_sign = byte == b'-'
                && bytes.get(index + 1).is_some_and(u8::is_ascii_digit)
                && (index == 0 || is_delimiter(bytes[index - 1]));
            if !is_sign {
                out.push(char::from(byte));
                index += 1;
                continue;
            }
        }
        let unit_start = index;
        index += 1;
        while index < bytes.len() {
            let byte = bytes[index];
            // `blk_-42`: a sign after `_` stays inside the unit.
            let glued_sign = byte == b'-'
                && bytes[index - 1] == b'_'
                && bytes.get(index + 1).is_some_and(u8::is_ascii_digit);
            if is_delimiter(byte) && !glued_sign {
                break;
            }
            index += 1;
        }
        let unit = &token[unit_start..index];
        if is_variable_unit(unit) {
            // Two variable units glued by nothing (`blk_` is kept, `-123` masked) stay apart.
            out.push_str(WILDCARD);
        } else {
            kept_alphanumeric |= unit.bytes().any(|b| b.is_ascii_alphanumeric() || b >= 0x80);
            out.push_str(unit);
        }
    }
    !kept_alphanumeric
}

/// `key="value"` / `key='value'`: the quoted value is a variable, whatever it holds.
fn mask_quoted_value(token: &str, out: &mut String) -> bool {
    let bytes = token.as_bytes();
    let Some(open) = bytes
        .windows(2)
        .position(|w| w[0] == b'=' && (w[1] == b'"' || w[1] == b'\''))
    else {
        out.push_str(token);
        return false;
    };
    let quote = bytes[open + 1];
    let value_start = open + 2;
    let close = bytes[value_start..]
        .iter()
        .rposition(|&b| b == quote)
        .map_or(bytes.len(), |at| value_start + at);
    let shape_start = out.len();
    mask_token(&token[..open], out);
    out.push('=');
    out.push(char::from(quote));
    out.push_str(WILDCARD);
    out.push_str(&token[close..]);
    !out[shape_start..]
        .replace(WILDCARD, "")
        .bytes()
        .any(|b| b.is_ascii_alphanumeric())
}

/// Words that are values: `true`, `false`, `null` and the day and month names of dates (`Sat`,
/// `Jul`), as a whole unit.
fn is_literal_value(unit: &str) -> bool {
    unit.eq_ignore_ascii_case("true")
        || unit.eq_ignore_ascii_case("false")
        || unit.eq_ignore_ascii_case("null")
        || is_date_word(unit)
}

/// `Mon`..`Sun`, `Jan`..`Dec` (capitalised, as dates write them).
fn is_date_word(unit: &str) -> bool {
    matches!(
        unit,
        "Mon"
            | "Tue"
            | "Wed"
            | "Thu"
            | "Fri"
            | "Sat"
            | "Sun"
            | "Jan"
            | "Feb"
            | "Mar"
            | "Apr"
            | "May"
            | "Jun"
            | "Jul"
            | "Aug"
            | "Sep"
            | "Oct"
            | "Nov"
            | "Dec"
    )
}

/// Whether a digit-free token holds a value word ([`is_literal_value`]) as a unit, or is a domain
/// name.
fn contains_literal_value(token: &str, classes: u8) -> bool {
    let word = trim_ascii_punctuation(token);
    if classes & DOT != 0 && is_domain_name(word) {
        return true;
    }
    if !(3..=5).contains(&word.len()) && classes & DELIMITER == 0 {
        return false;
    }
    word.split(|c: char| c.is_ascii() && is_delimiter(c as u8))
        .any(|unit| (3..=5).contains(&unit.len()) && is_literal_value(unit))
}

/// Byte classes for the one-pass scan of [`mask_token`].
const DIGIT: u8 = 1;
const MARKER: u8 = 2;
const COLON: u8 = 4;
const EQUALS: u8 = 8;
const DOT: u8 = 16;
const DELIMITER: u8 = 32;
const SPACE: u8 = 64;

const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        let mut class = 0;
        if b.is_ascii_digit() {
            class |= DIGIT;
        }
        if b == b'/' || b == b'\\' || b == b'@' {
            class |= MARKER;
        }
        if b == b':' {
            class |= COLON;
        }
        if b == b'=' {
            class |= EQUALS;
        }
        if b == b'.' {
            class |= DOT;
        }
        if is_delimiter(b) {
            class |= DELIMITER;
        }
        if is_space_byte(b) {
            class |= SPACE;
        }
        table[byte] = class;
        byte += 1;
    }
    table
};

/// `text` without leading and trailing ASCII punctuation (cut at ASCII bytes, so on char
/// boundaries).
fn trim_ascii_punctuation(text: &str) -> &str {
    let bytes = text.as_bytes();
    let start = bytes
        .iter()
        .position(|b| b.is_ascii_alphanumeric() || *b >= 0x80)
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| b.is_ascii_alphanumeric() || *b >= 0x80)
        .map_or(start, |at| at + 1);
    text.get(start..end.max(start)).unwrap_or("")
}

/// Whether a unit (a piece between delimiters) is a variable.
fn is_variable_unit(unit: &str) -> bool {
    let bytes = unit.as_bytes();
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return is_literal_value(unit);
    }
    // A long word with one digit glued to it is an identifier: `0userId`, `Slf4jLogger`.
    if digits == 1
        && bytes.iter().filter(|b| b.is_ascii_alphabetic()).count() >= 4
        && !is_hex_id(unit)
    {
        return false;
    }
    if digits == 1 && bytes[0].is_ascii_alphabetic() {
        // A name with one digit right after a letter: `ee0`, `jk2_init`, `Slf4jLogger`, `PSR1`
        // (but `rdd_2`, `blk_-1` are ids). Still variable when it is mostly hex (`a1b2c3d`).
        let digit_at = bytes.iter().position(u8::is_ascii_digit).unwrap_or(0);
        if digit_at > 0 && bytes[digit_at - 1].is_ascii_alphabetic() {
            return is_hex_id(unit);
        }
    }
    true
}

/// Hex ids of at least 6 characters with a digit: `9f4ef63`, `0x7fed806eb5d`.
fn is_hex_id(text: &str) -> bool {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    digits.len() >= 6
        && digits.bytes().all(|b| b.is_ascii_hexdigit())
        && digits.bytes().any(|b| b.is_ascii_digit())
}

/// Whole-token variables, tested on the token without wrapping punctuation.
fn is_whole_variable(core: &str) -> bool {
    let bytes = core.as_bytes();
    let first = bytes[0];
    // Paths: `/var/log`, `./x`, `~/x`, `C:\dir`.
    if (first == b'/' && bytes.len() > 1 && bytes[1] != b'/')
        || core.starts_with("./")
        || core.starts_with("../")
        || core.starts_with("~/")
        || (bytes.len() > 2 && first.is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'\\')
    {
        return true;
    }
    if is_email(core) || is_domain_name(core) {
        return true;
    }
    // `host/10.0.0.1:80`, `host:port`, `user@host`: every part a variable.
    if core.contains(['/', ':', '@']) {
        let mut parts = 0;
        let all_variable = core.split(['/', ':', '@']).all(|part| {
            parts += 1;
            !part.is_empty() && (is_simple_variable(part) || is_domain_name(part))
        });
        if parts > 1 && all_variable {
            return true;
        }
    }
    is_simple_variable(core)
}

/// Hex groups, host names, and tokens whose every unit is a variable (numbers, IPs, dates, times,
/// hex, versions).
fn is_simple_variable(core: &str) -> bool {
    if is_hex_groups(core) || is_host_name(core) {
        return true;
    }
    let mut any_unit = false;
    for unit in core.split(|c: char| c.is_ascii() && is_delimiter(c as u8)) {
        if unit.is_empty() {
            continue;
        }
        any_unit = true;
        if !(is_variable_unit(unit) || is_hex_id(unit) || is_number_with_unit(unit)) {
            return false;
        }
    }
    any_unit
}

/// Host names with a digit: `cp-1.slowvm1.cloudlab.us`, `MSRA-SA-39.fareast.corp.microsoft.com`
/// (two dots or more and a letter-only top-level domain), `mesos-slave-07` (three dashed labels or
/// more, the first one letters).
fn is_host_name(core: &str) -> bool {
    let bytes = core.as_bytes();
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
        || !bytes.iter().any(u8::is_ascii_digit)
        || !bytes.iter().any(u8::is_ascii_alphabetic)
    {
        return false;
    }
    let dots = bytes.iter().filter(|&&b| b == b'.').count();
    if dots >= 2 {
        let labels_ok = core.split('.').all(|label| !label.is_empty());
        let top = core.rsplit('.').next().unwrap_or("");
        return labels_ok
            && (2..=6).contains(&top.len())
            && top.bytes().all(|b| b.is_ascii_alphabetic());
    }
    if dots == 0 {
        let mut labels = core.split('-');
        let first_is_word = labels.next().is_some_and(|label| {
            !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphabetic())
        });
        let rest = labels.filter(|label| !label.is_empty()).count();
        return first_is_word && rest >= 2;
    }
    false
}

/// Domain names without digits: `proxy.cse.cuhk.edu.hk`, `www.google.com` (labels ending with a
/// common top-level domain; Java packages end with a class name instead).
fn is_domain_name(core: &str) -> bool {
    let Some((rest, top)) = core.rsplit_once('.') else {
        return false;
    };
    let common_top_level = matches!(
        top,
        "com"
            | "net"
            | "org"
            | "edu"
            | "gov"
            | "mil"
            | "int"
            | "io"
            | "co"
            | "us"
            | "uk"
            | "de"
            | "fr"
            | "jp"
            | "cn"
            | "hk"
            | "tw"
            | "kr"
            | "ru"
            | "br"
            | "in"
            | "au"
            | "ca"
            | "eu"
            | "nl"
            | "se"
            | "ch"
            | "it"
            | "es"
            | "info"
            | "biz"
            | "local"
            | "lan"
            | "internal"
    );
    common_top_level
        && !rest.is_empty()
        && core.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// `scheme://rest` with a digit in the rest: the URL becomes `scheme://<*>`. Returns the byte range
/// of the scheme within `core`.
fn url_scheme(core: &str) -> Option<(usize, usize)> {
    let bytes = core.as_bytes();
    let separator = (0..bytes.len().saturating_sub(2))
        .find(|&at| bytes[at] == b':' && bytes[at + 1] == b'/' && bytes[at + 2] == b'/')?;
    let scheme_start = core[..separator]
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-')))
        .map_or(0, |at| at + 1);
    let rest = &core[separator + 3..];
    (scheme_start < separator
        && core.as_bytes()[scheme_start].is_ascii_alphabetic()
        && rest.bytes().any(|b| b.is_ascii_digit()))
    .then_some((scheme_start, separator))
}

/// Digits and number separators only: `42`, `-1.5`, `10.0.0.1:80`, `2017-05-16`, `20:10:40,978`.
fn is_numeric_run(core: &[u8]) -> bool {
    !core.is_empty()
        && core.iter().all(|&b| {
            b.is_ascii_digit() || matches!(b, b'.' | b':' | b'-' | b'/' | b',' | b'+' | b'_')
        })
}

/// HDFS block ids: `blk_42`, `blk_-42`.
fn is_block_id(core: &str) -> bool {
    core.strip_prefix("blk_").is_some_and(|id| {
        let digits = id.strip_prefix('-').unwrap_or(id);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// UUIDs, MAC addresses and other runs of hex groups: `b9000564-fe1a-409b-b8cc-1e88b294cd1d`,
/// `FF:F2:9F:16:E2:23`.
fn is_hex_groups(core: &str) -> bool {
    let mut groups = 0;
    let mut has_digit = false;
    for group in core.split(['-', ':']) {
        if group.is_empty() || group.len() > 16 || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        has_digit |= group.bytes().any(|b| b.is_ascii_digit());
        groups += 1;
    }
    groups >= 3 && has_digit
}

/// `10ms`, `41C`, `64172MB`, `1810s`: digits followed by a short unit of measure.
fn is_number_with_unit(unit: &str) -> bool {
    let digits = unit.bytes().take_while(u8::is_ascii_digit).count();
    let suffix = &unit[digits..];
    digits > 0 && suffix.len() <= 3 && suffix.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_email(core: &str) -> bool {
    let Some((local, domain)) = core.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-'))
        && domain.contains('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        && domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(token: &str) -> String {
        let mut out = String::new();
        mask_token(token, &mut out);
        out
    }

    fn line(content: &str) -> Vec<String> {
        let mut masked = MaskedLine::default();
        masked.fill(content);
        masked
            .slots
            .iter()
            .map(|slot| masked.shape(slot).to_string())
            .collect()
    }

    #[test]
    fn masks_common_variables() {
        assert_eq!(shape("10.251.73.220:50010"), "<*>");
        assert_eq!(shape("/10.250.19.102:54106"), "<*>");
        assert_eq!(shape("blk_-1608999687919862906"), "<*>");
        assert_eq!(shape("blk_38865049064139660"), "<*>");
        assert_eq!(shape("b9000564-fe1a-409b-b8cc-1e88b294cd1d]"), "<*>]");
        assert_eq!(shape("0x7fed806eb5d"), "<*>");
        assert_eq!(shape("ambient=30"), "ambient=<*>");
        assert_eq!(shape("(HWID=1973)"), "(HWID=<*>)");
        assert_eq!(shape("/var/lib/nova/instances/_base/a489c868f0c3"), "<*>");
        assert_eq!(shape("(/var/lib/nova):"), "(<*>):");
        assert_eq!(shape("hdfs://10.10.34.11:9000/pjhe"), "hdfs://<*>");
        assert_eq!(
            shape(":[akka.tcp://system@mesos-slave-07:55904]"),
            ":[akka.tcp://<*>]"
        );
        assert_eq!(
            shape("http://wiki.apache.org/hadoop/NoRouteToHost"),
            "http://wiki.apache.org/hadoop/NoRouteToHost"
        );
        assert_eq!(shape("msra-sa-41/10.190.173.170:9000"), "<*>");
        assert_eq!(
            shape(
                "cp-1.slowvm1.tcloud-pg0.utah.cloudlab.us:cp-1.slowvm1.tcloud-pg0.utah.cloudlab.us"
            ),
            "<*>"
        );
        assert_eq!(shape("MSRA-SA-39.fareast.corp.microsoft.com"), "<*>");
        assert_eq!(shape("www.google.com.hk:443"), "<*>");
        assert_eq!(shape("ns.marryaldkfaczcz.com"), "<*>");
        assert_eq!(shape("com.amap.android.ams"), "com.amap.android.ams");
        assert_eq!(shape("(Jul"), "(<*>");
        assert_eq!(shape("Sat,"), "<*>,");
        assert_eq!(shape("rhost=218.188.2.4"), "rhost=<*>");
        assert_eq!(shape("bnds=[0,1080][720,1920]"), "bnds=<*>");
        assert_eq!(shape("node-129"), "node-<*>");
        assert_eq!(shape("user@example.com"), "<*>");
        assert_eq!(shape("2017-05-16"), "<*>");
        assert_eq!(shape("00:00:04.500"), "<*>");
        assert_eq!(shape("-17>"), "<*>>");
        assert_eq!(shape("vCores:-17>"), "vCores:<*>");
        assert_eq!(shape("10000ms"), "<*>");
        assert_eq!(shape("::1"), "<*>");
        assert_eq!(shape("fe80::1ff:fe23:4567:890a"), "<*>");
    }

    #[test]
    fn masks_values() {
        assert_eq!(shape("true"), "<*>");
        assert_eq!(shape("overlap:false"), "overlap:<*>");
        assert_eq!(shape("ws=null,"), "ws=<*>,");
        assert_eq!(shape("null?true"), "null?true");
        assert_eq!(shape("tag=\"RILJ_ACK_WL\","), "tag=\"<*>\",");
        assert_eq!(
            line("acquire lock=23, tag=\"View Lock\", name=x"),
            ["acquire", "lock=<*>,", "tag=\"<*>\",", "name=x"]
        );
        assert_eq!(
            line("size 5.2 KB, free 10 B)"),
            ["size", "<*>,", "free", "<*>)"]
        );
        assert_eq!(
            line("\"GET /v2/servers HTTP/1.1\" status: 200"),
            ["\"GET", "<*>\"", "status:", "<*>"]
        );
    }

    #[test]
    fn keeps_words_and_names() {
        assert_eq!(shape("terminating"), "terminating");
        assert_eq!(shape("jk2_init()"), "jk2_init()");
        assert_eq!(shape("alt0"), "alt0");
        assert_eq!(shape("BLOCK*"), "BLOCK*");
        assert_eq!(
            shape("dfs.DataNode$PacketResponder:"),
            "dfs.DataNode$PacketResponder:"
        );
        assert_eq!(shape("power/control"), "power/control");
    }

    #[test]
    fn collapses_wildcard_runs() {
        assert_eq!(
            line("ask 10.250.18.114:50010 to delete  blk_-5140 blk_-22 blk_3"),
            ["ask", "<*>", "to", "delete", "<*> <*> <*>"]
        );
        assert_eq!(
            line("Fan speeds ( 3552 3534 **** 3515 )"),
            ["Fan", "speeds", "(", "<*> <*>", "****", "<*>", ")"]
        );
        assert!(line("").is_empty());
        assert!(line("  \t ").is_empty());
    }
}
