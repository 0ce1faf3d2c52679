#!/bin/sh
# Stands in for a package manager: "installs" each dependency in deps.txt, slowly, as a real
# download would be.
set -e
mkdir -p /opt/deps
while read -r dep; do
  [ -n "$dep" ] || continue
  echo "installing $dep ..."
  sleep 1
  echo "$dep" >> /opt/deps/installed.txt
done < deps.txt
