//! The OCI bundle that cradle, runc and crun all run: `crun spec`'s
//! config (`runc spec`'s without crun), adapted to the benchmark, over the
//! shared busybox rootfs.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::error::BenchError;
use super::sample::output;

/// The config, before each bundle's command and cgroup are filled in.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    config: Value,
    /// What made it and how it was changed, for the report.
    pub(crate) notes: Vec<String>,
}

impl Spec {
    /// `crun spec` (else `runc spec`) run in `scratch`, adapted: no
    /// terminal, `rootfs` as the root, the namespaces of the other rows
    /// (pid, network, ipc, uts, mount).
    pub(crate) fn generate(scratch: &Path, rootfs: &Path) -> Result<Spec, BenchError> {
        fs::create_dir_all(scratch).map_err(BenchError::io(scratch))?;
        let path = scratch.join("config.json");
        let mut made = Err(BenchError::Json {
            document: "spec".to_owned(),
            path: "",
            reason: "neither crun nor runc is installed (apt-get install crun runc)".to_owned(),
        });
        for runtime in ["crun", "runc"] {
            let _ = fs::remove_file(&path);
            made = output(Command::new(runtime).arg("spec").current_dir(scratch)).map(|_| runtime);
            if made.is_ok() {
                break;
            }
        }
        let origin = made?;
        let text = fs::read_to_string(&path).map_err(BenchError::io(&path))?;
        let mut config: Value = serde_json::from_str(&text).map_err(|e| BenchError::Json {
            document: path.display().to_string(),
            path: "",
            reason: e.to_string(),
        })?;
        let not_object = |path: &'static str| BenchError::Json {
            document: format!("`{origin} spec`"),
            path,
            reason: "missing or not an object".to_owned(),
        };
        let process = config
            .get_mut("process")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| not_object("process"))?;
        process.insert("terminal".to_owned(), false.into());
        config["root"] = json!({ "path": rootfs, "readonly": true });
        config
            .get_mut("linux")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| not_object("linux"))?
            .insert(
                "namespaces".to_owned(),
                json!([{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]),
            );
        let note = format!(
            "`{origin} spec`, with no terminal, the busybox rootfs (read-only), the namespaces \
             pid, network, ipc, uts, mount"
        );
        Ok(Spec {
            config,
            notes: vec![note],
        })
    }

    /// Whether the config has device cgroup rules.
    pub(crate) fn has_device_rules(&self) -> bool {
        self.config["linux"]["resources"]["devices"]
            .as_array()
            .is_some_and(|rules| !rules.is_empty())
    }

    /// The config without `linux.resources.devices`, and why.
    pub(crate) fn without_device_rules(&self, why: String) -> Spec {
        let mut spec = self.clone();
        if let Some(resources) = spec.config["linux"]["resources"].as_object_mut() {
            resources.remove("devices");
        }
        spec.notes.push(why);
        spec
    }

    /// The bundle `dir`: this config running `args` in the cgroup
    /// `cgroups_path` (relative: below the runtime's own cgroup).
    pub(crate) fn write(&self, dir: &Path, args: &[&str], cgroups_path: &str) -> Result<PathBuf, BenchError> {
        let mut config = self.config.clone();
        config["process"]["args"] = json!(args);
        config["linux"]["cgroupsPath"] = cgroups_path.into();
        fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
        let path = dir.join("config.json");
        fs::write(&path, config.to_string()).map_err(BenchError::io(&path))?;
        Ok(dir.to_path_buf())
    }
}
