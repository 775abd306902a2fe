//! Links `cradle` and `cradle-init` for a quick start: statically where
//! the C toolchain can, and with GCC's static unwinder where it cannot.
//!
//! Every container start runs `cradle`, then `cradle-init` (an exec's
//! helper too). A static PIE has no dynamic loader to run and no shared
//! library to map and bind: here `cradle-init` `exec`s and exits in 0.56
//! ms against 0.74, and a `cradle run` takes 0.6 ms less with both static.
//! Cargo makes binaries static only for a whole build with `--target`
//! (`crt-static`), so each binary's own link asks for it: `-static-pie`;
//! linker scripts named `libc.so`, `libm.so` and `libseccomp.so` on that
//! link's search path that hand the linker the archives (rustc puts
//! `-Bdynamic` before its `-lc`, which would otherwise find the shared
//! libraries; libpthread, libdl, librt and libutil the same, for a glibc
//! older than 2.34); and GNU ld, because rust-lld's static PIE crashes at start
//! on an unrelocated `__gmon_start__`. `cradle` calls libseccomp, so it is
//! static only where `libseccomp.a` is (Debian's libseccomp-dev has it).
//! `CRADLE_LINK=dynamic` keeps both dynamic, for a distribution that
//! wants its C library's updates to reach them. `CRADLE_STATIC_BINARIES`
//! tells the tests which binaries are static.
//!
//! A dynamic binary still gets the unwinder linked in: on linux-gnu
//! Rust's std asks for `-lgcc_s`, whose loading costs a process about 0.1
//! ms here, most of it its constructor's `cpuid` probes, each a trap to
//! the hypervisor in a VM. A linker script named `libgcc_s.so`, found
//! first on this package's search path, hands the linker GCC's static
//! unwinder, `libgcc_eh.a`, the same code. Panics unwind and backtraces
//! print as before.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// The binaries this build links, in the order a start runs them.
const BINARIES: [&str; 2] = ["cradle", "cradle-init"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=CRADLE_LINK");
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_LIB_PATH");
    println!("cargo:rustc-env=CRADLE_STATIC_BINARIES={}", link().join(" "));
}

/// Links the static unwinder into both binaries and, where it can, each
/// as a static PIE; gives the binaries linked statically.
fn link() -> Vec<&'static str> {
    let target = |key: &str| env::var(key).unwrap_or_default();
    // A static build (musl's default, or crt-static) links everything
    // statically already.
    if target("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|feature| feature == "crt-static")
    {
        return BINARIES.to_vec();
    }
    if target("CARGO_CFG_TARGET_OS") != "linux" || target("CARGO_CFG_TARGET_ENV") != "gnu" {
        return Vec::new();
    }
    // The compiler asked is the host's: a cross build is left as it is.
    if target("TARGET") != target("HOST") {
        return Vec::new();
    }
    let Some(unwinder) = compiler_file("libgcc_eh.a") else {
        println!("cargo:warning=no libgcc_eh.a: cradle will load libgcc_s.so.1 at every start");
        return Vec::new();
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let dir = write_scripts(
        out.join("static-unwinder"),
        &[("libgcc_s.so", vec![unwinder.clone()])],
    );
    println!("cargo:rustc-link-search=native={}", dir.display());

    match env::var("CRADLE_LINK").as_deref() {
        Err(_) | Ok("static") => {}
        Ok("dynamic") => return Vec::new(),
        Ok(other) => panic!("CRADLE_LINK is static or dynamic, not {other:?}"),
    }
    let Some(mut scripts) = static_c_library(unwinder) else {
        println!(
            "cargo:warning=no static C library or GNU ld, or LIBSECCOMP_LIB_PATH set: cradle and cradle-init will be linked dynamically"
        );
        return Vec::new();
    };
    // Only cradle calls libseccomp (the parent compiles the filters);
    // without the archive, its link would find the shared library.
    let binaries = match compiler_file("libseccomp.a") {
        Some(seccomp) => {
            scripts.push(("libseccomp.so", vec![seccomp]));
            BINARIES.to_vec()
        }
        None => {
            println!("cargo:warning=no libseccomp.a: cradle will be linked dynamically");
            vec!["cradle-init"]
        }
    };
    let dir = write_scripts(out.join("static"), &scripts);
    for binary in &binaries {
        for arg in ["-static-pie", "-fuse-ld=bfd", &format!("-L{}", dir.display())] {
            println!("cargo:rustc-link-arg-bin={binary}={arg}");
        }
    }
    binaries
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

/// The linker scripts that stand in for the shared C library, each named
/// for the library it replaces, with the archives it names; `None` when
/// the toolchain cannot link a static PIE with GNU ld.
fn static_c_library(unwinder: PathBuf) -> Option<Vec<(&'static str, Vec<PathBuf>)>> {
    // The static PIE's start file, and GNU ld behind the compiler.
    compiler_file("rcrt1.o")?;
    let bfd = Command::new(compiler())
        .args(["-fuse-ld=bfd", "-Wl,--version"])
        .output()
        .ok()?;
    if !bfd.status.success() {
        return None;
    }
    // A search path of a dependency's build script comes before this
    // link's own: one given for libseccomp could hold the shared C library.
    if env::var_os("LIBSECCOMP_LIB_PATH").is_some() {
        return None;
    }
    let mut scripts = vec![(
        "libc.so",
        vec![compiler_file("libc.a")?, unwinder, compiler_file("libgcc.a")?],
    )];
    // The rest of what std links. Since glibc 2.34 all but libm are empty
    // archives; before, each is a shared library of its own too.
    for (shared, archive) in [
        ("libm.so", "libm.a"),
        ("libpthread.so", "libpthread.a"),
        ("libdl.so", "libdl.a"),
        ("librt.so", "librt.a"),
        ("libutil.so", "libutil.a"),
    ] {
        scripts.push((shared, vec![compiler_file(archive)?]));
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
