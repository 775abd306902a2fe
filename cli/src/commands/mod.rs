//! One module per subcommand. Each returns the exit code of a command that
//! ran, or the error of one that did not.

mod delete;
mod exec;
mod kill;
mod list;
mod run;
mod state;

use crate::args::{Cli, Command};
use crate::error::CliError;
use crate::state::StateRoot;

/// Runs the subcommand `cli` names.
pub(crate) fn dispatch(cli: Cli) -> Result<u8, CliError> {
    let states = StateRoot::new(&cli.state_root());
    match cli.command {
        Command::Run(args) => run::run(&states, args),
        Command::Exec(args) => exec::exec(&states, args),
        Command::List(args) => list::list(&states, args.format).map(|()| 0),
        Command::State(args) => state::state(&states, &args.id).map(|()| 0),
        Command::Kill(args) => kill::kill(&states, &args.id, args.signal).map(|()| 0),
        Command::Delete(args) => delete::delete(&states, &args.id, args.force).map(|()| 0),
    }
}
