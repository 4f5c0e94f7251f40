#!/usr/bin/env python3
"""A TCP relay that records every byte it forwards, for the wire test.

usage: dumpproxy.py TARGET_PORT DUMP_DIR

Listens on 127.0.0.1 (a free port, written to DUMP_DIR/port once listening),
forwards each accepted connection to 127.0.0.1:TARGET_PORT, and appends the
bytes of connection N to DUMP_DIR/conn-N.c2s (client to server) and
DUMP_DIR/conn-N.s2c (server to client). Runs until killed. Standard library
only.
"""
import os
import socket
import sys
import threading


def pump(src, dst, path):
    """Copies src to dst until EOF, recording the bytes; then half-closes dst."""
    with open(path, "ab", buffering=0) as f:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            f.write(data)
            try:
                dst.sendall(data)
            except OSError:
                break
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def serve(client, n, target, out):
    try:
        server = socket.create_connection(("127.0.0.1", target))
    except OSError:
        client.close()
        return
    threads = [
        threading.Thread(target=pump, args=(client, server, f"{out}/conn-{n}.c2s"), daemon=True),
        threading.Thread(target=pump, args=(server, client, f"{out}/conn-{n}.s2c"), daemon=True),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    server.close()


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    target, out = int(sys.argv[1]), sys.argv[2]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    with open(f"{out}/port.tmp", "w") as f:
        f.write(f"{listener.getsockname()[1]}\n")
    os.replace(f"{out}/port.tmp", f"{out}/port")
    n = 0
    while True:
        client, _ = listener.accept()
        n += 1
        threading.Thread(target=serve, args=(client, n, target, out), daemon=True).start()


if __name__ == "__main__":
    main()
