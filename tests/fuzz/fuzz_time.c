/*
 * sz_time_parse(), the RFC 3339 reader behind the front matter's `date`, on
 * arbitrary bytes. Whatever it accepts lies in years 0001..9999, so it must
 * format, and the formatted text must parse back to the same second.
 */
#include <stdlib.h>
#include <string.h>

#include "samizdat/article.h"

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t marker = 0x5a5a5a5a5a5a5a5a;
    int64_t t = marker, back = marker;
    char text[32];
    int rc;

    rc = sz_time_parse((const char *)data, size, &t);
    fuzz_check_rc(rc);
    if (rc != 0) {
        if (t != marker)
            abort();
        return 0;
    }
    if (sz_time_format(t, text, sizeof text) != 0 || strlen(text) != 20 ||
        sz_time_parse(text, strlen(text), &back) != 0 || back != t)
        abort();
    return 0;
}
