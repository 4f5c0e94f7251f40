#!/usr/bin/env python3
"""Helpers of no_network_test.sh (Python standard library only).

  browser_check.py netlog FILE [--expect-host HOST]
      Reads a Chromium NetLog (--log-net-log) and lists every network request
      (http, https, ws, wss, ftp, and DNS lookups) that a page opened from
      file:// made. Chromium's own background traffic (component updates,
      sign-in, ...) is told apart by its network isolation key, which for a
      page's requests names the file:// site. As a second net, any request to a
      host outside Chromium's own services also counts, whoever made it.
      Exit 0 when there are none; 1 otherwise. With --expect-host the meaning is
      inverted: exit 0 only when a page request to HOST was seen (used to prove
      that the check can fail).

  browser_check.py pixels PNG R,G,B [MIN_COUNT]
      Exit 0 when the screenshot has at least MIN_COUNT (default 500) pixels of
      exactly that colour: proves that a known test image was displayed.
"""
import json
import struct
import sys
import zlib
from urllib.parse import urlsplit

NETWORK_SCHEMES = ("http", "https", "ws", "wss", "ftp")
# Hosts Chromium itself talks to in the background even in headless mode.
BROWSER_SERVICE_SUFFIXES = (
    ".google.com", ".googleapis.com", ".gstatic.com", ".gvt1.com", ".gvt2.com",
    ".googleusercontent.com", ".chromium.org", ".google", ".doubleclick.net",
)


def load_netlog(path):
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError:
        # A browser that was killed leaves the events array unterminated.
        t = text.rstrip().rstrip(",")
        for tail in ("]}", "}]}", "]"):
            try:
                return json.loads(t + tail)
            except ValueError:
                pass
        raise


def host_of(url):
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", ""
    return parts.scheme.lower(), (parts.hostname or "").lower()


def is_browser_service(host):
    h = "." + host
    return any(h.endswith(s) for s in BROWSER_SERVICE_SUFFIXES)


def from_file_page(params):
    """True when the request or lookup belongs to a page opened from file://."""
    for key in ("network_isolation_key", "network_anonymization_key", "site_for_cookies"):
        v = params.get(key)
        if isinstance(v, str) and "file://" in v:
            return True
    init = params.get("initiator")
    return isinstance(init, str) and (init == "null" or init.startswith("file:"))


def page_requests(netlog):
    found = []
    n_events = 0
    for ev in netlog.get("events", []):
        n_events += 1
        p = ev.get("params") or {}
        url = p.get("url")
        if isinstance(url, str):
            scheme, host = host_of(url)
            if scheme in NETWORK_SCHEMES:
                if from_file_page(p) or (host and not is_browser_service(host)):
                    found.append(url)
        host = p.get("host")
        if isinstance(host, str) and from_file_page(p):
            found.append("dns:" + host)
    return sorted(set(found)), n_events


def cmd_netlog(argv):
    path = argv[0]
    expect = None
    if len(argv) == 3 and argv[1] == "--expect-host":
        expect = argv[2].lower()
    found, n_events = page_requests(load_netlog(path))
    if n_events == 0:
        print("netlog %s has no events: the browser did not run" % path)
        return 1
    if expect is not None:
        hits = [u for u in found if expect in u.lower()]
        if hits:
            print("control: the check sees the request the page made: %s" % hits[0])
            return 0
        print("control: expected a request to %s in %s, saw none: the check is blind"
              % (expect, path))
        return 1
    if found:
        print("network requests made by the page (%s):" % path)
        for u in found:
            print("  " + u)
        return 1
    print("no network request from the page (%d netlog events checked)" % n_events)
    return 0


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG; yields (width, height, bpp, rows)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, []
    width = height = bpp = None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or color not in (2, 6) or interlace != 0:
                raise ValueError("unsupported PNG format")
            bpp = 3 if color == 2 else 4
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows = []
    prev = bytearray(stride)
    off = 0
    for _ in range(height):
        ftype = raw[off]
        line = bytearray(raw[off + 1:off + 1 + stride])
        off += 1 + stride
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                if pa <= pb and pa <= pc:
                    pr = a
                elif pb <= pc:
                    pr = b
                else:
                    pr = c
                line[i] = (line[i] + pr) & 0xFF
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def cmd_pixels(argv):
    path = argv[0]
    want = bytes(int(x) for x in argv[1].split(","))
    min_count = int(argv[2]) if len(argv) > 2 else 500
    width, height, bpp, rows = png_pixels(path)
    count = 0
    for line in rows:
        for i in range(0, len(line), bpp):
            if line[i:i + 3] == want:
                count += 1
    if count >= min_count:
        print("%s: %d pixels of colour %s: the test image is displayed" % (path, count, argv[1]))
        return 0
    print("%s: only %d pixels of colour %s (want %d): the test image is not displayed"
          % (path, count, argv[1], min_count))
    return 1


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "netlog":
        return cmd_netlog(sys.argv[2:])
    if len(sys.argv) >= 4 and sys.argv[1] == "pixels":
        return cmd_pixels(sys.argv[2:])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
