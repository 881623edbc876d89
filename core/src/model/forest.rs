//! Isolation forest (Liu, Ting & Zhou, 2008) over dense `f32` feature rows.
//!
//! All trees live in one flat node array (12 bytes a node, children stored side by side), so a
//! forest of 100 trees over 256-row samples takes about 600 KiB and scoring one row walks a few
//! hundred cache-friendly nodes (a couple of microseconds).
//!
//! Fitting is fully deterministic under [`ForestConfig::seed`]: the same rows, config and seed
//! give bit-identical trees and scores on every platform.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::util::rng::SplitMix64;

/// Largest number of trees [`IsolationForest::fit`] accepts (guards against absurd allocations).
pub const MAX_TREES: usize = 10_000;

/// Largest sub-sample size [`IsolationForest::fit`] accepts (guards against absurd allocations).
pub const MAX_SAMPLE_SIZE: usize = 1 << 20;

/// Largest `trees × effective sample size` [`IsolationForest::fit`] accepts: bounds the model at
/// about 2 × this many 12-byte nodes.
pub const MAX_TOTAL_SAMPLES: usize = 1 << 24;

/// Euler–Mascheroni constant, for the harmonic-number approximation in [`average_path_length`].
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Marker in [`Node::feature`] for a leaf.
const LEAF: u32 = u32::MAX;

/// Hyper-parameters of an [`IsolationForest`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ForestConfig {
    /// Number of isolation trees (default 100). Must be in `1..=MAX_TREES`.
    pub trees: usize,
    /// Rows sub-sampled (without replacement) per tree (default 256); capped at the number of
    /// rows. Must be in `1..=MAX_SAMPLE_SIZE`.
    pub sample_size: usize,
    /// Seed of the deterministic PRNG that drives sampling and splits.
    pub seed: u64,
}

impl Default for ForestConfig {
    fn default() -> Self {
        Self {
            trees: 100,
            sample_size: 256,
            seed: 0,
        }
    }
}

/// One node of the flat tree array.
///
/// Internal node: `feature` is the split dimension, `value` the threshold (`x < value` goes
/// left), and the children are at `left` and `left + 1`. Leaf: `feature == LEAF` and `value` is
/// the full path length credited to a point ending here (depth + `c(size)`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
struct Node {
    feature: u32,
    value: f32,
    left: u32,
}

/// Serialised form, checked on load so that a corrupted or hostile model can never make
/// [`IsolationForest::score`] panic or loop.
#[derive(Deserialize)]
struct RawForest {
    dims: usize,
    sample_size: usize,
    norm: f32,
    roots: Vec<u32>,
    nodes: Vec<Node>,
}

/// A fitted isolation forest. Cheap to share across threads (`Send + Sync`, immutable).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawForest")]
pub struct IsolationForest {
    /// Feature dimension seen at fit time.
    dims: usize,
    /// Effective sub-sample size ψ (≤ rows).
    sample_size: usize,
    /// `c(ψ)`: the normaliser of the average path length (0 when ψ = 1).
    norm: f32,
    /// Index of each tree's root in `nodes`.
    roots: Vec<u32>,
    /// All nodes of all trees.
    nodes: Vec<Node>,
}

impl TryFrom<RawForest> for IsolationForest {
    type Error = String;

    fn try_from(raw: RawForest) -> std::result::Result<Self, String> {
        let n = raw.nodes.len();
        if n > u32::MAX as usize - 2 {
            return Err("isolation forest: too many nodes".into());
        }
        if raw.roots.is_empty() {
            return Err("isolation forest: no trees".into());
        }
        if !raw.norm.is_finite() || raw.norm < 0.0 {
            return Err("isolation forest: bad normaliser".into());
        }
        if raw.roots.iter().any(|&r| r as usize >= n) {
            return Err("isolation forest: root index out of range".into());
        }
        for (i, node) in raw.nodes.iter().enumerate() {
            if !node.value.is_finite() && node.feature == LEAF {
                return Err(format!(
                    "isolation forest: non-finite leaf value at node {i}"
                ));
            }
            // Children strictly after their parent: every walk terminates.
            if node.feature != LEAF && (node.left as usize <= i || node.left as usize + 1 >= n) {
                return Err(format!("isolation forest: bad child index at node {i}"));
            }
        }
        Ok(Self {
            dims: raw.dims,
            sample_size: raw.sample_size,
            norm: raw.norm,
            roots: raw.roots,
            nodes: raw.nodes,
        })
    }
}

/// Average path length of an unsuccessful BST search among `n` points, `c(n)` in Liu et al.
fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

impl IsolationForest {
    /// Fits a forest on `rows` (each a feature vector of the same, non-zero length).
    ///
    /// Errors with [`Error::InvalidInput`] when there are no rows, when a row is empty or its
    /// length differs from the first row's, when any value is NaN or infinite (non-finite values
    /// are rejected, not sanitised: the caller knows best what they mean), or when `cfg.trees` or
    /// `cfg.sample_size` is 0 or above [`MAX_TREES`] / [`MAX_SAMPLE_SIZE`].
    ///
    /// A single row or all-identical rows are fine: every point then scores 0.5 ("no evidence").
    /// Constant features are never chosen for a split.
    pub fn fit(rows: &[Vec<f32>], cfg: &ForestConfig) -> Result<Self> {
        if cfg.trees == 0 || cfg.trees > MAX_TREES {
            return Err(Error::invalid_input(format!(
                "isolation forest: trees must be in 1..={MAX_TREES}, got {}",
                cfg.trees
            )));
        }
        if cfg.sample_size == 0 || cfg.sample_size > MAX_SAMPLE_SIZE {
            return Err(Error::invalid_input(format!(
                "isolation forest: sample_size must be in 1..={MAX_SAMPLE_SIZE}, got {}",
                cfg.sample_size
            )));
        }
        let Some(first) = rows.first() else {
            return Err(Error::invalid_input("isolation forest: no rows to fit"));
        };
        let dims = first.len();
        if dims == 0 {
            return Err(Error::invalid_input(
                "isolation forest: rows have zero dimensions",
            ));
        }
        if dims > u32::MAX as usize - 1 {
            return Err(Error::invalid_input(
                "isolation forest: too many dimensions",
            ));
        }
        if rows.len() > u32::MAX as usize {
            return Err(Error::invalid_input("isolation forest: too many rows"));
        }
        for (i, row) in rows.iter().enumerate() {
            if row.len() != dims {
                return Err(Error::invalid_input(format!(
                    "isolation forest: row {i} has {} dimensions, expected {dims}",
                    row.len()
                )));
            }
            if let Some(j) = row.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid_input(format!(
                    "isolation forest: row {i} has a non-finite value at dimension {j}"
                )));
            }
        }

        let psi = cfg.sample_size.min(rows.len());
        if cfg.trees.saturating_mul(psi) > MAX_TOTAL_SAMPLES {
            return Err(Error::invalid_input(format!(
                "isolation forest: trees x sample_size must be at most {MAX_TOTAL_SAMPLES}, got {} x {psi}",
                cfg.trees
            )));
        }
        let height_limit = (psi as f64).log2().ceil().max(0.0) as u32;
        let mut rng = SplitMix64::new(cfg.seed);
        let mut builder = Builder {
            rows,
            dims,
            height_limit,
            nodes: Vec::with_capacity(cfg.trees.saturating_mul(2 * psi)),
            lo: vec![0.0; dims],
            hi: vec![0.0; dims],
            candidates: Vec::with_capacity(dims),
            stack: Vec::new(),
        };
        let mut roots = Vec::with_capacity(cfg.trees);
        let mut all: Vec<u32> = (0..rows.len() as u32).collect();
        for _ in 0..cfg.trees {
            // Partial Fisher-Yates: the first psi entries become a uniform sample without
            // replacement. Reusing the shuffled array is fine: any permutation is a valid start.
            for i in 0..psi {
                let j = i + rng.below(all.len() - i);
                all.swap(i, j);
            }
            let mut sample: Vec<u32> = all[..psi].to_vec();
            roots.push(builder.nodes.len() as u32);
            builder.build_tree(&mut sample, &mut rng);
        }
        let mut nodes = builder.nodes;
        nodes.shrink_to_fit();
        Ok(Self {
            dims,
            sample_size: psi,
            norm: average_path_length(psi) as f32,
            roots,
            nodes,
        })
    }

    /// Feature dimension the forest was fitted on.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// Anomaly score `2^(-E[h(x)] / c(ψ))` of one row, in `(0, 1)`: near 1 is anomalous, 0.5 or
    /// below is ordinary.
    ///
    /// Never panics: a row shorter than [`dims`](Self::dims) reads missing features as 0,
    /// extra features are ignored, and a NaN feature takes the right (`>=`) branch. A forest
    /// fitted on a single distinct point scores everything 0.5.
    pub fn score(&self, x: &[f32]) -> f32 {
        if self.norm <= 0.0 || self.roots.is_empty() {
            return 0.5;
        }
        // Four trees at a time: independent walks overlap their memory latency. Sums in f64 so
        // that the result does not depend on the grouping (a constant forest scores exactly 0.5).
        let mut chunks = self.roots.chunks_exact(4);
        let mut total = 0.0f64;
        for c in &mut chunks {
            let mut at = [0usize; 4];
            for (slot, &root) in at.iter_mut().zip(c) {
                *slot = root as usize;
            }
            while let (Some(na), Some(nb), Some(nc), Some(nd)) = (
                self.nodes.get(at[0]),
                self.nodes.get(at[1]),
                self.nodes.get(at[2]),
                self.nodes.get(at[3]),
            ) {
                if na.feature == LEAF
                    && nb.feature == LEAF
                    && nc.feature == LEAF
                    && nd.feature == LEAF
                {
                    total += f64::from(na.value)
                        + f64::from(nb.value)
                        + f64::from(nc.value)
                        + f64::from(nd.value);
                    break;
                }
                at = [
                    step(na, at[0], x),
                    step(nb, at[1], x),
                    step(nc, at[2], x),
                    step(nd, at[3], x),
                ];
            }
        }
        for &root in chunks.remainder() {
            total += f64::from(self.path_length(root, x));
        }
        let mean = total / self.roots.len() as f64;
        (-mean / f64::from(self.norm)).exp2() as f32
    }

    /// Scores many rows; same as calling [`score`](Self::score) on each.
    pub fn score_many(&self, xs: &[Vec<f32>]) -> Vec<f32> {
        xs.iter().map(|x| self.score(x)).collect()
    }

    /// Approximate heap + inline size of the model in bytes.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.roots.capacity() * std::mem::size_of::<u32>()
    }

    /// Path length of `x` in the tree rooted at `root` (depth + `c(leaf size)`).
    #[inline]
    fn path_length(&self, root: u32, x: &[f32]) -> f32 {
        let mut i = root as usize;
        // Validated (fit or deserialisation): children come after parents and are in range,
        // so this terminates; `get` keeps it panic-free regardless.
        while let Some(node) = self.nodes.get(i) {
            if node.feature == LEAF {
                return node.value;
            }
            let v = x.get(node.feature as usize).copied().unwrap_or(0.0);
            i = node.left as usize + usize::from(v >= node.value || v.is_nan());
        }
        0.0
    }
}

/// One step down from `node` (at index `at`); a leaf stays where it is.
#[inline(always)]
fn step(node: &Node, at: usize, x: &[f32]) -> usize {
    if node.feature == LEAF {
        return at;
    }
    let v = x.get(node.feature as usize).copied().unwrap_or(0.0);
    node.left as usize + usize::from(v >= node.value || v.is_nan())
}

/// Scratch state for building trees.
struct Builder<'a> {
    rows: &'a [Vec<f32>],
    dims: usize,
    height_limit: u32,
    nodes: Vec<Node>,
    lo: Vec<f32>,
    hi: Vec<f32>,
    candidates: Vec<u32>,
    stack: Vec<(usize, usize, usize, u32)>,
}

impl Builder<'_> {
    fn value(&self, row: u32, feature: usize) -> f32 {
        self.rows
            .get(row as usize)
            .and_then(|r| r.get(feature))
            .copied()
            .unwrap_or(0.0)
    }

    fn leaf(&mut self, at: usize, depth: u32, size: usize) {
        if let Some(node) = self.nodes.get_mut(at) {
            *node = Node {
                feature: LEAF,
                value: depth as f32 + average_path_length(size) as f32,
                left: 0,
            };
        }
    }

    /// Builds one tree over `sample` (row indices), appending its nodes (root first).
    fn build_tree(&mut self, sample: &mut [u32], rng: &mut SplitMix64) {
        let root = self.nodes.len();
        self.nodes.push(Node {
            feature: LEAF,
            value: 0.0,
            left: 0,
        });
        self.stack.clear();
        self.stack.push((root, 0, sample.len(), 0));
        while let Some((at, start, end, depth)) = self.stack.pop() {
            let size = end - start;
            if size <= 1 || depth >= self.height_limit {
                self.leaf(at, depth, size);
                continue;
            }
            let part = &sample[start..end];
            // Ranges of every feature over this node's points; split only non-constant ones.
            for f in 0..self.dims {
                let v = self.value(part[0], f);
                self.lo[f] = v;
                self.hi[f] = v;
            }
            for &r in &part[1..] {
                if let Some(row) = self.rows.get(r as usize) {
                    for (f, &v) in row.iter().enumerate().take(self.dims) {
                        if v < self.lo[f] {
                            self.lo[f] = v;
                        } else if v > self.hi[f] {
                            self.hi[f] = v;
                        }
                    }
                }
            }
            self.candidates.clear();
            for f in 0..self.dims {
                if self.hi[f] > self.lo[f] {
                    self.candidates.push(f as u32);
                }
            }
            if self.candidates.is_empty() {
                // All points identical: isolating them further is impossible.
                self.leaf(at, depth, size);
                continue;
            }
            let feature = self.candidates[rng.below(self.candidates.len())];
            let (lo, hi) = (self.lo[feature as usize], self.hi[feature as usize]);
            let mut threshold = lo + rng.next_f32() * (hi - lo);
            if !(threshold > lo && threshold <= hi) {
                // Rounding (or overflow of hi - lo) put it outside (lo, hi]: split at hi.
                threshold = hi;
            }
            // Partition: x < threshold to the front.
            let part = &mut sample[start..end];
            let mut mid = 0;
            for k in 0..part.len() {
                if self.value(part[k], feature as usize) < threshold {
                    part.swap(k, mid);
                    mid += 1;
                }
            }
            let left = self.nodes.len();
            self.nodes.push(Node {
                feature: LEAF,
                value: 0.0,
                left: 0,
            });
            self.nodes.push(Node {
                feature: LEAF,
                value: 0.0,
                left: 0,
            });
            if let Some(node) = self.nodes.get_mut(at) {
                *node = Node {
                    feature,
                    value: threshold,
                    left: left as u32,
                };
            }
            self.stack.push((left + 1, start + mid, end, depth + 1));
            self.stack.push((left, start, start + mid, depth + 1));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cluster(rng: &mut SplitMix64, n: usize, center: &[f32], spread: f32) -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| center.iter().map(|c| c + spread * rng.normal()).collect())
            .collect()
    }

    fn cfg(seed: u64) -> ForestConfig {
        ForestConfig {
            seed,
            ..ForestConfig::default()
        }
    }

    #[test]
    fn default_config() {
        let c = ForestConfig::default();
        assert_eq!((c.trees, c.sample_size), (100, 256));
    }

    #[test]
    fn outliers_score_clearly_higher_than_inliers() {
        let mut rng = SplitMix64::new(1);
        let mut rows = cluster(&mut rng, 500, &[0.0, 0.0, 0.0], 1.0);
        rows.extend(cluster(&mut rng, 500, &[10.0, 10.0, -5.0], 1.0));
        let forest = IsolationForest::fit(&rows, &cfg(3)).unwrap();
        assert_eq!(forest.dims(), 3);
        assert_eq!(forest.trees(), 100);
        let inliers = cluster(&mut rng, 50, &[0.0, 0.0, 0.0], 1.0);
        let outliers = vec![
            vec![30.0, -30.0, 20.0],
            vec![5.0, 5.0, -2.5], // between the clusters
            vec![-12.0, -12.0, 6.0],
            vec![10.0, 10.0, 15.0],
        ];
        let si = forest.score_many(&inliers);
        let so = forest.score_many(&outliers);
        let max_in = si.iter().cloned().fold(0.0f32, f32::max);
        let mean_in = si.iter().sum::<f32>() / si.len() as f32;
        let min_out = so.iter().cloned().fold(1.0f32, f32::min);
        assert!(mean_in < 0.5, "mean inlier score {mean_in}");
        assert!(min_out > 0.5, "outlier scores {so:?}");
        assert!(so[0] > 0.7, "far outlier {so:?}");
        assert!(min_out > max_in, "inliers {max_in} vs outliers {so:?}");
        assert!(
            min_out > mean_in + 0.1,
            "inliers {mean_in} vs outliers {so:?}"
        );
        assert!(so[0] > max_in + 0.1, "inliers {max_in} vs outliers {so:?}");
        for s in si.iter().chain(&so) {
            assert!(*s > 0.0 && *s < 1.0);
        }
    }

    #[test]
    fn deterministic_under_seed() {
        let mut rng = SplitMix64::new(9);
        let rows = cluster(&mut rng, 300, &[1.0, 2.0], 0.5);
        let probe = cluster(&mut rng, 20, &[1.0, 2.0], 3.0);
        let a = IsolationForest::fit(&rows, &cfg(42)).unwrap();
        let b = IsolationForest::fit(&rows, &cfg(42)).unwrap();
        let c = IsolationForest::fit(&rows, &cfg(43)).unwrap();
        assert_eq!(a.nodes, b.nodes);
        assert_eq!(a.score_many(&probe), b.score_many(&probe));
        assert_ne!(a.nodes, c.nodes);
        assert_ne!(a.score_many(&probe), c.score_many(&probe));
    }

    #[test]
    fn constant_features_are_never_split_and_do_not_matter() {
        let mut rng = SplitMix64::new(5);
        let rows: Vec<Vec<f32>> = (0..400)
            .map(|_| vec![7.0, rng.normal(), 7.0, rng.normal()])
            .collect();
        let f = IsolationForest::fit(&rows, &cfg(1)).unwrap();
        assert!(f
            .nodes
            .iter()
            .all(|n| n.feature == LEAF || n.feature == 1 || n.feature == 3));
        let inlier = f.score(&[7.0, 0.0, 7.0, 0.0]);
        let outlier = f.score(&[7.0, 8.0, 7.0, -8.0]);
        assert!(outlier > inlier + 0.15, "{outlier} vs {inlier}");
        // All-constant data: every point is equally (un)remarkable.
        let flat = vec![vec![1.0, 2.0]; 50];
        let f = IsolationForest::fit(&flat, &cfg(1)).unwrap();
        assert_eq!(f.score(&[1.0, 2.0]), 0.5);
        assert_eq!(f.score(&[100.0, -2.0]), 0.5);
    }

    #[test]
    fn single_row_and_duplicates() {
        let f = IsolationForest::fit(&[vec![1.0, 2.0, 3.0]], &cfg(0)).unwrap();
        assert_eq!(f.score(&[1.0, 2.0, 3.0]), 0.5);
        assert_eq!(f.score(&[9.0, 9.0, 9.0]), 0.5);
        // Mostly duplicates plus a few distinct points.
        let mut rows = vec![vec![0.0, 0.0]; 300];
        rows.push(vec![5.0, 5.0]);
        rows.push(vec![0.0, 1.0]);
        let f = IsolationForest::fit(&rows, &cfg(0)).unwrap();
        let dup = f.score(&[0.0, 0.0]);
        let odd = f.score(&[5.0, 5.0]);
        assert!(odd > dup + 0.2, "{odd} vs {dup}");
        assert!(dup > 0.0 && dup < 1.0 && odd < 1.0);
        // Two rows.
        let f = IsolationForest::fit(&[vec![0.0], vec![1.0]], &cfg(0)).unwrap();
        let s = f.score(&[0.5]);
        assert!(s > 0.0 && s < 1.0);
    }

    #[test]
    fn bad_input_is_rejected() {
        let ok = ForestConfig::default();
        assert!(IsolationForest::fit(&[], &ok).is_err());
        assert!(IsolationForest::fit(&[vec![]], &ok).is_err());
        assert!(IsolationForest::fit(&[vec![1.0], vec![1.0, 2.0]], &ok).is_err());
        assert!(IsolationForest::fit(&[vec![1.0], vec![f32::NAN]], &ok).is_err());
        assert!(IsolationForest::fit(&[vec![f32::INFINITY]], &ok).is_err());
        let rows = vec![vec![1.0], vec![2.0]];
        for bad in [
            ForestConfig {
                trees: 0,
                ..ok.clone()
            },
            ForestConfig {
                sample_size: 0,
                ..ok.clone()
            },
            ForestConfig {
                trees: MAX_TREES + 1,
                ..ok.clone()
            },
        ] {
            let err = IsolationForest::fit(&rows, &bad).unwrap_err();
            assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
        }
        let err = IsolationForest::fit(&[vec![1.0], vec![f32::NAN]], &ok).unwrap_err();
        assert!(err.to_string().contains("row 1"), "{err}");
    }

    #[test]
    fn wrong_dims_and_odd_values_never_panic() {
        let mut rng = SplitMix64::new(2);
        let rows = cluster(&mut rng, 200, &[0.0, 0.0, 0.0], 1.0);
        let f = IsolationForest::fit(&rows, &cfg(2)).unwrap();
        for x in [
            vec![],
            vec![0.0],
            vec![0.0; 10],
            vec![f32::NAN; 3],
            vec![f32::INFINITY, f32::NEG_INFINITY, 0.0],
            vec![f32::MAX, f32::MIN, f32::MIN_POSITIVE],
        ] {
            let s = f.score(&x);
            assert!(s > 0.0 && s < 1.0, "{x:?} -> {s}");
        }
        // Missing dims read as 0; extra dims are ignored.
        assert_eq!(f.score(&[0.5]), f.score(&[0.5, 0.0, 0.0]));
        assert_eq!(f.score(&[0.5, 1.0, 2.0, 99.0]), f.score(&[0.5, 1.0, 2.0]));
    }

    #[test]
    fn interleaved_scoring_matches_tree_by_tree() {
        let mut rng = SplitMix64::new(8);
        let rows = cluster(&mut rng, 300, &[0.0, 5.0, -1.0], 2.0);
        for trees in [1, 3, 4, 7, 100] {
            let f = IsolationForest::fit(
                &rows,
                &ForestConfig {
                    trees,
                    sample_size: 64,
                    seed: 1,
                },
            )
            .unwrap();
            for x in rows.iter().take(20).chain([&vec![9.0, 9.0, 9.0]]) {
                let naive: f64 = f
                    .roots
                    .iter()
                    .map(|&r| f64::from(f.path_length(r, x)))
                    .sum::<f64>()
                    / trees as f64;
                let want = (-naive / f64::from(f.norm)).exp2() as f32;
                assert!((f.score(x) - want).abs() < 1e-6, "{trees} trees");
            }
        }
    }

    #[test]
    fn oversized_configs_are_refused() {
        let rows: Vec<Vec<f32>> = (0..2000).map(|i| vec![i as f32]).collect();
        let cfg = ForestConfig {
            trees: MAX_TREES,
            sample_size: 2000,
            seed: 0,
        };
        let Err(err) = IsolationForest::fit(&rows, &cfg) else {
            panic!("oversized config accepted");
        };
        assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
        // The same config is fine on few rows (the effective sample is capped by the rows).
        assert!(IsolationForest::fit(&rows[..10], &cfg).is_ok());
    }

    #[test]
    fn extreme_but_finite_values_fit() {
        let rows = vec![
            vec![f32::MAX, f32::MIN],
            vec![f32::MIN, f32::MAX],
            vec![0.0, 0.0],
        ];
        let f = IsolationForest::fit(&rows, &cfg(0)).unwrap();
        let s = f.score(&[0.0, 0.0]);
        assert!(s > 0.0 && s < 1.0);
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let mut rng = SplitMix64::new(4);
        let rows = cluster(&mut rng, 100, &[0.0, 1.0], 1.0);
        let f = IsolationForest::fit(&rows, &cfg(4)).unwrap();
        let json = serde_json::to_string(&f).unwrap();
        let g: IsolationForest = serde_json::from_str(&json).unwrap();
        assert_eq!(f.score(&[3.0, 3.0]), g.score(&[3.0, 3.0]));
        // A forged child index is refused instead of panicking or looping later.
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["nodes"][0]["left"] = serde_json::json!(0);
        assert!(serde_json::from_value::<IsolationForest>(v.clone()).is_err());
        v["nodes"][0]["left"] = serde_json::json!(u32::MAX - 5);
        assert!(serde_json::from_value::<IsolationForest>(v).is_err());
    }

    #[test]
    fn memory_is_compact() {
        let mut rng = SplitMix64::new(6);
        let rows = cluster(&mut rng, 5000, &[0.0; 8], 1.0);
        let f = IsolationForest::fit(&rows, &ForestConfig::default()).unwrap();
        // ≤ 2ψ - 1 nodes a tree at 12 bytes.
        assert!(
            f.memory_bytes() <= 100 * 511 * 12 + 1024,
            "{}",
            f.memory_bytes()
        );
        assert!(f.memory_bytes() > 100 * 12);
    }

    #[test]
    fn send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<IsolationForest>();
    }
}
