#!/usr/bin/env python3
"""An independent writer of samizdat bundles and key files, from BUNDLE.md.

Written from proto/BUNDLE.md, the test vectors' README and the man pages
only, never from the C sources: the other half of bundle_spec.py (an
independent reader). It shows whether the specification is complete enough
to write bundles and keys that another implementation accepts. Section
numbers in comments are those of BUNDLE.md. It shares no code with
bundle_spec.py, so that a mistake in one is not hidden by the other.

It needs Python 3, PyNaCl (libsodium) and python-zstandard.

As a library:

    kp = KeyPair.generate()
    write_public_key_file("news.pk", kp.public)
    write_secret_key_file("news.sk", kp.seed, passphrase=b"...")
    art = Article(id="report", title="A report", published=1714560000,
                  content_type="text/markdown", body=b"# Report\\n",
                  attachments=[Attachment("chart.png", "image/png", png)])
    data = make_bundle(kp.seed, [art], sequence=1, created=1714560000)

As a command (a passphrase is never read from the command line: it comes
from the environment variable named by --passphrase-env, or from the first
line read from the file descriptor given by --passphrase-fd):

    bundle_writer.py keygen --secret-key SK --public-key PK
                            (--no-passphrase | --passphrase-env VAR | --passphrase-fd N)
    bundle_writer.py pack --secret-key SK [--passphrase-env VAR | --passphrase-fd N]
                          --output BUNDLE [--sequence N] [--created SECONDS]
                          [--level L] ARTICLES.json

ARTICLES.json is a list of objects with the fields of Article; body and an
attachment's data are given as "body_file" / "file" (a path) or as
"body" / "data" (UTF-8 text). Without --sequence, pack takes one more than
the record SK.seq beside the secret key and writes it back (1.4).
"""

import base64
import datetime
import fcntl
import hashlib
import json
import os
import struct
import sys

try:
    import nacl.bindings
    import nacl.signing
    import nacl.utils
    import zstandard
except ImportError as e:
    print(f"bundle_writer: needs PyNaCl and python-zstandard ({e})", file=sys.stderr)
    raise

# --- constants of the format --------------------------------------------------

BUNDLE_MAGIC = b"SZBN"
BUNDLE_VERSION = 1
# 1.2: "samizdat-bundle-v1" and one zero byte, 19 bytes in all.
SIGNING_CONTEXT = b"samizdat-bundle-v1" + b"\x00"
assert len(SIGNING_CONTEXT) == 19
HEADER_SIZE = 104
HARD_CAP = 1 << 30  # 1.3 step 3

CONTENT_TYPES = {"text/plain": 1, "text/markdown": 2, "text/html": 3}
MAX_ARTICLES = 4096
MAX_AUTHORS = 64
MAX_ATTACHMENTS = 256
MAX_BLOB = 32 * 1024 * 1024  # body and attachment data, included
PUBLISHED_MIN = -62135596800  # 0001-01-01T00:00:00Z
PUBLISHED_MAX = 253402300799  # 9999-12-31T23:59:59Z

PK_PREFIX = "szpk1"
PK_CHECKSUM_CONTEXT = b"samizdat-pk-checksum-v1"  # 3.1

SK_MAGIC = b"SZSK"
SK_VERSION = 1
SK_SIZE = 176
KDF_NONE, KDF_ARGON2ID = 0, 1
# 3.2: the reference writer's limits, libsodium's MODERATE.
OPSLIMIT_MODERATE = 3
MEMLIMIT_MODERATE = 256 * 1024 * 1024
OPSLIMIT_RANGE = (1, 16)
MEMLIMIT_RANGE = (8192, 1 << 30)


class WriteError(ValueError):
    """Input that would make an invalid bundle, with the error name a reader
    gives it (BUNDLE.md 1.3 and 2.1, without the SZ_ prefix)."""

    def __init__(self, code, why):
        super().__init__(f"{code}: {why}")
        self.code = code


def blake2b256(data):
    """BLAKE2b with a 32-byte output and no key, through libsodium."""
    return hashlib.blake2b(data, digest_size=32).digest()


# --- keys (section 3) --------------------------------------------------------------


class KeyPair:
    """An Ed25519 key pair: the 32-byte seed and the 32-byte public key."""

    def __init__(self, seed):
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed has 32 bytes")
        self.seed = bytes(seed)
        self.public = bytes(nacl.signing.SigningKey(self.seed).verify_key)

    @classmethod
    def generate(cls):
        return cls(nacl.utils.random(32))

    def sign(self, message):
        return nacl.signing.SigningKey(self.seed).sign(message).signature


def public_key_text(pk):
    """3.1: szpk1, then lowercase unpadded base32 of key || checksum (58 digits)."""
    if len(pk) != 32:
        raise ValueError("a public key has 32 bytes")
    check = blake2b256(PK_CHECKSUM_CONTEXT + pk)[:4]
    digits = base64.b32encode(pk + check).decode("ascii").rstrip("=").lower()
    assert len(digits) == 58
    return PK_PREFIX + digits


def public_key_from_text(text):
    """3.1, read back (case-insensitive, white space around it stripped)."""
    t = text.strip()
    if len(t) != 63 or t[:5].lower() != PK_PREFIX:
        raise ValueError("not an szpk1 public key")
    digits = t[5:].upper()
    raw = base64.b32decode(digits + "=" * 6)
    if base64.b32encode(raw).decode("ascii").rstrip("=") != digits:
        raise ValueError("public key: padding bits not zero")
    if blake2b256(PK_CHECKSUM_CONTEXT + raw[:32])[:4] != raw[32:]:
        raise ValueError("public key: wrong checksum (mistyped?)")
    return raw[:32]


def write_public_key_file(path, pk, comment=None, newline="\n"):
    """3.1: the text form on the first line that is not blank or a comment."""
    text = ""
    if comment is not None:
        text += "# " + comment + newline + newline
    text += public_key_text(pk) + newline
    _write_file(path, text.encode("ascii"), 0o644)


def _wrapping_key(kdf, passphrase, salt, opslimit, memlimit):
    if kdf == KDF_NONE:
        return bytes(32)
    return nacl.bindings.crypto_pwhash_alg(
        32, passphrase, salt, opslimit, memlimit,
        nacl.bindings.crypto_pwhash_ALG_ARGON2ID13)


def secret_key_file_bytes(seed, passphrase=None, opslimit=OPSLIMIT_MODERATE,
                          memlimit=MEMLIMIT_MODERATE, salt=None, nonce=None):
    """3.2: the 176 bytes of a secret key file.

    passphrase None writes kdf 0 (no passphrase: zero limits, zero salt, a
    zero wrapping key); bytes write kdf 1, Argon2id v1.3 with these limits.
    """
    pk = KeyPair(seed).public
    if passphrase is None:
        kdf, opslimit, memlimit, salt = KDF_NONE, 0, 0, bytes(16)
    else:
        if not passphrase:
            raise ValueError("empty passphrase")
        kdf = KDF_ARGON2ID
        if not (OPSLIMIT_RANGE[0] <= opslimit <= OPSLIMIT_RANGE[1]
                and MEMLIMIT_RANGE[0] <= memlimit <= MEMLIMIT_RANGE[1]):
            raise ValueError("Argon2id limits out of range")
        salt = nacl.utils.random(16) if salt is None else salt
    nonce = nacl.utils.random(24) if nonce is None else nonce
    head = (SK_MAGIC + struct.pack("<BBHQQ", SK_VERSION, kdf, 0, opslimit, memlimit)
            + salt + nonce + pk)
    assert len(head) == 96
    key = _wrapping_key(kdf, passphrase, salt, opslimit, memlimit)
    sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        seed + pk, head, nonce, key)
    assert len(sealed) == 80
    return head + sealed


def write_secret_key_file(path, seed, passphrase=None, **limits):
    _write_file(path, secret_key_file_bytes(seed, passphrase, **limits), 0o600)


def open_secret_key_file(data, passphrase=None):
    """3.2: the seed of a secret key file (made here or by samizdat keygen)."""
    if len(data) != SK_SIZE or data[:4] != SK_MAGIC:
        raise ValueError("not a secret key file")
    version, kdf, reserved, opslimit, memlimit = struct.unpack_from("<BBHQQ", data, 4)
    if version != SK_VERSION:
        raise ValueError(f"secret key file version {version}")
    salt, nonce, pk = data[24:40], data[40:64], data[64:96]
    if reserved:
        raise ValueError("secret key file: reserved bytes not zero")
    if kdf == KDF_NONE:
        if opslimit or memlimit or any(salt):
            raise ValueError("secret key file: kdf 0 with Argon2id parameters")
    elif kdf == KDF_ARGON2ID:
        if not (OPSLIMIT_RANGE[0] <= opslimit <= OPSLIMIT_RANGE[1]
                and MEMLIMIT_RANGE[0] <= memlimit <= MEMLIMIT_RANGE[1]):
            raise ValueError("secret key file: Argon2id limits out of range")
        if not passphrase:
            raise ValueError("secret key file needs a passphrase")
    else:
        raise ValueError(f"secret key file: unknown kdf {kdf}")
    key = _wrapping_key(kdf, passphrase, salt, opslimit, memlimit)
    try:
        plain = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            data[96:], data[:96], nonce, key)
    except Exception:
        raise ValueError("secret key file: wrong passphrase or damaged file")
    seed = plain[:32]
    if plain[32:] != pk or KeyPair(seed).public != pk:
        raise ValueError("secret key file: the seed does not derive its public key")
    return seed


def passphrase_line(data):
    """A passphrase as samizdat(1) reads it from a file: the first line,
    without its LF and one CR before it, every other byte kept."""
    line = data.split(b"\n", 1)[0]
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line:
        raise ValueError("empty passphrase")
    return line


def passphrase_from_env(name):
    """The passphrase from an environment variable (its first line)."""
    value = os.environb.get(name.encode())
    if value is None:
        raise ValueError(f"environment variable {name} is not set")
    return passphrase_line(value)


def passphrase_from_fd(fd):
    """The passphrase from the first line read from an open file descriptor."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return passphrase_line(data)


def _write_file(path, data, mode):
    """Written to a temporary beside path with mode, then renamed into place."""
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def next_sequence(sk_path):
    """1.4: one more than the last sequence used with this key, raising the
    record SK.seq beside the secret key (ASCII decimal and a LF, changed in
    place under an exclusive flock, as samizdat pack keeps it)."""
    fd = os.open(sk_path + ".seq", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.read(fd, 64).decode("ascii").rstrip("\n")
        if text and not text.isdigit():
            raise ValueError(f"{sk_path}.seq is damaged")
        seq = int(text or 0) + 1
        if seq >= 1 << 63:
            raise ValueError("sequence exhausted")
        record_sequence(fd, seq)
        return seq
    finally:
        os.close(fd)


def record_sequence(fd, seq):
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{seq}\n".encode("ascii"), 0)
    os.fsync(fd)


# --- the article container (section 2) --------------------------------------------


class Attachment:
    def __init__(self, name, media_type, data):
        self.name, self.media_type, self.data = name, media_type, data


class Article:
    """One article. Text fields are str (encoded as UTF-8) or bytes (as they
    are); body is bytes (or str). None or "" is an absent optional field."""

    def __init__(self, id, title, published, content_type, body, url=None,
                 authors=(), lang=None, summary=None, attachments=()):
        self.id, self.title, self.published = id, title, published
        self.content_type, self.body, self.url = content_type, body, url
        self.authors, self.lang, self.summary = list(authors), lang, summary
        self.attachments = list(attachments)


def _b(v):
    if v is None:
        return b""
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def _str8(b):
    if len(b) > 0xFF:
        raise WriteError("ETOOBIG", f"{len(b)} bytes do not fit a str8")
    return bytes([len(b)]) + b


def _str16(b):
    if len(b) > 0xFFFF:
        raise WriteError("ETOOBIG", f"{len(b)} bytes do not fit a str16")
    return struct.pack("<H", len(b)) + b


# 2.1 field rules, checked in the order of 2.3 (length, emptiness, UTF-8,
# characters) so that the error is the one a reader gives.

_SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_MEDIA = set(b"abcdefghijklmnopqrstuvwxyz0123456789.+-_/")
_ALPHA = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_ALNUM = _ALPHA | set(b"0123456789")


def _utf8(b, what):
    try:
        s = b.decode("utf-8")  # strict: no overlongs, surrogates, > U+10FFFF
    except UnicodeDecodeError:
        raise WriteError("EUTF8", f"{what} is not UTF-8")
    if "\x00" in s:
        raise WriteError("EUTF8", f"{what} holds U+0000")
    return s


def _controls(s, allowed=""):
    return [c for c in s if (ord(c) < 0x20 or ord(c) == 0x7F) and c not in allowed]


def _text(b, what, lo, hi, allowed=""):
    if len(b) > hi:
        raise WriteError("ETOOBIG", f"{what} over {hi} bytes")
    if len(b) < lo:
        raise WriteError("EINVAL", f"{what} empty")
    if _controls(_utf8(b, what), allowed):
        raise WriteError("EINVAL", f"{what} holds a control character")


def _safe_name(b, what):
    if len(b) > 100:
        raise WriteError("ETOOBIG", f"{what} over 100 bytes")
    if not b or b[0] in b".-" or not set(b) <= _SAFE:
        raise WriteError("EBADID", f"{what} {b!r} is not a safe name")


def _check_article(a, e):
    """e: the article's encoded fields."""
    _safe_name(e["id"], "id")
    _text(e["title"], "title", 1, 1024)
    if not PUBLISHED_MIN <= a.published <= PUBLISHED_MAX:
        raise WriteError("EINVAL", "published out of range")
    if e["ctype"] not in (1, 2, 3):
        raise WriteError("EINVAL", "content type")
    url = e["url"]
    if url:
        if len(url) > 2048:
            raise WriteError("ETOOBIG", "url over 2048 bytes")
        if not (url.startswith(b"http://") or url.startswith(b"https://")):
            raise WriteError("EINVAL", "url is not http:// or https://")
        s = _utf8(url, "url")
        if _controls(s) or any(c in s for c in ' "<>'):
            raise WriteError("EINVAL", "url holds a character it may not")
    for au in e["authors"]:
        _text(au, "author", 1, 256)
    lang = e["lang"]
    if lang:
        if len(lang) > 35:
            raise WriteError("ETOOBIG", "lang over 35 bytes")
        first, *rest = lang.split(b"-")
        if not (2 <= len(first) <= 8 and set(first) <= _ALPHA
                and all(1 <= len(p) <= 8 and set(p) <= _ALNUM for p in rest)):
            raise WriteError("EINVAL", f"lang {lang!r}")
    _text(e["summary"], "summary", 0, 4096, "\t\n\r")
    if len(e["body"]) == 0:
        raise WriteError("EINVAL", "empty body")
    _utf8(e["body"], "body")
    for name, media, data in e["atts"]:
        _safe_name(name, "attachment name")
        if len(media) > 127:
            raise WriteError("ETOOBIG", "media type over 127 bytes")
        if (not media or not set(media) <= _MEDIA or media.count(b"/") != 1
                or media.startswith(b"/") or media.endswith(b"/")):
            raise WriteError("EINVAL", f"media type {media!r}")
        if not data:
            raise WriteError("EINVAL", "empty attachment")


def _fields(a):
    ctype = a.content_type
    if isinstance(ctype, str):
        if ctype not in CONTENT_TYPES:
            raise WriteError("EINVAL", f"content type {ctype}")
        ctype = CONTENT_TYPES[ctype]
    atts = sorted(((_b(t.name), _b(t.media_type), _b(t.data)) for t in a.attachments),
                  key=lambda t: t[0])  # 2.2: ascending bytewise
    return {"id": _b(a.id), "title": _b(a.title), "ctype": ctype, "url": _b(a.url),
            "authors": [_b(x) for x in a.authors], "lang": _b(a.lang),
            "summary": _b(a.summary), "body": _b(a.body), "atts": atts}


def _encode_article(a, e):
    if len(e["authors"]) > 0xFF or len(e["atts"]) > 0xFFFF:
        raise WriteError("ETOOBIG", "too many authors or attachments to encode")
    out = [_str8(e["id"]), _str16(e["title"]), struct.pack("<q", a.published),
           bytes([e["ctype"]]), _str16(e["url"]), bytes([len(e["authors"])])]
    out += [_str16(x) for x in e["authors"]]
    out += [_str8(e["lang"]), _str16(e["summary"]),
            struct.pack("<I", len(e["body"])), e["body"], struct.pack("<H", len(e["atts"]))]
    for name, media, data in e["atts"]:
        out += [_str8(name), _str8(media), struct.pack("<I", len(data)), data]
    return b"".join(out)


def encode_container(articles, check=True):
    """Section 2 in its canonical form (2.2): articles in ascending bytewise
    order of id, attachments in ascending order of name, absent fields of
    length 0, nothing after the last article.

    check=True refuses what a reader would refuse (WriteError with the error
    name of 2.1, in the order of 2.3); check=False writes what it is given
    (still sorted), for tests of readers.
    """
    enc = sorted(((a, _fields(a)) for a in articles), key=lambda ae: ae[1]["id"])
    if check:
        if not articles:
            raise WriteError("EINVAL", "no articles")
        if len(articles) > MAX_ARTICLES:
            raise WriteError("ETOOBIG", f"{len(articles)} articles")
        prev = None
        for a, e in enc:
            if len(e["authors"]) > MAX_AUTHORS:
                raise WriteError("ETOOBIG", f"{len(e['authors'])} authors")
            if len(e["body"]) > MAX_BLOB:
                raise WriteError("ETOOBIG", "body over 32 MiB")
            if len(e["atts"]) > MAX_ATTACHMENTS:
                raise WriteError("ETOOBIG", f"{len(e['atts'])} attachments")
            if any(len(t[2]) > MAX_BLOB for t in e["atts"]):
                raise WriteError("ETOOBIG", "attachment over 32 MiB")
            names = [t[0] for t in e["atts"]]
            if len(set(names)) != len(names):
                raise WriteError("EDUPID", "two attachments with one name")
            _check_article(a, e)
            if prev == e["id"]:
                raise WriteError("EDUPID", f"two articles with id {prev!r}")
            prev = e["id"]
    return struct.pack("<I", len(articles)) + b"".join(_encode_article(a, e) for a, e in enc)


# --- the bundle (section 1) ---------------------------------------------------------


def compress(container, level=19, checksum=False):
    """One zstd frame with its Frame_Content_Size (1.3 step 8). Levels up to 19
    keep the window within 2^23, under the 2^24 readers take."""
    if not 1 <= level <= 19:
        raise ValueError("zstd level 1..19")
    return zstandard.ZstdCompressor(level=level, write_content_size=True,
                                    write_checksum=checksum).compress(container)


def header_bytes(publisher, sequence, created, payload, content_len):
    """1.1: the 104-byte header."""
    h = (BUNDLE_MAGIC + struct.pack("<BBH", BUNDLE_VERSION, 0, 0) + publisher
         + struct.pack("<QqQQ", sequence, created, len(payload), content_len)
         + blake2b256(payload))
    assert len(h) == HEADER_SIZE
    return h


def sign_bundle(keypair, container, payload, sequence, created):
    """1.2: header, then the signature of context || header, then the payload."""
    header = header_bytes(keypair.public, sequence, created, payload, len(container))
    return header + keypair.sign(SIGNING_CONTEXT + header) + payload


def make_bundle(seed, articles, sequence, created, level=19, checksum=False,
                check=True, cap=HARD_CAP):
    """A whole bundle: the container, its zstd frame, the signed header."""
    if not 0 <= sequence < 1 << 64:
        raise ValueError("sequence is a u64")
    if not -(1 << 63) <= created < 1 << 63:
        raise ValueError("created is an i64")
    container = encode_container(articles, check=check)
    if check and len(container) > cap:
        raise WriteError("ETOOBIG", f"container of {len(container)} bytes above {cap}")
    return sign_bundle(KeyPair(seed), container, compress(container, level, checksum),
                       sequence, created)


def bundle_id(bundle):
    """1.2: BLAKE2b-256 of the signed message, as 64 lowercase hex digits."""
    return blake2b256(SIGNING_CONTEXT + bundle[:HEADER_SIZE]).hex()


def rfc3339(t):
    """Seconds since the epoch as YYYY-MM-DDTHH:MM:SSZ (2.1 published)."""
    d = datetime.datetime(1, 1, 1) + datetime.timedelta(seconds=t - PUBLISHED_MIN)
    return (f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
            f"T{d.hour:02d}:{d.minute:02d}:{d.second:02d}Z")


# --- command line ------------------------------------------------------------------


def _passphrase(args, i):
    if args[i] == "--passphrase-env":
        return passphrase_from_env(args[i + 1])
    if args[i] == "--passphrase-fd":
        return passphrase_from_fd(int(args[i + 1]))
    raise ValueError(f"unknown option {args[i]}")


def _article_from_json(o, base):
    def blob(d, text_key, file_key):
        if file_key in d:
            with open(os.path.join(base, d[file_key]), "rb") as f:
                return f.read()
        return d[text_key].encode("utf-8")
    atts = [Attachment(t["name"], t["media_type"], blob(t, "data", "file"))
            for t in o.get("attachments", [])]
    return Article(o["id"], o["title"], o["published"], o["content_type"],
                   blob(o, "body", "body_file"), o.get("url"), o.get("authors", ()),
                   o.get("lang"), o.get("summary"), atts)


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args, opt, pw = argv[0], argv[1:], {}, None
    i, files = 0, []
    while i < len(args):
        a = args[i]
        if a in ("--passphrase-env", "--passphrase-fd"):
            pw = _passphrase(args, i)
            i += 2
        elif a == "--no-passphrase":
            opt[a] = True
            i += 1
        elif a.startswith("--"):
            opt[a] = args[i + 1]
            i += 2
        else:
            files.append(a)
            i += 1
    try:
        if cmd == "keygen":
            if pw is None and "--no-passphrase" not in opt:
                raise ValueError("give --no-passphrase, --passphrase-env or --passphrase-fd")
            kp = KeyPair.generate()
            write_secret_key_file(opt["--secret-key"], kp.seed, pw)
            write_public_key_file(opt["--public-key"], kp.public)
            print(public_key_text(kp.public))
            return 0
        if cmd == "pack" and len(files) == 1:
            sk = opt["--secret-key"]
            with open(sk, "rb") as f:
                seed = open_secret_key_file(f.read(), pw)
            with open(files[0], encoding="utf-8") as f:
                arts = [_article_from_json(o, os.path.dirname(files[0])) for o in json.load(f)]
            if "--sequence" in opt:
                seq = int(opt["--sequence"])
            else:
                seq = next_sequence(sk)
            created = int(opt.get("--created", int(datetime.datetime.now().timestamp())))
            data = make_bundle(seed, arts, seq, created, int(opt.get("--level", 19)))
            _write_file(opt["--output"], data, 0o644)
            print(bundle_id(data))
            return 0
    except (ValueError, OSError, KeyError) as e:
        print(f"bundle_writer: {e}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
