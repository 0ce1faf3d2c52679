#!/bin/sh
# Usage: serve.sh NAME [ADDRESS:]PORT
# A minimal web app: answers every request with "NAME answered", listening where it is told.
set -e
mkdir -p /www
echo "$1 answered" > /www/index.html
echo "$1 listening on $2"
# exec: the server replaces this script as the container's main process.
exec httpd -f -p "$2" -h /www
