//! Optional Elasticsearch sink (cargo feature `elasticsearch`): every scored line and its detection
//! become one document in the project's index `logs-{project_id}`, sent with the `_bulk` NDJSON API.
//!
//! Requests never wait for Elasticsearch: documents go into a bounded queue (`ES_QUEUE_CAPACITY`; when
//! it is full new documents are dropped and counted) and one background task sends them in batches of
//! `ES_BATCH_SIZE` documents or every `ES_FLUSH_INTERVAL_MS`, whichever comes first. A batch that fails
//! with a network error, 429 or 5xx is retried `ES_MAX_RETRIES` times with backoff, then dropped. At
//! shutdown the queue is drained (bounded by the shutdown timeout).
//!
//! Settings (each also accepted with a `LOGSENTINEL_` prefix, which wins): `ES_URL` (e.g.
//! `http://localhost:9200`; unset = no sink), `ES_API_KEY` (sent as `Authorization: ApiKey ...`) or
//! `ES_USERNAME` + `ES_PASSWORD` (basic auth), `ES_BATCH_SIZE` (500), `ES_FLUSH_INTERVAL_MS` (1000),
//! `ES_QUEUE_CAPACITY` (10000), `ES_MAX_RETRIES` (3), `ES_TIMEOUT_SECS` (10).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use logsentinel::{Detection, Error};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Settings of the sink.
#[derive(Clone)]
pub struct EsConfig {
    /// Base URL of the cluster, without a trailing `/_bulk`.
    pub url: String,
    /// API key (`Authorization: ApiKey <key>`).
    pub api_key: Option<String>,
    /// Basic-auth user name.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<String>,
    /// Most documents per `_bulk` request.
    pub batch_docs: usize,
    /// Longest time a document waits in a partial batch.
    pub flush_interval: Duration,
    /// Most documents waiting in the queue.
    pub queue_capacity: usize,
    /// Retries of a failed batch.
    pub max_retries: u32,
    /// Timeout of one `_bulk` request.
    pub timeout: Duration,
}

impl std::fmt::Debug for EsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Credentials are never printed.
        f.debug_struct("EsConfig")
            .field("url", &redacted_url(&self.url))
            .field("batch_docs", &self.batch_docs)
            .field("flush_interval", &self.flush_interval)
            .field("queue_capacity", &self.queue_capacity)
            .finish_non_exhaustive()
    }
}

/// The URL without user info, for messages.
pub fn redacted_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "<invalid url>".to_string(),
    }
}

fn config_error(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        name: name.to_string(),
        reason: reason.into(),
    }
}

impl EsConfig {
    /// Reads the settings from the environment; `None` when `ES_URL` is unset or empty.
    pub fn from_env() -> Result<Option<Self>, Error> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Like [`EsConfig::from_env`] from any variable source.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        let get = |name: &str| -> Option<(String, String)> {
            let prefixed = format!("LOGSENTINEL_{name}");
            if let Some(v) = lookup(&prefixed) {
                return Some((prefixed, v));
            }
            lookup(name).map(|v| (name.to_string(), v))
        };
        let Some((url_name, url)) = get("ES_URL").filter(|(_, v)| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let url = url.trim().trim_end_matches('/').to_string();
        match reqwest::Url::parse(&url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => {
                return Err(config_error(
                    &url_name,
                    "expected an http:// or https:// URL",
                ))
            }
        }
        let num = |name: &str, default: u64, min: u64| -> Result<u64, Error> {
            match get(name) {
                None => Ok(default),
                Some((n, v)) => match v.trim().parse::<u64>() {
                    Ok(x) if x >= min => Ok(x),
                    _ => Err(config_error(&n, format!("expected an integer >= {min}"))),
                },
            }
        };
        let text = |name: &str| get(name).map(|(_, v)| v).filter(|v| !v.is_empty());
        Ok(Some(Self {
            url,
            api_key: text("ES_API_KEY"),
            username: text("ES_USERNAME"),
            password: text("ES_PASSWORD"),
            batch_docs: num("ES_BATCH_SIZE", 500, 1)? as usize,
            flush_interval: Duration::from_millis(num("ES_FLUSH_INTERVAL_MS", 1000, 1)?),
            queue_capacity: num("ES_QUEUE_CAPACITY", 10_000, 1)? as usize,
            max_retries: num("ES_MAX_RETRIES", 3, 0)? as u32,
            timeout: Duration::from_secs(num("ES_TIMEOUT_SECS", 10, 1)?),
        }))
    }
}

/// Counters of the sink.
#[derive(Debug, Default)]
pub struct EsStats {
    /// Documents accepted into the queue.
    pub queued: AtomicU64,
    /// Documents dropped because the queue was full.
    pub dropped_full: AtomicU64,
    /// Documents Elasticsearch accepted.
    pub indexed: AtomicU64,
    /// Documents that failed (batch given up, or refused item by item).
    pub failed: AtomicU64,
}

/// The request side: cheap to clone, never blocks.
#[derive(Clone)]
pub struct EsHandle {
    tx: mpsc::Sender<String>,
    stats: Arc<EsStats>,
}

/// One document as its two `_bulk` lines: the action and the source, each ending with `\n`.
pub fn encode(line: &str, d: &Detection) -> Result<String, serde_json::Error> {
    let mut doc = serde_json::to_value(d)?;
    if let Value::Object(map) = &mut doc {
        map.insert("log_line".into(), Value::String(line.to_string()));
        let ts = chrono::DateTime::from_timestamp_millis((d.timestamp * 1000.0).round() as i64)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        if let Some(ts) = ts {
            map.insert("@timestamp".into(), Value::String(ts));
        }
    }
    let action = json!({"index": {"_index": format!("logs-{}", d.project_id)}});
    Ok(format!("{action}\n{doc}\n"))
}

impl EsHandle {
    /// Queues one document per scored line; drops (and counts) what does not fit.
    pub fn offer<'a>(&self, lines: impl Iterator<Item = &'a str>, detections: &[Detection]) {
        for (line, d) in lines.zip(detections) {
            let Ok(doc) = encode(line, d) else {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            match self.tx.try_send(doc) {
                Ok(()) => {
                    self.stats.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    let before = self.stats.dropped_full.fetch_add(1, Ordering::Relaxed);
                    if before.is_power_of_two() || before == 0 {
                        eprintln!(
                            "logsentinel serve: elasticsearch queue full, {} documents dropped so far",
                            before + 1
                        );
                    }
                }
            }
        }
    }
}

/// The background sender; [`EsWorker::finish`] drains it at shutdown.
pub struct EsWorker {
    join: JoinHandle<()>,
    shutdown: watch::Sender<bool>,
    stats: Arc<EsStats>,
}

/// Starts the sink on the current tokio runtime.
pub fn start(cfg: EsConfig) -> Result<(EsHandle, EsWorker), Error> {
    let client = reqwest::Client::builder()
        .timeout(cfg.timeout)
        .build()
        .map_err(|e| config_error("ES_URL", format!("cannot build an HTTP client: {e}")))?;
    let (tx, rx) = mpsc::channel(cfg.queue_capacity);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let stats = Arc::new(EsStats::default());
    let join = tokio::spawn(worker(cfg, client, rx, shutdown_rx, stats.clone()));
    Ok((
        EsHandle {
            tx,
            stats: stats.clone(),
        },
        EsWorker {
            join,
            shutdown,
            stats,
        },
    ))
}

impl EsWorker {
    /// Stops taking documents, sends what is queued (waiting at most `timeout`) and reports.
    pub async fn finish(self, timeout: Duration) {
        let _ = self.shutdown.send(true);
        if tokio::time::timeout(timeout, self.join).await.is_err() {
            eprintln!("logsentinel serve: elasticsearch sink did not drain in time");
        }
        let s = &self.stats;
        eprintln!(
            "logsentinel serve: elasticsearch sink: {} indexed, {} failed, {} dropped (queue full)",
            s.indexed.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
            s.dropped_full.load(Ordering::Relaxed)
        );
    }
}

async fn worker(
    cfg: EsConfig,
    client: reqwest::Client,
    mut rx: mpsc::Receiver<String>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<EsStats>,
) {
    let mut batch: Vec<String> = Vec::with_capacity(cfg.batch_docs);
    let mut deadline: Option<Instant> = None;
    let mut stopping = false;
    loop {
        let flush_at = deadline;
        tokio::select! {
            changed = shutdown.changed(), if !stopping => {
                // Stop accepting; what is queued is still received below.
                let _ = changed;
                stopping = true;
                rx.close();
            }
            doc = rx.recv() => match doc {
                Some(doc) => {
                    if batch.is_empty() {
                        deadline = Some(Instant::now() + cfg.flush_interval);
                    }
                    batch.push(doc);
                    if batch.len() >= cfg.batch_docs {
                        send(&cfg, &client, &mut batch, &stats).await;
                        deadline = None;
                    }
                }
                None => break,
            },
            _ = sleep_until(flush_at), if flush_at.is_some() => {
                send(&cfg, &client, &mut batch, &stats).await;
                deadline = None;
            }
        }
    }
    if !batch.is_empty() {
        send(&cfg, &client, &mut batch, &stats).await;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends one `_bulk` request with the batch (emptied), retrying transient failures.
async fn send(cfg: &EsConfig, client: &reqwest::Client, batch: &mut Vec<String>, stats: &EsStats) {
    if batch.is_empty() {
        return;
    }
    let docs = batch.len() as u64;
    let body: String = batch.drain(..).collect();
    let url = format!("{}/_bulk", cfg.url);
    let mut attempt = 0u32;
    loop {
        let mut req = client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body.clone());
        if let Some(key) = &cfg.api_key {
            req = req.header(reqwest::header::AUTHORIZATION, format!("ApiKey {key}"));
        } else if let Some(user) = &cfg.username {
            req = req.basic_auth(user, cfg.password.as_deref());
        }
        let outcome = match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    let failed = match resp.bytes().await {
                        Ok(b) => serde_json::from_slice::<Value>(&b)
                            .map(|v| failed_items(&v))
                            .unwrap_or(0),
                        Err(_) => 0,
                    };
                    stats
                        .indexed
                        .fetch_add(docs - failed.min(docs), Ordering::Relaxed);
                    if failed > 0 {
                        stats.failed.fetch_add(failed, Ordering::Relaxed);
                        eprintln!(
                            "logsentinel serve: elasticsearch refused {failed} of {docs} documents"
                        );
                    }
                    return;
                }
                let retry = status.as_u16() == 429 || status.is_server_error();
                (format!("HTTP {status}"), retry)
            }
            Err(e) => (without_url(&e), true),
        };
        let (why, retry) = outcome;
        if !retry || attempt >= cfg.max_retries {
            stats.failed.fetch_add(docs, Ordering::Relaxed);
            eprintln!(
                "logsentinel serve: elasticsearch bulk request failed ({why}); {docs} documents dropped"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(250u64 << attempt.min(6))).await;
        attempt += 1;
    }
}

/// A client error's text without its URL (which could carry credentials).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

/// Items of a `_bulk` response that carry an error.
fn failed_items(resp: &Value) -> u64 {
    if resp.get("errors").and_then(Value::as_bool) != Some(true) {
        return 0;
    }
    resp.get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|item| {
                    item.as_object()
                        .and_then(|o| o.values().next())
                        .is_some_and(|r| r.get("error").is_some())
                })
                .count() as u64
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn detection() -> Detection {
        Detection {
            is_anomaly: true,
            anomaly_score: 0.75,
            threshold: 0.5,
            model_type: logsentinel::ModelType::Teacher,
            phase: logsentinel::Phase::Warmup,
            project_id: "abc".into(),
            project_name: "n".into(),
            session_id: Some("s".into()),
            log_count: 1,
            warmup_progress: 0.01,
            template_id: 1,
            template: "t <*>".into(),
            parameters: vec!["x".into()],
            components: logsentinel::Components::default(),
            reasons: vec![],
            timestamp: 1_700_000_000.25,
            template_probability: None,
            template_rank: None,
            expected: vec![],
            matched_rules: vec![],
            unknown_template_ratio: 0.0,
            truncated: false,
            cause: None,
            pattern: None,
            incident_id: None,
            feedback_id: None,
        }
    }

    #[test]
    fn a_document_is_an_action_line_and_a_source_line() {
        let out = encode("ERROR boom", &detection()).unwrap();
        let lines: Vec<&str> = out.split_terminator('\n').collect();
        assert_eq!(lines.len(), 2);
        assert!(out.ends_with('\n'));
        let action: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(action, json!({"index": {"_index": "logs-abc"}}));
        let doc: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(doc["log_line"], "ERROR boom");
        assert_eq!(doc["@timestamp"], "2023-11-14T22:13:20.250Z");
        assert_eq!(doc["is_anomaly"], true);
        assert_eq!(doc["project_id"], "abc");
    }

    #[test]
    fn config_from_env_and_failed_items() {
        let vars: HashMap<&str, &str> = [
            ("ES_URL", "http://u:p@127.0.0.1:9200/"),
            ("LOGSENTINEL_ES_BATCH_SIZE", "7"),
        ]
        .into_iter()
        .collect();
        let c = EsConfig::from_lookup(|k| vars.get(k).map(|v| v.to_string()))
            .unwrap()
            .unwrap();
        assert_eq!(c.url, "http://u:p@127.0.0.1:9200");
        assert_eq!(c.batch_docs, 7);
        assert!(!format!("{c:?}").contains(":p@"));
        assert!(EsConfig::from_lookup(|_| None).unwrap().is_none());
        assert!(EsConfig::from_lookup(|k| (k == "ES_URL").then(|| "ftp://x".into())).is_err());
        let resp = json!({"errors": true, "items": [
            {"index": {"status": 201}},
            {"index": {"status": 400, "error": {"type": "mapper_parsing_exception"}}}
        ]});
        assert_eq!(failed_items(&resp), 1);
        assert_eq!(failed_items(&json!({"errors": false, "items": []})), 0);
    }
}
