/* Article files in: read, parse, attach, check, and encode as one container. */
#ifndef SZ_CLIENT_INPUTS_H
#define SZ_CLIENT_INPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Reads the n article files in paths (with the attachments their front matter
 * names), checks every one, and encodes them as one article container in
 * *content (malloc'd, caller frees). `fallback_time` is the publication time of
 * a file whose front matter has no date and whose mtime cannot be read.
 * Attachments are files in the article's folder or below it: an absolute path
 * or a ".." component is refused. When `output` is not NULL, no article or
 * attachment may be that file (it is about to be replaced). Prints a one-line
 * reason naming the file on failure. When `secret` is not NULL (the
 * passphrase file), no article or attachment may be that file; no article or
 * attachment may be a samizdat secret key either: packing it would publish it. Returns an exit
 * status (EXIT_OK, EXIT_USAGE when an input is the output or the passphrase
 * file, or EXIT_INPUT). A file whose front matter marks it a draft
 * (article_file.draft) is refused (EXIT_INPUT) unless `drafts`: a signed
 * bundle cannot be called back.
 */
int inputs_load(const char *const *paths, size_t n, int64_t fallback_time, const char *output,
                const char *secret, bool drafts, uint8_t **content, size_t *content_len);

#endif
