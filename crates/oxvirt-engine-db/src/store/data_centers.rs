//! Data centers (removed with their networks; refused while clusters or storage domains are
//! in them).

use super::error::{Result, StoreError, WriteCtx};
use super::filter::{DataCenterFilter, SortBy};
use super::sql::{RowExt as _, Sql};
use crate::model::{DataCenter, Version};
use oxvirt_types::DataCenterId;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const DC_COLUMNS: &str = "id, name, description, local, status, version_major, version_minor, comment";

fn dc_from_row(r: &AnyRow) -> Result<DataCenter> {
    Ok(DataCenter {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
        local: r.flag("local")?,
        status: r.status("status")?,
        version: Version { major: r.int_as("version_major")?, minor: r.int_as("version_minor")? },
    })
}

fn dc_ctx(doing: &str, dc: &DataCenter) -> WriteCtx {
    WriteCtx::new(doing, "data_centers", "data center", format!("data center '{}'", dc.name), dc.id).unique(
        "data_centers_name_key",
        format!("a data center named '{}' already exists; choose another name", dc.name),
    )
}

pub(crate) async fn data_center_insert(c: &mut AnyConnection, dc: &DataCenter) -> Result<()> {
    let q = sqlx::query(
        "INSERT INTO data_centers (id, name, description, local, status, version_major, version_minor, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    );
    let res = bind_dc(q, dc).execute(&mut *c).await;
    match res {
        Ok(_) => Ok(()),
        Err(e) => Err(dc_ctx("adding a data center", dc).explain(c, e).await),
    }
}

fn bind_dc<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    dc: &DataCenter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(dc.id.to_string())
        .bind(dc.name.clone())
        .bind(dc.description.clone())
        .bind(dc.local)
        .bind(dc.status.as_str())
        .bind(i64::from(dc.version.major))
        .bind(i64::from(dc.version.minor))
        .bind(dc.comment.clone())
}

pub(crate) async fn data_center_get(c: &mut AnyConnection, id: DataCenterId) -> Result<DataCenter> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DC_COLUMNS} FROM data_centers WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a data center"))?;
    dc_from_row(&row.ok_or_else(|| StoreError::not_found("data center", id))?)
}

pub(crate) async fn data_center_get_by_name(c: &mut AnyConnection, name: &str) -> Result<DataCenter> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {DC_COLUMNS} FROM data_centers WHERE name = $1")))
        .bind(name.to_owned())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a data center"))?;
    dc_from_row(&row.ok_or_else(|| StoreError::not_found("data center", format!("'{name}'")))?)
}

pub(crate) async fn data_center_list(c: &mut AnyConnection, f: &DataCenterFilter) -> Result<Vec<DataCenter>> {
    let mut q = Sql::new(&format!("SELECT {DC_COLUMNS} FROM data_centers WHERE 1 = 1"));
    q.name_like("name", &f.name).eq_opt("status", f.status.map(|s| s.as_str().to_owned()));
    let column = match f.page.sort_by {
        SortBy::Status => "status",
        SortBy::Name | SortBy::Created => "name",
    };
    q.order_and_page(column, &f.page, &["name", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing data centers"))?;
    rows.iter().map(dc_from_row).collect()
}

pub(crate) async fn data_center_update(c: &mut AnyConnection, dc: &DataCenter) -> Result<()> {
    let q = sqlx::query(
        "UPDATE data_centers SET name = $2, description = $3, local = $4, status = $5, version_major = $6, \
         version_minor = $7, comment = $8 WHERE id = $1",
    );
    match bind_dc(q, dc).execute(&mut *c).await {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("data center", dc.id)),
        Ok(_) => Ok(()),
        Err(e) => Err(dc_ctx("updating a data center", dc).explain(c, e).await),
    }
}

/// Removes a data center with its networks. Refused while clusters or storage domains are in it.
pub(crate) async fn data_center_delete(c: &mut AnyConnection, id: DataCenterId) -> Result<()> {
    let res = sqlx::query("DELETE FROM data_centers WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("data center", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx =
                WriteCtx::new("removing a data center", "data_centers", "data center", format!("data center {id}"), id)
                    .dependent(
                        "clusters_data_center_id_fkey",
                        "clusters",
                        "SELECT COUNT(*) FROM clusters WHERE data_center_id = $1",
                    )
                    .dependent(
                        "storage_domain_attachments_data_center_id_fkey",
                        "attached storage domains",
                        "SELECT COUNT(*) FROM storage_domain_attachments WHERE data_center_id = $1",
                    );
            Err(ctx.explain(c, e).await)
        }
    }
}
