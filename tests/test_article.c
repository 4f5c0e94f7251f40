/*
 * Tests of proto/article.c: safe names, UTF-8, field rules (BUNDLE.md 2.1),
 * the canonical container encoding (2.2) and the RFC 3339 time helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/common.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TIME_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define TIME_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */
#define MIB (1u << 20)

/* A string literal with its length (embedded NULs included). */
#define S(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
#define NOSTR                                                                                      \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

static void
check_rc(int got, int want, const char *what, size_t idx)
{
    if (got != want)
        fail_msg("%s #%zu: rc %d (%s), want %d (%s)", what, idx, got, sz_strerror(got), want,
                 sz_strerror(want));
}

/* ---- safe names and UTF-8 ------------------------------------------------ */

struct name_case {
    const char *s;
    size_t len;
    bool ok;
};

static void
test_safe_name(void **state)
{
    static char long_name[SZ_MAX_ID_LEN + 2];
    static const struct name_case cases[] = {
        {"a", 1, true},
        {"Z", 1, true},
        {"0", 1, true},
        {"_", 1, true},
        {"a.b-c_d", 7, true},
        {"ABCxyz019", 9, true},
        {"a..", 3, true},
        {"a-", 2, true},
        {"", 0, false},
        {".", 1, false},
        {"..", 2, false},
        {".a", 2, false},
        {"-a", 2, false},
        {"../etc", 6, false},
        {"a/b", 3, false},
        {"a\\b", 3, false},
        {"a b", 3, false},
        {"a\0b", 3, false},
        {"a:b", 3, false},
        {"a~", 2, false},
        {"a+b", 3, false},
        {"\xc3\xa9", 2, false},
        {"a\n", 2, false},
        {"a@", 2, false}, /* around the class boundaries: '@' '[' '`' '{' '/' ':' */
        {"a[", 2, false},
        {"a`", 2, false},
        {"a{", 2, false},
        {"a:", 2, false},
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(cases); i++)
        if (sz_safe_name(cases[i].s, cases[i].len) != cases[i].ok)
            fail_msg("safe_name #%zu \"%s\": want %d", i, cases[i].s, cases[i].ok);
    memset(long_name, 'a', sizeof long_name);
    assert_true(sz_safe_name(long_name, SZ_MAX_ID_LEN));
    assert_false(sz_safe_name(long_name, SZ_MAX_ID_LEN + 1));
    assert_false(sz_safe_name(NULL, 0));
    assert_false(sz_safe_name(NULL, 3));
}

struct utf8_case {
    const char *s;
    size_t len;
    bool ok;
    const char *what;
};

#define U(lit, ok, what)                                                                           \
    {                                                                                              \
        lit, sizeof(lit) - 1, ok, what                                                             \
    }

static void
test_utf8(void **state)
{
    static const struct utf8_case cases[] = {
        U("", true, "empty"),
        U("hello", true, "ASCII"),
        U("\x01\x1f\x7f", true, "C0 controls are valid UTF-8"),
        U("\xc2\x80", true, "U+0080 first 2-byte"),
        U("\xdf\xbf", true, "U+07FF last 2-byte"),
        U("\xe0\xa0\x80", true, "U+0800 first 3-byte"),
        U("\xed\x9f\xbf", true, "U+D7FF before surrogates"),
        U("\xee\x80\x80", true, "U+E000 after surrogates"),
        U("\xef\xbb\xbf", true, "BOM"),
        U("\xef\xbf\xbd", true, "U+FFFD"),
        U("\xef\xbf\xbf", true, "U+FFFF"),
        U("\xf0\x90\x80\x80", true, "U+10000 first 4-byte"),
        U("\xf0\x9f\x98\x80", true, "emoji"),
        U("\xf4\x8f\xbf\xbf", true, "U+10FFFF last"),
        U("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", true, "Cyrillic"),
        U("a\0b", false, "NUL"),
        U("\0", false, "only NUL"),
        U("\xc0\x80", false, "overlong NUL"),
        U("\xc0\xaf", false, "overlong /"),
        U("\xc1\xbf", false, "overlong U+007F"),
        U("\xe0\x80\x80", false, "overlong 3-byte NUL"),
        U("\xe0\x9f\xbf", false, "overlong U+07FF"),
        U("\xf0\x80\x80\x80", false, "overlong 4-byte NUL"),
        U("\xf0\x8f\xbf\xbf", false, "overlong U+FFFF"),
        U("\xed\xa0\x80", false, "U+D800 high surrogate"),
        U("\xed\xbf\xbf", false, "U+DFFF low surrogate"),
        U("\xed\xa0\xbd\xed\xb8\x80", false, "CESU-8 surrogate pair"),
        U("\xf4\x90\x80\x80", false, "U+110000"),
        U("\xf5\x80\x80\x80", false, "F5 lead"),
        U("\xf7\xbf\xbf\xbf", false, "F7 lead"),
        U("\xf8\x88\x80\x80\x80", false, "5-byte form"),
        U("\xfc\x84\x80\x80\x80\x80", false, "6-byte form"),
        U("\xfe", false, "FE"),
        U("\xff", false, "FF"),
        U("\x80", false, "lone continuation"),
        U("\xbf", false, "lone continuation BF"),
        U("a\x80z", false, "continuation after ASCII"),
        U("\xc3", false, "truncated 2-byte"),
        U("\xe2\x82", false, "truncated 3-byte"),
        U("\xf0\x9f\x98", false, "truncated 4-byte"),
        U("\xc3(", false, "bad continuation"),
        U("\xe2(\xa1", false, "bad second of 3"),
        U("\xe2\x82(", false, "bad third of 3"),
        U("\xf0\x9f\x98(", false, "bad fourth of 4"),
        U("\xc3\xa9\xc3", false, "valid then truncated"),
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(cases); i++)
        if (sz_utf8_valid((const uint8_t *)cases[i].s, cases[i].len) != cases[i].ok)
            fail_msg("utf8 #%zu (%s): want %d", i, cases[i].what, cases[i].ok);
}

/* Appends code point cp as UTF-8 (any value below 0x200000, even a surrogate). */
static size_t
put_cp(uint8_t *b, uint32_t cp)
{
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (uint8_t)(0xf0 | cp >> 18);
    b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    b[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/* Every code point round-trips through a reference encoder. */
static void
test_utf8_all_code_points(void **state)
{
    (void)state;

    for (uint32_t cp = 1; cp <= 0x10ffff; cp++) {
        uint8_t b[4];
        size_t n = put_cp(b, cp);
        bool want = !(cp >= 0xd800 && cp <= 0xdfff);

        if (sz_utf8_valid(b, n) != want)
            fail_msg("U+%04X: want %d", cp, want);
        /* Every proper prefix of a multi-byte form is invalid. */
        for (size_t k = 1; k < n; k++)
            if (sz_utf8_valid(b, k))
                fail_msg("U+%04X prefix %zu accepted", cp, k);
    }
}

/*
 * A plain decoder of RFC 3629 (NUL refused), written apart from the one under
 * test: the reference for the long buffers below.
 */
static bool
ref_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n, k;
        if (s[i] < 0x80) {
            cp = s[i];
            n = 1;
        } else if ((s[i] & 0xe0) == 0xc0) {
            cp = s[i] & 0x1fu;
            n = 2;
        } else if ((s[i] & 0xf0) == 0xe0) {
            cp = s[i] & 0x0fu;
            n = 3;
        } else if ((s[i] & 0xf8) == 0xf0) {
            cp = s[i] & 0x07u;
            n = 4;
        } else {
            return false;
        }
        if (len - i < n)
            return false;
        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if (cp == 0 || (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
            (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n;
    }
    return true;
}

/* A small linear congruential generator: the same buffers on every run. */
static uint32_t
rnd(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return (*x >> 8) & 0xffffffu;
}

/* Puts a byte that often breaks UTF-8 somewhere in buf. */
static void
put_odd(uint8_t *buf, size_t len, uint32_t *x)
{
    static const uint8_t odd[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
                                  0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xf8, 0xff};
    size_t at = rnd(x) % len;
    buf[at] = odd[rnd(x) % sizeof odd];
}

/*
 * Long text (the validator checks 16 or more bytes in blocks, where a
 * character may straddle two of them), mostly valid, with a slip here and
 * there: a wrong byte, a cut or doubled character, an overlong form, a
 * surrogate. Every buffer and several slices of it (other offsets against
 * the blocks) agree with the reference, valid or not.
 */
static void
test_utf8_long_against_reference(void **state)
{
    static const uint32_t edges[] = {0x7f,     0x80,     0x7ff,  0x800,  0xd7ff,  0xd800,
                                     0xdfff,   0xe000,   0xfffd, 0xffff, 0x10000, 0x10ffff,
                                     0x110000, 0x1fffff, 0x41,   0x44f,  0x201c,  0x1f600};
    uint8_t buf[700];
    uint32_t x = 12345;
    size_t n_valid = 0, n_invalid = 0;
    (void)state;

    for (int iter = 0; iter < 30000; iter++) {
        size_t len = 0, target = 16 + rnd(&x) % (iter % 10 == 0 ? 680 : 80);
        unsigned mix = rnd(&x) % 4; /* ASCII, Latin/Cyrillic, CJK, emoji weighted */
        while (len + 4 <= target) {
            unsigned r = rnd(&x) % 100;
            uint32_t cp;
            if (r < 8) { /* a run of ASCII: whole blocks of it */
                size_t run = 1 + rnd(&x) % 40;
                while (run-- > 0 && len + 4 < target)
                    buf[len++] = (uint8_t)('a' + rnd(&x) % 26);
                continue;
            }
            if (r < 60 - mix * 15)
                cp = 0x20 + rnd(&x) % 0x5f;
            else if (r < 80)
                cp = 0x80 + rnd(&x) % 0x780;
            else if (r < 95)
                cp = 0x800 + rnd(&x) % 0xf800;
            else
                cp = 0x10000 + rnd(&x) % 0x100000;
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd;
            len += put_cp(buf + len, cp);
        }
        switch (rnd(&x) % 6) {
        case 0: /* valid as made */
            break;
        case 1: /* one odd byte somewhere */
            put_odd(buf, len, &x);
            break;
        case 2: /* an edge code point, valid or not, somewhere */
        {
            size_t at = rnd(&x) % (len - 4);
            uint8_t t[4];
            size_t k = put_cp(t, edges[rnd(&x) % (sizeof edges / sizeof edges[0])]);
            memcpy(buf + at, t, k);
            break;
        }
        case 3: /* the end cut anywhere */
            len -= rnd(&x) % 4;
            break;
        case 4: /* a byte dropped */
        {
            size_t at = rnd(&x) % len;
            memmove(buf + at, buf + at + 1, len - at - 1);
            len--;
            break;
        }
        default: /* two odd bytes */
            put_odd(buf, len, &x);
            put_odd(buf, len, &x);
            break;
        }
        for (int k = 0; k < 4; k++) {
            size_t from = k == 0 ? 0 : rnd(&x) % (len < 16 ? len + 1 : 16);
            size_t to = k < 2 ? len : from + rnd(&x) % (len - from + 1);
            bool want = ref_utf8_valid(buf + from, to - from);
            if (sz_utf8_valid(buf + from, to - from) != want)
                fail_msg("buffer %d, bytes %zu..%zu of %zu: want %d", iter, from, to, len, want);
            if (want)
                n_valid++;
            else
                n_invalid++;
        }
    }
    /*
     * Every position against the blocks: a character, whole or cut short,
     * between runs of ASCII (an ASCII block right after a cut one).
     */
    {
        static const char *const chars[] = {"\xc3\xa9", "\xe2\x80\x9c", "\xf0\x9f\x98\x80",
                                            "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf"};
        for (size_t c = 0; c < sizeof chars / sizeof chars[0]; c++) {
            size_t clen = strlen(chars[c]);
            for (size_t cut = 0; cut < clen; cut++) {
                for (size_t at = 0; at < 40; at++) {
                    size_t n = 0;
                    memset(buf, 'a', at);
                    n = at;
                    memcpy(buf + n, chars[c], clen - cut);
                    n += clen - cut;
                    memset(buf + n, 'b', 40);
                    n += 40;
                    if (sz_utf8_valid(buf, n) != (cut == 0))
                        fail_msg("char %zu cut by %zu at %zu: want %d", c, cut, at, cut == 0);
                    if (cut > 0 && sz_utf8_valid(buf, at + clen - cut))
                        fail_msg("char %zu cut by %zu at the end of %zu bytes accepted", c, cut,
                                 at + clen - cut);
                }
            }
        }
    }
    /* Both kinds were tried, plenty of each. */
    assert_true(n_valid > 20000);
    assert_true(n_invalid > 20000);
}

static void
test_ctype_name(void **state)
{
    (void)state;
    assert_string_equal(sz_ctype_name(SZ_CTYPE_PLAIN), "text/plain");
    assert_string_equal(sz_ctype_name(SZ_CTYPE_MARKDOWN), "text/markdown");
    assert_string_equal(sz_ctype_name(SZ_CTYPE_HTML), "text/html");
    assert_int_equal(SZ_CTYPE_PLAIN, 1);
    assert_int_equal(SZ_CTYPE_MARKDOWN, 2);
    assert_int_equal(SZ_CTYPE_HTML, 3);
    assert_null(sz_ctype_name((enum sz_ctype)0));
    assert_null(sz_ctype_name((enum sz_ctype)4));
    assert_null(sz_ctype_name((enum sz_ctype)255));
}

/* ---- field rules ----------------------------------------------------------- */

static const uint8_t PNG_DATA[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};

/* Scratch for articles built by the tests. */
struct scratch {
    struct sz_str authors[SZ_MAX_AUTHORS + 1];
    struct sz_attachment atts[SZ_MAX_ATTACHMENTS + 1];
    char names[SZ_MAX_ATTACHMENTS + 1][24];
};

static char *BIG; /* SZ_MAX_BODY_LEN + 1 bytes of 'a', for length limits. */

static void
base_article(struct sz_article *a, struct scratch *s)
{
    memset(a, 0, sizeof *a);
    memset(s, 0, sizeof *s);
    a->id = (struct sz_str)S("first-article");
    a->title = (struct sz_str)S("A title");
    a->published = 1724925600; /* 2024-08-29T10:00:00Z */
    a->ctype = SZ_CTYPE_MARKDOWN;
    a->url = (struct sz_str)S("https://example.org/a");
    s->authors[0] = (struct sz_str)S("Jane Doe");
    a->authors = s->authors;
    a->n_authors = 1;
    a->lang = (struct sz_str)S("en");
    a->summary = (struct sz_str)S("Short.\nTwo lines.");
    a->body = (const uint8_t *)"# Hello\n\nWorld.\n";
    a->body_len = strlen((const char *)a->body);
    s->atts[0].name = (struct sz_str)S("pic.png");
    s->atts[0].media_type = (struct sz_str)S("image/png");
    s->atts[0].data = PNG_DATA;
    s->atts[0].data_len = sizeof PNG_DATA;
    a->atts = s->atts;
    a->n_atts = 1;
}

enum field {
    F_ID,
    F_TITLE,
    F_PUBLISHED,
    F_CTYPE,
    F_URL,
    F_AUTHOR,    /* replaces the one author */
    F_N_AUTHORS, /* num copies of a valid author */
    F_LANG,
    F_SUMMARY,
    F_BODY,
    F_BODY_LEN, /* num bytes of 'a' */
    F_ATT_NAME,
    F_ATT_TYPE,
    F_ATT_LEN,   /* num bytes of 'a' as data */
    F_N_ATTS,    /* num attachments with distinct names */
    F_ATT_DUP,   /* two attachments named as the string */
    F_ATT_ORDER, /* two attachments, out of order: allowed by the checker */
};

struct mut {
    enum field f;
    struct sz_str s;
    int64_t num; /* for F_*LEN and counts: when s.p is NULL, num bytes of 'a' */
    int want;
};

/* A string of num 'a's when s is NOSTR, else s. */
static struct sz_str
mut_str(const struct mut *m)
{
    if (m->s.p == NULL && m->num > 0)
        return (struct sz_str){BIG, (size_t)m->num};
    return m->s;
}

static void
apply(const struct mut *m, struct sz_article *a, struct scratch *s)
{
    size_t i;

    switch (m->f) {
    case F_ID:
        a->id = mut_str(m);
        break;
    case F_TITLE:
        a->title = mut_str(m);
        break;
    case F_PUBLISHED:
        a->published = m->num;
        break;
    case F_CTYPE:
        a->ctype = (enum sz_ctype)m->num;
        break;
    case F_URL:
        a->url = mut_str(m);
        break;
    case F_AUTHOR:
        s->authors[0] = mut_str(m);
        break;
    case F_N_AUTHORS:
        for (i = 0; i < (size_t)m->num; i++)
            s->authors[i] = (struct sz_str)S("X");
        a->n_authors = (size_t)m->num;
        break;
    case F_LANG:
        a->lang = mut_str(m);
        break;
    case F_SUMMARY:
        a->summary = mut_str(m);
        break;
    case F_BODY:
        a->body = (const uint8_t *)m->s.p;
        a->body_len = m->s.len;
        break;
    case F_BODY_LEN:
        a->body = (const uint8_t *)BIG;
        a->body_len = (size_t)m->num;
        break;
    case F_ATT_NAME:
        s->atts[0].name = mut_str(m);
        break;
    case F_ATT_TYPE:
        s->atts[0].media_type = mut_str(m);
        break;
    case F_ATT_LEN:
        s->atts[0].data = (const uint8_t *)BIG;
        s->atts[0].data_len = (size_t)m->num;
        break;
    case F_N_ATTS:
        for (i = 0; i < (size_t)m->num; i++) {
            snprintf(s->names[i], sizeof s->names[i], "f%03zu", i);
            s->atts[i] = s->atts[0];
            s->atts[i].name = (struct sz_str){s->names[i], strlen(s->names[i])};
        }
        a->n_atts = (size_t)m->num;
        break;
    case F_ATT_DUP:
    case F_ATT_ORDER:
        s->atts[1] = s->atts[0];
        if (m->f == F_ATT_DUP) {
            s->atts[0].name = s->atts[1].name = m->s;
        } else {
            s->atts[0].name = (struct sz_str)S("zz");
            s->atts[1].name = (struct sz_str)S("aa");
        }
        a->n_atts = 2;
        break;
    }
}

/* The rules of BUNDLE.md 2.1, one row per boundary. */
static const struct mut MUTS[] = {
    /* id: safe name, 1..100 bytes */
    {F_ID, S("a"), 0, 0},
    {F_ID, S("A.z_0-9"), 0, 0},
    {F_ID, NOSTR, 100, 0},
    {F_ID, NOSTR, 101, -SZ_ETOOBIG}, /* BUNDLE.md's table says EBADID: reported */
    {F_ID, S(""), 0, -SZ_EBADID},
    {F_ID, S("../etc"), 0, -SZ_EBADID},
    {F_ID, S(".hidden"), 0, -SZ_EBADID},
    {F_ID, S("-rf"), 0, -SZ_EBADID},
    {F_ID, S("a/b"), 0, -SZ_EBADID},
    {F_ID, S("a b"), 0, -SZ_EBADID},
    {F_ID, S("caf\xc3\xa9"), 0, -SZ_EBADID},
    /* title: 1..1024 bytes of UTF-8, no controls */
    {F_TITLE, S("T"), 0, 0},
    {F_TITLE, NOSTR, 1024, 0},
    {F_TITLE, NOSTR, 1025, -SZ_ETOOBIG},
    {F_TITLE, S(""), 0, -SZ_EINVAL},
    {F_TITLE, S("a\tb"), 0, -SZ_EINVAL},
    {F_TITLE, S("a\nb"), 0, -SZ_EINVAL},
    {F_TITLE, S("a\rb"), 0, -SZ_EINVAL},
    {F_TITLE, S("\x1f"), 0, -SZ_EINVAL},
    {F_TITLE, S("a\x7f"), 0, -SZ_EINVAL},
    {F_TITLE, S("a\0b"), 0, -SZ_EUTF8},
    {F_TITLE, S("\xc3"), 0, -SZ_EUTF8},
    {F_TITLE, S("\xed\xa0\x80"), 0, -SZ_EUTF8},
    {F_TITLE, S("\xc2\x80 C1 is not a control here"), 0, 0},
    {F_TITLE, S("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"), 0, 0},
    /* published: years 0001..9999 */
    {F_PUBLISHED, NOSTR, 0, 0},
    {F_PUBLISHED, NOSTR, -1, 0},
    {F_PUBLISHED, NOSTR, TIME_MIN, 0},
    {F_PUBLISHED, NOSTR, TIME_MAX, 0},
    {F_PUBLISHED, NOSTR, TIME_MIN - 1, -SZ_EINVAL},
    {F_PUBLISHED, NOSTR, TIME_MAX + 1, -SZ_EINVAL},
    {F_PUBLISHED, NOSTR, INT64_MIN, -SZ_EINVAL},
    {F_PUBLISHED, NOSTR, INT64_MAX, -SZ_EINVAL},
    /* ctype: 1..3 */
    {F_CTYPE, NOSTR, 1, 0},
    {F_CTYPE, NOSTR, 2, 0},
    {F_CTYPE, NOSTR, 3, 0},
    {F_CTYPE, NOSTR, 0, -SZ_EINVAL},
    {F_CTYPE, NOSTR, 4, -SZ_EINVAL},
    {F_CTYPE, NOSTR, 255, -SZ_EINVAL},
    /* url: empty, or http(s)://, no controls, space, quote, angle brackets */
    {F_URL, S(""), 0, 0},
    {F_URL, S("http://a"), 0, 0},
    {F_URL, S("https://example.org/p?q=1&r=%20#frag"), 0, 0},
    {F_URL, S("http://"), 0, 0}, /* "starts with http://": the prefix alone counts */
    {F_URL, S("https://"), 0, 0},
    {F_URL, S("http://xn--e1a.example/\xd0\xbf"), 0, 0},
    {F_URL, S("ftp://a"), 0, -SZ_EINVAL},
    {F_URL, S("HTTP://a"), 0, -SZ_EINVAL},
    {F_URL, S("http:/a"), 0, -SZ_EINVAL},
    {F_URL, S("http:"), 0, -SZ_EINVAL},
    {F_URL, S("javascript:alert(1)"), 0, -SZ_EINVAL},
    {F_URL, S(" http://a"), 0, -SZ_EINVAL},
    {F_URL, S("http://a b"), 0, -SZ_EINVAL},
    {F_URL, S("http://a\"b"), 0, -SZ_EINVAL},
    {F_URL, S("http://a<b"), 0, -SZ_EINVAL},
    {F_URL, S("http://a>b"), 0, -SZ_EINVAL},
    {F_URL, S("http://a\tb"), 0, -SZ_EINVAL},
    {F_URL, S("http://a\x7f"), 0, -SZ_EINVAL},
    {F_URL, S("http://a\xff"), 0, -SZ_EUTF8},
    /* authors: 0..64, each 1..256 bytes of UTF-8 without controls */
    {F_N_AUTHORS, NOSTR, 0, 0},
    {F_N_AUTHORS, NOSTR, 64, 0},
    {F_N_AUTHORS, NOSTR, 65, -SZ_ETOOBIG},
    {F_AUTHOR, S("\xd0\xa4\xd1\x91\xd0\xb4\xd0\xbe\xd1\x80"), 0, 0},
    {F_AUTHOR, NOSTR, 256, 0},
    {F_AUTHOR, NOSTR, 257, -SZ_ETOOBIG},
    {F_AUTHOR, S(""), 0, -SZ_EINVAL},
    {F_AUTHOR, S("a\nb"), 0, -SZ_EINVAL},
    {F_AUTHOR, S("\xe2\x82"), 0, -SZ_EUTF8},
    /* lang: empty, or 2..8 letters then -[A-Za-z0-9]{1,8}*, at most 35 bytes */
    {F_LANG, S(""), 0, 0},
    {F_LANG, S("ru"), 0, 0},
    {F_LANG, S("eng"), 0, 0},
    {F_LANG, S("abcdefgh"), 0, 0},
    {F_LANG, S("en-US"), 0, 0},
    {F_LANG, S("zh-Hant-TW"), 0, 0},
    {F_LANG, S("sr-Latn-1"), 0, 0},
    {F_LANG, S("en-12345678"), 0, 0},
    {F_LANG, S("abcdefgh-12345678-12345678-12345678"), 0, 0},            /* 35 */
    {F_LANG, S("abcdefgh-12345678-12345678-1234-1234"), 0, -SZ_ETOOBIG}, /* 36 */
    {F_LANG, S("e"), 0, -SZ_EINVAL},
    {F_LANG, S("x-private"), 0, -SZ_EINVAL},
    {F_LANG, S("abcdefghi"), 0, -SZ_EINVAL},
    {F_LANG, S("en-"), 0, -SZ_EINVAL},
    {F_LANG, S("en--US"), 0, -SZ_EINVAL},
    {F_LANG, S("-en"), 0, -SZ_EINVAL},
    {F_LANG, S("en-123456789"), 0, -SZ_EINVAL},
    {F_LANG, S("e1"), 0, -SZ_EINVAL},
    {F_LANG, S("12"), 0, -SZ_EINVAL},
    {F_LANG, S("en_US"), 0, -SZ_EINVAL},
    {F_LANG, S("en US"), 0, -SZ_EINVAL},
    {F_LANG, S("\xc3\xa9n"), 0, -SZ_EINVAL},
    /* summary: 0..4096 bytes of UTF-8, only TAB LF CR as controls */
    {F_SUMMARY, S(""), 0, 0},
    {F_SUMMARY, S("a\tb\nc\r\n"), 0, 0},
    {F_SUMMARY, NOSTR, 4096, 0},
    {F_SUMMARY, NOSTR, 4097, -SZ_ETOOBIG},
    {F_SUMMARY, S("a\x01"), 0, -SZ_EINVAL},
    {F_SUMMARY, S("a\x0b"), 0, -SZ_EINVAL},
    {F_SUMMARY, S("\x7f"), 0, -SZ_EINVAL},
    {F_SUMMARY, S("\xed\xa0\x80"), 0, -SZ_EUTF8},
    /* body: 1..32 MiB of UTF-8 without NUL; other controls are the author's business */
    {F_BODY, S("x"), 0, 0},
    {F_BODY, S("\x01\x1b[0m\x7f"), 0, 0},
    {F_BODY, S(""), 0, -SZ_EINVAL},
    {F_BODY, S("a\0b"), 0, -SZ_EUTF8},
    {F_BODY, S("\xff"), 0, -SZ_EUTF8},
    {F_BODY_LEN, NOSTR, SZ_MAX_BODY_LEN, 0},
    {F_BODY_LEN, NOSTR, SZ_MAX_BODY_LEN + 1, -SZ_ETOOBIG},
    /* attachments: 0..256, safe unique names, media types, 1..32 MiB */
    {F_N_ATTS, NOSTR, 0, 0},
    {F_N_ATTS, NOSTR, 256, 0},
    {F_N_ATTS, NOSTR, 257, -SZ_ETOOBIG},
    {F_ATT_NAME, S("a"), 0, 0},
    {F_ATT_NAME, NOSTR, 100, 0},
    {F_ATT_NAME, NOSTR, 101, -SZ_ETOOBIG}, /* BUNDLE.md's table says EBADID: reported */
    {F_ATT_NAME, S(""), 0, -SZ_EBADID},
    {F_ATT_NAME, S("../x"), 0, -SZ_EBADID},
    {F_ATT_NAME, S(".htaccess"), 0, -SZ_EBADID},
    {F_ATT_NAME, S("a/b"), 0, -SZ_EBADID},
    {F_ATT_TYPE, S("image/svg+xml"), 0, 0},
    {F_ATT_TYPE, S("application/vnd.ms-excel"), 0, 0},
    {F_ATT_TYPE, S("a/b_c"), 0, 0},
    {F_ATT_TYPE, S("x/y"), 0, 0},
    {F_ATT_TYPE, S(""), 0, -SZ_EINVAL},
    {F_ATT_TYPE, S("image"), 0, -SZ_EINVAL},
    {F_ATT_TYPE, S("/png"), 0, -SZ_EINVAL},
    {F_ATT_TYPE, S("image/"), 0, -SZ_EINVAL},
    {F_ATT_TYPE, S("/"), 0, -SZ_EINVAL},
    {F_ATT_TYPE, S("image/png/x"), 0, -SZ_EINVAL},
    {F_ATT_TYPE, S("Image/PNG"), 0, -SZ_EINVAL},
    {F_ATT_TYPE, S("text/plain; charset=utf-8"), 0, -SZ_EINVAL},
    {F_ATT_TYPE, S("image/p\xc3\xa9"), 0, -SZ_EINVAL},
    {F_ATT_LEN, NOSTR, 1, 0},
    {F_ATT_LEN, NOSTR, SZ_MAX_ATTACHMENT_LEN, 0},
    {F_ATT_LEN, NOSTR, SZ_MAX_ATTACHMENT_LEN + 1, -SZ_ETOOBIG},
    {F_ATT_LEN, NOSTR, 0, -SZ_EINVAL},
    {F_ATT_DUP, S("same"), 0, -SZ_EDUPID},
    {F_ATT_ORDER, NOSTR, 0, 0},
};

/* Media types: 127 bytes fit, 128 do not (built at run time). */
static void
test_media_type_length(void **state)
{
    struct sz_article a;
    struct scratch s;
    char mt[129];
    (void)state;

    memset(mt, 'a', sizeof mt);
    mt[1] = '/';
    base_article(&a, &s);
    s.atts[0].media_type = (struct sz_str){mt, 127};
    assert_int_equal(sz_article_check(&a), 0);
    s.atts[0].media_type = (struct sz_str){mt, 128};
    /* BUNDLE.md's table says EINVAL; the code reports the length: reported. */
    assert_int_equal(sz_article_check(&a), -SZ_ETOOBIG);
}

static void
test_article_check(void **state)
{
    struct sz_article a;
    struct scratch s;
    (void)state;

    base_article(&a, &s);
    assert_int_equal(sz_article_check(&a), 0);
    for (size_t i = 0; i < N_ELEMS(MUTS); i++) {
        base_article(&a, &s);
        apply(&MUTS[i], &a, &s);
        check_rc(sz_article_check(&a), MUTS[i].want, "article_check", i);
    }
}

/*
 * Every valid mutation survives encode → decode → encode unchanged, and every
 * invalid one is refused by the encoder with the checker's error and, when it
 * can be written on the wire, by the decoder too.
 */
static void
raw_str8(struct sz_wr *w, struct sz_str s)
{
    sz_wr_u8(w, (uint8_t)s.len);
    sz_wr_bytes(w, s.p, s.len);
}

static void
raw_str16(struct sz_wr *w, struct sz_str s)
{
    sz_wr_u16(w, (uint16_t)s.len);
    sz_wr_bytes(w, s.p, s.len);
}

/* Offsets of the count fields of the last article written, for patching. */
struct offs {
    size_t n_authors, body_len, n_atts, att_len;
};

/* Writes an article exactly as given: no checks, no sorting. */
static void
raw_article(struct sz_wr *w, const struct sz_article *a, struct offs *o)
{
    raw_str8(w, a->id);
    raw_str16(w, a->title);
    sz_wr_i64(w, a->published);
    sz_wr_u8(w, (uint8_t)a->ctype);
    raw_str16(w, a->url);
    if (o != NULL)
        o->n_authors = w->len;
    sz_wr_u8(w, (uint8_t)a->n_authors);
    for (size_t i = 0; i < a->n_authors; i++)
        raw_str16(w, a->authors[i]);
    raw_str8(w, a->lang);
    raw_str16(w, a->summary);
    if (o != NULL)
        o->body_len = w->len;
    sz_wr_u32(w, (uint32_t)a->body_len);
    sz_wr_bytes(w, a->body, a->body_len);
    if (o != NULL)
        o->n_atts = w->len;
    sz_wr_u16(w, (uint16_t)a->n_atts);
    for (size_t i = 0; i < a->n_atts; i++) {
        raw_str8(w, a->atts[i].name);
        raw_str8(w, a->atts[i].media_type);
        if (o != NULL && i == 0)
            o->att_len = w->len;
        sz_wr_u32(w, (uint32_t)a->atts[i].data_len);
        sz_wr_bytes(w, a->atts[i].data, a->atts[i].data_len);
    }
}

/* A container of the given articles in the given order; caller frees w. */
static void
raw_container(struct sz_wr *w, const struct sz_article *arts, size_t n, struct offs *o)
{
    sz_wr_init(w, (size_t)1 << 30);
    sz_wr_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        raw_article(w, &arts[i], o);
    assert_int_equal(sz_wr_status(w), 0);
}

static bool
str_eq(struct sz_str a, struct sz_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static void
assert_article_eq(const struct sz_article *x, const struct sz_article *y)
{
    assert_true(str_eq(x->id, y->id));
    assert_true(str_eq(x->title, y->title));
    assert_true(x->published == y->published);
    assert_int_equal(x->ctype, y->ctype);
    assert_true(str_eq(x->url, y->url));
    assert_int_equal(x->n_authors, y->n_authors);
    for (size_t i = 0; i < x->n_authors; i++)
        assert_true(str_eq(x->authors[i], y->authors[i]));
    assert_true(str_eq(x->lang, y->lang));
    assert_true(str_eq(x->summary, y->summary));
    assert_int_equal(x->body_len, y->body_len);
    assert_memory_equal(x->body, y->body, x->body_len);
    assert_int_equal(x->n_atts, y->n_atts);
}

static void
test_mutations_on_the_wire(void **state)
{
    struct sz_article a;
    struct scratch s;
    (void)state;

    for (size_t i = 0; i < N_ELEMS(MUTS); i++) {
        uint8_t *enc = (uint8_t *)"untouched";
        size_t enc_len = 12345;
        struct sz_container *c = NULL;
        struct sz_wr w;
        int rc;

        base_article(&a, &s);
        apply(&MUTS[i], &a, &s);
        rc = sz_container_encode(&a, 1, &enc, &enc_len);
        check_rc(rc, MUTS[i].want, "encode", i);
        if (rc != 0) {
            assert_string_equal((const char *)enc, "untouched");
            assert_int_equal(enc_len, 12345);
        } else {
            check_rc(sz_container_decode(enc, enc_len, &c), 0, "decode", i);
            assert_int_equal(c->n_articles, 1);
            assert_article_eq(&c->articles[0], &a);
            sz_container_free(c);
            free(enc);
        }
        /* Lengths that do not fit the wire's length fields cannot be sent. */
        if (MUTS[i].want == 0)
            continue;
        if ((MUTS[i].f == F_BODY_LEN || MUTS[i].f == F_ATT_LEN) && MUTS[i].num > 1024)
            continue; /* Covered by test_decode_patched_lengths without 32 MiB copies. */
        raw_container(&w, &a, 1, NULL);
        c = (struct sz_container *)&w; /* sentinel: must stay */
        check_rc(sz_container_decode(w.p, w.len, &c), MUTS[i].want, "decode raw", i);
        assert_ptr_equal(c, (struct sz_container *)&w);
        sz_wr_free(&w, false);
    }
}

/* Hand-assembled bytes of BUNDLE.md section 2, checked field by field. */
/* clang-format off */
static const uint8_t KAT_MIN[] = {
    0x01, 0x00, 0x00, 0x00,                         /* count 1 */
    0x01, 'a',                                      /* id "a" */
    0x01, 0x00, 'T',                                /* title "T" */
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* published 1 */
    0x01,                                           /* ctype text/plain */
    0x00, 0x00,                                     /* url absent */
    0x00,                                           /* no authors */
    0x00,                                           /* lang absent */
    0x00, 0x00,                                     /* summary absent */
    0x01, 0x00, 0x00, 0x00, 'x',                    /* body "x" */
    0x00, 0x00,                                     /* no attachments */
};

static const uint8_t KAT_FULL[] = {
    0x02, 0x00, 0x00, 0x00,                         /* count 2 */
    0x01, 'B',                                      /* "B" sorts before "a" (0x42 < 0x61) */
    0x02, 0x00, 'T', 't',                           /* title */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* published -1 */
    0x03,                                           /* text/html */
    0x08, 0x00, 'h', 't', 't', 'p', ':', '/', '/', 'x', /* url */
    0x02,                                           /* two authors, in the given order */
    0x01, 0x00, 'Z',
    0x02, 0x00, 'A', 'B',
    0x02, 'e', 'n',                                 /* lang */
    0x01, 0x00, 'S',                                /* summary */
    0x02, 0x00, 0x00, 0x00, '<', '>',               /* body */
    0x02, 0x00,                                     /* two attachments, sorted by name */
    0x01, 'a',                                      /* name */
    0x0a, 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', /* media type */
    0x01, 0x00, 0x00, 0x00, 0x03,                   /* data */
    0x02, 'a', 'b',
    0x09, 'i', 'm', 'a', 'g', 'e', '/', 'p', 'n', 'g',
    0x02, 0x00, 0x00, 0x00, 0x01, 0x02,
    0x01, 'a',                                      /* second article, minimal */
    0x01, 0x00, 'T',
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* published 0 */
    0x02,                                           /* text/markdown */
    0x00, 0x00,                                     /* url */
    0x00,                                           /* authors */
    0x00,                                           /* lang */
    0x00, 0x00,                                     /* summary */
    0x01, 0x00, 0x00, 0x00, 'y',                    /* body */
    0x00, 0x00,                                     /* attachments */
};
/* clang-format on */

/* The articles of KAT_FULL, given in the "wrong" order (encoder must sort). */
static void
kat_full_articles(struct sz_article arts[2], struct sz_str authors[2], struct sz_attachment atts[2])
{
    static const uint8_t d1[] = {0x01, 0x02}, d2[] = {0x03};

    memset(arts, 0, 2 * sizeof *arts);
    arts[0].id = (struct sz_str)S("a");
    arts[0].title = (struct sz_str)S("T");
    arts[0].published = 0;
    arts[0].ctype = SZ_CTYPE_MARKDOWN;
    arts[0].body = (const uint8_t *)"y";
    arts[0].body_len = 1;
    authors[0] = (struct sz_str)S("Z");
    authors[1] = (struct sz_str)S("AB");
    atts[0] = (struct sz_attachment){S("ab"), S("image/png"), d1, sizeof d1};
    atts[1] = (struct sz_attachment){S("a"), S("text/plain"), d2, sizeof d2};
    arts[1].id = (struct sz_str)S("B");
    arts[1].title = (struct sz_str)S("Tt");
    arts[1].published = -1;
    arts[1].ctype = SZ_CTYPE_HTML;
    arts[1].url = (struct sz_str)S("http://x");
    arts[1].authors = authors;
    arts[1].n_authors = 2;
    arts[1].lang = (struct sz_str)S("en");
    arts[1].summary = (struct sz_str)S("S");
    arts[1].body = (const uint8_t *)"<>";
    arts[1].body_len = 2;
    arts[1].atts = atts;
    arts[1].n_atts = 2;
}

static void
test_container_kat(void **state)
{
    struct sz_article arts[2];
    struct sz_str authors[2];
    struct sz_attachment atts[2];
    struct sz_container *c;
    uint8_t *enc;
    size_t enc_len;
    (void)state;

    memset(arts, 0, sizeof arts);
    arts[0].id = (struct sz_str)S("a");
    arts[0].title = (struct sz_str)S("T");
    arts[0].published = 1;
    arts[0].ctype = SZ_CTYPE_PLAIN;
    arts[0].body = (const uint8_t *)"x";
    arts[0].body_len = 1;
    assert_int_equal(sz_container_encode(arts, 1, &enc, &enc_len), 0);
    assert_int_equal(enc_len, sizeof KAT_MIN);
    /* 31 bytes: the smallest container there is (BUNDLE.md says content_len >= 30). */
    assert_int_equal(enc_len, 31);
    assert_memory_equal(enc, KAT_MIN, sizeof KAT_MIN);
    free(enc);
    /* One byte less of anything is not a container. */
    assert_int_equal(sz_container_decode(KAT_MIN, 30, &c), -SZ_EBADMSG);

    kat_full_articles(arts, authors, atts);
    assert_int_equal(sz_container_encode(arts, 2, &enc, &enc_len), 0);
    assert_int_equal(enc_len, sizeof KAT_FULL);
    assert_memory_equal(enc, KAT_FULL, sizeof KAT_FULL);
    free(enc);
    /* The inputs were not reordered. */
    assert_memory_equal(arts[0].id.p, "a", 1);
    assert_memory_equal(atts[0].name.p, "ab", 2);

    assert_int_equal(sz_container_decode(KAT_FULL, sizeof KAT_FULL, &c), 0);
    assert_int_equal(c->n_articles, 2);
    assert_article_eq(&c->articles[0], &arts[1]);
    assert_article_eq(&c->articles[1], &arts[0]);
    assert_int_equal(c->articles[0].n_atts, 2);
    assert_true(str_eq(c->articles[0].atts[0].name, (struct sz_str)S("a")));
    assert_true(str_eq(c->articles[0].atts[0].media_type, (struct sz_str)S("text/plain")));
    assert_int_equal(c->articles[0].atts[0].data_len, 1);
    assert_int_equal(c->articles[0].atts[0].data[0], 0x03);
    assert_true(str_eq(c->articles[0].atts[1].name, (struct sz_str)S("ab")));
    assert_int_equal(c->articles[0].atts[1].data_len, 2);
    /* Zero-copy: strings and bodies point into the input. */
    assert_true(c->articles[0].body >= KAT_FULL &&
                c->articles[0].body < KAT_FULL + sizeof KAT_FULL);
    assert_true((const uint8_t *)c->articles[1].id.p > KAT_FULL);
    sz_container_free(c);
    sz_container_free(NULL);
}

/* The encoding does not depend on the order of the inputs. */
static void
test_container_canonical(void **state)
{
    static const char *ids[] = {"b", "a", "ab", "B", "a0", "_", "Z9"};
    enum { N = 7 };
    struct sz_article arts[N], perm[N];
    uint8_t *first = NULL;
    size_t first_len = 0;
    struct sz_container *c;
    (void)state;

    memset(arts, 0, sizeof arts);
    for (size_t i = 0; i < N; i++) {
        arts[i].id = (struct sz_str){ids[i], strlen(ids[i])};
        arts[i].title = (struct sz_str){ids[i], strlen(ids[i])};
        arts[i].ctype = SZ_CTYPE_PLAIN;
        arts[i].body = (const uint8_t *)ids[i];
        arts[i].body_len = strlen(ids[i]);
    }
    /* A few rotations and reversals. */
    for (size_t r = 0; r < 2 * N; r++) {
        uint8_t *enc;
        size_t enc_len;

        for (size_t i = 0; i < N; i++)
            perm[i] = arts[r < N ? (i + r) % N : (N - 1 - i + r) % N];
        assert_int_equal(sz_container_encode(perm, N, &enc, &enc_len), 0);
        if (first == NULL) {
            first = enc;
            first_len = enc_len;
        } else {
            assert_int_equal(enc_len, first_len);
            assert_memory_equal(enc, first, enc_len);
            free(enc);
        }
    }
    /* Decoded order is byte order: B Z9 _ a a0 ab b. */
    assert_int_equal(sz_container_decode(first, first_len, &c), 0);
    assert_int_equal(c->n_articles, N);
    {
        static const char *want[] = {"B", "Z9", "_", "a", "a0", "ab", "b"};
        for (size_t i = 0; i < N; i++)
            assert_true(str_eq(c->articles[i].id, (struct sz_str){want[i], strlen(want[i])}));
    }
    /* Re-encoding the decoded articles gives the same bytes. */
    {
        uint8_t *again;
        size_t again_len;
        assert_int_equal(sz_container_encode(c->articles, c->n_articles, &again, &again_len), 0);
        assert_int_equal(again_len, first_len);
        assert_memory_equal(again, first, first_len);
        free(again);
    }
    sz_container_free(c);
    free(first);
}

static void
test_encode_errors(void **state)
{
    struct sz_article arts[2], *many;
    struct scratch s;
    uint8_t *enc = (uint8_t *)"x";
    size_t enc_len = 7;
    (void)state;

    base_article(&arts[0], &s);
    assert_int_equal(sz_container_encode(arts, 0, &enc, &enc_len), -SZ_EINVAL);
    arts[1] = arts[0];
    assert_int_equal(sz_container_encode(arts, 2, &enc, &enc_len), -SZ_EDUPID);
    arts[1].title = (struct sz_str)S("");
    assert_int_equal(sz_container_encode(arts, 2, &enc, &enc_len), -SZ_EINVAL);
    many = calloc(SZ_MAX_ARTICLES + 1, sizeof *many);
    assert_non_null(many);
    assert_int_equal(sz_container_encode(many, SZ_MAX_ARTICLES + 1, &enc, &enc_len), -SZ_ETOOBIG);
    /* Exactly SZ_MAX_ARTICLES distinct articles are fine. */
    {
        static char idbuf[SZ_MAX_ARTICLES][24];
        struct sz_container *c;
        uint8_t *out;
        size_t out_len;
        for (size_t i = 0; i < SZ_MAX_ARTICLES; i++) {
            snprintf(idbuf[i], sizeof idbuf[i], "%04zu", SZ_MAX_ARTICLES - 1 - i);
            many[i].id = (struct sz_str){idbuf[i], 4};
            many[i].title = (struct sz_str)S("t");
            many[i].ctype = SZ_CTYPE_PLAIN;
            many[i].body = (const uint8_t *)"b";
            many[i].body_len = 1;
        }
        assert_int_equal(sz_container_encode(many, SZ_MAX_ARTICLES, &out, &out_len), 0);
        assert_int_equal(sz_container_decode(out, out_len, &c), 0);
        assert_int_equal(c->n_articles, SZ_MAX_ARTICLES);
        assert_memory_equal(c->articles[0].id.p, "0000", 4);
        assert_memory_equal(c->articles[SZ_MAX_ARTICLES - 1].id.p, "4095", 4);
        sz_container_free(c);
        free(out);
    }
    free(many);
    assert_string_equal((const char *)enc, "x");
    assert_int_equal(enc_len, 7);
}

/* Every proper prefix of a valid container is refused as truncated. */
static void
test_decode_truncated(void **state)
{
    struct sz_article arts[1];
    struct input {
        const uint8_t *p;
        size_t len;
    } inputs[3];
    struct scratch s;
    uint8_t *enc;
    size_t enc_len;
    (void)state;

    base_article(&arts[0], &s);
    assert_int_equal(sz_container_encode(arts, 1, &enc, &enc_len), 0);
    inputs[0] = (struct input){KAT_MIN, sizeof KAT_MIN};
    inputs[1] = (struct input){KAT_FULL, sizeof KAT_FULL};
    inputs[2] = (struct input){enc, enc_len};
    for (size_t k = 0; k < N_ELEMS(inputs); k++) {
        struct sz_container *c;
        uint8_t *copy;

        assert_int_equal(sz_container_decode(inputs[k].p, inputs[k].len, &c), 0);
        sz_container_free(c);
        for (size_t n = 0; n < inputs[k].len; n++) {
            /* A copy of exactly n bytes, so ASan sees any read past the end. */
            copy = malloc(n > 0 ? n : 1);
            assert_non_null(copy);
            memcpy(copy, inputs[k].p, n);
            c = (struct sz_container *)copy;
            check_rc(sz_container_decode(copy, n, &c), -SZ_EBADMSG, "prefix", k * 1000 + n);
            assert_ptr_equal(c, (struct sz_container *)copy);
            free(copy);
        }
        /* One byte more is non-canonical. */
        copy = malloc(inputs[k].len + 1);
        assert_non_null(copy);
        memcpy(copy, inputs[k].p, inputs[k].len);
        copy[inputs[k].len] = 0;
        check_rc(sz_container_decode(copy, inputs[k].len + 1, &c), -SZ_ECANON, "trailing", k);
        free(copy);
    }
    free(enc);
}

struct patch_case {
    const char *what;
    int field; /* 0 count, 1 n_authors, 2 body_len, 3 n_atts, 4 att_len */
    uint32_t value;
    int want;
};

/* Counts and lengths on the wire are checked against limits and the input. */
static void
test_decode_patched_lengths(void **state)
{
    static const struct patch_case cases[] = {
        {"count 0", 0, 0, -SZ_EINVAL},
        {"count 2 with 1 article", 0, 2, -SZ_EBADMSG},
        {"count 4096 with 1 article", 0, SZ_MAX_ARTICLES, -SZ_EBADMSG},
        {"count 4097", 0, SZ_MAX_ARTICLES + 1, -SZ_ETOOBIG},
        {"count 2^32-1", 0, 0xffffffffu, -SZ_ETOOBIG},
        {"n_authors 0 (author bytes left over)", 1, 0, -SZ_EBADMSG},
        {"n_authors 2", 1, 2, -SZ_EBADMSG},
        {"n_authors 64", 1, 64, -SZ_EBADMSG},
        {"n_authors 65", 1, 65, -SZ_ETOOBIG},
        {"n_authors 255", 1, 255, -SZ_ETOOBIG},
        {"body_len 1000", 2, 1000, -SZ_EBADMSG},
        {"body_len 32 MiB", 2, SZ_MAX_BODY_LEN, -SZ_EBADMSG},
        {"body_len 32 MiB + 1", 2, SZ_MAX_BODY_LEN + 1, -SZ_ETOOBIG},
        {"body_len 2^32-1", 2, 0xffffffffu, -SZ_ETOOBIG},
        {"n_atts 0 (attachment bytes left over)", 3, 0, -SZ_ECANON},
        {"n_atts 2", 3, 2, -SZ_EBADMSG},
        {"n_atts 256", 3, 256, -SZ_EBADMSG},
        {"n_atts 257", 3, 257, -SZ_ETOOBIG},
        {"n_atts 65535", 3, 65535, -SZ_ETOOBIG},
        {"att_len 0 (data left over)", 4, 0, -SZ_EINVAL},
        {"att_len +1", 4, 9, -SZ_EBADMSG},
        {"att_len 32 MiB + 1", 4, SZ_MAX_ATTACHMENT_LEN + 1, -SZ_ETOOBIG},
        {"att_len 2^32-1", 4, 0xffffffffu, -SZ_ETOOBIG},
    };
    struct sz_article a;
    struct scratch s;
    struct offs o;
    struct sz_wr w;
    (void)state;

    base_article(&a, &s);
    raw_container(&w, &a, 1, &o);
    /* Offsets are from the start of the container. */
    assert_int_equal(w.len, o.att_len + 4 + sizeof PNG_DATA);
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        uint8_t *copy = malloc(w.len);
        struct sz_container *c;

        assert_non_null(copy);
        memcpy(copy, w.p, w.len);
        switch (cases[i].field) {
        case 0:
            sz_store32(copy, cases[i].value);
            break;
        case 1:
            copy[o.n_authors] = (uint8_t)cases[i].value;
            break;
        case 2:
            sz_store32(copy + o.body_len, cases[i].value);
            break;
        case 3:
            sz_store16(copy + o.n_atts, (uint16_t)cases[i].value);
            break;
        case 4:
            sz_store32(copy + o.att_len, cases[i].value);
            break;
        }
        if (sz_container_decode(copy, w.len, &c) != cases[i].want)
            fail_msg("%s: want %d", cases[i].what, cases[i].want);
        free(copy);
    }
    sz_wr_free(&w, false);
}

struct order_case {
    const char *ids[3];
    int want;
};

/* Canonical order of articles and attachments (BUNDLE.md 2.2). */
static void
test_decode_order(void **state)
{
    static const struct order_case cases[] = {
        {{"a", "b", NULL}, 0},
        {{"a", "ab", NULL}, 0},
        {{"B", "a", NULL}, 0},
        {{"a", "b", "c"}, 0},
        {{"b", "a", NULL}, -SZ_ECANON},
        {{"ab", "a", NULL}, -SZ_ECANON},
        {{"a", "B", NULL}, -SZ_ECANON},
        {{"a", "c", "b"}, -SZ_ECANON},
        {{"a", "a", NULL}, -SZ_EDUPID},
        {{"a", "b", "b"}, -SZ_EDUPID},
        {{"a", "b/c", NULL}, -SZ_EBADID},
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        struct sz_article arts[3];
        struct sz_attachment atts[3];
        struct sz_container *c;
        struct sz_wr w;
        size_t n = 0;
        int rc;

        memset(arts, 0, sizeof arts);
        for (n = 0; n < 3 && cases[i].ids[n] != NULL; n++) {
            arts[n].id = (struct sz_str){cases[i].ids[n], strlen(cases[i].ids[n])};
            arts[n].title = (struct sz_str)S("t");
            arts[n].ctype = SZ_CTYPE_PLAIN;
            arts[n].body = (const uint8_t *)"b";
            arts[n].body_len = 1;
            atts[n] = (struct sz_attachment){arts[n].id, S("a/b"), PNG_DATA, 1};
        }
        /* As articles. */
        raw_container(&w, arts, n, NULL);
        rc = sz_container_decode(w.p, w.len, &c);
        check_rc(rc, cases[i].want, "article order", i);
        if (rc == 0)
            sz_container_free(c);
        sz_wr_free(&w, false);
        /* As attachments of one article. */
        arts[0].id = (struct sz_str)S("x");
        arts[0].atts = atts;
        arts[0].n_atts = n;
        raw_container(&w, arts, 1, NULL);
        rc = sz_container_decode(w.p, w.len, &c);
        check_rc(rc, cases[i].want, "attachment order", i);
        if (rc == 0)
            sz_container_free(c);
        sz_wr_free(&w, false);
    }
}

/* A 32 MiB body (the maximum) survives a round trip. */
static void
test_max_body_round_trip(void **state)
{
    struct sz_article a;
    struct scratch s;
    struct sz_container *c;
    uint8_t *enc;
    size_t enc_len;
    (void)state;

    base_article(&a, &s);
    a.body = (const uint8_t *)BIG;
    a.body_len = SZ_MAX_BODY_LEN;
    assert_int_equal(sz_container_encode(&a, 1, &enc, &enc_len), 0);
    assert_int_equal(sz_container_decode(enc, enc_len, &c), 0);
    assert_int_equal(c->articles[0].body_len, SZ_MAX_BODY_LEN);
    sz_container_free(c);
    free(enc);
}

/* ---- time ----------------------------------------------------------------- */

struct fmt_case {
    int64_t t;
    const char *s; /* NULL: refused */
};

static void
test_time_format(void **state)
{
    static const struct fmt_case cases[] = {
        {0, "1970-01-01T00:00:00Z"},
        {-1, "1969-12-31T23:59:59Z"},
        {1, "1970-01-01T00:00:01Z"},
        {86399, "1970-01-01T23:59:59Z"},
        {86400, "1970-01-02T00:00:00Z"},
        {-86400, "1969-12-31T00:00:00Z"},
        {-86401, "1969-12-30T23:59:59Z"},
        {951782400, "2000-02-29T00:00:00Z"},
        {951868800, "2000-03-01T00:00:00Z"},
        {1709164800, "2024-02-29T00:00:00Z"},
        {1724925600, "2024-08-29T10:00:00Z"},
        {1735689599, "2024-12-31T23:59:59Z"},
        {2147483647, "2038-01-19T03:14:07Z"},
        {2147483648LL, "2038-01-19T03:14:08Z"},
        {4107542400LL, "2100-03-01T00:00:00Z"}, /* 2100 is not a leap year */
        {4107456000LL, "2100-02-28T00:00:00Z"},
        {-2208988800LL, "1900-01-01T00:00:00Z"},
        {-12219292800LL, "1582-10-15T00:00:00Z"}, /* proleptic Gregorian throughout */
        {-12219379200LL, "1582-10-14T00:00:00Z"},
        {TIME_MIN, "0001-01-01T00:00:00Z"},
        {TIME_MIN + 86400 * 365 - 1, "0001-12-31T23:59:59Z"},
        {TIME_MAX, "9999-12-31T23:59:59Z"},
        {TIME_MIN - 1, NULL},
        {TIME_MAX + 1, NULL},
        {INT64_MIN, NULL},
        {INT64_MAX, NULL},
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        char out[32];
        int rc;

        memset(out, '#', sizeof out);
        rc = sz_time_format(cases[i].t, out, sizeof out);
        if (cases[i].s == NULL) {
            check_rc(rc, -SZ_EINVAL, "format", i);
            assert_int_equal(out[0], '#');
        } else {
            check_rc(rc, 0, "format", i);
            if (strcmp(out, cases[i].s) != 0)
                fail_msg("format #%zu: %s, want %s", i, out, cases[i].s);
        }
    }
    /* 21 bytes are needed (20 characters and the NUL). */
    {
        char out[21];
        assert_int_equal(sz_time_format(0, out, 20), -SZ_EINVAL);
        assert_int_equal(sz_time_format(0, out, 21), 0);
        assert_string_equal(out, "1970-01-01T00:00:00Z");
    }
}

struct parse_case {
    const char *s;
    int64_t t; /* want, when ok */
    bool ok;
};

static void
test_time_parse(void **state)
{
    static const struct parse_case cases[] = {
        {"1970-01-01T00:00:00Z", 0, true},
        {"1970-01-01", 0, true},
        {"1970-01-01t00:00:00z", 0, true},
        {"1970-01-01 00:00:00Z", 0, true},
        {"2024-08-29T10:00:00Z", 1724925600, true},
        {"2024-08-29T13:00:00+03:00", 1724925600, true},
        {"2024-08-29T04:30:00-05:30", 1724925600, true},
        {"2024-08-29T10:00:00+00:00", 1724925600, true},
        {"2024-08-29T10:00:00-00:00", 1724925600, true},
        {"2024-08-29T10:00:00.5Z", 1724925600, true},
        {"2024-08-29T10:00:00.999999999+00:00", 1724925600, true},
        {"2024-08-30T09:59:00+23:59", 1724925600, true},
        {"2024-08-28T10:01:00-23:59", 1724925600, true},
        {"2024-08-29", 1724889600, true},
        {"2000-02-29", 951782400, true},
        {"2024-02-29", 1709164800, true},
        {"2400-02-29", 13574563200LL, true},
        {"1969-12-31T23:59:59Z", -1, true},
        {"1900-01-01T00:00:00Z", -2208988800LL, true},
        {"0001-01-01T00:00:00Z", TIME_MIN, true},
        {"0001-01-01", TIME_MIN, true},
        {"9999-12-31T23:59:59Z", TIME_MAX, true},
        {"9999-12-31T23:59:59+00:00", TIME_MAX, true},
        {"0001-01-01T01:00:00+01:00", TIME_MIN, true},
        {"2016-12-31T23:59:60Z", 1483228799, true}, /* leap second: the second before */
        {"2024-01-31", 1706659200, true},
        {"2024-04-30", 1714435200, true},
        /* refused */
        {"", 0, false},
        {"2024", 0, false},
        {"2024-08", 0, false},
        {"2024-8-29", 0, false},
        {"24-08-29", 0, false},
        {"+2024-08-29", 0, false},
        {" 2024-08-29", 0, false},
        {"2024-08-29 ", 0, false},
        {"2024-08-29T", 0, false},
        {"2024-08-29T10:00Z", 0, false},
        {"2024-08-29T10:00:00", 0, false}, /* a time needs an offset */
        {"2024-08-29T10:00:00ZZ", 0, false},
        {"2024-08-29T10:00:00Z ", 0, false},
        {"2024-08-29T10:00:00.Z", 0, false},
        {"2024-08-29T10:00:00.5", 0, false},
        {"2024-08-29T10:00:00+0300", 0, false},
        {"2024-08-29T10:00:00+03", 0, false},
        {"2024-08-29T10:00:00+24:00", 0, false},
        {"2024-08-29T10:00:00+03:60", 0, false},
        {"2024-08-29X10:00:00Z", 0, false},
        {"2024/08/29", 0, false},
        {"2024-08-29T24:00:00Z", 0, false},
        {"2024-08-29T23:60:00Z", 0, false},
        {"2024-08-29T23:59:61Z", 0, false},
        {"2024-08-29T1:00:00Z", 0, false},
        {"0000-01-01", 0, false},
        {"0000-12-31T23:59:59Z", 0, false},
        {"2024-00-10", 0, false},
        {"2024-13-10", 0, false},
        {"2024-01-00", 0, false},
        {"2024-01-32", 0, false},
        {"2024-04-31", 0, false},
        {"2024-06-31", 0, false},
        {"2024-09-31", 0, false},
        {"2024-11-31", 0, false},
        {"2023-02-29", 0, false},
        {"1900-02-29", 0, false},
        {"2100-02-29", 0, false},
        {"2024-02-30", 0, false},
        {"9999-12-31T23:59:59-00:01", 0, false}, /* after the last second */
        {"0001-01-01T00:00:00+00:01", 0, false}, /* before the first */
        {"2024-08-2a", 0, false},
        {"２０２４-08-29", 0, false},
    };
    (void)state;

    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        int64_t t = 424242;
        int rc = sz_time_parse(cases[i].s, strlen(cases[i].s), &t);

        if (cases[i].ok) {
            if (rc != 0 || t != cases[i].t)
                fail_msg("parse #%zu \"%s\": rc %d t %lld, want %lld", i, cases[i].s, rc,
                         (long long)t, (long long)cases[i].t);
        } else if (rc != -SZ_EINVAL || t != 424242) {
            fail_msg("parse #%zu \"%s\": rc %d t %lld, want refusal", i, cases[i].s, rc,
                     (long long)t);
        }
    }
    /* The length bounds the input: no read past it, no need for a NUL. */
    {
        int64_t t;
        static const char s[] = "2024-08-29T10:00:00Zjunk";
        assert_int_equal(sz_time_parse(s, 20, &t), 0);
        assert_true(t == 1724925600);
        assert_int_equal(sz_time_parse(s, 10, &t), 0);
        assert_true(t == 1724889600);
        for (size_t n = 0; n < 10; n++)
            assert_int_equal(sz_time_parse(s, n, &t), -SZ_EINVAL);
        for (size_t n = 11; n < 20; n++)
            assert_int_equal(sz_time_parse(s, n, &t), -SZ_EINVAL);
    }
}

/* Format agrees with the C library's gmtime over the whole range; parse inverts it. */
static void
test_time_against_gmtime(void **state)
{
    /* A step that is not a multiple of a day, a month or a year. */
    const int64_t step = 86400 * 29 + 3671;
    size_t n = 0;
    (void)state;

    for (int64_t t = TIME_MIN; t <= TIME_MAX; t += step, n++) {
        char got[32], want[80];
        time_t tt = (time_t)t;
        struct tm tm;
        int64_t back;

        assert_int_equal(sz_time_format(t, got, sizeof got), 0);
        assert_non_null(gmtime_r(&tt, &tm));
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (strcmp(got, want) != 0)
            fail_msg("t=%lld: %s, gmtime says %s", (long long)t, got, want);
        assert_int_equal(sz_time_parse(got, strlen(got), &back), 0);
        if (back != t)
            fail_msg("t=%lld: parse(%s) = %lld", (long long)t, got, (long long)back);
    }
    assert_true(n > 100000);
}

static int
setup(void **state)
{
    (void)state;
    BIG = malloc(SZ_MAX_BODY_LEN + 1);
    if (BIG == NULL)
        return -1;
    memset(BIG, 'a', SZ_MAX_BODY_LEN + 1);
    return sz_init();
}

static int
teardown(void **state)
{
    (void)state;
    free(BIG);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_name),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_all_code_points),
        cmocka_unit_test(test_utf8_long_against_reference),
        cmocka_unit_test(test_ctype_name),
        cmocka_unit_test(test_article_check),
        cmocka_unit_test(test_media_type_length),
        cmocka_unit_test(test_mutations_on_the_wire),
        cmocka_unit_test(test_container_kat),
        cmocka_unit_test(test_container_canonical),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_patched_lengths),
        cmocka_unit_test(test_decode_order),
        cmocka_unit_test(test_max_body_round_trip),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_against_gmtime),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
