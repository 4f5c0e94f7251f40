/* samizdat inspect: show what a bundle claims, without trusting it. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cmd.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "util.h"

static const char USAGE[] =
    "usage: samizdat inspect [--max-size MIB] BUNDLE\n"
    "\n"
    "Shows a bundle's header fields and article list WITHOUT trusting it: the\n"
    "signature is checked against the key the bundle names, but that key is not\n"
    "compared with any trusted key. Use 'samizdat verify' before believing it.\n"
    "\n"
    "  --max-size MIB         refuse bundles declaring more than MIB uncompressed (64)\n"
    "  -h, --help             show this help\n";

/*
 * The length of a character at p (n bytes left) that must not reach a
 * terminal, else 0: C1 controls (U+0080..U+009F; U+009B is CSI, which some
 * terminals act on), and the marks that reorder text (U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069) or break lines (U+2028, U+2029), with which
 * a title could make a line read other than it is. The bundle's fields are
 * valid UTF-8, but inspect shows what nobody vouches for yet.
 */
static size_t
unsafe_char_len(const unsigned char *p, size_t n)
{
    if (n >= 2 && p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
        return 2;
    if (n >= 2 && p[0] == 0xd8 && p[1] == 0x9c)
        return 2;
    if (n >= 3 && p[0] == 0xe2 && p[1] == 0x80 &&
        (p[2] == 0x8e || p[2] == 0x8f || (p[2] >= 0xa8 && p[2] <= 0xae)))
        return 3;
    if (n >= 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
        return 3;
    return 0;
}

/* Prints a length-delimited string, each control or reordering character as '?'. */
static void
print_str(struct sz_str s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = 0;

    while (i < s.len) {
        size_t k = unsafe_char_len(p + i, s.len - i);
        if (k > 0) {
            putchar('?');
            i += k;
        } else {
            putchar(p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i]);
            i++;
        }
    }
}

int
cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"max-size", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sz_bundle *b = NULL;
    struct sz_bundle_header hdr;
    struct stat st;
    uint64_t cap = SZ_BUNDLE_DEFAULT_CONTENT_CAP, mib;
    uint8_t *raw = NULL;
    size_t raw_len = 0, i, j;
    char err[1024], hex[2 * SZ_BUNDLE_ID_LEN + 1], text[SZ_PK_TEXT_LEN + 1], when[32];
    uint8_t id[SZ_BUNDLE_ID_LEN];
    int c, r, sig;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (util_parse_u64(optarg, &mib) != 0 || mib < 1 || mib > 1024) {
                util_err("--max-size takes MiB from 1 to 1024, not '%s'", optarg);
                return EXIT_USAGE;
            }
            cap = mib << 20;
            break;
        case 'h':
            fputs(USAGE, stdout);
            return EXIT_OK;
        default:
            fputs(USAGE, stderr);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        util_err("inspect takes exactly one BUNDLE");
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    if (stat(argv[optind], &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size > cap * 2 + 4096) {
        util_err("%s is too large (%lld bytes) for a bundle of at most %llu MiB uncompressed: "
                 "pass --max-size MIB to look at larger bundles",
                 argv[optind], (long long)st.st_size, (unsigned long long)(cap >> 20));
        return EXIT_INPUT;
    }
    if (util_read_file(argv[optind], (size_t)(cap * 2 + 4096), &raw, &raw_len, err, sizeof err) !=
        0) {
        util_err("%s", err);
        return EXIT_INPUT;
    }
    sig = sz_bundle_verify(raw, raw_len, cap, NULL, NULL);
    r = sz_bundle_inspect(raw, raw_len, cap, &b);
    if (r == -SZ_ETOOBIG &&
        sz_bundle_parse(raw, raw_len, SZ_BUNDLE_MAX_CONTENT_LEN, &hdr, NULL) == 0 &&
        hdr.content_len > cap) {
        util_err("%s: it is too large: it declares %llu MiB uncompressed, above the limit of "
                 "%llu MiB (pass --max-size MIB to look at larger bundles)",
                 argv[optind], (unsigned long long)((hdr.content_len + (1u << 20) - 1) >> 20),
                 (unsigned long long)(cap >> 20));
        free(raw);
        return EXIT_REFUSED;
    }
    /* A header that parses is shown even when the payload cannot be read (one
     * altered on the way): the signature line says what failed. */
    if (r != 0 && sz_bundle_parse(raw, raw_len, cap, &hdr, id) != 0) {
        util_err("%s: cannot read it as a bundle: %s", argv[optind], sz_strerror(r));
        free(raw);
        return EXIT_REFUSED;
    }
    if (r == 0) {
        hdr = b->hdr;
        memcpy(id, b->id, SZ_BUNDLE_ID_LEN);
    }
    sz_bundle_id_hex(id, hex);
    sz_pk_to_text(hdr.publisher, text);
    if (sz_time_format(hdr.created, when, sizeof when) != 0)
        snprintf(when, sizeof when, "%lld", (long long)hdr.created);
    printf("UNVERIFIED: nothing below is checked against a trusted key\n");
    printf("id:          %s\n", hex);
    printf("version:     %u\n", hdr.version);
    printf("publisher:   %s\n", text);
    printf("sequence:    %llu\n", (unsigned long long)hdr.sequence);
    printf("created:     %s\n", when);
    printf("size:        %zu bytes (payload %llu, uncompressed %llu)\n", raw_len,
           (unsigned long long)hdr.payload_len, (unsigned long long)hdr.content_len);
    printf("signature:   %s\n",
           sig == 0 ? "valid for the key named above (not a trust decision)" : sz_strerror(sig));
    if (r != 0) {
        printf("articles:    cannot be read: %s\n", sz_strerror(r));
        util_err("%s: its articles cannot be read: %s", argv[optind],
                 sig != 0 ? sz_strerror(sig) : sz_strerror(r));
        free(raw);
        return EXIT_REFUSED;
    }
    printf("articles:    %zu\n", b->c->n_articles);
    for (i = 0; i < b->c->n_articles; i++) {
        const struct sz_article *a = &b->c->articles[i];
        if (sz_time_format(a->published, when, sizeof when) != 0)
            snprintf(when, sizeof when, "?");
        printf("  - ");
        print_str(a->id);
        printf("  %s  %s  %zu bytes  ", when, sz_ctype_name(a->ctype), a->body_len);
        print_str(a->title);
        putchar('\n');
        for (j = 0; j < a->n_atts; j++) {
            printf("      attachment ");
            print_str(a->atts[j].name);
            printf(" (");
            print_str(a->atts[j].media_type);
            printf(", %zu bytes)\n", a->atts[j].data_len);
        }
    }
    sz_bundle_free(b);
    free(raw);
    return sig == 0 ? EXIT_OK : EXIT_REFUSED;
}
