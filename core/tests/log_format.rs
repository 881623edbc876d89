//! Projects declared with a header format string (the logparser convention): creation, validation,
//! the header counts of the status, and persistence across a restart.
#![allow(clippy::unwrap_used)]

mod common;
use common::hdfs_lines;

use logsentinel::{Config, ErrorKind, LogFormat, LogRecord, NewProject, TenantDetector};

const HDFS: &str = "<Date> <Time> <Pid> <Level> <Component>: <Content>";

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::with_storage_dir(dir).tiny_models();
    c.training_threads = 1;
    c
}

#[test]
fn format_string_projects_count_odd_headers_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let lines = hdfs_lines(400);
    // The same event as a real line, with a one-digit hour and without its pid.
    let real = lines
        .iter()
        .find(|l| l.contains("PacketResponder") && l.contains("terminating"))
        .unwrap()
        .clone();
    let fields: Vec<&str> = real.splitn(4, ' ').collect();
    let one_digit_hour = format!(
        "{} {} {} {}",
        fields[0],
        &fields[1][1..],
        fields[2],
        fields[3]
    );
    let no_pid = format!("{} {} {}", fields[0], fields[1], fields[3]);
    let key;
    {
        let det = TenantDetector::open(config(dir.path())).unwrap();
        let p = det
            .create_project(
                NewProject::named("declared")
                    .warmup_threshold(1000)
                    .log_format(HDFS),
            )
            .unwrap();
        key = p.api_key;
        let records: Vec<LogRecord> = lines.iter().map(LogRecord::new).collect();
        det.detect_batch(&key, &records).unwrap();
        let template = |line: &str| det.detect(&key, LogRecord::new(line)).unwrap().template_id;
        let id = template(&real);
        assert_eq!(template(&one_digit_hour), id);
        assert_eq!(template(&no_pid), id);
        let status = det.status(&key).unwrap();
        assert_eq!(status.log_format.as_deref(), Some(HDFS));
        // The lazy format string takes the one-digit hour as it is; the missing pid is refused
        // by the learned shape and recovered by the header prefix.
        assert_eq!((status.header_unmatched, status.header_recovered), (1, 1));
        det.close().unwrap();
    }
    let det = TenantDetector::open(config(dir.path())).unwrap();
    let status = det.status(&key).unwrap();
    assert_eq!(status.log_format.as_deref(), Some(HDFS));
    assert_eq!((status.header_unmatched, status.header_recovered), (1, 1));
    det.detect(&key, LogRecord::new("no header at all"))
        .unwrap();
    let status = det.status(&key).unwrap();
    assert_eq!((status.header_unmatched, status.header_recovered), (2, 1));
}

#[test]
fn bad_format_strings_and_the_config_default() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.log_format = Some(r"\[<Time>\] \[<Level>\] <Content>".into());
    let det = TenantDetector::open(c).unwrap();
    let error = det
        .create_project(NewProject::named("bad").log_format("<Date> <Date> <Content>"))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidConfig);
    assert!(
        error.to_string().contains("duplicate field <Date>"),
        "{error}"
    );
    // A project left on `auto` takes the detector's format string; a named preset keeps its own.
    let auto = det.create_project(NewProject::named("auto")).unwrap();
    let status = det.status(&auto.api_key).unwrap();
    assert_eq!(
        status.log_format.as_deref(),
        Some(r"\[<Time>\] \[<Level>\] <Content>")
    );
    let preset = det
        .create_project(NewProject::named("hdfs").format(LogFormat::Hdfs))
        .unwrap();
    assert_eq!(det.status(&preset.api_key).unwrap().log_format, None);
    // Old stored projects and requests without the field still read.
    let old: NewProject = serde_json::from_str(r#"{"name": "old", "format": "hdfs"}"#).unwrap();
    assert_eq!(old.log_format, None);
    let mut bad = config(dir.path());
    bad.log_format = Some("<Content".into());
    assert_eq!(bad.validate().unwrap_err().kind(), ErrorKind::InvalidConfig);
}
