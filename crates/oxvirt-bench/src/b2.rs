//! stub
use crate::Options;
use crate::machine::Machine;
use crate::report::Report;

pub async fn run(_opts: &Options, _machine: &mut Machine) -> anyhow::Result<Report> {
    anyhow::bail!("not yet")
}
