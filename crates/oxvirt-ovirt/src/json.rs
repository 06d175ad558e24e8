//! The tree as oVirt's JSON (`Accept: application/json`), for tools other than the SDKs.
//!
//! oVirt's v4 JSON is its XML model serialised by Jackson, which gives these rules (seen in
//! oVirt's documentation and in captures used by oVirt's own web UI):
//! - the root element's name disappears: an entity is the object itself
//!   (`{"name": "Default", "id": "…", "href": "…", …}`), a collection is an object with one
//!   array named after the items (`{"data_center": [{…}, …]}`), an empty collection is `{}`;
//! - attributes (`id`, `href`, `rel`) become plain fields;
//! - a list property is an array under the item's name inside its wrapper
//!   (`"custom_properties": {"custom_property": [{…}]}`, `"devices": {"device": ["hd"]}`), and
//!   sub-collection links are `"link": [{"href": …, "rel": …}]`, `actions` is
//!   `{"link": [...]}`;
//! - scalars are strings (`"local": "false"`, `"cores": "1"`), except dates, which are
//!   milliseconds since the epoch (`"stop_time": 1491921599642`). (oVirt writes 64-bit `long`
//!   fields such as `memory` as bare numbers; we write every integer as a string, which JSON
//!   clients of oVirt already handle for the 32-bit ones.)
//!
//! Parsing is the inverse, tolerant of what people type: numbers and booleans become text,
//! `id`/`href`/`rel` become attributes, arrays become repeated children, `null` is absent.
//! Object keys must be XML names, so any body we accept can also be rendered as XML.

use super::date;
use super::error::ReprError;
use super::tree::{Element, Value};
use serde_json::{Map, Value as Json};

/// Fields that are attributes in the XML form.
const ATTRIBUTE_FIELDS: [&str; 3] = ["id", "href", "rel"];

/// `root` in oVirt's JSON shape (see the module docs).
pub fn to_json(root: &Element) -> Json {
    element_to_json(root)
}

fn element_to_json(el: &Element) -> Json {
    if el.attributes().is_empty()
        && el.children().is_empty()
        && !el.is_list()
        && let Some(value) = el.get_value()
    {
        return scalar_to_json(value);
    }
    let mut object = Map::new();
    for (name, value) in el.attributes() {
        object.insert(name.clone(), Json::String(value.clone()));
    }
    if let Some(value) = el.get_value() {
        object.insert("value".to_owned(), scalar_to_json(value));
    }
    // group children by name, in order of first appearance
    let mut groups: Vec<(&str, Vec<Json>)> = Vec::new();
    for child in el.children() {
        let rendered = element_to_json(child);
        match groups.iter_mut().find(|(name, _)| *name == child.name()) {
            Some((_, items)) => items.push(rendered),
            None => groups.push((child.name(), vec![rendered])),
        }
    }
    for (name, mut items) in groups {
        let as_array = el.is_list() || items.len() > 1 || name == "link";
        let value = if as_array { Json::Array(items) } else { items.pop().unwrap_or(Json::Null) };
        object.insert(name.to_owned(), value);
    }
    Json::Object(object)
}

fn scalar_to_json(value: &Value) -> Json {
    match value {
        Value::Date(t) => Json::from(date::epoch_millis(*t)),
        other => Json::String(other.to_text()),
    }
}

/// Parses a JSON body into the tree; the root has an empty name (JSON does not name it).
pub fn parse_json(body: &[u8]) -> Result<Element, ReprError> {
    let json: Json = serde_json::from_slice(body).map_err(|e| ReprError::MalformedJson(e.to_string()))?;
    match json {
        Json::Object(map) => object_to_element("", &map),
        other => Err(ReprError::MalformedJson(format!("the document must be an object, not {}", kind_of(&other)))),
    }
}

fn object_to_element(name: &str, map: &Map<String, Json>) -> Result<Element, ReprError> {
    let mut el = Element::new(name);
    let mut array_keys = 0;
    let mut other_keys = 0;
    for (key, value) in map {
        if !is_xml_name(key) {
            return Err(ReprError::MalformedJson(format!(
                "'{}' is not a valid field name (letters, digits, '_', '-' and '.')",
                super::error::quote(key)
            )));
        }
        if ATTRIBUTE_FIELDS.contains(&key.as_str())
            && let Some(text) = scalar_text(value)
        {
            el.set_attr(key, text);
            continue;
        }
        match value {
            Json::Null => {}
            Json::Array(items) => {
                if key == "link" {
                    other_keys += 1
                } else {
                    array_keys += 1
                }
                for item in items {
                    match item {
                        Json::Null => {}
                        Json::Object(inner) => el.push(object_to_element(key, inner)?),
                        Json::Array(_) => {
                            return Err(ReprError::MalformedJson(format!("'{key}' holds an array of arrays")));
                        }
                        scalar => el.push(Element::leaf(key, Value::Text(scalar_text(scalar).unwrap_or_default()))),
                    }
                }
            }
            Json::Object(inner) => {
                other_keys += 1;
                el.push(object_to_element(key, inner)?);
            }
            scalar => {
                other_keys += 1;
                el.push(Element::leaf(key, Value::Text(scalar_text(scalar).unwrap_or_default())));
            }
        }
    }
    // `{"custom_property": [...]}` is a list wrapper
    Ok(el.as_list(array_keys == 1 && other_keys == 0))
}

fn scalar_text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn kind_of(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A conservative XML name: a letter or `_`, then letters, digits, `_`, `-`, `.`.
fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{parse_xml, to_xml};
    use serde_json::json;

    fn data_center() -> Element {
        Element::new("data_center")
            .href("/ovirt-engine/api/datacenters/1")
            .id("1")
            .text_child("name", "Default")
            .bool_child("local", false)
            .enum_child("status", "up")
            .date_child("created", date::from_epoch_millis(1_491_921_599_642))
            .child(Element::new("version").int_child("major", 4).int_child("minor", 7))
            .list_child("supported_versions", [Element::new("version").int_child("major", 4).int_child("minor", 7)])
            .sub_links(&["clusters", "storagedomains"])
            .actions(&["cleanfinishedtasks"])
            .reference("mac_pool", "m1", "/ovirt-engine/api/macpools/m1")
    }

    #[test]
    fn renders_an_entity_as_ovirt_does() {
        assert_eq!(
            to_json(&data_center()),
            json!({
                "href": "/ovirt-engine/api/datacenters/1",
                "id": "1",
                "name": "Default",
                "local": "false",
                "status": "up",
                "created": 1_491_921_599_642_i64,
                "version": {"major": "4", "minor": "7"},
                "supported_versions": {"version": [{"major": "4", "minor": "7"}]},
                "link": [
                    {"href": "/ovirt-engine/api/datacenters/1/clusters", "rel": "clusters"},
                    {"href": "/ovirt-engine/api/datacenters/1/storagedomains", "rel": "storagedomains"}
                ],
                "actions": {"link": [
                    {"href": "/ovirt-engine/api/datacenters/1/cleanfinishedtasks", "rel": "cleanfinishedtasks"}
                ]},
                "mac_pool": {"href": "/ovirt-engine/api/macpools/m1", "id": "m1"}
            })
        );
    }

    #[test]
    fn renders_collections_as_one_array() {
        let one = Element::collection("data_centers", [Element::new("data_center").id("1")]);
        assert_eq!(to_json(&one), json!({"data_center": [{"id": "1"}]}));
        assert_eq!(to_json(&Element::collection("data_centers", [])), json!({}));
        let devices = Element::new("boot").text_list("devices", "device", ["hd"]);
        assert_eq!(to_json(&devices), json!({"devices": {"device": ["hd"]}}));
    }

    #[test]
    fn parses_back_what_it_renders() {
        let dc = data_center();
        let mut parsed = parse_json(to_json(&dc).to_string().as_bytes()).expect("parses");
        parsed.expect_root("data_center").expect("JSON roots are unnamed");
        assert!(parsed.own_id::<oxvirt_types::DataCenterId>().is_err(), "'1' is no UUID");
        assert_eq!(parsed.attr_value("id"), Some("1"));
        assert_eq!(parsed.bool("local"), Ok(Some(false)));
        assert_eq!(parsed.date("created"), Ok(Some(date::from_epoch_millis(1_491_921_599_642))));
        assert_eq!(parsed.at("version").and_then(|v| v.text("major")).as_deref(), Some("4"));
        assert!(parsed.child_named("supported_versions").is_some_and(Element::is_list));
        assert_eq!(parsed.children_named("link").count(), 2);
        // and the JSON of the parsed tree is the JSON we started from, but for the date,
        // which a parsed body holds as text until `date()` reads it
        let (mut again, mut original) = (to_json(&parsed), to_json(&dc));
        assert_eq!(again.as_object_mut().and_then(|o| o.remove("created")), Some(json!("1491921599642")));
        original.as_object_mut().and_then(|o| o.remove("created"));
        assert_eq!(again, original);
        // XML of a parsed JSON body is well-formed
        assert!(parse_xml(&to_xml(&parsed)).is_ok());
    }

    #[test]
    fn converts_json_scalars_to_text() {
        let parsed = parse_json(br#"{"memory": 1073741824, "local": true, "speed": 2.5, "gone": null, "id": 7}"#)
            .expect("parses");
        assert_eq!(parsed.u64("memory"), Ok(Some(1_073_741_824)));
        assert_eq!(parsed.bool("local"), Ok(Some(true)));
        assert_eq!(parsed.decimal("speed"), Ok(Some(2.5)));
        assert_eq!(parsed.text("gone"), None);
        assert_eq!(parsed.attr_value("id"), Some("7"));
    }

    #[test]
    fn rejects_malformed_json() {
        for bad in [
            &b""[..],
            b"{",
            b"[]",
            b"\"vm\"",
            b"{\"name\": }",
            b"{\"a b\": 1}",
            b"{\"<x>\": 1}",
            b"{\"1st\": 1}",
            b"{\"a\": [[1]]}",
            b"{\"name\": \"x\"} trailing",
        ] {
            match parse_json(bad) {
                Err(ReprError::MalformedJson(_)) => {}
                other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(bad)),
            }
        }
        let deep = "{\"a\":".repeat(200) + "1" + &"}".repeat(200);
        assert!(matches!(parse_json(deep.as_bytes()), Err(ReprError::MalformedJson(_))));
    }
}
