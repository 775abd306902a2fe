//! `cradle`: run processes in Linux containers from the command line.
//!
//! The program is its own init binary: [`cradle_linux::init`] runs first
//! thing in `main`, and in a container's init process it never returns.
#![forbid(unsafe_code)]

mod args;
mod bundle;
mod commands;
mod config;
mod confinement;
mod console;
mod crash;
mod device_programs;
mod error;
mod escape;
mod exit;
mod held;
mod hooks;
mod init_binary;
mod log_json;
mod parse;
mod proof;
mod seccomp_cache;
mod shared_mounts;
mod signals;
mod state;
mod state_fs;
mod supervise;
mod teardown;
mod timings;
mod tty;
mod usage;

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::error::ErrorKind;
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, LogFormat};

/// A start allocates much and briefly: see `dlmalloc` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

fn main() -> ExitCode {
    // In a container's init (cradle is its own init binary) this is never
    // reached: cradle-linux takes the init's role before `main`.
    timings::process_started();
    let cli = match parse::parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    init_logging(&cli);
    let oci = cli.command.is_oci();
    // An engine reads a failed command's error from the log file.
    let logs_to_file = cli.globals.log.is_some();
    match commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            if logs_to_file {
                tracing::error!("{error}");
            }
            let _ = writeln!(std::io::stderr(), "cradle: {error}");
            // runc's code for a failed command, which engines expect.
            ExitCode::from(if oci { 1 } else { exit::of_error(&error) })
        }
    }
}

/// `--help` and `--version` as clap prints them; any other parse error on
/// one line, with exit code 125.
fn usage_error(error: &clap::Error) -> ExitCode {
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(
        std::io::stderr(),
        "cradle: {}",
        usage::one_line(error, std::env::args_os())
    );
    ExitCode::from(exit::CRADLE_FAILED)
}

/// Logs go to stderr (or `--log FILE`, appended): warnings by default,
/// more with each `-v` or `--debug`; `RUST_LOG` wins when set. With
/// `--log-format json`, one JSON object per line.
fn init_logging(cli: &Cli) {
    let verbose = if cli.globals.debug {
        cli.globals.verbose.max(2)
    } else {
        cli.globals.verbose
    };
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let file = cli.globals.log.as_ref().and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    });
    let ansi = file.is_none() && std::io::stderr().is_terminal();
    let writer = move || -> Box<dyn std::io::Write> {
        match file.as_ref().and_then(|file| file.try_clone().ok()) {
            Some(file) => Box::new(file),
            None => Box::new(std::io::stderr()),
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false);
    match cli.globals.log_format {
        LogFormat::Json => builder.event_format(log_json::RuncJson).init(),
        LogFormat::Text => builder.init(),
    }
}
