//! Links `cradle-test-init-static`, the root suites' init binary built as
//! a static PIE where the toolchain can (as `cli/build.rs` links
//! `cradle-init`): a process cloned into a running container joins it
//! before its `exec` of a static init binary, after the `exec` of a
//! dynamic one (`cradle-test-init`), and the suites run both.
//! `CRADLE_TEST_STATIC_INIT` tells them whether it is static (`1`).

#[path = "../tools/static_pie.rs"]
mod static_pie;

use static_pie::Toolchain;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../tools/static_pie.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let linked = match static_pie::toolchain() {
        Toolchain::AllStatic => true,
        Toolchain::AsItIs => false,
        // It links cradle-linux, and with it libseccomp.
        Toolchain::Gnu { unwinder } => {
            let init = ["cradle-test-init-static"];
            !static_pie::link_static(&init, &init, unwinder).is_empty()
        }
    };
    println!("cargo:rustc-env=CRADLE_TEST_STATIC_INIT={}", u8::from(linked));
}
