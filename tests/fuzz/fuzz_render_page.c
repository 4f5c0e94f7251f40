/*
 * A whole article page, as the reader's library writes one for each article
 * of a bundle it unpacks: render_article() (client/render.c) with the fields
 * library.c fills in. A Markdown body goes through md4c, our callbacks that
 * bound its cost and the sanitizer; an HTML body through the sanitizer; a
 * plain one is escaped. Input:
 *
 *   control byte, body, then fields after NUL bytes, each optional:
 *   title \0 lang \0 url \0 authors \0 attachments \0 publisher's name
 *
 * The control byte's bits 0-1 pick the content type (0 and 3 Markdown, 1
 * HTML, 2 plain text), bit 2 the equivocation alarm, bit 3 a title taken from
 * the body's first line (so that the body's first heading repeats it more
 * often than chance would), bits 4-5 the published time, bit 6 the
 * publisher's name (else its key is shown), bit 7 a sequence of UINT64_MAX.
 * Authors are one a line; an attachment is a line "name media/type [size]".
 * Bytes of the body that are not UTF-8 become '?' and a field the bundle
 * format would refuse is left out (its default kept), so that the article
 * passes sz_article_check() as every article of an opened bundle does.
 * Attachments are stored under the names the library gives them. The other
 * fields are each in a buffer of their own size; the body is followed, as in
 * the decoded container the library renders from, by the article's
 * attachment count (a little-endian u16), so that a read past its end (md4c
 * 0.4.8 reads a byte past an inline link left open at the end) sees what it
 * would see there, the same on every run.
 *
 * The page is read back and must hold:
 *   - it renders (no error within the library's page bound), from
 *     "<!DOCTYPE html>" to "</html>", with the Content-Security-Policy in its
 *     head and exactly the template's elements there;
 *   - valid UTF-8 and no NUL;
 *   - no script start tag anywhere, "<script" in any case followed by what
 *     ends a tag's name (an unknown element such as <scripts> is kept): the
 *     template has no script;
 *   - every '<' starts a tag "<name" with ` name="value"` attributes or an
 *     end tag "</name>", nothing self-closed, every end tag closing the
 *     innermost open element and all closed at the end, so the body neither
 *     closes the page around it nor keeps the page's footer inside itself;
 *   - after <body>, no element that runs code or loads things and no event
 *     handler; links are http, https, mailto or relative (so no
 *     "javascript:"); resources are relative or data:image/ (so no remote
 *     URL in src); styles load nothing;
 *   - one h1, the title: the body's headings start at h2;
 *   - its size stays within what the bounds of render.h, render.c and
 *     render_sanitize.h allow for the body, plus the template.
 * Besides, the harness's reading of UTF-8 must agree with sz_utf8_valid().
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"

#include "fuzz.h"
#include "fuzz_html.h"
#include "library.h"
#include "md.h"
#include "render.h"
#include "render_sanitize.h"

/* The library's bound on a page (PAGE_MAX_LEN in library.c). */
#define PAGE_MAX ((size_t)1 << 30)
/* Markdown that md4c renders to more than this plus twice its size is shown as
 * text (MD_OUT_BASE in render.c). */
#define MD_OUT_BASE ((size_t)64 << 20)
/* The template around the body, alarm included, is about 5 KiB. */
#define PAGE_FIXED ((size_t)16 << 10)
#define ATT_FIXED 512
#define CSP_META "<meta http-equiv=\"Content-Security-Policy\" content=\"" RENDER_CSP "\">"

#define MAX_AUTHORS 8
#define MAX_ATTS 64
#define STORED_CAP (SZ_MAX_ID_LEN + 16)
#define MAX_KEPT (8 + MAX_AUTHORS + 2 * MAX_ATTS)
#define MAX_OPEN 4096

enum { F_BODY, F_TITLE, F_LANG, F_URL, F_AUTHORS, F_ATTS, F_NAME, N_FIELDS };

/* What the template writes before <body>: each of these once, meta five times. */
static const char *const HEAD_ELEMS[] = {"html", "head", "meta", "title", "style", NULL};
#define N_META 5

static const uint8_t publisher[SZ_PUBLIC_KEY_LEN] = {0x5a, 0x01, 0xfe, 0x42};
static const uint8_t bundle_id[SZ_BUNDLE_ID_LEN] = {0xb0, 0x0d, 0x1e};
/* render_article() shows an attachment's size (here below 4 KiB), never its bytes. */
static const uint8_t att_data[4096];
static const int64_t times[4] = {1724925600, -62135596800LL, 253402300799LL, -1};

static void
on_md_output(const MD_CHAR *text, MD_SIZE size, void *userdata)
{
    (void)text;
    (void)size;
    (void)userdata;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    /* Without md4c every Markdown body would be shown as text: the path
     * this harness is for would never run. */
    if (md_lazy_html("*a*", 3, on_md_output, NULL, 0, 0) != 0)
        abort();
    return 0;
}

/* Copies of the input's pieces, each in a buffer of its own (so that ASan
 * sees a read past one), freed after the run. */
struct kept {
    void *p[MAX_KEPT];
    size_t n;
};

/* Copies p[0..n) into a buffer of room bytes (at least n), zeros after it. */
static struct sz_str
keep(struct kept *k, const void *p, size_t n, size_t room)
{
    char *c;
    if (k->n == MAX_KEPT || (c = calloc(room > 0 ? room : 1, 1)) == NULL)
        abort();
    if (n > 0)
        memcpy(c, p, n);
    k->p[k->n++] = c;
    return (struct sz_str){c, n};
}

static void
kept_free(struct kept *k)
{
    for (size_t j = 0; j < k->n; j++)
        free(k->p[j]);
}

/*
 * Length of the UTF-8 sequence at p[0..n) by RFC 3629's table 3-7 (no overlong
 * form, nothing above U+10FFFF, no NUL, no surrogate), 0 when none starts
 * there. (md4c writes a numeric character reference to a surrogate,
 * "&#xD800;", as its three bytes: render.c makes each U+FFFD.)
 */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    size_t len;

    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xBF)
            return 0;
    return len;
}

static bool
utf8_ok(const uint8_t *p, size_t n)
{
    size_t k = 0;
    while (k < n) {
        size_t m = utf8_seq(p + k, n - k);
        if (m == 0)
            return false;
        k += m;
    }
    return true;
}

/* An article valid in every field, for trying one field at a time. */
static void
base_article(struct sz_article *a)
{
    memset(a, 0, sizeof *a);
    a->id = (struct sz_str){"article", 7};
    a->title = (struct sz_str){"Title", 5};
    a->published = times[0];
    a->ctype = SZ_CTYPE_MARKDOWN;
    a->body = (const uint8_t *)"Text.";
    a->body_len = 5;
}

/* The next piece of s up to sep (or its end); false when s is used up. */
static bool
next_piece(struct sz_str *s, char sep, struct sz_str *piece)
{
    const char *e;
    if (s->len == 0)
        return false;
    e = memchr(s->p, sep, s->len);
    piece->p = s->p;
    piece->len = e != NULL ? (size_t)(e - s->p) : s->len;
    s->p += piece->len + (e != NULL);
    s->len -= piece->len + (e != NULL);
    return true;
}

/* The text of the body's first line, its Markdown heading marks, a leading
 * tag and what follows the next '<' left out: often its first heading's. */
static struct sz_str
title_of_body(const uint8_t *b, size_t n)
{
    size_t k = 0, end;
    while (k < n && (b[k] == ' ' || b[k] == '#'))
        k++;
    if (k < n && b[k] == '<') {
        const uint8_t *gt = memchr(b + k, '>', n - k);
        if (gt != NULL)
            k = (size_t)(gt - b) + 1;
    }
    for (end = k; end < n && b[end] != '\n' && b[end] != '\r' && b[end] != '<';)
        end++;
    while (end > k && (b[end - 1] == ' ' || b[end - 1] == '#'))
        end--;
    return (struct sz_str){(const char *)b + k, end - k};
}

static bool
passive(const char *name)
{
    static const char *const ext[] = {"png",  "jpg", "jpeg", "gif", "webp", "mp3", "ogg", "mp4",
                                      "webm", "txt", "md",   "csv", "pdf",  "zip", NULL};
    const char *dot = strrchr(name, '.');
    for (size_t k = 0; dot != NULL && ext[k] != NULL; k++)
        if (strcasecmp(dot + 1, ext[k]) == 0)
            return true;
    return false;
}

static bool
taken(const char *s, char (*stored)[STORED_CAP], size_t n)
{
    static const char *const reserved[] = {"index.html",    "body.md",  "body.html",
                                           "body.html.txt", "body.txt", NULL};
    for (size_t k = 0; reserved[k] != NULL; k++)
        if (strcasecmp(s, reserved[k]) == 0)
            return true;
    for (size_t k = 0; k < n; k++)
        if (strcasecmp(s, stored[k]) == 0)
            return true;
    return false;
}

/* The name the library stores attachment k under (stored_names() in library.c,
 * Windows device names aside): ".txt" after a name a browser might open as a
 * document, "_", "2_", ... before one taken already, ignoring case. */
static void
stored_name(struct sz_str name, char (*stored)[STORED_CAP], size_t k)
{
    char base[SZ_MAX_ID_LEN + 5]; /* the name, ".txt" */
    snprintf(base, sizeof base, "%.*s", (int)name.len, name.p);
    if (!passive(base))
        snprintf(base, sizeof base, "%.*s.txt", (int)name.len, name.p);
    snprintf(stored[k], STORED_CAP, "%s", base);
    for (unsigned n = 1; taken(stored[k], stored, k); n++) {
        if (n == 1)
            snprintf(stored[k], STORED_CAP, "_%s", base);
        else
            snprintf(stored[k], STORED_CAP, "%u_%s", n, base);
    }
}

static bool
has(const uint8_t *p, size_t n, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t k = 0; k + nl <= n; k++)
        if (p[k] == (uint8_t)needle[0] && memcmp(p + k, needle, nl) == 0)
            return true;
    return false;
}

/*
 * An attribute value as the browser reads it. Both escapers of the page (the
 * template's and the sanitizer's for a value it decoded) write only these
 * references: any other '&' means a value went out undecoded.
 */
static size_t
unescape_strict(const uint8_t *v, size_t n, uint8_t *out)
{
    static const char *const refs[] = {"&amp;", "&quot;", "&lt;", "&gt;", "&#39;"};
    static const char chars[] = "&\"<>'";
    size_t k = 0, m = 0;

    while (k < n) {
        size_t r;
        if (v[k] != '&') {
            out[m++] = v[k++];
            continue;
        }
        for (r = 0; r < 5; r++)
            if (n - k >= strlen(refs[r]) && memcmp(v + k, refs[r], strlen(refs[r])) == 0)
                break;
        if (r == 5)
            abort();
        out[m++] = (uint8_t)chars[r];
        k += strlen(refs[r]);
    }
    return m;
}

/* Does p[0..n) hold a script start tag, as the HTML tokenizer reads one? */
static bool
script_tag(const uint8_t *p, size_t n)
{
    for (size_t k = 0; k + 7 <= n; k++) {
        if (p[k] == '<' && contains_ci(p + k, 7, "<script") &&
            (k + 7 == n || (p[k + 7] != 0 && strchr("\t\n\f\r />", p[k + 7]) != NULL)))
            return true;
    }
    return false;
}

/* Checks one attribute of an element of the body or of the page around it. */
static void
check_attr(const char *tag, const char *name, const uint8_t *v, size_t n, uint8_t *tmp,
           uint8_t *tmp2)
{
    char scheme[32];
    size_t un;

    if ((name[0] == 'o' && name[1] == 'n') || in_list(name, FORBIDDEN_ATTRS))
        abort();
    if (strcmp(name, "href") == 0 || strcmp(name, "xlink:href") == 0) {
        un = normalize_url(tmp, unescape_strict(v, n, tmp), tmp2);
        if (strcmp(tag, "a") == 0 || strcmp(tag, "area") == 0) {
            if (scheme_of(tmp2, un, scheme, sizeof scheme)) {
                if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0 &&
                    strcmp(scheme, "mailto") != 0)
                    abort();
            } else if (un >= 2 && is_slash(tmp2[0]) && is_slash(tmp2[1])) {
                abort();
            }
        } else if (scheme_of(tmp2, un, scheme, sizeof scheme) || (un > 0 && is_slash(tmp2[0]))) {
            abort();
        }
    } else if (in_list(name, RESOURCE_ATTRS)) {
        un = normalize_url(tmp, unescape_strict(v, n, tmp), tmp2);
        if (scheme_of(tmp2, un, scheme, sizeof scheme)) {
            if (!((strcmp(name, "src") == 0 || strcmp(name, "poster") == 0) && un >= 11 &&
                  contains_ci(tmp2, 11, "data:image/")))
                abort();
        } else if (un > 0 && is_slash(tmp2[0])) {
            abort();
        }
    } else if (strcmp(name, "srcset") == 0 || strcmp(name, "imagesrcset") == 0) {
        un = normalize_url(tmp, unescape_strict(v, n, tmp), tmp2);
        if (memchr(tmp2, ':', un) != NULL)
            abort();
        check_srcset(tmp2, un);
    } else if (strcmp(name, "style") == 0) {
        un = unescape_strict(v, n, tmp);
        if (contains_ci(tmp, un, "url(") || contains_ci(tmp, un, "@import") ||
            contains_ci(tmp, un, "expression(") || memchr(tmp, '\\', un) != NULL)
            abort();
    }
}

/* Reads the page as a browser would and checks every promise above. */
static void
check_page(const uint8_t *o, size_t n, size_t bound)
{
    static const char doctype[] = "<!DOCTYPE html>\n", end[] = "</body>\n</html>\n";
    static char open[MAX_OPEN][NAME_CAP];
    static int ns[MAX_OPEN];
    size_t depth = 0, i = sizeof doctype - 1, body_at = 0, n_head = 0, n_h1 = 0;
    size_t footer_depth = 0;
    uint8_t *tmp, *tmp2;

    if (n > bound || n < sizeof doctype + sizeof end || memcmp(o, doctype, sizeof doctype - 1) ||
        memcmp(o + i, "<html", 5) != 0 ||
        memcmp(o + n - (sizeof end - 1), end, sizeof end - 1) != 0 || memchr(o, 0, n) != NULL ||
        !utf8_ok(o, n) || script_tag(o, n))
        abort();
    if ((tmp = malloc(n)) == NULL || (tmp2 = malloc(n)) == NULL)
        abort();
    while (i < n) {
        char tag[NAME_CAP], attr[NAME_CAP];
        const uint8_t *lt = memchr(o + i, '<', n - i);
        bool is_end;

        if (lt == NULL)
            break;
        i = (size_t)(lt - o) + 1;
        is_end = i < n && o[i] == '/';
        i += is_end;
        read_name(o, n, &i, tag);
        if (is_end) {
            if (i >= n || o[i++] != '>' || depth == 0 || strcmp(open[depth - 1], tag) != 0)
                abort();
            depth--;
            continue;
        }
        if (body_at == 0) {
            /* The template's head, then <body> right inside <html>. */
            if (strcmp(tag, "body") == 0) {
                if (depth != 1)
                    abort();
                body_at = i;
            } else if (!in_list(tag, HEAD_ELEMS)) {
                abort();
            } else {
                n_head++;
            }
        } else if (in_list(tag, FORBIDDEN_ELEMS)) {
            abort();
        }
        n_h1 += strcmp(tag, "h1") == 0;
        if (strcmp(tag, "footer") == 0)
            footer_depth = depth;
        while (i < n && o[i] == ' ') {
            const uint8_t *v, *q;
            i++;
            read_name(o, n, &i, attr);
            if (n - i < 2 || o[i] != '=' || o[i + 1] != '"')
                abort();
            i += 2;
            v = o + i;
            q = memchr(v, '"', n - i);
            if (q == NULL || memchr(v, '<', (size_t)(q - v)) != NULL ||
                memchr(v, '>', (size_t)(q - v)) != NULL)
                abort();
            if (body_at != 0)
                check_attr(tag, attr, v, (size_t)(q - v), tmp, tmp2);
            i = (size_t)(q - o) + 1;
        }
        if (i >= n || o[i++] != '>')
            abort();
        int tag_ns = child_ns(open, ns, depth, tag);
        if (tag_ns != NS_HTML || !in_list(tag, VOID_ELEMS)) {
            if (depth == MAX_OPEN)
                abort();
            ns[depth] = tag_ns;
            snprintf(open[depth++], NAME_CAP, "%s", tag);
        }
    }
    /* html, head, title, style once, meta five times; one h1; the CSP in the
     * head; everything closed; the page's footer (its last) in html > body >
     * main > article. */
    if (depth != 0 || body_at == 0 || n_head != 4 + N_META || n_h1 != 1 ||
        !has(o, body_at, CSP_META) || footer_depth != 4)
        abort();
    free(tmp2);
    free(tmp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sz_str field[N_FIELDS] = {{NULL, 0}}, s, piece;
    struct sz_article a, t;
    struct sz_attachment atts[MAX_ATTS];
    struct sz_str authors[MAX_AUTHORS];
    char stored[MAX_ATTS][STORED_CAP];
    const char *att_files[MAX_ATTS];
    const char *name = NULL;
    struct kept kept = {{NULL}, 0};
    uint8_t ctl, *body;
    size_t meta = 0, body_max;
    struct sz_wr w;

    if (size < 2)
        return 0;
    ctl = data[0];
    s = (struct sz_str){(const char *)data + 1, size - 1};
    for (size_t f = 0; f < N_FIELDS && next_piece(&s, '\0', &piece); f++)
        field[f] = piece;
    if (field[F_BODY].len == 0)
        return 0;

    /* The body, with what is not UTF-8 as '?'; both readers of UTF-8 agree. */
    s = keep(&kept, field[F_BODY].p, field[F_BODY].len, field[F_BODY].len + 2);
    body = (uint8_t *)s.p;
    if (utf8_ok(body, s.len) != sz_utf8_valid(body, s.len))
        abort();
    for (size_t k = 0, m; k < s.len; k += m)
        if ((m = utf8_seq(body + k, s.len - k)) == 0) {
            body[k] = '?';
            m = 1;
        }

    base_article(&a);
    a.ctype = (ctl & 3) == 1 ? SZ_CTYPE_HTML : (ctl & 3) == 2 ? SZ_CTYPE_PLAIN : SZ_CTYPE_MARKDOWN;
    a.published = times[(ctl >> 4) & 3];
    a.body = body;
    a.body_len = s.len;
    /* Each field is tried on an otherwise valid article: kept when it passes. */
    t = a;
    t.title = (ctl & 8) != 0 ? title_of_body(body, s.len) : field[F_TITLE];
    if (sz_article_check(&t) == 0)
        a.title = keep(&kept, t.title.p, t.title.len, t.title.len);
    t = a;
    t.lang = field[F_LANG];
    if (sz_article_check(&t) == 0)
        a.lang = keep(&kept, t.lang.p, t.lang.len, t.lang.len);
    t = a;
    t.url = field[F_URL];
    if (sz_article_check(&t) == 0)
        a.url = keep(&kept, t.url.p, t.url.len, t.url.len);
    a.authors = authors;
    s = field[F_AUTHORS];
    while (a.n_authors < MAX_AUTHORS && next_piece(&s, '\n', &piece)) {
        t = a;
        authors[t.n_authors++] = piece;
        if (sz_article_check(&t) == 0)
            authors[a.n_authors++] = keep(&kept, piece.p, piece.len, piece.len);
    }
    a.atts = atts;
    s = field[F_ATTS];
    while (a.n_atts < MAX_ATTS && next_piece(&s, '\n', &piece)) {
        struct sz_attachment *at = &atts[a.n_atts];
        struct sz_str word = {NULL, 0};
        size_t len = 0;
        memset(at, 0, sizeof *at);
        (void)next_piece(&piece, ' ', &at->name);
        (void)next_piece(&piece, ' ', &at->media_type);
        if (next_piece(&piece, ' ', &word))
            for (size_t k = 0; k < word.len && word.p[k] >= '0' && word.p[k] <= '9'; k++)
                len = (len * 10 + (size_t)(word.p[k] - '0')) % sizeof att_data;
        at->data = att_data;
        at->data_len = len > 0 ? len : 1;
        t = a;
        t.n_atts++;
        if (sz_article_check(&t) != 0)
            continue;
        at->name = keep(&kept, at->name.p, at->name.len, at->name.len);
        at->media_type = keep(&kept, at->media_type.p, at->media_type.len, at->media_type.len);
        stored_name(at->name, stored, a.n_atts);
        att_files[a.n_atts] = stored[a.n_atts];
        a.n_atts++;
    }
    if ((ctl & 0x40) != 0 && field[F_NAME].len > 0 && field[F_NAME].len <= LIBRARY_NAME_MAX &&
        sz_utf8_valid((const uint8_t *)field[F_NAME].p, field[F_NAME].len)) {
        name = keep(&kept, field[F_NAME].p, field[F_NAME].len, field[F_NAME].len + 1).p;
    }
    /* As every article of an opened bundle. */
    if (sz_article_check(&a) != 0)
        abort();
    /* In a decoded container the attachment count follows the body. */
    body[a.body_len] = (uint8_t)(a.n_atts & 0xff);
    body[a.body_len + 1] = (uint8_t)(a.n_atts >> 8);

    struct render_page pg = {
        .a = &a,
        .publisher = publisher,
        .publisher_name = name,
        .sequence = (ctl & 0x80) != 0 ? UINT64_MAX : 7,
        .created = times[0],
        .bundle_id = bundle_id,
        .att_files = att_files,
        .equivocated = (ctl & 4) != 0,
    };
    sz_wr_init(&w, PAGE_MAX);
    render_article(&w, &pg);
    if (sz_wr_status(&w) != 0)
        abort();

    /* The body: at most what the sanitizer writes for what it is given (of
     * Markdown, what md4c may write), or the body escaped as text (5 bytes a
     * byte at most). Every field appears a few times, escaped (6 bytes a byte
     * at most). */
    if (a.ctype == SZ_CTYPE_MARKDOWN)
        body_max = SAN_OUT_FACTOR * (MD_OUT_BASE + 2 * a.body_len) + SAN_OUT_BASE;
    else if (a.ctype == SZ_CTYPE_HTML)
        body_max = SAN_OUT_FACTOR * a.body_len + SAN_OUT_BASE;
    else
        body_max = 5 * a.body_len;
    meta = a.title.len + a.lang.len + a.url.len + (name != NULL ? strlen(name) : 0);
    for (size_t k = 0; k < a.n_authors; k++)
        meta += a.authors[k].len;
    for (size_t k = 0; k < a.n_atts; k++)
        meta += a.atts[k].name.len + a.atts[k].media_type.len;
    check_page(w.p, w.len, PAGE_FIXED + 32 * meta + ATT_FIXED * a.n_atts + body_max);
    sz_wr_free(&w, false);
    kept_free(&kept);
    return 0;
}
