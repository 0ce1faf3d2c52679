#!/usr/bin/env bash
# Gets this machine ready to run Berth: npm dependencies, a Docker engine, the build tools, the
# images and the registry mirror. Safe to run again and again; with everything in place it only
# checks (a few seconds). Used by npm start, npm run dev, npm run bench and, with --for-tests,
# npm test. A fresh Debian machine needs root for the apt installs and for starting dockerd.
#
#   --for-tests   also install Chromium for the browser tests
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

for_tests=0
for arg in "$@"; do
  case "$arg" in
    --for-tests) for_tests=1 ;;
    -h | --help)
      sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "[berth] unknown option \"$arg\" (try --help)" >&2
      exit 2
      ;;
  esac
done

export DEBIAN_FRONTEND=noninteractive
LOG_DIR=.berth/logs
mkdir -p "$LOG_DIR"

say() { printf '[berth] %s\n' "$*"; }
fail() {
  printf '[berth] FAILED: %s\n' "$1" >&2
  shift
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }
installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
started_at=$(date +%s)

# 1. npm dependencies -------------------------------------------------------------------------
command -v node >/dev/null || fail "Node.js is not installed." "What to do: install Node.js 20.19 or newer (with npm), then run this again."
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
  fail "Node.js $(node --version) is too old." "What to do: install Node.js 20.19 or newer."
# npm keeps a copy of the lock file it installed from in node_modules; a newer lock file means
# someone changed the dependencies since. A node_modules that is a link (a git worktree sharing
# another checkout's) is left alone: npm ci would empty the folder it points to.
if [ -L node_modules ]; then
  say "node_modules links to $(readlink node_modules); not reinstalling it"
elif [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)..."
  npm ci --no-audit --no-fund >"$LOG_DIR/npm-ci.log" 2>&1 ||
    fail "npm ci failed; the end of its output ($LOG_DIR/npm-ci.log):" "$(tail -n 20 "$LOG_DIR/npm-ci.log")" \
      "What to do: check that the npm registry is reachable and that package-lock.json matches package.json (npm install updates it)."
else
  say "npm dependencies up to date"
fi

# 2-4. What apt must install: decided first, so that one apt-get run installs everything ------
engine_error() { { docker version --format '{{.Server.Version}}' 2>&1 >/dev/null || true; } | tail -n 1; }
engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

need_engine=0
if command -v docker >/dev/null && engine_answers; then
  :
elif command -v docker >/dev/null && [[ "$(engine_error)" == *"permission denied"* ]]; then
  fail "the Docker engine runs, but this user may not use it: $(engine_error)" \
    "What to do: add yourself to the docker group (sudo usermod -aG docker \"\$USER\", then log in again), or run as root."
elif [ -n "${DOCKER_HOST:-}" ]; then
  fail "DOCKER_HOST=$DOCKER_HOST is set, but no Docker engine answers there: $(engine_error)" \
    "What to do: start that engine, or unset DOCKER_HOST to let this script install and start a local one."
else
  need_engine=1
fi

missing=()
if [ "$need_engine" = 1 ] && ! command -v dockerd >/dev/null; then
  missing+=(docker.io)
  # Only where the kernel enforces AppArmor does dockerd need the parser for its default profile.
  if [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && ! installed apparmor; then missing+=(apparmor); fi
fi
command -v docker >/dev/null || installed docker.io || missing+=(docker.io)
# mmdebstrap builds the Debian root filesystems, gcc the static hello-world. The Debian binaries
# copied into images (busybox, docker-registry) are downloaded, never installed on the host.
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v gcc >/dev/null || missing+=(gcc)
installed libc6-dev || missing+=(libc6-dev)
if [ "$for_tests" = 1 ] && [ ! -x /usr/bin/chromium ]; then missing+=(chromium); fi
# docker.io may have been added twice above.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null ||
    fail "missing: ${missing[*]}, and this is not a Debian-like system with apt-get." "What to do: install them with your system's package manager."
  is_root || fail "missing packages: ${missing[*]}; installing them needs root." "What to do: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
  say "installing ${missing[*]} (apt-get)..."
  # Another apt run (unattended upgrades, a second checkout) may hold the lock for a while.
  apt_opts=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
  apt-get "${apt_opts[@]}" update >"$LOG_DIR/apt.log" 2>&1 ||
    fail "apt-get update failed ($LOG_DIR/apt.log):" "$(tail -n 15 "$LOG_DIR/apt.log")" "What to do: check that the Debian mirror in /etc/apt/sources.list is reachable."
  apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1 ||
    fail "apt-get install ${missing[*]} failed ($LOG_DIR/apt.log):" "$(tail -n 15 "$LOG_DIR/apt.log")" "What to do: fix the apt problem shown above, then run this again."
else
  say "build tools present"
fi

# 2. The Docker engine ------------------------------------------------------------------------
# scripts/engine.sh is the one place that starts (and stops) the engine, with live-restore.
if [ "$need_engine" = 1 ]; then
  bash scripts/engine.sh start
elif [ "$(bash scripts/engine.sh status)" = "running owner=berth live-restore=false" ]; then
  say "WARNING: the dockerd Berth started earlier runs without live-restore, so an engine restart ends every session;" \
    "bash scripts/engine.sh restart turns it on (sandboxes running now stop once)"
fi
say "Docker engine $(docker version --format '{{.Server.Version}}') answers${DOCKER_HOST:+ at $DOCKER_HOST}"

# 3. The host firewall for sandbox networks (docs/security.md) --------------------------------
# Only for an engine on this machine: a remote engine's host needs scripts/host-firewall.sh run there.
if [ -z "${DOCKER_HOST:-}" ] || [[ "${DOCKER_HOST}" == unix://* ]]; then
  if is_root; then
    bash scripts/host-firewall.sh || fail "setting the host firewall for sandbox networks failed (see above)." \
      "What to do: run bash scripts/host-firewall.sh as root and fix what it reports."
    say "host firewall for sandbox networks in place"
  else
    say "WARNING: not root, so sandboxes can reach this host's services; run: sudo bash scripts/host-firewall.sh"
  fi
fi

# 5. Images and the registry mirror -----------------------------------------------------------
say "checking images (scripts/images.ts)..."
node_modules/.bin/tsx scripts/images.ts || fail "building the images failed (the reason is above)." \
  "What to do: fix it, then run npm run images (or this script) again."

say "ready in $(($(date +%s) - started_at)) s"
