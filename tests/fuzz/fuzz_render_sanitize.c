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
#include "fuzz_html.h"
#include "render.h"
#include "render_sanitize.h"

#define MAX_OPEN 4096

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
