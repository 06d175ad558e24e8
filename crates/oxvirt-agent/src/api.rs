//! The real agent behind the agent API (contract: `oxvirt-agent-api`; routes, bodies, the
//! gate and the event stream: `oxvirt-agent-server`). Each route calls the layer below;
//! errors of every module become an [`ApiFailure`] here, in one place.

use crate::Agent;
use axum::Router;
use oxvirt_agent_api::v1::{self, VmAction, VmActionRequest};
use oxvirt_agent_server::registry::VmRegistry;
use oxvirt_agent_server::tls::AgentIdentity;
use oxvirt_agent_server::{AgentBackend, ApiFailure, ApiResult};
use oxvirt_types::{ByteSize, ErrorKind, StorageDomainId, VmId};
use std::sync::Arc;
use std::time::Duration;

/// How often an idle event stream carries a heartbeat line.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

macro_rules! failure_from {
    ($($ty:ty),+) => {$(
        impl From<$ty> for ApiFailure {
            fn from(e: $ty) -> Self {
                Self::new(e.kind(), e.to_string())
            }
        }
    )+};
}
failure_from!(crate::vms::VmError, crate::storage::StorageError, crate::AgentError);

/// The agent API of this host.
pub fn router(agent: Arc<Agent>) -> Router {
    oxvirt_agent_server::router(agent)
}

impl AgentBackend for Agent {
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_owned()
    }

    fn identity(&self) -> &Arc<AgentIdentity> {
        &self.identity
    }

    fn hostname(&self) -> &str {
        &self.hostname
    }

    fn registry(&self) -> &Arc<VmRegistry> {
        self.vms.registry()
    }

    fn heartbeat(&self) -> Duration {
        HEARTBEAT_EVERY
    }

    async fn capabilities(&self) -> ApiResult<v1::Capabilities> {
        Ok(Agent::capabilities(self).await?)
    }

    async fn vm_list(&self) -> ApiResult<v1::VmStateList> {
        Ok(self.vms.vm_list().await?)
    }

    async fn vm_create(&self, spec: v1::VmSpec) -> ApiResult<v1::VmState> {
        Ok(self.vms.vm_create(spec).await?)
    }

    fn vm_get(&self, vm: VmId) -> ApiResult<v1::VmState> {
        Ok(self.vms.vm_get(vm)?)
    }

    async fn vm_action(self: &Arc<Self>, vm: VmId, action: VmAction, req: VmActionRequest) -> ApiResult<v1::VmState> {
        Ok(self.vms.vm_action(vm, action, req).await?)
    }

    async fn vm_console(&self, vm: VmId, tail_bytes: u64) -> ApiResult<v1::ConsoleTail> {
        Ok(self.vms.console_tail(vm, tail_bytes).await?)
    }

    fn vm_stats(&self, vm: VmId) -> ApiResult<v1::VmStats> {
        self.vms.vm_get(vm)?;
        self.stats.vm(vm).ok_or_else(|| {
            ApiFailure::new(
                ErrorKind::NotFound,
                format!("no statistics sampled yet for VM {vm}; they come every stats interval"),
            )
        })
    }

    fn vm_stats_all(&self) -> Vec<v1::VmStats> {
        self.stats.vms()
    }

    fn host_stats(&self) -> ApiResult<v1::HostStats> {
        self.stats.host().ok_or_else(|| ApiFailure::new(ErrorKind::Unavailable, "host statistics are not sampled yet"))
    }

    async fn storage_domain_list(&self) -> ApiResult<Vec<v1::StorageDomainInfo>> {
        let mut out = Vec::new();
        for sd in self.storage.domain_ids() {
            out.push(self.storage.domain_info(sd).await?);
        }
        Ok(out)
    }

    async fn storage_domain_create(&self, req: v1::StorageDomainCreate) -> ApiResult<v1::StorageDomainInfo> {
        Ok(self.storage.domain_create(&req).await?)
    }

    async fn storage_domain_info(&self, sd: StorageDomainId) -> ApiResult<v1::StorageDomainInfo> {
        Ok(self.storage.domain_info(sd).await?)
    }

    async fn storage_domain_attach(
        &self,
        sd: StorageDomainId,
        conn: v1::StorageDomainConnection,
    ) -> ApiResult<v1::StorageDomainInfo> {
        Ok(self.storage.domain_attach(sd, &conn).await?)
    }

    async fn storage_domain_detach(&self, sd: StorageDomainId) -> ApiResult<()> {
        Ok(self.storage.domain_detach(sd).await?)
    }

    async fn volume_list(&self, sd: StorageDomainId) -> ApiResult<v1::VolumeList> {
        Ok(self.storage.volume_list(sd).await?)
    }

    async fn volume_create(&self, sd: StorageDomainId, req: v1::VolumeCreate) -> ApiResult<v1::VolumeInfo> {
        Ok(self.storage.volume_create(sd, &req).await?)
    }

    async fn volume_info(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> ApiResult<v1::VolumeInfo> {
        Ok(self.storage.volume_info(sd, vol).await?)
    }

    async fn volume_resize(
        &self,
        sd: StorageDomainId,
        vol: v1::VolumeRef,
        size: ByteSize,
    ) -> ApiResult<v1::VolumeInfo> {
        Ok(self.vms.volume_resize(sd, vol, size).await?)
    }

    async fn volume_sparsify(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> ApiResult<v1::VolumeInfo> {
        Ok(self.vms.volume_sparsify(sd, vol).await?)
    }

    async fn volume_delete(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> ApiResult<()> {
        Ok(self.storage.volume_delete(sd, vol).await?)
    }
}
