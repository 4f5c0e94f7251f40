/* Article files in: read, parse, attach, check, and encode as one container. */
#include "inputs.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "article_file.h"
#include "md.h"
#include "render.h"
#include "samizdat/article.h"
#include "samizdat/common.h"
#include "util.h"

#define ATTACHMENT_MAX (32u << 20)
/* What a body's page may take when pack renders it to find its pictures (as
 * the library bounds a page). */
#define PAGE_BODY_MAX ((size_t)1 << 30)

/* Everything pack holds for one input file. */
struct input {
    struct article_file *f;
    uint8_t *raw;
    uint8_t **att_data;
    struct sz_attachment *atts;
};

static void
input_free(struct input *in)
{
    size_t i;

    if (in->f != NULL && in->att_data != NULL)
        for (i = 0; i < in->f->n_att_paths; i++)
            free(in->att_data[i]);
    free(in->att_data);
    free(in->atts);
    article_file_free(in->f);
    free(in->raw);
}

/* True when the relative path a has a ".." component. */
static bool
has_dotdot(const char *a)
{
    const char *p = a;

    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        if (p[n] == '\0')
            return false;
        p += n + 1;
    }
}

/*
 * Whether the real path real lies below the real folder real_dir (both made
 * by realpath(): no '.', '..' or link left in them).
 */
static bool
below(const char *real_dir, const char *real)
{
    size_t n = strlen(real_dir);

    if (n == 1 && real_dir[0] == '/')
        return real[0] == '/' && real[1] != '\0';
    return strncmp(real, real_dir, n) == 0 && real[n] == '/';
}

/* Does s occur in buf[0..len)? */
static bool
contains(const uint8_t *buf, size_t len, const char *s)
{
    size_t n = strlen(s);
    const uint8_t *p = buf, *end = buf + len;

    while (n > 0 && (size_t)(end - p) >= n) {
        p = memchr(p, (unsigned char)s[0], (size_t)(end - p) - n + 1);
        if (p == NULL)
            return false;
        if (memcmp(p, s, n) == 0)
            return true;
        p++;
    }
    return false;
}

/*
 * Loads the attachments an article names, relative to the article's folder.
 * They must be in that folder or below it, also once symbolic links are
 * followed: whoever packs a contributor's article signs what it attaches, so
 * it cannot reach any other file (a link planted as "photo.png" to the
 * secret key would publish the key). A samizdat secret key is refused
 * wherever it lies.
 */
static int
load_attachments(const char *path, struct input *in, const char *output, const char *secret)
{
    struct article_file *f = in->f;
    char dir[PATH_MAX], full[PATH_MAX], real_dir[PATH_MAX], real[PATH_MAX], err[512];
    size_t i, len;

    if (f->n_att_paths == 0)
        return EXIT_OK;
    (void)util_split_path(path, dir, sizeof dir);
    if (realpath(dir, real_dir) == NULL) {
        util_err("%s: cannot resolve the article's folder %s: %s", path, dir, strerror(errno));
        return EXIT_INPUT;
    }
    in->att_data = calloc(f->n_att_paths, sizeof *in->att_data);
    in->atts = calloc(f->n_att_paths, sizeof *in->atts);
    if (in->att_data == NULL || in->atts == NULL) {
        util_err("%s: out of memory", path);
        return EXIT_INPUT;
    }
    for (i = 0; i < f->n_att_paths; i++) {
        const char *a = f->att_paths[i], *name = strrchr(a, '/'), *type;
        name = name != NULL ? name + 1 : a;
        /* Readers get each under its name alone: two with one name cannot both go. */
        for (size_t j = 0; j < i; j++) {
            const char *other = strrchr(f->att_paths[j], '/');
            other = other != NULL ? other + 1 : f->att_paths[j];
            if (strcmp(other, name) == 0) {
                util_err("%s: attachments '%s' and '%s' have one name, '%s' (an attachment "
                         "keeps only its file name): rename one, or list the file once",
                         path, f->att_paths[j], a, name);
                return EXIT_INPUT;
            }
        }
        if (!sz_safe_name(name, strlen(name))) {
            util_err("%s: attachment name '%s' is unsafe: use A-Z a-z 0-9 . _ - only", path, name);
            return EXIT_INPUT;
        }
        if (a[0] == '/' || has_dotdot(a)) {
            util_err("%s: attachment '%s' is outside the article's folder: attachments are "
                     "files beside the article or in a folder below it (no absolute path, "
                     "no '..'); copy the file there",
                     path, a);
            return EXIT_INPUT;
        }
        type = article_file_media_type(name);
        if (type == NULL) {
            util_err("%s: attachment '%s' has an unknown type: use .png, .jpg, .gif, .webp, "
                     ".avif or .pdf",
                     path, a);
            return EXIT_INPUT;
        }
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, a) >= sizeof full) {
            util_err("%s: attachment path %s is too long", path, a);
            return EXIT_INPUT;
        }
        if (output != NULL && util_same_file(full, output)) {
            util_err("%s: attachment %s is the --output file %s: the bundle would replace it; "
                     "choose another output file",
                     path, full, output);
            return EXIT_USAGE;
        }
        if (secret != NULL && util_same_file(full, secret)) {
            util_err("%s: attachment %s is the --passphrase-file: packing it would publish the "
                     "passphrase; name the right file",
                     path, full);
            return EXIT_USAGE;
        }
        if (realpath(full, real) == NULL) {
            util_err("%s: attachment %s: %s", path, full, strerror(errno));
            return EXIT_INPUT;
        }
        if (!below(real_dir, real)) {
            util_err("%s: attachment '%s' is a link to %s, outside the article's folder: "
                     "attachments are files beside the article or in a folder below it; copy "
                     "the file there",
                     path, a, real);
            return EXIT_INPUT;
        }
        if (util_is_secret_key(real)) {
            util_err("%s: attachment %s is a samizdat secret key: packing it would publish it; "
                     "name the right file",
                     path, full);
            return EXIT_INPUT;
        }
        if (util_read_file(real, ATTACHMENT_MAX, &in->att_data[i], &len, err, sizeof err) != 0) {
            util_err("%s: attachment: %s", path, err);
            return EXIT_INPUT;
        }
        if (len == 0) {
            util_err("%s: attachment %s is empty", path, full);
            return EXIT_INPUT;
        }
        if (!article_file_content_matches(type, in->att_data[i], len))
            util_err("%s: warning: attachment %s is named as %s but does not start as one "
                     "does: readers' browsers may not show it; check that it is the right file",
                     path, full, type);
        /* Readers get the file under its name alone, beside the article's page. */
        const char *rel = a;
        while (rel[0] == '.' && rel[1] == '/')
            rel += 2;
        if (strchr(rel, '/') != NULL && f->a.body != NULL &&
            contains(f->a.body, f->a.body_len, rel))
            util_err("%s: warning: the body names attachment '%s', but readers get it as '%s' "
                     "(an attachment keeps only its file name), so that link will not find it: "
                     "link it as '%s', or put the file beside the article",
                     path, rel, name, name);
        in->atts[i].name.p = name;
        in->atts[i].name.len = strlen(name);
        in->atts[i].media_type.p = type;
        in->atts[i].media_type.len = strlen(type);
        in->atts[i].data = in->att_data[i];
        in->atts[i].data_len = len;
    }
    f->a.atts = in->atts;
    f->a.n_atts = f->n_att_paths;
    return EXIT_OK;
}

/* True when the body's picture target t[0..n) is a file of the article's own
 * (no scheme, not rooted, not data:) that is not among its attachments. */
static bool
unattached(const struct sz_article *a, const char *t, size_t n)
{
    size_t k, name;

    if (n == 0 || t[0] == '/' || t[0] == '#' || t[0] == '\\')
        return false;
    for (k = 0; k < n && t[k] != '/' && t[k] != '?' && t[k] != '#'; k++)
        if (t[k] == ':')
            return false; /* a scheme: https:, data: */
    for (k = 0; k < n && t[k] != '?' && t[k] != '#'; k++)
        ;
    n = k;
    for (name = n; name > 0 && t[name - 1] != '/'; name--)
        ;
    for (k = 0; k < a->n_atts; k++)
        if (a->atts[k].name.len == n - name && memcmp(a->atts[k].name.p, t + name, n - name) == 0)
            return false;
    return n > name;
}

/* What warn_unattached_pictures() learns from the page's renderer. */
struct picture_check {
    const char *path;
    const struct sz_article *a;
    char *named[3]; /* the targets already named, at most 3 */
    int warned;
};

/* A URL the body's page loads: named when it is a file of the article's own
 * that is not among its attachments (once each). */
static void
on_picture(void *ctx, const uint8_t *u, size_t n)
{
    struct picture_check *pc = ctx;
    char *t;
    size_t m, shown;

    if (pc->warned >= 3 || (t = malloc(n + 1)) == NULL)
        return;
    /* As the author wrote it: md4c writes "café.png" as "caf%C3%A9.png". */
    m = render_percent_decode(u, n, (uint8_t *)t);
    t[m] = '\0';
    shown = m > 200 ? 200 : m;
    for (size_t k = 0; k < m; k++)
        if ((uint8_t)t[k] < 0x20 || t[k] == 0x7f)
            goto out; /* not a file name, and not for the terminal */
    if (!unattached(pc->a, t, m))
        goto out;
    for (int k = 0; k < pc->warned; k++)
        if (strlen(pc->named[k]) == shown && memcmp(pc->named[k], t, shown) == 0)
            goto out;
    t[shown] = '\0';
    util_err("%s: warning: the body shows '%s', which is not among its attachments: "
             "readers would see no picture; list it under 'attachments:' in the front matter",
             pc->path, t);
    pc->named[pc->warned++] = t;
    return;
out:
    free(t);
}

/*
 * Warns of pictures the body shows from files of its own that are not among
 * its attachments: readers get only the attachments, so those pictures would
 * be missing. The body is rendered as a reader's page renders it, so what
 * counts as a picture is what the page would load: Markdown's ![alt](target)
 * and reference pictures, HTML's <img>, <source>, srcset and the like, also
 * HTML written in Markdown, but nothing shown as code. At most 3 named.
 */
static void
warn_unattached_pictures(const char *path, const struct sz_article *a)
{
    struct picture_check pc = {path, a, {NULL}, 0};
    char name_buf[SZ_MAX_ATTACHMENTS][SZ_MAX_ID_LEN + 1];
    const char *names[SZ_MAX_ATTACHMENTS];
    bool used[SZ_MAX_ATTACHMENTS];
    size_t n = a->n_atts < SZ_MAX_ATTACHMENTS ? a->n_atts : SZ_MAX_ATTACHMENTS;
    struct san_files files = {names, names, used, n, on_picture, &pc};
    struct sz_wr w;
    bool formatted;

    if (a->ctype == SZ_CTYPE_PLAIN)
        return;
    for (size_t k = 0; k < n; k++) {
        size_t nl = a->atts[k].name.len < SZ_MAX_ID_LEN ? a->atts[k].name.len : SZ_MAX_ID_LEN;
        memcpy(name_buf[k], a->atts[k].name.p, nl);
        name_buf[k][nl] = '\0';
        names[k] = name_buf[k];
    }
    sz_wr_init(&w, PAGE_BODY_MAX);
    formatted = render_body(&w, a, &files);
    if (sz_wr_status(&w) != 0)
        util_err("%s: warning: its pictures were not checked: %s", path,
                 sz_strerror(sz_wr_status(&w)));
    else if (a->ctype == SZ_CTYPE_MARKDOWN && !md_available())
        util_err("%s: warning: its pictures were not checked (without the Markdown library)", path);
    else if (!formatted)
        util_err("%s: warning: the body is beyond what an article page renders (too large or "
                 "too intricate): readers will see it as published, unformatted",
                 path);
    sz_wr_free(&w, false);
    for (int k = 0; k < pc.warned; k++)
        free(pc.named[k]);
}

/* Names every pair of files that share an article id. */
static void
report_duplicates(const char *const *paths, const struct sz_article *arts, size_t n)
{
    size_t i, j;

    for (i = 0; i < n; i++)
        for (j = i + 1; j < n; j++)
            if (arts[i].id.len == arts[j].id.len &&
                memcmp(arts[i].id.p, arts[j].id.p, arts[i].id.len) == 0) {
                if (util_same_file(paths[i], paths[j]))
                    util_err("%s and %s are one file, given twice: list it once", paths[i],
                             paths[j]);
                else
                    util_err("%s and %s have the same article id '%.*s': give one an 'id:' in "
                             "its front matter",
                             paths[i], paths[j], (int)arts[i].id.len, arts[i].id.p);
            }
}

int
inputs_load(const char *const *paths, size_t n, int64_t fallback_time, const char *output,
            const char *secret, bool drafts, uint8_t **content, size_t *content_len)
{
    struct input *ins = calloc(n, sizeof *ins);
    struct sz_article *arts = calloc(n, sizeof *arts);
    char err[512];
    size_t i;
    int r, rc = EXIT_INPUT;

    if (ins == NULL || arts == NULL) {
        util_err("out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (output != NULL && util_same_file(paths[i], output)) {
            util_err("--output %s is the same file as the input %s: the bundle would replace "
                     "it; choose another output file",
                     output, paths[i]);
            rc = EXIT_USAGE;
            goto out;
        }
        /* A passphrase file or key beside the articles, caught by a wildcard. */
        if (secret != NULL && util_same_file(paths[i], secret)) {
            util_err("%s is the --passphrase-file: packing it would publish the passphrase; "
                     "leave it out of the articles",
                     paths[i]);
            rc = EXIT_USAGE;
            goto out;
        }
        if (util_is_secret_key(paths[i])) {
            util_err("%s is a samizdat secret key: packing it would publish it; leave it out of "
                     "the articles",
                     paths[i]);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        struct stat st;
        size_t len;
        if (util_read_file(paths[i], SZ_MAX_BODY_LEN + 65536, &ins[i].raw, &len, err, sizeof err) !=
            0) {
            util_err("%s", err);
            goto out;
        }
        if (stat(paths[i], &st) != 0)
            st.st_mtime = (time_t)fallback_time;
        r = article_file_parse(paths[i], ins[i].raw, len, (int64_t)st.st_mtime, &ins[i].f, err,
                               sizeof err);
        if (r != 0) {
            util_err("%s: %s", paths[i], err);
            goto out;
        }
        if (ins[i].f->warning[0] != '\0')
            util_err("%s: warning: %s", paths[i], ins[i].f->warning);
        if (ins[i].f->draft && !drafts) {
            util_err("%s: its front matter marks it a draft (%s), and a signed bundle cannot "
                     "be called back: leave it out, or pass --include-drafts to publish it",
                     paths[i], ins[i].f->draft_mark);
            goto out;
        }
        rc = load_attachments(paths[i], &ins[i], output, secret);
        if (rc != EXIT_OK)
            goto out;
        warn_unattached_pictures(paths[i], &ins[i].f->a);
        rc = EXIT_INPUT;
        r = sz_article_check(&ins[i].f->a);
        if (r != 0) {
            util_err("%s: %s", paths[i], sz_strerror(r));
            goto out;
        }
        arts[i] = ins[i].f->a;
    }
    r = sz_container_encode(arts, n, content, content_len);
    if (r == -SZ_EDUPID) {
        report_duplicates(paths, arts, n);
        goto out;
    }
    if (r != 0) {
        util_err("cannot encode the articles: %s", sz_strerror(r));
        goto out;
    }
    rc = EXIT_OK;
out:
    if (ins != NULL)
        for (i = 0; i < n; i++)
            input_free(&ins[i]);
    free(ins);
    free(arts);
    return rc;
}
