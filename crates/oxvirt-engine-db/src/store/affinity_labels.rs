//! Affinity labels and their assignments to VMs and hosts.

use super::assignments::{Assignments, assignment_add, assignment_objects, assignment_remove};
use super::error::{Result, StoreError, WriteCtx};
use super::sql::{RowExt as _, Sql};
use crate::model::AffinityLabel;
use oxvirt_types::{AffinityLabelId, HostId, VmId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const LABEL_COLUMNS: &str = "id, name";

fn label_from_row(r: &AnyRow) -> Result<AffinityLabel> {
    Ok(AffinityLabel { id: r.parse("id")?, name: r.text("name")? })
}

async fn label_write(c: &mut AnyConnection, sql: &'static str, l: &AffinityLabel, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql).bind(l.id.to_string()).bind(l.name.clone()).execute(&mut *c).await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx =
                WriteCtx::new(doing, "affinity_labels", "affinity label", format!("affinity label '{}'", l.name), l.id)
                    .unique(
                        "affinity_labels_name_key",
                        format!("an affinity label named '{}' already exists; choose another name", l.name),
                    );
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn affinity_label_insert(c: &mut AnyConnection, l: &AffinityLabel) -> Result<()> {
    label_write(c, "INSERT INTO affinity_labels (id, name) VALUES ($1, $2)", l, "adding an affinity label")
        .await
        .map(drop)
}

pub(crate) async fn affinity_label_get(c: &mut AnyConnection, id: AffinityLabelId) -> Result<AffinityLabel> {
    let sql = format!("SELECT {LABEL_COLUMNS} FROM affinity_labels WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading an affinity label"))?;
    label_from_row(&row.ok_or_else(|| StoreError::not_found("affinity label", id))?)
}

/// Every label, by name.
pub(crate) async fn affinity_label_list(c: &mut AnyConnection) -> Result<Vec<AffinityLabel>> {
    let q = Sql::new(&format!("SELECT {LABEL_COLUMNS} FROM affinity_labels ORDER BY name, id"));
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing affinity labels"))?;
    rows.iter().map(label_from_row).collect()
}

pub(crate) async fn affinity_label_update(c: &mut AnyConnection, l: &AffinityLabel) -> Result<()> {
    if label_write(c, "UPDATE affinity_labels SET name = $2 WHERE id = $1", l, "updating an affinity label").await? == 0
    {
        return Err(StoreError::not_found("affinity label", l.id));
    }
    Ok(())
}

/// Removes a label and its assignments.
pub(crate) async fn affinity_label_delete(c: &mut AnyConnection, id: AffinityLabelId) -> Result<()> {
    let r = sqlx::query("DELETE FROM affinity_labels WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing an affinity label"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("affinity label", id));
    }
    Ok(())
}

fn parsed<T: std::str::FromStr>(column: &str, text: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| StoreError::Corrupt { column: column.to_owned(), detail: e.to_string() })
}

/// The VMs carrying a label.
pub(crate) async fn affinity_label_vms(c: &mut AnyConnection, label: AffinityLabelId) -> Result<Vec<VmId>> {
    let ids = assignment_objects(c, &VM_LABELS, &label.to_string()).await?;
    ids.iter().map(|i| parsed("vm_affinity_labels.vm_id", i)).collect()
}

/// The hosts carrying a label.
pub(crate) async fn affinity_label_hosts(c: &mut AnyConnection, label: AffinityLabelId) -> Result<Vec<HostId>> {
    let ids = assignment_objects(c, &HOST_LABELS, &label.to_string()).await?;
    ids.iter().map(|i| parsed("host_affinity_labels.host_id", i)).collect()
}

/// The labels on a VM, by name.
pub(crate) async fn vm_affinity_label_list(c: &mut AnyConnection, vm: VmId) -> Result<Vec<AffinityLabel>> {
    labels_of(c, &VM_LABELS, &vm.to_string()).await
}

/// The labels on a host, by name.
pub(crate) async fn host_affinity_label_list(c: &mut AnyConnection, host: HostId) -> Result<Vec<AffinityLabel>> {
    labels_of(c, &HOST_LABELS, &host.to_string()).await
}

async fn labels_of(c: &mut AnyConnection, a: &Assignments, object: &str) -> Result<Vec<AffinityLabel>> {
    let sql = format!(
        "SELECT {LABEL_COLUMNS} FROM affinity_labels WHERE id IN (SELECT label_id FROM {} WHERE {} = $1) \
         ORDER BY name, id",
        a.table, a.column
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(object.to_owned())
        .fetch_all(&mut *c)
        .await
        .map_err(StoreError::db(format!("listing the affinity labels of a {}", a.what)))?;
    rows.iter().map(label_from_row).collect()
}

pub(crate) async fn vm_affinity_label_add(c: &mut AnyConnection, vm: VmId, label: AffinityLabelId) -> Result<bool> {
    assignment_add(c, &VM_LABELS, &vm.to_string(), &label.to_string()).await
}

pub(crate) async fn vm_affinity_label_remove(c: &mut AnyConnection, vm: VmId, label: AffinityLabelId) -> Result<bool> {
    assignment_remove(c, &VM_LABELS, &vm.to_string(), &label.to_string()).await
}

pub(crate) async fn host_affinity_label_add(
    c: &mut AnyConnection,
    host: HostId,
    label: AffinityLabelId,
) -> Result<bool> {
    assignment_add(c, &HOST_LABELS, &host.to_string(), &label.to_string()).await
}

pub(crate) async fn host_affinity_label_remove(
    c: &mut AnyConnection,
    host: HostId,
    label: AffinityLabelId,
) -> Result<bool> {
    assignment_remove(c, &HOST_LABELS, &host.to_string(), &label.to_string()).await
}

const VM_LABELS: Assignments = Assignments {
    table: "vm_affinity_labels",
    column: "vm_id",
    mark: "label_id",
    unique: "vm_affinity_labels_vm_id_label_id_key",
    mark_fkey: "vm_affinity_labels_label_id_fkey",
    what: "VM",
    mark_what: "affinity label",
    mark_table: "affinity_labels",
};

const HOST_LABELS: Assignments = Assignments {
    table: "host_affinity_labels",
    column: "host_id",
    mark: "label_id",
    unique: "host_affinity_labels_host_id_label_id_key",
    mark_fkey: "host_affinity_labels_label_id_fkey",
    what: "host",
    mark_what: "affinity label",
    mark_table: "affinity_labels",
};
