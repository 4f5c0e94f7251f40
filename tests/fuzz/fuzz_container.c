/*
 * sz_container_decode() on arbitrary bytes. A container has exactly one
 * encoding, so whatever the decoder accepts must re-encode to the very same
 * bytes, and every decoded article must pass the checks the encoder applies.
 */
#include <stdbool.h>
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

/* True when p[0..len) lies inside the input: decoded strings must point into it. */
static bool
inside(const uint8_t *data, size_t size, const void *p, size_t len)
{
    uintptr_t lo = (uintptr_t)data, q = (uintptr_t)p;

    if (len == 0)
        return true;
    return q >= lo && q - lo <= size && len <= size - (q - lo);
}

static void
check_article(const uint8_t *data, size_t size, const struct sz_article *a)
{
    char when[32];
    size_t i;

    if (!sz_safe_name(a->id.p, a->id.len) || sz_article_check(a) != 0)
        abort();
    if (sz_ctype_name(a->ctype) == NULL || sz_time_format(a->published, when, sizeof when) != 0)
        abort();
    if (!inside(data, size, a->id.p, a->id.len) || !inside(data, size, a->title.p, a->title.len) ||
        !inside(data, size, a->url.p, a->url.len) || !inside(data, size, a->lang.p, a->lang.len) ||
        !inside(data, size, a->summary.p, a->summary.len) ||
        !inside(data, size, a->body, a->body_len))
        abort();
    for (i = 0; i < a->n_authors; i++)
        if (!inside(data, size, a->authors[i].p, a->authors[i].len))
            abort();
    for (i = 0; i < a->n_atts; i++) {
        const struct sz_attachment *t = &a->atts[i];
        if (!inside(data, size, t->name.p, t->name.len) ||
            !inside(data, size, t->media_type.p, t->media_type.len) ||
            !inside(data, size, t->data, t->data_len))
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A marker that must survive a failed decode: outputs are untouched on failure. */
    static struct sz_container marker;
    struct sz_container *c = &marker;
    uint8_t *enc = NULL;
    size_t enc_len = 0, i;
    int rc;

    rc = sz_container_decode(data, size, &c);
    fuzz_check_rc(rc);
    if (rc != 0) {
        if (c != &marker)
            abort();
        return 0;
    }
    if (c == NULL || c->n_articles == 0 || c->n_articles > SZ_MAX_ARTICLES)
        abort();
    for (i = 0; i < c->n_articles; i++)
        check_article(data, size, &c->articles[i]);
    rc = sz_container_encode(c->articles, c->n_articles, &enc, &enc_len);
    if (rc != 0 || enc_len != size || memcmp(enc, data, size) != 0)
        abort();
    free(enc);
    sz_container_free(c);
    return 0;
}
