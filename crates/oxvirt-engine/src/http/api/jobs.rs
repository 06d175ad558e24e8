//! Jobs (`/jobs`) and their steps: what the engine is doing or did, for clients that follow
//! long operations.

use super::*;
use oxvirt_engine_db::model::{Job, Step};
use oxvirt_types::{JobId, StepId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(job_list).post(job_add))
        .route("/jobs/{id}", get(job_get))
        .route("/jobs/{id}/steps", get(step_list))
        .route("/jobs/{id}/steps/{sid}", get(step_get))
        .route("/jobs/{id}/{action}", axum::routing::post(job_action))
}

to_element!(Job, "jobs", job_el);

fn job_el(j: &Job) -> Element {
    let mut el = Element::new("job")
        .href(href_of(j.id))
        .id(j.id)
        .text_child("description", &j.description)
        .enum_child("status", j.status.as_str())
        .date_child("start_time", time(j.start_time))
        .date_child("last_updated", time(j.last_updated))
        .bool_child("auto_cleared", j.auto_cleared)
        .bool_child("external", j.external);
    if let Some(end) = j.end_time {
        el = el.date_child("end_time", time(end));
    }
    if let Some(owner) = j.owner_id {
        el = el.reference_id("owner", owner);
    }
    el.sub_links(&["steps"]).actions(&["clear", "end"])
}

to_element!(Step, "steps", step_el);

fn step_el(s: &Step) -> Element {
    let job_href = href_of(s.job_id);
    let mut el = Element::new("step")
        .href(format!("{job_href}/steps/{}", s.id))
        .id(s.id)
        .text_child("description", &s.description)
        .enum_child("type", s.step_type.as_str())
        .int_child("number", s.number)
        .enum_child("status", s.status.as_str())
        .date_child("start_time", time(s.start_time))
        .bool_child("external", false)
        .reference("job", s.job_id, job_href.clone());
    if let Some(end) = s.end_time {
        el = el.date_child("end_time", time(end));
    }
    if let Some(p) = s.progress {
        el = el.int_child("progress", p);
    }
    if let Some(parent) = s.parent_step_id {
        el = el.reference("parent_step", parent, format!("{job_href}/steps/{parent}"));
    }
    el
}

async fn job_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    let jobs = app.job_search(&p.query()?).await?;
    Ok(Reply::list(fmt, &jobs))
}

async fn job_get(State(app): State<AppState>, Accept(fmt): Accept, IdPath(j): IdPath<JobId>) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.job_get(j).await?))
}

/// External jobs (made by outside tools through the API) are not supported yet.
async fn job_add() -> Failure {
    Failure::new(ErrorKind::InvalidInput, "adding external jobs is not supported yet; the engine records its own jobs")
}

async fn step_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(j): IdPath<JobId>,
) -> Result<Reply, Failure> {
    let steps = app.job_steps(j).await?;
    Ok(Reply::list(fmt, &steps))
}

async fn step_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((j, s)): IdPath<(JobId, StepId)>,
) -> Result<Reply, Failure> {
    let step = app.job_step_get(j, s).await?;
    Ok(Reply::ok(fmt, &step))
}

async fn job_action(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    IdPath((j, action)): IdPath<(JobId, Segment)>,
    uri: axum::http::Uri,
    body: Result<Body<ActionBody>, Failure>,
) -> Result<Reply, Failure> {
    let job: JobId = j;
    match action.as_str() {
        "clear" => {
            body?;
            app.job_clear(&who, job).await?
        }
        "end" => {
            body?;
            app.job_end_requested(job).await?
        }
        _ => return Err(unserved::unknown_action(uri.path(), &["clear", "end"])),
    }
    Ok(Reply::action_done(fmt, None))
}
