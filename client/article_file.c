/* Article files in: front matter (YAML, via libyaml) and body, to struct sz_article. */
#include "article_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "md.h"
#include "render_sanitize.h"
#include "samizdat/common.h"

#define FRONT_MATTER_MAX_LEN (64u * 1024)

static void set_err(char *err, size_t err_cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t err_cap, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err_cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
    /* The reason is one line: values quoted from the file may hold control characters. */
    for (char *q = err; *q != '\0'; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            *q = '?';
}

/* Keeps a copy of n bytes (NUL-terminated) owned by f. */
static char *
own(struct article_file *f, const char *s, size_t n)
{
    char **v;
    char *p = malloc(n + 1);

    if (p == NULL)
        return NULL;
    v = realloc(f->owned, (f->n_owned + 1) * sizeof *v);
    if (v == NULL) {
        free(p);
        return NULL;
    }
    f->owned = v;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    f->owned[f->n_owned++] = p;
    return p;
}

static int
own_str(struct article_file *f, const char *s, size_t n, struct sz_str *out)
{
    char *p = own(f, s, n);

    if (p == NULL)
        return -SZ_ENOMEM;
    out->p = p;
    out->len = n;
    return 0;
}

void
article_file_free(struct article_file *f)
{
    size_t i;

    if (f == NULL)
        return;
    for (i = 0; i < f->n_owned; i++)
        free(f->owned[i]);
    free(f->owned);
    free(f->a.authors);
    free(f->att_paths);
    free(f);
}

const char *
article_file_media_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } map[] = {
        {".png", "image/png"},       {".jpg", "image/jpeg"},  {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},       {".webp", "image/webp"}, {".avif", "image/avif"},
        {".pdf", "application/pdf"},
    };
    const char *dot = strrchr(name, '.');
    size_t i;

    if (dot == NULL)
        return NULL;
    for (i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(dot, map[i].ext) == 0)
            return map[i].type;
    return NULL;
}

bool
article_file_content_matches(const char *type, const uint8_t *data, size_t len)
{
    if (strcmp(type, "image/png") == 0)
        return len >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0;
    if (strcmp(type, "image/jpeg") == 0)
        return len >= 3 && memcmp(data, "\xff\xd8\xff", 3) == 0;
    if (strcmp(type, "image/gif") == 0)
        return len >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0);
    if (strcmp(type, "image/webp") == 0)
        return len >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0;
    if (strcmp(type, "image/avif") == 0) /* an ISO media file: its first box is "ftyp" */
        return len >= 12 && memcmp(data + 4, "ftyp", 4) == 0;
    if (strcmp(type, "application/pdf") == 0) { /* readers accept "%PDF-" in the first 1024 bytes */
        for (size_t i = 0; i + 5 <= len && i < 1024; i++)
            if (memcmp(data + i, "%PDF-", 5) == 0)
                return true;
        return false;
    }
    return true;
}

/* The part of a path after its last '/'. */
static const char *
base_name(const char *path)
{
    const char *s = strrchr(path, '/');

    return s != NULL ? s + 1 : path;
}

static bool
is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Finds the end of the line starting at i (index of '\n' or len). */
static size_t
line_end(const uint8_t *buf, size_t len, size_t i)
{
    while (i < len && buf[i] != '\n')
        i++;
    return i;
}

/* True when buf[s..e) is exactly `mark`, ignoring a trailing '\r' and blanks. */
static bool
line_is(const uint8_t *buf, size_t s, size_t e, const char *mark)
{
    size_t n = strlen(mark);

    while (e > s && is_ws((char)buf[e - 1]))
        e--;
    return e - s == n && memcmp(buf + s, mark, n) == 0;
}

/*
 * Adds a title built from text: white space runs (a no-break space too)
 * collapse to one space, the result is trimmed, and beyond DERIVED_TITLE_MAX
 * characters cut after a word with an ellipsis (at most SZ_MAX_TITLE_LEN
 * bytes); a character cut short at the end of s is left out.
 * Returns 0, 1 when no text is left (the caller looks further), or an error.
 */
#define DERIVED_TITLE_MAX 150 /* characters of a title taken from the text */

/* The code point at s[i] of s[0..n) (a stray byte is itself). */
static uint32_t
cp_at(const char *s, size_t n, size_t i)
{
    const unsigned char *u = (const unsigned char *)s + i;
    size_t left = n - i;

    if (left >= 4 && u[0] >= 0xf0 && (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80 &&
        (u[3] & 0xc0) == 0x80)
        return (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3f) << 12 |
               (uint32_t)(u[2] & 0x3f) << 6 | (u[3] & 0x3f);
    if (left >= 3 && u[0] >= 0xe0 && (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80)
        return (uint32_t)(u[0] & 0x0f) << 12 | (uint32_t)(u[1] & 0x3f) << 6 | (u[2] & 0x3f);
    if (left >= 2 && u[0] >= 0xc0 && (u[1] & 0xc0) == 0x80)
        return (uint32_t)(u[0] & 0x1f) << 6 | (u[1] & 0x3f);
    return u[0];
}

/* The start of the character before position i > 0 of s. */
static size_t
cp_before(const char *s, size_t i)
{
    size_t k = i - 1;

    while (k > 0 && i - k < 4 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--;
    return k;
}

/*
 * Whether cp only extends the character before it (a combining mark, a
 * vowel sign, a joiner, a variation selector, a skin tone), so that a cut
 * before it would split what a reader sees as one letter or picture. The
 * blocks of the scripts articles are written in, not all of Unicode; the
 * Indic blocks from Devanagari to Malayalam share one layout of their signs.
 */
static bool
cp_extends(uint32_t cp)
{
    static const uint32_t r[][2] = {
        {0x0300, 0x036f},
        {0x0483, 0x0489},
        {0x0591, 0x05bd},
        {0x05bf, 0x05bf},
        {0x05c1, 0x05c2},
        {0x05c4, 0x05c5},
        {0x05c7, 0x05c7},
        {0x0610, 0x061a},
        {0x064b, 0x065f},
        {0x0670, 0x0670},
        {0x06d6, 0x06dc},
        {0x06df, 0x06e4},
        {0x06e7, 0x06e8},
        {0x06ea, 0x06ed},
        {0x0e31, 0x0e31},
        {0x0e34, 0x0e3a},
        {0x0e47, 0x0e4e},
        {0x0eb1, 0x0eb1},
        {0x0eb4, 0x0ebc},
        {0x0ec8, 0x0ecd},
        /* Sinhala */
        {0x0dca, 0x0dca},
        {0x0dcf, 0x0ddf},
        {0x0df2, 0x0df3},
        /* Tibetan */
        {0x0f18, 0x0f19},
        {0x0f35, 0x0f35},
        {0x0f37, 0x0f37},
        {0x0f39, 0x0f39},
        {0x0f3e, 0x0f3f},
        {0x0f71, 0x0f84},
        {0x0f86, 0x0f87},
        {0x0f8d, 0x0fbc},
        {0x0fc6, 0x0fc6},
        /* Myanmar */
        {0x102b, 0x103e},
        {0x1056, 0x1059},
        {0x105e, 0x1060},
        {0x1062, 0x1064},
        {0x1067, 0x106d},
        {0x1071, 0x1074},
        {0x1082, 0x108d},
        {0x108f, 0x108f},
        {0x109a, 0x109d},
        /* Khmer */
        {0x17b4, 0x17d3},
        {0x17dd, 0x17dd},
        {0x1ab0, 0x1aff},
        {0x1dc0, 0x1dff},
        {0x200c, 0x200d},
        {0x20d0, 0x20ff},
        {0xfe00, 0xfe0f},
        {0xfe20, 0xfe2f},
        {0x1f3fb, 0x1f3ff},
        {0xe0020, 0xe007f},
        {0xe0100, 0xe01ef},
    };

    if (cp >= 0x0900 && cp <= 0x0d7f) { /* Devanagari to Malayalam; not Sinhala */
        uint32_t c = cp & 0x7f;
        return c <= 0x03 || c == 0x3c || (c >= 0x3e && c <= 0x4d) || (c >= 0x55 && c <= 0x57) ||
               (c >= 0x62 && c <= 0x63);
    }
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (cp >= r[i][0] && cp <= r[i][1])
            return true;
    return false;
}

/* Whether cp is a regional indicator (two make a flag). */
static bool
cp_regional(uint32_t cp)
{
    return cp >= 0x1f1e6 && cp <= 0x1f1ff;
}

/*
 * Moves a cut at position cut < n of t[0..n) (the start of a character) back
 * to where a reader sees one character end: not before a combining mark or
 * after a joiner, not between the two halves of a flag.
 */
static size_t
cut_at_cluster(const char *t, size_t n, size_t cut)
{
    size_t n_ri = 0, k;

    while (cut > 0) {
        size_t prev = cp_before(t, cut);
        if (!cp_extends(cp_at(t, n, cut)) && cp_at(t, n, prev) != 0x200d)
            break;
        cut = prev;
    }
    if (cut > 0 && cp_regional(cp_at(t, n, cut))) {
        for (k = cut; k > 0 && cp_regional(cp_at(t, n, cp_before(t, k))); k = cp_before(t, k))
            n_ri++;
        if (n_ri % 2 == 1)
            cut = cp_before(t, cut);
    }
    return cut;
}

static int
set_derived_title(struct article_file *f, const char *s, size_t n)
{
    char *t;
    size_t i, o = 0;
    bool space = false;
    int rc;

    /* The start of the last character, and whether all its bytes are there. */
    for (i = n; i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && n - i < 3; i--)
        ;
    if (i > 0 && (unsigned char)s[i - 1] >= 0xc0) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
        if (n - (i - 1) < need)
            n = i - 1;
    }
    t = malloc(n + 4);
    if (t == NULL)
        return -SZ_ENOMEM;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] == 0xa0) {
            space = o > 0;
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f || c == ' ') {
            space = o > 0;
            continue;
        }
        if (space)
            t[o++] = ' ';
        space = false;
        t[o++] = (char)c;
    }
    /*
     * A title taken from a paragraph is a heading, not the paragraph: past
     * DERIVED_TITLE_MAX characters it ends after a word, with an ellipsis
     * (a page's heading, the index's entry and the window's title).
     */
    {
        size_t chars = 0, cut = o;
        for (i = 0; i < o; i++)
            if (((unsigned char)t[i] & 0xc0) != 0x80 && ++chars > DERIVED_TITLE_MAX) {
                cut = i;
                break;
            }
        if (cut < o) {
            size_t sp = cut;
            while (sp > 0 && t[sp] != ' ')
                sp--;
            if (sp > cut / 2) {
                cut = sp;
            } else {
                /* Not back past half of it (a letter with hundreds of marks). */
                size_t c = cut_at_cluster(t, o, cut);
                if (c > cut / 2)
                    cut = c;
            }
            while (cut > 0 && (t[cut - 1] == ' ' || t[cut - 1] == ',' || t[cut - 1] == ';' ||
                               t[cut - 1] == ':' || t[cut - 1] == '-'))
                cut--;
            memcpy(t + cut, "\xe2\x80\xa6", 3); /* U+2026 */
            o = cut + 3;
        }
    }
    if (o > SZ_MAX_TITLE_LEN) {
        o = SZ_MAX_TITLE_LEN;
        while (o > 0 && ((unsigned char)t[o] & 0xc0) == 0x80)
            o--;
    }
    rc = o == 0 ? 1 : own_str(f, t, o, &f->a.title);
    free(t);
    return rc;
}

/* Case-insensitive search for needle in hay[0..n). */
static const char *
find_ci(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle), i;

    for (i = 0; i + m <= n; i++)
        if (strncasecmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

/* True when s[0..n) starts with the start tag "<name" (then '>', '/' or white space). */
static bool
is_start_tag(const char *s, size_t n, const char *name)
{
    size_t m = strlen(name);
    return n > m + 1 && s[0] == '<' && strncasecmp(s + 1, name, m) == 0 &&
           (s[m + 1] == '>' || s[m + 1] == '/' || is_ws(s[m + 1]));
}

/*
 * The first start tag <name> of s[0..n) outside comments, or NULL; the search
 * ends at any start tag of `stops` (NULL-terminated): a <title> counts only
 * in the page's head, not in an <svg> picture of the body.
 */
static const char *
find_start_tag(const char *s, size_t n, const char *name, const char *const *stops)
{
    size_t i = 0;

    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (lt == NULL)
            return NULL;
        i = (size_t)(lt - s);
        if (n - i >= 4 && memcmp(lt, "<!--", 4) == 0) {
            const char *end = find_ci(lt + 4, n - i - 4, "-->");
            if (end == NULL)
                return NULL;
            i = (size_t)(end - s) + 3;
            continue;
        }
        if (is_start_tag(lt, n - i, name))
            return lt;
        for (size_t k = 0; stops != NULL && stops[k] != NULL; k++)
            if (is_start_tag(lt, n - i, stops[k]))
                return NULL;
        i++;
    }
    return NULL;
}

static bool inline_tag(const char *s, size_t n);

/*
 * Text between <tag ...> and </tag>, character references read. Tags are
 * removed, those that break a line of text (<br>, <p>) leaving a space; a
 * <title> holds text only, its '<' and '>' among it.
 */
static int
html_element_text(struct article_file *f, const char *s, size_t n, const char *name,
                  const char *close, const char *const *stops)
{
    const char *a = find_start_tag(s, n, name, stops), *gt, *b;
    char *t;
    size_t i, o = 0, len;
    bool in_tag = false, text_only = strcmp(name, "title") == 0;
    int rc;

    if (a == NULL)
        return 1;
    gt = memchr(a, '>', n - (size_t)(a - s));
    if (gt == NULL)
        return 1;
    gt++;
    b = find_ci(gt, n - (size_t)(gt - s), close);
    if (b == NULL)
        return 1;
    len = (size_t)(b - gt);
    t = malloc(len + 1);
    if (t == NULL)
        return -SZ_ENOMEM;
    for (i = 0; i < len; i++) {
        if (text_only) {
            t[o++] = gt[i];
        } else if (gt[i] == '<' && !in_tag) {
            in_tag = true;
            if (!inline_tag(gt + i, len - i))
                t[o++] = ' ';
        } else if (gt[i] == '>') {
            in_tag = false;
        } else if (!in_tag) {
            t[o++] = gt[i];
        }
    }
    o = render_decode_refs((const uint8_t *)t, o, (uint8_t *)t);
    rc = set_derived_title(f, t, o); /* 1 when only white space is left */
    free(t);
    return rc;
}

/* True when the tag at s[0..n) ("<name" or "</name") is one that stays inside a line of text. */
static bool
inline_tag(const char *s, size_t n)
{
    static const char *const names[] = {
        "a",   "abbr", "b",    "bdi", "bdo", "big",  "cite",  "code",   "data", "del",
        "dfn", "em",   "font", "i",   "img", "ins",  "kbd",   "label",  "mark", "picture",
        "q",   "ruby", "rp",   "rt",  "s",   "samp", "small", "source", "span", "strong",
        "sub", "sup",  "time", "tt",  "u",   "var",  "wbr",   NULL};
    size_t k = 1;
    if (k < n && s[k] == '/')
        k++;
    for (size_t i = 0; names[i] != NULL; i++) {
        size_t m = strlen(names[i]);
        if (n - k > m && strncasecmp(s + k, names[i], m) == 0 &&
            (s[k + m] == '>' || s[k + m] == '/' || is_ws(s[k + m])))
            return true;
    }
    return false;
}

/*
 * The title of an HTML body with no <title> and no heading: its first text,
 * up to the first tag that ends a line of text (comments, <script> and
 * <style> skipped). Returns 0 when set, 1 when there is no text.
 */
static int
html_first_text(struct article_file *f, const char *s, size_t n)
{
    char *t = malloc(SZ_MAX_TITLE_LEN * 4 + 1);
    size_t i = 0, o = 0, cap = SZ_MAX_TITLE_LEN * 4;
    bool text = false;
    int rc = 1;

    if (t == NULL)
        return -SZ_ENOMEM;
    while (i < n && o < cap) {
        if (s[i] != '<') {
            if (!is_ws(s[i]))
                text = true;
            t[o++] = text ? s[i] : ' ';
            i++;
            continue;
        }
        const char *end = NULL;
        if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0)
            end = find_ci(s + i + 4, n - i - 4, "-->");
        else if (is_start_tag(s + i, n - i, "script"))
            end = find_ci(s + i, n - i, "</script");
        else if (is_start_tag(s + i, n - i, "style"))
            end = find_ci(s + i, n - i, "</style");
        if (end == NULL) {
            if (text && !inline_tag(s + i, n - i))
                break;
            end = s + i;
        }
        const char *gt = memchr(end, '>', n - (size_t)(end - s));
        if (gt == NULL)
            break;
        i = (size_t)(gt - s) + 1;
    }
    o = render_decode_refs((const uint8_t *)t, o, (uint8_t *)t);
    rc = set_derived_title(f, t, o); /* 1 when only white space is left */
    free(t);
    return rc;
}

/*
 * The title of HTML s[0..n) past its <title>: the text of its first <h1>, or
 * of its first heading of a lower level (a fragment, a content export, may
 * start at one), or its first text. Returns 0 when set, 1 when there is no
 * text.
 */
static int
html_body_title(struct article_file *f, const char *s, size_t n)
{
    static const char *const names[] = {"h2", "h3", "h4", "h5", "h6"};
    static const char *const closes[] = {"</h2", "</h3", "</h4", "</h5", "</h6"};
    const char *first = NULL;
    size_t which = 0;
    int rc = html_element_text(f, s, n, "h1", "</h1", NULL);

    if (rc <= 0)
        return rc;
    for (size_t k = 0; k < 5; k++) {
        const char *at = find_start_tag(s, n, names[k], NULL);
        if (at != NULL && (first == NULL || at < first)) {
            first = at;
            which = k;
        }
    }
    if (first != NULL) {
        rc =
            html_element_text(f, first, n - (size_t)(first - s), names[which], closes[which], NULL);
        if (rc <= 0)
            return rc;
    }
    return html_first_text(f, s, n);
}

/* Title when the front matter gives none (DESIGN.md "Articles in"). */
/*
 * The title of a Markdown body, as md4c reads it and the page shows it: the
 * text of the first heading or paragraph (of a paragraph its first line),
 * without the markup (emphasis, links, code spans, inline raw HTML such as
 * <sup> or <span>: their text stays; pictures, HTML comments and the content
 * of a raw <script> or <style> do not count; a raw tag that breaks a line,
 * <br> or <p>, ends a paragraph's first line as a line break does). An HTML
 * block (raw HTML standing as a block, shown as markup) is taken as an HTML
 * body is, past its <title>: when it is the first block with text, the
 * title is its first <h1>, or its first heading of a lower level, or its
 * first text; so a body that opens with <h1>Title</h1> or with a <div>
 * around one is titled as the page shows it, and its page leaves that
 * heading out under the title as for an HTML body (render.c). An HTML block
 * without text (a comment, a script, a picture alone) is passed over. Code
 * blocks and tables are not text to take a title from. Only the first
 * MD_TITLE_SCAN bytes are read.
 */
#define MD_TITLE_SCAN (64 * 1024)

struct md_title {
    struct article_file *f;
    char *buf;
    size_t len, cap;
    int skip;       /* inside a code block, a table, or an HTML block in the leaf */
    int img;        /* inside a picture: its alt text is not the title */
    int depth;      /* blocks entered and not left */
    int leaf_depth; /* the depth of the block the text is taken from */
    int rc;         /* 1, or what html_body_title() returned for an HTML block */
    bool leaf;      /* inside a heading, a paragraph or a list item */
    bool heading;   /* ... a heading */
    bool html;      /* inside an HTML block read as HTML: buf holds its source */
    bool hidden;    /* inside a raw <script> or <style> in the leaf */
    bool text;      /* text seen in it outside pictures */
    bool line_done; /* a paragraph's first line has ended */
    bool done;      /* the title is buf[0..len), or rc <= 0: the rest is not looked at */
};

static void
md_title_add(struct md_title *t, const char *p, size_t n)
{
    if (n > t->cap - t->len)
        n = t->cap - t->len; /* not expected: a block's text is not longer than its source */
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static int
md_title_enter_block(MD_BLOCKTYPE type, void *detail, void *ud)
{
    struct md_title *t = ud;

    (void)detail;
    if (t->done)
        return 0;
    if (t->skip > 0 || type == MD_BLOCK_CODE || type == MD_BLOCK_TABLE ||
        (type == MD_BLOCK_HTML && t->leaf)) {
        t->skip++;
        return 0;
    }
    t->depth++;
    if (type == MD_BLOCK_HTML) {
        t->html = true;
        t->len = 0;
        return 0;
    }
    if (t->leaf) {
        /* A block inside the one read (a list in an item): its first line ended. */
        if (t->text)
            t->line_done = true;
        return 0;
    }
    /* A tight list's items hold their text with no paragraph. */
    if (type == MD_BLOCK_H || type == MD_BLOCK_P || type == MD_BLOCK_LI) {
        t->leaf = true;
        t->leaf_depth = t->depth;
        t->heading = type == MD_BLOCK_H;
        t->text = t->line_done = t->hidden = false;
        t->len = 0;
    }
    return 0;
}

static int
md_title_leave_block(MD_BLOCKTYPE type, void *detail, void *ud)
{
    struct md_title *t = ud;

    (void)detail;
    if (t->done)
        return 0;
    if (t->skip > 0) {
        t->skip--;
        return 0;
    }
    if (t->html) {
        /* An HTML block holds no other block: this one ends. */
        t->html = false;
        t->depth--;
        t->rc = html_body_title(t->f, t->buf, t->len);
        t->done = t->rc <= 0;
        t->len = 0;
        return 0;
    }
    (void)type;
    if (t->leaf && t->depth == t->leaf_depth) {
        t->leaf = false;
        for (size_t i = 0; i < t->len && !t->done; i++)
            t->done = !is_ws(t->buf[i]);
        if (!t->done)
            t->len = 0;
    }
    t->depth--;
    /* Going on to the end: md4c 0.4.8 does not stop when leave_block() says so. */
    return 0;
}

static int
md_title_enter_span(MD_SPANTYPE type, void *detail, void *ud)
{
    struct md_title *t = ud;

    (void)detail;
    if (type == MD_SPAN_IMG)
        t->img++;
    return 0;
}

static int
md_title_leave_span(MD_SPANTYPE type, void *detail, void *ud)
{
    struct md_title *t = ud;

    (void)detail;
    if (type == MD_SPAN_IMG)
        t->img--;
    return 0;
}

/* Raw HTML p[0..n) (one tag, comment, ...) in the text of the leaf. */
static void
md_title_raw(struct md_title *t, const char *p, size_t n)
{
    if (is_start_tag(p, n, "script") || is_start_tag(p, n, "style")) {
        t->hidden = true;
    } else if (is_start_tag(p, n, "/script") || is_start_tag(p, n, "/style")) {
        t->hidden = false;
    } else if (!t->hidden && n > 1 && p[1] != '!' && p[1] != '?' && !inline_tag(p, n)) {
        /* A tag that breaks the line (<br>, <p>, <div>), read as a line break. */
        if (!t->heading && t->text)
            t->line_done = true;
        else
            md_title_add(t, " ", 1);
    }
}

static int
md_title_text(MD_TEXTTYPE type, const MD_CHAR *p, MD_SIZE n, void *ud)
{
    struct md_title *t = ud;
    size_t at = t->len;

    if (t->html) {
        if (type == MD_TEXT_HTML)
            md_title_add(t, p, n);
        return 0;
    }
    if (!t->leaf || t->skip > 0 || t->img > 0 || t->line_done)
        return 0;
    if (type == MD_TEXT_HTML) {
        md_title_raw(t, p, n);
        return 0;
    }
    if (t->hidden)
        return 0;
    switch (type) {
    case MD_TEXT_NORMAL:
    case MD_TEXT_CODE:
        md_title_add(t, p, n);
        t->text = true;
        break;
    case MD_TEXT_ENTITY:
        md_title_add(t, p, n);
        t->len = at + render_decode_refs((const uint8_t *)t->buf + at, t->len - at,
                                         (uint8_t *)t->buf + at);
        t->text = true;
        break;
    case MD_TEXT_BR:
    case MD_TEXT_SOFTBR:
        /* A paragraph's title is its first line with text (not a picture's). */
        if (!t->heading && t->text)
            t->line_done = true;
        else
            md_title_add(t, " ", 1);
        break;
    default: /* a NUL */
        break;
    }
    return 0;
}

static int
md_derive_title(struct article_file *f)
{
    const char *s = (const char *)f->a.body;
    size_t n = f->a.body_len < MD_TITLE_SCAN ? f->a.body_len : MD_TITLE_SCAN;
    struct md_title t = {0};
    MD_PARSER parser = {0};
    int rc = 1;

    t.f = f;
    t.rc = 1;
    /* The text of a block is never longer than its source (a line's end
     * becomes one space). */
    t.cap = n + 1;
    t.buf = malloc(t.cap);
    if (t.buf == NULL)
        return -SZ_ENOMEM;
    parser.flags = MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH;
    parser.enter_block = md_title_enter_block;
    parser.leave_block = md_title_leave_block;
    parser.enter_span = md_title_enter_span;
    parser.leave_span = md_title_leave_span;
    parser.text = md_title_text;
    if (md_lazy_parse(s, (MD_SIZE)n, &parser, &t) == 0 && t.done)
        rc = t.rc <= 0 ? t.rc : set_derived_title(f, t.buf, t.len);
    free(t.buf);
    return rc;
}

/*
 * The language an HTML body declares (<html lang="he">), for an article whose
 * front matter gives none: the page then marks it so, and sets a right-to-left
 * language's direction. A value that is no language tag is left out.
 */
static int
html_lang(struct article_file *f)
{
    static const char *const stops[] = {"head", "body", "title", NULL};
    const char *s = (const char *)f->a.body;
    size_t n = f->a.body_len;
    const char *tag = find_start_tag(s, n, "html", stops), *end;

    if (tag == NULL || (end = memchr(tag, '>', n - (size_t)(tag - s))) == NULL)
        return 0;
    for (const char *p = tag + 5; p + 4 < end; p++) {
        if (!is_ws(p[-1]) || strncasecmp(p, "lang", 4) != 0)
            continue;
        const char *q = p + 4, *v, *ve;
        while (q < end && is_ws(*q))
            q++;
        if (q >= end || *q != '=')
            continue;
        q++;
        while (q < end && is_ws(*q))
            q++;
        if (q < end && (*q == '"' || *q == '\'')) {
            v = q + 1;
            ve = memchr(v, *q, (size_t)(end - v));
            if (ve == NULL)
                return 0;
        } else {
            v = q;
            for (ve = v; ve < end && !is_ws(*ve); ve++)
                ;
        }
        /* Checked alone, in a minimal valid article. */
        struct sz_article probe;
        memset(&probe, 0, sizeof probe);
        probe.id = (struct sz_str){"a", 1};
        probe.title = (struct sz_str){"t", 1};
        probe.ctype = SZ_CTYPE_HTML;
        probe.body = (const uint8_t *)"b";
        probe.body_len = 1;
        probe.lang = (struct sz_str){v, (size_t)(ve - v)};
        if (ve == v || sz_article_check(&probe) != 0)
            return 0;
        return own_str(f, v, (size_t)(ve - v), &f->a.lang);
    }
    return 0;
}

static int
derive_title(struct article_file *f)
{
    const char *s = (const char *)f->a.body;
    size_t n = f->a.body_len, i = 0;
    int rc;

    if (f->a.ctype == SZ_CTYPE_HTML) {
        static const char *const head_ends[] = {"body", "svg", "math", NULL};
        rc = html_element_text(f, s, n, "title", "</title", head_ends);
        if (rc <= 0)
            return rc;
        return html_body_title(f, s, n);
    }
    if (f->a.ctype == SZ_CTYPE_MARKDOWN)
        return md_derive_title(f);
    /* Plain text: the first line with text. */
    while (i < n) {
        size_t e = line_end((const uint8_t *)s, n, i), a = i;
        while (a < e && is_ws(s[a]))
            a++;
        if (a < e)
            return set_derived_title(f, s + a, e - a);
        i = e + 1;
    }
    return 1;
}

static const char *
scalar_of(yaml_document_t *doc, yaml_node_t *node, size_t *len)
{
    if (node == NULL || node->type != YAML_SCALAR_NODE)
        return NULL;
    (void)doc;
    *len = node->data.scalar.length;
    return (const char *)node->data.scalar.value;
}

/* A scalar or a list of scalars, as a list. */
static int
string_list(struct article_file *f, yaml_document_t *doc, yaml_node_t *v, const char *key,
            struct sz_str **out, size_t *n_out, char *err, size_t err_cap)
{
    struct sz_str *list = NULL;
    size_t n = 0, cap, len = 0;
    const char *s;
    yaml_node_item_t *it;

    if (v->type == YAML_SCALAR_NODE) {
        cap = 1;
    } else if (v->type == YAML_SEQUENCE_NODE) {
        cap = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    } else {
        set_err(err, err_cap, "front matter: '%s' must be a string or a list of strings", key);
        return -SZ_EINVAL;
    }
    if (cap > SZ_MAX_ATTACHMENTS) {
        set_err(err, err_cap, "front matter: '%s' has more than %d entries", key,
                SZ_MAX_ATTACHMENTS);
        return -SZ_ETOOBIG;
    }
    if (cap == 0)
        goto done;
    list = calloc(cap, sizeof *list);
    if (list == NULL)
        return -SZ_ENOMEM;
    if (v->type == YAML_SCALAR_NODE) {
        s = scalar_of(doc, v, &len);
        if (own_str(f, s, len, &list[n++]) != 0)
            goto nomem;
    } else {
        for (it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            s = scalar_of(doc, yaml_document_get_node(doc, *it), &len);
            if (s == NULL) {
                set_err(err, err_cap, "front matter: every entry of '%s' must be a string", key);
                free(list);
                return -SZ_EINVAL;
            }
            if (own_str(f, s, len, &list[n++]) != 0)
                goto nomem;
        }
    }
done:
    *out = list;
    *n_out = n;
    return 0;
nomem:
    free(list);
    return -SZ_ENOMEM;
}

static bool
key_is(const char *k, size_t klen, const char *name)
{
    /* As Hugo reads them: "Title:" is "title:". */
    return klen == strlen(name) && strncasecmp(k, name, klen) == 0;
}

/* Reads 1 to max digits at v[*i] into *out; returns how many it read. */
static size_t
rd_num(const char *v, size_t vlen, size_t *i, size_t max, unsigned *out)
{
    size_t n = 0;

    *out = 0;
    while (n < max && *i < vlen && v[*i] >= '0' && v[*i] <= '9') {
        *out = *out * 10 + (unsigned)(v[*i] - '0');
        (*i)++;
        n++;
    }
    return n;
}

static bool
rd_ch(const char *v, size_t vlen, size_t *i, char c)
{
    if (*i < vlen && v[*i] == c) {
        (*i)++;
        return true;
    }
    return false;
}

static void
skip_blanks(const char *v, size_t vlen, size_t *i)
{
    while (*i < vlen && (v[*i] == ' ' || v[*i] == '\t'))
        (*i)++;
}

/*
 * Parses a front-matter date: RFC 3339, or a YAML timestamp as Jekyll and
 * other site generators write one: "2024-08-29 10:00:00 +0300",
 * "2024-8-29 9:00:00.5 -05:00", "2024-08-29 10:00" (seconds may be left out,
 * as Jekyll allows; no zone means UTC, as YAML has it). Returns 0 or
 * -SZ_EINVAL.
 */
static int
front_matter_date(const char *v, size_t vlen, int64_t *out)
{
    unsigned y, mo, d, h, mi, se = 0, oh = 0, om = 0;
    char iso[96], sign = 'Z';
    size_t i = 0, n;

    if (sz_time_parse(v, vlen, out) == 0)
        return 0;
    if (rd_num(v, vlen, &i, 4, &y) != 4 || !rd_ch(v, vlen, &i, '-') ||
        rd_num(v, vlen, &i, 2, &mo) == 0 || !rd_ch(v, vlen, &i, '-') ||
        rd_num(v, vlen, &i, 2, &d) == 0)
        return -SZ_EINVAL;
    if (!rd_ch(v, vlen, &i, 'T') && !rd_ch(v, vlen, &i, 't')) {
        n = i;
        skip_blanks(v, vlen, &i);
        if (i == n)
            return -SZ_EINVAL;
    }
    if (rd_num(v, vlen, &i, 2, &h) == 0 || !rd_ch(v, vlen, &i, ':') ||
        rd_num(v, vlen, &i, 2, &mi) != 2)
        return -SZ_EINVAL;
    if (rd_ch(v, vlen, &i, ':')) {
        if (rd_num(v, vlen, &i, 2, &se) != 2)
            return -SZ_EINVAL;
        if (rd_ch(v, vlen, &i, '.')) { /* a fraction of a second, dropped */
            n = i;
            while (i < vlen && v[i] >= '0' && v[i] <= '9')
                i++;
            if (i == n)
                return -SZ_EINVAL;
        }
    }
    skip_blanks(v, vlen, &i);
    if (rd_ch(v, vlen, &i, 'Z') || rd_ch(v, vlen, &i, 'z')) {
        sign = 'Z';
    } else if (i < vlen && (v[i] == '+' || v[i] == '-')) {
        sign = v[i++];
        n = rd_num(v, vlen, &i, 2, &oh);
        if (n == 0)
            return -SZ_EINVAL;
        if (rd_ch(v, vlen, &i, ':')) {
            if (rd_num(v, vlen, &i, 2, &om) != 2)
                return -SZ_EINVAL;
        } else if (n == 2 && i < vlen && rd_num(v, vlen, &i, 2, &om) != 2) {
            return -SZ_EINVAL;
        }
    }
    if (i != vlen)
        return -SZ_EINVAL;
    if (sign == 'Z')
        snprintf(iso, sizeof iso, "%04u-%02u-%02uT%02u:%02u:%02uZ", y, mo, d, h, mi, se);
    else
        snprintf(iso, sizeof iso, "%04u-%02u-%02uT%02u:%02u:%02u%c%02u:%02u", y, mo, d, h, mi, se,
                 sign, oh, om);
    return sz_time_parse(iso, strlen(iso), out);
}

/* The edit distance between a (an) and b (bn), both at most 31 bytes. */
static size_t
edit_distance(const char *a, size_t an, const char *b, size_t bn)
{
    size_t row[32], i, j;

    for (j = 0; j <= bn; j++)
        row[j] = j;
    for (i = 1; i <= an; i++) {
        size_t diag = row[0], up;
        row[0] = i;
        for (j = 1; j <= bn; j++) {
            up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[bn];
}

/* The front-matter fields, each with its names, as bits of a set. */
static const struct {
    const char *name, *other;
} FIELDS[] = {
    {"title", NULL},       {"date", NULL},        {"id", "slug"},
    {"url", NULL},         {"lang", "language"},  {"summary", "description"},
    {"authors", "author"}, {"attachments", NULL},
};
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

/* The field key k names (N_FIELDS for none). */
static size_t
field_of(const char *k, size_t klen)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (key_is(k, klen, FIELDS[i].name) ||
            (FIELDS[i].other && key_is(k, klen, FIELDS[i].other)))
            return i;
    return N_FIELDS;
}

/* An unknown key: when it is a letter or two from a field's name, f->warning says so. */
static void
warn_near(struct article_file *f, const char *k, size_t klen)
{
    if (f->warning[0] != '\0' || klen < 3 || klen > 31)
        return;
    for (size_t i = 0; i < N_FIELDS; i++) {
        const char *names[2] = {FIELDS[i].name, FIELDS[i].other};
        for (size_t n = 0; n < 2 && names[n] != NULL; n++) {
            size_t len = strlen(names[n]), d = edit_distance(k, klen, names[n], len);
            if (d > 0 && d <= (len > 4 ? 2u : 1u)) {
                snprintf(f->warning, sizeof f->warning,
                         "front matter key '%.*s' is not one samizdat reads: did you mean '%s'?",
                         (int)klen, k, names[n]);
                return;
            }
        }
    }
}

/* True when the scalar node is YAML's null or empty: "key:", "key: ~", "key: null". */
static bool
scalar_is_null(const yaml_node_t *vn)
{
    const char *v = (const char *)vn->data.scalar.value;
    size_t n = vn->data.scalar.length;

    if (vn->type != YAML_SCALAR_NODE)
        return false;
    if (n == 0)
        return true;
    return vn->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           ((n == 1 && v[0] == '~') || (n == 4 && strncasecmp(v, "null", 4) == 0));
}

/* True when the plain scalar v[0..n) is one of the words (case-insensitive). */
static bool
word_in(const char *v, size_t n, const char *const *words)
{
    for (size_t k = 0; words[k] != NULL; k++)
        if (strlen(words[k]) == n && strncasecmp(v, words[k], n) == 0)
            return true;
    return false;
}

/*
 * The keys static-site generators mark a draft with (Hugo's draft: true,
 * Jekyll's published: false, status: draft, private or pending of WordPress
 * and Ghost exports):
 * sets f->draft. Returns true when k is one of them.
 */
static bool
draft_key(struct article_file *f, const char *k, size_t klen, const char *v, size_t vlen)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    static const char *const unfinished[] = {"draft", "private", "pending", NULL};

    bool is_draft = false;

    if (key_is(k, klen, "draft"))
        is_draft = v != NULL && word_in(v, vlen, yes);
    else if (key_is(k, klen, "published"))
        is_draft = v != NULL && word_in(v, vlen, no);
    else if (key_is(k, klen, "status"))
        is_draft = v != NULL && word_in(v, vlen, unfinished);
    else
        return false;
    if (is_draft && !f->draft) {
        f->draft = true;
        /* Both are one of the words above: short, and safe to show. */
        snprintf(f->draft_mark, sizeof f->draft_mark, "%.*s: %.*s", (int)(klen < 20 ? klen : 20), k,
                 (int)(vlen < 20 ? vlen : 20), v);
    }
    return true;
}

/* Applies the front-matter mapping to f. */
static int
apply_front_matter(struct article_file *f, const uint8_t *fm, size_t fm_len, char *err,
                   size_t err_cap)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_node_t *root;
    yaml_node_pair_t *pair;
    bool have_doc = false;
    unsigned seen = 0; /* the fields given so far, bit i for FIELDS[i] */
    bool have_date = false, have_publish_date = false;
    int64_t publish_date = 0; /* Hugo's publishDate: the date when no 'date' is given */
    int rc = 0;

    if (fm_len > FRONT_MATTER_MAX_LEN) {
        set_err(err, err_cap, "front matter is larger than %u bytes", FRONT_MATTER_MAX_LEN);
        return -SZ_ETOOBIG;
    }
    if (!yaml_parser_initialize(&parser))
        return -SZ_ENOMEM;
    yaml_parser_set_input_string(&parser, fm, fm_len);
    if (!yaml_parser_load(&parser, &doc)) {
        set_err(err, err_cap, "front matter is not valid YAML: %s at line %zu%s",
                parser.problem != NULL ? parser.problem : "parse error",
                parser.problem_mark.line + 2,
                parser.problem != NULL && strstr(parser.problem, "mapping values") != NULL
                    ? " (a value holding ': ' needs quotes, as in title: \"Putin: a visit\")"
                    : "");
        rc = -SZ_EINVAL;
        goto out;
    }
    have_doc = true;
    root = yaml_document_get_root_node(&doc);
    if (root == NULL)
        goto out; /* An empty front matter block. */
    if (root->type != YAML_MAPPING_NODE) {
        set_err(err, err_cap, "front matter must be a mapping of 'key: value' lines");
        rc = -SZ_EINVAL;
        goto out;
    }
    for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, pair->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, pair->value);
        size_t klen = 0, vlen = 0, field;
        const char *k = scalar_of(&doc, kn, &klen), *v;

        if (k == NULL || vn == NULL)
            continue;
        {
            size_t dlen = 0;
            const char *dv = scalar_of(&doc, vn, &dlen);
            if (draft_key(f, k, klen, dv, dlen))
                continue;
        }
        if (key_is(k, klen, "publishDate")) {
            size_t dlen = 0;
            const char *dv = scalar_of(&doc, vn, &dlen);
            if (dv == NULL || scalar_is_null(vn))
                continue;
            if (front_matter_date(dv, dlen, &publish_date) != 0) {
                set_err(err, err_cap,
                        "front matter: publishDate '%.*s' is not a date-time like "
                        "2024-08-29T10:00:00+03:00 or 2024-08-29 10:00:00 +0300",
                        (int)(dlen > 64 ? 64 : dlen), dv);
                rc = -SZ_EINVAL;
                break;
            }
            have_publish_date = true;
            continue;
        }
        field = field_of(k, klen);
        if (field == N_FIELDS) {
            warn_near(f, k, klen);
            continue;
        }
        if (seen & (1u << field)) {
            set_err(err, err_cap, "front matter: '%s'%s%s%s is given twice: keep one",
                    FIELDS[field].name, FIELDS[field].other != NULL ? " (or '" : "",
                    FIELDS[field].other != NULL ? FIELDS[field].other : "",
                    FIELDS[field].other != NULL ? "')" : "");
            rc = -SZ_EINVAL;
            break;
        }
        seen |= 1u << field;
        /* An empty or null value ("author:", "date: ~"), as exporters and site
         * templates leave them, is no value: the field is taken as not given. */
        if (scalar_is_null(vn))
            continue;
        v = scalar_of(&doc, vn, &vlen);
        if (key_is(k, klen, "authors") || key_is(k, klen, "author")) {
            free(f->a.authors);
            f->a.authors = NULL;
            rc = string_list(f, &doc, vn, "authors", &f->a.authors, &f->a.n_authors, err, err_cap);
        } else if (key_is(k, klen, "attachments")) {
            struct sz_str *paths = NULL;
            size_t n = 0, i;
            free(f->att_paths);
            f->att_paths = NULL;
            f->n_att_paths = 0;
            rc = string_list(f, &doc, vn, "attachments", &paths, &n, err, err_cap);
            if (rc == 0 && n > 0) {
                f->att_paths = calloc(n, sizeof *f->att_paths);
                if (f->att_paths == NULL)
                    rc = -SZ_ENOMEM;
                for (i = 0; rc == 0 && i < n; i++)
                    f->att_paths[i] = (char *)paths[i].p; /* owned, NUL-terminated */
                if (rc == 0)
                    f->n_att_paths = n;
            }
            free(paths);
        } else if (v == NULL) {
            if (key_is(k, klen, "title") || key_is(k, klen, "date") || key_is(k, klen, "id") ||
                key_is(k, klen, "slug") || key_is(k, klen, "url") || key_is(k, klen, "lang") ||
                key_is(k, klen, "language") || key_is(k, klen, "summary") ||
                key_is(k, klen, "description")) {
                set_err(err, err_cap, "front matter: '%.*s' must be a single value", (int)klen, k);
                rc = -SZ_EINVAL;
            }
        } else if (key_is(k, klen, "title")) {
            rc = own_str(f, v, vlen, &f->a.title);
        } else if (key_is(k, klen, "date")) {
            if (front_matter_date(v, vlen, &f->a.published) != 0) {
                set_err(err, err_cap,
                        "front matter: date '%.*s' is not a date-time like "
                        "2024-08-29T10:00:00+03:00 or 2024-08-29 10:00:00 +0300",
                        (int)(vlen > 64 ? 64 : vlen), v);
                rc = -SZ_EINVAL;
            }
            have_date = true;
        } else if (key_is(k, klen, "id") || key_is(k, klen, "slug")) {
            rc = own_str(f, v, vlen, &f->a.id);
        } else if (key_is(k, klen, "url")) {
            rc = own_str(f, v, vlen, &f->a.url);
        } else if (key_is(k, klen, "lang") || key_is(k, klen, "language")) {
            rc = own_str(f, v, vlen, &f->a.lang);
        } else if (key_is(k, klen, "summary") || key_is(k, klen, "description")) {
            rc = own_str(f, v, vlen, &f->a.summary);
        }
        if (rc != 0)
            break;
    }
    /* Hugo's publishDate (when the article appears) stands in for a missing
     * date; beside a date, the date is the article's. */
    if (rc == 0 && have_publish_date && !have_date)
        f->a.published = publish_date;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/*
 * Says why a one-line text field (a title, an author) of at most max bytes is
 * refused: its length in bytes (not letters: a Cyrillic letter takes two), or
 * a control character, such as the line break a YAML '>' or '|' block ends with.
 */
static void
explain_line(const char *what, struct sz_str s, size_t max, char *err, size_t err_cap)
{
    size_t i;

    if (s.len > max) {
        set_err(err, err_cap,
                "%s is %zu bytes long: at most %zu bytes of UTF-8 (where a Cyrillic letter "
                "takes 2)",
                what, s.len, max);
        return;
    }
    for (i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '\n' || c == '\r') {
            set_err(err, err_cap,
                    "%s holds a line break: it must be one line (a YAML block with '>' or '|' "
                    "ends with one: write '>-' or '|-', or put the text on the key's line)",
                    what);
            return;
        }
        if (c < 0x20 || c == 0x7f) {
            set_err(err, err_cap, "%s holds a control character (byte 0x%02x at offset %zu)", what,
                    c, i);
            return;
        }
    }
    set_err(err, err_cap, "invalid %s (1..%zu bytes of UTF-8, no control characters)", what, max);
}

/* Explains why a finished article fails sz_article_check(), field by field. */
static void
explain_check(const struct sz_article *a, int rc, char *err, size_t err_cap)
{
    struct sz_article probe;
    size_t i;

    if (!sz_safe_name(a->id.p, a->id.len)) {
        set_err(err, err_cap,
                "unsafe article id '%.*s': use 1..%d characters of A-Z a-z 0-9 . _ -, "
                "not starting with '.' or '-' (set 'id:' in the front matter or rename the file)",
                (int)(a->id.len > 120 ? 120 : a->id.len), a->id.p != NULL ? a->id.p : "",
                SZ_MAX_ID_LEN);
        return;
    }
    /* Check each optional field alone against a minimal valid article. */
    memset(&probe, 0, sizeof probe);
    probe.id = a->id;
    probe.title.p = "t";
    probe.title.len = 1;
    probe.ctype = a->ctype;
    probe.body = (const uint8_t *)"b";
    probe.body_len = 1;
    probe.title = a->title;
    if (sz_article_check(&probe) != 0) {
        explain_line("title", a->title, SZ_MAX_TITLE_LEN, err, err_cap);
        return;
    }
    probe.url = a->url;
    if (sz_article_check(&probe) != 0) {
        set_err(err, err_cap,
                "invalid url: it must start with http:// or https:// and hold no "
                "spaces or quotes");
        return;
    }
    probe.lang = a->lang;
    if (sz_article_check(&probe) != 0) {
        set_err(err, err_cap, "invalid lang '%.*s': use a BCP 47 tag such as en, ru or pt-BR",
                (int)(a->lang.len > 40 ? 40 : a->lang.len), a->lang.p);
        return;
    }
    probe.summary = a->summary;
    if (sz_article_check(&probe) != 0) {
        set_err(err, err_cap, "invalid summary (at most %d bytes of text)", SZ_MAX_SUMMARY_LEN);
        return;
    }
    for (i = 0; i < a->n_authors; i++) {
        probe.authors = &a->authors[i];
        probe.n_authors = 1;
        if (sz_article_check(&probe) != 0) {
            char what[32];
            snprintf(what, sizeof what, "author #%zu", i + 1);
            explain_line(what, a->authors[i], SZ_MAX_AUTHOR_LEN, err, err_cap);
            return;
        }
    }
    if (a->n_authors > SZ_MAX_AUTHORS) {
        set_err(err, err_cap, "too many authors (at most %d)", SZ_MAX_AUTHORS);
        return;
    }
    set_err(err, err_cap, "invalid article: %s", sz_strerror(rc));
}

/* Offset of the first byte that starts an invalid UTF-8 sequence. */
static size_t
utf8_bad_offset(const uint8_t *buf, size_t len)
{
    size_t i = 0, n;

    while (i < len) {
        uint8_t c = buf[i];
        n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
        if (n > len - i || !sz_utf8_valid(buf + i, n))
            return i;
        i += n;
    }
    return len;
}

int
article_file_parse(const char *file_name, const uint8_t *buf, size_t len, int64_t mtime,
                   struct article_file **out, char *err, size_t err_cap)
{
    struct article_file *f;
    const char *base = base_name(file_name), *dot;
    enum sz_ctype ctype;
    size_t body_start = 0, i, e;
    int rc;

    if (len > SZ_MAX_BODY_LEN + FRONT_MATTER_MAX_LEN) {
        set_err(err, err_cap, "file is larger than the %u MiB an article may hold",
                SZ_MAX_BODY_LEN >> 20);
        return -SZ_ETOOBIG;
    }
    /* A bundle handed in as an article (its magic, BUNDLE.md) is named as one. */
    if (len >= 4 && memcmp(buf, "SZBN", 4) == 0) {
        set_err(err, err_cap,
                "this is a samizdat bundle, not an article: hand it to a daemon with "
                "'samizdat import', or read it with 'samizdat inspect' or 'samizdat unpack'");
        return -SZ_EINVAL;
    }
    dot = strrchr(base, '.');
    if (dot != NULL && (strcasecmp(dot, ".md") == 0 || strcasecmp(dot, ".markdown") == 0)) {
        ctype = SZ_CTYPE_MARKDOWN;
    } else if (dot != NULL && (strcasecmp(dot, ".html") == 0 || strcasecmp(dot, ".htm") == 0)) {
        ctype = SZ_CTYPE_HTML;
    } else if (dot != NULL && strcasecmp(dot, ".txt") == 0) {
        ctype = SZ_CTYPE_PLAIN;
    } else {
        set_err(err, err_cap, "unsupported file type: use .md, .html or .txt");
        return -SZ_EINVAL;
    }
    if (!sz_utf8_valid(buf, len)) {
        size_t bad = utf8_bad_offset(buf, len);
        bool utf16 =
            len >= 2 && ((buf[0] == 0xff && buf[1] == 0xfe) || (buf[0] == 0xfe && buf[1] == 0xff));
        if (!utf16 && bad < len && buf[bad] == 0)
            set_err(err, err_cap,
                    "holds a NUL byte (at offset %zu): not a text file, or one saved damaged; "
                    "remove it",
                    bad);
        else
            set_err(err, err_cap, "not valid UTF-8 text (first bad byte at offset %zu): %s", bad,
                    utf16 ? "it is UTF-16; save it as UTF-8"
                          : "save it as UTF-8 (it may be in another encoding, such as "
                            "Windows-1251)");
        return -SZ_EUTF8;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return -SZ_ENOMEM;
    f->a.ctype = ctype;
    /* A page bundle (Hugo: posts/NAME/index.md, _index.md) is named by its folder. */
    {
        const char *id = base;
        size_t id_len = (size_t)(dot - base);
        if (base > file_name && ((id_len == 5 && strncasecmp(base, "index", 5) == 0) ||
                                 (id_len == 6 && strncasecmp(base, "_index", 6) == 0))) {
            const char *end = base - 1, *start;
            while (end > file_name && end[-1] == '/')
                end--; /* "a//index.md" */
            start = end;
            while (start > file_name && start[-1] != '/')
                start--;
            /* A folder whose name is no id (spaces, another script) leaves "index". */
            if (end > file_name && end > start && sz_safe_name(start, (size_t)(end - start))) {
                id = start;
                id_len = (size_t)(end - start);
            }
        }
        if ((rc = own_str(f, id, id_len, &f->a.id)) != 0)
            goto fail;
    }
    f->a.published = mtime;
    /* A UTF-8 byte order mark is not part of the text. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        body_start = 3;
    e = line_end(buf, len, body_start);
    /* Lines ended by a lone CR (classic Mac OS) would make front matter one
     * line of body text, published for all to read: refused. */
    if (len - body_start >= 4 &&
        (memcmp(buf + body_start, "---\r", 4) == 0 || memcmp(buf + body_start, "+++\r", 4) == 0) &&
        (body_start + 4 >= len || buf[body_start + 4] != '\n')) {
        set_err(err, err_cap,
                "its lines end with a carriage return alone (old Mac OS line endings), so its "
                "front matter cannot be read: save it with LF or CRLF line endings");
        rc = -SZ_EINVAL;
        goto fail;
    }
    if (line_is(buf, body_start, e, "+++")) {
        set_err(err, err_cap,
                "the front matter is TOML (between '+++' lines), which samizdat does not read: "
                "write it as YAML between '---' lines (key: value, e.g. title: \"...\")");
        rc = -SZ_EINVAL;
        goto fail;
    }
    if (line_is(buf, body_start, e, "---")) {
        size_t fm_start = e + 1 < len ? e + 1 : len, s = fm_start;
        bool closed = false;
        while (s < len) {
            e = line_end(buf, len, s);
            if (line_is(buf, s, e, "---") || line_is(buf, s, e, "...")) {
                closed = true;
                break;
            }
            s = e + 1;
        }
        if (!closed) {
            set_err(err, err_cap, "front matter starts with '---' but has no closing '---' line");
            rc = -SZ_EINVAL;
            goto fail;
        }
        if ((rc = apply_front_matter(f, buf + fm_start, s - fm_start, err, err_cap)) != 0)
            goto fail;
        body_start = e < len ? e + 1 : len;
    }
    f->a.body = buf + body_start;
    f->a.body_len = len - body_start;
    for (i = 0; i < f->a.body_len && is_ws((char)f->a.body[i]); i++)
        ;
    if (i == f->a.body_len) {
        set_err(err, err_cap, "the article has no body");
        rc = -SZ_EINVAL;
        goto fail;
    }
    if (f->a.body_len > SZ_MAX_BODY_LEN) {
        set_err(err, err_cap, "the body is larger than %u MiB", SZ_MAX_BODY_LEN >> 20);
        rc = -SZ_ETOOBIG;
        goto fail;
    }
    /* The body must outlive the caller's buffer: keep a copy. */
    {
        char *copy = own(f, (const char *)f->a.body, f->a.body_len);
        if (copy == NULL) {
            rc = -SZ_ENOMEM;
            goto fail;
        }
        f->a.body = (const uint8_t *)copy;
    }
    if (f->a.ctype == SZ_CTYPE_HTML && f->a.lang.len == 0 && (rc = html_lang(f)) != 0)
        goto fail;
    if (f->a.title.len == 0) {
        rc = derive_title(f);
        if (rc < 0)
            goto fail;
        if (rc > 0 || f->a.title.len == 0) {
            set_err(err, err_cap, "no title: add 'title:' to the front matter");
            rc = -SZ_EINVAL;
            goto fail;
        }
    }
    rc = sz_article_check(&f->a);
    if (rc != 0) {
        explain_check(&f->a, rc, err, err_cap);
        goto fail;
    }
    *out = f;
    return 0;
fail:
    if (rc == -SZ_ENOMEM)
        set_err(err, err_cap, "out of memory");
    article_file_free(f);
    return rc;
}
