//! List queries in the app's own terms, and what each collection can be searched by.
//!
//! Why neutral: the app must not depend on how a frontend spells a search. The HTTP layer
//! turns oVirt's `search=`, `max=` and `case_sensitive=` into a [`ListQuery`]; the app checks
//! it against the collection's [`Searchable`] table and reduces it to a store filter
//! ([`Criteria`]). A field or order a collection does not support is refused with a message
//! that lists what it does support, never ignored.

use super::{AppError, Result};
use oxvirt_engine_db::store::{NamePattern, Page, SortBy};

/// What a list request asked for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Matches when all conditions of any one group hold; empty matches everything.
    pub any_of: Vec<Vec<Condition>>,
    pub sort: Option<Sort>,
    /// At most this many objects (oVirt's `max`; its page size when `page` is given).
    pub max: Option<u32>,
    /// 1-based page number.
    pub page: Option<u32>,
    /// oVirt's `case_sensitive` (names here compare case-insensitively unless the request
    /// says `case_sensitive=true`).
    pub case_sensitive: bool,
}

/// One condition: `field <op> value`, the field lower-case (possibly dotted: `clusters.name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: String,
    pub op: Comparison,
    /// The value as a pattern, `*` standing for any run of characters.
    pub pattern: String,
    /// The value when it has no wildcard.
    pub literal: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparison {
    pub const fn as_str(self) -> &'static str {
        match self {
            Comparison::Eq => "=",
            Comparison::Ne => "!=",
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub field: String,
    pub descending: bool,
}

/// What one collection can be searched and sorted by.
#[derive(Debug, Clone, Copy)]
pub struct Searchable {
    /// The collection's name in messages ("storage domains").
    pub collection: &'static str,
    /// Fields a condition may name (`=` only, joined by `and`).
    pub fields: &'static [&'static str],
    /// Fields the list may be sorted by (`sortby name desc`).
    pub sort: &'static [&'static str],
}

impl Searchable {
    const fn named(collection: &'static str) -> Self {
        Searchable { collection, fields: &["name"], sort: &["name"] }
    }

    const fn with_status(collection: &'static str) -> Self {
        Searchable { collection, fields: &["name", "status"], sort: &["name", "status"] }
    }
}

pub const DATA_CENTERS: Searchable = Searchable::with_status("data centers");
pub const CLUSTERS: Searchable = Searchable::named("clusters");
pub const HOSTS: Searchable = Searchable::with_status("hosts");
pub const STORAGE_DOMAINS: Searchable = Searchable::with_status("storage domains");
pub const DISKS: Searchable = Searchable::with_status("disks");
pub const NETWORKS: Searchable = Searchable::named("networks");
pub const TEMPLATES: Searchable = Searchable::with_status("templates");
pub const VMS: Searchable = Searchable::with_status("vms");

/// The parts of a search a collection understands, plus paging.
#[derive(Debug, Default)]
pub(crate) struct Criteria {
    pub name: Option<NamePattern>,
    /// Lower-case status text; the collection parses it into its status type.
    pub status: Option<String>,
    pub page: Page,
}

impl ListQuery {
    /// Reduces the search to the conditions of `table` joined by `and` (what the store filters
    /// support today); anything else is refused with a message saying what is supported.
    pub(crate) fn criteria(&self, table: &Searchable) -> Result<Criteria> {
        let collection = table.collection;
        let mut c = Criteria { page: Page { limit: self.max, ..Page::default() }, ..Criteria::default() };
        if self.any_of.len() > 1 {
            return Err(AppError::InvalidInput(format!(
                "searching {collection} with 'or' is not supported yet; use 'and'"
            )));
        }
        for cond in self.any_of.first().into_iter().flatten() {
            if cond.op != Comparison::Eq {
                return Err(AppError::InvalidInput(format!(
                    "searching {collection} supports only '=' for now, not '{}'",
                    cond.op.as_str()
                )));
            }
            let field = cond.field.as_str();
            match field {
                "name" if table.fields.contains(&field) => {
                    let pattern = cond.pattern.clone();
                    c.name = Some(if self.case_sensitive {
                        NamePattern::case_sensitive(pattern)
                    } else {
                        NamePattern::new(pattern)
                    });
                }
                "status" if table.fields.contains(&field) => c.status = Some(cond.pattern.to_lowercase()),
                _ => {
                    return Err(AppError::InvalidInput(format!(
                        "cannot search {collection} by '{field}'; searchable fields: {}",
                        table.fields.join(", ")
                    )));
                }
            }
        }
        if let Some(sort) = &self.sort {
            let field = sort.field.as_str();
            c.page.sort_by = match field {
                "name" if table.sort.contains(&field) => SortBy::Name,
                "status" if table.sort.contains(&field) => SortBy::Status,
                _ => {
                    return Err(AppError::InvalidInput(format!(
                        "cannot sort {collection} by '{field}'; sortable by: {}",
                        table.sort.join(", ")
                    )));
                }
            };
            c.page.descending = sort.descending;
        }
        if let Some(page) = self.page {
            let size = self.max.unwrap_or(100);
            c.page.limit = Some(size);
            c.page.offset = page.saturating_sub(1).saturating_mul(size);
        }
        Ok(c)
    }

    /// Whether the request carried a search (conditions, an order or a page).
    pub fn has_search(&self) -> bool {
        !self.any_of.is_empty() || self.sort.is_some() || self.page.is_some()
    }

    /// The only condition of the query, when it has exactly one (for cross-object searches
    /// such as `Clusters.name=Default`).
    pub(crate) fn single_condition(&self) -> Option<&Condition> {
        match self.any_of.as_slice() {
            [conditions] => match conditions.as_slice() {
                [cond] => Some(cond),
                _ => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(field: &str, value: &str) -> Condition {
        Condition { field: field.into(), op: Comparison::Eq, pattern: value.into(), literal: Some(value.into()) }
    }

    #[test]
    fn criteria_take_the_fields_of_the_table_and_refuse_others() {
        let q = ListQuery { any_of: vec![vec![eq("name", "web*"), eq("status", "UP")]], ..ListQuery::default() };
        let c = q.criteria(&VMS).expect("vms search by name and status");
        assert_eq!(c.name, Some(NamePattern::new("web*")));
        assert_eq!(c.status.as_deref(), Some("up"));

        let e = q.criteria(&CLUSTERS).expect_err("clusters have no status");
        assert!(e.to_string().contains("cannot search clusters by 'status'; searchable fields: name"), "{e}");

        let sorted = ListQuery {
            sort: Some(Sort { field: "status".into(), descending: true }),
            max: Some(10),
            page: Some(3),
            ..ListQuery::default()
        };
        let c = sorted.criteria(&HOSTS).expect("hosts sort by status");
        assert_eq!(c.page, Page { sort_by: SortBy::Status, descending: true, limit: Some(10), offset: 20 });
        let e = sorted.criteria(&NETWORKS).expect_err("networks do not sort by status");
        assert!(e.to_string().contains("sortable by: name"), "{e}");
    }

    #[test]
    fn criteria_refuse_or_and_other_operators() {
        let or = ListQuery { any_of: vec![vec![eq("name", "a")], vec![eq("name", "b")]], ..ListQuery::default() };
        assert!(or.criteria(&VMS).expect_err("or").to_string().contains("with 'or' is not supported"));
        let ne = ListQuery {
            any_of: vec![vec![Condition { op: Comparison::Ne, ..eq("name", "a") }]],
            ..ListQuery::default()
        };
        assert!(ne.criteria(&VMS).expect_err("!=").to_string().contains("only '=' for now, not '!='"));
    }
}
