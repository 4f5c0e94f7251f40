#!/usr/bin/env python3
"""The independent writer (bundle_writer.py) against the real programs.

    bundle_writer_test.py CLI SOURCE_DIR [DAEMON]

CLI is the samizdat binary, DAEMON (optional) samizdatd. Exits 77 when
PyNaCl or python-zstandard is missing. Parts, each printing one line:

  keys        key files written here are used by samizdat pack (with and
              without a passphrase, the passphrase given as samizdat(1)
              says: the first line of --passphrase-file, never argv), and its
              bundles verify under the public key written here, as a file
              and as text; keys made by samizdat keygen are opened here and
              the bundles signed with them verify in samizdat verify. The
              sequence record SK.seq is shared with pack. Key files that
              break a rule of BUNDLE.md 3.2 are refused.
  bundles     bundles written here (several articles, every optional field,
              Markdown, HTML and plain text, Russian, attachments with a PNG,
              several sequences) verify with their id, inspect shows every
              field as written, and unpack writes each body and attachment
              byte for byte, with titles, dates, authors, language, url and
              summary on the pages. The test vectors, decoded and written
              again here, come out byte for byte (2.2: one encoding).
  boundaries  the limits of BUNDLE.md 2.1 and 1.3 step 3, at the limit
              (accepted) and one past it (refused for the reason the spec
              names, in the writer's own checks and in samizdat verify).
  daemon      (with DAEMON) samizdatd publishes with a passphrase key
              written here.
"""

import glob
import html
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

try:
    import nacl.bindings  # noqa: F401
    import zstandard
except ImportError as e:
    print(f"spec_writer: needs PyNaCl and python-zstandard ({e}); skipped", file=sys.stderr)
    sys.exit(77)

sys.dont_write_bytecode = True  # leave no __pycache__ in the sources
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bundle_writer as W  # noqa: E402
import bundle_spec as R  # noqa: E402  (the independent reader, as a second opinion)

FAILURES = []
PY = sys.executable
WRITER = os.path.join(HERE, "bundle_writer.py")
MIB32 = 32 << 20


def fail(msg):
    FAILURES.append(msg)
    print("FAIL: " + msg, file=sys.stderr, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def part_done(text, before):
    n = len(FAILURES) - before
    print(f"{text}: " + ("ok" if n == 0 else f"{n} FAILURE(S)"), flush=True)


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(args, **kw)


def write(path, data, mode=0o644):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    return path


# samizdat verify's words for each refusal, mapped to BUNDLE.md's error names.
REASONS = [
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


def verify(cli, trust, paths, extra=()):
    """samizdat verify over paths: {path: ('ok', id, sequence) or (error name,)}."""
    r = run([cli, "verify", "--trust", trust, *extra, *paths])
    got = {}
    for line in r.stdout.splitlines():
        m = re.match(r"OK (\S+) ([0-9a-f]{64}) sequence (\d+) ", line)
        if m:
            got[m.group(1)] = ("ok", m.group(2), int(m.group(3)))
    for line in r.stderr.splitlines():
        for p in paths:
            if line.startswith(f"samizdat: {p}: refused: "):
                reason = line.split(": refused: ", 1)[1]
                got[p] = (next((c for t, c in REASONS if t in reason), "unknown: " + reason),)
    for p in paths:
        got.setdefault(p, (f"no verdict (status {r.returncode}): {r.stderr.strip()[-300:]}",))
    check(any(v[0] != "ok" for v in got.values()) == (r.returncode != 0),
          f"verify: status {r.returncode} does not match its verdicts")
    return got


def tiny_png():
    """A 2x1 RGB PNG, made here."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\x00\x00\xff"))
            + chunk(b"IEND", b""))


# 1022 bytes with white space and non-ASCII: with CR, the longest line.
LONG_PASSPHRASE = (" ünïcode and spaces\t".encode() * 50)[:1022]
ARTICLE_MD = b"---\ntitle: Packed by samizdat\ndate: 2024-03-01T10:00:00Z\n---\nBody.\n"


# --- part 1: keys -------------------------------------------------------------------


def sk_refused(cli, d, name, data):
    """pack with a damaged or invalid secret key file: exit 4, refused as a key file."""
    sk = write(os.path.join(d, name + ".sk"), data, 0o600)
    pw = write(os.path.join(d, name + ".pw"), b"any passphrase\n", 0o600)
    art = write(os.path.join(d, name + ".md"), ARTICLE_MD)
    r = run([cli, "pack", "--secret-key", sk, "--passphrase-file", pw,
             "--output", os.path.join(d, name + ".bundle"), art])
    return r.returncode, r.stderr


def test_keys(cli, d):
    before = len(FAILURES)
    art = write(os.path.join(d, "packed.md"), ARTICLE_MD)

    # Keys written here, no passphrase; the public key file with a comment,
    # a blank line and CR LF (3.1: the first line neither blank nor a comment).
    kp = W.KeyPair.generate()
    text = W.public_key_text(kp.public)
    sk0, pk0 = os.path.join(d, "py0.sk"), os.path.join(d, "py0.pk")
    W.write_secret_key_file(sk0, kp.seed)
    W.write_public_key_file(pk0, kp.public, comment="written by bundle_writer", newline="\r\n")
    check(os.stat(sk0).st_mode & 0o777 == 0o600, "writer: secret key mode is not 0600")
    out = os.path.join(d, "py0-1.bundle")
    r = run([cli, "pack", "--secret-key", sk0, "--output", out, art])
    if check(r.returncode == 0, f"pack with a secret key written here: {r.stderr}"):
        want_id = W.bundle_id(open(out, "rb").read())
        check(r.stdout.strip() == want_id, "pack printed another id than 1.2 gives")
        for trust in (pk0, text, text.upper(), f"  {text}\n"):
            got = verify(cli, trust, [out])[out]
            check(got == ("ok", want_id, 1), f"pack's bundle under the key written here "
                  f"(--trust {trust[:20]!r}...): {got}")
        check(verify(cli, W.public_key_text(W.KeyPair.generate().public), [out])[out]
              == ("untrusted",), "a bundle verified under another key")
    # The sequence record SK.seq is shared (1.4): pack used 1, the writer takes
    # 2, pack goes on with 3.
    seq = W.next_sequence(sk0)
    check(seq == 2, f"writer: next sequence after pack's first is {seq}")
    mine = write(os.path.join(d, "py0-2.bundle"),
                 W.make_bundle(kp.seed, [W.Article("w", "W", 0, "text/plain", b"w")], seq, 0))
    out3 = os.path.join(d, "py0-3.bundle")
    r = run([cli, "pack", "--secret-key", sk0, "--output", out3, art])
    got = verify(cli, pk0, [mine, out3])
    check(got[mine][0] == "ok" and got[mine][2] == 2, f"writer's bundle 2: {got[mine]}")
    check(got[out3][0] == "ok" and got[out3][2] == 3,
          f"pack after the writer's record: {got[out3]} (expected sequence 3)")

    # A passphrase key written by the writer's command line (passphrase read
    # from a file descriptor, default Argon2id limits), used by pack with the
    # passphrase in a --passphrase-file ending in CR LF, and with a pipe.
    passphrase = "Пароль: correct horse \u00e9 ".encode()
    sk1, pk1 = os.path.join(d, "py1.sk"), os.path.join(d, "py1.pk")
    rfd, wfd = os.pipe()
    # CR LF ends the line: neither is part of the passphrase.
    os.write(wfd, passphrase + b"\r\nnot the passphrase\n")
    os.close(wfd)
    r = run([PY, WRITER, "keygen", "--secret-key", sk1, "--public-key", pk1,
             "--passphrase-fd", str(rfd)], pass_fds=[rfd])
    os.close(rfd)
    if check(r.returncode == 0, f"writer keygen --passphrase-fd: {r.stderr}"):
        data = open(sk1, "rb").read()
        check(data[5] == 1 and struct.unpack_from("<QQ", data, 8) == (3, 256 << 20),
              "writer: passphrase key not kdf 1 with MODERATE limits")
        pwfile = write(os.path.join(d, "py1.pw"), passphrase + b"\r\n", 0o600)
        out = os.path.join(d, "py1.bundle")
        r = run([cli, "pack", "--secret-key", sk1, "--passphrase-file", pwfile,
                 "--output", out, art])
        if check(r.returncode == 0, f"pack with a passphrase key written here: {r.stderr}"):
            got = verify(cli, pk1, [out])[out]
            check(got[0] == "ok" and got[1] == W.bundle_id(open(out, "rb").read()),
                  f"pack's bundle (passphrase key written here): {got}")
        rfd, wfd = os.pipe()
        os.write(wfd, b"wrong " + passphrase + b"\n")
        os.close(wfd)
        r = run([cli, "pack", "--secret-key", sk1, "--passphrase-file", f"/dev/fd/{rfd}",
                 "--output", os.path.join(d, "py1-wrong.bundle"), art], pass_fds=[rfd])
        os.close(rfd)
        check(r.returncode == 4, f"pack with a wrong passphrase: status {r.returncode}")
    # The smallest Argon2id limits of 3.2 (fast), memlimit not a multiple of
    # 1 KiB; a NUL is a byte of the passphrase like any other.
    for ops, mem, pw in ((1, 8192, passphrase), (16, 8192, passphrase),
                         (2, 8192 + 100, b"\0" + passphrase + b"\0x")):
        sk = os.path.join(d, f"py-{ops}-{mem}.sk")
        W.write_secret_key_file(sk, kp.seed, pw, opslimit=ops, memlimit=mem)
        rfd, wfd = os.pipe()
        os.write(wfd, pw + b"\n")
        os.close(wfd)
        out = os.path.join(d, f"py-{ops}-{mem}.bundle")
        r = run([cli, "pack", "--secret-key", sk, "--passphrase-file", f"/dev/fd/{rfd}",
                 "--output", out, art], pass_fds=[rfd])
        os.close(rfd)
        if check(r.returncode == 0, f"pack with opslimit {ops}, memlimit {mem}: {r.stderr}"):
            check(verify(cli, pk0, [out])[out][0] == "ok", f"opslimit {ops}: bundle refused")

    # Key files that break 3.2 are refused as key files (exit 4), before the
    # passphrase is tried.
    def patched(base, off, fmt, value):
        b = bytearray(base)
        struct.pack_into(fmt, b, off, value)
        return bytes(b)
    k0 = W.secret_key_file_bytes(kp.seed)
    k1 = W.secret_key_file_bytes(kp.seed, b"any passphrase", 1, 8192)
    bad = [("version 2", patched(k0, 4, "<B", 2)), ("kdf 2", patched(k0, 5, "<B", 2)),
           ("reserved", patched(k0, 6, "<H", 1)), ("kdf 0, opslimit 1", patched(k0, 8, "<Q", 1)),
           ("kdf 0, memlimit 8192", patched(k0, 16, "<Q", 8192)),
           ("kdf 0, salt", patched(k0, 30, "<B", 1)), ("opslimit 0", patched(k1, 8, "<Q", 0)),
           ("opslimit 17", patched(k1, 8, "<Q", 17)),
           ("memlimit 8191", patched(k1, 16, "<Q", 8191)),
           ("memlimit 2^30 + 1", patched(k1, 16, "<Q", (1 << 30) + 1)),
           ("magic", b"SZBN" + k0[4:]), ("175 bytes", k0[:175]), ("177 bytes", k0 + b"\0")]
    for n, (name, data) in enumerate(bad):
        status, err = sk_refused(cli, d, f"bad{n}", data)
        check(status == 4 and "is not a samizdat secret key file" in err,
              f"secret key file with {name}: status {status}, {err.strip()}")
    # Sealed content that does not match: the AEAD or the key check refuses.
    other = W.KeyPair.generate()
    head = k0[:96]
    for name, plain in (("another seed", other.seed + kp.public),
                        ("another public key inside", kp.seed + other.public)):
        data = head + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            plain, head, head[40:64], bytes(32))
        status, err = sk_refused(cli, d, "seal-" + name.replace(" ", "-"), data)
        check(status == 4, f"secret key file sealing {name}: status {status}")
    damaged = bytearray(k0)
    damaged[120] ^= 1
    status, _ = sk_refused(cli, d, "damaged", bytes(damaged))
    check(status == 4, f"damaged secret key file: status {status}")

    # samizdat refuses an empty passphrase and a first line over 1023 bytes
    # (3.2), before it writes anything.
    for name, line in (("empty", b"\r\n"), ("1023 bytes and CR", b"p" * 1023 + b"\r\n")):
        pwf = write(os.path.join(d, "refused.pw"), line, 0o600)
        r = run([cli, "keygen", "--secret-key", os.path.join(d, "refused.sk"),
                 "--public-key", os.path.join(d, "refused.pk"), "--passphrase-file", pwf])
        check(r.returncode == 4 and not os.path.exists(os.path.join(d, "refused.sk")),
              f"keygen with a passphrase line {name}: status {r.returncode}")
    # The reverse: keys made by samizdat keygen, opened here (the passphrase
    # as long as samizdat takes it, its line ending in CR LF).
    for label, opts, pw in (("no passphrase", ["--no-passphrase"], None),
                            ("passphrase", None, LONG_PASSPHRASE)):
        sk, pk = os.path.join(d, f"cli-{label[:2]}.sk"), os.path.join(d, f"cli-{label[:2]}.pk")
        if opts is None:
            opts = ["--passphrase-file", write(sk + ".pw", pw + b"\r\n", 0o600)]
        r = run([cli, "keygen", "--secret-key", sk, "--public-key", pk, *opts])
        if not check(r.returncode == 0, f"keygen ({label}): {r.stderr}"):
            continue
        try:
            seed = W.open_secret_key_file(open(sk, "rb").read(), pw)
        except ValueError as e:
            fail(f"writer cannot open keygen's secret key ({label}): {e}")
            continue
        pub = W.KeyPair(seed).public
        check(W.public_key_from_text(open(pk).read()) == pub,
              f"keygen ({label}): its public key file is not the secret key's")
        check(r.stdout.strip() == W.public_key_text(pub),
              f"keygen ({label}) printed {r.stdout.strip()}, 3.1 gives {W.public_key_text(pub)}")
        if pw is not None:
            try:
                W.open_secret_key_file(open(sk, "rb").read(), pw + b"\r")
                fail("keygen's passphrase key opens with the line's CR")
            except ValueError:
                pass
        out = write(os.path.join(d, f"cli-{label[:2]}.bundle"), W.make_bundle(
            seed, [W.Article("signed-here", "Signed here", 1, "text/plain", b"x")], 5, 6))
        got = verify(cli, pk, [out])[out]
        check(got == ("ok", W.bundle_id(open(out, "rb").read()), 5),
              f"bundle signed here with keygen's key ({label}): {got}")
        if pw is not None:
            # The writer's pack, passphrase from the environment.
            spec = write(os.path.join(d, "one.json"), b'[{"id": "env", "title": "Env", '
                         b'"published": 0, "content_type": "text/plain", "body": "e"}]')
            env = dict(os.environ, SZ_WRITER_PASSPHRASE=pw.decode() + "\n")
            out = os.path.join(d, "env.bundle")
            r = run([PY, WRITER, "pack", "--secret-key", sk, "--passphrase-env",
                     "SZ_WRITER_PASSPHRASE", "--output", out, "--sequence", "9", spec], env=env)
            if check(r.returncode == 0, f"writer pack --passphrase-env: {r.stderr}"):
                got = verify(cli, pk, [out])[out]
                check(got == ("ok", r.stdout.strip(), 9), f"writer pack's bundle: {got}")
    part_done("keys: written here and used by samizdat, made by keygen and used here", before)


# --- part 2: bundles written here ---------------------------------------------------


def rich_bundles(kp):
    """[(sequence, created, articles)], articles given out of order."""
    png = tiny_png()
    A, T = W.Article, W.Attachment
    md = ("# Report\n\nSome *Markdown* and a [link](https://example.org/).\n\n"
          "![a picture](figure.png)\n").encode()
    ru = ("# Свобода слова\n\nКаждый человек имеет право на свободу убеждений "
          "и на свободное выражение их.\n").encode()
    return [
        (1, 1717243200, [
            A("report-2024", "Quarterly report: \"press\" & <freedom>", 1717236000, "text/markdown",
              md, url="https://example.org/news/report-2024?lang=en&x=1",
              authors=["Zoë Writer", "Ann Author", "Bob & Co"], lang="en-GB",
              summary="Two lines:\r\nthe\tsummary & more.",
              attachments=[T("z-data.csv", "text/csv", b"a,b\r\n1,2\r\n"),
                           T("figure.png", "image/png", png),
                           T("Notes_1.txt", "text/plain", "Заметки\n".encode()),
                           T("blob.bin", "application/octet-stream", bytes(range(256)) * 3)]),
            A("about", "About", 0, "text/plain",
              b"About us.\n\tIndented\r\nCR LF, a bell \x07 and DEL \x7f are body bytes.\n"),
            A("page.html", "An HTML page", 1700000000, "text/html",
              b"<!DOCTYPE html>\n<html><head><title>x</title></head>"
              b"<body><h1>Heading</h1><p>Text &amp; more.</p></body></html>\n",
              url="http://example.net/page"),
        ]),
        (2, 1717329600, [
            A("svoboda-slova", "Свобода слова", 946684799, "text/markdown", ru,
              authors=["Анна Петрова"], lang="ru", url="http://пример.рф/статья",
              summary="Кратко о свободе слова."),
            A("a", "lower-case a", 10, "text/plain", b"a\n"),
            A("A", "upper-case A", 11, "text/plain", b"A\n"),
        ]),
        (7, 1717416000, [
            A("later", "A later bundle", 1717416000, "text/markdown", b"Later.\n",
              attachments=[T("only.png", "image/png", png)]),
        ]),
    ]


def inspect_lines(b, kp, arts):
    """What samizdat inspect must show for a bundle written here."""
    content_len = struct.unpack_from("<Q", b, 64)[0]
    want = [f"id:          {W.bundle_id(b)}", "version:     1",
            f"publisher:   {W.public_key_text(kp.public)}",
            f"size:        {len(b)} bytes (payload {len(b) - 168}, uncompressed {content_len})",
            f"articles:    {len(arts)}"]
    for a in sorted(arts, key=lambda a: a.id.encode()):
        want.append(f"  - {a.id}  {W.rfc3339(a.published)}  {a.content_type}  "
                    f"{len(a.body)} bytes  {a.title}")
        for t in sorted(a.attachments, key=lambda t: t.name.encode()):
            want.append(f"      attachment {t.name} ({t.media_type}, {len(t.data)} bytes)")
    return want


def text_of(fragment):
    return html.unescape(re.sub(r"<[^>]*>", "", fragment))


def article_folders(lib, kp):
    """{title: folder} from the library's index.html (an article's folder is
    its id, or id~N when another id of the publisher differs only in case)."""
    index = open(os.path.join(lib, "index.html"), encoding="utf-8").read()
    found = re.findall(rf'<a href="{kp.public.hex()}/([^/"]+)/index.html">(.*?)</a>', index)
    return {text_of(t): f for f, t in found}, index


def check_page(lib, kp, folder, a, seq, created):
    where = f"unpack: article {a.id}"
    check(folder == a.id or re.fullmatch(re.escape(a.id) + r"~\d+", folder),
          f"{where}: written to the folder {folder!r}")
    folder = os.path.join(lib, kp.public.hex(), folder)
    body = {"text/markdown": "body.md", "text/plain": "body.txt",
            "text/html": "body.html.txt"}[a.content_type]
    p = os.path.join(folder, body)
    check(os.path.exists(p) and open(p, "rb").read() == a.body, f"{where}: {body} is not the body")
    page = open(os.path.join(folder, "index.html"), encoding="utf-8").read()
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
    check(h1 and text_of(h1.group(1)) == a.title, f"{where}: title {h1 and h1.group(1)!r}")
    check(f'<time datetime="{W.rfc3339(a.published)}">' in page, f"{where}: published time")
    meta = re.search(r'<p class="meta"[^>]*>(.*?)</p>', page, re.S)
    meta = text_of(meta.group(1)) if meta else ""
    for au in a.authors:
        check(au in meta, f"{where}: author {au!r} not in {meta!r}")
    if a.lang:
        check(f'<html lang="{a.lang}">' in page, f"{where}: lang {a.lang}")
    if a.url:
        hrefs = [html.unescape(h) for h in re.findall(r'<a href="([^"]*)"', page)]
        check(a.url in hrefs, f"{where}: url {a.url!r} not linked")
    check(f"Bundle #{seq}, signed <time datetime=\"{W.rfc3339(created)}\">" in page,
          f"{where}: the page does not name bundle #{seq}")
    # The page lists the attachments in the bundle's order, each linked under
    # the name it has in the library: its own, or one made safe to open
    # (a "_" before it, ".txt" after it).
    listed = re.findall(r'<li><a href="([^"]+)">[^<]*</a> \(([^,]+), (\d+) bytes\)</li>', page)
    atts = sorted(a.attachments, key=lambda t: t.name.encode())
    check(len(listed) == len(atts), f"{where}: {len(listed)} attachments listed")
    for (href, media, size), t in zip(listed, atts):
        name = html.unescape(href)
        check(name in (t.name, "_" + t.name, t.name + ".txt", "_" + t.name + ".txt"),
              f"{where}: attachment {t.name} listed as {name}")
        check(media == t.media_type and int(size) == len(t.data),
              f"{where}: attachment {t.name} listed as {media}, {size} bytes")
        p = os.path.join(folder, name)
        check(os.path.exists(p) and open(p, "rb").read() == t.data,
              f"{where}: attachment {t.name} ({name}) is not what was written")
    return page


def test_bundles(cli, d, vdir):
    before = len(FAILURES)
    kp = W.KeyPair.generate()
    pk = os.path.join(d, "rich.pk")
    W.write_public_key_file(pk, kp.public)
    plans = rich_bundles(kp)
    paths, datas = [], []
    for n, (seq, created, arts) in enumerate(plans):
        data = W.make_bundle(kp.seed, arts, seq, created, level=(19, 3, 1)[n], checksum=(n == 1))
        datas.append(data)
        paths.append(write(os.path.join(d, f"rich-{seq}.bundle"), data))
        # The independent reader agrees with the writer, field by field.
        try:
            b = R.read_bundle(data, {kp.public})
            got = [(a["id"], a["title"], a["published"], a["content_type"], a["url"],
                    a["authors"], a["lang"], a["summary"], a["body"],
                    [(t["name"], t["media_type"], t["data"]) for t in a["attachments"]])
                   for a in b["articles"]]
            want = [(a.id, a.title, a.published, a.content_type, a.url, a.authors, a.lang,
                     a.summary, a.body,
                     sorted(((t.name, t.media_type, t.data) for t in a.attachments),
                            key=lambda t: t[0].encode()))
                    for a in sorted(arts, key=lambda a: a.id.encode())]
            check(got == want, f"bundle {seq}: the independent reader reads other articles")
        except (R.Refused, R.Untrusted) as e:
            fail(f"bundle {seq}: the independent reader refuses it: {e}")
    got = verify(cli, pk, paths)
    for p, data, (seq, _, _) in zip(paths, datas, plans):
        check(got[p] == ("ok", W.bundle_id(data), seq), f"verify bundle {seq}: {got[p]}")
    for p, data, (seq, created, arts) in zip(paths, datas, plans):
        r = run([cli, "inspect", p])
        lines = r.stdout.splitlines()
        want = inspect_lines(data, kp, arts) + [f"sequence:    {seq}",
                                                 f"created:     {W.rfc3339(created)}"]
        for w in want:
            check(w in lines, f"inspect bundle {seq}: no line {w!r}")
        check(r.stdout.count("  - ") == len(arts), f"inspect bundle {seq}: article count")
        listed = [ln.split()[1] for ln in lines if ln.startswith("  - ")]
        check(listed == sorted((a.id for a in arts), key=str.encode),
              f"inspect bundle {seq}: articles in order {listed}")
    lib = os.path.join(d, "library")
    r = run([cli, "unpack", "--trust", pk, "--output", lib, *paths])
    if check(r.returncode == 0, f"unpack: {r.stderr}"):
        folders, index = article_folders(lib, kp)
        for seq, created, arts in plans:
            for a in arts:
                if not check(a.title in folders, f"unpack: index.html does not link {a.id}"):
                    continue
                check_page(lib, kp, folders[a.title], a, seq, created)
                if a.summary:
                    m = re.search(rf'/{re.escape(folders[a.title])}/index.html.*?'
                                  r'<p class="summary"[^>]*>(.*?)</p>', index, re.S)
                    check(m and text_of(m.group(1)) == a.summary.replace("\r\n", "\n"),
                          f"unpack: summary of {a.id} on index.html: {m and m.group(1)!r}")
        check(len(glob.glob(os.path.join(lib, kp.public.hex(), "*", "index.html")))
              == sum(len(p[2]) for p in plans), "unpack: not one page per article")

    # 2.2: a container has one encoding. The valid test vectors, decoded by
    # the independent reader and written again here from their fields, give
    # the same container, and the same bundle where libzstd compresses alike.
    seed = bytes.fromhex(open(os.path.join(vdir, "publisher.seed.hex")).read().strip())
    same = 0
    names = sorted(glob.glob(os.path.join(vdir, "valid-*.bundle")))
    for path in names:
        orig = open(path, "rb").read()
        b = R.read_bundle(orig)
        arts = [W.Article(a["id"], a["title"], a["published"], a["content_type"], a["body"],
                          a["url"], a["authors"], a["lang"], a["summary"],
                          [W.Attachment(t["name"], t["media_type"], t["data"])
                           for t in reversed(a["attachments"])])
                for a in reversed(b["articles"])]
        container = zstandard.ZstdDecompressor().decompress(orig[168:])
        check(W.encode_container(arts) == container,
              f"{os.path.basename(path)}: written again, the container differs")
        again = W.make_bundle(seed, arts, b["sequence"], b["created"])
        check(again[:8] == orig[:8] and again[8:56] == orig[8:56] and again[64:72] == orig[64:72],
              f"{os.path.basename(path)}: written again, the header differs")
        same += again == orig
    check(len(names) >= 3, "no valid test vectors found")
    part_done(f"bundles: {len(plans)} bundles, {sum(len(p[2]) for p in plans)} articles "
              f"as written; {len(names)} test vectors written again "
              f"({same} byte for byte with this libzstd)", before)


# --- part 3: boundaries --------------------------------------------------------------


def A(**kw):
    base = dict(id="a", title="T", published=0, content_type="text/plain", body=b"x")
    base.update(kw)
    return W.Article(**base)


def T(name="n", media_type="a/b", data=b"x"):
    return W.Attachment(name, media_type, data)


def boundary_cases():
    """(name, articles, expected): expected 'ok' or BUNDLE.md's error name;
    the large articles are made only when their case comes."""
    every = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz.-"
    zh = "ж" * 512  # 1024 bytes of UTF-8, 512 characters
    lang35 = "abcdefgh-" + "-".join(["a1b2c3d4"] * 2) + "-abcdefgh"
    assert len(lang35) == 35
    media127 = "application/" + "x" * 115
    assert len(media127) == 127
    # A container of exactly 64 MiB, the default cap of verify (1.3 step 3).
    one = W.encode_container([A(body=b"b", attachments=[T(data=b"")])], check=False)
    fill = (64 << 20) - (len(one) - 1 + MIB32)
    return [
        ("count 4096", [A(id=f"a{i:04d}") for i in range(4096)], "ok"),
        ("count 4097", [A(id=f"a{i:04d}") for i in range(4097)], "ETOOBIG"),
        ("id with every allowed character", [A(id=every), A(id="_"), A(id="9")], "ok"),
        ("id of 100 bytes", [A(id="Z" * 99 + "-")], "ok"),
        ("id of 101 bytes", [A(id="Z" * 101)], "ETOOBIG"),
        ("id starting with .", [A(id=".a")], "EBADID"),
        ("id starting with -", [A(id="-a")], "EBADID"),
        ("id with +", [A(id="a+b")], "EBADID"),
        ("ids differing in case", [A(id="a"), A(id="A")], "ok"),
        ("title of 1024 bytes (Cyrillic)", [A(title=zh)], "ok"),
        ("title of 1025 bytes", [A(title=zh + "x")], "ETOOBIG"),
        ("title empty", [A(title="")], "EINVAL"),
        ("published 0001-01-01T00:00:00Z", [A(published=W.PUBLISHED_MIN)], "ok"),
        ("published 9999-12-31T23:59:59Z", [A(published=W.PUBLISHED_MAX)], "ok"),
        ("published a second before", [A(published=W.PUBLISHED_MIN - 1)], "EINVAL"),
        ("published a second after", [A(published=W.PUBLISHED_MAX + 1)], "EINVAL"),
        ("ctype 3 (HTML)", [A(content_type=3)], "ok"),
        ("ctype 4", [A(content_type=4)], "EINVAL"),
        ("every optional field empty", [A(url="", authors=[], lang="", summary="",
                                          attachments=[])], "ok"),
        ("url of 2048 bytes", [A(url="https://" + "u" * 2040)], "ok"),
        ("url of 2049 bytes", [A(url="https://" + "u" * 2041)], "ETOOBIG"),
        ("url http:// alone", [A(url="http://")], "ok"),
        ("url with a space", [A(url="http://a b")], "EINVAL"),
        ("64 authors", [A(authors=[f"Author {i}" for i in range(64)])], "ok"),
        ("65 authors", [A(authors=[f"Author {i}" for i in range(65)])], "ETOOBIG"),
        ("author of 256 bytes", [A(authors=["ж" * 128])], "ok"),
        ("author of 257 bytes", [A(authors=["ж" * 128 + "x"])], "ETOOBIG"),
        ("author empty", [A(authors=["x", ""])], "EINVAL"),
        ("lang of 35 bytes", [A(lang=lang35)], "ok"),
        ("lang of 36 bytes", [A(lang=lang35 + "x")], "ETOOBIG"),
        ("lang of one letter", [A(lang="e")], "EINVAL"),
        ("summary of 4096 bytes with TAB, CR, LF", [A(summary="s\t\r\n" * 1024)], "ok"),
        ("summary of 4097 bytes", [A(summary="s" * 4097)], "ETOOBIG"),
        ("summary with a lone CR", [A(summary="a\rb")], "ok"),
        ("body of 32 MiB", lambda: [A(body=b"b" * MIB32)], "ok"),
        ("body of 32 MiB + 1", lambda: [A(body=b"b" * (MIB32 + 1))], "ETOOBIG"),
        ("body of one byte", [A(body=b"\x01")], "ok"),
        ("body empty", [A(body=b"")], "EINVAL"),
        ("256 attachments", [A(attachments=[T(f"n{i:03d}") for i in range(256)])], "ok"),
        ("257 attachments", [A(attachments=[T(f"n{i:03d}") for i in range(257)])], "ETOOBIG"),
        ("attachment name with every allowed character", [A(attachments=[T(every)])], "ok"),
        ("attachment name of 100 bytes", [A(attachments=[T("n" * 100)])], "ok"),
        ("attachment name of 101 bytes", [A(attachments=[T("n" * 101)])], "ETOOBIG"),
        ("attachment names differing in case", [A(attachments=[T("n"), T("N")])], "ok"),
        ("two attachments with one name", [A(attachments=[T("n"), T("n")])], "EDUPID"),
        ("media type of 127 bytes", [A(attachments=[T(media_type=media127)])], "ok"),
        ("media type of 128 bytes", [A(attachments=[T(media_type=media127 + "x")])], "ETOOBIG"),
        ("media type with every allowed character",
         [A(attachments=[T(media_type="abcdefghijklm.+-_/nopqrstuvwxyz0123456789")])], "ok"),
        ("attachment of 32 MiB", lambda: [A(attachments=[T(data=b"\0" * MIB32)])], "ok"),
        ("attachment of 32 MiB + 1",
         lambda: [A(attachments=[T(data=b"\0" * (MIB32 + 1))])], "ETOOBIG"),
        ("attachment of one byte", [A(attachments=[T(data=b"\0")])], "ok"),
        ("attachment empty", [A(attachments=[T(data=b"")])], "EINVAL"),
        ("container of 64 MiB",
         lambda: [A(body=b"b" * MIB32, attachments=[T(data=b"d" * fill)])], "ok"),
        ("container of 64 MiB + 1",
         lambda: [A(body=b"b" * MIB32, attachments=[T(data=b"d" * (fill + 1))])], "ETOOBIG"),
        ("two articles with one id", [A(id="a"), A(id="a", title="U")], "EDUPID"),
    ]


def test_boundaries(cli, d):
    before = len(FAILURES)
    kp = W.KeyPair.generate()
    pk = os.path.join(d, "bound.pk")
    W.write_public_key_file(pk, kp.public)
    cases, paths = boundary_cases(), []
    for k, (name, arts, expected) in enumerate(cases):
        arts = arts() if callable(arts) else arts  # the large ones, one at a time
        # The writer's own checks (2.1, 2.3) name the error a reader gives.
        try:
            data = W.make_bundle(kp.seed, arts, 1, 0, level=1, cap=64 << 20)
            mine = "ok"
        except W.WriteError as e:
            mine = e.code
            data = W.make_bundle(kp.seed, arts, 1, 0, level=1, check=False)
        check(mine == expected, f"boundary '{name}': the writer says {mine}, BUNDLE.md {expected}")
        try:
            R.read_bundle(data, {kp.public})
            theirs = "ok"
        except R.Refused as e:
            theirs = e.code
        check(theirs == expected, f"boundary '{name}': the independent reader says {theirs}, "
              f"BUNDLE.md {expected}")
        paths.append(write(os.path.join(d, f"bound-{k:02d}.bundle"), data))
    # 1.1 and 1.4: every u64 sequence and every i64 created is valid.
    one = [A()]
    headers = [(0, 0), ((1 << 63) - 1, 1), (1 << 63, 2), ((1 << 64) - 1, 3),
               (4, -(1 << 63)), (5, (1 << 63) - 1), (6, W.PUBLISHED_MIN - 1),
               (7, W.PUBLISHED_MAX + 1), (8, -1)]
    hpaths = [write(os.path.join(d, f"header-{k}.bundle"), W.make_bundle(kp.seed, one, seq, cr))
              for k, (seq, cr) in enumerate(headers)]
    got = verify(cli, pk, paths + hpaths)
    for p, (name, _, expected) in zip(paths, cases):
        check(got[p][0] == expected, f"boundary '{name}': samizdat verify says {got[p][0]}, "
              f"BUNDLE.md {expected}")
        os.unlink(p)
    for p, (seq, cr) in zip(hpaths, headers):
        check(got[p][0] == "ok" and got[p][2] == seq,
              f"sequence {seq}, created {cr}: samizdat verify says {got[p]}")
        r = run([cli, "inspect", p])
        shown = W.rfc3339(cr) if W.PUBLISHED_MIN <= cr <= W.PUBLISHED_MAX else str(cr)
        check(f"sequence:    {seq}" in r.stdout.splitlines()
              and f"created:     {shown}" in r.stdout.splitlines(),
              f"inspect of sequence {seq}, created {cr}: {r.stdout.splitlines()[4:6]}")
    part_done(f"boundaries: {len(cases)} bundles at and past the limits, "
              f"{len(headers)} at the ends of sequence and created", before)


# --- part 4: the daemon publishes with a key written here -------------------------------


def test_daemon(cli, daemon, d):
    before = len(FAILURES)
    kp = W.KeyPair.generate()
    data_dir, sock = os.path.join(d, "node"), os.path.join(d, "node.sock")
    sk, pk = os.path.join(d, "daemon.sk"), os.path.join(d, "daemon.pk")
    passphrase = b"daemon passphrase \xe2\x9c\x93"
    W.write_secret_key_file(sk, kp.seed, passphrase, opslimit=1, memlimit=1 << 20)
    W.write_public_key_file(pk, kp.public)
    pw = write(os.path.join(d, "daemon.pw"), passphrase + b"\r\n", 0o600)
    log = open(os.path.join(d, "node.log"), "w")
    p = subprocess.Popen([daemon, "--data-dir", data_dir, "--socket", sock,
                          "--listen", "127.0.0.1:0", "--publisher-key", sk,
                          "--passphrase-file", pw, "--batch-window-ms", "0"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        if check(os.path.exists(sock), f"samizdatd with a key written here did not start "
                 f"(status {p.poll()}): {open(log.name).read()[-300:]}"):
            art = write(os.path.join(d, "daemon.md"), ARTICLE_MD)
            r = run([cli, "publish", "--socket", sock, art], timeout=60)
            if check(r.returncode == 0, f"publish through samizdatd: {r.stderr}"):
                bid = r.stdout.strip().split()[-1]
                out = os.path.join(d, "daemon.bundle")
                r = run([cli, "export", "--socket", sock, bid, "--output", out])
                if check(r.returncode == 0, f"export: {r.stderr}"):
                    got = verify(cli, W.public_key_text(kp.public), [out])[out]
                    check(got[0] == "ok" and got[1] == bid,
                          f"the daemon's bundle under the key written here: {got}")
            # 1.4: the relay stores sequence 2^63 - 1, not 2^63.
            other = W.KeyPair.generate()
            now = int(time.time())
            last = write(os.path.join(d, "seq-last.bundle"),
                         W.make_bundle(other.seed, [A()], (1 << 63) - 1, now))
            past = write(os.path.join(d, "seq-past.bundle"),
                         W.make_bundle(other.seed, [A(id="b")], 1 << 63, now))
            r = run([cli, "import", "--socket", sock, last, past], timeout=60)
            lines = r.stdout.splitlines()
            check(any(ln.startswith("stored ") and ln.endswith(": stored") for ln in lines)
                  and any(ln.startswith("not-stored ") and "out of range" in ln for ln in lines),
                  f"import of sequences 2^63 - 1 and 2^63: {r.stdout.strip()}")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
    part_done("daemon: samizdatd publishes with a passphrase key written here", before)


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: bundle_writer_test.py CLI SOURCE_DIR [DAEMON]", file=sys.stderr)
        return 2
    cli = os.path.abspath(argv[0])
    vdir = os.path.join(argv[1], "tests", "vectors")
    start = time.monotonic()
    d = tempfile.mkdtemp(prefix="sz-writer-")
    try:
        os.chdir(d)
        test_keys(cli, d)
        test_bundles(cli, d, vdir)
        test_boundaries(cli, d)
        if len(argv) == 3:
            test_daemon(cli, os.path.abspath(argv[2]), d)
    finally:
        os.chdir("/")
        shutil.rmtree(d, ignore_errors=True)
    if FAILURES:
        print(f"spec_writer: {len(FAILURES)} failure(s)", file=sys.stderr)
        return 1
    print(f"spec_writer: all passed in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
