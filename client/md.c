/* md4c, opened on first use (see md.h). */
#include "md.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

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

int
md_lazy_parse(const MD_CHAR *text, MD_SIZE size, const MD_PARSER *parser, void *userdata)
{
    if (pthread_once(&once, load) != 0 || parse == NULL)
        return -1;
    return parse(text, size, parser, userdata);
}

int
md_lazy_html(const MD_CHAR *input, MD_SIZE input_size,
             void (*process_output)(const MD_CHAR *, MD_SIZE, void *), void *userdata,
             unsigned parser_flags, unsigned renderer_flags)
{
    if (pthread_once(&once, load) != 0 || html == NULL)
        return -1;
    return html(input, input_size, process_output, userdata, parser_flags, renderer_flags);
}
