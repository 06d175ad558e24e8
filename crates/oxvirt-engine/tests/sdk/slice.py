"""End-to-end checks with the real oVirt Python SDK (ovirt-engine-sdk-python 4.6.3).

Run by tests/sdk_e2e.rs: python slice.py API_URL ADMIN_PASSWORD CA_FILE
Every check is an assert; the script prints OK at the end and exits non-zero on failure.
"""
import sys
import uuid

import ovirtsdk4 as sdk
import ovirtsdk4.types as types

url, password, ca_file = sys.argv[1:4]


def expect(exc_type, fn, needle=None, code=None):
    try:
        fn()
    except exc_type as e:
        if needle is not None:
            assert needle in str(e), "%r should mention %r" % (str(e), needle)
        if code is not None:
            assert e.code == code, "HTTP %s, expected %s: %s" % (e.code, code, e)
        return e
    raise AssertionError("expected %s" % exc_type.__name__)


# Connect with the engine's CA, and insecurely; a wrong password is an AuthError.
conn = sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)
assert conn.test(raise_exception=True)
insecure = sdk.Connection(url=url, username="admin@internal", password=password, insecure=True)
assert insecure.test(raise_exception=True)
insecure.close()
expect(sdk.AuthError, lambda: sdk.Connection(url=url, username="admin@internal", password="nope", insecure=True).test(raise_exception=True))

system = conn.system_service()
api = system.get()
assert api.product_info.name == "oxvirt", api.product_info.name
assert api.special_objects.blank_template.id == "00000000-0000-0000-0000-000000000000"

# Data centers: add, get, list, search, update, faults, remove.
dcs = system.data_centers_service()
dc = dcs.add(types.DataCenter(name="sdk-dc", description="made by the SDK", local=False))
assert dc.id and dc.name == "sdk-dc" and dc.local is False, dc
assert dcs.data_center_service(dc.id).get().description == "made by the SDK"
expect(sdk.Error, lambda: dcs.add(types.DataCenter(name="sdk-dc")), needle="sdk-dc", code=409)
names = [d.name for d in dcs.list()]
assert "sdk-dc" in names, names
assert [d.name for d in dcs.list(search="name=sdk-*")] == ["sdk-dc"]
assert dcs.list(search="name=nothing-like-this*") == []
updated = dcs.data_center_service(dc.id).update(types.DataCenter(description="changed"))
assert updated.description == "changed" and updated.name == "sdk-dc"
missing = str(uuid.uuid4())
expect(sdk.NotFoundError, lambda: dcs.data_center_service(missing).get(), code=404)

# Clusters reference their data center by name or id.
clusters = system.clusters_service()
cl = clusters.add(types.Cluster(name="sdk-cluster", data_center=types.DataCenter(name="sdk-dc"),
                                cpu=types.Cpu(architecture=types.Architecture.X86_64, type="Intel Nehalem Family")))
assert cl.data_center.id == dc.id, cl.data_center
assert clusters.cluster_service(cl.id).get().cpu.architecture == types.Architecture.X86_64
expect(sdk.Error, lambda: clusters.add(types.Cluster(name="orphan", data_center=types.DataCenter(name="no-such-dc"))),
       needle="no-such-dc")
assert [c.name for c in clusters.list(search="name=sdk-cluster")] == ["sdk-cluster"]
# A data center with a cluster cannot be removed; then both go.
expect(sdk.Error, lambda: dcs.data_center_service(dc.id).remove(), code=409)
clusters.cluster_service(cl.id).remove()
dcs.data_center_service(dc.id).remove()
expect(sdk.NotFoundError, lambda: dcs.data_center_service(dc.id).get())

# The audit log: every change above is an event, newest first; from= polls incrementally.
events = system.events_service()
latest = events.list(max=1)
assert latest and "removed" in latest[0].description, [e.description for e in latest]
everything = events.list(search="sortby time asc")
descriptions = [e.description for e in everything]
assert any("sdk-dc was added" in d for d in descriptions), descriptions
first = everything[0]
after_first = events.list(from_=int(first.id), search="sortby time asc")
assert [e.id for e in after_first] == [e.id for e in everything[1:]], (after_first, everything)
assert all(e.severity == types.LogSeverity.NORMAL for e in everything)

conn.close()
print("OK")
