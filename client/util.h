/* Small blocking helpers shared by the client commands: files, keys, passphrases. */
#ifndef SZ_CLIENT_UTIL_H
#define SZ_CLIENT_UTIL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "samizdat/bundle.h"

/* Exit statuses of `samizdat` (documented in README.md). */
enum util_exit {
    EXIT_OK = 0,
    EXIT_REFUSED = 1, /* a bundle failed verification, or a check failed */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_INPUT = 3,   /* an input file is missing, unreadable or invalid */
    EXIT_KEY = 4,     /* a key file is missing or invalid, or the passphrase is wrong */
    EXIT_OUTPUT = 5,  /* an output could not be written */
    EXIT_DAEMON = 6,  /* the daemon could not be reached or refused the request */
    EXIT_NETWORK = 7, /* no peer could deliver what was asked */
};

/*
 * Writes s to f with the bytes a terminal would act on shown instead: control
 * characters but tab, and bytes of no whole UTF-8 character, as \xNN; C1
 * controls and the bidirectional marks, overrides and isolates as \uNNNN (a
 * file name may hold any of them).
 */
void util_put_safe(FILE *f, const char *s);

/* Prints "samizdat: MESSAGE" and a newline on standard error, the message
 * written as util_put_safe() does. */
void util_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Reads a whole regular file of at most max bytes into *out (malloc'd, caller
 * frees; a NUL byte is appended but not counted). Returns 0, or -1 with a reason
 * in err.
 */
int util_read_file(const char *path, size_t max, uint8_t **out, size_t *out_len, char *err,
                   size_t err_cap);

/*
 * Writes data to path atomically: a temporary file in the same folder (created
 * with `mode`), fsync, rename, fsync of the folder. A mode that gives nothing to
 * group and others (a secret) is applied exactly; a wider one is narrowed by the
 * umask. With `exclusive`, an existing path is not replaced. A folder, socket or
 * other non-regular file is never replaced, nor a secret key file by a
 * non-secret one. SIGINT, SIGTERM and SIGHUP (when at their default action)
 * remove the temporary before they end the client. Returns 0, or -1 with a
 * reason in err.
 */
int util_write_atomic(const char *path, const void *data, size_t len, unsigned mode, bool exclusive,
                      char *err, size_t err_cap);

/* A file written in two steps, so that several can be replaced only once all are written. */
struct util_tmp {
    char path[PATH_MAX]; /* the destination, as shown to the user */
    char name[PATH_MAX]; /* the destination, relative to dirfd */
    char tmp[PATH_MAX];  /* the temporary beside it, relative to dirfd */
    int dirfd;           /* the folder names are relative to, or AT_FDCWD */
    int slot;            /* in the table of temporaries removed on a signal, or -1 */
    bool live;           /* the temporary exists */
};

/*
 * The first step of util_write_atomic(): checks path may be replaced, then
 * writes and fsyncs the temporary (removed on a signal, as above). Returns 0,
 * or -1 with a reason in err (nothing left behind).
 */
int util_tmp_write(struct util_tmp *t, const char *path, const void *data, size_t len,
                   unsigned mode, char *err, size_t err_cap);

/*
 * util_tmp_write() of the file `name` in the open folder dirfd (which must stay
 * open until the commit or discard), so that a folder on the way to it that is
 * renamed or replaced in the meantime cannot redirect the write; `path` is
 * the name shown in messages.
 */
int util_tmp_write_at(struct util_tmp *t, int dirfd, const char *name, const char *path,
                      const void *data, size_t len, unsigned mode, char *err, size_t err_cap);

/*
 * The second step: renames the temporary over the path (with `exclusive`, links
 * it only if the path does not exist) and fsyncs the folder. The temporary is
 * gone afterwards either way. Returns 0, or -1 with a reason in err.
 */
int util_tmp_commit(struct util_tmp *t, bool exclusive, char *err, size_t err_cap);

/* Removes the temporary of a util_tmp_write() that will not be committed (idempotent). */
void util_tmp_discard(struct util_tmp *t);

/*
 * Holds SIGINT, SIGTERM and SIGHUP off in this thread (their old mask saved in
 * *old) until util_signals_release(old), around util_tmp_commit() calls that
 * must not be cut apart: a signal sent in between acts at the release, once
 * they are all done (its cleanup then removes what is left uncommitted).
 */
void util_signals_hold(sigset_t *old);

/* Ends a util_signals_hold(): puts back the mask it saved. */
void util_signals_release(const sigset_t *old);

/*
 * Splits path at its last '/': writes the folder that holds it into dir ("."
 * when path has no '/', "/" for a name in the root) and returns the last part
 * (a pointer into path). The folder is cut to cap bytes.
 */
const char *util_split_path(const char *path, char *dir, size_t cap);

/*
 * Whether the folder of output path exists and this process may create files
 * in it; when not, says so (naming path) and returns false. A check before
 * work that cannot be undone (a sequence number taken), not a guarantee.
 */
bool util_output_folder_ok(const char *path);

/*
 * Before a bundle is made to replace path: true when nothing stands there, or
 * a file a bundle may replace; false (after a message on stderr) for a folder
 * or another non-regular file, for a samizdat secret or public key, and for a
 * file of a samizdatd data folder (util_daemon_file()).
 */
bool util_output_file_ok(const char *path);

/*
 * True when path names one of the files samizdatd keeps in its data folder
 * (node.key, publisher.seq, store.sqlite and its companions, lock,
 * control.sock) and a store.sqlite stands beside it: replacing it would break
 * the daemon.
 */
bool util_daemon_file(const char *path);

/* True when path, or the file a symbolic link there points to, is a samizdat secret key file. */
bool util_is_secret_key(const char *path);

/* util_is_secret_key() of the file `name` in the open folder dirfd. */
bool util_is_secret_key_at(int dirfd, const char *name);

/*
 * True when a and b name the same file: the same device and inode when both
 * exist (so a symbolic or hard link counts), else the same normalised path.
 */
bool util_same_file(const char *a, const char *b);

/*
 * Reads a passphrase: from the first line of pass_file when given, otherwise
 * from the terminal with echo off (twice when `confirm`). The result lives in
 * sodium_malloc'd memory: free it with util_pass_free(). Returns 0, or -1 with a
 * reason in err.
 */
int util_read_passphrase(const char *pass_file, const char *prompt, bool confirm, char **out,
                         size_t *out_len, char *err, size_t err_cap);

/*
 * Reads the first line of a file holding a secret (what names the file in
 * messages, as "proxy credentials file") into sodium_malloc'd memory,
 * NUL-terminated: free it with util_pass_free(). Warns when the file is
 * readable by group or others. Returns 0, or -1 with a reason in err.
 */
int util_read_secret_file(const char *path, const char *what, char **out, size_t *out_len,
                          char *err, size_t err_cap);

/*
 * Writes why the secret file at path (what names it in messages) could not
 * be opened (err_no). The path is named only when something exists there:
 * otherwise it may be the secret itself, given in place of a path.
 */
void util_secret_open_err(const char *path, const char *what, int err_no, char *err,
                          size_t err_cap);

/* Warns on stderr when the secret file st describes is readable by group or others. */
void util_warn_readable(const struct stat *st, const char *what, const char *path);

/* Wipes and frees a passphrase from util_read_passphrase(). */
void util_pass_free(char *pass);

/*
 * Loads and decrypts a secret key file into *sk (sodium_malloc'd, 64 bytes;
 * free with util_sk_free()). Asks for the passphrase (pass_file or terminal)
 * only when the file is encrypted. Returns 0 or -1 with a reason in err.
 */
int util_load_secret_key(const char *path, const char *pass_file, uint8_t **sk, char *err,
                         size_t err_cap);

/* Wipes and frees a secret key from util_load_secret_key(). */
void util_sk_free(uint8_t *sk);

/*
 * Parses a --trust argument: a public key text form, or the path of a public key
 * file. Returns 0 or -1 with a reason in err (for a trust file given instead,
 * one that says to use --trust-file).
 */
int util_parse_trust(const char *arg, uint8_t pk[32], char *err, size_t err_cap);

/* The public keys a reader trusts, with optional names (from a trust file). */
struct util_trust {
    uint8_t (*pk)[32];
    char **names; /* NULL entries when unnamed */
    size_t n;
};

/* Adds the key given as a --trust argument; returns 0 or -1 with a reason in err. */
int util_trust_add(struct util_trust *t, const char *arg, char *err, size_t err_cap);

/*
 * Adds every key of a trust file (fetch, verify and unpack --trust-file): lines
 * "PUBLIC-KEY name..." where PUBLIC-KEY is a key's szpk1... text form, blank
 * lines and lines starting with '#' ignored; the name (the rest of the line,
 * trimmed) may be empty. A '#' after white space starts a comment that ends
 * the line ("KEY Exile Daily # the main one" names "Exile Daily"); one inside
 * a word ("The C# Gazette") does not. Returns 0 or -1 with "FILE:LINE: reason"
 * in err; a file without any key is an error too.
 */
int util_trust_load_file(struct util_trust *t, const char *path, char *err, size_t err_cap);

/* Frees the lists of a struct util_trust. */
void util_trust_free(struct util_trust *t);

/*
 * Reads a bundle file, verifies it completely (signature, hash, bounded
 * decompression, container) and checks its publisher is in `trust`.
 * On success *b and *raw (the file's bytes) are set; the caller frees both.
 * Returns EXIT_OK; EXIT_INPUT when the file is missing, unreadable, not a
 * regular file or too large to read under the cap; or EXIT_REFUSED when it
 * fails verification or its publisher is not trusted. On failure err holds a
 * one-line reason naming the file.
 */
int util_load_bundle(const char *path, const struct util_trust *trust, uint64_t content_cap,
                     struct sz_bundle **b, uint8_t **raw, size_t *raw_len, char *err,
                     size_t err_cap);

/* Parses a decimal unsigned 64-bit number; returns 0 or -1. */
int util_parse_u64(const char *s, uint64_t *out);

#endif
