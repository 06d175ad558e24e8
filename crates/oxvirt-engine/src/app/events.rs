//! The audit log as the API lists it (incremental polling with `from`), and external events:
//! what another system (monitoring, a playbook) writes into it through `POST /events`.
//!
//! Why oVirt's rules for external events: its clients rely on them. The origin names the
//! writer and cannot be `oVirt` (the engine's own); `custom_id` is the writer's id for the
//! event, unique per origin, so a writer that retries cannot log the same event twice.

use super::query::ListQuery;
use super::{App, AppError, Named, Result, missing_reference};
use crate::auth::Principal;
use oxvirt_engine_db::model::{AuditCode, Event, EventRefs, EventSeq, NewEvent, Severity, Timestamp};
use oxvirt_engine_db::store::StoreError;

/// An external event, as `POST /events` carries it.
#[derive(Debug, Clone)]
pub struct ExternalEvent {
    pub description: String,
    pub severity: Severity,
    pub origin: String,
    pub custom_id: i64,
    pub correlation_id: Option<String>,
    /// The objects it is about (checked to exist).
    pub refs: EventRefs,
}

impl App {
    /// The audit log, newest first unless the search says `sortby time asc`; `from` keeps
    /// only events numbered above it (oVirt's incremental polling).
    pub async fn event_list(&self, from: Option<i64>, q: &ListQuery) -> Result<Vec<oxvirt_engine_db::model::Event>> {
        let mut descending = true;
        if let Some(sort) = &q.sort {
            if sort.field != "time" {
                return Err(AppError::InvalidInput(format!(
                    "cannot sort events by '{}'; use 'sortby time'",
                    sort.field
                )));
            }
            descending = sort.descending;
        }
        let mut filter = oxvirt_engine_db::store::EventFilter {
            after: from.map(oxvirt_engine_db::model::EventSeq),
            descending,
            limit: q.max,
            ..oxvirt_engine_db::store::EventFilter::default()
        };
        if q.any_of.len() > 1 {
            return Err(AppError::InvalidInput("searching events with 'or' is not supported yet; use 'and'".into()));
        }
        for cond in q.any_of.first().into_iter().flatten() {
            if !self.event_condition_apply(&mut filter, cond).await? {
                return Ok(Vec::new()); // names a user that does not exist: no event is theirs
            }
        }
        Ok(self.store.event_list(&filter).await?)
    }

    /// Narrows `filter` by one search condition on events: `type` (the code), `severity`
    /// (`=`, or a bound: `severity>normal`), `usrname`, `correlation_id`, and the object an
    /// event is about by name: `vm.name`, `host.name`, `cluster.name`, `datacenter.name` (or
    /// `vm`, `host`, `cluster`, `datacenter`). `false` when it can match nothing (a name no
    /// object has).
    async fn event_condition_apply(
        &self,
        filter: &mut oxvirt_engine_db::store::EventFilter,
        cond: &super::query::Condition,
    ) -> Result<bool> {
        use super::query::Comparison as C;
        let field = cond.field.as_str();
        let value = || {
            cond.literal.clone().ok_or_else(|| {
                AppError::InvalidInput(format!("searching events by {field} takes a value without wildcards"))
            })
        };
        let only_eq = || {
            if cond.op == C::Eq {
                Ok(())
            } else {
                Err(AppError::InvalidInput(format!(
                    "searching events by {field} supports only '=', not '{}'",
                    cond.op.as_str()
                )))
            }
        };
        match field {
            "type" => {
                only_eq()?;
                let v = value()?;
                let code = v.parse::<i32>().map_err(|_| {
                    AppError::InvalidInput(format!("event type '{v}' is not a number (an event code such as 43)"))
                })?;
                filter.code = Some(code);
            }
            "severity" => {
                let v = value()?.to_lowercase();
                let s = Severity::from_wire(&v).ok_or_else(|| {
                    AppError::InvalidInput(format!("'{v}' is not a severity; use normal, warning, error or alert"))
                })?;
                let all = Severity::ALL;
                let rank = all.iter().position(|x| *x == s).unwrap_or(0);
                let (low, high) = match cond.op {
                    C::Eq => (Some(rank), Some(rank)),
                    C::Ge => (Some(rank), None),
                    C::Gt => (Some(rank + 1), None),
                    C::Le => (None, Some(rank)),
                    C::Lt if rank == 0 => return Ok(false),
                    C::Lt => (None, Some(rank - 1)),
                    C::Ne => {
                        return Err(AppError::InvalidInput(
                            "searching events by severity supports =, <, <=, > and >=, not '!='".into(),
                        ));
                    }
                };
                // Several bounds narrow each other (`severity>=warning and severity<alert`).
                let rank_of = |s: Severity| all.iter().position(|x| *x == s).unwrap_or(0);
                if let Some(low) = low {
                    if low >= all.len() {
                        return Ok(false);
                    }
                    filter.min_severity = Some(all[filter.min_severity.map_or(0, rank_of).max(low)]);
                }
                if let Some(high) = high {
                    filter.max_severity = Some(all[filter.max_severity.map_or(all.len() - 1, rank_of).min(high)]);
                }
            }
            "usrname" => {
                only_eq()?;
                let v = value()?;
                let (name, profile) = v.split_once('@').unwrap_or((v.as_str(), super::INTERNAL_PROFILE));
                let profile = profile.strip_suffix("-authz").unwrap_or(profile);
                match self.store.user_get_by_name(profile, name).await {
                    Ok(user) => filter.user_id = Some(user.id),
                    Err(StoreError::NotFound { .. }) => return Ok(false),
                    Err(e) => return Err(e.into()),
                }
            }
            "correlation_id" => {
                only_eq()?;
                filter.correlation_id = Some(value()?);
            }
            "vm" | "vm.name" | "host" | "host.name" | "cluster" | "cluster.name" | "datacenter" | "datacenter.name" => {
                only_eq()?;
                let name = value()?;
                let found = match field.split('.').next().unwrap_or(field) {
                    "vm" => self.store.vm_get_by_name(&name).await.map(|v| filter.vm_id = Some(v.id)),
                    "host" => self.store.host_get_by_name(&name).await.map(|h| filter.host_id = Some(h.id)),
                    "cluster" => self.store.cluster_get_by_name(&name).await.map(|c| filter.cluster_id = Some(c.id)),
                    _ => self.store.data_center_get_by_name(&name).await.map(|d| filter.data_center_id = Some(d.id)),
                };
                match found {
                    Ok(()) => {}
                    Err(StoreError::NotFound { .. }) => return Ok(false),
                    Err(e) => return Err(e.into()),
                }
            }
            other => {
                return Err(AppError::InvalidInput(format!(
                    "cannot search events by '{other}'; searchable fields: type, severity, usrname, correlation_id, \
                     vm.name, host.name, cluster.name, datacenter.name"
                )));
            }
        }
        Ok(true)
    }

    pub async fn event_get(&self, id: EventSeq) -> Result<Event> {
        Ok(self.store.event_get(id).await?)
    }

    /// Writes an external event under its origin, with the code oVirt gives external events
    /// of that severity.
    pub async fn event_add(&self, who: &Principal, e: ExternalEvent) -> Result<Event> {
        if e.origin.trim().is_empty() || e.origin.trim().eq_ignore_ascii_case("ovirt") {
            return Err(AppError::InvalidInput(format!(
                "an external event needs an origin of its own (the system writing it), not '{}'",
                e.origin
            )));
        }
        if e.description.trim().is_empty() {
            return Err(AppError::InvalidInput("an external event needs a description".into()));
        }
        // The objects it is about must exist (a missing one is the request's fault).
        let r = &e.refs;
        let missing = |what: &'static str, id: String| {
            move |err: StoreError| missing_reference(err, what, &Named::<String>::Id(id))
        };
        if let Some(id) = r.vm_id {
            self.store.vm_get(id).await.map_err(missing("VM", id.to_string()))?;
        }
        if let Some(id) = r.host_id {
            self.store.host_get(id).await.map_err(missing("host", id.to_string()))?;
        }
        if let Some(id) = r.cluster_id {
            self.store.cluster_get(id).await.map_err(missing("cluster", id.to_string()))?;
        }
        if let Some(id) = r.data_center_id {
            self.store.data_center_get(id).await.map_err(missing("data center", id.to_string()))?;
        }
        if let Some(id) = r.storage_domain_id {
            self.store.storage_domain_get(id).await.map_err(missing("storage domain", id.to_string()))?;
        }
        if let Some(id) = r.template_id {
            self.store.template_get(id).await.map_err(missing("template", id.to_string()))?;
        }
        if let Some(id) = r.user_id {
            self.store.user_get(id).await.map_err(missing("user", id.to_string()))?;
        }
        let code = match e.severity {
            Severity::Normal => AuditCode::EXTERNAL_EVENT_NORMAL,
            Severity::Warning => AuditCode::EXTERNAL_EVENT_WARNING,
            Severity::Error => AuditCode::EXTERNAL_EVENT_ERROR,
            Severity::Alert => AuditCode::EXTERNAL_ALERT,
        };
        let event = NewEvent {
            time: Timestamp::now(),
            severity: e.severity,
            code: code.code(),
            description: e.description,
            refs: EventRefs { user_id: e.refs.user_id.or(Some(who.user_id)), ..e.refs },
            correlation_id: e.correlation_id,
            origin: Some(e.origin),
            custom_id: Some(e.custom_id),
        };
        Ok(self.store.event_insert(&event).await?)
    }

    /// Removes one event from the audit log (oVirt lets an administrator delete any).
    pub async fn event_remove(&self, _who: &Principal, id: EventSeq) -> Result<()> {
        Ok(self.store.event_delete(id).await?)
    }
}
