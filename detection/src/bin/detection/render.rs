//! `detection render`: placeholder until the command lands.

use std::process::ExitCode;

/// Arguments of `detection render`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`detection render` is not built yet")
}
