//! Novelty that wears off (`model::novelty`), through the whole detector with tiny models: an event
//! type the warmup never held, recurring in many otherwise normal sessions after it, stops being
//! flagged after a bounded number of sessions, while a new event type that stays rare keeps being
//! flagged.

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
#[derive(Clone, Copy, PartialEq)]
enum Extra {
    None,
    /// A normal event type first seen after the warmup, in a quarter of the sessions.
    Recurring,
    /// A new event type that stays rare.
    Rare,
}

fn hdfs_line(t: u64, text: &str) -> String {
    let (h, m, s) = ((20 + t / 3600) % 24, (t / 60) % 60, t % 60);
    format!("081109 {h:02}{m:02}{s:02} 143 INFO dfs.DataNode$DataXceiver: {text}")
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

#[test]
fn a_new_event_type_common_in_ordinary_sessions_wears_off_and_a_rare_one_does_not() {
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
    // Warmup: ordinary sessions only (about 230).
    let mut id = 0u64;
    while lines.len() < 3_000 {
        lines.extend(session(&mut rng, id, Extra::None, &mut t));
        id += 1;
    }
    // Active phase: 600 sessions, a quarter with the new recurring event, 4 with the rare one.
    let rare_at: HashSet<u64> = [50, 200, 350, 500].into_iter().collect();
    for k in 0..600u64 {
        let extra = if rare_at.contains(&k) {
            Extra::Rare
        } else if k % 4 == 1 {
            Extra::Recurring
        } else {
            Extra::None
        };
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
    for chunk in lines.chunks(256) {
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

    let active: Vec<&String> = order.iter().filter(|s| !warm.contains(*s)).collect();
    let of_kind = |kind: Extra| -> Vec<bool> {
        active
            .iter()
            .filter(|s| extra_of.get(s.as_str()) == Some(&kind))
            .map(|s| flagged.contains(s.as_str()))
            .collect()
    };
    let recurring = of_kind(Extra::Recurring);
    let rare = of_kind(Extra::Rare);
    let plain = of_kind(Extra::None);
    let count = |v: &[bool]| v.iter().filter(|&&f| f).count();
    eprintln!(
        "flagged: recurring {}/{} (first half {}, second half {}), rare {}/{}, plain {}/{}",
        count(&recurring),
        recurring.len(),
        count(&recurring[..recurring.len() / 2]),
        count(&recurring[recurring.len() / 2..]),
        count(&rare),
        rare.len(),
        count(&plain),
        plain.len()
    );
    assert!(recurring.len() >= 100, "{}", recurring.len());
    assert_eq!(rare.len(), 4);
    // The new event is news at first...
    assert!(count(&recurring[..10]) >= 5, "{recurring:?}");
    // ...and wears off after a bounded number of sessions (the window's rarity share: 3% of about
    // 230 warmup sessions, plus the sessions still open meanwhile), never to come back.
    assert!(count(&recurring) <= 30, "{recurring:?}");
    assert_eq!(count(&recurring[recurring.len() / 2..]), 0, "{recurring:?}");
    // A new event that stays rare stays flagged.
    assert_eq!(count(&rare), rare.len(), "{rare:?}");
    assert!(count(&plain) * 50 <= plain.len(), "{}", count(&plain));
}
