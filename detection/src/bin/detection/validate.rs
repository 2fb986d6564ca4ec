//! `detection validate`: placeholder until the command lands.

use std::process::ExitCode;

/// Arguments of `detection validate`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`detection validate` is not built yet")
}
