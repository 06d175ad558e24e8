# Shared by up.sh and down.sh. Sourced, not run.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
data_dir=${OXVIRT_DATA_DIR:-/var/lib/oxvirt}
https_port=${OXVIRT_HTTPS_PORT:-8443}
agent_port=${OXVIRT_AGENT_PORT:-54321}
run_dir=$data_dir/run
log_dir=$data_dir/log

# pid_of NAME: prints the PID recorded in $run_dir/NAME.pid if that process still runs the
# program NAME (so a recycled PID is never mistaken for ours); prints nothing otherwise.
pid_of() {
  local f=$run_dir/$1.pid pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  [ -r "/proc/$pid/cmdline" ] || return 0
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$1" && echo "$pid"
  return 0
}

# stop NAME: SIGTERM the recorded process, wait up to 20 s, then SIGKILL; removes the pid file.
stop() {
  local pid; pid=$(pid_of "$1")
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then echo "$1 (pid $pid) ignored SIGTERM; killing it"; kill -9 "$pid" || true; fi
    echo "stopped $1 (pid $pid)"
  fi
  rm -f "$run_dir/$1.pid"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds or the deadline passes.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "timed out after ${secs}s waiting for $what" >&2; return 1; fi
    sleep 0.2
  done
}
