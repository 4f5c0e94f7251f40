/*
 * Tests of proto/buf.c and proto/err.c: the bounds-checked reader, the bounded
 * writer, the little-endian helpers, hex, and the error strings.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t SEQ[8] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};

/* Known answers: the bytes 08 07 .. 01 read little-endian. */
static void
test_load_store_kat(void **state)
{
    uint8_t b[8];

    (void)state;
    assert_int_equal(sz_load16(SEQ), 0x0708);
    assert_int_equal(sz_load32(SEQ), 0x05060708u);
    assert_true(sz_load64(SEQ) == 0x0102030405060708ull);

    memset(b, 0xee, sizeof b);
    sz_store16(b, 0x0708);
    assert_memory_equal(b, SEQ, 2);
    assert_int_equal(b[2], 0xee);
    sz_store32(b, 0x05060708u);
    assert_memory_equal(b, SEQ, 4);
    assert_int_equal(b[4], 0xee);
    sz_store64(b, 0x0102030405060708ull);
    assert_memory_equal(b, SEQ, 8);

    /* High bits survive the shifts (no sign extension through int). */
    sz_store64(b, 0xffffffffffffffffull);
    assert_true(sz_load64(b) == 0xffffffffffffffffull);
    assert_int_equal(sz_load32(b), 0xffffffffu);
    assert_int_equal(sz_load16(b), 0xffff);
    sz_store64(b, 0x8000000000000080ull);
    assert_true(sz_load64(b) == 0x8000000000000080ull);
    assert_int_equal(b[0], 0x80);
    assert_int_equal(b[7], 0x80);
}

/* Each reader on exactly enough bytes succeeds; on any fewer it fails and leaves *out alone. */
static void
test_rd_each_width(void **state)
{
    static const size_t widths[] = {1, 2, 4, 8};
    (void)state;

    for (size_t w = 0; w < N_ELEMS(widths); w++) {
        for (size_t have = 0; have <= widths[w]; have++) {
            struct sz_rd r;
            uint8_t u8 = 0xaa;
            uint16_t u16 = 0xaaaa;
            uint32_t u32 = 0xaaaaaaaa;
            uint64_t u64 = 0xaaaaaaaaaaaaaaaa;
            int64_t i64 = 0x2aaaaaaaaaaaaaaa;
            int rc = 0;

            sz_rd_init(&r, SEQ, have);
            switch (widths[w]) {
            case 1:
                rc = sz_rd_u8(&r, &u8);
                break;
            case 2:
                rc = sz_rd_u16(&r, &u16);
                break;
            case 4:
                rc = sz_rd_u32(&r, &u32);
                break;
            case 8:
                rc = sz_rd_u64(&r, &u64);
                if (rc == 0) {
                    sz_rd_init(&r, SEQ, have);
                    rc = sz_rd_i64(&r, &i64);
                    assert_int_equal(rc, 0);
                }
                break;
            }
            if (have < widths[w]) {
                if (rc != -SZ_EBADMSG)
                    fail_msg("width %zu with %zu bytes: rc %d", widths[w], have, rc);
                assert_int_equal(r.off, 0);
                assert_int_equal(u8, 0xaa);
                assert_int_equal(u16, 0xaaaa);
                assert_int_equal(u32, 0xaaaaaaaa);
                assert_true(u64 == 0xaaaaaaaaaaaaaaaa);
                if (widths[w] == 8) {
                    sz_rd_init(&r, SEQ, have);
                    assert_int_equal(sz_rd_i64(&r, &i64), -SZ_EBADMSG);
                    assert_true(i64 == 0x2aaaaaaaaaaaaaaa);
                }
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(sz_rd_left(&r), 0);
            }
        }
    }
}

static void
test_rd_sequence(void **state)
{
    struct sz_rd r;
    uint8_t u8, cp[3];
    uint16_t u16;
    uint32_t u32;
    const uint8_t *p;
    (void)state;

    sz_rd_init(&r, SEQ, sizeof SEQ);
    assert_int_equal(sz_rd_left(&r), 8);
    assert_int_equal(sz_rd_u8(&r, &u8), 0);
    assert_int_equal(u8, 0x08);
    assert_int_equal(sz_rd_u16(&r, &u16), 0);
    assert_int_equal(u16, 0x0607);
    assert_int_equal(sz_rd_left(&r), 5);
    /* A failed read consumes nothing. */
    assert_int_equal(sz_rd_bytes(&r, 6, &p), -SZ_EBADMSG);
    assert_int_equal(sz_rd_left(&r), 5);
    assert_int_equal(sz_rd_bytes(&r, 2, &p), 0);
    assert_ptr_equal(p, SEQ + 3);
    assert_int_equal(sz_rd_copy(&r, cp, 3), 0);
    assert_memory_equal(cp, SEQ + 5, 3);
    assert_int_equal(sz_rd_left(&r), 0);
    assert_int_equal(sz_rd_u8(&r, &u8), -SZ_EBADMSG);
    /* Zero-length reads succeed at the end. */
    assert_int_equal(sz_rd_bytes(&r, 0, &p), 0);
    assert_int_equal(sz_rd_copy(&r, cp, 0), 0);

    /* A length near SIZE_MAX must not wrap around the bounds check. */
    sz_rd_init(&r, SEQ, sizeof SEQ);
    assert_int_equal(sz_rd_u8(&r, &u8), 0);
    assert_int_equal(sz_rd_bytes(&r, SIZE_MAX, &p), -SZ_EBADMSG);
    assert_int_equal(sz_rd_bytes(&r, SIZE_MAX - 1, &p), -SZ_EBADMSG);
    assert_int_equal(sz_rd_copy(&r, cp, SIZE_MAX), -SZ_EBADMSG);
    assert_int_equal(sz_rd_left(&r), 7);
    sz_rd_init(&r, SEQ, sizeof SEQ);
    assert_int_equal(sz_rd_u32(&r, &u32), 0);
    assert_int_equal(u32, 0x05060708u);
}

static void
test_i64_round_trip(void **state)
{
    static const int64_t vals[] = {0, 1, -1, INT64_MIN, INT64_MAX, -62135596800LL, 253402300799LL};
    (void)state;

    for (size_t i = 0; i < N_ELEMS(vals); i++) {
        struct sz_wr w;
        struct sz_rd r;
        int64_t got;

        sz_wr_init(&w, 64);
        sz_wr_i64(&w, vals[i]);
        assert_int_equal(sz_wr_status(&w), 0);
        assert_int_equal(w.len, 8);
        /* Two's complement, little-endian. */
        assert_true(sz_load64(w.p) == (uint64_t)vals[i]);
        sz_rd_init(&r, w.p, w.len);
        assert_int_equal(sz_rd_i64(&r, &got), 0);
        assert_true(got == vals[i]);
        sz_wr_free(&w, false);
    }
}

static void
test_wr_round_trip(void **state)
{
    struct sz_wr w;
    struct sz_rd r;
    uint8_t u8, blob[1000];
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    const uint8_t *p;
    static const uint8_t want[] = {0x01, 0x03, 0x02, 0x07, 0x06, 0x05, 0x04, 0x0f, 0x0e,
                                   0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08, 'x',  'y'};
    (void)state;

    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (uint8_t)(i * 7);
    sz_wr_init(&w, 1 << 20);
    sz_wr_u8(&w, 0x01);
    sz_wr_u16(&w, 0x0203);
    sz_wr_u32(&w, 0x04050607);
    sz_wr_u64(&w, 0x08090a0b0c0d0e0full);
    sz_wr_bytes(&w, "xy", 2);
    assert_int_equal(sz_wr_status(&w), 0);
    assert_int_equal(w.len, sizeof want);
    assert_memory_equal(w.p, want, sizeof want);
    /* Growth past the first allocation keeps what was written. */
    for (int k = 0; k < 10; k++)
        sz_wr_bytes(&w, blob, sizeof blob);
    assert_int_equal(sz_wr_status(&w), 0);
    assert_int_equal(w.len, sizeof want + 10 * sizeof blob);
    assert_true(w.cap >= w.len);

    sz_rd_init(&r, w.p, w.len);
    assert_int_equal(sz_rd_u8(&r, &u8), 0);
    assert_int_equal(u8, 0x01);
    assert_int_equal(sz_rd_u16(&r, &u16), 0);
    assert_int_equal(u16, 0x0203);
    assert_int_equal(sz_rd_u32(&r, &u32), 0);
    assert_int_equal(u32, 0x04050607);
    assert_int_equal(sz_rd_u64(&r, &u64), 0);
    assert_true(u64 == 0x08090a0b0c0d0e0full);
    assert_int_equal(sz_rd_bytes(&r, 2, &p), 0);
    assert_memory_equal(p, "xy", 2);
    for (int k = 0; k < 10; k++) {
        assert_int_equal(sz_rd_bytes(&r, sizeof blob, &p), 0);
        assert_memory_equal(p, blob, sizeof blob);
    }
    assert_int_equal(sz_rd_left(&r), 0);
    sz_wr_free(&w, true);
    assert_null(w.p);
    assert_int_equal(w.len, 0);
    sz_wr_free(&w, true); /* Idempotent. */
}

/* The writer never exceeds max; the first error sticks. */
static void
test_wr_max(void **state)
{
    static const size_t maxes[] = {0, 1, 7, 8, 255, 256, 257, 1000, 4096};
    (void)state;

    for (size_t i = 0; i < N_ELEMS(maxes); i++) {
        size_t max = maxes[i];
        struct sz_wr w;
        size_t n = 0;

        sz_wr_init(&w, max);
        /* Exactly max bytes fit, one at a time. */
        for (n = 0; n < max; n++)
            sz_wr_u8(&w, (uint8_t)n);
        assert_int_equal(sz_wr_status(&w), 0);
        assert_int_equal(w.len, max);
        assert_true(w.cap <= max);
        sz_wr_u8(&w, 0);
        assert_int_equal(sz_wr_status(&w), -SZ_ETOOBIG);
        assert_int_equal(w.len, max);
        /* Sticky: even a write that would fit now fails. */
        sz_wr_bytes(&w, "", 0);
        assert_int_equal(sz_wr_status(&w), -SZ_ETOOBIG);
        sz_wr_free(&w, false);

        /* A wide write straddling max fails whole. */
        if (max >= 2) {
            sz_wr_init(&w, max);
            for (n = 0; n + 1 < max; n++)
                sz_wr_u8(&w, 1);
            sz_wr_u16(&w, 0xffff);
            assert_int_equal(sz_wr_status(&w), -SZ_ETOOBIG);
            assert_int_equal(w.len, max - 1);
            sz_wr_free(&w, false);
        }
    }
}

static void
test_wr_huge_lengths(void **state)
{
    struct sz_wr w;
    (void)state;

    sz_wr_init(&w, 1 << 20);
    sz_wr_u8(&w, 1);
    /* n + len would overflow size_t: must be refused, not wrapped. */
    sz_wr_bytes(&w, SEQ, SIZE_MAX);
    assert_int_equal(sz_wr_status(&w), -SZ_ETOOBIG);
    assert_int_equal(w.len, 1);
    sz_wr_free(&w, false);

    sz_wr_init(&w, SIZE_MAX);
    sz_wr_u8(&w, 1);
    sz_wr_bytes(&w, SEQ, SIZE_MAX);
    assert_true(sz_wr_status(&w) < 0);
    assert_int_equal(w.len, 1);
    sz_wr_free(&w, false);
}

/* Zero-length reads of an empty (NULL) buffer are valid. */
static void
test_rd_null_empty(void **state)
{
    struct sz_rd r;
    const uint8_t *p = SEQ;
    uint8_t u8;
    (void)state;

    sz_rd_init(&r, NULL, 0);
    assert_int_equal(sz_rd_left(&r), 0);
    assert_int_equal(sz_rd_bytes(&r, 0, &p), 0);
    assert_int_equal(sz_rd_copy(&r, &u8, 0), 0);
    assert_int_equal(sz_rd_u8(&r, &u8), -SZ_EBADMSG);
    assert_int_equal(sz_rd_left(&r), 0);
}

/* Zero-length writes into a fresh writer (NULL buffer) are valid no-ops. */
static void
test_wr_empty(void **state)
{
    struct sz_wr w;
    (void)state;

    sz_wr_init(&w, 16);
    sz_wr_bytes(&w, NULL, 0);
    assert_int_equal(sz_wr_status(&w), 0);
    assert_int_equal(w.len, 0);
    sz_wr_u8(&w, 9);
    sz_wr_bytes(&w, NULL, 0);
    assert_int_equal(sz_wr_status(&w), 0);
    assert_int_equal(w.len, 1);
    assert_int_equal(w.p[0], 9);
    sz_wr_free(&w, false);
}

struct hex_case {
    const char *hex;
    size_t n;
    int rc;
    const char *bytes;
};

static void
test_hex(void **state)
{
    static const struct hex_case cases[] = {
        {"", 0, 0, ""},
        {"00", 1, 0, "\x00"},
        {"ff", 1, 0, "\xff"},
        {"FF", 1, 0, "\xff"},
        {"0aF9", 2, 0, "\x0a\xf9"},
        {"0123456789abcdef", 8, 0, "\x01\x23\x45\x67\x89\xab\xcd\xef"},
        {"0123456789ABCDEF", 8, 0, "\x01\x23\x45\x67\x89\xab\xcd\xef"},
        {"0", 1, -SZ_EBADMSG, NULL},
        {"000", 1, -SZ_EBADMSG, NULL},
        {"0000", 1, -SZ_EBADMSG, NULL},
        {"", 1, -SZ_EBADMSG, NULL},
        {"0g", 1, -SZ_EBADMSG, NULL},
        {"g0", 1, -SZ_EBADMSG, NULL},
        {" 0", 1, -SZ_EBADMSG, NULL},
        {"0x", 1, -SZ_EBADMSG, NULL},
        {"-1", 1, -SZ_EBADMSG, NULL},
        {"aa:b", 2, -SZ_EBADMSG, NULL},
        {"/0", 1, -SZ_EBADMSG, NULL}, /* '/' is just below '0' */
        {":0", 1, -SZ_EBADMSG, NULL}, /* ':' is just above '9' */
        {"@0", 1, -SZ_EBADMSG, NULL}, /* '@' is just below 'A' */
        {"G0", 1, -SZ_EBADMSG, NULL},
        {"`0", 1, -SZ_EBADMSG, NULL}, /* '`' is just below 'a' */
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        uint8_t out[16];
        int rc;

        memset(out, 0x5a, sizeof out);
        rc = sz_unhex(cases[i].hex, strlen(cases[i].hex), out, cases[i].n);
        if (rc != cases[i].rc)
            fail_msg("unhex \"%s\" (%zu): rc %d, want %d", cases[i].hex, cases[i].n, rc,
                     cases[i].rc);
        if (rc == 0) {
            char back[33];
            assert_memory_equal(out, cases[i].bytes, cases[i].n);
            sz_hex(out, cases[i].n, back);
            assert_int_equal(strlen(back), 2 * cases[i].n);
            /* sz_hex writes lowercase. */
            for (size_t k = 0; k < 2 * cases[i].n; k++) {
                char c = cases[i].hex[k];
                if (c >= 'A' && c <= 'F')
                    c = (char)(c - 'A' + 'a');
                assert_int_equal(back[k], c);
            }
        } else {
            /* Untouched on failure. */
            for (size_t k = 0; k < sizeof out; k++)
                assert_int_equal(out[k], 0x5a);
        }
    }
}

static void
test_hex_all_bytes(void **state)
{
    uint8_t all[256], back[256];
    char hex[513];
    (void)state;

    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    sz_hex(all, 256, hex);
    assert_int_equal(strlen(hex), 512);
    assert_memory_equal(hex, "000102", 6);
    assert_string_equal(hex + 506, "fdfeff");
    assert_int_equal(sz_unhex(hex, 512, back, 256), 0);
    assert_memory_equal(back, all, 256);
}

static void
test_strerror(void **state)
{
    static const int codes[] = {
        SZ_EBADMSG, SZ_ETOOBIG, SZ_EAUTH,     SZ_ENOMEM,  SZ_EVERSION,  SZ_EINVAL,
        SZ_EHASH,   SZ_ELENGTH, SZ_ECANON,    SZ_EBADID,  SZ_EDUPID,    SZ_ECHECKSUM,
        SZ_EPASS,   SZ_EUTF8,   SZ_ECOMPRESS, SZ_ECRYPTO, SZ_ETRAILING, SZ_EBUSY,
    };
    const char *unknown = sz_strerror(1000);
    (void)state;

    assert_string_equal(unknown, "unknown error");
    assert_string_equal(sz_strerror(-1000), "unknown error");
    assert_string_equal(sz_strerror(0), "success");
    for (size_t i = 0; i < N_ELEMS(codes); i++) {
        const char *s = sz_strerror(-codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        /* Positive and negative spellings name the same error. */
        assert_string_equal(s, sz_strerror(codes[i]));
        if (strcmp(s, unknown) == 0)
            fail_msg("code %d has no message", codes[i]);
        /* Every code has its own message. */
        for (size_t j = 0; j < i; j++)
            if (strcmp(s, sz_strerror(codes[j])) == 0)
                fail_msg("codes %d and %d share a message", codes[i], codes[j]);
    }
    assert_string_equal(sz_strerror(SZ_EBUSY + 1), unknown);
}

static void
test_init(void **state)
{
    (void)state;
    assert_int_equal(sz_init(), 0);
    assert_int_equal(sz_init(), 0);
}

/* A JSON string literal: quotes and backslashes escaped, control characters
 * as \u00XX, everything else (UTF-8 included) as it is. */
static void
test_wr_json_str(void **state)
{
    struct sz_wr w;
    (void)state;
    sz_wr_init(&w, 1024);
    sz_wr_json_str(&w, "a\"b\\c\n\x01\x1f d\xc3\xa9");
    sz_wr_json_str(&w, "");
    assert_int_equal(sz_wr_status(&w), 0);
    static const char want[] = "\"a\\\"b\\\\c\\u000a\\u0001\\u001f d\xc3\xa9\"\"\"";
    assert_int_equal(w.len, sizeof want - 1);
    assert_memory_equal(w.p, want, sizeof want - 1);
    sz_wr_free(&w, false);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_store_kat),
        cmocka_unit_test(test_rd_each_width),
        cmocka_unit_test(test_rd_sequence),
        cmocka_unit_test(test_i64_round_trip),
        cmocka_unit_test(test_wr_round_trip),
        cmocka_unit_test(test_wr_max),
        cmocka_unit_test(test_wr_huge_lengths),
        cmocka_unit_test(test_rd_null_empty),
        cmocka_unit_test(test_wr_empty),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_hex_all_bytes),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_wr_json_str),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
