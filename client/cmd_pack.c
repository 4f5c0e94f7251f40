/* samizdat pack: article files in, one signed bundle out. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "inputs.h"
#include "samizdat/bundle.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "util.h"

/* Sequences from here up are refused: half of them stay for later bundles of the key. */
#define SEQUENCE_LIMIT ((uint64_t)1 << 63)

static const char USAGE[] =
    "usage: samizdat pack --secret-key SK [--passphrase-file F] --output BUNDLE\n"
    "                     [--sequence N [--reuse-sequence]] [--level L] [--created TIME]\n"
    "                     [--allow-large] [--include-drafts] FILE...\n"
    "\n"
    "Packs article files (.md, .html, .txt, each optionally starting with a\n"
    "YAML front-matter block) into one signed, compressed bundle, and prints the\n"
    "bundle's id. Nothing is written unless every file is valid.\n"
    "\n"
    "  --secret-key SK        the publisher's secret key file\n"
    "  --passphrase-file F    read the key's passphrase from the first line of F\n"
    "  --output BUNDLE        the bundle file to write (replaced atomically)\n"
    "  --sequence N           the bundle's sequence number (default: one more than\n"
    "                         the last one used with this key, kept in SK.seq); a\n"
    "                         number at or below that one is refused, as is 2^63 or more\n"
    "  --reuse-sequence       use --sequence N even so: a second bundle with a number\n"
    "                         already used is an equivocation, which readers and relays\n"
    "                         report as a sign of a stolen key (for tests)\n"
    "  --level L              zstd level 1..19 (default 19: packed once, read often)\n"
    "  --created TIME         creation time, RFC 3339 (default: now)\n"
    "  --allow-large          pack more than 64 MiB of articles, which readers and\n"
    "                         relays refuse unless they raise their limit\n"
    "  --include-drafts       pack files whose front matter marks them a draft\n"
    "                         (draft: true, published: false, status: draft,\n"
    "                         private or pending); without it they are refused\n"
    "  -h, --help             show this help\n";

/* Reads a sequence record: empty (0) or a decimal number (sz_seq_record_parse()).
 * Returns 0, or -1 (said; *status EXIT_KEY when the record is damaged). */
static int
seq_record_read(int fd, const char *path, uint64_t *last, int *status)
{
    uint8_t buf[SZ_SEQ_RECORD_MAX + 1];
    ssize_t n = pread(fd, buf, sizeof buf, 0);

    *last = 0;
    if (n < 0) {
        util_err("cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    if (sz_seq_record_parse(buf, (size_t)n, last) != 0) {
        /* No --sequence can stand in for it: which numbers the key used is unknown. */
        util_err("%s is damaged (it should hold the last sequence this key signed, digits and a "
                 "newline): put that number in it (samizdat inspect of the last bundle this key "
                 "signed shows it), then pack again",
                 path);
        *status = EXIT_KEY;
        return -1;
    }
    return 0;
}

static int
seq_record_write(int fd, const char *path, uint64_t seq)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%llu\n", (unsigned long long)seq);

    if (pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) != 0 || fsync(fd) != 0) {
        util_err("cannot update %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Picks the bundle's sequence. The last sequence used with a key is kept in
 * "SK.seq" beside the secret key file (links followed: every name of the key
 * finds that one record), updated in place under an exclusive lock and
 * fsync'd before the bundle is written: concurrent or later runs never reuse a
 * number. A record an earlier version kept beside a link to the key is read
 * too, and kept up to date. An explicit --sequence above the record raises it;
 * one at or below it is refused (status 2) unless reuse is asked for.
 */
/*
 * A record another user owns or may write is refused before it is locked or
 * read: that user could make this key sign a number twice (an equivocation,
 * which readers take for a stolen key), take all its numbers, or hold the
 * lock and keep pack waiting. Returns 0 when it is this user's own.
 */
static int
seq_record_own(int fd, const char *path, int *status)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        util_err("cannot check %s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_uid != geteuid()) {
        util_err("the sequence record %s belongs to another user, who could make this key "
                 "sign a number twice: check the last sequence this key signed (samizdat list "
                 "--publisher KEY on a relay), move the record away, and pack with --sequence N "
                 "above that number",
                 path);
        *status = EXIT_KEY;
        return -1;
    }
    if ((st.st_mode & 022) != 0) {
        util_err("the sequence record %s may be written by group or others (mode %04o), who "
                 "could make this key sign a number twice: run chmod 600 on it once you know it "
                 "holds the last sequence this key signed (samizdat list --publisher KEY on a "
                 "relay shows it)",
                 path, (unsigned)(st.st_mode & 07777));
        *status = EXIT_KEY;
        return -1;
    }
    return 0;
}

static int
next_sequence(const char *sk_path, bool given, bool reuse, uint64_t *seq, int *status)
{
    char path[PATH_MAX], legacy[PATH_MAX];
    uint64_t last = 0, last_l = 0, next;
    struct stat st;
    bool created = false;
    int fd, lfd = -1, rc = -1;

    if (sz_seq_record_paths(sk_path, path, legacy, sizeof path) != 0) {
        util_err("cannot find the secret key %s: %s", sk_path, strerror(errno));
        return -1;
    }
    /* keygen makes the record with the key: one missing may have been left behind. */
    fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        created = fd >= 0;
    }
    if (fd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
        /* A key on read-only media (a locked stick): its record can be read,
         * not written. Only a number given by hand, above it, is safe. */
        int why = errno;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno != ENOENT) {
            util_err("cannot open the sequence record %s: %s", path, strerror(errno));
            return -1;
        }
        if (fd >= 0 && (seq_record_own(fd, path, status) != 0 || flock(fd, LOCK_SH) != 0 ||
                        seq_record_read(fd, path, &last, status) != 0)) {
            close(fd);
            return -1;
        }
        if (fd >= 0)
            close(fd);
        if (legacy[0] != '\0' && (lfd = open(legacy, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
            int r = seq_record_own(lfd, legacy, status) != 0 || flock(lfd, LOCK_SH) != 0
                        ? -1
                        : seq_record_read(lfd, legacy, &last_l, status);
            close(lfd);
            if (r != 0)
                return -1;
            if (last_l > last)
                last = last_l;
        }
        if (!given) {
            util_err("the sequence record %s cannot be written (%s), so the number this bundle "
                     "takes could not be recorded and might be used twice: pack with --sequence "
                     "N above %llu (the last number it holds; above any this key signed "
                     "elsewhere since), or move the key with its record to a folder that can "
                     "be written",
                     path, strerror(why), (unsigned long long)last);
            return -1;
        }
        if (*seq <= last && !reuse) {
            util_err("--sequence %llu: this key has signed bundles up to sequence %llu (%s): "
                     "give a higher one, or add --reuse-sequence if that is what you mean",
                     (unsigned long long)*seq, (unsigned long long)last, path);
            *status = EXIT_USAGE;
            return -1;
        }
        util_err("warning: the sequence record %s cannot be written (%s): sequence %llu is "
                 "not recorded there, so give the next pack with this key a higher --sequence",
                 path, strerror(why), (unsigned long long)*seq);
        return 0;
    }
    if (fd < 0) {
        util_err("cannot open the sequence record %s: %s", path, strerror(errno));
        return -1;
    }
    if (seq_record_own(fd, path, status) != 0)
        goto out;
    if (flock(fd, LOCK_EX) != 0) {
        util_err("cannot lock %s: %s", path, strerror(errno));
        goto out;
    }
    if (seq_record_read(fd, path, &last, status) != 0)
        goto out;
    /* Taken after the real record's lock, always in that order: no deadlock. */
    if (legacy[0] != '\0') {
        lfd = open(legacy, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (lfd < 0 && errno != ENOENT) {
            util_err("cannot open the sequence record %s: %s", legacy, strerror(errno));
            goto out;
        }
        if (lfd >= 0 && seq_record_own(lfd, legacy, status) != 0)
            goto out;
        if (lfd >= 0 && flock(lfd, LOCK_EX) != 0) {
            util_err("cannot lock %s: %s", legacy, strerror(errno));
            goto out;
        }
        if (lfd >= 0 && seq_record_read(lfd, legacy, &last_l, status) != 0)
            goto out;
        if (last_l > last)
            last = last_l;
    }
    /* Hard links are names a path cannot tell apart: each folder's name has a record. */
    if (stat(sk_path, &st) == 0 && st.st_nlink > 1)
        util_err("warning: the secret key %s has %ju names (hard links): the sequence record "
                 "%s is found only through names in that folder; pack through one name only, "
                 "or a number may be used twice",
                 sk_path, (uintmax_t)st.st_nlink, path);
    next = given ? *seq : last + 1;
    /* Relays store sequences up to 2^63 - 1 (an SQLite integer): none above. */
    if (!given && last >= (uint64_t)INT64_MAX) {
        util_err("%s says sequence %llu was used: this key has no sequence number left. Make "
                 "a new key pair (samizdat keygen) and give readers its public key",
                 path, (unsigned long long)last);
        goto out;
    }
    if (given && next <= last && !reuse) {
        util_err("--sequence %llu: this key has signed bundles up to sequence %llu (%s). A "
                 "second bundle with a used number is an equivocation, which readers and "
                 "relays report as a sign of a stolen key. Leave --sequence out to take %llu, "
                 "or add --reuse-sequence if that is what you mean",
                 (unsigned long long)next, (unsigned long long)last, path,
                 (unsigned long long)(last + 1));
        *status = EXIT_USAGE;
        goto out;
    }
    if (created && lfd < 0 && !given)
        util_err("warning: this key had no sequence record (%s, made by keygen with the key), "
                 "so this bundle takes sequence %llu. If the key signed bundles before (the "
                 "record left behind when the key was copied?), that number is used twice, "
                 "which readers and relays report as a stolen key: then do not publish this "
                 "bundle, and pack again with --sequence N above the last number the key "
                 "signed (samizdat list --publisher KEY on a relay shows it)",
                 path, (unsigned long long)next);
    if (next > last) {
        if (seq_record_write(fd, path, next) != 0 ||
            (lfd >= 0 && seq_record_write(lfd, legacy, next) != 0))
            goto out;
    }
    *seq = next;
    rc = 0;
out:
    if (lfd >= 0)
        close(lfd);
    close(fd);
    return rc;
}

int
cmd_pack(int argc, char **argv)
{
    static const struct option opts[] = {
        {"secret-key", required_argument, NULL, 's'},
        {"passphrase-file", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"sequence", required_argument, NULL, 'n'},
        {"reuse-sequence", no_argument, NULL, 'R'},
        {"level", required_argument, NULL, 'l'},
        {"created", required_argument, NULL, 'c'},
        {"allow-large", no_argument, NULL, 'L'},
        {"include-drafts", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sk_path = NULL, *pass_file = NULL, *out_path = NULL;
    struct sz_seal_params sp;
    uint8_t *sk = NULL, *content = NULL, *bundle = NULL, id[SZ_BUNDLE_ID_LEN];
    size_t content_len = 0, bundle_len = 0, n_in;
    uint64_t seq = 0, level = SZ_DEFAULT_LEVEL;
    bool seq_given = false, reuse = false, allow_large = false, drafts = false;
    bool created_given = false;
    int64_t created = (int64_t)time(NULL);
    char err[512], hex[2 * SZ_BUNDLE_ID_LEN + 1], seq_path[PATH_MAX], legacy_seq[PATH_MAX];
    int c, r, rc = EXIT_USAGE;

    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sk_path = optarg;
            break;
        case 'f':
            pass_file = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'n':
            if (util_parse_u64(optarg, &seq) != 0 || seq == 0 || seq >= SEQUENCE_LIMIT) {
                util_err("--sequence takes a whole number from 1 to 2^63 - 1, not '%s'", optarg);
                return EXIT_USAGE;
            }
            seq_given = true;
            break;
        case 'R':
            reuse = true;
            break;
        case 'l':
            if (util_parse_u64(optarg, &level) != 0 || level < 1 || level > 19) {
                util_err("--level takes a zstd level from 1 to 19, not '%s'", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'c':
            if (sz_time_parse(optarg, strlen(optarg), &created) != 0) {
                util_err("--created takes an RFC 3339 time like 2024-08-29T10:00:00Z, not '%s'",
                         optarg);
                return EXIT_USAGE;
            }
            created_given = true;
            break;
        case 'L':
            allow_large = true;
            break;
        case 'D':
            drafts = true;
            break;
        case 'h':
            fputs(USAGE, stdout);
            return EXIT_OK;
        default:
            fputs(USAGE, stderr);
            return EXIT_USAGE;
        }
    }
    if (sk_path == NULL || out_path == NULL || optind == argc) {
        util_err("pack needs --secret-key SK, --output BUNDLE and at least one FILE");
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    if (reuse && !seq_given) {
        util_err("--reuse-sequence goes with --sequence N");
        return EXIT_USAGE;
    }
    /* A wrong clock would date the bundle (and each article without a date)
     * wrong for good, and use up its sequence. */
    if (!created_given && created < SZ_CLOCK_FLOOR) {
        char clock[48], floor[48];
        if (sz_time_format(created, clock, sizeof clock) != 0)
            snprintf(clock, sizeof clock, "%lld s after 1970", (long long)created);
        (void)sz_time_format(SZ_CLOCK_FLOOR, floor, sizeof floor);
        util_err("this computer's clock reads %s, before this samizdat was made (%s): set the "
                 "clock, or give the bundle's time with --created; nothing was signed",
                 clock, floor);
        return EXIT_USAGE;
    }
    if (created - (int64_t)time(NULL) > 24 * 3600)
        util_err("warning: --created is %lld hours ahead of this computer's clock: relays "
                 "refuse a bundle dated more than 24 hours ahead until then, and readers "
                 "see it dated in the future",
                 (long long)((created - (int64_t)time(NULL)) / 3600));
    /* Relays drop bundles older than their expiry_days, 90 by default (samizdatd(8)). */
    if ((int64_t)time(NULL) - created > 90 * 24 * 3600)
        util_err("warning: --created is %lld days ago: relays with the default expiry "
                 "(expiry_days = 90) refuse and drop a bundle created that long ago",
                 (long long)(((int64_t)time(NULL) - created) / (24 * 3600)));
    n_in = (size_t)(argc - optind);
    if (n_in > SZ_MAX_ARTICLES) {
        util_err("too many files: a bundle holds at most %d articles", SZ_MAX_ARTICLES);
        return EXIT_USAGE;
    }
    /* The bundle replaces its output: never a file this run reads or keeps. */
    if (sz_seq_record_paths(sk_path, seq_path, legacy_seq, sizeof seq_path) != 0)
        snprintf(seq_path, sizeof seq_path, "%s.seq", sk_path); /* the key is checked below */
    if (util_same_file(out_path, sk_path) || util_same_file(out_path, seq_path) ||
        (legacy_seq[0] != '\0' && util_same_file(out_path, legacy_seq)) ||
        (pass_file != NULL && util_same_file(out_path, pass_file))) {
        util_err("--output %s is the same file as the %s: the bundle would replace it; choose "
                 "another output file",
                 out_path,
                 util_same_file(out_path, sk_path)                          ? "secret key"
                 : pass_file != NULL && util_same_file(out_path, pass_file) ? "passphrase file"
                                                                            : "sequence record");
        return EXIT_USAGE;
    }
    rc = inputs_load((const char *const *)argv + optind, n_in, created, out_path, pass_file, drafts,
                     &content, &content_len);
    if (rc != EXIT_OK)
        goto out;
    /*
     * Checked before the key is opened and a sequence number is taken: a
     * bundle readers would refuse must not use one up.
     */
    if (content_len > SZ_BUNDLE_MAX_CONTENT_LEN ||
        (content_len > SZ_BUNDLE_DEFAULT_CONTENT_CAP && !allow_large)) {
        if (content_len > SZ_BUNDLE_MAX_CONTENT_LEN)
            util_err("the articles come to %zu MiB, above the %llu MiB a bundle can hold: "
                     "publish fewer or smaller articles per bundle",
                     (content_len + (1u << 20) - 1) >> 20, SZ_BUNDLE_MAX_CONTENT_LEN >> 20);
        else
            util_err("the articles come to %zu MiB, above the %llu MiB that readers (verify, "
                     "unpack, fetch) and relays accept by default: they would refuse this "
                     "bundle. Publish fewer or smaller articles per bundle (or pass "
                     "--allow-large if every reader and relay it goes to raises its limit)",
                     (content_len + (1u << 20) - 1) >> 20, SZ_BUNDLE_DEFAULT_CONTENT_CAP >> 20);
        rc = EXIT_INPUT;
        goto out;
    }
    /* A folder the bundle cannot go to must not use up a number either, nor
     * be found out only after the passphrase was typed. */
    if (!util_output_folder_ok(out_path) || !util_output_file_ok(out_path)) {
        rc = EXIT_OUTPUT;
        goto out;
    }
    if (util_load_secret_key(sk_path, pass_file, &sk, err, sizeof err) != 0) {
        util_err("%s", err);
        rc = EXIT_KEY;
        goto out;
    }
    rc = EXIT_OUTPUT;
    if (next_sequence(sk_path, seq_given, reuse, &seq, &rc) != 0)
        goto out;
    sp.secret_key = sk;
    sp.sequence = seq;
    sp.created = created;
    sp.level = (int)level;
    r = sz_bundle_seal(&sp, content, content_len, &bundle, &bundle_len, id);
    if (r != 0) {
        util_err("cannot make the bundle: %s", sz_strerror(r));
        rc = EXIT_INPUT;
        goto out;
    }
    if (util_write_atomic(out_path, bundle, bundle_len, 0644, false, err, sizeof err) != 0) {
        util_err("%s", err);
        rc = EXIT_OUTPUT;
        goto out;
    }
    sz_bundle_id_hex(id, hex);
    printf("%s\n", hex);
    rc = EXIT_OK;
out:
    util_sk_free(sk);
    free(bundle);
    free(content);
    return rc;
}
