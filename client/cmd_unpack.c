/* samizdat unpack: verify bundles, then add their articles to a library folder. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "library.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "util.h"

static const char USAGE[] =
    "usage: samizdat unpack (--trust PK ... | --trust-file F) --output DIR [--max-size MIB]\n"
    "                       BUNDLE...\n"
    "\n"
    "Verifies every bundle completely, and only when all pass, adds their articles\n"
    "to the library in DIR: index.html, a page per article, each article's\n"
    "original file and its attachments. A refused bundle leaves nothing behind.\n"
    "Many bundles (over 128 MiB with their articles) are checked all first, then\n"
    "read again and added in parts: memory does not grow with their number.\n"
    "Prints the path of DIR/index.html.\n"
    "\n"
    "  --trust PK             a trusted publisher: a public key file or szpk1... text\n"
    "  --trust-file F         lines of 'PUBLIC-KEY name...' ('#' starts a comment), as\n"
    "                         for fetch: the names appear in the library\n"
    "  --output DIR           the library folder: a new or empty folder, or a library\n"
    "                         made earlier (a folder holding other files is refused)\n"
    "  --max-size MIB         refuse bundles declaring more than MIB uncompressed (64)\n"
    "  -h, --help             show this help\n";

/*
 * What one library_add() holds at most: bundles and their articles, raw and
 * uncompressed bytes together. Bundles that fit are kept from their check to
 * their writing; past that (an archive from a USB stick), they are checked all
 * first, then read again and added in parts of this size, so that memory does
 * not grow with the number of bundles.
 */
#define UNPACK_HOLD_BYTES ((size_t)128 << 20)

static size_t
item_bytes(const struct library_item *it)
{
    return it->raw_len + it->b->content_len;
}

static void
items_free(struct library_item *items, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        sz_bundle_free((struct sz_bundle *)items[i].b);
        free((uint8_t *)items[i].raw);
    }
    *n = 0;
}

/* Adds items[0..*n) and frees them; sums the library's counts into *sum. */
static int
add_part(const char *dir, struct library_item *items, size_t *n,
         const struct library_publisher *pubs, size_t n_pubs, struct library_result *sum, char *err,
         size_t err_cap)
{
    struct library_result res = {0};
    int r = library_add(dir, items, *n, pubs, n_pubs, &res, err, err_cap);
    items_free(items, n);
    if (r != 0)
        return -1;
    sum->bundles_added += res.bundles_added;
    sum->bundles_present += res.bundles_present;
    sum->articles_written += res.articles_written;
    sum->articles_repaired += res.articles_repaired;
    sum->equivocations += res.equivocations;
    for (size_t k = 0; k < res.n_equiv_listed && sum->n_equiv_listed < LIBRARY_EQUIV_LISTED; k++)
        sum->equiv[sum->n_equiv_listed++] = res.equiv[k];
    return 0;
}

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
    size_t n = 0, i, held = 0;
    bool reread = false;
    char err[1024];
    int c, r, rc = EXIT_USAGE, first;

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
            if (optarg[0] == '\0') {
                util_err("--output takes a folder for the library, not an empty name");
                goto out;
            }
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
    first = optind;
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
        held += item_bytes(&items[n++]);
        if (held > UNPACK_HOLD_BYTES) {
            /* Too much to hold: checked now, read again to be added. */
            items_free(items, &n);
            held = 0;
            reread = true;
        }
    }
    if (rc != EXIT_OK) {
        util_err("nothing was unpacked: every bundle must be read and verified first");
        goto out;
    }
    for (i = 0; i < trust.n; i++) {
        memcpy(pubs[i].pk, trust.pk[i], 32);
        pubs[i].name = trust.names[i];
    }
    if (reread) {
        items_free(items, &n); /* the last ones checked: read again below, in order */
        held = 0;
    } else if (add_part(dir, items, &n, pubs, trust.n, &res, err, sizeof err) != 0) {
        util_err("%s", err);
        rc = EXIT_OUTPUT;
        goto out;
    }
    for (int k = first; reread && k < argc; k++) {
        struct sz_bundle *b = NULL;
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        /* Checked again: the file may have changed since its first reading. */
        r = util_load_bundle(argv[k], &trust, cap, &b, &raw, &raw_len, err, sizeof err);
        if (r != EXIT_OK) {
            util_err("%s", err);
            util_err("stopped: %s could not be read again as it was checked (it changed "
                     "or went away since); %zu bundle%s added before it",
                     argv[k], res.bundles_added, res.bundles_added == 1 ? " was" : "s were");
            rc = r;
            goto out;
        }
        items[n].b = b;
        items[n].raw = raw;
        items[n].raw_len = raw_len;
        held += item_bytes(&items[n++]);
        if (held >= UNPACK_HOLD_BYTES / 2 || k + 1 == argc) {
            held = 0;
            if (add_part(dir, items, &n, pubs, trust.n, &res, err, sizeof err) != 0) {
                util_err("%s", err);
                if (res.bundles_added > 0)
                    util_err("%zu bundle%s of this unpack %s added before that", res.bundles_added,
                             res.bundles_added == 1 ? "" : "s",
                             res.bundles_added == 1 ? "was" : "were");
                rc = EXIT_OUTPUT;
                goto out;
            }
        }
    }
    fprintf(stderr, "samizdat: %zu bundle%s added, %zu already present, %zu article%s written\n",
            res.bundles_added, res.bundles_added == 1 ? "" : "s", res.bundles_present,
            res.articles_written, res.articles_written == 1 ? "" : "s");
    if (res.articles_repaired > 0)
        fprintf(stderr,
                "samizdat: %zu article%s of bundles already present had missing or changed "
                "files in the library and %s written again\n",
                res.articles_repaired, res.articles_repaired == 1 ? "" : "s",
                res.articles_repaired == 1 ? "was" : "were");
    /* Evidence of a stolen key, said loudly (index.html shows it too): the
     * pairs this unpack added, not those the library held before. */
    for (size_t k = 0; k < res.n_equiv_listed; k++) {
        char text[SZ_PK_TEXT_LEN + 1];
        const char *name = NULL;
        for (i = 0; i < trust.n && name == NULL; i++)
            if (memcmp(trust.pk[i], res.equiv[k].pk, SZ_PUBLIC_KEY_LEN) == 0)
                name = trust.names[i];
        sz_pk_to_text(res.equiv[k].pk, text);
        fprintf(stderr,
                "samizdat: WARNING: %s signed two different bundles with one sequence number "
                "(%llu; both are in the library): its key may be stolen\n",
                name != NULL ? name : text, (unsigned long long)res.equiv[k].seq);
    }
    if (res.equivocations > res.n_equiv_listed)
        fprintf(stderr, "samizdat: WARNING: and %zu more such bundles (index.html lists them)\n",
                res.equivocations - res.n_equiv_listed);
    printf("%s/index.html\n", dir);
out:
    items_free(items, &n);
    free(items);
    free(pubs);
    util_trust_free(&trust);
    return rc;
}
