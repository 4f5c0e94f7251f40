/*
 * The article container: the uncompressed payload of a bundle, a canonical
 * list of articles with their attachments. Encoding is specified in
 * proto/BUNDLE.md, section "Article container".
 */
#ifndef SZ_INCLUDE_ARTICLE_H
#define SZ_INCLUDE_ARTICLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SZ_MAX_ARTICLES 4096   /* articles in one container */
#define SZ_MAX_ATTACHMENTS 256 /* attachments in one article */
#define SZ_MAX_ID_LEN 100      /* article id, attachment name */
#define SZ_MAX_TITLE_LEN 1024
#define SZ_MAX_URL_LEN 2048
#define SZ_MAX_AUTHORS 64
#define SZ_MAX_AUTHOR_LEN 256
#define SZ_MAX_LANG_LEN 35 /* BCP 47 tag */
#define SZ_MAX_SUMMARY_LEN 4096
#define SZ_MAX_MEDIA_TYPE_LEN 127
#define SZ_MAX_BODY_LEN (32u << 20) /* 32 MiB */
#define SZ_MAX_ATTACHMENT_LEN (32u << 20)

/* Content types, stored as one byte on the wire. */
enum sz_ctype {
    SZ_CTYPE_PLAIN = 1,    /* text/plain */
    SZ_CTYPE_MARKDOWN = 2, /* text/markdown */
    SZ_CTYPE_HTML = 3,     /* text/html */
};

/* A length-delimited byte string; never NUL-terminated. p may be NULL when len is 0. */
struct sz_str {
    const char *p;
    size_t len;
};

struct sz_attachment {
    struct sz_str name;       /* safe name: see sz_safe_name() */
    struct sz_str media_type; /* e.g. image/png */
    const uint8_t *data;
    size_t data_len;
};

struct sz_article {
    struct sz_str id;    /* safe name, unique within a container */
    struct sz_str title; /* UTF-8, no control characters, not empty */
    int64_t published;   /* seconds since the Unix epoch, UTC */
    enum sz_ctype ctype;
    struct sz_str url;      /* optional: len 0 when absent */
    struct sz_str *authors; /* n_authors entries */
    size_t n_authors;
    struct sz_str lang;    /* optional BCP 47 tag */
    struct sz_str summary; /* optional */
    const uint8_t *body;   /* the original file's body, UTF-8 */
    size_t body_len;
    struct sz_attachment *atts;
    size_t n_atts;
};

/* A decoded container. Every pointer inside refers to the buffer given to
 * sz_container_decode(), which must outlive it. */
struct sz_container {
    struct sz_article *articles;
    size_t n_articles;
};

/*
 * True when s is a safe article id or attachment name: 1..SZ_MAX_ID_LEN bytes of
 * [A-Za-z0-9._-], not starting with '.' or '-'. Such a name can never leave a folder.
 */
bool sz_safe_name(const char *s, size_t len);

/* True when buf[0..len) is valid UTF-8 (no overlong forms, no surrogates, no NUL). */
bool sz_utf8_valid(const uint8_t *buf, size_t len);

/* Returns the MIME name of a content type, or NULL for an unknown value. */
const char *sz_ctype_name(enum sz_ctype t);

/*
 * Checks one article against every rule of BUNDLE.md (lengths, charsets, UTF-8,
 * attachment names unique and sorted are NOT required here: the encoder sorts).
 * Returns 0 or -SZ_EBADID / -SZ_EUTF8 / -SZ_ETOOBIG / -SZ_EINVAL / -SZ_EDUPID.
 */
int sz_article_check(const struct sz_article *a);

/*
 * Encodes n articles into the canonical container form: articles sorted by id,
 * attachments by name. The inputs are not modified. On success *out (malloc'd,
 * caller frees) and *out_len are set. Returns 0 or a negative sz_err; fails with
 * -SZ_EDUPID when two articles share an id.
 */
int sz_container_encode(const struct sz_article *arts, size_t n, uint8_t **out, size_t *out_len);

/*
 * Decodes and fully validates a container. *out is allocated (free with
 * sz_container_free()); its strings point into buf. Returns 0 or -SZ_EBADMSG,
 * -SZ_ETOOBIG, -SZ_ECANON, -SZ_EBADID, -SZ_EDUPID, -SZ_EUTF8, -SZ_EINVAL, -SZ_ENOMEM.
 */
int sz_container_decode(const uint8_t *buf, size_t len, struct sz_container **out);

/* Frees a decoded container (NULL is fine). */
void sz_container_free(struct sz_container *c);

/*
 * Formats t as RFC 3339 UTC ("2024-08-29T10:00:00Z") into out (at least 21 bytes).
 * Returns 0, or -SZ_EINVAL when t is outside years 0001..9999.
 */
int sz_time_format(int64_t t, char *out, size_t out_cap);

/*
 * Parses an RFC 3339 date-time ("2024-08-29T10:00:00Z", "...T10:00:00.5+03:00")
 * or a full date ("2024-08-29", taken as midnight UTC). Fractions are dropped.
 * Returns 0 or -SZ_EINVAL.
 */
int sz_time_parse(const char *s, size_t len, int64_t *out);

#endif
