//! `cargo xtask fetch`: placeholder until the task lands.

/// Arguments of `cargo xtask fetch`.
#[derive(clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: &Args) -> anyhow::Result<()> {
    anyhow::bail!("`cargo xtask fetch` is not built yet")
}
