/*
 * What the two harnesses that read the library's HTML back share
 * (fuzz_render_sanitize.c, fuzz_render_page.c): the lists of what
 * render_sanitize.h says no body keeps, a reader of tag and attribute names,
 * the URL parser's view of an attribute's value, and the namespace rules that
 * decide which elements are void. Each harness is its own program: these are
 * static.
 */
#ifndef SZ_FUZZ_HTML_H
#define SZ_FUZZ_HTML_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NAME_CAP 64

/* Elements render_sanitize.h says are dropped, with or without their content. */
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

static inline bool
in_list(const char *s, const char *const *list)
{
    for (size_t k = 0; list[k] != NULL; k++)
        if (strcmp(s, list[k]) == 0)
            return true;
    return false;
}

static inline uint8_t
lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

static inline bool
name_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '.' || c == '_' ||
           c == '-';
}

/* Reads a lowercase name at o[*i]; aborts when there is none or it is too long. */
static inline void
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

static inline bool
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

/* The URL parser's view: C0 controls and spaces trimmed, tabs and newlines removed. */
static inline size_t
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
static inline bool
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

static inline bool
is_slash(uint8_t c)
{
    return c == '/' || c == '\\';
}

/*
 * Image candidates as the HTML standard splits them: a URL runs to the next
 * white space (commas at its end excepted), its descriptors to the next comma.
 * No URL may start with a slash, which could name a host ("//host/...").
 */
static inline void
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

enum { NS_HTML, NS_SVG, NS_MATH };

/*
 * The namespace of an element named tag opened inside open[depth - 1] (of
 * namespace ns[depth - 1]). Only <svg> and <math> enter foreign content and
 * only integration points leave it: the sanitizer closes SVG and MathML
 * elements before any other HTML element, so none breaks out in its output.
 */
static inline int
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

#endif
