/*
 * md4c, loaded when first needed. A reader runs samizdat often and briefly
 * (verify, unpack of a bundle without Markdown): linking libmd4c and
 * libmd4c-html made the dynamic loader map them at every start, a fifth of
 * the start-up time of `samizdat verify`. They are opened (dlopen) the first
 * time Markdown is parsed or rendered, once per process.
 */
#ifndef SZ_CLIENT_MD_H
#define SZ_CLIENT_MD_H

#include <stdbool.h>

#include <md4c-html.h>
#include <md4c.h>

/* Whether md4c could be loaded (it is, the first time this is asked). */
bool md_available(void);

/*
 * md_parse() of md4c, on a copy of the text (md.c says why); -1 (as md4c's
 * own failure) when md4c cannot be loaded or there is no memory for the copy.
 */
int md_lazy_parse(const MD_CHAR *text, MD_SIZE size, const MD_PARSER *parser, void *userdata);

/* md_html() of md4c-html, on a copy of the input; -1 as md_lazy_parse(). */
int md_lazy_html(const MD_CHAR *input, MD_SIZE input_size,
                 void (*process_output)(const MD_CHAR *, MD_SIZE, void *), void *userdata,
                 unsigned parser_flags, unsigned renderer_flags);

#endif
