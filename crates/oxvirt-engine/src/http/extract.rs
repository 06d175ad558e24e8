//! The request extractors every handler uses: typed path ids ([`IdPath`]), query parameters
//! ([`Params`]) and the reply format ([`Accept`]).
//!
//! Why they exist: axum's own `Path` and `Query` reject with plain-text replies, which the
//! oVirt SDK reports as "expected a fault"; these reject with a [`Failure`], so every refusal
//! takes the one path through `render_faults`. And a handler names the id type it expects
//! (`IdPath<VmId>`) instead of parsing strings itself, so a disk id cannot reach a VM call.

use super::Failure;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::header;
use axum::http::request::Parts;
use oxvirt_ovirt::Format;
use oxvirt_types::{ErrorKind, TypedId};
use serde::de::DeserializeOwned;

/// The reply format the request asked for (`Accept`).
#[derive(Debug, Clone, Copy)]
pub struct Accept(pub Format);

impl<S: Send + Sync> FromRequestParts<S> for Accept {
    type Rejection = Failure;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Accept(Format::from_accept(parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()))))
    }
}

/// The address a request came from: the TCP peer (the engine trusts no proxy's headers),
/// when the server recorded it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl ClientAddress {
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        ClientAddress(extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress::of(&parts.extensions))
    }
}

/// One path segment, parsed. Typed ids answer a malformed id with 404 as oVirt does (no object
/// can have it); [`Segment`] takes any text (an action or statistic name).
pub trait PathSegment: Sized {
    fn from_segment(text: &str) -> Result<Self, Failure>;
}

/// A free-text path segment: an action name (`/vms/{id}/start`) or a sub-resource name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment(pub String);

impl Segment {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PathSegment for Segment {
    fn from_segment(text: &str) -> Result<Self, Failure> {
        Ok(Segment(text.to_owned()))
    }
}

fn typed_segment<T: TypedId>(text: &str) -> Result<T, Failure> {
    text.parse::<T>().map_err(|e| Failure::new(ErrorKind::NotFound, e.to_string()))
}

macro_rules! id_segments {
    ($($id:ty),+ $(,)?) => {$(
        impl PathSegment for $id {
            fn from_segment(text: &str) -> Result<Self, Failure> {
                typed_segment(text)
            }
        }
    )+};
}
id_segments!(
    oxvirt_types::VmId,
    oxvirt_types::HostId,
    oxvirt_types::HostNicId,
    oxvirt_types::DataCenterId,
    oxvirt_types::ClusterId,
    oxvirt_types::StorageDomainId,
    oxvirt_types::DiskId,
    oxvirt_types::TemplateId,
    oxvirt_types::NetworkId,
    oxvirt_types::VnicProfileId,
    oxvirt_types::TagId,
    oxvirt_types::AffinityLabelId,
    oxvirt_types::MacPoolId,
    oxvirt_types::NicId,
    oxvirt_types::JobId,
    oxvirt_types::StepId,
    oxvirt_types::UserId,
);

/// What a route's placeholders parse into: one segment, or a tuple of them in path order.
pub trait PathParams: Sized {
    fn from_segments(segments: &[String]) -> Result<Self, Failure>;
}

fn arity(segments: &[String], n: usize) -> Result<(), Failure> {
    if segments.len() == n {
        Ok(())
    } else {
        // A route and its handler disagree: a programming error, never the client's.
        Err(Failure::new(
            ErrorKind::Internal,
            format!("route has {} path parameters, handler expects {n}", segments.len()),
        ))
    }
}

impl<T: PathSegment> PathParams for T {
    fn from_segments(segments: &[String]) -> Result<Self, Failure> {
        arity(segments, 1)?;
        T::from_segment(&segments[0])
    }
}

impl<A: PathSegment, B: PathSegment> PathParams for (A, B) {
    fn from_segments(segments: &[String]) -> Result<Self, Failure> {
        arity(segments, 2)?;
        Ok((A::from_segment(&segments[0])?, B::from_segment(&segments[1])?))
    }
}

impl<A: PathSegment, B: PathSegment, C: PathSegment> PathParams for (A, B, C) {
    fn from_segments(segments: &[String]) -> Result<Self, Failure> {
        arity(segments, 3)?;
        Ok((A::from_segment(&segments[0])?, B::from_segment(&segments[1])?, C::from_segment(&segments[2])?))
    }
}

/// The route's path parameters, typed: `IdPath(vm): IdPath<VmId>`,
/// `IdPath((vm, action)): IdPath<(VmId, Segment)>`.
#[derive(Debug)]
pub struct IdPath<T>(pub T);

impl<S: Send + Sync, T: PathParams> FromRequestParts<S> for IdPath<T> {
    type Rejection = Failure;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(segments) = Path::<Vec<String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| Failure::new(ErrorKind::InvalidInput, format!("malformed path: {}", e.body_text())))?;
        T::from_segments(&segments).map(IdPath)
    }
}

/// Query parameters (`?search=…&max=…`) whose rejection is a 400 fault naming the parameter.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Failure;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state).await.map(|Query(q)| Params(q)).map_err(|e| query_failure(&e))
    }
}

fn query_failure(e: &QueryRejection) -> Failure {
    Failure::new(ErrorKind::InvalidInput, format!("malformed query parameters: {}", e.body_text()))
}

/// How a request wants the job it starts handled: oVirt's `Correlation-Id` header (the job
/// can be found with `/jobs?search=correlation_id=X`) and `async=false` (answer when the job
/// has ended, with its fault if it failed; `async=true`: answer as soon as it is accepted) —
/// accepted as a query parameter.
#[derive(Debug, Clone, Default)]
pub struct JobOpts(pub crate::app::JobOptions);

impl<S: Send + Sync> FromRequestParts<S> for JobOpts {
    type Rejection = Failure;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let correlation_id = match parts.headers.get("correlation-id") {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .map_err(|_| Failure::new(ErrorKind::InvalidInput, "the Correlation-Id header must be ASCII text"))?
                    .trim()
                    .to_owned(),
            )
            .filter(|s| !s.is_empty()),
        };
        let mut asynchronous = None;
        for pair in parts.uri.query().unwrap_or("").split('&') {
            if let Some(v) = pair.strip_prefix("async=") {
                asynchronous = match v {
                    "false" => Some(false),
                    "true" => Some(true),
                    other => {
                        return Err(Failure::new(
                            ErrorKind::InvalidInput,
                            format!("the async parameter must be true or false, not '{other}'"),
                        ));
                    }
                };
            }
        }
        Ok(JobOpts(crate::app::JobOptions { correlation_id, asynchronous }))
    }
}
