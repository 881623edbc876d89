//! The ensemble: sequence model, isolation forest and rules, each calibrated, combined into one score,
//! with the reasons a user reads.
//!
//! Combination: `anomaly_score = max(sequence, isolation_forest, rules)` of the calibrated components.
//! Each component is 0.5 exactly at its own threshold (learned at the target false-positive rate), so the
//! ensemble fires when any component is past its threshold, and the score says by how much. A max keeps
//! every component audible (a strong rule hit is never averaged away by a quiet model) while the
//! per-component calibration keeps a noisy one from dominating.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::behaviour::BaseRate;
use crate::model::calibrate::Threshold;
use crate::model::forest::IsolationForest;
use crate::model::infer::InferenceModel;
use crate::model::pause::Pauses;
use crate::model::rules::RuleHit;
use crate::model::shape::SessionShape;
use crate::types::ModelType;

/// Calibrated thresholds of one model bundle, in raw units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Negative log-likelihood of the observed template.
    pub sequence_nll: Threshold,
    /// Isolation forest score.
    pub forest: Threshold,
    /// Negative log-likelihood of the session ending where it ended.
    pub end_nll: Threshold,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            // Priors until data exist: a template the model gives under ~1% is surprising; a forest score
            // of 0.62 is a clear outlier in Liu et al.'s scale.
            sequence_nll: Threshold::prior(4.6),
            forest: Threshold::prior(0.62),
            end_nll: Threshold::prior(4.6),
        }
    }
}

/// What a project learned about its own normal behaviour during warmup.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    /// Share of warmup lines that each rule fired on.
    pub rule_share: HashMap<String, f32>,
    /// Local templates present in nearly every complete warmup session.
    pub common_templates: Vec<u32>,
    /// Complete warmup sessions the profile was learned from.
    pub complete_sessions: usize,
    /// Shape of complete warmup sessions (rare and expected templates, count invariants).
    #[serde(default)]
    pub shape: SessionShape,
    /// The warmup's base failure rate (see [`crate::model::behaviour`]).
    #[serde(default)]
    pub failure_base: BaseRate,
    /// Pauses between lines of warmup sessions: how long a session may stay silent and go on
    /// (see [`crate::model::pause`]).
    #[serde(default)]
    pub pauses: Pauses,
}

/// A rule that fires on at least this share of a project's normal lines is part of its normal
/// behaviour: its weight falls linearly to zero at this share.
pub const NORMAL_RULE_SHARE: f32 = 0.01;

/// Share of complete sessions that must hold a template for its absence to be suspicious.
pub const COMMON_TEMPLATE_SHARE: f32 = 0.98;

impl Profile {
    /// The rules component: the strongest hit, each discounted by how often its rule fires normally.
    pub fn rules_score(&self, hits: &[RuleHit]) -> f32 {
        hits.iter()
            .map(|h| {
                let share = self.rule_share.get(&h.rule).copied().unwrap_or(0.0);
                h.severity * (1.0 - share / NORMAL_RULE_SHARE).clamp(0.0, 1.0)
            })
            .fold(0.0, f32::max)
    }

    /// The rules component of a line whose template the project never saw: the hits at full
    /// severity. A rule firing often on this project's normal lines (a `FATAL` level common to
    /// its known events) says nothing of a never-seen event that carries it.
    pub fn rules_score_novel(&self, hits: &[RuleHit]) -> f32 {
        hits.iter().map(|h| h.severity).fold(0.0, f32::max)
    }
}

/// The shared teacher as scoring sees it (an immutable snapshot, swapped whole on update).
#[derive(Debug, Clone, Default)]
pub struct TeacherView {
    /// Changes on every swap; session caches built with another generation are rebuilt.
    pub generation: u64,
    /// The trained sequence model (`None` on a fresh storage until the first training).
    pub seq: Option<Arc<InferenceModel>>,
    /// Tokens the sequence model knows (global vocabulary size at its training).
    pub model_tokens: usize,
    /// Shared isolation forest over pooled projects' features.
    pub forest: Option<Arc<IsolationForest>>,
    /// Thresholds calibrated on pooled held-out data.
    pub thresholds: Thresholds,
}

/// A project's student and everything learned with it.
#[derive(Debug, Clone)]
pub struct Student {
    /// Changes on every swap.
    pub generation: u64,
    /// The distilled sequence model.
    pub seq: Arc<InferenceModel>,
    /// Local template id → student token.
    pub token_of_local: HashMap<u32, u32>,
    /// Student token → local template id (index = token).
    pub local_of_token: Vec<u32>,
    /// The project's own forest.
    pub forest: Option<Arc<IsolationForest>>,
    /// Thresholds calibrated on the project's held-out warmup data.
    pub thresholds: Thresholds,
    /// Profile learned from warmup.
    pub profile: Profile,
    /// Share of warmup lines per local template (for rarity features).
    pub template_share: HashMap<u32, f32>,
    /// Local templates the student learned from fewer than [`MIN_LEARNED_OCCURRENCES`] lines (see
    /// [`Student::knows_context_of`]).
    pub thin_templates: HashSet<u32>,
}

/// Fewest training lines of a template before the sequence model's surprise at it is evidence: one
/// occurrence is an accident and two a coincidence, the support [`RECURRING_SHAPE_SUPPORT`] asks of a
/// recurring session shape.
///
/// [`RECURRING_SHAPE_SUPPORT`]: crate::model::shape::RECURRING_SHAPE_SUPPORT
pub const MIN_LEARNED_OCCURRENCES: usize = crate::model::shape::RECURRING_SHAPE_SUPPORT as usize;

impl Student {
    /// Whether the student learned enough lines of local template `template` to know where it
    /// belongs. Of a template it saw once or twice it learned only that the template is rare, so its
    /// surprise there repeats what rarity (the session shape, which lets rarity wear off) already
    /// judges, and says nothing of the order.
    pub fn knows_context_of(&self, template: u32) -> bool {
        !self.thin_templates.contains(&template)
    }
}

/// Everything stored with a student besides its weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudentMeta {
    /// Model configuration.
    pub config: crate::model::transformer::SeqModelConfig,
    /// Student token → local template id.
    pub local_of_token: Vec<u32>,
    /// The forest.
    pub forest: Option<IsolationForest>,
    /// Thresholds.
    pub thresholds: Thresholds,
    /// Profile.
    pub profile: Profile,
    /// Template shares.
    pub template_share: HashMap<u32, f32>,
    /// Local templates learned from fewer than [`MIN_LEARNED_OCCURRENCES`] lines (empty in students
    /// stored before it was recorded: every template counts as learned).
    #[serde(default)]
    pub thin_templates: Vec<u32>,
    /// Version (students trained so far for the project, this one included).
    pub version: u64,
}

/// Which model a line is scored with.
pub enum Scorer<'a> {
    /// The teacher (warmup and training phases).
    Teacher(&'a TeacherView),
    /// The project's student.
    Student(&'a Student),
}

impl Scorer<'_> {
    /// `teacher` or `student`.
    pub fn model_type(&self) -> ModelType {
        match self {
            Scorer::Teacher(_) => ModelType::Teacher,
            Scorer::Student(_) => ModelType::Student,
        }
    }

    /// The generation session caches must match.
    pub fn generation(&self) -> u64 {
        match self {
            Scorer::Teacher(t) => t.generation,
            Scorer::Student(s) => s.generation,
        }
    }

    /// The sequence model, when trained.
    pub fn seq(&self) -> Option<&Arc<InferenceModel>> {
        match self {
            Scorer::Teacher(t) => t.seq.as_ref(),
            Scorer::Student(s) => Some(&s.seq),
        }
    }

    /// The forest, when fitted.
    pub fn forest(&self) -> Option<&Arc<IsolationForest>> {
        match self {
            Scorer::Teacher(t) => t.forest.as_ref(),
            Scorer::Student(s) => s.forest.as_ref(),
        }
    }

    /// Thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        match self {
            Scorer::Teacher(t) => &t.thresholds,
            Scorer::Student(s) => &s.thresholds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::rules::RuleCategory;

    #[test]
    fn rules_that_fire_normally_are_discounted() {
        let mut p = Profile::default();
        p.rule_share.insert("keyword:exception".into(), 0.03);
        p.rule_share.insert("severity:error".into(), 0.002);
        let hit = |rule: &str| RuleHit {
            rule: rule.into(),
            category: RuleCategory::Severity,
            severity: 0.8,
            evidence: String::new(),
        };
        assert_eq!(p.rules_score(&[hit("keyword:exception")]), 0.0);
        let partly = p.rules_score(&[hit("severity:error")]);
        assert!(partly > 0.6 && partly < 0.8, "{partly}");
        assert_eq!(p.rules_score(&[hit("attack:sqli")]), 0.8);
        assert_eq!(p.rules_score(&[]), 0.0);
        // A never-seen event keeps the full severity of what it carries.
        assert_eq!(p.rules_score_novel(&[hit("keyword:exception")]), 0.8);
        assert_eq!(p.rules_score_novel(&[]), 0.0);
    }
}
