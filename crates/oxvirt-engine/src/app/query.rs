//! Turning oVirt's list parameters (`search`, `max`, `case_sensitive`) into store filters.

use super::{AppError, Result};
use oxvirt_engine_db::store::{NamePattern, SortBy};
use oxvirt_ovirt::search::{Condition, Operator, PatternPart, SearchQuery, SortDirection};

/// What a list request asked for, already parsed.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub search: Option<SearchQuery>,
    pub max: Option<u32>,
    /// oVirt's `case_sensitive` (its default is true for search; names here compare
    /// case-insensitively unless the request says `case_sensitive=true`).
    pub case_sensitive: bool,
}

/// The parts of a search a collection understands, plus paging.
#[derive(Debug, Default)]
pub(crate) struct Criteria {
    pub name: Option<NamePattern>,
    pub status: Option<String>,
    pub sort_by: SortBy,
    pub descending: bool,
    pub limit: Option<u32>,
    pub offset: u32,
}

impl ListQuery {
    /// Reduces the search to name/status conditions joined by `and` (what the store filters
    /// support today); anything else is refused with a message saying what is supported.
    pub(crate) fn criteria(&self, collection: &str, has_status: bool) -> Result<Criteria> {
        let mut c = Criteria { limit: self.max, ..Criteria::default() };
        let Some(q) = &self.search else { return Ok(c) };
        if q.any_of.len() > 1 {
            return Err(AppError::InvalidInput(format!(
                "searching {collection} with 'or' is not supported yet; use 'and'"
            )));
        }
        for cond in q.any_of.first().into_iter().flatten() {
            apply(&mut c, cond, collection, has_status, self.case_sensitive)?;
        }
        if let Some(sort) = &q.sort {
            c.sort_by = match sort.field.as_str() {
                "name" => SortBy::Name,
                "status" if has_status => SortBy::Status,
                other => return Err(AppError::InvalidInput(format!("cannot sort {collection} by '{other}'"))),
            };
            c.descending = sort.direction == SortDirection::Desc;
        }
        if let Some(page) = q.page {
            let size = self.max.unwrap_or(100);
            c.limit = Some(size);
            c.offset = page.saturating_sub(1).saturating_mul(size);
        }
        Ok(c)
    }
}

fn apply(c: &mut Criteria, cond: &Condition, collection: &str, has_status: bool, case_sensitive: bool) -> Result<()> {
    if cond.op != Operator::Eq {
        return Err(AppError::InvalidInput(format!(
            "searching {collection} supports only '=' for now, not '{}'",
            cond.op.as_str()
        )));
    }
    let pattern = pattern_text(cond);
    match cond.field.as_str() {
        "name" => {
            c.name =
                Some(if case_sensitive { NamePattern::case_sensitive(pattern) } else { NamePattern::new(pattern) });
        }
        "status" if has_status => c.status = Some(pattern.to_lowercase()),
        other => {
            let fields = if has_status { "name, status" } else { "name" };
            return Err(AppError::InvalidInput(format!(
                "cannot search {collection} by '{other}'; searchable fields: {fields}"
            )));
        }
    }
    Ok(())
}

/// A condition's value as a name pattern (`*` for any wildcard).
pub(crate) fn pattern_text(cond: &Condition) -> String {
    cond.value
        .parts()
        .iter()
        .map(|p| match p {
            PatternPart::Literal(t) => t.clone(),
            _ => "*".to_owned(),
        })
        .collect()
}
