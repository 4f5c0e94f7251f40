/*
 * HTML pages of the offline library. HTML bodies go through
 * render_sanitize_body(), plain text is escaped. Markdown goes through md4c,
 * raw HTML written in it passed on as markup, and its output through the same
 * sanitizer as an HTML body: a link, image or tag in Markdown obeys the same
 * rules as one in an HTML body.
 */
#include "render.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "md.h"
#include "render_sanitize.h"

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
    /* A link in the body that goes online says so, after its text: following
     * it tells the network what the reader opened (data-online is set by
     * render_sanitize_body(), never by the publisher). The second content
     * names the mark for screen readers where the browser knows that form. */
    ".body a[data-online]::after{content:\"\\a0\\2197\";"
    "content:\"\\a0\\2197\"/\" (goes online)\"}"
    "h1,h2,h3,h4{line-height:1.25;font-weight:700}"
    "h1{font-size:2rem;margin:.4em 0 .3em}"
    /* The article's own markup stays in its box: a fixed or absolute element
     * of it cannot cover the page's navigation and provenance. */
    ".body{contain:paint;position:relative;overflow-x:auto}"
    ".body h2{font-size:1.5rem}.body h3{font-size:1.3rem}.body h4{font-size:1.15rem}"
    ".meta,.pubmeta,nav,footer,.note{color:var(--muted);font:.9rem/1.5 system-ui,"
    "-apple-system,\"Segoe UI\",\"DejaVu Sans\",sans-serif}"
    "nav{margin-bottom:1.5em}"
    "img,video{max-width:100%;height:auto}"
    "figure{margin:1.5em 0}figcaption{color:var(--muted);font-size:.9rem}"
    "pre,code{background:var(--code);font-size:.9em}"
    /* Code reads left to right, also in an article set right to left. */
    "pre{padding:.8em;overflow-x:auto;direction:ltr;text-align:left}"
    /* A scroll box takes the focus (so that a keyboard can scroll it): an
     * outline inside it shows that, where the body's box cannot clip it. */
    "pre:focus-visible,.scroll:focus-visible{outline:2px solid var(--link);outline-offset:-2px}"
    "pre.plain{background:none;padding:0;white-space:pre-wrap;font:inherit}"
    "blockquote{margin:1em 0;padding-inline-start:1em;border-inline-start:3px solid var(--rule)}"
    /* A table wider than the page scrolls by itself, its scroll bar just under
     * it, rather than the whole body with the bar at the body's end; in a box
     * of its own (render_sanitize_body()) that takes the focus and is named as
     * a region, which the table could not be without losing its role. */
    "table{border-collapse:collapse}"
    ".scroll{width:max-content;max-width:100%;overflow-x:auto}"
    "td,th{border:1px solid var(--rule);padding:.2em .5em}"
    "hr{border:0;border-top:1px solid var(--rule)}"
    "footer{margin-top:3em;border-top:1px solid var(--rule);padding-top:1em}"
    "footer h2{font-size:1rem}"
    /* The article's own navigation and footer do not look like the page's. */
    ".body nav,.body footer{color:inherit;font:inherit;margin:1em 0;border:0;padding:0}"
    ".key{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-size:.8rem;"
    "overflow-wrap:anywhere}"
    ".publisher{margin-top:2.5em;border-top:2px solid var(--rule)}"
    ".publisher>h2{margin:.8em 0 .2em}"
    "ol.articles{list-style:none;padding:0}"
    "ol.articles li{margin:1.4em 0}"
    "ol.articles h2,ol.articles h3{font-size:1.25rem;margin:0 0 .2em}"
    ".summary{margin:.3em 0}"
    ".warn,.alarm{margin:1em 0;padding:.7em 1em;border-radius:4px;font:1rem/1.5 system-ui,"
    "-apple-system,\"Segoe UI\",\"DejaVu Sans\",sans-serif}"
    ".warn{color:var(--warn-fg);background:var(--warn-bg);border:2px solid var(--warn-rule);"
    "border-inline-start-width:8px}"
    ".alarm{color:var(--alarm-fg);background:var(--alarm-bg);border:3px solid var(--alarm-rule);"
    "border-inline-start-width:10px;font-weight:600}"
    ".warn p,.alarm p{margin:.3em 0}.warn .detail,.alarm .detail{font-size:.85rem;font-weight:400}"
    ".alarm strong{text-transform:uppercase;letter-spacing:.03em}"
    ".warn a,.alarm a{color:inherit}"
    ".months ul{list-style:none;padding:0}.months li{margin:.3em 0}"
    /* Colours an article sets assume a light page: on a dark one its text
     * would be black on black. There the page's colours win. */
    "@media (prefers-color-scheme:dark){.body [style],.body font[color],.body [bgcolor]"
    "{color:inherit!important;background-color:transparent!important}}"
    /* On paper nothing scrolls: tables, code and the body are shown whole. */
    "@media print{.body{contain:none;overflow:visible}pre,.scroll{overflow:visible}"
    "pre{white-space:pre-wrap}.scroll{width:auto}table{width:100%}td,th{overflow-wrap:anywhere}"
    "body{max-width:none}}";

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

/*
 * Escapes s[0..len) for HTML: with attr, for text and quoted attributes alike;
 * without, for text between tags only, where quotes stand as they are (a body
 * of quotes would otherwise grow sixfold).
 */
static void
escape(struct sz_wr *w, const char *s, size_t len, bool attr)
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
            if (!attr)
                continue;
            rep = "&quot;";
            break;
        case '\'':
            if (!attr)
                continue;
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

void
render_escape(struct sz_wr *w, const char *s, size_t len)
{
    escape(w, s, len, true);
}

/* An article body shown as text (inside <pre>): quotes as they are. */
static void
escape_text(struct sz_wr *w, const uint8_t *s, size_t len)
{
    escape(w, (const char *)s, len, false);
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

/*
 * Writes <time datetime="RFC 3339">, showing the time as "2024-08-29 10:00 UTC":
 * read the same way in every language, with no letters to translate.
 */
static void
put_time(struct sz_wr *w, int64_t t)
{
    char buf[32], shown[40];
    if (sz_time_format(t, buf, sizeof buf) != 0) {
        put(w, "(unknown time)");
        return;
    }
    put(w, "<time datetime=\"");
    put(w, buf);
    put(w, "\">");
    /* sz_time_format() writes YYYY-MM-DDTHH:MM:SSZ; a year beyond 9999 is left as is. */
    if (strlen(buf) == 20 && buf[10] == 'T') {
        snprintf(shown, sizeof shown, "%.10s %.5s UTC", buf, buf + 11);
        put(w, shown);
    } else {
        put(w, buf);
    }
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

/* Common languages of articles, each named in itself, by their BCP 47 language
 * subtag; sorted by it. */
static const struct {
    char code[3];
    const char *name;
} languages[] = {
    {"ar", "العربية"},    {"az", "Azərbaycanca"}, {"ba", "Башҡортса"}, {"be", "Беларуская"},
    {"bg", "Български"},  {"ce", "Нохчийн"},      {"cs", "Čeština"},   {"de", "Deutsch"},
    {"el", "Ελληνικά"},   {"en", "English"},      {"es", "Español"},   {"et", "Eesti"},
    {"fa", "فارسی"},      {"fi", "Suomi"},        {"fr", "Français"},  {"he", "עברית"},
    {"hu", "Magyar"},     {"hy", "Հայերեն"},      {"it", "Italiano"},  {"ja", "日本語"},
    {"ka", "ქართული"},    {"kk", "Қазақша"},      {"ko", "한국어"},    {"ky", "Кыргызча"},
    {"lt", "Lietuvių"},   {"lv", "Latviešu"},     {"mn", "Монгол"},    {"nl", "Nederlands"},
    {"pl", "Polski"},     {"pt", "Português"},    {"ro", "Română"},    {"ru", "Русский"},
    {"sv", "Svenska"},    {"tg", "Тоҷикӣ"},       {"tr", "Türkçe"},    {"tt", "Татарча"},
    {"uk", "Українська"}, {"uz", "Oʻzbekcha"},    {"zh", "中文"},
};

static char
ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
ascii_alpha(char c)
{
    c = ascii_lower(c);
    return c >= 'a' && c <= 'z';
}

/*
 * The name of a BCP 47 tag's language, in that language, or NULL when the
 * table has none: the tag is a language subtag of the table, alone or with a
 * region ("pt-BR", "es-419"), in any case. A tag with a script or a variant is
 * not named, as the name might be written otherwise ("uz-Cyrl").
 */
static const char *
language_name(struct sz_str tag)
{
    const char *t = tag.p;
    if (tag.len != 2 && tag.len != 5 && tag.len != 6)
        return NULL;
    if (tag.len == 5 && !(t[2] == '-' && ascii_alpha(t[3]) && ascii_alpha(t[4])))
        return NULL;
    if (tag.len == 6 && !(t[2] == '-' && t[3] >= '0' && t[3] <= '9' && t[4] >= '0' && t[4] <= '9' &&
                          t[5] >= '0' && t[5] <= '9'))
        return NULL;
    for (size_t k = 0; k < sizeof languages / sizeof languages[0]; k++)
        if (ascii_lower(t[0]) == languages[k].code[0] && ascii_lower(t[1]) == languages[k].code[1])
            return languages[k].name;
    return NULL;
}

/*
 * The direction of an article's title, summary and body: "rtl" when its
 * language tag names a script written right to left ("ar", "he", "fa-IR",
 * "ku-Arab", ...), else "auto" (the first strong letter decides). A language
 * written in either direction (Kurdish, Azerbaijani, ...) is "rtl" only with a
 * right-to-left script subtag, and a Latin or Cyrillic one ("uz-Latn") keeps
 * "auto". "auto" alone would set an Arabic article whose first word is Latin
 * ("BBC: ...") left to right as a whole.
 */
static const char *
text_dir(struct sz_str tag)
{
    static const char *const rtl_langs[] = {"ar",  "arc", "ckb", "dv", "fa", "he", "iw", "ks",
                                            "nqo", "ps",  "sd",  "ug", "ur", "yi", "syr"};
    static const char *const rtl_scripts[] = {"adlm", "arab", "hebr", "nkoo",
                                              "rohg", "syrc", "thaa"};
    char sub[9];
    size_t k = 0, n, first = 0;
    bool rtl = false;

    for (size_t part = 0; k < tag.len; part++) {
        n = 0;
        while (k < tag.len && tag.p[k] != '-' && tag.p[k] != '_') {
            if (n + 1 < sizeof sub)
                sub[n] = (char)ascii_lower(tag.p[k]);
            n++;
            k++;
        }
        k++; /* the '-' */
        if (n == 0 || n + 1 > sizeof sub)
            continue;
        sub[n] = '\0';
        if (part == 0) {
            first = n;
            for (size_t j = 0; j < sizeof rtl_langs / sizeof rtl_langs[0]; j++)
                rtl = rtl || strcmp(sub, rtl_langs[j]) == 0;
        } else if (n == 4 && first > 0) {
            /* A script subtag decides, either way. */
            rtl = false;
            for (size_t j = 0; j < sizeof rtl_scripts / sizeof rtl_scripts[0]; j++)
                rtl = rtl || strcmp(sub, rtl_scripts[j]) == 0;
            break;
        }
    }
    return rtl ? "rtl" : "auto";
}

/*
 * An article's language on a page (the tag is not empty): its name in itself,
 * marked with the tag for machines and isolated, as a name written right to
 * left would otherwise reorder the line; a tag the table cannot name is shown
 * as it is, with a title saying what it is when titled.
 */
static void
put_language(struct sz_wr *w, struct sz_str tag, bool titled)
{
    const char *name = language_name(tag);
    if (name != NULL) {
        put(w, "<bdi lang=\"");
        esc_str(w, tag);
        put(w, "\">");
        esc(w, name);
        put(w, "</bdi>");
    } else if (titled) {
        put(w, "<span title=\"language\">");
        esc_str(w, tag);
        put(w, "</span>");
    } else {
        esc_str(w, tag);
    }
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
        /* Isolated: a name's right-to-left text or marks cannot reorder the line. */
        put(w, "<bdi>");
        esc_str(w, authors[k]);
        put(w, "</bdi>");
    }
}

static void
on_md_output(const MD_CHAR *text, MD_SIZE size, void *userdata)
{
    put_n(userdata, text, size);
}

/*
 * md4c 0.4.8 (Debian bookworm) takes super-linear time on some inputs, and
 * nothing can stop md_html() once it runs. So md_scan_cost() first measures,
 * in one linear pass, what each family of such inputs costs; a body over a
 * family's bound is rendered without the extension that family needs or, when
 * no flag turns the family off, as plain text. The families were found by
 * timing md_html() with our flags on generated inputs of 100 KB to 32 MiB:
 *   - strikethrough: each '~' closer walks back over the marks of its block
 *     to the first opener ("~a " * n + "a~ " * n: 2.6 s at 400 KB, 67 s at
 *     1.6 MB);
 *   - permissive autolinks: each "www." or "http://" walks the marks and
 *     lines of its block and scans to the end of its word ("_www." * n: 9.5 s
 *     at 400 KB; "www.a.b\n" * n: 30 s at 1.6 MB);
 *   - links: each '[' or ']' walks the lines of its block from the first
 *     ("]([\n" * n, #236: 45 s at 1.6 MB; "[a](b)\n" * n: 6.5 s);
 *   - containers: each line walks the open containers (nested lists, then
 *     blank lines: "1. " * n + "\n\n " * n: 3.7 s at 400 KB, 126 s at 1.6 MB),
 *     and opening one costs up to 160 ns (">" * 32 Mi: 2.9 s);
 *   - output: a link reference definition used n times, or a table header of
 *     n columns over n short rows, repeats text n^2 times (#238: 14.8 s and
 *     6.4 GB of output from 400 KB), see md_output_fits();
 *   - and plain volume: md4c spends up to 130 ns on each mark ('*', '`',
 *     '&', ...) and 100 ns on each line ("*a* " * 8 Mi: 2.2 s, "a\n" * 16 Mi:
 *     1.7 s); raw HTML costs two marks a tag, comment or processing
 *     instruction, an opener and a closer ("x<a>" * 8 Mi: 1.3 s; a '<' that
 *     may start one is counted so).
 * Raw HTML itself was found linear: md4c remembers how far it searched for
 * the end of a comment, processing instruction, declaration or CDATA section,
 * and a tag's scan ends at its first character that no tag may hold
 * ("x<!-- " * 400 Ki, "x<a b='\n" * 400 Ki, "x<![CDATA[\n" * 400 Ki and the
 * like: 0.1 to 0.25 s at 2 to 4 MB).
 * md4c parses inlines one block at a time, and no block whose inlines it
 * parses spans a blank line (an HTML block may, but its text is written as it
 * is) or a line that starts a list item or a heading (md_block_start()): each
 * inline family costs at most its triggers times the marks, lines or bytes of
 * such a stretch, and those products, summed over stretches, are what is
 * bounded. Each bound comes from the worst cost per unit measured on 32 MiB
 * inputs on this machine (where the marks no longer fit in a cache; small
 * inputs cost 10 to 50 times less per unit), for about 0.1 s per md4c pass.
 * A 32 MiB article of normal prose, lists, links and tables (the examples
 * repeated: 620,000 lines, 15,000 marks) stays far below every bound.
 */
struct md_cost {
    uint64_t lines, marks;
    uint64_t lead_marks; /* containers opened: '>' and list item marks starting lines */
    uint64_t lead_max;   /* most containers a line can be in (marks + indentation / 2) */
    uint64_t tilde;      /* sum over stretches of '~' runs x (marks + lines / 8) */
    uint64_t autolink;   /* "www." and "://" x (marks + longest word / 4 + lines / 8) */
    uint64_t bracket;    /* '[' and ']' x (lines + marks / 8) */
};

/* 1.5 Mi marks at 130 ns ("*a* " * 8 Mi: 2.2 s), 2 Mi lines at 100 ns ("a\n" * 16 Mi:
 * 1.7 s): 0.2 s a pass each. */
#define MD_MARKS_MAX (3u << 19)
#define MD_LINES_MAX (2u << 20)
/* 1 Mi containers at up to 160 ns. */
#define MD_LEAD_MARKS_MAX (1u << 20)
/* "1. " * n + "\n\n " * n: 0.6 ns per line and level (126 s at 1.6 MB). */
#define MD_LINES_X_DEPTH_MAX 100000000u
/* "~a " * 64 + "`a" * 16 Mi + " a~" * 64: 5.5 ns a unit. */
#define MD_TILDE_MAX 18000000u
/* "www.a.b/ " * 64 + "_a " * 11 Mi: 5.7 ns a unit; "_www." * 64 + "a" * 32 Mi: 5.6 ns. */
#define MD_AUTOLINK_MAX 16000000u
/* "a\n" * 16 Mi + "]([\n" * 64: 1.1 ns a unit; "_a " * 11 Mi + "[a] " * 64: 1.2 ns. */
#define MD_BRACKET_MAX 80000000u

/*
 * Does the line at p[0..n) start a block that ends any paragraph before it?
 * After blockquote marks and at most 3 spaces: a list item with content (a
 * bullet, or "1." or "1)"), an ATX heading or a code fence. Only such lines
 * may split a stretch, so a false "no" merely overestimates.
 */
static bool
md_block_start(const uint8_t *p, size_t n)
{
    size_t k = 0, ind = 0;
    for (;;) {
        for (ind = 0; k < n && p[k] == ' ' && ind < 4; k++)
            ind++;
        if (ind >= 4 || k == n)
            return false;
        if (p[k] != '>')
            break;
        k++;
        if (k < n && p[k] == ' ')
            k++;
    }
    uint8_t c = p[k];
    if (c == '-' || c == '*' || c == '+' || c == '1') {
        size_t j = k + 1;
        if (c == '1') {
            if (j >= n || (p[j] != '.' && p[j] != ')'))
                return false;
            j++;
        }
        if (j >= n || (p[j] != ' ' && p[j] != '\t'))
            return false;
        while (j < n && (p[j] == ' ' || p[j] == '\t'))
            j++;
        return j < n; /* an empty item cannot end a paragraph */
    }
    if (c == '#') {
        size_t j = k;
        while (j < n && p[j] == '#')
            j++;
        return j - k <= 6 && (j == n || p[j] == ' ' || p[j] == '\t');
    }
    if (c == '`' || c == '~') {
        size_t j = k;
        while (j < n && p[j] == c)
            j++;
        /* The info string of a backtick fence has no backtick (else the
         * line is text with a code span, and no block starts). */
        return j - k >= 3 && (c == '~' || memchr(p + j, '`', n - j) == NULL);
    }
    return false;
}

/* Containers the start of the line p[0..n) can open or be in: blockquote and
 * list item marks, and indentation (2 columns a list level, a tab as 4). */
static void
md_lead(const uint8_t *p, size_t n, uint64_t *marks, uint64_t *depth)
{
    size_t k = 0, cols = 0;
    *marks = 0;
    while (k < n) {
        uint8_t c = p[k];
        size_t j = k;
        if (c == ' ' || c == '\t') {
            cols += c == '\t' ? 4 : 1;
            k++;
            continue;
        }
        if (c == '>') {
            (*marks)++;
            k++;
            continue;
        }
        if (c == '-' || c == '*' || c == '+') {
            j = k + 1;
        } else {
            while (j < n && j - k < 10 && p[j] >= '0' && p[j] <= '9')
                j++;
            if (j == k || j == n || (p[j] != '.' && p[j] != ')'))
                break;
            j++;
        }
        if (j < n && p[j] != ' ' && p[j] != '\t' && p[j] != '\n' && p[j] != '\r')
            break;
        (*marks)++;
        k = j;
    }
    *depth = *marks + cols / 2;
}

/* What md_scan_cost() looks at in the body of a line (0: nothing). */
enum { MC_NONE, MC_MARK, MC_TILDE, MC_OPEN, MC_CLOSE, MC_W, MC_COLON, MC_LT };

static const uint8_t md_class[256] = {
    [0] = MC_MARK,    ['*'] = MC_MARK,  ['_'] = MC_MARK,  ['`'] = MC_MARK,
    ['&'] = MC_MARK,  ['\\'] = MC_MARK, ['~'] = MC_TILDE, ['['] = MC_OPEN,
    [']'] = MC_CLOSE, ['w'] = MC_W,     [':'] = MC_COLON, ['<'] = MC_LT,
};

/* An autolink candidate at p[k] makes md4c scan to the end of its word: notes
 * that length, scanning each word once (*scanned: where the last scan ended). */
static void
md_note_word(const uint8_t *p, size_t k, size_t end, size_t *scanned, uint64_t *word)
{
    size_t j = k > *scanned ? k : *scanned;
    while (j < end && p[j] != ' ' && p[j] != '\t')
        j++;
    *scanned = j;
    if (j - k > *word)
        *word = j - k;
}

struct md_stretch {
    uint64_t lines, marks, tilde, autolink, bracket, word;
};

static void
md_stretch_end(struct md_cost *mc, struct md_stretch *st)
{
    mc->tilde += st->tilde * (st->marks + st->lines / 8);
    mc->autolink += st->autolink * (st->marks + st->word / 4 + st->lines / 8);
    mc->bracket += st->bracket * (st->lines + st->marks / 8);
    mc->marks += st->marks;
    memset(st, 0, sizeof *st);
}

/* One pass over a Markdown body: the measures the bounds above apply to. */
static void
md_scan_cost(const uint8_t *p, size_t len, struct md_cost *mc)
{
    struct md_stretch st;
    size_t k = 0, nl, cr; /* the next '\n' and '\r' at or after k, or len */
    const uint8_t *q;

    memset(mc, 0, sizeof *mc);
    memset(&st, 0, sizeof st);
    q = len == 0 ? NULL : memchr(p, '\n', len);
    nl = q == NULL ? len : (size_t)(q - p);
    q = len == 0 ? NULL : memchr(p, '\r', len);
    cr = q == NULL ? len : (size_t)(q - p);
    /* Past these, the body is shown as plain text whatever the rest holds. */
    while (k < len && mc->lines <= MD_LINES_MAX && mc->marks + st.marks <= MD_MARKS_MAX) {
        /* md4c ends lines at "\n", "\r" and "\r\n". Each search starts where
         * the last one ended, so that a body of "\r" lines is not searched
         * to its end for "\n" once a line. */
        size_t start = k, scanned = k, end;
        if (nl < k) {
            q = memchr(p + k, '\n', len - k);
            nl = q == NULL ? len : (size_t)(q - p);
        }
        if (cr < k) {
            q = memchr(p + k, '\r', len - k);
            cr = q == NULL ? len : (size_t)(q - p);
        }
        end = nl < cr ? nl : cr;
        uint64_t lead_marks, depth;
        bool blank = true;

        for (size_t j = start; j < end && blank; j++)
            blank = p[j] == ' ' || p[j] == '\t';
        if (blank || md_block_start(p + start, end - start))
            md_stretch_end(mc, &st);
        md_lead(p + start, end - start, &lead_marks, &depth);
        mc->lead_marks += lead_marks;
        if (depth > mc->lead_max)
            mc->lead_max = depth;
        mc->lines++;
        st.lines++;
        for (k = start; k < end; k++) {
            switch (md_class[p[k]]) {
            case MC_NONE:
                break;
            case MC_MARK:
                st.marks++;
                break;
            case MC_TILDE:
                st.marks++;
                if (k == start || p[k - 1] != '~')
                    st.tilde++;
                break;
            case MC_OPEN:
                st.marks += 3; /* md4c reserves two more for a link */
                st.bracket++;
                break;
            case MC_CLOSE:
                st.marks++;
                st.bracket++;
                break;
            case MC_W:
                if (end - k >= 4 && p[k + 1] == 'w' && p[k + 2] == 'w' && p[k + 3] == '.') {
                    st.marks += 2;
                    st.autolink++;
                    md_note_word(p, k, end, &scanned, &st.word);
                }
                break;
            case MC_COLON:
                if (end - k >= 3 && p[k + 1] == '/' && p[k + 2] == '/') {
                    st.marks += 2;
                    st.autolink++;
                    md_note_word(p, k, end, &scanned, &st.word);
                }
                break;
            case MC_LT:
                /* Raw HTML ("<a", "</a", "<!--", "<?"): an opener and a closer. */
                if (end - k >= 2 && (p[k + 1] == '/' || p[k + 1] == '!' || p[k + 1] == '?' ||
                                     ((p[k + 1] | 0x20) >= 'a' && (p[k + 1] | 0x20) <= 'z')))
                    st.marks += 2;
                break;
            default:
                break;
            }
        }
        if (k < len)
            k += (p[k] == '\r' && k + 1 < len && p[k + 1] == '\n') ? 2 : 1;
        if (blank)
            md_stretch_end(mc, &st);
    }
    md_stretch_end(mc, &st);
}

/*
 * A dry run of md4c's parser that adds up, from above, how many bytes
 * md_html() would write, and stops md4c once that passes the bound: a link
 * reference definition used n times, or a table header of n columns over n
 * rows, makes output (and time) grow as n^2, and md_html() cannot be stopped.
 */
struct md_count {
    size_t n, max;
};

/* Bytes md_html() writes for s[0..n) of text or a title at most (it escapes
 * these four; NUL comes alone, as a text of its own). */
static size_t
md_text_len(const MD_CHAR *s, MD_SIZE n)
{
    size_t m = n;
    for (MD_SIZE k = 0; k < n; k++) {
        switch (s[k]) {
        case '"':
            m += 5; /* &quot; */
            break;
        case '&':
            m += 4; /* &amp; */
            break;
        case '<':
        case '>':
            m += 3;
            break;
        default:
            break;
        }
    }
    return m;
}

/* Bytes md_html() writes for a URL s[0..n) at most: it keeps letters, digits
 * and some punctuation, writes '&' as "&amp;" and anything else as %XX. */
static size_t
md_url_len(const MD_CHAR *s, MD_SIZE n)
{
    size_t m = n;
    for (MD_SIZE k = 0; k < n; k++) {
        uint8_t c = (uint8_t)s[k];
        if (c == '&')
            m += 4;
        else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c != 0 && strchr("~-_.+!*(),%#@?=;:/$", c) != NULL)))
            m += 2;
    }
    return m;
}

static size_t
md_attr_len(const MD_ATTRIBUTE *a, bool url)
{
    if (a->text == NULL)
        return 0;
    return url ? md_url_len(a->text, a->size) : md_text_len(a->text, a->size);
}

/* Adds n to the count; nonzero (which stops md4c) once past the bound. */
static int
md_count_add(void *userdata, size_t n)
{
    struct md_count *c = userdata;
    c->n += n;
    return c->n > c->max;
}

/* No tag md_html() writes is longer than 16 bytes, except these, whose fixed
 * part stays under 48 bytes ("<ol start=\"4294967295\">\n",
 * "<pre><code class=\"language-", "<th align=\"center\">", "<img src=\"...\" alt=\"..."
 * "\" title=\"...\">"), and whose attributes are counted escaped. */
static int
md_count_block(MD_BLOCKTYPE type, void *detail, void *userdata)
{
    size_t n = 16;
    if (type == MD_BLOCK_OL || type == MD_BLOCK_TH || type == MD_BLOCK_TD)
        n = 48;
    else if (type == MD_BLOCK_CODE && detail != NULL)
        n = 48 + md_attr_len(&((MD_BLOCK_CODE_DETAIL *)detail)->info, false) +
            md_attr_len(&((MD_BLOCK_CODE_DETAIL *)detail)->lang, false);
    return md_count_add(userdata, n);
}

static int
md_count_leave_block(MD_BLOCKTYPE type, void *detail, void *userdata)
{
    (void)type;
    (void)detail;
    return md_count_add(userdata, 16);
}

static int
md_count_span(MD_SPANTYPE type, void *detail, void *userdata)
{
    size_t n = 16;
    if (type == MD_SPAN_A && detail != NULL)
        n = 48 + md_attr_len(&((MD_SPAN_A_DETAIL *)detail)->href, true) +
            md_attr_len(&((MD_SPAN_A_DETAIL *)detail)->title, false);
    else if (type == MD_SPAN_IMG && detail != NULL)
        n = 48 + md_attr_len(&((MD_SPAN_IMG_DETAIL *)detail)->src, true) +
            md_attr_len(&((MD_SPAN_IMG_DETAIL *)detail)->title, false);
    return md_count_add(userdata, n);
}

static int
md_count_leave_span(MD_SPANTYPE type, void *detail, void *userdata)
{
    (void)type;
    (void)detail;
    return md_count_add(userdata, 16);
}

static int
md_count_text(MD_TEXTTYPE type, const MD_CHAR *text, MD_SIZE size, void *userdata)
{
    (void)type;
    /* Line breaks ("<br>\n"), entities (up to 8 bytes of UTF-8) and raw HTML
     * (written as it is) are covered too. */
    return md_count_add(userdata, 8 + md_text_len(text, size));
}

/* True when md_html() would write at most max bytes for the body with these flags. */
static bool
md_output_fits(const uint8_t *body, size_t len, unsigned flags, size_t max)
{
    struct md_count c = {0, max};
    MD_PARSER parser;
    memset(&parser, 0, sizeof parser);
    parser.flags = flags;
    parser.enter_block = md_count_block;
    parser.leave_block = md_count_leave_block;
    parser.enter_span = md_count_span;
    parser.leave_span = md_count_leave_span;
    parser.text = md_count_text;
    return md_lazy_parse((const MD_CHAR *)body, (MD_SIZE)len, &parser, &c) == 0 && c.n <= max;
}

/* s[0..n) with white space runs (a no-break space too) as one space, trimmed, into out (n bytes at
 * least); returns its length. As titles are derived from text (article_file.c). */
static size_t
collapse_space(const char *s, size_t n, char *out)
{
    size_t o = 0;
    bool space = false;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c <= 0x20 || c == 0x7f || (c == 0xc2 && k + 1 < n && (unsigned char)s[k + 1] == 0xa0)) {
            k += c == 0xc2; /* a no-break space is a space here */
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = (char)c;
    }
    return o;
}

/*
 * The text of a heading that may repeat the article's title, kept up to a
 * bound: a longer one is no title's.
 */
#define HEADING_TEXT_MAX (4 * SZ_MAX_TITLE_LEN)

struct heading_text {
    size_t len;
    bool too_long; /* or it holds more than text */
    char text[HEADING_TEXT_MAX];
};

static void
heading_text_add(struct heading_text *f, const char *s, size_t n)
{
    if (n > HEADING_TEXT_MAX - f->len) {
        f->too_long = true;
        return;
    }
    memcpy(f->text + f->len, s, n);
    f->len += n;
}

/* Does the heading's text say what the title says, white space aside? */
static bool
same_text(const struct heading_text *f, struct sz_str title)
{
    char *a, *b;
    size_t na, nb;
    bool same;
    if (f->too_long)
        return false;
    a = malloc(f->len + 1);
    b = malloc(title.len + 1);
    same = a != NULL && b != NULL;
    if (same) {
        na = collapse_space(f->text, f->len, a);
        nb = collapse_space(title.p, title.len, b);
        /* "Observers Report Orderly Vote" as a title repeats the body's
         * "Observers report orderly vote" (a case of ASCII letters only). */
        same = na == nb;
        for (size_t k = 0; same && k < na; k++) {
            unsigned char x = (unsigned char)a[k], y = (unsigned char)b[k];
            same = (x >= 'A' && x <= 'Z' ? x + 32 : x) == (y >= 'A' && y <= 'Z' ? y + 32 : y);
        }
    }
    free(a);
    free(b);
    return same;
}

/* Is the tag at p[0..n) ("<name" or "</name") one of an element that holds
 * only text (and its markup) in a heading? */
static bool
text_tag(const uint8_t *p, size_t n)
{
    static const char *const names[] = {"a",    "abbr", "b",    "bdi",  "bdo",   "br",   "cite",
                                        "code", "del",  "dfn",  "em",   "i",     "ins",  "kbd",
                                        "mark", "q",    "s",    "samp", "small", "span", "strong",
                                        "sub",  "sup",  "time", "u",    "var",   "wbr"};
    size_t k = p[1] == '/' ? 2 : 1, len = 0;
    while (k + len < n && p[k + len] >= 'a' && p[k + len] <= 'z')
        len++;
    if (k + len >= n || (p[k + len] != '>' && p[k + len] != ' '))
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && memcmp(names[i], p + k, len) == 0)
            return true;
    return false;
}

/*
 * In sanitized HTML p[0..n): when the first thing in it is a heading of level
 * 1 in the article (an <h2> there, one level down), with only white space and
 * the start tags of a few containers before it, and its text (tags left out,
 * entities read) says what the title says, white space aside, sets
 * [*from, *to) to that heading, with the line break after it, and returns
 * true.
 */
static bool
html_title_heading(const uint8_t *p, size_t n, struct sz_str title, size_t *from, size_t *to)
{
    static const char *const containers[] = {"div",     "article", "header",
                                             "section", "main",    "hgroup"};
    struct heading_text *f;
    size_t k = 0, start, end;
    bool same = false;

    for (;;) {
        while (k < n && (p[k] == ' ' || p[k] == '\n' || p[k] == '\t' || p[k] == '\r'))
            k++;
        if (k + 4 > n || p[k] != '<')
            return false;
        if (memcmp(p + k, "<h2", 3) == 0 && (p[k + 3] == '>' || p[k + 3] == ' '))
            break;
        bool known = false;
        for (size_t c = 0; !known && c < sizeof containers / sizeof containers[0]; c++) {
            size_t len = strlen(containers[c]);
            known = k + 2 + len <= n && memcmp(p + k + 1, containers[c], len) == 0 &&
                    (p[k + 1 + len] == '>' || p[k + 1 + len] == ' ');
        }
        if (!known)
            return false;
        /* Attribute values are escaped ('>' as &gt;): the first '>' ends the tag. */
        const uint8_t *gt = memchr(p + k, '>', n - k);
        if (gt == NULL)
            return false;
        k = (size_t)(gt - p) + 1;
    }
    start = k;
    {
        const uint8_t *gt = memchr(p + k, '>', n - k);
        if (gt == NULL)
            return false;
        k = (size_t)(gt - p) + 1;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return false;
    /* Only text markup may come before its end tag: anything else (a picture,
     * a video, a heading the sanitizer kept nested in it) keeps the heading.
     * The sanitizer's output nests, so the first </h2> then closes this one. */
    for (end = k; end + 5 <= n && !f->too_long; end++) {
        if (p[end] == '<') {
            if (memcmp(p + end, "</h2>", 5) == 0)
                break;
            if (!text_tag(p + end, n - end)) {
                f->too_long = true;
                break;
            }
            const uint8_t *gt = memchr(p + end, '>', n - end);
            if (gt == NULL)
                break;
            if (memcmp(p + end, "<br", 3) == 0) /* a line break shows as a space */
                heading_text_add(f, " ", 1);
            end = (size_t)(gt - p);
        } else {
            heading_text_add(f, (const char *)p + end, 1);
        }
    }
    /* Character references read as the sanitizer reads them (never longer). */
    if (!f->too_long)
        f->len = render_decode_refs((const uint8_t *)f->text, f->len, (uint8_t *)f->text);
    if (end + 5 <= n && memcmp(p + end, "</h2>", 5) == 0 && same_text(f, title)) {
        same = true;
        *from = start;
        *to = end + 5 + (end + 5 < n && p[end + 5] == '\n');
    }
    free(f);
    return same;
}

/* A body the sanitizer would not write within its bounds, shown as text. */
static void
body_as_text(struct sz_wr *w, const char *what, const uint8_t *body, size_t len)
{
    put(w, "<p class=\"note\">This ");
    put(w, what);
    put(w, " would not render within bounds; here it is as published, unformatted.</p>\n"
           "<pre class=\"plain\">");
    escape_text(w, body, len);
    put(w, "</pre>");
}

/*
 * HTML html[0..len) through the sanitizer, without a first heading that
 * repeats the title (see html_title_heading()). When the sanitizer would not
 * write it within its bounds, the body as published, orig[0..orig_len), is
 * shown as text, what (HTML, Markdown) naming it, and false is returned.
 */
static bool
sanitized_body(struct sz_wr *w, const uint8_t *html, size_t len, struct sz_str title,
               const struct san_files *files, const char *what, const uint8_t *orig,
               size_t orig_len)
{
    size_t at = w->len, from, to;
    /* The body's highest heading becomes h2; when its first h1 is the title's
     * own heading (left out), the highest of the others does. */
    int top = render_heading_top(html, len, false), rest = render_heading_top(html, len, true);

    if (!render_sanitize_body(w, html, len, files, top)) {
        body_as_text(w, what, orig, orig_len);
        return false;
    }
    /* Only an h1 can be the title's heading: the body holds one when its top is 1. */
    if (sz_wr_status(w) == 0 && title.len > 0 && w->len > at && top == 1 &&
        html_title_heading(w->p + at, w->len - at, title, &from, &to)) {
        if (rest > top) {
            w->len = at;
            if (!render_sanitize_body(w, html, len, files, rest)) {
                body_as_text(w, what, orig, orig_len);
                return false;
            }
            if (sz_wr_status(w) != 0 || w->len <= at ||
                !html_title_heading(w->p + at, w->len - at, title, &from, &to))
                return true;
        }
        memmove(w->p + at + from, w->p + at + to, w->len - at - to);
        w->len -= to - from;
    }
    return true;
}

bool
render_html_body(struct sz_wr *w, const uint8_t *body, size_t len, struct sz_str title,
                 const struct san_files *files)
{
    return sanitized_body(w, body, len, title, files, "HTML", body, len);
}

/*
 * md4c writes a character reference to a surrogate ("&#xD800;") as the three
 * bytes of that code point, which are not UTF-8 (the page says it is): each
 * becomes U+FFFD, as a browser and the sanitizer read such a reference, in
 * place (both take three bytes).
 */
static void
surrogates_replaced(uint8_t *s, size_t n)
{
    uint8_t *p = s, *end;

    if (n < 3)
        return; /* s may be NULL: md4c wrote nothing */
    end = s + n;
    while (end - p >= 3 && (p = memchr(p, 0xED, (size_t)(end - p - 2))) != NULL) {
        if (p[1] >= 0xA0 && p[1] <= 0xBF && (p[2] & 0xC0) == 0x80) {
            p[0] = 0xEF;
            p[1] = 0xBF;
            p[2] = 0xBD;
        }
        p++;
    }
}

/*
 * Markdown: md4c, with raw HTML (a <br>, a <figure>, an <img>) passed through
 * as written, then what it wrote as an HTML body: through the sanitizer,
 * without a first heading that repeats the title (title: the article's; the
 * page shows it above the body already), by the same rules and code as an
 * HTML body. The heading is looked for in the sanitizer's output, which is
 * nested as the browser's tree and has every attribute value escaped: raw
 * HTML in or around it (an attribute holding "</h1>", an unclosed element)
 * cannot make the cut end anywhere but at that heading's own end tag.
 * Markdown that md4c cannot render within the bounds above is shown as
 * published, unformatted, so that one article never costs the others their
 * place in the library.
 */
static bool
body_markdown(struct sz_wr *w, const uint8_t *body, size_t len, struct sz_str title,
              const struct san_files *files)
{
    struct sz_wr md;
    struct md_cost mc;
    size_t max = MD_OUT_BASE + 2 * len;
    /* md_html() skips a byte order mark (MD_HTML_FLAG_SKIP_UTF8_BOM); so does the dry run. */
    size_t bom = len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
    unsigned flags = MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | MD_FLAG_PERMISSIVEURLAUTOLINKS |
                     MD_FLAG_PERMISSIVEWWWAUTOLINKS;
    bool ok, formatted = false;

    md_scan_cost(body, len, &mc);
    if (mc.tilde > MD_TILDE_MAX)
        flags &= ~(unsigned)MD_FLAG_STRIKETHROUGH;
    if (mc.autolink > MD_AUTOLINK_MAX)
        flags &= ~(unsigned)(MD_FLAG_PERMISSIVEURLAUTOLINKS | MD_FLAG_PERMISSIVEWWWAUTOLINKS);
    ok = mc.marks <= MD_MARKS_MAX && mc.lines <= MD_LINES_MAX && mc.bracket <= MD_BRACKET_MAX &&
         mc.lead_marks <= MD_LEAD_MARKS_MAX && mc.lines * mc.lead_max <= MD_LINES_X_DEPTH_MAX &&
         md_output_fits(body + bom, len - bom, flags, max);
    sz_wr_init(&md, max);
    if (!ok ||
        md_lazy_html((const MD_CHAR *)body, (MD_SIZE)len, on_md_output, &md, flags,
                     MD_HTML_FLAG_SKIP_UTF8_BOM) != 0 ||
        sz_wr_status(&md) != 0)
        body_as_text(w, "Markdown", body, len);
    else {
        surrogates_replaced(md.p, md.len);
        formatted = sanitized_body(w, md.p, md.len, title, files, "Markdown", body, len);
    }
    sz_wr_free(&md, false);
    return formatted;
}

static bool
is_image(struct sz_str media_type)
{
    return media_type.len > 6 && memcmp(media_type.p, "image/", 6) == 0;
}

/* Is it an http(s) URL? Only those become links; anything else is shown as text. */
static bool
is_web_url(struct sz_str u)
{
    return (u.len > 7 && strncmp(u.p, "http://", 7) == 0) ||
           (u.len > 8 && strncmp(u.p, "https://", 8) == 0);
}

bool
render_body(struct sz_wr *w, const struct sz_article *a, const struct san_files *files)
{
    switch (a->ctype) {
    case SZ_CTYPE_MARKDOWN:
        return body_markdown(w, a->body, a->body_len, a->title, files);
    case SZ_CTYPE_HTML:
        return render_html_body(w, a->body, a->body_len, a->title, files);
    case SZ_CTYPE_PLAIN:
    default:
        put(w, "<pre class=\"plain\">");
        escape_text(w, a->body, a->body_len);
        put(w, "</pre>");
        return true;
    }
}

static void put_publisher_anchor(struct sz_wr *w, const uint8_t *pk);

void
render_article_alarm(struct sz_wr *w, uint64_t sequence, const uint8_t *publisher,
                     const char *publisher_name, bool lang_known)
{
    put(w, RENDER_ALARM_START);
    put(w, lang_known ? " lang=\"en\"" : "");
    put(w, ">\n<p><strong>Warning:</strong> this article came in bundle #");
    put_u64(w, sequence);
    put(w, ", and ");
    put_publisher(w, publisher, publisher_name);
    put(w, " signed another, different bundle with that number: its key may be stolen, and this "
           "article may not be the publisher&#39;s.</p>\n<p class=\"detail\">Both bundles are "
           "kept in this library as evidence (see its index). Until you have confirmed the "
           "publisher&#39;s key by other means, do not trust this article.</p>\n</div>\n");
}

void
render_article(struct sz_wr *w, const struct render_page *pg)
{
    const struct sz_article *a = pg->a;
    const char *body_file = render_body_file(a->ctype);
    /*
     * The page's own words are English. Of an article in a known language,
     * the page is in that language and its navigation and footer are marked
     * English; of one in no known language, the page is English and the
     * article's title and body are marked unknown (lang=""), so that neither
     * is read aloud in a language it is not in.
     */
    bool known = a->lang.len > 0;
    const char *own = known ? " lang=\"en\"" : "", *text = known ? "" : " lang=\"\"";
    const char *dir = text_dir(a->lang);
    /* The body names its files by their names in the bundle; the library may
     * have stored some under others (render_sanitize_body() writes those). */
    size_t n_atts = a->n_atts < SZ_MAX_ATTACHMENTS ? a->n_atts : SZ_MAX_ATTACHMENTS;
    bool mentioned[SZ_MAX_ATTACHMENTS] = {false};
    const char *names[SZ_MAX_ATTACHMENTS];
    char *name_buf = NULL;
    struct san_files file_map = {names, (const char *const *)pg->att_files, mentioned, n_atts, NULL,
                                 NULL};
    const struct san_files *files = NULL;
    if (n_atts > 0 && pg->att_files != NULL &&
        (name_buf = malloc(n_atts * (SZ_MAX_ID_LEN + 1))) != NULL) {
        for (size_t k = 0; k < n_atts; k++) {
            size_t nl = a->atts[k].name.len < SZ_MAX_ID_LEN ? a->atts[k].name.len : SZ_MAX_ID_LEN;
            char *nm = name_buf + k * (SZ_MAX_ID_LEN + 1);
            memcpy(nm, a->atts[k].name.p, nl);
            nm[nl] = '\0';
            names[k] = nm;
        }
        files = &file_map;
    } else if (n_atts == 0 && pg->att_files != NULL) {
        files = &file_map; /* none: the sanitizer knows the folder holds no other file */
    } else if (n_atts > 0 && pg->att_files != NULL && w->err == 0) {
        w->err = -SZ_ENOMEM;
    }

    page_begin(w, known ? a->lang : (struct sz_str){"en", 2}, a->title);
    put(w, "<nav");
    put(w, own);
    /* Back to the publisher's part of the library, whose name leads there too. */
    put(w,
        "><a href=\"../../index.html\">&larr; Library</a> &middot; <a href=\"../../index.html#p-");
    put_publisher_anchor(w, pg->publisher);
    put(w, "\">");
    put_publisher(w, pg->publisher, pg->publisher_name);
    put(w, "</a></nav>\n");
    if (pg->equivocated)
        render_article_alarm(w, pg->sequence, pg->publisher, pg->publisher_name, known);
    put(w, "<main>\n<article>\n<header>\n<h1 dir=\"");
    put(w, dir);
    put(w, "\"");
    put(w, text);
    put(w, ">");
    esc_str(w, a->title);
    /* The page's words there are English; the authors' names are the article's. */
    put(w, "</h1>\n<p class=\"meta\"");
    put(w, own);
    put(w, ">");
    put_time(w, a->published);
    if (a->n_authors > 0) {
        put(w, " &middot; by ");
        if (known) {
            put(w, "<span lang=\"");
            esc_str(w, a->lang);
            put(w, "\">");
        }
        authors_list(w, a->authors, a->n_authors);
        if (known)
            put(w, "</span>");
    }
    if (a->lang.len > 0) {
        put(w, " &middot; ");
        put_language(w, a->lang, true);
    }
    put(w, "</p>\n</header>\n");

    put(w, "<div class=\"body ");
    put(w, a->ctype == SZ_CTYPE_MARKDOWN ? "markdown"
           : a->ctype == SZ_CTYPE_HTML   ? "html"
                                         : "plain");
    put(w, "\" dir=\"");
    put(w, dir);
    put(w, "\"");
    put(w, text);
    put(w, ">\n");
    (void)render_body(w, a, files);
    put(w, "\n</div>\n");

    /* Images the body does not show or link itself. */
    for (size_t k = 0; k < n_atts; k++) {
        const char *f = pg->att_files[k];
        if (!is_image(a->atts[k].media_type) || mentioned[k])
            continue;
        put(w, "<figure><img src=\"");
        esc(w, f);
        put(w, "\" alt=\"\"><figcaption>");
        esc(w, f);
        put(w, "</figcaption></figure>\n");
    }

    put(w, "<footer");
    put(w, own);
    put(w, ">\n");
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
    put(w, "</span>.</p>\n</footer>\n</article>\n</main>\n");
    free(name_buf);
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
    /* 0: the reader asked for no warning (--stale-after 0). */
    return p->stale_after_s > 0 && age_at_fetch(p) > (uint64_t)p->stale_after_s;
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

/* Signed more than an hour after the last fetch, by this computer's clock. */
static bool
dated_ahead(const struct render_publisher *p)
{
    return p->fetched && p->has_bundle && p->created > p->last_fetch &&
           (uint64_t)p->created - (uint64_t)p->last_fetch > 3600;
}

/*
 * The newest bundle is dated ahead of the reader's clock: one of the two
 * clocks is wrong, and the ages on this page (and the warning when nothing new
 * comes, which cannot show until that date has passed) go by them.
 */
static void
put_ahead(struct sz_wr *w, const struct render_publisher *p)
{
    put(w, "<div class=\"warn\" role=\"status\">\n<p>The newest bundle from ");
    put_publisher(w, p->pk, p->name);
    put(w, " is dated ");
    put_duration(w, (uint64_t)p->created - (uint64_t)p->last_fetch);
    put(w, " ahead of this computer&#39;s clock: check this computer&#39;s date and time (or "
           "the publisher&#39;s clock is wrong).</p>\n<p class=\"detail\">It (#");
    put_u64(w, p->sequence);
    put(w, ") was signed ");
    put_time(w, p->created);
    put(w, "; the last fetch was ");
    put_time(w, p->last_fetch);
    put(w, ". Until the clocks agree, the ages on this page are wrong, and the warning that "
           "shows when nothing new comes from this publisher cannot show before that date.</p>\n"
           "</div>\n");
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

/*
 * The list of articles: links to <prefix><pk_hex>/<folder>/index.html, prefix
 * leading from the page to the library's folder ("" or "../../"), each title a
 * heading of the level one below the page's heading above the list ('2' or '3').
 */
static void
put_entries(struct sz_wr *w, const char *pk_hex, const char *prefix, char level,
            const struct render_entry *entries, size_t n)
{
    const char open[] = {'<', 'h', level, '\0'}, close[] = {'<', '/', 'h', level, '>', '\0'};
    put(w, "<ol class=\"articles\">\n");
    for (size_t k = 0; k < n; k++) {
        const struct render_entry *e = &entries[k];
        struct sz_str lang = {e->lang, strlen(e->lang)};
        /* As on the article's page: a title and summary in no known language
         * are marked so (lang=""), not read aloud as the page's English. */
        const char *text = lang.len > 0 ? "" : " lang=\"\"";
        put(w, "<li");
        if (lang.len > 0) {
            put(w, " lang=\"");
            esc(w, e->lang);
            put(w, "\"");
        }
        put(w, ">");
        put(w, open);
        put(w, " dir=\"");
        put(w, text_dir(lang));
        put(w, "\"");
        put(w, text);
        put(w, "><a href=\"");
        put(w, prefix);
        put(w, pk_hex);
        put(w, "/");
        esc(w, e->folder);
        put(w, "/index.html\">");
        esc(w, e->title);
        put(w, "</a>");
        put(w, close);
        /* The page's own words (the date, "by") are English, as on the
         * article's page; the authors' names are the article's. */
        bool other = lang.len > 0 && !(lang.len >= 2 && strncasecmp(lang.p, "en", 2) == 0 &&
                                       (lang.len == 2 || lang.p[2] == '-'));
        put(w, other ? "\n<p class=\"meta\" lang=\"en\">" : "\n<p class=\"meta\">");
        put_time(w, e->published);
        for (size_t j = 0; j < e->n_authors; j++) {
            put(w, j == 0 ? " &middot; by " : (j + 1 == e->n_authors ? " and " : ", "));
            put(w, "<bdi");
            if (other) {
                put(w, " lang=\"");
                esc(w, e->lang);
                put(w, "\"");
            }
            put(w, ">");
            esc(w, e->authors[j]);
            put(w, "</bdi>");
        }
        if (lang.len > 0) {
            put(w, " &middot; ");
            put_language(w, lang, false);
        }
        put(w, "</p>\n");
        if (e->summary[0] != '\0') {
            put(w, "<p class=\"summary\" dir=\"");
            put(w, text_dir(lang));
            put(w, "\"");
            put(w, text);
            put(w, ">");
            esc(w, e->summary);
            put(w, "</p>\n");
        }
        put(w, "</li>\n");
    }
    put(w, "</ol>\n");
}

static const char *const month_names[12] = {
    "January", "February", "March",     "April",   "May",      "June",
    "July",    "August",   "September", "October", "November", "December",
};

uint32_t
render_month_of(int64_t published)
{
    char buf[32];
    unsigned y, m;
    if (sz_time_format(published, buf, sizeof buf) != 0)
        return published < 0 ? 0 : 9999 * 12 + 11; /* beyond what can be shown */
    if (sscanf(buf, "%4u-%2u", &y, &m) != 2 || y > 9999 || m < 1 || m > 12)
        return 0;
    return y * 12 + m - 1;
}

void
render_month_name(uint32_t month, char out[RENDER_MONTH_NAME_LEN])
{
    if (month > 9999 * 12 + 11)
        month = 9999 * 12 + 11;
    snprintf(out, RENDER_MONTH_NAME_LEN, "%04u-%02u.html", (unsigned)(month / 12),
             (unsigned)(month % 12 + 1));
}

/* "November 2026". */
static void
put_month(struct sz_wr *w, uint32_t month)
{
    char year[8];
    snprintf(year, sizeof year, "%04u", (unsigned)(month / 12 % 10000));
    put(w, month_names[month % 12]);
    put(w, " ");
    put(w, year);
}

/* A link to a month page, from prefix (the path to the publisher's month
 * pages), named "November 2026", or "November" without the year. */
static void
put_month_link(struct sz_wr *w, const char *prefix, uint32_t month, bool year)
{
    char name[RENDER_MONTH_NAME_LEN];
    render_month_name(month, name);
    put(w, "<a href=\"");
    put(w, prefix);
    put(w, name);
    put(w, "\">");
    if (year)
        put_month(w, month);
    else
        put(w, month_names[month % 12]);
    put(w, "</a>");
}

/* index.html's list of a publisher's month pages: a line per year, newest first.
 * Named after the publisher, as each publisher with month pages has one. */
static void
put_months(struct sz_wr *w, const struct render_publisher *pub, const char *pk_hex,
           const struct render_entry *entries, size_t n)
{
    char prefix[sizeof RENDER_ARCHIVE_DIR + 2 * SZ_PUBLIC_KEY_LEN + 2];
    uint32_t year = UINT32_MAX;

    snprintf(prefix, sizeof prefix, "%s/%s/", RENDER_ARCHIVE_DIR, pk_hex);
    put(w, "<nav class=\"months\" id=\"m-");
    put(w, pk_hex);
    put(w, "\" aria-label=\"");
    if (pub->name != NULL && pub->name[0] != '\0') {
        esc(w, pub->name);
    } else {
        char pk_text[SZ_PK_TEXT_LEN + 1];
        sz_pk_to_text(pub->pk, pk_text);
        put(w, pk_text);
    }
    put(w, " by month\">\n<p>All ");
    put_u64(w, n);
    put(w, " articles, by month:</p>\n<ul>\n");
    for (size_t k = 0; k < n;) {
        uint32_t month = render_month_of(entries[k].published);
        size_t e = k + 1;
        while (e < n && render_month_of(entries[e].published) == month)
            e++;
        if (month / 12 != year) {
            char y[8];
            if (year != UINT32_MAX)
                put(w, "</li>\n");
            year = month / 12;
            snprintf(y, sizeof y, "%04u", (unsigned)(year % 10000));
            put(w, "<li><strong>");
            put(w, y);
            put(w, "</strong>: ");
        } else {
            put(w, " &middot; ");
        }
        put_month_link(w, prefix, month, false);
        put(w, " (");
        put_u64(w, e - k);
        put(w, ")");
        k = e;
    }
    if (year != UINT32_MAX)
        put(w, "</li>\n");
    put(w, "</ul>\n</nav>\n");
}

/* The month page's links: back to the library, to the newer and the older month;
 * at the top of the page and again at its end, each named for where it is. */
static void
put_month_nav(struct sz_wr *w, const char *pk_hex, uint32_t newer, uint32_t older, bool end)
{
    put(w, end ? "<nav aria-label=\"Months, end of page\">" : "<nav aria-label=\"Months\">");
    put(w, "<a href=\"../../index.html#m-");
    put(w, pk_hex);
    put(w, "\">&larr; Library</a>");
    if (newer != UINT32_MAX) {
        put(w, " &middot; newer: ");
        put_month_link(w, "", newer, true);
    }
    if (older != UINT32_MAX) {
        put(w, " &middot; older: ");
        put_month_link(w, "", older, true);
    }
    put(w, "</nav>\n");
}

void
render_month_page(struct sz_wr *w, const struct render_publisher *pub, uint32_t month,
                  const struct render_entry *entries, size_t n, uint32_t newer, uint32_t older)
{
    char pk_hex[2 * SZ_PUBLIC_KEY_LEN + 1], pk_text[SZ_PK_TEXT_LEN + 1];
    struct sz_wr title;

    sz_hex(pub->pk, SZ_PUBLIC_KEY_LEN, pk_hex);
    sz_pk_to_text(pub->pk, pk_text);
    sz_wr_init(&title, 4096);
    put(&title, pub->name != NULL && pub->name[0] != '\0' ? pub->name : pk_text);
    put(&title, ": ");
    put_month(&title, month);
    if (sz_wr_status(&title) != 0 && w->err == 0)
        w->err = sz_wr_status(&title);
    page_begin(w, (struct sz_str){"en", 2},
               (struct sz_str){(const char *)title.p, title.p != NULL ? title.len : 0});
    sz_wr_free(&title, false);
    put_month_nav(w, pk_hex, newer, older, false);
    put(w, "<main>\n<header>\n<h1>");
    put_publisher(w, pub->pk, pub->name);
    put(w, ": ");
    put_month(w, month);
    put(w, "</h1>\n");
    if (equivocated(pub))
        put_equivocation(w, pub);
    put(w, "<p class=\"note\">");
    put_u64(w, n);
    put(w, n == 1 ? " article" : " articles");
    put(w, " of ");
    put_month(w, month);
    put(w, ", newest first. Each one was checked against its publisher&#39;s signature before "
           "it was saved here. These pages load nothing from the network.</p>\n</header>\n");
    put_entries(w, pk_hex, "../../", '2', entries, n);
    put(w, "</main>\n");
    put_month_nav(w, pk_hex, newer, older, true);
    page_end(w);
}

void
render_index(struct sz_wr *w, const struct render_publisher *pubs, size_t n_pubs)
{
    static const char title[] = "samizdat library";
    size_t n_articles = 0;
    for (size_t p = 0; p < n_pubs; p++)
        n_articles += pubs[p].n_entries;

    page_begin(w, (struct sz_str){"en", 2}, (struct sz_str){title, sizeof title - 1});
    put(w, "<main>\n<header>\n<h1>Library</h1>\n<p class=\"note\">");
    put_u64(w, n_articles);
    put(w, n_articles == 1 ? " article" : " articles");
    put(w, " from ");
    put_u64(w, n_pubs);
    put(w, n_pubs == 1 ? " publisher" : " publishers");
    put(w, ", newest first. Each one was checked against its publisher&#39;s signature "
           "before it was saved here. These pages load nothing from the network.</p>\n");
    put_summary_warnings(w, pubs, n_pubs);
    if (n_pubs > 1) {
        put(w, "<nav aria-label=\"Publishers\"><ul>\n");
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
        else if (dated_ahead(pub))
            put_ahead(w, pub);
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
            if (pub->highest_sequence != pub->sequence) {
                put(w, " &middot; highest sequence: #");
                put_u64(w, pub->highest_sequence);
                put(w, ", signed ");
                put_time(w, pub->highest_created);
            }
        } else {
            put(w, "no bundle yet");
        }
        if (pub->fetched) {
            put(w, " &middot; last fetched: ");
            put_time(w, pub->last_fetch);
        }
        put(w, "</p>\n");
        size_t shown = pub->n_entries;
        if (shown > RENDER_INDEX_LATEST) {
            shown = RENDER_INDEX_LATEST;
            put(w, "<p class=\"note\">The newest ");
            put_u64(w, shown);
            put(w, " of ");
            put_u64(w, pub->n_entries);
            put(w, " articles; <a href=\"#m-");
            put(w, pk_hex);
            put(w, "\">all of them by month</a> below.</p>\n");
        }
        put_entries(w, pk_hex, "", '3', pub->entries, shown);
        if (shown < pub->n_entries)
            put_months(w, pub, pk_hex, pub->entries, pub->n_entries);
        put(w, "</section>\n");
    }
    put(w, "</main>\n");
    page_end(w);
}
