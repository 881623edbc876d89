//! Novelty that wears off (`model::novelty`), through the whole detector with tiny models: an event
//! type the warmup never held, recurring in many otherwise normal sessions after it, stops being
//! flagged after a bounded number of sessions, while a new event type that stays rare keeps being
//! flagged. The same holds for an event the warmup held once (the models learned only its rarity)
//! and for a new error-level event on a project whose normal sessions log errors.
// Test helpers panic on a broken setup, as the tests themselves do.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use logsentinel::{Config, JobState, LogFormat, LogRecord, NewProject, Phase, TenantDetector};

/// A small deterministic generator (the test must not depend on a random seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// What a session holds besides the ordinary write/serve/delete events.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Extra {
    None,
    /// A normal event type first seen after the warmup, in a quarter of the sessions.
    Recurring,
    /// A new event type that stays rare.
    Rare,
    /// An error-level event of the project's normal sessions (in a third of them, warmup included).
    KnownError,
    /// A new error-level event type, in a quarter of the sessions after the warmup.
    RecurringError,
}

fn hdfs_line(t: u64, text: &str) -> String {
    // An event text starting with "ERROR " is logged at that level.
    let (level, text) = match text.strip_prefix("ERROR ") {
        Some(rest) => ("ERROR", rest),
        None => ("INFO", text),
    };
    let (h, m, s) = ((20 + t / 3600) % 24, (t / 60) % 60, t % 60);
    format!("081109 {h:02}{m:02}{s:02} 143 {level} dfs.DataNode$DataXceiver: {text}")
}

/// One session's lines, one second apart from `t`.
fn session(rng: &mut Lcg, id: u64, extra: Extra, t: &mut u64) -> Vec<String> {
    let blk = format!(
        "blk_{}",
        1_000_000_007u64.wrapping_mul(id + 1) % 9_000_000_000_000
    );
    let ip = |rng: &mut Lcg| format!("10.250.{}.{}", rng.next(20), rng.next(250));
    let mut texts = Vec::new();
    let size = 1000 + rng.next(60_000_000);
    let nodes: Vec<String> = (0..3).map(|_| ip(rng)).collect();
    for n in &nodes {
        texts.push(format!(
            "Receiving block {blk} src: /{n}:{} dest: /{n}:50010",
            40_000 + rng.next(20_000)
        ));
    }
    for (k, n) in nodes.iter().enumerate() {
        texts.push(format!("Received block {blk} of size {size} from /{n}"));
        texts.push(format!("PacketResponder {k} for block {blk} terminating"));
        texts.push(format!(
            "BLOCK* NameSystem.addStoredBlock: blockMap updated: {n}:50010 is added to {blk} size {size}"
        ));
    }
    if rng.next(3) == 0 {
        texts.push(format!(
            "{}:50010 Served block {blk} to /{}",
            nodes[0],
            ip(rng)
        ));
    }
    match extra {
        Extra::Recurring => texts.push(format!("Verification succeeded for {blk}")),
        Extra::Rare => texts.push(format!(
            "Unexpected error trying to delete block {blk}. BlockInfo not found in volumeMap."
        )),
        Extra::KnownError => texts.push(format!(
            "ERROR {}:50010:Got exception while serving {blk} to /{}",
            nodes[1],
            ip(rng)
        )),
        Extra::RecurringError => texts.push(format!(
            "ERROR writeBlock {blk} received exception java.io.IOException: Connection reset by peer"
        )),
        Extra::None => {}
    }
    for n in &nodes {
        texts.push(format!(
            "Deleting block {blk} file /mnt/hadoop/dfs/data/current/subdir{}/{blk} on {n}",
            rng.next(60)
        ));
    }
    texts
        .into_iter()
        .map(|text| {
            *t += 1;
            hdfs_line(*t, &text)
        })
        .collect()
}

/// Whether each active-phase session of each kind was flagged (by a line or its verdict), in order.
struct Outcome {
    flagged: HashMap<Extra, Vec<bool>>,
}

impl Outcome {
    fn of(&self, kind: Extra) -> &[bool] {
        self.flagged.get(&kind).map_or(&[], Vec::as_slice)
    }
}

fn count(v: &[bool]) -> usize {
    v.iter().filter(|&&f| f).count()
}

/// Replays about 3,000 warmup lines of sessions of the kinds `warmup_kind(k)` gives, then 600 active
/// sessions of the kinds `active_kind(k)` gives, through a detector with tiny models.
fn replay(warmup_kind: impl Fn(u64) -> Extra, active_kind: impl Fn(u64) -> Extra) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_storage_dir(dir.path()).tiny_models();
    config.training_threads = 1;
    let det = TenantDetector::open(config).unwrap();
    let mut np = NewProject::named("novelty").format(LogFormat::Hdfs);
    np.warmup_threshold = Some(3_000);
    let key = det.create_project(np).unwrap().api_key;

    let mut rng = Lcg(42);
    let mut t = 0u64;
    let mut lines = Vec::new();
    let mut extra_of: HashMap<String, Extra> = HashMap::new();
    // Warmup: about 230 sessions.
    let mut id = 0u64;
    while lines.len() < 3_000 {
        lines.extend(session(&mut rng, id, warmup_kind(id), &mut t));
        id += 1;
    }
    let warmup_lines = lines.len();
    for k in 0..600u64 {
        let extra = active_kind(k);
        let s = session(&mut rng, id, extra, &mut t);
        let sid = s[0]
            .split_whitespace()
            .find(|w| w.starts_with("blk_"))
            .unwrap()
            .to_string();
        extra_of.insert(sid, extra);
        lines.extend(s);
        id += 1;
    }

    let mut flagged: HashSet<String> = HashSet::new();
    let mut order: Vec<String> = Vec::new();
    let mut warm: HashSet<String> = HashSet::new();
    // The warmup's lines in their own batches: no line of an active-phase session is learned in it.
    let chunks = lines[..warmup_lines]
        .chunks(256)
        .chain(lines[warmup_lines..].chunks(256));
    for chunk in chunks {
        let recs: Vec<LogRecord> = chunk.iter().map(LogRecord::new).collect();
        for d in det.detect_batch(&key, &recs).unwrap().results {
            let Some(s) = d.session_id else { continue };
            if d.phase == Phase::Warmup {
                warm.insert(s.clone());
            } else if !order.contains(&s) {
                order.push(s.clone());
            }
            if d.is_anomaly {
                flagged.insert(s);
            }
        }
        for v in det.poll_session_verdicts(&key, usize::MAX).unwrap() {
            if v.is_anomaly {
                flagged.insert(v.session_id);
            }
        }
        if det.status(&key).unwrap().phase == Phase::Training {
            let st = det
                .wait_for_training(&key, Some(Duration::from_secs(600)))
                .unwrap()
                .unwrap();
            assert_eq!(st.state, JobState::Succeeded, "{:?}", st.error);
        }
    }
    for v in det.close_all_sessions(&key).unwrap() {
        if v.is_anomaly {
            flagged.insert(v.session_id);
        }
    }
    let mut out: HashMap<Extra, Vec<bool>> = HashMap::new();
    for s in order.iter().filter(|s| !warm.contains(*s)) {
        if let Some(&kind) = extra_of.get(s.as_str()) {
            out.entry(kind)
                .or_default()
                .push(flagged.contains(s.as_str()));
        }
    }
    Outcome { flagged: out }
}

/// A quarter of the active sessions (k % 4 == 1) hold `recurring`, four hold the rare event, the rest
/// `plain`.
fn active_mix(recurring: Extra, plain: Extra) -> impl Fn(u64) -> Extra {
    move |k| {
        if [50, 200, 350, 500].contains(&k) {
            Extra::Rare
        } else if k % 4 == 1 {
            recurring
        } else {
            plain
        }
    }
}

/// The event of `recurring` is news at first and wears off after a bounded number of sessions (the
/// window's rarity share: 3% of about 230 warmup sessions, plus the sessions still open meanwhile),
/// never to come back; the new event that stays rare stays flagged; plain sessions are quiet.
fn assert_wears_off(o: &Outcome, recurring: Extra, plain: Extra, news_at_first: bool) {
    let (rec, rare, plain) = (o.of(recurring), o.of(Extra::Rare), o.of(plain));
    eprintln!(
        "flagged: recurring {}/{} (first half {}, second half {}), rare {}/{}, plain {}/{}",
        count(rec),
        rec.len(),
        count(&rec[..rec.len() / 2]),
        count(&rec[rec.len() / 2..]),
        count(rare),
        rare.len(),
        count(plain),
        plain.len()
    );
    assert!(rec.len() >= 100, "{}", rec.len());
    assert_eq!(rare.len(), 4);
    if news_at_first {
        assert!(count(&rec[..10]) >= 5, "{rec:?}");
    }
    assert!(count(rec) <= 30, "{rec:?}");
    assert_eq!(count(&rec[rec.len() / 2..]), 0, "{rec:?}");
    assert_eq!(count(rare), rare.len(), "{rare:?}");
    assert!(count(plain) * 50 <= plain.len(), "{}", count(plain));
}

#[test]
fn a_new_event_type_common_in_ordinary_sessions_wears_off_and_a_rare_one_does_not() {
    let o = replay(|_| Extra::None, active_mix(Extra::Recurring, Extra::None));
    assert_wears_off(&o, Extra::Recurring, Extra::None, true);
}

/// An event the warmup held once: the student learned only that it is rare, so its surprise there is
/// no evidence of order; rarity judges it and wears off as for a never-seen event.
#[test]
fn an_event_seen_once_in_warmup_is_judged_by_rarity_not_by_the_sequence_model() {
    let o = replay(
        |id| {
            if id == 100 {
                Extra::Recurring
            } else {
                Extra::None
            }
        },
        active_mix(Extra::Recurring, Extra::None),
    );
    assert_wears_off(&o, Extra::Recurring, Extra::None, true);
}

/// On a project whose normal sessions log errors, a new error-level event counts its level rule at
/// full severity while it is news, and wears off like any new event once ordinary sessions hold it:
/// a flag that only its novelty gave does not keep its sessions out of ordinary company.
#[test]
fn a_new_error_event_wears_off_where_errors_are_normal() {
    let known = |k: u64| {
        if k % 3 == 0 {
            Extra::KnownError
        } else {
            Extra::None
        }
    };
    let o = replay(known, move |k| {
        if [50, 200, 350, 500].contains(&k) {
            Extra::Rare
        } else if k % 4 == 1 {
            Extra::RecurringError
        } else {
            known(k)
        }
    });
    assert_wears_off(&o, Extra::RecurringError, Extra::KnownError, true);
}
