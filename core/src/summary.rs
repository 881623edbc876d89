//! What a replay found, in a form a person can act on: the flagged sessions and lines grouped by cause
//! (the kind of their first reason), each group with its count and a few examples (session id, first
//! line number, the reason in words). Sessions the end of the input cut are listed apart: they were
//! judged only on what they hold. Built from the verdicts alone, in the order they come.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::types::{Detection, SessionVerdict};

/// Default number of examples shown per cause.
pub const DEFAULT_EXAMPLES: usize = 5;

/// Words for a cause key (see [`Detection::cause`] and [`SessionVerdict::cause`]).
pub fn cause_words(cause: &str) -> String {
    match cause {
        "novel_template" => "never-seen template".into(),
        "new_template" => "new template after the project's templates had settled".into(),
        "sequence" => "sequence surprise (unexpected template in its session)".into(),
        "isolation_forest" => "unusual features (isolation forest)".into(),
        "attack_session" => "client already matched a web-attack rule in its session".into(),
        "truncated" => "truncated line".into(),
        "end_surprise" => "session ended where normal sessions do not".into(),
        "rare_template" => "rare template (held by few normal sessions)".into(),
        "missing_template" => "missing event (nearly every normal session has it)".into(),
        "broken_tie" => "broken count tie (two counts equal in nearly every session)".into(),
        other => match other.strip_prefix("rule:") {
            Some(rule) => format!("rule {rule}"),
            None => other.to_string(),
        },
    }
}

/// One example of a cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Session id (`None`: a line without a session).
    pub session: Option<String>,
    /// Line number (1-based) of the session's first line, or of the line itself.
    pub line: usize,
    /// Line number of the flagged line, when a line flagged the session.
    pub flagged_line: Option<usize>,
    /// The reason in words.
    pub reason: String,
    /// The line's template, for line examples.
    pub template: Option<String>,
}

/// Groups by cause key, largest first.
pub type Groups = Vec<(String, Group)>;

/// Flags of one cause: how many, and the first few.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    /// Sessions or lines with this cause.
    pub count: usize,
    /// The first ones, in input order.
    pub examples: Vec<Example>,
}

/// Why a session was flagged: the first flag it got.
#[derive(Debug, Clone)]
struct SessionFlag {
    cause: String,
    reason: String,
    flagged_line: Option<usize>,
}

/// Collects verdicts and groups the flagged ones by cause.
#[derive(Debug, Clone)]
pub struct Findings {
    examples: usize,
    lines: usize,
    flagged_lines: usize,
    line_groups: BTreeMap<String, Group>,
    first_line: HashMap<String, usize>,
    session_flags: HashMap<String, SessionFlag>,
    /// Sessions in the order of their first flag.
    flag_order: Vec<String>,
    cut: HashMap<String, bool>,
    ended: usize,
}

impl Default for Findings {
    fn default() -> Self {
        Self::new(DEFAULT_EXAMPLES)
    }
}

impl Findings {
    /// Empty findings that keep `examples` examples per cause.
    pub fn new(examples: usize) -> Self {
        Self {
            examples,
            lines: 0,
            flagged_lines: 0,
            line_groups: BTreeMap::new(),
            first_line: HashMap::new(),
            session_flags: HashMap::new(),
            flag_order: Vec::new(),
            cut: HashMap::new(),
            ended: 0,
        }
    }

    /// Adds the verdict on line `line` (1-based, in input order).
    pub fn add_line(&mut self, line: usize, d: &Detection) {
        self.lines += 1;
        if let Some(s) = d.session_id.as_deref() {
            self.first_line.entry(s.to_string()).or_insert(line);
        }
        if !d.is_anomaly {
            return;
        }
        self.flagged_lines += 1;
        let cause = d.cause.clone().unwrap_or_else(|| "other".into());
        let reason = d.reasons.first().cloned().unwrap_or_default();
        let group = self.line_groups.entry(cause.clone()).or_default();
        group.count += 1;
        if group.examples.len() < self.examples {
            group.examples.push(Example {
                session: d.session_id.clone(),
                line,
                flagged_line: Some(line),
                reason: reason.clone(),
                template: Some(d.template.clone()),
            });
        }
        if let Some(s) = d.session_id.as_deref() {
            self.flag_session(s, cause, reason, Some(line));
        }
    }

    /// Adds a session verdict.
    pub fn add_verdict(&mut self, v: &SessionVerdict) {
        self.ended += 1;
        if v.open_at_end_of_input {
            self.cut.insert(v.session_id.clone(), true);
        }
        if v.is_anomaly {
            let cause = v.cause.clone().unwrap_or_else(|| "other".into());
            let reason = v.reasons.first().cloned().unwrap_or_default();
            self.flag_session(&v.session_id, cause, reason, None);
        }
    }

    fn flag_session(&mut self, s: &str, cause: String, reason: String, line: Option<usize>) {
        if !self.session_flags.contains_key(s) {
            self.flag_order.push(s.to_string());
            self.session_flags.insert(
                s.to_string(),
                SessionFlag {
                    cause,
                    reason,
                    flagged_line: line,
                },
            );
        }
    }

    /// Lines seen.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// Lines flagged.
    pub fn flagged_lines(&self) -> usize {
        self.flagged_lines
    }

    /// Sessions seen (by a line).
    pub fn sessions(&self) -> usize {
        self.first_line.len()
    }

    /// Sessions flagged (by a line or their verdict).
    pub fn flagged_sessions(&self) -> usize {
        self.session_flags.len()
    }

    /// Sessions that were still open at the end of the input.
    pub fn cut_sessions(&self) -> usize {
        self.cut.len()
    }

    /// Flagged sessions grouped by cause: `(finished, cut by the end of input)`, largest group first.
    pub fn session_groups(&self) -> (Groups, Groups) {
        let mut finished: HashMap<String, Group> = HashMap::new();
        let mut cut: HashMap<String, Group> = HashMap::new();
        for s in &self.flag_order {
            let Some(f) = self.session_flags.get(s) else {
                continue;
            };
            let groups = if self.cut.contains_key(s) {
                &mut cut
            } else {
                &mut finished
            };
            let group = groups.entry(f.cause.clone()).or_default();
            group.count += 1;
            if group.examples.len() < self.examples {
                group.examples.push(Example {
                    session: Some(s.clone()),
                    line: self.first_line.get(s).copied().unwrap_or(0),
                    flagged_line: f.flagged_line,
                    reason: f.reason.clone(),
                    template: None,
                });
            }
        }
        (sorted(finished), sorted(cut))
    }

    /// Flagged lines grouped by cause, largest group first.
    pub fn line_groups(&self) -> Groups {
        sorted(self.line_groups.clone().into_iter().collect())
    }
}

fn sorted(groups: HashMap<String, Group>) -> Groups {
    let mut v: Vec<(String, Group)> = groups.into_iter().collect();
    v.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
    v
}

/// Cuts a text to `max` characters for one summary line.
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

fn write_session_groups(f: &mut fmt::Formatter<'_>, groups: &[(String, Group)]) -> fmt::Result {
    for (cause, g) in groups {
        writeln!(f, "  {:>6}  {}", g.count, cause_words(cause))?;
        for e in &g.examples {
            let at = match e.flagged_line {
                Some(l) if l != e.line => format!("from line {}, flagged at line {l}", e.line),
                _ => format!("from line {}", e.line),
            };
            writeln!(
                f,
                "            {} ({at}): {}",
                e.session.as_deref().unwrap_or("-"),
                short(&e.reason, 160)
            )?;
        }
        if g.count > g.examples.len() {
            writeln!(f, "            ... and {} more", g.count - g.examples.len())?;
        }
    }
    Ok(())
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (finished, cut) = self.session_groups();
        let cut_flagged: usize = cut.iter().map(|(_, g)| g.count).sum();
        let finished_flagged = self.flagged_sessions() - cut_flagged;
        if self.sessions() > 0 {
            writeln!(
                f,
                "flagged sessions by cause: {finished_flagged} of {} finished sessions",
                self.sessions() - self.cut_sessions()
            )?;
            write_session_groups(f, &finished)?;
            if self.cut_sessions() > 0 {
                writeln!(
                    f,
                    "sessions still open at the end of the input (cut, judged only on what they hold): {cut_flagged} of {} flagged",
                    self.cut_sessions()
                )?;
                write_session_groups(f, &cut)?;
            }
        }
        writeln!(
            f,
            "flagged lines by cause: {} of {} lines",
            self.flagged_lines, self.lines
        )?;
        for (cause, g) in self.line_groups() {
            writeln!(f, "  {:>6}  {}", g.count, cause_words(&cause))?;
            for e in &g.examples {
                let session = e
                    .session
                    .as_deref()
                    .map(|s| format!(" [{s}]"))
                    .unwrap_or_default();
                writeln!(
                    f,
                    "            line {}{session}: {}",
                    e.line,
                    short(&e.reason, 160)
                )?;
                if let Some(t) = e.template.as_deref() {
                    writeln!(f, "              template: {}", short(t, 150))?;
                }
            }
            if g.count > g.examples.len() {
                writeln!(f, "            ... and {} more", g.count - g.examples.len())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{CloseReason, Components, ModelType, Phase};

    fn line(session: Option<&str>, flagged: bool, cause: &str, reason: &str) -> Detection {
        Detection {
            is_anomaly: flagged,
            anomaly_score: if flagged { 0.9 } else { 0.1 },
            threshold: 0.5,
            model_type: ModelType::Student,
            phase: Phase::Active,
            project_id: "p".into(),
            project_name: "p".into(),
            session_id: session.map(str::to_string),
            log_count: 1,
            warmup_progress: 1.0,
            template_id: 0,
            template: "Verification succeeded for <*>".into(),
            parameters: vec![],
            components: Components::default(),
            reasons: vec![reason.into()],
            timestamp: 0.0,
            template_probability: None,
            template_rank: None,
            expected: vec![],
            matched_rules: vec![],
            unknown_template_ratio: 0.0,
            truncated: false,
            cause: Some(cause.into()),
            pattern: None,
            incident_id: None,
            feedback_id: None,
        }
    }

    fn verdict(session: &str, flagged: bool, cut: bool, cause: Option<&str>) -> SessionVerdict {
        SessionVerdict {
            project_id: "p".into(),
            session_id: session.into(),
            is_anomaly: flagged,
            anomaly_score: 0.8,
            threshold: 0.5,
            model_type: ModelType::Student,
            phase: Phase::Active,
            reason: if cut {
                CloseReason::EndOfInput
            } else {
                CloseReason::Expired
            },
            lines: 2,
            anomalous_lines: 0,
            end_score: 0.0,
            missing_templates: vec![],
            reasons: vec!["missing \"x\", which nearly every session has".into()],
            timestamp: 0.0,
            open_at_end_of_input: cut,
            cause: cause.map(str::to_string),
            pattern: None,
            incident_id: None,
            feedback_id: None,
        }
    }

    #[test]
    fn flagged_sessions_and_lines_are_grouped_by_cause_with_cut_sessions_apart() {
        let mut f = Findings::new(1);
        f.add_line(1, &line(Some("a"), false, "sequence", "r"));
        f.add_line(2, &line(Some("b"), false, "sequence", "r"));
        f.add_line(
            3,
            &line(Some("a"), true, "novel_template", "template never seen"),
        );
        f.add_line(
            4,
            &line(
                Some("c"),
                true,
                "rule:severity:error",
                "rule severity:error",
            ),
        );
        f.add_line(
            5,
            &line(None, true, "rule:severity:error", "rule severity:error"),
        );
        f.add_line(6, &line(Some("d"), false, "sequence", "r"));
        // a: flagged by a line first (its verdict also flags it); b: by its verdict; c: cut but
        // flagged by its line; d: cut and not flagged.
        f.add_verdict(&verdict("a", true, false, Some("rare_template")));
        f.add_verdict(&verdict("b", true, false, Some("missing_template")));
        f.add_verdict(&verdict("c", false, true, None));
        f.add_verdict(&verdict("d", false, true, None));
        assert_eq!((f.lines(), f.flagged_lines(), f.sessions()), (6, 3, 4));
        assert_eq!((f.flagged_sessions(), f.cut_sessions()), (3, 2));
        let (finished, cut) = f.session_groups();
        let causes: Vec<&str> = finished.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(causes, ["missing_template", "novel_template"]);
        let a = &finished[1].1.examples[0];
        assert_eq!(
            (a.session.as_deref(), a.line, a.flagged_line),
            (Some("a"), 1, Some(3))
        );
        assert_eq!(cut.len(), 1);
        assert_eq!(cut[0].0, "rule:severity:error");
        let lines = f.line_groups();
        assert_eq!(lines[0].0, "rule:severity:error");
        assert_eq!(lines[0].1.count, 2);
        assert_eq!(lines[0].1.examples.len(), 1, "one example kept per cause");
        let text = f.to_string();
        assert!(
            text.contains("flagged sessions by cause: 2 of 2 finished sessions"),
            "{text}"
        );
        assert!(text.contains("missing event"), "{text}");
        assert!(
            text.contains("a (from line 1, flagged at line 3): template never seen"),
            "{text}"
        );
        assert!(
            text.contains("still open at the end of the input (cut, judged only on what they hold): 1 of 2 flagged"),
            "{text}"
        );
        assert!(
            text.contains("flagged lines by cause: 3 of 6 lines"),
            "{text}"
        );
        assert!(text.contains("... and 1 more"), "{text}");
        assert!(
            text.contains("template: Verification succeeded for <*>"),
            "{text}"
        );
    }

    #[test]
    fn cause_keys_read_as_words() {
        assert_eq!(cause_words("rule:keyword:error"), "rule keyword:error");
        assert_eq!(cause_words("novel_template"), "never-seen template");
        assert_eq!(cause_words("something_else"), "something_else");
    }
}
