/*
 * The control protocol codec: sz_ctl_frame_peek() and sz_ctl_decode() on
 * arbitrary bytes, both on the input as a stream (the peek, then the body of
 * the frame it finds) and on the whole input as one body. Whatever decodes must
 * satisfy the limits of CONTROL.md, encode again to exactly the same bytes (the
 * format has one encoding per message), and decode again to the same fields.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/ctl.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    return 0;
}

static bool
bytes_eq(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

static bool
text_ok(const char *p, size_t len)
{
    return len <= SZ_CTL_MAX_TEXT_LEN && (len == 0 || p != NULL) &&
           sz_utf8_valid((const uint8_t *)p, len);
}

/* The fields of a's type are equal in b; pointers may differ, contents may not. */
static bool
msg_equal(const struct sz_ctl_msg *a, const struct sz_ctl_msg *b)
{
    size_t i;

    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SZ_CTL_STATUS:
        return true;
    case SZ_CTL_PUBLISH:
        return bytes_eq(a->container, a->container_len, b->container, b->container_len);
    case SZ_CTL_IMPORT:
        if (a->n_items != b->n_items)
            return false;
        for (i = 0; i < a->n_items; i++)
            if (!bytes_eq(a->items[i], a->item_lens[i], b->items[i], b->item_lens[i]))
                return false;
        return true;
    case SZ_CTL_LIST:
        return a->has_publisher == b->has_publisher &&
               memcmp(a->publisher, b->publisher, SZ_PUBLIC_KEY_LEN) == 0 &&
               a->since_sequence == b->since_sequence;
    case SZ_CTL_LIST_PAGE:
        return a->has_publisher == b->has_publisher &&
               memcmp(a->publisher, b->publisher, SZ_PUBLIC_KEY_LEN) == 0 &&
               a->since_sequence == b->since_sequence && a->has_after == b->has_after &&
               memcmp(a->after_publisher, b->after_publisher, SZ_PUBLIC_KEY_LEN) == 0 &&
               a->after_sequence == b->after_sequence &&
               memcmp(a->after_id, b->after_id, SZ_BUNDLE_ID_LEN) == 0;
    case SZ_CTL_EXPORT:
        return memcmp(a->id, b->id, SZ_BUNDLE_ID_LEN) == 0;
    case SZ_CTL_R_ERROR:
        return a->code == b->code && bytes_eq(a->text, a->text_len, b->text, b->text_len);
    case SZ_CTL_R_STATUS:
        return bytes_eq(a->text, a->text_len, b->text, b->text_len) &&
               bytes_eq(a->json, a->json_len, b->json, b->json_len);
    case SZ_CTL_R_PUBLISHED:
        return memcmp(a->id, b->id, SZ_BUNDLE_ID_LEN) == 0 && a->sequence == b->sequence;
    case SZ_CTL_R_IMPORTED:
        if (a->n_results != b->n_results)
            return false;
        for (i = 0; i < a->n_results; i++) {
            const struct sz_ctl_import_result *x = &a->results[i], *y = &b->results[i];
            if (x->code != y->code || memcmp(x->id, y->id, SZ_BUNDLE_ID_LEN) != 0 ||
                !bytes_eq(x->text, x->text_len, y->text, y->text_len))
                return false;
        }
        return true;
    case SZ_CTL_R_LIST:
        if (a->n_entries != b->n_entries)
            return false;
        for (i = 0; i < a->n_entries; i++) {
            const struct sz_ctl_entry *x = &a->entries[i], *y = &b->entries[i];
            if (memcmp(x->id, y->id, SZ_BUNDLE_ID_LEN) != 0 ||
                memcmp(x->publisher, y->publisher, SZ_PUBLIC_KEY_LEN) != 0 ||
                x->sequence != y->sequence || x->created != y->created || x->size != y->size ||
                x->received != y->received)
                return false;
        }
        return true;
    case SZ_CTL_R_EXPORT:
        return bytes_eq(a->bundle, a->bundle_len, b->bundle, b->bundle_len);
    default:
        return false;
    }
}

/* Limits every decoded message keeps (CONTROL.md 5 and 7.1). */
static void
check_limits(const struct sz_ctl_msg *m)
{
    size_t i;

    switch (m->type) {
    case SZ_CTL_PUBLISH:
        if (m->container == NULL || m->container_len == 0)
            abort();
        break;
    case SZ_CTL_IMPORT:
        if (m->n_items == 0 || m->n_items > SZ_CTL_MAX_ITEMS)
            abort();
        for (i = 0; i < m->n_items; i++)
            if (m->items[i] == NULL && m->item_lens[i] > 0)
                abort();
        break;
    case SZ_CTL_LIST:
        if (m->has_publisher > 1)
            abort();
        break;
    case SZ_CTL_LIST_PAGE:
        if (m->has_publisher > 1 || m->has_after > 1)
            abort();
        break;
    case SZ_CTL_R_ERROR:
        if (!text_ok(m->text, m->text_len))
            abort();
        break;
    case SZ_CTL_R_STATUS:
        if (!text_ok(m->text, m->text_len) || !text_ok(m->json, m->json_len))
            abort();
        break;
    case SZ_CTL_R_IMPORTED:
        if (m->n_results == 0 || m->n_results > SZ_CTL_MAX_ITEMS)
            abort();
        for (i = 0; i < m->n_results; i++)
            if (m->results[i].code > SZ_CTL_IMPORT_POLICY ||
                !text_ok(m->results[i].text, m->results[i].text_len))
                abort();
        break;
    case SZ_CTL_R_LIST:
        if (m->n_entries > SZ_CTL_MAX_ITEMS || (m->n_entries > 0 && m->entries == NULL))
            abort();
        break;
    case SZ_CTL_R_EXPORT:
        if (m->bundle == NULL || m->bundle_len == 0)
            abort();
        break;
    case SZ_CTL_STATUS:
    case SZ_CTL_EXPORT:
    case SZ_CTL_R_PUBLISHED:
        break;
    default:
        abort();
    }
}

/* Decodes one body; a failure must leave *out untouched. */
static void
check_body(const uint8_t *body, size_t len)
{
    static struct sz_ctl_msg marker;
    struct sz_ctl_msg *m = &marker, *again = NULL;
    uint8_t *frame = NULL;
    size_t frame_len = 0, peeked = 0;
    int rc;

    rc = sz_ctl_decode(body, len, &m);
    fuzz_check_rc(rc);
    if (rc != 0) {
        if (m != &marker)
            abort();
        return;
    }
    if (m == NULL || m == &marker || len < 2 || len > SZ_CTL_MAX_BODY_LEN)
        abort();
    check_limits(m);
    /* One encoding per message: the frame carries exactly the bytes that were decoded. */
    if (sz_ctl_encode(m, &frame, &frame_len) != 0 || frame_len != SZ_CTL_FRAME_HEADER_LEN + len ||
        sz_load32(frame) != len || memcmp(frame + SZ_CTL_FRAME_HEADER_LEN, body, len) != 0)
        abort();
    if (sz_ctl_frame_peek(frame, frame_len, &peeked) != 0 || peeked != frame_len)
        abort();
    if (sz_ctl_decode(frame + SZ_CTL_FRAME_HEADER_LEN, len, &again) != 0 || !msg_equal(m, again))
        abort();
    sz_ctl_msg_free(again);
    free(frame);
    sz_ctl_msg_free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t untouched = 0x5a5a5a5a;
    size_t frame_len = untouched;
    int rc;

    /* As a stream: the peek either finds a whole frame inside the input or reports why not. */
    rc = sz_ctl_frame_peek(data, size, &frame_len);
    if (rc != 0 && rc != 1)
        fuzz_check_rc(rc);
    if (rc < 0 && rc != -SZ_ETOOBIG && rc != -SZ_EBADMSG)
        abort();
    if (rc != 0 && frame_len != untouched)
        abort();
    if (rc == 1 && size >= SZ_CTL_FRAME_HEADER_LEN &&
        size >= SZ_CTL_FRAME_HEADER_LEN + (size_t)sz_load32(data))
        abort();
    if (rc == 0) {
        if (frame_len <= SZ_CTL_FRAME_HEADER_LEN || frame_len > size ||
            frame_len != SZ_CTL_FRAME_HEADER_LEN + (size_t)sz_load32(data))
            abort();
        check_body(data + SZ_CTL_FRAME_HEADER_LEN, frame_len - SZ_CTL_FRAME_HEADER_LEN);
    }
    /* As one body, so that mutations need not keep a length prefix consistent. */
    check_body(data, size);
    return 0;
}
