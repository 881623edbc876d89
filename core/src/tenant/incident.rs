//! Incidents: a project's anomalies grouped by a shared cause and closeness in time.
//!
//! An operator faced with thousands of flagged lines wants a handful of things to read. Every flagged
//! line and session verdict has a *pattern*: its cause and what the cause is about (the template, the
//! rule, the missing or rare event). A flagged result joins the open incident of its session (a
//! client's attack, a block's failure: one story, whatever each line tripped), else the open incident
//! of its pattern, else it raises a new one. An incident stays open while its pattern recurs within
//! [`crate::Config::incident_gap_secs`] of log time or [`QUIET_LINES`] of the project's lines; once
//! both are past it is resolved, and the pattern's next anomaly raises a new incident. Memory is bounded: at most [`MAX_OPEN`] open incidents (the
//! longest quiet resolves first), [`MAX_RESOLVED`] resolved ones kept, a few examples each.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::summary::cause_words;
use crate::tenant::feedback::FeedbackLabel;
use crate::types::{Detection, SessionVerdict};

/// Most open incidents per project.
pub const MAX_OPEN: usize = 64;
/// Most resolved incidents kept per project (the oldest are forgotten).
pub const MAX_RESOLVED: usize = 128;
/// Examples kept per incident (the first ones).
pub const MAX_EXAMPLES: usize = 3;
/// Templates and rules counted per incident (the top ones are reported).
const MAX_COUNTED: usize = 16;
/// Templates and rules reported per incident.
pub const TOP: usize = 5;
/// Session ids kept per incident (the first ones).
pub const MAX_SESSION_IDS: usize = 8;
/// Newly raised incidents queued for polling per project.
pub const MAX_RAISED: usize = 1024;
/// Lines of the project an incident's pattern must also have been quiet for before it is resolved:
/// a sampled or slow log (a line an hour) would otherwise split every recurrence into an incident
/// of its own.
pub const QUIET_LINES: u64 = 1_000;
/// Sessions remembered as belonging to an open incident, per project.
const MAX_SESSION_LINKS: usize = 100_000;

/// Whether an incident still gathers anomalies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    /// Its pattern recurred recently.
    Open,
    /// Quiet for longer than the incident gap.
    Resolved,
}

impl std::str::FromStr for IncidentState {
    type Err = crate::error::Error;

    /// `"open"` or `"resolved"` (what bindings and the CLI take as text).
    fn from_str(s: &str) -> crate::error::Result<Self> {
        crate::tenant::feedback::parse_name(
            "an incident state",
            s,
            &[("open", Self::Open), ("resolved", Self::Resolved)],
        )
    }
}

/// A name with how many of an incident's anomalies carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// A template or rule name.
    pub name: String,
    /// Anomalies of the incident with it.
    pub count: u64,
}

/// One anomaly of an incident, as it was reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentExample {
    /// Its session, if any.
    pub session_id: Option<String>,
    /// Its log time (Unix seconds).
    pub timestamp: f64,
    /// The line's template, or the session's cause in words.
    pub template: String,
    /// The explanations it was given.
    pub reasons: Vec<String>,
    /// Whether it is a session verdict (else a line).
    pub session_verdict: bool,
}

/// A group of a project's anomalies with a shared cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Id within the project (never reused); every result in it carries it as `incident_id`.
    pub id: u64,
    /// Project id.
    pub project_id: String,
    /// The shared signal in words.
    pub title: String,
    /// The pattern that raised it (see [`Detection::pattern`]).
    pub pattern: String,
    /// Open or resolved.
    pub state: IncidentState,
    /// Log time of its first anomaly.
    pub first_seen: f64,
    /// Log time of its latest anomaly.
    pub last_seen: f64,
    /// The project's line count at its latest anomaly.
    #[serde(default)]
    pub last_line: u64,
    /// Flagged lines in it.
    pub lines: u64,
    /// Distinct sessions in it (flagged lines' sessions and flagged session verdicts).
    pub sessions: u64,
    /// Flagged session verdicts in it.
    pub session_verdicts: u64,
    /// Most frequent templates, most first.
    pub top_templates: Vec<Counted>,
    /// Most frequent matched rules, most first.
    pub top_rules: Vec<Counted>,
    /// The first anomalies, as reported.
    pub examples: Vec<IncidentExample>,
    /// The first sessions.
    pub session_ids: Vec<String>,
    /// The label of the operator feedback given on it, if any.
    #[serde(default)]
    pub feedback: Option<FeedbackLabel>,
}

impl Incident {
    /// The incident with its counted lists cut to the reported top.
    fn reported(&self) -> Incident {
        let mut out = self.clone();
        out.top_templates.truncate(TOP);
        out.top_rules.truncate(TOP);
        out
    }
}

/// The pattern of a line: its cause and what the cause is about.
pub fn line_pattern(d: &Detection) -> Option<String> {
    let cause = d.cause.as_deref()?;
    Some(
        if cause.starts_with("rule:") || cause == "attack_session" || cause == "truncated" {
            cause.to_string()
        } else {
            format!("{cause}: {}", d.template)
        },
    )
}

/// A project's incidents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IncidentBook {
    next_id: u64,
    open: Vec<Incident>,
    resolved: VecDeque<Incident>,
    /// Open incident of each session in one.
    by_session: HashMap<String, u64>,
    /// Latest log time seen in an anomaly.
    now: f64,
    /// The project's line count at the latest anomaly.
    #[serde(default)]
    line: u64,
    /// Newly raised incidents not yet polled (not stored: a restart starts a new queue).
    #[serde(skip)]
    raised: VecDeque<Incident>,
    /// Raised since the last [`IncidentBook::take_fresh`] (for the host's callback).
    #[serde(skip)]
    fresh: Vec<Incident>,
    #[serde(skip)]
    dirty: bool,
}

/// How a result joins the book.
struct Member<'a> {
    pattern: &'a str,
    session: Option<&'a str>,
    timestamp: f64,
    /// The project's line count (0: not known, a session verdict).
    line: u64,
    template: &'a str,
    rules: &'a [String],
    reasons: &'a [String],
    verdict: bool,
}

impl IncidentBook {
    /// Groups a flagged line; sets its `incident_id`. Unflagged lines are left alone.
    pub fn add_line(&mut self, project_id: &str, d: &mut Detection, gap: f64) {
        if !d.is_anomaly {
            return;
        }
        let Some(pattern) = d.pattern.clone() else {
            return;
        };
        let id = self.add(
            project_id,
            Member {
                pattern: &pattern,
                session: d.session_id.as_deref(),
                timestamp: d.timestamp,
                line: d.log_count,
                template: &d.template,
                rules: &d.matched_rules,
                reasons: &d.reasons,
                verdict: false,
            },
            gap,
        );
        d.incident_id = Some(id);
    }

    /// Groups a flagged session verdict; sets its `incident_id`.
    pub fn add_verdict(&mut self, project_id: &str, v: &mut SessionVerdict, gap: f64) {
        if !v.is_anomaly {
            return;
        }
        let Some(pattern) = v.pattern.clone() else {
            return;
        };
        let what = v.cause.as_deref().map(cause_words).unwrap_or_default();
        let id = self.add(
            project_id,
            Member {
                pattern: &pattern,
                session: Some(&v.session_id),
                timestamp: v.timestamp,
                line: 0,
                template: &what,
                rules: &[],
                reasons: &v.reasons,
                verdict: true,
            },
            gap,
        );
        v.incident_id = Some(id);
    }

    fn add(&mut self, project_id: &str, m: Member<'_>, gap: f64) -> u64 {
        if m.timestamp.is_finite() && m.timestamp > self.now {
            self.now = m.timestamp;
        }
        self.line = self.line.max(m.line);
        self.resolve_quiet(gap);
        self.dirty = true;
        let by_session = m
            .session
            .and_then(|s| self.by_session.get(s))
            .and_then(|id| self.open.iter().position(|i| i.id == *id));
        let index = by_session
            .or_else(|| self.open.iter().position(|i| i.pattern == m.pattern))
            .unwrap_or_else(|| self.raise(project_id, &m));
        let id = self.open[index].id;
        let new_session = m.session.filter(|s| self.by_session.get(*s) != Some(&id));
        if let Some(s) = new_session {
            if self.by_session.len() >= MAX_SESSION_LINKS {
                self.forget_stale_links();
            }
            self.by_session.insert(s.to_string(), id);
        }
        let incident = &mut self.open[index];
        incident.last_seen = incident.last_seen.max(m.timestamp);
        incident.last_line = incident.last_line.max(self.line);
        if m.verdict {
            incident.session_verdicts += 1;
        } else {
            incident.lines += 1;
            count(&mut incident.top_templates, m.template);
            for r in m.rules {
                count(&mut incident.top_rules, r);
            }
        }
        if let Some(s) = new_session {
            incident.sessions += 1;
            if incident.session_ids.len() < MAX_SESSION_IDS {
                incident.session_ids.push(s.to_string());
            }
        }
        if incident.examples.len() < MAX_EXAMPLES {
            incident.examples.push(IncidentExample {
                session_id: m.session.map(str::to_string),
                timestamp: m.timestamp,
                template: m.template.to_string(),
                reasons: m.reasons.to_vec(),
                session_verdict: m.verdict,
            });
        }
        id
    }

    /// Opens a new incident for the member; returns its index in `open`.
    fn raise(&mut self, project_id: &str, m: &Member<'_>) -> usize {
        if self.open.len() >= MAX_OPEN {
            // The longest quiet makes room.
            if let Some(i) = (0..self.open.len())
                .min_by(|&a, &b| self.open[a].last_seen.total_cmp(&self.open[b].last_seen))
            {
                self.resolve_at(i);
            }
        }
        self.next_id += 1;
        let incident = Incident {
            id: self.next_id,
            project_id: project_id.to_string(),
            title: title(m.pattern),
            pattern: m.pattern.to_string(),
            state: IncidentState::Open,
            first_seen: m.timestamp,
            last_seen: m.timestamp,
            last_line: self.line,
            lines: 0,
            sessions: 0,
            session_verdicts: 0,
            top_templates: Vec::new(),
            top_rules: Vec::new(),
            examples: Vec::new(),
            session_ids: Vec::new(),
            feedback: None,
        };
        if self.raised.len() >= MAX_RAISED {
            self.raised.pop_front();
        }
        self.raised.push_back(incident.clone());
        if self.fresh.len() < MAX_RAISED {
            self.fresh.push(incident.clone());
        }
        self.open.push(incident);
        self.open.len() - 1
    }

    /// Resolves open incidents quiet for longer than `gap` seconds of log time and [`QUIET_LINES`]
    /// lines of the project.
    pub fn resolve_quiet(&mut self, gap: f64) {
        let (now, line) = (self.now, self.line);
        while let Some(i) = self
            .open
            .iter()
            .position(|i| now - i.last_seen > gap && line.saturating_sub(i.last_line) > QUIET_LINES)
        {
            self.resolve_at(i);
        }
    }

    fn resolve_at(&mut self, index: usize) {
        let mut incident = self.open.remove(index);
        incident.state = IncidentState::Resolved;
        if self.resolved.len() >= MAX_RESOLVED {
            self.resolved.pop_front();
        }
        self.resolved.push_back(incident);
        self.dirty = true;
    }

    /// Drops the session links of resolved incidents (they are skipped on lookup meanwhile); when
    /// open incidents alone hold too many, all (their sessions then join by pattern).
    fn forget_stale_links(&mut self) {
        let open: Vec<u64> = self.open.iter().map(|i| i.id).collect();
        self.by_session.retain(|_, id| open.contains(id));
        if self.by_session.len() >= MAX_SESSION_LINKS / 2 {
            self.by_session.clear();
        }
    }

    /// Takes up to `max` newly raised incidents, oldest first (each as it was when raised).
    pub fn take_raised(&mut self, max: usize) -> Vec<Incident> {
        let n = max.min(self.raised.len());
        self.raised.drain(..n).collect()
    }

    /// Takes the incidents raised since the last call (each as it was when raised).
    pub fn take_fresh(&mut self) -> Vec<Incident> {
        std::mem::take(&mut self.fresh)
    }

    /// The incidents, open ones first, each group newest first; `state` filters.
    pub fn list(&self, state: Option<IncidentState>) -> Vec<Incident> {
        let open = self.open.iter().rev();
        let resolved = self.resolved.iter().rev();
        open.chain(resolved)
            .filter(|i| state.is_none_or(|s| i.state == s))
            .map(Incident::reported)
            .collect()
    }

    /// One incident by id.
    pub fn get(&self, id: u64) -> Option<Incident> {
        self.open
            .iter()
            .chain(self.resolved.iter())
            .find(|i| i.id == id)
            .map(Incident::reported)
    }

    /// Records the operator's label on an incident (for listing).
    pub fn set_feedback(&mut self, id: u64, label: Option<FeedbackLabel>) {
        if let Some(i) = self
            .open
            .iter_mut()
            .chain(self.resolved.iter_mut())
            .find(|i| i.id == id)
        {
            i.feedback = label;
            self.dirty = true;
        }
    }

    /// Whether it changed since [`IncidentBook::mark_persisted`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Records that the book was written.
    pub fn mark_persisted(&mut self) {
        self.dirty = false;
    }

    /// Incidents held (open and resolved).
    pub fn len(&self) -> usize {
        self.open.len() + self.resolved.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counts a name in a short list kept sorted by count. A name beyond [`MAX_COUNTED`] takes the least
/// counted one's place from one: names that came early and often keep their place, a long tail churns
/// at the bottom (the top of a short list is exact).
fn count(list: &mut Vec<Counted>, name: &str) {
    if name.is_empty() {
        return;
    }
    let i = match list.iter().position(|c| c.name == name) {
        Some(i) => i,
        None if list.len() < MAX_COUNTED => {
            list.push(Counted {
                name: name.to_string(),
                count: 0,
            });
            list.len() - 1
        }
        None => {
            let last = list.len() - 1;
            list[last] = Counted {
                name: name.to_string(),
                count: 0,
            };
            last
        }
    };
    list[i].count += 1;
    // Bubble up to keep the order.
    let mut i = i;
    while i > 0 && list[i - 1].count < list[i].count {
        list.swap(i - 1, i);
        i -= 1;
    }
}

/// The title of a pattern: its cause in words, and what it is about.
fn title(pattern: &str) -> String {
    match pattern.split_once(": ") {
        Some((cause, subject)) => format!("{}: {subject}", cause_words(cause)),
        None => cause_words(pattern),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_lists_stay_sorted_and_bounded() {
        let mut list = Vec::new();
        for name in ["a", "b", "b", "c", "c", "c"] {
            count(&mut list, name);
        }
        let names: Vec<_> = list.iter().map(|c| (c.name.as_str(), c.count)).collect();
        assert_eq!(names, [("c", 3), ("b", 2), ("a", 1)]);
        for i in 0..100 {
            count(&mut list, &format!("x{i}"));
        }
        assert_eq!(list.len(), MAX_COUNTED);
        assert_eq!(list[0].name, "c");
    }

    #[test]
    fn titles_read_as_words() {
        assert_eq!(title("rule:attack:sqli"), "rule attack:sqli");
        assert_eq!(
            title("missing_template: PacketResponder <*> terminating"),
            "missing event (nearly every normal session has it): PacketResponder <*> terminating"
        );
    }
}
