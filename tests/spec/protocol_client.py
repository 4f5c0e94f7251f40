#!/usr/bin/env python3
"""An independent samizdat peer-protocol client, written from proto/PROTOCOL.md.

It is a second implementation of the peer protocol, made from the
specification alone (PROTOCOL.md, and BUNDLE.md for bundle ids and headers),
to show that the specification is enough to talk to a real samizdatd. It
plays a fetch client that serves nothing (HELLO roles bit 1):

  fetch   HOST:PORT --publisher PK --output DIR
          handshake (section 2), HELLO, then the catch-up of section 4.3:
          collect the SUMMARY (or SUMMARY_PACKED) parts, ask for the
          publishers' ranges with REQUEST_RANGE (or REQUEST_SPARSE), take the
          BUNDLE chunks or BUNDLES batches, check each bundle's header,
          signature and payload hash (BUNDLE.md 1.3 steps 1-6) and write it
          to DIR/<id>.bundle. It sends GET_PEERS and waits for the PEERS
          answer (4.2). With --cut-after BYTES it drops the link once a
          large bundle has brought that many bytes, connects again and asks
          only for the rest (REQUEST_PART, 4.1.1).
  probe   HOST:PORT   sends message 1 made with --network-key and reports
          what came back (section 2: a node refuses it in silence).
  tamper  HOST:PORT   completes the handshake, then sends HELLO with one
          ciphertext byte flipped (section 3: the link fails at once).

Every mode prints one JSON object on standard output. Exit status: 0 when the
mode did what it should, 1 otherwise, 2 on a usage error.

Needs Python 3 with PyNaCl (libsodium) and, to check the zstd frame of a
payload, zstandard (optional).
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time

from nacl import bindings as sodium
from nacl.exceptions import CryptoError

try:
    import zstandard
except ImportError:  # the zstd check is an extra; the rest does not need it
    zstandard = None

# --- Section 1: keys -------------------------------------------------------

# The default network key: the unkeyed BLAKE2b-256 of this text (section 1).
DEFAULT_NETWORK_KEY = hashlib.blake2b(b"samizdat default network key v1", digest_size=32).digest()
assert DEFAULT_NETWORK_KEY.hex() == "81493014bae4d87568a0c9c296d631ef9f9a3b43e9da72129db1b4a66386bf0c"

PROTOCOL_VERSION = 1
FEATURE_BATCH = 0x1  # BUNDLES (4.1)
FEATURE_PART = 0x2  # REQUEST_PART (4.1.1)
FEATURE_SPARSE = 0x4  # SUMMARY_PACKED, REQUEST_SPARSE (4.3.2)
ALL_FEATURES = FEATURE_BATCH | FEATURE_PART | FEATURE_SPARSE

MAX_FRAME_LEN = 1048576  # SZ_MAX_FRAME_LEN (section 3)
HANDSHAKE_TIMEOUT = 10  # section 2


class ProtocolError(Exception):
    """The peer broke the protocol (or closed the link)."""


class LinkClosed(ProtocolError):
    """The peer closed the connection."""


# --- Primitives (table at the top of PROTOCOL.md) ----------------------------


def HASH(x):
    """BLAKE2b-256, no key."""
    return hashlib.blake2b(x, digest_size=32).digest()


def KDF(key, label, x):
    """BLAKE2b-256 keyed with `key` over the ASCII label followed by x."""
    return hashlib.blake2b(label + x, digest_size=32, key=key).digest()


def DH(sk, pk):
    """X25519; an all-zero result (a low-order point) fails."""
    try:
        out = sodium.crypto_scalarmult(sk, pk)
    except Exception as e:  # libsodium refuses an all-zero result itself
        raise ProtocolError("X25519 with a low-order point") from e
    if out == bytes(32):
        raise ProtocolError("X25519 with a low-order point")
    return out


def nonce24(n):
    """The AEAD nonce: LE64(n) followed by 16 zero bytes."""
    return struct.pack("<Q", n) + bytes(16)


def SEAL(k, n, ad, pt):
    return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, ad, nonce24(n), k)


def OPEN(k, n, ad, ct):
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, ad, nonce24(n), k)
    except CryptoError as e:
        raise ProtocolError("authentication tag does not verify") from e


def keypair():
    """A fresh X25519 key pair (public, secret)."""
    return sodium.crypto_box_keypair()


# --- Key files ---------------------------------------------------------------


def read_network_key(path):
    """A network key file holds 64 hex digits (section 1)."""
    with open(path, "rb") as f:
        text = f.read().decode("ascii").strip()
    if len(text) != 64:
        raise ValueError(f"{path}: a network key is 64 hex digits")
    return bytes.fromhex(text)


def parse_public_key(text_or_path):
    """A publisher key: szpk1 text (BUNDLE.md 3.1), a file holding it, or 64 hex digits."""
    text = text_or_path.strip()
    if not text.lower().startswith("szpk1") and len(text) != 64 and os.path.exists(text):
        with open(text, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    text = line
                    break
    if len(text) == 64:
        return bytes.fromhex(text)
    if not text.lower().startswith("szpk1") or len(text) != 63:
        raise ValueError(f"not a public key: {text_or_path}")
    raw = base64.b32decode(text[5:].upper() + "======")
    key, check = raw[:32], raw[32:]
    if HASH(b"samizdat-pk-checksum-v1" + key)[:4] != check:
        raise ValueError(f"public key checksum is wrong (mistyped?): {text_or_path}")
    return key


# --- Section 2: handshake ----------------------------------------------------


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise LinkClosed(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


class SymmetricState:
    """ck, h and k of section 2, with MixHash and MixKey."""

    LABEL = b"samizdat-link-v1"

    def __init__(self, network_key):
        self.ck = KDF(network_key, self.LABEL, b"")
        self.h = HASH(self.ck + self.LABEL)
        self.k = None

    def mix_hash(self, x):
        self.h = HASH(self.h + x)

    def mix_key(self, d):
        self.k = KDF(self.ck, b"k", d)
        self.ck = KDF(self.ck, b"ck", d)


def message1(st, e_pub, now):
    """Message 1 (56 bytes): e_i, then LE64(now) sealed under KDF(ck, "hs1", e_i)."""
    st.mix_hash(e_pub)
    sealed = SEAL(KDF(st.ck, b"hs1", e_pub), 0, st.h, struct.pack("<q", now))
    st.mix_hash(sealed)
    return e_pub + sealed


class Handshake:
    """The initiator's side of section 2. After run(): send_key, recv_key,
    version, features, peer_static, peer_payload."""

    def __init__(self, network_key, static_keys, features_offer, version_max=PROTOCOL_VERSION,
                 version_min=PROTOCOL_VERSION):
        self.network_key = network_key
        self.s_pub, self.s_sec = static_keys
        self.features_offer = features_offer
        self.version_min = version_min
        self.version_max = version_max

    def run(self, sock):
        st = SymmetricState(self.network_key)
        e_pub, e_sec = keypair()

        # -> message 1
        sock.sendall(message1(st, e_pub, int(time.time())))

        # <- message 2: e_r, ee, s (sealed), es, payload2 (sealed)
        m2 = recv_exact(sock, 112)
        e_r = m2[0:32]
        st.mix_hash(e_r)
        st.mix_key(DH(e_sec, e_r))  # ee
        sealed_s = m2[32:80]
        s_r = OPEN(st.k, 0, st.h, sealed_s)
        st.mix_hash(sealed_s)
        st.mix_key(DH(e_sec, s_r))  # es
        sealed_p2 = m2[80:112]
        payload2 = OPEN(st.k, 0, st.h, sealed_p2)
        st.mix_hash(sealed_p2)
        r_vmin, r_vmax, r_features, r_now = struct.unpack("<HHIq", payload2)

        # Version and features: the initiator decides.
        version = min(self.version_max, r_vmax)
        if version < self.version_min or version < r_vmin:
            raise ProtocolError(f"no common version: ours {self.version_min}..{self.version_max}, "
                                f"theirs {r_vmin}..{r_vmax}")
        features = self.features_offer & r_features

        # -> message 3: s (sealed under the es key, nonce 1), se, payload3 (sealed)
        sealed_si = SEAL(st.k, 1, st.h, self.s_pub)
        st.mix_hash(sealed_si)
        st.mix_key(DH(self.s_sec, e_r))  # se
        payload3 = struct.pack("<HHIq", version, 0, features, int(time.time()))
        sealed_p3 = SEAL(st.k, 0, st.h, payload3)
        st.mix_hash(sealed_p3)
        sock.sendall(sealed_si + sealed_p3)

        # Transport keys: the initiator sends with i2r and receives with r2i.
        self.send_key = KDF(st.ck, b"i2r", st.h)
        self.recv_key = KDF(st.ck, b"r2i", st.h)
        self.version = version
        self.features = features
        self.peer_static = s_r
        self.peer_payload = {"version_min": r_vmin, "version_max": r_vmax,
                             "features": r_features, "now": r_now}
        return self


# --- Section 3: frames -------------------------------------------------------


class Link:
    """Encrypted frames over a handshaken connection."""

    def __init__(self, sock, hs):
        self.sock = sock
        self.hs = hs
        self.send_n = 0
        self.recv_n = 0
        self.inbuf = bytearray()  # bytes read but not yet a whole frame

    def fill(self, n):
        """Reads until n bytes are buffered; a timeout keeps what came."""
        while len(self.inbuf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.inbuf)))
            if not chunk:
                raise LinkClosed(f"connection closed with {len(self.inbuf)} bytes of a frame")
            self.inbuf += chunk

    def seal_frame(self, body):
        if not 1 <= len(body) <= MAX_FRAME_LEN:
            raise ValueError("frame body length out of range")
        k, n = self.hs.send_key, self.send_n
        self.send_n += 2
        return SEAL(k, n, b"", struct.pack("<I", len(body))) + SEAL(k, n + 1, b"", body)

    def send(self, body):
        self.sock.sendall(self.seal_frame(body))

    def recv(self):
        """The next frame's body. socket.timeout leaves the link usable."""
        k, n = self.hs.recv_key, self.recv_n
        self.fill(20)
        (length,) = struct.unpack("<I", OPEN(k, n, b"", bytes(self.inbuf[:20])))
        if not 1 <= length <= MAX_FRAME_LEN:
            raise ProtocolError(f"frame length {length} out of range")
        self.fill(20 + length + 16)
        body = OPEN(k, n + 1, b"", bytes(self.inbuf[20:20 + length + 16]))
        del self.inbuf[:20 + length + 16]
        self.recv_n += 2
        return body


# --- Section 4: messages -----------------------------------------------------

HELLO, PING, PONG, GOODBYE = 0x01, 0x02, 0x03, 0x04
ANNOUNCE, REQUEST, BUNDLE, NOT_FOUND, BUNDLES, REQUEST_PART = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15
SUMMARY, REQUEST_RANGE, RANGE_DONE, SUMMARY_PACKED, REQUEST_SPARSE = 0x20, 0x21, 0x22, 0x23, 0x24
GET_PEERS, PEERS = 0x30, 0x31
EQUIVOCATION = 0x40
MSG_NAMES = {HELLO: "HELLO", PING: "PING", PONG: "PONG", GOODBYE: "GOODBYE", ANNOUNCE: "ANNOUNCE",
             REQUEST: "REQUEST", BUNDLE: "BUNDLE", NOT_FOUND: "NOT_FOUND", BUNDLES: "BUNDLES",
             REQUEST_PART: "REQUEST_PART", SUMMARY: "SUMMARY", REQUEST_RANGE: "REQUEST_RANGE",
             RANGE_DONE: "RANGE_DONE", SUMMARY_PACKED: "SUMMARY_PACKED",
             REQUEST_SPARSE: "REQUEST_SPARSE", GET_PEERS: "GET_PEERS", PEERS: "PEERS",
             EQUIVOCATION: "EQUIVOCATION"}

ROLE_RELAY, ROLE_FETCH = 0x1, 0x2
MIN_BUNDLE = 169  # a bundle has a 104-byte header, a 64-byte signature and >= 1 payload byte
BUNDLE_CHUNK = 256 * 1024
GOODBYE_REASONS = {1: "shutting down", 2: "protocol violation", 3: "invalid bundle", 4: "too slow",
                   5: "too many peers", 6: "banned", 7: "idle"}


class Reader:
    """Reads the fields of one message body; anything out of bounds is a violation."""

    def __init__(self, body):
        self.b = body
        self.i = 1  # after the type byte

    def take(self, n):
        if self.i + n > len(self.b):
            raise ProtocolError("a field runs past the message")
        out = self.b[self.i:self.i + n]
        self.i += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def rest(self):
        return self.take(len(self.b) - self.i)

    def string(self):
        return self.take(self.u16()).decode("utf-8")

    def leb128(self):
        """An unsigned LEB128 number (4.3.2): at most 10 bytes, minimal."""
        value, shift = 0, 0
        for i in range(10):
            byte = self.u8()
            if i == 9 and byte > 1:
                raise ProtocolError("LEB128 number past 64 bits")
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise ProtocolError("LEB128 number longer than needed")
                return value
        raise ProtocolError("LEB128 number longer than 10 bytes")

    def packed_ranges(self, m):
        """m packed ranges (gap, span) into a list of (first, last)."""
        out, start = [], None
        for _ in range(m):
            gap, span = self.leb128(), self.leb128()
            start = gap if start is None else out[-1][1] + gap + 1
            last = start + span
            if last > 2**64 - 1:
                raise ProtocolError("packed range past 2^64 - 1")
            out.append((start, last))
        return out

    def end(self):
        if self.i != len(self.b):
            raise ProtocolError(f"{len(self.b) - self.i} bytes left over in message 0x{self.b[0]:02x}")


def leb128(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def msg_hello(listen_port, roles):
    return struct.pack("<BHI", HELLO, listen_port, roles)


def msg_ping(nonce):
    return struct.pack("<BQ", PING, nonce)


def msg_pong(nonce):
    return struct.pack("<BQ", PONG, nonce)


def msg_goodbye(reason, text):
    t = text.encode("utf-8")
    return struct.pack("<BBH", GOODBYE, reason, len(t)) + t


def msg_summary_empty():
    return struct.pack("<BBH", SUMMARY, 0, 0)


def msg_request_range(publisher, first, last):
    return struct.pack("<B", REQUEST_RANGE) + publisher + struct.pack("<QQ", first, last)


def msg_request_sparse(publisher, ranges):
    out = bytearray(struct.pack("<B", REQUEST_SPARSE) + publisher + struct.pack("<H", len(ranges)))
    prev_last = None
    for first, last in ranges:
        gap = first if prev_last is None else first - prev_last - 1
        out += leb128(gap) + leb128(last - first)
        prev_last = last
    return bytes(out)


def msg_request_part(bundle_id, offset):
    return struct.pack("<B", REQUEST_PART) + bundle_id + struct.pack("<I", offset)


def msg_peers_empty():
    return struct.pack("<BB", PEERS, 0)


def parse_summary(r, packed):
    """SUMMARY / SUMMARY_PACKED: (more, [(publisher, [(first, last), ...]), ...])."""
    more, n = r.u8(), r.u16()
    if more > 1 or n > 1024:
        raise ProtocolError("SUMMARY out of limits")
    entries = []
    for _ in range(n):
        pub, m = r.take(32), r.u16()
        if m > 1024:
            raise ProtocolError("SUMMARY entry with more than 1024 ranges")
        if packed:
            ranges = r.packed_ranges(m)
        else:
            ranges = [(r.u64(), r.u64()) for _ in range(m)]
            if any(f > l for f, l in ranges):
                raise ProtocolError("SUMMARY range with first > last")
        entries.append((pub, ranges))
    r.end()
    return more, entries


# --- Bundles (BUNDLE.md) -----------------------------------------------------

BUNDLE_CONTEXT = b"samizdat-bundle-v1\x00"


def bundle_header(data):
    """The fields of a bundle's 104-byte header (BUNDLE.md 1.1)."""
    if len(data) < 104 or data[:4] != b"SZBN":
        raise ValueError("not a bundle")
    (version, flags, reserved, publisher, sequence, created, payload_len, content_len,
     payload_hash) = struct.unpack("<BBH32sQqQQ32s", data[4:104])
    return {"version": version, "flags": flags, "reserved": reserved, "publisher": publisher,
            "sequence": sequence, "created": created, "payload_len": payload_len,
            "content_len": content_len, "payload_hash": payload_hash}


def bundle_id(data):
    """BLAKE2b-256 of the context string and the header (BUNDLE.md 1.2)."""
    return HASH(BUNDLE_CONTEXT + data[:104])


def check_bundle(data, max_content=64 << 20):
    """BUNDLE.md 1.3 steps 1 to 6 (and the zstd frame size of step 8)."""
    hdr = bundle_header(data)
    if hdr["version"] != 1 or hdr["flags"] or hdr["reserved"]:
        raise ValueError("unknown version or non-canonical header")
    if hdr["content_len"] > max_content or hdr["content_len"] < 30 or hdr["payload_len"] == 0:
        raise ValueError("content_len or payload_len out of range")
    if len(data) != 168 + hdr["payload_len"]:
        raise ValueError("length does not match payload_len")
    try:
        # crypto_sign_open takes the signature followed by the signed message
        sodium.crypto_sign_open(data[104:168] + BUNDLE_CONTEXT + data[:104], hdr["publisher"])
    except CryptoError as e:
        raise ValueError("signature does not verify") from e
    if HASH(data[168:]) != hdr["payload_hash"]:
        raise ValueError("payload hash differs")
    if zstandard is not None:
        params = zstandard.get_frame_parameters(data[168:])
        if params.content_size != hdr["content_len"]:
            raise ValueError("zstd frame content size differs from content_len")
    return hdr


# --- The reader (sections 4.1 to 4.3) ----------------------------------------


def log(args, text):
    if args.verbose:
        print(f"protocol_client: {text}", file=sys.stderr, flush=True)


class CutLink(Exception):
    """--cut-after: this client drops the link on purpose, keeping a part."""


class Fetch:
    """State kept across the links of one fetch: what came, and a kept part."""

    def __init__(self, args, publishers):
        self.args = args
        self.publishers = publishers  # the keys asked for
        self.bundles = {}  # id -> bytes
        self.sequences = set()  # (publisher, sequence) of the bundles that came
        self.partial = None  # (id, total, bytes) of a bundle cut off partway
        self.cut_done = False
        self.report = {"links": [], "bundles": [], "ranges": [], "resumed": [], "goodbye": None,
                       "equivocations": []}

    def have_sequence(self, pub, seq, resuming):
        """True when a bundle of this sequence came, or its rest is asked for."""
        if (pub, seq) in self.sequences:
            return True
        if resuming and self.partial is not None:
            hdr = bundle_header(self.partial[2])
            return (hdr["publisher"], hdr["sequence"]) == (pub, seq)
        return False

    def store(self, data, via):
        hdr = check_bundle(data, self.args.max_size << 20)
        bid = bundle_id(data)
        if hdr["publisher"] not in self.publishers:
            raise ProtocolError("a bundle of a publisher not asked for")
        if bid not in self.bundles:
            self.bundles[bid] = data
            self.sequences.add((hdr["publisher"], hdr["sequence"]))
            path = os.path.join(self.args.output, bid.hex() + ".bundle")
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
            self.report["bundles"].append({"id": bid.hex(), "sequence": hdr["sequence"],
                                           "size": len(data), "via": via})
            log(self.args, f"bundle {bid.hex()[:16]} seq {hdr['sequence']} ({len(data)} bytes, {via})")
        return hdr

    def link(self):
        """One connection: handshake, HELLO, catch-up; returns when all is in."""
        args = self.args
        sock = socket.create_connection((args.host, args.port), timeout=HANDSHAKE_TIMEOUT)
        try:
            hs = Handshake(args.network_key, keypair(), args.features).run(sock)
            sock.settimeout(args.timeout)
            link = Link(sock, hs)
            info = {"version": hs.version, "features": hs.features,
                    "peer_node_key": hs.peer_static.hex(), "peer_offer": hs.peer_payload}
            self.report["links"].append(info)
            log(args, f"handshake done: version {hs.version}, features {hs.features:#x}, "
                      f"peer offered {hs.peer_payload}")
            self.converse(link, hs)
            # Done: say so (reason 1) and close.
            link.send(msg_goodbye(1, "done"))
        finally:
            sock.close()

    def converse(self, link, hs):
        args = self.args
        feats = hs.features
        link.send(msg_hello(0, ROLE_FETCH))
        if args.send_summary:
            link.send(msg_summary_empty())
        # GET_PEERS is answered with PEERS, an empty one when the peer knows
        # none (4.2): the link is not done before it came.
        link.send(bytes([GET_PEERS]))
        peers_answered = False

        # A part kept from a lost link: ask only for the rest (4.1.1).
        resuming = None
        if self.partial is not None and feats & FEATURE_PART:
            bid, total, kept = self.partial
            link.send(msg_request_part(bid, len(kept)))
            resuming = bid
            log(args, f"REQUEST_PART {bid.hex()[:16]} from {len(kept)} of {total}")

        got_hello = False
        summary = {}  # publisher -> list of ranges
        summary_done = False
        summary_deadline = time.monotonic() + args.summary_wait
        queue = []  # requests not yet sent: ("range", pub, first, last) / ("sparse", pub, ranges)
        outstanding = {}  # (publisher, first, last) -> {"kind", "seqs": set(), "bundles": n}
        incoming = None  # the bundle being assembled: [total, bytearray, "BUNDLE" | "REQUEST_PART"]
        ping_sent = None
        done = False

        def plan():
            """Turn the summary into requests for the sequences we lack."""
            for pub in self.publishers:
                ranges = []
                for first, last in sorted(summary.get(pub, [])):
                    seq = first
                    while seq <= last:
                        # spans of at most --span sequences, each starting at one we lack
                        if self.have_sequence(pub, seq, resuming is not None):
                            seq += 1
                            continue
                        end = min(last, seq + args.span - 1)
                        ranges.append((seq, end))
                        seq = end + 1
                if feats & FEATURE_SPARSE and args.sparse:
                    # Consecutive ranges within one span of < 4096, at most SPAN in all.
                    group = []
                    for rg in ranges:
                        count = sum(l - f + 1 for f, l in group) + rg[1] - rg[0] + 1
                        if group and (rg[1] - group[0][0] >= 4096 or count > args.span):
                            queue.append(("sparse", pub, group))
                            group = []
                        group.append(rg)
                    if group:
                        queue.append(("sparse", pub, group))
                else:
                    for f, l in ranges:
                        queue.append(("range", pub, f, l))

        def pump():
            while queue and len(outstanding) < args.window:
                item = queue.pop(0)
                if item[0] == "sparse" and len(item[2]) > 1:
                    pub, ranges = item[1], item[2]
                    link.send(msg_request_sparse(pub, ranges))
                    first, last = ranges[0][0], ranges[-1][1]
                    kind = "REQUEST_SPARSE"
                else:
                    pub = item[1]
                    first, last = (item[2], item[3]) if item[0] == "range" else item[2][0]
                    link.send(msg_request_range(pub, first, last))
                    kind = "REQUEST_RANGE"
                outstanding[(pub, first, last)] = {"kind": kind, "seqs": set(), "bundles": 0}
                log(args, f"{kind} {pub.hex()[:8]} {first}..{last}")

        def took(data, via):
            hdr = self.store(data, via)
            if via == "REQUEST_PART":
                return  # the answer to REQUEST_PART, not to a range
            for (pub, first, last), o in outstanding.items():
                if pub == hdr["publisher"] and first <= hdr["sequence"] <= last:
                    o["seqs"].add(hdr["sequence"])
                    o["bundles"] += 1
                    return
            raise ProtocolError(f"bundle seq {hdr['sequence']} that no outstanding request covers")

        while not done:
            now = time.monotonic()
            if not summary_done and now > summary_deadline:
                if not got_hello:
                    raise ProtocolError(f"no HELLO within {args.summary_wait} s")
                # A relay that stops short of more = 0: go with what came (4.3).
                summary_done = True
                plan()
            try:
                link.sock.settimeout(args.timeout if summary_done
                                     else max(0.05, summary_deadline - now))
                body = link.recv()
            except socket.timeout:
                if summary_done:
                    raise ProtocolError(f"the peer sent nothing for {args.timeout} s")
                continue
            mtype, r = body[0], Reader(body)
            if not got_hello and mtype != HELLO:
                raise ProtocolError(f"first message is 0x{mtype:02x}, not HELLO")

            if mtype == HELLO:
                port, roles = r.u16(), r.u32()
                r.end()
                if got_hello or roles & ~3 or roles == 3:
                    raise ProtocolError("bad HELLO")
                got_hello = True
                self.report["links"][-1]["peer_hello"] = {"listen_port": port, "roles": roles}
            elif mtype == PING:
                nonce = r.u64()
                r.end()
                link.send(msg_pong(nonce))
            elif mtype == PONG:
                nonce = r.u64()
                r.end()
                if ping_sent is not None and nonce == ping_sent:
                    ping_sent = None
            elif mtype == GOODBYE:
                reason, text = r.u8(), r.string()
                r.end()
                self.report["goodbye"] = {"reason": reason, "text": text}
                raise LinkClosed(f"GOODBYE {reason} ({GOODBYE_REASONS.get(reason, '?')}): {text}")
            elif mtype in (SUMMARY, SUMMARY_PACKED):
                if mtype == SUMMARY_PACKED and not feats & FEATURE_SPARSE:
                    raise ProtocolError("SUMMARY_PACKED without the sparse feature")
                more, entries = parse_summary(r, mtype == SUMMARY_PACKED)
                if not summary_done:
                    for pub, ranges in entries:
                        summary.setdefault(pub, []).extend(ranges)
                    if more == 0:
                        summary_done = True
                        self.report["summary"] = {p.hex(): rg for p, rg in summary.items()}
                        self.report["summary_form"] = "SUMMARY_PACKED" if mtype == SUMMARY_PACKED else "SUMMARY"
                        plan()
                        # PING once the summary is complete: its PONG comes after
                        # every EQUIVOCATION report (4.3.1).
                        ping_sent = int.from_bytes(os.urandom(8), "little")
                        link.send(msg_ping(ping_sent))
            elif mtype == ANNOUNCE:
                n = r.u16()
                for _ in range(n):
                    r.take(32 + 8 + 32 + 4)
                r.end()  # a catch-up reader does not follow announcements
            elif mtype == EQUIVOCATION:
                pub, seq, a, b = r.take(32), r.u64(), r.take(32), r.take(32)
                r.end()
                self.report["equivocations"].append({"publisher": pub.hex(), "sequence": seq,
                                                     "ids": [a.hex(), b.hex()]})
            elif mtype == BUNDLE:
                total, offset, data = r.u32(), r.u32(), r.rest()
                if total < MIN_BUNDLE or not data or offset + len(data) > total:
                    raise ProtocolError("BUNDLE out of limits")
                if len(data) > BUNDLE_CHUNK:
                    raise ProtocolError(f"BUNDLE chunk of {len(data)} bytes, over 256 KiB")
                if resuming is not None and incoming is None and offset != 0:
                    # the answer to REQUEST_PART: its first offset is the one asked
                    bid, ptotal, kept = self.partial
                    if offset != len(kept) or total != ptotal:
                        raise ProtocolError("REQUEST_PART answered at another offset or total")
                    incoming = [total, bytearray(kept), "REQUEST_PART"]
                elif offset == 0:
                    if incoming is not None:
                        raise ProtocolError("a new bundle before the last one ended")
                    if not outstanding:
                        raise ProtocolError("a BUNDLE nobody asked for")
                    incoming = [total, bytearray(), "BUNDLE"]
                if incoming is None or incoming[0] != total or len(incoming[1]) != offset:
                    raise ProtocolError("BUNDLE chunk out of order")
                incoming[1] += data
                if (args.cut_after and not self.cut_done and incoming[2] == "BUNDLE"
                        and total >= 1 << 20 and len(incoming[1]) >= args.cut_after
                        and len(incoming[1]) < total):
                    # Drop the link partway, keeping what came (4.1.1).
                    self.partial = (bundle_id(bytes(incoming[1][:104])), total, bytes(incoming[1]))
                    self.cut_done = True
                    raise CutLink()
                if len(incoming[1]) == total:
                    data, via = bytes(incoming[1]), incoming[2]
                    incoming = None
                    took(data, via)
                    if via == "REQUEST_PART":
                        self.report["resumed"].append({"id": bundle_id(data).hex(),
                                                       "from": len(self.partial[2]), "total": total})
                        self.partial = None
                        resuming = None
            elif mtype == BUNDLES:
                if not feats & FEATURE_BATCH:
                    raise ProtocolError("BUNDLES without the batch feature")
                n = r.u16()
                if not 1 <= n <= 4096:
                    raise ProtocolError("BUNDLES count out of range")
                items = []
                for _ in range(n):
                    size = r.u32()
                    if size < MIN_BUNDLE or size > BUNDLE_CHUNK:
                        raise ProtocolError("BUNDLES item size out of range")
                    items.append(r.take(size))
                r.end()
                for data in items:
                    took(data, "BUNDLES")
            elif mtype == NOT_FOUND:
                bid = r.take(32)
                r.end()
                if resuming == bid:
                    # The peer does not hold it (or not that far): ask from the start.
                    hdr = bundle_header(self.partial[2])
                    self.partial = None
                    resuming = None
                    self.report["resumed"].append({"id": bid.hex(), "not_found": True})
                    if summary_done:  # plan() left it out: ask for it now
                        queue.append(("range", hdr["publisher"], hdr["sequence"], hdr["sequence"]))
            elif mtype == RANGE_DONE:
                pub, first, last, sent = r.take(32), r.u64(), r.u64(), r.u32()
                r.end()
                o = outstanding.pop((pub, first, last), None)
                if o is None:
                    raise ProtocolError(f"RANGE_DONE {first}..{last} for no request")
                if incoming is not None and incoming[2] == "BUNDLE":
                    raise ProtocolError("RANGE_DONE in the middle of a bundle")
                self.report["ranges"].append({"kind": o["kind"], "publisher": pub.hex(), "first": first,
                                              "last": last, "sent": sent, "sequences": len(o["seqs"]),
                                              "bundles": o["bundles"]})
                # The bundles sent, capped at the span (4: the RANGE_DONE row).
                if sent != min(o["bundles"], last - first + 1):
                    raise ProtocolError(f"RANGE_DONE {first}..{last} says {sent}, "
                                        f"{o['bundles']} bundles came")
            elif mtype == GET_PEERS:
                r.end()
                link.send(msg_peers_empty())  # a reader that serves nothing knows no peers
            elif mtype == PEERS:
                n = r.u8()
                if n > 32:
                    raise ProtocolError("PEERS with more than 32 addresses")
                for _ in range(n):
                    family = r.u8()
                    if family not in (4, 6):
                        raise ProtocolError(f"PEERS address family {family}")
                    r.take(4 if family == 4 else 16)
                    if r.u16() == 0:
                        raise ProtocolError("PEERS port 0")
                r.end()
                peers_answered = True
                self.report["peers"] = n
            elif mtype in (REQUEST, REQUEST_RANGE, REQUEST_SPARSE, REQUEST_PART):
                r.rest()  # we asked for none of these, and serve nothing
            else:
                raise ProtocolError(f"unknown message type 0x{mtype:02x}")

            if summary_done:
                pump()
                done = (not queue and not outstanding and incoming is None and ping_sent is None
                        and resuming is None and peers_answered)

    def run(self):
        attempts = 0
        while True:
            attempts += 1
            try:
                self.link()
                return
            except CutLink:
                log(self.args, f"link cut on purpose after {len(self.partial[2])} bytes of "
                               f"{self.partial[1]}; connecting again")
                if attempts > 3:
                    raise ProtocolError("too many links")


# --- The modes ---------------------------------------------------------------


def cmd_fetch(args):
    os.makedirs(args.output, exist_ok=True)
    publishers = [parse_public_key(p) for p in args.publisher]
    f = Fetch(args, publishers)
    try:
        f.run()
        ok = True
    except (ProtocolError, OSError, ValueError) as e:
        f.report["error"] = f"{type(e).__name__}: {e}"
        ok = False
    f.report["count"] = len(f.bundles)
    print(json.dumps(f.report))
    return 0 if ok else 1


def wait_close(sock, seconds):
    """Reads until the peer closes: (bytes received, 'fin' | 'reset' | 'timeout', seconds)."""
    start = time.monotonic()
    got = 0
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return got, "reset", time.monotonic() - start
        if not chunk:
            return got, "fin", time.monotonic() - start
        got += len(chunk)
    return got, "timeout", time.monotonic() - start


def cmd_probe(args):
    """Message 1 under args.network_key; a node with another key must stay silent."""
    sock = socket.create_connection((args.host, args.port), timeout=5)
    e_pub, _ = keypair()
    sock.sendall(message1(SymmetricState(args.network_key), e_pub, int(time.time())))
    if args.extra:
        sock.sendall(os.urandom(args.extra))  # more bytes, as a prober might send
    if args.half_close:
        sock.shutdown(socket.SHUT_WR)
    got, how, secs = wait_close(sock, args.timeout)
    sock.close()
    result = {"bytes_received": got, "closed": how, "seconds": round(secs, 2)}
    print(json.dumps(result))
    return 0 if got == 0 and how == "fin" else 1


def cmd_tamper(args):
    """A HELLO frame with one ciphertext byte flipped: the peer must close the link."""
    sock = socket.create_connection((args.host, args.port), timeout=HANDSHAKE_TIMEOUT)
    hs = Handshake(args.network_key, keypair(), args.features).run(sock)
    link = Link(sock, hs)
    frame = bytearray(link.seal_frame(msg_hello(0, ROLE_FETCH)))
    where = 5 if args.flip == "header" else 20 + 3  # a byte of the sealed length or of the body
    frame[where] ^= 0x01
    sock.sendall(bytes(frame))
    # The peer may have sent its own frames already; then it must close.
    got, how, secs = wait_close(sock, args.timeout)
    sock.close()
    result = {"handshake": True, "flipped": args.flip, "bytes_after": got, "closed": how,
              "seconds": round(secs, 2)}
    print(json.dumps(result))
    return 0 if how in ("fin", "reset") else 1


def cmd_order(args):
    """HELLO out of its place (section 4: the first message each way, once):
    a PING before it, or a second HELLO. The peer must send GOODBYE 2
    (protocol violation) and close the link."""
    sock = socket.create_connection((args.host, args.port), timeout=HANDSHAKE_TIMEOUT)
    link = Link(sock, Handshake(args.network_key, keypair(), args.features).run(sock))
    if args.case == "ping-first":
        link.send(msg_ping(5))
    else:
        link.send(msg_hello(0, ROLE_FETCH))
        link.send(msg_hello(0, ROLE_FETCH))
    sock.settimeout(args.timeout)
    seen, reason, how = [], None, "timeout"
    try:
        while True:
            body = link.recv()
            seen.append(MSG_NAMES.get(body[0], hex(body[0])))
            if body[0] == GOODBYE and len(body) >= 2:
                reason = body[1]
    except socket.timeout:
        pass
    except (LinkClosed, ConnectionResetError):
        how = "closed"
    sock.close()
    print(json.dumps({"case": args.case, "received": seen, "goodbye": reason, "closed": how}))
    return 0 if reason == 2 and how == "closed" else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)

    def common(sp):
        sp.add_argument("peer", help="HOST:PORT of a samizdat node")
        sp.add_argument("--network-key", metavar="FILE",
                        help="a private network key file (64 hex digits); default: the built-in key")
        sp.add_argument("--features", type=lambda s: int(s, 0), default=ALL_FEATURES,
                        help="feature bits to offer (default 0x7)")
        sp.add_argument("--timeout", type=float, default=15, help="seconds of silence to give up")
        sp.add_argument("-v", "--verbose", action="store_true")

    f = sub.add_parser("fetch", help="fetch publishers' bundles as a reader")
    common(f)
    f.add_argument("--publisher", action="append", required=True,
                   help="publisher public key (szpk1 text, a key file, or 64 hex digits)")
    f.add_argument("--output", required=True, help="folder for ID.bundle files")
    f.add_argument("--span", type=int, default=64, help="sequences per request (<= 4096)")
    f.add_argument("--window", type=int, default=4, help="requests outstanding (<= 16)")
    f.add_argument("--no-sparse", dest="sparse", action="store_false",
                   help="ask with REQUEST_RANGE even where REQUEST_SPARSE is agreed")
    f.add_argument("--send-summary", action="store_true",
                   help="send an empty SUMMARY after HELLO (a reader holds nothing)")
    f.add_argument("--summary-wait", type=float, default=5,
                   help="seconds to wait for SUMMARY parts when none says more = 0")
    f.add_argument("--cut-after", type=int, default=0, metavar="BYTES",
                   help="drop the link once a bundle of 1 MiB or more has brought BYTES, "
                        "then ask a new link for the rest with REQUEST_PART")
    f.add_argument("--max-size", type=int, default=64, help="MiB of content a bundle may declare")
    pr = sub.add_parser("probe", help="send message 1 and report what comes back")
    common(pr)
    pr.add_argument("--extra", type=int, default=0, help="random bytes sent after message 1")
    pr.add_argument("--half-close", action="store_true", help="close our side after sending")
    t = sub.add_parser("tamper", help="handshake, then a frame with a flipped byte")
    common(t)
    t.add_argument("--flip", choices=("header", "body"), default="body")

    o = sub.add_parser("order", help="handshake, then HELLO out of its place")
    common(o)
    o.add_argument("--case", choices=("ping-first", "hello-twice"), required=True)

    args = p.parse_args()
    host, _, port = args.peer.rpartition(":")
    args.host, args.port = host.strip("[]"), int(port)
    args.network_key = read_network_key(args.network_key) if args.network_key else DEFAULT_NETWORK_KEY
    if args.mode == "fetch" and not (1 <= args.span <= 4096 and 1 <= args.window <= 16):
        p.error("--span is 1..4096 and --window 1..16")
    return {"fetch": cmd_fetch, "probe": cmd_probe, "tamper": cmd_tamper,
            "order": cmd_order}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
