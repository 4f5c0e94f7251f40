/*
 * The peer message codec: sz_msg_decode() on arbitrary frame bodies. Whatever
 * decodes must keep the limits of PROTOCOL.md 4, encode again to exactly the
 * same bytes through the generic encoder (the format has one encoding per
 * message) and, for the list messages, through the typed encoders fed from the
 * accessors; and it must decode again to the same fields. A failure must leave
 * the output untouched and be one of the decoder's documented errors.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/article.h"
#include "samizdat/msg.h"

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

static void
check(bool ok)
{
    if (!ok)
        abort();
}

/* The limits every decoded message keeps; the accessors walk every entry. */
static void
check_limits(const struct sz_msg *m, const uint8_t *body, size_t len)
{
    struct sz_msg_announce a;
    struct sz_msg_peer p;
    struct sz_msg_iter it;
    struct sz_msg_summary_pub pub;
    struct sz_msg_range r;
    size_t i, j, n_pubs = 0;

    check(m->type == body[0] && sz_msg_type_name(m->type) != NULL);
    switch (m->type) {
    case SZ_MSG_HELLO:
        check(m->roles == 0 || m->roles == SZ_ROLE_RELAY || m->roles == SZ_ROLE_FETCH);
        break;
    case SZ_MSG_GOODBYE:
        check(m->reason >= SZ_GOODBYE_SHUTDOWN && m->reason <= SZ_GOODBYE_IDLE);
        check(m->text_len <= SZ_MSG_MAX_GOODBYE_TEXT_LEN);
        check(sz_utf8_valid((const uint8_t *)m->text, m->text_len));
        break;
    case SZ_MSG_ANNOUNCE:
        check(m->n_entries >= 1 && m->n_entries <= SZ_MSG_MAX_ANNOUNCE);
        check(m->entries_len == m->n_entries * SZ_MSG_ANNOUNCE_ENTRY_LEN);
        for (i = 0; i < m->n_entries; i++) {
            sz_msg_announce_get(m, i, &a);
            check(a.size >= SZ_MSG_MIN_BUNDLE_LEN);
        }
        break;
    case SZ_MSG_REQUEST:
        check(m->n_entries >= 1 && m->n_entries <= SZ_MSG_MAX_REQUEST);
        check(m->entries_len == m->n_entries * SZ_BUNDLE_ID_LEN);
        check(sz_msg_request_id(m, m->n_entries - 1) + SZ_BUNDLE_ID_LEN == body + len);
        break;
    case SZ_MSG_BUNDLE:
        check(m->data_len >= 1 && m->data_len <= SZ_MSG_MAX_CHUNK_LEN);
        check(m->total >= SZ_MSG_MIN_BUNDLE_LEN);
        check((uint64_t)m->offset + m->data_len <= m->total);
        check(m->data + m->data_len == body + len);
        break;
    case SZ_MSG_SUMMARY:
    case SZ_MSG_SUMMARY_PACKED:
        check(m->more <= 1 && m->n_entries <= SZ_MSG_MAX_SUMMARY_PUBLISHERS);
        sz_msg_summary_iter(m, &it);
        while (sz_msg_summary_next(&it, &pub)) {
            uint64_t prev = 0;
            n_pubs++;
            check(pub.n_ranges <= SZ_MSG_MAX_SUMMARY_RANGES);
            check(pub.packed == (m->type == SZ_MSG_SUMMARY_PACKED));
            for (j = 0; j < pub.n_ranges; j++) {
                check(sz_msg_summary_range_next(&pub, &r));
                check(r.first <= r.last);
                /* Packed ranges ascend without overlap. */
                check(!pub.packed || j == 0 || r.first > prev);
                prev = r.last;
            }
            check(!sz_msg_summary_range_next(&pub, &r));
        }
        check(n_pubs == m->n_entries && sz_rd_left(&it.rd) == 0);
        break;
    case SZ_MSG_REQUEST_SPARSE: {
        uint64_t prev = 0;
        check(m->n_entries >= 1 && m->n_entries <= SZ_MSG_MAX_SPARSE_RANGES);
        check(m->first <= m->last && m->last - m->first < SZ_MSG_MAX_RANGE_SPAN);
        check(m->entries + m->entries_len == body + len);
        sz_msg_sparse_ranges(m, &pub);
        for (j = 0; j < m->n_entries; j++) {
            check(sz_msg_summary_range_next(&pub, &r));
            check(r.first <= r.last && r.first >= m->first && r.last <= m->last);
            check(j > 0 || r.first == m->first);
            check(j == 0 || r.first > prev);
            prev = r.last;
        }
        check(prev == m->last && !sz_msg_summary_range_next(&pub, &r));
        break;
    }
    case SZ_MSG_REQUEST_RANGE:
    case SZ_MSG_RANGE_DONE:
        check(m->first <= m->last && m->last - m->first < SZ_MSG_MAX_RANGE_SPAN);
        check(m->type == SZ_MSG_REQUEST_RANGE || m->sent <= m->last - m->first + 1);
        break;
    case SZ_MSG_PEERS:
        check(m->n_entries <= SZ_MSG_MAX_PEERS);
        for (i = 0; i < m->n_entries; i++) {
            sz_msg_peer_get(m, i, &p);
            check((p.family == SZ_FAMILY_IPV4 || p.family == SZ_FAMILY_IPV6) && p.port != 0);
        }
        break;
    case SZ_MSG_EQUIVOCATION:
        check(memcmp(m->id, m->id_b, SZ_BUNDLE_ID_LEN) != 0);
        break;
    case SZ_MSG_REQUEST_PART:
        check(len == 1 + SZ_BUNDLE_ID_LEN + 4 && m->offset >= 1);
        check(memcmp(m->id, body + 1, SZ_BUNDLE_ID_LEN) == 0);
        break;
    default:
        break;
    }
}

/* Rebuilds a list message from its accessors through the typed encoder. */
static void
check_typed(const struct sz_msg *m, const uint8_t *body, size_t len)
{
    uint8_t *out = malloc(len);
    size_t out_len = 0, i, j, n_ranges = 0;
    int rc = 0;

    check(out != NULL);
    switch (m->type) {
    case SZ_MSG_ANNOUNCE: {
        struct sz_msg_announce a[SZ_MSG_MAX_ANNOUNCE];
        for (i = 0; i < m->n_entries; i++)
            sz_msg_announce_get(m, i, &a[i]);
        rc = sz_msg_encode_announce(a, m->n_entries, out, len, &out_len);
        break;
    }
    case SZ_MSG_REQUEST:
        rc = sz_msg_encode_request(m->entries, m->n_entries, out, len, &out_len);
        break;
    case SZ_MSG_PEERS: {
        struct sz_msg_peer p[SZ_MSG_MAX_PEERS];
        for (i = 0; i < m->n_entries; i++)
            sz_msg_peer_get(m, i, &p[i]);
        rc = sz_msg_encode_peers(p, m->n_entries, out, len, &out_len);
        break;
    }
    case SZ_MSG_SUMMARY:
    case SZ_MSG_SUMMARY_PACKED: {
        /* Every range takes at least 2 bytes of the body: len / 2 bounds them all. */
        struct sz_msg_range *ranges = malloc((len / 2 + 1) * sizeof *ranges);
        struct sz_msg_summary_src *src = malloc((m->n_entries + 1) * sizeof *src);
        struct sz_msg_summary_pub pub;
        struct sz_msg_iter it;

        check(ranges != NULL && src != NULL);
        sz_msg_summary_iter(m, &it);
        for (i = 0; sz_msg_summary_next(&it, &pub); i++) {
            src[i].publisher = pub.publisher;
            src[i].ranges = ranges + n_ranges;
            src[i].n_ranges = pub.n_ranges;
            for (j = 0; j < pub.n_ranges; j++)
                check(sz_msg_summary_range_next(&pub, &ranges[n_ranges++]));
        }
        if (m->type == SZ_MSG_SUMMARY)
            rc = sz_msg_encode_summary(m->more != 0, src, i, out, len, &out_len);
        else
            rc = sz_msg_encode_summary_packed(m->more != 0, src, i, out, len, &out_len);
        free(src);
        free(ranges);
        break;
    }
    case SZ_MSG_REQUEST_SPARSE: {
        struct sz_msg_range *ranges = malloc(m->n_entries * sizeof *ranges);
        struct sz_msg_summary_pub pub;

        check(ranges != NULL);
        sz_msg_sparse_ranges(m, &pub);
        for (i = 0; i < m->n_entries; i++)
            check(sz_msg_summary_range_next(&pub, &ranges[i]));
        rc = sz_msg_encode_request_sparse(m->publisher, ranges, m->n_entries, out, len, &out_len);
        free(ranges);
        break;
    }
    default:
        free(out);
        return;
    }
    check(rc == 0 && out_len == len && memcmp(out, body, len) == 0);
    free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sz_msg m, marker, again;
    uint8_t *enc, *alloced = NULL;
    size_t len = 0, alloced_len = 0;
    int rc;

    memset(&marker, 0xa5, sizeof marker);
    memcpy(&m, &marker, sizeof m);
    rc = sz_msg_decode(data, size, &m);
    fuzz_check_rc(rc);
    if (rc != 0) {
        check(rc == -SZ_EBADMSG || rc == -SZ_ETOOBIG || rc == -SZ_EUTF8 || rc == -SZ_ETRAILING);
        check(memcmp(&m, &marker, sizeof m) == 0);
        return 0;
    }
    check(size >= 1 && size <= SZ_MSG_MAX_LEN);
    check_limits(&m, data, size);

    /* One encoding per message: the same bytes, in a buffer of exactly their size. */
    check(sz_msg_encoded_len(&m, &len) == 0 && len == size);
    enc = malloc(size);
    check(enc != NULL);
    check(sz_msg_encode(&m, enc, size - 1, &len) == -SZ_ETOOBIG);
    check(sz_msg_encode(&m, enc, size, &len) == 0 && len == size);
    check(memcmp(enc, data, size) == 0);
    check(sz_msg_encode_alloc(&m, &alloced, &alloced_len) == 0 && alloced_len == size);
    check(memcmp(alloced, data, size) == 0);
    check_typed(&m, data, size);

    /* The copy decodes to the same fields (pointers into the copy). */
    check(sz_msg_decode(enc, size, &again) == 0 && again.type == m.type);
    check(again.n_entries == m.n_entries && again.entries_len == m.entries_len);
    check(again.text_len == m.text_len && again.data_len == m.data_len);
    check(again.nonce == m.nonce && again.roles == m.roles && again.listen_port == m.listen_port);
    check(again.total == m.total && again.offset == m.offset && again.sent == m.sent);
    check(again.first == m.first && again.last == m.last && again.sequence == m.sequence);
    check(memcmp(again.publisher, m.publisher, sizeof m.publisher) == 0);
    check(memcmp(again.id, m.id, sizeof m.id) == 0 && memcmp(again.id_b, m.id_b, 32) == 0);
    free(alloced);
    free(enc);
    return 0;
}
