//! **SIMULATION.** The agent API (`oxvirt-agent-api` v1) of one simulated host: the route
//! table, bodies, errors, gate, enrollment and event stream are `oxvirt-agent-server`'s — the
//! same code the real agent serves — over the simulated host's state.

use crate::{SimError, SimHost};
use axum::Router;
use axum::response::Response;
use oxvirt_agent_api::v1::{self, VmAction, VmActionRequest};
use oxvirt_agent_server::registry::VmRegistry;
use oxvirt_agent_server::tls::AgentIdentity;
use oxvirt_agent_server::{AgentBackend, ApiFailure, ApiResult};
use oxvirt_types::{ByteSize, StorageDomainId, VmId};
use std::sync::Arc;
use std::time::Duration;

/// Rendered like every agent error: an `ApiError` with the status of its kind.
impl From<SimError> for ApiFailure {
    fn from(e: SimError) -> Self {
        ApiFailure::new(e.kind(), e.to_string())
    }
}

/// The router of one simulated host: the shared agent API, with every reply labelled.
pub fn router(host: Arc<SimHost>) -> Router {
    oxvirt_agent_server::router(host).layer(axum::middleware::map_response(label))
}

/// Header on every reply of a simulated host, refusals included.
pub const SIMULATED_HEADER: &str = "x-oxvirt-simulated";

async fn label(mut resp: Response) -> Response {
    resp.headers_mut().insert(SIMULATED_HEADER, axum::http::HeaderValue::from_static(crate::SIMULATED));
    resp
}

impl AgentBackend for SimHost {
    fn version(&self) -> String {
        // The version says what answers: a simulated host.
        format!("{}-oxvirt-sim", env!("CARGO_PKG_VERSION"))
    }

    fn identity(&self) -> &Arc<AgentIdentity> {
        SimHost::identity(self)
    }

    fn hostname(&self) -> &str {
        SimHost::hostname(self)
    }

    fn registry(&self) -> &Arc<VmRegistry> {
        SimHost::registry(self)
    }

    fn heartbeat(&self) -> Duration {
        self.params().heartbeat
    }

    async fn capabilities(&self) -> ApiResult<v1::Capabilities> {
        Ok(SimHost::capabilities(self))
    }

    async fn vm_list(&self) -> ApiResult<v1::VmStateList> {
        Ok(SimHost::vm_list(self))
    }

    async fn vm_create(&self, spec: v1::VmSpec) -> ApiResult<v1::VmState> {
        Ok(SimHost::vm_create(self, spec).await?)
    }

    fn vm_get(&self, vm: VmId) -> ApiResult<v1::VmState> {
        Ok(SimHost::vm_get(self, vm)?)
    }

    async fn vm_action(self: &Arc<Self>, vm: VmId, action: VmAction, req: VmActionRequest) -> ApiResult<v1::VmState> {
        Ok(SimHost::vm_action(self, vm, action, req).await?)
    }

    async fn vm_console(&self, vm: VmId, tail_bytes: u64) -> ApiResult<v1::ConsoleTail> {
        Ok(self.console_tail(vm, tail_bytes)?)
    }

    fn vm_stats(&self, vm: VmId) -> ApiResult<v1::VmStats> {
        Ok(SimHost::vm_stats(self, vm)?)
    }

    fn vm_stats_all(&self) -> Vec<v1::VmStats> {
        SimHost::vm_stats_all(self)
    }

    fn host_stats(&self) -> ApiResult<v1::HostStats> {
        Ok(SimHost::host_stats(self))
    }

    async fn storage_domain_list(&self) -> ApiResult<Vec<v1::StorageDomainInfo>> {
        Ok(self.domain_list())
    }

    async fn storage_domain_create(&self, req: v1::StorageDomainCreate) -> ApiResult<v1::StorageDomainInfo> {
        Ok(self.domain_create(&req)?)
    }

    async fn storage_domain_info(&self, sd: StorageDomainId) -> ApiResult<v1::StorageDomainInfo> {
        Ok(self.domain_info(sd)?)
    }

    async fn storage_domain_attach(
        &self,
        sd: StorageDomainId,
        conn: v1::StorageDomainConnection,
    ) -> ApiResult<v1::StorageDomainInfo> {
        Ok(self.domain_attach(sd, &conn)?)
    }

    async fn storage_domain_detach(&self, sd: StorageDomainId) -> ApiResult<()> {
        Ok(self.domain_detach(sd)?)
    }

    async fn volume_list(&self, sd: StorageDomainId) -> ApiResult<v1::VolumeList> {
        Ok(self.domain_check(sd)?.volume_list(sd)?)
    }

    async fn volume_create(&self, sd: StorageDomainId, req: v1::VolumeCreate) -> ApiResult<v1::VolumeInfo> {
        Ok(self.domain_check(sd)?.volume_create(sd, &req)?)
    }

    async fn volume_info(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> ApiResult<v1::VolumeInfo> {
        Ok(self.domain_check(sd)?.volume_info(sd, vol)?)
    }

    async fn volume_resize(
        &self,
        sd: StorageDomainId,
        vol: v1::VolumeRef,
        size: ByteSize,
    ) -> ApiResult<v1::VolumeInfo> {
        Ok(self.domain_check(sd)?.volume_resize(sd, vol, size)?)
    }

    async fn volume_sparsify(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> ApiResult<v1::VolumeInfo> {
        Ok(self.domain_check(sd)?.volume_sparsify(sd, vol)?)
    }

    async fn volume_delete(&self, sd: StorageDomainId, vol: v1::VolumeRef) -> ApiResult<()> {
        Ok(self.domain_check(sd)?.volume_delete(sd, vol)?)
    }
}
