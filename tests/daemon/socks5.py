#!/usr/bin/env python3
"""A small SOCKS5 proxy (RFC 1928, CONNECT, no authentication) for the tests.

usage: socks5.py MODE LOG [NAME=ADDRESS...]
Listens on 127.0.0.1 at a free port and prints it. Each request goes to LOG
as "CONNECT name HOST:PORT" (a name the client sent) or "CONNECT ip HOST:PORT".
Names are looked up in the NAME=ADDRESS pairs only (the proxy's own DNS).
MODE: ok (serves), auth (accepts only a user name and password), http
(answers as a web server does), cut:N (serves, but closes a connection once
N bytes came back from the host: a link lost partway), stall:N (serves, but
after N bytes from the host sends nothing more and keeps the connection open,
logging "STALLED down N"),
rate:N (serves, passing at most N bytes a second from the host on each
connection: a slow link),
userpass:USER:PASS (serves only a client offering a user name and password, RFC
1929, and only with these; logs "AUTH ok USER" or "AUTH refused USER"). When a served
connection ends, "CLOSED HOST:PORT down N" gives the bytes sent back to the
client.
"""
import select
import socket
import sys
import threading
import time

MODE, LOG = sys.argv[1], sys.argv[2]
CUT = int(MODE.split(":")[1]) if MODE.startswith(("cut:", "stall:")) else None
STALL = MODE.startswith("stall:")
RATE = int(MODE.split(":")[1]) if MODE.startswith("rate:") else None
CREDS = tuple(MODE.split(":", 2)[1:]) if MODE.startswith("userpass:") else None
NAMES = dict(a.split("=", 1) for a in sys.argv[3:])
log_lock = threading.Lock()


def log(line):
    with log_lock, open(LOG, "a") as f:
        f.write(line + "\n")


def read_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


def pipe(a, b):
    """Copies both ways until one side closes; returns the bytes b sent to a."""
    socks = [a, b]
    down = 0
    start = time.monotonic()
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            if s is b and RATE is not None:
                # Nothing from the host before its time: N bytes a second.
                ahead = down / RATE - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            try:
                data = s.recv(65536 if RATE is None or s is a else max(1, min(65536, RATE // 10)))
            except OSError:
                return down  # reset: a side that closed with bytes unread
            if not data:
                return down
            if s is b:
                if CUT is not None and down + len(data) > CUT:
                    data = data[: CUT - down]
                    a.sendall(data)
                    down += len(data)
                    if STALL:
                        # Nothing more, until the client gives up and closes.
                        log(f"STALLED down {down}")
                        while a.recv(65536):
                            pass
                    return down
                down += len(data)
            try:
                (b if s is a else a).sendall(data)
            except OSError:
                return down  # one side went away while the other was sending


def serve(c):
    try:
        if MODE == "http":
            c.recv(64)
            c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        ver, n = read_exact(c, 2)
        methods = read_exact(c, n)
        if CREDS is not None:
            if 2 not in methods:
                c.sendall(b"\x05\xff")
                return
            c.sendall(b"\x05\x02")
            read_exact(c, 1)
            user = read_exact(c, read_exact(c, 1)[0]).decode()
            password = read_exact(c, read_exact(c, 1)[0]).decode()
            good = (user, password) == CREDS
            log(f"AUTH {'ok' if good else 'refused'} {user}")
            c.sendall(b"\x01\x00" if good else b"\x01\x01")
            if not good:
                return
        elif MODE == "auth" or 0 not in methods:
            c.sendall(b"\x05\xff")
            return
        else:
            c.sendall(b"\x05\x00")
        ver, cmd, _, atyp = read_exact(c, 4)
        if atyp == 1:
            host, kind = socket.inet_ntop(socket.AF_INET, read_exact(c, 4)), "ip"
        elif atyp == 4:
            host, kind = socket.inet_ntop(socket.AF_INET6, read_exact(c, 16)), "ip"
        else:
            host, kind = read_exact(c, read_exact(c, 1)[0]).decode(), "name"
        port = int.from_bytes(read_exact(c, 2), "big")
        log(f"CONNECT {kind} {host}:{port}")
        addr = NAMES.get(host, host) if kind == "name" else host
        if kind == "name" and host not in NAMES:
            c.sendall(b"\x05\x04\x00\x01" + bytes(6))  # host unreachable
            return
        try:
            t = socket.create_connection((addr, port), 5)
        except OSError:
            c.sendall(b"\x05\x05\x00\x01" + bytes(6))  # connection refused
            return
        c.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + (1080).to_bytes(2, "big"))
        down = pipe(c, t)
        t.close()
        log(f"CLOSED {host}:{port} down {down}")
    except (EOFError, OSError):
        pass
    finally:
        c.close()


s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
