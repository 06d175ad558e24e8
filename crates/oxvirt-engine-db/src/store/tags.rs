//! Tags and their assignments to VMs and hosts.

use super::assignments::{Assignments, assignment_add, assignment_remove};
use super::error::{Result, StoreError, WriteCtx};
use super::sql::{RowExt as _, Sql};
use crate::model::Tag;
use oxvirt_types::{HostId, TagId, VmId};
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const TAG_COLUMNS: &str = "id, name, description, parent_id";

fn tag_from_row(r: &AnyRow) -> Result<Tag> {
    Ok(Tag {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        parent_id: r.parse_opt("parent_id")?,
    })
}

async fn tag_write(c: &mut AnyConnection, sql: &'static str, t: &Tag, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(t.id.to_string())
        .bind(t.name.clone())
        .bind(t.description.clone())
        .bind(t.parent_id.map(|p| p.to_string()))
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "tags", "tag", format!("tag '{}'", t.name), t.id)
                .unique("tags_name_key", format!("a tag named '{}' already exists; choose another name", t.name))
                .reference_opt("tags_parent_id_fkey", "parent tag", "tags", t.parent_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn tag_insert(c: &mut AnyConnection, t: &Tag) -> Result<()> {
    tag_write(c, "INSERT INTO tags (id, name, description, parent_id) VALUES ($1, $2, $3, $4)", t, "adding a tag")
        .await
        .map(drop)
}

pub(crate) async fn tag_get(c: &mut AnyConnection, id: TagId) -> Result<Tag> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TAG_COLUMNS} FROM tags WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a tag"))?;
    tag_from_row(&row.ok_or_else(|| StoreError::not_found("tag", id))?)
}

pub(crate) async fn tag_get_by_name(c: &mut AnyConnection, name: &str) -> Result<Tag> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TAG_COLUMNS} FROM tags WHERE name = $1")))
        .bind(name.to_owned())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a tag"))?;
    tag_from_row(&row.ok_or_else(|| StoreError::not_found("tag", format!("'{name}'")))?)
}

/// Every tag, `root` included, by name.
pub(crate) async fn tag_list(c: &mut AnyConnection) -> Result<Vec<Tag>> {
    let q = Sql::new(&format!("SELECT {TAG_COLUMNS} FROM tags ORDER BY name, id"));
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing tags"))?;
    rows.iter().map(tag_from_row).collect()
}

pub(crate) async fn tag_update(c: &mut AnyConnection, t: &Tag) -> Result<()> {
    let sql = "UPDATE tags SET name = $2, description = $3, parent_id = $4 WHERE id = $1";
    if tag_write(c, sql, t, "updating a tag").await? == 0 {
        return Err(StoreError::not_found("tag", t.id));
    }
    Ok(())
}

/// Removes a tag with its subtags and every assignment of them.
pub(crate) async fn tag_delete(c: &mut AnyConnection, id: TagId) -> Result<()> {
    let r = sqlx::query("DELETE FROM tags WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing a tag"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("tag", id));
    }
    Ok(())
}

/// The tags assigned to a VM, by name.
pub(crate) async fn vm_tag_list(c: &mut AnyConnection, vm: VmId) -> Result<Vec<Tag>> {
    let sql = format!(
        "SELECT {TAG_COLUMNS} FROM tags WHERE id IN (SELECT tag_id FROM vm_tags WHERE vm_id = $1) ORDER BY name, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(vm.to_string())
        .fetch_all(&mut *c)
        .await
        .map_err(StoreError::db("listing a VM's tags"))?;
    rows.iter().map(tag_from_row).collect()
}

/// Assigns a tag to a VM; assigning it again changes nothing (returns false).
pub(crate) async fn vm_tag_add(c: &mut AnyConnection, vm: VmId, tag: TagId) -> Result<bool> {
    assignment_add(c, &VM_TAGS, &vm.to_string(), &tag.to_string()).await
}

/// Unassigns a tag from a VM; false when it was not assigned.
pub(crate) async fn vm_tag_remove(c: &mut AnyConnection, vm: VmId, tag: TagId) -> Result<bool> {
    assignment_remove(c, &VM_TAGS, &vm.to_string(), &tag.to_string()).await
}

/// The tags assigned to a host, by name.
pub(crate) async fn host_tag_list(c: &mut AnyConnection, host: HostId) -> Result<Vec<Tag>> {
    let sql = format!(
        "SELECT {TAG_COLUMNS} FROM tags WHERE id IN (SELECT tag_id FROM host_tags WHERE host_id = $1) \
         ORDER BY name, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(host.to_string())
        .fetch_all(&mut *c)
        .await
        .map_err(StoreError::db("listing a host's tags"))?;
    rows.iter().map(tag_from_row).collect()
}

pub(crate) async fn host_tag_add(c: &mut AnyConnection, host: HostId, tag: TagId) -> Result<bool> {
    assignment_add(c, &HOST_TAGS, &host.to_string(), &tag.to_string()).await
}

pub(crate) async fn host_tag_remove(c: &mut AnyConnection, host: HostId, tag: TagId) -> Result<bool> {
    assignment_remove(c, &HOST_TAGS, &host.to_string(), &tag.to_string()).await
}

const VM_TAGS: Assignments = Assignments {
    table: "vm_tags",
    column: "vm_id",
    mark: "tag_id",
    unique: "vm_tags_vm_id_tag_id_key",
    mark_fkey: "vm_tags_tag_id_fkey",
    what: "VM",
    mark_what: "tag",
    mark_table: "tags",
};

const HOST_TAGS: Assignments = Assignments {
    table: "host_tags",
    column: "host_id",
    mark: "tag_id",
    unique: "host_tags_host_id_tag_id_key",
    mark_fkey: "host_tags_tag_id_fkey",
    what: "host",
    mark_what: "tag",
    mark_table: "tags",
};
