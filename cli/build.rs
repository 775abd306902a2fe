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

#[path = "../tools/static_pie.rs"]
mod static_pie;

use std::env;

use static_pie::Toolchain;

/// The binaries this build links, in the order a start runs them.
const BINARIES: [&str; 2] = ["cradle", "cradle-init"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../tools/static_pie.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rustc-env=CRADLE_STATIC_BINARIES={}", link().join(" "));
}

/// Links the static unwinder into both binaries and, where it can, each
/// as a static PIE; gives the binaries linked statically.
fn link() -> Vec<&'static str> {
    let unwinder = match static_pie::toolchain() {
        // Everything is linked statically already.
        Toolchain::AllStatic => return BINARIES.to_vec(),
        Toolchain::AsItIs => return Vec::new(),
        Toolchain::Gnu { unwinder } => unwinder,
    };
    let out = std::path::PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let dir = static_pie::write_scripts(
        out.join("static-unwinder"),
        &[("libgcc_s.so", vec![unwinder.clone()])],
    );
    println!("cargo:rustc-link-search=native={}", dir.display());
    // Only cradle calls libseccomp (the parent compiles the filters).
    static_pie::link_static(&BINARIES, &["cradle"], unwinder)
}
