//! A launcher process of its own, for the test of device programs shared
//! between processes: it shares them through REGISTRY, as `cradle` shares
//! them through its state root; makes the cgroup NAME in the cgroup2 tree
//! alone, below its own cgroup, with the container's default device rules
//! (`--allow-all`: with one more rule that allows everything;
//! `--other-minor`: with `/dev/full`'s rule for 1:4 instead of 1:7, a
//! program as long as the default one with other instructions); prints
//! `programs: ` and the ids of the device programs attached to it; with
//! `--hold`, keeps it until its stdin ends; and removes it.
//!
//! Usage: `cradle-test-device-program REGISTRY NAME [--allow-all]
//! [--other-minor] [--hold]`

#![forbid(unsafe_code)]

use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;

use cradle_linux::cgroup::{self, Cgroup, CgroupConfig, DeviceRule, Layout, Resources, Version};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [registry, name, flags @ ..] = &args[..] else {
        panic!("usage: cradle-test-device-program REGISTRY NAME [--allow-all] [--other-minor] [--hold]");
    };
    let registry = registry.clone();
    cgroup::share_device_programs(move || File::open(&registry).ok().map(OwnedFd::from));
    let mut rules = DeviceRule::container_default();
    if flags.iter().any(|flag| flag == "--other-minor") {
        let full = rules
            .iter_mut()
            .find(|rule| rule.major == Some(1) && rule.minor == Some(7))
            .expect("the default rules allow /dev/full");
        full.minor = Some(4);
    }
    if flags.iter().any(|flag| flag == "--allow-all") {
        rules.push(cradle_tests::linux::allow_every_device());
    }
    let config = CgroupConfig {
        name: name.clone(),
        resources: Resources {
            devices: Some(rules),
            ..Resources::default()
        },
        ..CgroupConfig::default()
    };
    let unified = Layout::detect().expect("detect the cgroups").only(Version::V2);
    let cgroup = Cgroup::create_in(&unified, &config).expect("create the cgroup");
    let programs = cgroup.device_programs();
    match &programs {
        Ok(ids) => println!(
            "programs: {}",
            ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        ),
        Err(error) => eprintln!("device programs of {name}: {error}"),
    }
    if flags.iter().any(|flag| flag == "--hold") {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    }
    cgroup.destroy().expect("remove the cgroup");
    std::process::exit(if programs.is_ok() { 0 } else { 1 });
}
