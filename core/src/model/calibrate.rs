//! Calibration: each component's raw score is mapped to `[0, 1]` against a threshold learned on
//! held-out warmup data at a target false-positive rate, so components with different units combine.

use serde::{Deserialize, Serialize};

/// A threshold in a component's raw units, learned as a quantile of normal-ish data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// Raw value that maps to 0.5.
    pub value: f32,
    /// Samples it was learned from (0 = a prior, not learned).
    pub samples: u32,
}

impl Threshold {
    /// A fixed prior threshold used until data exist.
    pub const fn prior(value: f32) -> Self {
        Self { value, samples: 0 }
    }

    /// The `1 - fpr` quantile of `values` (extrapolated along an exponential tail when the data are too
    /// few to hold it, see [`tail_quantile`]), never below `floor` (so a component that is perfectly quiet on
    /// warmup does not fire on noise). `None` when there are no values.
    pub fn learn(values: &[f32], fpr: f64, floor: f32) -> Option<Self> {
        let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f32::total_cmp);
        let q = tail_quantile(&v, fpr);
        Some(Self {
            value: q.max(floor),
            samples: v.len().min(u32::MAX as usize) as u32,
        })
    }

    /// Maps a raw score to `[0, 1]`: 0.5 exactly at the threshold, monotone, approaching 1 as the raw
    /// score grows far beyond it.
    pub fn calibrate(&self, raw: f32) -> f32 {
        if !raw.is_finite() {
            return if raw > 0.0 { 1.0 } else { 0.0 };
        }
        let t = self.value.max(1e-6);
        if raw <= 0.0 {
            0.0
        } else if raw < t {
            0.5 * raw / t
        } else {
            1.0 - 0.5 * t / raw
        }
    }
}

/// Fewest expected exceedances for which the empirical quantile is used as is.
const MIN_EXCEEDANCES: f64 = 10.0;

/// The `1 - fpr` quantile of sorted values. When fewer than [`MIN_EXCEEDANCES`] values are expected
/// beyond it, the empirical quantile is only the sample maximum, whose own exceedance rate is about
/// `1 / n`, far above a small target. The tail is then extrapolated (peaks over threshold with an
/// exponential tail, as in SPOT, Siffer et al., KDD 2017): `u` is the quantile that leaves
/// `MIN_EXCEEDANCES` values above it, `beta` their mean excess over `u`, and the threshold
/// `u + beta * ln(tail_share / fpr)`.
pub fn tail_quantile(sorted: &[f32], fpr: f64) -> f32 {
    let n = sorted.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    let fpr = fpr.clamp(1e-9, 1.0);
    if n * fpr >= MIN_EXCEEDANCES || n < 2.0 * MIN_EXCEEDANCES {
        return quantile_sorted(sorted, 1.0 - fpr);
    }
    let k = MIN_EXCEEDANCES as usize;
    let u = sorted[sorted.len() - k - 1];
    let excess: f64 = sorted[sorted.len() - k..]
        .iter()
        .map(|&x| (x - u) as f64)
        .sum::<f64>()
        / k as f64;
    let tail_share = k as f64 / n;
    (u as f64 + excess * (tail_share / fpr).ln()) as f32
}

/// Linear-interpolated quantile of sorted values, `q` in `[0, 1]`.
pub fn quantile_sorted(sorted: &[f32], q: f64) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = (pos - lo as f64) as f32;
    sorted[lo] * (1.0 - frac) + sorted[hi] * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_is_monotone_with_half_at_threshold() {
        let t = Threshold::prior(2.0);
        assert_eq!(t.calibrate(2.0), 0.5);
        let mut last = -1.0;
        for i in 0..100 {
            let c = t.calibrate(i as f32 * 0.1);
            assert!(c >= last && (0.0..=1.0).contains(&c));
            last = c;
        }
        assert_eq!(t.calibrate(f32::INFINITY), 1.0);
        assert_eq!(t.calibrate(f32::NAN), 0.0);
    }

    #[test]
    fn learned_threshold_is_the_quantile_with_a_floor() {
        let values: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let t = Threshold::learn(&values, 0.01, 0.0).unwrap();
        assert!((t.value - 989.01).abs() < 0.1, "{}", t.value);
        assert_eq!(Threshold::learn(&[0.0; 10], 0.01, 0.7).unwrap().value, 0.7);
        assert!(Threshold::learn(&[], 0.01, 0.0).is_none());
    }

    #[test]
    fn small_samples_extrapolate_the_tail_beyond_their_maximum() {
        // 200 values of an exponential(1) distribution (deterministic quantiles): the 0.1% quantile is
        // ln(1000) ~ 6.9, beyond the sample maximum (~5.3).
        let v: Vec<f32> = (0..200)
            .map(|i| -((1.0 - (i as f64 + 0.5) / 200.0).ln()) as f32)
            .collect();
        let t = tail_quantile(&v, 0.001);
        assert!(t > v[199] && (t - 6.9).abs() < 1.0, "{t}");
        // Enough data: the empirical quantile.
        assert!((tail_quantile(&v, 0.1) - quantile_sorted(&v, 0.9)).abs() < 1e-6);
    }
}
