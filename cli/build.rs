//! Links the unwinder into `cradle` and `cradle-init` instead of loading
//! `libgcc_s.so.1` at every start, and links `cradle-init` statically.
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
//! `cradle-init` runs once at every container start (and every exec), so
//! it is a static PIE when the C toolchain has what that takes: no
//! dynamic loader, no shared library, 0.55 ms to `exec` and exit here
//! against 0.74. Cargo makes binaries static only for a whole build with
//! `--target` (`crt-static`), so the link of this one binary asks for it:
//! `-static-pie`, with linker scripts named `libc.so`, `libm.so` and
//! `libseccomp.so` on its own search path that hand the linker the
//! archives (rustc's `-Bdynamic` before its `-lc` would otherwise find the
//! shared libraries), and GNU ld, because rust-lld's static PIE crashes at
//! start on an unrelocated `__gmon_start__`. `CRADLE_INIT_LINK` tells the
//! tests which link it got.
//!
//! Without `libgcc_eh.a` (a toolchain that is not GCC's) or the static
//! C library, nothing changes but the start time, and the build says so.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rustc-env=CRADLE_INIT_LINK={}", link());
}

/// Links the static unwinder into both binaries and, where it can,
/// `cradle-init` as a static PIE; gives the init's link.
fn link() -> &'static str {
    let target = |key: &str| env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_OS") != "linux" || target("CARGO_CFG_TARGET_ENV") != "gnu" {
        return "dynamic";
    }
    // A static build links everything statically already.
    if target("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|feature| feature == "crt-static")
    {
        return "static";
    }
    // The compiler asked is the host's: a cross build is left as it is.
    if target("TARGET") != target("HOST") {
        return "dynamic";
    }
    let Some(unwinder) = static_unwinder() else {
        println!("cargo:warning=no libgcc_eh.a: cradle will load libgcc_s.so.1 at every start");
        return "dynamic";
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let dir = write_scripts(
        out.join("static-unwinder"),
        &[("libgcc_s.so", vec![unwinder.clone()])],
    );
    println!("cargo:rustc-link-search=native={}", dir.display());

    let Some(scripts) = static_libraries(unwinder) else {
        println!("cargo:warning=no static C library or GNU ld: cradle-init will be linked dynamically");
        return "dynamic";
    };
    let dir = write_scripts(out.join("static-init"), &scripts);
    // Only this binary's link: cradle keeps the shared libraries.
    for arg in ["-static-pie", "-fuse-ld=bfd", &format!("-L{}", dir.display())] {
        println!("cargo:rustc-link-arg-bin=cradle-init={arg}");
    }
    "static"
}

/// Writes into `dir` one linker script per (name, archives): each stands
/// in for the shared library of its name and hands the linker the
/// archives. Gives `dir`.
fn write_scripts(dir: PathBuf, scripts: &[(&str, Vec<PathBuf>)]) -> PathBuf {
    fs::create_dir_all(&dir).expect("create the linker scripts' directory");
    for (name, archives) in scripts {
        let inputs: Vec<String> = archives
            .iter()
            .map(|archive| {
                // A compiler upgrade that moves an archive writes the script again.
                println!("cargo:rerun-if-changed={}", archive.display());
                format!("\"{}\"", archive.display())
            })
            .collect();
        // GROUP: the C library and libgcc call each other.
        fs::write(dir.join(name), format!("GROUP({})\n", inputs.join(" "))).expect("write a linker script");
    }
    dir
}

/// Where the C compiler (rustc's linker driver) keeps `libgcc_eh.a`.
fn static_unwinder() -> Option<PathBuf> {
    compiler_file("libgcc_eh.a")
}

/// The linker scripts a static link of `cradle-init` needs, each named
/// for the shared library it stands in for, with the archives it names;
/// `None` when the toolchain cannot link a static PIE with GNU ld.
fn static_libraries(unwinder: PathBuf) -> Option<Vec<(&'static str, Vec<PathBuf>)>> {
    // The static PIE's start file, and GNU ld behind the compiler.
    compiler_file("rcrt1.o")?;
    let bfd = Command::new(compiler())
        .args(["-fuse-ld=bfd", "-Wl,--version"])
        .output()
        .ok()?;
    if !bfd.status.success() {
        return None;
    }
    let mut scripts = vec![
        (
            "libc.so",
            vec![compiler_file("libc.a")?, unwinder, compiler_file("libgcc.a")?],
        ),
        ("libm.so", vec![compiler_file("libm.a")?]),
    ];
    // Linked into cradle-linux for the parent's filter compiler; the init
    // never calls it, but were it to, the archive keeps the binary static.
    if let Some(seccomp) = compiler_file("libseccomp.a") {
        scripts.push(("libseccomp.so", vec![seccomp]));
    }
    Some(scripts)
}

/// The C compiler that rustc links with.
fn compiler() -> String {
    env::var("CC").unwrap_or_else(|_| "cc".to_owned())
}

/// Where the C compiler finds `name` (a library or start file).
fn compiler_file(name: &str) -> Option<PathBuf> {
    let output = Command::new(compiler())
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    // Not found, the compiler prints the bare name back.
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (path.is_absolute() && path.is_file()).then_some(path)
}
