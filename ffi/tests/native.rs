//! Tests the C and C++ surfaces with real C and C++: compiles the programs under `ffi/tests/c`,
//! `ffi/tests/cpp`, `examples/c` and `examples/cpp` with the system compilers (`cc`, `c++`, or `$CC`,
//! `$CXX`) against the committed headers in `include/` and this build's libraries — the C programs
//! against both the shared and the static library, the C++ ones against the static library (cxx's
//! wrappers are not exported from the shared one) — and runs them on the committed HDFS sample.
//!
//! Environment:
//! - `LS_FFI_VALGRIND=1`: run every program under valgrind (`--leak-check=full --error-exitcode=1`,
//!   with `ffi/tests/valgrind.supp`); `scripts/test-ffi.sh` does, on the release build.
//! - `LS_FFI_NATIVE_STATIC_LIBS`: the system libraries the static library needs (default: the list
//!   rustc printed for this crate on Linux; `scripts/test-ffi.sh` passes the one it just printed).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// What `cargo rustc -p logsentinel-ffi --crate-type staticlib -- --print native-static-libs`
/// printed on x86_64 Linux (glibc).
const DEFAULT_NATIVE_STATIC_LIBS: &str = "-lstdc++ -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc";

#[derive(Clone, Copy, Debug)]
enum Link {
    Shared,
    Static,
}

struct Env {
    repo: PathBuf,
    lib_dir: PathBuf,
    cxxbridge: PathBuf,
    out_dir: PathBuf,
}

fn env() -> Env {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    // The test runs from target/<profile>/deps/, where cargo leaves the library it built for this
    // very test run, in every crate type (only `cargo build` copies them up to target/<profile>/).
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let libs = ["liblogsentinel_ffi.so", "liblogsentinel_ffi.a"];
    let lib_dir = [deps, deps.parent().unwrap()]
        .into_iter()
        .find(|d| libs.iter().all(|l| d.join(l).is_file()))
        .unwrap_or_else(|| panic!("{libs:?} not found in {} or its parent", deps.display()))
        .to_path_buf();
    // cxx-build writes the bridge headers to <target dir>/cxxbridge.
    let cxxbridge = lib_dir
        .ancestors()
        .map(|a| a.join("cxxbridge"))
        .find(|c| c.join("rust/cxx.h").is_file())
        .expect("target/cxxbridge/rust/cxx.h (written by cxx-build)");
    let out_dir = deps.parent().unwrap().join("ffi-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    Env {
        repo,
        lib_dir,
        cxxbridge,
        out_dir,
    }
}

fn compile(env: &Env, src: &str, link: Link) -> PathBuf {
    let src = env.repo.join(src);
    let cpp = src.extension().is_some_and(|e| e == "cpp");
    let stem = src.file_stem().unwrap().to_string_lossy().into_owned();
    let parent = src
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let out = env
        .out_dir
        .join(format!("{parent}-{stem}-{link:?}").to_lowercase());
    let compiler = if cpp {
        std::env::var("CXX").unwrap_or_else(|_| "c++".into())
    } else {
        std::env::var("CC").unwrap_or_else(|_| "cc".into())
    };
    let mut cmd = Command::new(&compiler);
    if cpp {
        cmd.arg("-std=c++17");
    } else {
        cmd.args(["-std=c11", "-pedantic"]);
    }
    cmd.args(["-Wall", "-Wextra", "-Werror", "-g", "-O1", "-pthread"])
        .arg("-I")
        .arg(env.repo.join("include"))
        .arg("-I")
        .arg(&env.cxxbridge)
        .arg(&src)
        .arg("-o")
        .arg(&out);
    match link {
        Link::Shared => {
            cmd.arg("-L")
                .arg(&env.lib_dir)
                .arg("-llogsentinel_ffi")
                .arg(format!("-Wl,-rpath,{}", env.lib_dir.display()));
        }
        Link::Static => {
            cmd.arg(env.lib_dir.join("liblogsentinel_ffi.a"));
            let libs = std::env::var("LS_FFI_NATIVE_STATIC_LIBS")
                .unwrap_or_else(|_| DEFAULT_NATIVE_STATIC_LIBS.into());
            cmd.args(libs.split_whitespace());
        }
    }
    let output = cmd.output().unwrap_or_else(|e| panic!("{compiler}: {e}"));
    assert!(
        output.status.success(),
        "compiling {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// Runs `bin` with `args` (under valgrind when asked); returns its stdout.
fn run(env: &Env, bin: &Path, args: &[&Path]) -> String {
    let valgrind = std::env::var("LS_FFI_VALGRIND").is_ok_and(|v| v == "1");
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--error-exitcode=1",
            "--leak-check=full",
            "--show-leak-kinds=definite,possible",
            "--errors-for-leak-kinds=definite,possible",
            "--track-origins=no",
            "--num-callers=40",
        ])
        .arg(format!(
            "--suppressions={}",
            env.repo.join("ffi/tests/valgrind.supp").display()
        ))
        .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    // One training thread and a small rayon pool keep valgrind runs short and deterministic.
    cmd.args(args)
        .current_dir(&env.repo)
        .env("RAYON_NUM_THREADS", "2");
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        bin.display(),
        output.status
    );
    if valgrind {
        // Summaries for the log of scripts/test-ffi.sh.
        for l in stderr
            .lines()
            .filter(|l| l.contains("ERROR SUMMARY") || l.contains("lost:"))
        {
            eprintln!("{}: {l}", bin.file_name().unwrap().to_string_lossy());
        }
    }
    stdout
}

fn hdfs(env: &Env) -> PathBuf {
    env.repo.join("tests/fixtures/hdfs/hdfs_dev_20k.log")
}

fn c_program(src: &str, link: Link, with_log: bool, expect: &str) {
    let env = env();
    let bin = compile(&env, src, link);
    let storage = tempfile::tempdir().unwrap();
    let log = hdfs(&env);
    let mut args: Vec<&Path> = vec![storage.path()];
    if with_log {
        args.push(&log);
    }
    let out = run(&env, &bin, &args);
    assert!(out.contains(expect), "{out}");
}

#[test]
fn c_errors_shared() {
    c_program(
        "ffi/tests/c/test_errors.c",
        Link::Shared,
        false,
        "test_errors: ok",
    );
}

#[test]
fn c_errors_static() {
    c_program(
        "ffi/tests/c/test_errors.c",
        Link::Static,
        false,
        "test_errors: ok",
    );
}

#[test]
fn c_lifecycle_shared() {
    c_program(
        "ffi/tests/c/test_lifecycle.c",
        Link::Shared,
        true,
        "test_lifecycle: ok",
    );
}

#[test]
fn c_lifecycle_static() {
    c_program(
        "ffi/tests/c/test_lifecycle.c",
        Link::Static,
        true,
        "test_lifecycle: ok",
    );
}

#[test]
fn c_threads_shared() {
    c_program(
        "ffi/tests/c/test_threads.c",
        Link::Shared,
        true,
        "test_threads: ok",
    );
}

#[test]
fn c_threads_static() {
    c_program(
        "ffi/tests/c/test_threads.c",
        Link::Static,
        true,
        "test_threads: ok",
    );
}

#[test]
fn c_incidents_shared() {
    c_program(
        "ffi/tests/c/test_incidents.c",
        Link::Shared,
        false,
        "test_incidents: ok",
    );
}

#[test]
fn c_incidents_static() {
    c_program(
        "ffi/tests/c/test_incidents.c",
        Link::Static,
        false,
        "test_incidents: ok",
    );
}

#[test]
fn cpp_static() {
    c_program(
        "ffi/tests/cpp/test_cpp.cpp",
        Link::Static,
        true,
        "test_cpp: ok",
    );
}

fn example(src: &str, link: Link, expect: &str) {
    let env = env();
    let bin = compile(&env, src, link);
    let storage = tempfile::tempdir().unwrap();
    let dir = storage.path().join("data");
    let log = hdfs(&env);
    let out = run(&env, &bin, &[&log, &dir, Path::new("300")]);
    assert!(out.contains(expect), "{out}");
}

#[test]
fn example_c_quickstart_shared() {
    example("examples/c/quickstart.c", Link::Shared, "300 lines, ");
}

#[test]
fn example_c_quickstart_static() {
    example("examples/c/quickstart.c", Link::Static, "300 lines, ");
}

#[test]
fn example_cpp_quickstart_static() {
    example(
        "examples/cpp/quickstart.cpp",
        Link::Static,
        "error kind INVALID_API_KEY",
    );
}

/// The shared library exports exactly the `ls_` functions the header declares, and none of cxx's C++
/// wrappers (only their Rust-side `...cxxbridge1$...` halves, which are unusable on their own): C++
/// programs link the static library.
#[test]
fn shared_library_exports_match_the_header() {
    let env = env();
    let header = std::fs::read_to_string(env.repo.join("include/logsentinel.h")).unwrap();
    let mut declared: Vec<String> = header
        .lines()
        .filter_map(|l| {
            let l = l.trim_start();
            if l.starts_with('*') || l.starts_with('/') || l.starts_with("typedef") {
                return None;
            }
            let before = &l[..l.find('(')?];
            let name = before
                .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()?;
            name.starts_with("ls_").then(|| name.to_string())
        })
        .collect();
    declared.sort();
    declared.dedup();
    let nm = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(env.lib_dir.join("liblogsentinel_ffi.so"))
        .output()
        .unwrap();
    assert!(nm.status.success());
    let mut exported: Vec<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| s.starts_with("ls_"))
        .map(str::to_string)
        .collect();
    exported.sort();
    assert_eq!(declared, exported);
    assert!(declared.len() >= 35, "{declared:?}");
    let all = String::from_utf8_lossy(&nm.stdout);
    assert!(!all.contains("_ZN11logsentinel"), "C++ wrappers exported");
    assert!(all
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .all(|s| s.starts_with("ls_") || s.contains("cxxbridge1$")));
}
