//! Novelty that wears off: rarity over a recent window of closed sessions, as well as over the warmup.
//!
//! The session shape ([`crate::model::shape`]) calls a template rare when fewer than
//! [`RARE_SESSION_SHARE`] of the warmup sessions held it, and a template the warmup never saw is rare
//! for ever. A normal event type that first appears after the warmup (a new code path, a job that runs
//! weekly) would then be flagged in every session that holds it, long after it has become common. Here
//! rarity is also judged over the last [`RecentRarity::window`] closed sessions (as Elastic's `rare` is
//! rare over a window, not since the beginning of time): a rare template held by at least that share of
//! the window's sessions *in ordinary company* (sessions with nothing else wrong: no missing template,
//! no broken count tie, no unusual end, no line flagged for anything but novelty) is part of the
//! project. Anomalous sessions never vouch for what they hold, and a template that stays below the share
//! stays rare. Nothing here names a log type.

use std::collections::{HashMap, VecDeque};

use crate::model::shape::{RARE_SESSION_SHARE, RECURRING_SHAPE_SUPPORT};

/// A template as the window counts it: a template of the project's miner, or one of the templates of
/// lines no project template matched (mined apart, see [`novel_key`]).
pub type RarityKey = u64;

/// Key of a template of the project's miner.
pub fn known_key(template: u32) -> RarityKey {
    RarityKey::from(template)
}

/// Key of a template mined from active-phase lines that no project template matched.
pub fn novel_key(template: u32) -> RarityKey {
    (1 << 32) | RarityKey::from(template)
}

/// Rarity of templates over the last `window` closed sessions, counting only sessions in ordinary
/// company.
#[derive(Debug, Clone, Default)]
pub struct RecentRarity {
    window: usize,
    /// Per closed session, oldest first: the rare templates it vouched for (empty when it did not).
    recent: VecDeque<Vec<RarityKey>>,
    /// Sessions of the window that vouched for each template.
    counts: HashMap<RarityKey, u32>,
}

impl RecentRarity {
    /// A window of `window` closed sessions: the number of sessions the warmup's rarity was judged
    /// over, so "rare" means the same share of the same number of sessions, only recent ones.
    pub fn new(window: usize) -> Self {
        Self {
            window: window.max(1),
            ..Self::default()
        }
    }

    /// Sessions in the window.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Sessions of the window in ordinary company needed before a rare template is common: the
    /// warmup's rarity share of the whole window (not of the sessions seen so far, so a template is not
    /// common after its first few sessions), and at least as many as make a recurring shape.
    pub fn support_needed(&self) -> u32 {
        let share = (RARE_SESSION_SHARE * self.window as f32).ceil() as u32;
        share.max(RECURRING_SHAPE_SUPPORT)
    }

    /// Whether a rare template has become common over the window.
    pub fn is_common(&self, key: RarityKey) -> bool {
        self.counts.get(&key).copied().unwrap_or(0) >= self.support_needed()
    }

    /// Sessions of the window that vouched for a template.
    pub fn support(&self, key: RarityKey) -> u32 {
        self.counts.get(&key).copied().unwrap_or(0)
    }

    /// Records one closed session: the rare templates it holds when it is in ordinary company, nothing
    /// otherwise (it still takes its place in the window). The oldest session leaves the window.
    pub fn record(&mut self, vouched: Vec<RarityKey>) {
        let mut vouched = vouched;
        vouched.sort_unstable();
        vouched.dedup();
        for &k in &vouched {
            *self.counts.entry(k).or_insert(0) += 1;
        }
        self.recent.push_back(vouched);
        while self.recent.len() > self.window {
            if let Some(old) = self.recent.pop_front() {
                for k in old {
                    if let Some(c) = self.counts.get_mut(&k) {
                        *c -= 1;
                        if *c == 0 {
                            self.counts.remove(&k);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_recurring_in_ordinary_sessions_becomes_common_and_a_rare_one_does_not() {
        let mut r = RecentRarity::new(500);
        assert_eq!(r.support_needed(), 15);
        let new = novel_key(1);
        let rare = novel_key(2);
        for i in 0..500u32 {
            let mut keys = Vec::new();
            if i % 10 == 0 {
                keys.push(new); // 10% of the sessions
            }
            if i % 100 == 0 {
                keys.push(rare); // 1% of the sessions
            }
            r.record(keys);
            if i == 139 {
                assert!(
                    !r.is_common(new),
                    "14 sessions are not yet 3% of the window"
                );
            }
            if i == 140 {
                assert!(r.is_common(new), "the 15th session makes it common");
            }
        }
        assert!(r.is_common(new));
        assert!(!r.is_common(rare));
        assert_eq!(r.support(rare), 5);
        // Sessions that are not in ordinary company take their place in the window but vouch for
        // nothing: once the recent sessions holding it stop vouching, the template is rare again.
        for _ in 0..500 {
            r.record(Vec::new());
        }
        assert!(!r.is_common(new));
        assert_eq!(r.support(new), 0);
        assert!(r.counts.is_empty());
    }

    #[test]
    fn keys_of_known_and_novel_templates_differ() {
        assert_ne!(known_key(7), novel_key(7));
        assert_eq!(
            RecentRarity::new(10).support_needed(),
            RECURRING_SHAPE_SUPPORT
        );
    }
}
