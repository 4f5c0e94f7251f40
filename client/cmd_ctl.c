/* The commands that talk to a local samizdatd: publish, import, status, list, export. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* O_PATH */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "ctlclient.h"
#include "inputs.h"
#include "samizdat/buf.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/ctl.h"
#include "samizdat/keys.h"
#include "util.h"

/* Prints a command's usage, then the --socket option with its default. */
static void
usage(FILE *f, const char *text)
{
    char sock[PATH_MAX];

    ctlclient_default_socket(sock, sizeof sock);
    fputs(text, f);
    fprintf(f,
            "  --socket PATH          the daemon's control socket\n"
            "                         (default: %s)\n"
            "\n"
            "Exits 6 when the daemon cannot be reached, refuses, or makes no progress\n"
            "for %d s (set SAMIZDAT_CTL_TIMEOUT=SECONDS to change that).\n",
            sock, CTLCLIENT_DEFAULT_TIMEOUT_S);
}

/* Sends req and checks the reply type; prints the daemon's error otherwise. */
static int
call(const char *sock, const struct sz_ctl_msg *req, uint8_t want, uint8_t **frame,
     struct sz_ctl_msg **reply)
{
    char err[1024];
    unsigned timeout_s;

    /* A malformed SAMIZDAT_CTL_TIMEOUT is the user's to fix (2), not the daemon's. */
    if (ctlclient_timeout(&timeout_s, err, sizeof err) != 0) {
        util_err("%s", err);
        return EXIT_USAGE;
    }
    if (ctlclient_call(sock, req, frame, reply, err, sizeof err) != 0) {
        util_err("%s", err);
        return EXIT_DAEMON;
    }
    if ((*reply)->type == SZ_CTL_R_ERROR) {
        util_err("samizdatd refused: %.*s", (int)(*reply)->text_len, (*reply)->text);
        return EXIT_DAEMON;
    }
    if ((*reply)->type != want) {
        util_err("samizdatd sent an unexpected reply (type %u)", (*reply)->type);
        return EXIT_DAEMON;
    }
    return EXIT_OK;
}

/*
 * An empty --socket (a variable unset in a script) would name an abstract
 * socket, which any local user may take, ignoring file permissions
 * (CONTROL.md 1): refused, said.
 */
static bool
socket_arg_ok(const char *arg)
{
    if (arg[0] != '\0')
        return true;
    util_err("--socket needs the path of samizdatd's control socket (an empty one is refused; "
             "leave --socket out for the default)");
    return false;
}

/*
 * The options of a command that takes --socket and one or more operands (what
 * names them in the error), and --include-drafts when drafts is not NULL.
 * Returns -1 to go on with argv[optind..], or the exit status.
 */
static int
socket_and_operands(int argc, char **argv, const char *usage_text, const char *cmd,
                    const char *what, char *sock, size_t sock_cap, bool *drafts)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {"include-drafts", no_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    int c;

    ctlclient_default_socket(sock, sock_cap);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!socket_arg_ok(optarg))
                return EXIT_USAGE;
            snprintf(sock, sock_cap, "%s", optarg);
            break;
        case 'D':
            if (drafts == NULL) {
                util_err("%s takes no --include-drafts", cmd);
                usage(stderr, usage_text);
                return EXIT_USAGE;
            }
            *drafts = true;
            break;
        case 'h':
            usage(stdout, usage_text);
            return EXIT_OK;
        default:
            usage(stderr, usage_text);
            return EXIT_USAGE;
        }
    }
    if (optind == argc) {
        util_err("%s needs at least one %s", cmd, what);
        usage(stderr, usage_text);
        return EXIT_USAGE;
    }
    return -1;
}

static const char PUBLISH_USAGE[] =
    "usage: samizdat publish [--socket PATH] [--include-drafts] FILE...\n"
    "\n"
    "Hands article files (.md, .html, .txt with optional front matter) to a local\n"
    "samizdatd started with --publisher-key. The daemon batches what arrives\n"
    "within its window into one bundle, signs and stores it, and this command\n"
    "prints the bundle's id once it is stored.\n"
    "\n"
    "  --include-drafts       publish files whose front matter marks them a draft\n"
    "                         (draft: true, published: false, status: draft,\n"
    "                         private or pending); without it they are refused\n"
    "  -h, --help             show this help\n";

int
cmd_publish(int argc, char **argv)
{
    char sock[PATH_MAX], hex[2 * SZ_BUNDLE_ID_LEN + 1];
    struct sz_ctl_msg req = {.type = SZ_CTL_PUBLISH}, *reply = NULL;
    uint8_t *content = NULL, *frame = NULL;
    size_t content_len = 0;
    bool drafts = false;
    int rc = socket_and_operands(argc, argv, PUBLISH_USAGE, "publish", "FILE", sock, sizeof sock,
                                 &drafts);

    if (rc >= 0)
        return rc;
    if (argc - optind > SZ_MAX_ARTICLES) {
        util_err("too many files: publish at most %d at once", SZ_MAX_ARTICLES);
        return EXIT_USAGE;
    }
    rc = inputs_load((const char *const *)argv + optind, (size_t)(argc - optind), time(NULL), NULL,
                     NULL, drafts, &content, &content_len);
    if (rc != EXIT_OK)
        return rc;
    /* One PUBLISH frame carries the version, type and blob length besides the articles. */
    if (content_len > SZ_CTL_MAX_BODY_LEN - 6) {
        util_err("the articles come to %zu bytes, more than one publish request may carry "
                 "(%zu): publish fewer at once (a daemon's bundle holds at most its "
                 "max_bundle_bytes, 64 MiB by default)",
                 content_len, SZ_CTL_MAX_BODY_LEN - 6);
        free(content);
        return EXIT_INPUT;
    }
    req.container = content;
    req.container_len = content_len;
    rc = call(sock, &req, SZ_CTL_R_PUBLISHED, &frame, &reply);
    if (rc == EXIT_OK) {
        sz_bundle_id_hex(reply->id, hex);
        printf("%s\n", hex);
    }
    sz_ctl_msg_free(reply);
    free(frame);
    free(content);
    return rc;
}

static const char IMPORT_USAGE[] =
    "usage: samizdat import [--socket PATH] BUNDLE...\n"
    "\n"
    "Hands bundle files to a local samizdatd (sneakernet in). The daemon verifies\n"
    "each, applies its carry policy and stores it; one line per file says what\n"
    "happened: 'OUTCOME ID FILE: TEXT', OUTCOME one of stored, present, refused,\n"
    "not-stored, and ID the bundle's id, or '-' for a file that is not a bundle\n"
    "the daemon can read. A bundle that is invalid, or declares more articles\n"
    "than the daemon's max_bundle_bytes, is refused; one of a publisher not\n"
    "carried, over a quota, older than the expiry or dated more than a day ahead\n"
    "of the daemon's clock is not-stored. Exits 1 when any bundle was refused or\n"
    "not stored, 3 (before sending anything) when a file is missing or not a\n"
    "regular file.\n"
    "\n"
    "  -h, --help             show this help\n";

/* Sends files [first, last) as one IMPORT request and prints each outcome. */
static int
import_batch(const char *sock, char **paths, size_t n, bool *any_refused)
{
    /* POLICY: not carried, or a quota, the expiry or a date ahead of the clock refused it. */
    static const char *names[] = {"stored", "present", "refused", "not-stored"};
    struct sz_ctl_msg req = {.type = SZ_CTL_IMPORT}, *reply = NULL;
    uint8_t **bufs = calloc(n, sizeof *bufs), *frame = NULL;
    size_t *lens = calloc(n, sizeof *lens), i;
    char err[512], hex[2 * SZ_BUNDLE_ID_LEN + 1];
    int rc = EXIT_INPUT;

    if (bufs == NULL || lens == NULL) {
        util_err("out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (util_read_file(paths[i], SZ_CTL_MAX_BODY_LEN - 65536, &bufs[i], &lens[i], err,
                           sizeof err) != 0) {
            util_err("%s", err);
            goto out;
        }
    }
    req.items = (const uint8_t **)bufs;
    req.item_lens = lens;
    req.n_items = n;
    rc = call(sock, &req, SZ_CTL_R_IMPORTED, &frame, &reply);
    if (rc != EXIT_OK)
        goto out;
    if (reply->n_results != n) {
        util_err("samizdatd answered for %zu bundles instead of %zu", reply->n_results, n);
        rc = EXIT_DAEMON;
        goto out;
    }
    for (i = 0; i < n; i++) {
        const struct sz_ctl_import_result *r = &reply->results[i];
        /* An all-zero id: the daemon could not even read the file's structure
         * (proto/CONTROL.md 5.9), so it has no id: "-" stands in its place. */
        if (sodium_is_zero(r->id, sizeof r->id)) {
            printf("%s - %s: %s%.*s%s\n", r->code < 4 ? names[r->code] : "unknown", paths[i],
                   r->code == SZ_CTL_IMPORT_REFUSED ? "not a bundle this daemon can read (" : "",
                   (int)r->text_len, r->text, r->code == SZ_CTL_IMPORT_REFUSED ? ")" : "");
        } else {
            sz_bundle_id_hex(r->id, hex);
            printf("%s %s %s: %.*s\n", r->code < 4 ? names[r->code] : "unknown", hex, paths[i],
                   (int)r->text_len, r->text);
        }
        if (r->code == SZ_CTL_IMPORT_REFUSED || r->code == SZ_CTL_IMPORT_POLICY)
            *any_refused = true;
    }
out:
    sz_ctl_msg_free(reply);
    free(frame);
    if (bufs != NULL)
        for (i = 0; i < n; i++)
            free(bufs[i]);
    free(bufs);
    free(lens);
    return rc;
}

int
cmd_import(int argc, char **argv)
{
    char sock[PATH_MAX];
    bool refused = false;
    size_t *sizes = NULL;
    int i, rc = socket_and_operands(argc, argv, IMPORT_USAGE, "import", "BUNDLE", sock, sizeof sock,
                                    NULL);

    if (rc >= 0)
        return rc;
    /*
     * Every file is checked before anything is sent, with stat() alone: opening
     * a FIFO or a device to learn its size would block or read a stream.
     */
    sizes = calloc((size_t)(argc - optind), sizeof *sizes);
    if (sizes == NULL) {
        util_err("out of memory");
        return EXIT_INPUT;
    }
    for (i = optind; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            util_err("cannot read %s: %s: nothing was imported", argv[i], strerror(errno));
            rc = EXIT_INPUT;
            goto out;
        }
        if (!S_ISREG(st.st_mode)) {
            util_err("%s is not a regular file: give bundle files; nothing was imported", argv[i]);
            rc = EXIT_INPUT;
            goto out;
        }
        /* What import_batch() would refuse after the batches before it were sent. */
        if ((uint64_t)st.st_size > SZ_CTL_MAX_BODY_LEN - 65536) {
            util_err("%s is too large (%lld bytes; a control request carries at most %llu): it "
                     "is no bundle samizdatd takes; nothing was imported",
                     argv[i], (long long)st.st_size,
                     (unsigned long long)(SZ_CTL_MAX_BODY_LEN - 65536));
            rc = EXIT_INPUT;
            goto out;
        }
        if (access(argv[i], R_OK) != 0) {
            util_err("cannot read %s: %s: nothing was imported", argv[i], strerror(errno));
            rc = EXIT_INPUT;
            goto out;
        }
        sizes[i - optind] = (size_t)st.st_size;
    }
    rc = EXIT_OK;
    /* Batches of files keep each request under the protocol's size limit. */
    for (i = optind; i < argc && rc == EXIT_OK;) {
        size_t n = 0, bytes = 0;
        while (i + (int)n < argc && n < 256) {
            size_t sz = sizes[i - optind + (int)n];
            if (n > 0 && bytes + sz > SZ_CTL_MAX_BODY_LEN / 2)
                break;
            bytes += sz;
            n++;
        }
        rc = import_batch(sock, argv + i, n, &refused);
        i += (int)n;
    }
    if (rc == EXIT_OK && refused)
        rc = EXIT_REFUSED;
out:
    free(sizes);
    return rc;
}

static const char STATUS_USAGE[] =
    "usage: samizdat status [--socket PATH] [--json]\n"
    "\n"
    "Shows a local samizdatd's version, uptime, data folder, quotas, free disk\n"
    "space, the bundles and bytes it holds per publisher, where it listens and\n"
    "its peers.\n"
    "\n"
    "  --json                 print the status as one JSON object\n"
    "  -h, --help             show this help\n";

int
cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sz_ctl_msg req = {.type = SZ_CTL_STATUS}, *reply = NULL;
    uint8_t *frame = NULL;
    char sock[PATH_MAX];
    bool json = false;
    int c, rc;

    ctlclient_default_socket(sock, sizeof sock);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!socket_arg_ok(optarg))
                return EXIT_USAGE;
            snprintf(sock, sizeof sock, "%s", optarg);
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout, STATUS_USAGE);
            return EXIT_OK;
        default:
            usage(stderr, STATUS_USAGE);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        util_err("status takes no arguments");
        return EXIT_USAGE;
    }
    rc = call(sock, &req, SZ_CTL_R_STATUS, &frame, &reply);
    if (rc == EXIT_OK) {
        if (json)
            printf("%.*s\n", (int)reply->json_len, reply->json);
        else
            fwrite(reply->text, 1, reply->text_len, stdout);
    }
    sz_ctl_msg_free(reply);
    free(frame);
    return rc;
}

/* Prints the entries of one R_LIST; *n_printed counts the entries printed so far. */
static void
list_print(const struct sz_ctl_msg *reply, bool json, size_t *n_printed)
{
    char hex[2 * SZ_BUNDLE_ID_LEN + 1], pk[SZ_PK_TEXT_LEN + 1], when[32];

    for (size_t i = 0; i < reply->n_entries; i++) {
        const struct sz_ctl_entry *e = &reply->entries[i];
        sz_bundle_id_hex(e->id, hex);
        sz_pk_to_text(e->publisher, pk);
        if (sz_time_format(e->created, when, sizeof when) != 0)
            snprintf(when, sizeof when, "%lld", (long long)e->created);
        if (json)
            printf("%s{\"id\":\"%s\",\"publisher\":\"%s\",\"sequence\":%llu,\"created\":\"%s\","
                   "\"size\":%llu,\"received\":%lld}",
                   *n_printed > 0 ? "," : "", hex, pk, (unsigned long long)e->sequence, when,
                   (unsigned long long)e->size, (long long)e->received);
        else
            printf("%s %s %llu %s %llu\n", hex, pk, (unsigned long long)e->sequence, when,
                   (unsigned long long)e->size);
        (*n_printed)++;
    }
}

/* Does entry e come after the cursor of req in the order of LIST_PAGE (CONTROL.md 6.5)? */
static bool
after_cursor(const struct sz_ctl_entry *e, const struct sz_ctl_msg *req)
{
    int c;

    if (!req->has_after)
        return true;
    c = memcmp(e->publisher, req->after_publisher, SZ_PUBLIC_KEY_LEN);
    if (c != 0)
        return c > 0;
    if (e->sequence != req->after_sequence)
        return e->sequence > req->after_sequence;
    return memcmp(e->id, req->after_id, SZ_BUNDLE_ID_LEN) > 0;
}

/*
 * Lists page by page (LIST_PAGE, from the entry listed last) until a page is
 * not full, so a store of any size is listed whole; a daemon that does not
 * know LIST_PAGE (version 1) is asked with one LIST instead.
 */
static int
list_pages(const char *sock, const struct sz_ctl_msg *filter, bool json)
{
    struct sz_ctl_msg req = *filter, *reply = NULL;
    uint8_t *frame = NULL;
    char err[1024];
    size_t n_printed = 0;
    int rc = EXIT_OK;

    req.type = SZ_CTL_LIST_PAGE;
    req.has_after = 0;
    {
        /* As call(): a malformed SAMIZDAT_CTL_TIMEOUT is the user's to fix (2). */
        unsigned timeout_s;
        if (ctlclient_timeout(&timeout_s, err, sizeof err) != 0) {
            util_err("%s", err);
            return EXIT_USAGE;
        }
    }
    if (json)
        putchar('[');
    for (;;) {
        if (ctlclient_call(sock, &req, &frame, &reply, err, sizeof err) != 0) {
            util_err("%s", err);
            rc = EXIT_DAEMON;
            break;
        }
        if (reply->type == SZ_CTL_R_ERROR && reply->code == (uint32_t)SZ_EVERSION &&
            req.type == SZ_CTL_LIST_PAGE && !req.has_after) {
            /* An older daemon: one LIST, which it refuses when the list is too long. */
            sz_ctl_msg_free(reply);
            free(frame);
            reply = NULL;
            frame = NULL;
            req.type = SZ_CTL_LIST;
            continue;
        }
        if (reply->type == SZ_CTL_R_ERROR) {
            util_err("samizdatd refused: %.*s", (int)reply->text_len, reply->text);
            rc = EXIT_DAEMON;
            break;
        }
        if (reply->type != SZ_CTL_R_LIST) {
            util_err("samizdatd sent an unexpected reply (type %u)", reply->type);
            rc = EXIT_DAEMON;
            break;
        }
        /* The first and the last follow the cursor, so each page moves it on. */
        if (reply->n_entries > 0 && (!after_cursor(&reply->entries[0], &req) ||
                                     !after_cursor(&reply->entries[reply->n_entries - 1], &req))) {
            util_err("samizdatd sent a page of the list that does not follow the last one; "
                     "the list above is incomplete");
            rc = EXIT_DAEMON;
            break;
        }
        list_print(reply, json, &n_printed);
        if (req.type == SZ_CTL_LIST || reply->n_entries < SZ_CTL_MAX_ITEMS)
            break;
        const struct sz_ctl_entry *last = &reply->entries[reply->n_entries - 1];
        req.has_after = 1;
        memcpy(req.after_publisher, last->publisher, SZ_PUBLIC_KEY_LEN);
        req.after_sequence = last->sequence;
        memcpy(req.after_id, last->id, SZ_BUNDLE_ID_LEN);
        sz_ctl_msg_free(reply);
        free(frame);
        reply = NULL;
        frame = NULL;
    }
    if (json && rc == EXIT_OK)
        printf("]\n");
    else if (json)
        fflush(stdout);
    sz_ctl_msg_free(reply);
    free(frame);
    return rc;
}

static const char LIST_USAGE[] =
    "usage: samizdat list [--socket PATH] [--publisher PK] [--since-sequence N] [--json]\n"
    "\n"
    "Lists the bundles a local samizdatd holds: id, publisher, sequence, creation\n"
    "time and size, by publisher and sequence.\n"
    "\n"
    "  --publisher PK         only this publisher (key file or szpk1... text)\n"
    "  --since-sequence N     only sequences N and above\n"
    "  --json                 print a JSON array\n"
    "  -h, --help             show this help\n";

int
cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"publisher", required_argument, NULL, 'p'},
        {"since-sequence", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sz_ctl_msg req = {.type = SZ_CTL_LIST};
    char sock[PATH_MAX], err[512];
    bool json = false;
    int c;

    ctlclient_default_socket(sock, sizeof sock);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!socket_arg_ok(optarg))
                return EXIT_USAGE;
            snprintf(sock, sizeof sock, "%s", optarg);
            break;
        case 'p':
            if (util_parse_trust(optarg, req.publisher, err, sizeof err) != 0) {
                util_err("%s", err);
                return EXIT_KEY;
            }
            req.has_publisher = 1;
            break;
        case 'n':
            if (util_parse_u64(optarg, &req.since_sequence) != 0) {
                util_err("--since-sequence takes a whole number, not '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout, LIST_USAGE);
            return EXIT_OK;
        default:
            usage(stderr, LIST_USAGE);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        util_err("list takes no arguments beyond its options");
        return EXIT_USAGE;
    }
    return list_pages(sock, &req, json);
}

/* ---- export: reading the daemon's data folder from its STATUS ---- */

/* A cursor over the STATUS reply's JSON text (RFC 8259). */
struct jcur {
    const char *p, *end;
};

static void
json_ws(struct jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int
json_hex4(struct jcur *c, unsigned *v)
{
    *v = 0;
    for (int k = 0; k < 4; k++, c->p++) {
        char h = c->p < c->end ? *c->p : '\0';
        unsigned d = h >= '0' && h <= '9'   ? (unsigned)(h - '0')
                     : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                     : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                            : 16u;
        if (d == 16u)
            return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

/*
 * Reads the string at the cursor, decoded, into out (NUL-terminated; NULL to
 * skip it). Returns 0, or -1 when it is malformed, holds U+0000 or does not
 * fit in cap.
 */
static int
json_string(struct jcur *c, char *out, size_t cap)
{
    size_t n = 0;

    json_ws(c);
    if (c->p >= c->end || *c->p != '"')
        return -1;
    for (c->p++; c->p < c->end && *c->p != '"';) {
        char b[4];
        size_t nb = 1;
        unsigned u;
        b[0] = *c->p++;
        if (b[0] == '\\') {
            if (c->p >= c->end)
                return -1;
            switch (*c->p++) {
            case '"':
                b[0] = '"';
                break;
            case '\\':
                b[0] = '\\';
                break;
            case '/':
                b[0] = '/';
                break;
            case 'b':
                b[0] = '\b';
                break;
            case 'f':
                b[0] = '\f';
                break;
            case 'n':
                b[0] = '\n';
                break;
            case 'r':
                b[0] = '\r';
                break;
            case 't':
                b[0] = '\t';
                break;
            case 'u':
                /* No surrogates: the reference daemon escapes only control characters. */
                if (json_hex4(c, &u) != 0 || u == 0 || (u >= 0xd800 && u <= 0xdfff))
                    return -1;
                if (u < 0x80) {
                    b[0] = (char)u;
                } else if (u < 0x800) {
                    b[0] = (char)(0xc0 | u >> 6);
                    b[1] = (char)(0x80 | (u & 0x3f));
                    nb = 2;
                } else {
                    b[0] = (char)(0xe0 | u >> 12);
                    b[1] = (char)(0x80 | ((u >> 6) & 0x3f));
                    b[2] = (char)(0x80 | (u & 0x3f));
                    nb = 3;
                }
                break;
            default:
                return -1;
            }
        } else if ((unsigned char)b[0] < 0x20) {
            return -1;
        }
        if (out != NULL) {
            if (n + nb >= cap)
                return -1;
            memcpy(out + n, b, nb);
        }
        n += nb;
    }
    if (c->p >= c->end)
        return -1;
    c->p++;
    if (out != NULL)
        out[n] = '\0';
    return 0;
}

/* Skips the value at the cursor (objects and arrays nested at most `depth` deep). */
static int
json_skip(struct jcur *c, int depth)
{
    json_ws(c);
    if (c->p >= c->end || depth <= 0)
        return -1;
    if (*c->p == '"')
        return json_string(c, NULL, 0);
    if (*c->p == '{' || *c->p == '[') {
        char close = *c->p == '{' ? '}' : ']';
        c->p++;
        json_ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 0;
        }
        for (;;) {
            if (close == '}') {
                json_ws(c);
                if (json_string(c, NULL, 0) != 0)
                    return -1;
                json_ws(c);
                if (c->p >= c->end || *c->p++ != ':')
                    return -1;
            }
            if (json_skip(c, depth - 1) != 0)
                return -1;
            json_ws(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            if (c->p < c->end && *c->p == close) {
                c->p++;
                return 0;
            }
            return -1;
        }
    }
    /* A number, true, false or null. */
    const char *start = c->p;
    while (c->p < c->end && *c->p != '\0' && strchr("+-.0123456789eEtruefalsn", *c->p) != NULL)
        c->p++;
    return c->p > start ? 0 : -1;
}

/*
 * Finds the top-level string member `key` of a JSON object. Returns 1 with
 * its decoded value in out, 0 when there is no such member (or it is not a
 * string), or -1 when the text is not a well-formed object.
 */
static int
json_member(const char *json, size_t len, const char *key, char *out, size_t cap)
{
    struct jcur c = {json, json + len};
    char name[64];
    int found = 0;

    json_ws(&c);
    if (c.p >= c.end || *c.p++ != '{')
        return -1;
    json_ws(&c);
    if (c.p < c.end && *c.p == '}')
        return 0;
    for (;;) {
        const char *name_at = c.p;
        int r = json_string(&c, name, sizeof name);
        if (r != 0) {
            /* A name too long to be the key is skipped. */
            c.p = name_at;
            if (json_string(&c, NULL, 0) != 0)
                return -1;
            name[0] = '\0';
        }
        json_ws(&c);
        if (c.p >= c.end || *c.p++ != ':')
            return -1;
        json_ws(&c);
        if (!found && strcmp(name, key) == 0 && c.p < c.end && *c.p == '"') {
            if (json_string(&c, out, cap) != 0)
                return -1;
            found = 1;
        } else if (json_skip(&c, 16) != 0) {
            return -1;
        }
        json_ws(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end && *c.p == '}')
            return found;
        return -1;
    }
}

#ifdef O_PATH
#define DIR_OPEN_FLAGS (O_PATH | O_DIRECTORY | O_CLOEXEC) /* needs no read permission */
#else
#define DIR_OPEN_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#endif

/*
 * Is the open folder fd the folder `outer` (by device and inode) or inside it?
 * Walks up through "..", so no path on the way is trusted.
 */
static bool
folder_within(int fd, const struct stat *outer)
{
    struct stat st, up;
    bool yes = false;
    int cur = openat(fd, ".", DIR_OPEN_FLAGS), next;

    for (int depth = 0; cur >= 0 && depth < 4096; depth++) {
        if (fstat(cur, &st) != 0)
            break;
        if (st.st_dev == outer->st_dev && st.st_ino == outer->st_ino) {
            yes = true;
            break;
        }
        next = openat(cur, "..", DIR_OPEN_FLAGS);
        if (next < 0 || fstat(next, &up) != 0 ||
            (up.st_dev == st.st_dev && up.st_ino == st.st_ino)) {
            if (next >= 0)
                close(next);
            break; /* the root */
        }
        close(cur);
        cur = next;
    }
    if (cur >= 0)
        close(cur);
    return yes;
}

/*
 * When `name` in the folder dirfd is a symbolic link, opens the folder that
 * holds its target (relative to dirfd when the target is relative). Returns the
 * open folder, or -1 when it is not a link or that folder cannot be opened.
 */
static int
link_target_folder(int dirfd, const char *name)
{
    char target[PATH_MAX], folder[PATH_MAX];
    ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);

    if (n <= 0)
        return -1;
    target[n] = '\0';
    (void)util_split_path(target, folder, sizeof folder);
    return openat(dirfd, folder, DIR_OPEN_FLAGS);
}

/* Is the output (name in the open folder dirfd), or the file a link there points to, in `outer`? */
static bool
output_within(int dirfd, const char *name, const struct stat *outer)
{
    int link_dir;
    bool yes = folder_within(dirfd, outer);

    if (!yes && (link_dir = link_target_folder(dirfd, name)) >= 0) {
        yes = folder_within(link_dir, outer);
        close(link_dir);
    }
    return yes;
}

/*
 * Refuses an export into the daemon's data folder (node.key, publisher.seq,
 * store.sqlite live there), asking the daemon where it is (STATUS, member
 * data_dir). The output's folder, already open as dirfd (the bundle is later
 * written through it, so a folder on the path swapped meanwhile cannot redirect
 * the write), is compared with the data folder by device and inode, walking up
 * from it; a symbolic link at the output is followed for the check too. A
 * daemon that reports no data folder is not checked. Returns -1 to go on, or
 * an exit status.
 */
static int
refuse_data_dir(const char *sock, int dirfd, const char *name, const char *out_path)
{
    struct sz_ctl_msg req = {.type = SZ_CTL_STATUS}, *reply = NULL;
    uint8_t *frame = NULL;
    char data_dir[PATH_MAX], sock_dir[PATH_MAX];
    const char *base;
    struct stat data_st;
    bool known;
    int rc = call(sock, &req, SZ_CTL_R_STATUS, &frame, &reply), r;

    if (rc != EXIT_OK)
        goto out;
    rc = -1;
    r = json_member(reply->json, reply->json_len, "data_dir", data_dir, sizeof data_dir);
    if (r < 0) {
        util_err("samizdatd at %s sent a status this client cannot read: nothing was exported "
                 "(is it a samizdatd of another version?)",
                 sock);
        rc = EXIT_DAEMON;
        goto out;
    }
    if (r == 0)
        goto out;
    known = stat(data_dir, &data_st) == 0 && S_ISDIR(data_st.st_mode);
    if (known && output_within(dirfd, name, &data_st)) {
        util_err("--output %s is in (or links into) the daemon's data folder %s: the bundle "
                 "could replace its files (node.key, store.sqlite); choose a file outside it",
                 out_path, data_dir);
        rc = EXIT_USAGE;
        goto out;
    }
    /*
     * A relative data folder is relative to the daemon's working folder, which
     * this client does not know, and one whose name is not UTF-8 comes shown
     * with U+FFFD: by default the control socket is in it.
     */
    base = util_split_path(sock, sock_dir, sizeof sock_dir);
    if ((!known || data_dir[0] != '/') && strcmp(base, "control.sock") == 0 &&
        stat(sock_dir, &data_st) == 0 && output_within(dirfd, name, &data_st)) {
        util_err("--output %s is in (or links into) the daemon's data folder %s (beside its "
                 "control socket): the bundle could replace its files (node.key, store.sqlite); "
                 "choose a file outside it",
                 out_path, sock_dir);
        rc = EXIT_USAGE;
        goto out;
    }
    /* Nor can it be told apart otherwise: refused rather than risked. */
    if (!known && strstr(data_dir, "\xef\xbf\xbd") != NULL && strcmp(base, "control.sock") != 0) {
        util_err("the daemon's data folder %s has a name that is not UTF-8, so whether --output "
                 "%s is in it cannot be told: export through the socket in its data folder, or "
                 "rename the folder",
                 data_dir, out_path);
        rc = EXIT_USAGE;
    }
out:
    sz_ctl_msg_free(reply);
    free(frame);
    return rc;
}

/*
 * Opens the folder of out_path and points *name at its last part. Returns the
 * open folder, or -1 after telling the user (*status set).
 */
static int
open_output_folder(const char *out_path, const char **name, int *status)
{
    char dir[PATH_MAX];
    int fd;

    *name = util_split_path(out_path, dir, sizeof dir);
    if (**name == '\0' || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
        util_err("--output %s names a folder: give a file name", out_path);
        *status = EXIT_USAGE;
        return -1;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        util_err("cannot open the folder %s of --output %s: %s%s", dir, out_path, strerror(e),
                 e == ENOENT    ? " (create it first)"
                 : e == EACCES  ? " (check its permissions)"
                 : e == ENOTDIR ? " (a part of the path is not a folder)"
                                : "");
        *status = EXIT_OUTPUT;
    }
    return fd;
}

/*
 * Whether name (in folder dirfd; out_path as given) is, or leads through a
 * link to, the sequence record "SK.seq" of a secret key SK beside it, whether
 * the record exists yet or not: a bundle written there would stop SK from
 * signing (pack and the daemon refuse a damaged record).
 */
static bool
is_seq_record(int dirfd, const char *name, const char *out_path)
{
    char base[PATH_MAX], real[PATH_MAX];
    size_t n = strlen(name);

    if (n > 4 && strcmp(name + n - 4, ".seq") == 0 && n - 4 < sizeof base) {
        memcpy(base, name, n - 4);
        base[n - 4] = '\0';
        if (util_is_secret_key_at(dirfd, base))
            return true;
    }
    if (realpath(out_path, real) != NULL) {
        n = strlen(real);
        if (n > 4 && strcmp(real + n - 4, ".seq") == 0) {
            real[n - 4] = '\0';
            return util_is_secret_key(real);
        }
    }
    return false;
}

static const char EXPORT_USAGE[] =
    "usage: samizdat export [--socket PATH] ID --output FILE\n"
    "\n"
    "Copies one stored bundle out of a local samizdatd into FILE (sneakernet\n"
    "out). ID is the bundle's 64-character hex id, as 'samizdat list' shows it.\n"
    "\n"
    "  --output FILE          where to write the bundle (replaced atomically); a secret\n"
    "                         key or its SK.seq, the control socket, a folder or a file\n"
    "                         in the daemon's data folder is refused (status 2)\n"
    "  -h, --help             show this help\n";

int
cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sz_ctl_msg req = {.type = SZ_CTL_EXPORT}, *reply = NULL;
    uint8_t *frame = NULL, id[SZ_BUNDLE_ID_LEN];
    const char *out_path = NULL, *name;
    char sock[PATH_MAX], err[512];
    struct stat st, sock_st;
    struct util_tmp tmp;
    int c, rc, dirfd;

    ctlclient_default_socket(sock, sizeof sock);
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!socket_arg_ok(optarg))
                return EXIT_USAGE;
            snprintf(sock, sizeof sock, "%s", optarg);
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'h':
            usage(stdout, EXPORT_USAGE);
            return EXIT_OK;
        default:
            usage(stderr, EXPORT_USAGE);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 1 || out_path == NULL) {
        util_err("export needs one ID and --output FILE");
        usage(stderr, EXPORT_USAGE);
        return EXIT_USAGE;
    }
    if (sz_unhex(argv[optind], strlen(argv[optind]), req.id, SZ_BUNDLE_ID_LEN) != 0) {
        util_err("'%s' is not a bundle id (64 hex characters)", argv[optind]);
        return EXIT_USAGE;
    }
    /*
     * Refusals of the output are usage errors (status 2), found before the
     * bundle is asked for. Its folder is opened once, checked, and written
     * through.
     */
    dirfd = open_output_folder(out_path, &name, &rc);
    if (dirfd < 0)
        return rc;
    rc = EXIT_USAGE;
    if (util_same_file(out_path, sock) ||
        (stat(sock, &sock_st) == 0 && fstatat(dirfd, name, &st, 0) == 0 &&
         st.st_dev == sock_st.st_dev && st.st_ino == sock_st.st_ino)) {
        util_err("--output %s is the daemon's control socket: the bundle would replace it; "
                 "choose another output file",
                 out_path);
        goto out;
    }
    if (util_is_secret_key_at(dirfd, name)) {
        util_err("--output %s is a samizdat secret key: the bundle would replace it; choose "
                 "another output file",
                 out_path);
        goto out;
    }
    if (is_seq_record(dirfd, name, out_path)) {
        util_err("--output %s is the sequence record of a secret key: the bundle would "
                 "replace it and the key could not sign again; choose another output file",
                 out_path);
        goto out;
    }
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) &&
        !S_ISLNK(st.st_mode)) {
        util_err("--output %s exists and is not a regular file (a folder?): give a file name",
                 out_path);
        goto out;
    }
    /* The daemon's own folder first: it says which folder, and is sure of it. */
    rc = refuse_data_dir(sock, dirfd, name, out_path);
    if (rc >= 0)
        goto out;
    if (!util_output_file_ok(out_path)) {
        rc = EXIT_USAGE;
        goto out;
    }
    rc = call(sock, &req, SZ_CTL_R_EXPORT, &frame, &reply);
    if (rc != EXIT_OK)
        goto out;
    /* The daemon is local, but the bytes must still be the bundle asked for. */
    if (sz_bundle_parse(reply->bundle, reply->bundle_len, SZ_BUNDLE_MAX_CONTENT_LEN, NULL, id) !=
            0 ||
        memcmp(id, req.id, sizeof id) != 0) {
        util_err("samizdatd sent bytes that are not bundle %s", argv[optind]);
        rc = EXIT_DAEMON;
        goto out;
    }
    if (util_tmp_write_at(&tmp, dirfd, name, out_path, reply->bundle, reply->bundle_len, 0644, err,
                          sizeof err) != 0 ||
        util_tmp_commit(&tmp, false, err, sizeof err) != 0) {
        util_err("%s", err);
        rc = EXIT_OUTPUT;
    }
out:
    close(dirfd);
    sz_ctl_msg_free(reply);
    free(frame);
    return rc;
}
