//! `oxvirt-modelgen MODEL_DIR [OUT]`: reads a checkout of oVirt's API model
//! (`oVirt/ovirt-engine-api-model`, its `src/main/java`) and writes the tables of
//! `crates/oxvirt-ovirt/src/model/generated.rs`: every type (structs with their attributes,
//! inherited ones included, and enums with their values) and every service method reachable
//! from the API root, with its path, verb and parameters.
//!
//! Why a generator of ours: the model is the specification the oVirt SDKs are generated from
//! (by ovirt-engine-api-metamodel, in Java); it is a set of Java interfaces in a small, regular
//! dialect (`@Type interface Vm extends VmBase { @Link Host host(); … }`, `@Service` interfaces
//! with nested method interfaces and `@In`/`@Out` parameters, service locators). A tokenizer
//! and a recursive reader of that dialect are enough; the output is facts (names, types,
//! paths) checked in as Rust tables, so the build and CI need neither Java nor the model.
//! Names follow the metamodel's rules: `diskAttachments` is the element `disk_attachments`, the
//! path segment `diskattachments`; a list of structs holds items named after their type, a list
//! of enums or primitives items named by the singular of the attribute.

use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().context("usage: oxvirt-modelgen MODEL_DIR [OUT]")?);
    let out = args.next().map(PathBuf::from);
    let java = if dir.join("src/main/java").is_dir() { dir.join("src/main/java") } else { dir.clone() };
    let origin = std::env::var("OXVIRT_MODEL_ORIGIN").unwrap_or_else(|_| "oVirt/ovirt-engine-api-model".to_owned());
    let mut decls = Vec::new();
    for sub in ["types", "services", "mixins"] {
        read_dir_decls(&java.join(sub), &mut decls)?;
    }
    let model = Model::build(decls)?;
    let text = model.render(&origin)?;
    match out {
        Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

fn read_dir_decls(dir: &Path, out: &mut Vec<Iface>) -> Result<()> {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            read_dir_decls(&path, out)?;
        } else if path.extension().is_some_and(|x| x == "java") {
            let src = std::fs::read_to_string(&path)?;
            let toks = tokenize(&src).with_context(|| format!("tokenizing {}", path.display()))?;
            let mut p = Parser { toks, pos: 0 };
            out.extend(p.file().with_context(|| format!("parsing {}", path.display()))?);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tokens and the Java dialect
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Sym(char),
}

fn tokenize(src: &str) -> Result<Vec<Tok>> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            toks.push(Tok::Ident("\"\"".to_owned()));
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$') {
                i += 1;
            }
            toks.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            toks.push(Tok::Sym(c));
            i += 1;
        }
    }
    Ok(toks)
}

/// A declaration: an interface (type, service, method, mixin) or an enum.
#[derive(Debug, Default)]
struct Iface {
    annotations: Vec<String>,
    name: String,
    extends: Vec<String>,
    members: Vec<Member>,
    nested: Vec<Iface>,
    enum_values: Option<Vec<String>>,
}

/// `@Link Host[] hosts();`, `@In Boolean async();`, `@Service VmService vm(String id);`.
#[derive(Debug)]
struct Member {
    annotations: Vec<String>,
    ty: String,
    list: bool,
    name: String,
    has_param: bool,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn is_sym(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Sym(c))
    }
    fn is_ident(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(i)) if i == s)
    }
    fn expect_sym(&mut self, c: char) -> Result<()> {
        match self.next() {
            Some(Tok::Sym(x)) if x == c => Ok(()),
            other => bail!("expected '{c}' at token {}, found {other:?}", self.pos - 1),
        }
    }
    fn ident(&mut self) -> Result<String> {
        match self.next() {
            Some(Tok::Ident(s)) => Ok(s),
            other => bail!("expected a name at token {}, found {other:?}", self.pos - 1),
        }
    }
    /// `a.b.C` → `C`.
    fn qualified(&mut self) -> Result<String> {
        let mut name = self.ident()?;
        while self.is_sym('.') {
            self.pos += 1;
            name = self.ident()?;
        }
        Ok(name)
    }
    /// Skips a balanced `(…)`, `{…}` starting at the current token.
    fn skip_balanced(&mut self, open: char, close: char) -> Result<()> {
        self.expect_sym(open)?;
        let mut depth = 1;
        while depth > 0 {
            match self.next() {
                Some(Tok::Sym(c)) if c == open => depth += 1,
                Some(Tok::Sym(c)) if c == close => depth -= 1,
                Some(_) => {}
                None => bail!("unbalanced '{open}'"),
            }
        }
        Ok(())
    }
    fn annotation(&mut self) -> Result<String> {
        self.expect_sym('@')?;
        let name = self.qualified()?;
        if self.is_sym('(') {
            self.skip_balanced('(', ')')?;
        }
        Ok(name)
    }

    fn file(&mut self) -> Result<Vec<Iface>> {
        let mut out = Vec::new();
        let mut annotations = Vec::new();
        while let Some(t) = self.peek().cloned() {
            match t {
                Tok::Ident(i) if i == "package" || i == "import" => {
                    while !self.is_sym(';') {
                        self.pos += 1;
                    }
                    self.pos += 1;
                }
                Tok::Sym('@') => annotations.push(self.annotation()?),
                Tok::Ident(i) if i == "public" => self.pos += 1,
                Tok::Ident(i) if i == "interface" || i == "enum" => {
                    out.push(self.decl(std::mem::take(&mut annotations))?);
                }
                other => bail!("unexpected {other:?} at token {}", self.pos),
            }
        }
        Ok(out)
    }

    fn decl(&mut self, annotations: Vec<String>) -> Result<Iface> {
        let kind = self.ident()?;
        let mut iface = Iface { annotations, name: self.ident()?, ..Iface::default() };
        if self.is_ident("extends") {
            self.pos += 1;
            loop {
                iface.extends.push(self.qualified()?);
                if !self.is_sym(',') {
                    break;
                }
                self.pos += 1;
            }
        }
        self.expect_sym('{')?;
        if kind == "enum" {
            let mut values = Vec::new();
            loop {
                if self.is_sym('@') {
                    self.annotation()?;
                    continue;
                }
                match self.next() {
                    Some(Tok::Ident(v)) => values.push(v),
                    Some(Tok::Sym(',')) => {}
                    Some(Tok::Sym(';')) => {
                        // Members after the constants (none in the model): skip them.
                        self.pos -= 1;
                        while !self.is_sym('}') {
                            self.pos += 1;
                        }
                    }
                    Some(Tok::Sym('}')) => break,
                    other => bail!("unexpected {other:?} in enum {}", iface.name),
                }
            }
            iface.enum_values = Some(values);
            return Ok(iface);
        }
        let mut annotations = Vec::new();
        loop {
            if self.is_sym('}') {
                self.pos += 1;
                break;
            }
            if self.is_sym('@') {
                annotations.push(self.annotation()?);
                continue;
            }
            if self.is_ident("interface") || self.is_ident("enum") {
                iface.nested.push(self.decl(std::mem::take(&mut annotations))?);
                continue;
            }
            if self.is_ident("default") || self.is_ident("static") {
                while !self.is_sym('{') && !self.is_sym(';') {
                    self.pos += 1;
                }
                if self.is_sym('{') {
                    self.skip_balanced('{', '}')?;
                } else {
                    self.pos += 1;
                }
                annotations.clear();
                continue;
            }
            let ty = self.qualified()?;
            let mut list = false;
            if self.is_sym('[') {
                self.expect_sym('[')?;
                self.expect_sym(']')?;
                list = true;
            }
            let name = self.ident()?;
            self.expect_sym('(')?;
            let has_param = !self.is_sym(')');
            while !self.is_sym(')') {
                self.pos += 1;
            }
            self.expect_sym(')')?;
            self.expect_sym(';')?;
            iface.members.push(Member { annotations: std::mem::take(&mut annotations), ty, list, name, has_param });
        }
        Ok(iface)
    }
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// A type as the tables spell it.
#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Prim(&'static str),
    Enum(String),
    Struct(String),
}

#[derive(Debug, Clone)]
struct Attr {
    name: String,
    ty: Ty,
    list: bool,
    link: bool,
    item: String,
}

#[derive(Debug)]
struct Method {
    path: String,
    verb: &'static str,
    kind: &'static str,
    service: String,
    name: String,
    params: Vec<(Attr, bool, bool)>,
}

#[derive(Debug)]
struct Model {
    structs: BTreeMap<String, (String, Vec<Attr>)>,
    enums: BTreeMap<String, Vec<String>>,
    methods: Vec<Method>,
}

fn primitive(java: &str) -> Option<&'static str> {
    Some(match java {
        "String" => "String",
        "Boolean" => "Boolean",
        "Integer" | "Long" | "Short" | "BigInteger" => "Integer",
        "Double" | "Float" | "BigDecimal" | "Decimal" => "Decimal",
        "Date" => "Date",
        _ => return None,
    })
}

/// `diskAttachments` → `disk_attachments`; `DiskAttachment` → `disk_attachment`;
/// `_volatile` → `volatile`; `WAIT_FOR_LAUNCH` → `wait_for_launch`.
fn snake(name: &str) -> String {
    let name = name.trim_start_matches('_');
    if name.chars().all(|c| !c.is_lowercase()) {
        return name.to_lowercase();
    }
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The XML names of types that the metamodel does not derive from their Java names (read from
/// the SDK's `readers.py` registry; a test compares the tables with the SDK).
const TYPE_NAMES: &[(&str, &str)] = &[
    ("GlusterBrick", "brick"),
    ("GlusterBrickMemoryInfo", "brick_memoryinfo"),
    ("GlusterMemoryPool", "memory_pool"),
    ("GlusterServerHook", "server_hook"),
    ("MigrationOptions", "migration"),
    ("NumaNode", "host_numa_node"),
    ("OpenStackImage", "openstack_image"),
    ("OpenStackImageProvider", "openstack_image_provider"),
    ("OpenStackNetwork", "openstack_network"),
    ("OpenStackNetworkProvider", "openstack_network_provider"),
    ("OpenStackSubnet", "openstack_subnet"),
    ("OpenStackVolumeProvider", "openstack_volume_provider"),
    ("OperatingSystem", "os"),
    ("OperatingSystemInfo", "operating_system"),
    ("TransparentHugePages", "transparent_hugepages"),
    ("VirtualNumaNode", "vm_numa_node"),
];

/// A type's XML name.
fn type_name(java: &str) -> String {
    TYPE_NAMES.iter().find(|(j, _)| *j == java).map(|(_, x)| (*x).to_owned()).unwrap_or_else(|| snake(java))
}

/// The root element of a collection of `java` objects (`vms`, `vm_numa_nodes`): the XML name
/// plus `s` (`y` → `ies`, `erratum` → `errata`), with the exceptions the SDK's reader registry
/// shows.
fn plural_name(java: &str) -> String {
    match java {
        "OperatingSystemInfo" => return "operation_systems".to_owned(),
        "GlusterBrickMemoryInfo" | "MigrationOptions" | "TransparentHugePages" => return format!("{}s", snake(java)),
        _ => {}
    }
    let name = type_name(java);
    if let Some(stem) = name.strip_suffix("erratum") {
        format!("{stem}errata")
    } else if name.ends_with('y') && !name.ends_with("ay") && !name.ends_with("ey") && !name.ends_with("oy") {
        format!("{}ies", &name[..name.len() - 1])
    } else {
        format!("{name}s")
    }
}

/// An attribute's XML name: the metamodel's, with its two exceptions (lists of host NUMA nodes
/// are `host_numa_nodes`; `transparentHugePages` is `transparent_hugepages`).
fn attribute_name(java: &str, java_type: &str, list: bool) -> String {
    match (snake(java).as_str(), java_type, list) {
        (_, "NumaNode", true) => "host_numa_nodes".to_owned(),
        ("transparent_huge_pages", _, _) => "transparent_hugepages".to_owned(),
        (name, _, _) => name.to_owned(),
    }
}

/// The singular the metamodel gives a list's items when they are not structs.
fn singular(plural: &str) -> String {
    if let Some(s) = plural.strip_suffix("ies") {
        format!("{s}y")
    } else if plural.ends_with("sses") || plural.ends_with("xes") || plural.ends_with("ches") {
        plural[..plural.len() - 2].to_owned()
    } else if let Some(s) = plural.strip_suffix('s') {
        s.to_owned()
    } else {
        plural.to_owned()
    }
}

impl Model {
    fn build(decls: Vec<Iface>) -> Result<Self> {
        let mut types: BTreeMap<String, &Iface> = BTreeMap::new();
        let mut services: BTreeMap<String, &Iface> = BTreeMap::new();
        let mut mixins: BTreeMap<String, &Iface> = BTreeMap::new();
        let mut root = None;
        for d in &decls {
            let has = |a: &str| d.annotations.iter().any(|x| x == a);
            if has("Type") {
                types.insert(d.name.clone(), d);
            } else if has("Service") || has("Root") {
                services.insert(d.name.clone(), d);
                if has("Root") {
                    root = Some(d.name.clone());
                }
            } else if has("Mixin") {
                mixins.insert(d.name.clone(), d);
            }
        }
        let resolve = |java: &str| -> Result<Ty> {
            if let Some(p) = primitive(java) {
                return Ok(Ty::Prim(p));
            }
            match types.get(java) {
                Some(t) if t.enum_values.is_some() => Ok(Ty::Enum(type_name(java))),
                Some(_) => Ok(Ty::Struct(type_name(java))),
                None => bail!("unknown type {java}"),
            }
        };
        let attr = |m: &Member| -> Result<Attr> {
            let ty = resolve(&m.ty)?;
            let name = attribute_name(&m.name, &m.ty, m.list);
            let item = match (&ty, m.list) {
                (_, false) => String::new(),
                (Ty::Struct(s), true) => s.clone(),
                (_, true) => singular(&name),
            };
            Ok(Attr { name, ty, list: m.list, link: m.annotations.iter().any(|a| a == "Link"), item })
        };

        let mut structs = BTreeMap::new();
        let mut enums = BTreeMap::new();
        for (name, t) in &types {
            if let Some(values) = &t.enum_values {
                enums.insert(type_name(name), values.iter().map(|v| snake(v)).collect());
                continue;
            }
            let mut chain = vec![*t];
            while let Some(base) = chain.last().and_then(|t| t.extends.first()) {
                let b = types.get(base).with_context(|| format!("{name} extends unknown {base}"))?;
                chain.push(b);
            }
            let mut attrs: BTreeMap<String, Attr> = BTreeMap::new();
            for t in chain.iter().rev() {
                for m in &t.members {
                    let a = attr(m).with_context(|| format!("{name}.{}", m.name))?;
                    attrs.insert(a.name.clone(), a);
                }
            }
            structs.insert(type_name(name), (plural_name(name), attrs.into_values().collect()));
        }

        // Services: methods (nested interfaces, their mixins and signature variants) and
        // locators, inherited from base services.
        struct Svc {
            methods: BTreeMap<String, Vec<(Attr, bool, bool)>>,
            locators: Vec<(String, String, bool)>,
        }
        fn collect_params(
            m: &Iface,
            mixins: &BTreeMap<String, &Iface>,
            attr: &dyn Fn(&Member) -> Result<Attr>,
            out: &mut BTreeMap<String, (Attr, bool, bool)>,
        ) -> Result<()> {
            for member in &m.members {
                let input = member.annotations.iter().any(|a| a == "In");
                let output = member.annotations.iter().any(|a| a == "Out");
                let a = attr(member)?;
                let e = out.entry(a.name.clone()).or_insert((a, false, false));
                e.1 |= input;
                e.2 |= output;
            }
            for base in &m.extends {
                if let Some(mx) = mixins.get(base) {
                    collect_params(mx, mixins, attr, out)?;
                }
            }
            for variant in &m.nested {
                collect_params(variant, mixins, attr, out)?;
            }
            Ok(())
        }
        let mut svcs: BTreeMap<String, Svc> = BTreeMap::new();
        for (name, s) in &services {
            let mut chain = vec![*s];
            let mut seen = BTreeSet::new();
            while let Some(base) = chain.last().and_then(|t| t.extends.first()) {
                if !seen.insert(base.clone()) {
                    break;
                }
                match services.get(base) {
                    Some(b) => chain.push(b),
                    None => bail!("service {name} extends unknown {base}"),
                }
            }
            let mut svc = Svc { methods: BTreeMap::new(), locators: Vec::new() };
            for s in chain.iter().rev() {
                for m in &s.nested {
                    let mut params = BTreeMap::new();
                    collect_params(m, &mixins, &attr, &mut params).with_context(|| format!("{name}.{}", m.name))?;
                    svc.methods.insert(m.name.clone(), params.into_values().collect());
                }
                for l in &s.members {
                    if l.annotations.iter().any(|a| a == "Service") {
                        svc.locators.retain(|(n, _, _)| *n != l.name);
                        svc.locators.push((l.name.clone(), l.ty.clone(), l.has_param));
                    }
                }
            }
            svcs.insert(name.clone(), svc);
        }
        let root = root.context("no @Root service")?;
        let mut methods = Vec::new();
        let mut stack = vec![(root, String::new(), 0)];
        while let Some((name, path, depth)) = stack.pop() {
            if depth > 12 {
                bail!("service paths deeper than 12 at {path}");
            }
            // One locator in the model names its service without the `Service` suffix.
            let svc = svcs
                .get(&name)
                .or_else(|| svcs.get(&format!("{name}Service")))
                .with_context(|| format!("unknown service {name} at {path}"))?;
            for (m, params) in &svc.methods {
                let (verb, kind, mpath) = match m.as_str() {
                    "Get" => ("GET", "Get", path.clone()),
                    "List" => ("GET", "List", path.clone()),
                    "Add" => ("POST", "Add", path.clone()),
                    "Update" => ("PUT", "Update", path.clone()),
                    "Remove" => ("DELETE", "Remove", path.clone()),
                    other => ("POST", "Action", format!("{path}/{}", other.to_lowercase())),
                };
                let name_wire = if kind == "Action" { m.to_lowercase() } else { kind.to_lowercase() };
                methods.push(Method {
                    path: if mpath.is_empty() { "/".to_owned() } else { mpath },
                    verb,
                    kind,
                    service: name.clone(),
                    name: name_wire,
                    params: params.clone(),
                });
            }
            for (lname, lsvc, has_param) in &svc.locators {
                let seg = if *has_param { "{id}".to_owned() } else { lname.to_lowercase() };
                stack.push((lsvc.clone(), format!("{path}/{seg}"), depth + 1));
            }
        }
        // The metamodel's built-in types: `action` (identified, with every method's input
        // parameters and its actions' outputs), `fault`, `grace_period`.
        let mut action: BTreeMap<String, Attr> = BTreeMap::new();
        for m in &methods {
            for (a, _, _) in m.params.iter().filter(|p| p.1 || m.kind == "Action") {
                action.entry(a.name.clone()).or_insert_with(|| a.clone());
            }
        }
        let one =
            |name: &str, ty: Ty| Attr { name: name.to_owned(), ty, list: false, link: false, item: String::new() };
        for a in [
            one("id", Ty::Prim("String")),
            one("name", Ty::Prim("String")),
            one("description", Ty::Prim("String")),
            one("comment", Ty::Prim("String")),
            one("status", Ty::Prim("String")),
            one("fault", Ty::Struct("fault".to_owned())),
            one("grace_period", Ty::Struct("grace_period".to_owned())),
            one("job", Ty::Struct("job".to_owned())),
        ] {
            action.entry(a.name.clone()).or_insert(a);
        }
        structs.insert("action".to_owned(), ("actions".to_owned(), action.into_values().collect()));
        structs.insert(
            "fault".to_owned(),
            ("faults".to_owned(), vec![one("detail", Ty::Prim("String")), one("reason", Ty::Prim("String"))]),
        );
        structs
            .insert("grace_period".to_owned(), ("grace_periods".to_owned(), vec![one("expiry", Ty::Prim("Integer"))]));
        methods.sort_by(|a, b| (&a.path, a.verb).cmp(&(&b.path, b.verb)));
        methods.dedup_by(|a, b| a.path == b.path && a.verb == b.verb);
        Ok(Model { structs, enums, methods })
    }

    fn render(&self, origin: &str) -> Result<String> {
        let mut o = String::new();
        writeln!(o, "// @generated by `oxvirt-modelgen` from {origin}. Do not edit: regenerate (see `model/mod.rs`).")?;
        writeln!(
            o,
            "// {} structs, {} enums, {} service methods.",
            self.structs.len(),
            self.enums.len(),
            self.methods.len()
        )?;
        writeln!(o)?;
        writeln!(o, "use super::{{Attribute as A, EnumDef, Kind, Method, Param as P, StructDef, Ty, Verb}};")?;
        writeln!(o)?;
        let ty = |t: &Ty| match t {
            Ty::Prim(p) => format!("Ty::{p}"),
            Ty::Enum(e) => format!("Ty::Enum({e:?})"),
            Ty::Struct(s) => format!("Ty::Struct({s:?})"),
        };
        let attr = |a: &Attr| {
            let base = if a.list {
                format!("A::many({:?}, {}, {:?})", a.name, ty(&a.ty), a.item)
            } else {
                format!("A::one({:?}, {})", a.name, ty(&a.ty))
            };
            if a.link { format!("{base}.linked()") } else { base }
        };
        writeln!(o, "pub static STRUCTS: &[StructDef] = &[")?;
        for (name, (plural, attrs)) in &self.structs {
            writeln!(o, "    StructDef {{ name: {name:?}, plural: {plural:?}, attributes: &[")?;
            for a in attrs {
                writeln!(o, "        {},", attr(a))?;
            }
            writeln!(o, "    ] }},")?;
        }
        writeln!(o, "];")?;
        writeln!(o)?;
        writeln!(o, "pub static ENUMS: &[EnumDef] = &[")?;
        for (name, values) in &self.enums {
            writeln!(o, "    EnumDef {{ name: {name:?}, values: &{values:?} }},")?;
        }
        writeln!(o, "];")?;
        writeln!(o)?;
        writeln!(o, "pub static METHODS: &[Method] = &[")?;
        for m in &self.methods {
            writeln!(
                o,
                "    Method {{ path: {:?}, verb: Verb::{}, kind: Kind::{}, service: {:?}, name: {:?}, params: &[",
                m.path,
                match m.verb {
                    "GET" => "Get",
                    "POST" => "Post",
                    "PUT" => "Put",
                    _ => "Delete",
                },
                m.kind,
                m.service,
                m.name
            )?;
            for (a, input, output) in &m.params {
                writeln!(o, "        P {{ attribute: {}, input: {input}, output: {output} }},", attr(a))?;
            }
            writeln!(o, "    ] }},")?;
        }
        writeln!(o, "];")?;
        Ok(o)
    }
}
