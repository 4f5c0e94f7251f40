/*
 * The control protocol between `samizdat` and a local `samizdatd`, spoken over
 * a Unix stream socket. Specified in proto/CONTROL.md. Pure codec: bytes in,
 * structs out; the daemon and the client do the I/O.
 *
 * Every message is a frame: a u32 little-endian body length, then the body.
 * The body starts with a u8 protocol version (SZ_CTL_VERSION) and a u8 type.
 */
#ifndef SZ_INCLUDE_CTL_H
#define SZ_INCLUDE_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "samizdat/bundle.h"

#define SZ_CTL_VERSION 2 /* the highest version this codec speaks (CONTROL.md 3.1) */
#define SZ_CTL_FRAME_HEADER_LEN 4
/* Largest body: a bundle at the default cap plus room for the fields around it. */
#define SZ_CTL_MAX_BODY_LEN ((size_t)80 << 20)
#define SZ_CTL_MAX_ITEMS 4096     /* files in one import/publish, rows in a list reply */
#define SZ_CTL_MAX_TEXT_LEN 65536 /* messages and status documents */

/* Message types. Requests are below 0x80, replies at or above. */
enum sz_ctl_type {
    SZ_CTL_STATUS = 0x01,  /* no fields */
    SZ_CTL_PUBLISH = 0x02, /* container: an encoded article container (article.h) */
    SZ_CTL_IMPORT = 0x03,  /* bundles: n_items bundle byte strings */
    SZ_CTL_LIST = 0x04,    /* has_publisher, publisher, since_sequence */
    SZ_CTL_EXPORT = 0x05,  /* id */
    /* version 2: LIST's filter and a cursor; answered by R_LIST */
    SZ_CTL_LIST_PAGE = 0x06,

    SZ_CTL_R_ERROR = 0x80,     /* code, text */
    SZ_CTL_R_STATUS = 0x81,    /* text (human), json */
    SZ_CTL_R_PUBLISHED = 0x82, /* id, sequence */
    SZ_CTL_R_IMPORTED = 0x83,  /* results: one per bundle sent */
    SZ_CTL_R_LIST = 0x84,      /* entries */
    SZ_CTL_R_EXPORT = 0x85,    /* bundle bytes */
};

/* Outcome of importing one bundle. */
enum sz_ctl_import_code {
    SZ_CTL_IMPORT_STORED = 0,  /* verified and stored durably */
    SZ_CTL_IMPORT_PRESENT = 1, /* already held */
    SZ_CTL_IMPORT_REFUSED = 2, /* invalid: the text says why */
    SZ_CTL_IMPORT_POLICY = 3,  /* valid, but carry policy or a quota refuses it */
};

struct sz_ctl_import_result {
    uint8_t code;                 /* enum sz_ctl_import_code */
    uint8_t id[SZ_BUNDLE_ID_LEN]; /* zero when the bundle could not be parsed */
    const char *text;             /* UTF-8, not NUL-terminated */
    size_t text_len;
};

struct sz_ctl_entry {
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t sequence;
    int64_t created;
    uint64_t size;
    int64_t received;
};

/* A decoded message. Pointers refer into the decoded buffer. */
struct sz_ctl_msg {
    uint8_t type; /* enum sz_ctl_type */
    /* PUBLISH */
    const uint8_t *container;
    size_t container_len;
    /* IMPORT: n_items bundles */
    const uint8_t **items;
    size_t *item_lens;
    size_t n_items;
    /* LIST, LIST_PAGE */
    uint8_t has_publisher;
    uint8_t publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t since_sequence;
    /* LIST_PAGE: list what comes after this entry (when has_after is 1) */
    uint8_t has_after;
    uint8_t after_publisher[SZ_PUBLIC_KEY_LEN];
    uint64_t after_sequence;
    uint8_t after_id[SZ_BUNDLE_ID_LEN];
    /* EXPORT, R_PUBLISHED */
    uint8_t id[SZ_BUNDLE_ID_LEN];
    uint64_t sequence;
    /* R_ERROR: code is a positive sz_err or 0; text; R_STATUS: text and json */
    uint32_t code;
    const char *text;
    size_t text_len;
    const char *json;
    size_t json_len;
    /* R_IMPORTED */
    struct sz_ctl_import_result *results;
    size_t n_results;
    /* R_LIST */
    struct sz_ctl_entry *entries;
    size_t n_entries;
    /* R_EXPORT */
    const uint8_t *bundle;
    size_t bundle_len;
};

/*
 * Looks at the start of a byte stream. Returns 0 and sets *frame_len (header +
 * body) when a whole frame is present, 1 when more bytes are needed, or
 * -SZ_ETOOBIG when the announced body exceeds SZ_CTL_MAX_BODY_LEN (the
 * connection must be dropped), -SZ_EBADMSG for an empty body.
 */
int sz_ctl_frame_peek(const uint8_t *buf, size_t len, size_t *frame_len);

/*
 * Decodes one body (without the 4-byte length). On success *out is allocated
 * (free with sz_ctl_msg_free()); its pointers refer into buf. Each type is
 * read under the one version that has it (1, or 2 for LIST_PAGE).
 * Unknown types and versions fail with -SZ_EVERSION; malformed fields with -SZ_EBADMSG; trailing
 * bytes with -SZ_ETRAILING; counts and text lengths above limits with
 * -SZ_ETOOBIG; text or JSON that is not UTF-8 with -SZ_EUTF8; -SZ_ENOMEM.
 * *out is untouched on failure.
 */
int sz_ctl_decode(const uint8_t *buf, size_t len, struct sz_ctl_msg **out);

/* Frees a decoded message (NULL is fine). */
void sz_ctl_msg_free(struct sz_ctl_msg *m);

/*
 * Encodes msg (only the fields its type uses) as a whole frame, length prefix
 * included, into *out (malloc'd; caller frees), under the lowest version that
 * has its type (1, or 2 for LIST_PAGE), so a daemon of version 1 reads every
 * message of version 1. Applies the decoder's rules, so what encodes also
 * decodes; a LIST without a publisher sends a zero key whatever msg->publisher
 * holds, and a LIST_PAGE without a cursor sends zero cursor fields. Returns 0 or -SZ_EINVAL
 * (unknown type, bad field value, empty blob, NULL pointer with a length), -SZ_ETOOBIG (a count, a
 * text or the whole body above its limit; checked before anything is read or allocated), -SZ_EUTF8,
 * -SZ_ENOMEM. *out is untouched on failure.
 */
int sz_ctl_encode(const struct sz_ctl_msg *msg, uint8_t **out, size_t *out_len);

#endif
