//! The PostgreSQL backend (issue 24) against a real server. `scripts/test-postgres.sh` starts a
//! throwaway PostgreSQL (Debian's package, in a temporary directory, as an unprivileged user) and runs
//! the ignored tests here with `LOGSENTINEL_TEST_POSTGRES_SOCKET_DIR` set; each test makes its own
//! database. The tests that need no server run with the rest.
#![allow(clippy::unwrap_used)]

mod common;
use common::{fresh_postgres_database, hdfs_lines, postgres_admin_url};

use std::time::Duration;

use logsentinel::store::{global_blob, postgres_store::MIGRATIONS, project_blob, Store, Write};
use logsentinel::tenant::keys::hash_key;
use logsentinel::{
    Config, Error, ErrorKind, JobState, LeaseScope, LogFormat, LogRecord, ModelType, NewProject,
    Phase, TenantDetector,
};

/// A new, empty database on the test server; its URL.
fn fresh_database() -> String {
    fresh_postgres_database().1
}

/// A new database reached over TCP with TLS (the server of `scripts/test-postgres.sh` listens on
/// 127.0.0.1 with a certificate for `localhost` from a throwaway CA): the database's name, the port
/// and the CA file.
fn tls_database() -> (String, String, String) {
    let (name, _) = fresh_postgres_database();
    let port = std::env::var("LOGSENTINEL_TEST_POSTGRES_PORT").unwrap();
    let ca = std::env::var("LOGSENTINEL_TEST_POSTGRES_CA").unwrap();
    (name, port, ca)
}

fn sql(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn projects_keys_blobs_and_history_are_shared_by_instances_and_deletes_cascade() {
    let url = fresh_database();
    let key = hash_key("sk-test");
    let a = Store::open_url(&url).unwrap();
    let b = Store::open_url(&url).unwrap();
    a.create_project_with("p1", b"{}", &key, &[("miner", vec![4, 5])])
        .unwrap();
    let again = b.create_project("p1", b"{}", &hash_key("sk-other"));
    assert!(
        matches!(&again, Err(Error::InvalidInput { reason }) if reason.contains("already exists")),
        "{again:?}"
    );
    assert_eq!(b.blob("p1/miner").unwrap(), Some(vec![4, 5]));
    a.commit(vec![
        Write::Project {
            id: "p1".into(),
            json: b"{\"v\":2}".to_vec(),
        },
        Write::Blob {
            name: project_blob("p1", "miner"),
            bytes: vec![1, 2, 3],
        },
        Write::Blob {
            name: global_blob("vocab"),
            bytes: vec![9],
        },
        // A blob or record of a project that does not exist is dropped, never resurrecting it.
        Write::Blob {
            name: project_blob("ghost", "miner"),
            bytes: vec![1],
        },
        Write::Project {
            id: "ghost".into(),
            json: b"{}".to_vec(),
        },
    ])
    .unwrap();
    assert_eq!(
        b.projects().unwrap(),
        vec![("p1".into(), b"{\"v\":2}".to_vec())]
    );
    assert_eq!(b.keys().unwrap(), vec![(key, "p1".to_string())]);
    assert_eq!(b.blob("p1/miner").unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(b.blob("ghost/miner").unwrap(), None);
    // What a detector reads at open, in one query: each record with its miner, if any.
    a.create_project("p2", b"{}", &hash_key("sk-p2")).unwrap();
    assert_eq!(
        b.projects_with_blob("miner").unwrap(),
        vec![
            ("p1".into(), b"{\"v\":2}".to_vec(), Some(vec![1, 2, 3])),
            ("p2".into(), b"{}".to_vec(), None),
        ]
    );
    a.delete_project("p2", &hash_key("sk-p2")).unwrap();
    assert_eq!(a.append_history(b"{\"a\":1}").unwrap(), 1);
    assert_eq!(b.append_history(b"{\"a\":2}").unwrap(), 2);
    assert_eq!(
        a.history().unwrap(),
        vec![b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()]
    );

    // A large blob (a student's weights) reads back whole, and the reader's error comes through.
    let weights: Vec<u8> = (0..3 << 20).map(|i| (i * 7 % 251) as u8).collect();
    a.commit(vec![Write::Blob {
        name: project_blob("p1", "student"),
        bytes: weights.clone(),
    }])
    .unwrap();
    assert_eq!(
        b.read_blob("p1/student", |w| Ok(w == weights.as_slice()))
            .unwrap(),
        Some(true)
    );
    let failed = b.read_blob("p1/student", |_| Err::<(), _>(Error::model("bad weights")));
    assert!(matches!(failed, Err(Error::Model(m)) if m == "bad weights"));

    let new_key = hash_key("sk-new");
    b.rotate_key("p1", &key, &new_key, b"{\"v\":3}").unwrap();
    assert_eq!(a.keys().unwrap(), vec![(new_key, "p1".to_string())]);

    b.delete_project("p1", &new_key).unwrap();
    assert!(a.projects().unwrap().is_empty());
    assert!(a.keys().unwrap().is_empty());
    assert_eq!(a.blob("p1/miner").unwrap(), None);
    assert_eq!(a.blob("p1/student").unwrap(), None);
    assert_eq!(a.blob("global/vocab").unwrap(), Some(vec![9]));
    // A commit for the deleted project changes nothing.
    a.commit(vec![Write::Blob {
        name: project_blob("p1", "miner"),
        bytes: vec![1],
    }])
    .unwrap();
    assert_eq!(b.blob("p1/miner").unwrap(), None);
    assert!(a.location().starts_with("postgres://postgres@"));
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn the_schema_is_made_once_by_instances_starting_together_and_a_newer_one_is_refused() {
    let url = fresh_database();
    let opened: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| Store::open_url(&url))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for store in &opened {
        assert!(store.is_ok(), "{:?}", store.as_ref().err());
    }
    let mut client = sql(&url);
    let versions: Vec<i32> = client
        .query("SELECT version FROM ls_schema", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![MIGRATIONS.len() as i32]);
    client
        .batch_execute("UPDATE ls_schema SET version = 999")
        .unwrap();
    let newer = Store::open_url(&url);
    assert!(
        matches!(&newer, Err(Error::Storage(m)) if m.contains("newer logsentinel")),
        "{:?}",
        newer.err()
    );
}

fn tiny(storage: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::default().tiny_models();
    c.training_threads = 1;
    storage(&mut c);
    c
}

fn records(lines: &[String]) -> Vec<LogRecord> {
    lines.iter().map(LogRecord::new).collect()
}

/// Streams lines through a new HDFS project past its warmup and its student's training; returns
/// the key and every line's score.
fn lifecycle(det: &TenantDetector, lines: &[String]) -> (String, Vec<f32>) {
    let p = det
        .create_project(
            NewProject::named("hdfs")
                .warmup_threshold(1000)
                .format(LogFormat::Hdfs),
        )
        .unwrap();
    let mut scores = Vec::new();
    for chunk in lines.chunks(200) {
        let batch = det.detect_batch(&p.api_key, &records(chunk)).unwrap();
        scores.extend(batch.results.iter().map(|d| d.anomaly_score));
        if det.status(&p.api_key).unwrap().phase == Phase::Training {
            let st = det
                .wait_for_training(&p.api_key, Some(Duration::from_secs(300)))
                .unwrap()
                .unwrap();
            assert_eq!(st.state, JobState::Succeeded, "{:?}", st.error);
        }
    }
    (p.api_key, scores)
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn a_tenant_kept_in_postgres_is_served_by_the_next_instance_exactly_as_from_redb() {
    let lines = hdfs_lines(3200);
    let url = fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let on_pg = tiny(|c| c.storage_url = Some(url.clone()));
    let on_redb = tiny(|c| c.storage_dir = dir.path().to_path_buf());

    let mut first = Vec::new();
    for config in [&on_redb, &on_pg] {
        let det = TenantDetector::open(config.clone()).unwrap();
        let (key, scores) = lifecycle(&det, &lines[..3000]);
        assert!(det.status(&key).unwrap().has_student_model);
        det.close().unwrap();
        first.push((key, scores));
    }
    assert_eq!(
        first[0].1, first[1].1,
        "the same stream scores the same on either backend"
    );

    // Another instance (a new detector on the same database) serves the tenant with its student,
    // without retraining, exactly as a restart on redb does.
    let mut then = Vec::new();
    for (config, (key, _)) in [&on_redb, &on_pg].into_iter().zip(&first) {
        let det = TenantDetector::open(config.clone()).unwrap();
        let st = det.status(key).unwrap();
        assert_eq!(st.phase, Phase::Active);
        assert!(st.has_student_model);
        assert_eq!(st.log_count, 3000);
        let batch = det.detect_batch(key, &records(&lines[3000..])).unwrap();
        assert!(batch
            .results
            .iter()
            .all(|d| d.model_type == ModelType::Student));
        assert_eq!(det.status(key).unwrap().training.students_trained, 1);
        assert_eq!(det.update_history().unwrap().len(), 1);
        then.push(
            batch
                .results
                .iter()
                .map(|d| d.anomaly_score)
                .collect::<Vec<_>>(),
        );
        assert!(det
            .storage_location()
            .unwrap()
            .contains(if config.storage_url.is_some() {
                "postgres://"
            } else {
                "logsentinel.redb"
            }));
        det.close().unwrap();
    }
    assert_eq!(then[0], then[1]);
}

#[test]
fn storage_urls_that_cannot_work_are_typed_errors_that_never_show_the_password() {
    for bad in ["mysql://db/logs", "postgres://db:port/logs"] {
        let err = TenantDetector::open(tiny(|c| c.storage_url = Some(bad.into())))
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{bad}: {err}");
        assert!(err.to_string().contains("STORAGE_URL"), "{err}");
    }
    let missing = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://ls:hunter2@localhost/logs?host={}&connect_timeout=5",
        missing.path().display()
    );
    let err = TenantDetector::open(tiny(|c| c.storage_url = Some(url)))
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("cannot connect to postgres://ls@"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

fn instance(url: &str, id: &str, wait_secs: f64) -> Config {
    tiny(|c| {
        c.storage_url = Some(url.to_string());
        c.instance_id = Some(id.to_string());
        c.lease_ttl_secs = 1.0;
        c.lease_wait_secs = wait_secs;
    })
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn one_instance_holds_the_database_others_are_told_who_and_take_over_when_it_closes() {
    let url = fresh_database();
    let a = TenantDetector::open(instance(&url, "pod-a:8080", 0.0)).unwrap();
    let key = a.create_project(NewProject::named("web")).unwrap().api_key;
    // Past several times-to-live: the holder renews its lease in the background.
    for _ in 0..3 {
        let refused = TenantDetector::open(instance(&url, "pod-b:8080", 0.0));
        match refused {
            Err(Error::LeaseHeld {
                owner,
                expires_in_secs,
            }) => {
                assert_eq!(owner, "pod-a:8080");
                assert!((0.0..=1.0).contains(&expires_in_secs), "{expires_in_secs}");
            }
            other => panic!("expected LeaseHeld, got {:?}", other.err()),
        }
        std::thread::sleep(Duration::from_millis(700));
    }
    assert_eq!(
        Error::LeaseHeld {
            owner: "x".into(),
            expires_in_secs: 1.0
        }
        .kind(),
        ErrorKind::LeaseHeld
    );
    // An instance leasing projects one by one would write beside the holder: refused.
    let mixed = TenantDetector::open(fleet_member(&url, "pod-f:8080", 0.0));
    assert!(
        matches!(&mixed, Err(Error::InvalidConfig { name, reason })
            if name == "LEASE_SCOPE" && reason.contains("pod-a:8080")),
        "{:?}",
        mixed.err()
    );
    a.detect(&key, LogRecord::new("GET /index.html 200"))
        .unwrap();
    // A standby waiting for the lease gets it as soon as the holder closes, with what it committed.
    let standby = std::thread::spawn({
        let url = url.clone();
        move || TenantDetector::open(instance(&url, "pod-b:8080", f64::INFINITY))
    });
    std::thread::sleep(Duration::from_millis(300));
    a.close().unwrap();
    let b = standby.join().unwrap().unwrap();
    assert_eq!(b.status(&key).unwrap().log_count, 1);
    b.close().unwrap();
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn a_holder_paused_past_its_lease_has_every_late_write_refused() {
    let url = fresh_database();
    let lines = hdfs_lines(1200);
    let a = TenantDetector::open(instance(&url, "pod-a", 0.0)).unwrap();
    let key = a
        .create_project(NewProject::named("hdfs").format(LogFormat::Hdfs))
        .unwrap()
        .api_key;
    a.detect_batch(&key, &records(&lines[..200])).unwrap();
    a.flush().unwrap();

    // The holder stalls (a long GC pause, a frozen VM): its lease expires without renewal. Stalling
    // its renewal thread is not possible from here, so the lease is expired in the database, as the
    // passing of time would.
    sql(&url)
        .batch_execute("UPDATE ls_leases SET expires_at = clock_timestamp() - interval '1 second'")
        .unwrap();
    let b = TenantDetector::open(instance(&url, "pod-b", 0.0)).unwrap();
    assert_eq!(b.status(&key).unwrap().log_count, 200);

    // Whatever the old holder still tries to write is refused, naming the new holder: a group
    // commit, an explicit flush, a project, a close.
    let mut refused = 0;
    for chunk in lines[200..].chunks(100) {
        match a
            .detect_batch(&key, &records(chunk))
            .and_then(|_| a.flush())
        {
            Err(Error::LeaseHeld { owner, .. }) => {
                assert_eq!(owner, "pod-b");
                refused += 1;
            }
            other => panic!("a fenced-off write went through: {other:?}"),
        }
    }
    assert!(refused > 0);
    assert!(matches!(
        a.create_project(NewProject::named("late")),
        Err(Error::LeaseHeld { .. })
    ));
    assert!(matches!(a.close(), Err(Error::LeaseHeld { .. })));
    drop(a);

    // Nothing of it reached the database.
    let st = b.status(&key).unwrap();
    assert_eq!(st.log_count, 200);
    assert_eq!(b.list_projects().unwrap().len(), 1);
    b.close().unwrap();
    let c = TenantDetector::open(instance(&url, "pod-c", 0.0)).unwrap();
    assert_eq!(c.status(&key).unwrap().log_count, 200);
    assert_eq!(c.list_projects().unwrap().len(), 1);
}

/// An instance of a fleet sharing the database, each project leased on its own.
fn fleet_member(url: &str, id: &str, wait_secs: f64) -> Config {
    let mut c = instance(url, id, wait_secs);
    c.lease_scope = LeaseScope::Project;
    c
}

fn held_by(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::LeaseHeld { owner, .. }) => owner,
        other => panic!("expected LeaseHeld, got {other:?}"),
    }
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn with_project_leases_instances_share_a_database_each_tenant_served_by_one_at_a_time() {
    let url = fresh_database();
    let line = || LogRecord::new("GET /index.html 200").session("10.0.0.1");
    // Both open at once: nothing is leased until a project is used.
    let a = TenantDetector::open(fleet_member(&url, "pod-a:8080", 0.0)).unwrap();
    let b = TenantDetector::open(fleet_member(&url, "pod-b:8080", 0.0)).unwrap();
    let web = a.create_project(NewProject::named("web")).unwrap().api_key;
    // Created after `a` opened: `a` finds its key in the database.
    let api = b.create_project(NewProject::named("api")).unwrap().api_key;
    a.detect(&web, line()).unwrap();
    b.detect(&api, line()).unwrap();
    // An instance of the other scope is refused rather than let write beside them.
    let mixed = TenantDetector::open(instance(&url, "pod-s:8080", 0.0));
    assert!(
        matches!(&mixed, Err(Error::InvalidConfig { name, reason })
            if name == "LEASE_SCOPE" && reason.contains("pod-")),
        "{:?}",
        mixed.err()
    );
    // Past several times-to-live: each holder renews what it holds; the other is told who, so a
    // router can forward.
    for _ in 0..3 {
        assert_eq!(held_by(b.detect(&web, line())), "pod-a:8080");
        assert_eq!(held_by(a.detect(&api, line())), "pod-b:8080");
        assert_eq!(held_by(b.status(&web)), "pod-a:8080");
        std::thread::sleep(Duration::from_millis(700));
    }
    for det in [&a, &b] {
        let names: Vec<String> = det
            .list_projects()
            .unwrap()
            .into_iter()
            .map(|p| p.project_name)
            .collect();
        assert_eq!(names, ["web", "api"]);
    }
    assert!(matches!(
        a.detect("sk-no-such-key-anywhere-0000000000000000", line()),
        Err(Error::InvalidApiKey)
    ));

    // Handover: `a` closes; `b` serves its tenant with everything `a` acknowledged.
    a.detect_batch(&web, &vec![line(); 10]).unwrap();
    a.close().unwrap();
    b.detect(&web, line()).unwrap();
    assert_eq!(b.status(&web).unwrap().log_count, 12);

    // A key rotated and a project deleted by their holder hold on every instance.
    let web2 = b.rotate_key(&web).unwrap();
    let c = TenantDetector::open(fleet_member(&url, "pod-c:8080", 5.0)).unwrap();
    assert_eq!(held_by(c.detect(&web2, line()).map(|_| ())), "pod-b:8080");
    let api_id = b
        .list_projects()
        .unwrap()
        .into_iter()
        .find(|p| p.project_name == "api")
        .unwrap()
        .project_id;
    b.delete_project(&api_id).unwrap();
    // A deleted project's lease is let go, not renewed for nothing.
    let live: i64 = sql(&url)
        .query_one(
            "SELECT count(*) FROM ls_leases WHERE name = $1 AND expires_at > clock_timestamp()",
            &[&format!("project/{api_id}")],
        )
        .unwrap()
        .get(0);
    assert_eq!(live, 0);
    b.close().unwrap();
    // `c` waits (up to 5 s) for the project's lease, then reads it back.
    assert!(matches!(c.detect(&web, line()), Err(Error::InvalidApiKey)));
    c.detect(&web2, line()).unwrap();
    assert_eq!(c.status(&web2).unwrap().log_count, 13);
    assert!(matches!(c.detect(&api, line()), Err(Error::InvalidApiKey)));
    assert_eq!(c.list_projects().unwrap().len(), 1);
    c.close().unwrap();
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn a_project_holder_paused_past_its_lease_has_that_projects_late_writes_refused_only() {
    let url = fresh_database();
    let lines = hdfs_lines(1000);
    let a = TenantDetector::open(fleet_member(&url, "pod-a", 0.0)).unwrap();
    let hdfs = NewProject::named("hdfs").format(LogFormat::Hdfs);
    let stalled = a.create_project(hdfs.clone()).unwrap().api_key;
    let other = a.create_project(hdfs).unwrap().api_key;
    a.detect_batch(&stalled, &records(&lines[..200])).unwrap();
    a.detect_batch(&other, &records(&lines[..200])).unwrap();
    a.flush().unwrap();

    // One project's lease expires without renewal (as a stalled holder's would); another instance
    // takes that project over.
    let id = a.status(&stalled).unwrap().project_id;
    sql(&url)
        .execute(
            "UPDATE ls_leases SET expires_at = clock_timestamp() - interval '1 second' \
             WHERE name = $1",
            &[&format!("project/{id}")],
        )
        .unwrap();
    let b = TenantDetector::open(fleet_member(&url, "pod-b", 0.0)).unwrap();
    assert_eq!(b.status(&stalled).unwrap().log_count, 200);

    // Whatever the old holder still writes of that project is refused, naming the new holder,
    // until its renewal notices and it stops serving the project (then it is told who holds it).
    for chunk in lines[200..600].chunks(100) {
        let late = a
            .detect_batch(&stalled, &records(chunk))
            .and_then(|_| a.flush());
        assert_eq!(held_by(late), "pod-b");
    }
    // Its other project is its own still.
    a.detect_batch(&other, &records(&lines[200..400])).unwrap();
    a.flush().unwrap();
    assert_eq!(held_by(b.status(&other)), "pod-a");
    assert_eq!(b.status(&stalled).unwrap().log_count, 200);
    a.close().unwrap();
    b.close().unwrap();
    let c = TenantDetector::open(fleet_member(&url, "pod-c", 0.0)).unwrap();
    assert_eq!(c.status(&stalled).unwrap().log_count, 200);
    assert_eq!(c.status(&other).unwrap().log_count, 400);
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn with_project_leases_students_and_the_shared_teacher_reach_every_instance() {
    let url = fresh_database();
    let lines = hdfs_lines(3200);
    let a = TenantDetector::open(fleet_member(&url, "pod-a", 0.0)).unwrap();
    let b = TenantDetector::open(fleet_member(&url, "pod-b", 0.0)).unwrap();
    assert_eq!(b.teacher_info().unwrap().version, 0);
    // `a` trains the first student, and with it the first teacher, under the teacher lease.
    let (key, _) = lifecycle(&a, &lines[..3000]);
    assert_eq!(a.teacher_info().unwrap().version, 1);
    // `b` reads the published teacher back once the history moves (its lease thread polls it).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while b.teacher_info().unwrap().version < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "teacher never reached b"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let taught = b.teacher_info().unwrap();
    assert!(taught.vocabulary_size > 0);
    // A tenant of `b` warms up with that teacher and trains its student from it, without a second
    // first distillation.
    let (own, _) = lifecycle(&b, &lines[..3000]);
    assert!(b.status(&own).unwrap().has_student_model);
    assert_eq!(b.update_history().unwrap().len(), 1);
    // A forced update runs once for the fleet and reaches `a`.
    let job = b.force_teacher_update().unwrap();
    assert_eq!(job.wait(None).unwrap().state, JobState::Succeeded);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while a.teacher_info().unwrap().version < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "update never reached a"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Handover of a tenant with its student: served at once, without retraining.
    a.close().unwrap();
    let batch = b.detect_batch(&key, &records(&lines[3000..])).unwrap();
    assert!(batch
        .results
        .iter()
        .all(|d| d.model_type == ModelType::Student));
    assert_eq!(b.status(&key).unwrap().training.students_trained, 1);
    assert_eq!(b.update_history().unwrap().len(), 2);
    b.close().unwrap();
}

#[test]
#[ignore = "needs PostgreSQL: scripts/test-postgres.sh"]
fn tls_is_used_when_the_url_asks_for_it_and_the_server_certificate_is_checked() {
    let (name, port, ca) = tls_database();
    let url = |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/{name}?{query}");
    // Connections of this database the server sees encrypted.
    let encrypted = || -> (i64, i64) {
        let row = sql(&postgres_admin_url())
            .query_one(
                "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
                 FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = $1 AND a.client_addr IS NOT NULL",
                &[&name],
            )
            .unwrap();
        (row.get(0), row.get(1))
    };

    // verify-full: the test CA signed the certificate and it names localhost.
    let full = url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let det = TenantDetector::open(tiny(|c| c.storage_url = Some(full))).unwrap();
    let p = det.create_project(NewProject::named("over tls")).unwrap();
    det.detect(&p.api_key, LogRecord::new("a line over TLS"))
        .unwrap();
    let (tls, plain) = encrypted();
    assert!(tls >= 1 && plain == 0, "tls {tls}, plain {plain}");
    det.close().unwrap();
    drop(det);

    // require: encrypted, the certificate not checked. verify-ca: the chain is checked, the name is
    // not (the certificate names localhost, the URL 127.0.0.1).
    for query in [
        "sslmode=require".to_string(),
        format!("sslmode=verify-ca&sslrootcert={ca}"),
    ] {
        let store = Store::open_url(&url("127.0.0.1", &query)).unwrap();
        assert_eq!(store.projects().unwrap().len(), 1, "{query}");
    }

    // Checks that fail: a name the certificate does not hold, roots that did not sign it.
    for (host, query) in [
        ("127.0.0.1", format!("sslmode=verify-full&sslrootcert={ca}")),
        (
            "localhost",
            "sslmode=verify-full&sslrootcert=system".to_string(),
        ),
    ] {
        let err = Store::open_url(&url(host, &query)).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Storage, "{query}: {err}");
        assert!(err.to_string().contains("certificate"), "{query}: {err}");
    }

    // Without sslmode (or prefer), no TLS, as before.
    let store = Store::open_url(&url("localhost", "sslmode=prefer")).unwrap();
    assert_eq!(store.projects().unwrap().len(), 1);
    let (_, plain) = encrypted();
    assert!(plain >= 1, "an unencrypted connection was made");
}
