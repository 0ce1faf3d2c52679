#!/usr/bin/env bash
# Keeps sandboxes away from the engine host's own services (the backend's API, SSH, anything
# listening on 0.0.0.0), which they could otherwise reach at their bridge's address, and from
# link-local addresses (cloud metadata at 169.254.169.254) when internet access is enabled.
# Every sandbox network's bridge is named brth* (sandbox-backend/provisioning/recipe.ts).
# Replies to connections the host opened (the backend proxying to a sandbox's port) still pass.
# Idempotent; needs root and a local engine. See docs/security.md.
set -euo pipefail

prefix='brth+'

if ! command -v iptables >/dev/null; then
  echo "[berth] host firewall: iptables is missing (it comes with docker.io)" >&2
  exit 1
fi

iptables -N BERTH-INPUT 2>/dev/null || true
iptables -F BERTH-INPUT
iptables -A BERTH-INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
iptables -A BERTH-INPUT -j DROP
iptables -C INPUT -i "$prefix" -j BERTH-INPUT 2>/dev/null || iptables -I INPUT 1 -i "$prefix" -j BERTH-INPUT

# DOCKER-USER is consulted before Docker's own forwarding rules; dockerd creates it.
if iptables -L DOCKER-USER -n >/dev/null 2>&1; then
  iptables -C DOCKER-USER -i "$prefix" -d 169.254.0.0/16 -j DROP 2>/dev/null ||
    iptables -I DOCKER-USER 1 -i "$prefix" -d 169.254.0.0/16 -j DROP
fi
