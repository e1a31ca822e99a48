/* vhd/bat.c - the Block Allocation Table held sparse in memory: pages of
 * VHD_BAT_PAGE_ENTRIES entries exist only where some entry is allocated, so memory follows the
 * data, not the virtual size. Streaming load at open (bounded chunks), per-sector encode for
 * publication, validation of every allocated entry, and a fast "next allocated entry" scan
 * that skips empty pages in O(1) each (map answers long ABSENT runs with it).
 * Layer: format/vhd. Called by vhd.c (open, map), write.c (allocation, publishing entries),
 * check.c and identity.c. Spec: VHD spec 1.0 "Block Allocation Table and Data Blocks"
 * (docs/formats/vhd.md "BAT entries"). */
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

uint64_t vf_vhd_bat_bytes(uint32_t entries)
{
    uint64_t raw = (uint64_t)entries * 4;
    return (raw + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
}

vf_status vf_vhd_bat_init(vf_vhd_bat *t, uint32_t entries, vf_error *err)
{
    memset(t, 0, sizeof *t);
    uint32_t npages =
        (uint32_t)(((uint64_t)entries + VHD_BAT_PAGE_ENTRIES - 1) / VHD_BAT_PAGE_ENTRIES);
    /* The directory is 8 bytes per 1024 entries: 1/512 of the on-disk table, which the
     * caller has proven to fit in the file. */
    t->page = calloc(npages ? npages : 1, sizeof *t->page);
    if (!t->page)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "block allocation table: no memory");
    t->entries = entries;
    t->npages = npages;
    return VF_OK;
}

void vf_vhd_bat_free(vf_vhd_bat *t)
{
    if (!t || !t->page)
        return;
    for (uint32_t p = 0; p < t->npages; p++)
        free(t->page[p]);
    free(t->page);
    memset(t, 0, sizeof *t);
}

uint32_t vf_vhd_bat_get(const vf_vhd_bat *t, uint32_t i)
{
    if (i >= t->entries)
        return VHD_BAT_UNUSED;
    const uint32_t *pg = t->page[i / VHD_BAT_PAGE_ENTRIES];
    return pg ? pg[i % VHD_BAT_PAGE_ENTRIES] : VHD_BAT_UNUSED;
}

vf_status vf_vhd_bat_prepare(vf_vhd_bat *t, uint32_t i, vf_error *err)
{
    if (i >= t->entries)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "block allocation table: entry %u is past the %u entries", i, t->entries);
    uint32_t **slot = &t->page[i / VHD_BAT_PAGE_ENTRIES];
    if (*slot)
        return VF_OK;
    uint32_t *pg = malloc(VHD_BAT_PAGE_ENTRIES * sizeof *pg);
    if (!pg)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "block allocation table: no memory");
    memset(pg, 0xFF, VHD_BAT_PAGE_ENTRIES * sizeof *pg); /* every entry unused */
    *slot = pg;
    return VF_OK;
}

void vf_vhd_bat_set(vf_vhd_bat *t, uint32_t i, uint32_t sector)
{
    uint32_t *pg = i < t->entries ? t->page[i / VHD_BAT_PAGE_ENTRIES] : NULL;
    if (!pg) /* unused entry of an absent page: nothing to record; else a caller bug */
        return;
    uint32_t *e = &pg[i % VHD_BAT_PAGE_ENTRIES];
    if (*e == VHD_BAT_UNUSED && sector != VHD_BAT_UNUSED)
        t->used++;
    else if (*e != VHD_BAT_UNUSED && sector == VHD_BAT_UNUSED)
        t->used--;
    *e = sector;
}

uint32_t vf_vhd_bat_next(const vf_vhd_bat *t, uint32_t from, uint32_t end)
{
    if (end > t->entries)
        end = t->entries;
    uint32_t i = from;
    while (i < end) {
        uint32_t p = i / VHD_BAT_PAGE_ENTRIES;
        uint64_t page_end = (uint64_t)(p + 1) * VHD_BAT_PAGE_ENTRIES;
        uint32_t stop = page_end < end ? (uint32_t)page_end : end;
        const uint32_t *pg = t->page[p];
        if (!pg) {
            i = stop; /* the whole page is unallocated */
            continue;
        }
        for (; i < stop; i++)
            if (pg[i % VHD_BAT_PAGE_ENTRIES] != VHD_BAT_UNUSED)
                return i;
    }
    return i; /* end, or from when from >= end */
}

/* One allocated entry alone: inside [0, limit), clear of the metadata ranges. */
static vf_status vhd_bat_entry_check(uint32_t i, uint32_t sector, const vf_vhd_space *sp,
                                     vf_error *err)
{
    uint64_t off = (uint64_t)sector * VHD_SECTOR;
    if (!vf_range_ok(off, sp->block_total, sp->limit))
        return VF_FAIL(err, VF_E_TRUNCATED, off,
                       "block allocation table: 'entry %u' (sector %u) puts the block at "
                       "%llu..%llu, past the end of data (%llu)",
                       i, sector, (unsigned long long)off,
                       (unsigned long long)(off + sp->block_total), (unsigned long long)sp->limit);
    for (size_t m = 0; m < sp->nmeta; m++)
        if (vf_ranges_overlap(off, sp->block_total, sp->meta[m].off, sp->meta[m].len))
            return VF_FAIL(err, VF_E_CORRUPT, off,
                           "block allocation table: 'entry %u' (sector %u) overlaps the %s "
                           "at %llu",
                           i, sector, sp->meta[m].what, (unsigned long long)sp->meta[m].off);
    return VF_OK;
}

vf_status vf_vhd_bat_decode(vf_vhd_bat *t, const uint8_t *buf, uint32_t first, uint32_t n,
                            const vf_vhd_space *sp, vf_error *err)
{
    if (first > t->entries || n > t->entries - first)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "block allocation table: entries %u+%u are past the %u entries", first, n,
                       t->entries);
    for (uint32_t j = 0; j < n; j++) {
        uint32_t sector = (uint32_t)vf_get_be(buf + (size_t)j * 4, 4);
        if (sector == VHD_BAT_UNUSED)
            continue;
        uint32_t i = first + j;
        vf_status st = sp ? vhd_bat_entry_check(i, sector, sp, err) : VF_OK;
        if (st == VF_OK)
            st = vf_vhd_bat_prepare(t, i, err);
        if (st != VF_OK)
            return st;
        vf_vhd_bat_set(t, i, sector);
    }
    return VF_OK;
}

vf_status vf_vhd_bat_read(vf_vhd_bat *t, vf_io *io, uint64_t table_off, uint32_t entries,
                          const vf_vhd_space *sp, vf_error *err)
{
    vf_status st = vf_vhd_bat_init(t, entries, err);
    if (st != VF_OK)
        return st;
    uint8_t *buf = malloc(VHD_BAT_READ_CHUNK);
    if (!buf) {
        vf_vhd_bat_free(t);
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "block allocation table: no memory");
    }
    /* Each chunk is checked entry by entry before the next is read, so a bad table fails
     * at its first bad entry with memory bounded by what was accepted so far. */
    const uint32_t per = VHD_BAT_READ_CHUNK / 4;
    for (uint32_t first = 0; first < entries && st == VF_OK;) {
        uint32_t n = entries - first < per ? entries - first : per;
        st = vf_io_read(io, buf, (size_t)n * 4, table_off + (uint64_t)first * 4, err);
        if (st == VF_OK)
            st = vf_vhd_bat_decode(t, buf, first, n, sp, err);
        first += n;
    }
    free(buf);
    if (st != VF_OK)
        vf_vhd_bat_free(t);
    return st;
}

void vf_vhd_bat_encode_sector(const vf_vhd_bat *t, uint32_t idx, uint8_t *out)
{
    memset(out, 0xFF, VHD_SECTOR);
    uint64_t first = (uint64_t)idx * (VHD_SECTOR / 4);
    for (uint32_t j = 0; j < VHD_SECTOR / 4 && first + j < t->entries; j++)
        vf_put_be32(out + j * 4, vf_vhd_bat_get(t, (uint32_t)(first + j)));
}

typedef struct vhd_blk {
    uint32_t sector;
    uint32_t idx;
} vhd_blk;

static int vhd_blk_cmp(const void *a, const void *b)
{
    const vhd_blk *x = a, *y = b;
    if (x->sector != y->sector)
        return x->sector < y->sector ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Single entries first (cheap, precise messages), then neighbours after sorting by offset.
 * Work and memory follow the allocated entries only. */
vf_status vf_vhd_bat_validate(const vf_vhd_bat *t, const vf_vhd_space *sp, vf_error *err)
{
    uint32_t used = 0;
    for (uint32_t i = vf_vhd_bat_next(t, 0, t->entries); i < t->entries;
         i = vf_vhd_bat_next(t, i + 1, t->entries)) {
        vf_status st = vhd_bat_entry_check(i, vf_vhd_bat_get(t, i), sp, err);
        if (st != VF_OK)
            return st;
        used++;
    }
    if (used < 2)
        return VF_OK;
    /* used <= entries, bounded by the file size (the on-disk BAT fits in the file). */
    vhd_blk *list = malloc((size_t)used * sizeof *list);
    if (!list)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "block allocation table: no memory");
    uint32_t n = 0;
    for (uint32_t i = vf_vhd_bat_next(t, 0, t->entries); i < t->entries && n < used;
         i = vf_vhd_bat_next(t, i + 1, t->entries))
        list[n++] = (vhd_blk){vf_vhd_bat_get(t, i), i};
    qsort(list, n, sizeof *list, vhd_blk_cmp);
    vf_status st = VF_OK;
    for (uint32_t k = 1; k < n; k++) {
        uint64_t prev = (uint64_t)list[k - 1].sector * VHD_SECTOR;
        uint64_t cur = (uint64_t)list[k].sector * VHD_SECTOR;
        if (cur < prev + sp->block_total) {
            st = VF_FAIL(err, VF_E_CORRUPT, cur,
                         "block allocation table: 'entry %u' (block at %llu) overlaps 'entry %u' "
                         "(block at %llu)",
                         list[k].idx, (unsigned long long)cur, list[k - 1].idx,
                         (unsigned long long)prev);
            break;
        }
    }
    free(list);
    return st;
}
