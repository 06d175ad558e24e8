//! Templates (`Blank` is seeded by the migrations).

use super::error::{Result, StoreError, WriteCtx};
use super::filter::{SortBy, TemplateFilter};
use super::sql::{RowExt as _, Sql, insert_sql, update_sql};
use super::vms::{bind_config, config_columns, config_from_row};
use crate::model::{BLANK_TEMPLATE_ID, Template, Timestamp};
use oxvirt_types::TemplateId;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const TEMPLATE_COLUMNS: &str =
    concat!("id, name, description, comment, cluster_id, ", config_columns!(), ", status, created");

fn template_from_row(r: &AnyRow) -> Result<Template> {
    Ok(Template {
        id: r.parse("id")?,
        name: r.text("name")?,
        description: r.text("description")?,
        comment: r.text("comment")?,
        cluster_id: r.parse_opt("cluster_id")?,
        config: config_from_row(r)?,
        status: r.parse("status")?,
        created: Timestamp(r.int("created")?),
    })
}

async fn template_write(c: &mut AnyConnection, sql: String, t: &Template, doing: &str) -> Result<u64> {
    let q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(t.id.to_string())
        .bind(t.name.clone())
        .bind(t.description.clone())
        .bind(t.comment.clone())
        .bind(t.cluster_id.map(|id| id.to_string()));
    let q = bind_config(q, &t.config)?.bind(t.status.as_str()).bind(t.created.0);
    match q.execute(&mut *c).await {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "templates", "template", format!("template '{}'", t.name), t.id)
                .unique(
                    "templates_name_key",
                    format!("a template named '{}' already exists; choose another name", t.name),
                )
                .reference_opt("templates_cluster_id_fkey", "cluster", "clusters", t.cluster_id);
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn template_insert(c: &mut AnyConnection, t: &Template) -> Result<()> {
    template_write(c, insert_sql("templates", TEMPLATE_COLUMNS), t, "adding a template").await.map(drop)
}

pub(crate) async fn template_get(c: &mut AnyConnection, id: TemplateId) -> Result<Template> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a template"))?;
    template_from_row(&row.ok_or_else(|| StoreError::not_found("template", id))?)
}

pub(crate) async fn template_get_by_name(c: &mut AnyConnection, name: &str) -> Result<Template> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TEMPLATE_COLUMNS} FROM templates WHERE name = $1")))
        .bind(name.to_owned())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a template"))?;
    template_from_row(&row.ok_or_else(|| StoreError::not_found("template", format!("'{name}'")))?)
}

/// Templates; with a `cluster_id`, those of that cluster plus the cluster-less ones (`Blank`),
/// which every cluster can use.
pub(crate) async fn template_list(c: &mut AnyConnection, f: &TemplateFilter) -> Result<Vec<Template>> {
    let mut q = Sql::new(&format!("SELECT {TEMPLATE_COLUMNS} FROM templates WHERE 1 = 1"));
    q.name_like("name", &f.name);
    if let Some(cluster) = f.cluster_id {
        q.push(" AND (cluster_id IS NULL OR cluster_id = ").bind(cluster.to_string()).push(")");
    }
    if let Some(dc) = f.data_center_id {
        q.push(" AND (cluster_id IS NULL OR cluster_id IN (SELECT id FROM clusters WHERE data_center_id = ")
            .bind(dc.to_string())
            .push("))");
    }
    if let Some(id) = f.id {
        q.push(" AND id = ").bind(id.to_string());
    }
    let column = match f.page.sort_by {
        SortBy::Name => "name",
        SortBy::Status => "status",
        SortBy::Created => "created",
    };
    q.order_and_page(column, &f.page, &["name", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing templates"))?;
    rows.iter().map(template_from_row).collect()
}

pub(crate) async fn template_update(c: &mut AnyConnection, t: &Template) -> Result<()> {
    if template_write(c, update_sql("templates", TEMPLATE_COLUMNS), t, "updating a template").await? == 0 {
        return Err(StoreError::not_found("template", t.id));
    }
    Ok(())
}

/// Removes a template. Refused for `Blank` and while VMs are based on it.
pub(crate) async fn template_delete(c: &mut AnyConnection, id: TemplateId) -> Result<()> {
    if id == BLANK_TEMPLATE_ID {
        return Err(StoreError::Refused("the Blank template cannot be removed: every installation needs it".into()));
    }
    let res = sqlx::query("DELETE FROM templates WHERE id = $1").bind(id.to_string()).execute(&mut *c).await;
    match res {
        Ok(r) if r.rows_affected() == 0 => Err(StoreError::not_found("template", id)),
        Ok(_) => Ok(()),
        Err(e) => {
            let ctx = WriteCtx::new("removing a template", "templates", "template", format!("template {id}"), id)
                .dependent(
                    "vms_template_id_fkey",
                    "VMs based on it",
                    "SELECT COUNT(*) FROM vms WHERE template_id = $1",
                );
            Err(ctx.explain(c, e).await)
        }
    }
}
