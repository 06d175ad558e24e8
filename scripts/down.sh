#!/bin/bash
# `make down`: stops what `make up` started, by the PIDs it recorded: agent, engine, and
# libvirtd/virtlogd only if `make up` started them. Running guests, disks and all state
# under the data dir stay; a later `make up` finds them again.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
stop oxvirt-agent
stop oxvirt-engine
stop libvirtd
stop virtlogd
echo "oxvirt is down (state kept in $data_dir)"
