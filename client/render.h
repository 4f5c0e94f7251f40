/*
 * HTML pages of the offline library: one page per article and the index.
 * Pure: everything is appended to a struct sz_wr; no I/O. Every page carries
 * <meta charset="utf-8"> and RENDER_CSP, and every string from a bundle is
 * escaped.
 */
#ifndef SZ_CLIENT_RENDER_H
#define SZ_CLIENT_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"

#include "render_sanitize.h"

/*
 * The Content-Security-Policy of every page. No scripts, frames, fonts,
 * objects or connections at all; styles only inline; images and media only
 * from the page's own origin, which for a page opened from file:// is the local
 * file system ('self' is how Chromium matches it, file: how other browsers do;
 * neither can name a web host), and data: images embedded in a body. base-uri
 * and form-action close the two directives default-src does not cover.
 */
#define RENDER_CSP                                                                                 \
    "default-src 'none'; img-src 'self' file: data:; media-src 'self' file:; "                     \
    "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

/* The name under which an article's original body is stored: body.md,
 * body.html.txt (so that a browser shows it as text) or body.txt. */
const char *render_body_file(enum sz_ctype t);

/* Appends s[0..len) escaped for HTML text and double- or single-quoted attributes. */
void render_escape(struct sz_wr *w, const char *s, size_t len);

/* What an article page shows besides the article itself. */
struct render_page {
    const struct sz_article *a;
    const uint8_t *publisher;     /* SZ_PUBLIC_KEY_LEN bytes */
    const char *publisher_name;   /* NULL: the key's text form is shown */
    uint64_t sequence;            /* of the bundle the article came from */
    int64_t created;              /* of that bundle */
    const uint8_t *bundle_id;     /* SZ_BUNDLE_ID_LEN bytes */
    const char *const *att_files; /* stored file name of each a->atts[k] */
    bool equivocated;             /* the library holds another bundle with this sequence */
};

/*
 * Appends the page of one article. The page lives in <pub>/<id>/ next to the
 * original body file (render_body_file()) and the attachments, and links to
 * ../../index.html. Errors are reported through sz_wr_status(w).
 */
void render_article(struct sz_wr *w, const struct render_page *pg);

/* How the alarm of an article whose bundle's sequence was signed twice starts. */
#define RENDER_ALARM_START "<div class=\"alarm\" role=\"alert\""

/*
 * Appends that alarm, as render_article() puts it right after the page's
 * navigation (lang_known: the article is in a known language, so the
 * alarm's English is marked). The library puts it into a page written
 * before the second bundle came.
 */
void render_article_alarm(struct sz_wr *w, uint64_t sequence, const uint8_t *publisher,
                          const char *publisher_name, bool lang_known);

/*
 * Appends an HTML body as render_article() shows it: through
 * render_sanitize_body(), without a first heading that repeats the title
 * (of level 1, before any other content, its text the title's); files as
 * render_sanitize_body() takes them (may be NULL). What md4c writes for a
 * Markdown body, raw HTML in it included, is shown by the same code. False
 * when the sanitizer would not write it within its bounds: it is then shown
 * as published, unformatted.
 */
bool render_html_body(struct sz_wr *w, const uint8_t *body, size_t len, struct sz_str title,
                      const struct san_files *files);

/*
 * Appends the body of article a as render_article() shows it in its page's
 * body box: Markdown through md4c (within the bounds render.c gives),
 * HTML through render_html_body(), plain text escaped; files as
 * render_sanitize_body() takes them (may be NULL). False when the body could
 * not be rendered so (beyond the bounds, or md4c missing): it is then shown
 * as published, unformatted.
 */
bool render_body(struct sz_wr *w, const struct sz_article *a, const struct san_files *files);

/* One article as the index shows it (NUL-terminated strings; lang and summary
 * may be empty). */
struct render_entry {
    const char *folder; /* the article's folder in the publisher's */
    const char *title;
    const char *lang;
    const char *summary;
    const char *const *authors;
    size_t n_authors;
    int64_t published;
};

/* One publisher's section of the index; entries newest first. */
struct render_publisher {
    const uint8_t *pk; /* SZ_PUBLIC_KEY_LEN bytes */
    const char *name;  /* NULL: the key's text form */
    bool has_bundle;   /* false: nothing from it yet; the next four unused */
    uint64_t sequence; /* the newest bundle (signed last): its sequence */
    int64_t created;   /* and its creation time, which staleness goes by */
    /* The highest bundle sequence and its creation time: another bundle than
     * the newest when the publisher dated a later sequence earlier. */
    uint64_t highest_sequence;
    int64_t highest_created;
    bool fetched;                     /* last_fetch and stale_after_s are known */
    int64_t last_fetch;               /* when the reader last fetched from peers */
    int64_t stale_after_s;            /* the staleness threshold of that fetch */
    bool equivocation_seen;           /* the library holds two bundles with one sequence */
    uint64_t equivocation_seq;        /* the highest such sequence */
    bool equivocation_reported;       /* a fetch reported one (a peer, or seen by the fetch) */
    int64_t equivocation_reported_at; /* the time of the last such fetch */
    const struct render_entry *entries;
    size_t n_entries;
};

/*
 * Is the publisher stale? True when it was fetched and, at that last fetch, its
 * newest bundle was older than the threshold (or it had no bundle at all).
 */
bool render_publisher_stale(const struct render_publisher *p);

/*
 * How many articles of one publisher index.html lists, newest first. A
 * publisher with more gets a page per month (UTC, of the articles' published
 * times) in DIR/RENDER_ARCHIVE_DIR/<pub-hex>/, and index.html links to each.
 */
#define RENDER_INDEX_LATEST 100
#define RENDER_ARCHIVE_DIR "archive"

/* An article's month: year * 12 + month - 1 of its published time (UTC); a
 * time before year 0 or after 9999 counts as the first or the last month. */
uint32_t render_month_of(int64_t published);

/* The file name of a month's page: "YYYY-MM.html". */
#define RENDER_MONTH_NAME_LEN 13
void render_month_name(uint32_t month, char out[RENDER_MONTH_NAME_LEN]);

/*
 * Appends the page of one month of a publisher's articles (entries: that
 * month's, newest first; pub's own entries are not used), with links to the
 * newer and the older month that have a page (UINT32_MAX: none) and to the
 * library, and index.html's red warning when the publisher equivocated. The page lives in
 * DIR/RENDER_ARCHIVE_DIR/<pub-hex>/. Errors are reported through sz_wr_status(w).
 */
void render_month_page(struct sz_wr *w, const struct render_publisher *pub, uint32_t month,
                       const struct render_entry *entries, size_t n, uint32_t newer,
                       uint32_t older);

/*
 * Appends index.html: publishers in the given order, each with its articles.
 * A publisher that equivocated gets a red warning at the top of the page and
 * of its section; a stale one a warning box in its section. Of a publisher
 * with more than RENDER_INDEX_LATEST articles, only the newest are listed,
 * then a link to each of its month pages. Errors are
 * reported through sz_wr_status(w).
 */
void render_index(struct sz_wr *w, const struct render_publisher *pubs, size_t n_pubs);

#endif
