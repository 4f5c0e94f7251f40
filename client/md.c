/* md4c, opened on first use (see md.h). */
#include "md.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*parse_fn)(const MD_CHAR *, MD_SIZE, const MD_PARSER *, void *);
typedef int (*html_fn)(const MD_CHAR *, MD_SIZE, void (*)(const MD_CHAR *, MD_SIZE, void *), void *,
                       unsigned, unsigned);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static parse_fn parse;
static html_fn html;

/* The libraries' run-time names, as Debian's libmd4c0 and libmd4c-html0 install them. */
static void
load(void)
{
    void *md = dlopen("libmd4c.so.0", RTLD_NOW | RTLD_LOCAL);
    void *mh = md != NULL ? dlopen("libmd4c-html.so.0", RTLD_NOW | RTLD_LOCAL) : NULL;

    if (md == NULL || mh == NULL) {
        const char *why = dlerror();
        fprintf(stderr,
                "samizdat: cannot load the Markdown library (%s): Markdown articles are shown "
                "as their text; install libmd4c0 and libmd4c-html0\n",
                why != NULL ? why : "not found");
        return;
    }
    /* POSIX: a function pointer is had from dlsym() through an object pointer. */
    *(void **)&parse = dlsym(md, "md_parse");
    *(void **)&html = dlsym(mh, "md_html");
    if (parse == NULL || html == NULL) {
        fprintf(stderr, "samizdat: the Markdown library lacks md_parse or md_html: Markdown "
                        "articles are shown as their text; reinstall libmd4c0 and "
                        "libmd4c-html0\n");
        parse = NULL;
        html = NULL;
    }
    /* Kept open for the life of the process. */
}

/*
 * md4c 0.4.8 reads past the end of its input: a text ending in an inline link
 * left open ("[a](b") is read on into the byte after it, and when that byte is
 * ')' md4c takes it as the link's end and goes on from past the end (a crash,
 * or memory after the text written into the page). A body lies in its
 * bundle's container with other bytes after it (the attachment count: 41
 * attachments make a ')'), and a title is derived from the start of a body.
 * md4c gets a copy of the text followed by line ends, which close no link and
 * end any paragraph; they are not part of the size it is given.
 */
#define MD_PAD 16

static MD_CHAR *
padded_copy(const MD_CHAR *text, MD_SIZE size)
{
    MD_CHAR *copy = malloc((size_t)size + MD_PAD);

    if (copy == NULL)
        return NULL;
    if (size > 0)
        memcpy(copy, text, size);
    memset(copy + size, '\n', MD_PAD);
    return copy;
}

bool
md_available(void)
{
    return pthread_once(&once, load) == 0 && parse != NULL && html != NULL;
}

int
md_lazy_parse(const MD_CHAR *text, MD_SIZE size, const MD_PARSER *parser, void *userdata)
{
    MD_CHAR *copy;
    int rc;

    if (pthread_once(&once, load) != 0 || parse == NULL)
        return -1;
    if ((copy = padded_copy(text, size)) == NULL)
        return -1;
    rc = parse(copy, size, parser, userdata);
    free(copy);
    return rc;
}

int
md_lazy_html(const MD_CHAR *input, MD_SIZE input_size,
             void (*process_output)(const MD_CHAR *, MD_SIZE, void *), void *userdata,
             unsigned parser_flags, unsigned renderer_flags)
{
    MD_CHAR *copy;
    int rc;

    if (pthread_once(&once, load) != 0 || html == NULL)
        return -1;
    if ((copy = padded_copy(input, input_size)) == NULL)
        return -1;
    rc = html(copy, input_size, process_output, userdata, parser_flags, renderer_flags);
    free(copy);
    return rc;
}
