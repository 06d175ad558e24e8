//! The audit log as the API lists it (incremental polling with `from`).

use super::query::ListQuery;
use super::{App, AppError, Result};

impl App {
    /// The audit log, newest first unless the search says `sortby time asc`; `from` keeps
    /// only events numbered above it (oVirt's incremental polling).
    pub async fn event_list(&self, from: Option<i64>, q: &ListQuery) -> Result<Vec<oxvirt_engine_db::model::Event>> {
        let mut descending = true;
        if q.any_of.iter().any(|group| !group.is_empty()) {
            return Err(AppError::InvalidInput(
                "events can be searched only with 'sortby time asc|desc' for now".into(),
            ));
        }
        if let Some(sort) = &q.sort {
            if sort.field != "time" {
                return Err(AppError::InvalidInput(format!(
                    "cannot sort events by '{}'; use 'sortby time'",
                    sort.field
                )));
            }
            descending = sort.descending;
        }
        let filter = oxvirt_engine_db::store::EventFilter {
            after: from.map(oxvirt_engine_db::model::EventSeq),
            descending,
            limit: q.max,
            ..oxvirt_engine_db::store::EventFilter::default()
        };
        Ok(self.store.event_list(&filter).await?)
    }
}
