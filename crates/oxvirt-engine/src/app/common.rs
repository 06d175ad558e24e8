//! Helpers every resource of the app layer shares: references by id or name, the error for a
//! reference to nothing, name rules.

use super::{AppError, Result};
use oxvirt_engine_db::store::StoreError;

/// A reference by id or by name, as oVirt clients send them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named<T> {
    Id(T),
    Name(String),
}

/// A referenced object that does not exist is the request's fault (400), not a 404 of the
/// requested resource.
pub(crate) fn missing_reference<T: std::fmt::Display>(e: StoreError, what: &str, named: &Named<T>) -> AppError {
    match e {
        StoreError::NotFound { .. } => AppError::InvalidInput(match named {
            Named::Id(id) => format!("{what} {id} does not exist"),
            Named::Name(n) => format!("{what} '{n}' does not exist"),
        }),
        other => other.into(),
    }
}

pub(crate) fn name_check(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::InvalidInput(format!(
            "'{name}' is not a valid {what} name: use 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// A removal the store refused because other objects still use `object`: the message names
/// the object as the administrator knows it (`data center dc1`), not by its id.
pub(crate) fn still_used(e: StoreError, object: impl std::fmt::Display) -> AppError {
    match e {
        StoreError::InUse { by, .. } => {
            AppError::Conflict(format!("{object} is still used by {by}; remove those first"))
        }
        other => other.into(),
    }
}
