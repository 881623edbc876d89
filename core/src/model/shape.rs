//! Session shapes: what a complete normal session of a project looks like, learned from the template
//! count vectors of sessions that closed by an idle timeout (never from sessions cut at the warmup
//! boundary), and the session-end judgement against it.
//!
//! Three checks, each robust to a few percent of anomalous sessions in the (unlabelled) warmup:
//! - **rare templates**: a template held by fewer than [`RARE_SESSION_SHARE`] of the sessions (or never
//!   seen) is suspicious, not normal: a handful of contaminated sessions cannot make an event type normal;
//! - **missing templates**: a template held by at least [`COMMON_SESSION_SHARE`] of the sessions is
//!   expected, and a session without it stopped before it (what never comes);
//! - **count invariants** (Lou et al., "Mining invariants from console logs", 2010, pairwise form): two
//!   templates whose counts are equal in at least [`INVARIANT_SHARE`] of the sessions holding either are
//!   tied (e.g. one "received" per "receiving"); a session that breaks a tie is suspicious unless its
//!   whole count vector is itself a recurring warmup shape (at least [`RECURRING_SHAPE_SUPPORT`] sessions).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// Below this share of sessions holding it, a template is rare (suspicious). It is the share of
/// anomalous sessions an unlabelled warmup is expected to hold (a few percent): an event type held by
/// fewer sessions than that may come from the contaminated ones alone, so seeing it is no proof that it
/// is normal.
pub const RARE_SESSION_SHARE: f32 = 0.03;
/// Rarity is news only in a project where at most this share of the warmup's complete sessions hold a
/// rare template: over three times the contamination [`RARE_SESSION_SHARE`] allows for. Where more do
/// (many event types, short sessions), holding a rare template is the project's ordinary business,
/// and the check would flag that share of its normal sessions.
pub const MAX_RARE_HOLDING_SHARE: f32 = 0.10;
/// At or above this share of sessions holding it, a template is expected in every session.
pub const COMMON_SESSION_SHARE: f32 = 0.98;
/// Share of the sessions holding either template in which two counts must be equal to be tied.
pub const INVARIANT_SHARE: f32 = 0.97;
/// Sessions holding either template needed before a tie between two templates is trusted.
pub const MIN_INVARIANT_SUPPORT: usize = 20;
/// A whole count vector seen in at least this many warmup sessions is a normal shape.
pub const RECURRING_SHAPE_SUPPORT: u32 = 3;
/// Complete sessions needed before any shape check is made.
pub const MIN_SHAPE_SESSIONS: usize = 30;
/// At most this many templates (the most widespread) take part in count invariants.
const MAX_INVARIANT_TEMPLATES: usize = 64;

/// A session's template counts, sorted by template id (the canonical form of a shape).
pub type CountVector = Vec<(u32, u32)>;

/// Counts of the templates of one session (0, the unknown template, included).
pub fn count_vector(templates: &[u32]) -> CountVector {
    let mut m: BTreeMap<u32, u32> = BTreeMap::new();
    for &t in templates {
        *m.entry(t).or_insert(0) += 1;
    }
    m.into_iter().collect()
}

/// The learned shape of a project's complete sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionShape {
    /// Complete sessions it was learned from.
    pub sessions: usize,
    /// Sessions holding each template.
    pub presence: HashMap<u32, u32>,
    /// Tied template pairs (equal counts in nearly every session holding either).
    pub invariants: Vec<(u32, u32)>,
    /// Count vectors that recur in at least [`RECURRING_SHAPE_SUPPORT`] sessions.
    pub recurring: Vec<CountVector>,
    /// All warmup sessions, complete or not (rarity is judged against these when there are more of
    /// them than complete ones: a template's presence is seen in any session, even one still open).
    #[serde(default)]
    pub seen_sessions: usize,
    /// Warmup sessions, complete or not, holding each template.
    #[serde(default)]
    pub seen_presence: HashMap<u32, u32>,
    /// Share of the complete warmup sessions holding a rare template (see
    /// [`SessionShape::rarity_is_news`]; 0 in shapes stored before it was measured).
    #[serde(default)]
    pub rare_holding_share: f32,
}

/// What the shape says about one session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShapeJudgement {
    /// Rare or never-seen templates the session holds.
    pub rare: Vec<u32>,
    /// Expected templates the session lacks.
    pub missing: Vec<u32>,
    /// Tied pairs whose counts differ in this session.
    pub broken: Vec<(u32, u32, u32, u32)>,
    /// Whether the session's whole count vector is a recurring warmup shape: its composition is that
    /// of many complete sessions, so an unusual last event is interleaving, not a stop.
    pub recurring: bool,
}

impl ShapeJudgement {
    /// Whether any check failed.
    pub fn is_anomalous(&self) -> bool {
        !(self.rare.is_empty() && self.missing.is_empty() && self.broken.is_empty())
    }
}

impl SessionShape {
    /// Learns the shape from the count vectors of complete sessions.
    pub fn fit(vectors: &[CountVector]) -> Self {
        let n = vectors.len();
        let mut presence: HashMap<u32, u32> = HashMap::new();
        let mut shapes: HashMap<&CountVector, u32> = HashMap::new();
        for v in vectors {
            for &(t, c) in v {
                if c > 0 {
                    *presence.entry(t).or_insert(0) += 1;
                }
            }
            *shapes.entry(v).or_insert(0) += 1;
        }
        let mut recurring: Vec<CountVector> = shapes
            .into_iter()
            .filter(|(_, c)| *c >= RECURRING_SHAPE_SUPPORT)
            .map(|(v, _)| v.clone())
            .collect();
        recurring.sort();

        // Candidates for ties: templates common enough to give support, the most widespread first.
        let mut cands: Vec<(u32, u32)> = presence
            .iter()
            .filter(|(&t, &c)| t != 0 && c as usize >= MIN_INVARIANT_SUPPORT)
            .map(|(&t, &c)| (t, c))
            .collect();
        cands.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        cands.truncate(MAX_INVARIANT_TEMPLATES);
        let ids: Vec<u32> = cands.iter().map(|c| c.0).collect();
        let index: HashMap<u32, usize> = ids.iter().enumerate().map(|(i, &t)| (t, i)).collect();
        let k = ids.len();
        let mut either = vec![0u32; k * k];
        let mut equal = vec![0u32; k * k];
        let mut row = vec![0u32; k];
        for v in vectors {
            row.iter_mut().for_each(|c| *c = 0);
            for &(t, c) in v {
                if let Some(&i) = index.get(&t) {
                    row[i] = c;
                }
            }
            for a in 0..k {
                for b in (a + 1)..k {
                    if row[a] > 0 || row[b] > 0 {
                        either[a * k + b] += 1;
                        if row[a] == row[b] {
                            equal[a * k + b] += 1;
                        }
                    }
                }
            }
        }
        let mut invariants = Vec::new();
        for a in 0..k {
            for b in (a + 1)..k {
                let e = either[a * k + b] as usize;
                if e >= MIN_INVARIANT_SUPPORT
                    && equal[a * k + b] as f32 >= INVARIANT_SHARE * e as f32
                {
                    let (x, y) = (ids[a].min(ids[b]), ids[a].max(ids[b]));
                    invariants.push((x, y));
                }
            }
        }
        invariants.sort_unstable();

        Self {
            sessions: n,
            presence,
            invariants,
            recurring,
            seen_sessions: 0,
            seen_presence: HashMap::new(),
            rare_holding_share: 0.0,
        }
    }

    /// Measures on the complete warmup sessions `vectors` how many hold a rare template (call after
    /// [`SessionShape::with_seen`], which decides what is rare).
    pub fn with_rare_holding(mut self, vectors: &[CountVector]) -> Self {
        if self.is_ready() && !vectors.is_empty() {
            let holding = vectors
                .iter()
                .filter(|v| v.iter().any(|&(t, c)| c > 0 && self.is_rare(t)))
                .count();
            self.rare_holding_share = holding as f32 / vectors.len() as f32;
        }
        self
    }

    /// Whether holding a rare template sets a session apart in this project (see
    /// [`MAX_RARE_HOLDING_SHARE`]).
    pub fn rarity_is_news(&self) -> bool {
        self.rare_holding_share <= MAX_RARE_HOLDING_SHARE
    }

    /// Adds the presence counts of every warmup session (complete or still open) for rarity.
    pub fn with_seen(mut self, sessions: usize, presence: &HashMap<u32, u32>) -> Self {
        if sessions > self.sessions {
            self.seen_sessions = sessions;
            self.seen_presence = presence.clone();
        }
        self
    }

    /// Whether enough sessions were seen to judge.
    pub fn is_ready(&self) -> bool {
        self.sessions >= MIN_SHAPE_SESSIONS
    }

    /// Whether a template is rare (or unknown) in this project's sessions.
    pub fn is_rare(&self, template: u32) -> bool {
        let (presence, n) = if self.seen_sessions > self.sessions {
            (&self.seen_presence, self.seen_sessions)
        } else {
            (&self.presence, self.sessions)
        };
        self.is_ready()
            && (template == 0
                || (presence.get(&template).copied().unwrap_or(0) as f32)
                    < RARE_SESSION_SHARE * n as f32)
    }

    /// Templates expected in every session, sorted.
    pub fn common(&self) -> Vec<u32> {
        if !self.is_ready() {
            return Vec::new();
        }
        let mut v: Vec<u32> = self
            .presence
            .iter()
            .filter(|(&t, &c)| t != 0 && c as f32 >= COMMON_SESSION_SHARE * self.sessions as f32)
            .map(|(&t, _)| t)
            .collect();
        v.sort_unstable();
        v
    }

    /// Judges one complete session from its templates.
    pub fn judge(&self, templates: &[u32]) -> ShapeJudgement {
        let mut out = ShapeJudgement::default();
        if !self.is_ready() || templates.is_empty() {
            return out;
        }
        let counts = count_vector(templates);
        let get = |t: u32| -> u32 {
            counts
                .binary_search_by_key(&t, |e| e.0)
                .map(|i| counts[i].1)
                .unwrap_or(0)
        };
        out.rare = counts
            .iter()
            .map(|e| e.0)
            .filter(|&t| self.is_rare(t))
            .collect();
        out.missing = self.common().into_iter().filter(|&t| get(t) == 0).collect();
        out.recurring = self.recurring.binary_search(&counts).is_ok();
        if !out.recurring {
            for &(a, b) in &self.invariants {
                let (ca, cb) = (get(a), get(b));
                if ca == cb {
                    continue;
                }
                out.broken.push((a, ca, b, cb));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(i: usize) -> Vec<u32> {
        // open, three receive/ack pairs, optional serve, close
        let mut v = vec![1, 2, 3, 2, 3, 2, 3];
        if i % 3 == 0 {
            v.push(4);
        }
        v.push(5);
        v
    }

    /// `n` normal sessions, session `i` also holding the template `extra(i)` gives.
    fn sessions(n: usize, extra: impl Fn(usize) -> Option<u32>) -> Vec<CountVector> {
        (0..n)
            .map(|i| {
                let mut s = normal(i);
                s.extend(extra(i));
                count_vector(&s)
            })
            .collect()
    }

    #[test]
    fn rare_missing_and_broken_ties_are_found() {
        let mut vecs: Vec<CountVector> = (0..200).map(|i| count_vector(&normal(i))).collect();
        // 3% contamination: a rare event type (2 sessions) and truncated sessions (4).
        for i in 0..6 {
            let mut s = normal(i);
            if i % 3 == 0 {
                s.push(9);
            } else {
                s.pop();
            }
            vecs.push(count_vector(&s));
        }
        let shape = SessionShape::fit(&vecs);
        assert!(shape.invariants.contains(&(2, 3)), "{:?}", shape.invariants);
        assert!(!shape.judge(&normal(0)).is_anomalous());
        assert!(!shape.judge(&normal(1)).is_anomalous());
        let j = shape.judge(&[1, 2, 3, 2, 3, 2, 3, 9, 5]);
        assert_eq!(j.rare, vec![9]);
        let j = shape.judge(&[1, 2, 3, 2, 3, 2, 3]);
        assert_eq!(j.missing, vec![5]);
        let j = shape.judge(&[1, 2, 3, 2, 2, 3, 5]);
        assert!(j.broken.iter().any(|b| b.0 == 2 && b.2 == 3), "{j:?}");
        assert!(j.rare.is_empty() && j.missing.is_empty());
        // A session with the exact composition of many complete sessions is marked as such.
        assert!(shape.judge(&normal(1)).recurring);
        assert!(!shape.judge(&[1, 2, 3, 2, 3, 5]).recurring);
        // Too few sessions: no judgement.
        assert!(!SessionShape::fit(&vecs[..5]).judge(&[9]).is_anomalous());
    }

    #[test]
    fn a_template_held_by_fewer_sessions_than_the_contamination_is_rare() {
        // 100 sessions: template 7 in 2 of them (as a handful of anomalous sessions would hold it),
        // template 4 in a third of them.
        let vecs = sessions(100, |i| (i < 2).then_some(7));
        let shape = SessionShape::fit(&vecs);
        assert!(shape.is_rare(7));
        assert!(!shape.is_rare(4));
        assert!(shape.is_rare(0), "the unknown template is always rare");
        assert_eq!(shape.judge(&[1, 2, 3, 2, 3, 2, 3, 7, 5]).rare, vec![7]);
    }

    #[test]
    fn rarity_is_news_only_where_few_warmup_sessions_hold_a_rare_template() {
        // 2% contamination with a rare event: rarity sets those sessions apart.
        let few = sessions(100, |i| (i < 2).then_some(7));
        let shape = SessionShape::fit(&few).with_rare_holding(&few);
        assert!((shape.rare_holding_share - 0.02).abs() < 1e-6);
        assert!(shape.rarity_is_news());
        // A project of many event types: a third of its sessions hold one of 50 rare templates.
        let many = sessions(150, |i| (i % 3 == 0).then_some(100 + i as u32 / 3));
        let shape = SessionShape::fit(&many).with_rare_holding(&many);
        assert!(
            shape.rare_holding_share > 0.3,
            "{}",
            shape.rare_holding_share
        );
        assert!(!shape.rarity_is_news());
        // Shapes stored before the share was measured keep judging rarity.
        assert!(SessionShape::fit(&many).rarity_is_news());
    }
}
