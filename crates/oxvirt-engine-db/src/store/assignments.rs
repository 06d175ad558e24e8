//! Marks assigned to VMs and hosts (tags, affinity labels): one table per kind of object and
//! mark, `(object, mark)` pairs; assigning twice changes nothing.

use super::error::{Result, StoreError, WriteCtx};
use sqlx::AnyConnection;

/// One assignment table: its name, the object and mark columns, its keys, and the nouns of
/// the object and the mark in messages.
pub(crate) struct Assignments {
    pub table: &'static str,
    pub column: &'static str,
    pub mark: &'static str,
    pub unique: &'static str,
    pub mark_fkey: &'static str,
    pub what: &'static str,
    pub mark_what: &'static str,
    pub mark_table: &'static str,
}

/// Assigns `mark` to `object`; `false` when it already was.
pub(crate) async fn assignment_add(c: &mut AnyConnection, a: &Assignments, object: &str, mark: &str) -> Result<bool> {
    let (table, column, mark_column, what, mark_what) = (a.table, a.column, a.mark, a.what, a.mark_what);
    let exists = format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1 AND {mark_column} = $2");
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(exists))
        .bind(object.to_owned())
        .bind(mark.to_owned())
        .fetch_one(&mut *c)
        .await
        .map_err(StoreError::db(format!("reading a {mark_what} assignment")))?;
    if n > 0 {
        return Ok(false);
    }
    let insert = format!("INSERT INTO {table} ({column}, {mark_column}) VALUES ($1, $2)");
    let res =
        sqlx::query(sqlx::AssertSqlSafe(insert)).bind(object.to_owned()).bind(mark.to_owned()).execute(&mut *c).await;
    match res {
        Ok(_) => Ok(true),
        Err(e) => {
            let object_text = format!("{mark_what} {mark} on {what} {object}");
            let ctx = WriteCtx::new(&format!("assigning a {mark_what}"), table, "assignment", object_text, mark)
                .unique(a.unique, format!("{mark_what} {mark} is already assigned to {what} {object}"))
                .reference(a.mark_fkey, a.mark_what, a.mark_table, mark);
            Err(ctx.explain(c, e).await)
        }
    }
}

/// Unassigns `mark` from `object`; `false` when it was not assigned.
pub(crate) async fn assignment_remove(
    c: &mut AnyConnection,
    a: &Assignments,
    object: &str,
    mark: &str,
) -> Result<bool> {
    let sql = format!("DELETE FROM {} WHERE {} = $1 AND {} = $2", a.table, a.column, a.mark);
    let r = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(object.to_owned())
        .bind(mark.to_owned())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db(format!("removing a {} assignment", a.mark_what)))?;
    Ok(r.rows_affected() > 0)
}

/// The objects `mark` is assigned to (their ids, in id order).
pub(crate) async fn assignment_objects(c: &mut AnyConnection, a: &Assignments, mark: &str) -> Result<Vec<String>> {
    let sql = format!("SELECT {} FROM {} WHERE {} = $1 ORDER BY {}", a.column, a.table, a.mark, a.column);
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(mark.to_owned())
        .fetch_all(&mut *c)
        .await
        .map_err(StoreError::db(format!("listing a {}'s assignments", a.mark_what)))
}
