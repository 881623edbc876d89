//! Incidents group what was flagged; operator feedback changes the next verdicts at once, survives a
//! restart, expires, is undone, and never crosses projects. Real detector, real storage.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use logsentinel::{
    Config, Detection, ErrorKind, FeedbackLabel, FeedbackScope, FeedbackTarget, Incident,
    IncidentState, LogRecord, ManualClock, NewFeedback, NewProject, TenantDetector,
};

fn tiny_config(dir: &std::path::Path) -> Config {
    let mut c = Config::with_storage_dir(dir).tiny_models();
    c.training_threads = 1;
    c
}

/// A session id: `sessions` clients in turn.
fn client(i: usize, sessions: usize) -> String {
    format!("10.0.{}.{}", (i % sessions) / 250, (i % sessions) % 250 + 1)
}

fn normal(i: usize) -> LogRecord {
    LogRecord::new(format!("INFO GET /item/{} served in {} ms", i % 50, i % 13))
        .session(client(i, 300))
}

/// An error of the one failing client: never common in the project (one session).
fn failing(i: usize) -> LogRecord {
    LogRecord::new(format!("ERROR db connection refused after {} ms", i % 97)).session("10.9.9.9")
}

/// `n` lines from `start`, every tenth one the failing client's error.
fn traffic(start: usize, n: usize) -> Vec<LogRecord> {
    (start..start + n)
        .map(|i| if i % 10 == 0 { failing(i) } else { normal(i) })
        .collect()
}

fn feed(det: &TenantDetector, key: &str, records: &[LogRecord]) -> Vec<Detection> {
    records
        .chunks(100)
        .flat_map(|c| det.detect_batch(key, c).unwrap().results)
        .collect()
}

fn errors(results: &[Detection]) -> Vec<&Detection> {
    results
        .iter()
        .filter(|d| d.template.starts_with("ERROR"))
        .collect()
}

fn project(det: &TenantDetector, name: &str) -> String {
    det.create_project(NewProject::named(name).warmup_threshold(100_000))
        .unwrap()
        .api_key
}

#[test]
fn flagged_lines_of_one_cause_form_one_incident_that_feedback_silences_until_undone() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let raised: Arc<Mutex<Vec<Incident>>> = Arc::default();
    let sink = raised.clone();
    det.set_incident_callback(Some(Arc::new(move |i: &Incident| {
        sink.lock().unwrap().push(i.clone())
    })));
    let key = project(&det, "shop");
    let other = project(&det, "other shop");

    let results = feed(&det, &key, &traffic(0, 2_000));
    feed(&det, &other, &traffic(0, 2_000));
    let flagged = errors(&results);
    assert_eq!(flagged.len(), 200);
    assert!(flagged.iter().all(|d| d.is_anomaly), "one client's errors");
    let incident_id = flagged[0]
        .incident_id
        .expect("a flagged line carries its incident");
    assert!(flagged.iter().all(|d| d.incident_id == Some(incident_id)));
    assert!(results
        .iter()
        .filter(|d| !d.is_anomaly)
        .all(|d| d.incident_id.is_none()));

    // One incident, with what it holds.
    let incidents = det.incidents(&key, None).unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = &incidents[0];
    assert_eq!(incident.id, incident_id);
    assert_eq!(incident.state, IncidentState::Open);
    assert_eq!((incident.lines, incident.sessions), (200, 1));
    assert_eq!(incident.session_ids, ["10.9.9.9"]);
    assert_eq!(
        Some(incident.pattern.as_str()),
        flagged[0].pattern.as_deref()
    );
    assert!(incident.title.starts_with("rule "), "{}", incident.title);
    assert!(incident.top_templates[0]
        .name
        .starts_with("ERROR db connection refused"));
    assert!(!incident.examples.is_empty() && !incident.examples[0].reasons.is_empty());
    // Raised once, to the poll queue and the callback (two projects, two incidents).
    let polled = det.poll_incidents(&key, 10).unwrap();
    assert_eq!(polled.len(), 1);
    assert_eq!(polled[0].id, incident_id);
    assert!(det.poll_incidents(&key, 10).unwrap().is_empty());
    assert_eq!(raised.lock().unwrap().len(), 2);

    // "Normal here": the very next error passes, saying why.
    let mark = det
        .feedback(
            &key,
            NewFeedback::incident(incident_id, FeedbackLabel::Normal),
        )
        .unwrap();
    assert_eq!(mark.key, incident.pattern);
    assert_eq!(mark.incident_id, Some(incident_id));
    let results = feed(&det, &key, &traffic(2_000, 100));
    let after = errors(&results);
    assert_eq!(after.len(), 10);
    for d in &after {
        assert!(!d.is_anomaly, "{d:?}");
        assert_eq!(d.feedback_id, Some(mark.id));
        assert!(d.reasons[0].contains("marked normal by operator feedback"));
    }
    assert_eq!(
        det.incident(&key, incident_id).unwrap().feedback,
        Some(FeedbackLabel::Normal)
    );
    // The other project is untouched.
    let theirs = feed(&det, &other, &traffic(2_000, 100));
    assert!(errors(&theirs).iter().all(|d| d.is_anomaly));
    assert!(det.list_feedback(&other).unwrap().is_empty());

    // It survives a restart.
    det.close().unwrap();
    drop(det);
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    assert_eq!(det.list_feedback(&key).unwrap(), vec![mark.clone()]);
    let results = feed(&det, &key, &traffic(2_100, 100));
    assert!(errors(&results).iter().all(|d| !d.is_anomaly));
    assert_eq!(det.incidents(&key, None).unwrap()[0].id, incident_id);

    // Undone: flagged again from the next line.
    assert_eq!(det.undo_feedback(&key, mark.id).unwrap(), mark);
    let results = feed(&det, &key, &traffic(2_200, 100));
    assert!(errors(&results)
        .iter()
        .all(|d| d.is_anomaly && d.feedback_id.is_none()));
    assert_eq!(det.incident(&key, incident_id).unwrap().feedback, None);
    let err = det.undo_feedback(&key, mark.id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn an_anomaly_mark_keeps_a_pattern_alerting_once_it_is_common_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000.0));
    let det = TenantDetector::open_with_clock(tiny_config(dir.path()), clock.clone()).unwrap();
    let key = project(&det, "spread");
    // Errors spread over hundreds of clients: news at first, then this project's normal.
    let spread = |start: usize, n: usize| -> Vec<LogRecord> {
        (start..start + n)
            .map(|i| {
                if i % 10 == 0 {
                    LogRecord::new(format!("ERROR db connection refused after {} ms", i % 97))
                        .session(client(i * 7, 300))
                } else {
                    normal(i)
                }
            })
            .collect()
    };
    let lines = spread(0, 3_000);
    let first = det.detect(&key, lines[0].clone()).unwrap();
    assert!(first.is_anomaly, "{first:?}");
    let incident_id = first.incident_id.unwrap();
    let results = feed(&det, &key, &lines[1..]);
    assert!(errors(&results)[150..].iter().all(|d| !d.is_anomaly));

    // Confirmed for an hour: alerting again, though common.
    let mark = det
        .feedback(
            &key,
            NewFeedback::incident(incident_id, FeedbackLabel::Anomaly).for_secs(3_600.0),
        )
        .unwrap();
    assert_eq!(mark.expires_at, Some(1_700_000_000.0 + 3_600.0));
    let results = feed(&det, &key, &spread(3_000, 200));
    for d in errors(&results) {
        assert!(d.is_anomaly, "{d:?}");
        assert!(d.reasons[0].contains("confirmed by operator feedback"));
        assert_eq!(
            d.incident_id,
            Some(incident_id),
            "joins the incident it confirms"
        );
    }
    // After the hour, the detector judges alone again.
    clock.advance(3_601.0);
    let results = feed(&det, &key, &spread(3_200, 200));
    assert!(errors(&results).iter().all(|d| !d.is_anomaly));
}

#[test]
fn feedback_that_names_nothing_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let key = project(&det, "strict");
    let results = feed(&det, &key, &traffic(0, 500));
    let incident_id = errors(&results)[0].incident_id.unwrap();
    let refused = [
        // No such incident.
        NewFeedback::incident(incident_id + 100, FeedbackLabel::Normal),
        // A key of nothing.
        NewFeedback {
            target: FeedbackTarget::Key(String::new()),
            label: FeedbackLabel::Normal,
            scope: FeedbackScope::Client,
            duration_secs: None,
            note: None,
        },
        // A note too long to keep.
        NewFeedback {
            note: Some("x".repeat(5_000)),
            ..NewFeedback::incident(incident_id, FeedbackLabel::Normal)
        },
        NewFeedback::incident(incident_id, FeedbackLabel::Normal).for_secs(-5.0),
        NewFeedback::incident(incident_id, FeedbackLabel::Normal).for_secs(f64::NAN),
        NewFeedback::incident(incident_id, FeedbackLabel::Normal).for_secs(f64::MAX),
    ];
    for new in refused {
        let err = det.feedback(&key, new.clone()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{new:?}: {err}");
    }
    assert!(det.list_feedback(&key).unwrap().is_empty());
    // Scopes resolve to the incident's own signal.
    let by_client = det
        .feedback(
            &key,
            NewFeedback::incident(incident_id, FeedbackLabel::Normal).scope(FeedbackScope::Client),
        )
        .unwrap();
    assert_eq!(by_client.key, "10.9.9.9");
    let by_template = det
        .feedback(
            &key,
            NewFeedback::incident(incident_id, FeedbackLabel::Normal)
                .scope(FeedbackScope::Template),
        )
        .unwrap();
    assert!(by_template.key.starts_with("ERROR db connection refused"));
    // A key given directly: this client, for good.
    let direct = det
        .feedback(
            &key,
            NewFeedback {
                target: FeedbackTarget::Key("10.0.0.1".into()),
                label: FeedbackLabel::Anomaly,
                scope: FeedbackScope::Client,
                duration_secs: None,
                note: None,
            },
        )
        .unwrap();
    assert_eq!(
        (direct.key.as_str(), direct.incident_id),
        ("10.0.0.1", None)
    );
    let d = det.detect(&key, normal(0)).unwrap();
    assert!(d.is_anomaly && d.feedback_id == Some(direct.id), "{d:?}");
    // A wrong key for another project's incident.
    let err = det.incidents("sk-not-a-key", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidApiKey);
}
