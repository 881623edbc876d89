//! Configuration inputs: `Config` as JSON (what `ls_detector_open` and hosts deserialize),
//! `Config::from_lookup` (what `Config::from_env` reads: the CLI and the server), `validate`, and
//! the miner's own settings.
//!
//! Input: the same bytes are tried as a JSON document and as `NAME=VALUE` lines of an environment.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use logsentinel::parse::MinerConfig;
use logsentinel::Config;

/// Every variable `from_env` reads (also tried with the `LOGSENTINEL_` prefix). A name of one
/// lowercase letter in the input stands for the entry at that index, so short inputs reach them all.
const VARS: &[&str] = &[
    "STORAGE_DIR",
    "MODEL_DIR",
    "DEVICE",
    "HOST",
    "ADMIN_API_KEY",
    "PORT",
    "WARMUP_THRESHOLD",
    "TEACHER_UPDATE_DAYS",
    "SESSION_IDLE_TIMEOUT_SECS",
    "MAX_SESSIONS_PER_PROJECT",
    "MAX_TEMPLATES_PER_PROJECT",
    "MAX_LINE_BYTES",
    "MAX_BATCH_SIZE",
    "TARGET_FALSE_POSITIVE_RATE",
    "ANOMALY_THRESHOLD",
    "TRAINING_THREADS",
    "SEED",
    "STUDENT_MEMORY_BUDGET_BYTES",
    "MODEL_SIZE",
];

fuzz_target!(|data: &[u8]| {
    // 1. JSON.
    if let Ok(c) = serde_json::from_slice::<Config>(data) {
        if c.validate().is_ok() {
            // What a host saves and reloads is the same config.
            let json = serde_json::to_string(&c).expect("a valid config serializes");
            let back: Config = serde_json::from_str(&json).expect("a serialized config reloads");
            // serde_json's default float parsing is best effort (it can be 1 ulp off for long
            // inputs; its `float_roundtrip` feature makes it exact): floats compare to 1e-12.
            let (a, b) = (
                serde_json::to_value(&c).expect("value"),
                serde_json::to_value(&back).expect("value"),
            );
            assert!(
                approx_eq(&a, &b),
                "config JSON round trip changed it: {json}"
            );
            assert!(back.validate().is_ok());
        }
    }
    let _ = serde_json::from_slice::<MinerConfig>(data);

    // 2. The environment.
    let text = String::from_utf8_lossy(data);
    let mut env: HashMap<String, String> = HashMap::new();
    for line in text.lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = match name.as_bytes() {
            [c @ b'a'..=b'z'] => VARS[usize::from(c - b'a') % VARS.len()].to_string(),
            [b'_', c @ b'a'..=b'z'] => {
                format!("LOGSENTINEL_{}", VARS[usize::from(c - b'a') % VARS.len()])
            }
            _ => name.to_string(),
        };
        env.insert(name, value.to_string());
    }
    match Config::from_lookup(|name| env.get(name).cloned()) {
        Ok(c) => {
            assert!(
                c.validate().is_ok(),
                "from_lookup returned an invalid config"
            );
        }
        Err(e) => {
            // Errors name a variable and never panic while formatting.
            let _ = e.to_string();
        }
    }
});

fn approx_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| approx_eq(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| approx_eq(v, w))
        }
        _ => a == b,
    }
}
