/*
 * Tests of proto/ctl.c, the control protocol codec (proto/CONTROL.md): known
 * answers that pin the byte layout, round trips of every message type, every
 * truncated prefix, trailing bytes, bad versions and types, counts and lengths
 * above their limits or above the bytes that remain, invalid UTF-8, and the
 * encoder's argument checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "samizdat/ctl.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Hex of runs of zero bytes, for the hand-written bodies below. */
#define Z8 "0000000000000000"
#define Z32 Z8 Z8 Z8 Z8
/* A 32-byte id 00 01 .. 1f in hex. */
#define ID_HEX                                                                                     \
    "000102030405060708090a0b0c0d0e0f"                                                             \
    "101112131415161718191a1b1c1d1e1f"

static const uint8_t PK_B[32] = {0xb1, [15] = 0xbf, [31] = 0xb0};

static const uint8_t CONTAINER[] = "not parsed by the codec: any bytes \x00\xff";
static const uint8_t ITEM_1[] = {0x53};
static const uint8_t ITEM_2[200] = {0x53, 0x5a, 0x42, 0x4e, [199] = 0xee};
static const uint8_t ITEM_3[] = {0x00, 0x00, 0x00};
static const uint8_t *ITEMS_3[] = {ITEM_1, ITEM_2, ITEM_3};
static size_t ITEM_LENS_3[] = {sizeof ITEM_1, sizeof ITEM_2, sizeof ITEM_3};
/* An empty item is valid on the wire: the daemon refuses it as a bundle, alone. */
static const uint8_t *ITEMS_EMPTY[] = {NULL, ITEM_1, NULL};
static size_t ITEM_LENS_EMPTY[] = {0, sizeof ITEM_1, 0};

static const char STATUS_TEXT[] =
    "samizdatd 0.1.0\nbundles: 3 (1.2 MiB)\n"
    "\xd0\x94\xd0\xb5\xd1\x80\xd0\xb6\xd0\xb8 \xe2\x9c\x93\t\xf0\x9f\x93\xb0\n";
static const char STATUS_JSON[] =
    "{\"version\":\"0.1.0\",\"bundles\":3,\"name\":\"\xc3\xa9t\xc3\xa9\"}";

static const char TEXT_STORED[] = "stored";
static const char TEXT_REFUSED[] = "malformed or truncated data";
static const char TEXT_POLICY[] = "publisher not carried \xe2\x80\x94 quota";

static struct sz_ctl_import_result RESULTS_4[] = {
    {.code = SZ_CTL_IMPORT_STORED,
     .id = {1, 2, 3},
     .text = TEXT_STORED,
     .text_len = sizeof TEXT_STORED - 1},
    {.code = SZ_CTL_IMPORT_PRESENT, .id = {[31] = 9}, .text = "", .text_len = 0},
    {.code = SZ_CTL_IMPORT_REFUSED,
     .id = {0},
     .text = TEXT_REFUSED,
     .text_len = sizeof TEXT_REFUSED - 1},
    {.code = SZ_CTL_IMPORT_POLICY,
     .id = {0xff},
     .text = TEXT_POLICY,
     .text_len = sizeof TEXT_POLICY - 1},
};

static struct sz_ctl_entry ENTRIES_3[] = {
    {.id = {1},
     .publisher = {0xa1},
     .sequence = 1,
     .created = 1724925600,
     .size = 512,
     .received = 1724925601},
    {.id = {2},
     .publisher = {0xa1},
     .sequence = UINT64_MAX,
     .created = -62135596800,
     .size = 0,
     .received = INT64_MIN},
    {.id = {3},
     .publisher = {0xb2},
     .sequence = 0,
     .created = INT64_MAX,
     .size = UINT64_MAX,
     .received = -1},
};

static const uint8_t BUNDLE[] = {0x53, 0x5a, 0x42, 0x4e, 0x01, 0x00, 0x00, 0x00, 0x42};

/* Messages that must survive encode → peek → decode → encode unchanged. */
static const struct sample {
    const char *name;
    struct sz_ctl_msg msg;
} SAMPLES[] = {
    {"status", {.type = SZ_CTL_STATUS}},
    {"publish",
     {.type = SZ_CTL_PUBLISH, .container = CONTAINER, .container_len = sizeof CONTAINER}},
    {"publish-1", {.type = SZ_CTL_PUBLISH, .container = ITEM_1, .container_len = 1}},
    {"import-1", {.type = SZ_CTL_IMPORT, .items = ITEMS_3, .item_lens = ITEM_LENS_3, .n_items = 1}},
    {"import-3", {.type = SZ_CTL_IMPORT, .items = ITEMS_3, .item_lens = ITEM_LENS_3, .n_items = 3}},
    {"import-empty",
     {.type = SZ_CTL_IMPORT, .items = ITEMS_EMPTY, .item_lens = ITEM_LENS_EMPTY, .n_items = 3}},
    {"list-all", {.type = SZ_CTL_LIST}},
    {"list-since", {.type = SZ_CTL_LIST, .since_sequence = UINT64_MAX}},
    {"list-publisher",
     {.type = SZ_CTL_LIST,
      .has_publisher = 1,
      .publisher = {0xa1, 0xa2, 0xa3, 0xa4, [31] = 0xaf},
      .since_sequence = 42}},
    {"list-zero-publisher", {.type = SZ_CTL_LIST, .has_publisher = 1}},
    {"list-page-first", {.type = SZ_CTL_LIST_PAGE}},
    {"list-page-after",
     {.type = SZ_CTL_LIST_PAGE,
      .has_publisher = 1,
      .publisher = {0xa1, [31] = 0xaf},
      .since_sequence = 9,
      .has_after = 1,
      .after_publisher = {0xa1, [31] = 0xaf},
      .after_sequence = UINT64_MAX,
      .after_id = {0xff, [31] = 0x01}}},
    {"export", {.type = SZ_CTL_EXPORT, .id = {0, 1, 2, 3, [31] = 31}}},
    {"r-error",
     {.type = SZ_CTL_R_ERROR, .code = SZ_EVERSION, .text = "unknown version", .text_len = 15}},
    {"r-error-empty", {.type = SZ_CTL_R_ERROR}},
    {"r-error-big-code", {.type = SZ_CTL_R_ERROR, .code = UINT32_MAX, .text = "x", .text_len = 1}},
    {"r-status",
     {.type = SZ_CTL_R_STATUS,
      .text = STATUS_TEXT,
      .text_len = sizeof STATUS_TEXT - 1,
      .json = STATUS_JSON,
      .json_len = sizeof STATUS_JSON - 1}},
    {"r-status-empty", {.type = SZ_CTL_R_STATUS}},
    {"r-published", {.type = SZ_CTL_R_PUBLISHED, .id = {0xde, 0xad, [31] = 1}, .sequence = 7}},
    {"r-published-max", {.type = SZ_CTL_R_PUBLISHED, .sequence = UINT64_MAX}},
    {"r-imported-1", {.type = SZ_CTL_R_IMPORTED, .results = RESULTS_4, .n_results = 1}},
    {"r-imported-4", {.type = SZ_CTL_R_IMPORTED, .results = RESULTS_4, .n_results = 4}},
    {"r-list-empty", {.type = SZ_CTL_R_LIST}},
    {"r-list-1", {.type = SZ_CTL_R_LIST, .entries = ENTRIES_3, .n_entries = 1}},
    {"r-list-3", {.type = SZ_CTL_R_LIST, .entries = ENTRIES_3, .n_entries = 3}},
    {"r-export", {.type = SZ_CTL_R_EXPORT, .bundle = BUNDLE, .bundle_len = sizeof BUNDLE}},
};

static bool
bytes_eq(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && (a_len == 0 || memcmp(a, b, a_len) == 0);
}

/* Compares the fields a message's type uses (CONTROL.md 5). */
static void
assert_msg_equal(const struct sz_ctl_msg *a, const struct sz_ctl_msg *b)
{
    size_t i;

    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case SZ_CTL_PUBLISH:
        assert_true(bytes_eq(a->container, a->container_len, b->container, b->container_len));
        break;
    case SZ_CTL_IMPORT:
        assert_int_equal(a->n_items, b->n_items);
        for (i = 0; i < a->n_items; i++)
            assert_true(bytes_eq(a->items[i], a->item_lens[i], b->items[i], b->item_lens[i]));
        break;
    case SZ_CTL_LIST:
        assert_int_equal(a->has_publisher, b->has_publisher);
        assert_memory_equal(a->publisher, b->publisher, SZ_PUBLIC_KEY_LEN);
        assert_true(a->since_sequence == b->since_sequence);
        break;
    case SZ_CTL_LIST_PAGE:
        assert_int_equal(a->has_publisher, b->has_publisher);
        assert_memory_equal(a->publisher, b->publisher, SZ_PUBLIC_KEY_LEN);
        assert_true(a->since_sequence == b->since_sequence);
        assert_int_equal(a->has_after, b->has_after);
        assert_memory_equal(a->after_publisher, b->after_publisher, SZ_PUBLIC_KEY_LEN);
        assert_true(a->after_sequence == b->after_sequence);
        assert_memory_equal(a->after_id, b->after_id, SZ_BUNDLE_ID_LEN);
        break;
    case SZ_CTL_EXPORT:
        assert_memory_equal(a->id, b->id, SZ_BUNDLE_ID_LEN);
        break;
    case SZ_CTL_R_ERROR:
        assert_int_equal(a->code, b->code);
        assert_true(bytes_eq(a->text, a->text_len, b->text, b->text_len));
        break;
    case SZ_CTL_R_STATUS:
        assert_true(bytes_eq(a->text, a->text_len, b->text, b->text_len));
        assert_true(bytes_eq(a->json, a->json_len, b->json, b->json_len));
        break;
    case SZ_CTL_R_PUBLISHED:
        assert_memory_equal(a->id, b->id, SZ_BUNDLE_ID_LEN);
        assert_true(a->sequence == b->sequence);
        break;
    case SZ_CTL_R_IMPORTED:
        assert_int_equal(a->n_results, b->n_results);
        for (i = 0; i < a->n_results; i++) {
            assert_int_equal(a->results[i].code, b->results[i].code);
            assert_memory_equal(a->results[i].id, b->results[i].id, SZ_BUNDLE_ID_LEN);
            assert_true(bytes_eq(a->results[i].text, a->results[i].text_len, b->results[i].text,
                                 b->results[i].text_len));
        }
        break;
    case SZ_CTL_R_LIST:
        assert_int_equal(a->n_entries, b->n_entries);
        for (i = 0; i < a->n_entries; i++) {
            const struct sz_ctl_entry *x = &a->entries[i], *y = &b->entries[i];
            assert_memory_equal(x->id, y->id, SZ_BUNDLE_ID_LEN);
            assert_memory_equal(x->publisher, y->publisher, SZ_PUBLIC_KEY_LEN);
            assert_true(x->sequence == y->sequence);
            assert_true(x->created == y->created);
            assert_true(x->size == y->size);
            assert_true(x->received == y->received);
        }
        break;
    case SZ_CTL_R_EXPORT:
        assert_true(bytes_eq(a->bundle, a->bundle_len, b->bundle, b->bundle_len));
        break;
    default:
        break;
    }
}

/* Parses hex (spaces allowed) into a malloc'd buffer of exactly the decoded size. */
static uint8_t *
from_hex(const char *hex, size_t *out_len)
{
    size_t n = 0, i, len = strlen(hex);
    char *digits = malloc(len + 1);
    uint8_t *out;

    assert_non_null(digits);
    for (i = 0; i < len; i++)
        if (hex[i] != ' ')
            digits[n++] = hex[i];
    assert_true(n % 2 == 0);
    /* At least one byte so that the empty body is a valid pointer too. */
    out = malloc(n / 2 > 0 ? n / 2 : 1);
    assert_non_null(out);
    assert_int_equal(sz_unhex(digits, n, out, n / 2), 0);
    free(digits);
    *out_len = n / 2;
    return out;
}

/* Encodes a sample, checking the frame header against the output length. */
static uint8_t *
encode_ok(const struct sz_ctl_msg *msg, size_t *len)
{
    uint8_t *frame = NULL;

    assert_int_equal(sz_ctl_encode(msg, &frame, len), 0);
    assert_non_null(frame);
    assert_true(*len >= SZ_CTL_FRAME_HEADER_LEN + 2);
    assert_int_equal(sz_load32(frame), *len - SZ_CTL_FRAME_HEADER_LEN);
    /* The lowest version that has the type: 2 for LIST_PAGE, else 1 (CONTROL.md 3.1). */
    assert_int_equal(frame[4], msg->type == SZ_CTL_LIST_PAGE ? 2 : 1);
    assert_int_equal(frame[5], msg->type);
    return frame;
}

/* Decodes a body that must fail with `want`, and checks *out stayed untouched. */
static void
assert_decode_fails(const uint8_t *body, size_t len, int want)
{
    static struct sz_ctl_msg marker;
    struct sz_ctl_msg *m = &marker;

    assert_int_equal(sz_ctl_decode(body, len, &m), want);
    assert_ptr_equal(m, &marker);
}

/* Every message type, byte for byte as CONTROL.md 5 lays it out. */
static void
test_known_answers(void **state)
{
    static const struct sz_ctl_import_result res = {
        .code = SZ_CTL_IMPORT_REFUSED, .text = "x", .text_len = 1};
    static const struct sz_ctl_entry ent = {.id = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                                   11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                                                   22, 23, 24, 25, 26, 27, 28, 29, 30, 31},
                                            .publisher = {0xa1, 0xa2, 0xa3, 0xa4, [31] = 0xaf},
                                            .sequence = 0x0102030405060708,
                                            .created = -2,
                                            .size = 0x1122,
                                            .received = 0x33};
    static const uint8_t ab[] = {'a', 'b'}, c[] = {'c'};
    static const uint8_t *two[] = {ab, c};
    static size_t two_lens[] = {2, 1};
    static const struct {
        struct sz_ctl_msg msg;
        const char *hex;
    } kats[] = {
        {{.type = SZ_CTL_STATUS}, "02000000 01 01"},
        {{.type = SZ_CTL_PUBLISH, .container = ab, .container_len = 2},
         "08000000 01 02 02000000 6162"},
        {{.type = SZ_CTL_IMPORT, .items = two, .item_lens = two_lens, .n_items = 2},
         "11000000 01 03 02000000 02000000 6162 01000000 63"},
        {{.type = SZ_CTL_LIST, .since_sequence = 5}, "2b000000 01 04 00" Z32 "0500000000000000"},
        {{.type = SZ_CTL_LIST,
          .has_publisher = 1,
          .publisher = {0xa1, 0xa2, 0xa3, 0xa4, [31] = 0xaf},
          .since_sequence = 0x0102030405060708},
         "2b000000 01 04 01 a1a2a3a4" Z8 Z8 Z8 "000000af 0807060504030201"},
        {{.type = SZ_CTL_LIST_PAGE, .since_sequence = 5},
         "74000000 02 06 00" Z32 "0500000000000000 00" Z32 Z8 Z32},
        {{.type = SZ_CTL_LIST_PAGE,
          .has_publisher = 1,
          .publisher = {0xa1, 0xa2, 0xa3, 0xa4, [31] = 0xaf},
          .has_after = 1,
          .after_publisher = {0xa1, 0xa2, 0xa3, 0xa4, [31] = 0xaf},
          .after_sequence = 0x0102030405060708,
          .after_id = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                       16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}},
         "74000000 02 06 01 a1a2a3a4" Z8 Z8 Z8 "000000af" Z8 "01 a1a2a3a4" Z8 Z8 Z8
         "000000af 0807060504030201" ID_HEX},
        {{.type = SZ_CTL_EXPORT,
          .id = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31}},
         "22000000 01 05" ID_HEX},
        {{.type = SZ_CTL_R_ERROR, .code = SZ_EVERSION, .text = "hi", .text_len = 2},
         "0c000000 01 80 05000000 02000000 6869"},
        {{.type = SZ_CTL_R_STATUS, .text = "ok", .text_len = 2, .json = "{}", .json_len = 2},
         "0e000000 01 81 02000000 6f6b 02000000 7b7d"},
        {{.type = SZ_CTL_R_PUBLISHED,
          .id = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31},
          .sequence = 0x0102030405060708},
         "2a000000 01 82" ID_HEX "0807060504030201"},
        {{.type = SZ_CTL_R_IMPORTED,
          .results = (struct sz_ctl_import_result *)&res,
          .n_results = 1},
         "2c000000 01 83 01000000 02" Z32 "01000000 78"},
        {{.type = SZ_CTL_R_LIST}, "06000000 01 84 00000000"},
        {{.type = SZ_CTL_R_LIST, .entries = (struct sz_ctl_entry *)&ent, .n_entries = 1},
         "66000000 01 84 01000000" ID_HEX "a1a2a3a4" Z8 Z8 Z8 "000000af"
         "0807060504030201 feffffffffffffff 2211000000000000 3300000000000000"},
        {{.type = SZ_CTL_R_EXPORT, .bundle = c, .bundle_len = 1}, "07000000 01 85 01000000 63"},
    };

    (void)state;
    for (size_t i = 0; i < N_ELEMS(kats); i++) {
        size_t want_len, len;
        uint8_t *want = from_hex(kats[i].hex, &want_len);
        uint8_t *frame = encode_ok(&kats[i].msg, &len);
        struct sz_ctl_msg *m = NULL;

        assert_int_equal(len, want_len);
        assert_memory_equal(frame, want, len);
        assert_int_equal(sz_ctl_decode(want + 4, want_len - 4, &m), 0);
        assert_msg_equal(&kats[i].msg, m);
        sz_ctl_msg_free(m);
        free(frame);
        free(want);
    }
}

/* encode → peek → decode gives the message back, and encoding it again gives the same bytes. */
static void
test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(SAMPLES); i++) {
        const struct sz_ctl_msg *msg = &SAMPLES[i].msg;
        struct sz_ctl_msg *m = NULL;
        size_t len, len2, frame_len = 0;
        uint8_t *frame = encode_ok(msg, &len), *frame2 = NULL, *two;

        print_message("%s: %zu bytes\n", SAMPLES[i].name, len);
        assert_int_equal(sz_ctl_frame_peek(frame, len, &frame_len), 0);
        assert_int_equal(frame_len, len);
        assert_int_equal(sz_ctl_decode(frame + 4, len - 4, &m), 0);
        assert_non_null(m);
        assert_msg_equal(msg, m);
        assert_int_equal(sz_ctl_encode(m, &frame2, &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(frame2, frame, len);

        /* Two frames back to back: the peek reports only the first. */
        two = malloc(2 * len);
        assert_non_null(two);
        memcpy(two, frame, len);
        memcpy(two + len, frame, len);
        frame_len = 0;
        assert_int_equal(sz_ctl_frame_peek(two, 2 * len, &frame_len), 0);
        assert_int_equal(frame_len, len);

        free(two);
        free(frame2);
        sz_ctl_msg_free(m);
        free(frame);
    }
}

/* Every strict prefix: the peek asks for more, the decoder says truncated. */
static void
test_truncated_prefixes(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(SAMPLES); i++) {
        size_t len, k;
        uint8_t *frame = encode_ok(&SAMPLES[i].msg, &len);

        for (k = 0; k < len; k++) {
            /* A copy of exactly k bytes, so that ASan sees any read past the prefix. */
            uint8_t *prefix = malloc(k > 0 ? k : 1);
            size_t frame_len = 12345;

            assert_non_null(prefix);
            memcpy(prefix, frame, k);
            assert_int_equal(sz_ctl_frame_peek(prefix, k, &frame_len), 1);
            assert_int_equal(frame_len, 12345);
            if (k >= SZ_CTL_FRAME_HEADER_LEN)
                assert_decode_fails(prefix + 4, k - 4, -SZ_EBADMSG);
            free(prefix);
        }
        free(frame);
    }
}

/* One extra byte after a valid body, in the frame or outside it. */
static void
test_trailing(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(SAMPLES); i++) {
        size_t len, frame_len = 0;
        uint8_t *frame = encode_ok(&SAMPLES[i].msg, &len);
        uint8_t *longer = malloc(len + 1);

        assert_non_null(longer);
        memcpy(longer, frame, len);
        longer[len] = 0x00;
        assert_decode_fails(longer + 4, len - 3, -SZ_ETRAILING);
        /* The length prefix claims the extra byte: a whole frame, whose body has trailing bytes. */
        sz_store32(longer, (uint32_t)(len - 3));
        assert_int_equal(sz_ctl_frame_peek(longer, len + 1, &frame_len), 0);
        assert_int_equal(frame_len, len + 1);
        assert_decode_fails(longer + 4, frame_len - 4, -SZ_ETRAILING);
        free(longer);
        free(frame);
    }
}

/*
 * Any version but 1 and 2 is refused before the rest is looked at, even when
 * short; a type under another version than the one that added it is unknown
 * (one encoding per message).
 */
static void
test_bad_version(void **state)
{
    static const uint8_t versions[] = {0, 3, 0x7f, 0x80, 0xff};

    (void)state;
    for (size_t i = 0; i < N_ELEMS(SAMPLES); i++) {
        size_t len;
        uint8_t *frame = encode_ok(&SAMPLES[i].msg, &len);

        frame[4] = SAMPLES[i].msg.type == SZ_CTL_LIST_PAGE ? 1 : 2;
        assert_decode_fails(frame + 4, len - 4, -SZ_EVERSION);

        for (size_t v = 0; v < N_ELEMS(versions); v++) {
            frame[4] = versions[v];
            assert_decode_fails(frame + 4, len - 4, -SZ_EVERSION);
            assert_decode_fails(frame + 4, 1, -SZ_EVERSION);
        }
        free(frame);
    }
}

/* Types outside the table, with and without fields after them. */
static void
test_unknown_type(void **state)
{
    static const uint8_t types[] = {0x00, 0x07, 0x08, 0x7f, 0x86, 0x87, 0xc0, 0xff};

    (void)state;
    for (uint8_t version = 1; version <= 2; version++) {
        for (size_t i = 0; i < N_ELEMS(types); i++) {
            uint8_t body[8] = {version, types[i], 1, 0, 0, 0, 0x61, 0};

            assert_decode_fails(body, 2, -SZ_EVERSION);
            assert_decode_fails(body, sizeof body, -SZ_EVERSION);
        }
    }
}

/* The frame header alone decides: need more, empty, or too big (with only 4 bytes read). */
static void
test_frame_peek(void **state)
{
    static const struct {
        const char *hex;
        int rc;
        size_t frame_len;
    } cases[] = {
        {"", 1, 0},
        {"01", 1, 0},
        {"0100", 1, 0},
        {"010000", 1, 0},
        {"01000000", 1, 0},
        {"01000000 01", 0, 5},
        {"01000000 0102", 0, 5},
        {"05000000 01010101", 1, 0},
        {"05000000 0101010101", 0, 9},
        {"00000000", -SZ_EBADMSG, 0},
        {"00000000 0101", -SZ_EBADMSG, 0},
        {"ffffffff", -SZ_ETOOBIG, 0},
        {"ffffffff 0101", -SZ_ETOOBIG, 0},
        {"01000005", -SZ_ETOOBIG, 0}, /* SZ_CTL_MAX_BODY_LEN + 1 */
        {"00000005", 1, 0},           /* SZ_CTL_MAX_BODY_LEN: allowed, needs the body */
        {"00000080", -SZ_ETOOBIG, 0},
    };

    (void)state;
    assert_true(SZ_CTL_MAX_BODY_LEN == 0x05000000);
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        size_t len, frame_len = 777;
        uint8_t *buf = from_hex(cases[i].hex, &len);

        assert_int_equal(sz_ctl_frame_peek(buf, len, &frame_len), cases[i].rc);
        assert_int_equal(frame_len, cases[i].rc == 0 ? cases[i].frame_len : 777);
        free(buf);
    }
    /* NULL and 0: nothing yet. */
    assert_int_equal(sz_ctl_frame_peek(NULL, 0, &(size_t){0}), 1);
}

/* Hand-written bodies that break one rule each. */
static void
test_bad_bodies(void **state)
{
    static const struct {
        const char *name;
        const char *hex;
        int rc;
    } cases[] = {
        {"empty", "", -SZ_EBADMSG},
        {"version only", "01", -SZ_EBADMSG},
        {"status trailing", "01 01 00", -SZ_ETRAILING},
        {"publish empty", "01 02 00000000", -SZ_EBADMSG},
        {"publish short", "01 02 05000000 6162", -SZ_EBADMSG},
        {"publish huge length", "01 02 ffffffff 61", -SZ_EBADMSG},
        {"publish no length", "01 02 0500", -SZ_EBADMSG},
        {"import zero", "01 03 00000000", -SZ_EBADMSG},
        {"import count > left", "01 03 02000000 01000000 61", -SZ_EBADMSG},
        {"import count > left/4", "01 03 03000000 00000000 00000000 000000", -SZ_EBADMSG},
        {"import count 4097", "01 03 01100000", -SZ_ETOOBIG},
        {"import count max u32", "01 03 ffffffff", -SZ_ETOOBIG},
        {"import empty item trailing", "01 03 01000000 00000000 61", -SZ_ETRAILING},
        {"import 2 empty, 1 sent", "01 03 02000000 00000000", -SZ_EBADMSG},
        {"import item > left", "01 03 02000000 01000000 61 09000000 6162", -SZ_EBADMSG},
        {"import trailing", "01 03 01000000 01000000 61 00", -SZ_ETRAILING},
        {"list has 2", "01 04 02" Z32 Z8, -SZ_EBADMSG},
        {"list has ff", "01 04 ff" Z32 Z8, -SZ_EBADMSG},
        {"list key without filter", "01 04 00 01" Z8 Z8 Z8 "00000000000000" Z8, -SZ_EBADMSG},
        {"list key end without filter", "01 04 00" Z8 Z8 Z8 "0000000000000001" Z8, -SZ_EBADMSG},
        {"list short", "01 04 00" Z32 "00000000000000", -SZ_EBADMSG},
        {"list page as version 1", "01 06 00" Z32 Z8 "00" Z32 Z8 Z32, -SZ_EVERSION},
        {"list page has_after 2", "02 06 00" Z32 Z8 "02" Z32 Z8 Z32, -SZ_EBADMSG},
        {"list page has 2", "02 06 02" Z32 Z8 "00" Z32 Z8 Z32, -SZ_EBADMSG},
        {"list page key without cursor", "02 06 00" Z32 Z8 "00 01" Z8 Z8 Z8 "00000000000000" Z8 Z32,
         -SZ_EBADMSG},
        {"list page sequence without cursor", "02 06 00" Z32 Z8 "00" Z32 "0100000000000000" Z32,
         -SZ_EBADMSG},
        {"list page id without cursor", "02 06 00" Z32 Z8 "00" Z32 Z8 Z8 Z8 Z8 "00000000000000ff",
         -SZ_EBADMSG},
        {"list page short", "02 06 00" Z32 Z8 "00" Z32 Z8 Z8 Z8 Z8 "00000000000000", -SZ_EBADMSG},
        {"list page trailing", "02 06 00" Z32 Z8 "00" Z32 Z8 Z32 "00", -SZ_ETRAILING},
        {"list as list page", "02 06 00" Z32 Z8, -SZ_EBADMSG},
        {"list trailing", "01 04 00" Z32 Z8 "00", -SZ_ETRAILING},
        {"export short", "01 05" Z8 Z8 Z8 "00000000000000", -SZ_EBADMSG},
        {"export trailing", "01 05" Z32 "00", -SZ_ETRAILING},
        {"error text 65537", "01 80 05000000 01000100", -SZ_ETOOBIG},
        {"error text max u32", "01 80 05000000 ffffffff 61", -SZ_ETOOBIG},
        {"error text > left", "01 80 05000000 03000000 6162", -SZ_EBADMSG},
        {"error no text", "01 80 05000000", -SZ_EBADMSG},
        {"error overlong", "01 80 00000000 02000000 c080", -SZ_EUTF8},
        {"error nul", "01 80 00000000 03000000 610062", -SZ_EUTF8},
        {"error continuation", "01 80 00000000 01000000 80", -SZ_EUTF8},
        {"error surrogate", "01 80 00000000 03000000 eda080", -SZ_EUTF8},
        {"error cut sequence", "01 80 00000000 02000000 e282", -SZ_EUTF8},
        {"error above 10ffff", "01 80 00000000 04000000 f4908080", -SZ_EUTF8},
        {"error ff", "01 80 00000000 01000000 ff", -SZ_EUTF8},
        {"error trailing", "01 80 00000000 01000000 61 62", -SZ_ETRAILING},
        {"status bad json", "01 81 02000000 6f6b 02000000 7bff", -SZ_EUTF8},
        {"status bad text", "01 81 01000000 c3 02000000 7b7d", -SZ_EUTF8},
        {"status json 65537", "01 81 00000000 01000100", -SZ_ETOOBIG},
        {"status no json", "01 81 02000000 6f6b", -SZ_EBADMSG},
        {"published short", "01 82" Z32 "00000000000000", -SZ_EBADMSG},
        {"published trailing", "01 82" Z32 Z8 "00", -SZ_ETRAILING},
        {"imported zero", "01 83 00000000", -SZ_EBADMSG},
        {"imported count > left", "01 83 02000000 00" Z32 "00000000", -SZ_EBADMSG},
        {"imported count 4097", "01 83 01100000", -SZ_ETOOBIG},
        {"imported code 4", "01 83 01000000 04" Z32 "00000000", -SZ_EBADMSG},
        {"imported code ff", "01 83 01000000 ff" Z32 "00000000", -SZ_EBADMSG},
        {"imported bad text", "01 83 01000000 02" Z32 "01000000 c1", -SZ_EUTF8},
        {"imported text 65537", "01 83 01000000 02" Z32 "01000100", -SZ_ETOOBIG},
        {"imported trailing", "01 83 01000000 00" Z32 "00000000 00", -SZ_ETRAILING},
        {"list reply count > left", "01 84 01000000" Z32 Z32 Z8 Z8 Z8 "00000000000000",
         -SZ_EBADMSG},
        {"list reply count 2 > left", "01 84 02000000" Z32 Z32 Z8 Z8 Z8 Z8, -SZ_EBADMSG},
        {"list reply count 4097", "01 84 01100000", -SZ_ETOOBIG},
        {"list reply count max u32", "01 84 ffffffff", -SZ_ETOOBIG},
        {"list reply empty trailing", "01 84 00000000 00", -SZ_ETRAILING},
        {"list reply trailing", "01 84 01000000" Z32 Z32 Z8 Z8 Z8 Z8 "00", -SZ_ETRAILING},
        {"export reply empty", "01 85 00000000", -SZ_EBADMSG},
        {"export reply short", "01 85 02000000 61", -SZ_EBADMSG},
        {"export reply trailing", "01 85 01000000 61 62", -SZ_ETRAILING},
    };

    (void)state;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        size_t len;
        uint8_t *body = from_hex(cases[i].hex, &len);

        print_message("%s\n", cases[i].name);
        assert_decode_fails(body, len, cases[i].rc);
        free(body);
    }
}

/* Arguments the encoder refuses; none is read past what its checks need. */
static void
test_encode_errors(void **state)
{
    static const uint8_t one[1] = {1};
    static const uint8_t *null_item[] = {NULL};
    static const uint8_t *one_item[] = {one};
    static size_t len_1[] = {1};
    /* Never read: every case below must fail on the lengths alone. */
    static const uint8_t *two_items[] = {one, one};
    static size_t half_lens[] = {SZ_CTL_MAX_BODY_LEN / 2, SZ_CTL_MAX_BODY_LEN / 2};
    static struct sz_ctl_import_result bad_code[] = {{.code = 4}};
    static struct sz_ctl_import_result bad_text[] = {{.text = "\xc0\xaf", .text_len = 2}};
    static struct sz_ctl_import_result null_text[] = {{.text = NULL, .text_len = 1}};
    static struct sz_ctl_entry entry[1];
    static const struct {
        const char *name;
        struct sz_ctl_msg msg;
        int rc;
    } cases[] = {
        {"type 0", {.type = 0}, -SZ_EINVAL},
        {"type 7", {.type = 7}, -SZ_EINVAL},
        {"type 0xff", {.type = 0xff}, -SZ_EINVAL},
        {"publish null", {.type = SZ_CTL_PUBLISH, .container_len = 5}, -SZ_EINVAL},
        {"publish empty", {.type = SZ_CTL_PUBLISH, .container = one}, -SZ_EINVAL},
        {"publish max body",
         {.type = SZ_CTL_PUBLISH, .container = one, .container_len = SZ_CTL_MAX_BODY_LEN},
         -SZ_ETOOBIG},
        {"publish max size_t",
         {.type = SZ_CTL_PUBLISH, .container = one, .container_len = SIZE_MAX},
         -SZ_ETOOBIG},
        {"import zero", {.type = SZ_CTL_IMPORT, .items = one_item, .item_lens = len_1}, -SZ_EINVAL},
        {"import 4097",
         {.type = SZ_CTL_IMPORT, .items = one_item, .item_lens = len_1, .n_items = 4097},
         -SZ_ETOOBIG},
        {"import no items", {.type = SZ_CTL_IMPORT, .item_lens = len_1, .n_items = 1}, -SZ_EINVAL},
        {"import no lens", {.type = SZ_CTL_IMPORT, .items = one_item, .n_items = 1}, -SZ_EINVAL},
        {"import null item",
         {.type = SZ_CTL_IMPORT, .items = null_item, .item_lens = len_1, .n_items = 1},
         -SZ_EINVAL},
        {"import sum above max",
         {.type = SZ_CTL_IMPORT, .items = two_items, .item_lens = half_lens, .n_items = 2},
         -SZ_ETOOBIG},
        {"list has 2", {.type = SZ_CTL_LIST, .has_publisher = 2}, -SZ_EINVAL},
        {"list page has 2", {.type = SZ_CTL_LIST_PAGE, .has_publisher = 2}, -SZ_EINVAL},
        {"list page has_after 2", {.type = SZ_CTL_LIST_PAGE, .has_after = 2}, -SZ_EINVAL},
        {"error text 65537", {.type = SZ_CTL_R_ERROR, .text = "x", .text_len = 65537}, -SZ_ETOOBIG},
        {"error text null", {.type = SZ_CTL_R_ERROR, .text_len = 3}, -SZ_EINVAL},
        {"error text nul", {.type = SZ_CTL_R_ERROR, .text = "a\0b", .text_len = 3}, -SZ_EUTF8},
        {"error text latin-1",
         {.type = SZ_CTL_R_ERROR, .text = "caf\xe9", .text_len = 4},
         -SZ_EUTF8},
        {"status bad json",
         {.type = SZ_CTL_R_STATUS, .text = "ok", .text_len = 2, .json = "\xff", .json_len = 1},
         -SZ_EUTF8},
        {"status json 65537",
         {.type = SZ_CTL_R_STATUS, .json = "{", .json_len = 65537},
         -SZ_ETOOBIG},
        {"imported zero", {.type = SZ_CTL_R_IMPORTED, .results = bad_code}, -SZ_EINVAL},
        {"imported 4097",
         {.type = SZ_CTL_R_IMPORTED, .results = bad_code, .n_results = 4097},
         -SZ_ETOOBIG},
        {"imported null", {.type = SZ_CTL_R_IMPORTED, .n_results = 1}, -SZ_EINVAL},
        {"imported code 4",
         {.type = SZ_CTL_R_IMPORTED, .results = bad_code, .n_results = 1},
         -SZ_EINVAL},
        {"imported bad text",
         {.type = SZ_CTL_R_IMPORTED, .results = bad_text, .n_results = 1},
         -SZ_EUTF8},
        {"imported null text",
         {.type = SZ_CTL_R_IMPORTED, .results = null_text, .n_results = 1},
         -SZ_EINVAL},
        {"list reply 4097",
         {.type = SZ_CTL_R_LIST, .entries = entry, .n_entries = 4097},
         -SZ_ETOOBIG},
        {"list reply null", {.type = SZ_CTL_R_LIST, .n_entries = 1}, -SZ_EINVAL},
        {"export reply empty", {.type = SZ_CTL_R_EXPORT, .bundle = one}, -SZ_EINVAL},
        {"export reply null", {.type = SZ_CTL_R_EXPORT, .bundle_len = 1}, -SZ_EINVAL},
    };
    uint8_t marker;
    uint8_t *out = &marker;
    size_t out_len = 99;

    (void)state;
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        print_message("%s\n", cases[i].name);
        assert_int_equal(sz_ctl_encode(&cases[i].msg, &out, &out_len), cases[i].rc);
        assert_ptr_equal(out, &marker);
        assert_int_equal(out_len, 99);
    }
    assert_int_equal(sz_ctl_encode(NULL, &out, &out_len), -SZ_EINVAL);
    assert_int_equal(sz_ctl_encode(&SAMPLES[0].msg, NULL, &out_len), -SZ_EINVAL);
    assert_int_equal(sz_ctl_encode(&SAMPLES[0].msg, &out, NULL), -SZ_EINVAL);
    assert_ptr_equal(out, &marker);
}

/* A LIST without a filter sends a zero key whatever the struct holds. */
static void
test_list_without_filter(void **state)
{
    struct sz_ctl_msg msg = {.type = SZ_CTL_LIST, .has_publisher = 0, .since_sequence = 3};
    struct sz_ctl_msg *m = NULL;
    size_t len;
    uint8_t *frame;

    (void)state;
    memcpy(msg.publisher, PK_B, sizeof PK_B);
    frame = encode_ok(&msg, &len);
    assert_int_equal(sz_ctl_decode(frame + 4, len - 4, &m), 0);
    assert_int_equal(m->has_publisher, 0);
    assert_true(bytes_eq(m->publisher, 32, (const uint8_t[32]){0}, 32));
    assert_true(m->since_sequence == 3);
    sz_ctl_msg_free(m);
    free(frame);
    sz_ctl_msg_free(NULL);

    /* A LIST_PAGE without a cursor sends zero cursor fields, likewise. */
    msg.type = SZ_CTL_LIST_PAGE;
    memcpy(msg.after_publisher, PK_B, sizeof PK_B);
    msg.after_sequence = 77;
    memset(msg.after_id, 0xee, sizeof msg.after_id);
    frame = encode_ok(&msg, &len);
    assert_int_equal(sz_ctl_decode(frame + 4, len - 4, &m), 0);
    assert_int_equal(m->has_after, 0);
    assert_true(bytes_eq(m->after_publisher, 32, (const uint8_t[32]){0}, 32));
    assert_true(m->after_sequence == 0);
    assert_true(bytes_eq(m->after_id, 32, (const uint8_t[32]){0}, 32));
    sz_ctl_msg_free(m);
    free(frame);
}

/* Exactly at each limit encodes and decodes; one above is refused. */
static void
test_limits(void **state)
{
    static const uint8_t one[1] = {0x61};
    const size_t n = SZ_CTL_MAX_ITEMS;
    const size_t max_container = SZ_CTL_MAX_BODY_LEN - 2 - 4;
    char *text = malloc(SZ_CTL_MAX_TEXT_LEN);
    const uint8_t **items = calloc(n, sizeof *items);
    size_t *lens = calloc(n, sizeof *lens);
    struct sz_ctl_entry *entries = calloc(n, sizeof *entries);
    struct sz_ctl_import_result *results = calloc(n, sizeof *results);
    uint8_t *big = malloc(max_container);
    struct sz_ctl_msg msgs[5];
    uint8_t *frame = NULL;
    size_t len = 0, frame_len = 0, i;

    (void)state;
    assert_non_null(text);
    assert_non_null(items);
    assert_non_null(lens);
    assert_non_null(entries);
    assert_non_null(results);
    assert_non_null(big);
    memset(text, 'a', SZ_CTL_MAX_TEXT_LEN);
    memset(big, 0x5a, max_container);
    for (i = 0; i < n; i++) {
        items[i] = one;
        lens[i] = 1;
        entries[i].sequence = i;
        results[i].code = (uint8_t)(i % 4);
        results[i].text = "r";
        results[i].text_len = 1;
    }
    memset(msgs, 0, sizeof msgs);
    msgs[0].type = SZ_CTL_R_ERROR;
    msgs[0].text = text;
    msgs[0].text_len = SZ_CTL_MAX_TEXT_LEN;
    msgs[1].type = SZ_CTL_IMPORT;
    msgs[1].items = items;
    msgs[1].item_lens = lens;
    msgs[1].n_items = n;
    msgs[2].type = SZ_CTL_R_LIST;
    msgs[2].entries = entries;
    msgs[2].n_entries = n;
    msgs[3].type = SZ_CTL_R_IMPORTED;
    msgs[3].results = results;
    msgs[3].n_results = n;
    msgs[4].type = SZ_CTL_PUBLISH;
    msgs[4].container = big;
    msgs[4].container_len = max_container;

    for (i = 0; i < N_ELEMS(msgs); i++) {
        struct sz_ctl_msg *m = NULL;

        frame = encode_ok(&msgs[i], &len);
        assert_int_equal(sz_ctl_frame_peek(frame, len, &frame_len), 0);
        assert_int_equal(frame_len, len);
        assert_int_equal(sz_ctl_decode(frame + 4, len - 4, &m), 0);
        assert_msg_equal(&msgs[i], m);
        sz_ctl_msg_free(m);
        free(frame);
        frame = NULL;
    }

    /* One more of each. */
    msgs[0].text_len++;
    msgs[1].n_items++;
    msgs[2].n_entries++;
    msgs[3].n_results++;
    msgs[4].container_len++;
    for (i = 0; i < N_ELEMS(msgs); i++)
        assert_int_equal(sz_ctl_encode(&msgs[i], &frame, &len), -SZ_ETOOBIG);
    assert_null(frame);

    free(big);
    free(results);
    free(entries);
    free(lens);
    free(items);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_truncated_prefixes),
        cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_frame_peek),
        cmocka_unit_test(test_bad_bodies),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_list_without_filter),
        cmocka_unit_test(test_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
