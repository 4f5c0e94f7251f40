#!/usr/bin/env python3
"""An independent client of the samizdat control protocol (proto/CONTROL.md).

Written from proto/CONTROL.md, proto/BUNDLE.md (section 2, the article
container a PUBLISH carries; section 3.1, the key text form), the man pages
and what a running samizdatd does, without the C sources, so that it shows
whether the document is enough to write another implementation. Python 3
standard library only.

As a library:

    with ControlClient(socket_path) as c:
        text, status = c.status()
        bundle_id, sequence = c.publish(encode_container([article_from_file(p)]))

As a command (prints JSON with --json; exit status 6 when the daemon refuses,
as samizdat(1) does):

    control_client.py --socket SOCK status [--json]
    control_client.py --socket SOCK publish [--unchecked] FILE...
    control_client.py --socket SOCK import BUNDLE...
    control_client.py --socket SOCK list [--publisher PK] [--since-sequence N]
                                         [--page] [--after PK:SEQ:ID] [--all]
    control_client.py --socket SOCK export ID --output FILE
    control_client.py --socket SOCK raw [--no-reply] [--then-status] HEX...

The names (frame, body_len, R_PUBLISHED, n_items, ...) are those of
CONTROL.md; section numbers in comments refer to it unless they name
BUNDLE.md.
"""
import argparse
import base64
import calendar
import datetime
import hashlib
import html
import json
import os
import re
import socket
import struct
import sys
import time

# --- 7.1 Limits ------------------------------------------------------------

SZ_CTL_FRAME_HEADER_LEN = 4
SZ_CTL_MAX_BODY_LEN = 83886080  # 80 MiB
SZ_CTL_MAX_TEXT_LEN = 65536
SZ_CTL_MAX_ITEMS = 4096
ID_LEN = 32  # `id`, section 4
KEY_LEN = 32  # `key`, section 4
R_LIST_ENTRY_LEN = 96  # 5.10
R_IMPORTED_MIN_RESULT_LEN = 1 + ID_LEN + 4  # 5.9: code, id, empty text
IMPORT_MIN_ITEM_LEN = 4  # 5.3: an empty blob

# --- 7.3 Error numbers -----------------------------------------------------

ERROR_NAMES = {
    0: "",
    1: "EBADMSG",
    2: "ETOOBIG",
    3: "EAUTH",
    4: "ENOMEM",
    5: "EVERSION",
    6: "EINVAL",
    7: "EHASH",
    8: "ELENGTH",
    9: "ECANON",
    10: "EBADID",
    11: "EDUPID",
    12: "ECHECKSUM",
    13: "EPASS",
    14: "EUTF8",
    15: "ECOMPRESS",
    16: "ECRYPTO",
    17: "ETRAILING",
    18: "EBUSY",
}
ERROR_CODES = {name: code for code, name in ERROR_NAMES.items() if name}


def error_name(code):
    """The name of an sz_err number; a client must accept codes it does not
    know (5.6), so those are shown by number."""
    return ERROR_NAMES.get(code) or ("code %d" % code if code else "no code")


# --- 3. Message body: versions and types -----------------------------------

VERSION_1 = 1
VERSION_2 = 2  # LIST_PAGE only (3.1)

STATUS = 0x01
PUBLISH = 0x02
IMPORT = 0x03
LIST = 0x04
EXPORT = 0x05
LIST_PAGE = 0x06
R_ERROR = 0x80
R_STATUS = 0x81
R_PUBLISHED = 0x82
R_IMPORTED = 0x83
R_LIST = 0x84
R_EXPORT = 0x85

TYPE_NAMES = {
    STATUS: "STATUS", PUBLISH: "PUBLISH", IMPORT: "IMPORT", LIST: "LIST",
    EXPORT: "EXPORT", LIST_PAGE: "LIST_PAGE", R_ERROR: "R_ERROR",
    R_STATUS: "R_STATUS", R_PUBLISHED: "R_PUBLISHED", R_IMPORTED: "R_IMPORTED",
    R_LIST: "R_LIST", R_EXPORT: "R_EXPORT",
}

# 3.1: each type is sent under the version that added it.
TYPE_VERSION = {t: (VERSION_2 if t == LIST_PAGE else VERSION_1) for t in TYPE_NAMES}

# 6: the reply that belongs to each request.
REPLY_TO = {
    STATUS: R_STATUS, PUBLISH: R_PUBLISHED, IMPORT: R_IMPORTED, LIST: R_LIST,
    LIST_PAGE: R_LIST, EXPORT: R_EXPORT,
}

# 5.9: the code of one import result (enum sz_ctl_import_code).
IMPORT_CODES = {0: "STORED", 1: "PRESENT", 2: "REFUSED", 3: "POLICY"}


# --- Errors ----------------------------------------------------------------

class DecodeError(Exception):
    """A body that does not decode; code is the sz_err name the spec gives."""

    def __init__(self, code, what):
        super().__init__("%s: %s" % (code, what))
        self.code = code
        self.what = what


class CtlError(Exception):
    """An R_ERROR reply (5.6): code (an sz_err number) and text."""

    def __init__(self, code, text):
        super().__init__("%s: %s" % (error_name(code), text))
        self.code = code
        self.name = ERROR_NAMES.get(code, "")
        self.text = text


class ProtocolError(Exception):
    """The daemon broke the protocol, or the connection ended (6, 7.2)."""


# --- 4. Field encodings ----------------------------------------------------

def check_text(raw):
    """A `text`'s bytes: valid UTF-8 (RFC 3629; Python's strict decoder
    refuses overlong forms, surrogates and code points above U+10FFFF)
    without U+0000. Returns the str, raises DecodeError EUTF8."""
    try:
        s = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        raise DecodeError("EUTF8", "text is not UTF-8 (%s)" % e.reason) from None
    if "\0" in s:
        raise DecodeError("EUTF8", "text holds U+0000")
    return s


class Writer:
    """Builds a body field by field (section 4)."""

    def __init__(self):
        self.parts = []

    def u8(self, v):
        self.parts.append(struct.pack("<B", v))
        return self

    def u32(self, v):
        self.parts.append(struct.pack("<I", v))
        return self

    def u64(self, v):
        self.parts.append(struct.pack("<Q", v))
        return self

    def i64(self, v):
        self.parts.append(struct.pack("<q", v))
        return self

    def raw(self, b, size=None):
        if size is not None and len(b) != size:
            raise ValueError("field wants %d bytes, got %d" % (size, len(b)))
        self.parts.append(bytes(b))
        return self

    def text(self, s):
        b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
        if len(b) > SZ_CTL_MAX_TEXT_LEN:
            raise DecodeError("ETOOBIG", "text of %d bytes" % len(b))
        check_text(b)
        return self.u32(len(b)).raw(b)

    def blob(self, b):
        return self.u32(len(b)).raw(b)

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    """Reads a body field by field, with the checks of section 4: every
    length is compared with the bytes that remain before it is used."""

    def __init__(self, data, off=0):
        self.data = data
        self.off = off

    def remaining(self):
        return len(self.data) - self.off

    def take(self, n, what):
        if n > self.remaining():
            raise DecodeError("EBADMSG", "body ends inside %s" % what)
        b = self.data[self.off:self.off + n]
        self.off += n
        return b

    def u8(self, what="u8"):
        return self.take(1, what)[0]

    def u32(self, what="u32"):
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what="u64"):
        return struct.unpack("<Q", self.take(8, what))[0]

    def i64(self, what="i64"):
        return struct.unpack("<q", self.take(8, what))[0]

    def count(self, lo, hi, min_elem, what):
        """`count`: checked against its maximum (ETOOBIG), then against the
        bytes that remain at the smallest element size (EBADMSG). Below the
        minimum of its field is EBADMSG here (the spec names no code)."""
        n = self.u32(what)
        if n > hi:
            raise DecodeError("ETOOBIG", "%s %d above %d" % (what, n, hi))
        if n * min_elem > self.remaining():
            raise DecodeError("EBADMSG", "%s %d does not fit the body" % (what, n))
        if n < lo:
            raise DecodeError("EBADMSG", "%s %d below %d" % (what, n, lo))
        return n

    def text(self, what="text"):
        n = self.u32(what)
        if n > SZ_CTL_MAX_TEXT_LEN:  # before the remaining bytes (4)
            raise DecodeError("ETOOBIG", "%s of %d bytes" % (what, n))
        return check_text(self.take(n, what))

    def blob(self, what="blob", min_len=0):
        n = self.u32(what)
        b = self.take(n, what)
        if n < min_len:
            raise DecodeError("EBADMSG", "%s of %d bytes, at least %d" % (what, n, min_len))
        return b

    def end(self):
        if self.remaining():
            raise DecodeError("ETRAILING", "%d bytes after the last field" % self.remaining())


# --- 2. Frames -------------------------------------------------------------

def frame(body):
    """One frame: body_len (u32, 1..=SZ_CTL_MAX_BODY_LEN) then the body. The
    encoder refuses what breaks a limit before anything is sent (7.1)."""
    if not 1 <= len(body) <= SZ_CTL_MAX_BODY_LEN:
        raise DecodeError("ETOOBIG" if body else "EBADMSG", "body of %d bytes" % len(body))
    return struct.pack("<I", len(body)) + body


def check_body_len(body_len):
    """The header check, before anything else is read or allocated (2)."""
    if body_len == 0:
        raise DecodeError("EBADMSG", "frame announces 0 bytes")
    if body_len > SZ_CTL_MAX_BODY_LEN:
        raise DecodeError("ETOOBIG", "frame announces %d bytes" % body_len)


# --- 5. Messages: requests -------------------------------------------------

def header(msg_type):
    """The two bytes every body starts with (3), under the version that added
    the type (3.1)."""
    return Writer().u8(TYPE_VERSION[msg_type]).u8(msg_type)


def encode_status():
    """5.1: `01 01`."""
    return header(STATUS).bytes()


def encode_publish(container):
    """5.2: one blob, n >= 1: an encoded article container (BUNDLE.md 2)."""
    if not container:
        raise ValueError("PUBLISH needs a container of at least 1 byte")
    return header(PUBLISH).blob(container).bytes()


def encode_import(bundles):
    """5.3: n_items (1..=4096), then each bundle file as a blob (may be empty)."""
    if not 1 <= len(bundles) <= SZ_CTL_MAX_ITEMS:
        raise ValueError("IMPORT takes 1 to %d bundles" % SZ_CTL_MAX_ITEMS)
    w = header(IMPORT).u32(len(bundles))
    for b in bundles:
        w.blob(b)
    return w.bytes()


def _filter(w, publisher, since_sequence):
    """LIST's filter (5.4): has_publisher, publisher (all zero when absent:
    one encoding per request), since_sequence."""
    if publisher is None:
        w.u8(0).raw(bytes(KEY_LEN))
    else:
        w.u8(1).raw(publisher, KEY_LEN)
    return w.u64(since_sequence)


def encode_list(publisher=None, since_sequence=0):
    """5.4: 43 bytes."""
    return _filter(header(LIST), publisher, since_sequence).bytes()


def encode_export(bundle_id):
    """5.5: 34 bytes."""
    return header(EXPORT).raw(bundle_id, ID_LEN).bytes()


def encode_list_page(publisher=None, since_sequence=0, after=None):
    """5.12 (version 2): LIST's filter, then the cursor: has_after and the
    (publisher, sequence, id) of the entry listed last, all zero without."""
    w = _filter(header(LIST_PAGE), publisher, since_sequence)
    if after is None:
        w.u8(0).raw(bytes(KEY_LEN)).u64(0).raw(bytes(ID_LEN))
    else:
        pub, seq, bid = after
        w.u8(1).raw(pub, KEY_LEN).u64(seq).raw(bid, ID_LEN)
    return w.bytes()


# --- 5. Messages: decoding (both directions, as the codec does) ------------

def decode_message(body):
    """Decodes any body into (version, type, fields). Requests and replies
    alike (3: the receiver checks the direction). Raises DecodeError."""
    r = Reader(body)
    if len(body) < 2:
        raise DecodeError("EBADMSG", "body of %d bytes ends inside the header" % len(body))
    version, msg_type = r.u8(), r.u8()
    if version not in (VERSION_1, VERSION_2):
        raise DecodeError("EVERSION", "unknown version %d" % version)
    if msg_type not in TYPE_NAMES or TYPE_VERSION[msg_type] != version:
        raise DecodeError("EVERSION", "unknown type 0x%02x in version %d" % (msg_type, version))
    f = {}
    if msg_type == STATUS:
        pass
    elif msg_type == PUBLISH:
        f["container"] = r.blob("container", 1)
    elif msg_type == IMPORT:
        n = r.count(1, SZ_CTL_MAX_ITEMS, IMPORT_MIN_ITEM_LEN, "n_items")
        f["items"] = [r.blob("item") for _ in range(n)]
    elif msg_type in (LIST, LIST_PAGE):
        f.update(_decode_filter(r))
        if msg_type == LIST_PAGE:
            has_after = r.u8("has_after")
            pub, seq, bid = r.take(KEY_LEN, "after_publisher"), r.u64("after_sequence"), \
                r.take(ID_LEN, "after_id")
            if has_after not in (0, 1):
                raise DecodeError("EBADMSG", "has_after %d" % has_after)
            if has_after == 0 and (any(pub) or seq or any(bid)):
                raise DecodeError("EBADMSG", "a cursor without has_after")
            f["after"] = (pub, seq, bid) if has_after else None
    elif msg_type == EXPORT:
        f["id"] = r.take(ID_LEN, "id")
    elif msg_type == R_ERROR:
        f["code"] = r.u32("code")
        f["text"] = r.text("text")
    elif msg_type == R_STATUS:
        f["text"] = r.text("text")
        f["json"] = r.text("json")
    elif msg_type == R_PUBLISHED:
        f["id"] = r.take(ID_LEN, "id")
        f["sequence"] = r.u64("sequence")
    elif msg_type == R_IMPORTED:
        n = r.count(1, SZ_CTL_MAX_ITEMS, R_IMPORTED_MIN_RESULT_LEN, "n_results")
        results = []
        for _ in range(n):
            code = r.u8("code")
            if code not in IMPORT_CODES:
                raise DecodeError("EBADMSG", "import result code %d" % code)
            results.append(ImportResult(code, r.take(ID_LEN, "id"), r.text("result text")))
        f["results"] = results
    elif msg_type == R_LIST:
        n = r.count(0, SZ_CTL_MAX_ITEMS, R_LIST_ENTRY_LEN, "n_entries")
        f["entries"] = [ListEntry.decode(r) for _ in range(n)]
    elif msg_type == R_EXPORT:
        f["bundle"] = r.blob("bundle", 1)
    r.end()
    return version, msg_type, f


def _decode_filter(r):
    has_publisher = r.u8("has_publisher")
    publisher = r.take(KEY_LEN, "publisher")
    since = r.u64("since_sequence")
    if has_publisher not in (0, 1):
        raise DecodeError("EBADMSG", "has_publisher %d" % has_publisher)
    if has_publisher == 0 and any(publisher):
        raise DecodeError("EBADMSG", "a publisher without has_publisher")
    return {"publisher": publisher if has_publisher else None, "since_sequence": since}


class ImportResult:
    """One result of R_IMPORTED (5.9)."""

    def __init__(self, code, bundle_id, text):
        self.code, self.id, self.text = code, bundle_id, text

    @property
    def outcome(self):
        return IMPORT_CODES[self.code]

    def as_json(self):
        return {"outcome": self.outcome, "code": self.code, "id": self.id.hex(),
                "text": self.text}


class ListEntry:
    """One 96-byte entry of R_LIST (5.10)."""

    def __init__(self, bundle_id, publisher, sequence, created, size, received):
        self.id, self.publisher, self.sequence = bundle_id, publisher, sequence
        self.created, self.size, self.received = created, size, received

    @classmethod
    def decode(cls, r):
        return cls(r.take(ID_LEN, "id"), r.take(KEY_LEN, "publisher"), r.u64("sequence"),
                   r.i64("created"), r.u64("size"), r.i64("received"))

    def as_json(self):
        return {"id": self.id.hex(), "publisher": key_to_text(self.publisher),
                "sequence": self.sequence, "created": self.created, "size": self.size,
                "received": self.received}


# --- 6. Conversation -------------------------------------------------------

class ControlClient:
    """One connection to a daemon's control socket (1): one request, then its
    one reply, then maybe the next request (6)."""

    def __init__(self, path, timeout=60.0):
        if len(os.fsencode(path)) > 107:
            raise ValueError("socket path longer than sun_path (107 bytes): %s" % path)
        self.path, self.timeout = path, timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        # A Unix socket's connect() fails with EAGAIN at once, instead of
        # waiting, while the daemon's listen backlog is full (many clients
        # connecting together): try again until the timeout (1).
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self.sock.close()
                    raise
                time.sleep(0.01)
            except OSError:
                self.sock.close()
                raise

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Frames on the wire.

    def send_bytes(self, data):
        self.sock.sendall(data)

    def _recv_exactly(self, n):
        chunks, got = [], 0
        while got < n:
            b = self.sock.recv(min(n - got, 1 << 20))
            if not b:
                raise ProtocolError("the daemon closed the connection (%d of %d bytes read)"
                                    % (got, n))
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)

    def read_frame(self):
        """One frame: the header is checked before the body is read (2, 7.2)."""
        (body_len,) = struct.unpack("<I", self._recv_exactly(SZ_CTL_FRAME_HEADER_LEN))
        try:
            check_body_len(body_len)
        except DecodeError as e:
            self.close()
            raise ProtocolError("reply frame refused: %s" % e) from None
        return self._recv_exactly(body_len)

    def read_reply(self):
        """One reply, decoded: (version, type, fields). A request type, or a
        body that does not decode, is a protocol error (6)."""
        body = self.read_frame()
        try:
            version, msg_type, f = decode_message(body)
        except DecodeError as e:
            self.close()
            raise ProtocolError("reply does not decode: %s" % e) from None
        if msg_type < 0x80:
            self.close()
            raise ProtocolError("a request type (0x%02x) came as a reply" % msg_type)
        return version, msg_type, f

    def peer_closed(self, wait=2.0):
        """True once the daemon has closed its end (a read gives EOF)."""
        old = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True
        finally:
            self.sock.settimeout(old)

    def request(self, body):
        """Sends one request body and returns the fields of the reply that
        belongs to it; R_ERROR raises CtlError (the connection stays open, 6);
        any other reply type is a protocol error."""
        msg_type = body[1]
        try:
            self.send_bytes(frame(body))
        except (BrokenPipeError, ConnectionResetError):
            # A daemon that refuses the connection itself (too many, or
            # shutting down: 7.1, 7.2) sends its R_ERROR on accept and
            # closes, so the send may fail: the reason may still be readable.
            pass
        _, reply_type, f = self.read_reply()
        if reply_type == R_ERROR:
            raise CtlError(f["code"], f["text"])
        if reply_type != REPLY_TO[msg_type]:
            self.close()
            raise ProtocolError("%s answered with %s" % (TYPE_NAMES[msg_type],
                                                         TYPE_NAMES[reply_type]))
        return f

    # The requests (5.1-5.5, 5.12) and what they return (6.1-6.6).

    def status(self):
        """STATUS → (text, parsed JSON object) (6.1)."""
        f = self.request(encode_status())
        return f["text"], json.loads(f["json"])

    def publish(self, container):
        """PUBLISH → (bundle id, sequence) once the bundle is stored (6.2)."""
        f = self.request(encode_publish(container))
        return f["id"], f["sequence"]

    def import_bundles(self, bundles):
        """IMPORT → one ImportResult per bundle, in request order (6.3)."""
        f = self.request(encode_import(bundles))
        if len(f["results"]) != len(bundles):
            raise ProtocolError("R_IMPORTED has %d results for %d items"
                                % (len(f["results"]), len(bundles)))
        return f["results"]

    def list(self, publisher=None, since_sequence=0):
        """LIST → ListEntry list (6.4); ETOOBIG when more than 4096 match."""
        return self.request(encode_list(publisher, since_sequence))["entries"]

    def list_page(self, publisher=None, since_sequence=0, after=None):
        """LIST_PAGE (version 2) → at most 4096 entries after the cursor (6.5)."""
        return self.request(encode_list_page(publisher, since_sequence, after))["entries"]

    def list_all(self, publisher=None, since_sequence=0):
        """Every entry, page by page; a version-1 daemon refuses LIST_PAGE with
        EVERSION and closes (3.1, 7.2), so LIST is asked on a new connection."""
        entries, after = [], None
        try:
            while True:
                page = self.list_page(publisher, since_sequence, after)
                entries += page
                if len(page) < SZ_CTL_MAX_ITEMS:
                    return entries
                last = page[-1]
                after = (last.publisher, last.sequence, last.id)
        except CtlError as e:
            if e.name != "EVERSION" or after is not None:
                raise
        self.close()
        self.sock = ControlClient(self.path, self.timeout).sock
        return self.list(publisher, since_sequence)

    def export(self, bundle_id):
        """EXPORT → the bundle's bytes, as stored (6.6)."""
        return self.request(encode_export(bundle_id))["bundle"]


# --- BUNDLE.md 2: the article container a PUBLISH carries ------------------

CTYPES = {"text/plain": 1, "text/markdown": 2, "text/html": 3}
SAFE_NAME = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}\Z")
LANG_TAG = re.compile(rb"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*\Z")
MEDIA_TYPE = re.compile(rb"[a-z0-9.+_-]+/[a-z0-9.+_-]+\Z")
MIN_PUBLISHED = -62135596800  # 0001-01-01T00:00:00Z
MAX_PUBLISHED = 253402300799  # 9999-12-31T23:59:59Z
MAX_BODY = 32 << 20


def _b(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


class Attachment:
    def __init__(self, name, media_type, data):
        self.name, self.media_type, self.data = _b(name), _b(media_type), bytes(data)


class Article:
    """One article of the container (BUNDLE.md 2). Text fields are str or
    bytes (bytes are sent as they are, to test what the daemon refuses)."""

    def __init__(self, id, title, published, ctype, body, url="", authors=(), lang="",
                 summary="", attachments=()):
        self.id, self.title, self.published = _b(id), _b(title), int(published)
        self.ctype = CTYPES.get(ctype, ctype)
        self.body, self.url, self.authors = _b(body), _b(url), [_b(a) for a in authors]
        self.lang, self.summary, self.attachments = _b(lang), _b(summary), list(attachments)


def _str(w, fmt, b):
    w.parts.append(struct.pack(fmt, len(b)) + b)


def encode_container(articles):
    """The canonical container (BUNDLE.md 2, 2.2): articles by id, each one's
    attachments by name, both compared as byte strings; absent optional
    fields empty. The encoder checks only that lengths fit their fields; the
    daemon validates the rest (6.2)."""
    w = Writer().u32(len(articles))
    for a in sorted(articles, key=lambda a: a.id):
        _str(w, "<B", a.id)
        _str(w, "<H", a.title)
        w.i64(a.published).u8(a.ctype)
        _str(w, "<H", a.url)
        w.u8(len(a.authors))
        for au in a.authors:
            _str(w, "<H", au)
        _str(w, "<B", a.lang)
        _str(w, "<H", a.summary)
        w.blob(a.body)
        w.parts.append(struct.pack("<H", len(a.attachments)))
        for at in sorted(a.attachments, key=lambda t: t.name):
            _str(w, "<B", at.name)
            _str(w, "<B", at.media_type)
            w.blob(at.data)
    return w.bytes()


def _utf8_no_controls(b, extra_ok=b""):
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return "EUTF8"
    if "\0" in s:
        return "EUTF8"
    if any((ord(c) < 0x20 or ord(c) == 0x7F) and c.encode() not in extra_ok for c in s):
        return "EINVAL"
    return None


def check_article(a):
    """The field rules of BUNDLE.md 2.1, so that a bad file is named before it
    is sent. Returns None or (sz_err name, what)."""
    if not SAFE_NAME.match(a.id):
        return ("ETOOBIG" if len(a.id) > 100 else "EBADID", "unsafe article id %r" % a.id)
    if not 1 <= len(a.title) <= 1024:
        return ("ETOOBIG" if a.title else "EINVAL", "title of %d bytes" % len(a.title))
    err = _utf8_no_controls(a.title)
    if err:
        return (err, "title")
    if not MIN_PUBLISHED <= a.published <= MAX_PUBLISHED:
        return ("EINVAL", "published %d out of range" % a.published)
    if a.ctype not in (1, 2, 3):
        return ("EINVAL", "ctype %r" % a.ctype)
    if a.url:
        if len(a.url) > 2048:
            return ("ETOOBIG", "url")
        err = _utf8_no_controls(a.url)
        if err or not a.url.startswith((b"http://", b"https://")) or \
                any(c in a.url for c in b' "<>'):
            return (err or "EINVAL", "url %r" % a.url)
    if len(a.authors) > 64:
        return ("ETOOBIG", "%d authors" % len(a.authors))
    for au in a.authors:
        err = "EINVAL" if not 1 <= len(au) <= 256 else _utf8_no_controls(au)
        if err:
            return (err, "author %r" % au)
    if a.lang and (len(a.lang) > 35 or not LANG_TAG.match(a.lang)):
        return ("ETOOBIG" if len(a.lang) > 35 else "EINVAL", "lang %r" % a.lang)
    if len(a.summary) > 4096:
        return ("ETOOBIG", "summary")
    err = _utf8_no_controls(a.summary, b"\t\n\r")
    if err:
        return (err, "summary")
    if not a.body:
        return ("EINVAL", "empty body")
    if len(a.body) > MAX_BODY:
        return ("ETOOBIG", "body of %d bytes" % len(a.body))
    try:
        check_text(a.body)
    except DecodeError:
        return ("EUTF8", "body is not UTF-8 without NUL")
    if len(a.attachments) > 256:
        return ("ETOOBIG", "%d attachments" % len(a.attachments))
    for at in a.attachments:
        if not SAFE_NAME.match(at.name):
            return ("EBADID", "unsafe attachment name %r" % at.name)
        if not (len(at.media_type) <= 127 and MEDIA_TYPE.match(at.media_type)):
            return ("EINVAL", "media type %r" % at.media_type)
        if not 1 <= len(at.data) <= MAX_BODY:
            return ("EINVAL" if not at.data else "ETOOBIG", "attachment %r" % at.name)
    return None


# --- Article files, as samizdat(1) pack and publish read them -------------
#
# The daemon never sees files: the client turns each .md, .html or .txt file
# into an article. This follows samizdat(1) "pack" and what the reference
# client was seen to do: the front matter (a YAML block between two "---"
# lines) gives the fields and is not part of the body; the body is the rest
# of the file, byte for byte; the title falls back to the HTML <title>, the
# first Markdown heading or the first line; the id to the file name without
# its extension; the date to the file's modification time.

EXTENSIONS = {".md": "text/markdown", ".markdown": "text/markdown", ".html": "text/html",
              ".htm": "text/html", ".txt": "text/plain"}
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp", ".svg": "image/svg+xml",
               ".avif": "image/avif"}
FIELDS = {"title", "date", "id", "url", "author", "authors", "lang", "summary", "attachments"}


def _scalar(v):
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return json.loads(v)
    if len(v) >= 2 and v[0] == v[-1] == "'":
        return v[1:-1].replace("''", "'")
    return v


def parse_front_matter(data):
    """Splits a file into (fields, body bytes). A block of "key: value" lines
    between a first line "---" and the next "---" line; values are plain,
    quoted, a flow list [a, b] or a block list of "- item" lines."""
    m = re.match(rb"---\r?\n", data)
    if not m:
        return {}, data
    end = re.compile(rb"^---[ \t]*(\r?\n|\Z)", re.M).search(data, m.end())
    if not end:
        raise ValueError("front matter has no closing '---' line")
    fields, key = {}, None
    for line in data[m.end():end.start()].decode("utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = re.match(r"\s+-\s*(.*)$", line) or re.match(r"-\s+(.*)$", line)
        if item and key is not None and isinstance(fields[key], list):
            fields[key].append(_scalar(item.group(1)))
            continue
        k, sep, v = line.partition(":")
        if not sep:
            raise ValueError("front matter line without ':': %r" % line)
        key = k.strip()
        if key in fields or (key in ("author", "authors") and
                             ({"author", "authors"} & set(fields))):
            raise ValueError("front matter field %r given twice" % key)
        v = v.strip()
        if v == "":
            fields[key] = []
        elif v.startswith("[") and v.endswith("]"):
            fields[key] = [_scalar(x) for x in v[1:-1].split(",") if x.strip()]
        else:
            fields[key] = _scalar(v)
    return fields, data[end.end():]


def parse_rfc3339(s):
    """Seconds since the epoch of an RFC 3339 time (a date alone: its
    midnight UTC, as the reference client takes it)."""
    s = s.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
        s += "T00:00:00Z"
    t = datetime.datetime.fromisoformat(s.replace("z", "Z"))
    if t.tzinfo is None:
        raise ValueError("time without a zone: %r" % s)
    return calendar.timegm(t.utctimetuple())


def _fallback_title(body, ctype):
    text = body.decode("utf-8", "replace")
    if ctype == "text/html":
        m = re.search(r"<title[^>]*>(.*?)</title>", text, re.S | re.I)
        if m and m.group(1).strip():
            return html.unescape(" ".join(m.group(1).split()))
    if ctype == "text/markdown":
        m = re.search(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", text, re.M)
        if m:
            return m.group(1)
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def article_from_file(path):
    """An Article from a .md, .html or .txt file, with its attachments."""
    stem, ext = os.path.splitext(os.path.basename(path))
    ctype = EXTENSIONS.get(ext.lower())
    if ctype is None:
        raise ValueError("%s: not a .md, .html or .txt file" % path)
    with open(path, "rb") as f:
        data = f.read()
    fields, body = parse_front_matter(data)
    title = fields.get("title") or _fallback_title(body, ctype)
    if "date" in fields:
        published = parse_rfc3339(fields["date"])
    else:
        published = int(os.stat(path).st_mtime)
    authors = fields.get("authors", fields.get("author", []))
    if isinstance(authors, str):
        authors = [authors]
    folder = os.path.dirname(os.path.abspath(path))
    atts = []
    names = fields.get("attachments", [])
    for name in [names] if isinstance(names, str) else names:
        real = os.path.realpath(os.path.join(folder, name))
        if os.path.isabs(name) or ".." in name.split("/") or \
                os.path.commonpath([real, os.path.realpath(folder)]) != os.path.realpath(folder):
            raise ValueError("%s: attachment %r is outside the article's folder" % (path, name))
        media = MEDIA_TYPES.get(os.path.splitext(name)[1].lower(), "application/octet-stream")
        with open(real, "rb") as f:
            atts.append(Attachment(os.path.basename(name), media, f.read()))
    return Article(id=fields.get("id", stem), title=title, published=published, ctype=ctype,
                   body=body, url=fields.get("url", ""), authors=authors,
                   lang=fields.get("lang", ""), summary=fields.get("summary", ""),
                   attachments=atts)


# --- BUNDLE.md 3.1: the public key text form -------------------------------

def _key_checksum(key):
    return hashlib.blake2b(b"samizdat-pk-checksum-v1" + key, digest_size=32).digest()[:4]


def key_to_text(key):
    """szpk1 and 58 lowercase base32 digits of key + checksum."""
    return "szpk1" + base64.b32encode(key + _key_checksum(key)).decode().rstrip("=").lower()


def key_from_text(text):
    """A key from its text form, or from a file holding it (first line that
    is not blank and does not start with '#')."""
    t = text.strip()
    if not t.lower().startswith("szpk1") and os.path.exists(t):
        with open(t, encoding="utf-8") as f:
            t = next(l.strip() for l in f if l.strip() and not l.startswith("#"))
    if not t.lower().startswith("szpk1") or len(t) != 63:
        raise ValueError("not a public key: %r" % text)
    raw = base64.b32decode(t[5:].upper() + "======")
    key, check = raw[:32], raw[32:]
    if check != _key_checksum(key) or key_to_text(key) != t.lower():
        raise ValueError("public key checksum mismatch (mistyped?): %r" % text)
    return key


# --- The command ----------------------------------------------------------

def _default_socket():
    """The same rule as the daemon's data folder (1; samizdat(1) --socket)."""
    for var, sub in (("XDG_DATA_HOME", "samizdat"), ("HOME", ".local/share/samizdat")):
        v = os.environ.get(var, "")
        if v.startswith("/"):
            return os.path.join(v, sub, "control.sock")
    return "/var/lib/samizdat/control.sock"


def _out(args, obj, human):
    print(json.dumps(obj, ensure_ascii=False) if args.json else human)


def cmd_status(c, args):
    text, status = c.status()
    _out(args, status, text.rstrip("\n"))


def cmd_publish(c, args):
    articles = []
    for p in args.files:
        a = article_from_file(p)
        err = None if args.unchecked else check_article(a)
        if err:
            print("%s: %s (%s)" % (p, err[1], err[0]), file=sys.stderr)
            return 3
        articles.append(a)
    bundle_id, seq = c.publish(encode_container(articles))
    _out(args, {"id": bundle_id.hex(), "sequence": seq}, bundle_id.hex())


def cmd_import(c, args):
    items = []
    for p in args.files:
        with open(p, "rb") as f:
            items.append(f.read())
    results = c.import_bundles(items)
    _out(args, [r.as_json() for r in results],
         "\n".join("%s %s %s: %s" % (r.outcome, r.id.hex(), p, r.text)
                   for r, p in zip(results, args.files)))
    return 1 if any(r.code >= 2 for r in results) else 0


def cmd_list(c, args):
    pub = key_from_text(args.publisher) if args.publisher else None
    if args.all:
        entries = c.list_all(pub, args.since_sequence)
    elif args.page or args.after:
        after = None
        if args.after:
            pk, seq, bid = args.after.split(":")
            after = (key_from_text(pk), int(seq), bytes.fromhex(bid))
        entries = c.list_page(pub, args.since_sequence, after)
    else:
        entries = c.list(pub, args.since_sequence)
    _out(args, [e.as_json() for e in entries],
         "\n".join("%s %s %d %d %d" % (e.id.hex(), key_to_text(e.publisher), e.sequence,
                                       e.created, e.size) for e in entries))


def cmd_export(c, args):
    bundle = c.export(bytes.fromhex(args.id))
    tmp = "%s.tmp-%d" % (args.output, os.getpid())
    with open(tmp, "wb") as f:
        f.write(bundle)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, args.output)
    _out(args, {"id": args.id, "bytes": len(bundle)}, "%d bytes" % len(bundle))


def cmd_raw(c, args):
    """Sends bytes as they are (frames or not, several at once) and reports
    the reply, decoded, and whether the daemon then closed the connection."""
    c.send_bytes(b"".join(bytes.fromhex(h) for h in args.hex))
    if args.no_reply:
        return 0
    out = {}
    try:
        version, msg_type, f = c.read_reply()
        out = {"version": version, "type": TYPE_NAMES[msg_type]}
        if msg_type == R_ERROR:
            out.update(code=f["code"], name=error_name(f["code"]), text=f["text"])
    except ProtocolError as e:
        out = {"protocol_error": str(e)}
    if args.then_status:
        try:
            c.status()
            out["closed"] = False
        except (ProtocolError, OSError):
            out["closed"] = True
    else:
        out["closed"] = c.peer_closed()
    print(json.dumps(out, ensure_ascii=False))


def main(argv=None):
    ap = argparse.ArgumentParser(description="samizdat control protocol client "
                                 "(written from proto/CONTROL.md)")
    ap.add_argument("--socket", default=_default_socket(), help="the daemon's control socket")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds without progress")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--then-status", action="store_true",
                    help="after the command, ask STATUS on the same connection")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("status").set_defaults(run=cmd_status)
    p = sub.add_parser("publish")
    p.add_argument("--unchecked", action="store_true",
                   help="send articles the client would refuse (to test the daemon)")
    p.add_argument("files", nargs="+")
    p.set_defaults(run=cmd_publish)
    p = sub.add_parser("import")
    p.add_argument("files", nargs="+")
    p.set_defaults(run=cmd_import)
    p = sub.add_parser("list")
    p.add_argument("--publisher")
    p.add_argument("--since-sequence", type=int, default=0)
    p.add_argument("--page", action="store_true", help="one LIST_PAGE")
    p.add_argument("--after", help="LIST_PAGE cursor PUBLISHER:SEQUENCE:ID")
    p.add_argument("--all", action="store_true", help="LIST_PAGE until the end")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("export")
    p.add_argument("id")
    p.add_argument("--output", required=True)
    p.set_defaults(run=cmd_export)
    p = sub.add_parser("raw")
    p.add_argument("--no-reply", action="store_true", help="send, then close")
    p.add_argument("hex", nargs="+")
    p.set_defaults(run=cmd_raw)
    args = ap.parse_args(argv)
    try:
        with ControlClient(args.socket, args.timeout) as c:
            try:
                return args.run(c, args) or 0
            except CtlError as e:
                if args.json:
                    print(json.dumps({"error": {"code": e.code, "name": e.name,
                                                "text": e.text}}, ensure_ascii=False))
                print("daemon refused: %s: %s" % (error_name(e.code), e.text), file=sys.stderr)
                return 6
            finally:
                if args.then_status and args.command != "raw":
                    # 6: an R_ERROR to a well-formed request leaves the
                    # connection open; ask once more on it to show that.
                    try:
                        c.status()
                        print("then-status: answered", file=sys.stderr)
                    except (CtlError, ProtocolError, OSError) as e:
                        print("then-status: connection closed (%s)" % e, file=sys.stderr)
    except (ProtocolError, OSError) as e:
        print("control connection: %s" % e, file=sys.stderr)
        return 6
    except (ValueError, DecodeError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
