//! One module per subcommand. Each returns the exit code of a command that
//! ran, or the error of one that did not.

mod create;
mod delete;
mod exec;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;

use crate::args::{Cli, Command};
use crate::error::CliError;
use crate::state::StateRoot;

/// Runs the subcommand `cli` names.
pub(crate) fn dispatch(cli: Cli) -> Result<u8, CliError> {
    if cli.globals.systemd_cgroup {
        return Err(CliError::Usage(
            "--systemd-cgroup: not supported (cradle manages cgroups through the filesystem)".to_owned(),
        ));
    }
    let states = StateRoot::new(&cli.state_root());
    match cli.command {
        Command::Run(args) => run::run(&states, args),
        Command::Exec(args) => exec::exec(&states, args),
        Command::List(args) => list::list(&states, args.format).map(|()| 0),
        Command::State(args) => state::state(&states, &args.id).map(|()| 0),
        Command::Kill(args) => kill::kill(&states, &args.id, args.signal, args.all).map(|()| 0),
        Command::Delete(args) => delete::delete(&states, &args.id, args.force).map(|()| 0),
        Command::Create(args) => create::create(&states, &args).map(|()| 0),
        Command::Start(args) => start::start(&states, &args.id).map(|()| 0),
        Command::Pause(args) => pause::pause(&states, &args.id, true).map(|()| 0),
        Command::Resume(args) => pause::pause(&states, &args.id, false).map(|()| 0),
        Command::Ps(args) => ps::ps(&states, &args.id, args.format).map(|()| 0),
        Command::Features => spec::features().map(|()| 0),
        Command::Spec(args) => spec::spec(&args.bundle).map(|()| 0),
    }
}
