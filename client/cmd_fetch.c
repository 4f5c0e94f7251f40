/* samizdat fetch: get the latest articles through any reachable peer. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "fetch.h"
#include "library.h"
#include "samizdat/article.h"
#include "samizdat/buf.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "util.h"

static const char USAGE[] =
    "usage: samizdat fetch (--peer HOST[:PORT] | --peers-file F)...\n"
    "                      (--trust PK ... | --trust-file F) --output DIR\n"
    "                      [--network-key F] [--follow] [--json] [--stale-after HOURS]\n"
    "                      [--timeout SECONDS] [--connect-timeout S] [--parallel N]\n"
    "                      [--max-size MIB]\n"
    "                      [--proxy HOST:PORT] [--proxy-auth-file F]\n"
    "\n"
    "Connects to peers in random order (several at once), fetches the bundles of\n"
    "the trusted publishers that the library in DIR does not hold yet, verifies\n"
    "each one, and adds it to the library. A peer that is blocked, refuses, is\n"
    "too slow or misbehaves is named and skipped. An interrupted fetch resumes\n"
    "where it stopped. Exits 0 when everything the reachable peers offered was\n"
    "fetched, 7 when no peer answered or something could not be fetched. A\n"
    "publisher that signed two bundles with one sequence (its key may be stolen)\n"
    "is a WARNING, and both bundles are kept; it does not change the exit status.\n"
    "In files, '#' at the start of a line or after white space starts a comment.\n"
    "\n"
    "  --peer HOST[:PORT]     a peer to try (repeatable); port 7447 when none is\n"
    "                         given; IPv6 in brackets: [::1] or [::1]:7447\n"
    "  --peers-file F         a file of peers, one HOST[:PORT] per line\n"
    "  --trust PK             a trusted publisher: key file or szpk1... text\n"
    "  --trust-file F         lines of 'PUBLIC-KEY name...'\n"
    "  --output DIR           the library folder\n"
    "  --network-key F        a private network's key (64 hex digits)\n"
    "  --follow               stay connected and add new bundles as they appear;\n"
    "                         reconnect to peers that go away (every 1 s, slowing\n"
    "                         to every 60 s) until Ctrl-C, SIGTERM or SIGHUP\n"
    "  --json                 print a summary as JSON on stdout\n"
    "  --stale-after HOURS    warn when a publisher's newest bundle is older (48;\n"
    "                         0: never)\n"
    "  --timeout SECONDS      give up after this long without --follow (600)\n"
    "  --connect-timeout S    per-peer limit for the name lookup, each address and the\n"
    "                         handshake (10)\n"
    "  --parallel N           peers to fetch from at once (3)\n"
    "  --max-size MIB         skip bundles holding more than MIB of articles (64);\n"
    "                         they are named, and the exit status is 7\n"
    "  --proxy HOST:PORT      connect to every peer through this SOCKS5 proxy, which\n"
    "                         also looks up peers' names (Tor: 127.0.0.1:9050);\n"
    "                         --connect-timeout is then 30 unless given\n"
    "  --proxy-auth-file F    the proxy's user name and password, as USER:PASSWORD on\n"
    "                         the first line of F (RFC 1929; never on the command line)\n"
    "  -h, --help             show this help\n";

/*
 * Cuts the comment off a line of a peers or trust file: '#' at the start of
 * the line or after white space starts one (a '#' inside a word, as in
 * "C# Weekly", stays), and the white space before it goes too.
 */
static void
cut_comment(char *s)
{
    char *p, *e;

    for (p = s; *p != '\0'; p++) {
        if (*p == '#' && (p == s || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
}

/* Adds peers from a file: one HOST[:PORT] per line, '#' comments (a UTF-8
 * byte order mark, as some editors write, is skipped). A file with none is
 * an error: the user meant to give some. */
static int
load_peers_file(const char *path, char ***peers, size_t *n)
{
    uint8_t *buf = NULL;
    size_t len = 0, before = *n, lineno = 0;
    char err[512], *line, *next, *text;

    if (util_read_file(path, 1u << 20, &buf, &len, err, sizeof err) != 0) {
        util_err("--peers-file: %s", err);
        return -1;
    }
    text = (char *)buf;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        text += 3;
    for (line = text; line != NULL; line = next) {
        char *s = line, **v;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        while (*s == ' ' || *s == '\t')
            s++;
        cut_comment(s);
        if (*s == '\0')
            continue;
        if (strpbrk(s, " \t") != NULL) {
            /* Not repeated: a secret file given here by mistake stays off the terminal. */
            util_err("%s:%zu: not one address (the line holds a space or tab): write one "
                     "HOST[:PORT] per line; skipped",
                     path, lineno);
            continue;
        }
        v = realloc(*peers, (*n + 1) * sizeof *v);
        if (v == NULL) {
            free(buf);
            return -1;
        }
        *peers = v; /* the old array is gone: the caller frees this one */
        if ((v[*n] = strdup(s)) == NULL) {
            free(buf);
            return -1;
        }
        (*n)++;
    }
    free(buf);
    if (*n == before) {
        util_err("%s holds no peer: write one HOST[:PORT] per line ('#' starts a comment)", path);
        return -1;
    }
    return 0;
}

static int
load_network_key(const char *path, uint8_t key[SZ_NETWORK_KEY_LEN])
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[512];
    struct stat st;
    int rc;

    if (stat(path, &st) != 0) {
        util_secret_open_err(path, "network key file given to --network-key", errno, err,
                             sizeof err);
        util_err("%s", err);
        return -1;
    }
    util_warn_readable(&st, "network key file", path);
    if (util_read_file(path, 4095, &buf, &len, err, sizeof err) != 0) {
        util_err("--network-key: %s", err);
        return -1;
    }
    rc = sz_network_key_parse(buf, len, key);
    sodium_memzero(buf, len);
    free(buf);
    if (rc != 0)
        util_err("network key %s must hold 64 hex digits", path);
    return rc == 0 ? 0 : -1;
}

/* A JSON string; a byte that is no part of valid UTF-8 (a folder named in
 * another encoding) becomes U+FFFD, so that the output stays JSON. */
static void
print_json_str(const char *s)
{
    size_t i = 0, n = s != NULL ? strlen(s) : 0;

    putchar('"');
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else if (c < 0x80)
            putchar(c);
        else if (k <= n - i && sz_utf8_valid((const uint8_t *)s + i, k)) {
            fwrite(s + i, 1, k, stdout);
            i += k;
            continue;
        } else
            fputs("\\ufffd", stdout);
        i++;
    }
    putchar('"');
}

/* a - b, held at the int64_t range: a signed date may be anything. */
static int64_t
sat_sub(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

int
cmd_fetch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"peer", required_argument, NULL, 'p'},
        {"peers-file", required_argument, NULL, 'P'},
        {"trust", required_argument, NULL, 't'},
        {"trust-file", required_argument, NULL, 'T'},
        {"output", required_argument, NULL, 'o'},
        {"network-key", required_argument, NULL, 'k'},
        {"follow", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"stale-after", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 'w'},
        {"connect-timeout", required_argument, NULL, 'c'},
        {"parallel", required_argument, NULL, 'n'},
        {"max-size", required_argument, NULL, 'm'},
        {"proxy", required_argument, NULL, 'x'},
        {"proxy-auth-file", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct util_trust trust = {0};
    struct fetch_opts o;
    struct fetch_result res;
    char **peers = NULL, err[1024], *auth = NULL;
    const char *auth_file = NULL;
    size_t auth_len = 0;
    size_t n_peers = 0, i;
    uint64_t v;
    bool json = false, connect_timeout_set = false;
    int c, rc = EXIT_USAGE;
    int64_t now = (int64_t)time(NULL);

    memset(&o, 0, sizeof o);
    memset(&res, 0, sizeof res);
    memcpy(o.network_key, SZ_DEFAULT_NETWORK_KEY, SZ_NETWORK_KEY_LEN);
    o.connect_timeout_ms = 10000;
    o.timeout_s = 600;
    o.parallel = 3;
    o.content_cap = SZ_BUNDLE_DEFAULT_CONTENT_CAP;
    o.stale_after_s = 48 * 3600;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'p': {
            char **nv = realloc(peers, (n_peers + 1) * sizeof *nv);
            if (nv == NULL) {
                util_err("out of memory");
                goto out;
            }
            peers = nv; /* the old array is gone: freed at out */
            if ((nv[n_peers] = strdup(optarg)) == NULL) {
                util_err("out of memory");
                goto out;
            }
            n_peers++;
            break;
        }
        case 'P':
            if (load_peers_file(optarg, &peers, &n_peers) != 0)
                goto out;
            break;
        case 't':
            if (util_trust_add(&trust, optarg, err, sizeof err) != 0) {
                util_err("%s", err);
                rc = EXIT_KEY;
                goto out;
            }
            break;
        case 'T':
            /* '#' comments are cut by the shared trust file reader. */
            if (util_trust_load_file(&trust, optarg, err, sizeof err) != 0) {
                util_err("%s", err);
                rc = EXIT_KEY;
                goto out;
            }
            break;
        case 'o':
            if (optarg[0] == '\0') {
                util_err("--output takes a folder for the library, not an empty name");
                rc = EXIT_USAGE;
                goto out;
            }
            o.dir = optarg;
            break;
        case 'k':
            if (load_network_key(optarg, o.network_key) != 0) {
                rc = EXIT_KEY;
                goto out;
            }
            break;
        case 'f':
            o.follow = true;
            break;
        case 'j':
            json = true;
            break;
        case 's':
            if (util_parse_u64(optarg, &v) != 0 || v > 24 * 365 * 10) {
                util_err("--stale-after takes hours from 0 to 87600 (0: never warn), not '%s'",
                         optarg);
                goto out;
            }
            o.stale_after_s = (int64_t)v * 3600;
            break;
        case 'm':
            if (util_parse_u64(optarg, &v) != 0 || v < 1 || v > 1024) {
                util_err("--max-size takes MiB from 1 to 1024, not '%s'", optarg);
                goto out;
            }
            o.content_cap = v << 20;
            break;
        case 'w':
            if (util_parse_u64(optarg, &v) != 0 || v > 86400 * 7) {
                util_err("--timeout takes seconds from 0 to 604800 (0: no limit), not '%s'",
                         optarg);
                goto out;
            }
            o.timeout_s = (int)v;
            break;
        case 'c':
            if (util_parse_u64(optarg, &v) != 0 || v < 1 || v > 600) {
                util_err("--connect-timeout takes 1 to 600 seconds, not '%s'", optarg);
                goto out;
            }
            o.connect_timeout_ms = (int)v * 1000;
            connect_timeout_set = true;
            break;
        case 'x': {
            const char *hp = optarg, *colon;
            /* Not repeated: it may hold a password, which argv shows to every user. */
            if (strchr(hp, '@') != NULL) {
                util_err("--proxy takes no user name or password (on the command line, any user "
                         "of this computer can read them): give HOST:PORT, and USER:PASSWORD in a "
                         "file readable only by you, with --proxy-auth-file F");
                goto out;
            }
            if (strncmp(hp, "socks5h://", 10) == 0)
                hp += 10;
            else if (strncmp(hp, "socks5://", 9) == 0)
                hp += 9;
            else if (strstr(hp, "://") != NULL) {
                util_err("--proxy takes a SOCKS5 proxy (HOST:PORT or socks5h://HOST:PORT), not "
                         "'%s'",
                         optarg);
                goto out;
            }
            colon = strrchr(hp, ':');
            if (colon == NULL || strchr(colon, ']') != NULL || colon[1] == '\0') {
                util_err("--proxy needs the proxy's port, as in 127.0.0.1:9050 (Tor), not '%s'",
                         optarg);
                goto out;
            }
            o.proxy = hp;
            break;
        case 'A':
            auth_file = optarg;
            break;
        }
        case 'n':
            if (util_parse_u64(optarg, &v) != 0 || v < 1 || v > 16) {
                util_err("--parallel takes 1 to 16, not '%s'", optarg);
                goto out;
            }
            o.parallel = (size_t)v;
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
    if (auth_file != NULL) {
        char *colon;
        if (o.proxy == NULL) {
            util_err("--proxy-auth-file goes with --proxy HOST:PORT");
            goto out;
        }
        if (util_read_secret_file(auth_file, "proxy credentials file", &auth, &auth_len, err,
                                  sizeof err) != 0) {
            util_err("%s", err);
            goto out;
        }
        /* USER:PASSWORD, each 1 to 255 bytes (RFC 1929); the password may hold ':'. */
        colon = memchr(auth, ':', auth_len);
        if (colon == NULL || colon == auth || colon - auth > 255 || colon + 1 == auth + auth_len ||
            (size_t)(auth + auth_len - colon - 1) > 255) {
            util_err("proxy credentials file %s: its first line must be USER:PASSWORD, each of "
                     "1 to 255 bytes",
                     auth_file);
            goto out;
        }
        *colon = '\0';
        o.proxy_user = auth;
        o.proxy_pass = colon + 1;
    }
    /* Through a proxy (Tor builds a circuit first) a connection takes longer. */
    if (o.proxy != NULL && !connect_timeout_set)
        o.connect_timeout_ms = 30000;
    if (optind != argc) {
        util_err("fetch takes no arguments, only options: '%s' is not one (the library folder "
                 "goes after --output)",
                 argv[optind]);
        fputs(USAGE, stderr);
        goto out;
    }
    if (n_peers == 0 || trust.n == 0 || o.dir == NULL) {
        util_err("fetch needs at least one --peer (or --peers-file), one --trust (or "
                 "--trust-file) and --output DIR");
        fputs(USAGE, stderr);
        goto out;
    }
    /* A folder of other files is refused before any peer is asked for anything. */
    {
        char why[512];
        if (library_check(o.dir, why, sizeof why) != 0) {
            util_err("%s", why);
            rc = EXIT_OUTPUT;
            goto out;
        }
    }
    o.peers = peers;
    o.n_peers = n_peers;
    o.trust = &trust;
    /* Following, a line per bundle added says more than a progress line that never ends. */
    o.progress = isatty(STDERR_FILENO) && !json && !o.follow;
    o.bundle_lines = isatty(STDERR_FILENO) && o.follow;
    rc = fetch_run(&o, &res);
    /* The library remembers the fetch: index.html shows it and warns. */
    if (res.pubs != NULL && (res.peers_ok > 0 || (o.follow && res.peers_answered > 0)) &&
        rc != EXIT_OUTPUT) {
        struct library_publisher *lp = calloc(trust.n, sizeof *lp);
        bool *eq = calloc(trust.n, sizeof *eq);
        for (i = 0; lp != NULL && eq != NULL && i < trust.n; i++) {
            memcpy(lp[i].pk, trust.pk[i], sizeof lp[i].pk);
            lp[i].name = trust.names[i];
            eq[i] = res.pubs[i].equivocation;
        }
        if (lp == NULL || eq == NULL ||
            library_note_fetch(o.dir, lp, trust.n, (int64_t)time(NULL), o.stale_after_s, eq, err,
                               sizeof err) != 0) {
            util_err("%s", lp == NULL || eq == NULL ? "out of memory" : err);
            rc = EXIT_OUTPUT;
        }
        free(lp);
        free(eq);
    }
    /* Freshness: how old is the newest bundle of each publisher? (Not after a
     * usage error: nothing was tried.) */
    for (i = 0; res.pubs != NULL && rc != EXIT_USAGE && i < trust.n; i++) {
        char pk[SZ_PK_TEXT_LEN + 1], when[32];
        const char *name = trust.names[i];
        const struct fetch_pub_result *pr = &res.pubs[i];
        sz_pk_to_text(trust.pk[i], pk);
        if (name == NULL)
            name = pk;
        if (pr->newest_created == 0) {
            fprintf(stderr, "samizdat: %s: no bundle yet%s\n", name,
                    pr->unknown ? " (whether peers hold one is not known: see above)" : "");
            continue;
        }
        if (sz_time_format(pr->newest_created, when, sizeof when) != 0)
            snprintf(when, sizeof when, "?");
        if (sat_sub(pr->newest_created, now) > 3600)
            /* Signed "later" than now: one of the two clocks is wrong, and ages
             * (the staleness warning too) are only as right as this one. */
            fprintf(stderr,
                    "samizdat: %s: %llu new, highest sequence %llu, newest signed %s, %lld h "
                    "ahead of this computer's clock: check its date and time (or the "
                    "publisher's clock is wrong)\n",
                    name, (unsigned long long)pr->fetched, (unsigned long long)pr->have_seq, when,
                    (long long)((sat_sub(pr->newest_created, now)) / 3600));
        else
            fprintf(stderr,
                    "samizdat: %s: %llu new, highest sequence %llu, newest signed %s (%lld h "
                    "ago)\n",
                    name, (unsigned long long)pr->fetched, (unsigned long long)pr->have_seq, when,
                    (long long)(now > pr->newest_created ? sat_sub(now, pr->newest_created) / 3600
                                                         : 0));
        if (o.stale_after_s > 0 && sat_sub(now, pr->newest_created) > o.stale_after_s)
            fprintf(stderr,
                    "samizdat: WARNING: the newest bundle of %s is older than %lld hour%s: your "
                    "peers may be withholding newer ones; try other peers\n",
                    name, (long long)(o.stale_after_s / 3600), o.stale_after_s == 3600 ? "" : "s");
        if (pr->equivocation) {
            /* Proof is a pair of bundles the library holds; anything less is a peer's claim. */
            struct library_publisher_info info;
            char ierr[256];
            if (library_publisher_info(o.dir, trust.pk[i], &info, ierr, sizeof ierr) == 0 &&
                info.equivocation_seen)
                fprintf(stderr,
                        "samizdat: WARNING: %s signed two different bundles with one "
                        "sequence number (%llu; both are in the library): its key may be "
                        "stolen\n",
                        name, (unsigned long long)info.equivocation_seq);
            else
                fprintf(stderr,
                        "samizdat: WARNING: a peer reports that %s signed two different "
                        "bundles with one sequence number, but did not send both: not proven "
                        "(its key may be stolen, or the peer lies); fetch from other peers\n",
                        name);
        }
    }
    if (json) {
        printf("{\"complete\":%s,\"bundles\":%llu,\"bytes\":%llu,\"resumed\":%llu,"
               "\"resumed_bytes\":%llu,\"peers_tried\":%zu,\"peers_ok\":%zu,\"peers_failed\":%zu,"
               "\"library\":",
               res.complete ? "true" : "false", (unsigned long long)res.bundles,
               (unsigned long long)res.bytes, (unsigned long long)res.resumed,
               (unsigned long long)res.resumed_bytes, res.peers_tried, res.peers_ok,
               res.peers_failed);
        print_json_str(o.dir);
        printf(",\"publishers\":[");
        for (i = 0; res.pubs != NULL && i < trust.n; i++) {
            char pk[SZ_PK_TEXT_LEN + 1];
            sz_pk_to_text(trust.pk[i], pk);
            printf("%s{\"key\":\"%s\",\"name\":", i > 0 ? "," : "", pk);
            print_json_str(trust.names[i] != NULL ? trust.names[i] : "");
            printf(",\"fetched\":%llu,\"too_large\":%llu,\"sequence\":%llu,"
                   "\"newest_created\":%lld,\"stale\":%s,\"rollback_seen\":%s,"
                   "\"equivocation\":%s,\"unknown\":%s}",
                   (unsigned long long)res.pubs[i].fetched,
                   (unsigned long long)res.pubs[i].too_large,
                   (unsigned long long)res.pubs[i].have_seq, (long long)res.pubs[i].newest_created,
                   res.pubs[i].newest_created == 0 ||
                           (o.stale_after_s > 0 &&
                            sat_sub(now, res.pubs[i].newest_created) > o.stale_after_s)
                       ? "true"
                       : "false",
                   res.pubs[i].rollback_seen ? "true" : "false",
                   res.pubs[i].equivocation ? "true" : "false",
                   res.pubs[i].unknown ? "true" : "false");
        }
        printf("]}\n");
    } else if (rc == EXIT_OK || res.bundles > 0) {
        printf("%s/index.html\n", o.dir);
    }
    for (i = 0, v = 0; res.pubs != NULL && i < trust.n; i++)
        v += res.pubs[i].too_large;
    if (v > 0)
        util_err("%llu bundle%s more articles than --max-size %llu allows (named above): "
                 "not fetched",
                 (unsigned long long)v, v == 1 ? " holds" : "s hold",
                 (unsigned long long)(o.content_cap >> 20));
    if (rc == EXIT_NETWORK && res.peers_linked == 0)
        util_err("no peer could be reached: check the addresses, or try other peers");
    else if (rc == EXIT_NETWORK && res.peers_answered == 0)
        util_err("no peer served this fetch as a samizdat node should (see above): try other "
                 "peers");
    else if (rc == EXIT_NETWORK && o.follow)
        util_err("some bundles that peers offered had not arrived when the fetch stopped (see "
                 "above): run it again to get them");
    else if (rc == EXIT_NETWORK && res.peers_ok == 0 && v == 0)
        util_err("no peer gave what it offered (see above): try other peers");
out:
    util_pass_free(auth);
    sodium_memzero(o.network_key, sizeof o.network_key);
    free(res.pubs);
    for (i = 0; i < n_peers; i++)
        free(peers[i]);
    free(peers);
    util_trust_free(&trust);
    return rc;
}
