//! `GET /ovirt-engine/api/oxvirt/storagedomains/{id}/check`: an oxvirt extension (oVirt has
//! no such call) listing what a storage domain holds that the database does not know, and the
//! disk volumes the database has whose volume is missing or not legal (see
//! `app::storage_check`).

use super::*;
use crate::app::storage_check::StorageCheck;
use oxvirt_types::StorageDomainId;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/oxvirt/storagedomains/{id}/check", get(storage_domain_check))
}

to_element!(StorageCheck, "storage_checks", storage_check_el);

fn storage_check_el(c: &StorageCheck) -> Element {
    let mut without_row = Element::new("volumes_without_row");
    for (image, volume) in &c.volumes_without_row {
        without_row = without_row.child(
            Element::new("volume").text_child("image_id", image.to_string()).text_child("id", volume.to_string()),
        );
    }
    let mut without_volume = Element::new("rows_without_legal_volume");
    for (alias, image, volume) in &c.rows_without_legal_volume {
        without_volume = without_volume.child(
            Element::new("volume")
                .text_child("disk", alias.clone())
                .text_child("image_id", image.to_string())
                .text_child("id", volume.to_string()),
        );
    }
    Element::new("storage_check")
        .child(
            Element::new("storage_domain")
                .attr("id", c.storage_domain_id.to_string())
                .text_child("name", c.storage_domain_name.clone()),
        )
        .bool_child("clean", c.is_clean())
        .child(without_row)
        .child(without_volume)
}

async fn storage_domain_check(
    State(app): State<AppState>,
    Accept(fmt): Accept,
    IdPath(sd): IdPath<StorageDomainId>,
) -> Result<Reply, Failure> {
    let check = app.storage_domain_check(sd).await?;
    Ok(Reply::ok(fmt, &check))
}
