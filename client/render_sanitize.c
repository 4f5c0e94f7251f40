/*
 * HTML sanitizer for article bodies. It tokenizes the input roughly as a
 * browser does and re-serializes what it keeps: tags are rebuilt from their
 * parts with quoted, escaped attribute values, text never contains '<', and no
 * raw-text element (script, style, textarea, ...) is ever emitted. So however
 * the input was crafted, the browser tokenizes the output the way this file
 * modelled it, and the checks below apply to what the browser sees.
 *
 * The tree the browser builds from those tokens is modelled too (the "tree
 * construction" of the HTML standard, for the elements kept): an end tag
 * closes exactly what the browser's would, and wherever the browser would close
 * elements by itself (a <p> closed by a <div>, a cell by the next cell,
 * foreign content left by an HTML element, ...) the output closes them with
 * end tags of its own. So every end tag written closes the innermost open
 * element, the browser's tree and the model stay the same, nothing is ever
 * written self-closed ("/>"), and the body can neither close the page's own
 * elements around it nor leave any open after it.
 */
#include "render_sanitize.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "samizdat/buf.h"
#include "samizdat/common.h"

#define MAX_DEPTH 256
#define MAX_NAME 32
/* Buckets of the index from element names to open elements (a power of 2),
 * for names the tables do not list; each listed name has its own slot. */
#define N_BUCKETS 512
#define N_SLOTS (N_BUCKETS + 256)

struct attr {
    size_t name_off, name_len;
    size_t val_off, val_len;
};

/*
 * The policy on names: the classes of an element, a bit set, looked up once per
 * tag in tag_infos below (an element not there has none), and likewise for
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

/*
 * What the tree construction of the HTML standard does with an HTML element
 * (also in tag_infos; SVG and MathML elements get theirs in elem_push()).
 */
enum {
    /* "Special": an end tag of another name does not close past it. */
    TREE_SPECIAL = 1u << 8,
    /* Bounds "in scope", and with these, "in list item scope" and "in button scope". */
    TREE_SCOPE = 1u << 9,
    TREE_LIST_SCOPE = 1u << 10,
    TREE_BUTTON_SCOPE = 1u << 11,
    /* Bounds "in table scope". */
    TREE_TABLE_SCOPE = 1u << 12,
    /* Pushes a marker onto the list of active formatting elements. */
    TREE_MARKER = 1u << 13,
    /* Part of a table: sets the insertion mode. */
    TREE_TABLE_PART = 1u << 14,
    /* Its start tag closes an open <p> (in button scope). */
    TREE_CLOSES_P = 1u << 15,
    /* Its end tag closes it when it is in scope, with all inside it. */
    TREE_BLOCK_END = 1u << 16,
    /* A formatting element (its end tag runs the adoption agency algorithm). */
    TREE_FORMATTING = 1u << 17,
    /* h1 to h6. */
    TREE_HEADING = 1u << 18,
    /* "Generate implied end tags" closes it. */
    TREE_IMPLIED_END = 1u << 19,
    /* Its start tag leaves SVG and MathML content ("breaks out"). */
    TREE_BREAKOUT = 1u << 20,
    /* Special, but li, dd and dt start tags look past it (address, div, p;
     * and search, which Chromium does not count as special yet: the model
     * may close more than a browser would, with end tags it writes, never less). */
    TREE_SEE_THROUGH = 1u << 21,
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
    /* Class names: only a code block's language stays. */
    ATTR_C_CLASS = 1u << 6,
};

struct name_class {
    const char *name;
    unsigned cls;
};

#define T_SPEC TREE_SPECIAL
#define T_BLOCK (TREE_SPECIAL | TREE_CLOSES_P | TREE_BLOCK_END)
#define T_FMT (TREE_FORMATTING | TREE_BREAKOUT)

struct tag_info {
    const char *name;
    unsigned cls; /* TAG_* and TREE_* */
    uint8_t id;
};

enum tag_id {
    ID_OTHER,
    ID_A,
    ID_BODY,
    ID_BR,
    ID_BUTTON,
    ID_CAPTION,
    ID_COL,
    ID_COLGROUP,
    ID_DD,
    ID_DT,
    ID_FONT,
    ID_FORM,
    ID_H1,
    ID_H2,
    ID_H3,
    ID_H4,
    ID_H5,
    ID_H6,
    ID_HEAD,
    ID_LI,
    ID_MARQUEE,
    ID_MATH,
    ID_NOBR,
    ID_OPTGROUP,
    ID_OPTION,
    ID_P,
    ID_RB,
    ID_RP,
    ID_RT,
    ID_RTC,
    ID_RUBY,
    ID_SVG,
    ID_TABLE,
    ID_TBODY,
    ID_TD,
    ID_TFOOT,
    ID_TH,
    ID_THEAD,
    ID_TR,
    N_IDS
};

/* Sorted by strcmp() (lowercase ASCII order) for bsearch(). */
static const struct tag_info tag_infos[] = {
    {"a", TAG_LINK | TREE_FORMATTING, ID_A},
    {"address", T_BLOCK | TREE_SEE_THROUGH, ID_OTHER},
    {"animate", TAG_DROP_TAG, ID_OTHER},
    {"animatemotion", TAG_DROP_TAG, ID_OTHER},
    {"animatetransform", TAG_DROP_TAG, ID_OTHER},
    {"annotation-xml", TAG_DROP_CONTENT, ID_OTHER},
    {"applet", TAG_DROP_CONTENT, ID_OTHER},
    {"area", TAG_VOID | TAG_LINK | T_SPEC, ID_OTHER},
    {"article", T_BLOCK, ID_OTHER},
    {"aside", T_BLOCK, ID_OTHER},
    {"b", T_FMT, ID_OTHER},
    {"base", TAG_DROP_TAG | TAG_VOID, ID_OTHER},
    {"basefont", TAG_VOID | T_SPEC, ID_OTHER},
    {"bgsound", TAG_VOID | T_SPEC, ID_OTHER},
    {"big", T_FMT, ID_OTHER},
    {"blockquote", T_BLOCK | TREE_BREAKOUT, ID_OTHER},
    {"body", TAG_DROP_TAG, ID_BODY},
    {"br", TAG_VOID | T_SPEC | TREE_BREAKOUT, ID_BR},
    {"button", T_SPEC | TREE_BUTTON_SCOPE, ID_BUTTON},
    {"caption", T_SPEC | TREE_SCOPE | TREE_MARKER | TREE_TABLE_PART, ID_CAPTION},
    {"center", T_BLOCK | TREE_BREAKOUT, ID_OTHER},
    {"code", T_FMT, ID_OTHER},
    {"col", TAG_VOID | T_SPEC, ID_COL},
    {"colgroup", T_SPEC | TREE_TABLE_PART, ID_COLGROUP},
    {"dd", T_SPEC | TREE_IMPLIED_END | TREE_BREAKOUT, ID_DD},
    {"details", T_BLOCK, ID_OTHER},
    {"dialog", TREE_CLOSES_P | TREE_BLOCK_END, ID_OTHER},
    {"dir", T_BLOCK, ID_OTHER},
    {"discard", TAG_DROP_TAG, ID_OTHER},
    {"div", T_BLOCK | TREE_SEE_THROUGH | TREE_BREAKOUT, ID_OTHER},
    {"dl", T_BLOCK | TREE_BREAKOUT, ID_OTHER},
    {"dt", T_SPEC | TREE_IMPLIED_END | TREE_BREAKOUT, ID_DT},
    {"em", T_FMT, ID_OTHER},
    {"embed", TAG_DROP_TAG | TAG_VOID, ID_OTHER},
    {"fencedframe", TAG_DROP_TAG, ID_OTHER},
    {"fieldset", T_BLOCK, ID_OTHER},
    {"figcaption", T_BLOCK, ID_OTHER},
    {"figure", T_BLOCK, ID_OTHER},
    {"font", TREE_FORMATTING, ID_FONT},
    {"footer", T_BLOCK, ID_OTHER},
    {"form", T_SPEC | TREE_CLOSES_P, ID_FORM},
    {"frame", TAG_DROP_TAG, ID_OTHER},
    {"frameset", TAG_DROP_CONTENT, ID_OTHER},
    {"h1", T_SPEC | TREE_CLOSES_P | TREE_HEADING | TREE_BREAKOUT, ID_H1},
    {"h2", T_SPEC | TREE_CLOSES_P | TREE_HEADING | TREE_BREAKOUT, ID_H2},
    {"h3", T_SPEC | TREE_CLOSES_P | TREE_HEADING | TREE_BREAKOUT, ID_H3},
    {"h4", T_SPEC | TREE_CLOSES_P | TREE_HEADING | TREE_BREAKOUT, ID_H4},
    {"h5", T_SPEC | TREE_CLOSES_P | TREE_HEADING | TREE_BREAKOUT, ID_H5},
    {"h6", T_SPEC | TREE_CLOSES_P | TREE_HEADING | TREE_BREAKOUT, ID_H6},
    {"head", TAG_DROP_CONTENT, ID_HEAD},
    {"header", T_BLOCK, ID_OTHER},
    {"hgroup", T_BLOCK, ID_OTHER},
    {"hr", TAG_VOID | T_SPEC | TREE_CLOSES_P | TREE_BREAKOUT, ID_OTHER},
    {"html", TAG_DROP_TAG, ID_OTHER},
    {"i", T_FMT, ID_OTHER},
    {"iframe", TAG_RAW_TEXT | TAG_DROP_CONTENT, ID_OTHER},
    {"image", TAG_VOID | T_SPEC, ID_OTHER},
    {"img", TAG_VOID | T_SPEC | TREE_BREAKOUT, ID_OTHER},
    {"input", TAG_VOID | T_SPEC, ID_OTHER},
    {"keygen", TAG_DROP_TAG | TAG_VOID, ID_OTHER},
    {"li", T_SPEC | TREE_IMPLIED_END | TREE_BREAKOUT, ID_LI},
    {"link", TAG_DROP_TAG | TAG_VOID, ID_OTHER},
    {"listing", T_BLOCK | TREE_BREAKOUT, ID_OTHER},
    {"main", T_BLOCK, ID_OTHER},
    {"marquee", T_SPEC | TREE_SCOPE | TREE_MARKER, ID_MARQUEE},
    {"math", 0, ID_MATH},
    {"menu", T_BLOCK | TREE_BREAKOUT, ID_OTHER},
    {"meta", TAG_DROP_TAG | TAG_VOID, ID_OTHER},
    {"nav", T_BLOCK, ID_OTHER},
    {"nobr", T_FMT, ID_NOBR},
    {"noembed", TAG_RAW_TEXT | TAG_DROP_CONTENT, ID_OTHER},
    {"noframes", TAG_RAW_TEXT | TAG_DROP_CONTENT, ID_OTHER},
    {"noscript", TAG_RAW_TEXT | TAG_DROP_CONTENT, ID_OTHER},
    {"object", TAG_DROP_CONTENT, ID_OTHER},
    {"ol", T_BLOCK | TREE_LIST_SCOPE | TREE_BREAKOUT, ID_OTHER},
    {"optgroup", TREE_IMPLIED_END, ID_OPTGROUP},
    {"option", TREE_IMPLIED_END, ID_OPTION},
    {"p", T_SPEC | TREE_CLOSES_P | TREE_IMPLIED_END | TREE_SEE_THROUGH | TREE_BREAKOUT, ID_P},
    {"param", TAG_DROP_TAG | TAG_VOID, ID_OTHER},
    {"plaintext", TAG_DROP_TAG, ID_OTHER},
    {"portal", TAG_DROP_TAG, ID_OTHER},
    {"pre", T_BLOCK | TREE_BREAKOUT, ID_OTHER},
    {"rb", TREE_IMPLIED_END, ID_RB},
    {"rp", TREE_IMPLIED_END, ID_RP},
    {"rt", TREE_IMPLIED_END, ID_RT},
    {"rtc", TREE_IMPLIED_END, ID_RTC},
    {"ruby", TREE_BREAKOUT, ID_RUBY},
    {"s", T_FMT, ID_OTHER},
    {"script", TAG_RAW_TEXT | TAG_DROP_CONTENT, ID_OTHER},
    {"search", T_BLOCK | TREE_SEE_THROUGH, ID_OTHER},
    {"section", T_BLOCK, ID_OTHER},
    {"select", TAG_DROP_CONTENT, ID_OTHER},
    {"set", TAG_DROP_TAG, ID_OTHER},
    {"small", T_FMT, ID_OTHER},
    {"source", TAG_VOID | T_SPEC, ID_OTHER},
    {"span", TREE_BREAKOUT, ID_OTHER},
    {"strike", T_FMT, ID_OTHER},
    {"strong", T_FMT, ID_OTHER},
    {"style", TAG_RAW_TEXT | TAG_DROP_CONTENT, ID_OTHER},
    {"sub", TREE_BREAKOUT, ID_OTHER},
    {"summary", T_BLOCK, ID_OTHER},
    {"sup", TREE_BREAKOUT, ID_OTHER},
    {"svg", 0, ID_SVG},
    {"table",
     T_SPEC | TREE_SCOPE | TREE_TABLE_SCOPE | TREE_TABLE_PART | TREE_CLOSES_P | TREE_BREAKOUT,
     ID_TABLE},
    {"tbody", T_SPEC | TREE_TABLE_PART, ID_TBODY},
    {"td", T_SPEC | TREE_SCOPE | TREE_MARKER | TREE_TABLE_PART, ID_TD},
    {"template", TAG_DROP_CONTENT, ID_OTHER},
    {"textarea", TAG_RAW_TEXT | TAG_DROP_CONTENT, ID_OTHER},
    {"tfoot", T_SPEC | TREE_TABLE_PART, ID_TFOOT},
    {"th", T_SPEC | TREE_SCOPE | TREE_MARKER | TREE_TABLE_PART, ID_TH},
    {"thead", T_SPEC | TREE_TABLE_PART, ID_THEAD},
    {"title", TAG_RAW_TEXT | TAG_DROP_CONTENT, ID_OTHER},
    {"tr", T_SPEC | TREE_TABLE_PART, ID_TR},
    {"track", TAG_VOID | T_SPEC, ID_OTHER},
    {"tt", T_FMT, ID_OTHER},
    {"u", T_FMT, ID_OTHER},
    {"ul", T_BLOCK | TREE_LIST_SCOPE | TREE_BREAKOUT, ID_OTHER},
    {"var", TREE_BREAKOUT, ID_OTHER},
    {"wbr", TAG_VOID | T_SPEC, ID_OTHER},
    {"xmp", TAG_RAW_TEXT | TAG_DROP_CONTENT, ID_OTHER},
};

enum ns { NS_HTML, NS_SVG, NS_MATH };

/* An open element, and the nearest elements at or below it of the kinds the
 * tree construction asks about (-1: none), so that no question walks the stack. */
struct elem {
    char name[MAX_NAME + 1];
    uint8_t ns;           /* enum ns */
    uint8_t id;           /* enum tag_id, HTML elements only */
    unsigned tree;        /* TREE_* classes */
    uint16_t slot;        /* in san.slot_top */
    int16_t prev_in_slot; /* the next open element down in the same slot */
    int16_t scope, list_scope, button_scope, table_scope; /* boundaries of each scope */
    int16_t special, special_stop, marker, html, table_part;
    bool scroll; /* the page's scroll box around a table (render_sanitize_body()) */
};

/* An article's file name and its index in render_sanitize_body()'s files. */
struct file_ref {
    const char *name;
    size_t k;
};

struct san {
    struct sz_wr *w;
    bool page; /* render_sanitize_body(): what the article page adds */
    const uint8_t *p;
    size_t len;
    size_t i;
    /* Open elements emitted so far, innermost last. */
    struct elem stack[MAX_DEPTH];
    size_t depth;
    /* Innermost open element of each slot (see name_slot()), -1 when none. */
    int16_t slot_top[N_SLOTS];
    unsigned char hash_key[crypto_shorthash_KEYBYTES];
    /* The row of tag_infos of each enum tag_id. */
    int16_t row_of[N_IDS];
    /* While dropping an element with its content (template, object, head ...). */
    bool skipping;
    char skip_name[MAX_NAME + 1];
    size_t skip_depth;
    /* The start tag being written kept a link with a scheme (http, https,
     * mailto): following it goes online. */
    bool link_online;
    /* render_sanitize_body(): the article's files, and their indexes in the
     * order of their names (for bsearch()). */
    const struct san_files *files;
    struct file_ref *by_name;
    bool files_known; /* render_sanitize_body() was given the article's files (maybe none) */
    int top;          /* render_sanitize_body(): the heading level that becomes h2 (0: h1) */
};

/* Sorted by strcmp() (ASCII order: ':' and '-' before letters) for bsearch(). */
static const struct name_class attr_classes[] = {
    /* The keyboard belongs to the page: a publisher's access keys, autofocus
     * and tab order (tabindex="1" comes before the page's navigation) are
     * dropped; the page makes its own scroll boxes focusable. */
    {"accesskey", ATTR_C_DROP},
    {"action", ATTR_C_DROP},
    /* Anchor positioning, popovers and invoker commands: an element out of the
     * body's box (the top layer ignores containment) could cover the page. */
    {"anchor", ATTR_C_DROP},
    {"archive", ATTR_C_DROP},
    {"attributename", ATTR_C_DROP},
    /* Attribution reporting: a browser that has it asks the URL in the background. */
    {"attributionsrc", ATTR_C_DROP},
    {"autofocus", ATTR_C_DROP},
    {"background", ATTR_C_RESOURCE},
    /* The page's own classes (its warnings, its footer's key) would dress the
     * publisher's markup as the page's; a publisher's classes have no style
     * here. Only "language-NAME" (a code block's language) stays. */
    {"class", ATTR_C_CLASS},
    {"classid", ATTR_C_DROP},
    {"codebase", ATTR_C_DROP},
    {"command", ATTR_C_DROP},
    {"commandfor", ATTR_C_DROP},
    {"data", ATTR_C_RESOURCE},
    /* The page's mark of a link that goes online: the page sets it, not the publisher. */
    {"data-online", ATTR_C_DROP},
    {"dynsrc", ATTR_C_RESOURCE},
    {"fetchpriority", ATTR_C_DROP},
    {"formaction", ATTR_C_DROP},
    {"href", ATTR_C_HREF},
    {"http-equiv", ATTR_C_DROP},
    {"imagesrcset", ATTR_C_SRCSET},
    {"interestfor", ATTR_C_DROP},
    {"is", ATTR_C_DROP},
    {"longdesc", ATTR_C_RESOURCE},
    {"lowsrc", ATTR_C_RESOURCE},
    {"manifest", ATTR_C_DROP},
    {"nonce", ATTR_C_DROP},
    {"ping", ATTR_C_DROP},
    {"popover", ATTR_C_DROP},
    {"popovertarget", ATTR_C_DROP},
    {"popovertargetaction", ATTR_C_DROP},
    {"poster", ATTR_C_RESOURCE | ATTR_C_DATA_IMAGE},
    {"profile", ATTR_C_DROP},
    {"src", ATTR_C_RESOURCE | ATTR_C_DATA_IMAGE},
    {"srcdoc", ATTR_C_DROP},
    {"srcset", ATTR_C_SRCSET},
    {"style", ATTR_C_STYLE},
    {"tabindex", ATTR_C_DROP},
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

static int
cmp_tag_info(const void *key, const void *entry)
{
    const char *a = key, *b = ((const struct tag_info *)entry)->name;
    if (a[0] != b[0])
        return (unsigned char)a[0] - (unsigned char)b[0];
    return strcmp(a, b);
}

#define N_TAG_INFOS (sizeof tag_infos / sizeof tag_infos[0])
_Static_assert(N_TAG_INFOS <= N_SLOTS - N_BUCKETS, "a slot for each listed name");

/* What the tables say of an element name; NULL when they do not list it. */
static const struct tag_info *
tag_lookup(const char *name)
{
    return bsearch(name, tag_infos, N_TAG_INFOS, sizeof tag_infos[0], cmp_tag_info);
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

/*
 * The named character references read: those that matter for checking URLs
 * and styles, and HTML 4's (Latin-1, symbols, Greek), which exported articles
 * use in titles (&eacute;, &euro;), each as HTML5 reads it; those a browser
 * also reads without the ';' are marked so. Sorted by name (byte order): a
 * reference is looked up by the name's whole run of letters and digits.
 */
static const struct entity entities[] = {
    {"AElig", "\xc3\x86", true},
    {"Aacute", "\xc3\x81", true},
    {"Acirc", "\xc3\x82", true},
    {"Agrave", "\xc3\x80", true},
    {"Alpha", "\xce\x91", false},
    {"Aring", "\xc3\x85", true},
    {"Atilde", "\xc3\x83", true},
    {"Auml", "\xc3\x84", true},
    {"Beta", "\xce\x92", false},
    {"Ccedil", "\xc3\x87", true},
    {"Chi", "\xce\xa7", false},
    {"Dagger", "\xe2\x80\xa1", false},
    {"Delta", "\xce\x94", false},
    {"ETH", "\xc3\x90", true},
    {"Eacute", "\xc3\x89", true},
    {"Ecirc", "\xc3\x8a", true},
    {"Egrave", "\xc3\x88", true},
    {"Epsilon", "\xce\x95", false},
    {"Eta", "\xce\x97", false},
    {"Euml", "\xc3\x8b", true},
    {"Gamma", "\xce\x93", false},
    {"Iacute", "\xc3\x8d", true},
    {"Icirc", "\xc3\x8e", true},
    {"Igrave", "\xc3\x8c", true},
    {"Iota", "\xce\x99", false},
    {"Iuml", "\xc3\x8f", true},
    {"Kappa", "\xce\x9a", false},
    {"Lambda", "\xce\x9b", false},
    {"Mu", "\xce\x9c", false},
    {"NewLine", "\x0a", false},
    {"Ntilde", "\xc3\x91", true},
    {"Nu", "\xce\x9d", false},
    {"OElig", "\xc5\x92", false},
    {"Oacute", "\xc3\x93", true},
    {"Ocirc", "\xc3\x94", true},
    {"Ograve", "\xc3\x92", true},
    {"Omega", "\xce\xa9", false},
    {"Omicron", "\xce\x9f", false},
    {"Oslash", "\xc3\x98", true},
    {"Otilde", "\xc3\x95", true},
    {"Ouml", "\xc3\x96", true},
    {"Phi", "\xce\xa6", false},
    {"Pi", "\xce\xa0", false},
    {"Prime", "\xe2\x80\xb3", false},
    {"Psi", "\xce\xa8", false},
    {"Rho", "\xce\xa1", false},
    {"Scaron", "\xc5\xa0", false},
    {"Sigma", "\xce\xa3", false},
    {"THORN", "\xc3\x9e", true},
    {"Tab", "\x09", false},
    {"Tau", "\xce\xa4", false},
    {"Theta", "\xce\x98", false},
    {"Uacute", "\xc3\x9a", true},
    {"Ucirc", "\xc3\x9b", true},
    {"Ugrave", "\xc3\x99", true},
    {"Upsilon", "\xce\xa5", false},
    {"Uuml", "\xc3\x9c", true},
    {"Xi", "\xce\x9e", false},
    {"Yacute", "\xc3\x9d", true},
    {"Yuml", "\xc5\xb8", false},
    {"Zeta", "\xce\x96", false},
    {"aacute", "\xc3\xa1", true},
    {"acirc", "\xc3\xa2", true},
    {"acute", "\xc2\xb4", true},
    {"aelig", "\xc3\xa6", true},
    {"agrave", "\xc3\xa0", true},
    {"alefsym", "\xe2\x84\xb5", false},
    {"alpha", "\xce\xb1", false},
    {"amp", "&", true},
    {"and", "\xe2\x88\xa7", false},
    {"ang", "\xe2\x88\xa0", false},
    {"apos", "'", false},
    {"aring", "\xc3\xa5", true},
    {"asymp", "\xe2\x89\x88", false},
    {"atilde", "\xc3\xa3", true},
    {"auml", "\xc3\xa4", true},
    {"bdquo", "\xe2\x80\x9e", false},
    {"beta", "\xce\xb2", false},
    {"brvbar", "\xc2\xa6", true},
    {"bsol", "\\", false},
    {"bull", "\xe2\x80\xa2", false},
    {"cap", "\xe2\x88\xa9", false},
    {"ccedil", "\xc3\xa7", true},
    {"cedil", "\xc2\xb8", true},
    {"cent", "\xc2\xa2", true},
    {"chi", "\xcf\x87", false},
    {"circ", "\xcb\x86", false},
    {"clubs", "\xe2\x99\xa3", false},
    {"colon", ":", false},
    {"comma", ",", false},
    {"commat", "@", false},
    {"cong", "\xe2\x89\x85", false},
    {"copy", "\xc2\xa9", true},
    {"crarr", "\xe2\x86\xb5", false},
    {"cup", "\xe2\x88\xaa", false},
    {"curren", "\xc2\xa4", true},
    {"dArr", "\xe2\x87\x93", false},
    {"dagger", "\xe2\x80\xa0", false},
    {"darr", "\xe2\x86\x93", false},
    {"deg", "\xc2\xb0", true},
    {"delta", "\xce\xb4", false},
    {"diams", "\xe2\x99\xa6", false},
    {"divide", "\xc3\xb7", true},
    {"eacute", "\xc3\xa9", true},
    {"ecirc", "\xc3\xaa", true},
    {"egrave", "\xc3\xa8", true},
    {"empty", "\xe2\x88\x85", false},
    {"emsp", "\xe2\x80\x83", false},
    {"ensp", "\xe2\x80\x82", false},
    {"epsilon", "\xce\xb5", false},
    {"equals", "=", false},
    {"equiv", "\xe2\x89\xa1", false},
    {"eta", "\xce\xb7", false},
    {"eth", "\xc3\xb0", true},
    {"euml", "\xc3\xab", true},
    {"euro", "\xe2\x82\xac", false},
    {"excl", "!", false},
    {"exist", "\xe2\x88\x83", false},
    {"fnof", "\xc6\x92", false},
    {"forall", "\xe2\x88\x80", false},
    {"frac12", "\xc2\xbd", true},
    {"frac14", "\xc2\xbc", true},
    {"frac34", "\xc2\xbe", true},
    {"frasl", "\xe2\x81\x84", false},
    {"gamma", "\xce\xb3", false},
    {"ge", "\xe2\x89\xa5", false},
    {"gt", ">", true},
    {"hArr", "\xe2\x87\x94", false},
    {"harr", "\xe2\x86\x94", false},
    {"hearts", "\xe2\x99\xa5", false},
    {"hellip", "\xe2\x80\xa6", false},
    {"iacute", "\xc3\xad", true},
    {"icirc", "\xc3\xae", true},
    {"iexcl", "\xc2\xa1", true},
    {"igrave", "\xc3\xac", true},
    {"image", "\xe2\x84\x91", false},
    {"infin", "\xe2\x88\x9e", false},
    {"int", "\xe2\x88\xab", false},
    {"iota", "\xce\xb9", false},
    {"iquest", "\xc2\xbf", true},
    {"isin", "\xe2\x88\x88", false},
    {"iuml", "\xc3\xaf", true},
    {"kappa", "\xce\xba", false},
    {"lArr", "\xe2\x87\x90", false},
    {"lambda", "\xce\xbb", false},
    {"lang", "\xe2\x9f\xa8", false},
    {"laquo", "\xc2\xab", true},
    {"larr", "\xe2\x86\x90", false},
    {"lceil", "\xe2\x8c\x88", false},
    {"ldquo", "\xe2\x80\x9c", false},
    {"le", "\xe2\x89\xa4", false},
    {"lfloor", "\xe2\x8c\x8a", false},
    {"lowast", "\xe2\x88\x97", false},
    {"lowbar", "_", false},
    {"loz", "\xe2\x97\x8a", false},
    {"lpar", "(", false},
    {"lrm", "\xe2\x80\x8e", false},
    {"lsaquo", "\xe2\x80\xb9", false},
    {"lsquo", "\xe2\x80\x98", false},
    {"lt", "<", true},
    {"macr", "\xc2\xaf", true},
    {"mdash", "\xe2\x80\x94", false},
    {"micro", "\xc2\xb5", true},
    {"middot", "\xc2\xb7", true},
    {"minus", "\xe2\x88\x92", false},
    {"mu", "\xce\xbc", false},
    {"nabla", "\xe2\x88\x87", false},
    {"nbsp", "\xc2\xa0", true},
    {"ndash", "\xe2\x80\x93", false},
    {"ne", "\xe2\x89\xa0", false},
    {"ni", "\xe2\x88\x8b", false},
    {"not", "\xc2\xac", true},
    {"notin", "\xe2\x88\x89", false},
    {"nsub", "\xe2\x8a\x84", false},
    {"ntilde", "\xc3\xb1", true},
    {"nu", "\xce\xbd", false},
    {"num", "#", false},
    {"oacute", "\xc3\xb3", true},
    {"ocirc", "\xc3\xb4", true},
    {"oelig", "\xc5\x93", false},
    {"ograve", "\xc3\xb2", true},
    {"oline", "\xe2\x80\xbe", false},
    {"omega", "\xcf\x89", false},
    {"omicron", "\xce\xbf", false},
    {"oplus", "\xe2\x8a\x95", false},
    {"or", "\xe2\x88\xa8", false},
    {"ordf", "\xc2\xaa", true},
    {"ordm", "\xc2\xba", true},
    {"oslash", "\xc3\xb8", true},
    {"otilde", "\xc3\xb5", true},
    {"otimes", "\xe2\x8a\x97", false},
    {"ouml", "\xc3\xb6", true},
    {"para", "\xc2\xb6", true},
    {"part", "\xe2\x88\x82", false},
    {"percnt", "%", false},
    {"period", ".", false},
    {"permil", "\xe2\x80\xb0", false},
    {"perp", "\xe2\x8a\xa5", false},
    {"phi", "\xcf\x86", false},
    {"pi", "\xcf\x80", false},
    {"piv", "\xcf\x96", false},
    {"plusmn", "\xc2\xb1", true},
    {"pound", "\xc2\xa3", true},
    {"prime", "\xe2\x80\xb2", false},
    {"prod", "\xe2\x88\x8f", false},
    {"prop", "\xe2\x88\x9d", false},
    {"psi", "\xcf\x88", false},
    {"quest", "?", false},
    {"quot", "\"", true},
    {"rArr", "\xe2\x87\x92", false},
    {"radic", "\xe2\x88\x9a", false},
    {"rang", "\xe2\x9f\xa9", false},
    {"raquo", "\xc2\xbb", true},
    {"rarr", "\xe2\x86\x92", false},
    {"rceil", "\xe2\x8c\x89", false},
    {"rdquo", "\xe2\x80\x9d", false},
    {"real", "\xe2\x84\x9c", false},
    {"reg", "\xc2\xae", true},
    {"rfloor", "\xe2\x8c\x8b", false},
    {"rho", "\xcf\x81", false},
    {"rlm", "\xe2\x80\x8f", false},
    {"rpar", ")", false},
    {"rsaquo", "\xe2\x80\xba", false},
    {"rsquo", "\xe2\x80\x99", false},
    {"sbquo", "\xe2\x80\x9a", false},
    {"scaron", "\xc5\xa1", false},
    {"sdot", "\xe2\x8b\x85", false},
    {"sect", "\xc2\xa7", true},
    {"semi", ";", false},
    {"shy", "\xc2\xad", true},
    {"sigma", "\xcf\x83", false},
    {"sigmaf", "\xcf\x82", false},
    {"sim", "\xe2\x88\xbc", false},
    {"sol", "/", false},
    {"spades", "\xe2\x99\xa0", false},
    {"sub", "\xe2\x8a\x82", false},
    {"sube", "\xe2\x8a\x86", false},
    {"sum", "\xe2\x88\x91", false},
    {"sup", "\xe2\x8a\x83", false},
    {"sup1", "\xc2\xb9", true},
    {"sup2", "\xc2\xb2", true},
    {"sup3", "\xc2\xb3", true},
    {"supe", "\xe2\x8a\x87", false},
    {"szlig", "\xc3\x9f", true},
    {"tau", "\xcf\x84", false},
    {"there4", "\xe2\x88\xb4", false},
    {"theta", "\xce\xb8", false},
    {"thetasym", "\xcf\x91", false},
    {"thinsp", "\xe2\x80\x89", false},
    {"thorn", "\xc3\xbe", true},
    {"tilde", "\xcb\x9c", false},
    {"times", "\xc3\x97", true},
    {"trade", "\xe2\x84\xa2", false},
    {"uArr", "\xe2\x87\x91", false},
    {"uacute", "\xc3\xba", true},
    {"uarr", "\xe2\x86\x91", false},
    {"ucirc", "\xc3\xbb", true},
    {"ugrave", "\xc3\xb9", true},
    {"uml", "\xc2\xa8", true},
    {"upsih", "\xcf\x92", false},
    {"upsilon", "\xcf\x85", false},
    {"uuml", "\xc3\xbc", true},
    {"weierp", "\xe2\x84\x98", false},
    {"xi", "\xce\xbe", false},
    {"yacute", "\xc3\xbd", true},
    {"yen", "\xc2\xa5", true},
    {"yuml", "\xc3\xbf", true},
    {"zeta", "\xce\xb6", false},
    {"zwj", "\xe2\x80\x8d", false},
    {"zwnj", "\xe2\x80\x8c", false},
};
#define N_ENTITIES (sizeof entities / sizeof entities[0])
/* Longer than any name above. */
#define ENTITY_NAME_MAX 16

/* The entity named exactly name[0..len), or NULL (binary search). */
static const struct entity *
entity_find(const uint8_t *name, size_t len)
{
    size_t lo = 0, hi = N_ENTITIES;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, el = strlen(entities[mid].name);
        int c = memcmp(entities[mid].name, name, el < len ? el : len);
        if (c == 0)
            c = (el > len) - (el < len);
        if (c == 0)
            return &entities[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

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
                /* As HTML reads them: 128-159 are Windows-1252's (old
                 * exports write &#146; for a right single quote). */
                static const uint16_t cp1252[32] = {
                    0x20ac, 0x81,   0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
                    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d,   0x017d, 0x8f,
                    0x90,   0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
                    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d,   0x017e, 0x0178};
                if (cp >= 0x80 && cp <= 0x9f)
                    cp = cp1252[cp - 0x80];
                if (j < n && p[j] == ';')
                    j++;
                m += put_utf8(o + m, cp);
                k = j;
                continue;
            }
        } else {
            /* The name is the whole run of letters and digits: with ';'
             * after it, or, for a legacy one, with neither ';' nor '='. */
            size_t nl = 0;
            while (k + 1 + nl < n && nl <= ENTITY_NAME_MAX && is_alnum(p[k + 1 + nl]))
                nl++;
            const struct entity *e = nl <= ENTITY_NAME_MAX ? entity_find(p + k + 1, nl) : NULL;
            size_t j = k + 1 + nl;
            if (e != NULL && ((j < n && p[j] == ';') || (e->legacy && !(j < n && p[j] == '=')))) {
                if (j < n && p[j] == ';')
                    j++;
                size_t tl = strlen(e->text);
                memcpy(o + m, e->text, tl);
                m += tl;
                k = j;
                continue;
            }
        }
        o[m++] = p[k++];
    }
    return m;
}

size_t
render_decode_refs(const uint8_t *p, size_t n, uint8_t *out)
{
    return decode_value(p, n, out);
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

/*
 * How far up a relative URL in an article's page may climb: the page is
 * <library>/<publisher>/<article>/index.html, so two ".." reach the library
 * and a third would name any file on the reader's disk.
 */
#define URL_MAX_ASCENT 2

/* Is the path segment u[0..n) "." (1) or ".." (2), as a URL parser reads it (also "%2e")? 0:
 * neither. */
static int
url_dot_segment(const uint8_t *u, size_t n)
{
    int dots = 0;
    size_t k = 0;

    while (k < n) {
        if (u[k] == '.')
            k++;
        else if (k + 3 <= n && u[k] == '%' && u[k + 1] == '2' && lower(u[k + 2]) == 'e')
            k += 3;
        else
            return 0;
        if (++dots > 2)
            return 0;
    }
    return dots;
}

/*
 * True when the relative URL u[0..n) (no scheme, not rooted) stays within
 * URL_MAX_ASCENT folders above the page: its ".." segments (also spelt with
 * %2e, and with "\" for "/", as browsers read file: URLs) never climb higher.
 */
static bool
url_within_library(const uint8_t *u, size_t n)
{
    long depth = 0;
    size_t k = 0;

    while (k <= n) {
        size_t e = k;
        while (e < n && u[e] != '/' && u[e] != '\\' && u[e] != '?' && u[e] != '#')
            e++;
        int dots = url_dot_segment(u + k, e - k);
        if (dots == 2)
            depth--;
        else if (dots == 0 && e < n && (u[e] == '/' || u[e] == '\\'))
            depth++; /* a folder (the last segment is the file itself) */
        if (depth < -URL_MAX_ASCENT)
            return false;
        if (e == n || u[e] == '?' || u[e] == '#')
            break;
        k = e + 1;
    }
    return true;
}

/* A relative path that stays on this machine, within the library, and cannot name a host. */
static bool
url_local(const uint8_t *u, size_t n)
{
    char scheme[16];
    if (url_scheme(u, n, scheme, sizeof scheme))
        return false;
    return n == 0 || (u[0] != '/' && u[0] != '\\' && url_within_library(u, n));
}

static bool
url_link_ok(const uint8_t *u, size_t n)
{
    char scheme[16];
    if (url_scheme(u, n, scheme, sizeof scheme))
        return strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0 ||
               strcmp(scheme, "mailto") == 0;
    /* Protocol-relative links would point at file://host/ (a network share). */
    if (n >= 2 && (u[0] == '/' || u[0] == '\\') && (u[1] == '/' || u[1] == '\\'))
        return false;
    /* A rooted or climbing link would open a file of the reader's outside the library. */
    return n == 0 || (u[0] != '/' && u[0] != '\\' && url_within_library(u, n));
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

/* One class name, "language-" and then letters, digits or "+#._-" (md4c's
 * code blocks, and the convention highlighters follow). */
static bool
class_ok(const uint8_t *v, size_t n)
{
    static const char prefix[] = "language-";
    if (n <= sizeof prefix - 1 || memcmp(v, prefix, sizeof prefix - 1) != 0)
        return false;
    for (size_t k = sizeof prefix - 1; k < n; k++)
        if (!is_alpha(v[k]) && !(v[k] >= '0' && v[k] <= '9') && v[k] != '+' && v[k] != '#' &&
            v[k] != '.' && v[k] != '_' && v[k] != '-')
            return false;
    return true;
}

static bool
html_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

/*
 * A srcset value (entities decoded), split as the HTML parser splits it: each
 * candidate's URL runs from the first byte that is neither ASCII white space
 * nor a comma to the next white space, its trailing commas dropped; its
 * descriptors then run to the next comma. Every URL must stay in the library
 * as url_local() says. A control character (the URL parser would keep it in a
 * path segment, where a check that split on it would not look), a ':' (a
 * scheme) or a '(' (descriptor syntax that may hide a comma) refuses all.
 */
/*
 * The next candidate URL of srcset u[0..n) from *k on, as the HTML parser
 * splits it: [*start, *end); *k moves past its descriptors. False when none
 * is left. srcset_ok() and out_srcset() both split with it, so that what is
 * written is what was checked.
 */
static bool
srcset_next(const uint8_t *u, size_t n, size_t *k, size_t *start, size_t *end)
{
    size_t i = *k;

    while (i < n && (html_space(u[i]) || u[i] == ','))
        i++;
    if (i == n) {
        *k = i;
        return false;
    }
    *start = i;
    while (i < n && !html_space(u[i]))
        i++;
    *end = i;
    while (*end > *start && u[*end - 1] == ',')
        (*end)--;
    /* A URL that ended in commas has no descriptors. */
    if (*end == i)
        while (i < n && u[i] != ',')
            i++;
    *k = i;
    return true;
}

static bool
srcset_ok(const uint8_t *u, size_t n)
{
    size_t k, start, end;

    for (k = 0; k < n; k++)
        if ((u[k] < 0x20 && !html_space(u[k])) || u[k] == 0x7f || u[k] == ':' || u[k] == '(')
            return false;
    for (k = 0; srcset_next(u, n, &k, &start, &end);)
        if (!url_local(u + start, end - start))
            return false;
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

enum attr_kind {
    ATTR_PLAIN,
    ATTR_DROP,
    ATTR_LINK,
    ATTR_RESOURCE,
    ATTR_SRCSET,
    ATTR_STYLE,
    ATTR_CLASS
};

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
    /* A link styled as a block or a box could be stretched invisibly over the
     * article, so that any click on it goes online: links keep no style. */
    if (cls & ATTR_C_STYLE)
        return (tag & TAG_LINK) ? ATTR_DROP : ATTR_STYLE;
    if (cls & ATTR_C_CLASS)
        return ATTR_CLASS;
    return ATTR_PLAIN;
}

/*
 * True when a plain attribute's value (entities decoded) holds a CSS function
 * that fetches ("url(", "image-set(" with a quoted URL, ...) in any case, or
 * a backslash: a CSS escape could spell "url(" in an SVG presentation
 * attribute (cursor, fill, filter, ...), and whether the browser reads one as
 * CSS must not depend on where the element stands (a title or alt text with a
 * backslash or "image(" is the price).
 */
static bool
plain_names_url(const uint8_t *v, size_t len)
{
    static const char *const fetching[] = {"url(",     "image-set(", "image(", "cross-fade(",
                                           "element(", "src(",       NULL};
    uint8_t *dec;
    size_t n, k;
    bool found = false;

    if (memchr(v, '\\', len) != NULL)
        return true;
    dec = malloc(len + 1);
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
    if (memchr(dec, '\\', n) != NULL)
        found = true;
    /* Only values holding "(" can call a function: most values are checked at once. */
    for (k = 0; !found && memchr(dec, '(', n) != NULL && fetching[k] != NULL; k++)
        found = contains_ci(dec, n, fetching[k]);
    free(dec);
    return found;
}

/* The article's file that u[0..n) names (see render_sanitize_body()), or -1;
 * *rest is where its "?..." or "#..." starts. */
struct name_key {
    const uint8_t *p;
    size_t n;
};

static int
cmp_file_name(const void *key, const void *entry)
{
    const struct name_key *k = key;
    const char *name = ((const struct file_ref *)entry)->name;
    size_t nl = strlen(name);
    int c = memcmp(k->p, name, k->n < nl ? k->n : nl);
    return c != 0 ? c : (k->n > nl) - (k->n < nl);
}

static int
cmp_file_ref(const void *a, const void *b)
{
    return strcmp(((const struct file_ref *)a)->name, ((const struct file_ref *)b)->name);
}

static long
file_named(const struct san *s, const uint8_t *u, size_t n, size_t *rest)
{
    size_t e = 0;
    if (s->by_name == NULL)
        return -1;
    if (n >= 2 && u[0] == '.' && u[1] == '/') {
        u += 2;
        n -= 2;
        *rest = 2;
    } else {
        *rest = 0;
    }
    while (e < n && u[e] != '?' && u[e] != '#')
        e++;
    struct name_key key = {u, e};
    const struct file_ref *hit = bsearch(&key, s->by_name, s->files->n, sizeof *hit, cmp_file_name);
    if (hit == NULL)
        return -1;
    *rest += e;
    return (long)hit->k;
}

size_t
render_percent_decode(const uint8_t *u, size_t n, uint8_t *out)
{
    size_t m = 0;

    for (size_t j = 0; j < n; j++) {
        if (u[j] == '%' && j + 2 < n && sz_hex_digit((char)u[j + 1]) >= 0 &&
            sz_hex_digit((char)u[j + 2]) >= 0) {
            out[m++] = (uint8_t)(sz_hex_digit((char)u[j + 1]) * 16 + sz_hex_digit((char)u[j + 2]));
            j += 2;
        } else {
            out[m++] = u[j];
        }
    }
    return m;
}

/*
 * Whether the relative URL u[0..n) (normalized) names a file of the
 * article's folder that is not there: the folder holds the page, the body
 * and the attachments only, so a link or picture naming anything else
 * there (a page of the site the article was exported from) is dead. One
 * that climbs ("..") may name another article of the library: kept.
 */
static bool
url_dead(const struct san *s, const uint8_t *u, size_t n)
{
    static const char *const own[] = {"index.html", "body.md", "body.html.txt", "body.txt"};
    char scheme[16];
    uint8_t path[512];
    size_t e = 0, m = 0, k = 0, rest;

    if (!s->files_known || url_scheme(u, n, scheme, sizeof scheme))
        return false;
    while (e < n && u[e] != '?' && u[e] != '#')
        e++;
    if (e >= 2 && u[0] == '.' && (u[1] == '/' || u[1] == '\\'))
        k = 2;
    if (k == e || e - k >= sizeof path)
        return false; /* the page itself, or too long to tell */
    for (size_t j = k; j <= e; j++) {
        if (j == e || u[j] == '/' || u[j] == '\\') {
            if (url_dot_segment(u + k, j - k) == 2)
                return false;
            k = j + 1;
        }
    }
    k = e >= 2 && u[0] == '.' && (u[1] == '/' || u[1] == '\\') ? 2 : 0;
    m = render_percent_decode(u + k, e - k, path);
    if (m == 1 && path[0] == '.')
        return false; /* the folder: the page itself */
    for (size_t j = 0; j < sizeof own / sizeof own[0]; j++)
        if (m == strlen(own[j]) && memcmp(path, own[j], m) == 0)
            return false;
    if (file_named(s, u, e, &rest) >= 0)
        return false; /* written with its stored name (out_url()) */
    /* Named only once decoded ("my%20file.png"): written as it is, so it
     * works where the file kept its name. */
    long f = file_named(s, path, m, &rest);
    return f < 0 || strcmp(s->files->stored[f], s->files->names[f]) != 0;
}

/* Whether a srcset value names a file the article's folder lacks (url_dead()). */
static bool
srcset_dead(const struct san *s, const uint8_t *u, size_t n)
{
    size_t k = 0, start, end;
    while (srcset_next(u, n, &k, &start, &end))
        if (url_dead(s, u + start, end - start))
            return true;
    return false;
}

/* Writes URL u[0..n) (a value the policy keeps), with an article file's stored name for its
 * own. */
static void
out_url(struct san *s, const uint8_t *u, size_t n)
{
    size_t rest;
    long f = file_named(s, u, n, &rest);
    if (f < 0) {
        out_attr_value(s, u, n, false);
        return;
    }
    s->files->used[f] = true;
    out_attr_value(s, (const uint8_t *)s->files->stored[f], strlen(s->files->stored[f]), false);
    out_attr_value(s, u + rest, n - rest, false);
}

/* Writes a srcset value the policy keeps (srcset_ok()), each candidate URL as out_url(). */
static void
out_srcset(struct san *s, const uint8_t *u, size_t n)
{
    size_t k = 0, done = 0, start, end;
    while (srcset_next(u, n, &k, &start, &end)) {
        out_attr_value(s, u + done, start - done, false);
        out_url(s, u + start, end - start);
        done = end;
    }
    out_attr_value(s, u + done, n - done, false);
}

/* Emits one attribute if the policy keeps it (never a tabindex: the keyboard is the page's). */
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
    if (kind == ATTR_PLAIN && plain_names_url(v, a->val_len))
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
    /* longdesc names a description, lowsrc and dynsrc nothing a browser still loads. */
    if (s->files != NULL && s->files->resource != NULL && strcmp(name, "longdesc") != 0 &&
        strcmp(name, "lowsrc") != 0 && strcmp(name, "dynsrc") != 0) {
        size_t k = 0, start, end;
        if (kind == ATTR_RESOURCE)
            s->files->resource(s->files->ctx, norm, nn);
        while (kind == ATTR_SRCSET && srcset_next(dec, dn, &k, &start, &end))
            s->files->resource(s->files->ctx, dec + start, end - start);
    }
    switch (kind) {
    case ATTR_LINK: {
        char scheme[16];
        keep = url_link_ok(norm, nn);
        s->link_online = s->link_online || (keep && url_scheme(norm, nn, scheme, sizeof scheme));
        break;
    }
    case ATTR_RESOURCE:
        keep = url_local(norm, nn) || ((cls & ATTR_C_DATA_IMAGE) && url_data_image(norm, nn));
        break;
    case ATTR_SRCSET:
        keep = srcset_ok(dec, dn); /* split on white space, which normalize_url() drops */
        break;
    case ATTR_STYLE:
        keep = style_ok(dec, dn);
        break;
    case ATTR_CLASS:
        keep = class_ok(dec, dn);
        break;
    default:
        break;
    }
    /* A link or picture naming a file the article's folder does not hold
     * leads nowhere: the text (or the picture's alt) stays, without it. */
    if (keep && (kind == ATTR_LINK || kind == ATTR_RESOURCE) && url_dead(s, norm, nn))
        keep = false;
    /* A picture's other sizes too: a browser could pick the one that is not there. */
    if (keep && kind == ATTR_SRCSET && srcset_dead(s, dec, dn))
        keep = false;
    if (keep) {
        outs(s, " ");
        outs(s, name);
        outs(s, "=\"");
        if (s->by_name != NULL && (kind == ATTR_LINK || kind == ATTR_RESOURCE))
            out_url(s, norm, nn);
        else if (s->by_name != NULL && kind == ATTR_SRCSET)
            out_srcset(s, dec, dn);
        else
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

/* ---- the tree construction model ---- */

/* A tag being handled: its name and what the tables say of it. */
struct tag {
    const char *name;
    unsigned cls; /* TAG_* and TREE_* */
    unsigned id;  /* enum tag_id */
    int row;      /* in tag_infos, or -1 */
    size_t attrs; /* offset of the attributes in the input (start tags) */
    bool self_close;
};

static struct tag
tag_of(const char *name)
{
    const struct tag_info *ti = tag_lookup(name);
    struct tag t = {name, 0, ID_OTHER, -1, 0, false};
    if (ti != NULL) {
        t.cls = ti->cls;
        t.id = ti->id;
        t.row = (int)(ti - tag_infos);
    }
    return t;
}

/* Where the index keeps the open elements named like this: an HTML element
 * the tables list has its own slot, any other shares a bucket, keyed per call
 * so that no body can pick names that all fall in one. */
static unsigned
name_slot(const struct san *s, uint8_t ns, const char *name, int row)
{
    unsigned char h[crypto_shorthash_BYTES];
    if (ns == NS_HTML && row >= 0)
        return N_BUCKETS + (unsigned)row;
    crypto_shorthash(h, (const unsigned char *)name, strlen(name), s->hash_key);
    return (((unsigned)h[0] | (unsigned)h[1] << 8) + ns) & (N_BUCKETS - 1);
}

/* The innermost open element named name in namespace ns, or -1. */
static int
find_open(const struct san *s, uint8_t ns, const char *name, int row)
{
    int k = s->slot_top[name_slot(s, ns, name, row)];
    while (k >= 0 && !(s->stack[k].ns == ns && strcmp(s->stack[k].name, name) == 0))
        k = s->stack[k].prev_in_slot;
    return k;
}

/* The innermost open HTML element of a listed name (by enum tag_id), or -1. */
static int
find_id(const struct san *s, unsigned id)
{
    return s->slot_top[N_BUCKETS + (unsigned)s->row_of[id]];
}

static struct elem *
top(struct san *s)
{
    return &s->stack[s->depth - 1];
}

/* The id of the innermost element if it is a listed HTML one, else ID_OTHER. */
static unsigned
top_id(const struct san *s)
{
    return s->depth > 0 && s->stack[s->depth - 1].ns == NS_HTML ? s->stack[s->depth - 1].id
                                                                : ID_OTHER;
}

/* Index of the nearest element at or below the top with a field set, or -1. */
#define NEAREST(s, field) ((s)->depth == 0 ? -1 : (int)(s)->stack[(s)->depth - 1].field)

/* The innermost HTML element of this id if it is in the scope whose innermost
 * boundary is at index boundary (an element bounding its own scope counts), or -1. */
static int
in_scope(const struct san *s, unsigned id, int boundary)
{
    int k = find_id(s, id);
    return k >= 0 && k >= boundary ? k : -1;
}

static bool
is_name(const char *name, const char *a, const char *b, const char *c)
{
    return strcmp(name, a) == 0 || (b != NULL && strcmp(name, b) == 0) ||
           (c != NULL && strcmp(name, c) == 0);
}

/* Pushes an element whose start tag was just written. */
static void
elem_push(struct san *s, const struct tag *t, uint8_t ns)
{
    struct elem *e = &s->stack[s->depth];
    const struct elem *b = s->depth > 0 ? &s->stack[s->depth - 1] : NULL;
    int16_t k = (int16_t)s->depth;
    unsigned c = 0;

    if (ns == NS_HTML)
        c = t->cls;
    else if (ns == NS_SVG
                 ? is_name(t->name, "foreignobject", "desc", "title")
                 : is_name(t->name, "mi", "mo", "mn") || is_name(t->name, "ms", "mtext", NULL))
        c = TREE_SPECIAL | TREE_SCOPE; /* integration points */
    strcpy(e->name, t->name);
    e->scroll = false;
    e->ns = ns;
    e->id = (uint8_t)(ns == NS_HTML ? t->id : ID_OTHER);
    e->tree = c;
#define BELOW(field, cond) e->field = (cond) ? k : (b == NULL ? -1 : b->field)
    BELOW(scope, c & TREE_SCOPE);
    BELOW(list_scope, c & (TREE_SCOPE | TREE_LIST_SCOPE));
    BELOW(button_scope, c & (TREE_SCOPE | TREE_BUTTON_SCOPE));
    BELOW(table_scope, c & TREE_TABLE_SCOPE);
    BELOW(special, c & TREE_SPECIAL);
    BELOW(special_stop, (c & TREE_SPECIAL) && !(c & TREE_SEE_THROUGH));
    BELOW(marker, c & TREE_MARKER);
    BELOW(html, ns == NS_HTML);
    BELOW(table_part, ns == NS_HTML && (c & TREE_TABLE_PART));
#undef BELOW
    e->slot = (uint16_t)name_slot(s, ns, t->name, t->row);
    e->prev_in_slot = s->slot_top[e->slot];
    s->slot_top[e->slot] = k;
    s->depth++;
}

/* Writes an element's name. On the article page, whose title is its only h1,
 * the body's headings are moved so that level s->top becomes h2 (one level
 * down when s->top is 0), within h2 to h6; the tree does not change, as the
 * browser treats all six alike. */
static void
out_name(struct san *s, const char *name, uint8_t ns, unsigned id)
{
    if (s->page && ns == NS_HTML && id >= ID_H1 && id <= ID_H6) {
        int level = (int)(id - ID_H1) + 1;
        level = s->top == 0 ? level + 1 : level - s->top + 2;
        const char h[] = {'h', (char)('0' + (level < 2 ? 2 : level > 6 ? 6 : level)), '\0'};
        outs(s, h);
        return;
    }
    outs(s, name);
}

/* Writes the end tag of the innermost open element and pops it; a table's
 * scroll box goes with the table. */
static void
elem_close_top(struct san *s)
{
    struct elem *e = top(s);
    bool table = e->ns == NS_HTML && e->id == ID_TABLE;
    outs(s, "</");
    out_name(s, e->name, e->ns, e->id);
    outs(s, ">");
    s->slot_top[e->slot] = e->prev_in_slot;
    s->depth--;
    if (table && s->depth > 0 && top(s)->scroll)
        elem_close_top(s);
}

/* Closes the open element at index k and all inside it, innermost first. */
static void
close_to(struct san *s, int k)
{
    while (k >= 0 && s->depth > (size_t)k)
        elem_close_top(s);
}

static void
close_p_in_button_scope(struct san *s)
{
    close_to(s, in_scope(s, ID_P, NEAREST(s, button_scope)));
}

/* "Generate implied end tags", except for elements of id but. */
static void
implied_end_tags(struct san *s, unsigned but)
{
    while (s->depth > 0 && top(s)->ns == NS_HTML && (top(s)->tree & TREE_IMPLIED_END) &&
           top(s)->id != but)
        elem_close_top(s);
}

/* The insertion mode, as the innermost table part on the stack sets it. */
enum mode { IN_BODY, IN_TABLE, IN_TABLE_BODY, IN_ROW, IN_CELL, IN_CAPTION, IN_COLUMN_GROUP };

static enum mode
insertion_mode(const struct san *s)
{
    int k = NEAREST(s, table_part);
    if (k < 0)
        return IN_BODY;
    switch (s->stack[k].id) {
    case ID_TD:
    case ID_TH:
        return IN_CELL;
    case ID_TR:
        return IN_ROW;
    case ID_CAPTION:
        return IN_CAPTION;
    case ID_COLGROUP:
        return IN_COLUMN_GROUP;
    case ID_TABLE:
        return IN_TABLE;
    default:
        return IN_TABLE_BODY;
    }
}

/* caption, col, colgroup, tbody, td, tfoot, th, thead, tr: what the browser
 * ignores outside a table, and what closes a cell or a caption. */
static bool
is_table_inner(unsigned id)
{
    switch (id) {
    case ID_CAPTION:
    case ID_COL:
    case ID_COLGROUP:
    case ID_TBODY:
    case ID_TD:
    case ID_TFOOT:
    case ID_TH:
    case ID_THEAD:
    case ID_TR:
        return true;
    default:
        return false;
    }
}

/* Does the tag whose attributes start at attrs carry one of these (b and c may be NULL)? */
static bool
has_attr(const struct san *s, size_t attrs, const char *a, const char *b, const char *c)
{
    struct attr at;
    bool dummy = false;
    size_t ap = attrs;
    while (attr_next(s->p, s->len, &ap, &at, &dummy) == 1) {
        char name[MAX_NAME + 1];
        size_t pos = at.name_off;
        if (read_name(s->p, at.name_off + at.name_len, &pos, name, true) && is_name(name, a, b, c))
            return true;
    }
    return false;
}

/* Does the input at s->i (just past a <pre> tag) start with a <code> tag, white
 * space aside? Then the <pre> is a code block. */
static bool
code_follows(const struct san *s)
{
    static const char code[] = "<code";
    size_t k = s->i, n = sizeof code - 1;
    while (k < s->len && is_space(s->p[k]))
        k++;
    if (s->len - k <= n)
        return false;
    for (size_t j = 0; j < n; j++)
        if (lower(s->p[k + j]) != (uint8_t)code[j])
            return false;
    return is_space(s->p[k + n]) || s->p[k + n] == '>' || s->p[k + n] == '/';
}

/*
 * The box around a table that the page scrolls when the table is wider than
 * the page (the table's own box cannot take the focus in every browser: a
 * table's role would go with it). Focusable, so that a keyboard can scroll it
 * where the browser leaves scroll boxes out of the tab order, and named, as
 * a region a screen reader announces. It is closed with its table.
 */
static void
emit_scroll_box(struct san *s)
{
    struct tag t = tag_of("div");
    outs(s, "<div class=\"scroll\" role=\"region\" aria-label=\"Table\" tabindex=\"0\">");
    elem_push(s, &t, NS_HTML);
    top(s)->scroll = true;
}

/* Writes a start tag with the attributes the policy keeps, and pushes the
 * element when push (void elements are not; nothing is written "/>"). For the
 * article page, a table goes into a scroll box and a <pre>, which scrolls
 * itself, takes the focus, named "Code" when it holds code ("Preformatted
 * text" when not) and the publisher named it not. */
static void
emit_start(struct san *s, const struct tag *t, uint8_t ns, bool push)
{
    struct attr a;
    bool dummy = false;
    size_t ap = t->attrs;

    if (push && s->depth == MAX_DEPTH)
        return; /* too deep: drop the tag, keep its content */
    if (s->page && ns == NS_HTML && t->id == ID_TABLE && s->depth + 2 <= MAX_DEPTH)
        emit_scroll_box(s);
    outs(s, "<");
    out_name(s, t->name, ns, t->id);
    if (s->page && ns == NS_HTML && strcmp(t->name, "pre") == 0) {
        outs(s, " tabindex=\"0\"");
        if (!has_attr(s, t->attrs, "role", "aria-label", "aria-labelledby"))
            outs(s, code_follows(s) ? " role=\"region\" aria-label=\"Code\""
                                    : " role=\"region\" aria-label=\"Preformatted text\"");
    }
    s->link_online = false;
    while (attr_next(s->p, s->len, &ap, &a, &dummy) == 1)
        emit_attr(s, t->cls, &a);
    /* The page marks a link that goes online (the mark is the page's style,
     * which the link cannot change: links keep no style). */
    if (s->page && s->link_online)
        outs(s, " data-online=\"\"");
    outs(s, ">");
    if (push)
        elem_push(s, t, ns);
}

/* An element the browser would add by itself (a tbody around a row, ...),
 * written out; false when too deep. */
static bool
emit_implied(struct san *s, const char *name)
{
    struct tag t = tag_of(name);
    if (s->depth == MAX_DEPTH)
        return false;
    outs(s, "<");
    outs(s, name);
    outs(s, ">");
    elem_push(s, &t, NS_HTML);
    return true;
}

/* Does a <font> tag carry color, face or size (it then leaves SVG and MathML)? */
static bool
font_leaves_foreign(const struct san *s, size_t attrs)
{
    return has_attr(s, attrs, "color", "face", "size");
}

static void html_start(struct san *s, const struct tag *t);

/* A start tag "in body" (also in cells and captions). */
static void
body_start(struct san *s, const struct tag *t)
{
    int k;

    switch (t->id) {
    case ID_CAPTION:
    case ID_COL:
    case ID_COLGROUP:
    case ID_TBODY:
    case ID_TD:
    case ID_TFOOT:
    case ID_TH:
    case ID_THEAD:
    case ID_TR:
        return; /* the browser ignores these outside a table */
    case ID_SVG:
    case ID_MATH:
        emit_start(s, t, t->id == ID_SVG ? NS_SVG : NS_MATH, true);
        if (t->self_close && s->depth > 0 && top(s)->ns != NS_HTML &&
            strcmp(top(s)->name, t->name) == 0)
            elem_close_top(s);
        return;
    case ID_LI:
    case ID_DD:
    case ID_DT:
        /* The innermost special element, address, div and p aside, is closed
         * when it is an item of the same kind. */
        k = NEAREST(s, special_stop);
        if (k >= 0 && s->stack[k].ns == NS_HTML &&
            (t->id == ID_LI ? s->stack[k].id == ID_LI
                            : s->stack[k].id == ID_DD || s->stack[k].id == ID_DT))
            close_to(s, k);
        close_p_in_button_scope(s);
        break;
    case ID_FORM:
        if (find_id(s, ID_FORM) >= 0)
            return; /* the browser ignores a form inside a form */
        close_p_in_button_scope(s);
        break;
    case ID_BUTTON:
    case ID_NOBR:
        close_to(s, in_scope(s, t->id, NEAREST(s, scope)));
        break;
    case ID_A:
        /* An <a> still open (since the last marker) is closed first. */
        k = find_id(s, ID_A);
        if (k >= 0 && k > NEAREST(s, marker))
            close_to(s, k);
        break;
    case ID_OPTION:
    case ID_OPTGROUP:
        if (top_id(s) == ID_OPTION)
            elem_close_top(s);
        break;
    case ID_RB:
    case ID_RTC:
    case ID_RP:
    case ID_RT:
        if (in_scope(s, ID_RUBY, NEAREST(s, scope)) >= 0)
            implied_end_tags(s, t->id == ID_RP || t->id == ID_RT ? ID_RTC : ID_OTHER);
        break;
    default:
        if (t->cls & TREE_CLOSES_P) {
            close_p_in_button_scope(s);
            if ((t->cls & TREE_HEADING) && s->depth > 0 && top(s)->ns == NS_HTML &&
                (top(s)->tree & TREE_HEADING))
                elem_close_top(s);
        }
        break;
    }
    emit_start(s, t, NS_HTML, !(t->cls & TAG_VOID));
}

/* Closes the open element at index k (a table part) and all inside it, and
 * handles the start tag again in the insertion mode that leaves. */
static void
close_and_redo(struct san *s, int k, const struct tag *t)
{
    if (k < 0)
        return;
    close_to(s, k);
    html_start(s, t);
}

/* A start tag by the HTML rules of the insertion mode. In a table, a row or a
 * column group the browser would move anything but a table part out before
 * the table: it is dropped instead, so the innermost element there is always
 * the table part itself. */
static void
html_start(struct san *s, const struct tag *t)
{
    unsigned id = t->id;

    switch (insertion_mode(s)) {
    case IN_BODY:
        body_start(s, t);
        return;
    case IN_CELL:
    case IN_CAPTION:
        if (is_table_inner(id))
            close_and_redo(s, NEAREST(s, table_part), t); /* the cell or the caption */
        else
            body_start(s, t);
        return;
    case IN_COLUMN_GROUP:
        if (id == ID_COL)
            emit_start(s, t, NS_HTML, false);
        else
            close_and_redo(s, NEAREST(s, table_part), t);
        return;
    case IN_ROW:
        if (id == ID_TD || id == ID_TH)
            emit_start(s, t, NS_HTML, true);
        else if (is_table_inner(id) || id == ID_TABLE)
            close_and_redo(s, NEAREST(s, table_part), t);
        return;
    case IN_TABLE_BODY:
        if (id == ID_TR)
            emit_start(s, t, NS_HTML, true);
        else if (id == ID_TD || id == ID_TH) {
            if (emit_implied(s, "tr"))
                emit_start(s, t, NS_HTML, true);
        } else if (is_table_inner(id) || id == ID_TABLE)
            close_and_redo(s, NEAREST(s, table_part), t);
        return;
    case IN_TABLE:
        if (id == ID_CAPTION || id == ID_COLGROUP || id == ID_TBODY || id == ID_THEAD ||
            id == ID_TFOOT) {
            emit_start(s, t, NS_HTML, true);
        } else if (id == ID_COL) {
            if (emit_implied(s, "colgroup"))
                emit_start(s, t, NS_HTML, false);
        } else if (id == ID_TR || id == ID_TD || id == ID_TH) {
            if (emit_implied(s, "tbody"))
                html_start(s, t);
        } else if (id == ID_TABLE) {
            close_and_redo(s, NEAREST(s, table_part), t);
        }
        return;
    }
}

/* Do start tags follow the HTML rules here (rather than foreign content's)? */
static bool
html_rules_for_start(const struct san *s, const char *name)
{
    const struct elem *e;
    if (s->depth == 0)
        return true;
    e = &s->stack[s->depth - 1];
    if (e->ns == NS_HTML)
        return true;
    /* MathML text integration points (but for two names), SVG's HTML ones. */
    if (e->ns == NS_MATH && (e->tree & TREE_SCOPE))
        return !is_name(name, "mglyph", "malignmark", NULL);
    return e->ns == NS_SVG && (e->tree & TREE_SCOPE);
}

/* Leaves foreign content: closes SVG and MathML elements down to an HTML
 * element or an integration point. */
static void
leave_foreign(struct san *s)
{
    while (s->depth > 0 && top(s)->ns != NS_HTML && !(top(s)->tree & TREE_SCOPE))
        elem_close_top(s);
}

static void
start_tag(struct san *s, const struct tag *t)
{
    if (!html_rules_for_start(s, t->name)) {
        if (!((t->cls & TREE_BREAKOUT) || (t->id == ID_FONT && font_leaves_foreign(s, t->attrs)))) {
            /* An element of the same namespace; a self-closed one ends at once. */
            uint8_t ns = top(s)->ns;
            struct tag f = *t;
            f.row = -1; /* listed names are HTML ones */
            emit_start(s, &f, ns, true);
            if (t->self_close && s->depth > 0 && top(s)->ns == ns &&
                strcmp(top(s)->name, t->name) == 0)
                elem_close_top(s);
            return;
        }
        leave_foreign(s);
    }
    html_start(s, t);
}

/* An end tag by the HTML rules of the insertion mode. */
static void
html_end(struct san *s, const struct tag *t)
{
    enum mode m = insertion_mode(s);
    int k;

    if (t->row < 0) {
        /* Any other end tag: the innermost element of that name, unless a
         * special element stands in between. */
        k = find_open(s, NS_HTML, t->name, -1);
        if (m == IN_BODY || m == IN_CELL || m == IN_CAPTION)
            close_to(s, k >= NEAREST(s, special) ? k : -1);
        else if (m == IN_COLUMN_GROUP)
            elem_close_top(s); /* the browser pops the group, then ignores the tag */
        return;
    }
    if (is_table_inner(t->id) || t->id == ID_TABLE) {
        close_to(s, in_scope(s, t->id, NEAREST(s, table_scope)));
        return;
    }
    if (m == IN_TABLE || m == IN_TABLE_BODY || m == IN_ROW)
        return; /* nothing is in scope past the table part on top */
    if (m == IN_COLUMN_GROUP) {
        elem_close_top(s);
        return;
    }
    if (t->id == ID_P) {
        k = in_scope(s, ID_P, NEAREST(s, button_scope));
    } else if (t->id == ID_LI) {
        k = in_scope(s, ID_LI, NEAREST(s, list_scope));
    } else if (t->cls & TREE_HEADING) {
        /* Any heading closes the innermost one. */
        k = -1;
        for (unsigned h = ID_H1; h <= ID_H6; h++) {
            int kh = in_scope(s, h, NEAREST(s, scope));
            if (kh > k)
                k = kh;
        }
    } else if ((t->cls & (TREE_BLOCK_END | TREE_FORMATTING)) || t->id == ID_FORM ||
               t->id == ID_DD || t->id == ID_DT || t->id == ID_BUTTON || t->id == ID_MARQUEE) {
        k = find_open(s, NS_HTML, t->name, t->row);
        if (k < NEAREST(s, scope))
            k = -1;
    } else {
        k = find_open(s, NS_HTML, t->name, t->row);
        if (k < NEAREST(s, special))
            k = -1;
    }
    close_to(s, k);
}

static void
end_tag(struct san *s, const struct tag *t)
{
    if (s->depth > 0 && top(s)->ns != NS_HTML) {
        if (t->id == ID_BR || t->id == ID_P) {
            leave_foreign(s);
        } else {
            /* The innermost SVG or MathML element of that name, if no HTML
             * element stands in between; else the HTML rules. */
            int k = find_open(s, NS_SVG, t->name, -1), m = find_open(s, NS_MATH, t->name, -1);
            if (m > k)
                k = m;
            if (k >= 0 && k > NEAREST(s, html)) {
                close_to(s, k);
                return;
            }
        }
    }
    html_end(s, t);
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
    struct tag t = tag_of(name);
    t.attrs = attrs;
    t.self_close = self_close;

    if (s->skipping) {
        if (!end && strcmp(s->skip_name, "head") == 0 && t.id == ID_BODY) {
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
        if (!end && (t.cls & TAG_RAW_TEXT))
            skip_raw_text(s, name);
        return;
    }

    if (end) {
        if (!(t.cls & (TAG_DROP_CONTENT | TAG_DROP_TAG)))
            end_tag(s, &t);
        return;
    }
    if (t.cls & TAG_DROP_CONTENT) {
        if (t.cls & TAG_RAW_TEXT) {
            skip_raw_text(s, name);
        } else if (!self_close) {
            s->skipping = true;
            strcpy(s->skip_name, name);
            s->skip_depth = 1;
        }
        return;
    }
    if (t.cls & TAG_DROP_TAG)
        return;
    start_tag(s, &t);
}

/* Text: in a column group, where the browser would close the group and move
 * the text before the table, the group is closed first. */
static void
do_text(struct san *s, const uint8_t *p, size_t n)
{
    if (top_id(s) == ID_COLGROUP) {
        for (size_t k = 0; k < n; k++) {
            if (!is_space(p[k])) {
                elem_close_top(s);
                break;
            }
        }
    }
    out_text(s, p, n);
}

/* A '<' that starts no tag: text, written "&lt;". */
static void
do_lt(struct san *s)
{
    if (top_id(s) == ID_COLGROUP)
        elem_close_top(s);
    outs(s, "&lt;");
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

static bool
sanitize(struct sz_wr *w, const uint8_t *in, size_t len, bool page, const struct san_files *files,
         int top)
{
    struct san *s = calloc(1, sizeof *s);
    size_t at = w->len, max = SAN_OUT_FACTOR * len + SAN_OUT_BASE;
    bool fits = true;

    if (files != NULL && files->n > 0)
        memset(files->used, 0, files->n * sizeof *files->used);
    if (s != NULL)
        s->files = files;
    if (s != NULL && files != NULL && files->n > 0) {
        s->by_name = malloc(files->n * sizeof *s->by_name);
        if (s->by_name == NULL) {
            free(s);
            s = NULL;
        } else {
            for (size_t k = 0; k < files->n; k++)
                s->by_name[k] = (struct file_ref){files->names[k], k};
            qsort(s->by_name, files->n, sizeof *s->by_name, cmp_file_ref);
        }
    }
    if (s == NULL) {
        if (w->err == 0)
            w->err = -SZ_ENOMEM;
        return true;
    }
    s->files_known = files != NULL;
    s->w = w;
    s->page = page;
    s->top = top >= 1 && top <= 6 ? top : 0;
    s->p = in;
    s->len = len;
    memset(s->slot_top, 0xff, sizeof s->slot_top); /* all -1 */
    randombytes_buf(s->hash_key, sizeof s->hash_key);
    for (size_t k = 0; k < N_TAG_INFOS; k++)
        s->row_of[tag_infos[k].id] = (int16_t)k;
    while (s->i < s->len) {
        const uint8_t *lt = memchr(in + s->i, '<', s->len - s->i);
        if (w->len - at > max) {
            fits = false;
            break;
        }
        size_t next = lt == NULL ? s->len : (size_t)(lt - in);
        if (next > s->i) {
            if (!s->skipping)
                do_text(s, in + s->i, next - s->i);
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
                do_lt(s);
            s->i++;
        }
    }
    if (fits)
        close_to(s, 0);
    if (fits && w->len - at > max)
        fits = false;
    if (!fits) {
        w->len = at;
        if (files != NULL && files->n > 0)
            memset(files->used, 0, files->n * sizeof *files->used);
    }
    free(s->by_name);
    free(s);
    return fits;
}

bool
render_sanitize_html(struct sz_wr *w, const uint8_t *in, size_t len)
{
    return sanitize(w, in, len, false, NULL, 0);
}

bool
render_sanitize_body(struct sz_wr *w, const uint8_t *in, size_t len, const struct san_files *files,
                     int top)
{
    return sanitize(w, in, len, true, files, top);
}

int
render_heading_top(const uint8_t *p, size_t n, bool skip_first_h1)
{
    int top = 0;
    bool skipped = !skip_first_h1;
    for (const uint8_t *lt = n > 0 ? memchr(p, '<', n) : NULL; lt != NULL;
         lt = memchr(lt + 1, '<', n - (size_t)(lt + 1 - p))) {
        size_t k = (size_t)(lt - p);
        if (k + 2 >= n || lower(p[k + 1]) != 'h' || p[k + 2] < '1' || p[k + 2] > '6')
            continue;
        if (k + 3 < n && !html_space(p[k + 3]) && p[k + 3] != '/' && p[k + 3] != '>')
            continue;
        int level = p[k + 2] - '0';
        if (level == 1 && !skipped) {
            skipped = true;
            continue;
        }
        if (top == 0 || level < top)
            top = level;
    }
    return top;
}
