//! User-declared header formats, the Loghub / logparser way: `<Date> <Time> <Level> <Component>: <Content>`.
//!
//! A format string is compiled once into an anchored regex exactly as logparser's
//! `generate_logformat_regex` does: every `<Name>` becomes a lazy `(?P<Name>.*?)`, the text between
//! fields is regex text where a run of spaces matches `\s+` (so `\[`, `\|` and optional groups such as
//! `(\[<PID>\])?` work as in the public benchmark settings), and the line is trimmed before matching.
//! `<Content>` is the message to mine; `Level`, `Component` (or `Program`) and the date and time
//! fields fill the rest of the [`HeaderRef`].

use std::borrow::Cow;
use std::fmt;

use regex::Regex;

use super::format::{
    clock_loose, days_from_civil, epoch, iso_date, iso_timestamp, month_from_name, short_date,
    HeaderRef, LogFormat, ASSUMED_YEAR,
};
use crate::error::{Error, Result};

/// A compiled header format string. Cheap to share (`Send + Sync`); build it with
/// [`FormatString::compile`].
#[derive(Clone)]
pub struct FormatString {
    source: String,
    regex: Regex,
    fields: Vec<String>,
    /// Capture group of each field (optional groups of the format string also count).
    groups: Vec<usize>,
    level: Option<usize>,
    component: Option<usize>,
    /// Indexes of the fields that carry date or time, in order.
    time_fields: Vec<usize>,
}

impl fmt::Debug for FormatString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FormatString").field(&self.source).finish()
    }
}

impl PartialEq for FormatString {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

fn bad(format: &str, problem: impl fmt::Display) -> Error {
    Error::InvalidConfig {
        name: "log_format".to_string(),
        reason: format!("invalid log format {format:?}: {problem}"),
    }
}

fn valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl FormatString {
    /// Compiles `format`. Fails with [`Error::InvalidConfig`] naming the problem when it has no
    /// `<Content>` field, a duplicate field, an unbalanced `<`, `>`, `(`, `)`, `[` or `]`, or text
    /// that is not a valid regex.
    pub fn compile(format: &str) -> Result<Self> {
        if format.trim().is_empty() {
            return Err(bad(format, "it is empty"));
        }
        let mut pattern = String::with_capacity(format.len() * 2 + 2);
        pattern.push('^');
        let mut fields: Vec<String> = Vec::new();
        let mut parens = 0i32;
        let mut in_class = false;
        let chars: Vec<(usize, char)> = format.char_indices().collect();
        let mut i = 0;
        while i < chars.len() {
            let (at, c) = chars[i];
            match c {
                '\\' => {
                    let Some(&(_, next)) = chars.get(i + 1) else {
                        return Err(bad(format, "it ends with a lone backslash"));
                    };
                    // `\<` and `\>` are word boundaries in the regex crate: a format string means
                    // the literal character, as in Python's `re`.
                    if next == '<' || next == '>' {
                        pattern.push(next);
                    } else {
                        pattern.push('\\');
                        pattern.push(next);
                    }
                    i += 2;
                    continue;
                }
                '[' if !in_class => {
                    in_class = true;
                    pattern.push(c);
                }
                ']' if in_class => {
                    in_class = false;
                    pattern.push(c);
                }
                ']' => return Err(bad(format, format!("unbalanced ']' at byte {at}"))),
                '(' if !in_class => {
                    parens += 1;
                    pattern.push(c);
                }
                ')' if !in_class => {
                    parens -= 1;
                    if parens < 0 {
                        return Err(bad(format, format!("unbalanced ')' at byte {at}")));
                    }
                    pattern.push(c);
                }
                '<' if !in_class => {
                    let close = chars[i + 1..]
                        .iter()
                        .position(|&(_, c)| c == '>' || c == '<')
                        .map(|offset| i + 1 + offset)
                        .filter(|&end| chars[end].1 == '>');
                    let Some(close) = close else {
                        return Err(bad(format, format!("unbalanced '<' at byte {at}")));
                    };
                    let name: String = chars[i + 1..close].iter().map(|&(_, c)| c).collect();
                    if !valid_field_name(&name) {
                        return Err(bad(
                            format,
                            format!("field name <{name}> must be letters, digits and '_'"),
                        ));
                    }
                    if fields.iter().any(|f| f == &name) {
                        return Err(bad(format, format!("duplicate field <{name}>")));
                    }
                    pattern.push_str("(?P<");
                    pattern.push_str(&name);
                    pattern.push_str(">.*?)");
                    fields.push(name);
                    i = close + 1;
                    continue;
                }
                '>' if !in_class => {
                    return Err(bad(
                        format,
                        format!("unbalanced '>' at byte {at} (write \\> for a literal '>')"),
                    ))
                }
                ' ' if !in_class => {
                    // logparser: a run of spaces matches any run of whitespace.
                    while chars.get(i + 1).is_some_and(|&(_, c)| c == ' ') {
                        i += 1;
                    }
                    pattern.push_str(r"\s+");
                }
                _ => pattern.push(c),
            }
            i += 1;
        }
        if in_class {
            return Err(bad(format, "unbalanced '['"));
        }
        if parens != 0 {
            return Err(bad(format, "unbalanced '('"));
        }
        if !fields.iter().any(|f| f == "Content") {
            return Err(bad(format, "it has no <Content> field (the message)"));
        }
        pattern.push('$');
        let regex = Regex::new(&pattern).map_err(|e| bad(format, e))?;
        let group_of = |name: &str| {
            regex
                .capture_names()
                .position(|group| group == Some(name))
                .unwrap_or(0)
        };
        let groups: Vec<usize> = fields.iter().map(|name| group_of(name)).collect();
        let find = |names: &[&str]| {
            names.iter().find_map(|want| {
                fields
                    .iter()
                    .position(|f| f.eq_ignore_ascii_case(want))
                    .map(|index| groups[index])
            })
        };
        let level = find(&["Level", "Severity"]);
        let component = find(&["Component", "Program", "Logger", "Process"]);
        let time_fields = fields
            .iter()
            .enumerate()
            .filter(|(_, name)| is_time_field(name))
            .map(|(index, _)| groups[index])
            .collect();
        Ok(FormatString {
            source: format.to_string(),
            regex,
            fields,
            groups,
            level,
            component,
            time_fields,
        })
    }

    /// The format string as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The field names, in order.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The value of every field of `line` (trimmed first, as logparser does), in the order of
    /// [`FormatString::fields`]; `None` when the line does not match (an optional group that did
    /// not take part gives an empty value).
    pub fn field_values<'a>(&self, line: &'a str) -> Option<Vec<&'a str>> {
        let captures = self.regex.captures(line.trim())?;
        Some(
            self.groups
                .iter()
                .map(|&index| captures.get(index).map_or("", |m| m.as_str()))
                .collect(),
        )
    }

    /// Parses `line` (trimmed first); `None` when it does not match.
    pub fn parse_ref<'a>(&self, line: &'a str) -> Option<HeaderRef<'a>> {
        self.parse_with_values(line).map(|(header, _)| header)
    }

    /// [`FormatString::parse_ref`] and [`FormatString::field_values`] from one match.
    pub fn parse_with_values<'a>(&self, line: &'a str) -> Option<(HeaderRef<'a>, Vec<&'a str>)> {
        let captures = self.regex.captures(line.trim())?;
        let values: Vec<&'a str> = self
            .groups
            .iter()
            .map(|&index| captures.get(index).map_or("", |m| m.as_str()))
            .collect();
        let content = captures.name("Content").map_or("", |m| m.as_str());
        let field = |index: Option<usize>| {
            index
                .and_then(|index| captures.get(index))
                .map(|m| Cow::Borrowed(m.as_str()))
        };
        let time_text: Vec<&str> = self
            .time_fields
            .iter()
            .filter_map(|&index| captures.get(index).map(|m| m.as_str()))
            .filter(|text| !text.is_empty())
            .collect();
        let header = HeaderRef {
            timestamp: guess_timestamp(&time_text),
            level: field(self.level),
            component: field(self.component),
            content: Cow::Borrowed(content),
            header_matched: true,
            session_hint: None,
            http: None,
        };
        Some((header, values))
    }
}

/// Whether a field name carries a date or time (`Date`, `Time`, `Timestamp`, `Month`, `Day`, `Year`).
fn is_time_field(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(lower.as_str(), "month" | "day" | "year")
        || lower.contains("date")
        || lower.contains("time")
}

/// Unix seconds from the date and time fields of a line, read as loosely as the common log
/// headers need: epoch seconds, ISO dates, `yy/mm/dd`, `yymmdd hhmmss`, syslog `Mon d h:mm:ss`,
/// `mm-dd`, `yyyymmdd-h:mm:ss:ms`; `None` when no clock is found.
fn guess_timestamp(parts: &[&str]) -> Option<f64> {
    if let [single] = parts {
        if let Some(seconds) = epoch(single) {
            return Some(seconds);
        }
    }
    let joined = parts.join(" ");
    if let Some(seconds) = iso_timestamp(&joined) {
        return Some(seconds);
    }
    let mut year = None;
    let mut month = None;
    let mut day = None;
    let mut time = None;
    let mut numbers: Vec<&str> = Vec::new();
    for token in joined.split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ',') {
        if token.is_empty() {
            continue;
        }
        if time.is_none() {
            if let Some(clock) = clock_loose(token) {
                time = Some(clock);
                continue;
            }
            // `20171223-22:15:29:606`: a date glued to the clock.
            if let Some((date, clock)) = token.split_once('-') {
                if let (Some(clock), true) = (clock_loose(clock), date.len() == 8) {
                    if let Some(date) = compact_date(date) {
                        (year, month, day) = (Some(date.0), Some(date.1), Some(date.2));
                        time = Some(clock);
                        continue;
                    }
                }
            }
        }
        if month.is_none() {
            if let Some(date) = [b'-', b'/', b'.']
                .iter()
                .find_map(|&sep| iso_date(token, sep).or_else(|| short_date(token, sep)))
            {
                (year, month, day) = (Some(date.0), Some(date.1), Some(date.2));
                continue;
            }
            if token.len() >= 3 && token.bytes().all(|b| b.is_ascii_alphabetic()) {
                if let Some(m) = month_from_name(token) {
                    month = Some(m);
                    continue;
                }
            }
        }
        if token.bytes().all(|b| b.is_ascii_digit()) {
            numbers.push(token);
        } else if let Some((a, b)) = token.split_once(['-', '.']) {
            // `03-17` (Android), `10.30` (Proxifier): month and day.
            if month.is_none() && a.len() <= 2 && b.len() <= 2 {
                if let (Ok(m), Ok(d)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    (month, day) = (Some(m), Some(d));
                }
            }
        }
    }
    for number in numbers {
        match number.len() {
            6 if month.is_none() => {
                // `081109`: yymmdd.
                if let Some(date) = compact_date(&format!("20{number}")) {
                    (year, month, day) = (Some(date.0), Some(date.1), Some(date.2));
                }
            }
            6 if time.is_none() => {
                let value: u32 = number.parse().ok()?;
                time = Some((value / 10_000, value / 100 % 100, f64::from(value % 100)));
            }
            4 if year.is_none() => year = number.parse().ok(),
            1 | 2 if day.is_none() => day = number.parse().ok(),
            _ => {}
        }
    }
    let (hour, minute, second) = time?;
    let (month, day) = (month?, day.unwrap_or(1));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = days_from_civil(year.unwrap_or(ASSUMED_YEAR), month, day);
    Some(days as f64 * 86_400.0 + f64::from(hour * 3600 + minute * 60) + second)
}

/// `yyyymmdd`.
fn compact_date(s: &str) -> Option<(i64, u32, u32)> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((
        s.get(0..4)?.parse().ok()?,
        s.get(4..6)?.parse().ok()?,
        s.get(6..8)?.parse().ok()?,
    ))
}

/// The public logparser benchmark format string of each Loghub preset (`None` for the formats that
/// have none: `auto`, `raw`, access logs, syslog, JSON).
pub fn preset_format_string(format: LogFormat) -> Option<&'static str> {
    Some(match format {
        LogFormat::Hdfs => "<Date> <Time> <Pid> <Level> <Component>: <Content>",
        LogFormat::Hadoop => r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
        LogFormat::Spark => "<Date> <Time> <Level> <Component>: <Content>",
        LogFormat::Zookeeper => {
            r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>"
        }
        LogFormat::Bgl => {
            "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>"
        }
        LogFormat::Hpc => "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
        LogFormat::Thunderbird => {
            r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>"
        }
        LogFormat::Windows => "<Date> <Time>, <Level>                  <Component>    <Content>",
        LogFormat::Linux => r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
        LogFormat::Android => "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
        LogFormat::Healthapp => r"<Time>\|<Component>\|<Pid>\|<Content>",
        LogFormat::Apache => r"\[<Time>\] \[<Level>\] <Content>",
        LogFormat::Proxifier => r"\[<Time>\] <Program> - <Content>",
        LogFormat::Openssh => r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
        LogFormat::Openstack => {
            r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>"
        }
        LogFormat::Mac => {
            r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>"
        }
        LogFormat::Auto
        | LogFormat::Raw
        | LogFormat::Combined
        | LogFormat::Common
        | LogFormat::Syslog
        | LogFormat::Json => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(format: &str) -> String {
        match FormatString::compile(format) {
            Ok(_) => String::from("compiled"),
            Err(Error::InvalidConfig { reason, .. }) => reason,
            Err(other) => format!("wrong error: {other}"),
        }
    }

    #[test]
    fn bad_format_strings_name_the_problem() {
        assert!(error_of("<Date> <Time> <Level>").contains("no <Content>"));
        assert!(error_of("<Date> <Date> <Content>").contains("duplicate field <Date>"));
        assert!(error_of("<Date <Content>").contains("unbalanced '<'"));
        assert!(error_of("<Date>> <Content>").contains("unbalanced '>'"));
        assert!(error_of(r"(\[<Pid>\] <Content>").contains("unbalanced '('"));
        assert!(error_of(r"\[<Pid>] <Content>").contains("unbalanced ']'"));
        assert!(error_of("[<Pid> <Content>").contains("unbalanced '['"));
        assert!(error_of("<Pid> <Content> x{2,1}").contains("invalid log format"));
        assert!(error_of("<My-Field> <Content>").contains("field name"));
        assert!(error_of("  ").contains("empty"));
        assert_eq!(error_of(r"\<<Pid>\> <Content>"), "compiled");
    }

    #[test]
    fn every_preset_string_compiles() {
        for &format in LogFormat::ALL {
            if let Some(text) = preset_format_string(format) {
                let compiled = FormatString::compile(text);
                assert!(compiled.is_ok(), "{format}: {:?}", compiled.err());
            }
        }
    }

    #[test]
    fn fields_fill_the_header() {
        let format = FormatString::compile("<Date> <Time> <Level> <Component>: <Content>")
            .unwrap_or_else(|e| panic!("{e}"));
        let header = format
            .parse_ref("2015-10-18 18:01:47,978 INFO my.Component: started in 35 ms ")
            .unwrap_or_default();
        assert!(header.header_matched);
        assert_eq!(header.level.as_deref(), Some("INFO"));
        assert_eq!(header.component.as_deref(), Some("my.Component"));
        assert_eq!(header.content, "started in 35 ms");
        assert_eq!(header.timestamp, Some(1_445_191_307.978));
        assert!(format.parse_ref("no header here").is_none());

        let linux = FormatString::compile(preset_format_string(LogFormat::Linux).unwrap_or(""))
            .unwrap_or_else(|e| panic!("{e}"));
        let header = linux
            .parse_ref("Jun  9 6:06:20 combo syslogd 1.4.1: restart.")
            .unwrap_or_default();
        assert_eq!(header.component.as_deref(), Some("syslogd 1.4.1"));
        assert_eq!(header.content, "restart.");
        let with_pid = linux
            .field_values("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown")
            .unwrap_or_default();
        assert_eq!(
            with_pid,
            [
                "Jun",
                "14",
                "15:16:01",
                "combo",
                "sshd(pam_unix)",
                "19939",
                "check pass; user unknown"
            ]
        );
    }

    #[test]
    fn timestamps_of_common_headers() {
        let cases: [(&[&str], f64); 6] = [
            (&["1117838570"], 1_117_838_570.0),
            (&["081109", "203518"], 1_226_262_918.0),
            (&["17/06/09", "20:10:40"], 1_497_039_040.0),
            (&["Sun Dec 04 04:47:44 2005"], 1_133_671_664.0),
            (&["2016-09-28", "04:30:30"], 1_475_037_030.0),
            (&["20171223-22:15:29:606"], 1_514_067_329.606),
        ];
        for (parts, want) in cases {
            let got = guess_timestamp(parts).unwrap_or(0.0);
            assert!((got - want).abs() < 1e-3, "{parts:?}: {got} != {want}");
        }
        // No year: only differences matter.
        let midnight = guess_timestamp(&["Jun", "14", "00:00:00"]).unwrap_or(0.0);
        let later = guess_timestamp(&["Jun", "14", "5:16:01"]).unwrap_or(0.0);
        assert_eq!(later - midnight, 5.0 * 3600.0 + 16.0 * 60.0 + 1.0);
        assert_eq!(guess_timestamp(&["nothing"]), None);
    }
}
