#!/bin/sh
# mmdebstrap customize hook for the nginx image; $1 is the root of the new filesystem.
set -eu
root=$1
here=$(dirname "$0")

# Debian's own site would answer on port 80 before ours.
rm -f "$root/etc/nginx/sites-enabled/default"

mkdir -p "$root/usr/share/nginx/html" "$root/etc/nginx/conf.d"
cp "$here/default.conf" "$root/etc/nginx/conf.d/default.conf"
cp "$here/index.html" "$here/50x.html" "$root/usr/share/nginx/html/"
chmod 644 "$root/etc/nginx/conf.d/default.conf" "$root/usr/share/nginx/html/"*.html

# `docker logs` shows what nginx writes to these files.
ln -sf /dev/stdout "$root/var/log/nginx/access.log"
ln -sf /dev/stderr "$root/var/log/nginx/error.log"
