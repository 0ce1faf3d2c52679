#!/usr/bin/env python3
"""Serve node1's Docker Engine API on TCP port 2375, with no TLS and no authentication.

A stand-in for starting dockerd with -H tcp://0.0.0.0:2375: restarting the daemon here would end
your session. It copies bytes between each TCP connection and the daemon's socket, nothing more.
Never run anything like this on a machine others can reach: port 2375 is root on this machine.
"""
import socket
import threading

SOCKET = '/var/run/docker.sock'
PORT = 2375


def pipe(source, target):
    try:
        while data := source.recv(65536):
            target.sendall(data)
        # Pass the end of one direction on without closing the other: `docker run` (attached)
        # closes its sending side early and still reads the container's output afterwards.
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(client):
    engine = socket.socket(socket.AF_UNIX)
    engine.connect(SOCKET)
    upstream = threading.Thread(target=pipe, args=(client, engine))
    upstream.start()
    pipe(engine, client)
    upstream.join()
    client.close()
    engine.close()


server = socket.create_server(('0.0.0.0', PORT))
print(f'forwarding tcp port {PORT} to {SOCKET}', flush=True)
while True:
    connection, _ = server.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
