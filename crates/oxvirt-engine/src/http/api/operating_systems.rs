//! Guest operating systems (`/operatingsystems`): oVirt's catalog of OS types, read-only.

use super::*;
use crate::app::OperatingSystem;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/operatingsystems", get(operating_system_list))
        .route("/operatingsystems/{id}", get(operating_system_get))
}

/// oVirt's `operating_system` (`OperatingSystemInfo`): the numeric id, the unique name a VM's
/// `os.type` carries, the description people read, the architecture.
fn operating_system_el(o: &OperatingSystem) -> Element {
    Element::new("operating_system")
        .href(api_href(&format!("operatingsystems/{}", o.id)))
        .id(o.id)
        .text_child("name", o.name)
        .text_child("description", o.description)
        .enum_child("architecture", o.architecture.as_str())
}

// The collection's element is `operation_systems`, not `operating_systems`: that is how
// oVirt's API model names it, and the SDK's reader knows only that spelling.
to_element!(OperatingSystem, "operation_systems", operating_system_el);

async fn operating_system_list(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    Params(p): Params<ListParams>,
) -> Result<Reply, Failure> {
    Ok(Reply::list(fmt, &app.operating_system_list(&p.query()?)?))
}

async fn operating_system_get(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(id): IdPath<Segment>,
) -> Result<Reply, Failure> {
    Ok(Reply::ok(fmt, &app.operating_system_get(id.as_str())?))
}
