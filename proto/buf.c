/* Bounds-checked reader, bounded writer and byte-order helpers. */
#include "samizdat/buf.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "samizdat/common.h"

void
sz_rd_init(struct sz_rd *r, const uint8_t *buf, size_t len)
{
    r->p = buf;
    r->len = len;
    r->off = 0;
}

size_t
sz_rd_left(const struct sz_rd *r)
{
    return r->len - r->off;
}

int
sz_rd_bytes(struct sz_rd *r, size_t n, const uint8_t **out)
{
    if (sz_rd_left(r) < n)
        return -SZ_EBADMSG;
    /* An empty buffer may be NULL, and NULL + 0 is undefined behaviour. */
    *out = r->p != NULL ? r->p + r->off : NULL;
    r->off += n;
    return 0;
}

int
sz_rd_copy(struct sz_rd *r, void *dst, size_t n)
{
    const uint8_t *p;
    int rc = sz_rd_bytes(r, n, &p);

    if (rc == 0 && n > 0)
        memcpy(dst, p, n);
    return rc;
}

int
sz_rd_u8(struct sz_rd *r, uint8_t *out)
{
    const uint8_t *p;
    int rc = sz_rd_bytes(r, 1, &p);

    if (rc == 0)
        *out = p[0];
    return rc;
}

int
sz_rd_u16(struct sz_rd *r, uint16_t *out)
{
    const uint8_t *p;
    int rc = sz_rd_bytes(r, 2, &p);

    if (rc == 0)
        *out = sz_load16(p);
    return rc;
}

int
sz_rd_u32(struct sz_rd *r, uint32_t *out)
{
    const uint8_t *p;
    int rc = sz_rd_bytes(r, 4, &p);

    if (rc == 0)
        *out = sz_load32(p);
    return rc;
}

int
sz_rd_u64(struct sz_rd *r, uint64_t *out)
{
    const uint8_t *p;
    int rc = sz_rd_bytes(r, 8, &p);

    if (rc == 0)
        *out = sz_load64(p);
    return rc;
}

int
sz_rd_i64(struct sz_rd *r, int64_t *out)
{
    uint64_t v;
    int rc = sz_rd_u64(r, &v);

    if (rc == 0)
        memcpy(out, &v, sizeof v);
    return rc;
}

void
sz_wr_init(struct sz_wr *w, size_t max)
{
    memset(w, 0, sizeof *w);
    w->max = max;
}

void
sz_wr_free(struct sz_wr *w, bool wipe)
{
    if (w->p != NULL && wipe)
        sodium_memzero(w->p, w->cap);
    free(w->p);
    w->p = NULL;
    w->len = w->cap = 0;
}

/* Makes room for n more bytes; records the first failure. */
static uint8_t *
wr_reserve(struct sz_wr *w, size_t n)
{
    size_t need, cap;
    uint8_t *p;

    if (w->err != 0)
        return NULL;
    if (n > w->max || w->len > w->max - n) {
        w->err = -SZ_ETOOBIG;
        return NULL;
    }
    need = w->len + n;
    if (need > w->cap) {
        cap = w->cap < 256 ? 256 : w->cap;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (cap > w->max)
            cap = w->max;
        p = realloc(w->p, cap);
        if (p == NULL) {
            w->err = -SZ_ENOMEM;
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    /* Still NULL only when nothing was ever reserved (n == 0); NULL + 0 is undefined. */
    p = w->p != NULL ? w->p + w->len : NULL;
    w->len += n;
    return p;
}

void
sz_wr_u8(struct sz_wr *w, uint8_t v)
{
    uint8_t *p = wr_reserve(w, 1);

    if (p != NULL)
        p[0] = v;
}

void
sz_wr_u16(struct sz_wr *w, uint16_t v)
{
    uint8_t *p = wr_reserve(w, 2);

    if (p != NULL)
        sz_store16(p, v);
}

void
sz_wr_u32(struct sz_wr *w, uint32_t v)
{
    uint8_t *p = wr_reserve(w, 4);

    if (p != NULL)
        sz_store32(p, v);
}

void
sz_wr_u64(struct sz_wr *w, uint64_t v)
{
    uint8_t *p = wr_reserve(w, 8);

    if (p != NULL)
        sz_store64(p, v);
}

void
sz_wr_i64(struct sz_wr *w, int64_t v)
{
    uint64_t u;

    memcpy(&u, &v, sizeof u);
    sz_wr_u64(w, u);
}

void
sz_wr_bytes(struct sz_wr *w, const void *src, size_t n)
{
    uint8_t *p;

    /* Nothing to write: no pointer arithmetic on a writer that has no buffer yet. */
    if (n == 0)
        return;
    p = wr_reserve(w, n);
    if (p != NULL)
        memcpy(p, src, n);
}

void
sz_wr_json_str(struct sz_wr *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    sz_wr_u8(w, '"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            uint8_t e[2] = {'\\', ch};
            sz_wr_bytes(w, e, 2);
        } else if (ch < 0x20) {
            uint8_t e[6] = {'\\', 'u', '0', '0', (uint8_t)hex[ch >> 4], (uint8_t)hex[ch & 15]};
            sz_wr_bytes(w, e, 6);
        } else {
            sz_wr_u8(w, ch);
        }
    }
    sz_wr_u8(w, '"');
}

int
sz_wr_status(const struct sz_wr *w)
{
    return w->err;
}

uint16_t
sz_load16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

uint32_t
sz_load32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t
sz_load64(const uint8_t *p)
{
    return (uint64_t)sz_load32(p) | (uint64_t)sz_load32(p + 4) << 32;
}

void
sz_store16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void
sz_store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

void
sz_store64(uint8_t *p, uint64_t v)
{
    sz_store32(p, (uint32_t)v);
    sz_store32(p + 4, (uint32_t)(v >> 32));
}

void
sz_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int
sz_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
sz_unhex(const char *in, size_t in_len, uint8_t *out, size_t n)
{
    size_t i;

    if (in_len != 2 * n)
        return -SZ_EBADMSG;
    for (i = 0; i < in_len; i++)
        if (sz_hex_digit(in[i]) < 0)
            return -SZ_EBADMSG;
    for (i = 0; i < n; i++)
        out[i] = (uint8_t)(sz_hex_digit(in[2 * i]) << 4 | sz_hex_digit(in[2 * i + 1]));
    return 0;
}
