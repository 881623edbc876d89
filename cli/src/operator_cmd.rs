//! `logsentinel incidents` and `logsentinel feedback`: what an operator reads and what they say about
//! it, over a storage that `replay` (or any host) filled. The calls are the library's own
//! ([`TenantDetector::incidents`], [`TenantDetector::feedback`], ...).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use logsentinel::{
    Config, Error, FeedbackLabel, FeedbackScope, FeedbackTarget, Incident, IncidentState,
    NewFeedback, TenantDetector,
};

use crate::replay::KeyFile;

/// Which project, in which storage, with which key.
#[derive(Args)]
pub struct ProjectArgs {
    /// Storage: a directory, or a `postgres://` URL (default: STORAGE_URL, else STORAGE_DIR).
    #[arg(long)]
    pub storage: Option<PathBuf>,
    /// Project name (as given to `replay --project`).
    #[arg(long, default_value = "replay")]
    pub project: String,
    /// The project's API key (default: the key `replay` kept for the project in the storage's
    /// `cli-keys.json`).
    #[arg(long, env = "LOGSENTINEL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// Arguments of `incidents`.
#[derive(Args)]
pub struct IncidentsArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Only incidents in this state (`open` or `resolved`).
    #[arg(long)]
    pub state: Option<String>,
    /// Print the incidents as one JSON array instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `feedback` subcommands.
#[derive(Subcommand)]
pub enum FeedbackCommand {
    /// Mark an incident (or a pattern, template, rule or client) normal or anomalous: from the next
    /// line on, results it matches stop alerting (normal) or keep alerting (anomaly).
    Give(GiveArgs),
    /// List the project's feedback marks as JSON, oldest first.
    List(ProjectArgs),
    /// Undo a feedback mark by id: results it decided are judged as before.
    Undo(UndoArgs),
}

/// Arguments of `feedback give`.
#[derive(Args)]
pub struct GiveArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The incident the mark is about (its pattern, template, rule or client, by `--scope`).
    #[arg(long, conflicts_with = "key", required_unless_present = "key")]
    pub incident: Option<u64>,
    /// What the scope matches, given directly: a result's pattern, a template, a rule, a client.
    #[arg(long)]
    pub key: Option<String>,
    /// `normal` or `anomaly`.
    #[arg(long)]
    pub label: String,
    /// `pattern` (default), `template`, `rule` or `client`.
    #[arg(long, default_value = "pattern")]
    pub scope: String,
    /// How long the mark applies, in seconds (default: for good).
    #[arg(long)]
    pub duration_secs: Option<f64>,
    /// Free text kept with the mark.
    #[arg(long)]
    pub note: Option<String>,
}

/// Arguments of `feedback undo`.
#[derive(Args)]
pub struct UndoArgs {
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The mark's id (see `feedback list`).
    pub id: u64,
}

/// Runs `incidents`.
pub fn run_incidents(args: IncidentsArgs) -> Result<(), Error> {
    let state = args
        .state
        .as_deref()
        .map(str::parse::<IncidentState>)
        .transpose()?;
    let (det, key) = open_project(&args.project)?;
    let incidents = det.incidents(&key, state)?;
    if args.json {
        println!("{}", serde_json::to_string(&incidents)?);
    } else if incidents.is_empty() {
        println!("no incidents in project {:?}", args.project.project);
    } else {
        for incident in &incidents {
            print!("{}", describe(incident));
        }
    }
    det.close()
}

/// Runs a `feedback` subcommand; prints the mark(s) as JSON.
pub fn run_feedback(command: FeedbackCommand) -> Result<(), Error> {
    match command {
        FeedbackCommand::Give(args) => {
            let new = NewFeedback {
                target: match (args.incident, args.key) {
                    (Some(id), _) => FeedbackTarget::Incident(id),
                    (None, Some(key)) => FeedbackTarget::Key(key),
                    (None, None) => {
                        return Err(Error::invalid_input("give --incident ID or --key KEY"))
                    }
                },
                label: args.label.parse::<FeedbackLabel>()?,
                scope: args.scope.parse::<FeedbackScope>()?,
                duration_secs: args.duration_secs,
                note: args.note,
            };
            let (det, key) = open_project(&args.project)?;
            println!("{}", serde_json::to_string(&det.feedback(&key, new)?)?);
            det.close()
        }
        FeedbackCommand::List(project) => {
            let (det, key) = open_project(&project)?;
            println!("{}", serde_json::to_string(&det.list_feedback(&key)?)?);
            det.close()
        }
        FeedbackCommand::Undo(args) => {
            let (det, key) = open_project(&args.project)?;
            println!(
                "{}",
                serde_json::to_string(&det.undo_feedback(&key, args.id)?)?
            );
            det.close()
        }
    }
}

/// Opens the storage and finds the project's key.
fn open_project(args: &ProjectArgs) -> Result<(TenantDetector, String), Error> {
    let mut config = Config::from_env()?;
    if let Some(storage) = &args.storage {
        crate::set_storage(&mut config, storage);
    }
    if config.storage_url.is_none() && !config.storage_dir.is_dir() {
        return Err(Error::invalid_input(format!(
            "no storage at {}: pass --storage DIR (a directory `replay --storage` or a host wrote)",
            config.storage_dir.display()
        )));
    }
    let det = TenantDetector::open(config.clone())?;
    if let Some(key) = &args.api_key {
        return Ok((det, key.clone()));
    }
    let project = det
        .list_projects()?
        .into_iter()
        .find(|p| p.project_name == args.project)
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "no project named {:?} in {}",
                args.project,
                det.storage_location().unwrap_or_default()
            ))
        })?;
    if config.storage_url.is_some() {
        return Err(Error::invalid_input(format!(
            "project {:?} is in a shared database, which keeps no keys: pass --api-key (or \
             LOGSENTINEL_API_KEY)",
            args.project
        )));
    }
    let keys = KeyFile::load(&config.storage_dir);
    let key = keys.keys.get(&project.project_id).cloned().ok_or_else(|| {
        Error::invalid_input(format!(
            "the key of project {:?} is not in {}: pass --api-key (or LOGSENTINEL_API_KEY)",
            args.project,
            keys.path.display()
        ))
    })?;
    Ok((det, key))
}

/// An incident as a few lines of text.
fn describe(incident: &Incident) -> String {
    let state = match incident.state {
        IncidentState::Open => "open",
        IncidentState::Resolved => "resolved",
    };
    let feedback = match incident.feedback {
        Some(FeedbackLabel::Normal) => ", marked normal",
        Some(FeedbackLabel::Anomaly) => ", confirmed",
        None => "",
    };
    let mut out = format!(
        "#{} [{state}{feedback}] {}\n    {} lines, {} session verdicts, {} sessions; log time {:.0} .. {:.0}\n",
        incident.id,
        incident.title,
        incident.lines,
        incident.session_verdicts,
        incident.sessions,
        incident.first_seen,
        incident.last_seen
    );
    for counted in incident.top_templates.iter().take(3) {
        out.push_str(&format!(
            "    template x{}: {}\n",
            counted.count, counted.name
        ));
    }
    for counted in incident.top_rules.iter().take(3) {
        out.push_str(&format!("    rule x{}: {}\n", counted.count, counted.name));
    }
    if let Some(example) = incident.examples.first() {
        let why = example.reasons.first().map(String::as_str).unwrap_or("");
        out.push_str(&format!("    e.g. {} ({why})\n", example.template));
    }
    out
}
