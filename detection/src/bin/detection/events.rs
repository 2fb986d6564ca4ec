//! `detection events`: placeholder until the command lands.

use std::process::ExitCode;

/// Arguments of `detection events`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`detection events` is not built yet")
}
