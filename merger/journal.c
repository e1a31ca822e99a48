/* journal.c - the merge journal record and its encoding into one of two fixed-size slots.
 * Layer: merger. Pure (no I/O): journal_io.c reads and writes slots; merge.c fills records.
 * Slot: "VFMERGE1", seq (u64), body length (u32), reserved (u32), SHA-256 of the first 24
 * bytes and the body, then the body (little-endian fields, docs/merge.md lists them).
 * A torn slot fails its digest, so the other slot (the previous record) stays authoritative.
 * The body holds fixed-size fields only (no paths): its length follows from its two counts,
 * and the parser checks that before it allocates anything. */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "merge_int.h"

#define VF_JOURNAL_MAGIC "VFMERGE1"
#define VF_JOURNAL_VERSION 3u     /* written; 3 added the allocation mark */
#define VF_JOURNAL_VERSION_OLD 2u /* read: its mark is its DESTINATION size */
#define VF_JOURNAL_OFF_SEQ 8u
#define VF_JOURNAL_OFF_LEN 16u
#define VF_JOURNAL_OFF_SHA 24u
/* Fixed part: version .. extras (8 x u32), cursor, virtual size, dest size, alloc mark
 * (version 3: 4 x u64), merge id, new id, digest_before. */
#define VF_JOURNAL_LEVEL_BYTES 24u /* id, file size */
#define VF_JOURNAL_CHILD_BYTES VF_SHA256_LEN
/* Bits of the "extras" word: which optional fields follow digest_before. */
#define VF_JOURNAL_EXTRA_LINK_ID 1u
#define VF_JOURNAL_FLAG_REMOVE 1u

_Static_assert(VF_JOURNAL_OFF_SHA + VF_SHA256_LEN == VF_JOURNAL_HEAD_BYTES, "journal head");
_Static_assert((uint64_t)VF_JOURNAL_MAX_LEVELS *VF_JOURNAL_LEVEL_BYTES <
                   VF_JOURNAL_SLOT_BYTES - VF_JOURNAL_HEAD_BYTES,
               "the level list fits a slot");

/* Bytes the parser has allocated, ever (tests hold the bound in docs/bounds.md with it). */
static atomic_ullong vf_journal_allocated;

uint64_t vf_journal_parse_allocated(void)
{
    return atomic_load(&vf_journal_allocated);
}

void vf_journal_free(vf_journal *j)
{
    if (!j)
        return;
    free(j->levels);
    free(j->children);
    memset(j, 0, sizeof *j);
}

/* A bounded writer over the slot buffer: overflow is sticky and checked once at the end. */
typedef struct vf_wcur {
    uint8_t *p;
    size_t cap, pos;
    bool overflow;
} vf_wcur;

static uint8_t *vf_w_take(vf_wcur *w, size_t n)
{
    if (w->overflow || w->cap - w->pos < n) {
        w->overflow = true;
        return NULL;
    }
    uint8_t *b = w->p + w->pos;
    w->pos += n;
    return b;
}

static void vf_w_le(vf_wcur *w, unsigned n, uint64_t v)
{
    uint8_t *b = vf_w_take(w, n);
    if (b)
        vf_put_le(b, n, v);
}

static void vf_w_bytes(vf_wcur *w, const void *src, size_t n)
{
    uint8_t *b = vf_w_take(w, n);
    if (b)
        memcpy(b, src, n);
}

static vf_status vf_journal_digest(const uint8_t *slot, size_t body_len, uint8_t md[32],
                                   vf_error *err)
{
    vf_sha256 *h;
    vf_status st = vf_sha256_new(&h, err);
    if (st != VF_OK)
        return st;
    if ((st = vf_sha256_update(h, slot, VF_JOURNAL_OFF_SHA, err)) == VF_OK &&
        (st = vf_sha256_update(h, slot + VF_JOURNAL_HEAD_BYTES, body_len, err)) == VF_OK)
        st = vf_sha256_final(h, md, err);
    vf_sha256_free(h);
    return st;
}

static void vf_journal_put_body(const vf_journal *j, vf_wcur *w)
{
    vf_w_le(w, 4, VF_JOURNAL_VERSION);
    vf_w_le(w, 4, (uint64_t)j->phase);
    vf_w_le(w, 4, (uint64_t)j->format);
    vf_w_le(w, 4, (uint64_t)j->digest_mode);
    vf_w_le(w, 4, j->remove_merged ? VF_JOURNAL_FLAG_REMOVE : 0u);
    vf_w_le(w, 4, j->nlevels);
    vf_w_le(w, 4, j->nchildren);
    vf_w_le(w, 4, j->has_link_id ? VF_JOURNAL_EXTRA_LINK_ID : 0u);
    vf_w_le(w, 8, j->cursor);
    vf_w_le(w, 8, j->virtual_size);
    vf_w_le(w, 8, j->dest_size);
    vf_w_le(w, 8, j->alloc_mark);
    vf_w_bytes(w, j->merge_id, 16);
    vf_w_bytes(w, j->new_id, 16);
    vf_w_bytes(w, j->digest_before, VF_SHA256_LEN);
    if (j->has_link_id)
        vf_w_bytes(w, j->link_id, 16);
    for (size_t i = 0; i < j->nlevels; i++) {
        vf_w_bytes(w, j->levels[i].id, 16);
        vf_w_le(w, 8, j->levels[i].file_size);
    }
    for (size_t i = 0; i < j->nchildren; i++)
        vf_w_bytes(w, j->children[i].digest, VF_SHA256_LEN);
}

vf_status vf_journal_encode(const vf_journal *j, uint8_t *buf, size_t *len, vf_error *err)
{
    *len = 0;
    if (j->nlevels > VF_JOURNAL_MAX_LEVELS || j->nchildren > VF_JOURNAL_MAX_CHILDREN)
        return VF_FAIL(err, VF_E_LIMIT, VF_OFF_NONE,
                       "merge journal: %zu levels and %zu children are more than it records "
                       "(%u and %u at most)",
                       j->nlevels, j->nchildren, VF_JOURNAL_MAX_LEVELS, VF_JOURNAL_MAX_CHILDREN);
    memset(buf, 0, VF_JOURNAL_SLOT_BYTES);
    vf_wcur w = {buf + VF_JOURNAL_HEAD_BYTES, VF_JOURNAL_SLOT_BYTES - VF_JOURNAL_HEAD_BYTES, 0,
                 false};
    vf_journal_put_body(j, &w);
    if (w.overflow)
        return VF_FAIL(err, VF_E_LIMIT, VF_OFF_NONE,
                       "merge journal: the record (%zu levels, %zu children) does not fit its "
                       "%u-byte slot",
                       j->nlevels, j->nchildren, VF_JOURNAL_SLOT_BYTES);
    memcpy(buf, VF_JOURNAL_MAGIC, 8);
    vf_put_le64(buf + VF_JOURNAL_OFF_SEQ, j->seq);
    vf_put_le32(buf + VF_JOURNAL_OFF_LEN, (uint32_t)w.pos);
    vf_status st = vf_journal_digest(buf, w.pos, buf + VF_JOURNAL_OFF_SHA, err);
    if (st != VF_OK)
        return st;
    size_t total = VF_JOURNAL_HEAD_BYTES + w.pos;
    *len = (total + 511u) / 512u * 512u; /* slot size is a multiple of 512: fits */
    return VF_OK;
}

/* The fixed part; the counts are range-checked and the body length must be exactly what
 * they need, all before anything is allocated. */
static bool vf_journal_get_fixed(vf_cur *c, vf_journal *j)
{
    uint32_t version = vf_cur_le32(c);
    uint32_t phase = vf_cur_le32(c), format = vf_cur_le32(c), mode = vf_cur_le32(c);
    uint32_t flags = vf_cur_le32(c), nlevels = vf_cur_le32(c), nchildren = vf_cur_le32(c);
    uint32_t extras = vf_cur_le32(c);
    vf_format_limits lim = {0};
    j->cursor = vf_cur_le64(c);
    j->virtual_size = vf_cur_le64(c);
    j->dest_size = vf_cur_le64(c);
    j->alloc_mark = version == VF_JOURNAL_VERSION ? vf_cur_le64(c) : j->dest_size;
    vf_cur_bytes(c, j->merge_id, 16);
    vf_cur_bytes(c, j->new_id, 16);
    vf_cur_bytes(c, j->digest_before, VF_SHA256_LEN);
    j->has_link_id = (extras & VF_JOURNAL_EXTRA_LINK_ID) != 0;
    if (j->has_link_id)
        vf_cur_bytes(c, j->link_id, 16);
    if (c->overrun || (version != VF_JOURNAL_VERSION && version != VF_JOURNAL_VERSION_OLD) ||
        extras > VF_JOURNAL_EXTRA_LINK_ID || j->alloc_mark > j->dest_size ||
        phase < VF_MERGE_PHASE_COPYING || phase > VF_MERGE_PHASE_REMOVING ||
        mode > VF_MERGE_VERIFY_TREE || format > INT_MAX ||
        vf_format_get_limits((vf_format_kind)format, &lim, NULL) != VF_OK ||
        flags > VF_JOURNAL_FLAG_REMOVE || nlevels < 2 || nlevels > VF_JOURNAL_MAX_LEVELS ||
        nchildren > VF_JOURNAL_MAX_CHILDREN ||
        j->has_link_id != ((lim.features & VF_FEATURE_MERGE_LINK) != 0) ||
        j->cursor > j->virtual_size || j->virtual_size == 0)
        return false;
    uint64_t need =
        (uint64_t)nlevels * VF_JOURNAL_LEVEL_BYTES + (uint64_t)nchildren * VF_JOURNAL_CHILD_BYTES;
    if (need != c->len - c->pos)
        return false;
    j->phase = (vf_merge_phase)phase;
    j->format = (vf_format_kind)format;
    j->digest_mode = (vf_merge_verify)mode;
    j->remove_merged = (flags & VF_JOURNAL_FLAG_REMOVE) != 0;
    j->nlevels = nlevels;
    j->nchildren = nchildren;
    return true;
}

static vf_status vf_journal_get_body(vf_cur *c, vf_journal *j)
{
    if (!vf_journal_get_fixed(c, j))
        return VF_E_FORMAT;
    size_t nc = j->nchildren ? j->nchildren : 1;
    j->levels = calloc(j->nlevels, sizeof *j->levels);
    j->children = calloc(nc, sizeof *j->children);
    atomic_fetch_add(&vf_journal_allocated, (unsigned long long)(j->nlevels * sizeof *j->levels +
                                                                 nc * sizeof *j->children));
    if (!j->levels || !j->children)
        return VF_E_NOMEM;
    for (size_t i = 0; i < j->nlevels; i++) {
        vf_cur_bytes(c, j->levels[i].id, 16);
        j->levels[i].file_size = vf_cur_le64(c);
    }
    for (size_t i = 0; i < j->nchildren; i++)
        vf_cur_bytes(c, j->children[i].digest, VF_SHA256_LEN);
    return c->overrun || c->pos != c->len ? VF_E_FORMAT : VF_OK;
}

vf_status vf_journal_parse(const uint8_t *buf, size_t len, vf_journal *out, vf_error *err)
{
    memset(out, 0, sizeof *out);
    if (len < VF_JOURNAL_HEAD_BYTES || memcmp(buf, VF_JOURNAL_MAGIC, 8) != 0)
        return VF_FAIL(err, VF_E_FORMAT, 0, "merge journal slot: no 'VFMERGE1' signature");
    uint64_t seq = vf_get_le(buf + VF_JOURNAL_OFF_SEQ, 8);
    uint64_t body_len = vf_get_le(buf + VF_JOURNAL_OFF_LEN, 4);
    uint64_t room = len - VF_JOURNAL_HEAD_BYTES;
    if (room > VF_JOURNAL_SLOT_BYTES - VF_JOURNAL_HEAD_BYTES)
        room = VF_JOURNAL_SLOT_BYTES - VF_JOURNAL_HEAD_BYTES; /* never past one slot */
    if (body_len > room)
        return VF_FAIL(err, VF_E_FORMAT, VF_JOURNAL_OFF_LEN,
                       "merge journal slot: body length %llu runs past the slot",
                       (unsigned long long)body_len);
    uint8_t md[VF_SHA256_LEN];
    vf_status st = vf_journal_digest(buf, (size_t)body_len, md, err);
    if (st != VF_OK)
        return st;
    if (memcmp(md, buf + VF_JOURNAL_OFF_SHA, VF_SHA256_LEN) != 0)
        return VF_FAIL(err, VF_E_FORMAT, VF_JOURNAL_OFF_SHA,
                       "merge journal slot: SHA-256 does not match (torn or damaged record)");
    vf_cur c = vf_cur_make(buf + VF_JOURNAL_HEAD_BYTES, (size_t)body_len);
    out->seq = seq;
    st = vf_journal_get_body(&c, out);
    if (st != VF_OK) {
        vf_journal_free(out);
        if (st == VF_E_NOMEM)
            return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "merge journal: out of memory");
        return VF_FAIL(err, VF_E_FORMAT, VF_JOURNAL_HEAD_BYTES,
                       "merge journal slot: body fields out of range (version %u or %u expected; "
                       "phase, counts, cursor, allocation mark or length)",
                       VF_JOURNAL_VERSION_OLD, VF_JOURNAL_VERSION);
    }
    return VF_OK;
}
