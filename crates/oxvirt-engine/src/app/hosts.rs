//! Hosts: adding one enrolls its agent (the engine's CA signs the agent's certificate; mTLS
//! from then on) and records its capabilities; maintenance and activation.

use super::common::still_used;
use super::saga::{JobOptions, Outcome, SagaCtx, SagaDef, StepDef, Undo, WaitFor, end_fn, output, step_fn};
use super::{App, AppError, ListQuery, Result};
use super::{Named, missing_reference, name_check};
use crate::auth::Principal;
use oxvirt_agent_api::DEFAULT_AGENT_PORT;
use oxvirt_agent_client::{AgentClient, host_enroll};
use oxvirt_engine_db::model::{AuditCode, EventRefs, Host, Severity, StepType, Timestamp};
use oxvirt_engine_db::store::{HostFilter, StoreError, VmFilter};
use oxvirt_types::{ByteSize, ClusterId, HostId, HostStatus};

#[derive(Debug, Clone)]
pub struct HostAdd {
    pub name: String,
    pub address: String,
    pub port: Option<u16>,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub cluster: Named<ClusterId>,
    /// The agent's enrollment secret. oVirt clients send it as the host's `root_password`
    /// (oVirt used the root password to install the host over SSH; oxvirt never logs in to a
    /// host: the agent's secret proves the engine was given the host by its administrator).
    pub enrollment_secret: Option<String>,
}

/// What a host update may set; `None` keeps the value. The address and port identify the
/// agent the engine enrolled: restating them is fine, changing them is refused.
#[derive(Debug, Clone, Default)]
pub struct HostUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub comment: Option<String>,
    pub address: Option<String>,
    pub port: Option<u16>,
    /// Another cluster of the host's data center; the host must be in maintenance.
    pub cluster: Option<Named<ClusterId>>,
}

impl App {
    pub(super) async fn host_resolve(&self, named: &Named<HostId>) -> Result<Host> {
        let found = match named {
            Named::Id(id) => self.store.host_get(*id).await,
            Named::Name(n) => self.store.host_get_by_name(n).await,
        };
        found.map_err(|e| missing_reference(e, "host", named))
    }

    /// Adds a host: a durable job (`AddHost`). Its agent is enrolled (the engine's CA signs its
    /// certificate) and the host recorded `installing` before the reply; reading its
    /// capabilities and connecting its storage follow, and it becomes Up.
    pub async fn host_add(&self, who: &Principal, req: HostAdd, opts: &JobOptions) -> Result<Host> {
        name_check("host", &req.name)?;
        let Some(secret) = req.enrollment_secret.filter(|s| !s.is_empty()) else {
            return Err(AppError::InvalidInput(format!(
                "host {} needs its agent's enrollment secret, sent as root_password: it is in the agent's state dir \
                 (/var/lib/oxvirt-agent/enrollment-secret) or set with oxvirt-agent --enrollment-secret",
                req.name
            )));
        };
        let cluster = self.cluster_resolve(&req.cluster).await?;
        // Refuse taken names before the agent is touched (its enrollment cannot be undone).
        match self.store.host_get_by_name(&req.name).await {
            Ok(_) => {
                return Err(AppError::Conflict(format!(
                    "a host named '{}' already exists; choose another name",
                    req.name
                )));
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let params = AddHostParams {
            name: req.name.clone(),
            address: req.address,
            port: req.port.unwrap_or(DEFAULT_AGENT_PORT),
            cluster_id: cluster.id,
            cluster_name: cluster.name,
            enrollment_secret: secret,
            description: req.description.unwrap_or_default(),
            comment: req.comment.unwrap_or_default(),
        };
        let tx = self.store.begin().await?;
        let job_id = self.saga_start(tx, who, &ADD_HOST, format!("Adding host {}", req.name), &params, opts).await?;
        // The reply waits until the host is recorded (installing), as oVirt's does.
        self.job_wait(job_id, if opts.waits_for_end() { WaitFor::End } else { WaitFor::Steps(2) }).await?;
        // The record step's output is the host's id (the enrollment step's also carries the
        // agent's bootstrap fingerprint).
        let host: HostId = self.job_output(job_id, 2).await?;
        Ok(self.store.host_get(host).await?)
    }

    pub async fn host_get(&self, id: HostId) -> Result<Host> {
        Ok(self.store.host_get(id).await?)
    }

    pub async fn host_list(&self, q: &ListQuery) -> Result<Vec<Host>> {
        let key = |h: &Host| (h.status.as_str().to_owned(), h.name.clone(), h.id.to_string());
        self.list_any_of(q, |g| async move { self.host_list_and(&g).await }, key).await
    }

    /// [`App::host_list`] of a search without `or`.
    async fn host_list_and(&self, q: &ListQuery) -> Result<Vec<Host>> {
        let c = q.criteria(&super::query::HOSTS)?;
        let status = c
            .status
            .clone()
            .map(|s| {
                HostStatus::from_wire(&s).ok_or_else(|| AppError::InvalidInput(format!("'{s}' is not a host status")))
            })
            .transpose()?;
        let (Some(cluster_id), Some(tag_id)) =
            (self.scope_cluster(&c).await?.filter(), self.scope_tag(&c).await?.filter())
        else {
            return Ok(Vec::new());
        };
        let filter = HostFilter { name: c.name, status, cluster_id, tag_id, page: c.page };
        Ok(self.store.host_list(&filter).await?)
    }

    /// Renames a host, sets its description and comment, or moves it to another cluster of
    /// its data center while it is in maintenance (oVirt's `ChangeVDSCluster`); written by
    /// compare-and-set on the status it was read with.
    pub async fn host_update(&self, who: &Principal, id: HostId, req: HostUpdate) -> Result<Host> {
        let host = self.store.host_get(id).await?;
        let mut new = host.clone();
        if let Some(name) = req.name {
            name_check("host", &name)?;
            new.name = name;
        }
        if let Some(d) = req.description {
            new.description = d;
        }
        if let Some(c) = req.comment {
            new.comment = c;
        }
        if let Some(a) = req.address.filter(|a| *a != host.address) {
            return Err(AppError::InvalidInput(format!(
                "host {}: address cannot change from {} to {a}: the engine enrolled the agent at that address; \
                 remove the host and add it again with the new one",
                host.name, host.address
            )));
        }
        if let Some(p) = req.port.filter(|p| *p != host.port) {
            return Err(AppError::InvalidInput(format!(
                "host {}: port cannot change from {} to {p}; remove the host and add it again with the new one",
                host.name, host.port
            )));
        }
        let mut moved_to = None;
        if let Some(named) = &req.cluster {
            let cluster = self.cluster_resolve(named).await?;
            if cluster.id != host.cluster_id {
                if host.status != HostStatus::Maintenance {
                    return Err(AppError::Conflict(format!(
                        "host {} is {}: move it to maintenance (deactivate) before changing its cluster",
                        host.name, host.status
                    )));
                }
                let from = self.store.cluster_get(host.cluster_id).await?;
                if cluster.data_center_id != from.data_center_id {
                    return Err(AppError::Conflict(format!(
                        "host {}: cluster {} is in another data center than its cluster {}; oxvirt moves hosts \
                         between clusters of one data center (remove the host and add it to the other)",
                        host.name, cluster.name, from.name
                    )));
                }
                let running = VmFilter { host_id: Some(id), ..VmFilter::default() };
                if let Some(vm) = self.store.vm_list(&running).await?.first() {
                    return Err(AppError::Conflict(format!(
                        "host {} still runs VM {}: stop or move its VMs before changing its cluster",
                        host.name, vm.name
                    )));
                }
                new.cluster_id = cluster.id;
                moved_to = Some(cluster.name);
            }
        }
        if new == host {
            return Ok(host);
        }
        if !self.store.host_config_update_from(&new, host.status).await? {
            return Err(AppError::Conflict(format!(
                "host {} changed its status while being updated; look at it and try again",
                host.name
            )));
        }
        let moved = moved_to.map(|c| format!(" It is now in cluster {c}.")).unwrap_or_default();
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_UPDATE_VDS,
            format!("Host {} configuration was updated by {}.{moved}", new.name, who.login),
            EventRefs { host_id: Some(id), ..EventRefs::default() },
        )
        .await;
        Ok(self.store.host_get(id).await?)
    }

    /// Moves a host to maintenance (no VMs are placed on it; it may be removed).
    pub async fn host_deactivate(&self, who: &Principal, id: HostId) -> Result<Host> {
        let host = self.store.host_get(id).await?;
        self.store.host_status_set(id, HostStatus::Maintenance, None).await?;
        self.data_center_status_refresh(self.store.cluster_get(host.cluster_id).await?.data_center_id).await?;
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_VDS_MAINTENANCE_WITHOUT_REASON,
            format!("Host {} was switched to Maintenance mode by {}.", host.name, who.login),
            EventRefs { host_id: Some(id), ..EventRefs::default() },
        )
        .await;
        Ok(self.store.host_get(id).await?)
    }

    /// Brings a host back: Up when its agent answers, non-responsive otherwise.
    pub async fn host_activate(&self, who: &Principal, id: HostId) -> Result<Host> {
        let host = self.store.host_get(id).await?;
        let client = self.agent_for(&host)?;
        let (status, detail) = match client.capabilities().await {
            Ok(_) => (HostStatus::Up, None),
            Err(e) => (HostStatus::NonResponsive, Some(e.to_string())),
        };
        self.store.host_status_set(id, status, detail.as_deref()).await?;
        self.host_storage_connect_logged(&self.store.host_get(id).await?).await;
        self.audit(
            who,
            if status == HostStatus::Up { Severity::Normal } else { Severity::Error },
            if status == HostStatus::Up { AuditCode::VDS_ACTIVATE } else { AuditCode::VDS_ACTIVATE_FAILED },
            format!("Host {} was activated by {}; it is {}.", host.name, who.login, status),
            EventRefs { host_id: Some(id), ..EventRefs::default() },
        )
        .await;
        Ok(self.store.host_get(id).await?)
    }

    /// Reads a host's capabilities again (oVirt's `refresh`: after its hardware, memory or
    /// libvirt changed): they are recorded, its status stays. The host's NICs and statistics
    /// are read live from its agent at every request, so they need no refresh.
    pub async fn host_refresh(&self, _who: &Principal, id: HostId) -> Result<Host> {
        let host = self.store.host_get(id).await?;
        if host.status == HostStatus::Installing {
            return Err(AppError::Conflict(format!(
                "host {} is still being installed; refresh it once it is up",
                host.name
            )));
        }
        let caps = self.agent_for(&host)?.capabilities().await.map_err(|e| {
            AppError::Conflict(format!("cannot refresh host {}: its agent does not answer ({e})", host.name))
        })?;
        let json = serde_json::to_value(&caps)
            .map_err(|e| AppError::Worker(format!("cannot record the capabilities of host {}: {e}", host.name)))?;
        // Only the capabilities are written: the host's status belongs to the monitor.
        self.store.host_capabilities_set(id, &json, caps.memory).await?;
        Ok(self.store.host_get(id).await?)
    }

    /// Removes a host; it must be in maintenance first, as in oVirt.
    pub async fn host_remove(&self, who: &Principal, id: HostId) -> Result<()> {
        let host = self.store.host_get(id).await?;
        if host.status != HostStatus::Maintenance {
            return Err(AppError::Conflict(format!(
                "host {} is {}: move it to maintenance (deactivate) before removing it",
                host.name, host.status
            )));
        }
        self.store.host_delete(id).await.map_err(|e| still_used(e, format!("host {}", host.name)))?;
        self.host_monitor_stop(id);
        self.agents_lock().remove(&id);
        self.audit(
            who,
            Severity::Normal,
            AuditCode::USER_REMOVE_VDS,
            format!("Host {} was removed by {}.", host.name, who.login),
            EventRefs { host_id: Some(id), ..EventRefs::default() },
        )
        .await;
        Ok(())
    }

    /// A client of the agent at `address:port`, with the engine's deadlines: the event
    /// stream's open is bounded by the host grace period, so that an agent that accepts and
    /// never answers makes its host non-responsive within the grace period.
    pub(crate) fn agent_client_new(&self, address: &str, port: u16) -> Result<AgentClient> {
        let mut limits = oxvirt_agent_client::ClientLimits::default();
        if let Some(grace) = self.monitor_grace() {
            limits.stream_open = limits.stream_open.min(grace.max(std::time::Duration::from_secs(1)));
        }
        Ok(AgentClient::with_limits(address, port, &self.pki, limits)?)
    }

    /// The mTLS client of `host`'s agent (made on first use, e.g. after an engine restart).
    pub(crate) fn agent_for(&self, host: &Host) -> Result<AgentClient> {
        let mut agents = self.agents_lock();
        if let Some(c) = agents.get(&host.id) {
            return Ok(c.clone());
        }
        let client = self.agent_client_new(&host.address, host.port)?;
        agents.insert(host.id, client.clone());
        Ok(client)
    }
}

// ---- jobs ---------------------------------------------------------------------------------

/// What an `AddHost` job was asked. The enrollment secret is one-time: it proves the host
/// was given to this engine, and is useless once the agent is enrolled.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct AddHostParams {
    name: String,
    address: String,
    port: u16,
    cluster_id: ClusterId,
    cluster_name: String,
    enrollment_secret: String,
    /// Absent from the parameters of jobs written before hosts had them.
    #[serde(default)]
    description: String,
    #[serde(default)]
    comment: String,
}

/// `AddHost`: enroll the agent (its host id is the step's output), record the host
/// `installing`, then read its capabilities, connect its storage and mark it Up.
pub(super) static ADD_HOST: SagaDef = SagaDef {
    action_type: "AddHost",
    steps: &[
        // An address that does not answer is the administrator's to fix: said within seconds.
        StepDef::new("Enrolling the host's agent", StepType::Executing, step_fn!(host_add_enroll), Undo::Nothing)
            .retrying_for(std::time::Duration::from_secs(3)),
        StepDef::new(
            "Recording the host (installing)",
            StepType::Executing,
            step_fn!(host_add_record),
            Undo::Action(step_fn!(host_add_unrecord)),
        ),
        StepDef::new(
            "Reading the host's capabilities and connecting its storage",
            StepType::Finalizing,
            step_fn!(host_add_up),
            Undo::Nothing,
        ),
    ],
    ended: Some(end_fn!(host_add_ended)),
};

async fn host_add_enroll(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: AddHostParams = ctx.params()?;
    let app = &ctx.app;
    // Idempotent: an agent this engine enrolled already (before a crash) answers over mTLS.
    let client = app.agent_client_new(&p.address, p.port)?;
    if let Ok(caps) = client.capabilities().await {
        return output(Enrolled::Agent { host_id: caps.host_id, bootstrap_fingerprint: None });
    }
    let enrolled = host_enroll(&p.address, p.port, &p.enrollment_secret, &app.pki).await?;
    tracing::info!(
        host = %p.name,
        address = %p.address,
        bootstrap_sha256 = %enrolled.bootstrap_fingerprint,
        "enrolled the host's agent; compare the fingerprint with the one the agent logged"
    );
    output(Enrolled::Agent { host_id: enrolled.host_id, bootstrap_fingerprint: Some(enrolled.bootstrap_fingerprint) })
}

/// The output of `AddHost`'s enrollment step.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Enrolled {
    Agent {
        host_id: HostId,
        /// The agent's bootstrap certificate, when this run enrolled it.
        bootstrap_fingerprint: Option<String>,
    },
    /// Jobs written before enrollment recorded the fingerprint: the host id alone.
    HostOnly(HostId),
}

impl Enrolled {
    fn of(ctx: &SagaCtx) -> Result<(HostId, Option<String>)> {
        Ok(match ctx.output::<Enrolled>(1)? {
            Enrolled::Agent { host_id, bootstrap_fingerprint } => (host_id, bootstrap_fingerprint),
            Enrolled::HostOnly(id) => (id, None),
        })
    }
}

async fn host_add_record(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: AddHostParams = ctx.params()?;
    let (id, fingerprint) = Enrolled::of(ctx)?;
    let host = Host {
        id,
        name: p.name,
        description: p.description,
        comment: p.comment,
        address: p.address,
        port: p.port,
        cluster_id: p.cluster_id,
        status: HostStatus::Installing,
        status_detail: None,
        certificate_fingerprint: fingerprint,
        capabilities: None,
        memory_total: ByteSize(0),
        max_scheduling_memory: ByteSize(0),
        created: Timestamp::now(),
    };
    match ctx.app.store.host_insert(&host).await {
        Ok(()) => {}
        // Idempotent: the row of an earlier attempt (same id) is this host's.
        Err(StoreError::AlreadyExists(_)) if ctx.app.store.host_get(id).await.is_ok() => {}
        Err(e) => return Err(e.into()),
    }
    output(id)
}

async fn host_add_unrecord(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let Ok((id, _)) = Enrolled::of(ctx) else { return Ok(serde_json::Value::Null) };
    match ctx.app.store.host_get(id).await {
        Ok(h) if h.status == HostStatus::Installing => match ctx.app.store.host_delete(id).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        },
        _ => {}
    }
    Ok(serde_json::Value::Null)
}

async fn host_add_up(ctx: &SagaCtx) -> Result<serde_json::Value> {
    let p: AddHostParams = ctx.params()?;
    let (id, _) = Enrolled::of(ctx)?;
    let app = &ctx.app;
    let client = app.agent_client_new(&p.address, p.port)?;
    let caps = client.capabilities().await?;
    let mut host = app.store.host_get(id).await?;
    host.capabilities = serde_json::to_value(&caps).ok();
    host.memory_total = caps.memory;
    host.max_scheduling_memory = caps.memory;
    host.status = HostStatus::Up;
    host.status_detail = None;
    app.store.host_update(&host).await?;
    app.agents_lock().insert(id, client);
    if let Some(me) = app.me.upgrade() {
        me.host_monitor_start(id);
    }
    let host = app.store.host_get(id).await?;
    app.host_storage_connect_logged(&host).await;
    Ok(serde_json::Value::Null)
}

async fn host_add_ended(ctx: &SagaCtx, outcome: &Outcome) {
    let Ok(p) = ctx.params::<AddHostParams>() else { return };
    let enrolled = Enrolled::of(ctx).ok();
    let host = enrolled.as_ref().map(|(id, _)| *id);
    let refs = EventRefs {
        host_id: host.filter(|_| outcome.succeeded()),
        cluster_id: Some(p.cluster_id),
        ..EventRefs::default()
    };
    let (severity, code, text) = match &outcome.error {
        None => (
            Severity::Normal,
            AuditCode::USER_ADD_VDS,
            match enrolled.and_then(|(_, f)| f) {
                Some(f) => format!(
                    "Host {} was added by {} and is Up. Its agent was enrolled presenting the bootstrap \
                     certificate with SHA-256 fingerprint {f} (the agent logs the same at start).",
                    p.name, ctx.who.login
                ),
                None => format!("Host {} was added by {} and is Up.", p.name, ctx.who.login),
            },
        ),
        Some((_, e)) => (
            Severity::Error,
            AuditCode::USER_FAILED_ADD_VDS,
            format!("Failed to add host {} to cluster {}: {e}", p.name, p.cluster_name),
        ),
    };
    ctx.app.audit(&ctx.who, severity, code, text, refs).await;
}
