//! The one error type of the representation layer.
//!
//! Everything that goes wrong here is the client's input (a body that does not parse, a value
//! of the wrong shape, a search string outside the grammar), so every variant is
//! [`ErrorKind::InvalidInput`] and becomes a 400 fault. Messages name the element (with its
//! parent, `memory of vm`) and say what was expected, because that is all a client sees.

use oxvirt_types::ErrorKind;

/// Longest excerpt of a client's value quoted back in a message.
const QUOTE_MAX: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReprError {
    #[error("the request body is empty: send an XML (or, with Content-Type: application/json, a JSON) document")]
    EmptyBody,

    #[error("unsupported Content-Type '{0}': send application/xml or application/json")]
    UnsupportedContentType(String),

    #[error("the request body is not valid XML: {0}")]
    MalformedXml(String),

    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),

    #[error("the request body is {found}, expected a <{expected}> document")]
    WrongRoot { expected: String, found: String },

    #[error("{element} is missing: it is required")]
    Missing { element: String },

    #[error("'{value}' is not a valid value for {element}: expected {expected}")]
    InvalidValue { element: String, value: String, expected: String },

    #[error("{element} names no object: give its id (id=\"...\") or its name (<name>...</name>)")]
    EmptyReference { element: String },

    #[error("{element} must give an id (id=\"...\"), a name is not enough here")]
    ReferenceNeedsId { element: String },

    #[error("invalid search '{query}' at character {position}: {message}")]
    Search { query: String, position: usize, message: String },
}

impl ReprError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidInput
    }

    pub(crate) fn invalid_value(element: impl Into<String>, value: &str, expected: impl Into<String>) -> Self {
        ReprError::InvalidValue { element: element.into(), value: quote(value), expected: expected.into() }
    }
}

/// `value`, cut to [`QUOTE_MAX`] characters so a huge body does not end up in a message.
pub(crate) fn quote(value: &str) -> String {
    if value.chars().count() <= QUOTE_MAX {
        return value.to_owned();
    }
    let mut cut: String = value.chars().take(QUOTE_MAX).collect();
    cut.push('…');
    cut
}
