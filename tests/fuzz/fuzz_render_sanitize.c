/*
 * The HTML sanitizer of the offline library, render_sanitize_html() (client/),
 * and render_sanitize_body(), the article page's version of it, on arbitrary
 * article bodies. Their output is checked by an independent reader of the
 * narrow HTML the sanitizer writes, against the promises of render_sanitize.h:
 *   - text never holds '<'; every tag is "<name" with ` name="value"`
 *     attributes, or "</name>", with lowercase names;
 *   - no element that runs code, embeds a document or loads things survives;
 *     no event handler, ping, srcdoc, http-equiv, action or formaction;
 *   - links are http, https, mailto or relative; resources are relative paths
 *     (or data:image/ in src and poster), so nothing names a remote host, and
 *     no SVG presentation attribute or style loads a url();
 *   - nothing is written self-closed ("/>"), every end tag closes the
 *     innermost element the output opened (void elements aside), and
 *     everything is closed at the end, so the browser's tree is the nesting
 *     of the tags and the body cannot close or leave open the page's elements;
 *   - no plain attribute holds a backslash (a CSS escape could spell "url(");
 *   - sanitizing the output again changes nothing (render_sanitize_html()).
 * render_html_body(), the article page's body, keeps the same promises (but
 * the last) after it leaves out a first heading that repeats the title: the
 * input up to a NUL byte, if it has one, is the title, the rest the body.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"

#include "fuzz.h"
#include "render.h"
#include "render_sanitize.h"

#define MAX_OPEN 4096
#define NAME_CAP 64

/* Elements the header says are dropped, with or without their content. */
static const char *const FORBIDDEN_ELEMS[] = {"script",
                                              "style",
                                              "iframe",
                                              "object",
                                              "embed",
                                              "applet",
                                              "meta",
                                              "link",
                                              "base",
                                              "frame",
                                              "frameset",
                                              "noscript",
                                              "template",
                                              "textarea",
                                              "title",
                                              "xmp",
                                              "noembed",
                                              "noframes",
                                              "plaintext",
                                              "head",
                                              "html",
                                              "body",
                                              "portal",
                                              "fencedframe",
                                              "param",
                                              "set",
                                              "animate",
                                              "animatemotion",
                                              "animatetransform",
                                              "discard",
                                              NULL};
static const char *const FORBIDDEN_ATTRS[] = {"ping",   "srcdoc",     "http-equiv",
                                              "action", "formaction", NULL};
static const char *const VOID_ELEMS[] = {
    "area", "base",  "br",     "col",   "embed", "hr",     "img",      "image",   "input", "link",
    "meta", "param", "source", "track", "wbr",   "keygen", "basefont", "bgsound", NULL};
/* Attributes whose value is a URL the browser loads without a click. */
static const char *const RESOURCE_ATTRS[] = {"src",    "poster", "data",     "background",
                                             "lowsrc", "dynsrc", "longdesc", NULL};
/* SVG presentation attributes that take url() references to other documents. */
static const char *const URL_PAINT_ATTRS[] = {
    "fill",         "stroke",     "filter",     "mask",   "clip-path",
    "marker-start", "marker-mid", "marker-end", "cursor", NULL};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sz_init() != 0)
        abort();
    return 0;
}

static bool
in_list(const char *s, const char *const *list)
{
    for (size_t k = 0; list[k] != NULL; k++)
        if (strcmp(s, list[k]) == 0)
            return true;
    return false;
}

static uint8_t
lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

static bool
name_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '.' || c == '_' ||
           c == '-';
}

/* Reads a lowercase name at o[*i]; aborts when there is none or it is too long. */
static void
read_name(const uint8_t *o, size_t n, size_t *i, char name[NAME_CAP])
{
    size_t k = 0;

    while (*i < n && name_char(o[*i])) {
        if (k == NAME_CAP - 1)
            abort();
        name[k++] = (char)o[(*i)++];
    }
    if (k == 0)
        abort();
    name[k] = '\0';
}

static bool
contains_ci(const uint8_t *p, size_t n, const char *needle)
{
    size_t nl = strlen(needle);

    for (size_t k = 0; k + nl <= n; k++) {
        size_t j = 0;
        while (j < nl && lower(p[k + j]) == (uint8_t)needle[j])
            j++;
        if (j == nl)
            return true;
    }
    return false;
}

/*
 * The value a browser sees in an attribute the sanitizer escaped itself: every
 * '&' must start one of the four references it writes. Returns the length.
 */
static size_t
unescape_strict(const uint8_t *v, size_t n, uint8_t *out)
{
    static const char *const refs[] = {"&amp;", "&quot;", "&lt;", "&gt;"};
    static const char chars[] = "&\"<>";
    size_t k = 0, m = 0;

    while (k < n) {
        size_t r;
        if (v[k] != '&') {
            out[m++] = v[k++];
            continue;
        }
        for (r = 0; r < 4; r++)
            if (n - k >= strlen(refs[r]) && memcmp(v + k, refs[r], strlen(refs[r])) == 0)
                break;
        if (r == 4)
            abort();
        out[m++] = (uint8_t)chars[r];
        k += strlen(refs[r]);
    }
    return m;
}

/*
 * A loose decoder for values the sanitizer passes through with their entities:
 * numeric references (ASCII results only) and the named ones that spell URL
 * syntax. Enough to see "url(" however it is written.
 */
static size_t
unescape_loose(const uint8_t *v, size_t n, uint8_t *out)
{
    static const char *const names[] = {"lpar", "rpar", "colon", "sol", "bsol", "lowbar", NULL};
    static const char chars[] = "():/\\_";
    size_t k = 0, m = 0;

    while (k < n) {
        size_t j = k + 1, r;
        if (v[k] == '&' && j < n && v[j] == '#') {
            bool hex = ++j < n && (v[j] == 'x' || v[j] == 'X');
            unsigned long cp = 0;
            size_t digits = 0;
            j += hex;
            for (; j < n && digits < 8; j++, digits++) {
                uint8_t c = lower(v[j]);
                if (c >= '0' && c <= '9')
                    cp = cp * (hex ? 16 : 10) + (c - '0');
                else if (hex && c >= 'a' && c <= 'f')
                    cp = cp * 16 + (c - 'a' + 10);
                else
                    break;
            }
            if (digits > 0 && cp > 0 && cp < 0x80) {
                out[m++] = (uint8_t)cp;
                k = j < n && v[j] == ';' ? j + 1 : j;
                continue;
            }
        } else if (v[k] == '&') {
            for (r = 0; names[r] != NULL; r++) {
                size_t nl = strlen(names[r]);
                if (n - j > nl && memcmp(v + j, names[r], nl) == 0 && v[j + nl] == ';') {
                    out[m++] = (uint8_t)chars[r];
                    k = j + nl + 1;
                    break;
                }
            }
            if (names[r] != NULL)
                continue;
        }
        /* Browsers drop tabs and newlines inside URLs and function names alike. */
        if (v[k] != '\t' && v[k] != '\n' && v[k] != '\r')
            out[m++] = v[k];
        k++;
    }
    return m;
}

/* The URL parser's view: C0 controls and spaces trimmed, tabs and newlines removed. */
static size_t
normalize_url(const uint8_t *p, size_t n, uint8_t *o)
{
    size_t a = 0, b = n, m = 0;

    while (a < b && p[a] <= 0x20)
        a++;
    while (b > a && p[b - 1] <= 0x20)
        b--;
    for (size_t k = a; k < b; k++)
        if (p[k] != '\t' && p[k] != '\n' && p[k] != '\r')
            o[m++] = p[k];
    return m;
}

/* The lowercased scheme of u, per the URL standard; false for a relative reference. */
static bool
scheme_of(const uint8_t *u, size_t n, char *scheme, size_t cap)
{
    size_t k = 1;

    if (n == 0 || !((lower(u[0]) >= 'a' && lower(u[0]) <= 'z')))
        return false;
    while (k < n && (name_char(lower(u[k])) || u[k] == '+') && u[k] != ':' && u[k] != '_')
        k++;
    if (k >= n || u[k] != ':')
        return false;
    if (k >= cap)
        abort(); /* a long scheme: surely not one the sanitizer meant to keep */
    for (size_t j = 0; j < k; j++)
        scheme[j] = (char)lower(u[j]);
    scheme[k] = '\0';
    return true;
}

static bool
starts_with_ci(const uint8_t *u, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);

    if (n < pl)
        return false;
    for (size_t k = 0; k < pl; k++)
        if (lower(u[k]) != (uint8_t)prefix[k])
            return false;
    return true;
}

static bool
is_slash(uint8_t c)
{
    return c == '/' || c == '\\';
}

/*
 * Image candidates as the HTML standard splits them: a URL runs to the next
 * white space (commas at its end excepted), its descriptors to the next comma.
 * No URL may start with a slash, which could name a host ("//host/...").
 */
static void
check_srcset(const uint8_t *u, size_t n)
{
    size_t k = 0;

    while (k < n) {
        while (k < n && (u[k] == ' ' || u[k] == '\t' || u[k] == '\n' || u[k] == '\f' ||
                         u[k] == '\r' || u[k] == ','))
            k++;
        if (k < n && is_slash(u[k]))
            abort();
        while (k < n && u[k] != ' ' && u[k] != '\t' && u[k] != '\n' && u[k] != '\f' && u[k] != '\r')
            k++;
        if (u[k - 1] == ',')
            continue;
        while (k < n && u[k] != ',')
            k++;
    }
}

/* Checks one emitted attribute of element `tag` against the policy. */
static void
check_attr(const char *tag, bool svg, const char *name, const uint8_t *v, size_t n, uint8_t *tmp,
           uint8_t *tmp2)
{
    char scheme[32];
    size_t dn, un;

    if ((name[0] == 'o' && name[1] == 'n') || in_list(name, FORBIDDEN_ATTRS))
        abort();
    if (strcmp(name, "href") == 0 || strcmp(name, "xlink:href") == 0) {
        dn = unescape_strict(v, n, tmp);
        un = normalize_url(tmp, dn, tmp2);
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
        dn = unescape_strict(v, n, tmp);
        un = normalize_url(tmp, dn, tmp2);
        if (scheme_of(tmp2, un, scheme, sizeof scheme)) {
            if (!((strcmp(name, "src") == 0 || strcmp(name, "poster") == 0) &&
                  starts_with_ci(tmp2, un, "data:image/")))
                abort();
        } else if (un > 0 && is_slash(tmp2[0])) {
            abort();
        }
    } else if (strcmp(name, "srcset") == 0 || strcmp(name, "imagesrcset") == 0) {
        dn = unescape_strict(v, n, tmp);
        un = normalize_url(tmp, dn, tmp2);
        if (memchr(tmp2, ':', un) != NULL)
            abort();
        check_srcset(tmp2, un);
    } else if (strcmp(name, "style") == 0) {
        dn = unescape_strict(v, n, tmp);
        un = unescape_loose(tmp, dn, tmp2);
        if (contains_ci(tmp2, un, "url(") || contains_ci(tmp2, un, "@import") ||
            contains_ci(tmp2, un, "expression(") || memchr(tmp2, '\\', un) != NULL)
            abort();
    } else {
        un = unescape_loose(v, n, tmp);
        if ((svg && in_list(name, URL_PAINT_ATTRS) &&
             (contains_ci(tmp, un, "url(") || contains_ci(tmp, un, "image-set("))) ||
            memchr(tmp, '\\', un) != NULL)
            abort();
    }
}

static bool
in_svg(char (*open)[NAME_CAP], size_t depth)
{
    for (size_t k = 0; k < depth; k++)
        if (strcmp(open[k], "svg") == 0)
            return true;
    return false;
}

enum { NS_HTML, NS_SVG, NS_MATH };

/*
 * The namespace of an element named tag opened inside open[depth - 1] (of
 * namespace ns[depth - 1]). Only <svg> and <math> enter foreign content and
 * only integration points leave it: the sanitizer closes SVG and MathML
 * elements before any other HTML element, so none breaks out in its output.
 */
static int
child_ns(char (*open)[NAME_CAP], const int *ns, size_t depth, const char *tag)
{
    static const char *const svg_points[] = {"foreignobject", "desc", "title", NULL};
    static const char *const math_points[] = {"mi", "mo", "mn", "ms", "mtext", NULL};
    int up = depth == 0 ? NS_HTML : ns[depth - 1];

    if (up == NS_HTML || (up == NS_SVG && in_list(open[depth - 1], svg_points)) ||
        (up == NS_MATH && in_list(open[depth - 1], math_points) && strcmp(tag, "mglyph") != 0 &&
         strcmp(tag, "malignmark") != 0))
        return strcmp(tag, "svg") == 0 ? NS_SVG : strcmp(tag, "math") == 0 ? NS_MATH : NS_HTML;
    return up;
}

/* Reads the sanitizer's output as a browser would and checks every promise. */
static void
check_output(const uint8_t *o, size_t n)
{
    static char open[MAX_OPEN][NAME_CAP];
    static int ns[MAX_OPEN];
    size_t depth = 0, i = 0;
    uint8_t *tmp, *tmp2;

    if (n == 0)
        return;
    tmp = malloc(n);
    tmp2 = malloc(n);
    if (tmp == NULL || tmp2 == NULL || memchr(o, '\0', n) != NULL)
        abort();
    while (i < n) {
        char tag[NAME_CAP], attr[NAME_CAP];
        bool end;

        if (o[i++] != '<')
            continue;
        end = i < n && o[i] == '/';
        i += end;
        read_name(o, n, &i, tag);
        if (in_list(tag, FORBIDDEN_ELEMS))
            abort();
        if (end) {
            /* An end tag closes the innermost open element. */
            if (i >= n || o[i++] != '>' || depth == 0 || strcmp(open[depth - 1], tag) != 0)
                abort();
            depth--;
            continue;
        }
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
            check_attr(tag, in_svg(open, depth) || strcmp(tag, "svg") == 0, attr, v,
                       (size_t)(q - v), tmp, tmp2);
            i = (size_t)(q - o) + 1;
        }
        /* "/>" is never written: a void element (in HTML, not in SVG or
         * MathML, where every element has an end tag) is not pushed. */
        if (i >= n || o[i++] != '>')
            abort();
        int tag_ns = child_ns(open, ns, depth, tag);
        if (tag_ns != NS_HTML || !in_list(tag, VOID_ELEMS)) {
            if (depth == MAX_OPEN)
                abort();
            ns[depth] = tag_ns;
            strcpy(open[depth++], tag);
        }
    }
    if (depth != 0)
        abort();
    free(tmp2);
    free(tmp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sz_wr w, w2;

    sz_wr_init(&w, (size_t)64 << 20);
    render_sanitize_html(&w, data, size);
    if (sz_wr_status(&w) != 0)
        abort();
    check_output(w.p, w.len);
    /* What was checked is final: a second pass finds nothing to change. */
    sz_wr_init(&w2, (size_t)64 << 20);
    render_sanitize_html(&w2, w.p, w.len);
    if (sz_wr_status(&w2) != 0 || w2.len != w.len || (w.len > 0 && memcmp(w.p, w2.p, w.len) != 0))
        abort();
    sz_wr_free(&w2, false);
    sz_wr_free(&w, false);
    /* The page's version keeps every promise but the last, and leaves the
     * page's title its only h1. */
    sz_wr_init(&w, (size_t)64 << 20);
    render_sanitize_body(&w, data, size, NULL, 0);
    if (sz_wr_status(&w) != 0)
        abort();
    check_output(w.p, w.len);
    for (size_t k = 0; k + 4 <= w.len; k++)
        if (memcmp(w.p + k, "<h1", 3) == 0 && (w.p[k + 3] == '>' || w.p[k + 3] == ' '))
            abort();
    sz_wr_free(&w, false);
    /* The same body with a title, its first heading left out when it repeats it. */
    {
        const uint8_t *nul = memchr(data, 0, size);
        struct sz_str title = {"", 0};
        const uint8_t *body = data;
        size_t len = size;
        if (nul != NULL) {
            title = (struct sz_str){(const char *)data, (size_t)(nul - data)};
            body = nul + 1;
            len = size - title.len - 1;
        }
        sz_wr_init(&w, (size_t)64 << 20);
        render_html_body(&w, body, len, title, NULL);
        if (sz_wr_status(&w) != 0)
            abort();
        check_output(w.p, w.len);
        sz_wr_free(&w, false);
    }
    return 0;
}
