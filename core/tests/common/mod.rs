//! Helpers shared by the integration tests (each test file includes this module and uses part of it).
#![allow(dead_code, clippy::unwrap_used)]

/// The lines of a committed fixture, `rel` relative to the core crate's directory.
pub fn fixture(rel: &str) -> Vec<String> {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(str::to_string)
        .collect()
}

/// The first `n` lines of the committed HDFS sample.
pub fn hdfs_lines(n: usize) -> Vec<String> {
    let mut lines = fixture("../tests/fixtures/hdfs/hdfs_dev_20k.log");
    lines.truncate(n);
    lines
}

/// Least-squares slope of `ys` over `xs`.
pub fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let cov: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let var: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var
    }
}

/// The URL of the maintenance database of the server `scripts/test-postgres.sh` started (its Unix
/// socket, the port it chose).
pub fn postgres_admin_url() -> String {
    let dir = std::env::var("LOGSENTINEL_TEST_POSTGRES_SOCKET_DIR")
        .expect("LOGSENTINEL_TEST_POSTGRES_SOCKET_DIR: run this through scripts/test-postgres.sh");
    let port = std::env::var("LOGSENTINEL_TEST_POSTGRES_PORT").unwrap_or_else(|_| "5432".into());
    format!("postgres://postgres@localhost:{port}/postgres?host={dir}")
}

/// A new, empty database on that server: its name and URL (over the socket).
pub fn fresh_postgres_database() -> (String, String) {
    let admin = postgres_admin_url();
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    let name = format!("ls_{}", uuid::Uuid::new_v4().simple());
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    (
        name.clone(),
        admin.replacen("/postgres?", &format!("/{name}?"), 1),
    )
}
