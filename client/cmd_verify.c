/* samizdat verify: check bundles completely against trusted publisher keys. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "util.h"

static const char USAGE[] =
    "usage: samizdat verify (--trust PK ... | --trust-file F) [--max-size MIB] [-q]\n"
    "                       BUNDLE...\n"
    "\n"
    "Verifies each bundle completely: format, Ed25519 signature, payload hash,\n"
    "bounded decompression and every article. A bundle passes only when it is\n"
    "signed by one of the trusted keys. Prints one line per bundle; exits 1 if\n"
    "any bundle is refused, 3 if a file cannot be read (3 when both happen).\n"
    "\n"
    "  --trust PK             a trusted publisher: a public key file or szpk1... text\n"
    "  --trust-file F         lines of 'PUBLIC-KEY name...' ('#' starts a comment), as\n"
    "                         for fetch; may be combined with --trust\n"
    "  --max-size MIB         refuse bundles declaring more than MIB uncompressed (64)\n"
    "  -q, --quiet            print nothing for bundles that pass\n"
    "  -h, --help             show this help\n";

/* A bundle that passed: who signed it, with which sequence, and its id. */
struct seen {
    uint8_t pk[SZ_PUBLIC_KEY_LEN];
    uint64_t seq;
    uint8_t id[SZ_BUNDLE_ID_LEN];
    const char *file;
};

static int
cmp_seen(const void *a, const void *b)
{
    const struct seen *x = a, *y = b;
    int c = memcmp(x->pk, y->pk, SZ_PUBLIC_KEY_LEN);
    if (c != 0)
        return c;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return memcmp(x->id, y->id, SZ_BUNDLE_ID_LEN);
}

/*
 * Two different bundles of one publisher with one sequence number among those
 * that passed: the publisher's key signed both, so it may be stolen. Said
 * loudly, as fetch and unpack do; returns how many such pairs there were.
 */
static size_t
warn_equivocations(struct seen *v, size_t n, const struct util_trust *trust)
{
    size_t pairs = 0;
    qsort(v, n, sizeof *v, cmp_seen);
    for (size_t k = 1; k < n; k++) {
        if (memcmp(v[k].pk, v[k - 1].pk, SZ_PUBLIC_KEY_LEN) != 0 || v[k].seq != v[k - 1].seq ||
            memcmp(v[k].id, v[k - 1].id, SZ_BUNDLE_ID_LEN) == 0)
            continue;
        char text[SZ_PK_TEXT_LEN + 1];
        const char *name = NULL;
        for (size_t t = 0; t < trust->n && name == NULL; t++)
            if (memcmp(trust->pk[t], v[k].pk, SZ_PUBLIC_KEY_LEN) == 0)
                name = trust->names[t];
        sz_pk_to_text(v[k].pk, text);
        util_err("WARNING: %s signed two different bundles with one sequence number "
                 "(%llu: %s and %s): its key may be stolen",
                 name != NULL ? name : text, (unsigned long long)v[k].seq, v[k - 1].file,
                 v[k].file);
        pairs++;
    }
    return pairs;
}

int
cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trust", required_argument, NULL, 't'},    {"trust-file", required_argument, NULL, 'T'},
        {"max-size", required_argument, NULL, 'm'}, {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct util_trust trust = {0};
    uint64_t cap = SZ_BUNDLE_DEFAULT_CONTENT_CAP, mib;
    bool quiet = false;
    char err[1024];
    int c, i, r, rc = EXIT_OK;
    struct seen *seen = NULL;
    size_t n_seen = 0;

    while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (util_trust_add(&trust, optarg, err, sizeof err) != 0) {
                util_err("%s", err);
                util_trust_free(&trust);
                return EXIT_KEY;
            }
            break;
        case 'T':
            if (util_trust_load_file(&trust, optarg, err, sizeof err) != 0) {
                util_err("%s", err);
                util_trust_free(&trust);
                return EXIT_KEY;
            }
            break;
        case 'm':
            if (util_parse_u64(optarg, &mib) != 0 || mib < 1 || mib > 1024) {
                util_err("--max-size takes MiB from 1 to 1024, not '%s'", optarg);
                util_trust_free(&trust);
                return EXIT_USAGE;
            }
            cap = mib << 20;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            fputs(USAGE, stdout);
            util_trust_free(&trust);
            return EXIT_OK;
        default:
            fputs(USAGE, stderr);
            util_trust_free(&trust);
            return EXIT_USAGE;
        }
    }
    if (trust.n == 0 || optind == argc) {
        util_err("verify needs at least one trusted key (--trust PK or --trust-file F) and one "
                 "BUNDLE");
        fputs(USAGE, stderr);
        util_trust_free(&trust);
        return EXIT_USAGE;
    }
    seen = calloc((size_t)(argc - optind), sizeof *seen);
    if (seen == NULL) {
        util_err("out of memory");
        util_trust_free(&trust);
        return EXIT_INPUT;
    }
    for (i = optind; i < argc; i++) {
        struct sz_bundle *b = NULL;
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        char hex[2 * SZ_BUNDLE_ID_LEN + 1], when[32];

        r = util_load_bundle(argv[i], &trust, cap, &b, &raw, &raw_len, err, sizeof err);
        if (r != EXIT_OK) {
            util_err("%s", err);
            /* A file that cannot be read (3) outweighs a refusal (1). */
            if (rc == EXIT_OK || r == EXIT_INPUT)
                rc = r;
            continue;
        }
        if (!quiet) {
            sz_bundle_id_hex(b->id, hex);
            if (sz_time_format(b->hdr.created, when, sizeof when) != 0)
                snprintf(when, sizeof when, "%lld", (long long)b->hdr.created);
            fputs("OK ", stdout);
            util_put_safe(stdout, argv[i]);
            printf(" %s sequence %llu created %s articles %zu\n", hex,
                   (unsigned long long)b->hdr.sequence, when, b->c->n_articles);
        }
        memcpy(seen[n_seen].pk, b->hdr.publisher, SZ_PUBLIC_KEY_LEN);
        seen[n_seen].seq = b->hdr.sequence;
        memcpy(seen[n_seen].id, b->id, SZ_BUNDLE_ID_LEN);
        seen[n_seen++].file = argv[i];
        sz_bundle_free(b);
        free(raw);
    }
    (void)warn_equivocations(seen, n_seen, &trust);
    free(seen);
    util_trust_free(&trust);
    return rc;
}
