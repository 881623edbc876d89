//! A simulated operator for `eval --feedback-budget K`: reviews the first K incidents in the order they
//! were raised and labels each with the truth, through the same public call a user makes
//! ([`TenantDetector::feedback`]).
//!
//! An incident is reviewed after the batch that raised it, as an operator who reads alerts as they
//! come; it is labelled by the truth of the anomalies it holds at that moment (anomalous when at least
//! half of them are), for good, scoped to its pattern. Labels are consulted only for the incidents
//! reviewed.

use std::collections::{HashMap, HashSet, VecDeque};

use logsentinel::{Detection, Error, FeedbackLabel, NewFeedback, SessionVerdict, TenantDetector};

/// Where the truth comes from.
pub struct Truth<'a> {
    /// Session labels (session id -> anomalous).
    pub sessions: Option<&'a HashMap<String, bool>>,
    /// Line labels, in input order.
    pub lines: Option<&'a [bool]>,
}

/// An anomaly in an incident, by what can tell its truth.
enum Member {
    Line {
        index: usize,
        session: Option<String>,
    },
    Session(String),
}

/// The operator's state during one replay.
pub struct Operator<'a> {
    budget: usize,
    truth: Truth<'a>,
    raised: VecDeque<u64>,
    members: HashMap<u64, Vec<Member>>,
    /// Lines (input indices) of each session, to judge a session by its lines under line labels.
    session_lines: HashMap<String, Vec<usize>>,
    reviewed: Vec<(u64, FeedbackLabel, String)>,
    /// Incidents seen in results, with their flagged lines and verdicts.
    sizes: HashMap<u64, u64>,
    seen_raised: HashSet<u64>,
}

impl<'a> Operator<'a> {
    /// An operator who reviews up to `budget` incidents.
    pub fn new(budget: usize, truth: Truth<'a>) -> Self {
        Self {
            budget,
            truth,
            raised: VecDeque::new(),
            members: HashMap::new(),
            session_lines: HashMap::new(),
            reviewed: Vec::new(),
            sizes: HashMap::new(),
            seen_raised: HashSet::new(),
        }
    }

    /// Notes a scored line (`index`: 0-based position in the input).
    pub fn observe_line(&mut self, index: usize, d: &Detection) {
        if let (Some(s), Some(_)) = (&d.session_id, self.truth.lines) {
            if self.truth.sessions.is_none() {
                self.session_lines.entry(s.clone()).or_default().push(index);
            }
        }
        if let Some(id) = d.incident_id {
            *self.sizes.entry(id).or_default() += 1;
            self.members.entry(id).or_default().push(Member::Line {
                index,
                session: d.session_id.clone(),
            });
        }
    }

    /// Notes a session verdict.
    pub fn observe_verdict(&mut self, v: &SessionVerdict) {
        if let Some(id) = v.incident_id {
            *self.sizes.entry(id).or_default() += 1;
            self.members
                .entry(id)
                .or_default()
                .push(Member::Session(v.session_id.clone()));
        }
    }

    /// Takes the newly raised incidents and reviews them while the budget lasts.
    pub fn review(&mut self, det: &TenantDetector, key: &str) -> Result<(), Error> {
        for incident in det.poll_incidents(key, usize::MAX)? {
            if self.seen_raised.insert(incident.id) {
                self.raised.push_back(incident.id);
            }
        }
        while self.reviewed.len() < self.budget {
            let Some(id) = self.raised.pop_front() else {
                break;
            };
            let Some(label) = self.judge(id) else {
                continue;
            };
            det.feedback(key, NewFeedback::incident(id, label))?;
            let title = det.incident(key, id)?.title;
            self.reviewed.push((id, label, title));
        }
        Ok(())
    }

    /// The truth of an incident: anomalous when at least half of what it holds is (`None`: nothing
    /// in it has a label).
    fn judge(&self, id: u64) -> Option<FeedbackLabel> {
        let (mut anomalous, mut known) = (0usize, 0usize);
        for m in self.members.get(&id)? {
            if let Some(y) = self.truth_of(m) {
                known += 1;
                anomalous += usize::from(y);
            }
        }
        (known > 0).then(|| {
            if 2 * anomalous >= known {
                FeedbackLabel::Anomaly
            } else {
                FeedbackLabel::Normal
            }
        })
    }

    fn truth_of(&self, m: &Member) -> Option<bool> {
        match m {
            Member::Line { index, session } => self
                .truth
                .lines
                .and_then(|g| g.get(*index).copied())
                .or_else(|| self.session_truth(session.as_deref()?)),
            Member::Session(s) => self.session_truth(s),
        }
    }

    fn session_truth(&self, session: &str) -> Option<bool> {
        if let Some(labels) = self.truth.sessions {
            return labels.get(session).copied();
        }
        let gold = self.truth.lines?;
        let lines = self.session_lines.get(session)?;
        Some(lines.iter().any(|&i| gold.get(i).copied().unwrap_or(false)))
    }

    /// Incidents reviewed, with the label given and their title.
    pub fn reviewed(&self) -> &[(u64, FeedbackLabel, String)] {
        &self.reviewed
    }

    /// Incidents met in the results, with the anomalies (flagged lines and verdicts) each holds.
    pub fn incident_sizes(&self) -> &HashMap<u64, u64> {
        &self.sizes
    }
}
