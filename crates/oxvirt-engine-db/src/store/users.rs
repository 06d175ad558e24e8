//! Users.

use super::error::{Result, StoreError, WriteCtx};
use super::filter::UserFilter;
use super::sql::{RowExt as _, Sql};
use crate::model::{Timestamp, User};
use oxvirt_types::UserId;
use sqlx::AnyConnection;
use sqlx::any::AnyRow;

const USER_COLUMNS: &str = "id, name, domain, password_hash, email, enabled, created";

fn user_from_row(r: &AnyRow) -> Result<User> {
    Ok(User {
        id: r.parse("id")?,
        name: r.text("name")?,
        domain: r.text("domain")?,
        password_hash: r.text_opt("password_hash")?,
        email: r.text_opt("email")?,
        enabled: r.flag("enabled")?,
        created: Timestamp(r.int("created")?),
    })
}

async fn user_write(c: &mut AnyConnection, sql: &'static str, u: &User, doing: &str) -> Result<u64> {
    let res = sqlx::query(sql)
        .bind(u.id.to_string())
        .bind(u.name.clone())
        .bind(u.domain.clone())
        .bind(u.password_hash.clone())
        .bind(u.email.clone())
        .bind(u.enabled)
        .bind(u.created.0)
        .execute(&mut *c)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected()),
        Err(e) => {
            let ctx = WriteCtx::new(doing, "users", "user", format!("user '{}'", u.principal()), u.id)
                .unique("users_domain_name_key", format!("a user named '{}' already exists", u.principal()));
            Err(ctx.explain(c, e).await)
        }
    }
}

pub(crate) async fn user_insert(c: &mut AnyConnection, u: &User) -> Result<()> {
    user_write(
        c,
        "INSERT INTO users (id, name, domain, password_hash, email, enabled, created) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        u,
        "adding a user",
    )
    .await
    .map(drop)
}

pub(crate) async fn user_get(c: &mut AnyConnection, id: UserId) -> Result<User> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
        .bind(id.to_string())
        .fetch_optional(&mut *c)
        .await
        .map_err(StoreError::db("reading a user"))?;
    user_from_row(&row.ok_or_else(|| StoreError::not_found("user", id))?)
}

/// The user `name@domain` (what a login names).
pub(crate) async fn user_get_by_name(c: &mut AnyConnection, domain: &str, name: &str) -> Result<User> {
    let row =
        sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE domain = $1 AND name = $2")))
            .bind(domain.to_owned())
            .bind(name.to_owned())
            .fetch_optional(&mut *c)
            .await
            .map_err(StoreError::db("reading a user"))?;
    user_from_row(&row.ok_or_else(|| StoreError::not_found("user", format!("'{name}@{domain}'")))?)
}

pub(crate) async fn user_list(c: &mut AnyConnection, f: &UserFilter) -> Result<Vec<User>> {
    let mut q = Sql::new(&format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1"));
    q.name_like("name", &f.name).eq_opt("domain", f.domain.clone());
    q.order_and_page("name", &f.page, &["domain", "id"]);
    let rows = q.build()?.fetch_all(&mut *c).await.map_err(StoreError::db("listing users"))?;
    rows.iter().map(user_from_row).collect()
}

pub(crate) async fn user_update(c: &mut AnyConnection, u: &User) -> Result<()> {
    let n = user_write(
        c,
        "UPDATE users SET name = $2, domain = $3, password_hash = $4, email = $5, enabled = $6, created = $7 \
         WHERE id = $1",
        u,
        "updating a user",
    )
    .await?;
    if n == 0 {
        return Err(StoreError::not_found("user", u.id));
    }
    Ok(())
}

/// Removes a user; jobs they owned keep running without an owner.
pub(crate) async fn user_delete(c: &mut AnyConnection, id: UserId) -> Result<()> {
    let r = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(StoreError::db("removing a user"))?;
    if r.rows_affected() == 0 {
        return Err(StoreError::not_found("user", id));
    }
    Ok(())
}
