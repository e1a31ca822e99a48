/* vhdx/locslot.c - where a new parent locator item goes inside the metadata region: in its own
 * slot when it fits there, else in free space of the region (the item moves), and the staging
 * of the item and of its table entry (offset and length) as pending pages of one log entry, so
 * a crash at any write leaves the old item or the new one. Refuses, writing nothing, when the
 * region has no run of free bytes long enough. Layer: format/vhdx. Used by set_parent (write.c)
 * and set_parent_id2 (linkage2.c). Spec: MS-VHDX 2.6 (metadata table: items anywhere in the
 * region past the 64 KiB table, never overlapping); docs/formats/vhdx.md "Parent locator item". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

/* Offset of the Offset field of metadata table entry i (32-byte table header, 32-byte entries
 * of ItemId, Offset, Length, flags, reserved); Length follows it. */
#define VX_MT_ENTRY_OFF_OFF(i) (32ull + 32ull * (i) + 16u)

typedef struct vx_span {
    uint64_t off, end;
} vx_span;

static int vx_span_cmp(const void *a, const void *b)
{
    const vx_span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The items' byte ranges, sorted; the locator's own item is left out unless with_loc. */
static vx_span *vx_used_spans(const vx_state *st, bool with_loc, uint32_t *n)
{
    vx_span *sp = malloc(((size_t)st->nitems + 1) * sizeof *sp); /* nitems <= 2047 */
    if (!sp)
        return NULL;
    uint32_t k = 0;
    for (uint32_t i = 0; i < st->nitems; i++)
        if (st->items[i].len && (with_loc || i != st->loc_item))
            sp[k++] = (vx_span){st->items[i].off, (uint64_t)st->items[i].off + st->items[i].len};
    qsort(sp, k, sizeof *sp, vx_span_cmp);
    *n = k;
    return sp;
}

/* First free run of len bytes in the item area [64 KiB, meta_len); *largest: the longest run. */
static bool vx_first_fit(const vx_state *st, bool with_loc, uint32_t len, uint64_t *at,
                         uint64_t *largest, vf_error *err, vf_status *s)
{
    uint32_t n = 0;
    vx_span *sp = vx_used_spans(st, with_loc, &n);
    *s = sp ? VF_OK : VF_FAIL_ERRNO(err, ENOMEM, st->meta_off, "placing the parent locator");
    bool found = false;
    uint64_t cur = VX_META_TABLE_SIZE;
    *largest = 0;
    for (uint32_t i = 0; sp && i <= n; i++) {
        uint64_t next = i < n ? sp[i].off : st->meta_len;
        if (next > cur) {
            uint64_t run = next - cur;
            if (run > *largest)
                *largest = run;
            if (!found && run >= len) {
                *at = cur;
                found = true;
            }
        }
        if (i < n && sp[i].end > cur)
            cur = sp[i].end;
    }
    free(sp);
    return found;
}

/* Pages of the log entry that moves an item of len bytes to off (the item's pages and the
 * table page holding its entry). */
static size_t vx_move_pages(const vx_state *st, uint64_t off, uint32_t len)
{
    uint64_t first = (st->meta_off + off) / VX_PAGE,
             last = (st->meta_off + off + len - 1) / VX_PAGE;
    return (size_t)(last - first + 1) + 1;
}

vf_status vf_vhdx_locator_place(const vx_state *st, uint32_t len, uint64_t *off, vf_error *err)
{
    const vx_item *it = &st->items[st->loc_item];
    if (len <= vf_vhdx_locator_room(st)) {
        *off = it->off; /* grows (or shrinks) in its own slot */
        return VF_OK;
    }
    vf_status s = VF_OK;
    uint64_t free_run = 0, largest = 0, at = 0;
    /* a run clear of the old item: the old item stays readable until the table names the
     * new one, even if the log must split the change over several entries */
    if (vx_first_fit(st, true, len, &at, &free_run, err, &s)) {
        *off = at;
        return VF_OK;
    }
    if (s)
        return s;
    /* else the old item's bytes count as free too: only when one log entry holds it all */
    if (vx_first_fit(st, false, len, &at, &largest, err, &s) &&
        vx_move_pages(st, at, len) <= vf_vhdx_log_max_pages(st)) {
        *off = at;
        return VF_OK;
    }
    if (s)
        return s;
    return VF_FAIL(err, VF_E_UNSUPPORTED, st->meta_off,
                   "metadata region of '%s' is full: the parent locator needs %" PRIu32
                   " bytes, %" PRIu64 " free (in one run, besides its own %" PRIu32 "-byte slot)",
                   st->name ? st->name : "the image", len, free_run, it->len);
}

vf_status vf_vhdx_locator_replace(vf_image *img, const uint8_t *item, uint32_t len, uint64_t off,
                                  vf_error *err)
{
    vx_state *st = vx_st(img);
    vx_item *it = &st->items[st->loc_item];
    uint8_t ent[8];
    vf_put_le32(ent, (uint32_t)off); /* off < meta_len <= 4 GiB - 1 (region length is a u32) */
    vf_put_le32(ent + 4, len);
    vf_status s = vf_vhdx_begin_modify(st, false, img, err);
    if (!s)
        s = vf_vhdx_stage(st, st->meta_off + off, item, len, err);
    if (!s)
        s = vf_vhdx_stage(st, st->meta_off + VX_MT_ENTRY_OFF_OFF(st->loc_item), ent, 8, err);
    if (s)
        return s;
    it->off = (uint32_t)off;
    it->len = len;
    vf_vhdx_locator_free(st);
    return vf_vhdx_locator_parse(st, item, len, err);
}
