#include "corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
bench_read_file(const char *path, uint8_t **out, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL)
        return false;
    for (;;) {
        size_t got;
        if (cap - len < 65536) {
            uint8_t *p;
            cap = cap * 2 + 65536;
            p = realloc(buf, cap + 1);
            if (p == NULL) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return false;
            }
            buf = p;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        fclose(f);
        errno = e != 0 ? e : EIO;
        return false;
    }
    fclose(f);
    *out = buf;
    *out_len = len;
    return true;
}

int
bench_cmp_doc_name(const void *a, const void *b)
{
    return strcmp(((const struct doc *)a)->name, ((const struct doc *)b)->name);
}

/* Case-insensitive search for an ASCII needle. */
static const uint8_t *
find_ci(const uint8_t *p, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    for (size_t i = 0; n <= len && i <= len - n; i++) {
        size_t k = 0;
        while (k < n && (p[i + k] | 0x20) == (uint8_t)(needle[k] | 0x20))
            k++;
        if (k == n)
            return p + i;
    }
    return NULL;
}

void
bench_doc_title(struct doc *d, size_t max)
{
    const uint8_t *p = d->data, *end = d->data + d->len, *t;
    size_t n = 0;
    bool space = false;

    if (max > sizeof d->title)
        max = sizeof d->title;
    if (d->html && (t = find_ci(p, d->len, "<title")) != NULL) {
        const uint8_t *gt = memchr(t, '>', (size_t)(end - t));
        if (gt != NULL) {
            p = gt + 1;
            t = find_ci(p, (size_t)(end - p), "</title");
            end = t != NULL ? t : end;
        }
    } else {
        while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
            p++;
        t = memchr(p, '\n', (size_t)(end - p));
        end = t != NULL ? t : end;
    }
    for (; p < end && n < max; p++) {
        uint8_t ch = *p;
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            space = n > 0;
            continue;
        }
        if (ch < 0x20 || ch == 0x7f)
            continue;
        if (space && n < max) {
            d->title[n++] = ' ';
            space = false;
        }
        if (n < max)
            d->title[n++] = (char)ch;
    }
    /* Never end inside a multi-byte character. */
    if (n == max) {
        while (n > 0 && ((uint8_t)d->title[n - 1] & 0xc0) == 0x80)
            n--;
        if (n > 0 && ((uint8_t)d->title[n - 1] & 0xc0) == 0xc0)
            n--;
    }
    if (n == 0 || !sz_utf8_valid((const uint8_t *)d->title, n)) {
        n = strlen(d->id);
        memcpy(d->title, d->id, n);
    }
    d->title_len = n;
}
