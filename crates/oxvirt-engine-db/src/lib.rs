//! The engine's database: the domain [`model`], the [`store`] (the only SQL in oxvirt) and the
//! schema migrations of both backends (`migrations/sqlite`, `migrations/postgres`).
//!
//! Why a crate of its own: `sqlx` is a dependency of this manifest only, so "only the store
//! speaks SQL" is a fact Cargo enforces rather than a convention a test greps for; the app
//! layer sees typed, resource-first methods and the model, never a query. The model lives here
//! because the store maps it to rows; the HTTP layer maps the same types to oVirt's XML/JSON.

mod audit_code;
pub mod model;
pub mod store;

pub use store::{Store, StoreError, StoreTx};
