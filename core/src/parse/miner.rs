//! Online template mining.
//!
//! Each message is masked into slots (see [`super::mask`]). A line joins the most similar template of
//! the same slot count when enough of the template's literal tokens agree and no differing token is
//! protected; the differing positions then become `<*>`. Otherwise, when the line repeats the
//! constant words of a template of another length in order and what lies between them are values
//! (a list of 1, 2 or 3 entries), each differing gap becomes one variable span that takes one or
//! more words (Spell's longest common subsequence). Otherwise it starts a new template.
//!
//! Speed (the steady state of a log stream is lines of known events):
//! - a line whose masked shape was seen before is matched through a hash of its shapes (one map
//!   lookup, its literal words checked against the template, no interning, no allocation), so the
//!   similarity search only runs on new shapes;
//! - the template last joined by a line with the same first word is a hint for masking: the line's
//!   tokens equal to that template's words (those masking keeps as they are) are taken without
//!   being classified (see [`MaskedLine::fill_with_hint`]); the result never depends on the hint.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use super::mask::{first_token, masks_to_itself, MaskedLine, Slot, WILDCARD};

/// Settings of a [`TemplateMiner`]. One default works for all the Loghub systems.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MinerConfig {
    /// Share of a template's literal tokens a line must repeat to join it (0..=1).
    pub similarity_threshold: f64,
    /// Leading positions that must agree when both the template and the line have a word there
    /// (Drain's prefix-tree depth minus two): the first word usually names the event.
    pub prefix_depth: usize,
    /// At most this many templates are compared per line (most recently used first).
    pub max_candidates: usize,
    /// Templates kept; beyond it the least recently used is evicted (its id is never reused).
    pub max_templates: usize,
    /// Words that are never turned into `<*>` (case-insensitive; surrounding punctuation ignored):
    /// two lines that differ in one of them are different events.
    pub protected_tokens: ProtectedWords,
    /// Also protect words written in capitals (`LOOKING`, `GET`, `FAIL_TASK_CLEANUP`): they are
    /// states and enum values.
    pub protect_uppercase: bool,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            similarity_threshold: 0.6,
            prefix_depth: 1,
            max_candidates: 256,
            max_templates: 10_000,
            protected_tokens: ProtectedWords::default(),
            protect_uppercase: true,
        }
    }
}

/// The default protected words: severities, states and outcomes.
const DEFAULT_PROTECTED: [&str; 55] = [
    // Severities.
    "trace",
    "debug",
    "info",
    "notice",
    "warn",
    "warning",
    "error",
    "err",
    "severe",
    "fatal",
    "critical",
    "crit",
    "alert",
    "emerg",
    "emergency",
    "panic",
    // States and outcomes.
    "started",
    "starting",
    "start",
    "stopped",
    "stopping",
    "stop",
    "paused",
    "resumed",
    "running",
    "finished",
    "failed",
    "failure",
    "success",
    "succeeded",
    "successful",
    "successfully",
    "completed",
    "complete",
    "aborted",
    "killed",
    "terminated",
    "timeout",
    "denied",
    "accepted",
    "rejected",
    "refused",
    "opened",
    "closed",
    "up",
    "down",
    "ok",
    "open",
    "close",
    "enabled",
    "disabled",
    "connected",
    "disconnected",
    "true",
    "false",
];

/// The default list, held once per process: every project keeps two miners, and a copy of the list
/// in each cost 14 KiB a project (1.4 GiB for 100,000 projects).
static DEFAULT_PROTECTED_WORDS: LazyLock<Arc<[String]>> = LazyLock::new(|| {
    DEFAULT_PROTECTED
        .iter()
        .map(|word| word.to_string())
        .collect()
});

/// Words a miner never turns into `<*>`, normalised (trimmed, lowercase ASCII, no empty word) and
/// shared: miners with the same list hold one copy (the default list is held once per process).
/// Serialized as a list of strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectedWords(Arc<[String]>);

impl ProtectedWords {
    /// The list of `words`, normalised.
    pub fn new<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> Self {
        let words: Vec<String> = words
            .into_iter()
            .map(|word| word.as_ref().trim().to_ascii_lowercase())
            .filter(|word| !word.is_empty())
            .collect();
        if *words == **DEFAULT_PROTECTED_WORDS {
            return Self::default();
        }
        Self(words.into())
    }

    /// No protected word.
    pub fn none() -> Self {
        Self(Arc::from(Vec::<String>::new()))
    }
}

impl Default for ProtectedWords {
    fn default() -> Self {
        Self(DEFAULT_PROTECTED_WORDS.clone())
    }
}

impl std::ops::Deref for ProtectedWords {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

impl Serialize for ProtectedWords {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<'de> Deserialize<'de> for ProtectedWords {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        Ok(Self::new(Vec::<String>::deserialize(deserializer)?))
    }
}

/// The template a line was assigned to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMatch {
    /// Stable id of the template (from 1, never reused).
    pub template_id: u32,
    /// The template after this line, `<*>` for every variable part.
    pub template: String,
    /// The values of the variable parts of this line, in order.
    pub parameters: Vec<String>,
    /// Whether this line created the template.
    pub is_new: bool,
    /// Whether this line changed an existing template (a word became `<*>`).
    pub template_changed: bool,
}

/// What [`TemplateMiner::learn_line`] returns: the template id and what happened, without the
/// template text (read it with [`TemplateMiner::template`]) or owned parameters. It allocates
/// nothing, which makes it several times cheaper than [`TemplateMiner::learn`] on hot paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineMatch {
    /// Stable id of the template (from 1, never reused).
    pub template_id: u32,
    /// Whether this line created the template.
    pub is_new: bool,
    /// Whether this line changed an existing template (a word became `<*>`).
    pub template_changed: bool,
}

/// One template and how many lines it matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateInfo {
    /// Stable id.
    pub id: u32,
    /// The template text.
    pub template: String,
    /// Lines matched (learned) so far.
    pub count: u64,
}

/// Counters of a miner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinerStats {
    /// Templates currently kept.
    pub templates: usize,
    /// Templates seen on a single line.
    pub singletons: usize,
    /// Lines learned.
    pub lines: u64,
    /// Templates evicted by the `max_templates` limit.
    pub evicted: u64,
}

/// Token id of `<*>`.
const WILDCARD_ID: u32 = 0;
/// Token id of a word the interner has never seen (match-only): equal to no template word.
const UNKNOWN_ID: u32 = u32::MAX - 1;

/// Word classes that decide whether two different words may become one `<*>`.
mod class {
    /// A configured protected word (severity, state): never merged.
    pub const PROTECTED: u8 = 1;
    /// Capitals (`LOOKING`, `GET`): an enum value, merged only in a value slot.
    pub const CAPITALS: u8 = 2;
    /// A plain word (`spawned`, `view`, `ee0`): merged only in a value slot.
    pub const PLAIN: u8 = 4;
    /// Introduces a value (`user`, `EventType:`, `key=`): the next word is a value slot.
    pub const INTRODUCER: u8 = 8;
    /// Has a masked part (`ambient=<*>`): its literal part names a field, never merged with another.
    pub const PARTIAL: u8 = 16;
    /// Masking keeps the word as it is (see [`super::super::mask::masks_to_itself`]): a line token
    /// equal to it needs no masking.
    pub const IDENTITY: u8 = 32;
}

/// How a line joins the template chosen for it (see [`TemplateMiner::learn_masked`]).
enum Join {
    /// Slot by slot (same length).
    Same,
    /// Through a template with variable spans: per template slot, the line slots it covers.
    Aligned(Vec<std::ops::Range<usize>>),
    /// The template gains variable spans: its new slots.
    Merged(Vec<Part>),
}

/// One slot of a template merged with a line of another length.
#[derive(Clone, Debug)]
enum Part {
    /// Template slot and line slot that agree.
    Pair(usize, usize),
    /// A variable span: the template slots and line slots it replaces (one or more of each).
    Span(std::ops::Range<usize>, std::ops::Range<usize>),
}

/// Word classes that never sit in a variable span: they name the event or a field.
const SPAN_FORBIDDEN: u8 = class::PROTECTED | class::CAPITALS | class::PLAIN | class::INTRODUCER;

/// Whether a literal word may sit in a variable span: it names nothing (see [`SPAN_FORBIDDEN`];
/// a `key=value` word names its field, as in [`TemplateMiner::may_differ`]) and is a value: it
/// holds a letter or digit, or is `-`, the usual written-out empty value (common and syslog
/// formats), in brackets or not. Other punctuation (`****`, `|`, `->`) is a marker or syntax.
fn span_word(text: &str, flags: u8) -> bool {
    flags & SPAN_FORBIDDEN == 0
        && !text.contains('=')
        && (text.bytes().any(|b| b.is_ascii_alphanumeric() || b >= 0x80)
            || text.trim_matches(|c| matches!(c, '[' | ']' | '(' | ')' | '{' | '}' | '"' | ','))
                == "-")
}

/// Lines longer than this (in slots) are not aligned with templates of other lengths.
const MAX_ALIGNED_LINE: usize = 128;

/// The [`Template::spans`] bit of slot `index` (none past 64).
fn span_bit(index: usize) -> u64 {
    if index < 64 {
        1 << index
    } else {
        0
    }
}

/// Merges one line slot into a template slot of the same position (the line's word `line_id`,
/// `WILDCARD_ID` for a variable, and its shape `line_text`): a differing word becomes `<*>`, the
/// display generalises. Whether the slot changed.
fn merge_slot(
    interner: &mut Interner,
    slot: &mut TemplateSlot,
    line_id: u32,
    line_text: &str,
) -> bool {
    if slot.token == line_id && line_id != WILDCARD_ID {
        return false;
    }
    let current = if slot.token != WILDCARD_ID {
        slot.token
    } else {
        slot.display
    };
    if current == WILDCARD_ID || interner.get(line_text) == Some(current) {
        if slot.token != WILDCARD_ID {
            slot.token = WILDCARD_ID;
            slot.display = current;
            return true;
        }
        return false;
    }
    let general = generalise(interner.text(current), line_text);
    let display = interner.intern(&general, 0);
    if slot.token != WILDCARD_ID || display != slot.display {
        *slot = TemplateSlot {
            token: WILDCARD_ID,
            display,
        };
        return true;
    }
    false
}

/// How a template word and a different line word at one position relate.
enum Difference {
    /// They must stay apart: the line is another event.
    Forbidden,
    /// `key=a` / `key=b`: one field, the value varies.
    SameKey,
    /// Different words after a word that introduces a value (`user`, `EventType:`).
    ValueSlot,
    /// They may become `<*>`.
    Allowed,
}

/// Nouns after which a plain word is a name (`user root`, `host web`).
const NAME_INTRODUCERS: &[&str] = &[
    "user", "users", "username", "login", "account", "host", "hostname", "node", "domain", "for",
];

/// A fast, non-cryptographic hasher (the FxHash function of rustc) for the internal maps.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            // The rest as a zero-padded little-endian word, without a `memcpy` call: the last
            // eight bytes shifted down when there are that many, else byte by byte.
            let word = if bytes.len() >= 8 {
                let mut last = [0u8; 8];
                last.copy_from_slice(&bytes[bytes.len() - 8..]);
                u64::from_le_bytes(last) >> (8 * (8 - rest.len()))
            } else {
                rest.iter()
                    .rev()
                    .fold(0u64, |word, &byte| (word << 8) | u64::from(byte))
            };
            self.add(word ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.add(u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.add(value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.add(value as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Interned token shapes: templates compare u32 ids instead of strings.
#[derive(Clone, Debug, Default)]
struct Interner {
    ids: FxMap<Box<str>, u32>,
    texts: Vec<Box<str>>,
    flags: Vec<u8>,
    /// Where the text's only `<*>` starts ([`NO_SINGLE_HOLE`] when it has none or several): the
    /// pattern of parameter extraction, split once instead of on every line.
    holes: Vec<u32>,
}

/// [`Interner::holes`] of a text without exactly one `<*>`.
const NO_SINGLE_HOLE: u32 = u32::MAX;

impl Interner {
    fn new() -> Self {
        let mut interner = Interner::default();
        interner.intern(WILDCARD, 0);
        interner
    }

    fn get(&self, text: &str) -> Option<u32> {
        self.ids.get(text).copied()
    }

    fn intern(&mut self, text: &str, flags: u8) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let id = u32::try_from(self.texts.len()).unwrap_or(UNKNOWN_ID - 1);
        self.ids.insert(text.into(), id);
        self.texts.push(text.into());
        self.flags.push(flags);
        let hole = find_bytes(text.as_bytes(), WILDCARD.as_bytes())
            .filter(|&at| {
                find_bytes(&text.as_bytes()[at + WILDCARD.len()..], WILDCARD.as_bytes()).is_none()
            })
            .and_then(|at| u32::try_from(at).ok())
            .unwrap_or(NO_SINGLE_HOLE);
        self.holes.push(hole);
        id
    }

    fn hole(&self, id: u32) -> u32 {
        self.holes
            .get(id as usize)
            .copied()
            .unwrap_or(NO_SINGLE_HOLE)
    }

    fn text(&self, id: u32) -> &str {
        self.texts.get(id as usize).map_or(WILDCARD, |text| text)
    }

    fn flags(&self, id: u32) -> u8 {
        self.flags.get(id as usize).copied().unwrap_or(0)
    }
}

/// One position of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TemplateSlot {
    /// Interned shape of a literal token, or `WILDCARD_ID`.
    token: u32,
    /// For wildcard slots: interned text shown, the shape shared by all lines so far (`(<*>):`,
    /// `<*> <*>`, `<*> MB,`) or its generalisation (`<*>,`, `<*>`).
    display: u32,
}

#[derive(Clone, Debug)]
struct Template {
    id: u32,
    slots: Vec<TemplateSlot>,
    count: u64,
    last_used: u64,
    text: String,
    /// Bumped whenever the slots change; see [`CachedShape::stable_at`].
    version: u32,
    /// Bit `i` set: slot `i` is a variable span, one or more line slots (see
    /// [`TemplateMiner::align_merge`]). Such templates are kept in `span_ids`, not `by_length`.
    spans: u64,
}

/// A shape-cache entry: the template a line shape joined.
#[derive(Clone, Copy, Debug)]
struct CachedShape {
    template_id: u32,
    /// The template version at which merging this shape was seen to change nothing (`NOT_STABLE`
    /// before that): while the template stays at that version, the merge is skipped.
    stable_at: u32,
}

/// [`CachedShape::stable_at`] before a no-change merge was seen.
const NOT_STABLE: u32 = u32::MAX;

/// The full miner state. Serializing and deserializing it keeps every template id, so a restored
/// miner continues exactly where it stopped.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "MinerState", from = "MinerState")]
pub struct TemplateMiner {
    config: MinerConfig,
    interner: Interner,
    templates: FxMap<u32, Template>,
    /// Template ids by slot count (templates without variable spans).
    by_length: FxMap<usize, Vec<u32>>,
    /// Ids of templates with variable spans, ascending: they take lines of several lengths.
    span_ids: Vec<u32>,
    /// Hash of a line's token ids -> the template it joined.
    shape_cache: FxMap<u64, CachedShape>,
    /// The template last joined by a line starting with a given word: `(hash tag << 32) | id`,
    /// direct-mapped on the hash of the first token (empty until the first line). It tells
    /// masking which words to expect (see [`MaskedLine::fill_with_hint`]); a wrong guess only
    /// costs a few byte comparisons.
    hints: Vec<u64>,
    next_id: u32,
    lines: u64,
    evicted: u64,
    /// Interned-word count at which [`TemplateMiner::bound_memory`] runs next.
    memory_check_at: usize,
    /// Reused per-line buffers.
    scratch: Scratch,
}

#[derive(Clone, Debug, Default)]
struct Scratch {
    masked: MaskedLine,
    ids: Vec<u32>,
    spans: Vec<std::ops::Range<usize>>,
}

thread_local! {
    /// Per-thread buffer of [`TemplateMiner::match_only`], which takes `&self`.
    static MATCH_SCRATCH: std::cell::RefCell<MaskedLine> = std::cell::RefCell::new(MaskedLine::default());
}

/// Entries of [`TemplateMiner::hints`].
const HINT_SLOTS: usize = 256;

/// Above this many cached shapes the cache is cleared (it refills from the next lines).
const SHAPE_CACHE_LIMIT: usize = 1 << 17;

impl TemplateMiner {
    /// A miner with no templates.
    pub fn new(config: MinerConfig) -> Self {
        TemplateMiner {
            config,
            interner: Interner::new(),
            templates: FxMap::default(),
            by_length: FxMap::default(),
            span_ids: Vec::new(),
            shape_cache: FxMap::default(),
            hints: Vec::new(),
            next_id: 1,
            lines: 0,
            evicted: 0,
            memory_check_at: 4096,
            scratch: Scratch::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// Learns one message: it joins (and may generalise) the most similar template or starts one.
    pub fn learn(&mut self, content: &str) -> TemplateMatch {
        let mut spans = std::mem::take(&mut self.scratch.spans);
        let line = self.learn_line(content, &mut spans);
        let parameters = spans
            .iter()
            .map(|span| content.get(span.clone()).unwrap_or("").to_string())
            .collect();
        self.scratch.spans = spans;
        TemplateMatch {
            template_id: line.template_id,
            template: self
                .template(line.template_id)
                .unwrap_or_default()
                .to_string(),
            parameters,
            is_new: line.is_new,
            template_changed: line.template_changed,
        }
    }

    /// [`TemplateMiner::learn`] without allocating: `parameters` is cleared and filled with the byte
    /// range in `content` of each parameter (what [`TemplateMatch::parameters`] holds, in order); the
    /// template text is [`TemplateMiner::template`] of the returned id.
    pub fn learn_line(
        &mut self,
        content: &str,
        parameters: &mut Vec<std::ops::Range<usize>>,
    ) -> LineMatch {
        let hint_key = first_token_hash(content);
        let hinted = self.hinted_template(hint_key);
        // Looked up once: the line usually joins the hinted template.
        let mut hinted_template = hinted.and_then(|id| self.templates.get_mut(&id));
        let expected: &[TemplateSlot] = hinted_template
            .as_deref()
            .map_or(&[], |template| &template.slots);
        let interner = &self.interner;
        self.scratch
            .masked
            .fill_with_hint(content, |index| expected_word(interner, expected, index));
        // Fastest path: the line is the hinted template exactly (every literal word matched by the
        // hint, a variable at every wildcard, shown as the template shows it), so joining it
        // changes nothing: no shape hash, no cache lookup.
        if let (Some(id), Some(template)) = (hinted, hinted_template.as_deref_mut()) {
            if joins_unchanged(&self.interner, &template.slots, &self.scratch.masked) {
                self.lines += 1;
                count_unchanged_join(
                    template,
                    self.lines,
                    content,
                    &self.scratch.masked,
                    &self.interner,
                    parameters,
                );
                return LineMatch {
                    template_id: id,
                    is_new: false,
                    template_changed: false,
                };
            }
        }
        let shape_hash = hash_shapes(&self.scratch.masked);
        // Fast path: a shape seen before goes to the template it joined, without interning.
        let mut cached = None;
        if let Some(entry) = self.shape_cache.get(&shape_hash).copied() {
            let template = if hinted == Some(entry.template_id) {
                hinted_template.take()
            } else {
                self.templates.get_mut(&entry.template_id)
            };
            if let Some(template) = template {
                // Slots the hint matched already equal this template's words when the hint named it.
                let verified = if hinted == Some(entry.template_id) {
                    self.scratch.masked.hinted
                } else {
                    0
                };
                if literals_equal(
                    &self.interner,
                    &template.slots,
                    &self.scratch.masked,
                    verified,
                ) {
                    if entry.stable_at == template.version {
                        // Already absorbed by this template version: nothing to merge (one
                        // template lookup, no interning, no allocation).
                        self.lines += 1;
                        count_unchanged_join(
                            template,
                            self.lines,
                            content,
                            &self.scratch.masked,
                            &self.interner,
                            parameters,
                        );
                        if hinted != Some(entry.template_id) {
                            self.set_hint(hint_key, entry.template_id);
                        }
                        return LineMatch {
                            template_id: entry.template_id,
                            is_new: false,
                            template_changed: false,
                        };
                    }
                    cached = Some(entry);
                }
            }
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.ids.clear();
        if cached.is_none() {
            for slot in &scratch.masked.slots {
                let id = if slot.wildcard {
                    WILDCARD_ID
                } else {
                    let shape = scratch.masked.shape(slot);
                    match self.interner.get(shape) {
                        Some(id) => id,
                        None => {
                            let flags = self.word_flags(shape);
                            self.interner.intern(shape, flags)
                        }
                    }
                };
                scratch.ids.push(id);
            }
        }
        let result = self.learn_masked(&scratch.masked, &scratch.ids, shape_hash, cached);
        self.set_hint(hint_key, result.template_id);
        parameters.clear();
        if let Some(template) = self.templates.get(&result.template_id) {
            if template.slots.len() == scratch.masked.slots.len() {
                extract_parameters(
                    content,
                    &scratch.masked,
                    &template.slots,
                    &self.interner,
                    parameters,
                );
            } else if let Some(ranges) = self.span_align(template, &scratch.masked, &scratch.ids) {
                extract_aligned(
                    content,
                    &scratch.masked,
                    template,
                    &ranges,
                    &self.interner,
                    parameters,
                );
            }
        }
        self.scratch = scratch;
        result
    }

    fn learn_masked(
        &mut self,
        masked: &MaskedLine,
        ids: &[u32],
        shape_hash: u64,
        cached: Option<CachedShape>,
    ) -> LineMatch {
        self.lines += 1;
        let now = self.lines;
        // A cached shape already merged into this very template version changes nothing.
        if let Some(entry) = cached {
            if let Some(template) = self.templates.get_mut(&entry.template_id) {
                if entry.stable_at == template.version {
                    template.count += 1;
                    template.last_used = now;
                    return LineMatch {
                        template_id: entry.template_id,
                        is_new: false,
                        template_changed: false,
                    };
                }
            }
        }
        // Without a cached shape: a template with variable spans whose skeleton the line repeats,
        // else the most similar template of the same length, else one of another length whose
        // constant words the line repeats in order (it gains variable spans), else a new one.
        let mut join = Join::Same;
        let (id, is_new) = match cached {
            Some(entry) => (entry.template_id, false),
            None => {
                let cached_id = self.shape_cache.get(&shape_hash).map(|e| e.template_id);
                if let Some((id, ranges)) = self.span_candidate(masked, ids, cached_id) {
                    join = Join::Aligned(ranges);
                    (id, false)
                } else if let Some(id) = self.best_candidate(masked, ids) {
                    (id, false)
                } else if let Some((id, parts)) = self.align_merge(masked, ids) {
                    join = Join::Merged(parts);
                    (id, false)
                } else {
                    (self.create_template(ids.len()), true)
                }
            }
        };
        if cached.is_none() {
            // Memory checks run on the slow path only, and rarely: when a power of two of
            // interned words is crossed, or the cache outgrows the templates.
            if self.interner.texts.len() >= self.memory_check_at {
                self.bound_memory();
                self.memory_check_at = (2 * self.interner.texts.len()).max(4096);
            }
            let cache_limit = (32 * self.templates.len()).clamp(4096, SHAPE_CACHE_LIMIT);
            if self.shape_cache.len() >= cache_limit {
                self.shape_cache.clear();
            }
            self.shape_cache.insert(
                shape_hash,
                CachedShape {
                    template_id: id,
                    stable_at: NOT_STABLE,
                },
            );
        }

        // Merge the line into the template: differing words and displays generalise.
        let Some(template) = self.templates.get_mut(&id) else {
            // Unreachable: the id was just found or created.
            return LineMatch {
                template_id: id,
                is_new,
                template_changed: false,
            };
        };
        let mut changed = false;
        match join {
            Join::Same => {}
            Join::Aligned(ranges) => {
                for (slot_index, (slot, range)) in
                    template.slots.iter_mut().zip(&ranges).enumerate()
                {
                    if template.spans & span_bit(slot_index) != 0 || range.len() != 1 {
                        continue;
                    }
                    let Some(line_slot) = masked.slots.get(range.start) else {
                        continue;
                    };
                    let line_id = ids.get(range.start).copied().unwrap_or(WILDCARD_ID);
                    changed |=
                        merge_slot(&mut self.interner, slot, line_id, masked.shape(line_slot));
                }
                return self.finish_join(id, shape_hash, changed, now);
            }
            Join::Merged(parts) => {
                let old_length = template.slots.len();
                let mut slots = Vec::with_capacity(parts.len());
                let mut spans = 0u64;
                for part in &parts {
                    match part {
                        Part::Pair(t, l) => {
                            let Some(mut slot) = template.slots.get(*t).copied() else {
                                continue;
                            };
                            if template.spans & span_bit(*t) != 0 {
                                spans |= span_bit(slots.len());
                            } else if let Some(line_slot) = masked.slots.get(*l) {
                                let line_id = ids.get(*l).copied().unwrap_or(WILDCARD_ID);
                                merge_slot(
                                    &mut self.interner,
                                    &mut slot,
                                    line_id,
                                    masked.shape(line_slot),
                                );
                            }
                            slots.push(slot);
                        }
                        Part::Span(..) => {
                            spans |= span_bit(slots.len());
                            slots.push(TemplateSlot {
                                token: WILDCARD_ID,
                                display: WILDCARD_ID,
                            });
                        }
                    }
                }
                let was_spanned = template.spans != 0;
                template.slots = slots;
                template.spans = spans;
                if !was_spanned {
                    if let Some(list) = self.by_length.get_mut(&old_length) {
                        list.retain(|&other| other != id);
                    }
                    if let Err(at) = self.span_ids.binary_search(&id) {
                        self.span_ids.insert(at, id);
                    }
                }
                return self.finish_join(id, shape_hash, true, now);
            }
        }
        for (index, (slot, line_slot)) in template.slots.iter_mut().zip(&masked.slots).enumerate() {
            // On the fast path the literal words are known to be equal (and ids were not looked up).
            let line_id = ids.get(index).copied().unwrap_or(slot.token);
            if is_new {
                *slot = if line_id == WILDCARD_ID {
                    TemplateSlot {
                        token: WILDCARD_ID,
                        display: self.interner.intern(masked.shape(line_slot), 0),
                    }
                } else {
                    TemplateSlot {
                        token: line_id,
                        display: WILDCARD_ID,
                    }
                };
                continue;
            }
            if slot.token == line_id && line_id != WILDCARD_ID {
                continue;
            }
            // The line's text at this position: its word, or its wildcard shape.
            let line_text = masked.shape(line_slot);
            let current = if slot.token != WILDCARD_ID {
                slot.token
            } else {
                slot.display
            };
            if current == WILDCARD_ID || self.interner.get(line_text) == Some(current) {
                if slot.token != WILDCARD_ID {
                    slot.token = WILDCARD_ID;
                    slot.display = current;
                    changed = true;
                }
                continue;
            }
            let general = generalise(self.interner.text(current), line_text);
            let display = self.interner.intern(&general, 0);
            if slot.token != WILDCARD_ID || display != slot.display {
                *slot = TemplateSlot {
                    token: WILDCARD_ID,
                    display,
                };
                changed = true;
            }
        }
        template.count += 1;
        template.last_used = now;
        if is_new || changed {
            template.text = render(&template.slots, &self.interner);
            template.version = template.version.wrapping_add(1) % NOT_STABLE;
        } else if let Some(entry) = self.shape_cache.get_mut(&shape_hash) {
            // This shape is absorbed: until the template changes, its lines skip the merge.
            if entry.template_id == id {
                entry.stable_at = template.version;
            }
        }
        LineMatch {
            template_id: id,
            is_new,
            template_changed: changed && !is_new,
        }
    }

    /// Counts a line that joined template `id` through an alignment, and keeps its text current.
    fn finish_join(&mut self, id: u32, shape_hash: u64, changed: bool, now: u64) -> LineMatch {
        if let Some(template) = self.templates.get_mut(&id) {
            template.count += 1;
            template.last_used = now;
            if changed {
                template.text = render(&template.slots, &self.interner);
                template.version = template.version.wrapping_add(1) % NOT_STABLE;
            } else if let Some(entry) = self.shape_cache.get_mut(&shape_hash) {
                if entry.template_id == id {
                    entry.stable_at = template.version;
                }
            }
        }
        LineMatch {
            template_id: id,
            is_new: false,
            template_changed: changed,
        }
    }

    /// Whether the line word at `index` may sit in a variable span: a variable, or a word that
    /// names nothing (not protected, not capitals, not a plain word, not a field name).
    fn absorbable(&self, masked: &MaskedLine, ids: &[u32], index: usize) -> bool {
        let Some(&id) = ids.get(index) else {
            return false;
        };
        if id == WILDCARD_ID {
            return true;
        }
        if id == UNKNOWN_ID {
            let text = masked
                .slots
                .get(index)
                .map_or("", |slot| masked.shape(slot));
            span_word(text, self.word_flags(text))
        } else {
            span_word(self.interner.text(id), self.interner.flags(id))
        }
    }

    /// The first template with variable spans that the line fits (its cached template first):
    /// its id and, per template slot, the line slots it covers.
    fn span_candidate(
        &self,
        masked: &MaskedLine,
        ids: &[u32],
        cached: Option<u32>,
    ) -> Option<(u32, Vec<std::ops::Range<usize>>)> {
        if self.span_ids.is_empty() || ids.len() > MAX_ALIGNED_LINE {
            return None;
        }
        let first = cached
            .filter(|id| self.span_ids.binary_search(id).is_ok())
            .into_iter();
        for id in first.chain(self.span_ids.iter().copied()) {
            let Some(template) = self.templates.get(&id) else {
                continue;
            };
            if let Some(ranges) = self.span_align(template, masked, ids) {
                return Some((id, ranges));
            }
        }
        None
    }

    /// Matches the line against a template with variable spans: each literal slot equals one line
    /// word, each wildcard slot takes one line slot, each span one or more absorbable ones (the
    /// shortest that fits). Per template slot, the line slots it covers.
    fn span_align(
        &self,
        template: &Template,
        masked: &MaskedLine,
        ids: &[u32],
    ) -> Option<Vec<std::ops::Range<usize>>> {
        let (m, n) = (template.slots.len(), ids.len());
        // Quick rejections: the first word names the event; every slot needs a line slot.
        if n < m || template.slots.first()?.token != *ids.first()? {
            return None;
        }
        let width = n + 1;
        // ok[i * width + j]: template slots i.. match line slots j...
        let mut ok = vec![false; (m + 1) * width];
        *ok.get_mut(m * width + n)? = true;
        for i in (0..m).rev() {
            let slot = template.slots.get(i)?;
            let span = template.spans & span_bit(i) != 0;
            for j in (0..n).rev() {
                let next = ok.get((i + 1) * width + j + 1).copied().unwrap_or(false);
                let fits = if span {
                    self.absorbable(masked, ids, j)
                        && (next || ok.get(i * width + j + 1).copied().unwrap_or(false))
                } else if slot.token == WILDCARD_ID {
                    next
                } else {
                    next && ids.get(j) == Some(&slot.token)
                };
                if let Some(cell) = ok.get_mut(i * width + j) {
                    *cell = fits;
                }
            }
        }
        if !ok.first().copied().unwrap_or(false) {
            return None;
        }
        let mut ranges = Vec::with_capacity(m);
        let mut j = 0;
        for i in 0..m {
            let start = j;
            j += 1;
            if template.spans & span_bit(i) != 0 {
                while j < n && !ok.get((i + 1) * width + j).copied().unwrap_or(false) {
                    j += 1;
                }
            }
            ranges.push(start..j);
        }
        Some(ranges)
    }

    /// A template of another length whose constant words the line repeats in order (Spell's
    /// longest common subsequence), when what lies between them differs only by variable spans:
    /// each gap of the alignment becomes one span, provided it takes at least one slot of both
    /// the template and the line (a neighbouring variable joins it otherwise), none of its words
    /// names anything (see [`TemplateMiner::absorbable`]), the first slots agree, and the common
    /// words reach the similarity threshold of both the template and the line.
    fn align_merge(&self, masked: &MaskedLine, ids: &[u32]) -> Option<(u32, Vec<Part>)> {
        let n = ids.len();
        if n > MAX_ALIGNED_LINE || n == 0 {
            return None;
        }
        let line_literals = ids.iter().filter(|&&id| id != WILDCARD_ID).count();
        let mut best: Option<(f64, u64, u32, Vec<Part>)> = None;
        let candidates = self
            .by_length
            .iter()
            .filter(|(length, _)| **length != n && **length <= 64)
            .flat_map(|(_, list)| list.iter().rev().take(self.config.max_candidates.max(1)))
            .chain(self.span_ids.iter());
        for &id in candidates {
            let Some(template) = self.templates.get(&id) else {
                continue;
            };
            if template.slots.len() > 64
                || template.slots.first().map(|s| s.token) != ids.first().copied()
            {
                continue;
            }
            let Some((similarity, parts)) = self.align_parts(template, masked, ids, line_literals)
            else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((best_similarity, best_count, best_id, _)) => {
                    similarity > *best_similarity
                        || (similarity == *best_similarity
                            && (template.count, std::cmp::Reverse(id))
                                > (*best_count, std::cmp::Reverse(*best_id)))
                }
            };
            if better {
                best = Some((similarity, template.count, id, parts));
            }
        }
        best.map(|(_, _, id, parts)| (id, parts))
    }

    /// The alignment of [`TemplateMiner::align_merge`] with one template: its similarity (the
    /// lower of the template's and the line's shares of common constant words) and its parts.
    fn align_parts(
        &self,
        template: &Template,
        masked: &MaskedLine,
        ids: &[u32],
        line_literals: usize,
    ) -> Option<(f64, Vec<Part>)> {
        let slots = &template.slots;
        let (m, n) = (slots.len(), ids.len());
        let equal = |i: usize, j: usize| {
            let token = slots.get(i).map_or(UNKNOWN_ID, |s| s.token);
            ids.get(j) == Some(&token)
        };
        // lcs[i * width + j]: common subsequence length of template slots i.. and line slots j...
        let width = n + 1;
        let mut lcs = vec![0u16; (m + 1) * width];
        for i in (0..m).rev() {
            for j in (0..n).rev() {
                let cell = |a: usize, b: usize| lcs.get(a * width + b).copied().unwrap_or(0);
                let value = if equal(i, j) {
                    cell(i + 1, j + 1) + 1
                } else {
                    cell(i + 1, j).max(cell(i, j + 1))
                };
                if let Some(c) = lcs.get_mut(i * width + j) {
                    *c = value;
                }
            }
        }
        let cell = |a: usize, b: usize| lcs.get(a * width + b).copied().unwrap_or(0);
        // The matched pairs, in order.
        let mut pairs = Vec::new();
        let (mut i, mut j) = (0, 0);
        while i < m && j < n {
            if equal(i, j) && cell(i, j) == cell(i + 1, j + 1) + 1 {
                pairs.push((i, j));
                i += 1;
                j += 1;
            } else if cell(i + 1, j) >= cell(i, j + 1) {
                i += 1;
            } else {
                j += 1;
            }
        }
        if pairs.first() != Some(&(0, 0)) {
            return None;
        }
        // Parts: pairs, and spans for the gaps between them.
        let mut parts: Vec<Part> = Vec::with_capacity(pairs.len() + 4);
        let mut previous = (0usize, 0usize);
        for (index, &(ti, lj)) in pairs.iter().enumerate() {
            if index > 0 && (ti > previous.0 || lj > previous.1) {
                parts.push(Part::Span(previous.0..ti, previous.1..lj));
            }
            parts.push(Part::Pair(ti, lj));
            previous = (ti + 1, lj + 1);
        }
        if previous.0 < m || previous.1 < n {
            parts.push(Part::Span(previous.0..m, previous.1..n));
        }
        // A span empty on one side takes a neighbouring pair that is a variable, or a value-like
        // word (`frame:12` before a longer frame list): it needs a slot on both sides. Never the
        // first pair, which names the event.
        let wildcard_pair = |part: &Part| match part {
            Part::Pair(0, _) => false,
            Part::Pair(t, _) => slots.get(*t).is_some_and(|s| {
                s.token == WILDCARD_ID
                    || span_word(self.interner.text(s.token), self.interner.flags(s.token))
            }),
            Part::Span(..) => false,
        };
        let mut index = 0;
        while index < parts.len() {
            let lopsided =
                matches!(parts.get(index), Some(Part::Span(t, l)) if t.is_empty() || l.is_empty());
            if lopsided {
                let neighbour = if index > 0 && parts.get(index - 1).is_some_and(wildcard_pair) {
                    index - 1
                } else if parts.get(index + 1).is_some_and(wildcard_pair) {
                    index + 1
                } else {
                    return None;
                };
                let (Some(Part::Pair(nt, nl)), Some(Part::Span(t, l))) =
                    (parts.get(neighbour).cloned(), parts.get(index).cloned())
                else {
                    return None;
                };
                let joined = Part::Span(
                    t.start.min(nt)..t.end.max(nt + 1),
                    l.start.min(nl)..l.end.max(nl + 1),
                );
                let low = neighbour.min(index);
                parts.splice(low..low + 2, [joined]);
                index = low;
                continue;
            }
            index += 1;
        }
        // Adjacent spans are one span.
        let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
        for part in parts {
            if let (Some(Part::Span(t0, l0)), Part::Span(t1, l1)) = (merged.last_mut(), &part) {
                *t0 = t0.start..t1.end;
                *l0 = l0.start..l1.end;
                continue;
            }
            merged.push(part);
        }
        // The first slots must stay a pair; span words must name nothing.
        if !matches!(merged.first(), Some(Part::Pair(0, 0))) {
            return None;
        }
        let mut common = 0usize;
        for part in &merged {
            match part {
                Part::Pair(t, _) => {
                    if slots.get(*t).is_some_and(|s| s.token != WILDCARD_ID) {
                        common += 1;
                    }
                }
                Part::Span(t, l) => {
                    let template_ok = t.clone().all(|k| {
                        slots.get(k).is_some_and(|s| {
                            s.token == WILDCARD_ID
                                || span_word(
                                    self.interner.text(s.token),
                                    self.interner.flags(s.token),
                                )
                        })
                    });
                    if !template_ok || !l.clone().all(|k| self.absorbable(masked, ids, k)) {
                        return None;
                    }
                }
            }
        }
        let template_literals = slots.iter().filter(|s| s.token != WILDCARD_ID).count();
        if template_literals == 0 || line_literals == 0 {
            return None;
        }
        let similarity =
            (common as f64 / template_literals as f64).min(common as f64 / line_literals as f64);
        (similarity >= self.config.similarity_threshold).then_some((similarity, merged))
    }

    /// The slots of the hinted template (none without a hint).
    fn hint_slots(&self, hinted: Option<u32>) -> &[TemplateSlot] {
        hinted
            .and_then(|id| self.templates.get(&id))
            .map_or(&[], |template| &template.slots)
    }

    /// The template that the last line starting like this one joined (see [`TemplateMiner::hints`]).
    #[inline]
    fn hinted_template(&self, key: u64) -> Option<u32> {
        let entry = *self.hints.get(hint_index(key, self.hints.len()))?;
        (entry >> 32 == key >> 32 && entry != 0).then_some(entry as u32)
    }

    fn set_hint(&mut self, key: u64, template_id: u32) {
        // About two entries per template (a few hundred bytes for a small project), up to
        // `HINT_SLOTS`; growing drops the old entries, which refill from the next lines.
        let wanted = (2 * self.templates.len())
            .next_power_of_two()
            .clamp(64, HINT_SLOTS);
        if self.hints.len() < wanted {
            self.hints = vec![0; wanted];
        }
        let index = hint_index(key, self.hints.len());
        if let Some(entry) = self.hints.get_mut(index) {
            *entry = (key >> 32 << 32) | u64::from(template_id);
        }
    }

    /// Finds the template `content` belongs to without learning anything; `None` when the line
    /// would start a new template (a novel event).
    pub fn match_only(&self, content: &str) -> Option<TemplateMatch> {
        MATCH_SCRATCH.with(|cell| {
            let mut masked = cell.take();
            let expected = self.hint_slots(self.hinted_template(first_token_hash(content)));
            masked.fill_with_hint(content, |index| {
                expected_word(&self.interner, expected, index)
            });
            let result = self.match_masked(content, &masked);
            cell.replace(masked);
            result
        })
    }

    /// What a template started by `content` would look like, without learning it: its masked words
    /// (`<*>` for every variable part) and the values behind them, with id 0. The readable template of
    /// a line [`TemplateMiner::match_only`] finds no template for.
    pub fn describe_novel(&self, content: &str) -> TemplateMatch {
        MATCH_SCRATCH.with(|cell| {
            let mut masked = cell.take();
            masked.fill_with_hint(content, |_| None);
            let pieces: Vec<String> = masked
                .slots
                .iter()
                .map(|slot| masked.shape(slot).to_string())
                .collect();
            let parameters = extract_parameters_with(content, &masked, &pieces);
            cell.replace(masked);
            TemplateMatch {
                template_id: 0,
                template: pieces.join(" "),
                parameters,
                is_new: false,
                template_changed: false,
            }
        })
    }

    fn match_masked(&self, content: &str, masked: &MaskedLine) -> Option<TemplateMatch> {
        let shape_hash = hash_shapes(masked);
        let cached = self
            .shape_cache
            .get(&shape_hash)
            .map(|entry| entry.template_id)
            .filter(|id| {
                self.templates
                    .get(id)
                    .is_some_and(|t| literals_equal(&self.interner, &t.slots, masked, 0))
            });
        let ids: Vec<u32> = if cached.is_some() {
            Vec::new()
        } else {
            masked
                .slots
                .iter()
                .map(|slot| {
                    if slot.wildcard {
                        WILDCARD_ID
                    } else {
                        self.interner.get(masked.shape(slot)).unwrap_or(UNKNOWN_ID)
                    }
                })
                .collect()
        };
        if cached.is_none() {
            // The order of learning: a template with spans, one of the same length, an alignment.
            let cached_id = self.shape_cache.get(&shape_hash).map(|e| e.template_id);
            if let Some((id, ranges)) = self.span_candidate(masked, &ids, cached_id) {
                let template = self.templates.get(&id)?;
                let mut pieces = Vec::with_capacity(ranges.len());
                for (index, (slot, range)) in template.slots.iter().zip(&ranges).enumerate() {
                    let span = template.spans & span_bit(index) != 0;
                    pieces.push(self.piece(slot, span, masked, &ids, range.start));
                }
                return Some(aligned_match(id, content, masked, &pieces, &ranges));
            }
            if self.best_candidate(masked, &ids).is_none() {
                let (id, parts) = self.align_merge(masked, &ids)?;
                let template = self.templates.get(&id)?;
                let mut pieces = Vec::with_capacity(parts.len());
                let mut ranges = Vec::with_capacity(parts.len());
                for part in &parts {
                    match part {
                        Part::Pair(t, l) => {
                            let slot = template.slots.get(*t)?;
                            let span = template.spans & span_bit(*t) != 0;
                            pieces.push(self.piece(slot, span, masked, &ids, *l));
                            ranges.push(*l..*l + 1);
                        }
                        Part::Span(_, l) => {
                            pieces.push(WILDCARD.to_string());
                            ranges.push(l.clone());
                        }
                    }
                }
                return Some(aligned_match(id, content, masked, &pieces, &ranges));
            }
        }
        let id = cached.or_else(|| self.best_candidate(masked, &ids))?;
        let template = self.templates.get(&id)?;
        // What the template would become with this line, without storing it.
        let unchanged = template.slots.iter().zip(&masked.slots).enumerate().all(
            |(index, (slot, line_slot))| {
                if slot.token != WILDCARD_ID {
                    cached.is_some() || ids.get(index) == Some(&slot.token)
                } else {
                    slot.display == WILDCARD_ID
                        || self.interner.text(slot.display) == masked.shape(line_slot)
                }
            },
        );
        if unchanged {
            return Some(TemplateMatch {
                template_id: id,
                template: template.text.clone(),
                parameters: owned_parameters(content, masked, &template.slots, &self.interner),
                is_new: false,
                template_changed: false,
            });
        }
        let mut pieces: Vec<String> = Vec::with_capacity(template.slots.len());
        for (index, (slot, line_slot)) in template.slots.iter().zip(&masked.slots).enumerate() {
            let current = slot_text(slot, &self.interner);
            if slot.token != WILDCARD_ID && ids.get(index) == Some(&slot.token) {
                pieces.push(current.to_string());
                continue;
            }
            pieces.push(generalise(current, masked.shape(line_slot)));
        }
        let text = pieces.join(" ");
        let parameters = extract_parameters_with(content, masked, &pieces);
        Some(TemplateMatch {
            template_id: id,
            template: text,
            parameters,
            is_new: false,
            template_changed: false,
        })
    }

    /// What template slot `slot` shows once line slot `index` joined it (match-only).
    fn piece(
        &self,
        slot: &TemplateSlot,
        span: bool,
        masked: &MaskedLine,
        ids: &[u32],
        index: usize,
    ) -> String {
        let current = slot_text(slot, &self.interner);
        if span || (slot.token != WILDCARD_ID && ids.get(index) == Some(&slot.token)) {
            return current.to_string();
        }
        match masked.slots.get(index) {
            Some(line_slot) => generalise(current, masked.shape(line_slot)),
            None => current.to_string(),
        }
    }

    /// The most similar template of the same length that the line may join.
    fn best_candidate(&self, masked: &MaskedLine, ids: &[u32]) -> Option<u32> {
        let candidates = self.by_length.get(&ids.len())?;
        let mut best: Option<(f64, u64, u32)> = None;
        // Most recently created first: recent events are the likeliest.
        for &id in candidates
            .iter()
            .rev()
            .take(self.config.max_candidates.max(1))
        {
            let Some(template) = self.templates.get(&id) else {
                continue;
            };
            let Some(similarity) = self.similarity(&template.slots, masked, ids) else {
                continue;
            };
            if similarity < self.config.similarity_threshold {
                continue;
            }
            let better = match best {
                None => true,
                Some((best_similarity, best_count, _)) => {
                    similarity > best_similarity
                        || (similarity == best_similarity && template.count > best_count)
                }
            };
            if better {
                best = Some((similarity, template.count, id));
            }
        }
        best.map(|(_, _, id)| id)
    }

    /// Share of the template's literal words the line repeats; `None` when the line may not join
    /// (a word differs that must not become `<*>`).
    fn similarity(&self, slots: &[TemplateSlot], masked: &MaskedLine, ids: &[u32]) -> Option<f64> {
        let mut literals = 0u32;
        let mut equal = 0u32;
        let mut line_literals = 0u32;
        // A word that differs only because it sits in a value slot is allowed when it is the
        // line's only difference: `user root` / `user guest`, but not `interrupt: illegal
        // instruction......0` / `interrupt: privileged instruction...0`.
        let mut value_slot_differences = 0u32;
        let mut differences = 0u32;
        for (index, (slot, &line_id)) in slots.iter().zip(ids).enumerate() {
            if line_id != WILDCARD_ID {
                line_literals += 1;
            }
            if slot.token == WILDCARD_ID {
                continue;
            }
            literals += 1;
            if slot.token == line_id {
                equal += 1;
                continue;
            }
            differences += 1;
            match self.may_differ(slots, index, line_id, masked) {
                Difference::Forbidden => return None,
                // The same field with another value: the field name agrees.
                Difference::SameKey => equal += 1,
                Difference::ValueSlot => value_slot_differences += 1,
                Difference::Allowed => {}
            }
        }
        if value_slot_differences > 0 && differences > 1 {
            return None;
        }
        if literals == 0 {
            // An all-variable template only takes all-variable lines.
            return (line_literals == 0).then_some(1.0);
        }
        Some(f64::from(equal) / f64::from(literals))
    }

    /// Whether the template word at `index` may become `<*>` for a line with `line_id` there.
    ///
    /// Different plain words, capitals and field names usually mean different events
    /// (`Instance spawned` / `Instance destroyed`, `GET` / `POST`, `phoneId=<*>` / `retVal=<*>`),
    /// unless they sit in a value slot (`user root` / `user guest`, `EventType: A` / `EventType: B`).
    fn may_differ(
        &self,
        slots: &[TemplateSlot],
        index: usize,
        line_id: u32,
        masked: &MaskedLine,
    ) -> Difference {
        let Some(slot) = slots.get(index) else {
            return Difference::Forbidden;
        };
        let template_text = self.interner.text(slot.token);
        let template_class = self.interner.flags(slot.token);
        let value_slot = index > 0
            && slots.get(index - 1).is_some_and(|previous| {
                self.interner.flags(previous.token) & class::INTRODUCER != 0
            });
        let value_slot_only = || {
            if value_slot {
                Difference::ValueSlot
            } else {
                Difference::Forbidden
            }
        };
        if template_class & class::PROTECTED != 0 {
            return Difference::Forbidden;
        }
        if line_id == WILDCARD_ID {
            return if template_class & class::CAPITALS == 0 {
                Difference::Allowed
            } else {
                value_slot_only()
            };
        }
        let line_text = masked.slots.get(index).map_or("", |s| masked.shape(s));
        let line_class = if line_id == UNKNOWN_ID {
            self.word_flags(line_text)
        } else {
            self.interner.flags(line_id)
        };
        if line_class & class::PROTECTED != 0 || index < self.config.prefix_depth {
            return Difference::Forbidden;
        }
        // `key=` / `key=value`: the same field, once empty (unless the value is an enum).
        if let Some(value) = filled_value(template_text, line_text)
            .or_else(|| filled_value(line_text, template_text))
        {
            return if is_uppercase_word(trim_word(value)) {
                Difference::Forbidden
            } else {
                Difference::SameKey
            };
        }
        // `key=value` words: the same field with another value, unless the value is an enum.
        match (split_key(template_text), split_key(line_text)) {
            (Some((key_a, value_a)), Some((key_b, value_b))) => {
                let same = key_a == key_b
                    && !is_uppercase_word(trim_word(value_a))
                    && !is_uppercase_word(trim_word(value_b));
                return if same {
                    Difference::SameKey
                } else {
                    Difference::Forbidden
                };
            }
            (None, None) => {}
            _ => return Difference::Forbidden,
        }
        let both = template_class | line_class;
        if both & (class::CAPITALS | class::PLAIN) != 0 {
            return value_slot_only();
        }
        Difference::Allowed
    }

    fn create_template(&mut self, length: usize) -> u32 {
        let limit = self.config.max_templates.max(1);
        while self.templates.len() >= limit {
            self.evict_least_recent();
        }
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        self.templates.insert(
            id,
            Template {
                id,
                slots: vec![
                    TemplateSlot {
                        token: WILDCARD_ID,
                        display: WILDCARD_ID
                    };
                    length
                ],
                count: 0,
                last_used: self.lines,
                text: String::new(),
                version: 0,
                spans: 0,
            },
        );
        self.by_length.entry(length).or_default().push(id);
        id
    }

    fn evict_least_recent(&mut self) {
        let Some(oldest) = self
            .templates
            .values()
            .min_by_key(|template| (template.last_used, template.id))
            .map(|template| template.id)
        else {
            return;
        };
        if let Some(template) = self.templates.remove(&oldest) {
            if let Some(ids) = self.by_length.get_mut(&template.slots.len()) {
                ids.retain(|&id| id != oldest);
            }
            self.span_ids.retain(|&id| id != oldest);
            self.evicted += 1;
        }
    }

    /// Keeps memory proportional to the templates: words interned for lines that joined (or left)
    /// templates, and shapes cached for the fast path, are dropped when they dominate.
    fn bound_memory(&mut self) {
        let live_slots: usize = self.templates.values().map(|t| t.slots.len()).sum();
        if self.interner.texts.len() > (8 * live_slots).max(4096) {
            self.rebuild_interner();
        }
    }

    fn rebuild_interner(&mut self) {
        let old = std::mem::replace(&mut self.interner, Interner::new());
        for template in self.templates.values_mut() {
            for slot in &mut template.slots {
                if slot.token != WILDCARD_ID {
                    slot.token = self
                        .interner
                        .intern(old.text(slot.token), old.flags(slot.token));
                }
                slot.display = self.interner.intern(old.text(slot.display), 0);
            }
        }
        self.shape_cache.clear();
    }

    /// The word classes of a token shape (see [`class`]).
    fn word_flags(&self, shape: &str) -> u8 {
        let mut flags = 0;
        if masks_to_itself(shape) {
            flags |= class::IDENTITY;
        }
        if shape.contains(WILDCARD) {
            flags |= class::PARTIAL;
        }
        if shape.ends_with(':') || shape.ends_with('=') {
            flags |= class::INTRODUCER;
        }
        let word = trim_word(shape);
        // A word with a masked part (`<*>-WWID`) is not an enum value or a plain word.
        if word.is_empty() || flags & class::PARTIAL != 0 {
            return flags;
        }
        if NAME_INTRODUCERS
            .iter()
            .any(|noun| noun.eq_ignore_ascii_case(word))
        {
            flags |= class::INTRODUCER;
        }
        if self.config.protect_uppercase && is_uppercase_word(word) {
            flags |= class::CAPITALS;
        }
        if is_plain_word(word) {
            flags |= class::PLAIN;
        }
        if self
            .config
            .protected_tokens
            .iter()
            .any(|protected| protected.eq_ignore_ascii_case(word))
        {
            flags |= class::PROTECTED;
        }
        flags
    }

    /// The text of a template.
    pub fn template(&self, id: u32) -> Option<&str> {
        self.templates.get(&id).map(|t| t.text.as_str())
    }

    /// Every template, by id.
    pub fn templates(&self) -> Vec<TemplateInfo> {
        let mut all: Vec<TemplateInfo> = self
            .templates
            .values()
            .map(|t| TemplateInfo {
                id: t.id,
                template: t.text.clone(),
                count: t.count,
            })
            .collect();
        all.sort_by_key(|info| info.id);
        all
    }

    /// Number of templates kept.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// Whether no template was learned (or all were evicted).
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// Approximate heap bytes held by the miner (templates, interned words, caches): what one
    /// tenant's miner costs.
    pub fn approx_memory_bytes(&self) -> usize {
        let words: usize = self
            .interner
            .texts
            .iter()
            .map(|text| text.len() + 16 + 8 + 1 + 4 + 24)
            .sum();
        let templates: usize = self
            .templates
            .values()
            .map(|t| {
                std::mem::size_of::<Template>()
                    + 8
                    + t.slots.capacity() * 8
                    + t.text.capacity()
                    + 4 * 2
            })
            .sum();
        let lengths: usize = self
            .by_length
            .values()
            .map(|ids| 24 + 8 + ids.capacity() * 4)
            .sum::<usize>()
            + self.span_ids.capacity() * 4;
        let cache = self.shape_cache.capacity() * (1 + std::mem::size_of::<(u64, CachedShape)>())
            + self.hints.capacity() * 8;
        let scratch = self.scratch.masked.heap_bytes()
            + self.scratch.ids.capacity() * 4
            + self.scratch.spans.capacity() * std::mem::size_of::<std::ops::Range<usize>>();
        std::mem::size_of::<Self>() + words + templates + lengths + cache + scratch
    }

    /// Counters.
    pub fn stats(&self) -> MinerStats {
        MinerStats {
            templates: self.templates.len(),
            singletons: self.templates.values().filter(|t| t.count == 1).count(),
            lines: self.lines,
            evicted: self.evicted,
        }
    }

    /// A sentence for the user when the logs do not mine well (too many templates per line, mostly
    /// one-off templates, or the template limit reached); `None` when mining looks healthy.
    pub fn quality_warning(&self) -> Option<String> {
        let stats = self.stats();
        if stats.lines >= 200 {
            let per_line = stats.templates as f64 / stats.lines as f64;
            if per_line > 0.2 {
                return Some(format!(
                    "logs do not mine well: {} templates for {} lines ({:.0}%); check the header format \
                     or whether messages carry variables that are not masked",
                    stats.templates,
                    stats.lines,
                    per_line * 100.0
                ));
            }
        }
        if stats.templates >= 50 && stats.singletons * 2 > stats.templates {
            return Some(format!(
                "logs do not mine well: {} of {} templates were seen on a single line",
                stats.singletons, stats.templates
            ));
        }
        if stats.evicted > 0 {
            return Some(format!(
                "logs do not mine well: the template limit ({}) was reached and {} templates were evicted",
                self.config.max_templates, stats.evicted
            ));
        }
        None
    }
}

/// Whether every literal word of the template equals the line's shape at its position (the guard
/// of the shape cache against hash collisions). Slots whose bit is set in `verified` are known to.
fn literals_equal(
    interner: &Interner,
    slots: &[TemplateSlot],
    masked: &MaskedLine,
    verified: u64,
) -> bool {
    let shapes = masked.shapes.as_bytes();
    slots.len() == masked.slots.len()
        && slots
            .iter()
            .zip(&masked.slots)
            .enumerate()
            .all(|(index, (slot, line_slot))| {
                slot.token == WILDCARD_ID
                    || (index < 64 && verified & (1 << index) != 0)
                    || shapes.get(line_slot.shape_start as usize..line_slot.shape_end as usize)
                        == Some(interner.text(slot.token).as_bytes())
            })
}

/// Counts a line that joined `template` without changing it (line number `line`) and fills
/// `parameters` with the byte ranges of its values.
fn count_unchanged_join(
    template: &mut Template,
    line: u64,
    content: &str,
    masked: &MaskedLine,
    interner: &Interner,
    parameters: &mut Vec<std::ops::Range<usize>>,
) {
    template.count += 1;
    template.last_used = line;
    parameters.clear();
    extract_parameters(content, masked, &template.slots, interner, parameters);
}

/// Whether a line masked with the hint of this template (see [`MaskedLine::hinted`]) is the
/// template exactly: each literal word matched by the hint or equal to the line's literal shape
/// (`vis=<*>`), each wildcard slot a variable shown as the template shows it (or the template
/// shows a bare `<*>`). Merging such a line changes nothing.
fn joins_unchanged(interner: &Interner, slots: &[TemplateSlot], masked: &MaskedLine) -> bool {
    let shapes = masked.shapes.as_bytes();
    slots.len() == masked.slots.len()
        && slots.len() <= 64
        && slots
            .iter()
            .zip(&masked.slots)
            .enumerate()
            .all(|(index, (slot, line_slot))| {
                let shape =
                    shapes.get(line_slot.shape_start as usize..line_slot.shape_end as usize);
                if slot.token != WILDCARD_ID {
                    return masked.hinted & (1 << index) != 0
                        || (!line_slot.wildcard
                            && shape == Some(interner.text(slot.token).as_bytes()));
                }
                line_slot.wildcard
                    && (slot.display == WILDCARD_ID
                        || shape == Some(interner.text(slot.display).as_bytes()))
            })
}

/// The word a hinted template has at slot `index`, when masking keeps it as it is (see
/// [`MaskedLine::fill_with_hint`]).
#[inline]
fn expected_word<'a>(
    interner: &'a Interner,
    slots: &[TemplateSlot],
    index: usize,
) -> Option<&'a [u8]> {
    let slot = slots.get(index)?;
    // A word with a masked part (`vis=<*>`) never equals the line's text: no hint.
    (slot.token != WILDCARD_ID
        && interner.flags(slot.token) & (class::IDENTITY | class::PARTIAL) == class::IDENTITY)
        .then(|| interner.text(slot.token).as_bytes())
}

/// The entry for `key` of a direct-mapped table of `len` entries (a power of two), such as
/// [`TemplateMiner::hints`]: the top bits of the key mixed once more (Fibonacci hashing), so that
/// keys differing anywhere spread.
#[inline]
pub(crate) fn hint_index(key: u64, len: usize) -> usize {
    if len < 2 {
        return 0;
    }
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - len.trailing_zeros())) as usize
}

/// Hash of the first token of `content` (the key of [`TemplateMiner::hints`]).
fn first_token_hash(content: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(first_token(content.as_bytes()));
    hasher.finish()
}

/// Hash of a masked line's shapes (the shape bytes, then each slot's end and kind, so that slot
/// boundaries count).
fn hash_shapes(masked: &MaskedLine) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(masked.shapes.as_bytes());
    for slot in &masked.slots {
        hasher.add(u64::from(slot.shape_end) | (u64::from(slot.wildcard) << 32));
    }
    hasher.finish()
}

/// `GET`, `LOOKING`, `FAIL_TASK_CLEANUP`: three or more capitals, underscores allowed, no digit
/// (two-letter capitals are mostly units and abbreviations: `KB`, `ID`).
fn is_uppercase_word(word: &str) -> bool {
    let mut letters = 0;
    for byte in word.bytes() {
        if byte.is_ascii_uppercase() {
            letters += 1;
        } else if byte != b'_' {
            return false;
        }
    }
    letters >= 3
}

/// A word of letters (inner `-`/`'` allowed), or letters with one trailing digit (`ee0`).
fn is_plain_word(word: &str) -> bool {
    let body = match word.as_bytes().last() {
        Some(last) if last.is_ascii_digit() => &word[..word.len() - 1],
        _ => word,
    };
    !body.is_empty()
        && body.chars().next().is_some_and(char::is_alphabetic)
        && body
            .chars()
            .all(|c| c.is_alphabetic() || c == '-' || c == '\'')
}

/// The word without surrounding punctuation.
fn trim_word(shape: &str) -> &str {
    shape.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
}

/// `key=value`, `key:value` or `key.....value` (first `=`, else first `:`, else a run of three or
/// more dots): a literal key (no `<*>`) and a non-empty value.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let (at, separator_len) = match text.find('=').or_else(|| text.find(':')) {
        Some(at) => (at, 1),
        None => {
            let at = text.find("...")?;
            let dots = text[at..].bytes().take_while(|&b| b == b'.').count();
            (at, dots)
        }
    };
    let (key, value) = (&text[..at], &text[at + separator_len..]);
    // A key with a masked part (`<*>-M1-C:<*>`) is a compound value, not a field name.
    if key.contains(WILDCARD) {
        return None;
    }
    let key = key.trim_start_matches(|c: char| !c.is_alphanumeric());
    (!key.is_empty() && !value.is_empty()).then_some((key, value))
}

/// When `empty` is a field with no value (`key=`, `key:`) and `full` is the same field with one
/// (`key=42`, `key=<*>,`): the value. An empty value is a value like any other (what varies is
/// the value, not the field).
fn filled_value<'a>(empty: &str, full: &'a str) -> Option<&'a str> {
    let key = empty.strip_suffix(['=', ':'])?;
    (key.bytes().any(|b| b.is_ascii_alphanumeric()) && !key.contains(WILDCARD))
        .then(|| full.strip_prefix(empty))
        .flatten()
        .filter(|value| !value.is_empty())
}

/// The display of two texts at one position: equal texts stay, otherwise `<*>` keeps the
/// punctuation both share around it (`spawned,` + `gone,` -> `<*>,`; `(<*>)` + `<*>` -> `<*>`).
fn generalise(a: &str, b: &str) -> String {
    if a == b {
        return a.to_string();
    }
    // An empty field and a filled one: `key=` + `key=5` -> `key=<*>`.
    for (empty, full) in [(a, b), (b, a)] {
        if filled_value(empty, full).is_some() {
            return format!("{empty}{WILDCARD}");
        }
    }
    // The same field keeps its name: `name=a,` + `name=b,` -> `name=<*>,`.
    if let (Some((key_a, value_a)), Some((key_b, value_b))) = (split_key(a), split_key(b)) {
        let (head_a, head_b) = (&a[..a.len() - value_a.len()], &b[..b.len() - value_b.len()]);
        if key_a == key_b && head_a == head_b {
            let tail = generalise(value_a, value_b);
            return format!("{head_a}{tail}");
        }
    }
    // A typed value keeps its type: `ComponentInfo{a/b}` + `ComponentInfo{c/d}` -> `ComponentInfo{<*>}`.
    if let Some(open) = a.find(['{', '(', '[']) {
        let head = &a[..=open];
        if open > 0
            && b.starts_with(head)
            && head[..open]
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_')
        {
            let tail = generalise(&a[open + 1..], &b[open + 1..]);
            return format!("{head}{tail}");
        }
    }
    let is_affix =
        |c: &char| !c.is_alphanumeric() && !c.is_whitespace() && !matches!(c, '<' | '*' | '>');
    let prefix: String = a
        .chars()
        .zip(b.chars())
        .take_while(|(x, y)| x == y && is_affix(x))
        .map(|(x, _)| x)
        .collect();
    let a_rest = &a[prefix.len()..];
    let b_rest = &b[prefix.len()..];
    let mut suffix: Vec<char> = a_rest
        .chars()
        .rev()
        .zip(b_rest.chars().rev())
        .take_while(|(x, y)| x == y && is_affix(x))
        .map(|(x, _)| x)
        .collect();
    // Leave at least nothing overlapping: the hole sits between prefix and suffix.
    let limit = a_rest.chars().count().min(b_rest.chars().count());
    suffix.truncate(limit);
    suffix.reverse();
    let suffix: String = suffix.into_iter().collect();
    format!("{prefix}{WILDCARD}{suffix}")
}

/// What a template slot shows: its word, or its display.
fn slot_text<'a>(slot: &TemplateSlot, interner: &'a Interner) -> &'a str {
    if slot.token != WILDCARD_ID {
        interner.text(slot.token)
    } else {
        interner.text(slot.display)
    }
}

fn render(slots: &[TemplateSlot], interner: &Interner) -> String {
    let mut text = String::new();
    for (index, slot) in slots.iter().enumerate() {
        if index > 0 {
            text.push(' ');
        }
        text.push_str(slot_text(slot, interner));
    }
    text
}

/// The byte ranges in `content` of the values behind each `<*>` of the template, slot by slot.
fn extract_parameters(
    content: &str,
    masked: &MaskedLine,
    slots: &[TemplateSlot],
    interner: &Interner,
    out: &mut Vec<std::ops::Range<usize>>,
) {
    // The hot path of known lines: `extract_slot` is inlined into this loop (a call cost ~5%).
    for (slot, line_slot) in slots.iter().zip(&masked.slots) {
        extract_slot(content, line_slot, slot, interner, out);
    }
}

/// The values behind one template slot at one line slot.
#[inline(always)]
fn extract_slot(
    content: &str,
    line_slot: &Slot,
    slot: &TemplateSlot,
    interner: &Interner,
    out: &mut Vec<std::ops::Range<usize>>,
) {
    let start = line_slot.text_start as usize;
    let pattern = if slot.token == WILDCARD_ID {
        if slot.display == WILDCARD_ID {
            out.push(start..line_slot.text_end as usize);
            return;
        }
        slot.display
    } else if interner.flags(slot.token) & class::PARTIAL != 0 {
        slot.token
    } else {
        return;
    };
    let text = slot_source(content, line_slot);
    let hole = interner.hole(pattern);
    if hole == NO_SINGLE_HOLE {
        match_pattern(interner.text(pattern), text, start, out);
    } else {
        match_single_hole(interner.text(pattern), hole as usize, text, start, out);
    }
}

/// [`extract_parameters`] for a template with variable spans, given the line slots each template
/// slot covers: a span's value is the text from its first line slot to its last.
fn extract_aligned(
    content: &str,
    masked: &MaskedLine,
    template: &Template,
    ranges: &[std::ops::Range<usize>],
    interner: &Interner,
    out: &mut Vec<std::ops::Range<usize>>,
) {
    for (index, (slot, range)) in template.slots.iter().zip(ranges).enumerate() {
        let (Some(first), Some(last)) = (
            masked.slots.get(range.start),
            range
                .end
                .checked_sub(1)
                .and_then(|end| masked.slots.get(end)),
        ) else {
            continue;
        };
        if template.spans & span_bit(index) != 0 && range.len() > 1 {
            out.push(first.text_start as usize..last.text_end as usize);
        } else {
            extract_slot(content, first, slot, interner, out);
        }
    }
}

/// [`match_pattern`] for a pattern whose only `<*>` starts at `hole`: strip the literal prefix
/// and suffix; the whole text when they do not fit.
#[inline]
fn match_single_hole(
    pattern: &str,
    hole: usize,
    text: &str,
    base: usize,
    out: &mut Vec<std::ops::Range<usize>>,
) {
    let (prefix, suffix) = (
        pattern.get(..hole).unwrap_or(""),
        pattern.get(hole + WILDCARD.len()..).unwrap_or(""),
    );
    let fits = text.len() >= prefix.len() + suffix.len()
        && text.starts_with(prefix)
        && text.ends_with(suffix);
    out.push(if fits {
        base + prefix.len()..base + text.len() - suffix.len()
    } else {
        base..base + text.len()
    });
}

/// [`extract_parameters`] as owned strings.
fn owned_parameters(
    content: &str,
    masked: &MaskedLine,
    slots: &[TemplateSlot],
    interner: &Interner,
) -> Vec<String> {
    let mut spans = Vec::with_capacity(slots.len().min(8));
    extract_parameters(content, masked, slots, interner, &mut spans);
    spans_to_strings(content, &spans)
}

fn spans_to_strings(content: &str, spans: &[std::ops::Range<usize>]) -> Vec<String> {
    spans
        .iter()
        .map(|span| content.get(span.clone()).unwrap_or("").to_string())
        .collect()
}

/// [`extract_parameters`] with the slot texts given.
fn extract_parameters_with(content: &str, masked: &MaskedLine, pieces: &[String]) -> Vec<String> {
    let mut spans = Vec::new();
    for (piece, line_slot) in pieces.iter().zip(&masked.slots) {
        let start = line_slot.text_start as usize;
        let text = slot_source(content, line_slot);
        if piece == WILDCARD {
            spans.push(start..start + text.len());
        } else if has_wildcard(piece) {
            match_pattern(piece, text, start, &mut spans);
        }
    }
    spans_to_strings(content, &spans)
}

/// The match-only result of a line joining template `id` through an alignment: the template's
/// pieces and, per piece, the line slots it covers (a span's value runs from the first to the last).
fn aligned_match(
    id: u32,
    content: &str,
    masked: &MaskedLine,
    pieces: &[String],
    ranges: &[std::ops::Range<usize>],
) -> TemplateMatch {
    let mut spans = Vec::new();
    for (piece, range) in pieces.iter().zip(ranges) {
        let (Some(first), Some(last)) = (
            masked.slots.get(range.start),
            range
                .end
                .checked_sub(1)
                .and_then(|end| masked.slots.get(end)),
        ) else {
            continue;
        };
        let start = first.text_start as usize;
        if range.len() > 1 {
            spans.push(start..last.text_end as usize);
        } else if piece == WILDCARD {
            spans.push(start..first.text_end as usize);
        } else if has_wildcard(piece) {
            match_pattern(piece, slot_source(content, first), start, &mut spans);
        }
    }
    TemplateMatch {
        template_id: id,
        template: pieces.join(" "),
        parameters: spans_to_strings(content, &spans),
        is_new: false,
        template_changed: false,
    }
}

/// `text.contains("<*>")`, without building a substring searcher.
fn has_wildcard(text: &str) -> bool {
    text.as_bytes().windows(3).any(|w| w == b"<*>")
}

fn slot_source<'a>(content: &'a str, slot: &Slot) -> &'a str {
    content
        .get(slot.text_start as usize..slot.text_end as usize)
        .unwrap_or("")
}

/// Matches `pattern` (literal text with `<*>` holes, single spaces) against `text` (which starts at
/// byte `base` of the message) and pushes the range each hole covers. Falls back to the whole text
/// for the first hole (and empty ranges for the others) when the literal parts are not found.
fn match_pattern(pattern: &str, text: &str, base: usize, out: &mut Vec<std::ops::Range<usize>>) {
    // One hole (`<*>,`, `(<*>)`, `key=<*>`), the common case: a prefix and a suffix to strip.
    if let Some(at) = find_bytes(pattern.as_bytes(), WILDCARD.as_bytes()) {
        let (prefix, suffix) = (&pattern[..at], &pattern[at + WILDCARD.len()..]);
        if find_bytes(suffix.as_bytes(), WILDCARD.as_bytes()).is_none() {
            let hole = text.strip_prefix(prefix).and_then(|rest| {
                (rest.len() >= suffix.len() && rest.ends_with(suffix))
                    .then(|| prefix.len()..text.len() - suffix.len())
            });
            out.push(match hole {
                Some(hole) => base + hole.start..base + hole.end,
                None => base..base + text.len(),
            });
            return;
        }
    }
    let holes = wildcard_pieces(pattern).count() - 1;
    let last = holes;
    let start_len = out.len();
    let mut position = 0usize;
    let mut ok = true;
    for (index, piece) in wildcard_pieces(pattern).enumerate() {
        let rest = text.get(position..).unwrap_or("");
        if index == 0 {
            match rest.strip_prefix(piece) {
                Some(_) => position += piece.len(),
                None => {
                    ok = false;
                    break;
                }
            }
            continue;
        }
        // The hole before this piece ends where the piece starts (the last piece must be a suffix).
        let found = if index == last {
            if piece.is_empty() {
                Some(rest.len())
            } else if rest.len() >= piece.len() && rest.ends_with(piece) {
                Some(rest.len() - piece.len())
            } else {
                None
            }
        } else if piece.is_empty() {
            // Two holes glued together: give the first one character... or nothing; keep it whole.
            Some(0)
        } else {
            find_piece(rest, piece)
        };
        let Some(at) = found else {
            ok = false;
            break;
        };
        let hole_start = base + position;
        out.push(hole_start..hole_start + at);
        position += at + piece.len();
    }
    if !ok {
        out.truncate(start_len);
        out.push(base..base + text.len());
        let end = base + text.len();
        for _ in 1..holes {
            out.push(end..end);
        }
    }
}

/// `text.split("<*>")`, without building a two-way searcher per call (patterns are a few bytes).
fn wildcard_pieces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match find_bytes(current.as_bytes(), WILDCARD.as_bytes()) {
            // `<*>` is ASCII: both cuts are char boundaries.
            Some(at) => {
                rest = current.get(at + WILDCARD.len()..);
                current.get(..at)
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Finds `piece` in `text`, where a space in the piece matches any run of whitespace.
fn find_piece(text: &str, piece: &str) -> Option<usize> {
    if !piece.contains(' ') {
        // A hole matches at least one character.
        let rest = text.get(1..)?;
        return find_bytes(rest.as_bytes(), piece.as_bytes())
            .map(|at| at + 1)
            .or_else(|| find_bytes(text.as_bytes(), piece.as_bytes()));
    }
    find_bytes(text.as_bytes(), piece.as_bytes())
}

/// First occurrence of `needle` in `haystack` (both short: one token and a few punctuation
/// bytes), without the setup cost of a two-way searcher. Byte offsets of a `&str` needle found in
/// a `&str` haystack are char boundaries.
fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut from = 0;
    while from + needle.len() <= haystack.len() {
        let at = from + haystack[from..].iter().position(|&b| b == first)?;
        if haystack.get(at + 1..at + needle.len()) == Some(tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Serialized form of [`TemplateMiner`].
#[derive(Clone, Debug, Serialize, Deserialize)]
struct MinerState {
    config: MinerConfig,
    next_id: u32,
    lines: u64,
    evicted: u64,
    templates: Vec<TemplateState>,
    /// The shape cache (see [`encode_shapes`]): `match_only` consults it before its candidate scan,
    /// so a reloaded miner without it could assign a known line another template, or none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    shapes: String,
}

/// The shape cache as base64 of `(shape hash: u64 LE, template id: u32 LE)` pairs, sorted by hash so
/// equal caches serialize equally.
fn encode_shapes(cache: &FxMap<u64, CachedShape>) -> String {
    use base64::Engine;
    let mut entries: Vec<(u64, u32)> = cache
        .iter()
        .map(|(hash, entry)| (*hash, entry.template_id))
        .collect();
    entries.sort_unstable();
    let mut bytes = Vec::with_capacity(entries.len() * 12);
    for (hash, id) in entries {
        bytes.extend_from_slice(&hash.to_le_bytes());
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// The entries [`encode_shapes`] wrote; a malformed cache decodes to none (it only speeds lines up
/// and keeps restarts exact; the templates are what matter).
fn decode_shapes(text: &str) -> Vec<(u64, u32)> {
    use base64::Engine;
    let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(text) else {
        return Vec::new();
    };
    bytes
        .chunks_exact(12)
        .filter_map(|chunk| {
            let hash = u64::from_le_bytes(chunk.get(..8)?.try_into().ok()?);
            let id = u32::from_le_bytes(chunk.get(8..)?.try_into().ok()?);
            Some((hash, id))
        })
        .collect()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TemplateState {
    id: u32,
    count: u64,
    last_used: u64,
    slots: Vec<SlotState>,
}

/// A literal word (`word`), or a wildcard (`word` absent) with its shared display, if any.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SlotState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    word: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display: Option<String>,
    /// A variable span (one or more line slots).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    span: bool,
}

impl From<TemplateMiner> for MinerState {
    fn from(miner: TemplateMiner) -> Self {
        let mut templates: Vec<TemplateState> = miner
            .templates
            .values()
            .map(|template| TemplateState {
                id: template.id,
                count: template.count,
                last_used: template.last_used,
                slots: template
                    .slots
                    .iter()
                    .enumerate()
                    .map(|(index, slot)| SlotState {
                        word: (slot.token != WILDCARD_ID)
                            .then(|| miner.interner.text(slot.token).to_string()),
                        display: (slot.token == WILDCARD_ID && slot.display != WILDCARD_ID)
                            .then(|| miner.interner.text(slot.display).to_string()),
                        span: template.spans & span_bit(index) != 0,
                    })
                    .collect(),
            })
            .collect();
        templates.sort_by_key(|t| t.id);
        MinerState {
            shapes: encode_shapes(&miner.shape_cache),
            config: miner.config,
            next_id: miner.next_id,
            lines: miner.lines,
            evicted: miner.evicted,
            templates,
        }
    }
}

impl From<MinerState> for TemplateMiner {
    fn from(state: MinerState) -> Self {
        let mut miner = TemplateMiner::new(state.config);
        miner.lines = state.lines;
        miner.evicted = state.evicted;
        let mut next_id = state.next_id.max(1);
        for saved in state.templates {
            if saved.id == 0 || miner.templates.contains_key(&saved.id) {
                continue;
            }
            next_id = next_id.max(saved.id.saturating_add(1));
            let slots: Vec<TemplateSlot> = saved
                .slots
                .iter()
                .map(|slot| match &slot.word {
                    Some(word) if word != WILDCARD => {
                        let flags = miner.word_flags(word);
                        TemplateSlot {
                            token: miner.interner.intern(word, flags),
                            display: WILDCARD_ID,
                        }
                    }
                    _ => TemplateSlot {
                        token: WILDCARD_ID,
                        display: slot
                            .display
                            .as_deref()
                            .map_or(WILDCARD_ID, |display| miner.interner.intern(display, 0)),
                    },
                })
                .collect();
            let text = render(&slots, &miner.interner);
            let spans = saved
                .slots
                .iter()
                .enumerate()
                .filter(|(_, slot)| slot.span)
                .fold(0u64, |bits, (index, _)| bits | span_bit(index));
            if spans == 0 {
                miner
                    .by_length
                    .entry(slots.len())
                    .or_default()
                    .push(saved.id);
            } else if let Err(at) = miner.span_ids.binary_search(&saved.id) {
                miner.span_ids.insert(at, saved.id);
            }
            miner.templates.insert(
                saved.id,
                Template {
                    id: saved.id,
                    slots,
                    count: saved.count,
                    last_used: saved.last_used,
                    text,
                    version: 0,
                    spans,
                },
            );
        }
        miner.next_id = next_id;
        for (hash, template_id) in decode_shapes(&state.shapes) {
            if miner.templates.contains_key(&template_id) {
                miner.shape_cache.insert(
                    hash,
                    CachedShape {
                        template_id,
                        stable_at: NOT_STABLE,
                    },
                );
            }
        }
        miner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner() -> TemplateMiner {
        TemplateMiner::new(MinerConfig::default())
    }

    #[test]
    fn groups_and_generalises() {
        let mut miner = miner();
        let first = miner.learn("PacketResponder 1 for block blk_38865049064139660 terminating");
        assert!(first.is_new);
        assert_eq!(
            first.template,
            "PacketResponder <*> for block <*> terminating"
        );
        assert_eq!(first.parameters, ["1", "blk_38865049064139660"]);
        let second =
            miner.learn("PacketResponder 2 for block blk_-6952295868487656571 terminating");
        assert_eq!(second.template_id, first.template_id);
        assert!(!second.is_new && !second.template_changed);
        assert_eq!(second.parameters, ["2", "blk_-6952295868487656571"]);

        let user_a = miner.learn("session opened for user alice by sshd");
        let user_b = miner.learn("session opened for user bob by sshd");
        assert_eq!(user_a.template_id, user_b.template_id);
        assert!(user_b.template_changed);
        assert_eq!(user_b.template, "session opened for user <*> by sshd");
        assert_eq!(user_b.parameters, ["bob"]);
        assert_eq!(miner.len(), 2);
    }

    #[test]
    fn a_novel_line_is_described_as_the_template_it_would_start() {
        let mut miner = miner();
        miner.learn("PacketResponder 1 for block blk_38865049064139660 terminating");
        for line in [
            "Component (HWID=1973) is ambient=30 at (/var/lib/x):",
            "Verification succeeded for blk_-6952295868487656571",
            "",
        ] {
            assert!(miner.match_only(line).is_none() || line.is_empty());
            let described = miner.describe_novel(line);
            let learned = miner.clone().learn(line);
            assert_eq!(described.template_id, 0);
            assert_eq!(described.template, learned.template, "{line:?}");
            assert_eq!(described.parameters, learned.parameters, "{line:?}");
        }
        assert!(!miner
            .describe_novel("Verification succeeded for blk_1")
            .template
            .is_empty());
    }

    #[test]
    fn partial_tokens_give_parameters() {
        let mut miner = miner();
        let matched = miner.learn("Component (HWID=1973) is ambient=30 at (/var/lib/x):");
        assert_eq!(
            matched.template,
            "Component (HWID=<*>) is ambient=<*> at (<*>):"
        );
        assert_eq!(matched.parameters, ["1973", "30", "/var/lib/x"]);
    }

    #[test]
    fn varying_token_counts_share_a_template() {
        let mut miner = miner();
        let one = miner.learn("BLOCK* ask 10.250.18.114:50010 to delete blk_1");
        let three = miner.learn("BLOCK* ask 10.250.18.114:50010 to delete blk_1 blk_2 blk_-3");
        assert_eq!(one.template_id, three.template_id);
        assert_eq!(three.template, "BLOCK* ask <*> to delete <*>");
        assert_eq!(
            three.parameters,
            ["10.250.18.114:50010", "blk_1 blk_2 blk_-3"]
        );
    }

    /// Synthetic (no Loghub line): one event whose variable part is a list of 1, 2 or 3 entries
    /// (a bracketed list, a trailing frame list) keeps one template in either order, its values
    /// are the whole span, and `match_only` agrees with learning, also after a reload; events
    /// with other constant words do not merge.
    #[test]
    fn variable_spans_of_different_lengths_share_a_template() {
        let lists = [
            "[com.example.Pool.run]",
            "[com.example.Pool.run com.example.Task.call]",
            "[com.example.Pool.run com.example.Task.call com.example.Main.main]",
        ];
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let mut miner = miner();
            let mut ids = Vec::new();
            for &index in &order {
                let line = format!(
                    "Recovering frames {} for worker w-7 after 3 tries",
                    lists[index]
                );
                let learned = miner.learn(&line);
                ids.push(learned.template_id);
            }
            assert!(
                ids.iter().all(|&id| id == ids[0]),
                "{order:?}: {:?}",
                miner.templates()
            );
            let called = [
                "Skipped 30 frames called by com.a.B.c:1",
                "Skipped 12 frames called by com.a.B.c:1 com.d.E.f:2",
                "Skipped 7 frames called by com.a.B.c:1 com.d.E.f:2 com.g.H.i:3",
            ];
            let called_ids: Vec<u32> = called
                .iter()
                .map(|line| miner.learn(line).template_id)
                .collect();
            assert!(
                called_ids.iter().all(|&id| id == called_ids[0]),
                "{:?}",
                miner.templates()
            );
            assert_ne!(called_ids[0], ids[0]);
            // Other constant words: other events.
            let other = miner
                .learn("Recovering frames [com.example.Pool.run] from worker w-7 after 3 tries");
            assert_ne!(other.template_id, ids[0]);
            let dropped = miner.learn("Dropping frames [com.example.Pool.run com.example.Task.call] for worker w-7 after 3 tries");
            assert_ne!(dropped.template_id, ids[0]);
            // `-` is an empty value inside a span; a marker (`****`) is not a value.
            let full = miner
                .learn("Handled request [req-a1b2 user-7 - - -] in 5 steps of the main pipeline");
            let empty = miner.learn("Handled request [-] in 5 steps of the main pipeline");
            assert_eq!(
                full.template_id,
                empty.template_id,
                "{:?}",
                miner.templates()
            );
            let speeds = miner.learn("Sensor speeds ( 3552 3534 3375 ) now");
            let failed = miner.learn("Sensor speeds ( 3552 **** 3375 ) now");
            assert_ne!(speeds.template_id, failed.template_id);
            let reloaded = reloaded(&miner);
            for list in &lists {
                let line = format!("Recovering frames {list} for worker w-7 after 3 tries");
                let learned = miner.clone().learn(&line);
                for copy in [&miner, &reloaded] {
                    let matched = copy.match_only(&line).expect("a known event");
                    assert_eq!(matched.template_id, learned.template_id, "{line}");
                    assert_eq!(matched.template, learned.template, "{line}");
                    assert_eq!(matched.parameters, learned.parameters, "{line}");
                    assert!(
                        matched.parameters.iter().any(|p| p.starts_with("[com")),
                        "{matched:?}"
                    );
                }
            }
        }
    }

    /// Synthetic renderings of one event (no Loghub line): a value with or without its unit,
    /// another unit, an empty value, a date written two ways; each lands in one template, while
    /// events that differ in a word do not merge.
    #[test]
    fn one_event_rendered_differently_keeps_one_template() {
        let mut miner = miner();
        let took: Vec<u32> = [
            "Took 1.5 seconds to build the index",
            "Took 90 ms to build the index",
            "Took 12ms to build the index",
            "Took 3 minutes to build the index",
        ]
        .iter()
        .map(|line| miner.learn(line).template_id)
        .collect();
        assert!(took.iter().all(|&id| id == took[0]), "{took:?}");
        let matched = miner.learn("Took 2 hours to build the index");
        assert_eq!(matched.template_id, took[0]);
        assert_eq!(matched.template, "Took <*> to build the index");
        assert_eq!(matched.parameters, ["2 hours"]);

        let copied = miner.learn("Copied 300 bytes in 5 ms");
        let copied_kb = miner.learn("Copied 2 KB in 1 seconds");
        assert_eq!(copied.template_id, copied_kb.template_id);

        let empty = miner.learn("Set option name= for peer x");
        let filled = miner.learn("Set option name=fast for peer x");
        assert_eq!(empty.template_id, filled.template_id);
        assert_eq!(filled.template, "Set option name=<*> for peer x");
        assert_eq!(filled.parameters, ["fast"]);
        let again = miner.learn("Set option name= for peer x");
        assert_eq!(again.template_id, empty.template_id);
        assert_eq!(again.parameters, [""]);

        let dated = miner.learn("Backup finished at Jul 1 09:00:55 2017 on disk");
        let iso = miner.learn("Backup finished at 2017-07-01 09:00:55 on disk");
        assert_eq!(dated.template_id, iso.template_id);

        // Different events stay apart.
        let destroy = miner.learn("Took 1.5 seconds to destroy the index");
        assert_ne!(destroy.template_id, took[0]);
        let started = miner.learn("Server started in 5 ms");
        let stopped = miner.learn("Server stopped in 5 ms");
        assert_ne!(started.template_id, stopped.template_id);
        let blank = miner.learn("Switch mode= on link y");
        let upper = miner.learn("Switch mode=FAST on link y");
        assert_ne!(blank.template_id, upper.template_id, "an enum value");
    }

    #[test]
    fn compound_ids_with_a_colon_are_values_not_fields() {
        // A location id (`R02-M1-N0-C:J12-U11`) masks to `<*>-M1-N0-C:<*>-<*>`: the part before
        // its `:` has a masked piece, so it is no field name, and ids of other nodes join.
        let mut miner = miner();
        let first =
            miner.learn("- 1117838570 R02-M1-N0-C:J12-U11 RAS KERNEL INFO generating core.12");
        let other =
            miner.learn("- 1117838976 R03-M1-N7-C:J12-U01 RAS KERNEL INFO generating core.40");
        assert_eq!(first.template_id, other.template_id);
        // Real fields keep their names: another key is another event.
        let user = miner.learn("session 5 opened key user:alice");
        let group = miner.learn("session 6 opened key group:alice");
        assert_ne!(user.template_id, group.template_id);
    }

    #[test]
    fn protected_words_are_normalised_and_one_list_is_shared_by_every_default_miner() {
        let a = TemplateMiner::new(MinerConfig::default());
        let json = serde_json::to_string(&a).unwrap();
        let b: TemplateMiner = serde_json::from_str(&json).unwrap();
        // The default list read back from storage is the process's one copy, not a new one.
        assert!(Arc::ptr_eq(
            &a.config().protected_tokens.0,
            &b.config().protected_tokens.0
        ));
        assert!(a.config().protected_tokens.contains(&"failed".to_string()));
        let custom = ProtectedWords::new([" Halted ", "", "OK"]);
        assert_eq!(&*custom, ["halted".to_string(), "ok".to_string()]);
        let back: ProtectedWords =
            serde_json::from_str(&serde_json::to_string(&custom).unwrap()).unwrap();
        assert_eq!(back, custom);
        assert!(ProtectedWords::none().is_empty());
    }

    #[test]
    fn protected_tokens_split_events() {
        let mut miner = miner();
        // In a value slot (after `state:`) words may vary, but not protected ones.
        let started = miner.learn("Job 12 of queue main state: started on node a");
        let paused = miner.learn("Job 13 of queue main state: paused on node a");
        assert_ne!(
            started.template_id, paused.template_id,
            "`paused` is a state word"
        );
        let alice = miner.learn("Job 14 of queue main owner: alice on node a");
        let bob = miner.learn("Job 15 of queue main owner: bob on node a");
        assert_eq!(alice.template_id, bob.template_id, "a value slot");
        assert_eq!(bob.template, "Job <*> of queue main owner: <*> on node a");
        let looking = miner.learn("Notification: 1 (n.leader), LOOKING (my state)");
        let leading = miner.learn("Notification: 1 (n.leader), LEADING (my state)");
        assert_ne!(
            looking.template_id, leading.template_id,
            "capitals are states"
        );
        // Plain words outside value slots name different events.
        let spawned = miner.learn("[instance: 42] Instance spawned successfully.");
        let destroyed = miner.learn("[instance: 43] Instance destroyed successfully.");
        assert_ne!(spawned.template_id, destroyed.template_id);

        let config = MinerConfig {
            protected_tokens: ProtectedWords::none(),
            protect_uppercase: false,
            ..MinerConfig::default()
        };
        let mut lenient = TemplateMiner::new(config);
        let a = lenient.learn("Job 12 of queue main state: started on node a");
        let b = lenient.learn("Job 13 of queue main state: paused on node a");
        assert_eq!(a.template_id, b.template_id);
    }

    #[test]
    fn match_only_never_learns() {
        let mut miner = miner();
        miner.learn("Received block blk_1 of size 67108864 from /10.251.42.84");
        let before = serde_json::to_string(&miner).unwrap_or_default();
        let matched = miner.match_only("Received block blk_2 of size 1024 from /10.0.0.1");
        assert_eq!(matched.map(|m| m.parameters.len()), Some(3));
        assert!(miner
            .match_only("Completely different message here")
            .is_none());
        assert!(miner.match_only("").is_none());
        let after = serde_json::to_string(&miner).unwrap_or_default();
        assert_eq!(before, after);
        assert_eq!(miner.stats().lines, 1);
    }

    #[test]
    fn ids_survive_serde_round_trip() {
        let mut miner = miner();
        let lines = [
            "Verification succeeded for blk_1",
            "Deleting block blk_2 file /mnt/hadoop/dfs/data/current/blk_2",
            "session opened for user alice",
            "session opened for user bob",
        ];
        let ids: Vec<u32> = lines
            .iter()
            .map(|line| miner.learn(line).template_id)
            .collect();
        let json = serde_json::to_string(&miner).unwrap_or_default();
        let mut restored: TemplateMiner = serde_json::from_str(&json)
            .unwrap_or_else(|_| TemplateMiner::new(MinerConfig::default()));
        assert_eq!(restored.templates(), miner.templates());
        for (line, id) in lines.iter().zip(&ids) {
            let again = restored.learn(line);
            assert_eq!(again.template_id, *id);
            assert!(!again.is_new);
        }
        let fresh = restored.learn("a brand new event");
        assert!(fresh.template_id > *ids.iter().max().unwrap_or(&0));
    }

    fn reloaded(miner: &TemplateMiner) -> TemplateMiner {
        let json = serde_json::to_string(miner).unwrap();
        let restored: TemplateMiner = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&restored).unwrap(), json);
        restored
    }

    /// The fuzzer's smallest reproducer (`fuzz/seeds/miner/regress-reload-value-slot`): the shape
    /// cache routed `i` to the template `<*>` that `4` generalised, and the reloaded miner, without
    /// the cache, called `i` novel.
    #[test]
    fn match_only_is_the_same_after_a_reload() {
        let mut miner = TemplateMiner::new(MinerConfig {
            similarity_threshold: 0.0,
            prefix_depth: 0,
            max_candidates: 1,
            protect_uppercase: false,
            ..MinerConfig::default()
        });
        miner.learn("i");
        miner.learn("4");
        let before = miner.match_only("i").map(|m| m.template_id);
        assert_eq!(before, Some(1));
        assert_eq!(
            reloaded(&miner).match_only("i").map(|m| m.template_id),
            before
        );
    }

    /// Every line of a real log gets the same template (and parameters) from a reloaded miner.
    #[test]
    fn reloaded_miner_matches_real_lines_exactly() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/hdfs/hdfs_dev_20k.log"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let parser = crate::parse::HeaderParser::new(crate::parse::LogFormat::Hdfs);
        let contents: Vec<String> = text
            .lines()
            .take(10_000)
            .map(|line| parser.parse(line).content)
            .collect();
        let mut miner = TemplateMiner::new(MinerConfig::default());
        for content in &contents[..5_000] {
            miner.learn(content);
        }
        let restored = reloaded(&miner);
        for content in &contents {
            assert_eq!(
                restored.match_only(content),
                miner.match_only(content),
                "{content}"
            );
        }
    }

    #[test]
    fn lru_cap_holds_and_ids_are_never_reused() {
        let config = MinerConfig {
            max_templates: 3,
            ..MinerConfig::default()
        };
        let mut miner = TemplateMiner::new(config);
        let mut seen = std::collections::HashSet::new();
        let words = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
        ];
        for (round, word) in words.iter().enumerate() {
            let matched = miner.learn(&format!("{word} event happened"));
            assert!(seen.insert(matched.template_id), "id reused");
            assert!(miner.len() <= 3);
            // Keep `alpha` hot: it must survive eviction.
            if round > 0 {
                let hot = miner.learn("alpha event happened");
                assert_eq!(hot.template_id, 1);
            }
        }
        assert_eq!(miner.stats().evicted, 4);
        assert!(miner.template(1).is_some());
        assert!(miner.quality_warning().is_some());
    }

    #[test]
    fn memory_stays_bounded_with_unique_words() {
        let mut miner = miner();
        for index in 0..30_000u32 {
            // A value slot with a new word each time: one template, ever-new words.
            let word: String = index
                .to_string()
                .bytes()
                .map(|digit| char::from(b'a' + (digit - b'0')))
                .collect();
            miner.learn(&format!("login failed for user {word} from host"));
        }
        assert_eq!(miner.len(), 1);
        assert!(
            miner.interner.texts.len() < 20_000,
            "{}",
            miner.interner.texts.len()
        );
        assert!(miner.approx_memory_bytes() < 4 << 20);
    }

    #[test]
    fn mutated_lines_never_panic_and_match_what_was_learned() {
        let samples = [
            "PacketResponder 1 for block blk_38865049064139660 terminating",
            "10.11.10.1 \"GET /v2/54fadb412c4e40cdbaed9335e4c35a9e/servers/detail HTTP/1.1\" status: 200 len: 1893",
            "acquire lock=233570404, flags=0x1, tag=\"View Lock\", name=com.android.systemui, ws=null, uid=10037",
            "Block broadcast_9 stored as values in memory (estimated size 8.8 KB, free 14.0 KB)",
            "Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2",
            "[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] Took 19.05 seconds to spawn the instance",
        ];
        let inserts = [
            "é", "\u{0}", " ", "=", "\"", "<*>", "中", "🚀", "-", ":", "/", "9", "x", "KB",
        ];
        let mut state = 11u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        let mut miner = TemplateMiner::new(MinerConfig {
            max_templates: 50,
            ..MinerConfig::default()
        });
        for round in 0..4000 {
            let mut line = samples[round % samples.len()].to_string();
            for _ in 0..(next() % 4) {
                let mut at = next() % (line.len() + 1);
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                line.insert_str(at, inserts[next() % inserts.len()]);
            }
            let learned = miner.learn(&line);
            let matched = miner.match_only(&line);
            assert_eq!(
                matched.as_ref().map(|m| m.template_id),
                Some(learned.template_id),
                "{line}"
            );
            assert_eq!(
                matched.map(|m| m.template),
                Some(learned.template),
                "{line}"
            );
            assert!(miner.len() <= 50);
        }
    }

    #[test]
    fn quality_warning_flags_logs_that_do_not_mine() {
        let mut healthy = miner();
        for index in 0..1000 {
            healthy.learn(&format!(
                "Received block blk_{index} of size {} from /10.0.0.{}",
                index * 7,
                index % 250
            ));
        }
        assert_eq!(healthy.quality_warning(), None);
        assert_eq!(healthy.stats().templates, 1);

        // Free text: every line its own event.
        let mut garbage = miner();
        let words = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliet",
        ];
        for index in 0..1000usize {
            let line: Vec<&str> = (0..4)
                .map(|k| words[(index / 10usize.pow(k)) % 10])
                .collect();
            garbage.learn(&line.join(" "));
        }
        let warning = garbage.quality_warning().unwrap_or_default();
        assert!(warning.starts_with("logs do not mine well"), "{warning}");
    }

    #[test]
    fn shared_types_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TemplateMiner>();
        assert_send_sync::<crate::parse::HeaderParser>();
    }

    #[test]
    fn hostile_input_never_panics() {
        let mut miner = miner();
        let long = "word ".repeat(200_000);
        let dense = "7".repeat(1 << 20);
        let inputs = [
            "",
            " ",
            "\0",
            "\0\0 \0",
            "\u{1}\u{2}\u{3}",
            "<*>",
            "<*> <*>",
            "a<*>b",
            "=",
            "-",
            "--1",
            "_-1",
            "é ü 中文 🚀",
            long.as_str(),
            dense.as_str(),
            "\t\t",
            "(((",
            "blk_-",
            "0x",
            "//",
        ];
        for input in inputs {
            let learned = miner.learn(input);
            let again = miner.match_only(input);
            assert!(again.is_some(), "{input:?}");
            assert!(!learned.template.is_empty() || input.trim().is_empty());
        }
        let _ = miner.quality_warning();
    }
}
