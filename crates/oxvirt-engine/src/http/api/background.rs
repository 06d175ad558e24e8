//! `GET /ovirt-engine/api/oxvirt/backgroundtasks`: an oxvirt extension (oVirt has no such
//! collection) showing the engine's periodic tasks and how their last runs went, so an
//! administrator can tell a stuck or failing task without reading the log.

use super::*;
use crate::app::background::TaskStatus;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/oxvirt/backgroundtasks", get(background_task_list))
}

to_element!(TaskStatus, "background_tasks", background_task_el);

fn background_task_el(t: &TaskStatus) -> Element {
    let mut el = Element::new("background_task")
        .text_child("name", t.name)
        .int_child("period_seconds", t.period.as_secs())
        .int_child("runs", t.runs)
        .int_child("failures", t.failures)
        .bool_child("running", t.running);
    if let Some(start) = t.last_start {
        el = el.date_child("last_start", oxvirt_ovirt::date::from_epoch_millis(start.as_millis()));
    }
    if let Some(d) = t.last_duration {
        el = el.int_child("last_duration_ms", u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    }
    if let Some(e) = &t.last_error {
        el = el.text_child("last_error", e);
    }
    el
}

async fn background_task_list(State(app): State<AppState>, Accept(fmt): Accept) -> Result<Reply, Failure> {
    let items = app.background_status();
    Ok(Reply::list(fmt, &items))
}
