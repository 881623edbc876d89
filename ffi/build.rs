//! Compiles the cxx bridge's C++ side (into this crate's rlib and staticlib) and gives the shared
//! library its SONAME.
//!
//! The C header is not generated here: `cbindgen` is run by hand (and checked by
//! `scripts/test-ffi.sh` with `--verify`), see `ffi/cbindgen.toml`.

fn main() {
    cxx_build::bridge("src/bridge.rs")
        .include("../include")
        .std("c++17")
        .compile("logsentinel-ffi-cxx");
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        // Programs linked against the .so record this name (not the path they were linked with).
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,liblogsentinel_ffi.so");
    }
    println!("cargo:rerun-if-changed=src/bridge.rs");
    println!("cargo:rerun-if-changed=../include/logsentinel/cxx_shim.h");
}
