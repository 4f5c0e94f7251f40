"""Tests of the bundle format against an independent reader (bundle_spec.py).

Run as `bundle_spec.py test CLI SOURCE_DIR`, where CLI is the samizdat binary.
Four parts, each of which exits non-zero with a message naming what differs:

  vectors  every bundle of tests/vectors/expected.tsv reaches its expected
           outcome and id in the independent reader; the key files open.
  packed   bundles packed by the real CLI from articles written here are
           accepted, and every field and byte comes back as written.
  mutated  every damaged copy of those bundles (a byte flipped in each
           region, truncated, a byte appended) is refused by both readers.
  crafted  bundles made here, properly signed with the test vectors' key, each
           with one defect (or none), reach the outcome BUNDLE.md gives in
           both readers: the C reader is held to the specification too.
"""

import datetime
import glob
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import nacl.signing
import zstandard

import bundle_spec as B

FAILURES = []
# 1.2: the signed message starts with this context string and its zero byte.
# Written out again here rather than taken from bundle_spec, so that the
# bundles this file signs do not share a mistake with the reader under test.
CONTEXT = bytes.fromhex("73616d697a6461742d62756e646c652d763100")


def fail(msg):
    FAILURES.append(msg)
    print("FAIL: " + msg, file=sys.stderr, flush=True)


def part_done(text, before):
    """One line per part: what it checked, and whether all of it held."""
    n = len(FAILURES) - before
    print(f"{text}: " + ("ok" if n == 0 else f"{n} FAILURE(S)"), flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def outcome(data, trusted, cap=B.DEFAULT_CAP):
    """The independent reader's verdict: ('ok', id), ('untrusted', id) or (code, None)."""
    try:
        b = B.read_bundle(data, trusted, cap)
        return "ok", b["id"]
    except B.Untrusted as e:
        return "untrusted", e.bundle_id
    except B.Refused as e:
        return e.code, None


# What `samizdat verify` says for each refusal (its wording, mapped back to
# the error names of BUNDLE.md 1.3).
CLI_REASONS = [
    ("malformed or truncated data", "EBADMSG"),
    ("unknown format version", "EVERSION"),
    ("non-canonical encoding", "ECANON"),
    ("it is too large", "ETOOBIG"),
    ("a length exceeds its limit", "ETOOBIG"),
    ("unexpected bytes after the end of the data", "ETRAILING"),
    ("signature does not verify", "EAUTH"),
    ("payload does not match the hash", "EHASH"),
    ("which is not a trusted publisher", "untrusted"),
    ("payload does not decompress to its declared length", "ELENGTH"),
    ("invalid field value", "EINVAL"),
    ("unsafe article id or attachment name", "EBADID"),
    ("duplicate article id or attachment name", "EDUPID"),
    ("text is not valid UTF-8", "EUTF8"),
]


def cli_verify(cli, pk_file, paths, extra=()):
    """Run `samizdat verify` once over paths; {path: outcome name}."""
    r = subprocess.run([cli, "verify", "--trust", pk_file, *extra, *paths],
                       capture_output=True, text=True, timeout=120)
    got = {}
    for line in r.stdout.splitlines():
        if line.startswith("OK "):
            got[line.split()[1]] = "ok"
    for line in r.stderr.splitlines():
        for p in paths:
            if line.startswith(f"samizdat: {p}: refused: "):
                reason = line.split(": refused: ", 1)[1]
                got[p] = next((c for text, c in CLI_REASONS if text in reason),
                              "unknown reason: " + reason)
    for p in paths:
        got.setdefault(p, f"no verdict (status {r.returncode}): {r.stderr.strip()[-200:]}")
    if any(v != "ok" for v in got.values()) != (r.returncode == 1):
        fail(f"verify exit status {r.returncode} does not match its verdicts {got}")
    return got


# --- part 1: the committed test vectors ----------------------------------------


def test_vectors(vdir):
    before = len(FAILURES)
    pub = B.read_public_key_file(os.path.join(vdir, "publisher.pk"))
    other = B.read_public_key_file(os.path.join(vdir, "other.pk"))
    # 3.1 and 3.2: the key files agree with the seeds the README gives.
    for name, pk in (("publisher", pub), ("other", other)):
        with open(os.path.join(vdir, name + ".seed.hex")) as f:
            seed = bytes.fromhex(f.read().strip())
        check(bytes(nacl.signing.SigningKey(seed).verify_key) == pk,
              f"vectors: {name}.pk is not the key of {name}.seed.hex")
        with open(os.path.join(vdir, name + ".pk")) as f:
            check(f.read().strip() == B.public_key_text(pk),
                  f"vectors: {name}.pk is not written as 3.1 writes it")
    with open(os.path.join(vdir, "publisher.sk"), "rb") as f:
        check(B.open_secret_key(f.read()) == b"samizdat-test-vector-publisher-1",
              "vectors: publisher.sk does not open to its seed")
    # A checksum error (3.1) is caught.
    text = B.public_key_text(pub)
    bad = text[:10] + ("a" if text[10] != "a" else "b") + text[11:]
    try:
        B.parse_public_key(bad)
        fail("vectors: a mistyped public key was accepted")
    except ValueError:
        pass

    n = 0
    with open(os.path.join(vdir, "expected.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, expected, want_id = line.rstrip("\n").split("\t")
            with open(os.path.join(vdir, name), "rb") as bf:
                data = bf.read()
            got, got_id = outcome(data, {pub})
            n += 1
            check(got == expected, f"vector {name}: expected {expected}, got {got}")
            if want_id != "-":
                check(got_id == want_id, f"vector {name}: id {got_id}, expected {want_id}")
                id_file = os.path.join(vdir, name[:-len(".bundle")] + ".id")
                if os.path.exists(id_file):
                    with open(id_file) as idf:
                        check(idf.read().strip() == want_id, f"vector {name}: .id file differs")
            if expected == "untrusted":
                # "it opens (the format has nothing against it)"
                check(outcome(data, None)[0] == "ok", f"vector {name}: does not open untrusted")
            if name == "invalid-oversize.bundle":
                # "a real, valid payload that a reader with a 128 MiB cap opens"
                check(outcome(data, {pub}, 128 << 20)[0] == "ok",
                      f"vector {name}: not valid under a 128 MiB cap")
    check(n >= 21, f"vectors: only {n} lines in expected.tsv")
    part_done(f"vectors: {n} bundles against expected.tsv", before)


# --- part 2: bundles packed by the CLI ---------------------------------------------


def tiny_png():
    """A 1x1 PNG, made here."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xc0\x20\x10"))
            + chunk(b"IEND", b""))


def epoch(rfc3339):
    return int(datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


def write_article(folder, fname, body, front=None, mtime=None):
    """An article file: optional YAML front matter, then the body bytes."""
    data = b""
    if front is not None:
        data = b"---\n" + front.encode() + b"---\n"
    path = os.path.join(folder, fname)
    with open(path, "wb") as f:
        f.write(data + body)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def make_articles(d):
    """Articles and what each must come back as: (file, expected article)."""
    png = tiny_png()
    os.makedirs(os.path.join(d, "img"))
    with open(os.path.join(d, "img", "dot.png"), "wb") as f:
        f.write(png)
    arts = []
    body = "# A heading\n\nSome *Markdown* with a [link](https://example.org/).\n\n![dot](dot.png)\n".encode()
    arts.append((write_article(d, "first.md", body, front=(
        'title: "Press freedom: a report"\n'
        "date: 2024-05-01T12:30:00+02:00\n"
        "id: press-freedom\n"
        "url: https://example.org/news/press-freedom?x=1\n"
        "authors:\n  - Ann Author\n  - Bob Writer\n"
        "lang: en-GB\n"
        "summary: A short summary of the report.\n"
        "attachments:\n  - img/dot.png\n")),
        dict(id="press-freedom", title="Press freedom: a report",
             published=epoch("2024-05-01T10:30:00Z"), content_type="text/markdown",
             url="https://example.org/news/press-freedom?x=1",
             authors=["Ann Author", "Bob Writer"], lang="en-GB",
             summary="A short summary of the report.", body=body,
             attachments=[("dot.png", "image/png", png)])))
    body = ("<!DOCTYPE html>\n<html><head><title>An HTML page</title></head>\n"
            "<body><h1>Heading</h1><p>Text &amp; more.</p></body></html>\n").encode()
    mtime = epoch("2023-03-04T05:06:07Z")
    arts.append((write_article(d, "html-page.html", body, mtime=mtime),
                 dict(id="html-page", title="An HTML page", published=mtime,
                      content_type="text/html", url=None, authors=[], lang=None,
                      summary=None, body=body, attachments=[])))
    body = b"Plain title line\n\nTabs\tand CR LF\r\nare kept as they are.\n"
    mtime = epoch("2022-01-02T03:04:05Z")
    arts.append((write_article(d, "plain_notes.txt", body, mtime=mtime),
                 dict(id="plain_notes", title="Plain title line", published=mtime,
                      content_type="text/plain", url=None, authors=[], lang=None,
                      summary=None, body=body, attachments=[])))
    body = ("Свобода слова — право каждого человека.\n\n"
            "Статья 19 Всеобщей декларации прав человека.\n").encode()
    arts.append((write_article(d, "svoboda.md", body, front=(
        "title: Свобода слова\n"
        "date: 1999-12-31T23:59:59Z\n"
        "author: Анна Петрова\n"
        "lang: ru\n"
        "url: http://example.ru/svoboda\n"
        "summary: Кратко о свободе слова.\n")),
        dict(id="svoboda", title="Свобода слова", published=epoch("1999-12-31T23:59:59Z"),
             content_type="text/markdown", url="http://example.ru/svoboda",
             authors=["Анна Петрова"], lang="ru", summary="Кратко о свободе слова.",
             body=body, attachments=[])))
    return arts


def compare_article(where, got, want):
    for key, value in want.items():
        if key == "attachments":
            g = [(t["name"], t["media_type"], t["data"]) for t in got["attachments"]]
            check(g == value, f"{where}: attachments {[(n, m, len(x)) for n, m, x in g]}, "
                  f"expected {[(n, m, len(x)) for n, m, x in value]}")
        else:
            check(got.get(key) == value, f"{where}: {key} is {got.get(key)!r}, expected {value!r}")
    check(got["published_text"] == B.rfc3339(want["published"]), f"{where}: published text")


def test_packed(cli, d):
    before = len(FAILURES)
    sk, pk_file = os.path.join(d, "fresh.sk"), os.path.join(d, "fresh.pk")
    r = subprocess.run([cli, "keygen", "--no-passphrase", "--secret-key", sk,
                        "--public-key", pk_file], capture_output=True, text=True)
    if not check(r.returncode == 0, f"keygen failed: {r.stderr}"):
        return []
    pk = B.read_public_key_file(pk_file)
    check(r.stdout.strip() == B.public_key_text(pk), "keygen printed another key than it wrote")
    with open(sk, "rb") as f:
        seed = B.open_secret_key(f.read())
    check(bytes(nacl.signing.SigningKey(seed).verify_key) == pk, "keygen: sk and pk differ")

    src = os.path.join(d, "articles")
    os.makedirs(src)
    arts = make_articles(src)
    plans = [  # (files, options, sequence, created)
        ([0, 1, 2], ["--created", "2024-06-01T00:00:00Z"], 1, "2024-06-01T00:00:00Z"),
        ([3], ["--created", "2024-06-02T08:00:00Z", "--level", "1"], 2, "2024-06-02T08:00:00Z"),
        ([3, 0], ["--created", "1970-01-01T00:00:00Z", "--sequence", "7"], 7, "1970-01-01T00:00:00Z"),
    ]
    bundles = []
    for n, (which, opts, seq, created) in enumerate(plans):
        out = os.path.join(d, f"fresh-{n}.bundle")
        r = subprocess.run([cli, "pack", "--secret-key", sk, "--output", out, *opts,
                            *[arts[i][0] for i in which]], capture_output=True, text=True)
        if not check(r.returncode == 0, f"pack {n} failed: {r.stderr}"):
            continue
        with open(out, "rb") as f:
            data = f.read()
        try:
            b = B.read_bundle(data, {pk})
        except (B.Refused, B.Untrusted) as e:
            fail(f"fresh bundle {n} refused by the independent reader: {e}")
            continue
        check(r.stdout.strip() == b["id"], f"bundle {n}: pack printed id {r.stdout.strip()}, "
              f"the independent reader computes {b['id']}")
        check(b["id"] == hashlib.blake2b(CONTEXT + data[:104], digest_size=32).hexdigest(),
              f"bundle {n}: id is not BLAKE2b-256 of the signed message")
        check(b["publisher"] == pk, f"bundle {n}: publisher")
        check(b["sequence"] == seq, f"bundle {n}: sequence {b['sequence']}, expected {seq}")
        check(b["created"] == epoch(created), f"bundle {n}: created {b['created_text']}")
        check(b["created_text"] == created, f"bundle {n}: created text {b['created_text']}")
        want = sorted((arts[i][1] for i in which), key=lambda a: a["id"].encode())
        check([a["id"] for a in b["articles"]] == [a["id"] for a in want],
              f"bundle {n}: articles {[a['id'] for a in b['articles']]}")
        for got, exp in zip(b["articles"], want):
            compare_article(f"bundle {n} article {exp['id']}", got, exp)
        # inspect names the same id, sequence and articles.
        r = subprocess.run([cli, "inspect", out], capture_output=True, text=True)
        check(f"id:          {b['id']}" in r.stdout, f"bundle {n}: inspect shows another id")
        for a in want:
            check(f"  - {a['id']}  {B.rfc3339(a['published'])}  {a['content_type']}" in r.stdout,
                  f"bundle {n}: inspect does not list {a['id']} as written")
        bundles.append((out, data, want))

    # unpack writes each body and attachment byte for byte as given.
    lib = os.path.join(d, "library")
    r = subprocess.run([cli, "unpack", "--trust", pk_file, "--output", lib,
                        *[b[0] for b in bundles[:2]]], capture_output=True, text=True)
    if check(r.returncode == 0, f"unpack failed: {r.stderr}"):
        for _, _, want in bundles[:2]:
            for a in want:
                folder = os.path.join(lib, pk.hex(), a["id"])
                bodies = glob.glob(os.path.join(folder, "body.*"))
                check(len(bodies) == 1 and open(bodies[0], "rb").read() == a["body"],
                      f"unpack: body of {a['id']} is not the input file's body")
                for name, _, blob in a["attachments"]:
                    p = os.path.join(folder, name)
                    check(os.path.exists(p) and open(p, "rb").read() == blob,
                          f"unpack: attachment {name} of {a['id']} differs")
    got = cli_verify(cli, pk_file, [b[0] for b in bundles])
    check(all(v == "ok" for v in got.values()), f"verify refuses fresh bundles: {got}")
    part_done(f"packed: {len(bundles)} fresh bundles, {sum(len(b[2]) for b in bundles)} "
              "articles read back as written", before)
    return pk_file, pk, bundles


# --- part 3: damaged copies of the fresh bundles -------------------------------------


def mutations(data):
    """(name, bytes): a byte flipped in each region, truncations, an extra byte."""
    def flip(at):
        b = bytearray(data)
        b[at] ^= 0x01
        return bytes(b)
    size = len(data)
    fields = {"magic": 0, "version": 4, "flags": 5, "reserved": 6, "publisher": 20,
              "sequence": 40, "created": 48, "payload_len": 56, "payload_len-high": 63,
              "content_len": 64, "content_len-high": 70, "payload_hash": 90}
    out = [(f"header {k} (offset {o})", flip(o)) for k, o in fields.items()]
    out += [("signature first byte", flip(104)), ("signature R", flip(120)),
            ("signature S", flip(150)), ("signature last byte", flip(167))]
    for at in (168, 172, 168 + (size - 168) // 2, size - 1):
        out.append((f"payload (offset {at})", flip(at)))
    for n in (size - 1, size - 10, 168, 167, 104, 103, 4, 0):
        out.append((f"truncated to {n} bytes", data[:n]))
    out += [("one byte appended", data + b"\n"), ("zero byte appended", data + b"\0"),
            ("bundle doubled", data + data)]
    return out


def test_mutated(cli, d, pk_file, pk, bundles):
    before = len(FAILURES)
    mdir = os.path.join(d, "mutated")
    os.makedirs(mdir)
    cases = []
    for n, (_, data, _) in enumerate(bundles):
        for k, (name, m) in enumerate(mutations(data)):
            path = os.path.join(mdir, f"b{n}-m{k:02d}.bundle")
            with open(path, "wb") as f:
                f.write(m)
            cases.append((path, f"bundle {n}, {name}", outcome(m, {pk})[0]))
    got = cli_verify(cli, pk_file, [c[0] for c in cases])
    for path, what, py in cases:
        check(py not in ("ok", "untrusted"), f"{what}: accepted by the independent reader")
        check(got[path] != "ok", f"{what}: accepted by samizdat verify")
        check(got[path] == py, f"{what}: samizdat verify says {got[path]}, "
              f"the independent reader {py}")
    part_done(f"mutated: {len(cases)} damaged bundles refused by both readers", before)


# --- part 4: crafted bundles with one defect each ------------------------------------


def s8(b):
    return bytes([len(b)]) + b


def s16(b):
    return struct.pack("<H", len(b)) + b


def enc(v):
    return v.encode() if isinstance(v, str) else v


def article(id="a", title="Title", published=0, ctype=2, url=b"", authors=(), lang=b"",
            summary=b"", body=b"Body.", atts=()):
    """An article encoded as section 2 says, every field as given (raw)."""
    o = s8(enc(id)) + s16(enc(title)) + struct.pack("<qB", published, ctype) + s16(enc(url))
    o += bytes([len(authors)]) + b"".join(s16(enc(a)) for a in authors)
    o += s8(enc(lang)) + s16(enc(summary))
    body = enc(body)
    o += struct.pack("<I", len(body)) + body + struct.pack("<H", len(atts))
    for name, media_type, data in atts:
        o += s8(enc(name)) + s8(enc(media_type)) + struct.pack("<I", len(data)) + data
    return o


def container(*arts, count=None):
    return struct.pack("<I", len(arts) if count is None else count) + b"".join(arts)


def frame(blocks, fcs=None, single=False, wd=0x38, checksum=None, dict_id=b"", fhd_extra=0):
    """A zstd frame (RFC 8878) written by hand: blocks are (type, bytes) for Raw,
    (1, (byte, size)) for RLE."""
    fhd = {0: 0, 1: 1, 2: 2, 4: 3}[len(dict_id)] | fhd_extra
    if fcs is not None:
        fhd |= 2 << 6  # 4-byte Frame_Content_Size
    if single:
        fhd |= 0x20
    if checksum is not None:
        fhd |= 0x04
    o = struct.pack("<IB", B.ZSTD_MAGIC, fhd) + (b"" if single else bytes([wd])) + dict_id
    if fcs is not None:
        o += struct.pack("<I", fcs)
    for i, (kind, data) in enumerate(blocks):
        size = data[1] if kind == 1 else len(data)
        o += (int(i == len(blocks) - 1) | kind << 1 | size << 3).to_bytes(3, "little")
        o += bytes([data[0]]) if kind == 1 else data
    return o + (checksum or b"")


def overrun(content, single, honest=False):
    """content compressed by libzstd (Compressed blocks), under a frame header
    written here whose Frame_Content_Size is one byte short (or honest)."""
    f = zstandard.ZstdCompressor(level=19, write_content_size=True).compress(content)
    blocks = f[B.parse_frame(f)[5]:]
    size = len(content) - (0 if honest else 1)
    if single:
        return struct.pack("<IBI", B.ZSTD_MAGIC, 0xA0, size) + blocks
    return struct.pack("<IBBI", B.ZSTD_MAGIC, 0x80, 0x38, size) + blocks


class Signer:
    def __init__(self, seed):
        self.key = nacl.signing.SigningKey(seed)

    def bundle(self, content, payload=None, content_len=None, payload_len=None,
               version=1, flags=0, reserved=0, magic=b"SZBN", sequence=100, created=0):
        """A bundle signed as 1.2 says; every header field may be overridden."""
        if payload is None:
            payload = zstandard.ZstdCompressor(level=3, write_content_size=True,
                                               write_checksum=False).compress(content)
        header = (magic + struct.pack("<BBH", version, flags, reserved)
                  + bytes(self.key.verify_key)
                  + struct.pack("<QqQQ", sequence, created,
                                len(payload) if payload_len is None else payload_len,
                                len(content) if content_len is None else content_len)
                  + hashlib.blake2b(payload, digest_size=32).digest())
        return header + self.key.sign(CONTEXT + header).signature + payload


def crafted_cases(sign, other):
    """(name, bundle, expected outcome per BUNDLE.md): both readers must
    reach that outcome."""
    A = article
    C = container(A())
    n = len(C)
    raw = frame([(0, C)], fcs=n)
    big = container(A(body="x" * 2000))
    rle_at = big.index(b"x" * 2000)
    huge = container(A(body="h" * (200 << 10)))
    BLOCK = (128 << 10) + 1
    lie = container(A(body="hello world " * 200))
    xxh = zstandard.ZstdCompressor(write_checksum=True).compress(C)[-4:]
    cases = [
        # 1.3 steps 1..6: the header, before any zstd.
        ("minimal valid bundle", sign.bundle(C), "ok"),
        ("a bundle of another key", other.bundle(C), "untrusted"),
        ("103 bytes", sign.bundle(C)[:103], "EBADMSG"),
        ("header only", sign.bundle(C)[:104], "EBADMSG"),
        ("version 0", sign.bundle(C, version=0), "EVERSION"),
        ("version 2 and flags 1", sign.bundle(C, version=2, flags=1), "EVERSION"),
        ("reserved 0x0100", sign.bundle(C, reserved=0x100), "ECANON"),
        ("flags 1 and content_len 2^40", sign.bundle(C, flags=1, content_len=1 << 40), "ECANON"),
        ("content_len 2^64-1, payload_len 0", sign.bundle(C, b"", content_len=2**64 - 1), "ETOOBIG"),
        ("content_len 64 MiB + 1", sign.bundle(C, raw, content_len=(64 << 20) + 1), "ETOOBIG"),
        ("content_len 64 MiB is under the cap", sign.bundle(C, raw, content_len=64 << 20), "ELENGTH"),
        ("content_len 29", sign.bundle(C[:29], frame([(0, C[:29])], fcs=29)), "EBADMSG"),
        ("content_len 30 passes step 3", sign.bundle(C[:30], frame([(0, C[:30])], fcs=30)), "EBADMSG"),
        ("payload_len 0", sign.bundle(C, b""), "EBADMSG"),
        ("payload_len at ZSTD_COMPRESSBOUND",
         sign.bundle(C, raw + bytes(B.zstd_compress_bound(n) - len(raw))), "ETRAILING"),
        ("payload_len above ZSTD_COMPRESSBOUND",
         sign.bundle(C, raw + bytes(B.zstd_compress_bound(n) + 1 - len(raw))), "ETOOBIG"),
        # 1.3 step 8: one bounded zstd frame.
        ("raw-block frame", sign.bundle(C, raw), "ok"),
        ("single-segment frame", sign.bundle(C, frame([(0, C)], fcs=n, single=True)), "ok"),
        # The checksum is the low 32 bits of XXH64 of the content: libzstd's.
        ("frame with a correct checksum", sign.bundle(C, frame([(0, C)], fcs=n, checksum=xxh)), "ok"),
        ("frame with a wrong checksum", sign.bundle(C, frame([(0, C)], fcs=n, checksum=bytes(4))), "EBADMSG"),
        ("window exactly 2^24", sign.bundle(C, frame([(0, C)], fcs=n, wd=0x70)), "ok"),
        ("window 2^24 + 2^21", sign.bundle(C, frame([(0, C)], fcs=n, wd=0x71)), "ETOOBIG"),
        ("no Frame_Content_Size", sign.bundle(C, frame([(0, C)])), "EBADMSG"),
        ("no Frame_Content_Size, window 2^25", sign.bundle(C, frame([(0, C)], wd=0x78)), "EBADMSG"),
        ("Frame_Content_Size + 1, window 2^25", sign.bundle(C, frame([(0, C)], fcs=n + 1, wd=0x78)), "ELENGTH"),
        ("window 2^25, a byte after the frame", sign.bundle(C, frame([(0, C)], fcs=n, wd=0x78) + b"\0"), "ETRAILING"),
        ("Frame_Content_Size + 1, a byte after the frame", sign.bundle(C, frame([(0, C)], fcs=n + 1) + b"\0"), "ETRAILING"),
        ("no Frame_Content_Size, a byte after the frame", sign.bundle(C, frame([(0, C)]) + b"\0"), "ETRAILING"),
        ("frame ends short", sign.bundle(C, raw[:-1]), "EBADMSG"),
        ("frame produces a byte less", sign.bundle(C, frame([(0, C[:-1])], fcs=n)), "EBADMSG"),
        ("frame produces a byte more", sign.bundle(C, frame([(0, C + b"x")], fcs=n)), "ELENGTH"),
        ("RLE block of 128 KiB, content size 64",
         sign.bundle(container(A(body="x" * 30)), frame([(1, (0x41, 128 << 10))], fcs=64), content_len=64), "ELENGTH"),
        ("compressed blocks produce a byte more (single segment)",
         sign.bundle(lie[:-1], overrun(lie, True), content_len=len(lie) - 1), "ELENGTH"),
        ("compressed blocks produce a byte more (window 128 KiB)",
         sign.bundle(lie[:-1], overrun(lie, False), content_len=len(lie) - 1), "ELENGTH"),
        ("the same blocks, honest (window 128 KiB)",
         sign.bundle(lie, overrun(lie, False, honest=True)), "ok"),
        # RFC 8878 limits every block to Block_Maximum_Size (1.3 step 8.2),
        # which libzstd's one-shot decoder does not check for Raw and RLE
        # blocks: a reader built on it must check it itself.
        ("Raw block larger than the 1 KiB window",
         sign.bundle(big, frame([(0, big)], fcs=len(big), wd=0x00)), "EBADMSG"),
        ("RLE block larger than the 1 KiB window",
         sign.bundle(big, frame([(0, big[:rle_at]), (1, (0x78, 2000)), (0, big[rle_at + 2000:])],
                                fcs=len(big), wd=0x00)), "EBADMSG"),
        ("Raw block of 128 KiB + 1 in a 512 KiB window",
         sign.bundle(huge, frame([(0, huge[:BLOCK]), (0, huge[BLOCK:])], fcs=len(huge), wd=0x48)),
         "EBADMSG"),
        ("Raw blocks of 128 KiB in a 512 KiB window",
         sign.bundle(huge, frame([(0, huge[:BLOCK - 1]), (0, huge[BLOCK - 1:])], fcs=len(huge), wd=0x48)),
         "ok"),
        ("skippable frame", sign.bundle(C, struct.pack("<II", 0x184D2A50, n) + C), "EBADMSG"),
        ("legacy frame magic", sign.bundle(C, struct.pack("<I", 0xFD2FB527) + C), "EBADMSG"),
        ("reserved bit of the frame header", sign.bundle(C, frame([(0, C)], fcs=n, fhd_extra=0x08)), "EBADMSG"),
        ("reserved block type", sign.bundle(C, frame([(3, C)], fcs=n)), "EBADMSG"),
        ("a dictionary id", sign.bundle(C, frame([(0, C)], fcs=n, dict_id=b"\x07")), "EBADMSG"),
        ("two raw blocks", sign.bundle(big, frame([(0, big[:1000]), (0, big[1000:])], fcs=len(big))), "ok"),
        # 2: the container's structure.
        ("count 0", sign.bundle(container(count=0) + bytes(40)), "EINVAL"),
        ("count 4097", sign.bundle(container(A(), count=4097)), "ETOOBIG"),
        ("count 2, one article", sign.bundle(container(A(), count=2)), "EBADMSG"),
        ("a byte after the last article", sign.bundle(C + b"\0"), "ECANON"),
        ("65 authors, then short", sign.bundle(container(A(authors=["x"] * 65))[:-1]), "ETOOBIG"),
        ("body_len 32 MiB + 1, short", sign.bundle(container(A(body=b"")) [:-6]
                                                   + struct.pack("<I", (32 << 20) + 1) + b"xx"), "ETOOBIG"),
        ("body of 32 MiB", sign.bundle(container(A(body=b"b" * B.MIB32))), "ok"),
        ("attachment of 32 MiB + 1, short",
         sign.bundle(container(A(atts=[("a", "a/b", b"")]))[:-4] + struct.pack("<I", B.MIB32 + 1)), "ETOOBIG"),
        ("4096 articles", sign.bundle(container(*[A(f"a{i:04d}") for i in range(4096)])), "ok"),
        ("256 attachments", sign.bundle(container(A(atts=[(f"n{i:03d}", "a/b", b"x") for i in range(256)]))), "ok"),
        ("257 attachments, short", sign.bundle(C[:-2] + struct.pack("<H", 257) + bytes(20)), "ETOOBIG"),
        # 2.1: field rules.
        ("id empty", sign.bundle(container(A(""))), "EBADID"),
        ("id of 100 bytes", sign.bundle(container(A("a" * 100))), "ok"),
        ("id of 101 bytes", sign.bundle(container(A("a" * 101))), "ETOOBIG"),
        ("id starting with -", sign.bundle(container(A("-a"))), "EBADID"),
        ("id ..", sign.bundle(container(A(".."))), "EBADID"),
        ("id with /", sign.bundle(container(A("a/b"))), "EBADID"),
        ("id _x-.y", sign.bundle(container(A("_x-.y"))), "ok"),
        ("title empty", sign.bundle(container(A(title=""))), "EINVAL"),
        ("title 1024 bytes", sign.bundle(container(A(title="t" * 1024))), "ok"),
        ("title 1025 bytes", sign.bundle(container(A(title="t" * 1025))), "ETOOBIG"),
        ("title with U+0001", sign.bundle(container(A(title="a\x01"))), "EINVAL"),
        ("title with DEL", sign.bundle(container(A(title="a\x7f"))), "EINVAL"),
        ("title with U+0000", sign.bundle(container(A(title="a\x00"))), "EUTF8"),
        ("title with U+0085 (not a control here)", sign.bundle(container(A(title="a\u0085"))), "ok"),
        ("title overlong /", sign.bundle(container(A(title=b"\xc0\xaf"))), "EUTF8"),
        ("title surrogate", sign.bundle(container(A(title=b"\xed\xa0\x80"))), "EUTF8"),
        ("title above U+10FFFF", sign.bundle(container(A(title=b"\xf4\x90\x80\x80"))), "EUTF8"),
        ("published 0001-01-01T00:00:00Z", sign.bundle(container(A(published=B.TIME_MIN))), "ok"),
        ("published a second earlier", sign.bundle(container(A(published=B.TIME_MIN - 1))), "EINVAL"),
        ("published 9999-12-31T23:59:59Z", sign.bundle(container(A(published=B.TIME_MAX))), "ok"),
        ("published a second later", sign.bundle(container(A(published=B.TIME_MAX + 1))), "EINVAL"),
        ("ctype 0", sign.bundle(container(A(ctype=0))), "EINVAL"),
        ("ctype 4", sign.bundle(container(A(ctype=4))), "EINVAL"),
        ("url http:// alone", sign.bundle(container(A(url="http://"))), "ok"),
        ("url HTTP://x", sign.bundle(container(A(url="HTTP://x"))), "EINVAL"),
        ("url ftp://x", sign.bundle(container(A(url="ftp://x"))), "EINVAL"),
        ("url with a space", sign.bundle(container(A(url="http://a b"))), "EINVAL"),
        ("url with <", sign.bundle(container(A(url="http://a<"))), "EINVAL"),
        ("url with a TAB", sign.bundle(container(A(url="http://a\tb"))), "EINVAL"),
        ("url with Cyrillic", sign.bundle(container(A(url="http://пример.рф/"))), "ok"),
        ("url with Latin-1", sign.bundle(container(A(url=b"http://caf\xe9"))), "EUTF8"),
        ("url of 2048 bytes", sign.bundle(container(A(url="http://" + "a" * 2041))), "ok"),
        ("url of 2049 bytes", sign.bundle(container(A(url="ftp://" + "a" * 2043))), "ETOOBIG"),
        ("64 authors, given order", sign.bundle(container(A(authors=["b", "a"] * 32))), "ok"),
        ("author empty", sign.bundle(container(A(authors=[""]))), "EINVAL"),
        ("author of 257 bytes", sign.bundle(container(A(authors=["a" * 257]))), "ETOOBIG"),
        ("author with TAB", sign.bundle(container(A(authors=["a\tb"]))), "EINVAL"),
        ("lang e", sign.bundle(container(A(lang="e"))), "EINVAL"),
        ("lang EN", sign.bundle(container(A(lang="EN"))), "ok"),
        ("lang zh-Hant-TW", sign.bundle(container(A(lang="zh-Hant-TW"))), "ok"),
        ("lang x-private", sign.bundle(container(A(lang="x-private"))), "EINVAL"),
        ("lang en--gb", sign.bundle(container(A(lang="en--gb"))), "EINVAL"),
        ("lang en_GB", sign.bundle(container(A(lang="en_GB"))), "EINVAL"),
        ("lang of 36 bytes", sign.bundle(container(A(lang="a" * 36))), "ETOOBIG"),
        ("summary TAB LF CR", sign.bundle(container(A(summary="a\tb\nc\r\n"))), "ok"),
        ("summary with VT", sign.bundle(container(A(summary="a\x0b"))), "EINVAL"),
        ("summary of 4097 bytes", sign.bundle(container(A(summary="s" * 4097))), "ETOOBIG"),
        ("body empty", sign.bundle(container(A(body="")) + bytes(3)), "EINVAL"),
        ("body with controls", sign.bundle(container(A(body="a\x01\x7f\x1b"))), "ok"),
        ("body with NUL", sign.bundle(container(A(body="a\x00"))), "EUTF8"),
        ("body in Latin-1", sign.bundle(container(A(body=b"caf\xe9"))), "EUTF8"),
        ("attachment", sign.bundle(container(A(atts=[("a.png", "image/png", b"\x89")]))), "ok"),
        ("attachment name .png", sign.bundle(container(A(atts=[(".png", "image/png", b"x")]))), "EBADID"),
        ("attachment empty", sign.bundle(container(A(atts=[("a", "a/b", b"")]))), "EINVAL"),
        ("media type Image/png", sign.bundle(container(A(atts=[("a", "Image/png", b"x")]))), "EINVAL"),
        ("media type a/b/c", sign.bundle(container(A(atts=[("a", "a/b/c", b"x")]))), "EINVAL"),
        ("media type /b", sign.bundle(container(A(atts=[("a", "/b", b"x")]))), "EINVAL"),
        ("media type a+b.c-d_e/0", sign.bundle(container(A(atts=[("a", "a+b.c-d_e/0", b"x")]))), "ok"),
        ("media type of 128 bytes", sign.bundle(container(A(atts=[("a", "a/" + "b" * 126, b"x")]))), "ETOOBIG"),
        # 2.2: canonical form.
        ("ids a, ab", sign.bundle(container(A("a"), A("ab"))), "ok"),
        ("ids ab, a", sign.bundle(container(A("ab"), A("a"))), "ECANON"),
        ("ids B, a (bytewise)", sign.bundle(container(A("B"), A("a"))), "ok"),
        ("ids a, B", sign.bundle(container(A("a"), A("B"))), "ECANON"),
        ("ids a, a", sign.bundle(container(A("a"), A("a"))), "EDUPID"),
        ("attachments b, a", sign.bundle(container(A(atts=[("b", "a/b", b"x"), ("a", "a/b", b"x")]))), "ECANON"),
        ("attachments a, a", sign.bundle(container(A(atts=[("a", "a/b", b"x"), ("a", "a/b", b"x")]))), "EDUPID"),
        # 2.3: which error when there are several.
        ("bad title, then the container ends short",
         sign.bundle(container(A(title="\x01"))[:-1]), "EBADMSG"),
        ("first article bad title, second one short",
         sign.bundle(container(A("a", title="\x01"), A("b"))[:-1]), "EINVAL"),
        ("id of 101 bytes, short", sign.bundle(container(A("a" * 101))[:-1]), "EBADMSG"),
        ("bad id and bad title", sign.bundle(container(A(".a", title="\x01"))), "EBADID"),
        ("bad title and bad published", sign.bundle(container(A(title=b"\xff", published=B.TIME_MIN - 1))), "EUTF8"),
        ("bad lang and empty author", sign.bundle(container(A(lang="a" * 36, authors=[""]))), "EINVAL"),
        ("bad body and bad summary", sign.bundle(container(A(body=b"\xff", summary="\x01"))), "EINVAL"),
        ("title of 1025 bytes, Latin-1", sign.bundle(container(A(title=b"\xff" * 1025))), "ETOOBIG"),
        ("ids b, a with bad title", sign.bundle(container(A("b"), A("a", title="\x01"))), "EINVAL"),
        ("ids b, a, then c with bad title",
         sign.bundle(container(A("b"), A("a"), A("c", title="\x01"))), "ECANON"),
        ("ids b, a, then the container ends short",
         sign.bundle(container(A("b"), A("a"), A("c"))[:-1]), "ECANON"),
        ("bad title and attachments b, a",
         sign.bundle(container(A(title="\x01", atts=[("b", "a/b", b"x"), ("a", "a/b", b"x")]))), "ECANON"),
        ("attachments b, .a", sign.bundle(container(A(atts=[("b", "a/b", b"x"), (".a", "a/b", b"x")]))), "ECANON"),
        ("attachments b, a, then short",
         sign.bundle(container(A(atts=[("b", "a/b", b"x"), ("a", "a/b", b"xy")]))[:-1]), "EBADMSG"),
        ("bad title and a byte after the last article", sign.bundle(container(A(title="\x01")) + b"\0"), "EINVAL"),
        ("count 0 and bytes after it", sign.bundle(container(count=0) + bytes(40)), "EINVAL"),
    ]
    return cases


def test_crafted(cli, d, vdir):
    before = len(FAILURES)
    with open(os.path.join(vdir, "publisher.seed.hex")) as f:
        sign = Signer(bytes.fromhex(f.read().strip()))
    with open(os.path.join(vdir, "other.seed.hex")) as f:
        other = Signer(bytes.fromhex(f.read().strip()))
    pk = bytes(sign.key.verify_key)
    cdir = os.path.join(d, "crafted")
    os.makedirs(cdir)
    cases = crafted_cases(sign, other)
    paths = []
    for k, (name, data, expected) in enumerate(cases):
        path = os.path.join(cdir, f"c{k:03d}.bundle")
        with open(path, "wb") as f:
            f.write(data)
        paths.append(path)
        got = outcome(data, {pk})[0]
        check(got == expected, f"crafted '{name}': independent reader says {got}, BUNDLE.md {expected}")
    got = cli_verify(cli, os.path.join(vdir, "publisher.pk"), paths)
    for path, (name, _, expected) in zip(paths, cases):
        check(got[path] == expected, f"crafted '{name}': samizdat verify says {got[path]}, "
              f"BUNDLE.md {expected}")
    part_done(f"crafted: {len(cases)} bundles reach the outcome BUNDLE.md gives, "
              "in both readers", before)


def main(argv):
    if len(argv) != 2:
        print("usage: bundle_spec.py test CLI SOURCE_DIR", file=sys.stderr)
        return 2
    cli, source = os.path.abspath(argv[0]), argv[1]
    vdir = os.path.join(source, "tests", "vectors")
    start = time.monotonic()
    d = tempfile.mkdtemp(prefix="sz-spec-")
    try:
        test_vectors(vdir)
        packed = test_packed(cli, d)
        if packed:
            test_mutated(cli, d, *packed)
        test_crafted(cli, d, vdir)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if FAILURES:
        print(f"spec_bundle: {len(FAILURES)} failure(s)", file=sys.stderr)
        return 1
    print(f"spec_bundle: all passed in {time.monotonic() - start:.1f} s")
    return 0
