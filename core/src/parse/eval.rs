//! Parsing accuracy against the Loghub ground truth, computed exactly like
//! `score_parse.py --final-template`: GA and FGA on template ids, PA and FTA on templates normalised
//! by the same `canon()` (placeholder spellings, whitespace, Loghub-2.0 post-processing without the
//! digit rule, punctuation-only words).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::format::{HeaderParser, LogFormat};
use super::format_string::FormatString;
use super::miner::{MinerConfig, TemplateMiner};
use crate::error::{Error, Result};

/// Scores of one system.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemScore {
    /// System name (the folder name, e.g. `HDFS`).
    pub system: String,
    /// Lines scored.
    pub lines: usize,
    /// Grouping accuracy.
    pub ga: f64,
    /// Parsing accuracy (normalised templates).
    pub pa: f64,
    /// F1 of group-level precision and recall.
    pub fga: f64,
    /// F1 of template-level precision and recall (normalised templates).
    pub fta: f64,
}

/// The files of one Loghub system folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemFiles {
    /// System name (the folder name, e.g. `HDFS`).
    pub name: String,
    /// The raw log (`<S>_2k.log`, or the folder's only `.log`).
    pub log: PathBuf,
    /// The ground truth (`*_structured.csv`).
    pub structured_csv: PathBuf,
}

impl SystemFiles {
    /// The header format named like the system (case-insensitive), `auto` when none is.
    pub fn format(&self) -> LogFormat {
        self.name.parse::<LogFormat>().unwrap_or(LogFormat::Auto)
    }
}

/// Every `<S>/` folder of `dir` that holds `<S>_2k.log` (or one `.log`) and a `*_structured.csv`, in
/// name order. Fails when there is none.
pub fn system_dirs(dir: &Path) -> Result<Vec<SystemFiles>> {
    let mut systems: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    systems.sort();
    let mut found = Vec::new();
    for system_dir in systems {
        let Some(name) = system_dir
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let Some((log, structured_csv)) = system_files(&system_dir, &name)? else {
            continue;
        };
        found.push(SystemFiles {
            name,
            log,
            structured_csv,
        });
    }
    if found.is_empty() {
        return Err(Error::invalid_input(format!(
            "{} holds no <System>/<System>_2k.log with a *_structured.csv",
            dir.display()
        )));
    }
    Ok(found)
}

/// Reads a file of header format strings per system, in one of two forms:
/// - a JSON object `{"HDFS": "<Date> <Time> <Pid> <Level> <Component>: <Content>", ...}`, when the
///   file's first non-blank character is `{`;
/// - otherwise one `System<TAB or spaces>format string` per line (the system is the first word, the
///   format string the rest of the line, trimmed); blank lines and lines starting with `#` are skipped.
///
/// Every format string is compiled, so a bad one fails here with [`Error::InvalidConfig`] naming
/// its system. System names are matched to folder names case-insensitively by the caller.
pub fn read_log_formats(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::invalid_input(format!("cannot read {}: {e}", path.display())))?;
    let pairs: Vec<(String, String)> = if text.trim_start().starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| {
                Error::invalid_input(format!("{}: not a JSON object: {e}", path.display()))
            })?;
        object
            .into_iter()
            .map(|(system, value)| match value {
                serde_json::Value::String(format) => Ok((system, format)),
                other => Err(Error::invalid_input(format!(
                    "{}: the format of {system} is not a string: {other}",
                    path.display()
                ))),
            })
            .collect::<Result<_>>()?
    } else {
        let mut pairs = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((system, format)) = line.split_once(char::is_whitespace) else {
                return Err(Error::invalid_input(format!(
                    "{} line {}: expected `System<TAB>format string`",
                    path.display(),
                    number + 1
                )));
            };
            pairs.push((system.to_string(), format.trim().to_string()));
        }
        pairs
    };
    for (system, format) in &pairs {
        FormatString::compile(format).map_err(|e| match e {
            Error::InvalidConfig { name, reason } => Error::InvalidConfig {
                name,
                reason: format!("{system}: {reason}"),
            },
            other => other,
        })?;
    }
    Ok(pairs)
}

/// Scores every system of [`system_dirs`], parsing with the format named like the folder
/// (lowercase; `auto` when no format has that name) and the default [`MinerConfig`].
pub fn evaluate_dir(dir: &Path) -> Result<Vec<SystemScore>> {
    system_dirs(dir)?
        .iter()
        .map(|system| score_system(&system.name, &system.log, &system.structured_csv))
        .collect()
}

/// What the miner reported for each line of a log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prediction {
    /// Template id per line.
    pub template_ids: Vec<u32>,
    /// Template text per line (as reported on that line).
    pub templates: Vec<String>,
    /// Parameters per line.
    pub parameters: Vec<Vec<String>>,
}

/// Parses every line of `log` (lossy UTF-8) with `format` and a fresh default miner.
pub fn predict_file(format: LogFormat, log: &Path) -> Result<Prediction> {
    predict_file_with(&HeaderParser::new(format), log)
}

/// [`predict_file`] with a given header parser (a preset or a user format string); its
/// [`HeaderParser::header_counts`] tell how many headers did not match afterwards.
pub fn predict_file_with(parser: &HeaderParser, log: &Path) -> Result<Prediction> {
    let raw = std::fs::read(log)?;
    let text = String::from_utf8_lossy(&raw);
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut prediction = Prediction::default();
    for line in text.lines() {
        let header = parser.parse_ref(line);
        let matched = miner.learn(&header.content);
        prediction.template_ids.push(matched.template_id);
        prediction.templates.push(matched.template);
        prediction.parameters.push(matched.parameters);
    }
    Ok(prediction)
}

fn system_files(dir: &Path, name: &str) -> Result<Option<(PathBuf, PathBuf)>> {
    let mut logs = Vec::new();
    let mut csvs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let file = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if file.ends_with("_structured.csv") {
            csvs.push(path);
        } else if file.ends_with(".log") {
            logs.push(path);
        }
    }
    let preferred = dir.join(format!("{name}_2k.log"));
    let log = if preferred.exists() {
        Some(preferred)
    } else if logs.len() == 1 {
        logs.pop()
    } else {
        None
    };
    csvs.sort();
    Ok(match (log, csvs.into_iter().next()) {
        (Some(log), Some(csv)) => Some((log, csv)),
        _ => None,
    })
}

/// Parses `log` with the format named `name` (case-insensitive; `auto` when unknown) and scores the
/// result against the ground truth `structured_csv` (columns `EventId`, `EventTemplate`).
pub fn score_system(name: &str, log: &Path, structured_csv: &Path) -> Result<SystemScore> {
    let format = name.parse::<LogFormat>().unwrap_or(LogFormat::Auto);
    let (truth_ids, truth_templates) = read_truth(structured_csv)?;
    let prediction = predict_file(format, log)?;
    let ids: Vec<String> = prediction
        .template_ids
        .iter()
        .map(|id| id.to_string())
        .collect();
    Ok(score_predictions(
        name,
        &truth_ids,
        &truth_templates,
        &ids,
        &prediction.templates,
    ))
}

/// Mean GA, PA, FGA and FTA of `scores` (lines are not weighted: each system counts once).
pub fn mean_score(scores: &[SystemScore]) -> SystemScore {
    let n = scores.len().max(1) as f64;
    let mean = |f: fn(&SystemScore) -> f64| scores.iter().map(f).sum::<f64>() / n;
    SystemScore {
        system: "Mean".to_string(),
        lines: scores.iter().map(|s| s.lines).sum(),
        ga: mean(|s| s.ga),
        pa: mean(|s| s.pa),
        fga: mean(|s| s.fga),
        fta: mean(|s| s.fta),
    }
}

/// Scores predicted ids and templates (one per line, in order) against the truth, with the
/// final-template rule: each line is judged with the last template reported for its id. Lines
/// missing from the prediction count as wrong.
pub fn score_predictions(
    system: &str,
    truth_ids: &[String],
    truth_templates: &[String],
    predicted_ids: &[String],
    predicted_templates: &[String],
) -> SystemScore {
    let lines = truth_ids.len();
    let mut ids: Vec<String> = Vec::with_capacity(lines);
    let mut templates: Vec<String> = Vec::with_capacity(lines);
    for index in 0..lines {
        match (predicted_ids.get(index), predicted_templates.get(index)) {
            (Some(id), Some(template)) => {
                ids.push(id.clone());
                templates.push(template.clone());
            }
            _ => {
                ids.push(format!("\0missing{index}"));
                templates.push(String::new());
            }
        }
    }
    let mut last: HashMap<&str, &str> = HashMap::new();
    for (id, template) in ids.iter().zip(&templates) {
        last.insert(id, template);
    }
    let final_templates: Vec<&str> = ids
        .iter()
        .map(|id| last.get(id.as_str()).copied().unwrap_or(""))
        .collect();
    let (ga, fga) = grouping(truth_ids, &ids);
    let canon_truth: Vec<String> = truth_templates.iter().map(|t| canon(t)).collect();
    let canon_predicted: Vec<String> = final_templates.iter().map(|t| canon(t)).collect();
    let pa = if lines == 0 {
        0.0
    } else {
        canon_truth
            .iter()
            .zip(&canon_predicted)
            .filter(|(a, b)| a == b)
            .count() as f64
            / lines as f64
    };
    SystemScore {
        system: system.to_string(),
        lines,
        ga,
        pa,
        fga,
        fta: template_level(&canon_truth, &canon_predicted),
    }
}

/// GA and FGA (Loghub-2.0 `get_accuracy`).
fn grouping(truth: &[String], predicted: &[String]) -> (f64, f64) {
    let lines = truth.len();
    if lines == 0 {
        return (0.0, 0.0);
    }
    let mut predicted_size: HashMap<&str, usize> = HashMap::new();
    for id in predicted {
        *predicted_size.entry(id).or_default() += 1;
    }
    let mut by_truth: HashMap<&str, Vec<&str>> = HashMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        by_truth.entry(t).or_default().push(p);
    }
    let mut correct_lines = 0usize;
    let mut correct_groups = 0usize;
    for members in by_truth.values() {
        let distinct: HashSet<&&str> = members.iter().collect();
        if distinct.len() == 1 {
            if let Some(id) = members.first() {
                if predicted_size.get(id).copied() == Some(members.len()) {
                    correct_lines += members.len();
                    correct_groups += 1;
                }
            }
        }
    }
    let ga = correct_lines as f64 / lines as f64;
    let precision = correct_groups as f64 / predicted_size.len() as f64;
    let recall = correct_groups as f64 / by_truth.len() as f64;
    let fga = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    (ga, fga)
}

/// FTA (Loghub-2.0 `evaluate_template_level`) on normalised templates.
fn template_level(truth: &[String], predicted: &[String]) -> f64 {
    let mut groups: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        groups.entry(p).or_default().insert(t);
    }
    if groups.is_empty() {
        return 0.0;
    }
    let correct = groups
        .iter()
        .filter(|(p, ts)| ts.len() == 1 && ts.contains(*p))
        .count();
    let distinct_truth: HashSet<&str> = truth.iter().map(String::as_str).collect();
    let precision = correct as f64 / groups.len() as f64;
    let recall = correct as f64 / distinct_truth.len() as f64;
    if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    }
}

const STAR: &str = "<*>";

/// The template normalisation of `score_parse.py` (`canon`).
pub fn canon(template: &str) -> String {
    // 1. Placeholder spellings: `<:?[A-Z][A-Z0-9_]*:?>` -> `<*>`.
    let text = replace_placeholders(template);
    // 2. Whitespace runs -> one space, trimmed.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // 3. Pieces between delimiters that contain `<*>` (and no `/`) become `<*>`.
    let mut glued = String::with_capacity(text.len());
    let mut piece = String::new();
    let flush = |piece: &mut String, out: &mut String| {
        if piece.contains(STAR) && !piece.contains('/') && !piece.chars().any(char::is_whitespace) {
            out.push_str(STAR);
        } else {
            out.push_str(piece);
        }
        piece.clear();
    };
    for c in text.chars() {
        if is_canon_delimiter(c) {
            flush(&mut piece, &mut glued);
            glued.push(c);
        } else {
            piece.push(c);
        }
    }
    flush(&mut piece, &mut glued);
    let mut text = glued;
    const RULES: [(&str, &str); 12] = [
        ("<*>.<*>", "<*>"),
        ("<*><*>", "<*>"),
        (" #<*># ", " <*> "),
        (" #<*> ", " <*> "),
        ("<*>:<*>", "<*>"),
        ("<*>#<*>", "<*>"),
        ("<*>/<*>", "<*>"),
        ("<*>@<*>", "<*>"),
        ("<*>.<*>", "<*>"),
        (" \"<*>\" ", " <*> "),
        (" '<*>' ", " <*> "),
        ("<*><*>", "<*>"),
    ];
    for _ in 0..2 {
        for (old, new) in RULES {
            text = repeat_replace(text, old, new);
        }
    }
    // 4. Words made only of `<*>` and punctuation become `<*>`.
    let words: Vec<String> = text
        .split(' ')
        .map(|word| {
            if word.contains(STAR) && is_punctuation_word(word) {
                STAR.to_string()
            } else {
                word.to_string()
            }
        })
        .collect();
    repeat_replace(words.join(" "), "<*><*>", "<*>")
}

fn replace_placeholders(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    let mut copied = 0;
    while index < bytes.len() {
        if bytes[index] == b'<' {
            let mut end = index + 1;
            if bytes.get(end) == Some(&b':') {
                end += 1;
            }
            if bytes.get(end).is_some_and(u8::is_ascii_uppercase) {
                end += 1;
                while bytes
                    .get(end)
                    .is_some_and(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
                {
                    end += 1;
                }
                if bytes.get(end) == Some(&b':') && bytes.get(end + 1) == Some(&b'>') {
                    end += 1;
                }
                if bytes.get(end) == Some(&b'>') {
                    out.push_str(&text[copied..index]);
                    out.push_str(STAR);
                    index = end + 1;
                    copied = index;
                    continue;
                }
            }
        }
        index += 1;
    }
    out.push_str(&text[copied..]);
    out
}

fn is_canon_delimiter(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | '!'
                | ';'
                | ':'
                | '='
                | '|'
                | '"'
                | '\''
                | '['
                | ']'
                | '('
                | ')'
                | '{'
                | '}'
                | '.'
                | '-'
                | '+'
                | '@'
                | '#'
                | '$'
                | '%'
                | '&'
        )
}

/// `(?:<\*>|[^\w\s])+` as a full match.
fn is_punctuation_word(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| !(c.is_alphanumeric() || c == '_' || c.is_whitespace()))
}

fn repeat_replace(mut text: String, old: &str, new: &str) -> String {
    while text.contains(old) {
        text = text.replace(old, new);
    }
    text
}

/// Reads the `EventId` and `EventTemplate` columns of a Loghub structured csv, one per line.
pub fn read_truth(path: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let raw = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&raw);
    let mut rows = parse_csv(&text).into_iter();
    let header = rows
        .next()
        .ok_or_else(|| Error::invalid_input(format!("{} is empty", path.display())))?;
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
            .ok_or_else(|| Error::invalid_input(format!("{} has no {name} column", path.display())))
    };
    let id_column = column("EventId")?;
    let template_column = column("EventTemplate")?;
    let mut ids = Vec::new();
    let mut templates = Vec::new();
    for row in rows {
        if row.len() == 1 && row[0].is_empty() {
            continue;
        }
        ids.push(row.get(id_column).cloned().unwrap_or_default());
        templates.push(row.get(template_column).cloned().unwrap_or_default());
    }
    Ok((ids, templates))
}

/// RFC 4180 csv: quoted fields may hold commas, doubled quotes and newlines.
pub(crate) fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canon_matches_the_python_scorer() {
        assert_eq!(
            canon("Receiving block <*> src: <*>:<*> dest: <*>:<*>"),
            "Receiving block <*> src: <*> dest: <*>"
        );
        assert_eq!(
            canon("Deleting block blk_<*> file /<*>"),
            "Deleting block <*> file <*>"
        );
        assert_eq!(canon("a <NUM>  b <:IP:>"), "a <*> b <*>");
        assert_eq!(canon("(<*>) [<*>]"), "<*> <*>");
        assert_eq!(canon("node-<*>"), "node-<*>");
        assert_eq!(canon("x <*>/<*>/a"), "x <*>/a");
        assert_eq!(canon("  "), "");
    }

    #[test]
    fn grouping_and_template_level() {
        let truth: Vec<String> = ["E1", "E1", "E2", "E3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let predicted: Vec<String> = ["1", "1", "2", "2"].iter().map(|s| s.to_string()).collect();
        let (ga, fga) = grouping(&truth, &predicted);
        assert!((ga - 0.5).abs() < 1e-12);
        // 1 accurate group of 2 predicted and 3 true: P 0.5, R 1/3.
        assert!((fga - 0.4).abs() < 1e-12);
    }

    fn fixtures() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    #[test]
    fn agrees_with_score_parse_py_on_a_fixture() {
        // `score_parse.py HPC HPC_pred.jsonl --final-template` printed these numbers.
        let dir = fixtures();
        let (truth_ids, truth_templates) =
            read_truth(&dir.join("loghub/HPC/HPC_2k.log_structured.csv")).unwrap_or_default();
        let predictions =
            std::fs::read_to_string(dir.join("parse_eval/HPC_pred.jsonl")).unwrap_or_default();
        let mut ids = Vec::new();
        let mut templates = Vec::new();
        for line in predictions.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
            ids.push(row["template_id"].to_string());
            templates.push(row["template"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(ids.len(), 2000);
        let score = score_predictions("HPC", &truth_ids, &truth_templates, &ids, &templates);
        assert_eq!(score.lines, 2000);
        assert!((score.ga - 0.9445).abs() < 1e-9, "{score:?}");
        assert!((score.pa - 0.9475).abs() < 1e-9, "{score:?}");
        assert!(
            (score.fga - 0.842_105_263_157_894_8).abs() < 1e-9,
            "{score:?}"
        );
        assert!(
            (score.fta - 0.842_105_263_157_894_8).abs() < 1e-9,
            "{score:?}"
        );
    }

    #[test]
    fn headers_give_the_loghub_content_column() {
        let dir = fixtures().join("loghub");
        for system in ["HDFS", "Apache", "HPC", "Spark", "Zookeeper"] {
            let log = std::fs::read_to_string(dir.join(format!("{system}/{system}_2k.log")))
                .unwrap_or_default();
            let csv = std::fs::read_to_string(
                dir.join(format!("{system}/{system}_2k.log_structured.csv")),
            )
            .unwrap_or_default();
            let rows = parse_csv(&csv);
            let content_column = rows[0]
                .iter()
                .position(|h| h == "Content")
                .unwrap_or(usize::MAX);
            let parser = HeaderParser::new(system.parse().unwrap_or(LogFormat::Raw));
            let mut lines = 0;
            for (line, row) in log.lines().zip(&rows[1..]) {
                let header = parser.parse(line);
                assert!(header.header_matched, "{system}: {line}");
                assert!(header.timestamp.is_some(), "{system}: {line}");
                assert_eq!(
                    Some(&header.content),
                    row.get(content_column),
                    "{system}: {line}"
                );
                lines += 1;
            }
            assert_eq!(lines, 2000, "{system}");
        }
    }

    #[test]
    fn fixture_systems_mine_well() {
        let scores = evaluate_dir(&fixtures().join("loghub")).unwrap_or_default();
        assert_eq!(scores.len(), 5);
        for score in &scores {
            assert!(score.ga >= 0.98 && score.pa >= 0.95, "{score:?}");
        }
        assert!(evaluate_dir(&fixtures().join("parse_eval")).is_err());
        assert!(evaluate_dir(Path::new("/nonexistent/dir")).is_err());
    }

    #[test]
    fn format_files_in_both_forms() {
        let dir = std::env::temp_dir().join(format!("ls-formats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_default();
        let lines = dir.join("formats.txt");
        std::fs::write(
            &lines,
            "# system  format\nHDFS\t<Date> <Time> <Pid> <Level> <Component>: <Content>\n\nApache   \\[<Time>\\] \\[<Level>\\] <Content>\n",
        )
        .unwrap_or_default();
        let pairs = read_log_formats(&lines).unwrap_or_default();
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            pairs[1],
            ("Apache".into(), r"\[<Time>\] \[<Level>\] <Content>".into())
        );
        let json = dir.join("formats.json");
        std::fs::write(
            &json,
            r#"{"Spark": "<Date> <Time> <Level> <Component>: <Content>"}"#,
        )
        .unwrap_or_default();
        let pairs = read_log_formats(&json).unwrap_or_default();
        assert_eq!(pairs[0].0, "Spark");
        std::fs::write(&json, r#"{"Spark": "<Date> <Time>"}"#).unwrap_or_default();
        let error = read_log_formats(&json)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("Spark") && error.contains("<Content>"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn documented_format_file_matches_the_presets() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/loghub_formats.tsv");
        let pairs = read_log_formats(&path).unwrap_or_default();
        assert_eq!(pairs.len(), 16);
        for (system, format) in pairs {
            let preset = system.parse::<LogFormat>().ok();
            assert_eq!(
                preset.and_then(crate::parse::preset_format_string),
                Some(format.as_str()),
                "{system}"
            );
        }
    }

    #[test]
    fn csv_quotes() {
        let rows = parse_csv("a,b\n1,\"x, \"\"y\"\"\nz\"\n");
        assert_eq!(rows, vec![vec!["a", "b"], vec!["1", "x, \"y\"\nz"]]);
    }
}
