/*
 * HTML sanitizer for article bodies. It tokenizes the input roughly as a
 * browser does and re-serializes what it keeps: tags are rebuilt from their
 * parts with quoted, escaped attribute values, text never contains '<', and no
 * raw-text element (script, style, textarea, ...) is ever emitted. So however
 * the input was crafted, the browser parses the output the way this file
 * modelled it, and the checks below apply to what the browser sees.
 */
#include "render_sanitize.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "samizdat/common.h"

#define MAX_DEPTH 256
#define MAX_NAME 32

struct san {
    struct sz_wr *w;
    const uint8_t *p;
    size_t len;
    size_t i;
    /* Open elements emitted so far, innermost last. */
    char stack[MAX_DEPTH][MAX_NAME + 1];
    size_t depth;
    /* While dropping an element with its content (template, object, head ...). */
    bool skipping;
    char skip_name[MAX_NAME + 1];
    size_t skip_depth;
};

struct attr {
    size_t name_off, name_len;
    size_t val_off, val_len;
};

/*
 * The policy on names: the classes of an element, a bit set, looked up once per
 * tag in tag_classes below (an element not there has none), and likewise for
 * attributes in attr_classes. test_sanitizer_name_policy (tests/test_library.c)
 * runs every name of the policy, and names one letter off, through the sanitizer.
 */
enum {
    /* Its content is raw text (or RCDATA) for the browser's tokenizer. */
    TAG_RAW_TEXT = 1u << 0,
    /* Dropped together with its content. */
    TAG_DROP_CONTENT = 1u << 1,
    /* Dropped, its content kept. */
    TAG_DROP_TAG = 1u << 2,
    /* A void element: it has no end tag. */
    TAG_VOID = 1u << 3,
    /* Its href is a link the reader follows, not a resource the page loads. */
    TAG_LINK = 1u << 4,
};

/* The classes of an attribute (ATTR_C_*, not to be confused with enum attr_kind). */
enum {
    /* Dropped (so are event handlers, on*, whatever their name). */
    ATTR_C_DROP = 1u << 0,
    /* A list of image candidates. */
    ATTR_C_SRCSET = 1u << 1,
    /* A URL the browser loads without a click. */
    ATTR_C_RESOURCE = 1u << 2,
    /* A data:image/ URL may stay, besides a local one. */
    ATTR_C_DATA_IMAGE = 1u << 3,
    /* A link on the elements of TAG_LINK, else a resource. */
    ATTR_C_HREF = 1u << 4,
    /* Inline CSS. */
    ATTR_C_STYLE = 1u << 5,
};

struct name_class {
    const char *name;
    unsigned cls;
};

/* Sorted by strcmp() (lowercase ASCII order) for bsearch(). */
static const struct name_class tag_classes[] = {
    {"a", TAG_LINK},
    {"animate", TAG_DROP_TAG},
    {"animatemotion", TAG_DROP_TAG},
    {"animatetransform", TAG_DROP_TAG},
    {"applet", TAG_DROP_CONTENT},
    {"area", TAG_VOID | TAG_LINK},
    {"base", TAG_DROP_TAG | TAG_VOID},
    {"body", TAG_DROP_TAG},
    {"br", TAG_VOID},
    {"col", TAG_VOID},
    {"discard", TAG_DROP_TAG},
    {"embed", TAG_DROP_TAG | TAG_VOID},
    {"fencedframe", TAG_DROP_TAG},
    {"frame", TAG_DROP_TAG},
    {"frameset", TAG_DROP_CONTENT},
    {"head", TAG_DROP_CONTENT},
    {"hr", TAG_VOID},
    {"html", TAG_DROP_TAG},
    {"iframe", TAG_RAW_TEXT | TAG_DROP_CONTENT},
    {"image", TAG_VOID},
    {"img", TAG_VOID},
    {"input", TAG_VOID},
    {"keygen", TAG_DROP_TAG | TAG_VOID},
    {"link", TAG_DROP_TAG | TAG_VOID},
    {"meta", TAG_DROP_TAG | TAG_VOID},
    {"noembed", TAG_RAW_TEXT | TAG_DROP_CONTENT},
    {"noframes", TAG_RAW_TEXT | TAG_DROP_CONTENT},
    {"noscript", TAG_RAW_TEXT | TAG_DROP_CONTENT},
    {"object", TAG_DROP_CONTENT},
    {"param", TAG_DROP_TAG | TAG_VOID},
    {"plaintext", TAG_DROP_TAG},
    {"portal", TAG_DROP_TAG},
    {"script", TAG_RAW_TEXT | TAG_DROP_CONTENT},
    {"select", TAG_DROP_CONTENT},
    {"set", TAG_DROP_TAG},
    {"source", TAG_VOID},
    {"style", TAG_RAW_TEXT | TAG_DROP_CONTENT},
    {"template", TAG_DROP_CONTENT},
    {"textarea", TAG_RAW_TEXT | TAG_DROP_CONTENT},
    {"title", TAG_RAW_TEXT | TAG_DROP_CONTENT},
    {"track", TAG_VOID},
    {"wbr", TAG_VOID},
    {"xmp", TAG_RAW_TEXT | TAG_DROP_CONTENT},
};

/* Sorted by strcmp() (ASCII order: ':' and '-' before letters) for bsearch(). */
static const struct name_class attr_classes[] = {
    {"action", ATTR_C_DROP},
    {"archive", ATTR_C_DROP},
    {"attributename", ATTR_C_DROP},
    {"background", ATTR_C_RESOURCE},
    {"classid", ATTR_C_DROP},
    {"codebase", ATTR_C_DROP},
    {"data", ATTR_C_RESOURCE},
    {"dynsrc", ATTR_C_RESOURCE},
    {"fetchpriority", ATTR_C_DROP},
    {"formaction", ATTR_C_DROP},
    {"href", ATTR_C_HREF},
    {"http-equiv", ATTR_C_DROP},
    {"imagesrcset", ATTR_C_SRCSET},
    {"is", ATTR_C_DROP},
    {"longdesc", ATTR_C_RESOURCE},
    {"lowsrc", ATTR_C_RESOURCE},
    {"manifest", ATTR_C_DROP},
    {"nonce", ATTR_C_DROP},
    {"ping", ATTR_C_DROP},
    {"popovertarget", ATTR_C_DROP},
    {"poster", ATTR_C_RESOURCE | ATTR_C_DATA_IMAGE},
    {"profile", ATTR_C_DROP},
    {"src", ATTR_C_RESOURCE | ATTR_C_DATA_IMAGE},
    {"srcdoc", ATTR_C_DROP},
    {"srcset", ATTR_C_SRCSET},
    {"style", ATTR_C_STYLE},
    {"xlink:href", ATTR_C_HREF},
    {"xml:base", ATTR_C_DROP},
    {"xmlns:xlink", ATTR_C_DROP},
};

static int
cmp_name_class(const void *key, const void *entry)
{
    const char *a = key, *b = ((const struct name_class *)entry)->name;
    /* strcmp()'s order; most steps of a search are decided by the first letter alone. */
    if (a[0] != b[0])
        return (unsigned char)a[0] - (unsigned char)b[0];
    return strcmp(a, b);
}

/* The classes of name in table t (sorted, n entries); 0 when it is not there. */
static unsigned
name_class(const char *name, const struct name_class *t, size_t n)
{
    const struct name_class *e = bsearch(name, t, n, sizeof *t, cmp_name_class);
    return e == NULL ? 0 : e->cls;
}

static unsigned
tag_class(const char *name)
{
    return name_class(name, tag_classes, sizeof tag_classes / sizeof tag_classes[0]);
}

static unsigned
attr_class(const char *name)
{
    return name_class(name, attr_classes, sizeof attr_classes / sizeof attr_classes[0]);
}

static bool
is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static bool
is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_alnum(uint8_t c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static uint8_t
lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

static void
out(struct san *s, const void *p, size_t n)
{
    if (n > 0)
        sz_wr_bytes(s->w, p, n);
}

static void
outs(struct san *s, const char *str)
{
    out(s, str, strlen(str));
}

/* Text is copied as is, except NUL, which becomes U+FFFD. */
static void
out_text(struct san *s, const uint8_t *p, size_t n)
{
    size_t start = 0;
    for (size_t k = 0; k < n; k++) {
        if (p[k] == 0) {
            out(s, p + start, k - start);
            outs(s, "\xef\xbf\xbd");
            start = k + 1;
        }
    }
    out(s, p + start, n - start);
}

/* Escapes a value for a double-quoted attribute. When keep_amp, '&' stays as
 * is so that the browser decodes the original entities itself. */
static void
out_attr_value(struct san *s, const uint8_t *p, size_t n, bool keep_amp)
{
    size_t start = 0;
    for (size_t k = 0; k < n; k++) {
        const char *rep = NULL;
        switch (p[k]) {
        case '"':
            rep = "&quot;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '&':
            rep = keep_amp ? NULL : "&amp;";
            break;
        case 0:
            rep = "\xef\xbf\xbd";
            break;
        default:
            break;
        }
        if (rep != NULL) {
            out(s, p + start, k - start);
            outs(s, rep);
            start = k + 1;
        }
    }
    out(s, p + start, n - start);
}

/* Reads a tag or attribute name at *pos, lowercased into name. Returns false when
 * it is too long or holds characters outside [a-z0-9:._-] (the name is still
 * consumed). */
static bool
read_name(const uint8_t *p, size_t len, size_t *pos, char name[MAX_NAME + 1], bool attr)
{
    size_t k = *pos, n = 0;
    bool ok = true;
    while (k < len && !is_space(p[k]) && p[k] != '/' && p[k] != '>' &&
           !(attr && p[k] == '=' && k > *pos)) {
        uint8_t c = lower(p[k]);
        if (!(is_alnum(c) || c == ':' || c == '.' || c == '_' || c == '-'))
            ok = false;
        if (n < MAX_NAME)
            name[n++] = (char)c;
        else
            ok = false;
        k++;
    }
    name[n] = '\0';
    *pos = k;
    return ok && n > 0;
}

/*
 * Reads the next attribute of a tag from *pos. Returns 1 with *a set, 0 when the
 * tag ends (*pos just after '>', *self_close set when it ended in "/>"), or -1
 * when the input ends inside the tag.
 */
static int
attr_next(const uint8_t *p, size_t len, size_t *pos, struct attr *a, bool *self_close)
{
    size_t k = *pos;
    for (;;) {
        while (k < len && is_space(p[k]))
            k++;
        if (k >= len)
            return -1;
        if (p[k] == '>') {
            *pos = k + 1;
            return 0;
        }
        if (p[k] == '/') {
            if (k + 1 < len && p[k + 1] == '>') {
                *self_close = true;
                *pos = k + 2;
                return 0;
            }
            k++;
            continue;
        }
        break;
    }
    a->name_off = k;
    k++; /* the first character may be '=' */
    while (k < len && !is_space(p[k]) && p[k] != '/' && p[k] != '>' && p[k] != '=')
        k++;
    a->name_len = k - a->name_off;
    a->val_off = k;
    a->val_len = 0;
    size_t j = k;
    while (j < len && is_space(p[j]))
        j++;
    if (j < len && p[j] == '=') {
        j++;
        while (j < len && is_space(p[j]))
            j++;
        if (j >= len)
            return -1;
        if (p[j] == '"' || p[j] == '\'') {
            const uint8_t *q = memchr(p + j + 1, p[j], len - j - 1);
            if (q == NULL)
                return -1;
            a->val_off = j + 1;
            a->val_len = (size_t)(q - (p + j + 1));
            k = (size_t)(q - p) + 1;
        } else {
            a->val_off = j;
            while (j < len && !is_space(p[j]) && p[j] != '>')
                j++;
            a->val_len = j - a->val_off;
            k = j;
        }
    }
    *pos = k;
    return 1;
}

static size_t
put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

struct entity {
    const char *name;
    const char *text;
    bool legacy; /* also recognised without the ';' */
};

/* The entities that matter for checking URLs and styles, plus the common ones. */
static const struct entity entities[] = {
    {"amp", "&", true},        {"lt", "<", true},          {"gt", ">", true},
    {"quot", "\"", true},      {"apos", "'", false},       {"colon", ":", false},
    {"sol", "/", false},       {"bsol", "\\", false},      {"Tab", "\t", false},
    {"NewLine", "\n", false},  {"period", ".", false},     {"num", "#", false},
    {"percnt", "%", false},    {"quest", "?", false},      {"equals", "=", false},
    {"excl", "!", false},      {"lpar", "(", false},       {"rpar", ")", false},
    {"commat", "@", false},    {"lowbar", "_", false},     {"semi", ";", false},
    {"comma", ",", false},     {"nbsp", "\xc2\xa0", true}, {"copy", "\xc2\xa9", true},
    {"reg", "\xc2\xae", true}, {NULL, NULL, false}};

/*
 * Decodes character references in an attribute value the way a browser does for
 * the cases that matter here. out must hold n bytes: a reference never decodes to
 * more bytes than it takes. Returns the decoded length.
 */
static size_t
decode_value(const uint8_t *p, size_t n, uint8_t *o)
{
    size_t k = 0, m = 0;
    while (k < n) {
        if (p[k] != '&') {
            o[m++] = p[k++];
            continue;
        }
        if (k + 2 < n && p[k + 1] == '#') {
            size_t j = k + 2;
            bool hex = false;
            if (p[j] == 'x' || p[j] == 'X') {
                hex = true;
                j++;
            }
            uint32_t cp = 0;
            size_t digits = 0;
            while (j < n) {
                uint8_t c = p[j];
                uint32_t d;
                if (c >= '0' && c <= '9')
                    d = c - '0';
                else if (hex && lower(c) >= 'a' && lower(c) <= 'f')
                    d = (uint32_t)(lower(c) - 'a' + 10);
                else
                    break;
                if (cp <= 0x10FFFF)
                    cp = cp * (hex ? 16 : 10) + d;
                digits++;
                j++;
            }
            if (digits > 0) {
                if (j < n && p[j] == ';')
                    j++;
                m += put_utf8(o + m, cp);
                k = j;
                continue;
            }
        } else {
            bool done = false;
            for (const struct entity *e = entities; e->name != NULL && !done; e++) {
                size_t nl = strlen(e->name);
                if (k + 1 + nl > n || memcmp(p + k + 1, e->name, nl) != 0)
                    continue;
                size_t j = k + 1 + nl;
                if (j < n && p[j] == ';') {
                    j++;
                } else if (!e->legacy || (j < n && (is_alnum(p[j]) || p[j] == '='))) {
                    continue;
                }
                size_t tl = strlen(e->text);
                memcpy(o + m, e->text, tl);
                m += tl;
                k = j;
                done = true;
            }
            if (done)
                continue;
        }
        o[m++] = p[k++];
    }
    return m;
}

/* A URL as the browser's URL parser sees it: leading and trailing C0 controls
 * and spaces stripped, tabs and newlines removed anywhere. */
static size_t
normalize_url(const uint8_t *p, size_t n, uint8_t *o)
{
    size_t a = 0, b = n, m = 0;
    /* A NUL is not stripped: the page shows it as U+FFFD, which browsers keep. */
    while (a < b && p[a] <= 0x20 && p[a] != 0)
        a++;
    while (b > a && p[b - 1] <= 0x20 && p[b - 1] != 0)
        b--;
    for (size_t k = a; k < b; k++) {
        if (p[k] != '\t' && p[k] != '\n' && p[k] != '\r')
            o[m++] = p[k];
    }
    return m;
}

/* Writes the lowercased scheme of u (without ':') into scheme; returns false
 * when u has none (a relative reference). */
static bool
url_scheme(const uint8_t *u, size_t n, char *scheme, size_t cap)
{
    /*
     * Conservative, as browsers are lenient: a ':' before any '/', '?' or '#'
     * means a scheme. Browsers drop tabs and newlines inside URLs, so only
     * letters, digits and "+-." count toward its name; a name too long for
     * `cap` comes back empty, which no allow-list matches.
     */
    size_t k, o = 0;
    bool too_long = false;

    /* Browsers read '\\' as '/' in URLs. */
    for (k = 0; k < n && u[k] != ':' && u[k] != '/' && u[k] != '\\' && u[k] != '?' && u[k] != '#';
         k++)
        ;
    /* Even an empty name before ':' counts: such a URL is not a relative path. */
    if (k == n || u[k] != ':')
        return false;
    for (size_t j = 0; j < k; j++) {
        if (!(is_alnum(u[j]) || u[j] == '+' || u[j] == '-' || u[j] == '.'))
            continue;
        if (o + 1 >= cap) {
            too_long = true;
            break;
        }
        scheme[o++] = (char)lower(u[j]);
    }
    scheme[too_long ? 0 : o] = '\0';
    return true;
}

/* A relative path that stays on this machine and cannot name a host. */
static bool
url_local(const uint8_t *u, size_t n)
{
    char scheme[16];
    if (url_scheme(u, n, scheme, sizeof scheme))
        return false;
    return n == 0 || (u[0] != '/' && u[0] != '\\');
}

static bool
url_link_ok(const uint8_t *u, size_t n)
{
    char scheme[16];
    if (url_scheme(u, n, scheme, sizeof scheme))
        return strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0 ||
               strcmp(scheme, "mailto") == 0;
    /* Protocol-relative links would point at file://host/ (a network share). */
    return !(n >= 2 && (u[0] == '/' || u[0] == '\\') && (u[1] == '/' || u[1] == '\\'));
}

static bool
url_data_image(const uint8_t *u, size_t n)
{
    static const char prefix[] = "data:image/";
    if (n < sizeof prefix - 1)
        return false;
    for (size_t k = 0; k < sizeof prefix - 1; k++) {
        if (lower(u[k]) != (uint8_t)prefix[k])
            return false;
    }
    return true;
}

static bool
srcset_ok(const uint8_t *u, size_t n)
{
    if (memchr(u, ':', n) != NULL)
        return false;
    size_t k = 0;
    while (k < n) {
        /* A URL parser drops each candidate's leading C0 controls and spaces. */
        while (k < n && (u[k] <= 0x20 || u[k] == ','))
            k++;
        if (k < n && (u[k] == '/' || u[k] == '\\'))
            return false;
        while (k < n && u[k] != ',')
            k++;
    }
    return true;
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

static bool
style_ok(const uint8_t *v, size_t n)
{
    static const char *const bad[] = {"url",      "image",      "src",     "\\",
                                      "@",        "expression", "element", "binding",
                                      "behavior", "cross-fade", "/*",      NULL};
    uint8_t *c = malloc(n + 1);
    size_t m = 0;
    bool ok = true;

    if (c == NULL)
        return false;
    /* Checked without white space and control characters: "expre\rssion" counts. */
    for (size_t k = 0; k < n; k++)
        if (v[k] > 0x20)
            c[m++] = v[k];
    for (size_t k = 0; ok && bad[k] != NULL; k++)
        if (contains_ci(c, m, bad[k]))
            ok = false;
    free(c);
    return ok;
}

enum attr_kind { ATTR_PLAIN, ATTR_DROP, ATTR_LINK, ATTR_RESOURCE, ATTR_SRCSET, ATTR_STYLE };

/* The kind of attribute name, of classes cls (attr_class()), on an element of classes tag. */
static enum attr_kind
attr_kind(unsigned tag, const char *name, unsigned cls)
{
    if (name[0] == 'o' && name[1] == 'n')
        return ATTR_DROP;
    if (cls & ATTR_C_DROP)
        return ATTR_DROP;
    if (cls & ATTR_C_SRCSET)
        return ATTR_SRCSET;
    if (cls & ATTR_C_RESOURCE)
        return ATTR_RESOURCE;
    if (cls & ATTR_C_HREF)
        return (tag & TAG_LINK) ? ATTR_LINK : ATTR_RESOURCE;
    if (cls & ATTR_C_STYLE)
        return ATTR_STYLE;
    return ATTR_PLAIN;
}

static bool
in_foreign(const struct san *s)
{
    for (size_t k = 0; k < s->depth; k++) {
        if (strcmp(s->stack[k], "svg") == 0 || strcmp(s->stack[k], "math") == 0)
            return true;
    }
    return false;
}

/*
 * True when a plain attribute's value (entities decoded) holds "url(" in any
 * case, or, inside SVG or MathML, a backslash (a CSS escape could spell it).
 */
static bool
plain_names_url(const struct san *s, const uint8_t *v, size_t len)
{
    uint8_t *dec = malloc(len + 1);
    size_t n, k;
    bool found = false;

    if (dec == NULL)
        return true; /* Leave the attribute out: losing it is safe. */
    n = decode_value(v, len, dec);
    /* White space and control characters are dropped first: "ur\rl(" counts too. */
    {
        size_t m = 0;
        for (k = 0; k < n; k++)
            if (dec[k] > 0x20)
                dec[m++] = dec[k];
        n = m;
    }
    for (k = 0; k < n && !found; k++) {
        if (dec[k] == '\\' && in_foreign(s))
            found = true;
        else if (k + 4 <= n && lower(dec[k]) == 'u' && lower(dec[k + 1]) == 'r' &&
                 lower(dec[k + 2]) == 'l' && dec[k + 3] == '(')
            found = true;
    }
    free(dec);
    return found;
}

/* Emits one attribute if the policy keeps it. */
static void
emit_attr(struct san *s, unsigned tag, const struct attr *a)
{
    char name[MAX_NAME + 1];
    size_t pos = a->name_off;
    if (!read_name(s->p, a->name_off + a->name_len, &pos, name, true) ||
        pos != a->name_off + a->name_len)
        return;
    unsigned cls = attr_class(name);
    enum attr_kind kind = attr_kind(tag, name, cls);
    if (kind == ATTR_DROP)
        return;
    const uint8_t *v = s->p + a->val_off;
    if (kind == ATTR_PLAIN && plain_names_url(s, v, a->val_len))
        return; /* SVG paint and the like: url(...) could name a remote host. */
    if (kind == ATTR_PLAIN) {
        outs(s, " ");
        outs(s, name);
        outs(s, "=\"");
        out_attr_value(s, v, a->val_len, true);
        outs(s, "\"");
        return;
    }
    uint8_t *dec = malloc(a->val_len + 1);
    uint8_t *norm = malloc(a->val_len + 1);
    if (dec == NULL || norm == NULL) {
        /* Leave the attribute out: losing it is safe. */
        free(dec);
        free(norm);
        return;
    }
    size_t dn = decode_value(v, a->val_len, dec);
    size_t nn = normalize_url(dec, dn, norm);
    bool keep = false;
    switch (kind) {
    case ATTR_LINK:
        keep = url_link_ok(norm, nn);
        break;
    case ATTR_RESOURCE:
        keep = url_local(norm, nn) || ((cls & ATTR_C_DATA_IMAGE) && url_data_image(norm, nn));
        break;
    case ATTR_SRCSET:
        keep = srcset_ok(norm, nn);
        break;
    case ATTR_STYLE:
        keep = style_ok(dec, dn);
        break;
    default:
        break;
    }
    if (keep) {
        outs(s, " ");
        outs(s, name);
        outs(s, "=\"");
        out_attr_value(s, dec, dn, false);
        outs(s, "\"");
    }
    free(dec);
    free(norm);
}

/* Moves s->i to the "</name" that ends a raw-text element, or to the end. */
static void
skip_raw_text(struct san *s, const char *name)
{
    size_t nl = strlen(name);
    for (size_t k = s->i; k + 2 + nl <= s->len; k++) {
        if (s->p[k] != '<' || s->p[k + 1] != '/')
            continue;
        size_t j = 0;
        while (j < nl && lower(s->p[k + 2 + j]) == (uint8_t)name[j])
            j++;
        if (j < nl)
            continue;
        size_t e = k + 2 + nl;
        if (e == s->len || is_space(s->p[e]) || s->p[e] == '/' || s->p[e] == '>') {
            s->i = k;
            return;
        }
    }
    s->i = s->len;
}

/* Handles a start or end tag at s->i ('<' then a letter, or "</" then a letter). */
static void
do_tag(struct san *s)
{
    const uint8_t *p = s->p;
    bool end = p[s->i + 1] == '/';
    size_t pos = s->i + (end ? 2 : 1);
    char name[MAX_NAME + 1];
    bool name_ok = read_name(p, s->len, &pos, name, false);
    size_t attrs = pos;
    bool self_close = false;
    struct attr a;
    int r;
    while ((r = attr_next(p, s->len, &pos, &a, &self_close)) == 1) {
    }
    if (r < 0) {
        /* The input ends inside the tag: the browser would drop it too. */
        s->i = s->len;
        return;
    }
    s->i = pos;
    if (!name_ok)
        return;
    unsigned cls = tag_class(name);

    if (s->skipping) {
        if (!end && strcmp(s->skip_name, "head") == 0 && strcmp(name, "body") == 0) {
            s->skipping = false;
            return;
        }
        if (strcmp(name, s->skip_name) == 0) {
            if (end) {
                if (--s->skip_depth == 0)
                    s->skipping = false;
            } else if (!self_close) {
                s->skip_depth++;
            }
            return;
        }
        if (!end && (cls & TAG_RAW_TEXT))
            skip_raw_text(s, name);
        return;
    }

    if (end) {
        if (cls & (TAG_DROP_CONTENT | TAG_DROP_TAG))
            return;
        for (size_t k = s->depth; k > 0; k--) {
            if (strcmp(s->stack[k - 1], name) == 0) {
                s->depth = k - 1;
                outs(s, "</");
                outs(s, name);
                outs(s, ">");
                return;
            }
        }
        return; /* no such open element: never let it close the page around us */
    }

    if (cls & TAG_DROP_CONTENT) {
        if (cls & TAG_RAW_TEXT) {
            skip_raw_text(s, name);
        } else if (!self_close) {
            s->skipping = true;
            strcpy(s->skip_name, name);
            s->skip_depth = 1;
        }
        return;
    }
    if (cls & TAG_DROP_TAG)
        return;
    bool is_void = (cls & TAG_VOID) != 0;
    bool closes_self = self_close && in_foreign(s);
    if (!is_void && !closes_self && s->depth == MAX_DEPTH)
        return; /* too deep: drop the tag, keep its content */

    outs(s, "<");
    outs(s, name);
    size_t ap = attrs;
    bool dummy = false;
    while (attr_next(p, s->len, &ap, &a, &dummy) == 1)
        emit_attr(s, cls, &a);
    outs(s, closes_self ? "/>" : ">");
    if (!is_void && !closes_self)
        strcpy(s->stack[s->depth++], name);
}

/* Skips "<!-- ... -->", "<!...>" and "<?...>" at s->i. */
static void
skip_markup_decl(struct san *s)
{
    const uint8_t *p = s->p;
    size_t k = s->i;
    if (k + 4 <= s->len && memcmp(p + k, "<!--", 4) == 0) {
        for (size_t j = k + 2; j + 3 <= s->len; j++) {
            if (memcmp(p + j, "-->", 3) == 0) {
                s->i = j + 3;
                return;
            }
            if (j + 4 <= s->len && memcmp(p + j, "--!>", 4) == 0) {
                s->i = j + 4;
                return;
            }
        }
        s->i = s->len;
        return;
    }
    const uint8_t *gt = memchr(p + k, '>', s->len - k);
    s->i = gt == NULL ? s->len : (size_t)(gt - p) + 1;
}

void
render_sanitize_html(struct sz_wr *w, const uint8_t *in, size_t len)
{
    struct san *s = calloc(1, sizeof *s);
    if (s == NULL) {
        if (w->err == 0)
            w->err = -SZ_ENOMEM;
        return;
    }
    s->w = w;
    s->p = in;
    s->len = len;
    while (s->i < s->len) {
        const uint8_t *lt = memchr(in + s->i, '<', s->len - s->i);
        size_t next = lt == NULL ? s->len : (size_t)(lt - in);
        if (next > s->i) {
            if (!s->skipping)
                out_text(s, in + s->i, next - s->i);
            s->i = next;
            continue;
        }
        /* At '<'. */
        uint8_t c1 = s->i + 1 < s->len ? in[s->i + 1] : 0;
        uint8_t c2 = s->i + 2 < s->len ? in[s->i + 2] : 0;
        if (c1 == '!' || c1 == '?') {
            skip_markup_decl(s);
        } else if (is_alpha(c1) || (c1 == '/' && is_alpha(c2))) {
            do_tag(s);
        } else if (c1 == '/' && c2 == '>') {
            s->i += 3; /* "</>" is ignored by browsers */
        } else if (c1 == '/') {
            /* "</" + junk is a bogus comment up to '>'. */
            skip_markup_decl(s);
        } else {
            if (!s->skipping)
                outs(s, "&lt;");
            s->i++;
        }
    }
    while (s->depth > 0) {
        s->depth--;
        outs(s, "</");
        outs(s, s->stack[s->depth]);
        outs(s, ">");
    }
    free(s);
}
