"""The vertical slice through the real oVirt Python SDK: data center -> cluster -> host (Up)
-> storage domain (attached, active) -> a VM from Blank with direct kernel boot of the test
guest, a 1 GiB COW disk and a NIC -> start (up, guest marker seen on its serial console) ->
shutdown (the guest powers off over ACPI: down) -> start -> stop; search, paging, follow;
/events?from= with the VM's lifecycle; faults that change nothing.

Run by tests/sdk_e2e.rs in phases (the Rust side restarts the engine between them):
  python vms.py API_URL PASSWORD CA_FILE setup HOST_ADDRESS SECRET DOMAIN_PATH KERNEL INITRD CMDLINE
      -> prints "VM <id>" with the VM left up
  python vms.py API_URL PASSWORD CA_FILE expect VM_ID VM_STATUS HOST_STATUS
      -> waits until the VM and its host have these statuses
  python vms.py API_URL PASSWORD CA_FILE after-restart VM_ID
      -> the VM is still up, not restarted; stops and removes it with its disk
Each phase prints OK at the end. Waits poll with deadlines, never fixed sleeps.
"""
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

import ovirtsdk4 as sdk
import ovirtsdk4.types as types
from oxvwait import host_add_up, until

url, password, ca_file, phase = sys.argv[1:5]
args = sys.argv[5:]
GIB = 1024 ** 3


def connect(**kw):
    return sdk.Connection(url=url, username="admin@internal", password=password, **kw)


conn = connect(ca_file=ca_file)
system = conn.system_service()
vms = system.vms_service()


def wait(what, pred, timeout=120.0, interval=0.25):
    return until(what, pred, timeout, interval)


def wait_status(vm_id, status, timeout=120.0):
    service = vms.vm_service(vm_id)
    return wait("VM %s to be %s" % (vm_id, status.value),
                lambda: (lambda v: v if v.status == status else None)(service.get()), timeout)


def console(vm_id):
    """oxvirt's extension: the end of the guest's serial console (through its host)."""
    token = conn.authenticate()
    req = urllib.request.Request("%s/vms/%s/serialconsolelog?tail_bytes=200000" % (url, vm_id),
                                 headers={"Authorization": "Bearer " + token})
    ctx = ssl.create_default_context(cafile=ca_file)
    with urllib.request.urlopen(req, context=ctx) as resp:
        return resp.read().decode("utf-8", "replace")


def raw(method, path, body):
    """A request the SDK would never send (a malformed body), over plain HTTPS."""
    token = conn.authenticate()
    req = urllib.request.Request(url + path, data=body, method=method,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/xml"})
    try:
        with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca_file)) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def expect_fault(code, fn, *words):
    try:
        fn()
    except sdk.Error as e:
        assert e.code == code, "expected HTTP %s, got %s: %s" % (code, e.code, e)
        for w in words:
            assert w in str(e), "fault should mention %r: %s" % (w, e)
        return e
    raise AssertionError("expected a %s fault" % code)


def events_since(last):
    return system.events_service().list(from_=last, search="sortby time asc")


def setup(address, secret, domain_path, kernel, initrd, cmdline):
    # Both ways of trusting the engine work.
    assert connect(insecure=True).test(raise_exception=True)
    assert conn.test(raise_exception=True)
    first_event = max([int(e.id) for e in system.events_service().list(max=1)] or [0])

    system.data_centers_service().add(types.DataCenter(name="dc1", local=False))
    system.clusters_service().add(types.Cluster(name="c1", data_center=types.DataCenter(name="dc1")))
    host = host_add_up(system.hosts_service(),
                       types.Host(name="h1", address=address, root_password=secret, cluster=types.Cluster(name="c1")))
    sds = system.storage_domains_service()
    sd = sds.add(types.StorageDomain(
        name="data1", type=types.StorageDomainType.DATA, host=types.Host(name="h1"),
        storage=types.HostStorage(type=types.StorageType.LOCALFS, path=domain_path)))
    dc = system.data_centers_service().list(search="name=dc1")[0]
    attached = system.data_centers_service().data_center_service(dc.id).storage_domains_service()
    attached.add(types.StorageDomain(id=sd.id))
    wait("the data domain to be active",
         lambda: attached.storage_domain_service(sd.id).get().status == types.StorageDomainStatus.ACTIVE)

    # A VM from Blank with direct kernel boot; custom properties and HA are stored.
    vm = vms.add(types.Vm(
        name="slice-vm1", cluster=types.Cluster(name="c1"), template=types.Template(name="Blank"),
        memory=192 * 1024 ** 2,
        memory_policy=types.MemoryPolicy(guaranteed=192 * 1024 ** 2),
        cpu=types.Cpu(topology=types.CpuTopology(sockets=1, cores=1, threads=1)),
        os=types.OperatingSystem(type="other_linux", kernel=kernel, initrd=initrd, cmdline=cmdline),
        high_availability=types.HighAvailability(enabled=True, priority=50),
        custom_properties=[types.CustomProperty(name="oxvirt_test", value="slice")],
    ))
    assert vm.status == types.VmStatus.DOWN, vm.status
    assert vm.template.id == system.get().special_objects.blank_template.id
    assert vm.high_availability.enabled and vm.high_availability.priority == 50
    assert [(p.name, p.value) for p in vm.custom_properties] == [("oxvirt_test", "slice")]
    assert vm.os.kernel == kernel and vm.os.cmdline == cmdline
    service = vms.vm_service(vm.id)

    attachment = service.disk_attachments_service().add(types.DiskAttachment(
        disk=types.Disk(name="slice-vm1-disk1", format=types.DiskFormat.COW, provisioned_size=GIB, sparse=True,
                        storage_domains=[types.StorageDomain(id=sd.id)]),
        interface=types.DiskInterface.VIRTIO, bootable=False, active=True))
    disk_id = attachment.disk.id
    disk_service = system.disks_service().disk_service(disk_id)
    wait("the disk to be ok", lambda: disk_service.get().status == types.DiskStatus.OK)
    assert disk_service.get().provisioned_size == GIB
    nic = service.nics_service().add(types.Nic(name="nic1", interface=types.NicInterface.VIRTIO))
    assert nic.mac.address.startswith("56:6f:"), nic.mac.address

    # Faults change nothing.
    count = len(vms.list())
    expect_fault(400, lambda: vms.add(types.Vm(name="bad", cluster=types.Cluster(name="no-such-cluster"),
                                               template=types.Template(name="Blank"))), "no-such-cluster")
    expect_fault(409, lambda: vms.add(types.Vm(name="slice-vm1", cluster=types.Cluster(name="c1"),
                                               template=types.Template(name="Blank"))), "slice-vm1")
    expect_fault(404, lambda: vms.vm_service("00000000-0000-0000-0000-00000000beef").get())
    code, body = raw("POST", "/vms", b"<vm><name>x</name")
    assert code == 400 and b"<fault>" in body, (code, body)
    assert len(vms.list()) == count

    # Start: wait_for_launch/powering_up -> up; the guest boots and sees the disk and NIC.
    t0 = time.monotonic()
    service.start()
    up = wait_status(vm.id, types.VmStatus.UP)
    t_up = time.monotonic() - t0
    assert up.host.id == host.id
    text = wait("the guest marker", lambda: (lambda c: c if "OXVIRT-GUEST-UP" in c else None)(console(vm.id)), 120)
    t_marker = time.monotonic() - t0
    print("TIMING start->up %.2fs start->guest-marker %.2fs" % (t_up, t_marker))
    disk_lines = [l for l in text.splitlines() if l.startswith("OXVIRT-DISK") and ("serial=" + disk_id[:20]) in l]
    assert disk_lines and ("size_bytes=%d" % GIB) in disk_lines[0], text[-2000:]
    assert any(l.startswith("OXVIRT-NIC") and nic.mac.address in l for l in text.splitlines()), text[-2000:]
    expect_fault(409, service.start, "slice-vm1")

    # Search, paging, follow.
    vms.add(types.Vm(name="slice-other", cluster=types.Cluster(name="c1"), template=types.Template(name="Blank")))
    assert sorted(v.name for v in vms.list(search="name=slice-*")) == ["slice-other", "slice-vm1"]
    assert [v.name for v in vms.list(search="status=up")] == ["slice-vm1"]
    assert [v.name for v in vms.list(search="name=slice-* and status=down")] == ["slice-other"]
    assert len(vms.list(max=1)) == 1
    assert [v.name for v in vms.list(search="sortby name desc page 1", max=1)] == ["slice-vm1"]
    assert [v.name for v in vms.list(search="sortby name desc page 2", max=1)] == ["slice-other"]
    followed = service.get(follow="disk_attachments,nics")
    assert [a.id for a in followed.disk_attachments] == [disk_id]
    assert [n.name for n in followed.nics] == ["nic1"]
    linked = conn.follow_link(vms.vm_service(vm.id).get().nics)
    assert [n.mac.address for n in linked] == [nic.mac.address]

    # Shutdown: the guest powers off over ACPI.
    service.shutdown()
    down = wait_status(vm.id, types.VmStatus.DOWN, 120)
    assert down.host is None

    # Start again, then stop.
    service.start()
    wait_status(vm.id, types.VmStatus.UP)
    service.stop()
    wait_status(vm.id, types.VmStatus.DOWN, 30)

    # The audit log tells the story, incrementally.
    descriptions = [e.description for e in events_since(first_event)]
    for needle in ("VM slice-vm1 was created", "was started", "is up", "asked to shut down", "asked to stop"):
        assert any(needle in d for d in descriptions), (needle, descriptions)
    last = max(int(e.id) for e in system.events_service().list(max=1))
    assert events_since(last) == []

    # Leave it running for the engine restart.
    service.start()
    up = wait_status(vm.id, types.VmStatus.UP)
    wait("the guest marker after the last start",
         lambda: console(vm.id).count("OXVIRT-GUEST-UP") >= 1, 120)
    print("VM %s" % vm.id)


def after_restart(vm_id, domain_path):
    service = vms.vm_service(vm_id)
    vm = service.get()
    assert vm.status == types.VmStatus.UP, vm.status
    before = console(vm_id)
    assert before.count("OXVIRT-GUEST-UP") == 1, "the guest was restarted: " + before[-1000:]
    # The guest keeps ticking: it was not restarted by the engine's start.
    ticks = [l for l in before.splitlines() if l.startswith("OXVIRT-TICK")]
    last_tick = int(ticks[-1].split()[1]) if ticks else 0
    wait("the guest to tick on", lambda: any(
        l.startswith("OXVIRT-TICK") and int(l.split()[1]) > last_tick for l in console(vm_id).splitlines()), 60)
    assert console(vm_id).count("OXVIRT-GUEST-UP") == 1

    attachments = service.disk_attachments_service().list()
    disk_ids = [a.disk.id for a in attachments]
    assert len(disk_ids) == 1
    expect_fault(409, service.remove, "stop")
    service.stop()
    wait_status(vm_id, types.VmStatus.DOWN, 30)
    service.remove()
    expect_fault(404, service.get)
    # The VM row goes at once; its disks with the RemoveVm job.
    for d in disk_ids:
        wait("disk %s to be gone" % d, lambda: not [x for x in system.disks_service().list() if x.id == d], 60)
        expect_fault(404, system.disks_service().disk_service(d).get)
    leftovers = [os.path.join(r, f) for r, _, fs in os.walk(domain_path) for f in fs
                 if any(d in os.path.join(r, f) for d in disk_ids)]
    assert leftovers == [], leftovers


def expect(vm_id, vm_status, host_status):
    vm_want = getattr(types.VmStatus, vm_status.upper())
    host_want = getattr(types.HostStatus, host_status.upper())
    service = vms.vm_service(vm_id)
    vm = wait("VM to be %s" % vm_status, lambda: (lambda v: v if v.status == vm_want else None)(service.get()), 60)
    wait("host to be %s" % host_status, lambda: conn.follow_link(vm.host).status == host_want, 60)
    if vm_status == "unknown":
        details = conn.follow_link(vm.host).status_detail or ""
        assert "has not answered" in details, details


if phase == "setup":
    setup(*args[:6])
elif phase == "expect":
    expect(*args[:3])
elif phase == "after-restart":
    after_restart(args[0], args[1])
else:
    raise SystemExit("unknown phase " + phase)
conn.close()
print("OK")
