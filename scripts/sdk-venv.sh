#!/bin/bash
# Creates (once) target/sdk-venv: a Python venv with oVirt's published Python SDK, the client
# our oVirt API v4 layer must serve unchanged. Tests run the SDK's own readers and writers over
# our XML. Idempotent: a second run only checks the stamp and exits.
#   scripts/sdk-venv.sh          -> prints the venv's python path on stdout
#   scripts/sdk-venv.sh --sdist  -> prints the path of the SDK's source archive (its examples/
#                                   folder is run by tests/sdk/examples.py), downloaded once into
#                                   $OXVIRT_SDK_SDIST_DIR (default: <venv>/sdist)
#   scripts/sdk-venv.sh --ansible -> adds (once) Ansible 9.13.0 to the venv, the community package
#                                   that bundles the ovirt.ovirt collection (3.2.0) our playbook
#                                   test drives; prints the venv's ansible-playbook path
# Building needs (scripts/install-deps.sh test installs them): python3-venv, python3-dev, gcc and
# libxml2-dev for the SDK's C XML extension, and libcurl4-openssl-dev + libssl-dev for pycurl
# when pip finds no binary wheel for it.
set -euo pipefail
cd "$(dirname "$0")/.."

sdk_version=4.6.3
pycurl_version=7.49.0
venv=${OXVIRT_SDK_VENV:-$PWD/target/sdk-venv}
stamp=$venv/.oxvirt-sdk-$sdk_version-pycurl-$pycurl_version
# Debian's interpreter, whose headers python3-dev provides (a pyenv shim may shadow python3)
python=${OXVIRT_SDK_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

if [ "${1:-}" = "--sdist" ]; then
  sdist_dir=${OXVIRT_SDK_SDIST_DIR:-$venv/sdist}
  sdist=$sdist_dir/ovirt_engine_sdk_python-$sdk_version.tar.gz
  if [ ! -s "$sdist" ]; then
    venv_python=$("$0")
    mkdir -p "$sdist_dir"
    exec 8>"$sdist_dir.lock"
    flock 8
    if [ ! -s "$sdist" ]; then
      tmp=$(mktemp -d "$sdist_dir/download.XXXXXX")
      PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv_python" -m pip download -q --no-binary :all: --no-deps \
        -d "$tmp" "ovirt-engine-sdk-python==$sdk_version" >&2 || {
        echo "sdk-venv: cannot download the source archive of ovirt-engine-sdk-python==$sdk_version" >&2
        rm -rf "$tmp"
        exit 1
      }
      mv "$tmp"/*.tar.gz "$sdist"
      rm -rf "$tmp"
    fi
  fi
  echo "$sdist"
  exit 0
fi

if [ "${1:-}" = "--ansible" ]; then
  ansible_version=9.13.0
  venv_python=$("$0")
  ansible_stamp=$venv/.oxvirt-ansible-$ansible_version
  if [ ! -e "$ansible_stamp" ]; then
    exec 7>"$venv.ansible.lock"
    flock 7
    if [ ! -e "$ansible_stamp" ]; then
      PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install -q "ansible==$ansible_version" >&2 || {
        echo "sdk-venv: pip could not install ansible==$ansible_version" >&2
        exit 1
      }
      "$venv_python" -c 'import ansible_collections.ovirt.ovirt' >&2
      touch "$ansible_stamp"
    fi
  fi
  echo "$venv/bin/ansible-playbook"
  exit 0
fi

if [ -e "$stamp" ] && [ -x "$venv/bin/python" ]; then
  echo "$venv/bin/python"
  exit 0
fi

# Test processes run in parallel (nextest: one process per test): one builds, the others wait.
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -e "$stamp" ] && [ -x "$venv/bin/python" ]; then
  echo "$venv/bin/python"
  exit 0
fi

rm -rf "$venv"
"$python" -m venv "$venv" >&2 || {
  echo "sdk-venv: '$python -m venv' failed: install python3-venv (scripts/install-deps.sh test)" >&2
  exit 1
}
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/pip" install -q "ovirt-engine-sdk-python==$sdk_version" "pycurl==$pycurl_version" >&2 || {
  echo "sdk-venv: pip could not install ovirt-engine-sdk-python==$sdk_version: building it needs" \
       "python3-dev, gcc, libxml2-dev, libcurl4-openssl-dev and libssl-dev (scripts/install-deps.sh test)" >&2
  rm -rf "$venv"
  exit 1
}
# byte-compile once: tests start the SDK's python dozens of times (60k lines: 0.9 s -> 0.25 s)
"$venv/bin/python" -m compileall -q "$venv/lib" >&2 || true
"$venv/bin/python" -c 'import ovirtsdk4, ovirtsdk4.readers, ovirtsdk4.writers' >&2
touch "$stamp"
echo "$venv/bin/python"
