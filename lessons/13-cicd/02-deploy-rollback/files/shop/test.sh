#!/bin/sh
# The tests run inside the image that was just built, so they test exactly what will be shipped.
httpd -p 8080 -h /www
failed=0

expect() {
  # expect DESCRIPTION PATH TEXT: the page at PATH must contain TEXT
  if timeout 5 wget -qO- "http://127.0.0.1:8080$2" 2>/dev/null | grep -q "$3"; then
    echo "  pass: $1"
  else
    echo "  FAIL: $1 ($2 does not contain \"$3\")"
    failed=1
  fi
}

expect "the home page has a title" / "<title>Shop</title>"
expect "the health check answers ok" /health "^ok$"

exit $failed
