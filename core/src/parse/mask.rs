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
//!
//! Speed: one pass finds each token's end (eight bytes at a time) and the union of its byte
//! classes (a table), which sends the common tokens down short paths that give what the general
//! rules give: words, numbers and paths, `name=42`-style named numbers; the general rules run
//! for the rest. Unit tests check the short paths against the general rules.

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
    /// Bit `i` is set when slot `i` (below 64) was the word the hint expected (see
    /// [`MaskedLine::fill_with_hint`]): its shape is known to equal that word.
    pub hinted: u64,
    /// Long tokens masked recently (see [`TokenMemo`]).
    memo: TokenMemo,
}

/// The shapes of recently masked long tokens, direct-mapped on a hash of the token's bytes.
///
/// Long tokens that are neither plain words nor hinted (`ready=true,policy=3,...` lists, Java frames,
/// URLs, UUIDs) cost hundreds of nanoseconds each under the general rules, and a stream repeats them:
/// the same request path, instance or stack frame comes back within a few lines. Masking depends on
/// the token's bytes alone, so a hit (the whole token compared, not only its hash) gives exactly the
/// shape and kind the rules give.
#[derive(Clone, Debug, Default)]
struct TokenMemo {
    entries: Vec<MemoEntry>,
    /// Tokens answered from the memo (tests check that it is used).
    #[cfg(test)]
    hits: u64,
}

#[derive(Clone, Debug, Default)]
struct MemoEntry {
    token: Vec<u8>,
    shape: String,
    wildcard: bool,
}

/// Entries of a [`TokenMemo`] (a power of two).
const MEMO_ENTRIES: usize = 64;

/// Tokens shorter than this are masked each time (hashing and comparing would cost what masking
/// them does); longer ones than the upper bound are not kept (memory).
const MEMO_MIN_LEN: usize = 16;
const MEMO_MAX_LEN: usize = 256;

impl TokenMemo {
    /// `mask(token, out)` (which pushes the token's shape and says whether it is a wildcard),
    /// from the memo when `token` was masked recently.
    #[inline]
    fn mask(
        &mut self,
        token: &str,
        out: &mut String,
        mask: impl FnOnce(&str, &mut String) -> bool,
    ) -> bool {
        if !(MEMO_MIN_LEN..=MEMO_MAX_LEN).contains(&token.len()) {
            return mask(token, out);
        }
        let at = {
            use std::hash::Hasher;
            let mut hasher = super::miner::FxHasher::default();
            hasher.write(token.as_bytes());
            super::miner::hint_index(hasher.finish(), MEMO_ENTRIES)
        };
        if self.entries.len() < MEMO_ENTRIES {
            self.entries.resize_with(MEMO_ENTRIES, MemoEntry::default);
        }
        let Some(entry) = self.entries.get_mut(at) else {
            return mask(token, out);
        };
        if entry.token == token.as_bytes() {
            #[cfg(test)]
            {
                self.hits += 1;
            }
            out.push_str(&entry.shape);
            return entry.wildcard;
        }
        let shape_start = out.len();
        let wildcard = mask(token, out);
        entry.token.clear();
        entry.token.extend_from_slice(token.as_bytes());
        entry.shape.clear();
        entry.shape.push_str(&out[shape_start..]);
        entry.wildcard = wildcard;
        wildcard
    }
}

impl MaskedLine {
    /// Bytes this buffer holds on the heap (its shapes, slots and token memo).
    pub fn heap_bytes(&self) -> usize {
        let memo: usize = self
            .memo
            .entries
            .iter()
            .map(|entry| {
                std::mem::size_of::<MemoEntry>() + entry.token.capacity() + entry.shape.capacity()
            })
            .sum();
        self.shapes.capacity() + self.slots.capacity() * std::mem::size_of::<Slot>() + memo
    }

    /// The masked shape of a slot.
    pub fn shape(&self, slot: &Slot) -> &str {
        self.shapes
            .get(slot.shape_start as usize..slot.shape_end as usize)
            .unwrap_or("")
    }

    /// Masks `content` into `self`, replacing what was there (the miner always passes a hint:
    /// [`MaskedLine::fill_with_hint`]).
    #[cfg(test)]
    pub fn fill(&mut self, content: &str) {
        self.fill_with_hint(content, |_| None);
    }

    /// [`MaskedLine::fill`], told the word expected at each slot (`expected(slot index)`, from the
    /// template the line probably belongs to): a token equal to it is taken without being masked.
    /// The result is the same as `fill`'s whatever the hint says, provided every expected word is
    /// one that masking keeps as it is ([`masks_to_itself`]).
    pub fn fill_with_hint<'h>(
        &mut self,
        content: &str,
        expected: impl Fn(usize) -> Option<&'h [u8]>,
    ) {
        self.shapes.clear();
        self.hinted = 0;
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
            // The word the hint expects here: compare bytes instead of classifying them (most
            // tokens of a known event repeat its words).
            if let Some(word) = expected(self.slots.len()) {
                let end = start + word.len();
                if bytes.get(start..end) == Some(word)
                    && bytes.get(end).is_none_or(|&b| is_space_byte(b))
                {
                    // A token is cut at ASCII bytes, so on char boundaries.
                    let token = content.get(start..end).unwrap_or("");
                    // After a wildcard, a size unit or an HTTP protocol joins it: mask normally.
                    let joins_previous =
                        self.slots.last().is_some_and(|previous| previous.wildcard)
                            && (is_size_unit(token)
                                || is_http_protocol(token)
                                || (ends_with_digit(bytes, start) && is_measure_unit(token)));
                    if !joins_previous {
                        if let Some(bit) = 1u64.checked_shl(self.slots.len() as u32) {
                            self.hinted |= bit;
                        }
                        let shape_start = self.shapes.len();
                        self.shapes.push_str(token);
                        self.slots.push(Slot {
                            shape_start: shape_start as u32,
                            shape_end: self.shapes.len() as u32,
                            text_start: start as u32,
                            text_end: end as u32,
                            wildcard: false,
                            tokens: 1,
                        });
                        index = end;
                        continue;
                    }
                }
            }
            index = token_end(bytes, start);
            let mut classes = token_classes(&bytes[start..index]);
            let opens_quote = classes & (EQUALS | QUOTE) == EQUALS | QUOTE
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
            if let Some(previous) = self.slots.last_mut().filter(|previous| previous.wildcard) {
                if is_size_unit(token) || is_http_protocol(token) {
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
                // A time or count unit after a number (`1.5 seconds`, `90 ms`, `300 bytes`) is
                // part of the value too, so `12ms` and `12 ms` (one token or two) and `1.5 s` /
                // `90 ms` (another unit) keep one slot; the unit stays visible while all the
                // lines of a template share it (`Took <*> seconds`).
                if ends_with_digit(bytes, start) && is_measure_unit(token) {
                    self.shapes.push(' ');
                    self.shapes.push_str(token);
                    previous.shape_end = self.shapes.len() as u32;
                    previous.text_end = index as u32;
                    previous.tokens = previous.tokens.saturating_add(1);
                    continue;
                }
            }
            // Most tokens are words (no digit, path or `=`): kept as they are unless they hold a
            // value word, without the variable tests below.
            let wildcard =
                if classes & (DIGIT | MARKER | EQUALS) == 0 && !word_holds_value(token, classes) {
                    self.shapes.push_str(token);
                    false
                } else if classes & (DIGIT | SYMBOL) == DIGIT {
                    // Letters, digits and `_` only (`0x2f`, `attempt_1_0001_m_2`, `ee0`): one
                    // unit, a variable or kept whole.
                    push_alphanumeric_unit(token, &mut self.shapes)
                } else if classes & (DIGIT | MARKER) != 0
                    && classes & EQUALS == 0
                    && push_whole_variable(token, classes, &mut self.shapes)
                {
                    // Numbers, IPs, dates, times, block ids, paths: the next most common tokens.
                    true
                } else {
                    self.memo.mask(token, &mut self.shapes, |token, out| {
                        // `key=42,`, `CurrentState:3`, `core.1234`: a named number.
                        let named_number = classes & (DIGIT | ALPHA) == DIGIT | ALPHA
                            && classes & MARKER == 0
                            && push_named_number(token, out);
                        !named_number && mask_classified_token(token, classes, out)
                    })
                };
            self.push_slot(shape_start, start, index, wildcard);
        }
    }

    /// Adds the token at `text_start..text_end`, whose shape was pushed at `shape_start`, as a
    /// slot; a wildcard after a wildcard slot extends it instead.
    #[inline]
    fn push_slot(
        &mut self,
        shape_start: usize,
        text_start: usize,
        text_end: usize,
        wildcard: bool,
    ) {
        match self.slots.last_mut() {
            Some(previous) if wildcard && previous.wildcard => {
                // Collapse: extend the previous wildcard slot; its shape is contiguous in the
                // buffer, so insert a space between the two shapes.
                self.shapes.insert(shape_start, ' ');
                previous.shape_end = self.shapes.len() as u32;
                previous.text_end = text_end as u32;
                previous.tokens = previous.tokens.saturating_add(1);
            }
            _ => self.slots.push(Slot {
                shape_start: shape_start as u32,
                shape_end: self.shapes.len() as u32,
                text_start: text_start as u32,
                text_end: text_end as u32,
                wildcard,
                tokens: 1,
            }),
        }
    }
}

/// The shape of a token whose core (without wrapping punctuation) is a number, an IP, a date or
/// time (`10.0.0.1:80`, `(42),`), an HDFS block id or a path (`(/var/x):`): `<*>` between the
/// wrapping punctuation. This is what [`mask_classified_token`] gives such a token, without its
/// other tests; the caller makes sure it has a digit or a path marker and no `=`. Returns false
/// (and pushes nothing) for any other token.
#[inline]
fn push_whole_variable(token: &str, classes: u16, out: &mut String) -> bool {
    let bytes = token.as_bytes();
    let (start, end) = unwrapped_span(bytes);
    let core = &bytes[start..end];
    let whole = (classes & DIGIT != 0 && classes & NOT_NUMERIC == 0 && is_numeric_run(core))
        || (core.starts_with(b"blk_") && is_block_id(token.get(start..end).unwrap_or("")))
        // Without `:` there is no URL, whose scheme would stay visible.
        || (classes & COLON == 0 && is_path(core));
    if !whole {
        return false;
    }
    push_wrapped_wildcard(token, start, end, out);
    true
}

/// The shape of a token of ASCII letters, digits and `_` with a digit: one unit, so `<*>` when
/// the unit is a variable and the token itself otherwise. This is what [`mask_classified_token`]
/// gives such a token (nothing wraps it, it has no delimiter and no marker), without its other
/// tests. Returns whether the shape is a wildcard.
#[inline]
fn push_alphanumeric_unit(token: &str, out: &mut String) -> bool {
    let unit = token.as_bytes();
    let variable = is_variable_unit(unit) || is_hex_id(unit) || is_number_with_unit(unit);
    out.push_str(if variable { WILDCARD } else { token });
    variable
}

/// Pushes `token` with its `start..end` part replaced by `<*>` (the cuts are next to ASCII bytes,
/// so on char boundaries). Empty sides are skipped: most tokens have no wrapping punctuation, and
/// an empty copy still costs a `memcpy` call.
#[inline]
fn push_wrapped_wildcard(token: &str, start: usize, end: usize, out: &mut String) {
    if start > 0 {
        out.push_str(token.get(..start).unwrap_or(""));
    }
    out.push_str(WILDCARD);
    if end < token.len() {
        out.push_str(token.get(end..).unwrap_or(""));
    }
}

/// Paths: `/var/log`, `./x`, `../x`, `~/x`, `C:\dir` (the first test of [`is_whole_variable`]).
#[inline]
fn is_path(core: &[u8]) -> bool {
    match core {
        [b'/', second, ..] => *second != b'/',
        [b'.', b'/', ..] | [b'.', b'.', b'/', ..] | [b'~', b'/', ..] => true,
        [drive, b':', b'\\', ..] => drive.is_ascii_alphabetic(),
        _ => false,
    }
}

/// The shape of `name=12.5,`, `name:12` or `name.12` (a name of letters and `_` with a letter
/// that is not a hex digit, not a value word; digits; `=` values may have inner dots and closing
/// punctuation): `name=<*>,`. This is what [`mask_classified_token`] gives such a token (the name
/// makes it no whole variable; the value, or the digit unit, is one), without its tests. Returns
/// false (and pushes nothing) for any other token.
#[inline]
fn push_named_number(token: &str, out: &mut String) -> bool {
    let bytes = token.as_bytes();
    let name_end = bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphabetic() || b == b'_'))
        .unwrap_or(bytes.len());
    let name = &bytes[..name_end];
    if name.first().is_none_or(|b| !b.is_ascii_alphabetic())
        || !name
            .iter()
            .any(|b| b.is_ascii_alphabetic() && !b.is_ascii_hexdigit())
        || is_literal_value(name)
    {
        return false;
    }
    let Some(&separator) = bytes.get(name_end) else {
        return false;
    };
    let value = &bytes[name_end + 1..];
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    let value_end = match separator {
        // `name:12`, `name.12`: one unit of digits, nothing after it.
        b':' | b'.' if digits == value.len() => digits,
        // `name=12.5),`: runs of digits joined by single dots, then closing punctuation.
        b'=' => {
            let mut end = digits;
            while value.get(end) == Some(&b'.')
                && value.get(end + 1).is_some_and(u8::is_ascii_digit)
            {
                end += 1;
                end += value[end..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            }
            if !value[end..].iter().all(|&b| is_closing(b)) {
                return false;
            }
            end
        }
        _ => return false,
    };
    push_wrapped_wildcard(token, name_end + 1, name_end + 1 + value_end, out);
    true
}

/// End of the token that starts at `start`: the first separator at or after it. Eight bytes at a
/// time: every separator is below `!` (0x21), and a byte below it that is no separator (a control
/// byte) only costs a check.
#[inline]
fn token_end(bytes: &[u8], start: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = start;
    while at + 8 <= bytes.len() {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[at..at + 8]);
        let word = u64::from_le_bytes(chunk);
        // The high bit of each byte below 0x21 (and of bytes above the first one, which are
        // ignored): the lowest flagged byte is exact.
        let below = word.wrapping_sub(ONES * 0x21) & !word & HIGHS;
        if below == 0 {
            at += 8;
            continue;
        }
        let hit = at + (below.trailing_zeros() / 8) as usize;
        if is_space_byte(bytes[hit]) {
            return hit;
        }
        at = hit + 1;
    }
    while at < bytes.len() && !is_space_byte(bytes[at]) {
        at += 1;
    }
    at
}

/// The first token of a message (empty when it has none).
pub fn first_token(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_space_byte(b))
        .unwrap_or(bytes.len());
    &bytes[start..token_end(bytes, start)]
}

/// Whether masking the token `word` gives `word` itself, as a literal (not a wildcard): such a
/// word may be taken as it is when a hint expects it (see [`MaskedLine::fill_with_hint`]), unless it
/// follows a wildcard (a size unit or HTTP protocol would join it).
pub fn masks_to_itself(word: &str) -> bool {
    let bytes = word.as_bytes();
    // A token opening a quoted value may swallow the next tokens: never taken as it is.
    let opens_quote = bytes
        .windows(2)
        .any(|w| w[0] == b'=' && (w[1] == b'"' || w[1] == b'\''));
    if bytes.is_empty() || opens_quote || bytes.iter().any(|&b| is_space_byte(b)) {
        return false;
    }
    let mut shape = String::with_capacity(word.len() + 8);
    let wildcard = mask_token(word, &mut shape);
    !wildcard && shape == word
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
    // Every unit starts with one of these letters: most tokens are rejected on their first byte.
    if !matches!(
        token.as_bytes().first(),
        Some(b'B' | b'K' | b'M' | b'G' | b'T' | b'P' | b'k')
    ) {
        return false;
    }
    let word = token.trim_end_matches([',', ';', ')', ']', '.', ':']);
    matches!(
        word,
        "B" | "KB" | "MB" | "GB" | "TB" | "PB" | "KiB" | "MiB" | "GiB" | "TiB" | "kB"
    )
}

/// Units of time and counts written as a word after a number (`90 ms`, `1.5 seconds`, `300
/// bytes`), with closing punctuation. Only words that are units and nothing else: `s`, `h`, `m`
/// and `us` are also letters and words of messages.
fn is_measure_unit(token: &str) -> bool {
    const UNITS: &[&str] = &[
        "ms",
        "msec",
        "msecs",
        "millis",
        "millisecond",
        "milliseconds",
        "ns",
        "nanoseconds",
        "sec",
        "secs",
        "second",
        "seconds",
        "min",
        "mins",
        "minute",
        "minutes",
        "hour",
        "hours",
        "hrs",
        "day",
        "days",
        "byte",
        "bytes",
    ];
    let word = token.trim_end_matches([',', ';', ')', ']', '.', ':']);
    // Every unit has 2 to 12 bytes: most tokens are rejected on their length.
    (2..=12).contains(&word.len()) && UNITS.iter().any(|unit| unit.eq_ignore_ascii_case(word))
}

/// Whether the last non-space byte before `at` is an ASCII digit (the previous token ends with a
/// number).
fn ends_with_digit(bytes: &[u8], at: usize) -> bool {
    bytes[..at]
        .iter()
        .rev()
        .find(|&&b| !is_space_byte(b))
        .is_some_and(u8::is_ascii_digit)
}

/// `HTTP/1.1`, `HTTP/2`, with closing punctuation (`HTTP/1.0"`).
fn is_http_protocol(token: &str) -> bool {
    if !token.starts_with("HTTP/") {
        return false;
    }
    let word = token.trim_end_matches(['"', '\'', ',', ')', ']']);
    word.strip_prefix("HTTP/").is_some_and(|version| {
        !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    })
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate_to_boundary(text: &str, max: usize) -> &str {
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
const fn is_opening(byte: u8) -> bool {
    matches!(byte, b'(' | b'[' | b'{' | b'<' | b'"' | b'\'' | b'`')
}

/// The span of `bytes` inside its wrapping punctuation: `(/var/x):` -> `/var/x`, `[10.0.0.1]` ->
/// `10.0.0.1`.
#[inline]
fn unwrapped_span(bytes: &[u8]) -> (usize, usize) {
    let mut start = 0;
    while start < bytes.len() && is_opening(bytes[start]) {
        start += 1;
    }
    let mut end = bytes.len();
    while end > start && is_closing(bytes[end - 1]) {
        end -= 1;
    }
    (start, end)
}

/// Trailing punctuation after a value: `value),`, `id].`, `path:`.
#[inline]
const fn is_closing(byte: u8) -> bool {
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
fn token_classes(bytes: &[u8]) -> u16 {
    bytes
        .iter()
        .fold(0, |classes, &byte| classes | BYTE_CLASS[usize::from(byte)])
}

/// [`mask_token`] with the token's byte classes already known.
fn mask_classified_token(token: &str, classes: u16, out: &mut String) -> bool {
    let bytes = token.as_bytes();
    // Fast path: words without digits or path/URL markers are kept as they are.
    let has_digit = classes & DIGIT != 0;
    let has_marker = classes & MARKER != 0;
    let has_colon = classes & COLON != 0;
    if classes & (EQUALS | QUOTE) == EQUALS | QUOTE
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
    let (start, end) = unwrapped_span(bytes);
    let core = &token[start..end];
    // Numbers, IPs with ports, dates and times: digits and separators only (the common case).
    if has_digit && is_numeric_run(core.as_bytes()) || is_block_id(core) {
        push_wrapped_wildcard(token, start, end, out);
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
    if !core.is_empty() && is_whole_variable(core, classes) {
        push_wrapped_wildcard(token, start, end, out);
        return true;
    }
    if !has_digit && !has_literal_value {
        out.push_str(token);
        return false;
    }
    // `key=value` with a whole-variable value (`rhost=10.0.0.1`): keep the key as written.
    if let Some(equals) = bytes.iter().position(|&b| b == b'=') {
        let value = &token[equals + 1..];
        let mut value_end = value
            .bytes()
            .rposition(|b| !is_closing(b))
            .map_or(0, |at| at + 1);
        // A bracketed value (`[0,1080][720,1920]`) keeps its closing bracket inside the value.
        if matches!(value.as_bytes().first(), Some(b'[' | b'(' | b'{')) {
            value_end = value
                .bytes()
                .rposition(|b| matches!(b, b']' | b')' | b'}'))
                .map_or(value_end, |at| at + 1);
        }
        let value_core = &value[..value_end];
        if equals > 0
            && !value_core.is_empty()
            && !value_core.as_bytes().contains(&b'=')
            && is_whole_variable(value_core, classes)
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
        if is_delimiter_byte(byte) {
            // A `-` directly before a digit is a sign when it follows a delimiter, `_` or the start.
            let is_sign = byte == b'-'
                && bytes.get(index + 1).is_some_and(u8::is_ascii_digit)
                && (index == 0 || is_delimiter_byte(bytes[index - 1]));
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
            if is_delimiter_byte(byte) && !glued_sign {
                break;
            }
            index += 1;
        }
        let unit = &token[unit_start..index];
        if is_variable_unit(unit.as_bytes()) {
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
#[inline]
fn is_literal_value(unit: &[u8]) -> bool {
    // Dispatch on the length: only 3, 4 and 5 bytes can match.
    match unit.len() {
        3 => is_date_word(unit),
        4 => unit.eq_ignore_ascii_case(b"true") || unit.eq_ignore_ascii_case(b"null"),
        5 => unit.eq_ignore_ascii_case(b"false"),
        _ => false,
    }
}

/// `Mon`..`Sun`, `Jan`..`Dec` (capitalised, as dates write them).
fn is_date_word(unit: &[u8]) -> bool {
    // A decision tree on the first byte rather than 19 comparisons.
    matches!(
        unit,
        [b'M', b'o', b'n']
            | [b'T', b'u', b'e']
            | [b'W', b'e', b'd']
            | [b'T', b'h', b'u']
            | [b'F', b'r', b'i']
            | [b'S', b'a', b't']
            | [b'S', b'u', b'n']
            | [b'J', b'a', b'n']
            | [b'F', b'e', b'b']
            | [b'M', b'a', b'r']
            | [b'A', b'p', b'r']
            | [b'M', b'a', b'y']
            | [b'J', b'u', b'n']
            | [b'J', b'u', b'l']
            | [b'A', b'u', b'g']
            | [b'S', b'e', b'p']
            | [b'O', b'c', b't']
            | [b'N', b'o', b'v']
            | [b'D', b'e', b'c']
    )
}

/// Whether a digit-free token holds a value word ([`is_literal_value`]) as a unit, or is a domain
/// name.
fn contains_literal_value(token: &str, classes: u16) -> bool {
    let word = trim_ascii_punctuation(token);
    if classes & DOT != 0 && is_domain_name(word) {
        return true;
    }
    let bytes = word.as_bytes();
    if classes & DELIMITER == 0 {
        // One unit: the word itself.
        return is_literal_value(bytes);
    }
    // The units between delimiters, without building a split iterator.
    let mut unit_start = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        if is_delimiter_byte(byte) {
            if is_literal_value(&bytes[unit_start..at]) {
                return true;
            }
            unit_start = at + 1;
        }
    }
    is_literal_value(&bytes[unit_start..])
}

/// [`contains_literal_value`] for a word (no digit, marker or `=`), with the common case inline: a
/// word without dot or delimiter that starts and ends with a letter is one unit, itself.
#[inline(always)]
fn word_holds_value(token: &str, classes: u16) -> bool {
    let bytes = token.as_bytes();
    if classes & (DOT | DELIMITER) == 0 {
        if let (Some(first), Some(last)) = (bytes.first(), bytes.last()) {
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() {
                return is_literal_value(bytes);
            }
        }
    }
    contains_literal_value(token, classes)
}

/// [`is_delimiter`] by table lookup (the hot loops).
#[inline]
fn is_delimiter_byte(byte: u8) -> bool {
    BYTE_CLASS[usize::from(byte)] & DELIMITER != 0
}

/// Byte classes for the one-pass scan of [`mask_token`]. A token's classes (the union over its
/// bytes) let the variable tests below skip what cannot apply (no `@`: not an e-mail...).
const DIGIT: u16 = 1;
/// `/`, `\` or `@`: paths, URLs, e-mails.
const MARKER: u16 = 2;
const COLON: u16 = 4;
const EQUALS: u16 = 8;
const DOT: u16 = 16;
const DELIMITER: u16 = 32;
const SPACE: u16 = 64;
const ALPHA: u16 = 128;
const DASH: u16 = 256;
const AT: u16 = 512;
const SLASH: u16 = 1024;
/// Digits and the separators of numbers, IPs, dates and times (see [`is_numeric_run`]).
const NUMERIC: u16 = 2048;
/// Neither [`NUMERIC`] nor wrapping punctuation ([`is_opening`], [`is_closing`]): a token
/// without it may be a plain number.
const NOT_NUMERIC: u16 = 4096;
/// Neither an ASCII letter, nor a digit, nor `_` (punctuation, whitespace, non-ASCII bytes).
const SYMBOL: u16 = 8192;
/// `"` or `'`: with [`EQUALS`], the token may open a quoted value (`key="...`).
const QUOTE: u16 = 16384;

const BYTE_CLASS: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        let mut class = 0;
        if b.is_ascii_digit() {
            class |= DIGIT;
        }
        if b.is_ascii_alphabetic() {
            class |= ALPHA;
        }
        if b == b'/' || b == b'\\' || b == b'@' {
            class |= MARKER;
        }
        if b == b'/' {
            class |= SLASH;
        }
        if b == b'@' {
            class |= AT;
        }
        if b == b'-' {
            class |= DASH;
        }
        if b == b':' {
            class |= COLON;
        }
        if b == b'=' {
            class |= EQUALS;
        }
        if b == b'"' || b == b'\'' {
            class |= QUOTE;
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
        if !(b.is_ascii_alphanumeric() || b == b'_') {
            class |= SYMBOL;
        }
        if b.is_ascii_digit() || matches!(b, b'.' | b':' | b'-' | b'/' | b',' | b'+' | b'_') {
            class |= NUMERIC;
        } else if !is_opening(b) && !is_closing(b) {
            class |= NOT_NUMERIC;
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
    let kept = |b: u8| b.is_ascii_alphanumeric() || b >= 0x80;
    // Most words have nothing to trim.
    if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) {
        if kept(first) && kept(last) {
            return text;
        }
    }
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
fn is_variable_unit(unit: &[u8]) -> bool {
    // One pass: digit and letter counts, and where the first digit is.
    let mut digits = 0usize;
    let mut letters = 0usize;
    let mut digit_at = usize::MAX;
    for (at, &b) in unit.iter().enumerate() {
        if b.is_ascii_digit() {
            if digits == 0 {
                digit_at = at;
            }
            digits += 1;
        } else if b.is_ascii_alphabetic() {
            letters += 1;
        }
    }
    if digits == 0 {
        return is_literal_value(unit);
    }
    // A long word with one digit glued to it is an identifier: `0userId`, `Slf4jLogger`.
    if digits == 1 && letters >= 4 && !is_hex_id(unit) {
        return false;
    }
    if digits == 1 && unit[0].is_ascii_alphabetic() {
        // A name with one digit right after a letter: `ee0`, `jk2_init`, `Slf4jLogger`, `PSR1`
        // (but `rdd_2`, `blk_-1` are ids). Still variable when it is mostly hex (`a1b2c3d`).
        if digit_at > 0 && unit[digit_at - 1].is_ascii_alphabetic() {
            return is_hex_id(unit);
        }
    }
    true
}

/// Hex ids of at least 6 characters with a digit: `9f4ef63`, `0x7fed806eb5d`.
fn is_hex_id(text: &[u8]) -> bool {
    let digits = text
        .strip_prefix(b"0x")
        .or_else(|| text.strip_prefix(b"0X"))
        .unwrap_or(text);
    if digits.len() < 6 {
        return false;
    }
    let mut any_digit = false;
    for &b in digits {
        if !b.is_ascii_hexdigit() {
            return false;
        }
        any_digit |= b.is_ascii_digit();
    }
    any_digit
}

/// Whole-token variables, tested on the token without wrapping punctuation. `classes` holds (at
/// least) the byte classes of `core`: tests that need a byte the token lacks are skipped.
fn is_whole_variable(core: &str, classes: u16) -> bool {
    let bytes = core.as_bytes();
    if is_path(bytes) {
        return true;
    }
    if (classes & AT != 0 && is_email(core)) || (classes & DOT != 0 && is_domain_name(core)) {
        return true;
    }
    // `host/10.0.0.1:80`, `host:port`, `user@host`: every part a variable.
    let is_separator = |b: u8| matches!(b, b'/' | b':' | b'@');
    if classes & (SLASH | COLON | AT) != 0 && bytes.iter().any(|&b| is_separator(b)) {
        // Every part between separators (ASCII, so cut on char boundaries) must be a variable.
        let mut parts = 0;
        let mut part_start = 0;
        let mut all_variable = true;
        for at in 0..=bytes.len() {
            if at < bytes.len() && !is_separator(bytes[at]) {
                continue;
            }
            parts += 1;
            let part = core.get(part_start..at).unwrap_or("");
            if part.is_empty()
                || !(is_simple_variable(part, classes)
                    || (classes & DOT != 0 && is_domain_name(part)))
            {
                all_variable = false;
                break;
            }
            part_start = at + 1;
        }
        if parts > 1 && all_variable {
            return true;
        }
    }
    is_simple_variable(core, classes)
}

/// Hex groups, host names, and tokens whose every unit is a variable (numbers, IPs, dates, times,
/// hex, versions). `classes` as for [`is_whole_variable`].
fn is_simple_variable(core: &str, classes: u16) -> bool {
    // Hex groups need two `-`/`:` separators; host names a `.` or `-`, a digit and a letter.
    if classes & (DASH | COLON) != 0 && is_hex_groups(core) {
        return true;
    }
    if classes & (DOT | DASH) != 0
        && classes & DIGIT != 0
        && classes & ALPHA != 0
        && is_host_name(core)
    {
        return true;
    }
    let mut any_unit = false;
    // Delimiters are ASCII: splitting the bytes cuts at the same places as splitting the chars.
    for unit in core.as_bytes().split(|&b| is_delimiter_byte(b)) {
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
    let (mut digit, mut letter, mut dots) = (false, false, 0usize);
    for &b in bytes {
        if b.is_ascii_digit() {
            digit = true;
        } else if b.is_ascii_alphabetic() {
            letter = true;
        } else if b == b'.' {
            dots += 1;
        } else if b != b'-' {
            return false;
        }
    }
    if !digit || !letter {
        return false;
    }
    if dots >= 2 {
        // No empty label; a top-level label of 2 to 6 letters.
        let labels_ok = bytes.first() != Some(&b'.')
            && bytes.last() != Some(&b'.')
            && !bytes.windows(2).any(|w| w == b"..");
        let top_start = bytes
            .iter()
            .rposition(|&b| b == b'.')
            .map_or(0, |at| at + 1);
        let top = &bytes[top_start..];
        return labels_ok
            && (2..=6).contains(&top.len())
            && top.iter().all(u8::is_ascii_alphabetic);
    }
    if dots == 0 {
        // `word-x-y`: a first label of letters, then two non-empty labels or more.
        let first_end = bytes.iter().position(|&b| b == b'-').unwrap_or(bytes.len());
        let first_is_word = first_end > 0 && bytes[..first_end].iter().all(u8::is_ascii_alphabetic);
        let mut rest = 0;
        let mut label_len = 0;
        for &b in bytes.get(first_end + 1..).unwrap_or(&[]) {
            if b == b'-' {
                rest += usize::from(label_len > 0);
                label_len = 0;
            } else {
                label_len += 1;
            }
        }
        rest += usize::from(label_len > 0);
        return first_is_word && rest >= 2;
    }
    false
}

/// Domain names without digits: `proxy.cse.cuhk.edu.hk`, `www.google.com` (labels ending with a
/// common top-level domain; Java packages end with a class name instead).
fn is_domain_name(core: &str) -> bool {
    let Some(dot) = core.as_bytes().iter().rposition(|&b| b == b'.') else {
        return false;
    };
    // `.` is ASCII: both cuts are char boundaries.
    let (rest, top) = (&core[..dot], &core[dot + 1..]);
    // Every listed top-level domain has 2 to 8 bytes.
    if !(2..=8).contains(&top.len()) {
        return false;
    }
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
        && core
            .iter()
            .all(|&b| BYTE_CLASS[usize::from(b)] & NUMERIC != 0)
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
    // One pass over `core.split(['-', ':'])`: every group 1..=16 hex digits.
    let mut groups = 0;
    let mut length = 0;
    let mut has_digit = false;
    for &b in core.as_bytes() {
        if b == b'-' || b == b':' {
            if length == 0 {
                return false;
            }
            groups += 1;
            length = 0;
        } else if b.is_ascii_hexdigit() {
            length += 1;
            if length > 16 {
                return false;
            }
            has_digit |= b.is_ascii_digit();
        } else {
            return false;
        }
    }
    length > 0 && groups + 1 >= 3 && has_digit
}

/// `10ms`, `41C`, `64172MB`, `1810s`: digits followed by a short unit of measure.
fn is_number_with_unit(unit: &[u8]) -> bool {
    let digits = unit.iter().take_while(|b| b.is_ascii_digit()).count();
    let suffix = &unit[digits..];
    digits > 0 && suffix.len() <= 3 && suffix.iter().all(u8::is_ascii_alphabetic)
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
    fn units_after_numbers_join_the_value() {
        assert_eq!(
            line("took 90 ms, then 1.5 Seconds and 300 bytes)"),
            [
                "took",
                "<*> ms,",
                "then",
                "<*> Seconds",
                "and",
                "<*> bytes)"
            ]
        );
        // Not after a number: a word like any other.
        assert_eq!(line("the ms value"), ["the", "ms", "value"]);
        assert_eq!(line("/var/x seconds"), ["<*>", "seconds"]);
        assert_eq!(line("seconds 5"), ["seconds", "<*>"]);
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

    /// A small deterministic generator (no `rand` dependency).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.next() % items.len()]
        }
    }

    /// Tokens and lines mixing the pieces the masking rules look at.
    fn generated_lines(count: usize) -> Vec<String> {
        let pieces = [
            "0", "7", "42", "1.5", "0x1f", "a", "f", "x", "G", "KB", "blk_", "-", "_", ".", ":",
            "/", "\\", "@", "=", "\"", "'", "(", ")", "[", "]", "{", "}", ",", ";", "!", "?", "<",
            ">", "*", "+", "#", "~", " ", "  ", "\t", "\u{1}", "\u{b}", "é", "中", "true", "null",
            "Jul", "Sat", "HTTP/1.1", "://", "com", "...", "<*>", "uid", "name", "dead", "core",
            "attempt", "9f4ef63", "userId", "MB", "ms", "0x", "ee",
        ];
        let names = [
            "uid", "x", "Jul", "true", "_x", "x_y", "getTop", "dead", "G", "vCores",
        ];
        let separators = ["=", ":", ".", "-", "/", ""];
        let values = [
            "1", "12", "1.5", "1..5", "0x1f", "-1", "1a", "12ms", "", ".5", "9:30",
        ];
        let suffixes = ["", ",", ")", "),", "]", ":", ".", "\"", ">", "=", "a", "("];
        let mut rng = Lcg(17);
        (0..count)
            .map(|_| {
                let mut line = String::new();
                for _ in 0..1 + rng.next() % 10 {
                    if rng.next() % 3 == 0 {
                        line.push_str(rng.pick(&names));
                        line.push_str(rng.pick(&separators));
                        line.push_str(rng.pick(&values));
                        line.push_str(rng.pick(&suffixes));
                        line.push(' ');
                    } else {
                        line.push_str(rng.pick(&pieces));
                    }
                }
                line
            })
            .collect()
    }

    #[test]
    fn fast_paths_agree_with_the_general_rules() {
        // `fill` takes words, numbers and named numbers through shortcuts; a one-token line must
        // get what the general rules (`mask_token`) give.
        let mut masked = MaskedLine::default();
        for line in generated_lines(20_000) {
            for token in line.split(|c: char| c.is_ascii() && is_space_byte(c as u8)) {
                if token.is_empty()
                    || token.contains(|c: char| c.is_ascii() && is_space_byte(c as u8))
                {
                    continue;
                }
                masked.fill(token);
                let mut expected = String::new();
                let wildcard = mask_token(token, &mut expected);
                assert_eq!(masked.slots.len(), 1, "{token:?}");
                assert_eq!(masked.shape(&masked.slots[0]), expected, "{token:?}");
                assert_eq!(masked.slots[0].wildcard, wildcard, "{token:?}");
            }
        }
    }

    #[test]
    fn remembered_tokens_mask_as_the_rules_do() {
        // Long tokens of every kind the generator makes, plus real ones, more of them than the
        // memo holds (entries get replaced), each seen several times.
        let mut tokens: Vec<String> = generated_lines(400)
            .iter()
            .map(|line| {
                line.chars()
                    .filter(|&c| !(c.is_ascii() && is_space_byte(c as u8)))
                    .collect::<String>()
            })
            .filter(|token| token.len() >= MEMO_MIN_LEN)
            .collect();
        tokens.extend(
            [
                "ready=true,policy=3,wakefulness=1,wfd=false",
                "com.android.server.wm.WindowManagerService.relayoutWindow:913",
                "[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d]",
                "org.apache.hadoop.mapreduce.v2.app.rm.RMContainerAllocator:",
                "Package_for_KB3004375~31bf3856ad364e35~amd64~~6.1.3.1,",
                "fullscreenStackBounds=Rect(0,",
            ]
            .map(String::from),
        );
        assert!(tokens.len() > 2 * MEMO_ENTRIES, "{}", tokens.len());
        let mut shared = MaskedLine::default();
        for _ in 0..3 {
            for token in &tokens {
                let line = format!("{token} {token} x=1 {token}");
                shared.fill(&line);
                let mut fresh = MaskedLine::default();
                fresh.fill(&line);
                assert_eq!(shared.shapes, fresh.shapes, "{line:?}");
                assert_eq!(shared.slots, fresh.slots, "{line:?}");
            }
        }
        assert!(
            shared.memo.hits > tokens.len() as u64,
            "{}",
            shared.memo.hits
        );
    }

    #[test]
    fn hints_never_change_the_result() {
        let mut plain = MaskedLine::default();
        let mut hinted = MaskedLine::default();
        let mut rng = Lcg(5);
        for line in generated_lines(20_000) {
            plain.fill(&line);
            // Expect each slot's own token (when it masks to itself), or a random token.
            let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
            let expected: Vec<Option<&str>> = (0..12)
                .map(|index| {
                    let word = if rng.next() % 2 == 0 {
                        plain.slots.get(index).and_then(|slot| {
                            line.get(slot.text_start as usize..slot.text_end as usize)
                        })
                    } else {
                        tokens.get(rng.next() % tokens.len().max(1)).copied()
                    };
                    word.filter(|word| masks_to_itself(word))
                })
                .collect();
            hinted.fill_with_hint(&line, |index| {
                expected.get(index).copied().flatten().map(str::as_bytes)
            });
            assert_eq!(plain.shapes, hinted.shapes, "{line:?}");
            assert_eq!(plain.slots, hinted.slots, "{line:?}");
        }
    }

    #[test]
    fn words_that_mask_to_themselves() {
        for word in [
            "block",
            "src:",
            "PacketResponder",
            "(Lifecycle",
            "KB",
            "BLOCK*",
        ] {
            assert!(masks_to_itself(word), "{word}");
        }
        for word in [
            "",
            "10",
            "true",
            "Jul",
            "blk_1",
            "ambient=30",
            "k=\"v",
            "a b",
            "ee0x0",
        ] {
            assert!(!masks_to_itself(word), "{word}");
        }
    }

    #[test]
    fn token_scans_match_byte_loops() {
        let alphabet = [
            b'a', b' ', b'\t', b'\n', 0, 1, 0x1f, b'!', 0x80, 0xff, b'0', b'9', b'/',
        ];
        let mut rng = Lcg(3);
        for _ in 0..20_000 {
            let bytes: Vec<u8> = (0..rng.next() % 40)
                .map(|_| alphabet[rng.next() % alphabet.len()])
                .collect();
            let start = rng.next() % (bytes.len() + 1);
            let expected = bytes[start..]
                .iter()
                .position(|&b| is_space_byte(b))
                .map_or(bytes.len(), |at| start + at);
            assert_eq!(token_end(&bytes, start), expected, "{bytes:?} from {start}");
        }
        assert_eq!(first_token(b"  \tword rest"), b"word");
        assert_eq!(first_token(b" \n "), b"");
    }
}
