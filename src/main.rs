//! The `plantsync` binary: parse the command line and hand it to [`plantsync::app`].

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    plantsync::app::main(plantsync::cli::Cli::parse())
}
