//! Open sessions of one project: bounded by an idle timeout on log time and a cap (least recently active
//! closed first).

use std::collections::{BTreeSet, HashMap};

use crate::model::behaviour::OutcomeWindow;
use crate::model::infer::SessionState;

/// Most template ids kept per session; longer sessions are cut into chunks for training.
pub const MAX_SESSION_TOKENS: usize = 256;

/// One open session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Log time of its first line.
    pub first_time: f64,
    /// Log time of its last line.
    pub last_time: f64,
    /// Local template ids seen, in order (0 for a template unknown to the miner), capped.
    pub templates: Vec<u32>,
    /// Lines seen (not capped).
    pub lines: u64,
    /// Lines flagged individually.
    pub anomalous_lines: u64,
    /// Lines with an error-level severity.
    pub error_lines: u64,
    /// Lines whose template the scoring model did not know.
    pub unknown_lines: u64,
    /// Lines with a (project-weighted) web-attack rule hit.
    pub attack_lines: u64,
    /// User-agent hashes (0: none) of the clients of this session caught attacking.
    pub attack_agents: Vec<u64>,
    /// Sum of the sequence model's surprise over the lines.
    pub nll_sum: f32,
    /// Rules that fired in this session so far (each counted once per session in the warmup's
    /// evidence that a rule is normal).
    pub rules_seen: Vec<String>,
    /// Templates (of the project's novel-line miner) of its active-phase lines that no project
    /// template matched, distinct, in order of first appearance.
    pub novel: Vec<u32>,
    /// Lines flagged for something other than the novelty of their template (rules, forest, the
    /// sequence model on a known template): a session with any is not in ordinary company.
    pub flagged_known: u64,
    /// Outcomes (failed or not) of the last lines of each client of the session (by user-agent hash,
    /// 0: none), for the behaviour test; see [`Session::outcomes_of`].
    pub outcomes: Vec<(u64, OutcomeWindow)>,
    /// Incremental model state and the generation of the model it belongs to.
    pub cache: Option<(u64, SessionState)>,
    seq: u64,
}

/// Most clients (user agents) of one session with an outcome window of their own; the lines of any
/// further agent share one window, so a client that changes its agent at every request is still
/// judged on its run of outcomes.
pub const MAX_SESSION_AGENTS: usize = 8;

impl Session {
    /// The outcome window of the session's client with user-agent hash `agent`.
    pub fn outcomes_of(&mut self, agent: u64) -> &mut OutcomeWindow {
        let known = self.outcomes.iter().any(|(a, _)| *a == agent);
        let key = if known || self.outcomes.len() < MAX_SESSION_AGENTS {
            agent
        } else {
            u64::MAX
        };
        let i = match self.outcomes.iter().position(|(a, _)| *a == key) {
            Some(i) => i,
            None => {
                self.outcomes.push((key, OutcomeWindow::default()));
                self.outcomes.len() - 1
            }
        };
        &mut self.outcomes[i].1
    }

    fn order_key(&self) -> (i64, u64) {
        (time_key(self.last_time), self.seq)
    }
}

fn time_key(t: f64) -> i64 {
    (t * 1e6) as i64
}

/// The open sessions of a project.
#[derive(Debug, Default)]
pub struct SessionTable {
    map: HashMap<String, Session>,
    order: BTreeSet<(i64, u64, String)>,
    next_seq: u64,
}

impl SessionTable {
    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The session, opened at `time` when new. Returns it and whether it was new.
    pub fn touch(&mut self, id: &str, time: f64) -> (&mut Session, bool) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let is_new = !self.map.contains_key(id);
        if let Some(s) = self.map.get(id) {
            let (t, q) = s.order_key();
            self.order.remove(&(t, q, id.to_string()));
        }
        let s = self.map.entry(id.to_string()).or_insert_with(|| Session {
            id: id.to_string(),
            first_time: time,
            last_time: time,
            templates: Vec::new(),
            lines: 0,
            anomalous_lines: 0,
            error_lines: 0,
            unknown_lines: 0,
            attack_lines: 0,
            attack_agents: Vec::new(),
            nll_sum: 0.0,
            rules_seen: Vec::new(),
            novel: Vec::new(),
            flagged_known: 0,
            outcomes: Vec::new(),
            cache: None,
            seq,
        });
        // Log time never runs backwards within a session (out-of-order lines keep the latest time).
        s.last_time = s.last_time.max(time);
        s.seq = seq;
        let (t, q) = s.order_key();
        self.order.insert((t, q, id.to_string()));
        (s, is_new)
    }

    /// Access to an open session.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Session> {
        self.map.get_mut(id)
    }

    /// Closes one session.
    pub fn remove(&mut self, id: &str) -> Option<Session> {
        let s = self.map.remove(id)?;
        let (t, q) = s.order_key();
        self.order.remove(&(t, q, id.to_string()));
        Some(s)
    }

    /// Closes every session idle since before `now - timeout` (log time), oldest first.
    pub fn expire(&mut self, now: f64, timeout: f64) -> Vec<Session> {
        let limit = time_key(now - timeout);
        let mut out = Vec::new();
        while let Some((t, _, id)) = self.order.first().cloned() {
            if t >= limit {
                break;
            }
            if let Some(s) = self.remove(&id) {
                out.push(s);
            } else {
                self.order.pop_first();
            }
        }
        out
    }

    /// Closes the least recently active sessions until at most `cap` remain.
    pub fn enforce_cap(&mut self, cap: usize) -> Vec<Session> {
        let mut out = Vec::new();
        while self.map.len() > cap {
            let Some((_, _, id)) = self.order.first().cloned() else {
                break;
            };
            match self.remove(&id) {
                Some(s) => out.push(s),
                None => {
                    self.order.pop_first();
                }
            }
        }
        out
    }

    /// Closes every session, oldest first.
    pub fn drain(&mut self) -> Vec<Session> {
        let ids: Vec<String> = self.order.iter().map(|(_, _, id)| id.clone()).collect();
        ids.iter().filter_map(|id| self.remove(id)).collect()
    }

    /// All open sessions, least recently active first. A fixed order (the map's is random per
    /// process) keeps what is built from them, such as training data, reproducible under a seed.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.order.iter().filter_map(|(_, _, id)| self.map.get(id))
    }

    /// All open sessions, mutably, in no particular order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Session> {
        self.map.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_runs_on_log_time_and_cap_evicts_least_recent() {
        let mut t = SessionTable::default();
        t.touch("a", 100.0);
        t.touch("b", 110.0);
        t.touch("c", 120.0);
        let (s, new) = t.touch("a", 125.0);
        assert!(!new);
        assert_eq!(s.first_time, 100.0);
        // b is idle since 110; at 175 with a 60 s timeout only b (110 < 115) expires.
        let gone: Vec<String> = t.expire(175.0, 60.0).into_iter().map(|s| s.id).collect();
        assert_eq!(gone, vec!["b"]);
        assert_eq!(t.len(), 2);
        let evicted: Vec<String> = t.enforce_cap(1).into_iter().map(|s| s.id).collect();
        assert_eq!(evicted, vec!["c"]);
        assert_eq!(t.drain().len(), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn out_of_order_times_never_move_a_session_back() {
        let mut t = SessionTable::default();
        t.touch("a", 100.0);
        t.touch("a", 50.0);
        assert!(t.expire(120.0, 30.0).is_empty());
        assert_eq!(t.expire(131.0, 30.0).len(), 1);
    }
}
