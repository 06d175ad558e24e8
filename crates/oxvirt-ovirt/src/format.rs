//! Content negotiation: which format a reply is written in, which format a body is read as.
//!
//! XML is oVirt's default and the only format the SDKs use (they send
//! `Accept: application/xml` and `Content-Type: application/xml` on every request and check
//! that replies match `^(application|text)/xml`), so XML wins whenever the client does not
//! clearly prefer JSON.

use super::error::ReprError;
use super::json::{parse_json, to_json};
use super::tree::Element;
use super::xml::{parse_xml, to_xml};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
}

impl Format {
    /// The reply format for an `Accept` header: JSON only when a JSON type has a higher
    /// quality than every range that admits XML (`application/json`,
    /// `application/json, */*;q=0.1`); XML for `*/*`, no header, or ties.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let Some(accept) = accept else { return Format::Xml };
        let (mut xml, mut json) = (Quality::NONE, Quality::NONE);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            let (main, sub) = media.split_once('/').unwrap_or((media.as_str(), ""));
            for (format, best) in [(Format::Xml, &mut xml), (Format::Json, &mut json)] {
                if let Some(specificity) = format.matches(main, sub) {
                    best.consider(specificity, q);
                }
            }
        }
        if json.q > xml.q { Format::Json } else { Format::Xml }
    }

    /// The format of a request body by its `Content-Type`: JSON for `application/json`
    /// (and `text/json`, `…+json`); XML for XML types and when there is none (oVirt's
    /// default). `application/x-www-form-urlencoded`, which `curl -d` sends unless told
    /// otherwise, is sniffed: a body starting with `{` is JSON. Anything else is refused.
    pub fn from_content_type(content_type: Option<&str>, body: &[u8]) -> Result<Format, ReprError> {
        let Some(content_type) = content_type else { return Ok(Format::Xml) };
        let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let (main, sub) = media.split_once('/').unwrap_or((media.as_str(), ""));
        match (main, sub) {
            ("", _) => Ok(Format::Xml),
            (_, sub) if Format::Json.matches(main, sub) == Some(2) || sub.ends_with("+json") => Ok(Format::Json),
            (_, sub) if Format::Xml.matches(main, sub) == Some(2) || sub.ends_with("+xml") => Ok(Format::Xml),
            ("application", "x-www-form-urlencoded") => {
                let first = body.iter().find(|b| !b.is_ascii_whitespace());
                Ok(if first == Some(&b'{') { Format::Json } else { Format::Xml })
            }
            _ => Err(ReprError::UnsupportedContentType(content_type.to_owned())),
        }
    }

    /// The `Content-Type` of a reply in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Xml => "application/xml",
            Format::Json => "application/json",
        }
    }

    /// `root` rendered in this format.
    pub fn render(self, root: &Element) -> String {
        match self {
            Format::Xml => to_xml(root),
            Format::Json => {
                let mut text = serde_json::to_string_pretty(&to_json(root)).unwrap_or_else(|_| "{}".to_owned());
                text.push('\n');
                text
            }
        }
    }

    /// How specifically `main/sub` names this format: 2 exactly, 1 `type/*`, 0 `*/*`.
    fn matches(self, main: &str, sub: &str) -> Option<u8> {
        let exact = match self {
            Format::Xml => matches!((main, sub), ("application" | "text", "xml")),
            Format::Json => matches!((main, sub), ("application" | "text", "json")),
        };
        match (main, sub) {
            _ if exact => Some(2),
            ("application", "*") => Some(1),
            ("text", "*") if self == Format::Xml => Some(1),
            ("*", "*") | ("*", "") => Some(0),
            _ => None,
        }
    }
}

/// The quality of the most specific range matching a format (RFC 9110 §12.5.1).
#[derive(Debug, Clone, Copy)]
struct Quality {
    specificity: i8,
    q: f32,
}

impl Quality {
    const NONE: Quality = Quality { specificity: -1, q: 0.0 };

    fn consider(&mut self, specificity: u8, q: f32) {
        let specificity = specificity as i8;
        if specificity > self.specificity || (specificity == self.specificity && q > self.q) {
            *self = Quality { specificity, q };
        }
    }
}

/// Parses a request body: JSON when the `Content-Type` says so, XML otherwise (see
/// [`Format::from_content_type`]). Malformed input is an error, never a panic; unknown
/// elements are kept. A JSON body's root has an empty name (see `Element::expect_root`).
pub fn parse_body(content_type: Option<&str>, body: &[u8]) -> Result<Element, ReprError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ReprError::EmptyBody);
    }
    match Format::from_content_type(content_type, body)? {
        Format::Json => parse_json(body),
        Format::Xml => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ReprError::MalformedXml(format!("the body is not UTF-8 ({e})")))?;
            parse_xml(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_xml_unless_json_is_preferred() {
        for (accept, expected) in [
            (None, Format::Xml),
            (Some(""), Format::Xml),
            (Some("*/*"), Format::Xml),
            (Some("application/xml"), Format::Xml),
            (Some("text/xml"), Format::Xml),
            (Some("application/json"), Format::Json),
            (Some("Application/JSON; charset=utf-8"), Format::Json),
            (Some("application/json, */*;q=0.1"), Format::Json),
            (Some("application/json, application/xml"), Format::Xml),
            (Some("application/xml;q=0.5, application/json"), Format::Json),
            (Some("application/json;q=0.5, */*"), Format::Xml),
            (Some("application/json;q=0"), Format::Xml),
            (Some("text/html"), Format::Xml),
            (Some("garbage;;;q=x,"), Format::Xml),
        ] {
            assert_eq!(Format::from_accept(accept), expected, "{accept:?}");
        }
        assert_eq!(Format::Xml.content_type(), "application/xml");
        assert_eq!(Format::Json.content_type(), "application/json");
    }

    #[test]
    fn reads_bodies_by_content_type() {
        let xml = b"<vm><name>a</name></vm>";
        let json = br#"{"name": "a"}"#;
        for (ct, body) in [
            (None, &xml[..]),
            (Some("application/xml"), xml),
            (Some("text/xml; charset=utf-8"), xml),
            (Some("application/vnd.x+xml"), xml),
            (Some("application/json"), json),
            (Some("application/json; charset=UTF-8"), json),
            (Some("application/x-www-form-urlencoded"), json),
            (Some("application/x-www-form-urlencoded"), xml),
        ] {
            let parsed = parse_body(ct, body).unwrap_or_else(|e| panic!("{ct:?}: {e}"));
            assert_eq!(parsed.text("name").as_deref(), Some("a"), "{ct:?}");
        }
        assert_eq!(parse_body(Some("text/plain"), xml), Err(ReprError::UnsupportedContentType("text/plain".into())));
        assert_eq!(parse_body(None, b""), Err(ReprError::EmptyBody));
        assert_eq!(parse_body(Some("application/json"), b" \n"), Err(ReprError::EmptyBody));
        assert!(matches!(parse_body(None, b"<vm>\xff</vm>"), Err(ReprError::MalformedXml(_))));
        assert!(matches!(parse_body(Some("application/json"), xml), Err(ReprError::MalformedJson(_))));
        assert!(matches!(parse_body(None, json), Err(ReprError::MalformedXml(_))));
        assert!(parse_body(None, b"\xEF\xBB\xBF<vm/>").is_ok(), "a UTF-8 BOM is fine");
    }

    #[test]
    fn renders_in_either_format() {
        let vm = Element::new("vm").id("1").text_child("name", "a");
        assert!(Format::Xml.render(&vm).contains("<vm id=\"1\">"));
        let json: serde_json::Value = serde_json::from_str(&Format::Json.render(&vm)).expect("valid JSON");
        assert_eq!(json, serde_json::json!({"id": "1", "name": "a"}));
    }
}
