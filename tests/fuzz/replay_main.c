/*
 * A stand-in for the libFuzzer driver in normal (non-SZ_FUZZ) builds: runs
 * LLVMFuzzerTestOneInput once on every file named on the command line or found
 * (recursively, in name order) in a named directory. Each input sits in a
 * buffer of exactly its size so that sanitizer builds catch overreads. Exits 0
 * when every input ran, 1 when an input could not be read or none was found.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static size_t n_run;

static int
replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    int rc = -1;

    if (fp == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fprintf(stderr, "replay: %s: cannot size\n", path);
        goto out;
    }
    /* Exactly the input's size (ASan then sees any overread); 1 byte for empty files. */
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) {
        fprintf(stderr, "replay: %s: out of memory\n", path);
        goto out;
    }
    if (fread(buf, 1, (size_t)size, fp) != (size_t)size) {
        fprintf(stderr, "replay: %s: short read\n", path);
        goto out;
    }
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    n_run++;
    rc = 0;
out:
    free(buf);
    fclose(fp);
    return rc;
}

static int
replay_path(const char *path)
{
    struct dirent **names;
    struct stat st;
    int n, i, rc = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        /* Skip ".", ".." and hidden files such as .gitkeep. */
        if (name[0] != '.') {
            size_t len = strlen(path) + strlen(name) + 2;
            char *child = malloc(len);
            if (child == NULL || snprintf(child, len, "%s/%s", path, name) < 0 ||
                replay_path(child) != 0)
                rc = -1;
            free(child);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int
main(int argc, char **argv)
{
    int i, rc = 0;

    LLVMFuzzerInitialize(&argc, &argv);
    for (i = 1; i < argc; i++)
        if (replay_path(argv[i]) != 0)
            rc = 1;
    fprintf(stderr, "replay: %zu inputs ran\n", n_run);
    if (n_run == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        rc = 1;
    }
    return rc;
}
