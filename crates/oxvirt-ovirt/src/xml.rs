//! The tree as XML, the format every oVirt SDK speaks (they send `Accept: application/xml`).
//!
//! The SDK's readers (`ovirtsdk4/readers.py`, over libxml2's text reader) look only at the
//! `href` and `id` attributes (and `rel` of `<link>`); everything else is a child element
//! whose text they convert by type, and an element they do not know is skipped. A collection
//! is read by taking *every* child of the root as an item, so a collection root must hold
//! nothing but items. Whitespace between elements is ignored, so we indent like oVirt does;
//! a leaf's text is read verbatim, so leaves are never broken across lines.
//!
//! Parsing uses `roxmltree` with DTDs refused (no entity expansion, no external entities)
//! and a node limit, and rejects nesting deeper than [`MAX_DEPTH`], so hostile input costs a
//! 400 and never a stack overflow.

use super::error::ReprError;
use super::tree::{Element, Value};

/// Deepest element nesting accepted in a request (oVirt's model nests well under 20).
pub const MAX_DEPTH: usize = 128;

/// Most nodes accepted in one request document.
const MAX_NODES: u32 = 1_000_000;

/// The document: XML declaration, then `root` indented by two spaces per level.
pub fn to_xml(root: &Element) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    write_element(&mut out, root, 0);
    out
}

fn write_element(out: &mut String, el: &Element, depth: usize) {
    indent(out, depth);
    out.push('<');
    out.push_str(el.name());
    for (name, value) in el.attributes() {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        escape_into(out, value, true);
        out.push('"');
    }
    match (el.get_value(), el.children()) {
        (None, []) => out.push_str("/>\n"),
        (Some(value), []) => {
            out.push('>');
            escape_into(out, &value.to_text(), false);
            close(out, el.name());
        }
        (value, children) => {
            out.push('>');
            if let Some(value) = value {
                escape_into(out, &value.to_text(), false);
            }
            out.push('\n');
            for child in children {
                write_element(out, child, depth + 1);
            }
            indent(out, depth);
            close(out, el.name());
        }
    }
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push_str(">\n");
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Escapes markup characters; in attributes also quotes and the whitespace that attribute
/// normalisation would turn into spaces. Characters XML 1.0 cannot carry at all (most C0
/// controls) become U+FFFD rather than producing a document no parser accepts.
fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Parses an XML document into the tree. Namespaces are dropped (oVirt uses none); comments
/// and processing instructions are ignored. An element's text becomes its value when it has
/// no child elements (kept verbatim), or when it has some and the text is not blank (trimmed).
pub fn parse_xml(text: &str) -> Result<Element, ReprError> {
    let options = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..Default::default() };
    let doc =
        roxmltree::Document::parse_with_options(text, options).map_err(|e| ReprError::MalformedXml(e.to_string()))?;
    convert(doc.root_element(), 1)
}

fn convert(node: roxmltree::Node<'_, '_>, depth: usize) -> Result<Element, ReprError> {
    if depth > MAX_DEPTH {
        return Err(ReprError::MalformedXml(format!("elements are nested more than {MAX_DEPTH} deep")));
    }
    let mut el = Element::new(node.tag_name().name());
    for attr in node.attributes() {
        el.set_attr(attr.name(), attr.value());
    }
    let mut text = String::new();
    let mut has_text = false;
    for child in node.children() {
        if child.is_element() {
            el.push(convert(child, depth + 1)?);
        } else if child.is_text() {
            has_text = true;
            text.push_str(child.text().unwrap_or_default());
        }
    }
    if el.children().is_empty() {
        if has_text {
            el = el.value(Value::Text(text));
        }
    } else if !text.trim().is_empty() {
        el = el.value(Value::Text(text.trim().to_owned()));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        let el = Element::new("vm")
            .href("/a?b=1&c=\"2\"")
            .text_child("name", "a<b>&c \"q\" 'x'")
            .text_child("description", "line1\nline2\ttab\r\u{1}");
        let xml = to_xml(&el);
        assert!(xml.contains(r#"<vm href="/a?b=1&amp;c=&quot;2&quot;">"#), "{xml}");
        assert!(xml.contains("<name>a&lt;b&gt;&amp;c \"q\" 'x'</name>"), "{xml}");
        assert!(xml.contains("<description>line1\nline2\ttab&#13;\u{FFFD}</description>"), "{xml}");
        let back = parse_xml(&xml).expect("our own XML parses");
        assert_eq!(back.attr_value("href"), Some("/a?b=1&c=\"2\""));
        assert_eq!(back.text("name").as_deref(), Some("a<b>&c \"q\" 'x'"));
        assert_eq!(back.text("description").as_deref(), Some("line1\nline2\ttab\r\u{FFFD}"));
    }

    #[test]
    fn renders_the_shape_the_sdk_reads() {
        let dc = Element::new("data_center")
            .href("/ovirt-engine/api/datacenters/1")
            .id("1")
            .text_child("name", "Default")
            .bool_child("local", false)
            .sub_links(&["clusters"])
            .actions(&["cleanfinishedtasks"]);
        let xml = to_xml(&dc);
        let expected = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<data_center href="/ovirt-engine/api/datacenters/1" id="1">
  <name>Default</name>
  <local>false</local>
  <link href="/ovirt-engine/api/datacenters/1/clusters" rel="clusters"/>
  <actions>
    <link href="/ovirt-engine/api/datacenters/1/cleanfinishedtasks" rel="cleanfinishedtasks"/>
  </actions>
</data_center>
"#;
        assert_eq!(xml, expected);
        let empty = to_xml(&Element::collection("data_centers", []));
        assert!(empty.ends_with("<data_centers/>\n"), "{empty}");
    }

    #[test]
    fn round_trips_through_the_tree() {
        let vm = Element::new("vm")
            .href("/ovirt-engine/api/vms/7")
            .id("7")
            .text_child("name", "web")
            .int_child("memory", 1_073_741_824_u64)
            .child(Element::new("os").child(Element::new("boot").text_list("devices", "device", ["hd", "network"])))
            .reference("cluster", "c1", "/ovirt-engine/api/clusters/c1")
            .text_child("description", "");
        let xml = to_xml(&vm);
        let parsed = parse_xml(&xml).expect("parses");
        // XML cannot tell `<description></description>` from `<description/>` once parsed
        // (the SDK reads the first as "" and the second as None); both read back as ""
        assert_eq!(to_xml(&parsed), xml.replace("<description></description>", "<description/>"));
        assert_eq!(parsed.texts("os", "device"), Vec::<String>::new());
        assert_eq!(
            parsed.at("os/boot").map(|b| b.texts("devices", "device")),
            Some(vec!["hd".into(), "network".into()])
        );
        assert_eq!(parsed.text("description").as_deref(), Some(""));
        assert_eq!(parsed.u64("memory"), Ok(Some(1_073_741_824)));
    }

    #[test]
    fn keeps_unknown_elements_and_drops_namespaces() {
        let parsed = parse_xml("<vm xmlns:x='urn:x'><x:shiny>yes</x:shiny><!-- c --><name> spaced </name></vm>")
            .expect("parses");
        assert_eq!(parsed.text("shiny").as_deref(), Some("yes"));
        assert_eq!(parsed.text("name").as_deref(), Some(" spaced "), "leaf text is verbatim");
    }

    #[test]
    fn rejects_malformed_and_hostile_documents() {
        for bad in [
            "",
            "<vm>",
            "<vm></vms>",
            "<vm><name>a</vm>",
            "not xml",
            "<vm a='1' a='2'/>",
            "<vm>&undefined;</vm>",
            "<!DOCTYPE vm [<!ENTITY a 'aaaa'>]><vm>&a;</vm>",
            "<vm/><vm/>",
        ] {
            match parse_xml(bad) {
                Err(ReprError::MalformedXml(_)) => {}
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse_xml(&deep), Err(ReprError::MalformedXml(m)) if m.contains("nested")));
    }
}
