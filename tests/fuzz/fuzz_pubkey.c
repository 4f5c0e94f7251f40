/*
 * Public key text form and public key files: sz_pk_from_text() and
 * sz_pk_file_parse() on arbitrary bytes. A key has one canonical spelling
 * (lowercase, no padding bits), so an accepted text must be that spelling up to
 * case and surrounding white space, and must parse back to the same key.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/keys.h"

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
is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static uint8_t
lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* True when s (ASCII lowercase) equals p[0..len) up to ASCII case. */
static bool
equal_nocase(const char *s, const uint8_t *p, size_t len)
{
    size_t i;

    if (strlen(s) != len)
        return false;
    for (i = 0; i < len; i++)
        if ((uint8_t)s[i] != lower(p[i]))
            return false;
    return true;
}

/* The canonical text of pk parses back to pk. */
static void
check_round_trip(const uint8_t pk[32], char text[SZ_PK_TEXT_LEN + 1])
{
    uint8_t back[32];
    size_t i;

    sz_pk_to_text(pk, text);
    if (strlen(text) != SZ_PK_TEXT_LEN || memcmp(text, SZ_PK_TEXT_PREFIX, 5) != 0)
        abort();
    for (i = 5; i < SZ_PK_TEXT_LEN; i++)
        if (!((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= '2' && text[i] <= '7')))
            abort();
    if (sz_pk_from_text(text, SZ_PK_TEXT_LEN, back) != 0 || memcmp(back, pk, 32) != 0)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t marker[32] = {0xa5, 0x5a, 0xa5, 0x5a};
    uint8_t pk_text[32], pk_file[32];
    char text[SZ_PK_TEXT_LEN + 1];
    size_t start = 0, end = size;
    int rc_text, rc_file;

    memcpy(pk_text, marker, 32);
    memcpy(pk_file, marker, 32);
    rc_text = sz_pk_from_text((const char *)data, size, pk_text);
    rc_file = sz_pk_file_parse(data, size, pk_file);
    fuzz_check_rc(rc_text);
    fuzz_check_rc(rc_file);
    if ((rc_text != 0 && memcmp(pk_text, marker, 32) != 0) ||
        (rc_file != 0 && memcmp(pk_file, marker, 32) != 0))
        abort();

    if (rc_text == 0) {
        check_round_trip(pk_text, text);
        /* The input was the canonical text, give or take case and white space. */
        while (start < end && is_space(data[start]))
            start++;
        while (end > start && is_space(data[end - 1]))
            end--;
        if (!equal_nocase(text, data + start, end - start))
            abort();
        /* A lone key text is also a valid key file naming the same key. */
        if (rc_file != 0 || memcmp(pk_file, pk_text, 32) != 0)
            abort();
    }
    if (rc_file == 0)
        check_round_trip(pk_file, text);
    return 0;
}
