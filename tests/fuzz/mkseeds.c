/*
 * Writes the generated seed inputs of the proto harnesses into <dir>/<name>/:
 * containers, bundles signed with the fuzzing key (FUZZ_KEY_SEED), public key
 * texts and files, secret key files, and dates. Deterministic except for the
 * random nonces and salts inside the secret key files. Each bundle named after
 * the directory also gives its decompressed container as a container seed,
 * whether or not the container is valid (tests/vectors has both kinds).
 *   usage: fuzz_mkseeds <dir> [bundle...]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>
#include <zstd.h>

#include "samizdat/article.h"
#include "samizdat/bundle.h"
#include "samizdat/keys.h"

#include "fuzz.h"

static const char *out_dir;

#define S(lit) ((struct sz_str){lit, sizeof lit - 1})

static void
write_seed(const char *harness, const char *name, const void *p, size_t len)
{
    char path[4096];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", out_dir, harness);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, harness, name);
    fp = fopen(path, "wb");
    if (fp == NULL || fwrite(p, 1, len, fp) != len || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
}

static void
write_text(const char *harness, const char *name, const char *text)
{
    write_seed(harness, name, text, strlen(text));
}

/* Encodes arts into a container seed and seals it into a bundle seed. */
static void
emit(const char *name, const struct sz_article *arts, size_t n, const uint8_t *sk, int level)
{
    struct sz_seal_params sp = {
        .secret_key = sk, .sequence = 7, .created = 1700000000, .level = level};
    uint8_t *enc, *bundle, id[SZ_BUNDLE_ID_LEN];
    size_t enc_len, bundle_len;
    char file[256];
    int rc;

    rc = sz_container_encode(arts, n, &enc, &enc_len);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", name, sz_strerror(rc));
        exit(1);
    }
    snprintf(file, sizeof file, "%s.container", name);
    write_seed("container", file, enc, enc_len);
    rc = sz_bundle_seal(&sp, enc, enc_len, &bundle, &bundle_len, id);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", name, sz_strerror(rc));
        exit(1);
    }
    snprintf(file, sizeof file, "%s.bundle", name);
    write_seed("bundle", file, bundle, bundle_len);
    free(bundle);
    free(enc);
}

static void
containers_and_bundles(const uint8_t *sk)
{
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0};
    struct sz_str authors[] = {S("Ана Петрова"), S("J. Doe")};
    struct sz_attachment atts[] = {
        {S("photo.png"), S("image/png"), png, sizeof png},
        {S("data.csv"), S("text/csv"), (const uint8_t *)"a,b\n1,2\n", 8},
    };
    struct sz_article min = {
        .id = S("a"),
        .title = S("T"),
        .published = 0,
        .ctype = SZ_CTYPE_PLAIN,
        .body = (const uint8_t *)"x",
        .body_len = 1,
    };
    struct sz_article full = {
        .id = S("river-photo"),
        .title = S("Река вышла из берегов — photo report"),
        .published = 1724925600,
        .ctype = SZ_CTYPE_MARKDOWN,
        .url = S("https://example.org/river?x=1#y"),
        .authors = authors,
        .n_authors = 2,
        .lang = S("ru-RU"),
        .summary = S("Two lines\nof summary\twith a tab."),
        .body = (const uint8_t *)"# River\n\n![photo](photo.png)\n\nЗдесь *текст*.\n",
        .body_len = sizeof "# River\n\n![photo](photo.png)\n\nЗдесь *текст*.\n" - 1,
        .atts = atts,
        .n_atts = 2,
    };
    struct sz_article many[3] = {min, min, min};

    emit("minimal", &min, 1, sk, 1);
    emit("full", &full, 1, sk, 19);
    many[0].id = S("b_2");
    many[0].ctype = SZ_CTYPE_HTML;
    many[0].body = (const uint8_t *)"<p>hello</p>";
    many[0].body_len = 12;
    many[0].lang = S("en");
    many[1].id = S("B.1");
    many[1].published = -62135596800LL;
    many[1].url = S("http://x.y");
    many[2].id = S("b");
    many[2].published = 253402300799LL;
    many[2].summary = S("");
    many[2].title = S("\xf0\x9f\x93\xb0 news");
    emit("three", many, 3, sk, 3);
}

static void
pubkeys(const uint8_t *pk)
{
    char text[SZ_PK_TEXT_LEN + 1], buf[512];
    size_t i;

    sz_pk_to_text(pk, text);
    write_text("pubkey", "plain", text);
    snprintf(buf, sizeof buf, "# samizdat publisher key\n\n  %s  \r\n# trailing comment\n", text);
    write_text("pubkey", "file-with-comments", buf);
    for (i = 5; i < SZ_PK_TEXT_LEN; i++)
        buf[i] = (text[i] >= 'a' && text[i] <= 'z') ? (char)(text[i] - 'a' + 'A') : text[i];
    memcpy(buf, text, 5);
    buf[SZ_PK_TEXT_LEN] = '\n';
    buf[SZ_PK_TEXT_LEN + 1] = '\0';
    write_text("pubkey", "uppercase", buf);
    /* A mistyped key: one digit changed, so the checksum fails. */
    memcpy(buf, text, sizeof text);
    buf[20] = buf[20] == 'a' ? 'b' : 'a';
    write_text("pubkey", "bad-checksum", buf);
}

static void
skfiles(const uint8_t *sk)
{
    uint8_t file[SZ_SKFILE_LEN];

    if (sz_skfile_seal(sk, NULL, 0, 0, 0, file) != 0)
        exit(1);
    write_seed("skfile", "kdf0", file, sizeof file);
    /* The secret key in clear where the sealed key goes: fuzz_skfile re-seals it. */
    memcpy(file + 96, sk, 64);
    write_seed("skfile", "kdf0-clear", file, sizeof file);
    if (sz_skfile_seal(sk, "pass", 4, crypto_pwhash_argon2id_OPSLIMIT_MIN,
                       crypto_pwhash_argon2id_MEMLIMIT_MIN, file) != 0)
        exit(1);
    write_seed("skfile", "kdf1", file, sizeof file);
}

static void
times(void)
{
    write_text("time", "date", "2024-08-29");
    write_text("time", "utc", "2024-08-29T10:00:00Z");
    write_text("time", "offset", "2024-02-29t23:59:60.123456-09:30");
    write_text("time", "space", "0001-01-01 00:00:00+00:01");
    write_text("time", "last", "9999-12-31T23:59:59Z");
}

/* Writes the container inside a bundle file as container/<base name>.container. */
static void
extract_container(const char *path)
{
    static uint8_t buf[1 << 20];
    const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    unsigned long long fcs;
    uint8_t *content;
    char file[256];
    size_t len, n;
    FILE *fp = fopen(path, "rb");

    if (fp == NULL) {
        perror(path);
        exit(1);
    }
    len = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    if (len <= SZ_BUNDLE_PREFIX_LEN)
        return;
    fcs = ZSTD_getFrameContentSize(buf + SZ_BUNDLE_PREFIX_LEN, len - SZ_BUNDLE_PREFIX_LEN);
    if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN || fcs == 0 ||
        fcs > sizeof buf)
        return;
    content = malloc((size_t)fcs);
    if (content == NULL)
        exit(1);
    n = ZSTD_decompress(content, (size_t)fcs, buf + SZ_BUNDLE_PREFIX_LEN,
                        len - SZ_BUNDLE_PREFIX_LEN);
    if (!ZSTD_isError(n)) {
        snprintf(file, sizeof file, "%.*s.container", (int)strcspn(base, "."), base);
        write_seed("container", file, content, n);
    }
    free(content);
}

int
main(int argc, char **argv)
{
    uint8_t pk[SZ_PUBLIC_KEY_LEN], sk[SZ_SECRET_KEY_LEN];

    if (argc < 2) {
        fprintf(stderr, "usage: %s <dir> [bundle...]\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    if (sz_init() != 0 || crypto_sign_seed_keypair(pk, sk, (const uint8_t *)FUZZ_KEY_SEED) != 0)
        return 1;
    containers_and_bundles(sk);
    pubkeys(pk);
    skfiles(sk);
    times();
    for (int i = 2; i < argc; i++)
        extract_container(argv[i]);
    return 0;
}
