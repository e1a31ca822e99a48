/* endian.h - bounds-checked big- and little-endian field readers and writers.
 * Layer: format (internal). Parsers read every field through a vf_cur, test `overrun` once,
 * then validate; they never index raw bytes past a checked length. */
#ifndef VHDFOLD_ENDIAN_H
#define VHDFOLD_ENDIAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct vf_cur {
    const uint8_t *p;
    size_t len, pos;
    bool overrun; /* sticky: after one short read every read gives 0 */
} vf_cur;

static inline vf_cur vf_cur_make(const void *p, size_t len)
{
    vf_cur c = {(const uint8_t *)p, len, 0, false};
    return c;
}

static inline const uint8_t *vf_cur_take(vf_cur *c, size_t n)
{
    if (c->overrun || c->len - c->pos < n) {
        c->overrun = true;
        return NULL;
    }
    const uint8_t *b = c->p + c->pos;
    c->pos += n;
    return b;
}

static inline void vf_cur_seek(vf_cur *c, size_t pos)
{
    if (pos > c->len)
        c->overrun = true;
    else
        c->pos = pos;
}

static inline uint64_t vf_get_be(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

static inline uint64_t vf_get_le(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i > 0; i--)
        v = v << 8 | b[i - 1];
    return v;
}

static inline uint8_t vf_cur_u8(vf_cur *c)
{
    const uint8_t *b = vf_cur_take(c, 1);
    return b ? b[0] : 0;
}
static inline uint16_t vf_cur_be16(vf_cur *c)
{
    const uint8_t *b = vf_cur_take(c, 2);
    return b ? (uint16_t)vf_get_be(b, 2) : 0;
}
static inline uint32_t vf_cur_be32(vf_cur *c)
{
    const uint8_t *b = vf_cur_take(c, 4);
    return b ? (uint32_t)vf_get_be(b, 4) : 0;
}
static inline uint64_t vf_cur_be64(vf_cur *c)
{
    const uint8_t *b = vf_cur_take(c, 8);
    return b ? vf_get_be(b, 8) : 0;
}
static inline uint16_t vf_cur_le16(vf_cur *c)
{
    const uint8_t *b = vf_cur_take(c, 2);
    return b ? (uint16_t)vf_get_le(b, 2) : 0;
}
static inline uint32_t vf_cur_le32(vf_cur *c)
{
    const uint8_t *b = vf_cur_take(c, 4);
    return b ? (uint32_t)vf_get_le(b, 4) : 0;
}
static inline uint64_t vf_cur_le64(vf_cur *c)
{
    const uint8_t *b = vf_cur_take(c, 8);
    return b ? vf_get_le(b, 8) : 0;
}
/* Copy n bytes out (zeros after an overrun). */
static inline void vf_cur_bytes(vf_cur *c, void *out, size_t n)
{
    const uint8_t *b = vf_cur_take(c, n);
    if (b)
        memcpy(out, b, n);
    else
        memset(out, 0, n);
}

/* Writers: the caller owns a buffer of known size; offsets are named constants. */
static inline void vf_put_be(uint8_t *b, unsigned n, uint64_t v)
{
    for (unsigned i = n; i > 0; i--) {
        b[i - 1] = (uint8_t)v;
        v >>= 8;
    }
}
static inline void vf_put_le(uint8_t *b, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}
static inline void vf_put_be16(uint8_t *b, uint16_t v) { vf_put_be(b, 2, v); }
static inline void vf_put_be32(uint8_t *b, uint32_t v) { vf_put_be(b, 4, v); }
static inline void vf_put_be64(uint8_t *b, uint64_t v) { vf_put_be(b, 8, v); }
static inline void vf_put_le16(uint8_t *b, uint16_t v) { vf_put_le(b, 2, v); }
static inline void vf_put_le32(uint8_t *b, uint32_t v) { vf_put_le(b, 4, v); }
static inline void vf_put_le64(uint8_t *b, uint64_t v) { vf_put_le(b, 8, v); }

/* Checked arithmetic: true on overflow. */
static inline bool vf_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}
static inline bool vf_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_add_overflow(a, b, out);
}
/* off + len fits inside size, without overflow. */
static inline bool vf_range_ok(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}
/* Two ranges [a, a+alen) and [b, b+blen) overlap (lengths already proven not to wrap). */
static inline bool vf_ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}
static inline bool vf_is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

#endif
