//! The one pattern by which a resource crosses the HTTP edge: [`ToElement`] renders a model
//! object as its oVirt element, [`FromElement`] reads a request body into the app layer's
//! request type, and [`Reply`] / [`Body`] carry them.
//!
//! Why traits: with them a handler is a line or two — parse, call the app, render — and the
//! 30th resource looks like the 29th. A renderer knows its element and collection names, so a
//! collection reply cannot be spelled differently from its items; a body reader knows its root
//! element, so a `<vm>` cannot be read where a `<disk>` belongs. The API fidelity work (a model
//! generated from oVirt's api-model) may generate these impls; the shape stays.

use super::Failure;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use oxvirt_ovirt::{Element, Format, parse_body};

/// A model object's oVirt representation.
pub trait ToElement {
    /// The collection's element name (`vms` holds `vm`s).
    const COLLECTION: &'static str;
    fn to_element(&self) -> Element;
}

/// Implements [`ToElement`] with an existing rendering function:
/// `to_element!(Cluster, "clusters", cluster_el);`.
macro_rules! to_element {
    ($ty:ty, $collection:literal, $render:path) => {
        impl $crate::http::repr::ToElement for $ty {
            const COLLECTION: &'static str = $collection;
            fn to_element(&self) -> oxvirt_ovirt::Element {
                $render(self)
            }
        }
    };
}
pub(crate) use to_element;

/// A request body, read from its oVirt representation.
pub trait FromElement: Sized {
    /// The root element the body must have (`vm`, `action`).
    const ROOT: &'static str;
    fn from_element(el: &Element) -> Result<Self, Failure>;
}

/// A request body in XML or JSON (by `Content-Type`), rooted at `T::ROOT` and read into `T`.
/// Every rejection is a 400 fault naming what is wrong — including an element of oVirt's model
/// that `T::from_element` did not read: it is refused (`vm.lease is not supported yet`), never
/// silently dropped; elements outside the model are ignored, as oVirt ignores them. An
/// action's body may be empty (`<action/>`).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: FromElement> FromRequest<S> for Body<T> {
    type Rejection = Failure;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Failure::new(oxvirt_types::ErrorKind::InvalidInput, format!("cannot read the body: {e}")))?;
        let mut el = if T::ROOT == "action" && bytes.iter().all(u8::is_ascii_whitespace) {
            Element::new("action")
        } else {
            parse_body(content_type.as_deref(), &bytes)?
        };
        el.expect_root(T::ROOT)?;
        let value = T::from_element(&el)?;
        refuse_unread(&el)?;
        Ok(Body(value))
    }
}

/// A 400 naming every element of the model in `el` that nothing read.
pub fn refuse_unread(el: &Element) -> Result<(), Failure> {
    let unread = oxvirt_ovirt::model::unconsumed(el, el.name());
    match unread.as_slice() {
        [] => Ok(()),
        [one] => Err(Failure::new(oxvirt_types::ErrorKind::InvalidInput, format!("{one} is not supported yet"))),
        many => Err(Failure::new(
            oxvirt_types::ErrorKind::InvalidInput,
            format!("{} are not supported yet", many.join(", ")),
        )),
    }
}

/// A rendered oVirt representation.
#[derive(Debug)]
pub struct Reply {
    format: Format,
    status: StatusCode,
    body: String,
}

impl Reply {
    pub fn new(format: Format, status: StatusCode, root: &Element) -> Self {
        Self { format, status, body: format.render(root) }
    }

    /// `200 OK` with `item`.
    pub fn ok(format: Format, item: &impl ToElement) -> Self {
        Self::new(format, StatusCode::OK, &item.to_element())
    }

    /// `201 Created` with the added `item` (what oVirt answers an add with).
    pub fn created(format: Format, item: &impl ToElement) -> Self {
        Self::new(format, StatusCode::CREATED, &item.to_element())
    }

    /// `200 OK` with the collection of `items`.
    pub fn list<T: ToElement>(format: Format, items: &[T]) -> Self {
        Self::new(format, StatusCode::OK, &Element::collection(T::COLLECTION, items.iter().map(T::to_element)))
    }

    /// `200 OK` with `<action><status>complete</status>…</action>`, the reply to an action,
    /// carrying the object it acted on when there is one.
    pub fn action_done(format: Format, item: Option<Element>) -> Self {
        Self::new(format, StatusCode::OK, &oxvirt_ovirt::action_reply("complete", item))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        (self.status, [(header::CONTENT_TYPE, self.format.content_type())], self.body).into_response()
    }
}

/// The reply to a remove: `200 OK` with no body (the SDK accepts only 200 for a remove).
#[derive(Debug)]
pub struct Removed;

impl IntoResponse for Removed {
    fn into_response(self) -> Response {
        StatusCode::OK.into_response()
    }
}
