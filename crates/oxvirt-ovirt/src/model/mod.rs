//! oVirt's API model as tables: every type (structs with their attributes, enums with their
//! values) and every service method reachable from the API root (path, verb, parameters),
//! generated from oVirt's `ovirt-engine-api-model` by `oxvirt-modelgen` and checked in
//! (`generated.rs`).
//!
//! Why tables and not a struct per type: the engine fills a few dozen of the model's ~220
//! structs, and a request may carry any attribute of them. What the engine must know of the
//! rest is *that they exist*: an element of the model that a request carries and no handler
//! read is refused with a 400 naming it ([`unconsumed`]), while an element outside the model
//! is ignored, as oVirt ignores it. Typed structs for every type would be several hundred
//! thousand lines to compile on every build, and would still need the same per-field
//! "consumed or refused" bookkeeping, since a parsed field a handler never looks at is exactly
//! the silent drop this exists to prevent. The tables also give the list of services and
//! actions (what the router serves of it is measured against [`METHODS`]), and tests compare
//! them with the published SDK's readers and writers.
//!
//! Regenerate with a checkout of the model:
//! `cargo run -p oxvirt-modelgen -- /path/to/ovirt-engine-api-model crates/oxvirt-ovirt/src/model/generated.rs`
//! (set `OXVIRT_MODEL_ORIGIN` to name the commit in the header), then `cargo fmt --all`, which
//! formats the checked-in file.

mod generated;

pub use generated::{ENUMS, METHODS, STRUCTS};

use crate::tree::Element;

/// The type of an attribute or parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Boolean,
    Integer,
    Decimal,
    Date,
    Enum(&'static str),
    Struct(&'static str),
}

/// One attribute of a struct: `vm.memory`, `vm.disk_attachments` (a list of `disk_attachment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    /// The element name (XML and JSON).
    pub name: &'static str,
    pub ty: Ty,
    pub list: bool,
    /// A link to other objects (`@Link`): rendered as a reference or a `<link rel>`.
    pub link: bool,
    /// The item element of a list (`disk_attachment`); empty for a single value.
    pub item: &'static str,
}

impl Attribute {
    pub const fn one(name: &'static str, ty: Ty) -> Self {
        Attribute { name, ty, list: false, link: false, item: "" }
    }
    pub const fn many(name: &'static str, ty: Ty, item: &'static str) -> Self {
        Attribute { name, ty, list: true, link: false, item }
    }
    pub const fn linked(self) -> Self {
        Attribute { link: true, ..self }
    }
}

#[derive(Debug)]
pub struct StructDef {
    pub name: &'static str,
    /// The root element of a collection of them (`vms`, `vm_numa_nodes`).
    pub plural: &'static str,
    /// Sorted by name; inherited attributes included.
    pub attributes: &'static [Attribute],
}

impl StructDef {
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        self.attributes.binary_search_by(|a| a.name.cmp(name)).ok().map(|i| &self.attributes[i])
    }
}

#[derive(Debug)]
pub struct EnumDef {
    pub name: &'static str,
    pub values: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

/// What a method is: the five standard ones, or an action (`POST …/start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Get,
    List,
    Add,
    Update,
    Remove,
    Action,
}

/// A parameter of a method: for actions, a child of the `<action>` body; for the standard
/// methods, the entity (`vm` of an add) or a query parameter (`clone`, `search`, `follow`).
#[derive(Debug)]
pub struct Param {
    pub attribute: Attribute,
    pub input: bool,
    pub output: bool,
}

/// A service method at its path relative to the API root, every id segment spelled `{id}`:
/// `/vms/{id}/start`.
#[derive(Debug)]
pub struct Method {
    pub path: &'static str,
    pub verb: Verb,
    pub kind: Kind,
    /// The model's service (`VmService`).
    pub service: &'static str,
    /// `get`, `list`, `add`, `update`, `remove` or the action's name (`start`).
    pub name: &'static str,
    pub params: &'static [Param],
}

/// The struct named `name` (its XML name: `vm`, `disk_attachment`, `host_numa_node`).
pub fn struct_def(name: &str) -> Option<&'static StructDef> {
    STRUCTS.binary_search_by(|s| s.name.cmp(name)).ok().map(|i| &STRUCTS[i])
}

pub fn enum_def(name: &str) -> Option<&'static EnumDef> {
    ENUMS.binary_search_by(|s| s.name.cmp(name)).ok().map(|i| &ENUMS[i])
}

/// The method served at `path` (relative to the API root, ids as `{id}`) with `verb`.
pub fn method(path: &str, verb: Verb) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.path == path && m.verb == verb)
}

/// The methods whose path matches `path` (relative to the API root, `/vms/123/numanodes`), an
/// id segment of the model (`{id}`) matching any segment; a named segment wins over `{id}`
/// (`/vms/{id}/start` rather than `/vms/{id}/{id}`, which the model does not have anyway).
pub fn methods_matching(path: &str) -> Vec<&'static Method> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let score = |m: &Method| -> Option<usize> {
        let pattern: Vec<&str> = m.path.split('/').filter(|s| !s.is_empty()).collect();
        if pattern.len() != segments.len() {
            return None;
        }
        let mut exact = 0;
        for (p, s) in pattern.iter().zip(&segments) {
            if *p == "{id}" {
                continue;
            }
            if p != s {
                return None;
            }
            exact += 1;
        }
        Some(exact)
    };
    let scored: Vec<(usize, &'static Method)> = METHODS.iter().filter_map(|m| score(m).map(|s| (s, m))).collect();
    let best = scored.iter().map(|(s, _)| *s).max();
    scored.into_iter().filter(|(s, _)| Some(*s) == best).map(|(_, m)| m).collect()
}

/// The model's elements in `el` (of struct `root`) that nothing read, as dotted paths
/// (`vm.lease`, `vm.cpu.mode`, `vm.payloads.payload`). An element outside the model is not
/// listed; inside an element that was read whole (a reference) nothing is.
pub fn unconsumed(el: &Element, root: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(def) = struct_def(root) {
        walk(el, def, el.name(), &mut out);
    }
    out
}

fn walk(el: &Element, def: &StructDef, path: &str, out: &mut Vec<String>) {
    if el.is_read_whole() {
        return;
    }
    for child in el.children() {
        let Some(attr) = def.attribute(child.name()) else { continue };
        let here = format!("{path}.{}", child.name());
        if !child.is_read() {
            // An empty structure carries nothing to honour (the SDK writes `<ssh/>` for an
            // `Ssh()` whose fields are all unset); an empty scalar is a value (`""`).
            if !(matches!(attr.ty, Ty::Struct(_)) && !attr.list && child.is_bare()) {
                out.push(here);
            }
            continue;
        }
        let Ty::Struct(ty) = attr.ty else {
            if attr.list {
                for item in child.children() {
                    if !item.is_read() {
                        out.push(format!("{here}.{}", item.name()));
                        break;
                    }
                }
            }
            continue;
        };
        let Some(sub) = struct_def(ty) else { continue };
        if attr.list {
            for item in child.children() {
                if item.name() != attr.item {
                    continue;
                }
                if !item.is_read() {
                    out.push(format!("{here}.{}", item.name()));
                } else {
                    walk(item, sub, &format!("{here}.{}", item.name()), out);
                }
            }
        } else {
            walk(child, sub, &here, out);
        }
    }
    out.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_for_lookup() {
        assert!(STRUCTS.windows(2).all(|w| w[0].name < w[1].name));
        assert!(ENUMS.windows(2).all(|w| w[0].name < w[1].name));
        for s in STRUCTS {
            assert!(s.attributes.windows(2).all(|w| w[0].name < w[1].name), "{}", s.name);
        }
    }

    #[test]
    fn every_referenced_type_exists() {
        let check = |ty: Ty, whose: &str| match ty {
            Ty::Struct(s) => assert!(struct_def(s).is_some(), "{whose}: no struct {s}"),
            Ty::Enum(e) => assert!(enum_def(e).is_some(), "{whose}: no enum {e}"),
            _ => {}
        };
        for s in STRUCTS {
            for a in s.attributes {
                check(a.ty, &format!("{}.{}", s.name, a.name));
            }
        }
        for m in METHODS {
            for p in m.params {
                check(p.attribute.ty, &format!("{} {}", m.path, m.name));
            }
        }
    }

    fn parsed(xml: &str) -> Element {
        crate::xml::parse_xml(xml).expect("xml")
    }

    #[test]
    fn lists_the_model_elements_nothing_read_and_ignores_the_rest() {
        let vm = parsed(
            "<vm><name>a</name><lease><storage_domain id='x'/></lease>\
             <cpu><topology><cores>2</cores></topology><mode>host_passthrough</mode></cpu>\
             <cluster><name>Default</name><version><major>4</major></version></cluster>\
             <custom_properties><custom_property><name>k</name><value>v</value><regexp>.*</regexp></custom_property></custom_properties>\
             <not_in_the_model>1</not_in_the_model></vm>",
        );
        assert_eq!(vm.text("name").as_deref(), Some("a"));
        assert_eq!(vm.at("cpu/topology").and_then(|t| t.u64("cores").ok().flatten()), Some(2));
        // A reference is read whole: the cluster's other children do not matter.
        assert!(vm.reference_to::<oxvirt_types::ClusterId>("cluster").expect("ref").is_some());
        for p in vm.child_named("custom_properties").expect("cp").children_named("custom_property") {
            let _ = (p.text("name"), p.text("value"));
        }
        assert_eq!(unconsumed(&vm, "vm"), ["vm.lease", "vm.cpu.mode", "vm.custom_properties.custom_property.regexp"]);
    }

    #[test]
    fn a_default_value_is_honoured_and_any_other_refused() {
        let vm = parsed("<vm><stateless>false</stateless><start_paused>true</start_paused></vm>");
        vm.accept_default("stateless", "false");
        vm.accept_default("start_paused", "false");
        assert_eq!(unconsumed(&vm, "vm"), ["vm.start_paused"]);
    }

    #[test]
    fn matches_request_paths_to_methods() {
        let at = |p: &str| methods_matching(p).iter().map(|m| (m.verb, m.name)).collect::<Vec<_>>();
        assert_eq!(at("/vms/7f3b/numanodes"), [(Verb::Get, "list"), (Verb::Post, "add")]);
        assert_eq!(at("/vms/7f3b/start"), [(Verb::Post, "start")]);
        assert!(at("/vms/7f3b/nonsense").is_empty());
        assert!(at("/nonsense").is_empty());
    }

    #[test]
    fn knows_the_vm_and_its_actions() {
        let vm = struct_def("vm").expect("vm");
        assert_eq!(vm.attribute("memory").map(|a| a.ty), Some(Ty::Integer));
        let da = vm.attribute("disk_attachments").expect("disk_attachments");
        assert!(da.list && da.link && da.item == "disk_attachment");
        assert_eq!(vm.attribute("status").map(|a| a.ty), Some(Ty::Enum("vm_status")));
        let start = method("/vms/{id}/start", Verb::Post).expect("start");
        assert_eq!(start.kind, Kind::Action);
        assert!(start.params.iter().any(|p| p.attribute.name == "use_cloud_init" && p.input));
        assert!(method("/vms", Verb::Post).is_some_and(|m| m.kind == Kind::Add));
        assert!(enum_def("vm_status").is_some_and(|e| e.values.contains(&"wait_for_launch")));
    }
}
