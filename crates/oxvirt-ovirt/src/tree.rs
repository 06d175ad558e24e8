//! The generic representation tree: one type for every oVirt entity, collection, fault and
//! action, in both directions.
//!
//! Why generic rather than one Rust struct per oVirt type: oVirt's model has hundreds of
//! types and thousands of attributes, of which the engine fills a few; clients send elements
//! we do not know, which must be ignored rather than rejected. A tree mirrors the XML data
//! model exactly (an element has ordered attributes, an optional scalar value and ordered
//! children), so rendering XML is a walk, rendering JSON is a walk with oVirt's grouping
//! rules, and parsing either gives the same tree. Handlers build replies with the builders
//! below and read requests with the typed accessors, whose errors name the element.
//!
//! Scalars keep their type ([`Value`]) so each format spells them its own way: XML writes
//! `true`, `1024`, `2024-01-15T10:20:30.123Z`; oVirt's JSON writes `"true"`, `"1024"` and a
//! date as epoch milliseconds. Parsed input only has [`Value::Text`]: the accessors convert.

use super::date;
use super::error::ReprError;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

/// Where oVirt serves its API; every `href` starts with it.
pub const API_PREFIX: &str = "/ovirt-engine/api";

/// `/ovirt-engine/api/<path>` for a path relative to the API root (`vms/123/nics`).
pub fn api_href(path: &str) -> String {
    format!("{API_PREFIX}/{}", path.trim_start_matches('/'))
}

/// The `href` of a top-level object: `/ovirt-engine/api/<collection>/<id>`, the collection
/// known by the id's type.
pub fn href_of<T: TopLevelId>(id: T) -> String {
    format!("{API_PREFIX}/{}/{id}", T::COLLECTION)
}

/// The `href` of an object of a sub-collection: `/ovirt-engine/api/vms/<vm>/nics/<nic>`.
pub fn sub_href<T: TopLevelId>(parent: T, collection: &str, id: impl fmt::Display) -> String {
    format!("{}/{collection}/{id}", href_of(parent))
}

/// A scalar value of an element (`<memory>1073741824</memory>`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Bool(bool),
    Integer(i128),
    Decimal(f64),
    Date(SystemTime),
}

impl Value {
    /// The value as XML (and the SDK) spell it.
    pub fn to_text(&self) -> String {
        match self {
            Value::Text(t) => t.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Decimal(d) => d.to_string(),
            Value::Date(t) => date::format_date(*t),
        }
    }
}

/// One element: a name, ordered attributes, an optional scalar value, ordered children.
///
/// `list` marks a list wrapper (`<custom_properties>`, a collection root `<vms>`): oVirt's
/// JSON renders its children as arrays even when there is only one.
///
/// A parsed element also records whether a reader looked at it ([`Element::is_read`]): the
/// accessors mark what they return, so after a request body has been read,
/// [`crate::model::unconsumed`] lists the model's elements nobody read — to be refused, never
/// silently dropped. The mark is not part of the value (equality ignores it).
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    value: Option<Value>,
    children: Vec<Element>,
    list: bool,
    read: ReadMark,
}

/// Whether an element was read: not, itself (its children are checked one by one), or whole
/// (a reference, of which only the identifying parts matter).
#[derive(Default)]
struct ReadMark(AtomicU8);

const UNREAD: u8 = 0;
const READ: u8 = 1;
const READ_WHOLE: u8 = 2;

impl ReadMark {
    fn get(&self) -> u8 {
        self.0.load(Ordering::Relaxed)
    }
    fn raise(&self, to: u8) {
        self.0.fetch_max(to, Ordering::Relaxed);
    }
}

impl Clone for ReadMark {
    fn clone(&self) -> Self {
        ReadMark(AtomicU8::new(self.get()))
    }
}

impl PartialEq for ReadMark {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for ReadMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.get() {
            UNREAD => "unread",
            READ => "read",
            _ => "read whole",
        })
    }
}

/// How a request names another object: `<cluster id="…"/>`, `<cluster><id>…</id></cluster>`
/// or `<cluster><name>Default</name></cluster>` (what the SDK writes for
/// `types.Cluster(name='Default')`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference<T> {
    Id(T),
    Name(String),
}

pub use oxvirt_types::{TopLevelId, TypedId};

/// A value an object always has in oxvirt, in oVirt's terms: `ksm.enabled` is `false` on every
/// cluster because oxvirt does not run KSM. A resource declares these in one table that both
/// renders them ([`Element::with_fixed`]) and reads requests ([`Element::accept_fixed`]): a
/// request carrying the same value is honoured (it is what happens), any other value stays
/// unread and is refused. So a field is never rendered one way and silently dropped the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fixed {
    /// Dotted path below the object (`fencing_policy.skip_if_sd_active.enabled`).
    pub path: &'static str,
    pub value: FixedValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedValue {
    Bool(bool),
    Int(i64),
    /// An enum value or text, compared ignoring case.
    Text(&'static str),
}

impl Fixed {
    pub const fn bool(path: &'static str, value: bool) -> Self {
        Fixed { path, value: FixedValue::Bool(value) }
    }
    pub const fn int(path: &'static str, value: i64) -> Self {
        Fixed { path, value: FixedValue::Int(value) }
    }
    pub const fn text(path: &'static str, value: &'static str) -> Self {
        Fixed { path, value: FixedValue::Text(value) }
    }

    fn matches(&self, text: &str) -> bool {
        let text = text.trim();
        match self.value {
            FixedValue::Bool(b) => text.eq_ignore_ascii_case(if b { "true" } else { "false" }),
            FixedValue::Int(i) => text.parse::<i64>() == Ok(i),
            FixedValue::Text(t) => text.eq_ignore_ascii_case(t),
        }
    }

    fn to_value(self) -> Value {
        match self.value {
            FixedValue::Bool(b) => Value::Bool(b),
            FixedValue::Int(i) => Value::Integer(i.into()),
            FixedValue::Text(t) => Value::Text(t.to_owned()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

impl Element {
    /// An element with nothing in it yet.
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            attributes: Vec::new(),
            value: None,
            children: Vec::new(),
            list: false,
            read: ReadMark::default(),
        }
    }

    /// A leaf: `<name>value</name>`.
    pub fn leaf(name: impl Into<String>, value: Value) -> Self {
        Element { value: Some(value), ..Element::new(name) }
    }

    /// A list wrapper holding `items` (`<custom_properties><custom_property>…`).
    pub fn list(name: impl Into<String>, items: impl IntoIterator<Item = Element>) -> Self {
        Element { children: items.into_iter().collect(), list: true, ..Element::new(name) }
    }

    /// A collection reply, `<vms><vm …/>…</vms>`. Like oVirt's, its root has no attributes.
    pub fn collection(name: impl Into<String>, items: impl IntoIterator<Item = Element>) -> Self {
        Element::list(name, items)
    }

    /// Sets (or replaces) an attribute, keeping the first position it was set at.
    pub fn attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set_attr(name, value);
        self
    }

    /// `id="…"`, from a typed id or any displayable value.
    pub fn id(self, id: impl fmt::Display) -> Self {
        self.attr("id", id.to_string())
    }

    /// `href="…"`, always written first as oVirt does.
    pub fn href(mut self, href: impl Into<String>) -> Self {
        let href = href.into();
        self.attributes.retain(|(n, _)| n != "href");
        self.attributes.insert(0, ("href".to_owned(), href));
        self
    }

    /// Sets the element's own scalar value.
    pub fn value(mut self, value: Value) -> Self {
        self.value = Some(value);
        self
    }

    /// Marks (or unmarks) the element as a list wrapper.
    pub fn as_list(mut self, list: bool) -> Self {
        self.list = list;
        self
    }

    /// Appends a child element.
    /// Adds every value of `fixed` at its path, merging into children already there.
    pub fn with_fixed(mut self, fixed: &[Fixed]) -> Self {
        for f in fixed {
            let mut at = &mut self;
            let mut parts = f.path.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    at.children.push(Element::leaf(part, f.to_value()));
                    break;
                }
                let i = match at.children.iter().position(|c| c.name == part && c.value.is_none()) {
                    Some(i) => i,
                    None => {
                        at.children.push(Element::new(part));
                        at.children.len() - 1
                    }
                };
                at = &mut at.children[i];
            }
        }
        self
    }

    pub fn child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }

    /// Appends `child` when there is one; `None` writes nothing, as oVirt omits unset values.
    pub fn child_opt(self, child: Option<Element>) -> Self {
        match child {
            Some(c) => self.child(c),
            None => self,
        }
    }

    /// `<name>text</name>`.
    pub fn text_child(self, name: &str, text: impl Into<String>) -> Self {
        self.child(Element::leaf(name, Value::Text(text.into())))
    }

    /// `<name>text</name>` when `text` is `Some`.
    pub fn text_child_opt(self, name: &str, text: Option<impl Into<String>>) -> Self {
        match text {
            Some(t) => self.text_child(name, t),
            None => self,
        }
    }

    /// `<name>true</name>` / `<name>false</name>`.
    pub fn bool_child(self, name: &str, value: bool) -> Self {
        self.child(Element::leaf(name, Value::Bool(value)))
    }

    /// `<name>1024</name>`, decimal.
    pub fn int_child(self, name: &str, value: impl Into<i128>) -> Self {
        self.child(Element::leaf(name, Value::Integer(value.into())))
    }

    /// `<name>2.5</name>`.
    pub fn decimal_child(self, name: &str, value: f64) -> Self {
        self.child(Element::leaf(name, Value::Decimal(value)))
    }

    /// `<name>2024-01-15T10:20:30.123Z</name>` (epoch milliseconds in JSON).
    pub fn date_child(self, name: &str, value: SystemTime) -> Self {
        self.child(Element::leaf(name, Value::Date(value)))
    }

    /// An enum value, written lower-case as oVirt spells its enums (`<status>up</status>`).
    /// Pass the wire spelling (`VmStatus::as_str()`, or any `Display` that gives it).
    pub fn enum_child(self, name: &str, value: impl fmt::Display) -> Self {
        self.text_child(name, value.to_string().to_lowercase())
    }

    /// A list of plain values: `<devices><device>hd</device>…</devices>`.
    pub fn text_list(self, name: &str, item: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        let items = values.into_iter().map(|v| Element::leaf(item, Value::Text(v.into())));
        self.child(Element::list(name, items))
    }

    /// A list wrapper child: `<custom_properties><custom_property>…</custom_properties>`.
    pub fn list_child(self, name: &str, items: impl IntoIterator<Item = Element>) -> Self {
        self.child(Element::list(name, items))
    }

    /// `<link href="…" rel="…"/>`: where a sub-collection lives (`rel="nics"`). The SDK reads
    /// these to give each sub-collection its `href`.
    pub fn link(self, rel: &str, href: impl Into<String>) -> Self {
        self.child(Element::new("link").href(href).attr("rel", rel))
    }

    /// One `<link rel="R" href="{own href}/R"/>` per name: the sub-collections of this object.
    /// Call after [`Element::href`]. oVirt's rels are the URL segments (`storagedomains`,
    /// `diskattachments`), not the element names.
    pub fn sub_links(mut self, rels: &[&str]) -> Self {
        let base = self.attr_value("href").unwrap_or_default().to_owned();
        for rel in rels {
            self = self.link(rel, format!("{base}/{rel}"));
        }
        self
    }

    /// `<actions><link href="{own href}/start" rel="start"/>…</actions>`: the actions this
    /// object offers. Call after [`Element::href`].
    pub fn actions(self, names: &[&str]) -> Self {
        let base = self.attr_value("href").unwrap_or_default().to_owned();
        let links = names.iter().map(|name| Element::new("link").href(format!("{base}/{name}")).attr("rel", *name));
        self.child(Element::new("actions").children_extend(links))
    }

    /// A reference to another object, as oVirt nests them: `<cluster href="…" id="…"/>`.
    pub fn reference(self, name: &str, id: impl fmt::Display, href: impl Into<String>) -> Self {
        self.child(Element::new(name).href(href).id(id))
    }

    /// A reference to a top-level object, its `href` built from the id's collection:
    /// `<cluster href="/ovirt-engine/api/clusters/…" id="…"/>`.
    pub fn reference_id<T: TopLevelId>(self, name: &str, id: T) -> Self {
        self.reference(name, id, href_of(id))
    }

    fn children_extend(mut self, children: impl IntoIterator<Item = Element>) -> Self {
        self.children.extend(children);
        self
    }

    // --- in-place editing -------------------------------------------------------------------

    /// Sets (or replaces) an attribute in place.
    pub fn set_attr(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.attributes.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.attributes.push((name.to_owned(), value)),
        }
    }

    /// Appends a child in place.
    pub fn push(&mut self, child: Element) {
        self.children.push(child);
    }

    /// Renames the element (a parsed JSON body has no root name: see `parse_body`).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

impl Element {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn attributes(&self) -> &[(String, String)] {
        &self.attributes
    }

    /// An attribute's value.
    pub fn attr_value(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn get_value(&self) -> Option<&Value> {
        self.value.as_ref()
    }

    pub fn children(&self) -> &[Element] {
        &self.children
    }

    pub fn is_list(&self) -> bool {
        self.list
    }

    /// True when the element carries nothing at all (`<cluster/>`).
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.value.is_none() && self.children.is_empty()
    }

    /// The element's own text: its value, or `""` for an empty leaf. `None` when the element
    /// has children or attributes but no value (it is a structure, not a scalar).
    pub fn own_text(&self) -> Option<String> {
        self.mark_read();
        self.own_text_unmarked()
    }

    /// The first child called `name`.
    pub fn child_named(&self, name: &str) -> Option<&Element> {
        let child = self.children.iter().find(|c| c.name == name);
        if let Some(c) = child {
            c.mark_read();
        }
        child
    }

    /// Every child called `name`, in order (`custom_property` in `<custom_properties>`).
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name).inspect(|c| c.mark_read())
    }

    /// The element at a `/`-separated path of first children: `at("os/boot/devices")`.
    pub fn at(&self, path: &str) -> Option<&Element> {
        path.split('/').filter(|s| !s.is_empty()).try_fold(self, |el, step| el.child_named(step))
    }

    /// The text of child `name`; `Some("")` for `<name/>`; `None` when absent.
    pub fn text(&self, name: &str) -> Option<String> {
        self.child_named(name).and_then(Element::own_text)
    }

    /// The text of child `name`, which must be there and not be empty.
    pub fn required_text(&self, name: &str) -> Result<String, ReprError> {
        match self.text(name) {
            Some(t) if !t.trim().is_empty() => Ok(t),
            _ => Err(ReprError::Missing { element: self.describe(name) }),
        }
    }

    /// The texts of every child called `item` of child `list`: `texts("devices", "device")`.
    pub fn texts(&self, list: &str, item: &str) -> Vec<String> {
        self.child_named(list)
            .map(|l| l.children_named(item).filter_map(Element::own_text).collect())
            .unwrap_or_default()
    }

    /// The element's own `id` attribute (or `<id>` child), parsed as a typed id.
    pub fn own_id<T: TypedId>(&self) -> Result<Option<T>, ReprError> {
        let text = match self.attr_value("id") {
            Some(id) => Some(id.to_owned()),
            None => self.text("id"),
        };
        text.map(|t| {
            t.trim()
                .parse::<T>()
                .map_err(|e| ReprError::invalid_value(format!("the id of {}", self.name), &t, e.to_string()))
        })
        .transpose()
    }

    /// `true`/`false` (also `1`/`0`, any case, as the SDK's reader accepts) of child `name`.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ReprError> {
        self.scalar(name, "true or false", |t| match t.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        })
    }

    /// A non-negative integer child (`<memory>1073741824</memory>`).
    pub fn u64(&self, name: &str) -> Result<Option<u64>, ReprError> {
        self.scalar(name, "a non-negative integer", |t| t.parse().ok())
    }

    /// An integer child that may be negative.
    pub fn i64(&self, name: &str) -> Result<Option<i64>, ReprError> {
        self.scalar(name, "an integer", |t| t.parse().ok())
    }

    /// A decimal child (`<speed>2.5</speed>`).
    pub fn decimal(&self, name: &str) -> Result<Option<f64>, ReprError> {
        self.scalar(name, "a decimal number", |t| t.parse::<f64>().ok().filter(|d| d.is_finite()))
    }

    /// A date child: `2024-01-15T10:20:30.123Z` (any zone, or none for UTC) or, as oVirt's JSON
    /// writes dates, milliseconds since the epoch.
    pub fn date(&self, name: &str) -> Result<Option<SystemTime>, ReprError> {
        self.scalar(name, "a date such as 2024-01-15T10:20:30.000Z", |t| {
            if !t.is_empty() && t.trim_start_matches('-').bytes().all(|b| b.is_ascii_digit()) {
                t.parse().ok().map(date::from_epoch_millis)
            } else {
                date::parse_date(t)
            }
        })
    }

    /// Child `name` converted by `parse` (an enum's `from_wire`, say); the error says
    /// `expected` when `parse` gives `None`.
    pub fn parsed<T>(
        &self,
        name: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ReprError> {
        self.scalar(name, expected, parse)
    }

    /// How child `name` references another object: by id (`id` attribute or `<id>` child,
    /// preferred when both are given) or else by `<name>`. `Ok(None)` when there is no such
    /// child; an error when it is there but names nothing or carries a malformed id.
    pub fn reference_to<T: TypedId>(&self, name: &str) -> Result<Option<Reference<T>>, ReprError> {
        let Some(child) = self.child_named(name) else { return Ok(None) };
        child.mark_read_whole();
        let element = self.describe(name);
        let id_text = child.attr_value("id").map(str::to_owned).or_else(|| child.text("id"));
        if let Some(text) = id_text.filter(|t| !t.trim().is_empty()) {
            return text
                .trim()
                .parse::<T>()
                .map(|id| Some(Reference::Id(id)))
                .map_err(|e| ReprError::invalid_value(format!("the id of {element}"), &text, e.to_string()));
        }
        match child.text("name").filter(|t| !t.trim().is_empty()) {
            Some(n) => Ok(Some(Reference::Name(n))),
            None => Err(ReprError::EmptyReference { element }),
        }
    }

    /// The id child `name` references (`<cluster id="…"/>` or `<cluster><id>…</id></cluster>`).
    /// `Ok(None)` when absent; an error when it is there but names its object only by name
    /// (use [`Element::reference_to`] where names are accepted).
    pub fn id_of<T: TypedId>(&self, name: &str) -> Result<Option<T>, ReprError> {
        match self.reference_to::<T>(name)? {
            None => Ok(None),
            Some(Reference::Id(id)) => Ok(Some(id)),
            Some(Reference::Name(_)) => Err(ReprError::ReferenceNeedsId { element: self.describe(name) }),
        }
    }

    /// Whether the element has no value, no attributes and no children (`<ssh/>`).
    pub fn is_bare(&self) -> bool {
        self.value.is_none() && self.attributes.is_empty() && self.children.is_empty()
    }

    /// Whether a reader looked at this element (an accessor returned it or read its value).
    pub fn is_read(&self) -> bool {
        self.read.get() >= READ
    }

    /// Whether this element was taken as a whole (a reference): nothing inside it is checked.
    pub fn is_read_whole(&self) -> bool {
        self.read.get() >= READ_WHOLE
    }

    /// Marks this element read (its children are still checked one by one).
    pub fn mark_read(&self) {
        self.read.raise(READ);
    }

    /// Marks this element and everything in it read.
    pub fn mark_read_whole(&self) {
        self.read.raise(READ_WHOLE);
    }

    /// Accepts child `name` only when its text is `default` (ignoring case and surrounding
    /// space): what the engine does anyway, so honoured. Any other value stays unread, to be
    /// refused. `<stateless>false</stateless>` is honoured by a VM that is not stateless.
    pub fn accept_default(&self, name: &str, default: &str) {
        if let Some(c) = self.children.iter().find(|c| c.name == name)
            && c.own_text_unmarked().is_some_and(|t| t.trim().eq_ignore_ascii_case(default))
        {
            c.mark_read();
        }
    }

    /// Marks read every value of `fixed` the request carries with that same value (with the
    /// elements that lead to it); other values stay unread, to be refused.
    pub fn accept_fixed(&self, fixed: &[Fixed]) {
        for f in fixed {
            let parts: Vec<&str> = f.path.split('.').collect();
            let mut trail = vec![self];
            for part in &parts {
                match trail.last().and_then(|at| at.children.iter().find(|c| c.name == *part)) {
                    Some(c) => trail.push(c),
                    None => break,
                }
            }
            // The elements leading to it are read (so a wrong value is refused by its own
            // name, `cluster.ksm.enabled`); the value itself only when it is the fixed one.
            let found = trail.len() == parts.len() + 1;
            let containers = if found { trail.len() - 1 } else { trail.len() };
            trail.iter().take(containers).skip(1).for_each(|e| e.mark_read());
            if found
                && let Some(leaf) = trail.last()
                && leaf.own_text_unmarked().is_some_and(|t| f.matches(&t))
            {
                leaf.mark_read();
            }
        }
    }

    fn own_text_unmarked(&self) -> Option<String> {
        match &self.value {
            Some(v) => Some(v.to_text()),
            None if self.children.is_empty() && self.attributes.is_empty() => Some(String::new()),
            None => None,
        }
    }

    /// Fails unless this is a `<name>` document. A parsed JSON body has no root name and
    /// passes (JSON does not name its root); it is renamed to `name`.
    pub fn expect_root(&mut self, name: &str) -> Result<(), ReprError> {
        if self.name.is_empty() {
            self.name = name.to_owned();
            return Ok(());
        }
        if self.name == name {
            Ok(())
        } else {
            Err(ReprError::WrongRoot { expected: name.to_owned(), found: format!("a <{}> document", self.name) })
        }
    }

    fn scalar<T>(
        &self,
        name: &str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ReprError> {
        let Some(child) = self.child_named(name) else { return Ok(None) };
        let Some(text) = child.own_text() else {
            return Err(ReprError::invalid_value(self.describe(name), "(a structure)", expected));
        };
        parse(text.trim()).map(Some).ok_or_else(|| ReprError::invalid_value(self.describe(name), &text, expected))
    }

    /// `memory of vm`, for messages.
    fn describe(&self, child: &str) -> String {
        if self.name.is_empty() { child.to_owned() } else { format!("{child} of {}", self.name) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixed_values_render_nested_and_accept_only_themselves() {
        use super::{Element, Fixed};
        const FIXED: &[Fixed] = &[
            Fixed::bool("ksm.enabled", false),
            Fixed::bool("ksm.merge_across_nodes", true),
            Fixed::int("fencing_policy.skip_if_connectivity_broken.threshold", 50),
            Fixed::text("error_handling.on_error", "do_not_migrate"),
        ];
        let el = Element::new("cluster").text_child("name", "c").with_fixed(FIXED);
        let xml = crate::to_xml(&el);
        assert!(
            xml.contains(
                "<ksm>\n    <enabled>false</enabled>\n    <merge_across_nodes>true</merge_across_nodes>\n  </ksm>"
            ),
            "{xml}"
        );
        assert!(xml.contains("<threshold>50</threshold>"), "{xml}");

        let body = |xml: &str| crate::parse_body(Some("application/xml"), xml.as_bytes()).expect("parse");
        let same = body(
            "<cluster><ksm><enabled>FALSE</enabled></ksm><error_handling><on_error>do_not_migrate</on_error></error_handling></cluster>",
        );
        same.accept_fixed(FIXED);
        assert!(crate::model::unconsumed(&same, "cluster").is_empty());
        let other =
            body("<cluster><ksm><enabled>true</enabled><merge_across_nodes>true</merge_across_nodes></ksm></cluster>");
        other.accept_fixed(FIXED);
        assert_eq!(crate::model::unconsumed(&other, "cluster"), vec!["cluster.ksm.enabled".to_owned()]);
    }

    use super::*;
    use crate::xml::parse_xml;
    use oxvirt_types::{ClusterId, VmStatus};

    const CLUSTER: &str = "5f1c3b9e-3c1a-4d8e-9a51-0c2b7f2e4a10";

    fn vm(xml: &str) -> Element {
        parse_xml(xml).expect("test XML parses")
    }

    #[test]
    fn builds_references_lists_and_links() {
        let id: ClusterId = CLUSTER.parse().expect("uuid");
        let el = Element::new("vm")
            .id("v1")
            .href(api_href("vms/v1"))
            .reference("cluster", id, api_href(&format!("clusters/{id}")))
            .enum_child("status", VmStatus::WaitForLaunch)
            .text_child_opt("comment", None::<String>)
            .list_child("custom_properties", [Element::new("custom_property").text_child("name", "k")]);
        assert_eq!(el.attributes()[0], ("href".to_owned(), "/ovirt-engine/api/vms/v1".to_owned()), "href first");
        assert_eq!(el.attr_value("id"), Some("v1"));
        assert_eq!(el.id_of::<ClusterId>("cluster"), Ok(Some(id)));
        assert_eq!(el.text("status").as_deref(), Some("wait_for_launch"));
        assert_eq!(el.text("comment"), None);
        assert!(el.child_named("custom_properties").is_some_and(Element::is_list));
    }

    #[test]
    fn reads_every_reference_form_the_sdk_writes() {
        let id: ClusterId = CLUSTER.parse().expect("uuid");
        for xml in [
            format!("<vm><cluster id='{CLUSTER}'/></vm>"),
            format!("<vm><cluster><id>{CLUSTER}</id></cluster></vm>"),
            format!("<vm><cluster id='{CLUSTER}'><name>ignored</name></cluster></vm>"),
        ] {
            assert_eq!(vm(&xml).reference_to::<ClusterId>("cluster"), Ok(Some(Reference::Id(id))), "{xml}");
            assert_eq!(vm(&xml).id_of::<ClusterId>("cluster"), Ok(Some(id)), "{xml}");
        }
        let by_name = vm("<vm><cluster><name>Default</name></cluster></vm>");
        assert_eq!(by_name.reference_to::<ClusterId>("cluster"), Ok(Some(Reference::Name("Default".into()))));
        assert_eq!(
            by_name.id_of::<ClusterId>("cluster"),
            Err(ReprError::ReferenceNeedsId { element: "cluster of vm".into() })
        );
        assert_eq!(vm("<vm/>").reference_to::<ClusterId>("cluster"), Ok(None));
        assert_eq!(
            vm("<vm><cluster/></vm>").reference_to::<ClusterId>("cluster"),
            Err(ReprError::EmptyReference { element: "cluster of vm".into() })
        );
        let bad = vm("<vm><cluster id='nope'/></vm>").reference_to::<ClusterId>("cluster");
        assert!(
            matches!(&bad, Err(ReprError::InvalidValue { element, value, .. }) if element == "the id of cluster of vm" && value == "nope"),
            "{bad:?}"
        );
    }

    #[test]
    fn typed_accessors_convert_or_name_the_element() {
        let el = vm("<vm><local>TRUE</local><stateless>0</stateless><memory> 1024 </memory><delta>-5</delta>\
             <speed>2.5</speed><created>2024-01-15T10:20:30.123Z</created><cpu><cores>2</cores></cpu>\
             <bad>maybe</bad><status>up</status><odd>up</odd></vm>");
        assert_eq!(el.bool("local"), Ok(Some(true)));
        assert_eq!(el.bool("stateless"), Ok(Some(false)));
        assert_eq!(el.bool("absent"), Ok(None));
        assert_eq!(el.u64("memory"), Ok(Some(1024)));
        assert_eq!(el.i64("delta"), Ok(Some(-5)));
        assert_eq!(el.decimal("speed"), Ok(Some(2.5)));
        assert_eq!(el.date("created"), Ok(Some(date::from_epoch_millis(1_705_314_030_123))));
        assert_eq!(el.at("cpu").map(|c| c.u64("cores")), Some(Ok(Some(2))));
        assert_eq!(el.parsed("status", "a VM status", VmStatus::from_wire), Ok(Some(VmStatus::Up)));
        assert_eq!(
            el.bool("bad"),
            Err(ReprError::InvalidValue {
                element: "bad of vm".into(),
                value: "maybe".into(),
                expected: "true or false".into()
            })
        );
        assert_eq!(
            el.u64("delta").map_err(|e| e.to_string()),
            Err("'-5' is not a valid value for delta of vm: expected a non-negative integer".into())
        );
        assert!(matches!(el.u64("cpu"), Err(ReprError::InvalidValue { value, .. }) if value == "(a structure)"));
        assert!(el.date("bad").is_err());
        assert_eq!(el.required_text("status"), Ok("up".into()));
        assert_eq!(el.required_text("name"), Err(ReprError::Missing { element: "name of vm".into() }));
    }

    #[test]
    fn checks_the_root() {
        let mut xml = vm("<vm/>");
        assert_eq!(xml.expect_root("vm"), Ok(()));
        assert_eq!(
            xml.expect_root("disk").map_err(|e| e.to_string()),
            Err("the request body is a <vm> document, expected a <disk> document".into())
        );
        let mut unnamed = Element::new("");
        assert_eq!(unnamed.expect_root("disk"), Ok(()));
        assert_eq!(unnamed.name(), "disk");
    }
}
