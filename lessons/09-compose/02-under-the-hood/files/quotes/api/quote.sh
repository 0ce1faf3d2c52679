#!/bin/sh
# busybox httpd runs this for each request to /cgi-bin/quote and sends what it prints.
# The counter lives on the /data volume, so it survives the container being replaced.
count=$(( $(cat /data/served 2>/dev/null || echo 0) + 1 ))
echo "$count" > /data/served
# Standard error goes to the container's log (docker logs), standard output to the client.
echo "served quote #$count" >&2
echo "Content-Type: text/plain"
echo
shuf -n 1 /srv/quotes.txt
echo "  (quote #$count, served by $(hostname))"
