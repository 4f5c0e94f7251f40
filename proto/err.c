/* Error strings and library start-up. */
#include "samizdat/common.h"

#include <sodium.h>

const char *
sz_strerror(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
    case SZ_OK:
        return "success";
    case SZ_EBADMSG:
        return "malformed or truncated data";
    case SZ_ETOOBIG:
        return "a length exceeds its limit";
    case SZ_EAUTH:
        return "signature does not verify (forged or damaged)";
    case SZ_ENOMEM:
        return "out of memory";
    case SZ_EVERSION:
        return "unknown format version (made by a newer samizdat?)";
    case SZ_EINVAL:
        return "invalid field value";
    case SZ_EHASH:
        return "payload does not match the hash in the signed header (altered payload)";
    case SZ_ELENGTH:
        return "payload does not decompress to its declared length";
    case SZ_ECANON:
        return "non-canonical encoding";
    case SZ_EBADID:
        return "unsafe article id or attachment name";
    case SZ_EDUPID:
        return "duplicate article id or attachment name";
    case SZ_ECHECKSUM:
        return "checksum mismatch (mistyped key?)";
    case SZ_EPASS:
        return "wrong passphrase, or the secret key file is damaged";
    case SZ_EUTF8:
        return "text is not valid UTF-8";
    case SZ_ECOMPRESS:
        return "compression failed";
    case SZ_ECRYPTO:
        return "a cryptographic primitive failed (out of memory?)";
    case SZ_ETRAILING:
        return "unexpected bytes after the end of the data";
    case SZ_EBUSY:
        return "busy: retry shortly";
    default:
        return "unknown error";
    }
}

int
sz_init(void)
{
    return sodium_init() < 0 ? -SZ_ECRYPTO : 0;
}
