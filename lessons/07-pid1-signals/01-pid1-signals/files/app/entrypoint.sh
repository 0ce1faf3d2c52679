#!/bin/sh
# Runs first in every container: the place for one-time preparation, then it starts the server.
echo "entrypoint: writing the configuration"
echo "port=8000" > /tmp/server.conf
echo "entrypoint: starting the server"
server.sh "$@"
