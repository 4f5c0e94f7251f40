/* The article container: canonical encoding, validating decoder, time helpers. */
#include "samizdat/article.h"

#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif
/* SSSE3 and AVX2 (byte shuffles) where the compiler can target them for one
 * function each and the processor is asked at run time: nearly every x86-64
 * processor has the first, most of this decade's the second. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#define UTF8_SIMD 1
#endif

#include "samizdat/buf.h"
#include "samizdat/common.h"

/* Limits of the whole container, beyond those of single fields. */
#define CONTAINER_MAX_LEN ((size_t)1 << 30)
#define TIME_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define TIME_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

bool
sz_safe_name(const char *s, size_t len)
{
    size_t i;

    if (s == NULL || len == 0 || len > SZ_MAX_ID_LEN || s[0] == '.' || s[0] == '-')
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* True when any of the 8 bytes of w is zero (the classic bit trick). */
static bool
has_zero_byte(uint64_t w)
{
    return ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) != 0;
}

#ifdef __SSE2__
/*
 * Checks as many 16-byte blocks of s (n >= 16 bytes) as hold only ASCII
 * (not NUL) and two-byte sequences (leads C2..DF, then 80..BF). Returns the
 * bytes proven valid (a whole number of characters; 0 when the first block
 * holds anything else, so the byte-wise path takes over), or SIZE_MAX when the
 * bytes are certainly invalid UTF-8.
 */
static size_t
utf8_sse2_block(const uint8_t *s, size_t n)
{
    const __m128i zero = _mm_setzero_si128();
    const __m128i m65 = _mm_set1_epi8(-65), m64 = _mm_set1_epi8(-64), m63 = _mm_set1_epi8(-63);
    const __m128i m62 = _mm_set1_epi8(-62), m33 = _mm_set1_epi8(-33), m32 = _mm_set1_epi8(-32);
    unsigned carry = 0; /* the previous block ended with a lead byte */
    size_t off = 0;

    while (n - off >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + off));
        /*
         * As signed bytes: 80..BF are -128..-65, C0..C1 -64..-63, C2..DF -62..-33,
         * E0..FF -32..-1. "bad" is NUL, C0, C1 and E0..FF: not handled here.
         */
        unsigned bad = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_or_si128(_mm_and_si128(_mm_cmpgt_epi8(v, m33), _mm_cmplt_epi8(v, zero)),
                         _mm_cmpeq_epi8(v, zero)),
            _mm_and_si128(_mm_cmpgt_epi8(v, m65), _mm_cmplt_epi8(v, m62))));
        unsigned cont = (unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, m64));
        unsigned lead = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpgt_epi8(v, m63), _mm_cmplt_epi8(v, m32)));

        if (bad != 0)
            break;
        /* Each continuation byte right after a lead, and only there. */
        if (cont != (((lead << 1) | carry) & 0xffffu))
            return SIZE_MAX;
        carry = lead >> 15;
        off += 16;
    }
    /* A lead ending the last block checked: its character is left to the caller. */
    return carry != 0 ? off - 1 : off;
}
#endif

#ifdef UTF8_SIMD
/*
 * The widest of the block checkers below that the processor runs (SSSE3:
 * 16 bytes at a time; AVX2: 32), asked once (CPUID) and remembered. The only
 * static variable in proto/, and not state: a fact about the machine, the
 * same for every caller and thread, and no result depends on it (every path
 * gives the same answers). Not __builtin_cpu_supports(), whose start-up code
 * asks the processor a dozen questions in every program linked with it:
 * about 0.05 ms in a virtual machine, where each CPUID exits to the
 * hypervisor (a whole `samizdat verify` takes about 1.2 ms); here two are
 * asked, by the first check of 16 bytes or more. SZ_UTF8_MAX_LEVEL caps the
 * choice, so that a test build can check the narrower paths on any machine.
 */
enum { U8_LEVEL_SSE2 = 1, U8_LEVEL_SSSE3 = 2, U8_LEVEL_AVX2 = 3 };
#ifndef SZ_UTF8_MAX_LEVEL
#define SZ_UTF8_MAX_LEVEL U8_LEVEL_AVX2
#endif

static int
simd_level(void)
{
    static atomic_int known; /* 0: not asked yet; else a U8_LEVEL_ */
    int v = atomic_load_explicit(&known, memory_order_relaxed);

    if (v == 0) {
        unsigned a, b, c, d;
        v = U8_LEVEL_SSE2;
        if (__get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_SSSE3) != 0) {
            v = U8_LEVEL_SSSE3;
            /* AVX2 needs the system to save the YMM registers too (OSXSAVE, XCR0). */
            if ((c & bit_OSXSAVE) != 0 && (c & bit_AVX) != 0) {
                unsigned xlo, xhi;
                __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
                (void)xhi;
                if ((xlo & 6) == 6 && __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 &&
                    (b & bit_AVX2) != 0)
                    v = U8_LEVEL_AVX2;
            }
        }
        if (v > SZ_UTF8_MAX_LEVEL)
            v = SZ_UTF8_MAX_LEVEL;
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v;
}

/*
 * The block checkers classify each byte with its predecessor by three table
 * look-ups (byte shuffles), after "Validating UTF-8 In Less Than One
 * Instruction Per Byte" (Keiser and Lemire, 2021). Each look-up gives a set
 * of error bits; a pair of bytes is wrong when a bit is in all three. The bits:
 */
#define U8_TOO_SHORT 0x01      /* a lead, then no continuation */
#define U8_TOO_LONG 0x02       /* ASCII, then a continuation */
#define U8_OVERLONG_3 0x04     /* E0, then 80..9F */
#define U8_TOO_LARGE 0x08      /* F4, then 90..BF; F5..FF, then 80..BF: above U+10FFFF */
#define U8_SURROGATE 0x10      /* ED, then A0..BF */
#define U8_OVERLONG_2 0x20     /* C0 or C1, then a continuation */
#define U8_TOO_LARGE_1000 0x40 /* F5..FF, then 80..8F */
#define U8_OVERLONG_4 0x40     /* F0, then 80..8F */
#define U8_TWO_CONTS 0x80      /* a continuation, then a continuation */
#define U8_CARRY (U8_TOO_SHORT | U8_TOO_LONG | U8_TWO_CONTS) /* whatever byte 1's low half */
#define U8_BIG (U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000)
/*
 * Two continuations in a row are right only as the third or fourth byte of a
 * sequence, which the byte two or three back tells (E0..FF, F0..FF): that bit
 * is compared, not just tested. NUL is refused too.
 */
/* By the high half of the first byte of a pair. */
static const uint8_t u8_byte_1_high[16] = {U8_TOO_LONG,
                                           U8_TOO_LONG,
                                           U8_TOO_LONG,
                                           U8_TOO_LONG,
                                           U8_TOO_LONG,
                                           U8_TOO_LONG,
                                           U8_TOO_LONG,
                                           U8_TOO_LONG,
                                           U8_TWO_CONTS,
                                           U8_TWO_CONTS,
                                           U8_TWO_CONTS,
                                           U8_TWO_CONTS,
                                           U8_TOO_SHORT | U8_OVERLONG_2,
                                           U8_TOO_SHORT,
                                           U8_TOO_SHORT | U8_OVERLONG_3 | U8_SURROGATE,
                                           U8_TOO_SHORT | U8_TOO_LARGE | U8_TOO_LARGE_1000 |
                                               U8_OVERLONG_4};
/* By its low half. */
static const uint8_t u8_byte_1_low[16] = {U8_CARRY | U8_OVERLONG_3 | U8_OVERLONG_2 | U8_OVERLONG_4,
                                          U8_CARRY | U8_OVERLONG_2,
                                          U8_CARRY,
                                          U8_CARRY,
                                          U8_CARRY | U8_TOO_LARGE,
                                          U8_BIG,
                                          U8_BIG,
                                          U8_BIG,
                                          U8_BIG,
                                          U8_BIG,
                                          U8_BIG,
                                          U8_BIG,
                                          U8_BIG,
                                          U8_BIG | U8_SURROGATE,
                                          U8_BIG,
                                          U8_BIG};
/* By the high half of the second byte. */
static const uint8_t u8_byte_2_high[16] = {
    U8_TOO_SHORT,
    U8_TOO_SHORT,
    U8_TOO_SHORT,
    U8_TOO_SHORT,
    U8_TOO_SHORT,
    U8_TOO_SHORT,
    U8_TOO_SHORT,
    U8_TOO_SHORT,
    U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_OVERLONG_3 | U8_TOO_LARGE_1000 | U8_OVERLONG_4,
    U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_OVERLONG_3 | U8_TOO_LARGE,
    U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_SURROGATE | U8_TOO_LARGE,
    U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS | U8_SURROGATE | U8_TOO_LARGE,
    U8_TOO_SHORT,
    U8_TOO_SHORT,
    U8_TOO_SHORT,
    U8_TOO_SHORT};
/* A block's last bytes above these start a character the next block must go on with. */
static const uint8_t u8_last_max[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xef, 0xdf, 0xbf};

/*
 * How many of the off bytes checked in blocks the caller may take as valid:
 * a character the last block began but did not end is left to it.
 */
static size_t
u8_blocks_end(const uint8_t *s, size_t off)
{
    if (s[off - 1] >= 0xc0)
        return off - 1;
    if (s[off - 2] >= 0xe0)
        return off - 2;
    if (s[off - 3] >= 0xf0)
        return off - 3;
    return off;
}

/*
 * Checks s (n >= 16 bytes) 16 bytes at a time. Returns the bytes proven valid
 * (a whole number of characters), or SIZE_MAX when s is certainly invalid.
 */
__attribute__((target("ssse3"))) static size_t
utf8_ssse3_blocks(const uint8_t *s, size_t n)
{
    const __m128i byte_1_high = _mm_loadu_si128((const __m128i *)(const void *)u8_byte_1_high);
    const __m128i byte_1_low = _mm_loadu_si128((const __m128i *)(const void *)u8_byte_1_low);
    const __m128i byte_2_high = _mm_loadu_si128((const __m128i *)(const void *)u8_byte_2_high);
    const __m128i last_max = _mm_loadu_si128((const __m128i *)(const void *)(u8_last_max + 16));
    const __m128i zero = _mm_setzero_si128(), low4 = _mm_set1_epi8(0x0f);
    const __m128i third = _mm_set1_epi8(0xe0 - 0x80), fourth = _mm_set1_epi8(0xf0 - 0x80);
    const __m128i top = _mm_set1_epi8((char)0x80);
    __m128i prev = zero, err = zero;
    size_t off = 0;

    for (; n - off >= 16; off += 16) {
        __m128i in = _mm_loadu_si128((const __m128i *)(const void *)(s + off));
        err = _mm_or_si128(err, _mm_cmpeq_epi8(in, zero));
        if (_mm_movemask_epi8(in) == 0) {
            /* ASCII: right unless the block before ended inside a character. */
            err = _mm_or_si128(err, _mm_subs_epu8(prev, last_max));
        } else {
            __m128i prev1 = _mm_alignr_epi8(in, prev, 15);
            __m128i sc = _mm_and_si128(
                _mm_and_si128(
                    _mm_shuffle_epi8(byte_1_high, _mm_and_si128(_mm_srli_epi16(prev1, 4), low4)),
                    _mm_shuffle_epi8(byte_1_low, _mm_and_si128(prev1, low4))),
                _mm_shuffle_epi8(byte_2_high, _mm_and_si128(_mm_srli_epi16(in, 4), low4)));
            __m128i must23 = _mm_or_si128(_mm_subs_epu8(_mm_alignr_epi8(in, prev, 14), third),
                                          _mm_subs_epu8(_mm_alignr_epi8(in, prev, 13), fourth));
            err = _mm_or_si128(err, _mm_xor_si128(_mm_and_si128(must23, top), sc));
        }
        prev = in;
    }
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(err, zero)) != 0xffff)
        return SIZE_MAX;
    return u8_blocks_end(s, off);
}

/*
 * The same, 32 bytes at a time (n >= 32). AVX2 shuffles and shifts work on
 * each 16-byte half alone, so the bytes before each position come from the
 * block's own halves and the previous block's upper half, put side by side.
 */
__attribute__((target("avx2"))) static size_t
utf8_avx2_blocks(const uint8_t *s, size_t n)
{
    const __m256i byte_1_high =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)u8_byte_1_high));
    const __m256i byte_1_low =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)u8_byte_1_low));
    const __m256i byte_2_high =
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)u8_byte_2_high));
    const __m256i last_max = _mm256_loadu_si256((const __m256i *)(const void *)u8_last_max);
    const __m256i zero = _mm256_setzero_si256(), low4 = _mm256_set1_epi8(0x0f);
    const __m256i third = _mm256_set1_epi8(0xe0 - 0x80), fourth = _mm256_set1_epi8(0xf0 - 0x80);
    const __m256i top = _mm256_set1_epi8((char)0x80);
    __m256i prev = zero, err = zero;
    size_t off = 0;

    for (; n - off >= 32; off += 32) {
        __m256i in = _mm256_loadu_si256((const __m256i *)(const void *)(s + off));
        err = _mm256_or_si256(err, _mm256_cmpeq_epi8(in, zero));
        if (_mm256_movemask_epi8(in) == 0) {
            err = _mm256_or_si256(err, _mm256_subs_epu8(prev, last_max));
        } else {
            /* Low half: the previous block's upper half; upper half: this block's lower. */
            __m256i before = _mm256_permute2x128_si256(prev, in, 0x21);
            __m256i prev1 = _mm256_alignr_epi8(in, before, 15);
            __m256i sc = _mm256_and_si256(
                _mm256_and_si256(
                    _mm256_shuffle_epi8(byte_1_high,
                                        _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low4)),
                    _mm256_shuffle_epi8(byte_1_low, _mm256_and_si256(prev1, low4))),
                _mm256_shuffle_epi8(byte_2_high, _mm256_and_si256(_mm256_srli_epi16(in, 4), low4)));
            __m256i must23 =
                _mm256_or_si256(_mm256_subs_epu8(_mm256_alignr_epi8(in, before, 14), third),
                                _mm256_subs_epu8(_mm256_alignr_epi8(in, before, 13), fourth));
            err = _mm256_or_si256(err, _mm256_xor_si256(_mm256_and_si256(must23, top), sc));
        }
        prev = in;
    }
    if (!_mm256_testz_si256(err, err))
        return SIZE_MAX;
    return u8_blocks_end(s, off);
}
#endif

bool
sz_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;

    /*
     * RFC 3629 with the byte ranges of its table 3-7, so overlong forms and
     * surrogates fail where they start; NUL is refused too. With AVX2 or
     * SSSE3, all but the last few bytes are checked in blocks of 32 or 16
     * (SSSE3: about five times the speed of the path below on the benchmark
     * corpus, AVX2 about twice that of SSSE3 on Cyrillic); without either,
     * runs of ASCII and two-byte sequences are checked 16 or 8 bytes at a time.
     */
#ifdef UTF8_SIMD
    if (len >= 16) {
        int level = simd_level();
        if (level == U8_LEVEL_AVX2 && len >= 32)
            i = utf8_avx2_blocks(s, len);
        else if (level >= U8_LEVEL_SSSE3)
            i = utf8_ssse3_blocks(s, len);
        if (i == SIZE_MAX)
            return false;
    }
#endif
    while (i < len) {
        uint8_t c = s[i];

#ifdef __SSE2__
        /* Sixteen bytes of ASCII and two-byte sequences at a time (most text). */
        if (len - i >= 16) {
            size_t used = utf8_sse2_block(s + i, len - i);
            if (used == SIZE_MAX)
                return false;
            if (used > 0) {
                i += used;
                continue;
            }
        }
#endif
        if (c < 0x80) {
            uint64_t w;
            if (len - i >= 8) {
                memcpy(&w, s + i, 8);
                if ((w & 0x8080808080808080ull) == 0 && !has_zero_byte(w)) {
                    i += 8;
                    continue;
                }
            }
            if (c == 0)
                return false;
            i++;
        } else if (c >= 0xc2 && c <= 0xdf) {
            uint64_t w;
            /*
             * Alphabets such as Cyrillic are runs of two-byte sequences: check
             * four at once (leads 110xxxxx but not C0/C1, then 10xxxxxx).
             */
            while (len - i >= 8) {
                memcpy(&w, s + i, 8);
                if ((w & 0xc0e0c0e0c0e0c0e0ull) != 0x80c080c080c080c0ull ||
                    (w & 0x001e001e001e001eull) == 0 || ((w & 0x001e) == 0) ||
                    ((w & 0x001e0000ull) == 0) || ((w & 0x001e00000000ull) == 0) ||
                    ((w & 0x001e000000000000ull) == 0))
                    break;
                i += 8;
            }
            if (i >= len)
                break;
            c = s[i];
            if (c < 0xc2 || c > 0xdf)
                continue;
            if (len - i < 2 || (s[i + 1] & 0xc0) != 0x80)
                return false;
            i += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            uint8_t lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
            if (len - i < 3 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xc0) != 0x80)
                return false;
            i += 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            uint8_t lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
            if (len - i < 4 || s[i + 1] < lo || s[i + 1] > hi || (s[i + 2] & 0xc0) != 0x80 ||
                (s[i + 3] & 0xc0) != 0x80)
                return false;
            i += 4;
        } else {
            return false;
        }
    }
    return true;
}

const char *
sz_ctype_name(enum sz_ctype t)
{
    switch (t) {
    case SZ_CTYPE_PLAIN:
        return "text/plain";
    case SZ_CTYPE_MARKDOWN:
        return "text/markdown";
    case SZ_CTYPE_HTML:
        return "text/html";
    }
    return NULL;
}

/* UTF-8 text; control characters refused unless `multiline` allows \n, \r, \t. */
static int
check_text(struct sz_str s, size_t min, size_t max, bool multiline)
{
    size_t i;

    if (s.len < min)
        return -SZ_EINVAL;
    if (s.len > max)
        return -SZ_ETOOBIG;
    if (!sz_utf8_valid((const uint8_t *)s.p, s.len))
        return -SZ_EUTF8;
    for (i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == 0x7f || (c < 0x20 && !(multiline && (c == '\n' || c == '\r' || c == '\t'))))
            return -SZ_EINVAL;
    }
    return 0;
}

static bool
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* BCP 47 syntax, loosely: a 2..8 letter primary subtag, then 1..8 alphanumeric subtags. */
static int
check_lang(struct sz_str s)
{
    size_t i = 0, n;

    if (s.len == 0)
        return 0;
    if (s.len > SZ_MAX_LANG_LEN)
        return -SZ_ETOOBIG;
    for (n = 0; i < s.len && is_alpha(s.p[i]); i++)
        n++;
    if (n < 2 || n > 8)
        return -SZ_EINVAL;
    while (i < s.len) {
        if (s.p[i++] != '-')
            return -SZ_EINVAL;
        for (n = 0; i < s.len && (is_alpha(s.p[i]) || is_digit(s.p[i])); i++)
            n++;
        if (n < 1 || n > 8)
            return -SZ_EINVAL;
    }
    return 0;
}

static int
check_url(struct sz_str s)
{
    size_t i;
    int rc;

    if (s.len == 0)
        return 0;
    rc = check_text(s, 1, SZ_MAX_URL_LEN, false);
    if (rc != 0)
        return rc;
    /* BUNDLE.md: "starting with http:// or https://"; the prefix alone qualifies. */
    if (!(s.len >= 8 && memcmp(s.p, "https://", 8) == 0) &&
        !(s.len >= 7 && memcmp(s.p, "http://", 7) == 0))
        return -SZ_EINVAL;
    for (i = 0; i < s.len; i++)
        if (s.p[i] == ' ' || s.p[i] == '"' || s.p[i] == '<' || s.p[i] == '>')
            return -SZ_EINVAL;
    return 0;
}

/* type/subtype, lowercase token characters. */
static int
check_media_type(struct sz_str s)
{
    size_t i, slash = 0, n_slash = 0;

    if (s.len == 0)
        return -SZ_EINVAL;
    if (s.len > SZ_MAX_MEDIA_TYPE_LEN)
        return -SZ_ETOOBIG;
    for (i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (c == '/') {
            n_slash++;
            slash = i;
        } else if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '+' || c == '-' ||
                     c == '_')) {
            return -SZ_EINVAL;
        }
    }
    if (n_slash != 1 || slash == 0 || slash == s.len - 1)
        return -SZ_EINVAL;
    return 0;
}

static int
str_cmp(struct sz_str a, struct sz_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n > 0 ? memcmp(a.p, b.p, n) : 0;

    if (c != 0)
        return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

int
sz_article_check(const struct sz_article *a)
{
    size_t i, j;
    int rc;

    if (!sz_safe_name(a->id.p, a->id.len))
        return a->id.len > SZ_MAX_ID_LEN ? -SZ_ETOOBIG : -SZ_EBADID;
    if ((rc = check_text(a->title, 1, SZ_MAX_TITLE_LEN, false)) != 0)
        return rc;
    if (a->published < TIME_MIN || a->published > TIME_MAX)
        return -SZ_EINVAL;
    if (sz_ctype_name(a->ctype) == NULL)
        return -SZ_EINVAL;
    if ((rc = check_url(a->url)) != 0)
        return rc;
    if (a->n_authors > SZ_MAX_AUTHORS)
        return -SZ_ETOOBIG;
    for (i = 0; i < a->n_authors; i++)
        if ((rc = check_text(a->authors[i], 1, SZ_MAX_AUTHOR_LEN, false)) != 0)
            return rc;
    if ((rc = check_lang(a->lang)) != 0)
        return rc;
    if ((rc = check_text(a->summary, 0, SZ_MAX_SUMMARY_LEN, true)) != 0)
        return rc;
    if (a->body_len == 0)
        return -SZ_EINVAL;
    if (a->body_len > SZ_MAX_BODY_LEN)
        return -SZ_ETOOBIG;
    if (!sz_utf8_valid(a->body, a->body_len))
        return -SZ_EUTF8;
    if (a->n_atts > SZ_MAX_ATTACHMENTS)
        return -SZ_ETOOBIG;
    for (i = 0; i < a->n_atts; i++) {
        const struct sz_attachment *t = &a->atts[i];
        if (!sz_safe_name(t->name.p, t->name.len))
            return t->name.len > SZ_MAX_ID_LEN ? -SZ_ETOOBIG : -SZ_EBADID;
        if ((rc = check_media_type(t->media_type)) != 0)
            return rc;
        if (t->data_len == 0)
            return -SZ_EINVAL;
        if (t->data_len > SZ_MAX_ATTACHMENT_LEN)
            return -SZ_ETOOBIG;
        for (j = 0; j < i; j++)
            if (str_cmp(a->atts[j].name, t->name) == 0)
                return -SZ_EDUPID;
    }
    return 0;
}

static int
cmp_article_ptr(const void *x, const void *y)
{
    const struct sz_article *a = *(const struct sz_article *const *)x;
    const struct sz_article *b = *(const struct sz_article *const *)y;

    return str_cmp(a->id, b->id);
}

static int
cmp_att_ptr(const void *x, const void *y)
{
    const struct sz_attachment *a = *(const struct sz_attachment *const *)x;
    const struct sz_attachment *b = *(const struct sz_attachment *const *)y;

    return str_cmp(a->name, b->name);
}

static void
wr_str8(struct sz_wr *w, struct sz_str s)
{
    sz_wr_u8(w, (uint8_t)s.len);
    sz_wr_bytes(w, s.p, s.len);
}

static void
wr_str16(struct sz_wr *w, struct sz_str s)
{
    sz_wr_u16(w, (uint16_t)s.len);
    sz_wr_bytes(w, s.p, s.len);
}

/* Writes one checked article, attachments sorted by name. */
static int
encode_article(struct sz_wr *w, const struct sz_article *a)
{
    const struct sz_attachment **atts = NULL;
    size_t i;

    if (a->n_atts > 0) {
        atts = malloc(a->n_atts * sizeof *atts);
        if (atts == NULL)
            return -SZ_ENOMEM;
        for (i = 0; i < a->n_atts; i++)
            atts[i] = &a->atts[i];
        qsort(atts, a->n_atts, sizeof *atts, cmp_att_ptr);
    }
    wr_str8(w, a->id);
    wr_str16(w, a->title);
    sz_wr_i64(w, a->published);
    sz_wr_u8(w, (uint8_t)a->ctype);
    wr_str16(w, a->url);
    sz_wr_u8(w, (uint8_t)a->n_authors);
    for (i = 0; i < a->n_authors; i++)
        wr_str16(w, a->authors[i]);
    wr_str8(w, a->lang);
    wr_str16(w, a->summary);
    sz_wr_u32(w, (uint32_t)a->body_len);
    sz_wr_bytes(w, a->body, a->body_len);
    sz_wr_u16(w, (uint16_t)a->n_atts);
    for (i = 0; i < a->n_atts; i++) {
        wr_str8(w, atts[i]->name);
        wr_str8(w, atts[i]->media_type);
        sz_wr_u32(w, (uint32_t)atts[i]->data_len);
        sz_wr_bytes(w, atts[i]->data, atts[i]->data_len);
    }
    free(atts);
    return sz_wr_status(w);
}

int
sz_container_encode(const struct sz_article *arts, size_t n, uint8_t **out, size_t *out_len)
{
    const struct sz_article **sorted = NULL;
    struct sz_wr w;
    size_t i;
    int rc;

    sz_wr_init(&w, CONTAINER_MAX_LEN);
    if (n == 0)
        return -SZ_EINVAL;
    if (n > SZ_MAX_ARTICLES)
        return -SZ_ETOOBIG;
    for (i = 0; i < n; i++)
        if ((rc = sz_article_check(&arts[i])) != 0)
            return rc;
    sorted = malloc(n * sizeof *sorted);
    if (sorted == NULL)
        return -SZ_ENOMEM;
    for (i = 0; i < n; i++)
        sorted[i] = &arts[i];
    qsort(sorted, n, sizeof *sorted, cmp_article_ptr);
    for (i = 1; i < n; i++) {
        if (str_cmp(sorted[i - 1]->id, sorted[i]->id) == 0) {
            rc = -SZ_EDUPID;
            goto out;
        }
    }
    sz_wr_u32(&w, (uint32_t)n);
    for (i = 0; i < n; i++)
        if ((rc = encode_article(&w, sorted[i])) != 0)
            goto out;
    rc = 0;
    *out = w.p;
    *out_len = w.len;
    w.p = NULL;
out:
    free(sorted);
    sz_wr_free(&w, false);
    return rc;
}

static int
rd_str8(struct sz_rd *r, struct sz_str *s)
{
    uint8_t n;
    const uint8_t *p;
    int rc;

    if ((rc = sz_rd_u8(r, &n)) != 0 || (rc = sz_rd_bytes(r, n, &p)) != 0)
        return rc;
    s->p = (const char *)p;
    s->len = n;
    return 0;
}

static int
rd_str16(struct sz_rd *r, struct sz_str *s)
{
    uint16_t n;
    const uint8_t *p;
    int rc;

    if ((rc = sz_rd_u16(r, &n)) != 0 || (rc = sz_rd_bytes(r, n, &p)) != 0)
        return rc;
    s->p = (const char *)p;
    s->len = n;
    return 0;
}

/*
 * Every length read below is checked against what is left in the buffer before
 * anything is allocated for it: an author or attachment takes at least 2 bytes
 * on the wire, so a count can never allocate more than the input justifies.
 */
static int
decode_article(struct sz_rd *r, struct sz_article *a)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    size_t i;
    int rc;

    if ((rc = rd_str8(r, &a->id)) != 0 || (rc = rd_str16(r, &a->title)) != 0 ||
        (rc = sz_rd_i64(r, &a->published)) != 0 || (rc = sz_rd_u8(r, &u8)) != 0)
        return rc;
    a->ctype = (enum sz_ctype)u8;
    if ((rc = rd_str16(r, &a->url)) != 0 || (rc = sz_rd_u8(r, &u8)) != 0)
        return rc;
    if (u8 > SZ_MAX_AUTHORS)
        return -SZ_ETOOBIG;
    if ((size_t)u8 * 2 > sz_rd_left(r))
        return -SZ_EBADMSG;
    if (u8 > 0) {
        a->authors = calloc(u8, sizeof *a->authors);
        if (a->authors == NULL)
            return -SZ_ENOMEM;
    }
    a->n_authors = u8;
    for (i = 0; i < a->n_authors; i++)
        if ((rc = rd_str16(r, &a->authors[i])) != 0)
            return rc;
    if ((rc = rd_str8(r, &a->lang)) != 0 || (rc = rd_str16(r, &a->summary)) != 0 ||
        (rc = sz_rd_u32(r, &u32)) != 0)
        return rc;
    if (u32 > SZ_MAX_BODY_LEN)
        return -SZ_ETOOBIG;
    if ((rc = sz_rd_bytes(r, u32, &a->body)) != 0)
        return rc;
    a->body_len = u32;
    if ((rc = sz_rd_u16(r, &u16)) != 0)
        return rc;
    if (u16 > SZ_MAX_ATTACHMENTS)
        return -SZ_ETOOBIG;
    if ((size_t)u16 * 6 > sz_rd_left(r))
        return -SZ_EBADMSG;
    if (u16 > 0) {
        a->atts = calloc(u16, sizeof *a->atts);
        if (a->atts == NULL)
            return -SZ_ENOMEM;
    }
    a->n_atts = u16;
    for (i = 0; i < a->n_atts; i++) {
        struct sz_attachment *t = &a->atts[i];
        if ((rc = rd_str8(r, &t->name)) != 0 || (rc = rd_str8(r, &t->media_type)) != 0 ||
            (rc = sz_rd_u32(r, &u32)) != 0)
            return rc;
        if (u32 > SZ_MAX_ATTACHMENT_LEN)
            return -SZ_ETOOBIG;
        if ((rc = sz_rd_bytes(r, u32, &t->data)) != 0)
            return rc;
        t->data_len = u32;
        /* Canonical order: strictly ascending names. */
        if (i > 0) {
            int c = str_cmp(a->atts[i - 1].name, t->name);
            if (c == 0)
                return -SZ_EDUPID;
            if (c > 0)
                return -SZ_ECANON;
        }
    }
    return sz_article_check(a);
}

void
sz_container_free(struct sz_container *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->n_articles; i++) {
        free(c->articles[i].authors);
        free(c->articles[i].atts);
    }
    free(c->articles);
    free(c);
}

int
sz_container_decode(const uint8_t *buf, size_t len, struct sz_container **out)
{
    struct sz_container *c = NULL;
    struct sz_rd r;
    uint32_t n;
    size_t i;
    int rc;

    sz_rd_init(&r, buf, len);
    if ((rc = sz_rd_u32(&r, &n)) != 0)
        return rc;
    if (n == 0)
        return -SZ_EINVAL;
    if (n > SZ_MAX_ARTICLES)
        return -SZ_ETOOBIG;
    /* The smallest article takes 26 bytes; refuse counts the input cannot hold. */
    if ((size_t)n * 26 > sz_rd_left(&r))
        return -SZ_EBADMSG;
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return -SZ_ENOMEM;
    c->articles = calloc(n, sizeof *c->articles);
    if (c->articles == NULL) {
        rc = -SZ_ENOMEM;
        goto fail;
    }
    for (i = 0; i < n; i++) {
        c->n_articles = i + 1;
        if ((rc = decode_article(&r, &c->articles[i])) != 0)
            goto fail;
        if (i > 0) {
            int cmp = str_cmp(c->articles[i - 1].id, c->articles[i].id);
            if (cmp == 0) {
                rc = -SZ_EDUPID;
                goto fail;
            }
            if (cmp > 0) {
                rc = -SZ_ECANON;
                goto fail;
            }
        }
    }
    if (sz_rd_left(&r) != 0) {
        rc = -SZ_ECANON;
        goto fail;
    }
    *out = c;
    return 0;
fail:
    sz_container_free(c);
    return rc;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int
sz_time_format(int64_t t, char *out, size_t out_cap)
{
    int64_t days, secs, y;
    unsigned m, d;
    char tmp[32];
    size_t i = 0;
    unsigned v[5];
    static const char seps[] = "--T::";

    if (t < TIME_MIN || t > TIME_MAX || out_cap < 21)
        return -SZ_EINVAL;
    days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    secs = t - days * 86400;
    civil_from_days(days, &y, &m, &d);
    tmp[i++] = (char)('0' + y / 1000 % 10);
    tmp[i++] = (char)('0' + y / 100 % 10);
    tmp[i++] = (char)('0' + y / 10 % 10);
    tmp[i++] = (char)('0' + y % 10);
    v[0] = m;
    v[1] = d;
    v[2] = (unsigned)(secs / 3600);
    v[3] = (unsigned)(secs / 60 % 60);
    v[4] = (unsigned)(secs % 60);
    for (int k = 0; k < 5; k++) {
        tmp[i++] = seps[k];
        tmp[i++] = (char)('0' + v[k] / 10);
        tmp[i++] = (char)('0' + v[k] % 10);
    }
    tmp[i++] = 'Z';
    tmp[i] = '\0';
    memcpy(out, tmp, i + 1);
    return 0;
}

/* Reads exactly n digits. */
static bool
rd_digits(const char *s, size_t len, size_t *i, size_t n, unsigned *out)
{
    unsigned v = 0;

    if (len - *i < n)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = s[*i + k];
        if (!is_digit(c))
            return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

static bool
rd_char(const char *s, size_t len, size_t *i, char c)
{
    if (*i < len && s[*i] == c) {
        (*i)++;
        return true;
    }
    return false;
}

int
sz_time_parse(const char *s, size_t len, int64_t *out)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h = 0, mi = 0, se = 0, oh = 0, om = 0;
    size_t i = 0;
    int64_t t, off = 0;
    bool leap;

    if (!rd_digits(s, len, &i, 4, &y) || !rd_char(s, len, &i, '-') ||
        !rd_digits(s, len, &i, 2, &mo) || !rd_char(s, len, &i, '-') ||
        !rd_digits(s, len, &i, 2, &d))
        return -SZ_EINVAL;
    if (y < 1 || mo < 1 || mo > 12 || d < 1)
        return -SZ_EINVAL;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap))
        return -SZ_EINVAL;
    if (i < len) {
        if (!(rd_char(s, len, &i, 'T') || rd_char(s, len, &i, 't') || rd_char(s, len, &i, ' ')))
            return -SZ_EINVAL;
        if (!rd_digits(s, len, &i, 2, &h) || !rd_char(s, len, &i, ':') ||
            !rd_digits(s, len, &i, 2, &mi) || !rd_char(s, len, &i, ':') ||
            !rd_digits(s, len, &i, 2, &se))
            return -SZ_EINVAL;
        if (h > 23 || mi > 59 || se > 60)
            return -SZ_EINVAL;
        if (se == 60)
            se = 59; /* A leap second is kept as the second before it. */
        if (rd_char(s, len, &i, '.')) {
            size_t start = i;
            while (i < len && is_digit(s[i]))
                i++;
            if (i == start)
                return -SZ_EINVAL;
        }
        if (rd_char(s, len, &i, 'Z') || rd_char(s, len, &i, 'z')) {
            off = 0;
        } else {
            int sign;
            if (rd_char(s, len, &i, '+'))
                sign = 1;
            else if (rd_char(s, len, &i, '-'))
                sign = -1;
            else
                return -SZ_EINVAL;
            if (!rd_digits(s, len, &i, 2, &oh) || !rd_char(s, len, &i, ':') ||
                !rd_digits(s, len, &i, 2, &om) || oh > 23 || om > 59)
                return -SZ_EINVAL;
            off = sign * (int64_t)(oh * 3600 + om * 60);
        }
        if (i != len)
            return -SZ_EINVAL;
    }
    t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    if (t < TIME_MIN || t > TIME_MAX)
        return -SZ_EINVAL;
    *out = t;
    return 0;
}
