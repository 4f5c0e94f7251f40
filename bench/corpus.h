/*
 * What the benchmark programs share about the corpus folder: one document of
 * its MANIFEST.tsv, reading a whole file, and the title a benchmark gives a
 * document when it packs it.
 */
#ifndef SZ_BENCH_CORPUS_H
#define SZ_BENCH_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "samizdat/article.h"

struct doc {
    char name[64]; /* file name in the corpus folder */
    char id[64];   /* file name without its extension */
    char lang[16];
    bool html;
    uint8_t *data; /* the whole file */
    size_t len;
    char title[SZ_MAX_TITLE_LEN];
    size_t title_len;
};

/* Reads a whole file into *out (malloc'd, one spare byte). False with errno set. */
bool bench_read_file(const char *path, uint8_t **out, size_t *out_len);

/* qsort() order of struct doc by file name. */
int bench_cmp_doc_name(const void *a, const void *b);

/*
 * Sets d->title: the text of <title> for HTML, else the first non-blank line.
 * White space runs become one space and other control characters are dropped,
 * so the title passes BUNDLE.md's rule; it is cut to max bytes (at most
 * sizeof d->title) on a character boundary. Falls back to the id.
 */
void bench_doc_title(struct doc *d, size_t max);

#endif
