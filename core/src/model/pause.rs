//! How long a project's sessions pause between their lines, learned from the warmup.
//!
//! A session is over when it has been silent for the configured idle timeout. At the end of an input
//! (a replay, a shutdown) that test cannot be made for the sessions of the last minutes: they are
//! judged as cut, on what they hold only. Yet a session silent far longer than the project's sessions
//! ever pause inside has finished in all but name: the pauses of warmup sessions say how long "far
//! longer" is, for this project's own rhythm (a block written in a second, a user reading a page for
//! minutes), with no constant fitted to any system.
//!
//! Pauses are counted in a fixed histogram of log-spaced buckets ([`BUCKETS_PER_OCTAVE`] per
//! doubling), so the memory is constant and a quantile is read within a factor of 2^(1/4).

use serde::{Deserialize, Serialize};

/// Buckets per doubling of the pause.
pub const BUCKETS_PER_OCTAVE: f64 = 4.0;

/// Upper edge of the first bucket (seconds): shorter pauses (log timestamps at the same second)
/// all land there.
const FIRST_EDGE_SECS: f64 = 1e-3;

/// Buckets: 40 octaves above [`FIRST_EDGE_SECS`] reach beyond thirty years.
const BUCKETS: usize = 40 * BUCKETS_PER_OCTAVE as usize + 1;

/// A histogram of pauses (seconds between consecutive lines of one session).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pauses {
    /// Pauses per bucket (empty until the first pause).
    counts: Vec<u64>,
    /// Pauses counted.
    total: u64,
}

impl Pauses {
    /// Counts one pause; negative or non-finite ones (clock skew, lines without a time) are ignored.
    pub fn record(&mut self, secs: f64) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        self.counts[bucket_of(secs)] += 1;
        self.total += 1;
    }

    /// Pauses counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The pause (seconds) that at most `share` of the counted pauses exceed: the upper edge of the
    /// bucket where the `1 - share` quantile falls. `None` until there are at least `1 / share`
    /// pauses: fewer cannot tell the `1 - share` quantile from the largest pause seen.
    pub fn longest_normal(&self, share: f64) -> Option<f64> {
        if !(share > 0.0 && share < 1.0) || (self.total as f64) < (1.0 / share).ceil() {
            return None;
        }
        let within = ((1.0 - share) * self.total as f64).ceil() as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= within {
                return Some(upper_edge(i));
            }
        }
        None
    }
}

/// Bucket of a pause: 0 for up to [`FIRST_EDGE_SECS`], then [`BUCKETS_PER_OCTAVE`] per doubling.
fn bucket_of(secs: f64) -> usize {
    if secs <= FIRST_EDGE_SECS {
        return 0;
    }
    let octaves = (secs / FIRST_EDGE_SECS).log2();
    ((octaves * BUCKETS_PER_OCTAVE).ceil() as usize).min(BUCKETS - 1)
}

/// Largest pause of a bucket.
fn upper_edge(bucket: usize) -> f64 {
    FIRST_EDGE_SECS * (bucket as f64 / BUCKETS_PER_OCTAVE).exp2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_pauses() {
        for secs in [0.0, 0.0005, 0.001, 0.0011, 0.5, 1.0, 3.7, 60.0, 86_400.0] {
            let b = bucket_of(secs);
            assert!(
                secs <= upper_edge(b) * (1.0 + 1e-12),
                "{secs} above bucket {b}"
            );
            if b > 0 {
                assert!(secs > upper_edge(b - 1), "{secs} belongs below bucket {b}");
            }
        }
        // Each bucket spans a factor of 2^(1/4).
        assert!((upper_edge(9) / upper_edge(8) - 2f64.powf(0.25)).abs() < 1e-12);
    }

    #[test]
    fn the_longest_normal_pause_is_a_high_quantile_known_only_from_enough_pauses() {
        let mut p = Pauses::default();
        assert_eq!(p.longest_normal(0.01), None);
        // 990 pauses of one second, 10 of an hour.
        for _ in 0..990 {
            p.record(1.0);
        }
        assert_eq!(
            p.longest_normal(0.001),
            None,
            "10 pauses short of 1 / share"
        );
        for _ in 0..10 {
            p.record(3600.0);
        }
        p.record(-5.0);
        p.record(f64::NAN);
        assert_eq!(p.total(), 1000);
        // 1% of the pauses may exceed the answer: the hour-long ones.
        let one_percent = p.longest_normal(0.01).expect("1000 pauses");
        assert!((1.0..1.2).contains(&one_percent), "{one_percent}");
        // No pause may exceed it at a share of 0.1%: the hour counts.
        let tenth = p.longest_normal(0.001).expect("1000 pauses");
        assert!((3600.0..3600.0 * 1.2).contains(&tenth), "{tenth}");
        assert_eq!(p.longest_normal(0.0), None);
    }
}
