//! `cargo xtask test`: placeholder until the task lands.

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("`cargo xtask test` is not built yet")
}
