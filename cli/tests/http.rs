//! `logsentinel serve` over real HTTP: the built binary is started on 127.0.0.1 with an OS-chosen port
//! and tiny real models, and driven exactly like the README's curl examples. Every JSON response is
//! checked against the operation's schema in the server's own `/openapi.json`, and every error against
//! the `{"error", "code"}` shape.
//!
//! `load_http_and_in_process` (ignored; run by `scripts/test-http.sh --bench`) measures requests/s and
//! latency percentiles of `/detect` and `/detect/batch` over loopback and of the same calls in process.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client (keep-alive, Content-Length and chunked bodies): no client library, so a
// test can also send what a library would refuse to (bad lengths, raw bytes).

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        Self {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).unwrap();
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        self.send(&raw_request(method, path, headers, body));
        self.read_response()
    }

    fn read_response(&mut self) -> Resp {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("bad status line {line:?}"))
            .parse()
            .unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if let Some(len) = get("content-length") {
            body.resize(len.parse().unwrap(), 0);
            self.reader.read_exact(&mut body).unwrap();
        } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            self.reader.read_to_end(&mut body).unwrap();
        }
        Resp {
            status,
            headers,
            body,
        }
    }
}

fn raw_request(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        out.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    bytes
}

// ---------------------------------------------------------------------------------------------------
// The server under test

const BIN: &str = env!("CARGO_BIN_EXE_logsentinel");
const ADMIN: &str = "admin-secret-for-tests";
const JSON: (&str, &str) = ("Content-Type", "application/json");

struct Server {
    child: Option<Child>,
    addr: String,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    spec: Value,
}

impl Server {
    /// Starts `logsentinel serve` on `storage` with tiny models, the test admin key and `env`.
    fn start(storage: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.arg("serve").args(args);
        for var in [
            "ADMIN_API_KEY",
            "LOGSENTINEL_ADMIN_API_KEY",
            "ES_URL",
            "LOGSENTINEL_ES_URL",
            "HOST",
            "PORT",
            "LOGSENTINEL_HOST",
            "LOGSENTINEL_PORT",
            "LOGSENTINEL_MAX_BATCH_SIZE",
            "LOGSENTINEL_ACCESS_LOG",
            "LOGSENTINEL_PROTECT_CREATE",
            "LOGSENTINEL_OPEN_PROJECT_CREATION",
            "LOGSENTINEL_MAX_PROJECTS",
            "LOGSENTINEL_RATE_LIMIT",
            "LOGSENTINEL_RATE_BURST",
            "LOGSENTINEL_BIND",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("LOGSENTINEL_MODEL_SIZE", "tiny")
            .env("LOGSENTINEL_TRAINING_THREADS", "1")
            .env("STORAGE_DIR", storage)
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("ADMIN_API_KEY", ADMIN);
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("logsentinel serve: listening on http://") {
                    let _ = tx.send(addr.to_string());
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start: {}", stderr.lock().unwrap().as_str());
            }
        };
        let mut s = Self {
            child: Some(child),
            addr,
            stderr,
            reader: Some(reader),
            spec: Value::Null,
        };
        let r = s.get("/openapi.json", &[]);
        assert_eq!(r.status, 200);
        s.spec = r.json();
        s
    }

    /// One request on a fresh connection, its response checked against `/openapi.json`.
    fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let r = Conn::open(&self.addr).request(method, path, headers, body);
        if !self.spec.is_null() {
            check_response(&self.spec, method, path, &r);
        }
        r
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.call("GET", path, headers, None)
    }

    fn post(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
        let mut h = headers.to_vec();
        h.push(JSON);
        self.call("POST", path, &h, Some(body.to_string().as_bytes()))
    }

    /// Creates a project with the admin key (the test servers have one unless told otherwise).
    fn create_project(&self, name: &str, warmup: u64, format: &str) -> Value {
        let r = self.post(
            "/projects",
            &[("X-Admin-Key", ADMIN)],
            &json!({"project_name": name, "warmup_threshold": warmup, "format": format}),
        );
        assert_eq!(r.status, 201, "{:?}", r.json());
        r.json()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits for the process to end; returns its status and everything it printed.
    fn stop(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        // (Fails harmlessly when the process already ended after an earlier signal.)
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("server did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let log = self.stderr.lock().unwrap().clone();
        (status, log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn key_header(key: &str) -> (&'static str, &str) {
    ("X-API-Key", key)
}

fn hdfs_lines(n: usize) -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/hdfs/hdfs_dev_20k.log"
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .take(n)
        .map(str::to_string)
        .collect()
}

fn batch_body(lines: &[String]) -> Value {
    json!({"logs": lines.iter().map(|l| json!({"log_line": l})).collect::<Vec<_>>()})
}

// ---------------------------------------------------------------------------------------------------
// Checking responses against the server's OpenAPI document (a small JSON Schema subset: $ref, type,
// properties, required, additionalProperties, items, oneOf/anyOf/allOf, enum).

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            let s = &spec["components"]["schemas"][name];
            assert!(!s.is_null(), "dangling $ref {r}");
            resolve(spec, s)
        }
        None => schema,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        other => panic!("unknown schema type {other}"),
    }
}

fn validate(spec: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(spec, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            if !alts.iter().any(|s| validate(spec, s, v, at).is_ok()) {
                return Err(format!("{at}: {v} matches no alternative of {key}"));
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            validate(spec, s, v, at)?;
        }
    }
    match schema.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => {
            return Err(format!("{at}: {v} is not of type {t}"));
        }
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)) => {
            return Err(format!("{at}: {v} is none of the types {ts:?}"));
        }
        _ => {}
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            return Err(format!("{at}: {v} not in enum {e:?}"));
        }
    }
    if let Value::Object(obj) = v {
        let props = schema.get("properties").and_then(Value::as_object);
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            for r in req {
                let r = r.as_str().unwrap();
                if !obj.contains_key(r) {
                    return Err(format!("{at}: required field {r} missing"));
                }
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(spec, ps, val, &format!("{at}.{k}"))?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{at}: field {k} is not in the schema"));
                    }
                    Some(s @ Value::Object(_)) => validate(spec, s, val, &format!("{at}.{k}"))?,
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (v, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate(spec, s, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The documented path template matching a concrete path (`/projects/abc` -> `/projects/{project_id}`).
fn template_of<'a>(spec: &'a Value, path: &str) -> Option<&'a str> {
    let path = path.split('?').next().unwrap_or(path);
    let segs: Vec<&str> = path.split('/').collect();
    spec["paths"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segs.len()
                && ts
                    .iter()
                    .zip(&segs)
                    .all(|(a, b)| a == b || (a.starts_with('{') && a.ends_with('}')))
        })
}

/// Every response is JSON; errors are exactly `{"error", "code"}`; a documented operation's response
/// has a documented status and matches its schema.
fn check_response(spec: &Value, method: &str, path: &str, r: &Resp) {
    let ct = r.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{method} {path}: content-type {ct:?} ({})",
        r.status
    );
    let body = r.json();
    assert!(r.status < 500, "{method} {path}: server error {body}");
    if r.status >= 400 {
        let o = body.as_object().unwrap();
        assert!(
            o.len() == 2 && o["error"].is_string() && o["code"].is_string(),
            "{method} {path}: error shape {body}"
        );
    }
    let Some(template) = template_of(spec, path) else {
        assert_eq!(r.status, 404, "{method} {path}: undocumented path answered");
        return;
    };
    let Some(op) = spec["paths"][template].get(method.to_ascii_lowercase()) else {
        assert_eq!(
            r.status, 405,
            "{method} {path}: undocumented method answered"
        );
        return;
    };
    let Some(resp) = op["responses"].get(r.status.to_string()) else {
        panic!(
            "{method} {template}: status {} is not documented: {body}",
            r.status
        );
    };
    let schema = &resp["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {template} {}: no schema",
        r.status
    );
    if let Err(e) = validate(spec, schema, &body, "$") {
        panic!("{method} {template} {}: {e}", r.status);
    }
}

// ---------------------------------------------------------------------------------------------------
// Tests

#[test]
fn service_endpoints_and_openapi_match_the_routes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), &[], &[]);
    // curl http://127.0.0.1:8000/
    let root = srv.get("/", &[]).json();
    assert_eq!(root["service"], "logsentinel");
    // curl http://127.0.0.1:8000/health
    let h = srv.get("/health", &[]).json();
    assert_eq!(h["status"], "healthy");
    assert_eq!(h["total_projects"], 0);
    assert_eq!(h["teacher_loaded"], false);
    // Every documented operation is routed (no 404/405) and every routed one documented.
    let mut documented = HashSet::new();
    for (path, item) in srv.spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path.replace("{project_id}", "nope");
            let r = srv.call(&method.to_ascii_uppercase(), &concrete, &[], None);
            assert!(
                r.status != 404 || r.json()["code"] == "PROJECT_NOT_FOUND",
                "{method} {path} not routed"
            );
            assert_ne!(r.status, 405, "{method} {path}");
            documented.insert(format!("{} {path}", method.to_ascii_uppercase()));
        }
    }
    let listed: HashSet<String> = root["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, documented);
    assert_eq!(documented.len(), 23);
    for must in [
        "POST /detect",
        "POST /detect/batch",
        "GET /project/status",
        "POST /project/reset-sessions",
        "GET /admin/teacher",
        "POST /admin/teacher/update",
        "GET /admin/update-history",
        "DELETE /projects/{project_id}",
    ] {
        assert!(documented.contains(must), "{must}");
    }
    assert_eq!(srv.spec["openapi"].as_str().unwrap().get(..2), Some("3."));
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
}

/// Incidents and operator feedback over HTTP: the incident a flagged line joined, a mark that
/// silences its pattern from the next line, the list, the undo, and the refusals.
#[test]
fn incidents_and_feedback_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), &[], &[]);
    let p = srv
        .post(
            "/projects",
            &[("X-Admin-Key", ADMIN)],
            &json!({"project_name": "ops", "warmup_threshold": 10000}),
        )
        .json();
    let key = p["api_key"].as_str().unwrap().to_string();
    let k = key_header(&key);
    let line = json!({"log_line": "ERROR db connection refused", "session_id": "10.0.0.7"});
    let d = srv.post("/detect", &[k], &line).json();
    assert_eq!(d["is_anomaly"], true, "{d}");
    let incident_id = d["incident_id"]
        .as_u64()
        .expect("a flagged line joins an incident");
    let pattern = d["pattern"].as_str().unwrap().to_string();

    let list = srv.get("/incidents", &[k]).json();
    assert_eq!(list["count"], 1);
    assert_eq!(list["incidents"][0]["id"], incident_id);
    assert_eq!(list["incidents"][0]["state"], "open");
    assert_eq!(list["incidents"][0]["pattern"], pattern.as_str());
    assert_eq!(
        srv.get("/incidents?state=resolved", &[k]).json()["count"],
        0
    );
    assert_eq!(srv.get("/incidents?state=nope", &[k]).status, 400);

    let mark = srv.post(
        "/feedback",
        &[k],
        &json!({"target": {"incident_id": incident_id}, "label": "normal", "note": "known outage"}),
    );
    assert_eq!(mark.status, 201);
    let mark = mark.json();
    assert_eq!(mark["key"], pattern.as_str());
    assert_eq!(mark["scope"], "pattern");
    let mark_id = mark["id"].as_u64().unwrap();
    let d = srv.post("/detect", &[k], &line).json();
    assert_eq!(d["is_anomaly"], false, "{d}");
    assert_eq!(d["feedback_id"], mark_id);
    let listed = srv.get("/feedback", &[k]).json();
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["feedback"][0]["note"], "known outage");

    for (bad, status) in [
        (json!({"label": "normal"}), 400),
        (
            json!({"target": {"incident_id": incident_id, "key": "x"}, "label": "normal"}),
            400,
        ),
        (json!({"target": {"key": ""}, "label": "normal"}), 400),
        (
            json!({"target": {"incident_id": incident_id}, "label": "normal", "duration_secs": -1.0}),
            400,
        ),
        (
            json!({"target": {"incident_id": incident_id}, "label": "maybe"}),
            400,
        ),
        (
            json!({"target": {"incident_id": incident_id}, "label": "normal", "scope": "rule", "x": 1}),
            400,
        ),
        (
            json!({"target": {"incident_id": incident_id + 9}, "label": "normal"}),
            404,
        ),
    ] {
        let r = srv.post("/feedback", &[k], &bad);
        assert_eq!(r.status, status, "{bad}: {}", r.json());
    }
    assert_eq!(srv.get("/feedback", &[k]).json()["count"], 1);

    let undone = srv.call("DELETE", &format!("/feedback/{mark_id}"), &[k], None);
    assert_eq!(undone.status, 200);
    assert_eq!(undone.json()["id"], mark_id);
    assert_eq!(
        srv.call("DELETE", &format!("/feedback/{mark_id}"), &[k], None)
            .status,
        404
    );
    assert_eq!(srv.call("DELETE", "/feedback/abc", &[k], None).status, 400);
    let d = srv.post("/detect", &[k], &line).json();
    assert_eq!(d["is_anomaly"], true, "{d}");
    assert_eq!(d["incident_id"], incident_id);
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
}

/// The README's curl walkthrough, step by step.
#[test]
fn readme_walkthrough() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), &[], &[]);
    // curl -X POST http://127.0.0.1:8000/projects -H "X-Admin-Key: $ADMIN_API_KEY" \
    //   -H 'Content-Type: application/json' -d '{"project_name": "My Web App", "warmup_threshold": 10000}'
    let p = srv.post(
        "/projects",
        &[("X-Admin-Key", ADMIN)],
        &json!({"project_name": "My Web App", "warmup_threshold": 10000}),
    );
    assert_eq!(p.status, 201);
    let p = p.json();
    let key = p["api_key"].as_str().unwrap().to_string();
    let pid = p["project_id"].as_str().unwrap().to_string();
    assert!(key.starts_with("sk-"));
    assert_eq!(p["project_name"], "My Web App");
    assert_eq!(p["warmup_threshold"], 10000);
    assert_eq!(p["es_index_pattern"], format!("logs-{pid}"));
    let k = key_header(&key);

    // curl -X POST http://127.0.0.1:8000/detect -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
    //   -d '{"log_line": "ERROR db connection refused", "session_id": "10.0.0.7"}'
    let d = srv.post(
        "/detect",
        &[k],
        &json!({"log_line": "ERROR db connection refused", "session_id": "10.0.0.7"}),
    );
    assert_eq!(d.status, 200);
    let d = d.json();
    assert_eq!(d["phase"], "warmup");
    assert_eq!(d["model_type"], "teacher");
    assert_eq!(d["session_id"], "10.0.0.7");
    assert_eq!(d["log_count"], 1);
    assert_eq!(d["project_id"], pid.as_str());
    assert!(d["matched_rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str().unwrap().contains("error")));

    // curl -X POST http://127.0.0.1:8000/detect/batch -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
    //   -d '{"logs": [{"log_line": "GET /index.html 200", "session_id": "10.0.0.7"}, {"log_line": "GET /etc/passwd 404"}]}'
    let b = srv.post(
        "/detect/batch",
        &[k],
        &json!({"logs": [
            {"log_line": "GET /index.html 200", "session_id": "10.0.0.7"},
            {"log_line": "GET /etc/passwd 404"}
        ]}),
    );
    assert_eq!(b.status, 200);
    let b = b.json();
    assert_eq!(b["total_logs"], 2);
    assert_eq!(b["project_id"], pid.as_str());
    assert_eq!(b["results"].as_array().unwrap().len(), 2);
    assert_eq!(b["results"][1]["log_count"], 3);
    let flagged = b["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["is_anomaly"] == true)
        .count();
    assert_eq!(b["anomalies_detected"], flagged);

    // curl http://127.0.0.1:8000/project/status -H "X-API-Key: $KEY"
    let st = srv.get("/project/status", &[k]).json();
    assert_eq!(st["log_count"], 3);
    assert_eq!(st["phase"], "warmup");
    assert_eq!(st["open_sessions"].as_u64().unwrap(), 2);
    assert_eq!(st["has_student_model"], false);

    // curl -X POST http://127.0.0.1:8000/project/close-session -H "X-API-Key: $KEY" \
    //   -H 'Content-Type: application/json' -d '{"session_id": "10.0.0.7"}'
    let c = srv
        .post(
            "/project/close-session",
            &[k],
            &json!({"session_id": "10.0.0.7"}),
        )
        .json();
    assert_eq!(c["closed"], true);
    assert_eq!(c["verdict"]["session_id"], "10.0.0.7");
    assert_eq!(c["verdict"]["lines"], 2);
    let c = srv
        .post(
            "/project/close-session",
            &[k],
            &json!({"session_id": "none"}),
        )
        .json();
    assert_eq!(c, json!({"closed": false, "verdict": null}));

    // curl 'http://127.0.0.1:8000/project/session-verdicts?max=100' -H "X-API-Key: $KEY"
    let v = srv.get("/project/session-verdicts?max=100", &[k]).json();
    assert_eq!(v["count"], 1);
    assert_eq!(v["verdicts"][0]["session_id"], "10.0.0.7");
    assert_eq!(v["verdicts"][0]["reason"], "closed");
    let v = srv.get("/project/session-verdicts", &[k]).json();
    assert_eq!(v["count"], 0, "taken verdicts leave the queue");

    // curl -X POST http://127.0.0.1:8000/project/reset-sessions -H "X-API-Key: $KEY"
    let r = srv
        .call("POST", "/project/reset-sessions", &[k], None)
        .json();
    assert_eq!(r, json!({"status": "ok", "sessions_reset": 1}));
    assert_eq!(srv.get("/project/status", &[k]).json()["open_sessions"], 0);

    // curl -X POST http://127.0.0.1:8000/project/rotate-key -H "X-API-Key: $KEY"
    let rot = srv.call("POST", "/project/rotate-key", &[k], None).json();
    assert_eq!(rot["project_id"], pid.as_str());
    let new_key = rot["api_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, key);
    let old = srv.get("/project/status", &[k]);
    assert_eq!(old.status, 401);
    assert_eq!(old.json()["code"], "INVALID_API_KEY");
    assert_eq!(
        srv.get("/project/status", &[key_header(&new_key)]).status,
        200
    );

    // curl http://127.0.0.1:8000/admin/teacher -H "X-Admin-Key: $ADMIN_API_KEY"
    let a = ("X-Admin-Key", ADMIN);
    let t = srv.get("/admin/teacher", &[a]).json();
    assert_eq!(t["trained"], false);
    assert!(t["logs_processed"].as_u64().unwrap() >= 3);
    // curl http://127.0.0.1:8000/projects -H "X-Admin-Key: $ADMIN_API_KEY"
    let l = srv.get("/projects", &[a]).json();
    assert_eq!(l["total"], 1);
    assert_eq!(l["projects"][0]["project_id"], pid.as_str());
    assert!(!l.to_string().contains("sk-"), "a listing never shows keys");
    // curl http://127.0.0.1:8000/admin/update-history -H "X-Admin-Key: $ADMIN_API_KEY"
    let hist = srv.get("/admin/update-history", &[a]).json();
    assert_eq!(hist, json!({"updates": [], "total": 0}));
    // curl -X POST http://127.0.0.1:8000/admin/teacher/update -H "X-Admin-Key: $ADMIN_API_KEY"
    let up = srv.call("POST", "/admin/teacher/update", &[a], None);
    assert_eq!(up.status, 202);
    let up = up.json();
    assert!(up["job"]["name"]
        .as_str()
        .unwrap()
        .starts_with("teacher-update"));
    // curl -X DELETE http://127.0.0.1:8000/projects/$PROJECT_ID -H "X-Admin-Key: $ADMIN_API_KEY"
    let del = srv.call("DELETE", &format!("/projects/{pid}"), &[a], None);
    assert_eq!(del.status, 200);
    assert_eq!(del.json(), json!({"deleted": true, "project_id": pid}));
    assert_eq!(
        srv.get("/project/status", &[key_header(&new_key)]).status,
        401
    );
    let again = srv.call("DELETE", &format!("/projects/{pid}"), &[a], None);
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["code"], "PROJECT_NOT_FOUND");
    // The forced update finishes (on this little data it may fail, with its reason) and is recorded.
    let deadline = Instant::now() + Duration::from_secs(120);
    while srv.get("/admin/teacher", &[a]).json()["update_in_progress"] == true {
        assert!(Instant::now() < deadline, "teacher update did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
    let hist = srv.get("/admin/update-history", &[a]).json();
    assert_eq!(hist["total"], 1);
    assert_eq!(hist["updates"][0]["trigger"], "forced");
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    for secret in [key.as_str(), new_key.as_str(), ADMIN] {
        assert!(!log.contains(secret), "a key was logged");
    }
}

#[test]
fn credentials_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    // No ADMIN_API_KEY: every admin endpoint is refused with 403, with or without a header.
    let srv = Server::start(dir.path(), &[("ADMIN_API_KEY", "")], &[]);
    for (m, p) in [
        ("GET", "/projects"),
        ("GET", "/projects/x"),
        ("DELETE", "/projects/x"),
        ("POST", "/projects/x/rotate-key"),
        ("POST", "/projects/x/fork"),
        ("GET", "/admin/teacher"),
        ("POST", "/admin/teacher/update"),
        ("GET", "/admin/update-history"),
    ] {
        for h in [
            vec![],
            vec![("X-Admin-Key", "")],
            vec![("X-Admin-Key", ADMIN)],
        ] {
            let r = srv.call(m, p, &h, None);
            assert_eq!(r.status, 403, "{m} {p} {h:?}");
            assert_eq!(r.json()["code"], "FORBIDDEN");
        }
    }
    let (st, _) = srv.stop();
    assert!(st.success());

    let srv = Server::start(dir.path(), &[], &[]);
    let a = srv.create_project("a", 1000, "auto");
    let b = srv.create_project("b", 1000, "auto");
    let (ka, kb) = (
        a["api_key"].as_str().unwrap(),
        b["api_key"].as_str().unwrap(),
    );
    // Tenant endpoints: 401 without a key, with an empty one, with a wrong one.
    for (m, p, body) in [
        ("POST", "/detect", Some(json!({"log_line": "x"}))),
        (
            "POST",
            "/detect/batch",
            Some(json!({"logs": [{"log_line": "x"}]})),
        ),
        ("GET", "/project/status", None),
        ("POST", "/project/rotate-key", None),
        ("POST", "/project/reset-sessions", None),
        ("GET", "/project/session-verdicts", None),
        (
            "POST",
            "/project/close-session",
            Some(json!({"session_id": "s"})),
        ),
    ] {
        let body = body.map(|b| b.to_string());
        for (h, code) in [
            (vec![], "UNAUTHORIZED"),
            (vec![("X-API-Key", "")], "UNAUTHORIZED"),
            (vec![("X-API-Key", "sk-wrong")], "INVALID_API_KEY"),
            (
                vec![(
                    "X-API-Key",
                    "sk-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                )],
                "INVALID_API_KEY",
            ),
            (vec![("X-Admin-Key", ADMIN)], "UNAUTHORIZED"),
        ] {
            let mut h = h.clone();
            h.push(JSON);
            let r = srv.call(m, p, &h, body.as_deref().map(str::as_bytes));
            assert_eq!(r.status, 401, "{m} {p} {h:?}");
            assert_eq!(r.json()["code"], code, "{m} {p} {h:?}");
        }
    }
    // Each key sees its own project only.
    let sa = srv.get("/project/status", &[key_header(ka)]).json();
    let sb = srv.get("/project/status", &[key_header(kb)]).json();
    assert_eq!(sa["project_id"], a["project_id"]);
    assert_eq!(sb["project_id"], b["project_id"]);
    // Admin: 401 without the header, 403 with a wrong one (a tenant key is no admin key), 200 with it.
    for (h, status) in [
        (vec![], 401),
        (vec![("X-Admin-Key", "wrong")], 403),
        (vec![("X-Admin-Key", ka)], 403),
        (vec![("X-API-Key", ADMIN)], 401),
        (vec![("X-Admin-Key", &ADMIN[..ADMIN.len() - 1])], 403),
        (vec![("X-Admin-Key", ADMIN)], 200),
    ] {
        let r = srv.get("/projects", &h);
        assert_eq!(r.status, status, "{h:?}");
    }
    let adm = ("X-Admin-Key", ADMIN);
    // Admin by id: status, rotate (old key revoked), delete (key stops working), unknown ids 404.
    let pid_a = a["project_id"].as_str().unwrap();
    let st = srv.get(&format!("/projects/{pid_a}"), &[adm]).json();
    assert_eq!(st["project_name"], "a");
    let rot = srv
        .call(
            "POST",
            &format!("/projects/{pid_a}/rotate-key"),
            &[adm],
            None,
        )
        .json();
    let ka2 = rot["api_key"].as_str().unwrap();
    assert_eq!(srv.get("/project/status", &[key_header(ka)]).status, 401);
    assert_eq!(srv.get("/project/status", &[key_header(ka2)]).status, 200);
    // A fork: a new project and key from a's state; a's key still works.
    let fork = srv.post(
        &format!("/projects/{pid_a}/fork"),
        &[adm],
        &json!({"project_name": " a (staging) "}),
    );
    assert_eq!(fork.status, 201);
    let fork = fork.json();
    assert_eq!(fork["project_name"], "a (staging)");
    assert_ne!(fork["project_id"], pid_a);
    let kf = fork["api_key"].as_str().unwrap();
    let fst = srv.get("/project/status", &[key_header(kf)]).json();
    assert_eq!(fst["project_name"], "a (staging)");
    assert_eq!(srv.get("/project/status", &[key_header(ka2)]).status, 200);
    let bad = srv.post(
        &format!("/projects/{pid_a}/fork"),
        &[adm],
        &json!({"project_name": "   "}),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(
        srv.call(
            "DELETE",
            &format!("/projects/{}", fork["project_id"].as_str().unwrap()),
            &[adm],
            None
        )
        .status,
        200
    );
    for (m, p) in [
        ("GET", "/projects/unknown"),
        ("DELETE", "/projects/unknown"),
        ("POST", "/projects/unknown/rotate-key"),
    ] {
        let r = srv.call(m, p, &[adm], None);
        assert_eq!(r.status, 404, "{m} {p}");
        assert_eq!(r.json()["code"], "PROJECT_NOT_FOUND");
    }
    let pid_b = b["project_id"].as_str().unwrap();
    assert_eq!(
        srv.call("DELETE", &format!("/projects/{pid_b}"), &[adm], None)
            .status,
        200
    );
    assert_eq!(srv.get("/project/status", &[key_header(kb)]).status, 401);
    assert_eq!(srv.get("/projects", &[adm]).json()["total"], 1);
    let r = srv.post(
        "/projects/unknown/fork",
        &[adm],
        &json!({"project_name": "x"}),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "PROJECT_NOT_FOUND");
    let (st, log) = srv.stop();
    assert!(st.success());
    for secret in [ka, kb, ka2, kf, ADMIN] {
        assert!(!log.contains(secret), "a key was logged");
    }

    // --protect-create: creating a project needs the admin key too (checked before the body).
    let srv = Server::start(dir.path(), &[], &["--protect-create"]);
    let body = json!({"project_name": "c"});
    assert_eq!(srv.post("/projects", &[], &body).status, 401);
    assert_eq!(
        srv.post("/projects", &[("X-Admin-Key", "no")], &body)
            .status,
        403
    );
    let r = srv.call("POST", "/projects", &[JSON], Some(b"{not json"));
    assert_eq!(r.status, 401, "credentials are checked before the body");
    assert_eq!(srv.post("/projects", &[adm], &body).status, 201);
    srv.stop();
}

/// A bad request: method, path, headers, body, expected status and code.
type Case<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Option<Vec<u8>>,
    u16,
    &'a str,
);

#[test]
fn bad_requests_are_json_4xx_never_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(
        dir.path(),
        &[
            ("LOGSENTINEL_MAX_BATCH_SIZE", "50"),
            ("LOGSENTINEL_MAX_BODY_BYTES", "8192"),
            ("LOGSENTINEL_MAX_LINE_BYTES", "256"),
        ],
        &[],
    );
    let p = srv.create_project("bad", 1000, "auto");
    let key = p["api_key"].as_str().unwrap();
    let k = key_header(key);
    let adm = ("X-Admin-Key", ADMIN);
    let cases: Vec<Case> = vec![
        // Body syntax, shape and type.
        ("POST", "/detect", vec![k, JSON], Some(b"{\"log_line\": ".to_vec()), 400, "MALFORMED_JSON"),
        ("POST", "/detect", vec![k, JSON], Some(b"".to_vec()), 400, "MALFORMED_JSON"),
        ("POST", "/detect", vec![k, JSON], Some(b"\xff\xfe{}".to_vec()), 400, "MALFORMED_JSON"),
        ("POST", "/detect", vec![k, JSON], Some(b"{\"log_line\": \"x\", \"extra\": 1}".to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/detect", vec![k, JSON], Some(b"{}".to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/detect", vec![k, JSON], Some(b"[]".to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/detect", vec![k, JSON], Some(b"{\"log_line\": 5}".to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/detect", vec![k, JSON], Some(b"{\"log_line\": \"x\", \"session_id\": 1}".to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/detect/batch", vec![k, JSON], Some(b"{\"logs\": []}".to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/detect/batch", vec![k, JSON], Some(b"{\"logs\": {}}".to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/detect/batch", vec![k, JSON], Some(b"{\"log_line\": \"x\"}".to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/detect/batch", vec![k, JSON], Some(b"{\"logs\": [{\"line\": \"x\"}]}".to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/project/close-session", vec![k, JSON], Some(b"{}".to_vec()), 400, "INVALID_INPUT"),
        // Content type.
        ("POST", "/detect", vec![k], Some(b"{\"log_line\": \"x\"}".to_vec()), 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/detect", vec![k, ("Content-Type", "text/plain")], Some(b"{\"log_line\": \"x\"}".to_vec()), 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/detect/batch", vec![k, ("Content-Type", "application/x-www-form-urlencoded")], Some(b"logs=1".to_vec()), 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/projects", vec![adm], Some(b"{\"project_name\": \"x\"}".to_vec()), 415, "UNSUPPORTED_MEDIA_TYPE"),
        // Project creation values.
        ("POST", "/projects", vec![adm, JSON], Some(br#"{"project_name": ""}"#.to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/projects", vec![adm, JSON], Some(br#"{"project_name": "x", "warmup_threshold": 5}"#.to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/projects", vec![adm, JSON], Some(br#"{"project_name": "x", "warmup_threshold": -5}"#.to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/projects", vec![adm, JSON], Some(br#"{"project_name": "x", "format": "klingon"}"#.to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/projects", vec![adm, JSON], Some(br#"{"project_name": "x", "log_format": "<Date> <Time>"}"#.to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/projects", vec![adm, JSON], Some(br#"{"project_name": "x", "log_format": ""}"#.to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/projects", vec![adm, JSON], Some(br#"{"project_name": "x", "session_pattern": "("}"#.to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/projects", vec![adm, JSON], Some(br#"{"project_name": "x", "custom_rules": [{"name": "r", "pattern": "[", "severity": 0.5}]}"#.to_vec()), 400, "INVALID_INPUT"),
        ("POST", "/projects", vec![adm, JSON], Some(br#"{"name": "x"}"#.to_vec()), 400, "INVALID_INPUT"),
        // Query.
        ("GET", "/project/session-verdicts?max=0", vec![k], None, 400, "INVALID_INPUT"),
        ("GET", "/project/session-verdicts?max=abc", vec![k], None, 400, "INVALID_INPUT"),
        ("GET", "/project/session-verdicts?max=99999999999", vec![k], None, 400, "INVALID_INPUT"),
        // Routing.
        ("GET", "/nope", vec![], None, 404, "NOT_FOUND"),
        ("GET", "/detect", vec![k], None, 405, "METHOD_NOT_ALLOWED"),
        ("PUT", "/projects", vec![], None, 405, "METHOD_NOT_ALLOWED"),
    ];
    for (m, p, h, body, status, code) in &cases {
        let r = srv.call(m, p, h, body.as_deref());
        assert_eq!(r.status, *status, "{m} {p} {body:?}: {:?}", r.json());
        assert_eq!(r.json()["code"], *code, "{m} {p} {body:?}");
    }
    // Limits: a body over LOGSENTINEL_MAX_BODY_BYTES (declared, or streamed chunked), a batch over
    // LOGSENTINEL_MAX_BATCH_SIZE, a line over LOGSENTINEL_MAX_LINE_BYTES (truncated, not refused).
    let big = json!({"log_line": "x".repeat(10_000)}).to_string();
    let r = srv.call("POST", "/detect", &[k, JSON], Some(big.as_bytes()));
    assert_eq!(
        (r.status, r.json()["code"].as_str().unwrap()),
        (413, "PAYLOAD_TOO_LARGE")
    );
    let mut conn = Conn::open(&srv.addr);
    let mut raw = format!(
        "POST /detect HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for chunk in big.as_bytes().chunks(1000) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    conn.send(&raw);
    let r = conn.read_response();
    check_response(&srv.spec, "POST", "/detect", &r);
    assert_eq!(
        (r.status, r.json()["code"].as_str().unwrap()),
        (413, "PAYLOAD_TOO_LARGE")
    );
    let lines: Vec<String> = (0..51).map(|i| format!("l{i}")).collect();
    let r = srv.post("/detect/batch", &[k], &batch_body(&lines));
    assert_eq!(
        (r.status, r.json()["code"].as_str().unwrap()),
        (413, "BATCH_TOO_LARGE")
    );
    let r = srv.post("/detect/batch", &[k], &batch_body(&lines[..50]));
    assert_eq!(r.status, 200);
    let r = srv.post("/detect", &[k], &json!({"log_line": "y".repeat(1000)}));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["truncated"], true);
    // Odd but valid input is scored: control characters, unicode, an empty line.
    for line in [
        "",
        "\u{0}\u{7}\t",
        "ünïcödé ✓ 日本語",
        "GET /?q=<script>alert(1)</script> 500",
    ] {
        let r = srv.post(
            "/detect",
            &[k],
            &json!({"log_line": line, "session_id": line}),
        );
        assert_eq!(r.status, 200, "{line:?}");
    }
    // A garbled request line: hyper answers 400 and the server keeps serving.
    let mut c = Conn::open(&srv.addr);
    c.send(b"NOT HTTP AT ALL\r\n\r\n");
    let mut buf = String::new();
    let _ = c.reader.read_to_string(&mut buf);
    assert!(buf.is_empty() || buf.starts_with("HTTP/1.1 4"), "{buf}");
    assert_eq!(srv.get("/health", &[]).status, 200);
    // Counts: 50 + 1 + 4 lines scored, nothing else.
    assert_eq!(srv.get("/project/status", &[k]).json()["log_count"], 55);
    let (status, log) = srv.stop();
    assert!(status.success(), "{log}");
    assert!(!log.contains(key));
}

/// Random bodies (any JSON, any bytes, any key) never cause a 5xx, and every answer matches the
/// OpenAPI document; valid-shaped random input is always scored.
#[test]
fn random_requests_property() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as PtConfig, TestRunner};

    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), &[], &[]);
    let p = srv.create_project("prop", 1_000_000, "auto");
    let key = p["api_key"].as_str().unwrap().to_string();
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,30}".prop_map(Value::from),
    ];
    let any_json = leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("log_line".to_string()),
                    Just("session_id".to_string()),
                    Just("logs".to_string()),
                    Just("project_name".to_string()),
                    Just("warmup_threshold".to_string()),
                    "[a-z_]{1,10}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let endpoints = prop_oneof![
        Just("/detect"),
        Just("/detect/batch"),
        Just("/projects"),
        Just("/project/close-session"),
    ];
    let cfg = PtConfig {
        cases: 150,
        failure_persistence: None,
        ..PtConfig::default()
    };
    let k = key.clone();
    TestRunner::new(cfg.clone())
        .run(&(endpoints.clone(), any_json), |(path, body)| {
            let r = srv.post(path, &[key_header(&k)], &body);
            prop_assert!(r.status < 500);
            Ok(())
        })
        .unwrap();
    TestRunner::new(cfg.clone())
        .run(
            &(endpoints, prop::collection::vec(any::<u8>(), 0..200)),
            |(path, bytes)| {
                let r = srv.call("POST", path, &[key_header(&k), JSON], Some(&bytes));
                prop_assert!(r.status < 500);
                Ok(())
            },
        )
        .unwrap();
    TestRunner::new(cfg.clone())
        .run(
            &(".{0,200}", prop::option::of(".{0,40}")),
            |(line, session)| {
                let r = srv.post(
                    "/detect",
                    &[key_header(&k)],
                    &json!({"log_line": line, "session_id": session}),
                );
                prop_assert_eq!(r.status, 200);
                Ok(())
            },
        )
        .unwrap();
    TestRunner::new(PtConfig { cases: 60, ..cfg })
        .run(&"[ -~]{0,60}", |bad_key| {
            let r = srv.get("/project/status", &[("X-API-Key", &bad_key)]);
            prop_assert_eq!(r.status, 401);
            Ok(())
        })
        .unwrap();
    srv.stop();
}

/// Training to the active phase over HTTP, then a restart on the same storage: projects, keys, counts,
/// the student and the teacher's history are all still there.
#[test]
fn student_takes_over_and_everything_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let lines = hdfs_lines(3200);
    let srv = Server::start(dir.path(), &[("LOGSENTINEL_MAX_LINE_BYTES", "1024")], &[]);
    let p = srv.create_project("hdfs", 1000, "hdfs");
    let key = p["api_key"].as_str().unwrap().to_string();
    let k = key_header(&key);
    // A line over the line-length cap: scored (truncated), but its cut-off text is never learned, so
    // it never reaches the shared teacher's vocabulary.
    let junk: String = (0..400)
        .map(|i: u32| format!("junkword{} ", char::from(b'a' + (i % 26) as u8)))
        .collect();
    let r = srv
        .post(
            "/detect",
            &[k],
            &json!({"log_line": junk, "session_id": "junk"}),
        )
        .json();
    assert_eq!(r["truncated"], true);
    let mut last = Value::Null;
    for chunk in lines[..3000].chunks(250) {
        let r = srv.post("/detect/batch", &[k], &batch_body(chunk));
        assert_eq!(r.status, 200);
        last = r.json();
        // Wait for a training that started, like a client pacing itself on /project/status.
        let deadline = Instant::now() + Duration::from_secs(600);
        while srv.get("/project/status", &[k]).json()["phase"] == "training" {
            assert!(Instant::now() < deadline, "training did not finish");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let tail = last["results"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(tail["phase"], "active");
    assert_eq!(tail["model_type"], "student");
    assert!(tail["session_id"].as_str().unwrap().starts_with("blk_"));
    let status = srv.get("/project/status", &[k]).json();
    assert_eq!(status["log_count"], 3001);
    assert_eq!(status["has_student_model"], true);
    assert_eq!(status["training"]["state"], "succeeded");
    let adm = ("X-Admin-Key", ADMIN);
    let teacher = srv.get("/admin/teacher", &[adm]).json();
    assert_eq!(teacher["trained"], true);
    let vocab = teacher["templates"].as_array().unwrap();
    assert!(vocab.len() > 5, "{teacher}");
    assert!(
        !vocab
            .iter()
            .any(|t| t.as_str().unwrap().contains("junkword")),
        "a truncated line's template entered the teacher's vocabulary"
    );
    let history = srv.get("/admin/update-history", &[adm]).json();
    assert_eq!(history["total"], 1);
    let health = srv.get("/health", &[]).json();
    assert_eq!(health["teacher_loaded"], true);
    assert_eq!(health["active_student_models"], 1);
    let (st, log) = srv.stop();
    assert!(st.success(), "{log}");
    assert!(log.contains("detector closed, state persisted"));

    let srv = Server::start(dir.path(), &[], &[]);
    let again = srv.get("/project/status", &[k]).json();
    for field in [
        "project_id",
        "log_count",
        "anomaly_count",
        "template_count",
        "has_student_model",
        "warmup_threshold",
        "format",
        "created_at",
    ] {
        assert_eq!(again[field], status[field], "{field}");
    }
    assert_eq!(again["training"]["students_trained"], 1);
    assert_eq!(srv.get("/admin/update-history", &[adm]).json(), history);
    assert_eq!(srv.get("/projects", &[adm]).json()["total"], 1);
    let b = srv
        .post("/detect/batch", &[k], &batch_body(&lines[3000..]))
        .json();
    assert_eq!(b["total_logs"], 200);
    assert!(b["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["model_type"] == "student" && r["phase"] == "active"));
    assert_eq!(b["results"][199]["log_count"], 3201);
    srv.stop();
}

/// A local address of this machine other than loopback (the source address of a route out), if any.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // connect() on UDP sends nothing: it only picks the route and so the local address.
    sock.connect("192.0.2.1:9").ok()?;
    let ip = sock.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// The server's defaults: loopback only, project creation guarded, a project cap, per-key rate limits.
#[test]
fn server_defaults_guard_creation_cap_projects_and_limit_rates() {
    let dir = tempfile::tempdir().unwrap();
    // No HOST, PORT 0, no admin key: listens on 127.0.0.1 and loopback clients may create projects.
    let srv = Server::start(dir.path(), &[("HOST", ""), ("ADMIN_API_KEY", "")], &[]);
    assert!(srv.addr.starts_with("127.0.0.1:"), "{}", srv.addr);
    let p = srv.post("/projects", &[], &json!({"project_name": "local"}));
    assert_eq!(p.status, 201);
    let (st, log) = srv.stop();
    assert!(st.success());
    assert!(
        log.contains("project creation from this machine only"),
        "{log}"
    );

    // Every interface, no admin key: a client on another address is refused unless
    // --open-project-creation (checked only where this machine has an address besides loopback).
    let remote = non_loopback_ip();
    for (args, want) in [
        (vec!["--bind", "0.0.0.0:0"], 403),
        (vec!["--bind", "0.0.0.0:0", "--open-project-creation"], 201),
    ] {
        let srv = Server::start(dir.path(), &[("ADMIN_API_KEY", "")], &args);
        assert!(srv.addr.starts_with("0.0.0.0:"), "{}", srv.addr);
        let port = srv.addr.rsplit_once(':').unwrap().1.to_string();
        let body = json!({"project_name": "remote"}).to_string();
        let local = Conn::open(&format!("127.0.0.1:{port}")).request(
            "POST",
            "/projects",
            &[JSON],
            Some(body.as_bytes()),
        );
        assert_eq!(local.status, 201, "loopback may always create");
        match remote {
            Some(ip) => {
                let r = Conn::open(&format!("{ip}:{port}")).request(
                    "POST",
                    "/projects",
                    &[JSON],
                    Some(body.as_bytes()),
                );
                check_response(&srv.spec, "POST", "/projects", &r);
                assert_eq!(r.status, want, "{args:?} from {ip}: {:?}", r.json());
                if want == 403 {
                    assert_eq!(r.json()["code"], "FORBIDDEN");
                    assert!(r.json()["error"]
                        .as_str()
                        .unwrap()
                        .contains("--open-project-creation"));
                }
            }
            None => eprintln!("no address besides loopback: remote creation not checked"),
        }
        srv.stop();
    }

    // With an admin key, creating needs it (even from loopback); a cap of 3 projects (2 exist
    // already) answers 409 PROJECT_LIMIT to creates and forks until one is deleted.
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path(), &[], &[]);
    srv.create_project("one", 1000, "auto");
    srv.create_project("two", 1000, "auto");
    srv.stop();
    let srv = Server::start(dir.path(), &[], &["--max-projects", "3"]);
    let adm = ("X-Admin-Key", ADMIN);
    let body = json!({"project_name": "third"});
    let r = srv.post("/projects", &[], &body);
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("UNAUTHORIZED"))
    );
    assert_eq!(
        srv.post("/projects", &[("X-Admin-Key", "no")], &body)
            .status,
        403
    );
    let third = srv.post("/projects", &[adm], &body);
    assert_eq!(third.status, 201);
    let third = third.json();
    let pid = third["project_id"].as_str().unwrap();
    let full = srv.post("/projects", &[adm], &json!({"project_name": "fourth"}));
    assert_eq!(full.status, 409);
    assert_eq!(full.json()["code"], "PROJECT_LIMIT");
    assert!(full.json()["error"]
        .as_str()
        .unwrap()
        .contains("--max-projects"));
    let fork = srv.post(
        &format!("/projects/{pid}/fork"),
        &[adm],
        &json!({"project_name": "copy"}),
    );
    assert_eq!(fork.status, 409);
    assert_eq!(srv.get("/projects", &[adm]).json()["total"], 3);
    assert_eq!(
        srv.call("DELETE", &format!("/projects/{pid}"), &[adm], None)
            .status,
        200
    );
    assert_eq!(
        srv.post("/projects", &[adm], &json!({"project_name": "fourth"}))
            .status,
        201
    );
    srv.stop();

    // Rate limits: 2 requests/s and a burst of 3 per key. The fourth request at once is 429 with
    // Retry-After; another key is not affected; after the wait the key is served again.
    let srv = Server::start(dir.path(), &[], &["--rate-limit", "2", "--rate-burst", "3"]);
    let a = srv.create_project("rate-a", 1000, "auto");
    let b = srv.create_project("rate-b", 1000, "auto");
    let (ka, kb) = (
        a["api_key"].as_str().unwrap(),
        b["api_key"].as_str().unwrap(),
    );
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(srv.get("/project/status", &[key_header(ka)]).status);
    }
    assert_eq!(codes[..3], [200, 200, 200]);
    assert_eq!(codes[3], 429, "{codes:?}");
    let r = srv.post("/detect", &[key_header(ka)], &json!({"log_line": "x"}));
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["code"], "RATE_LIMITED");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(srv.get("/project/status", &[key_header(kb)]).status, 200);
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(srv.get("/project/status", &[key_header(ka)]).status, 200);
    let (st, log) = srv.stop();
    assert!(st.success(), "{log}");
    assert!(log.contains("2 requests/s per API key (burst 3)"), "{log}");
}

/// SIGTERM while a large batch is in flight (half uploaded when the signal arrives): the server stops
/// accepting connections but takes the rest of the body, scores all of it, answers, and only then
/// closes the detector; after a restart every line of it is counted.
#[test]
fn graceful_shutdown_finishes_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let lines = hdfs_lines(20_000);
    let srv = Server::start(dir.path(), &[], &[]);
    let p = srv.create_project("inflight", 1_000_000, "hdfs");
    let key = p["api_key"].as_str().unwrap().to_string();
    let body = batch_body(&lines).to_string();
    let raw = raw_request(
        "POST",
        "/detect/batch",
        &[key_header(&key), JSON],
        Some(body.as_bytes()),
    );
    let mut conn = Conn::open(&srv.addr);
    let (first, rest) = raw.split_at(raw.len() / 2);
    conn.send(first);
    std::thread::sleep(Duration::from_millis(200));
    let ok = Command::new("kill")
        .args(["-TERM", &srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    std::thread::sleep(Duration::from_millis(300));
    conn.send(rest);
    let r = conn.read_response();
    assert_eq!(r.status, 200);
    let b = r.json();
    assert_eq!(b["total_logs"], 20_000);
    assert_eq!(b["results"][19_999]["log_count"], 20_000);
    let (st, log) = srv.stop();
    assert!(st.success(), "{log}");
    let shut = log.find("finishing in-flight requests").unwrap();
    let closed = log.find("detector closed, state persisted").unwrap();
    assert!(shut < closed, "{log}");
    let srv = Server::start(dir.path(), &[], &[]);
    let s = srv.get("/project/status", &[key_header(&key)]).json();
    assert_eq!(s["log_count"], 20_000);
    srv.stop();
}

// ---------------------------------------------------------------------------------------------------
// Elasticsearch sink: the exact `_bulk` requests, captured by a local listener.

#[cfg(feature = "elasticsearch")]
mod elasticsearch {
    use super::*;
    use std::net::TcpListener;

    #[derive(Debug, Clone)]
    struct Captured {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: String,
    }

    impl Captured {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// A tiny HTTP server standing in for Elasticsearch: records every request; answers the first
    /// `fail_first` with 503, the rest with a `_bulk` success.
    fn capture_server(fail_first: usize) -> (String, Arc<Mutex<Vec<Captured>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let out = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or("").to_string();
                        let path = parts.next().unwrap_or("").to_string();
                        let mut headers = Vec::new();
                        loop {
                            let mut h = String::new();
                            reader.read_line(&mut h).unwrap();
                            let h = h.trim_end();
                            if h.is_empty() {
                                break;
                            }
                            let (k, v) = h.split_once(':').unwrap();
                            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                        }
                        let len: usize = headers
                            .iter()
                            .find(|(k, _)| k == "content-length")
                            .map(|(_, v)| v.parse().unwrap())
                            .unwrap_or(0);
                        let mut body = vec![0; len];
                        reader.read_exact(&mut body).unwrap();
                        let n = {
                            let mut s = seen.lock().unwrap();
                            s.push(Captured {
                                method,
                                path,
                                headers,
                                body: String::from_utf8(body).unwrap(),
                            });
                            s.len()
                        };
                        let (status, resp) = if n <= fail_first {
                            ("503 Service Unavailable", r#"{"error":"busy"}"#.to_string())
                        } else {
                            (
                                "200 OK",
                                r#"{"took":1,"errors":false,"items":[]}"#.to_string(),
                            )
                        };
                        let msg = format!(
                            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{resp}",
                            resp.len()
                        );
                        if reader.get_mut().write_all(msg.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, out)
    }

    #[test]
    fn detections_are_bulk_indexed_into_the_projects_index() {
        let (es, seen) = capture_server(1);
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://{es}");
        let srv = Server::start(
            dir.path(),
            &[
                ("ES_URL", &url),
                ("ES_API_KEY", "es-test-key"),
                ("ES_BATCH_SIZE", "4"),
                ("ES_FLUSH_INTERVAL_MS", "200"),
            ],
            &[],
        );
        let p = srv.create_project("es", 1000, "hdfs");
        let key = p["api_key"].as_str().unwrap();
        let pid = p["project_id"].as_str().unwrap();
        let lines = hdfs_lines(6);
        let d = srv.post(
            "/detect",
            &[key_header(key)],
            &json!({"log_line": lines[0], "session_id": "s-1"}),
        );
        assert_eq!(d.status, 200);
        let b = srv.post(
            "/detect/batch",
            &[key_header(key)],
            &batch_body(&lines[1..]),
        );
        assert_eq!(b.status, 200);
        let (st, log) = srv.stop();
        assert!(st.success(), "{log}");
        assert!(log.contains("6 indexed, 0 failed, 0 dropped"), "{log}");
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen.len() >= 3,
            "one refused request, its retry, then the rest: {seen:?}"
        );
        assert_eq!(
            seen[0].body, seen[1].body,
            "a 503 is retried with the same body"
        );
        let mut docs = Vec::new();
        for req in &seen[1..] {
            assert_eq!(req.method, "POST");
            assert_eq!(req.path, "/_bulk");
            assert_eq!(req.header("content-type"), Some("application/x-ndjson"));
            assert_eq!(req.header("authorization"), Some("ApiKey es-test-key"));
            assert!(req.body.ends_with('\n'));
            let ls: Vec<&str> = req.body.split_terminator('\n').collect();
            assert!(
                ls.chunks_exact(2).remainder().is_empty() && ls.len() <= 8,
                "at most ES_BATCH_SIZE docs"
            );
            for pair in ls.chunks(2) {
                let action: Value = serde_json::from_str(pair[0]).unwrap();
                assert_eq!(action, json!({"index": {"_index": format!("logs-{pid}")}}));
                docs.push(serde_json::from_str::<Value>(pair[1]).unwrap());
            }
        }
        assert_eq!(docs.len(), 6);
        for (doc, line) in docs.iter().zip(&lines) {
            assert_eq!(doc["log_line"], line.as_str());
            assert_eq!(doc["project_id"], pid);
            assert!(doc["is_anomaly"].is_boolean());
            assert!(doc["anomaly_score"].is_number());
            assert_eq!(doc["model_type"], "teacher");
            assert!(doc["@timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2008-11-09T"));
        }
        assert_eq!(docs[0]["session_id"], "s-1");
        assert_eq!(docs[5]["log_count"], 6);
    }

    #[test]
    fn an_unreachable_cluster_never_slows_or_fails_detection() {
        // A port with nothing listening, and credentials in the URL that must never be printed.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://elastic:hunter2@127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        let srv = Server::start(
            dir.path(),
            &[
                ("ES_URL", &url),
                ("ES_FLUSH_INTERVAL_MS", "50"),
                ("ES_BATCH_SIZE", "5"),
                ("ES_MAX_RETRIES", "1"),
                ("ES_QUEUE_CAPACITY", "10"),
            ],
            &[],
        );
        let p = srv.create_project("down", 1000, "hdfs");
        let key = p["api_key"].as_str().unwrap();
        let lines = hdfs_lines(40);
        let b = srv.post("/detect/batch", &[key_header(key)], &batch_body(&lines));
        assert_eq!(b.status, 200);
        assert_eq!(b.json()["total_logs"], 40);
        std::thread::sleep(Duration::from_millis(600));
        let (st, log) = srv.stop();
        assert!(st.success(), "{log}");
        assert!(log.contains("documents dropped"), "{log}");
        // Every document is accounted for: failed after its retry, or dropped because the bounded
        // queue was full while the sender was stuck retrying.
        let summary = log
            .lines()
            .find_map(|l| l.strip_prefix("logsentinel serve: elasticsearch sink: "))
            .unwrap();
        let n: Vec<u64> = summary
            .split(|c: char| !c.is_ascii_digit())
            .filter(|t| !t.is_empty())
            .map(|t| t.parse().unwrap())
            .collect();
        let (indexed, failed, dropped) = (n[0], n[1], n[2]);
        assert_eq!((indexed, failed + dropped), (0, 40), "{summary}");
        assert!(dropped > 0, "the queue is bounded: {summary}");
        assert!(!log.contains("hunter2"), "credentials printed: {log}");
    }
}

// ---------------------------------------------------------------------------------------------------
// Load: requests/s and latency percentiles over loopback, against the same calls in process.

struct Stats {
    requests: usize,
    lines: usize,
    secs: f64,
    lat_ms: Vec<f64>,
}

impl Stats {
    fn pct(&self, p: f64) -> f64 {
        let mut v = self.lat_ms.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() as f64 - 1.0) * p).round() as usize]
    }

    fn report(&self, what: &str) -> Value {
        let rps = self.requests as f64 / self.secs;
        let lps = self.lines as f64 / self.secs;
        println!(
            "{what:<34} {:>9.0} req/s {:>10.0} lines/s   p50 {:>8.3} ms   p99 {:>8.3} ms   ({} requests)",
            rps,
            lps,
            self.pct(0.5),
            self.pct(0.99),
            self.requests
        );
        json!({"what": what, "requests_per_s": rps, "lines_per_s": lps, "p50_ms": self.pct(0.5),
               "p99_ms": self.pct(0.99), "requests": self.requests})
    }
}

/// Runs `work(worker, i)` from `conns` threads until `secs` elapse or `max` requests are done.
fn hammer<F>(conns: usize, secs: f64, max: usize, lines_per: usize, work: F) -> Stats
where
    F: Fn(usize, usize) + Sync,
{
    let count = std::sync::atomic::AtomicUsize::new(0);
    let lat = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for w in 0..conns {
            let (count, lat, work) = (&count, &lat, &work);
            s.spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let i = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= max || start.elapsed().as_secs_f64() >= secs {
                        break;
                    }
                    let t = Instant::now();
                    work(w, i);
                    mine.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat.lock().unwrap().extend(mine);
            });
        }
    });
    let lat_ms = lat.into_inner().unwrap();
    Stats {
        requests: lat_ms.len(),
        lines: lat_ms.len() * lines_per,
        secs: start.elapsed().as_secs_f64(),
        lat_ms,
    }
}

#[test]
#[ignore = "load measurement; run by scripts/test-http.sh --bench"]
fn load_http_and_in_process() {
    let env_num = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let secs = env_num("LOAD_SECS", 5.0);
    let conns = env_num("LOAD_CONNS", 4.0) as usize;
    let batch = env_num("LOAD_BATCH", 100.0) as usize;
    let size = std::env::var("LOAD_MODEL_SIZE").unwrap_or_else(|_| "tiny".into());
    let max = 1_000_000;
    let lines = hdfs_lines(20_000);
    let dir = tempfile::tempdir().unwrap();
    let env = [("LOGSENTINEL_MODEL_SIZE", size.as_str())];
    let srv = Server::start(dir.path(), &env, &["--rate-limit", "0"]);
    // Steady state: the project's student serves.
    let p = srv.create_project("load", 1000, "hdfs");
    let key = p["api_key"].as_str().unwrap().to_string();
    for chunk in lines[..3000].chunks(250) {
        assert_eq!(
            srv.post("/detect/batch", &[key_header(&key)], &batch_body(chunk))
                .status,
            200
        );
        let deadline = Instant::now() + Duration::from_secs(1200);
        while srv.get("/project/status", &[key_header(&key)]).json()["phase"] == "training" {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert_eq!(
        srv.get("/project/status", &[key_header(&key)]).json()["phase"],
        "active"
    );
    let pool = &lines[3000..];
    println!(
        "load: {conns} connections/threads, {secs} s per run, batch {batch}, models {size}, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let mut results = Vec::new();
    // HTTP, keep-alive connections.
    let single: Vec<Vec<u8>> = pool
        .iter()
        .map(|l| {
            raw_request(
                "POST",
                "/detect",
                &[key_header(&key), JSON],
                Some(json!({"log_line": l}).to_string().as_bytes()),
            )
        })
        .collect();
    let batches: Vec<Vec<u8>> = pool
        .chunks(batch)
        .map(|c| {
            raw_request(
                "POST",
                "/detect/batch",
                &[key_header(&key), JSON],
                Some(batch_body(c).to_string().as_bytes()),
            )
        })
        .collect();
    let conns_http: Vec<Mutex<Conn>> = (0..conns)
        .map(|_| Mutex::new(Conn::open(&srv.addr)))
        .collect();
    for (what, reqs, per) in [
        ("HTTP POST /detect", &single, 1),
        ("HTTP POST /detect/batch", &batches, batch),
    ] {
        let st = hammer(conns, secs, max, per, |w, i| {
            let mut c = conns_http[w].lock().unwrap();
            c.send(&reqs[i % reqs.len()]);
            let r = c.read_response();
            assert_eq!(r.status, 200);
        });
        results.push(st.report(what));
    }
    drop(conns_http);
    let (st, _) = srv.stop();
    assert!(st.success());
    // The same calls in process, on the same storage and settings.
    let cfg = logsentinel::Config::from_lookup(|k| match k {
        "STORAGE_DIR" => Some(dir.path().display().to_string()),
        "LOGSENTINEL_MODEL_SIZE" => Some(size.clone()),
        "LOGSENTINEL_TRAINING_THREADS" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    let det = logsentinel::TenantDetector::open(cfg).unwrap();
    let recs: Vec<logsentinel::LogRecord> = pool.iter().map(logsentinel::LogRecord::new).collect();
    for (what, per) in [
        ("in-process detect()", 1),
        ("in-process detect_batch()", batch),
    ] {
        let st = hammer(conns, secs, max, per, |_, i| {
            if per == 1 {
                det.detect(&key, recs[i % recs.len()].clone()).unwrap();
            } else {
                let n = recs.len() / per;
                let j = (i % n) * per;
                det.detect_batch(&key, &recs[j..j + per]).unwrap();
            }
        });
        results.push(st.report(what));
    }
    det.close().unwrap();
    if let Ok(out) = std::env::var("LOAD_OUT") {
        std::fs::write(out, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    }
}
