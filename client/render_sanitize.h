/*
 * A small HTML sanitizer for article bodies shown in the offline library.
 * The pages also carry a strict Content-Security-Policy; the sanitizer is the
 * second line of defence for browsers that ignore it and for things CSP does
 * not cover (meta refresh, link prefetch, hyperlink auditing).
 */
#ifndef SZ_CLIENT_RENDER_SANITIZE_H
#define SZ_CLIENT_RENDER_SANITIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "samizdat/buf.h"

/*
 * Appends a sanitized copy of the HTML in[0..len) to w, fit to be placed inside
 * a <div> of a page body:
 *   - elements that run code, embed other documents or load things are dropped
 *     with their content (script, style, iframe, object, template, noscript,
 *     head, title, ...) or alone (meta, link, base, embed, html/body wrappers);
 *   - comments, doctypes and processing instructions are dropped;
 *   - attributes: event handlers (on*), ping, srcdoc, http-equiv and
 *     style values that could load something (url(), image(), @import,
 *     escapes) are dropped, and so is any other value with "url(" or a
 *     backslash (a CSS escape); links keep only http, https, mailto and
 *     relative targets; resources (src, srcset, poster, ...) keep only
 *     relative paths and data: in src/poster, so nothing can name a remote host;
 *   - the output is nested as the browser's tree: nothing is written
 *     self-closed, every end tag closes the innermost open element, elements
 *     the browser would close by itself are closed by end tags written for
 *     them, end tags that would close nothing (or the page's own elements)
 *     are dropped, and elements left open are closed at the end; so the body
 *     can neither close the page around it nor keep the page's later parts
 *     inside its own elements.
 * Every attribute value is decoded and re-escaped, so what was checked is
 * what the browser sees. Time and memory are linear in len; errors are
 * reported through sz_wr_status(w). Returns false, with nothing written, when
 * the output would exceed SAN_OUT_FACTOR * len + SAN_OUT_BASE bytes (markup
 * made to grow: thousands of empty tables, each put in its scroll box): the
 * caller then shows the body as text.
 */
#define SAN_OUT_FACTOR 6
#define SAN_OUT_BASE (1u << 20)
bool render_sanitize_html(struct sz_wr *w, const uint8_t *in, size_t len);

/*
 * As render_sanitize_html(), fitted to the article page around the body: its
 * headings move so that level top becomes h2 (render_heading_top() tells the
 * body's own; with top 0, h1 becomes h2, ..., h6 stays h6), within h2 to h6,
 * as the page's title is its h1; each table is put in a box that scrolls it when it
 * is wider than the page (a <div class="scroll">, a region named "Table"), and
 * that box and each <pre> (which scrolls itself) take the focus
 * (tabindex="0"), whatever their width (without scripts the page cannot tell
 * which overflow), so that a keyboard can scroll them in browsers that leave
 * scroll boxes out of the tab order; a <pre> that holds code and that the
 * publisher named not is a region named "Code". A publisher's tabindex,
 * accesskey and autofocus are dropped (by render_sanitize_html() too). A link
 * that goes online (http, https, mailto) gets data-online="" (the page's style
 * marks it). With files (may be NULL), a relative link or resource URL (src,
 * href, srcset's, ...) that is exactly one of files->names ("./" before it,
 * "?..." or "#..." after it allowed) is written with the matching stored name
 * instead, and files->used[k] is set (all of used is cleared first, and when
 * false is returned). With files (n may be 0), a relative link or resource
 * URL that does not climb ("..") and names a file of the article's folder
 * other than files->names, index.html and the body's file (percent escapes
 * decoded) leads nowhere: it is dropped, the element's text or alt kept.
 * Unlike render_sanitize_html(), sanitizing its output
 * again does not leave it as is.
 */
struct san_files {
    const char *const *names;  /* as the body names the files (an article's attachments) */
    const char *const *stored; /* the names the library stored them under */
    bool *used;                /* used[k]: a link or resource of the body names names[k] */
    size_t n;
    /* When not NULL: called with each URL the body loads (a picture's src or
     * srcset candidate, a video's src, ...), u[0..n) as a browser reads it
     * (references decoded, white space out), whether it is kept or not. */
    void (*resource)(void *ctx, const uint8_t *u, size_t n);
    void *ctx;
};
bool render_sanitize_body(struct sz_wr *w, const uint8_t *in, size_t len,
                          const struct san_files *files, int top);

/*
 * Percent escapes ("%C3%A9") in u[0..n) decoded into out (room for n bytes;
 * a '%' not followed by two hex digits stays as it is). Returns the length.
 */
size_t render_percent_decode(const uint8_t *u, size_t n, uint8_t *out);

/*
 * The highest level (the smallest number) of the heading tags ("<h1" to "<h6",
 * in any case) in p[0..n), leaving out the first "<h1" when skip_first_h1; 0
 * when there is none. A tag inside a comment or a script counts too: only
 * the page's heading outline depends on it.
 */
int render_heading_top(const uint8_t *p, size_t n, bool skip_first_h1);

/*
 * Decodes the character references in p[0..n) as the sanitizer reads an
 * attribute value: numeric ones, and the named ones that matter to it and to
 * titles (&amp; &lt; &gt; &quot; &apos; &nbsp; &mdash; &laquo; ...); others stay
 * as written. out must hold n bytes (a reference never decodes to more bytes
 * than it takes, and is read before it is written: out may be p). Returns the
 * decoded length.
 */
size_t render_decode_refs(const uint8_t *p, size_t n, uint8_t *out);

#endif
