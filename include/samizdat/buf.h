/*
 * Bounds-checked little-endian reader and growable writer. Every decoder in
 * proto/ reads through struct sz_rd, so no code indexes a buffer by hand.
 */
#ifndef SZ_INCLUDE_BUF_H
#define SZ_INCLUDE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A read cursor over caller-owned bytes. */
struct sz_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
};

/* Starts a cursor over buf[0..len). */
void sz_rd_init(struct sz_rd *r, const uint8_t *buf, size_t len);

/* Bytes left to read. */
size_t sz_rd_left(const struct sz_rd *r);

/* Each reader returns 0, or -SZ_EBADMSG when fewer bytes remain; *out is untouched then. */
int sz_rd_u8(struct sz_rd *r, uint8_t *out);
int sz_rd_u16(struct sz_rd *r, uint16_t *out);
int sz_rd_u32(struct sz_rd *r, uint32_t *out);
int sz_rd_u64(struct sz_rd *r, uint64_t *out);
int sz_rd_i64(struct sz_rd *r, int64_t *out);
/* Copies n bytes out. */
int sz_rd_copy(struct sz_rd *r, void *dst, size_t n);
/* Lends a pointer to the next n bytes (valid while the underlying buffer is). */
int sz_rd_bytes(struct sz_rd *r, size_t n, const uint8_t **out);

/* A growable output buffer. Once a write fails, every later write fails too. */
struct sz_wr {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t max; /* hard upper bound; exceeding it fails with -SZ_ETOOBIG */
    int err;
};

/* Starts an empty writer that may grow to `max` bytes. */
void sz_wr_init(struct sz_wr *w, size_t max);
/* Frees the writer's buffer (wiping it when `wipe`). */
void sz_wr_free(struct sz_wr *w, bool wipe);

void sz_wr_u8(struct sz_wr *w, uint8_t v);
void sz_wr_u16(struct sz_wr *w, uint16_t v);
void sz_wr_u32(struct sz_wr *w, uint32_t v);
void sz_wr_u64(struct sz_wr *w, uint64_t v);
void sz_wr_i64(struct sz_wr *w, int64_t v);
void sz_wr_bytes(struct sz_wr *w, const void *src, size_t n);
/* Appends the NUL-terminated s as a JSON string literal: quotes, '"' and '\\'
 * escaped, control characters as \u00XX (s is UTF-8, or bytes kept as they are). */
void sz_wr_json_str(struct sz_wr *w, const char *s);

/* Returns 0 or the first error any write met. */
int sz_wr_status(const struct sz_wr *w);

/* Little-endian load/store helpers for fixed layouts. */
uint16_t sz_load16(const uint8_t *p);
uint32_t sz_load32(const uint8_t *p);
uint64_t sz_load64(const uint8_t *p);
void sz_store16(uint8_t *p, uint16_t v);
void sz_store32(uint8_t *p, uint32_t v);
void sz_store64(uint8_t *p, uint64_t v);

/* Hex encoding of n bytes into out (2n + 1 bytes, NUL-terminated). */
void sz_hex(const uint8_t *in, size_t n, char *out);
/* Parses exactly 2n lowercase or uppercase hex digits. Returns 0 or -SZ_EBADMSG. */
int sz_unhex(const char *in, size_t in_len, uint8_t *out, size_t n);

/* The value of one hex digit (either case), or -1. */
int sz_hex_digit(char c);

#endif
