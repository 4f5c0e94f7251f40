/* samizdat keygen: a new publisher key pair. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "samizdat/common.h"
#include "samizdat/keys.h"
#include "util.h"

static const char USAGE[] =
    "usage: samizdat keygen --secret-key SK --public-key PK\n"
    "                       [--no-passphrase | --passphrase-file F] [--force]\n"
    "\n"
    "Makes a new Ed25519 publisher key pair. The secret key file is written with\n"
    "mode 0600 and encrypted with a passphrase (Argon2id), asked on the terminal\n"
    "unless --passphrase-file names a file whose first line is the passphrase.\n"
    "--no-passphrase writes it unencrypted (for daemons and scripts). Existing\n"
    "files are never overwritten unless --force is given; both files are written\n"
    "or neither is. Prints the public key's text form on stdout.\n"
    "\n"
    "  --secret-key SK        where to write the secret key\n"
    "  --public-key PK        where to write the public key (one line of text)\n"
    "  --no-passphrase        do not encrypt the secret key\n"
    "  --passphrase-file F    read the passphrase from the first line of F\n"
    "  --force                replace existing key files\n"
    "  -h, --help             show this help\n";

/*
 * Renames the two written temporaries over pk_path and sk_path (with `force`
 * replacing files there, else only where none exists); when the secret key
 * cannot be put in place, puts back the old public key (old_pk, or none).
 * Returns 0, or -1 having said what happened.
 */
static int
commit_pair(struct util_tmp *pk_tmp, const char *pk_path, struct util_tmp *sk_tmp,
            const char *sk_path, bool force, const uint8_t *old_pk, size_t old_pk_len)
{
    char err[512], why[512];

    if (util_tmp_commit(pk_tmp, !force, err, sizeof err) != 0) {
        util_err("%s: nothing was written%s", err,
                 force ? " and the old key files are untouched" : "");
        return -1;
    }
    if (util_tmp_commit(sk_tmp, !force, err, sizeof err) != 0) {
        if (old_pk == NULL ? unlink(pk_path) == 0
                           : (util_tmp_write(pk_tmp, pk_path, old_pk, old_pk_len, 0644, why,
                                             sizeof why) == 0 &&
                              util_tmp_commit(pk_tmp, false, why, sizeof why) == 0))
            util_err("%s: nothing was written%s", err,
                     force ? " and the old key files are untouched" : "");
        else
            util_err("%s; the secret key %s is untouched, but %s now holds a public key that "
                     "has no secret key: write the old public key back into it",
                     err, sk_path, pk_path);
        return -1;
    }
    return 0;
}

/*
 * Files keygen never replaces, --force or not (true, said, when path is one):
 * a secret key by a public key; the sequence record of a secret key beside it
 * (SK.seq: the key could not sign again); a file of a daemon's data folder.
 */
static bool
keygen_refuses(const char *path, bool secret)
{
    char real[PATH_MAX], probe[PATH_MAX];
    struct stat st;
    size_t n;

    if (lstat(path, &st) != 0)
        return false;
    if (!secret && util_is_secret_key(path)) {
        util_err("%s is a samizdat secret key: not replacing it with a public key, even with "
                 "--force (give the public key another name)",
                 path);
        return true;
    }
    const char *const names[] = {path, realpath(path, real) != NULL ? real : NULL};
    for (size_t k = 0; k < 2; k++) {
        n = names[k] != NULL ? strlen(names[k]) : 0;
        if (n > 4 && n - 4 < sizeof probe && strcmp(names[k] + n - 4, ".seq") == 0) {
            memcpy(probe, names[k], n - 4);
            probe[n - 4] = '\0';
            if (util_is_secret_key(probe)) {
                util_err("%s is the sequence record of the secret key %s: replacing it would "
                         "stop that key from signing, even with --force (give another name)",
                         path, probe);
                return true;
            }
        }
    }
    if (util_daemon_file(path)) {
        util_err("%s is a file of a samizdatd data folder: replacing it would break the "
                 "daemon, even with --force (give a path outside that folder)",
                 path);
        return true;
    }
    return false;
}

/*
 * True, said, when the sequence record already beside sk_path (kept by
 * keygen: its numbers only rise) belongs to another user or may be written
 * by others: whoever planted it could make the new key sign a number twice,
 * or use up its numbers.
 */
static bool
seq_record_foreign(const char *sk_path)
{
    char path[PATH_MAX];
    struct stat st;

    if ((size_t)snprintf(path, sizeof path, "%s.seq", sk_path) >= sizeof path ||
        lstat(path, &st) != 0)
        return false;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
        util_err("%s is already there and %s: whoever can write it could make the new key sign "
                 "a number twice; remove it (or, over a key of yours, check it), then run keygen "
                 "again",
                 path,
                 !S_ISREG(st.st_mode)     ? "is not a regular file"
                 : st.st_uid != geteuid() ? "belongs to another user"
                                          : "may be written by group or others");
        return true;
    }
    return false;
}

/*
 * Makes the key's empty sequence record (SK.seq: no number used yet) beside it,
 * so that pack can tell a key copied without its record from a new one. One
 * already there (--force over an older key) is kept: its numbers only rise.
 */
static void
make_seq_record(const char *sk_path)
{
    char path[PATH_MAX], legacy[PATH_MAX];
    int fd;

    if (sz_seq_record_paths(sk_path, path, legacy, sizeof path) != 0)
        return;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        /* 0600 exactly, as the secret key: a umask of 0277 left it unwritable. */
        if (fchmod(fd, 0600) != 0)
            util_err("warning: cannot set the mode of %s: %s", path, strerror(errno));
        close(fd);
    } else if (errno != EEXIST)
        util_err("warning: cannot make the sequence record %s: %s (pack makes it, with a "
                 "warning)",
                 path, strerror(errno));
}

int
cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"secret-key", required_argument, NULL, 's'},
        {"public-key", required_argument, NULL, 'p'},
        {"no-passphrase", no_argument, NULL, 'n'},
        {"passphrase-file", required_argument, NULL, 'f'},
        {"force", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sk_path = NULL, *pk_path = NULL, *pass_file = NULL;
    bool no_pass = false, force = false;
    uint8_t pk[32], *sk = NULL, file[SZ_SKFILE_LEN];
    char *pass = NULL, text[SZ_PK_TEXT_LEN + 1], line[SZ_PK_TEXT_LEN + 64], err[512];
    size_t pass_len = 0;
    struct util_tmp sk_tmp = {.slot = -1}, pk_tmp = {.slot = -1};
    uint8_t *old_pk = NULL;
    size_t old_pk_len = 0;
    struct stat st;
    sigset_t held;
    int c, r, rc = EXIT_USAGE;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            sk_path = optarg;
            break;
        case 'p':
            pk_path = optarg;
            break;
        case 'n':
            no_pass = true;
            break;
        case 'f':
            pass_file = optarg;
            break;
        case 'F':
            force = true;
            break;
        case 'h':
            fputs(USAGE, stdout);
            return EXIT_OK;
        default:
            fputs(USAGE, stderr);
            return EXIT_USAGE;
        }
    }
    if (sk_path == NULL || pk_path == NULL || optind != argc) {
        util_err("keygen needs --secret-key SK and --public-key PK, and no other arguments");
        fputs(USAGE, stderr);
        return EXIT_USAGE;
    }
    if (no_pass && pass_file != NULL) {
        util_err("--no-passphrase and --passphrase-file exclude each other");
        return EXIT_USAGE;
    }
    if (util_same_file(sk_path, pk_path)) {
        util_err("--secret-key and --public-key both name %s: give two different files", sk_path);
        return EXIT_USAGE;
    }
    /* Replaced by the new key, the passphrase would be lost with it. */
    if (pass_file != NULL &&
        (util_same_file(pass_file, sk_path) || util_same_file(pass_file, pk_path))) {
        util_err("--passphrase-file %s is also an output of keygen: the passphrase would be lost, "
                 "and the key with it (give the key files other names)",
                 pass_file);
        return EXIT_USAGE;
    }
    {
        /* The new key's sequence record: the public key cannot be it. */
        char seq[PATH_MAX];
        if ((size_t)snprintf(seq, sizeof seq, "%s.seq", sk_path) < sizeof seq &&
            util_same_file(seq, pk_path)) {
            util_err("--public-key %s is where the sequence record of the secret key %s goes: "
                     "give the public key another name",
                     pk_path, sk_path);
            return EXIT_USAGE;
        }
    }
    if (seq_record_foreign(sk_path))
        return EXIT_OUTPUT;
    /* Refuse before the passphrase is asked and Argon2 runs, not after. */
    if (keygen_refuses(pk_path, false) || keygen_refuses(sk_path, true))
        return EXIT_OUTPUT;
    if (!force && (lstat(sk_path, &st) == 0 || lstat(pk_path, &st) == 0)) {
        util_err("%s already exists: not overwriting it (remove it first, or use --force to "
                 "replace it)",
                 lstat(sk_path, &st) == 0 ? sk_path : pk_path);
        return EXIT_OUTPUT;
    }
    if (!util_output_folder_ok(sk_path) || !util_output_folder_ok(pk_path))
        return EXIT_OUTPUT;
    if (!no_pass && util_read_passphrase(pass_file, "New passphrase for the secret key: ", true,
                                         &pass, &pass_len, err, sizeof err) != 0) {
        util_err("%s", err);
        return EXIT_KEY;
    }
    sk = sodium_malloc(SZ_SECRET_KEY_LEN);
    if (sk == NULL) {
        util_err("out of secure memory");
        rc = EXIT_KEY;
        goto out;
    }
    sz_keypair(pk, sk);
    r = sz_skfile_seal(sk, pass, pass_len, 0, 0, file);
    if (r != 0) {
        util_err("cannot seal the secret key: %s", sz_strerror(r));
        rc = EXIT_KEY;
        goto out;
    }
    sz_pk_to_text(pk, text);
    snprintf(line, sizeof line, "%s\n", text);
    /* Both files are written in full before either replaces anything. */
    rc = EXIT_OUTPUT;
    if (util_tmp_write(&sk_tmp, sk_path, file, sizeof file, 0600, err, sizeof err) != 0 ||
        util_tmp_write(&pk_tmp, pk_path, line, strlen(line), 0644, err, sizeof err) != 0) {
        util_err("%s: nothing was written%s", err,
                 force ? " and the old key files are untouched" : "");
        goto out;
    }
    if (force && lstat(pk_path, &st) == 0 &&
        util_read_file(pk_path, 4096, &old_pk, &old_pk_len, err, sizeof err) != 0) {
        util_err("%s: nothing was written and the old key files are untouched", err);
        goto out;
    }
    /*
     * The two files are put in place with SIGINT, SIGTERM and SIGHUP held off
     * from before the first rename until after the second (and the folder
     * fsyncs): a signal in between used to remove the secret key's temporary
     * and end the program, leaving the new public key beside the old secret
     * key. Such a signal now acts once the pair is in place.
     *
     * The public key goes first: if the secret key then cannot be put in place,
     * the public key is put back, and a secret key is never lost (a public key
     * can always be rebuilt from its secret key file). An end that cannot be
     * held off (SIGKILL, a crash, a power cut) between the two renames leaves
     * the new public key beside the old secret key; the other order would leave
     * the new secret key beside the old public key, with the old secret key
     * gone for good.
     */
    util_signals_hold(&held);
    r = commit_pair(&pk_tmp, pk_path, &sk_tmp, sk_path, force, old_pk, old_pk_len);
    util_signals_release(&held);
    if (r != 0)
        goto out;
    make_seq_record(sk_path);
    printf("%s\n", text);
    rc = EXIT_OK;
out:
    util_tmp_discard(&sk_tmp);
    util_tmp_discard(&pk_tmp);
    free(old_pk);
    sodium_memzero(file, sizeof file);
    util_sk_free(sk);
    util_pass_free(pass);
    return rc;
}
