//! `cargo xtask docs`: placeholder until the task lands.

/// Arguments of `cargo xtask docs`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("`cargo xtask docs` is not built yet")
}
