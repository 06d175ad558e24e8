//! A host's statistics, asked of its agent.

use super::{App, AppError, Result};
use oxvirt_types::HostId;

impl App {
    /// The host's current statistics, asked of its agent. A host whose agent does not answer
    /// is a conflict with the host's state (409), not an engine failure.
    pub async fn host_stats(&self, id: HostId) -> Result<oxvirt_agent_api::v1::HostStats> {
        let host = self.store.host_get(id).await?;
        let client = self.agent_for(&host)?;
        client.host_stats().await.map_err(|e| match e {
            oxvirt_agent_client::AgentClientError::Unreachable { .. } => AppError::Conflict(format!(
                "host {} ({}) is not reachable, so its statistics are unknown: {e}; check that its agent runs",
                host.name, host.status
            )),
            other => other.into(),
        })
    }
}
