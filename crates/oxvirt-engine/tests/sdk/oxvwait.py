"""Condition waits shared by the SDK scripts (each polls with a deadline, never a bare sleep).

oxvirt answers as oVirt does: a host is `installing` when its add returns and becomes `up`
when its job ends; a disk is `locked` until its volume exists.
"""

import time

import ovirtsdk4.types as types


def until(what, fn, timeout=60.0, interval=0.2):
    """Polls fn() until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)  # polling interval of a condition wait


def host_add_up(hosts_service, host, timeout=60.0):
    """Adds `host` (types.Host); checks the reply is the recorded, installing host; waits
    until it is up and returns it."""
    added = hosts_service.add(host)
    assert added.status in (types.HostStatus.INSTALLING, types.HostStatus.UP), added.status
    service = hosts_service.host_service(added.id)
    return until(f"host {host.name} to be up",
                 lambda: (lambda h: h if h.status == types.HostStatus.UP else None)(service.get()), timeout)
