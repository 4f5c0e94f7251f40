#!/usr/bin/env python3
"""An independent reader of samizdat bundles, written from proto/BUNDLE.md.

This file was written from the specification (proto/BUNDLE.md), the test
vectors' README and expected.tsv, and the man pages only, never from the C
sources, so that it shows whether the specification is complete enough to
write another implementation from. Section numbers in the comments are those
of BUNDLE.md.

It needs Python 3, PyNaCl (libsodium) and python-zstandard.

    bundle_spec.py verify --trust PK [--max-size MIB] BUNDLE...
    bundle_spec.py dump BUNDLE              (no trust decision, like inspect)
    bundle_spec.py test CLI SOURCE_DIR      (see bundle_spec_test.py)

The decoder never trusts a length before checking it against what remains,
and decompresses with an output bound, so it is safe on hostile input.
"""

import base64
import datetime
import hashlib
import io
import struct
import sys

try:
    import nacl.bindings
    import nacl.exceptions
    import nacl.signing
    import zstandard
except ImportError as e:  # the test is skipped (77) without its modules
    print(f"bundle_spec: needs PyNaCl and python-zstandard ({e})", file=sys.stderr)
    sys.exit(77 if sys.argv[1:2] == ["test"] else 2)

# --- constants of the format ------------------------------------------------

MAGIC = b"SZBN"
VERSION = 1
HEADER_LEN = 104
SIG_LEN = 64
PREFIX_LEN = HEADER_LEN + SIG_LEN  # 168: the payload starts here
# 1.2: the 19-byte context string, its terminating zero byte included.
SIGN_CONTEXT = b"samizdat-bundle-v1\x00"
HARD_CAP = 1 << 30  # 1.3 step 3: the format's hard cap on content_len
DEFAULT_CAP = 64 << 20  # the reference reader's default cap
MIN_CONTENT_LEN = 30  # 1.1
WINDOW_MAX = 1 << 24  # 1.3 step 8

MIB32 = 32 << 20


class Refused(Exception):
    """A bundle refused, with the error name of BUNDLE.md 1.3 (no SZ_ prefix)."""

    def __init__(self, code, why):
        super().__init__(f"{code}: {why}")
        self.code = code
        self.why = why


class Untrusted(Exception):
    """A valid bundle whose publisher the reader does not trust (1.3 step 7)."""

    def __init__(self, bundle_id, publisher):
        super().__init__("untrusted publisher " + publisher.hex())
        self.bundle_id = bundle_id
        self.publisher = publisher


def blake2b_256(data):
    """BLAKE2b with a 32-byte output and no key (libsodium crypto_generichash)."""
    return hashlib.blake2b(data, digest_size=32).digest()


# --- zstd (RFC 8878), as far as the bundle rules need it --------------------

ZSTD_MAGIC = 0xFD2FB528


def zstd_compress_bound(n):
    """ZSTD_COMPRESSBOUND(n), the libzstd macro that 1.3 step 3 names."""
    return n + (n >> 8) + (((128 << 10) - n) >> 11 if n < (128 << 10) else 0)


def parse_frame(payload):
    """Walk the zstd frame at the start of payload without decompressing it.

    Returns (content_size or None, window_size, frame_len, literal_out,
    dict_id, blocks_at, has_checksum) where frame_len is the frame's
    compressed size, literal_out the bytes the Raw and RLE blocks produce
    (known without decoding) and blocks_at the offset of the first block. Raises Refused
    for what 1.3 step 8 calls not a frame or damaged (EBADMSG).
    """
    n = len(payload)
    if n < 4:
        raise Refused("EBADMSG", "payload shorter than a zstd magic number")
    magic = struct.unpack_from("<I", payload, 0)[0]
    if magic & 0xFFFFFFF0 == 0x184D2A50:
        raise Refused("EBADMSG", "payload is a skippable frame")
    if magic != ZSTD_MAGIC:
        # Legacy frames (0xFD2FB51E..0xFD2FB527) and anything else.
        raise Refused("EBADMSG", f"not a zstd frame (magic {magic:#010x})")
    if n < 5:
        raise Refused("EBADMSG", "zstd frame header cut short")
    fhd = payload[4]
    fcs_flag = fhd >> 6
    single_segment = bool(fhd & 0x20)
    if fhd & 0x08:
        raise Refused("EBADMSG", "zstd reserved bit set")
    has_checksum = bool(fhd & 0x04)
    did_len = (0, 1, 2, 4)[fhd & 0x03]
    fcs_len = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    pos = 5
    hdr_len = pos + (0 if single_segment else 1) + did_len + fcs_len
    if n < hdr_len:
        raise Refused("EBADMSG", "zstd frame header cut short")
    window = None
    if not single_segment:
        wd = payload[pos]
        pos += 1
        base = 1 << (10 + (wd >> 3))
        window = base + (base >> 3) * (wd & 7)
    dict_id = int.from_bytes(payload[pos:pos + did_len], "little")
    pos += did_len
    content_size = None
    if fcs_len:
        content_size = int.from_bytes(payload[pos:pos + fcs_len], "little")
        if fcs_len == 2:
            content_size += 256
        pos += fcs_len
    if single_segment:
        window = content_size
    # RFC 8878 3.1.1.2: no block is larger than Block_Maximum_Size, the
    # smaller of the window and 128 KiB, in its stored or regenerated size.
    block_max = min(window, 128 << 10)
    blocks_at = pos
    # The blocks: a 3-byte header each (last flag, type, size).
    literal_out = 0
    while True:
        if n - pos < 3:
            raise Refused("EBADMSG", "zstd frame ends short (block header)")
        bh = int.from_bytes(payload[pos:pos + 3], "little")
        pos += 3
        last = bh & 1
        btype = (bh >> 1) & 3
        bsize = bh >> 3
        if btype == 3:
            raise Refused("EBADMSG", "zstd reserved block type")
        if bsize > block_max:
            raise Refused("EBADMSG", f"zstd block of {bsize} bytes above Block_Maximum_Size")
        if btype == 1:  # RLE: one byte, repeated bsize times
            size_in = 1
            literal_out += bsize
        else:  # Raw (bsize bytes out) or Compressed (decoded later)
            size_in = bsize
            if btype == 0:
                literal_out += bsize
        if n - pos < size_in:
            raise Refused("EBADMSG", "zstd frame ends short (block)")
        pos += size_in
        if last:
            break
    if has_checksum:
        if n - pos < 4:
            raise Refused("EBADMSG", "zstd frame ends short (checksum)")
        pos += 4
    return content_size, window, pos, literal_out, dict_id, blocks_at, has_checksum


def decompress_payload(payload, content_len):
    """1.3 step 8: the payload as exactly one bounded zstd frame.

    The checks come in the order of step 8: the frame header, the frame's
    extent (EBADMSG when it ends short, ETRAILING when bytes follow it), its
    Frame_Content_Size, its window, and only then decompression.
    """
    (content_size, window, frame_len, literal_out, dict_id, blocks_at,
     has_checksum) = parse_frame(payload)
    if frame_len != len(payload):
        raise Refused("ETRAILING", f"{len(payload) - frame_len} bytes after the zstd frame")
    if content_size is None:
        raise Refused("EBADMSG", "zstd frame without Frame_Content_Size")
    if content_size != content_len:
        raise Refused("ELENGTH", f"Frame_Content_Size {content_size} != content_len {content_len}")
    if window > WINDOW_MAX:
        raise Refused("ETOOBIG", f"zstd window {window} above 2^24")
    if dict_id:
        raise Refused("EBADMSG", "zstd frame needs a dictionary")
    if literal_out > content_len:
        # Raw and RLE blocks alone produce more than declared (a frame that
        # lies about its size): refused before a byte is decompressed.
        raise Refused("ELENGTH", "zstd blocks produce more than content_len")
    # Decompress with an output bound of content_len + 1 bytes, so that a
    # frame that would produce more costs no more than that and is told apart
    # from a damaged one. libzstd itself stops a frame that overruns its
    # Frame_Content_Size with a generic corruption error, so the blocks are
    # decoded under a header without Frame_Content_Size (the same blocks and
    # checksum flag; a window descriptor of at least the frame's window).
    if payload[4] & 0x20:  # Single_Segment: a window of 2^(10+e) >= content size
        wd = max(0, (content_size - 1).bit_length() - 10) << 3
    else:
        wd = payload[5]
    bare = (struct.pack("<IBB", ZSTD_MAGIC, 0x04 if has_checksum else 0, wd)
            + payload[blocks_at:])
    dctx = zstandard.ZstdDecompressor(max_window_size=WINDOW_MAX)
    out = bytearray()
    try:
        with dctx.stream_reader(io.BytesIO(bare), read_across_frames=False) as r:
            while len(out) <= content_len:
                chunk = r.read(content_len + 1 - len(out))
                if not chunk:
                    break
                out += chunk
    except zstandard.ZstdError as e:
        if len(out) > content_len:
            raise Refused("ELENGTH", "zstd frame produces more than content_len")
        raise Refused("EBADMSG", f"zstd frame damaged: {e}")
    if len(out) > content_len:
        raise Refused("ELENGTH", "zstd frame produces more than content_len")
    if len(out) < content_len:
        raise Refused("EBADMSG", "zstd frame produces less than content_len")
    return bytes(out)


# --- the article container (section 2) --------------------------------------

CTYPES = {1: "text/plain", 2: "text/markdown", 3: "text/html"}
SAFE_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
MEDIA_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789.+-_")
LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
ALNUM = LETTERS | frozenset(b"0123456789")
# 2.1 published: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z
TIME_MIN = -62135596800
TIME_MAX = 253402300799


class Reader:
    """Bounds-checked reads from the container: a short read is EBADMSG."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n, what):
        if len(self.data) - self.pos < n:
            raise Refused("EBADMSG", f"container ends inside {what}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def uint(self, size, what):
        return int.from_bytes(self.take(size, what), "little")

    def i64(self, what):
        return struct.unpack("<q", self.take(8, what))[0]

    def str8(self, what):
        return self.take(self.uint(1, what), what)

    def str16(self, what):
        return self.take(self.uint(2, what), what)


def is_control(cp):
    """2.1: control characters are U+0000..U+001F and U+007F."""
    return cp < 0x20 or cp == 0x7F


def utf8(b, what):
    """RFC 3629 UTF-8 without U+0000 (2.1), else EUTF8."""
    try:
        s = b.decode("utf-8", "strict")  # refuses overlongs, surrogates, > U+10FFFF
    except UnicodeDecodeError:
        raise Refused("EUTF8", f"{what} is not valid UTF-8")
    if "\x00" in s:
        raise Refused("EUTF8", f"{what} contains U+0000")
    return s


def check_text(b, what, lo, hi, allowed_controls=""):
    """A UTF-8 text field of lo..hi bytes without controls (bar those allowed)."""
    if len(b) > hi:
        raise Refused("ETOOBIG", f"{what} longer than {hi} bytes")
    if len(b) < lo:
        raise Refused("EINVAL", f"{what} empty")
    s = utf8(b, what)
    for c in s:
        if is_control(ord(c)) and c not in allowed_controls:
            raise Refused("EINVAL", f"{what} contains control character U+{ord(c):04X}")
    return s


def check_safe_name(b, what):
    """2.1 id: 1..100 bytes of A-Z a-z 0-9 . _ -, not starting with . or -."""
    if len(b) > 100:
        raise Refused("ETOOBIG", f"{what} longer than 100 bytes")
    if not b or any(c not in SAFE_CHARS for c in b) or b[0] in b".-":
        raise Refused("EBADID", f"{what} {b!r} is not a safe name")
    return b.decode("ascii")


def check_lang(b):
    """2.1 lang: empty, or 2..8 letters then (- and 1..8 letters/digits)*, <= 35 bytes."""
    if not b:
        return None
    if len(b) > 35:
        raise Refused("ETOOBIG", "lang longer than 35 bytes")
    parts = b.split(b"-")
    ok = 2 <= len(parts[0]) <= 8 and all(c in LETTERS for c in parts[0])
    for p in parts[1:]:
        ok = ok and 1 <= len(p) <= 8 and all(c in ALNUM for c in p)
    if not ok:
        raise Refused("EINVAL", f"lang {b!r} is not a BCP 47 tag")
    return b.decode("ascii")


def check_url(b):
    """2.1 url: empty, or http(s)://..., UTF-8, no controls, space, \" < >."""
    if not b:
        return None
    if len(b) > 2048:
        raise Refused("ETOOBIG", "url longer than 2048 bytes")
    if not (b.startswith(b"http://") or b.startswith(b"https://")):
        raise Refused("EINVAL", "url is not http:// or https://")
    s = utf8(b, "url")
    for c in s:
        if is_control(ord(c)) or c in ' "<>':
            raise Refused("EINVAL", f"url contains {c!r}")
    return s


def check_media_type(b):
    """2.1 media_type: 1..127 bytes type/subtype of a-z 0-9 . + - _."""
    if len(b) > 127:
        raise Refused("ETOOBIG", "media type longer than 127 bytes")
    if (not b or b.count(b"/") != 1 or b[0:1] == b"/" or b[-1:] == b"/"
            or any(c not in MEDIA_CHARS and c != 0x2F for c in b)):
        raise Refused("EINVAL", f"media type {b!r} is not type/subtype")
    return b.decode("ascii")


def check_order(prev, cur, what):
    """2.2: strictly ascending byte strings; equal is EDUPID, descending ECANON."""
    if prev is None:
        return
    if cur == prev:
        raise Refused("EDUPID", f"duplicate {what} {cur!r}")
    if cur < prev:  # Python compares bytes as 2.2 says: bytewise, prefix first
        raise Refused("ECANON", f"{what} {cur!r} after {prev!r}")


def rfc3339(t):
    """Seconds since the epoch as RFC 3339 UTC, as readers show `published`."""
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=t)
    return (f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
            f"T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z")


def parse_article(r):
    """2: one article's structure. Only short data (EBADMSG) and the limits on
    counts and 32-bit lengths (ETOOBIG, before anything is allocated) are
    checked here; the fields' rules come later, in check_article."""
    a = {"raw_id": r.str8("id"), "raw_title": r.str16("title"),
         "published": r.i64("published"), "ctype": r.uint(1, "ctype"),
         "raw_url": r.str16("url")}
    n_authors = r.uint(1, "n_authors")
    if n_authors > 64:
        raise Refused("ETOOBIG", f"{n_authors} authors")
    a["raw_authors"] = [r.str16("author") for _ in range(n_authors)]
    a["raw_lang"] = r.str8("lang")
    a["raw_summary"] = r.str16("summary")
    body_len = r.uint(4, "body_len")
    if body_len > MIB32:
        raise Refused("ETOOBIG", "body larger than 32 MiB")
    a["body"] = r.take(body_len, "body")
    n_atts = r.uint(2, "n_atts")
    if n_atts > 256:
        raise Refused("ETOOBIG", f"{n_atts} attachments")
    atts = []
    for _ in range(n_atts):
        t = {"raw_name": r.str8("attachment name"), "raw_media_type": r.str8("media type")}
        data_len = r.uint(4, "data_len")
        if data_len > MIB32:
            raise Refused("ETOOBIG", "attachment larger than 32 MiB")
        t["data"] = r.take(data_len, "attachment data")
        atts.append(t)
    a["attachments"] = atts
    return a


def check_article(a):
    """2.1: every field rule of one parsed article, in the order of the fields."""
    a["id"] = check_safe_name(a["raw_id"], "article id")
    a["title"] = check_text(a["raw_title"], "title", 1, 1024)
    if not TIME_MIN <= a["published"] <= TIME_MAX:
        raise Refused("EINVAL", f"published {a['published']} out of range")
    a["published_text"] = rfc3339(a["published"])
    if a["ctype"] not in CTYPES:
        raise Refused("EINVAL", f"content type {a['ctype']}")
    a["content_type"] = CTYPES[a["ctype"]]
    a["url"] = check_url(a["raw_url"])
    a["authors"] = [check_text(x, "author", 1, 256) for x in a["raw_authors"]]
    a["lang"] = check_lang(a["raw_lang"])
    a["summary"] = check_text(a["raw_summary"], "summary", 0, 4096, "\t\n\r") or None
    if len(a["body"]) == 0:
        raise Refused("EINVAL", "empty body")
    utf8(a["body"], "body")
    for t in a["attachments"]:
        t["name"] = check_safe_name(t["raw_name"], "attachment name")
        t["media_type"] = check_media_type(t["raw_media_type"])
        if not t["data"]:
            raise Refused("EINVAL", "empty attachment")
    for k in [k for k in a if k.startswith("raw_")]:
        del a[k]
    for t in a["attachments"]:
        del t["raw_name"], t["raw_media_type"]
    del a["ctype"]


def decode_container(data):
    """Section 2: the list of articles, each a dict; refuses with Refused.

    The order of the checks is that of 2.3: the count; then article by
    article its structure, the order of its attachments, its fields and the
    order of its id; trailing bytes last.
    """
    r = Reader(data)
    count = r.uint(4, "count")
    if count > 4096:
        raise Refused("ETOOBIG", f"count {count} above 4096")
    if count == 0:
        raise Refused("EINVAL", "count 0")
    articles = []
    prev_id = None
    for _ in range(count):
        a = parse_article(r)
        prev_name = None
        for t in a["attachments"]:
            check_order(prev_name, t["raw_name"], "attachment name")
            prev_name = t["raw_name"]
        raw_id = a["raw_id"]
        check_article(a)
        check_order(prev_id, raw_id, "article id")
        prev_id = raw_id
        articles.append(a)
    if r.pos != len(data):
        raise Refused("ECANON", f"{len(data) - r.pos} bytes after the last article")
    return articles


# --- the bundle (section 1) --------------------------------------------------


def read_bundle(data, trusted=None, cap=DEFAULT_CAP):
    """Verify and decode a bundle in the order of 1.3.

    trusted: a collection of 32-byte public keys, or None to make no trust
    decision (what `samizdat inspect` does). cap: the reader's cap on
    content_len, at most the format's hard cap. Returns a dict of the header
    fields, the id and the articles; raises Refused or Untrusted.
    """
    cap = min(cap, HARD_CAP)
    # Step 1: the header and its magic.
    if len(data) < HEADER_LEN or data[0:4] != MAGIC:
        raise Refused("EBADMSG", "not a bundle (short or wrong magic)")
    header = data[:HEADER_LEN]
    version, flags, reserved = struct.unpack_from("<BBH", header, 4)
    publisher = header[8:40]
    sequence, created, payload_len, content_len = struct.unpack_from("<QqQQ", header, 40)
    payload_hash = header[72:104]
    # Step 2.
    if version != VERSION:
        raise Refused("EVERSION", f"version {version}")
    if flags or reserved:
        raise Refused("ECANON", "non-zero flags or reserved")
    # Step 3: sizes, before anything is allocated.
    if content_len > cap:
        raise Refused("ETOOBIG", f"content_len {content_len} above the cap {cap}")
    if content_len < MIN_CONTENT_LEN or payload_len == 0:
        raise Refused("EBADMSG", "content_len or payload_len too small")
    if payload_len > zstd_compress_bound(content_len):
        raise Refused("ETOOBIG", "payload_len above ZSTD_COMPRESSBOUND(content_len)")
    # Step 4: the total length.
    if len(data) < PREFIX_LEN + payload_len:
        raise Refused("EBADMSG", "truncated")
    if len(data) > PREFIX_LEN + payload_len:
        raise Refused("ETRAILING", "bytes after the payload")
    # Step 5: the domain-separated signature. The id is the hash of the same
    # signed message (1.2).
    signed = SIGN_CONTEXT + header
    signature = data[HEADER_LEN:PREFIX_LEN]
    try:
        nacl.signing.VerifyKey(publisher).verify(signed, signature)
    except (nacl.exceptions.BadSignatureError, ValueError, nacl.exceptions.CryptoError):
        raise Refused("EAUTH", "signature does not verify")
    bundle_id = blake2b_256(signed).hex()
    # Step 6: the payload hash.
    payload = data[PREFIX_LEN:]
    if blake2b_256(payload) != payload_hash:
        raise Refused("EHASH", "payload hash mismatch")
    # Step 7: trust, only now.
    if trusted is not None and publisher not in trusted:
        raise Untrusted(bundle_id, publisher)
    # Steps 8 and 9: bounded decompression, then the container.
    container = decompress_payload(payload, content_len)
    articles = decode_container(container)
    return {
        "id": bundle_id, "version": version, "publisher": publisher,
        "sequence": sequence, "created": created, "created_text": rfc3339(created),
        "payload_len": payload_len, "content_len": content_len,
        "articles": articles,
    }


# --- keys (section 3) ---------------------------------------------------------

PK_CHECKSUM_CONTEXT = b"samizdat-pk-checksum-v1"


def pk_checksum(pk):
    return blake2b_256(PK_CHECKSUM_CONTEXT + pk)[:4]


def parse_public_key(text):
    """3.1: szpk1 + 58 base32 digits of key || checksum; returns the 32-byte key."""
    t = text.strip()
    if not t.startswith("szpk1") or len(t) != 63:
        raise ValueError("not an szpk1 public key")
    digits = t[5:].upper()
    raw = base64.b32decode(digits + "======")  # 58 digits + 6 pads = 64
    # The 58th digit carries two padding bits, which must be zero.
    if base64.b32encode(raw).decode().rstrip("=") != digits:
        raise ValueError("public key: non-zero padding bits")
    key, check = raw[:32], raw[32:]
    if pk_checksum(key) != check:
        raise ValueError("public key checksum mismatch (mistyped key?)")
    return key


def public_key_text(pk):
    return "szpk1" + base64.b32encode(pk + pk_checksum(pk)).decode().rstrip("=").lower()


def read_public_key_file(path):
    """3.1: the first line that is neither blank nor starts with #."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                return parse_public_key(line)
    raise ValueError(f"{path}: no public key")


def open_secret_key(data, passphrase=None):
    """3.2: the 32-byte seed from a secret key file (checks it derives the key)."""
    if len(data) != 176 or data[0:4] != b"SZSK":
        raise ValueError("not a secret key file")
    if data[4] != 1:
        raise ValueError("secret key: unknown version")
    kdf = data[5]
    reserved, opslimit, memlimit = struct.unpack_from("<HQQ", data, 6)
    salt, nonce, pk, sealed = data[24:40], data[40:64], data[64:96], data[96:176]
    if reserved:
        raise ValueError("secret key: reserved not zero")
    if kdf == 0:
        if opslimit or memlimit or any(salt):
            raise ValueError("secret key: kdf 0 with KDF parameters")
        wrap = bytes(32)
    elif kdf == 1:
        if not (1 <= opslimit <= 16 and 8192 <= memlimit <= 1 << 30):
            raise ValueError("secret key: KDF parameters out of range")
        if passphrase is None:
            raise ValueError("secret key needs a passphrase")
        wrap = nacl.bindings.crypto_pwhash_alg(
            32, passphrase, salt, opslimit, memlimit,
            nacl.bindings.crypto_pwhash_ALG_ARGON2ID13)
    else:
        raise ValueError(f"secret key: unknown kdf {kdf}")
    sk = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
        sealed, data[:96], nonce, wrap)
    seed = sk[:32]
    if sk[32:] != pk or bytes(nacl.signing.SigningKey(seed).verify_key) != pk:
        raise ValueError("secret key: seed does not derive the public key")
    return seed


# --- command line ---------------------------------------------------------------


def main(argv):
    if len(argv) >= 1 and argv[0] == "test":
        import os
        sys.dont_write_bytecode = True  # leave no __pycache__ in the sources
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bundle_spec_test
        return bundle_spec_test.main(argv[1:])
    if len(argv) == 2 and argv[0] == "dump":
        with open(argv[1], "rb") as f:
            b = read_bundle(f.read())
        print(f"id {b['id']} sequence {b['sequence']} created {b['created_text']}")
        for a in b["articles"]:
            print(f"  {a['id']} {a['published_text']} {a['content_type']} "
                  f"{len(a['body'])} bytes {a['title']}")
            for t in a["attachments"]:
                print(f"    attachment {t['name']} ({t['media_type']}, {len(t['data'])} bytes)")
        return 0
    if argv and argv[0] == "verify":
        trusted, cap, files, i = set(), DEFAULT_CAP, [], 1
        while i < len(argv):
            if argv[i] == "--trust":
                trusted.add(read_public_key_file(argv[i + 1]) if not argv[i + 1].startswith("szpk1")
                            else parse_public_key(argv[i + 1]))
                i += 2
            elif argv[i] == "--max-size":
                cap = int(argv[i + 1]) << 20
                i += 2
            else:
                files.append(argv[i])
                i += 1
        status = 0
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            try:
                b = read_bundle(data, trusted, cap)
                print(f"OK {path} {b['id']}")
            except Refused as e:
                print(f"REFUSED {path} {e.code} {e.why}")
                status = 1
            except Untrusted as e:
                print(f"UNTRUSTED {path} {e.bundle_id}")
                status = 1
        return status
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
