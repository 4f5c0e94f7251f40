#!/usr/bin/env python3
"""An independent samizdat relay (the responder's side), written from
proto/PROTOCOL.md.

The serving half of a second implementation of the peer protocol, made from
the specification alone (PROTOCOL.md, and BUNDLE.md for bundle headers and
ids), to show that it says enough for a node that others connect to: the real
`samizdat fetch` and `samizdatd` take what it serves. It reuses only the
primitives and message encoders of protocol_client.py (the initiator).

  protocol_relay.py --bundles DIR [--port N] [--log FILE] [options]

It listens on 127.0.0.1 (port 0: any free port), prints the port on the first
line of standard output, and serves every connection in a thread of its own:

  - the responder's handshake (section 2): checks message 1 (tag, clock within
    600 s, no replay) and otherwise stays silent and closes with a FIN at the
    10 s deadline or at the prober's FIN; sends message 2 with its offer
    (--features, --version-min/--version-max); checks message 3 (tag, version
    in range, features within the offer) and closes without a byte otherwise;
  - HELLO (a relay, roles bit 0), then its SUMMARY, or SUMMARY_PACKED when the
    sparse feature is agreed and that is shorter (4.3, 4.3.2), in parts of at
    most 1024 publishers and one frame, every part to a fetch client and the
    first only to a relay;
  - answers REQUEST (BUNDLE chunks, BUNDLES, NOT_FOUND), REQUEST_RANGE and
    REQUEST_SPARSE (the bundles held in sequence order, then RANGE_DONE),
    REQUEST_PART (the BUNDLE chunks from the asked offset, or NOT_FOUND), PING
    (PONG), GET_PEERS (an empty PEERS), GOODBYE (closes);
  - a message that breaks section 4 gets GOODBYE 2 and the link is closed.

Bundles of at most 256 KiB go many to a frame in BUNDLES where the batch
feature is agreed; others go in BUNDLE chunks of 256 KiB (4.1). The folder's
files are read once at start: each must be a bundle (its header gives the
publisher and sequence, BUNDLE.md 1.1; its id is computed, 1.2). Nothing is
verified: a relay serves what it holds.

Misbehaviour on demand, for negative tests (--misbehave, may be repeated):

  tamper:ID        serve bundle ID (a hex prefix) with its last byte flipped
                   (the header, and so the id, unchanged: the payload hash
                   fails)
  unasked:ID       send bundle ID in BUNDLE messages right after HELLO,
                   before anyone asked for anything
  phantom:N        claim in the SUMMARY N sequences above the highest of the
                   first publisher, which it then does not send
  gap:ID           send bundle ID's BUNDLE chunks with the second chunk's
                   offset one byte too far
  cut:ID:BYTES     on the first link that asks for bundle ID, close the
                   connection once BYTES of it are sent (the next links
                   serve it whole); BYTES a multiple of 256 KiB
  batch-large      put bundles over 256 KiB in BUNDLES too (up to a frame)
  ping-between:ID  send a PING between the first two chunks of bundle ID
                   (allowed: messages of other types may interleave)
  early-done       send RANGE_DONE before the last chunk of a range's last
                   bundle when that is over 256 KiB

Every event is a JSON line in --log (connections, handshakes, messages
received, what was sent, GOODBYEs, closes), flushed at once, for the test to
read.

Needs Python 3 with PyNaCl (libsodium).
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from protocol_client import (  # noqa: E402  the primitives of the other half
    ALL_FEATURES, BUNDLE, BUNDLE_CHUNK, BUNDLES, DEFAULT_NETWORK_KEY, EQUIVOCATION, FEATURE_BATCH,
    FEATURE_PART, FEATURE_SPARSE, GET_PEERS, GOODBYE, HELLO, KDF, MAX_FRAME_LEN, MIN_BUNDLE,
    MSG_NAMES, NOT_FOUND, OPEN, PEERS, PING, PONG, PROTOCOL_VERSION, RANGE_DONE, REQUEST,
    REQUEST_PART, REQUEST_RANGE, REQUEST_SPARSE, ROLE_FETCH, ROLE_RELAY, SEAL, SUMMARY,
    SUMMARY_PACKED, ANNOUNCE, DH, Link, LinkClosed, ProtocolError, Reader, SymmetricState,
    bundle_header, bundle_id, keypair, leb128, msg_goodbye, msg_hello, msg_pong, parse_summary,
    read_network_key, recv_exact)

HANDSHAKE_DEADLINE = 10  # section 2: 10 s after the connection was accepted
CLOCK_WINDOW = 600  # section 2: message 1's timestamp, and the replay window
BATCH_ITEM_MAX = 256 * 1024  # 4.1: BUNDLES carries whole bundles of at most 256 KiB
MAX_SUMMARY_PUBLISHERS = 1024  # 4.3
MAX_SUMMARY_RANGES = 1024  # an entry's m
MAX_SUMMARY_PARTS = 16  # 4.3: a fetch client gets at most 16 parts


class Store:
    """The bundles served: by id, and by publisher and sequence."""

    def __init__(self, folder):
        self.by_id = {}
        self.by_seq = {}  # publisher -> {sequence: [id, ...]}
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            hdr = bundle_header(data)
            bid = bundle_id(data)
            if bid in self.by_id:
                continue
            self.by_id[bid] = data
            seqs = self.by_seq.setdefault(hdr["publisher"], {})
            seqs.setdefault(hdr["sequence"], []).append(bid)

    def find(self, prefix):
        hits = [b for b in self.by_id if b.hex().startswith(prefix.lower())]
        if len(hits) != 1:
            raise SystemExit(f"protocol_relay: bundle {prefix!r} names {len(hits)} bundles")
        return hits[0]

    def equivocations(self):
        """(publisher, sequence, id_a, id_b) of each sequence held twice."""
        out = []
        for pub in sorted(self.by_seq):
            for seq, ids in sorted(self.by_seq[pub].items()):
                out.extend((pub, seq, ids[0], other) for other in ids[1:])
        return out

    def ranges(self, publisher):
        """The publisher's sequences held, as ascending (first, last) ranges."""
        out = []
        for seq in sorted(self.by_seq.get(publisher, {})):
            if out and out[-1][1] + 1 == seq:
                out[-1] = (out[-1][0], seq)
            else:
                out.append((seq, seq))
        return out


class Replay:
    """Message 1 ephemeral keys seen within the window (section 2)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}

    def check_and_add(self, e_i):
        now = time.monotonic()
        with self.lock:
            for k in [k for k, t in self.seen.items() if now - t > CLOCK_WINDOW]:
                del self.seen[k]
            if e_i in self.seen:
                return False
            self.seen[e_i] = now
            return True


class Keys:
    """What Link needs of a handshake: the two transport keys."""

    def __init__(self, send_key, recv_key):
        self.send_key, self.recv_key = send_key, recv_key


class Refused(Exception):
    """Message 1 refused: the responder stays silent."""


class Violation(ProtocolError):
    """The peer broke a rule of section 4: GOODBYE 2, then close."""


# --- Summary encoding (4.3, 4.3.2) --------------------------------------------


def encode_plain_ranges(ranges):
    return b"".join(struct.pack("<QQ", f, l) for f, l in ranges)


def encode_packed_ranges(ranges):
    out, prev = bytearray(), None
    for f, l in ranges:
        gap = f if prev is None else f - prev - 1
        out += leb128(gap) + leb128(l - f)
        prev = l
    return bytes(out)


def summary_parts(entries, packed):
    """The summary as message bodies: at most 1024 publishers and one frame
    each; a publisher with more ranges than one entry holds goes on in a
    further entry, possibly in the next part; `more` is 1 on all but the last."""
    mtype = SUMMARY_PACKED if packed else SUMMARY
    enc = encode_packed_ranges if packed else encode_plain_ranges
    items = []  # (publisher, encoded ranges, m)
    for pub, ranges in entries:
        for i in range(0, max(len(ranges), 1), MAX_SUMMARY_RANGES):
            chunk = ranges[i:i + MAX_SUMMARY_RANGES]
            if chunk:
                items.append((pub, enc(chunk), len(chunk)))
    parts, cur, size = [], [], 4
    for it in items:
        isize = 32 + 2 + len(it[1])
        if cur and (len(cur) == MAX_SUMMARY_PUBLISHERS or size + isize > MAX_FRAME_LEN):
            parts.append(cur)
            cur, size = [], 4
        cur.append(it)
        size += isize
    parts.append(cur)
    bodies = []
    for i, part in enumerate(parts):
        more = 1 if i < len(parts) - 1 else 0
        body = bytearray(struct.pack("<BBH", mtype, more, len(part)))
        for pub, rb, m in part:
            body += pub + struct.pack("<H", m) + rb
        bodies.append(bytes(body))
    return bodies


# --- One connection -------------------------------------------------------------


class Conn:
    def __init__(self, server, sock, addr, number):
        self.server = server
        self.args = server.args
        self.store = server.store
        self.sock = sock
        self.addr = addr
        self.number = number
        self.features = 0
        self.peer_hello = None
        self.link = None
        self.hold_last = None  # misbehave early-done: the bundle whose last chunk waits
        self.held = None

    def log(self, event, **fields):
        self.server.log(event, conn=self.number, **fields)

    # Section 2, the responder's side.
    def refuse_silently(self, why, accepted):
        """Nothing sent; read and discard until the prober's FIN or the deadline."""
        self.log("refused", reason=why)
        try:
            while True:
                left = accepted + HANDSHAKE_DEADLINE - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                try:
                    if not self.sock.recv(65536):
                        break
                except socket.timeout:
                    break
        except OSError:
            pass
        raise Refused(why)

    def handshake(self, accepted):
        args = self.args
        self.sock.settimeout(HANDSHAKE_DEADLINE)
        st = SymmetricState(args.network_key)
        try:
            m1 = recv_exact(self.sock, 56)
        except (LinkClosed, socket.timeout, OSError):
            self.refuse_silently("fewer than 56 bytes", accepted)
        e_i, sealed_t = m1[:32], m1[32:]
        st.mix_hash(e_i)
        try:
            (t,) = struct.unpack("<q", OPEN(KDF(st.ck, b"hs1", e_i), 0, st.h, sealed_t))
        except ProtocolError:
            self.refuse_silently("message 1 tag", accepted)
        now = int(time.time()) + args.clock_offset
        if abs(t - now) > CLOCK_WINDOW:
            self.refuse_silently(f"message 1 clock {t - now:+d} s", accepted)
        if not self.server.replay.check_and_add(e_i):
            self.refuse_silently("message 1 replayed", accepted)
        st.mix_hash(sealed_t)

        # Message 2: e_r, ee, s_r sealed, es, payload2 sealed.
        e_pub, e_sec = keypair()
        st.mix_hash(e_pub)
        st.mix_key(DH(e_sec, e_i))  # ee
        sealed_s = SEAL(st.k, 0, st.h, self.server.s_pub)
        st.mix_hash(sealed_s)
        st.mix_key(DH(self.server.s_sec, e_i))  # es
        payload2 = struct.pack("<HHIq", args.version_min, args.version_max, args.features, now)
        sealed_p2 = SEAL(st.k, 0, st.h, payload2)
        st.mix_hash(sealed_p2)
        self.sock.sendall(e_pub + sealed_s + sealed_p2)

        # Message 3: s_i sealed under the es key with nonce 1, se, payload3.
        left = accepted + HANDSHAKE_DEADLINE - time.monotonic()
        if left <= 0:
            raise ProtocolError("handshake deadline")
        self.sock.settimeout(left)
        m3 = recv_exact(self.sock, 80)
        sealed_si, sealed_p3 = m3[:48], m3[48:]
        s_i = OPEN(st.k, 1, st.h, sealed_si)
        st.mix_hash(sealed_si)
        st.mix_key(DH(e_sec, s_i))  # se
        payload3 = OPEN(st.k, 0, st.h, sealed_p3)
        st.mix_hash(sealed_p3)
        version, _reserved, features, peer_now = struct.unpack("<HHIq", payload3)
        if not args.version_min <= version <= args.version_max:
            raise ProtocolError(f"message 3 chose version {version}, outside our range")
        if features & ~args.features:
            raise ProtocolError(f"message 3 chose features {features:#x}, beyond our offer")
        self.features = features
        # The responder receives with i2r and sends with r2i.
        keys = Keys(KDF(st.ck, b"r2i", st.h), KDF(st.ck, b"i2r", st.h))
        self.log("handshake", version=version, features=features, peer_key=s_i.hex(),
                 peer_clock=peer_now - int(time.time()))
        return keys

    # Sending.
    def send(self, body):
        self.link.send(body)

    def send_bundle_chunks(self, bid, data, start=0):
        """A bundle as consecutive BUNDLE messages from offset `start` (4.1,
        4.1.1): full 256 KiB chunks but the last."""
        total = len(data)
        offset = start
        index = 0
        cut = self.server.cut_for(bid)
        while offset < total:
            end = min(total, offset + BUNDLE_CHUNK)
            wire_offset = offset
            if self.server.gap == bid and index == 1:
                wire_offset = offset + 1  # misbehave gap: a hole of one byte
            chunk = struct.pack("<BII", BUNDLE, total, wire_offset) + data[offset:end]
            if end == total and self.hold_last == bid:
                self.held = chunk  # misbehave early-done: sent after RANGE_DONE
                self.log("held", id=bid.hex(), offset=offset)
            else:
                self.send(chunk)
            offset = end
            index += 1
            if self.server.ping_between == bid and index == 1 and offset < total:
                self.send(struct.pack("<BQ", PING, 77))
                self.log("sent", form="PING", between=bid.hex())
            if cut is not None and offset >= cut and offset < total:
                self.log("cut", id=bid.hex(), sent=offset, total=total)
                raise LinkClosed("cut on purpose")
        self.log("sent", id=bid.hex(), form="BUNDLE", start=start, total=total)

    def send_bundles(self, ids):
        """Whole bundles in order: BUNDLES batches where the feature is agreed
        (bundles of at most 256 KiB, up to 1 MiB a message, 4096 items),
        BUNDLE chunks otherwise."""
        batch, size = [], 3
        use_batch = self.features & FEATURE_BATCH and not self.args.no_batch_send

        def flush():
            nonlocal batch, size
            if batch:
                body = bytearray(struct.pack("<BH", BUNDLES, len(batch)))
                for data in batch:
                    body += struct.pack("<I", len(data)) + data
                self.send(bytes(body))
                self.log("sent", form="BUNDLES", n=len(batch))
            batch, size = [], 3

        for bid in ids:
            data = self.server.served_bytes(bid)
            item_max = MAX_FRAME_LEN - 7 if self.server.batch_large else BATCH_ITEM_MAX
            if use_batch and len(data) <= item_max and bid not in self.server.cuts \
                    and self.server.gap != bid:
                if batch and (size + 4 + len(data) > MAX_FRAME_LEN or len(batch) == 4096):
                    flush()
                batch.append(data)
                size += 4 + len(data)
            else:
                flush()
                self.send_bundle_chunks(bid, data)
        flush()

    def summary_entries(self):
        entries = []
        for pub in sorted(self.store.by_seq):
            ranges = self.store.ranges(pub)
            if self.args.phantom and not entries:
                top = ranges[-1][1]
                ranges = ranges + [(top + 1, top + self.args.phantom)]
                if len(ranges) > 1 and ranges[-2][1] + 1 == ranges[-1][0]:
                    ranges[-2:] = [(ranges[-2][0], ranges[-1][1])]
            entries.append((pub, ranges))
        return entries

    def summary_bodies(self):
        entries = self.summary_entries()
        plain = summary_parts(entries, False)
        if not self.features & FEATURE_SPARSE or self.args.summary_form == "plain":
            return plain
        packed = summary_parts(entries, True)
        if self.args.summary_form == "packed":
            return packed
        # Either form; whichever is shorter (4.3.2).
        return packed if sum(map(len, packed)) < sum(map(len, plain)) else plain

    # Serving.
    def serve_range(self, pub, first, last, ranges):
        """The bundles held of the ranges, in sequence order, then RANGE_DONE."""
        held = self.store.by_seq.get(pub, {})
        ids, seqs = [], 0
        for f, l in ranges:
            # iterate over what is held, not the (up to 4096) sequences asked
            for seq in sorted(s for s in held if f <= s <= l):
                ids.extend(held[seq])
                seqs += 1
        if self.server.early_done and ids and len(self.store.by_id[ids[-1]]) > BATCH_ITEM_MAX:
            self.hold_last = ids[-1]
        self.send_bundles(ids)
        self.hold_last = None
        self.send(struct.pack("<B", RANGE_DONE) + pub + struct.pack("<QQI", first, last, seqs))
        if self.held is not None:
            self.send(self.held)
            self.held = None
            self.log("sent", form="BUNDLE", after="RANGE_DONE")
        self.log("range_done", publisher=pub.hex(), first=first, last=last, sent=seqs,
                 bundles=len(ids))

    def handle(self, body):
        mtype, r = body[0], Reader(body)
        name = MSG_NAMES.get(mtype)
        if name is None:
            raise Violation(f"unknown message type 0x{mtype:02x}")
        if self.peer_hello is None and mtype not in (HELLO, GOODBYE):
            raise Violation(f"{name} before HELLO")
        if mtype == HELLO:
            port, roles = r.u16(), r.u32()
            r.end()
            if self.peer_hello is not None:
                raise Violation("a second HELLO")
            if roles & ~(ROLE_RELAY | ROLE_FETCH) or roles == ROLE_RELAY | ROLE_FETCH:
                raise Violation(f"HELLO roles {roles:#x}")
            self.peer_hello = (port, roles)
            self.log("recv", msg=name, listen_port=port, roles=roles)
            if roles & ROLE_FETCH:
                # A fetch client gets every part; those after the first follow its HELLO.
                for body in self.summary_rest:
                    self.send(body)
            return True
        if mtype == GOODBYE:
            reason, text = r.u8(), r.string()
            r.end()
            self.log("recv", msg=name, reason=reason, text=text)
            return False
        if mtype == PING:
            nonce = r.u64()
            r.end()
            self.log("recv", msg=name)
            self.send(msg_pong(nonce))
        elif mtype == PONG:
            nonce = r.u64()
            r.end()
            self.log("recv", msg=name, nonce=nonce)
        elif mtype == REQUEST:
            n = r.u16()
            if not 1 <= n <= 64:
                raise Violation(f"REQUEST of {n} ids")
            ids = [r.take(32) for _ in range(n)]
            r.end()
            self.log("recv", msg=name, ids=[i.hex() for i in ids])
            for bid in ids:
                if bid in self.store.by_id:
                    self.send_bundles([bid])
                else:
                    self.send(struct.pack("<B", NOT_FOUND) + bid)
        elif mtype == REQUEST_RANGE:
            pub, first, last = r.take(32), r.u64(), r.u64()
            r.end()
            self.log("recv", msg=name, publisher=pub.hex(), first=first, last=last)
            if first > last or last - first >= 4096:
                raise Violation(f"REQUEST_RANGE {first}..{last}")
            self.serve_range(pub, first, last, [(first, last)])
        elif mtype == REQUEST_SPARSE:
            if not self.features & FEATURE_SPARSE:
                raise Violation("REQUEST_SPARSE without the sparse feature")
            pub, m = r.take(32), r.u16()
            if not 1 <= m <= 1024:
                raise Violation(f"REQUEST_SPARSE of {m} ranges")
            ranges = r.packed_ranges(m)
            r.end()
            first, last = ranges[0][0], ranges[-1][1]
            self.log("recv", msg=name, publisher=pub.hex(), ranges=ranges)
            if last - first >= 4096:
                raise Violation(f"REQUEST_SPARSE spanning {first}..{last}")
            self.serve_range(pub, first, last, ranges)
        elif mtype == REQUEST_PART:
            if not self.features & FEATURE_PART:
                raise Violation("REQUEST_PART without the part feature")
            bid, offset = r.take(32), r.u32()
            r.end()
            self.log("recv", msg=name, id=bid.hex(), offset=offset)
            if offset < 1:
                raise Violation("REQUEST_PART at offset 0")
            data = self.store.by_id.get(bid)
            if data is None or offset >= len(data):
                self.send(struct.pack("<B", NOT_FOUND) + bid)
            else:
                self.send_bundle_chunks(bid, self.server.served_bytes(bid), offset)
        elif mtype in (SUMMARY, SUMMARY_PACKED):
            if mtype == SUMMARY_PACKED and not self.features & FEATURE_SPARSE:
                raise Violation("SUMMARY_PACKED without the sparse feature")
            more, entries = parse_summary(r, mtype == SUMMARY_PACKED)
            self.log("recv", msg=name, more=more, publishers=len(entries))
            # This relay only serves: it asks its peers for nothing.
        elif mtype == ANNOUNCE:
            n = r.u16()
            if not 1 <= n <= 256:
                raise Violation(f"ANNOUNCE of {n}")
            for _ in range(n):
                r.take(32 + 8 + 32)
                if r.u32() < MIN_BUNDLE:
                    raise Violation("ANNOUNCE size below 169")
            r.end()
            self.log("recv", msg=name, n=n)
        elif mtype == GET_PEERS:
            r.end()
            self.log("recv", msg=name)
            self.send(struct.pack("<BB", PEERS, 0))
        elif mtype in (BUNDLE, BUNDLES):
            raise Violation(f"{name}: this relay asked for nothing")
        elif mtype in (NOT_FOUND, RANGE_DONE, PEERS):
            raise Violation(f"{name}: this relay asked for nothing")
        elif mtype == EQUIVOCATION:
            r.take(32)
            r.u64()
            a, b = r.take(32), r.take(32)
            r.end()
            if a == b:
                raise Violation("EQUIVOCATION of one id")
            self.log("recv", msg=name)
        return True

    def run(self):
        accepted = time.monotonic()
        self.log("accept", peer=f"{self.addr[0]}:{self.addr[1]}")
        try:
            keys = self.handshake(accepted)
        except Refused:
            self.close_quietly()
            return
        except (ProtocolError, OSError, socket.timeout) as e:
            self.log("handshake_failed", error=str(e))
            self.close_quietly()
            return
        self.link = Link(self.sock, keys)
        self.sock.settimeout(self.args.idle)
        how = "closed by peer"
        try:
            self.send(msg_hello(self.server.port, ROLE_RELAY))
            if self.server.unasked is not None:
                bid = self.server.unasked
                self.log("unasked", id=bid.hex())
                self.send_bundle_chunks(bid, self.store.by_id[bid])
            bodies = self.summary_bodies()
            self.send(bodies[0])
            self.log("sent", form=MSG_NAMES[bodies[0][0]], parts=len(bodies))
            # A fetch client gets at most 16 parts, the 16th saying more = 0 (4.3).
            rest = bodies[1:MAX_SUMMARY_PARTS]
            if len(bodies) > MAX_SUMMARY_PARTS:
                rest[-1] = rest[-1][:1] + b"\x00" + rest[-1][2:]
            self.summary_rest = rest
            # The equivocations held, after the SUMMARY, before any answer (4.3.1).
            for pub, seq, a, b in self.store.equivocations()[:32]:
                self.send(struct.pack("<B", EQUIVOCATION) + pub + struct.pack("<Q", seq) + a + b)
                self.log("sent", form="EQUIVOCATION", sequence=seq)
            while True:
                body = self.link.recv()
                if not self.handle(body):
                    how = "GOODBYE"
                    break
        except Violation as e:
            self.log("violation", error=str(e))
            try:
                self.send(msg_goodbye(2, str(e)[:200]))
            except OSError:
                pass
            how = "violation"
        except LinkClosed as e:
            how = str(e)
            if how == "cut on purpose":
                # A FIN after the last byte sent, not a reset: a close with the
                # peer's frames unread would reset the link, and the peer could
                # lose bytes it had not read yet, which a cut must not do.
                self.log("close", how=how)
                self.close_gracefully()
                return
        except socket.timeout:
            how = "idle"
        except ProtocolError as e:  # a frame that fails its tag: no GOODBYE
            how = f"link failed: {e}"
        except OSError as e:
            how = f"{type(e).__name__}: {e}"
            self.drain()
        self.log("close", how=how)
        self.close_quietly()

    def drain(self):
        """After a send failed (the peer closed while this relay was still
        sending): log the frames the peer sent before it closed, such as its
        GOODBYE, that this relay had not read yet."""
        try:
            self.sock.settimeout(1)
            while True:
                body = self.link.recv()
                if body[0] == GOODBYE:
                    r = Reader(body)
                    reason, text = r.u8(), r.string()
                    self.log("recv", msg="GOODBYE", reason=reason, text=text, late=True)
                else:
                    self.log("recv", msg=MSG_NAMES.get(body[0], hex(body[0])), late=True)
        except (ProtocolError, OSError):
            pass

    def close_gracefully(self):
        """Sends FIN, reads and drops what the peer still sends until it
        closes too (2 s at most), then closes."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(2)
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.sock.close()

    def close_quietly(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Server:
    def __init__(self, args):
        self.args = args
        self.store = Store(args.bundles)
        self.s_pub, self.s_sec = keypair()
        self.replay = Replay()
        self.lock = threading.Lock()
        self.logf = open(args.log, "a", buffering=1) if args.log else sys.stderr
        self.tampered = {}
        self.unasked = None
        self.gap = None
        self.cuts = {}  # id -> bytes, until used once
        self.batch_large = False
        self.ping_between = None
        self.early_done = False
        for m in args.misbehave:
            kind, _, rest = m.partition(":")
            if kind == "tamper":
                bid = self.store.find(rest)
                data = bytearray(self.store.by_id[bid])
                data[-1] ^= 0x01
                self.tampered[bid] = bytes(data)
            elif kind == "unasked":
                self.unasked = self.store.find(rest)
            elif kind == "gap":
                self.gap = self.store.find(rest)
            elif kind == "cut":
                prefix, _, nbytes = rest.partition(":")
                self.cuts[self.store.find(prefix)] = int(nbytes)
            elif kind == "batch-large":
                self.batch_large = True
            elif kind == "ping-between":
                self.ping_between = self.store.find(rest)
            elif kind == "early-done":
                self.early_done = True
            elif kind == "phantom":
                args.phantom = int(rest)
            else:
                raise SystemExit(f"protocol_relay: unknown misbehaviour {m!r}")

    def log(self, event, **fields):
        line = json.dumps({"t": round(time.time(), 3), "event": event, **fields})
        with self.lock:
            print(line, file=self.logf, flush=True)

    def served_bytes(self, bid):
        return self.tampered.get(bid, self.store.by_id[bid])

    def cut_for(self, bid):
        """The cut point for this bundle, once: the first link that sends it."""
        with self.lock:
            return self.cuts.pop(bid, None)

    def serve(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.args.port))
        ls.listen(16)
        self.port = ls.getsockname()[1]
        print(self.port, flush=True)
        self.log("listen", port=ls.getsockname()[1], bundles=len(self.store.by_id),
                 features=self.args.features, node_key=self.s_pub.hex())
        number = 0
        while True:
            sock, addr = ls.accept()
            number += 1
            threading.Thread(target=Conn(self, sock, addr, number).run, daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bundles", required=True, help="folder of bundle files to serve")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free one)")
    p.add_argument("--log", help="file for the JSON event lines (default: standard error)")
    p.add_argument("--network-key", metavar="FILE", help="a private network key file")
    p.add_argument("--features", type=lambda s: int(s, 0), default=ALL_FEATURES,
                   help="feature bits offered in message 2 (default 0x7)")
    p.add_argument("--version-min", type=int, default=PROTOCOL_VERSION)
    p.add_argument("--version-max", type=int, default=PROTOCOL_VERSION)
    p.add_argument("--summary-form", choices=("auto", "plain", "packed"), default="auto",
                   help="with the sparse feature: the shorter form (auto), or always one")
    p.add_argument("--no-batch-send", action="store_true",
                   help="send BUNDLE chunks even where BUNDLES is agreed")
    p.add_argument("--clock-offset", type=int, default=0,
                   help="seconds added to this relay's clock")
    p.add_argument("--idle", type=float, default=180, help="seconds of silence before closing")
    p.add_argument("--misbehave", action="append", default=[], metavar="KIND[:ARG]",
                   help="tamper:ID, unasked:ID, phantom:N, gap:ID, cut:ID:BYTES (see above)")
    args = p.parse_args()
    args.phantom = 0
    args.network_key = read_network_key(args.network_key) if args.network_key else DEFAULT_NETWORK_KEY
    try:
        Server(args).serve()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
