/*
 * The publisher's article file reader, article_file_parse() (client/), on
 * arbitrary bytes: front matter (YAML), Markdown, HTML or plain text. The first
 * input byte is not part of the file; it picks the call's other arguments:
 *
 *   bits 0-2  the file name, hence the content type and the default id
 *   bits 3-5  the file's mtime (the date used when the front matter has none)
 *   bits 6-7  the size of the error buffer
 *
 * so '@', 'A', 'B', 'C' (0x40..0x43) mean article.md, notice.txt, page.html,
 * page.htm with an ordinary mtime and a 256-byte error buffer. An accepted file
 * must give an article that passes sz_article_check() and encodes into a
 * container that decodes and re-encodes to the same bytes; a refused one must
 * leave a one-line, NUL-terminated reason without control characters (TAB
 * aside).
 */
#include <stdlib.h>
#include <string.h>

#include "samizdat/article.h"
#include "samizdat/common.h"

#include "article_file.h"
#include "fuzz.h"

static const char *const NAMES[8] = {
    "article.md",    "notice.txt", "page.html",     "page.htm",
    "dir/Sub.v2.MD", "..md",       "/no-extension", "-dash.md",
};

static const int64_t MTIMES[8] = {
    1700000000,     0,         -62135596800LL, /* 0001-01-01T00:00:00Z, the first valid second */
    253402300799LL,                            /* 9999-12-31T23:59:59Z, the last */
    -62135596801LL,                            /* one second too early */
    253402300800LL,                            /* one second too late */
    INT64_MIN,      INT64_MAX,
};

static const size_t ERR_CAPS[4] = {1, 256, 16, 64};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    return 0;
}

/* The article is valid and survives the container round trip. */
static void
check_article(const struct sz_article *a)
{
    struct sz_container *c = NULL;
    uint8_t *enc = NULL, *enc2 = NULL;
    size_t enc_len = 0, enc2_len = 0;

    if (sz_article_check(a) != 0)
        abort();
    /* Attachments are named as paths and loaded later; only check them when loaded. */
    if (a->n_atts > 0)
        return;
    if (sz_container_encode(a, 1, &enc, &enc_len) != 0 ||
        sz_container_decode(enc, enc_len, &c) != 0 || c->n_articles != 1 ||
        sz_container_encode(c->articles, 1, &enc2, &enc2_len) != 0 || enc2_len != enc_len ||
        memcmp(enc, enc2, enc_len) != 0)
        abort();
    sz_container_free(c);
    free(enc2);
    free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct article_file marker;
    struct article_file *f = &marker;
    char err[256 + 1]; /* one guard byte after the largest error buffer */
    size_t err_cap, i;
    uint8_t *buf;
    int rc;

    if (size < 1)
        return 0;
    err_cap = ERR_CAPS[data[0] >> 6];
    memset(err, 'X', sizeof err);
    /* The file in a buffer of its own exact size, so ASan sees any overread. */
    buf = malloc(size > 1 ? size - 1 : 1);
    if (buf == NULL)
        abort();
    memcpy(buf, data + 1, size - 1);
    rc = article_file_parse(NAMES[data[0] & 7], buf, size - 1, MTIMES[(data[0] >> 3) & 7], &f, err,
                            err_cap);
    fuzz_check_rc(rc);
    if (rc != 0) {
        /*
         * Nothing returned; a reason that fits the buffer, on one line and
         * free of control characters other than TAB (it goes to a terminal).
         */
        if (f != &marker || memchr(err, '\0', err_cap) == NULL || err[err_cap] != 'X')
            abort();
        for (i = 0; err[i] != '\0'; i++)
            if (((unsigned char)err[i] < 0x20 && err[i] != '\t') || err[i] == 0x7f)
                abort();
        if (err_cap > 1 && err[0] == '\0')
            abort();
    } else {
        if (f == NULL || f == &marker)
            abort();
        check_article(&f->a);
        for (i = 0; i < f->n_att_paths; i++)
            if (f->att_paths[i] == NULL)
                abort();
        article_file_free(f);
    }
    free(buf);
    return 0;
}
