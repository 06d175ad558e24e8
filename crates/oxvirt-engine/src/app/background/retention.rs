//! Retention: the audit log and finished jobs do not grow without bound.
//!
//! oVirt's defaults: audit events are kept 30 days (`AuditLogAgingThreshold`); finished jobs
//! that clear themselves are removed soon after they end (`SucceededJobCleanupTimeInMinutes`
//! 10, `FailedJobCleanupTimeInMinutes` 60). Here one age, the longer of the two, serves every
//! finished auto-cleared job; jobs an administrator must look at (not auto-cleared) stay until
//! cleared through the API.

use crate::app::{App, Result};
use oxvirt_engine_db::model::Timestamp;
use std::time::Duration;

/// How long audit events are kept.
pub const EVENT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a finished, auto-cleared job is kept after it ended.
pub const JOB_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// How often retention runs (oVirt's `JobCleanupRateInMinutes`).
pub const PERIOD: Duration = Duration::from_secs(10 * 60);

impl App {
    /// Removes events older than [`EVENT_MAX_AGE`] and auto-cleared jobs that ended more than
    /// [`JOB_MAX_AGE`] before `now`; returns how many of each.
    pub async fn retention_run(&self, now: Timestamp) -> Result<(u64, u64)> {
        let before =
            |age: Duration| Timestamp(now.0.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
        let events = self.store.event_delete_before(before(EVENT_MAX_AGE)).await?;
        let jobs = self.store.job_delete_cleared_before(before(JOB_MAX_AGE)).await?;
        if events + jobs > 0 {
            tracing::info!(events, jobs, "retention removed old audit events and finished jobs");
        }
        Ok((events, jobs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvirt_engine_db::model::{AuditCode, EventRefs, NewEvent, Severity};
    use oxvirt_engine_db::store::EventFilter;

    #[tokio::test]
    async fn events_older_than_thirty_days_go_and_younger_ones_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = oxvirt_engine_db::Store::open(&format!("sqlite://{}", dir.path().join("e.db").display()))
            .await
            .expect("store");
        let pki = crate::pki::EnginePki::load_or_create(&dir.path().join("pki"), &["localhost".into()]).expect("pki");
        let (app, _) = App::open(store, pki, Some("pw".into()), Default::default()).await.expect("app");
        let now = Timestamp(100 * 24 * 3600 * 1000);
        let day = 24 * 3600 * 1000;
        for (age_days, text) in [(31, "old"), (29, "recent")] {
            let event = NewEvent {
                time: Timestamp(now.0 - age_days * day),
                severity: Severity::Normal,
                code: AuditCode::USER_ADD_VM.code(),
                description: text.into(),
                refs: EventRefs::default(),
                correlation_id: None,
                origin: None,
                custom_id: None,
            };
            app.store.event_insert(&event).await.expect("insert event");
        }
        assert_eq!(app.retention_run(now).await.expect("retention"), (1, 0));
        let left: Vec<String> = app
            .store
            .event_list(&EventFilter::default())
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.description)
            .collect();
        assert_eq!(left, ["recent"]);
    }
}
