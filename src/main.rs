//! The `plantsync` binary: parse the command line and hand it to [`plantsync::main`].

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    plantsync::main(plantsync::Cli::parse())
}
