//! Client behaviour (`model::behaviour`): a client whose recent requests mostly fail, far more than the
//! project's do, is flagged from the tenth request on, and its later requests with it; a reader with a
//! few broken links is not, and neither is the same failing client on a project where failures are
//! ordinary; another browser behind the scanner's address is not tainted by it. Real detector, real
//! storage, tiny real models.
#![allow(clippy::unwrap_used)]

use logsentinel::{Config, Detection, LogFormat, LogRecord, NewProject, TenantDetector};

fn tiny_config(dir: &std::path::Path) -> Config {
    let mut c = Config::with_storage_dir(dir).tiny_models();
    c.training_threads = 1;
    c
}

/// A combined-format line of `client` at `secs` seconds after 10:00:00.
fn access(client: &str, secs: u32, target: &str, status: u16, agent: &str) -> String {
    format!(
        "{client} - - [10/Oct/2024:{:02}:{:02}:{:02} +0000] \"GET {target} HTTP/1.1\" {status} 512 \"-\" \"{agent}\"",
        10 + secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

/// Readers: each visit is a page and its four resources, one in `broken_every` resources missing.
fn browsing(visits: u32, start: u32, broken_every: u32) -> Vec<String> {
    let mut lines = Vec::new();
    for v in 0..visits {
        let client = format!("10.1.{}.{}", v % 7, v % 13 + 1);
        let t = start + v * 90;
        lines.push(access(
            &client,
            t,
            &format!("/posts/{}", v % 40),
            200,
            BROWSER,
        ));
        for r in 0..4 {
            let status = if (v * 4 + r) % broken_every == 0 {
                404
            } else {
                200
            };
            lines.push(access(
                &client,
                t + 1,
                &format!("/static/img{r}.png"),
                status,
                BROWSER,
            ));
        }
    }
    lines
}

/// A client guessing paths: `n` requests a second apart, all answered 404, then two ordinary pages.
fn scanning(client: &str, start: u32, n: u32) -> Vec<String> {
    let mut lines: Vec<String> = (0..n)
        .map(|i| {
            access(
                client,
                start + i,
                &format!("/backup{i}.zip"),
                404,
                "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
            )
        })
        .collect();
    for i in 0..2 {
        lines.push(access(
            client,
            start + n + i,
            "/posts/1",
            200,
            "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
        ));
    }
    lines
}

fn feed(det: &TenantDetector, key: &str, lines: &[String]) -> Vec<Detection> {
    let records: Vec<LogRecord> = lines.iter().map(LogRecord::new).collect();
    let mut out = Vec::new();
    for chunk in records.chunks(64) {
        out.extend(det.detect_batch(key, chunk).unwrap().results);
    }
    out
}

fn project(det: &TenantDetector, name: &str) -> String {
    det.create_project(
        NewProject::named(name)
            .format(LogFormat::Combined)
            .warmup_threshold(100_000),
    )
    .unwrap()
    .api_key
}

fn by_behaviour(d: &Detection) -> bool {
    d.matched_rules.iter().any(|r| r == "behaviour:failures")
}

#[test]
fn a_client_that_keeps_failing_is_flagged_with_its_later_requests() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let key = project(&det, "site");
    // 200 visits (1,000 lines), one resource in 25 missing: a 0.8% base failure rate.
    let normal = feed(&det, &key, &browsing(200, 0, 25));
    assert_eq!(normal.iter().filter(|d| by_behaviour(d)).count(), 0);

    let scan = feed(&det, &key, &scanning("192.0.2.66", 200 * 90 + 600, 30));
    // The first nine requests are too few to tell; from the tenth on, every one is flagged.
    for (i, d) in scan.iter().enumerate().take(30) {
        assert_eq!(by_behaviour(d), i >= 9, "request {i}: {d:?}");
    }
    let tenth = &scan[9];
    assert!(tenth.is_anomaly, "{tenth:?}");
    assert_eq!(tenth.cause.as_deref(), Some("rule:behaviour:failures"));
    assert!(
        tenth.reasons[0].contains("10 of the session's last 10 lines failed"),
        "{tenth:?}"
    );
    // Its ordinary pages afterwards are part of the same attack.
    for d in &scan[30..] {
        assert!(d.is_anomaly, "{d:?}");
    }

    // Another browser behind the same address is another client, judged on its own requests: its
    // pages are not flagged; the scanner's still are.
    let start = 200 * 90 + 640;
    let neighbour: Vec<String> = (0..12)
        .map(|i| {
            access(
                "192.0.2.66",
                start + i,
                &format!("/posts/{i}"),
                200,
                BROWSER,
            )
        })
        .collect();
    let neighbour = feed(&det, &key, &neighbour);
    assert!(neighbour.iter().all(|d| !d.is_anomaly), "{neighbour:?}");
    let again = feed(
        &det,
        &key,
        &[access(
            "192.0.2.66",
            start + 13,
            "/posts/2",
            200,
            "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
        )],
    );
    assert!(again[0].is_anomaly, "{again:?}");

    // Readers afterwards, with the same few broken images, are not flagged for behaviour.
    let later = feed(&det, &key, &browsing(50, 200 * 90 + 900, 25));
    assert_eq!(later.iter().filter(|d| by_behaviour(d)).count(), 0);
}

#[test]
fn failures_are_no_news_where_the_project_fails_as_often() {
    let dir = tempfile::tempdir().unwrap();
    let det = TenantDetector::open(tiny_config(dir.path())).unwrap();
    let key = project(&det, "flaky");
    // Every resource missing: 80% of the project's lines fail, so twenty failures in a row have a
    // chance of 1.2% there, above the budget.
    let normal = feed(&det, &key, &browsing(200, 0, 1));
    assert_eq!(normal.iter().filter(|d| by_behaviour(d)).count(), 0);
    let scan = feed(&det, &key, &scanning("192.0.2.66", 200 * 90 + 600, 30));
    assert_eq!(scan.iter().filter(|d| by_behaviour(d)).count(), 0);
}
