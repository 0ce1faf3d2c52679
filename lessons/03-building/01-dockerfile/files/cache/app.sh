#!/bin/sh
# The application itself: the part you edit many times a day.
echo "tide app running with $(wc -l < /opt/deps/installed.txt) dependencies"
