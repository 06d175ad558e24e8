"""Walks the SDK's writers over every type the engine accepts on add: honoured or refused.

For each type (data center, cluster, network, vNIC profile, VM, VM NIC), every attribute the
SDK's writer for that type can send — and, inside structs and lists of structs, every leaf two
levels down — is set alone on an otherwise minimal valid object, and the object is added
through the SDK. The outcome must be one of:
  honoured  the add succeeded and reading the object back gives the value sent;
  refused   a 400 fault whose detail names the element or the one holding it
            (`vm.cpu.mode`, `vm.cpu`), or the leaf's XML name (a value check);
anything else is a failure: SILENT (added, value not there: the worst bug), 5XX, or a 400
that does not name what it refused. Objects are removed after each case.

Run by tests/sdk_e2e.rs: python fidelity.py API_URL ADMIN_PASSWORD CA_FILE
Prints a summary per type and every failure; OK at the end when there was none.
"""
import datetime
import inspect
import itertools
import re
import sys

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
from ovirtsdk4 import readers, writers

url, password, ca_file = sys.argv[1:4]
conn = sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)
system = conn.system_service()

# --- what each writer writes -----------------------------------------------------------------
SOURCE = inspect.getsource(writers)
WRITERS = dict(re.findall(r"\nclass (\w+)Writer\(Writer\):(.*?)(?=\nclass |\Z)", SOURCE, re.S))
ITEMS = {}  # (item class, list's xml name) -> the item's xml name
READERS = dict(re.findall(r"\nclass (\w+)Reader\(Reader\):(.*?)(?=\nclass |\Z)", inspect.getsource(readers), re.S))


def setter_class(cls_name, attr):
    """The enum class the SDK's reader of `cls_name` reads `attr` as, or None."""
    m = re.search(r"obj\.%s = Reader\.read_enums?\(types\.(\w+), reader\)" % attr, READERS.get(cls_name, ""))
    return getattr(types, m.group(1)) if m else None


def fields(cls_name):
    """(python attribute, xml name, kind, class) for each attribute the writer writes."""
    body = WRITERS.get(cls_name, "")
    out = []
    for kind, xml, attr, enum in re.findall(
            r"Writer\.write_(string|boolean|integer|decimal|date)\(writer, '(\w+)', obj\.(\w+)(\.value)?\)", body):
        out.append((attr, xml, "enum" if enum else kind, setter_class(cls_name, attr) if enum else None))
    for target, attr, xml in re.findall(r"(\w+)Writer\.write_one\(obj\.(\w+), writer, '(\w+)'\)", body):
        out.append((attr, xml, "struct", getattr(types, target)))
    for target, attr, item, xml in re.findall(
            r"(\w+)Writer\.write_many\(obj\.(\w+), writer, '(\w+)', '(\w+)'\)", body):
        out.append((attr, xml, "structs", getattr(types, target)))
        ITEMS[(target, xml)] = item
    for xml, attr, kind, item, enum in re.findall(
            r"writer\.write_start\('(\w+)'\)\n\s+for item in obj\.(\w+):\n\s+if item is not None:\n"
            r"\s+Writer\.write_(\w+)\(writer, '(\w+)', item(\.value)?\)", body):
        out.append((attr, xml, "enums" if enum else "scalars:" + kind, None))
    return out


def sample(kind, cls):
    if kind in ("string", "scalars:string"):
        return "fid-sample"
    if kind in ("boolean", "scalars:boolean"):
        return True
    if kind in ("integer", "scalars:integer"):
        return 2
    if kind in ("decimal", "scalars:decimal"):
        return 1.5
    if kind in ("date", "scalars:date"):
        return datetime.datetime(2024, 1, 15, 10, 20, 30, tzinfo=datetime.timezone.utc)
    if kind == "enum":
        return list(cls)[-1]
    raise ValueError(kind)


def cases(cls_name, depth=0):
    """(path of (python attr, xml name, is_list), value) for every leaf up to two levels down."""
    for attr, xml, kind, cls in fields(cls_name):
        if attr in ("href", "id"):
            continue
        if kind in ("struct", "structs"):
            if depth >= 2:
                continue
            for sub_path, value in cases(cls.__name__, depth + 1):
                yield [(attr, xml, kind == "structs", cls)] + sub_path, value
        elif kind == "enums":
            cls = setter_class(cls_name, attr)
            yield [(attr, xml, False, None)], None if cls is None else [list(cls)[-1]]
        elif kind.startswith("scalars:"):
            yield [(attr, xml, False, None)], [sample(kind, None)]
        else:
            yield [(attr, xml, False, None)], sample(kind, cls)


def build(path, value, obj):
    """Sets `value` at `path` inside `obj`, creating the structs (and one-item lists) on the way."""
    attr, _, is_list, cls = path[0]
    if len(path) == 1:
        setattr(obj, attr, value)
        return
    inner = cls()
    build(path[1:], value, inner)
    setattr(obj, attr, [inner] if is_list else inner)


def read_at(path, obj):
    for attr, _, is_list, _ in path:
        if obj is None:
            return None
        obj = getattr(obj, attr, None)
        if is_list:
            obj = obj[0] if obj else None
    return obj


def same(sent, got):
    if isinstance(sent, list):
        return isinstance(got, list) and len(got) >= 1 and same(sent[0], got[0])
    if isinstance(sent, datetime.datetime):
        return got is not None
    return sent == got


GENERIC = {"name", "id", "description", "comment", "type", "value"}


def names_the_path(detail, path):
    """Whether a fault's detail names the leaf or an element holding it (a list's item too)."""
    detail = detail.lower()
    names = [p[1] for p in path] + [ITEMS.get((p[3].__name__ if p[3] else None, p[1]), "") for p in path]
    dotted = [".".join(p[1] for p in path[:i + 1]) for i in range(len(path))]
    def word(w):
        return re.search(r"(?<![a-z0-9_])%s(?![a-z0-9_])" % re.escape(w), detail) is not None
    return (word(path[-1][1]) or any(word(d) for d in dotted)
            or any(n and n not in GENERIC and word(n) for n in names))


counter = itertools.count()
dc = system.data_centers_service().add(types.DataCenter(name="fid-dc", local=False))
cluster = system.clusters_service().add(types.Cluster(name="fid-cluster", data_center=types.DataCenter(id=dc.id)))
[mgmt] = [n for n in system.networks_service().list(search="name=ovirtmgmt") if n.data_center.id == dc.id]
vm_for_nics = system.vms_service().add(types.Vm(name="fid-nic-vm", cluster=types.Cluster(id=cluster.id),
                                                template=types.Template(name="Blank")))
[profile] = [p for p in system.vnic_profiles_service().list() if p.network.id == mgmt.id]


def unique(prefix):
    return "%s-%d" % (prefix, next(counter))


# Per type: the collection service, a minimal valid object, the attributes that minimal object
# sets itself (not walked), and how an added object is removed.
TARGETS = [
    ("DataCenter", system.data_centers_service(),
     lambda: types.DataCenter(name=unique("fid-dc"), local=False), {"name", "local"}),
    ("Cluster", system.clusters_service(),
     lambda: types.Cluster(name=unique("fid-cl"), data_center=types.DataCenter(id=dc.id)), {"name", "data_center"}),
    ("Network", system.networks_service(),
     lambda: types.Network(name=unique("fidnet"), data_center=types.DataCenter(id=dc.id)), {"name", "data_center"}),
    ("VnicProfile", system.vnic_profiles_service(),
     lambda: types.VnicProfile(name=unique("fid-prof"), network=types.Network(id=mgmt.id)), {"name", "network"}),
    ("Vm", system.vms_service(),
     lambda: types.Vm(name=unique("fid-vm"), cluster=types.Cluster(id=cluster.id),
                      template=types.Template(name="Blank")), {"name", "cluster", "template"}),
    ("Nic", system.vms_service().vm_service(vm_for_nics.id).nics_service(),
     lambda: types.Nic(name=unique("fid-nic"), vnic_profile=types.VnicProfile(id=profile.id)),
     {"name", "vnic_profile"}),
]

failures = []
for cls_name, collection, base, own in TARGETS:
    tally = {"honoured": 0, "refused": 0}
    honoured, refused = [], set()
    for path, value in cases(cls_name):
        if path[0][0] in own:
            continue
        label = "%s.%s" % (cls_name, ".".join(p[1] for p in path))
        obj = base()
        build(path, value, obj)
        try:
            added = collection.add(obj)
        except sdk.Error as e:
            leaf = path[-1][1]
            if e.code == 400 and names_the_path(str(e), path):
                tally["refused"] += 1
                refused.add(path[0][1])
            elif e.code == 400:
                failures.append("%s: 400 without naming '%s': %s" % (label, leaf, e))
            else:
                failures.append("%s: HTTP %s: %s" % (label, e.code, e))
            continue
        service = collection.service(added.id)
        try:
            got = read_at(path, service.get())
            if same(value, got):
                tally["honoured"] += 1
                honoured.append(".".join(p[1] for p in path))
            else:
                failures.append("%s: SILENT: sent %r, reads back %r" % (label, value, got))
        finally:
            if cls_name == "Vm" and path[0][0] == "delete_protected":
                service.update(types.Vm(delete_protected=False))
            service.remove()
    print("%-12s honoured %3d  refused %4d" % (cls_name, tally["honoured"], tally["refused"]))
    print("  honoured: %s" % ", ".join(sorted(honoured)))
    print("  refused (attributes with a case refused): %s" % ", ".join(sorted(refused)))

for f in failures:
    print("FAIL", f)
print("%d failures" % len(failures))
if not failures:
    print("OK")
conn.close()
