//! The engine's application layer: business rules between the HTTP edge and the store.
//!
//! Why a layer: what "add a data center" means (a default `ovirtmgmt` network with it, an
//! audit event, which fields may change later) is the same whether the request came as XML,
//! JSON or — later — from the CLI; handlers only translate representations to these calls.
//! Every operation takes the acting [`Principal`] so that permissions (coming with RBAC) and
//! the audit log have one place to hook in.

mod affinity_labels;
pub mod background;
mod cloud_init;
mod cluster_networks;
mod clusters;
mod common;
mod data_centers;
mod disk_attachments;
mod disks;
mod events;
mod host_nics;
mod host_statistics;
mod hosts;
pub mod jobs;
mod mac_pools;
pub mod monitor;
mod networks;
mod nics;
mod operating_systems;
mod policies;
pub mod query;
pub mod saga;
pub mod scheduler;
pub mod storage_check;
mod storage_domains;
mod tags;
mod templates;
mod vm_policy;
mod vms;
mod vnic_profiles;

pub use cloud_init::{BootProtocol, Initialization, NicConfiguration};
pub use clusters::{ClusterAdd, ClusterUpdate};
pub use common::Named;
pub(crate) use common::{missing_reference, name_check};
pub use data_centers::{DataCenterAdd, DataCenterUpdate, MANAGEMENT_NETWORK};
pub use disk_attachments::{AttachmentDisk, DiskAttachmentAdd, DiskAttachmentUpdate, DiskFields};
pub use disks::{DiskAdd, disk_source};
pub use events::ExternalEvent;
pub use host_nics::HostNicInfo;
pub(crate) use host_nics::stable_uuid;
pub use hosts::{HostAdd, HostUpdate};
pub use mac_pools::{MacPoolAdd, MacPoolUpdate};
pub use networks::{NetworkAdd, NetworkUpdate};
pub use nics::{NicAdd, NicUpdate};
pub use operating_systems::OperatingSystem;
pub use policies::{NONE_SCHEDULING_POLICY_ID, SchedulingPolicyView};
pub use query::{Comparison, Condition, ListQuery, Sort};
pub use saga::JobOptions;
pub use storage_domains::{StorageDomainAdd, StorageDomainRemove, StorageDomainUpdate, storage_domain_reachable_from};
pub use tags::{TagAdd, TagUpdate, Tagged};
pub use vm_policy::{DEFAULT_BOOT_DIR, VmPolicy};
pub use vms::{PlacementPatch, RunOnce, VmAdd, VmConfigPatch, VmUpdate};
pub use vnic_profiles::{VnicProfileAdd, VnicProfileUpdate};
#[cfg(test)]
pub(crate) use {cloud_init::cloud_init_build, vms::config_apply as vm_config_apply};

use crate::auth::{self, IssuedToken, Principal, Sessions};
use crate::pki::EnginePki;
use oxvirt_engine_db::model::{AuditCode, EventRefs, NewEvent, Severity, SummaryCounts, Timestamp, User};
use oxvirt_engine_db::store::{Store, StoreError};
use oxvirt_types::{ErrorKind, UserId};
use std::sync::Arc;

/// The profile (authentication domain) of users kept by the engine itself.
pub const INTERNAL_PROFILE: &str = "internal";
/// The administrator created at first start.
pub const ADMIN_USER: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    Conflict(String),
    /// The requested object does not exist (objects with rows report it as `Store(NotFound)`).
    #[error("{0}")]
    NotFound(String),
    #[error("the user name or password is incorrect")]
    BadCredentials,
    /// A password check was not run (backing off after failures, or too many at once).
    #[error(transparent)]
    Gate(#[from] auth::GateRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Auth(#[from] auth::AuthError),
    #[error(transparent)]
    Agent(#[from] oxvirt_agent_client::AgentClientError),
    #[error("an engine worker failed: {0}")]
    Worker(String),
    /// A job failed: the failing step's error, as it was (kind and message).
    #[error("{1}")]
    Failed(ErrorKind, String),
}

impl AppError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            AppError::InvalidInput(_) => ErrorKind::InvalidInput,
            AppError::Conflict(_) => ErrorKind::Conflict,
            AppError::NotFound(_) => ErrorKind::NotFound,
            AppError::BadCredentials => ErrorKind::Unauthenticated,
            AppError::Gate(auth::GateRefusal::Backoff { .. }) => ErrorKind::Throttled,
            AppError::Gate(auth::GateRefusal::Busy) => ErrorKind::Unavailable,
            AppError::Store(e) => e.kind(),
            AppError::Agent(e) => e.kind(),
            AppError::Auth(_) | AppError::Worker(_) => ErrorKind::Internal,
            AppError::Failed(kind, _) => *kind,
        }
    }

    /// When a refused caller should ask again, in seconds.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::Gate(auth::GateRefusal::Backoff { retry_after, .. }) => Some(retry_after.as_secs().max(1)),
            AppError::Gate(auth::GateRefusal::Busy) => Some(1),
            _ => None,
        }
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug)]
pub struct App {
    store: Store,
    pki: EnginePki,
    sessions: Sessions,
    /// Every password check passes it (bounded, slowed after failures, cached for Basic).
    gate: auth::PasswordGate,
    /// mTLS clients of the hosts' agents, by host.
    agents: std::sync::Mutex<std::collections::HashMap<oxvirt_types::HostId, oxvirt_agent_client::AgentClient>>,
    /// The per-host watchers of `monitor`.
    monitors: monitor::Monitors,
    /// Periodic tasks and their last-run status.
    background: background::Background,
    /// The job executor's state (jobs running here, lease owner).
    executor: saga::Executor,
    /// The last findings of the storage check, by domain (an event when they change).
    storage_checks:
        std::sync::Mutex<std::collections::HashMap<oxvirt_types::StorageDomainId, storage_check::StorageCheck>>,
    /// What VMs may ask of their hosts (declared custom properties).
    vm_policy: VmPolicy,
    /// This app, for the tasks it spawns (jobs outlive the request that created them).
    me: std::sync::Weak<App>,
}

impl App {
    /// Wraps an opened store. At first start (no `admin@internal` yet) creates the
    /// administrator with `admin_password`, or a generated password that is printed once;
    /// returns the generated password, if any, so the caller can show it. Every VM's
    /// configuration is checked against `vm_policy`.
    pub async fn open(
        store: Store,
        pki: EnginePki,
        admin_password: Option<String>,
        vm_policy: VmPolicy,
    ) -> Result<(Arc<Self>, Option<String>)> {
        let mut generated = None;
        match store.user_get_by_name(INTERNAL_PROFILE, ADMIN_USER).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                let password = match admin_password.filter(|p| !p.is_empty()) {
                    Some(p) => p,
                    None => {
                        let p = format!("{}", uuid::Uuid::new_v4().simple())[..20].to_owned();
                        generated = Some(p.clone());
                        p
                    }
                };
                let hash = hash_blocking(password).await?;
                store
                    .user_insert(&User {
                        id: UserId::new_random(),
                        name: ADMIN_USER.to_owned(),
                        domain: INTERNAL_PROFILE.to_owned(),
                        password_hash: Some(hash),
                        email: None,
                        enabled: true,
                        created: Timestamp::now(),
                    })
                    .await?;
                tracing::info!("created admin@internal");
            }
            Err(e) => return Err(e.into()),
        }
        Ok((
            Arc::new_cyclic(|me| Self {
                store,
                pki,
                sessions: Sessions::new(auth::DEFAULT_TOKEN_TTL, auth::DEFAULT_TOKEN_MAX_LIFETIME),
                gate: auth::PasswordGate::new(auth::GateSettings::default()),
                agents: Default::default(),
                monitors: Default::default(),
                background: Default::default(),
                executor: Default::default(),
                storage_checks: Default::default(),
                vm_policy,
                me: me.clone(),
            }),
            generated,
        ))
    }

    fn agents_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<oxvirt_types::HostId, oxvirt_agent_client::AgentClient>>
    {
        self.agents.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn pki(&self) -> &EnginePki {
        &self.pki
    }

    /// Checks `login` (`name@profile`, profile `internal` when omitted) and `password`, sent
    /// from `source`, through the password gate: credentials verified within the last minute
    /// are taken from its cache (if the user is unchanged); a user or source backing off after
    /// failures is refused before any hash runs; an unknown or disabled user costs a dummy
    /// hash, so the answer's timing does not tell which users exist.
    pub async fn principal_from_password(
        &self,
        login: &str,
        password: &str,
        source: Option<std::net::IpAddr>,
    ) -> Result<Principal> {
        let (name, profile) = login.rsplit_once('@').unwrap_or((login, INTERNAL_PROFILE));
        let login = format!("{name}@{profile}");
        if let Some(v) = self.gate.cached(&login, password) {
            match self.store.user_get(v.principal.user_id).await {
                Ok(u) if u.enabled && u.password_hash.as_deref() == Some(v.password_hash.as_str()) => {
                    return Ok(v.principal);
                }
                Ok(_) | Err(StoreError::NotFound { .. }) => self.gate.uncache(&login, password),
                Err(e) => return Err(e.into()),
            }
        }
        self.gate.admit(&login, source)?;
        let user = match self.store.user_get_by_name(profile, name).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let user = user.filter(|u| u.enabled && u.password_hash.is_some());
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        match (self.gate.verify(hash.clone(), password).await?, user, hash) {
            (true, Some(user), Some(hash)) => {
                let principal = Principal { user_id: user.id, login: format!("{}@{}", user.name, user.domain) };
                self.gate.succeeded(&login, password, principal.clone(), hash);
                Ok(principal)
            }
            _ => {
                self.gate.failed(&login, source);
                tracing::debug!(user = %login, source = ?source, "password check failed");
                Err(AppError::BadCredentials)
            }
        }
    }

    /// oVirt SSO's password grant: a bearer token for `login`.
    pub async fn login(&self, login: &str, password: &str, source: Option<std::net::IpAddr>) -> Result<IssuedToken> {
        let principal = self.principal_from_password(login, password, source).await?;
        tracing::info!(user = %principal.login, "logged in");
        Ok(self.sessions.token_issue(principal))
    }

    /// The principal of a live SSO token whose user still exists and is enabled; a token of a
    /// removed or disabled user is revoked on its first use.
    pub async fn principal_from_token(&self, token: &str) -> Result<Option<Principal>> {
        let Some(principal) = self.sessions.token_check(token) else { return Ok(None) };
        match self.store.user_get(principal.user_id).await {
            Ok(u) if u.enabled => Ok(Some(principal)),
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                self.sessions.token_revoke(token);
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn token_revoke(&self, token: &str) -> bool {
        self.sessions.token_revoke(token)
    }

    /// The health endpoint's check: the database answers a query.
    pub async fn health_check(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    pub async fn summary(&self) -> Result<SummaryCounts> {
        Ok(self.store.summary_counts().await?)
    }

    /// The periodic tasks and their last runs (the `backgroundtasks` debug collection).
    pub fn background_status(&self) -> Vec<background::TaskStatus> {
        self.background.status()
    }

    /// Writes an audit-log event; a failure to log is itself logged, never fatal.
    async fn audit(&self, who: &Principal, severity: Severity, code: AuditCode, description: String, refs: EventRefs) {
        let event = NewEvent {
            time: Timestamp::now(),
            severity,
            code: code.code(),
            description,
            refs: EventRefs { user_id: Some(who.user_id), ..refs },
            correlation_id: None,
            origin: None,
            custom_id: None,
        };
        if let Err(e) = self.store.event_insert(&event).await {
            tracing::error!(error = %e, "cannot write an audit event");
        }
    }
}

async fn hash_blocking(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || auth::password_hash(&password))
        .await
        .map_err(|e| AppError::Worker(e.to_string()))?
        .map_err(Into::into)
}
