//! Operator feedback: "this is normal here" or "yes, this is real", for a pattern, a template, a rule
//! or a client, for a period or for good.
//!
//! A mark applies at once to every later result it matches (no retraining): a `normal` mark stops
//! matching results from alerting, an `anomaly` mark keeps them alerting even when the detector
//! would let them pass (a pattern that became common). Marks belong to one project, are stored with
//! its record, listed, and undone by id; the most recent matching mark wins.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::types::{Detection, SessionVerdict};

/// What the operator says about the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackLabel {
    /// Normal for this project: matching results stop alerting.
    Normal,
    /// A real anomaly: matching results keep alerting.
    Anomaly,
}

/// What a mark applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackScope {
    /// Results with the same pattern (the cause and the template, rule or session shape behind it:
    /// [`Detection::pattern`], [`SessionVerdict::pattern`]). The default.
    #[default]
    Pattern,
    /// Lines with this template in any context, and sessions holding it as their rare or missing event.
    Template,
    /// Lines on which this rule matched.
    Rule,
    /// Everything of this client (session id).
    Client,
}

/// Parses a name as its JSON spelling, or says which names there are.
pub(crate) fn parse_name<T: Copy>(what: &str, s: &str, names: &[(&str, T)]) -> Result<T> {
    names
        .iter()
        .find(|(name, _)| *name == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let allowed: Vec<String> = names.iter().map(|(n, _)| format!("{n:?}")).collect();
            Error::invalid_input(format!(
                "{what} must be one of {}, not {s:?}",
                allowed.join(", ")
            ))
        })
}

impl std::str::FromStr for FeedbackLabel {
    type Err = Error;

    /// `"normal"` or `"anomaly"` (what bindings and the CLI take as text).
    fn from_str(s: &str) -> Result<Self> {
        parse_name(
            "a feedback label",
            s,
            &[("normal", Self::Normal), ("anomaly", Self::Anomaly)],
        )
    }
}

impl std::str::FromStr for FeedbackScope {
    type Err = Error;

    /// `"pattern"`, `"template"`, `"rule"` or `"client"`.
    fn from_str(s: &str) -> Result<Self> {
        parse_name(
            "a feedback scope",
            s,
            &[
                ("pattern", Self::Pattern),
                ("template", Self::Template),
                ("rule", Self::Rule),
                ("client", Self::Client),
            ],
        )
    }
}

/// What the operator looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackTarget {
    /// An incident, by id (every flagged result carries its incident's id); `{"incident_id": 3}` in
    /// JSON, as over HTTP.
    #[serde(rename = "incident_id")]
    Incident(u64),
    /// What the scope matches, given directly: a result's pattern (as the result carries it), a
    /// template, a rule name or a session id.
    Key(String),
}

/// A mark to add (see [`crate::TenantDetector::feedback`]). Its JSON is the body of `POST /feedback`:
/// `{"target": {"incident_id": 3} | {"key": "..."}, "label": "normal", "scope": "pattern",
/// "duration_secs": 3600, "note": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFeedback {
    /// What was looked at.
    pub target: FeedbackTarget,
    /// What the operator says.
    pub label: FeedbackLabel,
    /// What the mark applies to (the pattern when absent from JSON).
    #[serde(default)]
    pub scope: FeedbackScope,
    /// How long it applies, in seconds from now (`None`: for good).
    #[serde(default)]
    pub duration_secs: Option<f64>,
    /// Free text kept with the mark.
    #[serde(default)]
    pub note: Option<String>,
}

impl NewFeedback {
    /// A mark on an incident, for good, scoped to its pattern.
    pub fn incident(id: u64, label: FeedbackLabel) -> Self {
        Self {
            target: FeedbackTarget::Incident(id),
            label,
            scope: FeedbackScope::Pattern,
            duration_secs: None,
            note: None,
        }
    }

    /// The same mark with another scope.
    pub fn scope(mut self, scope: FeedbackScope) -> Self {
        self.scope = scope;
        self
    }

    /// The same mark for a period of `secs` seconds.
    pub fn for_secs(mut self, secs: f64) -> Self {
        self.duration_secs = Some(secs);
        self
    }
}

/// A stored mark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// Id within the project (never reused).
    pub id: u64,
    /// What the operator said.
    pub label: FeedbackLabel,
    /// What it applies to.
    pub scope: FeedbackScope,
    /// The pattern, template, rule or client it matches.
    pub key: String,
    /// The incident it was given on, if any.
    pub incident_id: Option<u64>,
    /// When it was given (Unix seconds).
    pub created_at: f64,
    /// When it stops applying (`None`: never).
    pub expires_at: Option<f64>,
    /// Free text.
    pub note: Option<String>,
}

impl Feedback {
    fn live(&self, now: f64) -> bool {
        self.expires_at.is_none_or(|t| now < t)
    }

    fn matches_line(&self, d: &Detection) -> bool {
        match self.scope {
            FeedbackScope::Pattern => d.pattern.as_deref() == Some(self.key.as_str()),
            FeedbackScope::Template => d.template == self.key,
            FeedbackScope::Rule => d.matched_rules.contains(&self.key),
            FeedbackScope::Client => d.session_id.as_deref() == Some(self.key.as_str()),
        }
    }

    fn matches_verdict(&self, v: &SessionVerdict) -> bool {
        match self.scope {
            FeedbackScope::Pattern => v.pattern.as_deref() == Some(self.key.as_str()),
            FeedbackScope::Template => {
                v.missing_templates.contains(&self.key)
                    || v.pattern.as_deref().and_then(pattern_subject) == Some(self.key.as_str())
            }
            FeedbackScope::Rule => false,
            FeedbackScope::Client => v.session_id == self.key,
        }
    }

    /// The words a result gets when the mark decides it.
    fn reason(&self) -> String {
        match self.label {
            FeedbackLabel::Normal => format!("marked normal by operator feedback #{}", self.id),
            FeedbackLabel::Anomaly => format!("confirmed by operator feedback #{}", self.id),
        }
    }
}

/// The template or rule a pattern names (the part after `cause: `, without a session verdict's
/// shape), if any.
pub fn pattern_subject(pattern: &str) -> Option<&str> {
    let (_, subject) = pattern.split_once(": ")?;
    let subject = match subject.rfind(crate::tenant::project::SHAPE_TAG_OPEN) {
        Some(i) => subject[..i].trim_end(),
        None => subject,
    };
    Some(subject)
}

/// Most marks a project keeps: feedback is a person's work, so this is far beyond use; it keeps a
/// runaway script from growing a project's record without bound.
pub const MAX_FEEDBACK: usize = 10_000;

/// Longest key (pattern, template, rule or client) a mark holds, in bytes.
pub const MAX_KEY_BYTES: usize = 16 * 1024;

/// Longest period a mark may be given for, in seconds (about 95 years; "for good" is no duration).
pub const MAX_DURATION_SECS: f64 = 3.0e9;

/// Longest note a mark keeps, in bytes.
pub const MAX_NOTE_BYTES: usize = 4 * 1024;

/// A project's marks (stored with its record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackBook {
    /// Marks, oldest first.
    #[serde(default)]
    pub entries: Vec<Feedback>,
    /// Id of the next mark.
    #[serde(default)]
    pub next_id: u64,
}

impl FeedbackBook {
    /// Template texts the operator confirmed anomalous, live at `now`: the keys of "anomaly" marks
    /// scoped to a template (every line of it is an anomaly). The next training keeps the data
    /// holding them out. A pattern-scoped mark confirms an alert in its context, not the template
    /// everywhere: excluding its template also dropped the normal sessions holding it (HDFS half B,
    /// K = 20: session F1 0.984 -> 0.931), so it does not count here.
    pub fn confirmed_anomalous_templates(&self, now: f64) -> HashSet<&str> {
        self.entries
            .iter()
            .filter(|f| f.label == FeedbackLabel::Anomaly && f.live(now))
            .filter(|f| f.scope == FeedbackScope::Template)
            .map(|f| f.key.as_str())
            .collect()
    }

    /// Adds a mark with its key resolved by the caller.
    pub fn add(
        &mut self,
        new: &NewFeedback,
        key: String,
        incident_id: Option<u64>,
        now: f64,
    ) -> Result<Feedback> {
        if key.is_empty() {
            return Err(Error::invalid_input("feedback names nothing to match"));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(Error::invalid_input(format!(
                "feedback key of {} bytes is over {MAX_KEY_BYTES}",
                key.len()
            )));
        }
        if new.note.as_ref().is_some_and(|n| n.len() > MAX_NOTE_BYTES) {
            return Err(Error::invalid_input(format!(
                "feedback note is over {MAX_NOTE_BYTES} bytes"
            )));
        }
        if let Some(d) = new.duration_secs {
            if !(d > 0.0 && d <= MAX_DURATION_SECS) {
                return Err(Error::invalid_input(format!(
                    "feedback duration must be a positive number of seconds up to \
                     {MAX_DURATION_SECS:e} (about 95 years; leave it out for good), got {d}"
                )));
            }
        }
        if self.entries.len() >= MAX_FEEDBACK {
            return Err(Error::invalid_input(format!(
                "the project already holds {MAX_FEEDBACK} feedback marks: undo some first"
            )));
        }
        self.next_id += 1;
        let entry = Feedback {
            id: self.next_id,
            label: new.label,
            scope: new.scope,
            key,
            incident_id,
            created_at: now,
            expires_at: new.duration_secs.map(|d| now + d),
            note: new.note.clone(),
        };
        self.entries.push(entry.clone());
        Ok(entry)
    }

    /// Removes a mark; `None` when the project has no mark of that id.
    pub fn undo(&mut self, id: u64) -> Option<Feedback> {
        let i = self.entries.iter().position(|f| f.id == id)?;
        Some(self.entries.remove(i))
    }

    /// Whether any mark is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Applies the most recent live mark matching the line, if any.
    pub fn apply_to_line(&self, d: &mut Detection, now: f64) {
        if let Some(f) = self
            .entries
            .iter()
            .rev()
            .find(|f| f.live(now) && f.matches_line(d))
        {
            d.is_anomaly = f.label == FeedbackLabel::Anomaly;
            d.reasons.insert(0, f.reason());
            d.feedback_id = Some(f.id);
        }
    }

    /// Applies the most recent live mark matching the session verdict, if any.
    pub fn apply_to_verdict(&self, v: &mut SessionVerdict, now: f64) {
        if let Some(f) = self
            .entries
            .iter()
            .rev()
            .find(|f| f.live(now) && f.matches_verdict(v))
        {
            v.is_anomaly = f.label == FeedbackLabel::Anomaly;
            v.reasons.insert(0, f.reason());
            v.feedback_id = Some(f.id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn training_keeps_out_only_live_template_scoped_anomaly_marks() {
        let mut book = FeedbackBook::default();
        let mark = |label, scope| NewFeedback {
            target: FeedbackTarget::Key(String::new()),
            label,
            scope,
            duration_secs: None,
            note: None,
        };
        let anomaly_template = mark(FeedbackLabel::Anomaly, FeedbackScope::Template);
        book.add(&anomaly_template, "ERROR disk <*> failed".into(), None, 0.0)
            .unwrap();
        let anomaly_pattern = mark(FeedbackLabel::Anomaly, FeedbackScope::Pattern);
        book.add(
            &anomaly_pattern,
            "novel_template: panic at <*>".into(),
            None,
            0.0,
        )
        .unwrap();
        let rule = mark(FeedbackLabel::Anomaly, FeedbackScope::Rule);
        book.add(&rule, "attack:sqli".into(), None, 0.0).unwrap();
        let normal = mark(FeedbackLabel::Normal, FeedbackScope::Template);
        book.add(&normal, "INFO ok".into(), None, 0.0).unwrap();
        let brief = mark(FeedbackLabel::Anomaly, FeedbackScope::Template).for_secs(10.0);
        book.add(&brief, "WARN slow".into(), None, 0.0).unwrap();

        let at_start = book.confirmed_anomalous_templates(1.0);
        let expected: HashSet<&str> = ["ERROR disk <*> failed", "WARN slow"].into();
        assert_eq!(at_start, expected);
        let later = book.confirmed_anomalous_templates(100.0);
        assert!(
            !later.contains("WARN slow"),
            "an expired mark no longer counts"
        );
        let first = book.entries[0].id;
        book.undo(first).unwrap();
        assert!(!book
            .confirmed_anomalous_templates(1.0)
            .contains("ERROR disk <*> failed"));
    }

    #[test]
    fn new_feedback_reads_the_http_body() {
        let by_incident: NewFeedback =
            serde_json::from_str(r#"{"target": {"incident_id": 3}, "label": "normal"}"#).unwrap();
        assert_eq!(
            by_incident,
            NewFeedback::incident(3, FeedbackLabel::Normal),
            "the scope defaults to the pattern, the mark is for good"
        );
        let by_key: NewFeedback = serde_json::from_str(
            r#"{"target": {"key": "10.9.9.9"}, "label": "anomaly", "scope": "client",
                "duration_secs": 60, "note": "pen test"}"#,
        )
        .unwrap();
        assert_eq!(by_key.target, FeedbackTarget::Key("10.9.9.9".into()));
        assert_eq!(by_key.scope, FeedbackScope::Client);
        assert_eq!(by_key.duration_secs, Some(60.0));
        for bad in [
            r#"{"target": {"incident": 3}, "label": "normal"}"#,
            r#"{"target": {"incident_id": 3}, "label": "normal", "scop": "rule"}"#,
            r#"{"target": {"incident_id": 3}, "label": "fine"}"#,
        ] {
            assert!(serde_json::from_str::<NewFeedback>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_feedback_reads_back_bit_for_bit() {
        // This timestamp came back one ulp off before serde_json parsed floats exactly
        // (its `float_roundtrip` feature): a restart then changed what was stored.
        for created_at in [1_796_656_225.485_076_7, 0.1 + 0.2, f64::MAX, 1e-300] {
            let mark = Feedback {
                id: 1,
                label: FeedbackLabel::Normal,
                scope: FeedbackScope::Pattern,
                key: "rule:keyword:error".into(),
                incident_id: Some(1),
                created_at,
                expires_at: Some(created_at / 3.0),
                note: None,
            };
            let back: Feedback =
                serde_json::from_slice(&serde_json::to_vec(&mark).unwrap()).unwrap();
            assert_eq!(back, mark);
            assert_eq!(back.created_at.to_bits(), created_at.to_bits());
        }
    }

    #[test]
    fn names_parse_as_their_json_spelling_and_a_wrong_one_says_which_there_are() {
        assert_eq!(
            "anomaly".parse::<FeedbackLabel>().unwrap(),
            FeedbackLabel::Anomaly
        );
        assert_eq!(
            "rule".parse::<FeedbackScope>().unwrap(),
            FeedbackScope::Rule
        );
        let e = "Normal".parse::<FeedbackLabel>().unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        assert!(e.to_string().contains(r#""normal", "anomaly""#), "{e}");
        let e = "everything".parse::<FeedbackScope>().unwrap_err();
        assert!(e.to_string().contains(r#""client""#), "{e}");
    }
}
