/*
 * The control protocol codec (proto/CONTROL.md): frames, requests and replies
 * between `samizdat` and `samizdatd`. The encoder checks exactly the rules the
 * decoder checks, and every message has one encoding, so decode(encode(m))
 * gives m back and encode(decode(b)) gives b back.
 */
#include "samizdat/ctl.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/common.h"

/* CONTROL.md 3: version and type open every body. */
#define BODY_HEADER_LEN 2
/* CONTROL.md 5.3: an IMPORT item is a length and 0 or more bytes. */
#define MIN_ITEM_LEN 4
/* CONTROL.md 5.9: code, id, text length (the text may be empty). */
#define MIN_RESULT_LEN (1 + SZ_BUNDLE_ID_LEN + 4)
/* CONTROL.md 5.10: id, publisher, sequence, created, size, received. */
#define ENTRY_LEN (SZ_BUNDLE_ID_LEN + SZ_PUBLIC_KEY_LEN + 4 * 8)

int
sz_ctl_frame_peek(const uint8_t *buf, size_t len, size_t *frame_len)
{
    struct sz_rd r;
    uint32_t body_len;

    sz_rd_init(&r, buf, len);
    if (sz_rd_u32(&r, &body_len) != 0)
        return 1;
    /* The limit is checked on the header alone: nothing of the body is needed to refuse it. */
    if (body_len > SZ_CTL_MAX_BODY_LEN)
        return -SZ_ETOOBIG;
    if (body_len == 0)
        return -SZ_EBADMSG;
    if (sz_rd_left(&r) < body_len)
        return 1;
    *frame_len = SZ_CTL_FRAME_HEADER_LEN + (size_t)body_len;
    return 0;
}

/* CONTROL.md 3.1: the lowest version that has the type, or 0 for a type of none. */
static uint8_t
type_version(uint8_t type)
{
    switch (type) {
    case SZ_CTL_LIST_PAGE:
        return 2;
    case SZ_CTL_STATUS:
    case SZ_CTL_PUBLISH:
    case SZ_CTL_IMPORT:
    case SZ_CTL_LIST:
    case SZ_CTL_EXPORT:
    case SZ_CTL_R_ERROR:
    case SZ_CTL_R_STATUS:
    case SZ_CTL_R_PUBLISHED:
    case SZ_CTL_R_IMPORTED:
    case SZ_CTL_R_LIST:
    case SZ_CTL_R_EXPORT:
        return 1;
    default:
        return 0;
    }
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* text = len:u32 bytes(len): 0..SZ_CTL_MAX_TEXT_LEN bytes of UTF-8 without NUL. */
static int
rd_text(struct sz_rd *r, const char **p, size_t *len)
{
    const uint8_t *b;
    uint32_t n;
    int rc;

    rc = sz_rd_u32(r, &n);
    if (rc != 0)
        return rc;
    if (n > SZ_CTL_MAX_TEXT_LEN)
        return -SZ_ETOOBIG;
    rc = sz_rd_bytes(r, n, &b);
    if (rc != 0)
        return rc;
    if (!sz_utf8_valid(b, n))
        return -SZ_EUTF8;
    *p = (const char *)b;
    *len = n;
    return 0;
}

/* blob = len:u32 bytes(len), len >= min_len; the frame's body limit bounds it. */
static int
rd_blob(struct sz_rd *r, size_t min_len, const uint8_t **p, size_t *len)
{
    const uint8_t *b;
    uint32_t n;
    int rc;

    rc = sz_rd_u32(r, &n);
    if (rc != 0)
        return rc;
    if (n < min_len)
        return -SZ_EBADMSG;
    rc = sz_rd_bytes(r, n, &b);
    if (rc != 0)
        return rc;
    *p = b;
    *len = n;
    return 0;
}

/*
 * Reads a count and checks it before anything is allocated: above `max` is
 * -SZ_ETOOBIG, more elements than the remaining bytes can hold is -SZ_EBADMSG.
 */
static int
rd_count(struct sz_rd *r, size_t min, size_t max, size_t elem_len, size_t *n)
{
    uint32_t v;
    int rc;

    rc = sz_rd_u32(r, &v);
    if (rc != 0)
        return rc;
    if (v > max)
        return -SZ_ETOOBIG;
    if (v < min || v > sz_rd_left(r) / elem_len)
        return -SZ_EBADMSG;
    *n = v;
    return 0;
}

static int
dec_import(struct sz_rd *r, struct sz_ctl_msg *m)
{
    size_t n, i;
    int rc;

    rc = rd_count(r, 1, SZ_CTL_MAX_ITEMS, MIN_ITEM_LEN, &n);
    if (rc != 0)
        return rc;
    m->items = calloc(n, sizeof *m->items);
    m->item_lens = calloc(n, sizeof *m->item_lens);
    if (m->items == NULL || m->item_lens == NULL)
        return -SZ_ENOMEM;
    m->n_items = n;
    for (i = 0; i < n; i++) {
        /* An empty item is still one result: the daemon refuses it on its own. */
        rc = rd_blob(r, 0, &m->items[i], &m->item_lens[i]);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
dec_list(struct sz_rd *r, struct sz_ctl_msg *m)
{
    int rc;

    rc = sz_rd_u8(r, &m->has_publisher);
    if (rc == 0)
        rc = sz_rd_copy(r, m->publisher, sizeof m->publisher);
    if (rc == 0)
        rc = sz_rd_u64(r, &m->since_sequence);
    if (rc != 0)
        return rc;
    /* One encoding per request: no filter means a zero key. */
    if (m->has_publisher > 1 ||
        (m->has_publisher == 0 && !all_zero(m->publisher, sizeof m->publisher)))
        return -SZ_EBADMSG;
    return 0;
}

/* CONTROL.md 5.12: LIST's fields, then has_after and the entry listed last. */
static int
dec_list_page(struct sz_rd *r, struct sz_ctl_msg *m)
{
    int rc = dec_list(r, m);

    if (rc == 0)
        rc = sz_rd_u8(r, &m->has_after);
    if (rc == 0)
        rc = sz_rd_copy(r, m->after_publisher, sizeof m->after_publisher);
    if (rc == 0)
        rc = sz_rd_u64(r, &m->after_sequence);
    if (rc == 0)
        rc = sz_rd_copy(r, m->after_id, sizeof m->after_id);
    if (rc != 0)
        return rc;
    if (m->has_after > 1 ||
        (m->has_after == 0 &&
         (!all_zero(m->after_publisher, sizeof m->after_publisher) || m->after_sequence != 0 ||
          !all_zero(m->after_id, sizeof m->after_id))))
        return -SZ_EBADMSG;
    return 0;
}

static int
dec_imported(struct sz_rd *r, struct sz_ctl_msg *m)
{
    size_t n, i;
    int rc;

    rc = rd_count(r, 1, SZ_CTL_MAX_ITEMS, MIN_RESULT_LEN, &n);
    if (rc != 0)
        return rc;
    m->results = calloc(n, sizeof *m->results);
    if (m->results == NULL)
        return -SZ_ENOMEM;
    m->n_results = n;
    for (i = 0; i < n; i++) {
        struct sz_ctl_import_result *res = &m->results[i];

        rc = sz_rd_u8(r, &res->code);
        if (rc == 0 && res->code > SZ_CTL_IMPORT_POLICY)
            rc = -SZ_EBADMSG;
        if (rc == 0)
            rc = sz_rd_copy(r, res->id, sizeof res->id);
        if (rc == 0)
            rc = rd_text(r, &res->text, &res->text_len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int
dec_list_reply(struct sz_rd *r, struct sz_ctl_msg *m)
{
    size_t n, i;
    int rc;

    rc = rd_count(r, 0, SZ_CTL_MAX_ITEMS, ENTRY_LEN, &n);
    if (rc != 0 || n == 0)
        return rc;
    m->entries = calloc(n, sizeof *m->entries);
    if (m->entries == NULL)
        return -SZ_ENOMEM;
    m->n_entries = n;
    for (i = 0; i < n; i++) {
        struct sz_ctl_entry *e = &m->entries[i];

        /* The count check above guarantees these reads; their results are still checked. */
        rc = sz_rd_copy(r, e->id, sizeof e->id);
        if (rc == 0)
            rc = sz_rd_copy(r, e->publisher, sizeof e->publisher);
        if (rc == 0)
            rc = sz_rd_u64(r, &e->sequence);
        if (rc == 0)
            rc = sz_rd_i64(r, &e->created);
        if (rc == 0)
            rc = sz_rd_u64(r, &e->size);
        if (rc == 0)
            rc = sz_rd_i64(r, &e->received);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Reads the fields of m->type (CONTROL.md 5). */
static int
dec_fields(struct sz_rd *r, struct sz_ctl_msg *m)
{
    int rc = 0;

    switch (m->type) {
    case SZ_CTL_STATUS:
        break;
    case SZ_CTL_PUBLISH:
        rc = rd_blob(r, 1, &m->container, &m->container_len);
        break;
    case SZ_CTL_IMPORT:
        rc = dec_import(r, m);
        break;
    case SZ_CTL_LIST:
        rc = dec_list(r, m);
        break;
    case SZ_CTL_LIST_PAGE:
        rc = dec_list_page(r, m);
        break;
    case SZ_CTL_EXPORT:
        rc = sz_rd_copy(r, m->id, sizeof m->id);
        break;
    case SZ_CTL_R_ERROR:
        rc = sz_rd_u32(r, &m->code);
        if (rc == 0)
            rc = rd_text(r, &m->text, &m->text_len);
        break;
    case SZ_CTL_R_STATUS:
        rc = rd_text(r, &m->text, &m->text_len);
        if (rc == 0)
            rc = rd_text(r, &m->json, &m->json_len);
        break;
    case SZ_CTL_R_PUBLISHED:
        rc = sz_rd_copy(r, m->id, sizeof m->id);
        if (rc == 0)
            rc = sz_rd_u64(r, &m->sequence);
        break;
    case SZ_CTL_R_IMPORTED:
        rc = dec_imported(r, m);
        break;
    case SZ_CTL_R_LIST:
        rc = dec_list_reply(r, m);
        break;
    case SZ_CTL_R_EXPORT:
        rc = rd_blob(r, 1, &m->bundle, &m->bundle_len);
        break;
    default:
        rc = -SZ_EVERSION;
        break;
    }
    return rc;
}

int
sz_ctl_decode(const uint8_t *buf, size_t len, struct sz_ctl_msg **out)
{
    struct sz_ctl_msg *m = NULL;
    struct sz_rd r;
    uint8_t version, type;
    int rc;

    sz_rd_init(&r, buf, len);
    /* The version comes first: nothing after it is interpreted under another version. */
    rc = sz_rd_u8(&r, &version);
    if (rc != 0)
        goto out;
    if (version < 1 || version > SZ_CTL_VERSION) {
        rc = -SZ_EVERSION;
        goto out;
    }
    rc = sz_rd_u8(&r, &type);
    if (rc != 0)
        goto out;
    /* Each type has one version, the one that added it: one encoding per message. */
    if (type_version(type) == 0 || type_version(type) != version) {
        rc = -SZ_EVERSION;
        goto out;
    }
    m = calloc(1, sizeof *m);
    if (m == NULL) {
        rc = -SZ_ENOMEM;
        goto out;
    }
    m->type = type;
    rc = dec_fields(&r, m);
    if (rc == 0 && sz_rd_left(&r) != 0)
        rc = -SZ_ETRAILING;
out:
    if (rc == 0)
        *out = m;
    else
        sz_ctl_msg_free(m);
    return rc;
}

void
sz_ctl_msg_free(struct sz_ctl_msg *m)
{
    if (m == NULL)
        return;
    free(m->items);
    free(m->item_lens);
    free(m->results);
    free(m->entries);
    free(m);
}

/*
 * Adds n to *total unless the body would exceed SZ_CTL_MAX_BODY_LEN. Summing
 * first lets the encoder refuse an oversized message before reading a byte of it.
 */
static int
add_len(size_t *total, size_t n)
{
    if (n > SZ_CTL_MAX_BODY_LEN || *total > SZ_CTL_MAX_BODY_LEN - n)
        return -SZ_ETOOBIG;
    *total += n;
    return 0;
}

static int
check_text(const char *p, size_t len, size_t *total)
{
    if (len > SZ_CTL_MAX_TEXT_LEN)
        return -SZ_ETOOBIG;
    if (p == NULL && len > 0)
        return -SZ_EINVAL;
    if (!sz_utf8_valid((const uint8_t *)p, len))
        return -SZ_EUTF8;
    return add_len(total, 4 + len);
}

static int
check_blob(const uint8_t *p, size_t len, size_t min_len, size_t *total)
{
    int rc;

    if (len < min_len || (p == NULL && len > 0))
        return -SZ_EINVAL;
    /* Two steps: 4 + len could wrap around for a huge len. */
    rc = add_len(total, 4);
    return rc != 0 ? rc : add_len(total, len);
}

/* Checks a count the way rd_count() does, as an argument error. */
static int
check_count(size_t n, size_t min, const void *array)
{
    if (n > SZ_CTL_MAX_ITEMS)
        return -SZ_ETOOBIG;
    if (n < min || (n > 0 && array == NULL))
        return -SZ_EINVAL;
    return 0;
}

static int
check_import(const struct sz_ctl_msg *m, size_t *total)
{
    size_t i;
    int rc;

    rc = check_count(m->n_items, 1, m->items);
    if (rc == 0 && m->item_lens == NULL)
        rc = -SZ_EINVAL;
    rc = rc != 0 ? rc : add_len(total, 4);
    for (i = 0; rc == 0 && i < m->n_items; i++)
        rc = check_blob(m->items[i], m->item_lens[i], 0, total);
    return rc;
}

static int
check_imported(const struct sz_ctl_msg *m, size_t *total)
{
    size_t i;
    int rc;

    rc = check_count(m->n_results, 1, m->results);
    rc = rc != 0 ? rc : add_len(total, 4);
    for (i = 0; rc == 0 && i < m->n_results; i++) {
        const struct sz_ctl_import_result *res = &m->results[i];

        if (res->code > SZ_CTL_IMPORT_POLICY)
            rc = -SZ_EINVAL;
        else
            rc = add_len(total, 1 + SZ_BUNDLE_ID_LEN);
        if (rc == 0)
            rc = check_text(res->text, res->text_len, total);
    }
    return rc;
}

/* Applies the decoder's rules to msg and sums the body length. */
static int
check_msg(const struct sz_ctl_msg *m, size_t *body_len)
{
    size_t total = BODY_HEADER_LEN;
    int rc = 0;

    switch (m->type) {
    case SZ_CTL_STATUS:
        break;
    case SZ_CTL_PUBLISH:
        rc = check_blob(m->container, m->container_len, 1, &total);
        break;
    case SZ_CTL_IMPORT:
        rc = check_import(m, &total);
        break;
    case SZ_CTL_LIST:
        if (m->has_publisher > 1)
            rc = -SZ_EINVAL;
        else
            rc = add_len(&total, 1 + SZ_PUBLIC_KEY_LEN + 8);
        break;
    case SZ_CTL_LIST_PAGE:
        if (m->has_publisher > 1 || m->has_after > 1)
            rc = -SZ_EINVAL;
        else
            rc = add_len(&total, 2 * (1 + SZ_PUBLIC_KEY_LEN + 8) + SZ_BUNDLE_ID_LEN);
        break;
    case SZ_CTL_EXPORT:
        rc = add_len(&total, SZ_BUNDLE_ID_LEN);
        break;
    case SZ_CTL_R_ERROR:
        rc = add_len(&total, 4);
        if (rc == 0)
            rc = check_text(m->text, m->text_len, &total);
        break;
    case SZ_CTL_R_STATUS:
        rc = check_text(m->text, m->text_len, &total);
        if (rc == 0)
            rc = check_text(m->json, m->json_len, &total);
        break;
    case SZ_CTL_R_PUBLISHED:
        rc = add_len(&total, SZ_BUNDLE_ID_LEN + 8);
        break;
    case SZ_CTL_R_IMPORTED:
        rc = check_imported(m, &total);
        break;
    case SZ_CTL_R_LIST:
        rc = check_count(m->n_entries, 0, m->entries);
        if (rc == 0)
            rc = add_len(&total, 4);
        /* n_entries <= SZ_CTL_MAX_ITEMS here, so the product cannot overflow. */
        if (rc == 0)
            rc = add_len(&total, m->n_entries * ENTRY_LEN);
        break;
    case SZ_CTL_R_EXPORT:
        rc = check_blob(m->bundle, m->bundle_len, 1, &total);
        break;
    default:
        rc = -SZ_EINVAL;
        break;
    }
    if (rc == 0)
        *body_len = total;
    return rc;
}

static void
wr_text(struct sz_wr *w, const char *p, size_t len)
{
    sz_wr_u32(w, (uint32_t)len);
    sz_wr_bytes(w, p, len);
}

static void
wr_blob(struct sz_wr *w, const uint8_t *p, size_t len)
{
    sz_wr_u32(w, (uint32_t)len);
    sz_wr_bytes(w, p, len);
}

/* Writes the fields of a message that check_msg() accepted. */
static void
enc_fields(struct sz_wr *w, const struct sz_ctl_msg *m)
{
    static const uint8_t no_publisher[SZ_PUBLIC_KEY_LEN];
    size_t i;

    switch (m->type) {
    case SZ_CTL_PUBLISH:
        wr_blob(w, m->container, m->container_len);
        break;
    case SZ_CTL_IMPORT:
        sz_wr_u32(w, (uint32_t)m->n_items);
        for (i = 0; i < m->n_items; i++)
            wr_blob(w, m->items[i], m->item_lens[i]);
        break;
    case SZ_CTL_LIST:
        sz_wr_u8(w, m->has_publisher);
        sz_wr_bytes(w, m->has_publisher ? m->publisher : no_publisher, SZ_PUBLIC_KEY_LEN);
        sz_wr_u64(w, m->since_sequence);
        break;
    case SZ_CTL_LIST_PAGE:
        sz_wr_u8(w, m->has_publisher);
        sz_wr_bytes(w, m->has_publisher ? m->publisher : no_publisher, SZ_PUBLIC_KEY_LEN);
        sz_wr_u64(w, m->since_sequence);
        sz_wr_u8(w, m->has_after);
        sz_wr_bytes(w, m->has_after ? m->after_publisher : no_publisher, SZ_PUBLIC_KEY_LEN);
        sz_wr_u64(w, m->has_after ? m->after_sequence : 0);
        sz_wr_bytes(w, m->has_after ? m->after_id : no_publisher, SZ_BUNDLE_ID_LEN);
        break;
    case SZ_CTL_EXPORT:
        sz_wr_bytes(w, m->id, SZ_BUNDLE_ID_LEN);
        break;
    case SZ_CTL_R_ERROR:
        sz_wr_u32(w, m->code);
        wr_text(w, m->text, m->text_len);
        break;
    case SZ_CTL_R_STATUS:
        wr_text(w, m->text, m->text_len);
        wr_text(w, m->json, m->json_len);
        break;
    case SZ_CTL_R_PUBLISHED:
        sz_wr_bytes(w, m->id, SZ_BUNDLE_ID_LEN);
        sz_wr_u64(w, m->sequence);
        break;
    case SZ_CTL_R_IMPORTED:
        sz_wr_u32(w, (uint32_t)m->n_results);
        for (i = 0; i < m->n_results; i++) {
            sz_wr_u8(w, m->results[i].code);
            sz_wr_bytes(w, m->results[i].id, SZ_BUNDLE_ID_LEN);
            wr_text(w, m->results[i].text, m->results[i].text_len);
        }
        break;
    case SZ_CTL_R_LIST:
        sz_wr_u32(w, (uint32_t)m->n_entries);
        for (i = 0; i < m->n_entries; i++) {
            const struct sz_ctl_entry *e = &m->entries[i];

            sz_wr_bytes(w, e->id, SZ_BUNDLE_ID_LEN);
            sz_wr_bytes(w, e->publisher, SZ_PUBLIC_KEY_LEN);
            sz_wr_u64(w, e->sequence);
            sz_wr_i64(w, e->created);
            sz_wr_u64(w, e->size);
            sz_wr_i64(w, e->received);
        }
        break;
    case SZ_CTL_R_EXPORT:
        wr_blob(w, m->bundle, m->bundle_len);
        break;
    default: /* SZ_CTL_STATUS has no fields. */
        break;
    }
}

int
sz_ctl_encode(const struct sz_ctl_msg *msg, uint8_t **out, size_t *out_len)
{
    struct sz_wr w;
    size_t body_len = 0;
    int rc;

    if (msg == NULL || out == NULL || out_len == NULL)
        return -SZ_EINVAL;
    rc = check_msg(msg, &body_len);
    if (rc != 0)
        return rc;
    /* The writer's bound is the exact frame length: any disagreement with check_msg() fails. */
    sz_wr_init(&w, SZ_CTL_FRAME_HEADER_LEN + body_len);
    sz_wr_u32(&w, (uint32_t)body_len);
    sz_wr_u8(&w, type_version(msg->type));
    sz_wr_u8(&w, msg->type);
    enc_fields(&w, msg);
    rc = sz_wr_status(&w);
    if (rc == 0 && w.len != SZ_CTL_FRAME_HEADER_LEN + body_len)
        rc = -SZ_EINVAL;
    if (rc != 0)
        goto out;
    *out = w.p;
    *out_len = w.len;
    w.p = NULL;
out:
    sz_wr_free(&w, false);
    return rc;
}
