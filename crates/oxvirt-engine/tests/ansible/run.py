"""Drives oVirt's Ansible collection (ovirt.ovirt, as bundled by Ansible 9.13.0) against
oxvirt: site.yml twice, then teardown.yml twice. Each run must succeed; the first run of each
must change what its modules manage, the second must change nothing (`changed: false` on
every task), as an administrator's idempotent playbook expects.

Every module of the collection is either driven by the playbooks or listed in NOT_DRIVEN with
the reason; the runner fails on a module that is neither, so a module starts being measured
the day its services exist.

usage: run.py ANSIBLE_PLAYBOOK ENGINE_API_URL PASSWORD CA_FILE HOST_ADDRESS HOST_SECRET LOCALFS_PATH
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# Modules the playbooks do not drive, and why.
NOT_DRIVEN = {
    "ovirt_affinity_group": "needs affinity groups (issue 15)",
    "ovirt_disk_profile": "needs disk profiles and storage QoS",
    "ovirt_external_provider": "needs external providers (Glance, OpenStack networks)",
    "ovirt_external_provider_info": "needs external providers (Glance, OpenStack networks)",
    "ovirt_group": "needs directory groups (issue 11)",
    "ovirt_group_info": "needs directory groups (issue 11)",
    "ovirt_host_network": "needs host network setup (setupnetworks)",
    "ovirt_host_pm": "needs power management and fence agents (issue 15)",
    "ovirt_host_storage_info": "lists iSCSI/FC LUNs of a host (issue 14)",
    "ovirt_instance_type": "needs instance types",
    "ovirt_permission": "needs permissions (issue 11)",
    "ovirt_permission_info": "needs users and permissions (issue 11)",
    "ovirt_qos": "needs QoS entries",
    "ovirt_quota": "needs data-center quotas",
    "ovirt_quota_info": "needs data-center quotas",
    "ovirt_role": "needs roles (issue 11)",
    "ovirt_snapshot": "needs snapshots (issue 13)",
    "ovirt_snapshot_info": "needs snapshots (issue 13)",
    "ovirt_storage_connection": "needs storage connections as objects",
    "ovirt_storage_template_info": "lists a storage domain's templates (issue 14)",
    "ovirt_storage_vm_info": "lists a storage domain's VMs (issue 14)",
    "ovirt_system_option_info": "needs system options",
    "ovirt_template": "needs templates made from VMs (issue 13)",
    "ovirt_user": "needs directory users (issue 11)",
    "ovirt_user_info": "needs directory users (issue 11)",
    "ovirt_vmpool": "needs VM pools (issue 13)",
    "ovirt_vmpool_info": "needs VM pools (issue 13)",
}

# Modules whose every run is a new fact, and so a change (on oVirt too): the second run must
# report `changed` as well, with its own effect checked by the playbook.
CHANGES_EVERY_RUN = {
    "ovirt_event": "adds an event per run; oVirt refuses a second event with the same origin and custom_id",
}

# Modules that only read: they never report a change.
READ_ONLY_SUFFIX = "_info"


def collection_modules(playbook):
    venv_python = os.path.join(os.path.dirname(playbook), "python")
    out = subprocess.run(
        [venv_python, "-c", "import ansible_collections.ovirt.ovirt as c; print(list(c.__path__)[0])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    with open(os.path.join(out, "MANIFEST.json")) as f:
        version = json.load(f)["collection_info"]["version"]
    modules = sorted(
        m[:-3] for m in os.listdir(os.path.join(out, "plugins", "modules"))
        if m.endswith(".py") and m != "__init__.py"
    )
    return version, modules


def run(playbook, book, extra, label):
    extra = dict(extra, run=label_run(label))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOME=os.path.join(os.environ.get("TMPDIR", "/tmp"), "oxvirt-ansible-home"))
    args = [playbook, os.path.join(HERE, book)]
    for k, v in extra.items():
        args += ["-e", f"{k}={v}"]
    p = subprocess.run(args, env=env, capture_output=True, text=True)
    try:
        doc = json.loads(p.stdout[p.stdout.index("{"):])
    except ValueError:
        sys.exit(f"{label}: ansible-playbook printed no JSON (exit {p.returncode}):\n{p.stdout}\n{p.stderr}")
    results = []
    for play in doc["plays"]:
        for task in play["tasks"]:
            r = task["hosts"].get("localhost", {})
            results.append((task["task"]["name"], r.get("action", ""), r))
    failed = [(n, a, " ".join(str(x) for x in (r.get("msg"), r.get("assertion") or r.get("exception")) if x) or r)
              for n, a, r in results if r.get("failed")]
    if p.returncode != 0 or failed:
        lines = "\n".join(f"  {a} ({n}): {m}" for n, a, m in failed)
        sys.exit(f"{label}: ansible-playbook failed (exit {p.returncode}):\n{lines}\n{p.stderr[-3000:]}")
    return results


def label_run(label):
    return "1" if "first" in label else "2"


def module_of(action):
    return action.rsplit(".", 1)[-1] if action.startswith("ovirt.ovirt.") else None


def main():
    playbook, url, password, ca_file, host, secret, localfs = sys.argv[1:8]
    extra = dict(engine_url=url, engine_password=password, engine_ca=ca_file,
                 host_address=host, host_secret=secret, localfs_path=localfs)
    version, modules = collection_modules(playbook)
    driven = set()
    for book in ("site.yml", "teardown.yml"):
        first = run(playbook, book, extra, f"{book}, first run")
        for name, action, r in first:
            m = module_of(action)
            if m is None:
                continue
            driven.add(m)
            if m != "ovirt_auth" and not m.endswith(READ_ONLY_SUFFIX) and not r.get("changed"):
                sys.exit(f"{book}, first run: {m} ({name}) changed nothing on a fresh engine")
        second = run(playbook, book, extra, f"{book}, second run")
        changed = [f"{module_of(a)} ({n})" for n, a, r in second
                   if r.get("changed") and module_of(a) not in CHANGES_EVERY_RUN]
        unchanged = [f"{module_of(a)} ({n})" for n, a, r in second
                     if not r.get("changed") and module_of(a) in CHANGES_EVERY_RUN]
        if unchanged:
            sys.exit(f"{book}, second run: these tasks add a new fact each run but changed nothing: {', '.join(unchanged)}")
        if changed:
            sys.exit(f"{book}, second run: these tasks reported changes, they must not: {', '.join(changed)}")
        print(f"{book}: {len(first)} tasks, the second run changed nothing")
    unlisted = [m for m in modules if m not in driven and m not in NOT_DRIVEN]
    if unlisted:
        sys.exit(f"modules neither driven nor listed in NOT_DRIVEN: {', '.join(unlisted)}")
    both = [m for m in driven if m in NOT_DRIVEN]
    if both:
        sys.exit(f"driven but listed in NOT_DRIVEN (remove them from the list): {', '.join(both)}")
    stale = [m for m in NOT_DRIVEN if m not in modules]
    if stale:
        sys.exit(f"NOT_DRIVEN lists modules the collection does not have: {', '.join(stale)}")
    print(f"ANSIBLE ovirt.ovirt {version}: {len(modules)} modules: {len(driven)} driven, each passing twice "
          f"(second run changed: false, but {', '.join(CHANGES_EVERY_RUN)}, which adds a fact per run): "
          f"{', '.join(sorted(driven))}")
    print(f"not driven ({len(NOT_DRIVEN)}):")
    for m, why in sorted(NOT_DRIVEN.items()):
        print(f"  {m}: {why}")
    print("OK")


if __name__ == "__main__":
    main()
