//! Jobs (`/jobs`) and their steps: what the engine is doing or did, for clients that follow
//! long operations.

use super::*;
use crate::app::jobs::{ExternalJobAdd, ExternalStepAdd};
use oxvirt_engine_db::model::{Job, Step, StepType};
use oxvirt_types::{JobId, StepId};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs", get(job_list).post(job_add))
        .route("/jobs/{id}", get(job_get))
        .route("/jobs/{id}/steps", get(step_list).post(step_add))
        .route("/jobs/{id}/steps/{sid}", get(step_get))
        .route("/jobs/{id}/steps/{sid}/{action}", axum::routing::post(step_action))
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

/// A new external job: its description; it starts `started` (the only status a new job has)
/// and is external (the only kind a client can add).
impl FromElement for ExternalJobAdd {
    const ROOT: &'static str = "job";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        el.accept_default("status", "started");
        el.accept_default("external", "true");
        Ok(ExternalJobAdd {
            description: el.required_text("description")?,
            auto_cleared: el.bool("auto_cleared")?.unwrap_or(true),
        })
    }
}

async fn job_add(
    State(app): State<AppState>,
    Extension(who): Extension<Principal>,
    Accept(fmt): Accept,
    Body(req): Body<ExternalJobAdd>,
) -> Result<Reply, Failure> {
    Ok(Reply::created(fmt, &app.job_add_external(&who, req).await?))
}

/// A new step of an external job, and the job it names (if it does): the path's job.
struct StepAddBody {
    job: Option<JobId>,
    step: ExternalStepAdd,
}

impl FromElement for StepAddBody {
    const ROOT: &'static str = "step";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        el.accept_default("status", "started");
        el.accept_default("external", "true");
        Ok(StepAddBody {
            job: el.id_of::<JobId>("job")?,
            step: ExternalStepAdd {
                description: el.required_text("description")?,
                step_type: el
                    .parsed("type", "validating, executing, finalizing, rebooting or unknown", StepType::from_wire)?
                    .unwrap_or(StepType::Unknown),
                parent: el.id_of("parent_step")?,
            },
        })
    }
}

async fn step_add(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(j): IdPath<JobId>,
    Body(req): Body<StepAddBody>,
) -> Result<Reply, Failure> {
    if let Some(other) = req.job.filter(|other| *other != j) {
        return Err(invalid(format!("step.job names job {other}, but the step is added to job {j}; leave it out")));
    }
    Ok(Reply::created(fmt, &app.job_step_add_external(j, req.step).await?))
}

/// `end`'s parameters: whether the job or step succeeded (default true); `force` only at
/// false (the engine never forces).
struct EndBody {
    succeeded: Option<bool>,
}

impl FromElement for EndBody {
    const ROOT: &'static str = "action";
    fn from_element(el: &Element) -> Result<Self, Failure> {
        el.bool("async")?;
        el.accept_default("force", "false");
        Ok(EndBody { succeeded: el.bool("succeeded")? })
    }
}

async fn step_action(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath((j, s, action)): IdPath<(JobId, StepId, Segment)>,
    uri: axum::http::Uri,
    body: Result<Body<EndBody>, Failure>,
) -> Result<Reply, Failure> {
    if action.as_str() != "end" {
        return Err(unserved::unknown_action(uri.path(), &["end"]));
    }
    let Body(end) = body?;
    app.job_step_end(j, s, end.succeeded.unwrap_or(true)).await?;
    Ok(Reply::action_done(fmt, None))
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
    body: Result<Body<EndBody>, Failure>,
) -> Result<Reply, Failure> {
    let job: JobId = j;
    match action.as_str() {
        "clear" => {
            let Body(end) = body?;
            if end.succeeded.is_some() {
                return Err(invalid("clear takes no succeeded parameter (it is end's)"));
            }
            app.job_clear(&who, job).await?
        }
        "end" => {
            let Body(end) = body?;
            app.job_end_requested(job, end.succeeded.unwrap_or(true)).await?
        }
        _ => return Err(unserved::unknown_action(uri.path(), &["clear", "end"])),
    }
    Ok(Reply::action_done(fmt, None))
}
