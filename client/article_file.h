/*
 * Reads a publisher's article file: Markdown (.md), HTML (.html, .htm) or plain
 * text (.txt), optionally starting with a YAML front-matter block between two
 * "---" lines. Pure: bytes in, a struct sz_article out; attachment files named
 * in the front matter are returned as paths for the caller to load.
 */
#ifndef SZ_CLIENT_ARTICLE_FILE_H
#define SZ_CLIENT_ARTICLE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "samizdat/article.h"

struct article_file {
    struct sz_article a; /* strings point into memory owned by this struct */
    char **att_paths;    /* attachment paths as written in the front matter */
    size_t n_att_paths;
    char warning[160];   /* for the user: a front-matter key that looks mistyped; "" when none */
    bool draft;          /* the front matter marks it a draft (draft: true, published: false,
                            status: draft, private or pending): inputs_load() leaves it out
                            unless asked */
    char draft_mark[64]; /* which key and value did, as "status: private" */
    /* Private: owned allocations. */
    char **owned;
    size_t n_owned;
};

/*
 * Parses one article file. `file_name` is the name as given by the user (only its
 * base name and extension are used: the id defaults to the base name without the
 * extension, the content type comes from the extension). `mtime` is used as the
 * publication time when the front matter has no date. On failure returns a
 * negative sz_err and writes a one-line reason to err (no file name in it: the
 * caller adds it). On success *out is set; free it with article_file_free().
 *
 * Front-matter keys: title, date, id (or slug), url, author or authors (string or
 * list), lang (or language), summary (or description), attachments (list of
 * paths). A field given twice (also under its other name) is an error. Other
 * keys are ignored (a site's own, like tags); one a letter or two from a known
 * key is named in `warning`. The body (everything after the front matter)
 * is stored byte for byte.
 */
int article_file_parse(const char *file_name, const uint8_t *buf, size_t len, int64_t mtime,
                       struct article_file **out, char *err, size_t err_cap);

/* Frees a parsed article file (NULL is fine). */
void article_file_free(struct article_file *f);

/* Returns the media type for an attachment file name by its extension, or NULL. */
const char *article_file_media_type(const char *name);

/* Whether data starts as a file of that media type does (its signature bytes). */
bool article_file_content_matches(const char *type, const uint8_t *data, size_t len);

#endif
