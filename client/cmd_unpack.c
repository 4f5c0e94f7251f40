/* samizdat unpack: verify bundles, then add their articles to a library folder. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "library.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "util.h"

static const char USAGE[] =
    "usage: samizdat unpack (--trust PK ... | --trust-file F) --output DIR BUNDLE...\n"
    "\n"
    "Verifies every bundle completely, and only when all pass, adds their articles\n"
    "to the library in DIR: index.html, a page per article, each article's\n"
    "original file and its attachments. A refused bundle leaves nothing behind.\n"
    "Prints the path of DIR/index.html.\n"
    "\n"
    "  --trust PK             a trusted publisher: a public key file or szpk1... text\n"
    "  --trust-file F         lines of 'PUBLIC-KEY name...' ('#' starts a comment), as\n"
    "                         for fetch: the names appear in the library\n"
    "  --output DIR           the library folder: a new or empty folder, or a library\n"
    "                         made earlier (a folder holding other files is refused)\n"
    "  --max-size MIB         refuse bundles declaring more than MIB uncompressed (64)\n"
    "  -h, --help             show this help\n";

int
cmd_unpack(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trust", required_argument, NULL, 't'},  {"trust-file", required_argument, NULL, 'T'},
        {"output", required_argument, NULL, 'o'}, {"max-size", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct util_trust trust = {0};
    struct library_item *items = NULL;
    struct library_publisher *pubs = NULL;
    struct library_result res = {0};
    const char *dir = NULL;
    uint64_t cap = SZ_BUNDLE_DEFAULT_CONTENT_CAP, mib;
    size_t n = 0, i;
    char err[1024];
    int c, r, rc = EXIT_USAGE;

    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (util_trust_add(&trust, optarg, err, sizeof err) != 0) {
                util_err("%s", err);
                rc = EXIT_KEY;
                goto out;
            }
            break;
        case 'T':
            if (util_trust_load_file(&trust, optarg, err, sizeof err) != 0) {
                util_err("%s", err);
                rc = EXIT_KEY;
                goto out;
            }
            break;
        case 'o':
            dir = optarg;
            break;
        case 'm':
            if (util_parse_u64(optarg, &mib) != 0 || mib < 1 || mib > 1024) {
                util_err("--max-size takes MiB from 1 to 1024, not '%s'", optarg);
                goto out;
            }
            cap = mib << 20;
            break;
        case 'h':
            fputs(USAGE, stdout);
            rc = EXIT_OK;
            goto out;
        default:
            fputs(USAGE, stderr);
            goto out;
        }
    }
    if (trust.n == 0 || dir == NULL || optind == argc) {
        util_err("unpack needs at least one trusted key (--trust PK or --trust-file F), "
                 "--output DIR and one BUNDLE");
        fputs(USAGE, stderr);
        goto out;
    }
    /* A folder of the user's own is refused before any bundle is read. */
    if (library_check(dir, err, sizeof err) != 0) {
        util_err("%s", err);
        rc = EXIT_OUTPUT;
        goto out;
    }
    items = calloc((size_t)(argc - optind), sizeof *items);
    pubs = calloc(trust.n, sizeof *pubs);
    if (items == NULL || pubs == NULL) {
        util_err("out of memory");
        rc = EXIT_INPUT;
        goto out;
    }
    /* Verify everything first: one refused bundle and nothing is written. */
    rc = EXIT_OK;
    for (; optind < argc; optind++) {
        struct sz_bundle *b = NULL;
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        r = util_load_bundle(argv[optind], &trust, cap, &b, &raw, &raw_len, err, sizeof err);
        if (r != EXIT_OK) {
            util_err("%s", err);
            /* A file that cannot be read (3) outweighs a refusal (1). */
            if (rc == EXIT_OK || r == EXIT_INPUT)
                rc = r;
            continue;
        }
        items[n].b = b;
        items[n].raw = raw;
        items[n].raw_len = raw_len;
        n++;
    }
    if (rc != EXIT_OK) {
        util_err("nothing was unpacked: every bundle must be read and verify first");
        goto out;
    }
    for (i = 0; i < trust.n; i++) {
        memcpy(pubs[i].pk, trust.pk[i], 32);
        pubs[i].name = trust.names[i];
    }
    if (library_add(dir, items, n, pubs, trust.n, &res, err, sizeof err) != 0) {
        util_err("%s", err);
        rc = EXIT_OUTPUT;
        goto out;
    }
    fprintf(stderr, "samizdat: %zu bundle(s) added, %zu already present, %zu article(s) written\n",
            res.bundles_added, res.bundles_present, res.articles_written);
    printf("%s/index.html\n", dir);
out:
    for (i = 0; i < n; i++) {
        sz_bundle_free((struct sz_bundle *)items[i].b);
        free((uint8_t *)items[i].raw);
    }
    free(items);
    free(pubs);
    util_trust_free(&trust);
    return rc;
}
