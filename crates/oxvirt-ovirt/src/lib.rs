//! oVirt API v4 representations: what the engine's REST API reads and writes, with no HTTP
//! server and no storage in it.
//!
//! The contract is oVirt's published Python SDK (`ovirt-engine-sdk-python` 4.6.3), which must
//! work against the engine unchanged; `tests/ovirt_repr.rs` runs its real readers, writers
//! and service code over what this module produces and parses. Handlers build an [`Element`]
//! tree for any entity or collection, render it with [`Format::render`], and read request
//! bodies with [`parse_body`] and the typed accessors. The pieces:
//! - [`tree`]: the generic tree, builders and accessors; [`xml`] and [`json`]: its two
//!   spellings; [`format`](mod@format): content negotiation and body parsing;
//! - [`model`]: oVirt's API model as generated tables (types, services) and the check that
//!   a request's model elements were all read;
//! - [`reply`]: faults and action replies; [`search`]: the `?search=` language;
//!   [`date`]: oVirt's date spellings.
//!
//! # What the SDK expects (read from `ovirtsdk4/service.py`, `__init__.py`, `readers.py`)
//!
//! Every request carries `Version: 4`, `Content-Type: application/xml`,
//! `Accept: application/xml` and `Authorization: Bearer <token>` (the token comes from
//! `POST /ovirt-engine/sso/oauth/token`, a JSON reply with `access_token`; a 401 makes the
//! SDK fetch a new token and retry once). Paths are relative to the URL the user gives,
//! typically `https://host/ovirt-engine/api`.
//!
//! | verb                         | statuses the SDK accepts | body it requires                  |
//! |------------------------------|--------------------------|-----------------------------------|
//! | get / list (`GET`)           | 200                      | the entity / collection           |
//! | add (`POST` collection)      | 200, 201, 202            | the added entity (oVirt: 201)     |
//! | update (`PUT`)               | 200                      | the updated entity                |
//! | remove (`DELETE`)            | **200 only** (204 fails) | none, ignored                     |
//! | action (`POST …/{id}/{name}`)| 200, 201, 202            | `<action>` (oVirt: 200)           |
//!
//! A reply body the SDK reads must have a `Content-Type` matching
//! `^\s*(application|text)/xml\s*(;.*)?$` and must not be empty, or the SDK raises a plain
//! `Error` about the content type. The body's root tag picks the reader (`vm`, `vms`,
//! `fault`, `action`, …); an unknown root tag is an error.
//!
//! Any other status is a failure: the SDK reads the body, which must then be a `<fault>` (or
//! an `<action>` holding one) served as XML; anything else, even a valid entity, turns into
//! `Error("Expected a fault, but got …")`. From the fault it builds the message
//! `Fault reason is "<reason>". Fault detail is "<detail>". HTTP response code is <code>.`
//! and chooses the class by status alone: 404 → `NotFoundError`, 401/403 → `AuthError`,
//! otherwise `Error`; `error.code` is the status and `error.fault` the parsed fault. An
//! empty failure body still gives the right class, with only the status in the message. An
//! `<action>` reply containing `<fault>` is raised as an error even with a 2xx status.
//!
//! The readers look only at `href` and `id` attributes (and `rel` on `<link>`); all other
//! data are child elements: booleans `true`/`false` (they also accept `1`/`0`), integers in
//! decimal, enums lower-case (an unknown enum value reads as `None`, silently), dates as
//! `2024-01-15T10:20:30.123Z`. `<link rel="nics" href="…"/>` gives a sub-collection its
//! `href` (rels are the URL segments: `storagedomains`, `diskattachments`); `<actions>` is
//! skipped. A collection reader takes *every* child of the root as an item. The writers send
//! references as nested elements carrying what the user set: `<cluster id="…"/>` or
//! `<cluster><name>Default</name></cluster>`; hence [`Element::reference_to`].

pub mod date;
pub mod error;
pub mod format;
pub mod json;
pub mod model;
pub mod reply;
pub mod search;
pub mod tree;
pub mod xml;

pub use error::ReprError;
pub use format::{Format, parse_body};
pub use json::to_json;
pub use reply::{action_failed, action_reply, fault, fault_json, fault_xml};
pub use search::{SearchQuery, parse_search};
pub use tree::{
    API_PREFIX, Element, Fixed, FixedValue, Reference, TopLevelId, TypedId, Value, api_href, href_of, sub_href,
};
pub use xml::to_xml;
