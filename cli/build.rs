//! Links the unwinder into `cradle` and `cradle-init` instead of loading
//! `libgcc_s.so.1` at every start.
//!
//! On linux-gnu, Rust's std asks the linker for `-lgcc_s`, the shared
//! unwinder. Loading it costs each process about 0.1 ms here, most of it
//! its constructor's `cpuid` probes, each a trap to the hypervisor in a
//! VM; and every container start runs two such processes (`cradle`, then
//! `cradle-init`). GCC's static unwinder, `libgcc_eh.a`, is the same
//! code: a linker script named `libgcc_s.so`, found first on this
//! package's search path, hands the linker that archive instead. Panics
//! unwind and backtraces print as before.
//!
//! Without `libgcc_eh.a` (a toolchain that is not GCC's) nothing changes
//! but the start time, and the build says so.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let target = |key: &str| env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") != "linux" || target("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    // The compiler asked is the host's: a cross build keeps libgcc_s.
    if target("TARGET") != target("HOST") {
        return;
    }
    // A static build links libgcc_eh already.
    if target("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|feature| feature == "crt-static")
    {
        return;
    }
    let Some(archive) = static_unwinder() else {
        println!("cargo:warning=no libgcc_eh.a: cradle will load libgcc_s.so.1 at every start");
        return;
    };
    let dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it")).join("static-unwinder");
    fs::create_dir_all(&dir).expect("create the linker script's directory");
    fs::write(
        dir.join("libgcc_s.so"),
        format!("INPUT(\"{}\")\n", archive.display()),
    )
    .expect("write the linker script");
    println!("cargo:rustc-link-search=native={}", dir.display());
    // A compiler upgrade that moves the archive writes the script again.
    println!("cargo:rerun-if-changed={}", archive.display());
}

/// Where the C compiler (rustc's linker driver) keeps `libgcc_eh.a`.
fn static_unwinder() -> Option<PathBuf> {
    let compiler = env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let output = Command::new(compiler)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    // Not found, the compiler prints the bare name back.
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (path.is_absolute() && path.is_file()).then_some(path)
}
