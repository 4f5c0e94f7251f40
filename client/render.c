/*
 * HTML pages of the offline library. Markdown goes through md4c with raw HTML
 * disabled, HTML bodies through render_sanitize_html(), plain text is escaped.
 * The Markdown output is sanitized too, so a link or image in Markdown obeys
 * the same URL rules as one in an HTML body.
 */
#include "render.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <md4c-html.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "render_sanitize.h"

/* Largest rendered Markdown before sanitizing (bodies are at most 32 MiB). */
/* Markdown that renders to more than this (64 MiB + twice its size) is shown as text. */
#define MD_OUT_BASE (64u << 20)

static const char css[] =
    ":root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fbfaf6;--muted:#5f5f5f;"
    "--link:#1d4f91;--rule:#dddad2;--code:#f0eee8;--warn-fg:#4a3300;--warn-bg:#fff3d1;"
    "--warn-rule:#b7791f;--alarm-fg:#5f0b0b;--alarm-bg:#fde8e6;--alarm-rule:#c5221f}"
    "@media (prefers-color-scheme:dark){:root{--fg:#e7e4dd;--bg:#17181b;--muted:#a3a09a;"
    "--link:#8fb6f0;--rule:#34353a;--code:#24252a;--warn-fg:#f6e3b8;--warn-bg:#392c0d;"
    "--warn-rule:#e0a84a;--alarm-fg:#ffdcd8;--alarm-bg:#45100f;--alarm-rule:#ff6b61}}"
    "html{background:var(--bg)}"
    "body{margin:0 auto;max-width:40em;padding:1.5em 1.2em 4em;color:var(--fg);"
    "background:var(--bg);font:1.125rem/1.6 Georgia,\"DejaVu Serif\",\"Noto Serif\","
    "\"Times New Roman\",serif;overflow-wrap:break-word}"
    "a{color:var(--link)}"
    "h1,h2,h3{line-height:1.25;font-weight:700}"
    "h1{font-size:2rem;margin:.4em 0 .3em}"
    ".body h1{font-size:1.5rem}.body h2{font-size:1.3rem}.body h3{font-size:1.15rem}"
    ".meta,.pubmeta,nav,footer,.note{color:var(--muted);font:.9rem/1.5 system-ui,"
    "-apple-system,\"Segoe UI\",\"DejaVu Sans\",sans-serif}"
    "nav{margin-bottom:1.5em}"
    "img,video{max-width:100%;height:auto}"
    "figure{margin:1.5em 0}figcaption{color:var(--muted);font-size:.9rem}"
    "pre,code{background:var(--code);font-size:.9em}"
    "pre{padding:.8em;overflow-x:auto}"
    "pre.plain{background:none;padding:0;white-space:pre-wrap;font:inherit}"
    "blockquote{margin:1em 0;padding-left:1em;border-left:3px solid var(--rule)}"
    "table{border-collapse:collapse}td,th{border:1px solid var(--rule);padding:.2em .5em}"
    "hr{border:0;border-top:1px solid var(--rule)}"
    "footer{margin-top:3em;border-top:1px solid var(--rule);padding-top:1em}"
    "footer h2{font-size:1rem}"
    ".key{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-size:.8rem;"
    "overflow-wrap:anywhere}"
    ".publisher{margin-top:2.5em;border-top:2px solid var(--rule)}"
    ".publisher>h2{margin:.8em 0 .2em}"
    "ol.articles{list-style:none;padding:0}"
    "ol.articles li{margin:1.4em 0}"
    "ol.articles h3{font-size:1.25rem;margin:0 0 .2em}"
    ".summary{margin:.3em 0}"
    ".warn,.alarm{margin:1em 0;padding:.7em 1em;border-radius:4px;font:1rem/1.5 system-ui,"
    "-apple-system,\"Segoe UI\",\"DejaVu Sans\",sans-serif}"
    ".warn{color:var(--warn-fg);background:var(--warn-bg);border:2px solid var(--warn-rule);"
    "border-left-width:8px}"
    ".alarm{color:var(--alarm-fg);background:var(--alarm-bg);border:3px solid var(--alarm-rule);"
    "border-left-width:10px;font-weight:600}"
    ".warn p,.alarm p{margin:.3em 0}.warn .detail,.alarm .detail{font-size:.85rem;font-weight:400}"
    ".alarm strong{text-transform:uppercase;letter-spacing:.03em}"
    ".warn a,.alarm a{color:inherit}";

static void
put(struct sz_wr *w, const char *s)
{
    size_t n = strlen(s);
    if (n > 0)
        sz_wr_bytes(w, s, n);
}

static void
put_n(struct sz_wr *w, const void *p, size_t n)
{
    if (n > 0)
        sz_wr_bytes(w, p, n);
}

/* Length of the prefix of s[0..len) without a byte render_escape() replaces. */
static size_t
plain_run(const char *s, size_t len)
{
    size_t k = 0;
#ifdef __SSE2__
    const __m128i amp = _mm_set1_epi8('&'), lt = _mm_set1_epi8('<'), gt = _mm_set1_epi8('>'),
                  quot = _mm_set1_epi8('"'), apos = _mm_set1_epi8('\''), nul = _mm_setzero_si128();
    for (; k + 16 <= len; k += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + k));
        __m128i m =
            _mm_or_si128(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, amp), _mm_cmpeq_epi8(v, lt)),
                                      _mm_or_si128(_mm_cmpeq_epi8(v, gt), _mm_cmpeq_epi8(v, quot))),
                         _mm_or_si128(_mm_cmpeq_epi8(v, apos), _mm_cmpeq_epi8(v, nul)));
        if (_mm_movemask_epi8(m) != 0)
            break;
    }
#endif
    for (; k < len; k++) {
        switch (s[k]) {
        case '&':
        case '<':
        case '>':
        case '"':
        case '\'':
        case '\0':
            return k;
        default:
            break;
        }
    }
    return len;
}

void
render_escape(struct sz_wr *w, const char *s, size_t len)
{
    size_t start = 0;
    for (size_t k = 0; k < len; k++) {
        const char *rep;
        k += plain_run(s + k, len - k);
        if (k == len)
            break;
        switch (s[k]) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '\0':
            rep = "\xef\xbf\xbd";
            break;
        default:
            continue;
        }
        put_n(w, s + start, k - start);
        put(w, rep);
        start = k + 1;
    }
    put_n(w, s + start, len - start);
}

static void
esc(struct sz_wr *w, const char *s)
{
    render_escape(w, s, strlen(s));
}

static void
esc_str(struct sz_wr *w, struct sz_str s)
{
    render_escape(w, s.p, s.len);
}

const char *
render_body_file(enum sz_ctype t)
{
    switch (t) {
    case SZ_CTYPE_MARKDOWN:
        return "body.md";
    case SZ_CTYPE_HTML:
        return "body.html.txt"; /* as text: opened as HTML, the original may load remote files */
    case SZ_CTYPE_PLAIN:
    default:
        return "body.txt";
    }
}

/* Writes <time datetime="...">...</time> in RFC 3339. */
static void
put_time(struct sz_wr *w, int64_t t)
{
    char buf[32];
    if (sz_time_format(t, buf, sizeof buf) != 0) {
        put(w, "(unknown time)");
        return;
    }
    put(w, "<time datetime=\"");
    put(w, buf);
    put(w, "\">");
    put(w, buf);
    put(w, "</time>");
}

static void
put_u64(struct sz_wr *w, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    put(w, buf);
}

static void
put_size(struct sz_wr *w, size_t n)
{
    char buf[32];
    if (n < 1024)
        snprintf(buf, sizeof buf, "%zu bytes", n);
    else if (n < 1024 * 1024)
        snprintf(buf, sizeof buf, "%.1f KiB", (double)n / 1024.0);
    else
        snprintf(buf, sizeof buf, "%.1f MiB", (double)n / (1024.0 * 1024.0));
    put(w, buf);
}

/* The publisher's name, or its key's text form. */
static void
put_publisher(struct sz_wr *w, const uint8_t *pk, const char *name)
{
    char text[SZ_PK_TEXT_LEN + 1];
    if (name != NULL && name[0] != '\0') {
        esc(w, name);
        return;
    }
    sz_pk_to_text(pk, text);
    put(w, "<span class=\"key\">");
    put(w, text);
    put(w, "</span>");
}

static void
page_begin(struct sz_wr *w, struct sz_str lang, struct sz_str title)
{
    put(w, "<!DOCTYPE html>\n<html");
    if (lang.len > 0) {
        put(w, " lang=\"");
        esc_str(w, lang);
        put(w, "\"");
    }
    put(w, ">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"" RENDER_CSP "\">\n"
           "<meta name=\"referrer\" content=\"no-referrer\">\n"
           "<meta http-equiv=\"x-dns-prefetch-control\" content=\"off\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<title>");
    esc_str(w, title);
    put(w, "</title>\n<style>");
    put(w, css);
    put(w, "</style>\n</head>\n<body>\n");
}

static void
page_end(struct sz_wr *w)
{
    put(w, "</body>\n</html>\n");
}

static void
authors_list(struct sz_wr *w, const struct sz_str *authors, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (k > 0)
            put(w, k + 1 == n ? " and " : ", ");
        esc_str(w, authors[k]);
    }
}

static void
on_md_output(const MD_CHAR *text, MD_SIZE size, void *userdata)
{
    put_n(userdata, text, size);
}

/*
 * Markdown: md4c with raw HTML disabled, then the sanitizer. Markdown that
 * md4c cannot render within the bound (link references can multiply a small
 * text many times over) is shown as published, unformatted, so that one
 * article never costs the others their place in the library.
 */
static void
body_markdown(struct sz_wr *w, const uint8_t *body, size_t len)
{
    struct sz_wr md;
    sz_wr_init(&md, MD_OUT_BASE + 2 * len);
    unsigned flags = MD_FLAG_NOHTML | MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH |
                     MD_FLAG_PERMISSIVEURLAUTOLINKS | MD_FLAG_PERMISSIVEWWWAUTOLINKS;
    if (md_html((const MD_CHAR *)body, (MD_SIZE)len, on_md_output, &md, flags,
                MD_HTML_FLAG_SKIP_UTF8_BOM) != 0 ||
        sz_wr_status(&md) != 0) {
        put(w, "<p class=\"note\">This Markdown would not render within bounds; here it is as "
               "published, unformatted.</p>\n<pre class=\"plain\">");
        render_escape(w, (const char *)body, len);
        put(w, "</pre>");
    } else {
        render_sanitize_html(w, md.p, md.len);
    }
    sz_wr_free(&md, false);
}

static bool
is_image(struct sz_str media_type)
{
    return media_type.len > 6 && memcmp(media_type.p, "image/", 6) == 0;
}

static bool
body_mentions(const struct sz_article *a, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > a->body_len)
        return false;
    for (size_t k = 0; k + n <= a->body_len; k++) {
        if (a->body[k] == (uint8_t)name[0] && memcmp(a->body + k, name, n) == 0)
            return true;
    }
    return false;
}

/* Is it an http(s) URL? Only those become links; anything else is shown as text. */
static bool
is_web_url(struct sz_str u)
{
    return (u.len > 7 && strncmp(u.p, "http://", 7) == 0) ||
           (u.len > 8 && strncmp(u.p, "https://", 8) == 0);
}

void
render_article(struct sz_wr *w, const struct render_page *pg)
{
    const struct sz_article *a = pg->a;
    const char *body_file = render_body_file(a->ctype);

    page_begin(w, a->lang, a->title);
    put(w, "<nav><a href=\"../../index.html\">&larr; Library</a> &middot; ");
    put_publisher(w, pg->publisher, pg->publisher_name);
    put(w, "</nav>\n<article>\n<header>\n<h1 dir=\"auto\">");
    esc_str(w, a->title);
    put(w, "</h1>\n<p class=\"meta\">");
    put_time(w, a->published);
    if (a->n_authors > 0) {
        put(w, " &middot; by ");
        authors_list(w, a->authors, a->n_authors);
    }
    if (a->lang.len > 0) {
        put(w, " &middot; <span title=\"language\">");
        esc_str(w, a->lang);
        put(w, "</span>");
    }
    put(w, "</p>\n</header>\n");

    switch (a->ctype) {
    case SZ_CTYPE_MARKDOWN:
        put(w, "<div class=\"body markdown\" dir=\"auto\">\n");
        body_markdown(w, a->body, a->body_len);
        break;
    case SZ_CTYPE_HTML:
        put(w, "<div class=\"body html\" dir=\"auto\">\n");
        render_sanitize_html(w, a->body, a->body_len);
        break;
    case SZ_CTYPE_PLAIN:
    default:
        put(w, "<div class=\"body plain\" dir=\"auto\">\n<pre class=\"plain\">");
        render_escape(w, (const char *)a->body, a->body_len);
        put(w, "</pre>");
        break;
    }
    put(w, "\n</div>\n");

    /* Images the body does not show itself. */
    for (size_t k = 0; k < a->n_atts; k++) {
        const char *f = pg->att_files[k];
        if (!is_image(a->atts[k].media_type) || (a->ctype != SZ_CTYPE_PLAIN && body_mentions(a, f)))
            continue;
        put(w, "<figure><img src=\"");
        esc(w, f);
        put(w, "\" alt=\"\"><figcaption>");
        esc(w, f);
        put(w, "</figcaption></figure>\n");
    }

    put(w, "<footer>\n");
    if (a->url.len > 0) {
        put(w, "<p>Original: ");
        if (is_web_url(a->url)) {
            put(w, "<a href=\"");
            esc_str(w, a->url);
            put(w, "\" rel=\"noreferrer noopener\">");
            esc_str(w, a->url);
            put(w, "</a> (opening it goes online)");
        } else {
            esc_str(w, a->url);
        }
        put(w, "</p>\n");
    }
    put(w, "<p>Original text as published: <a href=\"");
    put(w, body_file);
    put(w, "\">");
    put(w, body_file);
    put(w, "</a></p>\n");
    if (a->n_atts > 0) {
        put(w, "<h2>Attachments</h2>\n<ul class=\"attachments\">\n");
        for (size_t k = 0; k < a->n_atts; k++) {
            const struct sz_attachment *at = &a->atts[k];
            put(w, "<li><a href=\"");
            esc(w, pg->att_files[k]);
            put(w, "\">");
            esc(w, pg->att_files[k]);
            put(w, "</a> (");
            esc_str(w, at->media_type);
            put(w, ", ");
            put_size(w, at->data_len);
            put(w, ")</li>\n");
        }
        put(w, "</ul>\n");
    }
    char id_hex[2 * SZ_BUNDLE_ID_LEN + 1];
    sz_bundle_id_hex(pg->bundle_id, id_hex);
    char pk_text[SZ_PK_TEXT_LEN + 1];
    sz_pk_to_text(pg->publisher, pk_text);
    put(w, "<p>Signed by ");
    put_publisher(w, pg->publisher, pg->publisher_name);
    if (pg->publisher_name != NULL && pg->publisher_name[0] != '\0') {
        put(w, " (<span class=\"key\">");
        put(w, pk_text);
        put(w, "</span>)");
    }
    put(w, ", verified before it was saved. Bundle #");
    put_u64(w, pg->sequence);
    put(w, ", signed ");
    put_time(w, pg->created);
    put(w, ", id <span class=\"key\">");
    put(w, id_hex);
    put(w, "</span>.</p>\n</footer>\n</article>\n");
    page_end(w);
}

static void
put_publisher_anchor(struct sz_wr *w, const uint8_t *pk)
{
    char hex[2 * SZ_PUBLIC_KEY_LEN + 1];
    sz_hex(pk, SZ_PUBLIC_KEY_LEN, hex);
    put(w, hex);
}

/* A span of seconds, roughly: "less than an hour", "5 hours", "3 days". */
static void
put_duration(struct sz_wr *w, uint64_t s)
{
    uint64_t n;
    if (s < 3600) {
        put(w, "less than an hour");
        return;
    }
    if (s < 2 * 86400) {
        n = s / 3600;
        put_u64(w, n);
        put(w, n == 1 ? " hour" : " hours");
        return;
    }
    put_u64(w, s / 86400);
    put(w, " days");
}

/* How much older than the last fetch the newest bundle was (0 if newer). */
static uint64_t
age_at_fetch(const struct render_publisher *p)
{
    return p->last_fetch > p->created ? (uint64_t)p->last_fetch - (uint64_t)p->created : 0;
}

bool
render_publisher_stale(const struct render_publisher *p)
{
    if (!p->fetched)
        return false;
    if (!p->has_bundle)
        return true;
    return p->stale_after_s >= 0 && age_at_fetch(p) > (uint64_t)p->stale_after_s;
}

static bool
equivocated(const struct render_publisher *p)
{
    return p->equivocation_seen || p->equivocation_reported;
}

/* The red box of a publisher whose key signed two bundles with one sequence. */
static void
put_equivocation(struct sz_wr *w, const struct render_publisher *p)
{
    put(w, "<div class=\"alarm\" role=\"alert\">\n<p><strong>Warning:</strong> ");
    if (p->equivocation_seen) {
        put(w, "Publisher ");
        put_publisher(w, p->pk, p->name);
        put(w, " signed two different bundles with the same sequence number (#");
        put_u64(w, p->equivocation_seq);
        put(w, "): its key may be stolen.</p>\n<p class=\"detail\">Both bundles are kept in this "
               "library as evidence. Someone else may be publishing in this publisher&#39;s "
               "name: do not trust its newer articles until you have confirmed its key by other "
               "means.</p>\n");
    } else {
        put(w, "A peer reported during the fetch of ");
        put_time(w, p->equivocation_reported_at);
        put(w, " that publisher ");
        put_publisher(w, p->pk, p->name);
        put(w, " signed two different bundles with the same sequence number: its key may be "
               "stolen.</p>\n<p class=\"detail\">This library does not hold both bundles, so it "
               "could not check the report itself. Until you have confirmed the publisher&#39;s "
               "key by other means, read its newer articles with suspicion.</p>\n");
    }
    put(w, "</div>\n");
}

/* The box of a publisher from which nothing new came for too long. */
static void
put_stale(struct sz_wr *w, const struct render_publisher *p)
{
    put(w, "<div class=\"warn\" role=\"status\">\n<p>");
    if (!p->has_bundle) {
        put(w, "No bundle from ");
        put_publisher(w, p->pk, p->name);
        put(w, " has reached this library yet: your peers may not carry it, or may be "
               "withholding it; try other peers.</p>\n");
    } else {
        put(w, "No new bundle from ");
        put_publisher(w, p->pk, p->name);
        put(w, " for ");
        put_duration(w, age_at_fetch(p));
        put(w, ": your peers may be withholding newer editions; try other peers.</p>\n"
               "<p class=\"detail\">At the last fetch, ");
        put_time(w, p->last_fetch);
        put(w, ", the newest bundle (#");
        put_u64(w, p->sequence);
        put(w, ") had been signed ");
        put_time(w, p->created);
        put(w, "; the warning shows after ");
        uint64_t h = (uint64_t)(p->stale_after_s < 0 ? 0 : p->stale_after_s) / 3600;
        put_u64(w, h);
        put(w, h == 1 ? " hour" : " hours");
        put(w, " (the fetch&#39;s --stale-after).</p>\n");
    }
    put(w, "</div>\n");
}

/* Top of the page: a line per publisher in trouble, linking to its section. */
static void
put_summary_warnings(struct sz_wr *w, const struct render_publisher *pubs, size_t n_pubs)
{
    size_t n_alarm = 0, n_stale = 0;
    for (size_t p = 0; p < n_pubs; p++) {
        if (equivocated(&pubs[p]))
            n_alarm++;
        else if (render_publisher_stale(&pubs[p]))
            n_stale++;
    }
    if (n_alarm > 0) {
        put(w, "<div class=\"alarm\" role=\"alert\">\n<p><strong>Warning: a publisher&#39;s key "
               "may be stolen.</strong> Two different bundles with one sequence number were "
               "signed in the name of:</p>\n<ul>\n");
        for (size_t p = 0; p < n_pubs; p++) {
            if (!equivocated(&pubs[p]))
                continue;
            put(w, "<li><a href=\"#p-");
            put_publisher_anchor(w, pubs[p].pk);
            put(w, "\">");
            put_publisher(w, pubs[p].pk, pubs[p].name);
            put(w, "</a></li>\n");
        }
        put(w, "</ul>\n</div>\n");
    }
    if (n_stale > 0) {
        put(w, "<div class=\"warn\" role=\"status\">\n<p>Nothing new for too long from:</p>\n"
               "<ul>\n");
        for (size_t p = 0; p < n_pubs; p++) {
            if (equivocated(&pubs[p]) || !render_publisher_stale(&pubs[p]))
                continue;
            put(w, "<li><a href=\"#p-");
            put_publisher_anchor(w, pubs[p].pk);
            put(w, "\">");
            put_publisher(w, pubs[p].pk, pubs[p].name);
            put(w, "</a></li>\n");
        }
        put(w, "</ul>\n<p class=\"detail\">Your peers may be withholding newer editions: try "
               "other peers.</p>\n</div>\n");
    }
}

void
render_index(struct sz_wr *w, const struct render_publisher *pubs, size_t n_pubs)
{
    static const char title[] = "samizdat library";
    size_t n_articles = 0;
    for (size_t p = 0; p < n_pubs; p++)
        n_articles += pubs[p].n_entries;

    page_begin(w, (struct sz_str){"en", 2}, (struct sz_str){title, sizeof title - 1});
    put(w, "<header>\n<h1>Library</h1>\n<p class=\"note\">");
    put_u64(w, n_articles);
    put(w, n_articles == 1 ? " article" : " articles");
    put(w, " from ");
    put_u64(w, n_pubs);
    put(w, n_pubs == 1 ? " publisher" : " publishers");
    put(w, ", newest first. Each one was checked against its publisher&#39;s signature "
           "before it was saved here. These pages load nothing from the network.</p>\n");
    put_summary_warnings(w, pubs, n_pubs);
    if (n_pubs > 1) {
        put(w, "<nav><ul>\n");
        for (size_t p = 0; p < n_pubs; p++) {
            put(w, "<li><a href=\"#p-");
            put_publisher_anchor(w, pubs[p].pk);
            put(w, "\">");
            put_publisher(w, pubs[p].pk, pubs[p].name);
            put(w, "</a></li>\n");
        }
        put(w, "</ul></nav>\n");
    }
    put(w, "</header>\n");

    for (size_t p = 0; p < n_pubs; p++) {
        const struct render_publisher *pub = &pubs[p];
        char pk_hex[2 * SZ_PUBLIC_KEY_LEN + 1], pk_text[SZ_PK_TEXT_LEN + 1];
        sz_hex(pub->pk, SZ_PUBLIC_KEY_LEN, pk_hex);
        sz_pk_to_text(pub->pk, pk_text);

        put(w, "<section class=\"publisher\" id=\"p-");
        put(w, pk_hex);
        put(w, "\">\n<h2>");
        put_publisher(w, pub->pk, pub->name);
        put(w, "</h2>\n");
        if (equivocated(pub))
            put_equivocation(w, pub);
        if (render_publisher_stale(pub))
            put_stale(w, pub);
        put(w, "<p class=\"pubmeta\">");
        if (pub->name != NULL && pub->name[0] != '\0') {
            put(w, "<span class=\"key\">");
            put(w, pk_text);
            put(w, "</span><br>");
        }
        if (pub->n_entries > 0) {
            put(w, "Newest article: ");
            put_time(w, pub->entries[0].published);
            put(w, " &middot; ");
        }
        if (pub->has_bundle) {
            put(w, "newest bundle: #");
            put_u64(w, pub->sequence);
            put(w, ", signed ");
            put_time(w, pub->created);
        } else {
            put(w, "no bundle yet");
        }
        if (pub->fetched) {
            put(w, " &middot; last fetched: ");
            put_time(w, pub->last_fetch);
        }
        put(w, "</p>\n<ol class=\"articles\">\n");
        for (size_t k = 0; k < pub->n_entries; k++) {
            const struct render_entry *e = &pub->entries[k];
            put(w, "<li");
            if (e->lang[0] != '\0') {
                put(w, " lang=\"");
                esc(w, e->lang);
                put(w, "\"");
            }
            put(w, "><h3 dir=\"auto\"><a href=\"");
            put(w, pk_hex);
            put(w, "/");
            esc(w, e->folder);
            put(w, "/index.html\">");
            esc(w, e->title);
            put(w, "</a></h3>\n<p class=\"meta\">");
            put_time(w, e->published);
            for (size_t j = 0; j < e->n_authors; j++) {
                put(w, j == 0 ? " &middot; by " : (j + 1 == e->n_authors ? " and " : ", "));
                esc(w, e->authors[j]);
            }
            if (e->lang[0] != '\0') {
                put(w, " &middot; ");
                esc(w, e->lang);
            }
            put(w, "</p>\n");
            if (e->summary[0] != '\0') {
                put(w, "<p class=\"summary\" dir=\"auto\">");
                esc(w, e->summary);
                put(w, "</p>\n");
            }
            put(w, "</li>\n");
        }
        put(w, "</ol>\n</section>\n");
    }
    page_end(w);
}
