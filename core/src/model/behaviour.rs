//! Client behaviour over a session's recent lines, for any log with sessions.
//!
//! One line rarely says that a client is hostile: a scanner's `GET /admin.php` answered 404 reads like a
//! reader's broken link. What tells them apart is what the client keeps doing. A normal client mostly
//! succeeds (a browser fetches pages and the resources they link, a service calls endpoints that exist);
//! a client that guesses paths, replays probes or hammers a failing dependency fails again and again.
//!
//! The test, per line, on the last [`WINDOW`] lines of its session: at least [`MIN_WINDOW`] lines, most
//! of them failed (HTTP status >= 400, or an error-level line), and that many failures improbable for
//! the project (binomial upper tail below [`TAIL_BUDGET`] at the project's own base failure rate,
//! learned from its warmup). Both conditions matter: the majority keeps a page with a few broken images
//! from counting, the tail keeps a project whose lines often fail (a log of retries) from counting.
//! The hit is a rule (`behaviour:failures`) so it is discounted like any rule that is common in the
//! project's warmup sessions, and it marks the session as an attack session for its later lines.

use serde::{Deserialize, Serialize};

use super::rules::{RuleCategory, RuleHit};

/// Most recent lines of a session the test looks at.
pub const WINDOW: u32 = 20;

/// Fewest lines in the window before the test is made: fewer cannot hold a sustained pattern.
pub const MIN_WINDOW: u32 = 10;

/// Largest chance, at the project's base rate, of the window's failures for them to count: the
/// detector's false-positive budget per line (0.1%).
pub const TAIL_BUDGET: f64 = 1e-3;

/// Name of the rule the test reports as.
pub const FAILURES_RULE: &str = "behaviour:failures";

/// Severity of a hit: above the flag threshold (0.5), below the injection rules (a pattern of failures
/// is strong evidence, a payload is stronger).
const FAILURES_SEVERITY: f32 = 0.8;

/// Whether a line is a failure: an HTTP status of 400 or more, or an error-level severity
/// ([`super::features::level_rank`] of 3 or more).
pub fn is_failure(http_status: Option<u16>, level_rank: u8) -> bool {
    http_status.is_some_and(|s| s >= 400) || level_rank >= 3
}

/// The outcomes of a session's last [`WINDOW`] lines, as a shift register (1: failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeWindow {
    bits: u32,
    len: u32,
}

impl OutcomeWindow {
    /// Adds a line's outcome; the oldest falls out once the window is full.
    pub fn push(&mut self, failed: bool) {
        let mask = (1u32 << WINDOW) - 1;
        self.bits = ((self.bits << 1) | u32::from(failed)) & mask;
        self.len = (self.len + 1).min(WINDOW);
    }

    /// Lines in the window.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether no line was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Failed lines in the window.
    pub fn failures(&self) -> u32 {
        self.bits.count_ones()
    }
}

/// A project's base failure rate: failed lines among the lines counted (its warmup).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BaseRate {
    /// Lines counted.
    pub lines: u64,
    /// Failed lines among them.
    pub failures: u64,
}

impl BaseRate {
    /// The failure share, with one failure and one success added (Laplace): a warmup with no failure
    /// does not make every failure impossible.
    pub fn share(&self) -> f64 {
        (self.failures as f64 + 1.0) / (self.lines as f64 + 2.0)
    }
}

/// Natural log of the binomial upper tail P(X >= k) for X ~ Bin(n, p), summed in log space.
fn log_upper_tail(k: u32, n: u32, p: f64) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut terms = Vec::with_capacity(n as usize + 1);
    for j in 0..=n {
        if j > 0 {
            ln_choose += ((n - j + 1) as f64).ln() - (j as f64).ln();
        }
        if j >= k {
            terms.push(ln_choose + j as f64 * lp + (n - j) as f64 * lq);
        }
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
}

/// The `behaviour:failures` hit of a session whose recent lines fail far more than the project's
/// lines do, or `None`.
pub fn failures_hit(window: &OutcomeWindow, base: &BaseRate) -> Option<RuleHit> {
    let (n, k) = (window.len(), window.failures());
    if n < MIN_WINDOW || 2 * k <= n {
        return None;
    }
    let p = base.share();
    if log_upper_tail(k, n, p) > TAIL_BUDGET.ln() {
        return None;
    }
    Some(RuleHit {
        rule: FAILURES_RULE.to_string(),
        category: RuleCategory::Behaviour,
        severity: FAILURES_SEVERITY,
        evidence: format!(
            "{k} of the session's last {n} lines failed (4xx/5xx or error level); {:.1}% of the \
             project's lines do",
            p * 100.0
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(outcomes: &[bool]) -> OutcomeWindow {
        let mut w = OutcomeWindow::default();
        for &o in outcomes {
            w.push(o);
        }
        w
    }

    #[test]
    fn window_keeps_the_last_lines_only() {
        let mut w = window(&[true; 25]);
        assert_eq!((w.len(), w.failures()), (WINDOW, WINDOW));
        for _ in 0..5 {
            w.push(false);
        }
        assert_eq!(w.failures(), WINDOW - 5);
    }

    #[test]
    fn tail_matches_direct_sums() {
        // P(X >= 2), X ~ Bin(3, 0.5) = 4/8.
        assert!((log_upper_tail(2, 3, 0.5).exp() - 0.5).abs() < 1e-12);
        // P(X >= 10), X ~ Bin(10, 0.1) = 1e-10.
        assert!((log_upper_tail(10, 10, 0.1) - 1e-10f64.ln()).abs() < 1e-9);
        assert_eq!(log_upper_tail(0, 5, 0.3), 0.0);
    }

    #[test]
    fn a_failing_client_is_a_hit_only_where_failures_are_rare() {
        let rare = BaseRate {
            lines: 3000,
            failures: 60,
        };
        let scanning = window(&[true; 12]);
        let hit = failures_hit(&scanning, &rare).expect("12 failures in a row at a 2% base rate");
        assert_eq!(hit.rule, FAILURES_RULE);
        assert!(hit
            .evidence
            .starts_with("12 of the session's last 12 lines failed"));
        // Too few lines to tell.
        assert!(failures_hit(&window(&[true; 9]), &rare).is_none());
        // A page with a few broken images: a minority of failures.
        let mut browsing = vec![false; 14];
        browsing.extend([true; 6]);
        assert!(failures_hit(&window(&browsing), &rare).is_none());
        // A project where most lines fail: the same window is ordinary.
        let failing_project = BaseRate {
            lines: 3000,
            failures: 2000,
        };
        assert!(failures_hit(&scanning, &failing_project).is_none());
    }
}
