//! `detection run`: placeholder until the command lands.

use std::process::ExitCode;

/// Arguments of `detection run`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`detection run` is not built yet")
}
