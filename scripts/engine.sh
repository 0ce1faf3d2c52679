#!/usr/bin/env bash
# Starts, stops or restarts the Docker engine that Berth runs on this machine: the one place that
# does it, for scripts/bootstrap.sh, for operators and for the engine-restart tests. Idempotent:
# start with the engine answering, or stop with it stopped, does nothing.
#
#   bash scripts/engine.sh start|stop|restart|status
#
# Without systemd, the engine is a dockerd of Berth's own (pid in /var/run/berth-dockerd.pid),
# run with --live-restore, so stopping, restarting or upgrading it leaves sandboxes, their shells
# and learners' work running. On a systemd host, systemd owns dockerd (systemctl); put
# "live-restore": true in /etc/docker/daemon.json there. An engine Berth did not start (DOCKER_HOST
# elsewhere, or a dockerd started by hand) is never stopped: stop and restart refuse, exit code 3.
set -euo pipefail

DOCKERD_PIDFILE=/var/run/berth-dockerd.pid
DOCKERD_LOG=/var/log/berth-dockerd.log
# dockerd without live-restore stops every container first (10 s grace each, in parallel).
STOP_TIMEOUT_S=60
START_TIMEOUT_S=60

say() { printf '[berth] %s\n' "$*"; }
fail() {
  local code=1
  if [ "$1" = --code ]; then code=$2; shift 2; fi
  printf '[berth] FAILED: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit "$code"
}

is_root() { [ "$(id -u)" -eq 0 ]; }
systemd_host() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }
engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
engine_error() { { docker version --format '{{.Server.Version}}' 2>&1 >/dev/null || true; } | tail -n 1; }
our_pid() {
  local pid
  [ -f "$DOCKERD_PIDFILE" ] || return 1
  pid=$(cat "$DOCKERD_PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}
remote_engine() { [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != unix:///var/run/docker.sock ]; }

not_ours() {
  fail --code 3 "$1" \
    "The engine that answers ($(if remote_engine; then echo "DOCKER_HOST=$DOCKER_HOST"; else echo "the default socket"; fi)) was not started by Berth (no live dockerd in $DOCKERD_PIDFILE)." \
    "What to do: stop or restart it with whatever started it; this script only manages the dockerd it starts itself."
}

wait_until_answers() {
  local pid=${1:-} from now
  from=$(date +%s)
  until engine_answers; do
    now=$(date +%s)
    if [ "$now" -ge $((from + START_TIMEOUT_S)) ]; then
      fail "the Docker engine did not answer within $START_TIMEOUT_S s: $(engine_error)" "The end of $DOCKERD_LOG:" \
        "$(tail -n 20 "$DOCKERD_LOG" 2>/dev/null)" "What to do: fix what the log shows, then run this again."
    fi
    # The pid file appears a moment after the start; the process itself is known at once.
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      local hint="What to do: fix what the log shows, then run this again."
      # Seen here: dockerd 20.10 stopped (without live-restore) while networks were being removed
      # keeps a network without addresses in its store, and then panics at every start.
      if tail -n 60 "$DOCKERD_LOG" 2>/dev/null | grep -q 'reservePools'; then
        hint="What to do: dockerd's network store is damaged (a dockerd 20.10 bug). Move /var/lib/docker/network/files/local-kv.db aside and run this again: every network is forgotten, so sandboxes whose network it was end, and bash scripts/bootstrap.sh puts the registry mirror back."
      fi
      fail "dockerd exited while starting. The end of $DOCKERD_LOG:" "$(tail -n 20 "$DOCKERD_LOG" 2>/dev/null)" "$hint"
    fi
    sleep 0.2
  done
}

start() {
  if remote_engine; then
    engine_answers && return 0
    fail "DOCKER_HOST=$DOCKER_HOST is set, but no Docker engine answers there: $(engine_error)" \
      "What to do: start that engine, or unset DOCKER_HOST to let Berth start a local one."
  fi
  if systemd_host; then
    engine_answers && return 0
    is_root || fail "the Docker engine is not running." "What to do: sudo systemctl start docker (and add yourself to the docker group)."
    say "starting the Docker engine (systemctl start docker)..."
    systemctl start docker || fail "systemctl start docker failed." "What to do: see journalctl -u docker."
    wait_until_answers
    return 0
  fi
  local pid
  if pid=$(our_pid); then
    engine_answers || say "waiting for the dockerd started earlier (pid $pid)..."
    wait_until_answers "$pid"
    return 0
  fi
  # A dockerd someone started by hand: use it, as long as it answers.
  engine_answers && return 0
  is_root || fail "the Docker engine is not running, and starting dockerd needs root." \
    "What to do: as root, run: bash scripts/engine.sh start"
  command -v dockerd >/dev/null || fail "dockerd is not installed." "What to do: run bash scripts/bootstrap.sh (it installs docker.io)."
  say "starting dockerd with live-restore (log: $DOCKERD_LOG)..."
  # Its own session, no terminal, no inherited pipes: dockerd outlives this script and whatever
  # ran it. --live-restore keeps containers running while dockerd itself is down.
  setsid nohup dockerd --pidfile "$DOCKERD_PIDFILE" --live-restore >>"$DOCKERD_LOG" 2>&1 </dev/null &
  wait_until_answers $!
}

stop() {
  if remote_engine; then not_ours "stop: not a local engine"; fi
  if systemd_host; then
    is_root || fail "stopping the Docker engine needs root."
    say "stopping the Docker engine (systemctl stop docker)..."
    systemctl stop docker docker.socket 2>/dev/null || systemctl stop docker
    return 0
  fi
  local pid
  if ! pid=$(our_pid); then
    engine_answers && not_ours "stop: the engine is not Berth's"
    return 0
  fi
  is_root || fail "stopping dockerd (pid $pid) needs root."
  say "stopping dockerd (pid $pid)..."
  kill -TERM "$pid" 2>/dev/null || true
  local from
  from=$(date +%s)
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge $((from + STOP_TIMEOUT_S)) ]; then
      fail "dockerd (pid $pid) did not stop within $STOP_TIMEOUT_S s." "The end of $DOCKERD_LOG:" \
        "$(tail -n 10 "$DOCKERD_LOG" 2>/dev/null)" "What to do: see the log; kill -KILL $pid stops it for good (without live-restore its containers die)."
    fi
    sleep 0.1
  done
}

status() {
  if ! engine_answers; then
    echo "stopped"
    return 0
  fi
  local live owner=other
  live=$(docker info --format '{{.LiveRestoreEnabled}}' 2>/dev/null) || live=unknown
  if our_pid >/dev/null; then owner=berth; elif systemd_host && ! remote_engine; then owner=systemd; fi
  echo "running owner=$owner live-restore=$live"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart)
    stop
    start
    ;;
  status) status ;;
  -h | --help | '')
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    [ -n "${1:-}" ]
    ;;
  *) fail --code 2 "unknown command \"$1\" (start, stop, restart or status)" ;;
esac
