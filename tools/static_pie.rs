//! Linking chosen binaries of a package as static PIEs on linux-gnu, for
//! the build scripts of `cli` (`cradle`, `cradle-init`) and `tests` (a
//! static init binary for the root suites); each includes this file
//! (`#[path]`). See `cli/build.rs` for why, and for how.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// What this build's toolchain can do.
pub(crate) enum Toolchain {
    /// The whole build is static (musl's default, or `crt-static`).
    AllStatic,
    /// Not a native linux-gnu build, or no static unwinder: binaries are
    /// linked as rustc links them.
    AsItIs,
    /// A native linux-gnu build with GCC's static unwinder, this archive.
    Gnu { unwinder: PathBuf },
}

/// What this build's toolchain can do.
pub(crate) fn toolchain() -> Toolchain {
    let target = |key: &str| env::var(key).unwrap_or_default();
    if target("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|feature| feature == "crt-static")
    {
        return Toolchain::AllStatic;
    }
    if target("CARGO_CFG_TARGET_OS") != "linux" || target("CARGO_CFG_TARGET_ENV") != "gnu" {
        return Toolchain::AsItIs;
    }
    // The compiler asked is the host's: a cross build is left as it is.
    if target("TARGET") != target("HOST") {
        return Toolchain::AsItIs;
    }
    match compiler_file("libgcc_eh.a") {
        Some(unwinder) => Toolchain::Gnu { unwinder },
        None => {
            println!("cargo:warning=no libgcc_eh.a: binaries will load libgcc_s.so.1 at every start");
            Toolchain::AsItIs
        }
    }
}

/// Links each of `binaries` as a static PIE where it can (not with
/// `CRADLE_LINK=dynamic`), those in `seccomp_users` only where
/// `libseccomp.a` is too; gives the binaries linked statically.
/// `unwinder`: as [`Toolchain::Gnu`] has it.
pub(crate) fn link_static(
    binaries: &[&'static str],
    seccomp_users: &[&str],
    unwinder: PathBuf,
) -> Vec<&'static str> {
    println!("cargo:rerun-if-env-changed=CRADLE_LINK");
    println!("cargo:rerun-if-env-changed=LIBSECCOMP_LIB_PATH");
    match env::var("CRADLE_LINK").as_deref() {
        Err(_) | Ok("static") => {}
        Ok("dynamic") => return Vec::new(),
        Ok(other) => panic!("CRADLE_LINK is static or dynamic, not {other:?}"),
    }
    let Some(mut scripts) = static_c_library(unwinder.clone()) else {
        println!(
            "cargo:warning=no static C library or GNU ld, or LIBSECCOMP_LIB_PATH set: {} will be linked dynamically",
            binaries.join(" and ")
        );
        return Vec::new();
    };
    // A binary that calls libseccomp would find the shared library
    // without the archive.
    let mut linked = binaries.to_vec();
    if !seccomp_users.is_empty() {
        match compiler_file("libseccomp.a") {
            Some(seccomp) => scripts.push(("libseccomp.so", vec![seccomp])),
            None => {
                println!(
                    "cargo:warning=no libseccomp.a: {} will be linked dynamically",
                    seccomp_users.join(" and ")
                );
                linked.retain(|binary| !seccomp_users.contains(binary));
            }
        }
    }
    // std's `-lgcc_s` too: the shared one needs the shared C library.
    scripts.push(("libgcc_s.so", vec![unwinder]));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let dir = write_scripts(out.join("static"), &scripts);
    for binary in &linked {
        for arg in ["-static-pie", "-fuse-ld=bfd", &format!("-L{}", dir.display())] {
            println!("cargo:rustc-link-arg-bin={binary}={arg}");
        }
    }
    linked
}

/// Writes into `dir` one linker script per (name, archives): each stands
/// in for the shared library of its name and hands the linker the
/// archives. Gives `dir`.
pub(crate) fn write_scripts(dir: PathBuf, scripts: &[(&str, Vec<PathBuf>)]) -> PathBuf {
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
pub(crate) fn compiler_file(name: &str) -> Option<PathBuf> {
    let output = Command::new(compiler())
        .arg(format!("-print-file-name={name}"))
        .output()
        .ok()?;
    // Not found, the compiler prints the bare name back.
    let path = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (path.is_absolute() && path.is_file()).then_some(path)
}
