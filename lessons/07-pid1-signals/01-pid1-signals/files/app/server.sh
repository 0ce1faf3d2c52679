#!/bin/sh
# A stand-in for a real server: it works until it is asked to stop, then shuts down cleanly.
shutdown() {
  echo "server: got SIGTERM, finishing the last requests and closing files... bye"
  exit 0
}
trap shutdown TERM

echo "server: started as PID $$"
while true; do
  # In the background and waited for, so the trap runs at once instead of after the sleep.
  sleep 1 &
  wait $!
done
