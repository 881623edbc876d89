//! The Python side of the benchmarks that run a peer (Drain3, ONNX Runtime): a virtual environment
//! with pinned packages, installed on first use, and the peer scripts of `scripts/bench/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use logsentinel::Error;

/// The Python of `venv`, creating the venv and installing `packages` (pinned `name==version`
/// requirements) when `import` (a Python import statement) fails in it.
pub(super) fn ensure_venv(
    venv: &Path,
    python: &str,
    import: &str,
    packages: &[&str],
) -> Result<PathBuf, Error> {
    let venv_python = venv.join("bin").join("python");
    let ready = venv_python.exists()
        && Command::new(&venv_python)
            .args(["-c", import])
            .output()
            .is_ok_and(|o| o.status.success());
    if ready {
        return Ok(venv_python);
    }
    eprintln!(
        "installing {} into {}...",
        packages.join(" "),
        venv.display()
    );
    if !venv_python.exists() {
        let status = Command::new(python)
            .args(["-m", "venv"])
            .arg(venv)
            .status()
            .map_err(|e| Error::invalid_input(format!("cannot run {python}: {e}")))?;
        if !status.success() {
            return Err(Error::invalid_input(format!(
                "`{python} -m venv {}` failed",
                venv.display()
            )));
        }
    }
    let status = Command::new(&venv_python)
        .args(["-m", "pip", "install", "--quiet"])
        .args(packages)
        .status()
        .map_err(|e| Error::invalid_input(format!("cannot run pip: {e}")))?;
    if !status.success() {
        return Err(Error::invalid_input(format!(
            "pip install {} failed",
            packages.join(" ")
        )));
    }
    Ok(venv_python)
}

/// `scripts/bench/{name}`, found from the working directory (the repository root) or next to this
/// crate's sources.
pub(super) fn find_script(name: &str) -> Result<PathBuf, Error> {
    let candidates = [
        Path::new("scripts/bench").join(name),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts/bench")
            .join(name),
    ];
    candidates
        .iter()
        .find(|path| path.exists())
        .cloned()
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "scripts/bench/{name} not found: run from the repository root"
            ))
        })
}

/// Runs `python script args...` and returns its stdout; a failure is an error carrying its stderr.
pub(super) fn run_script<I, S>(python: &Path, script: &Path, args: I) -> Result<String, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .map_err(|e| Error::invalid_input(format!("cannot run {}: {e}", python.display())))?;
    if !output.status.success() {
        return Err(Error::invalid_input(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
