"""Networks, vNIC profiles, the Blank template, jobs and operating systems through the real oVirt Python SDK.

Run by tests/sdk_e2e.rs: python catalog.py API_URL ADMIN_PASSWORD CA_FILE JOB_ID
(JOB_ID: a finished job with two steps, the second nested in the first, owned by admin.)
Every check is an assert; the script prints OK at the end and exits non-zero on failure.
"""
import sys

import ovirtsdk4 as sdk
import ovirtsdk4.types as types

url, password, ca_file, job_id = sys.argv[1:5]
BLANK = "00000000-0000-0000-0000-000000000000"


def expect(fn, code, needle=None):
    try:
        fn()
    except sdk.Error as e:
        assert e.code == code, "HTTP %s, expected %s: %s" % (e.code, code, e)
        if needle is not None:
            assert needle in str(e), "%r should mention %r" % (str(e), needle)
        return e
    raise AssertionError("expected HTTP %s" % code)


conn = sdk.Connection(url=url, username="admin@internal", password=password, ca_file=ca_file)
system = conn.system_service()
dc = system.data_centers_service().add(types.DataCenter(name="cat-dc", local=False))
cluster = system.clusters_service().add(types.Cluster(name="cat-cluster", data_center=types.DataCenter(name="cat-dc")))

# The data center's clusters, through its own sub-collection.
dc_clusters = system.data_centers_service().data_center_service(dc.id).clusters_service()
assert [c.name for c in dc_clusters.list()] == ["cat-cluster"], dc_clusters.list()
assert dc_clusters.cluster_service(cluster.id).get().id == cluster.id

# What every cluster is, as oVirt's words say it, and the two policies it links to.
got = system.clusters_service().cluster_service(cluster.id).get()
assert got.ksm.enabled is False and got.ballooning_enabled is False and got.fencing_policy.enabled is False, got
assert got.error_handling.on_error == types.MigrateOnError.DO_NOT_MIGRATE and got.switch_type == types.SwitchType.LEGACY
pool = conn.follow_link(got.mac_pool)
assert pool.name == "Default" and pool.ranges[0].from_ == "56:6f:00:00:00:00" and pool.default_pool is True, pool
assert [p.id for p in system.mac_pools_service().list()] == [pool.id]
policy = conn.follow_link(got.scheduling_policy)
assert policy.name == "none" and policy.id == "b4ed2332-a7ac-4d5f-9596-99a439cb2812", policy
assert [p.name for p in system.scheduling_policies_service().list()] == ["none"]
expect(lambda: system.mac_pools_service().mac_pool_service(BLANK).get(), 404,
       "MAC pool 00000000-0000-0000-0000-000000000000 does not exist")
# Restating a fixed value is honoured; another value is refused naming it.
clusters = system.clusters_service()
clusters.cluster_service(cluster.id).update(types.Cluster(ksm=types.Ksm(enabled=False), ballooning_enabled=False))
expect(lambda: clusters.cluster_service(cluster.id).update(types.Cluster(ksm=types.Ksm(enabled=True))), 400,
       "cluster.ksm.enabled is not supported yet")
expect(lambda: clusters.add(types.Cluster(name="cat-cl2", data_center=types.DataCenter(name="cat-dc"),
                                          version=types.Version(major=4, minor=2))), 400, "cluster.version")
# Cross-object search: clusters and networks by data center name.
assert [c.name for c in clusters.list(search='datacenter="cat-dc"')] == ["cat-cluster"]
assert clusters.list(search="datacenter=no-such-dc") == []

# The data center's ovirtmgmt and its profile.
networks = system.networks_service()
mgmt = [n for n in networks.list(search="name=ovirtmgmt") if n.data_center.id == dc.id]
assert len(mgmt) == 1, mgmt
mgmt = mgmt[0]
assert types.NetworkUsage.VM in mgmt.usages and types.NetworkUsage.MANAGEMENT in mgmt.usages, mgmt.usages
assert [n.name for n in networks.list(search='name=ovirtmgmt and datacenter="cat-dc"')] == ["ovirtmgmt"]
dc_networks = system.data_centers_service().data_center_service(dc.id).networks_service()
assert [n.name for n in dc_networks.list()] == ["ovirtmgmt"]
profiles = system.vnic_profiles_service()
mgmt_profiles = [p for p in profiles.list() if p.network.id == mgmt.id]
assert [p.name for p in mgmt_profiles] == ["ovirtmgmt"], mgmt_profiles
assert [p.name for p in networks.network_service(mgmt.id).vnic_profiles_service().list()] == ["ovirtmgmt"]

# A new cluster has ovirtmgmt attached.
cluster_networks = system.clusters_service().cluster_service(cluster.id).networks_service()
attached = cluster_networks.list()
assert [n.name for n in attached] == ["ovirtmgmt"] and attached[0].required is True, attached

# Add a network (VLAN, MTU), get it, duplicate name -> 409, update, attach/detach, remove.
net = networks.add(types.Network(name="cat-net", description="a test network", data_center=types.DataCenter(id=dc.id),
                                 vlan=types.Vlan(id=42), mtu=1400, usages=[types.NetworkUsage.VM]))
assert net.name == "cat-net" and net.vlan.id == 42 and net.mtu == 1400 and net.data_center.id == dc.id, net
got = networks.network_service(net.id).get()
assert got.description == "a test network" and types.NetworkUsage.VM in got.usages
expect(lambda: networks.add(types.Network(name="cat-net", data_center=types.DataCenter(name="cat-dc"))), 409, "cat-net")
expect(lambda: networks.add(types.Network(name="this-name-is-far-too-long", data_center=types.DataCenter(id=dc.id))), 400)
expect(lambda: networks.add(types.Network(name="orphan", data_center=types.DataCenter(name="no-such-dc"))), 400)
assert sorted(n.name for n in dc_networks.list()) == ["cat-net", "ovirtmgmt"]
assert [n.name for n in networks.list(search="name=cat-*")] == ["cat-net"]
updated = networks.network_service(net.id).update(types.Network(description="changed", mtu=1500))
assert updated.description == "changed" and updated.mtu == 1500 and updated.name == "cat-net", updated
# A non-VM network, added under its data center, gets no profile.
storage_net = dc_networks.add(types.Network(name="cat-storage", usages=[]))
assert types.NetworkUsage.VM not in (storage_net.usages or []), storage_net.usages
assert networks.network_service(storage_net.id).vnic_profiles_service().list() == []

cluster_networks.add(types.Network(id=net.id, required=False))
attached = {n.name: n for n in cluster_networks.list()}
assert sorted(attached) == ["cat-net", "ovirtmgmt"] and attached["cat-net"].required is False, attached
expect(lambda: cluster_networks.add(types.Network(id=net.id)), 409)
cluster_networks.network_service(net.id).remove()
assert [n.name for n in cluster_networks.list()] == ["ovirtmgmt"]
expect(lambda: cluster_networks.network_service(mgmt.id).remove(), 409, "ovirtmgmt")

# vNIC profiles: the VM network got its own; add, duplicate, update, remove.
net_profiles = networks.network_service(net.id).vnic_profiles_service()
assert [p.name for p in net_profiles.list()] == ["cat-net"]
extra = profiles.add(types.VnicProfile(name="cat-extra", network=types.Network(id=net.id), description="x"))
assert extra.network.id == net.id and extra.description == "x", extra
expect(lambda: net_profiles.add(types.VnicProfile(name="cat-extra")), 409, "cat-extra")
second = net_profiles.add(types.VnicProfile(name="cat-second"))
assert second.network.id == net.id
assert sorted(p.name for p in net_profiles.list()) == ["cat-extra", "cat-net", "cat-second"]
renamed = profiles.profile_service(extra.id).update(types.VnicProfile(name="cat-renamed"))
assert renamed.name == "cat-renamed" and profiles.profile_service(extra.id).get().name == "cat-renamed"
profiles.profile_service(extra.id).remove()
expect(lambda: profiles.profile_service(extra.id).get(), 404)

# ovirtmgmt cannot be removed; other networks go with their profiles.
expect(lambda: networks.network_service(mgmt.id).remove(), 409, "ovirtmgmt")
networks.network_service(net.id).remove()
expect(lambda: networks.network_service(net.id).get(), 404)
expect(lambda: profiles.profile_service(second.id).get(), 404)
dc_networks.network_service(storage_net.id).remove()
assert [n.name for n in dc_networks.list()] == ["ovirtmgmt"]

# Each change left an audit event.
descriptions = [e.description for e in system.events_service().list(max=200)]
for needle in ("Network cat-net was added", "Network cat-net was updated", "Network cat-net was attached",
               "Network cat-net was detached", "Network cat-net was removed", "vNIC Profile cat-extra was added",
               "vNIC Profile cat-renamed of network cat-net was updated", "vNIC Profile cat-renamed of network cat-net was removed"):
    assert any(d.startswith(needle) for d in descriptions), (needle, descriptions)

# The Blank template, with oVirt's shape; its disks and NICs are empty.
templates = system.templates_service()
found = templates.list(search="name=Blank")
assert [t.id for t in found] == [BLANK], found
blank_service = templates.template_service(BLANK)
blank = blank_service.get()
assert blank.name == "Blank" and blank.status == types.TemplateStatus.OK, blank
assert blank.memory == 1024 ** 3 and blank.cpu.topology.sockets == 1 and blank.cpu.topology.cores == 1
assert blank.os.type == "other" and blank.type == types.VmType.SERVER
assert blank.version.version_number == 1 and blank.version.base_template.id == BLANK
assert blank_service.disk_attachments_service().list() == []
assert blank_service.nics_service().list() == []
assert conn.follow_link(blank.disk_attachments) == []
expect(lambda: templates.add(types.Template(name="t1", vm=types.Vm(name="none"))), 400, "not supported")

# Jobs: list, search by status, get, steps, step get, clear; unknown ids are 404.
jobs = system.jobs_service()
listed = jobs.list()
assert job_id in [j.id for j in listed], listed
assert job_id in [j.id for j in jobs.list(search="status=finished")]
assert job_id not in [j.id for j in jobs.list(search="status=started")]
job_service = jobs.job_service(job_id)
job = job_service.get()
assert job.description == "Seeded job" and job.status == types.JobStatus.FINISHED, job
assert job.start_time is not None and job.end_time is not None and job.last_updated is not None
assert job.auto_cleared is True and job.external is False
admin = [u for u in [job.owner] if u is not None]
assert admin and admin[0].id, job.owner
steps = job_service.steps_service().list()
assert [s.number for s in steps] == [1, 2], steps
first, second_step = steps
assert first.type == types.StepEnum.EXECUTING and first.status == types.StepStatus.FINISHED and first.progress == 100
assert first.job.id == job_id and second_step.parent_step.id == first.id and first.parent_step is None
assert job_service.steps_service().step_service(second_step.id).get().description == "step 2"
expect(lambda: job_service.steps_service().step_service("11111111-2222-3333-4444-555555555555").get(), 404)
expect(lambda: job_service.end(), 409, "only external jobs")
job_service.clear()
expect(lambda: job_service.get(), 404)
expect(lambda: jobs.job_service("11111111-2222-3333-4444-555555555555").get(), 404)
expect(lambda: jobs.list(search="name=x"), 400)

# Operating systems: oVirt's catalog, ids and unique names as oVirt's.
oss = system.operating_systems_service()
catalog = oss.list()
by_name = {o.name: o for o in catalog}
assert by_name["rhel_9x64"].description == "Red Hat Enterprise Linux 9.x x64", by_name["rhel_9x64"]
assert by_name["rhel_9x64"].id == "34" and by_name["rhel_9x64"].architecture == types.Architecture.X86_64
assert by_name["other_ppc64"].architecture == types.Architecture.PPC64
assert [o.name for o in oss.list(max=2)] == ["other", "windows_xp"]
assert oss.operating_system_service("0").get().name == "other"
expect(lambda: oss.operating_system_service("99999").get(), 404, "99999")

conn.close()
print("OK")
