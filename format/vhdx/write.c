/* vhdx/write.c - writing a VHDX: the header update protocol (FileWriteGuid before the first
 * modification, DataWriteGuid before the first user-visible change), payload and sector-bitmap
 * block allocation at the 1 MiB-aligned end of the file, blocks replaced whole by shared
 * extents moved there too, write_zeroes (ZERO state for whole blocks), reserve, and flush, which
 * publishes BAT and bitmap changes through the log only after the data they point at is durable.
 * Also set_id and set_parent. Payload data comes from a buffer or, for write_from, straight from
 * another file. Layer: format/vhdx. Called through vf_vhdx_driver (write_from: linked in image.c).
 * Spec: docs/formats/vhdx.md "Headers", "Log entries", "Writing". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

vf_status vf_vhdx_settle(vf_image *img, vf_error *err)
{
    vx_state *st = vx_st(img);
    if (!st->held)
        return VF_OK;
    vx_header h = st->hdr;
    vf_status s = vf_random_id(h.fwg, err);
    if (!s)
        s = vf_vhdx_log_write_replay(st, err);
    memset(h.log_guid, 0, 16);
    if (!s)
        s = vf_vhdx_header_update(st, &h, err);
    if (s)
        return s;
    st->fwg_done = true;
    img->info.log_replay_bytes = 0;
    img->info.file_size = st->file_size;
    memcpy(img->info.file_write_guid, st->hdr.fwg, 16);
    img->info.header_sequence = st->hdr.seq;
    return VF_OK;
}

vf_status vf_vhdx_begin_modify(vx_state *st, bool user_visible, vf_image *img, vf_error *err)
{
    vf_status s0 = vf_vhdx_settle(img, err); /* the held replay goes first */
    if (s0)
        return s0;
    bool new_dwg = user_visible && !st->dwg_done;
    if (st->fwg_done && !new_dwg)
        return VF_OK;
    vx_header h = st->hdr;
    vf_status s = vf_random_id(h.fwg, err);
    if (!s && new_dwg)
        s = vf_random_id(h.dwg, err);
    if (!s)
        s = vf_vhdx_header_update(st, &h, err);
    if (s)
        return s;
    st->fwg_done = true;
    st->dwg_done |= new_dwg;
    memcpy(img->info.id, st->hdr.dwg, 16);
    memcpy(img->info.file_write_guid, st->hdr.fwg, 16);
    img->info.header_sequence = st->hdr.seq;
    return VF_OK;
}

void vf_vhdx_bat_mark(vx_state *st, uint64_t index)
{
    uint64_t page = index / (VX_PAGE / 8);
    st->bat_dirty[page / 8] |= (uint8_t)(1u << (page % 8));
    st->any_dirty = true;
}

/* New space of size bytes at the 1 MiB-aligned end; it reads as zeros (fresh file space). */
static vf_status vx_alloc(vx_state *st, uint64_t size, uint64_t *off, vf_error *err)
{
    uint64_t next, real, at = vf_vhdx_skip_fit(st, st->alloc_next, size);
    if (vf_add_u64(at, size, &next) || next > 2 * VX_MAX_VSIZE)
        return VF_FAIL(err, VF_E_LIMIT, at, "the file cannot grow any further");
    vf_status s = vf_io_size(st->io, &real, err);
    if (!s && next > real)
        s = vf_io_set_size(st->io, next, err);
    if (s)
        return s;
    *off = at;
    st->alloc_next = next;
    if (next > st->file_size)
        st->file_size = next;
    return VF_OK;
}

/* The chunk's sector-bitmap block, allocated (zeros: no sector present) when missing. */
static vf_status vx_sb_ensure(vx_state *st, uint64_t block, vf_error *err)
{
    uint64_t sbi = vf_vhdx_sb_index(st, block / st->chunk_ratio);
    if ((vf_vhdx_bat_get(st, sbi) & VX_BAT_STATE_MASK) == VX_SB_PRESENT)
        return VF_OK;
    uint64_t off = 0;
    vf_status s = vx_alloc(st, VX_MIB, &off, err);
    if (s)
        return s;
    if ((s = vf_vhdx_bat_set(st, sbi, off | VX_SB_PRESENT, err)))
        return s;
    vf_vhdx_bat_mark(st, sbi);
    return VF_OK;
}

/* Payload bytes go in place, never through the log: a buffer as vf_vhdx_pwrite, a file's
 * bytes with vf_io_copy. */
static vf_status vx_put(vx_state *st, const vf_wsrc *src, uint64_t n, uint64_t off, vf_error *err)
{
    if (src->buf)
        return vf_vhdx_pwrite(st, src->buf, (size_t)n, off, err);
    return vf_wsrc_put(st->io, off, src, n, err);
}

/* A fully present block that a file's bytes replace whole, where the two files can share
 * extents (XFS, btrfs): cloned onto the block where it lies, every block would be a clone of
 * its own (and on btrfs each waits for a transaction); so the block moves to the file end,
 * where the clones of blocks that follow one another in the source join into one, and its
 * old place is punched out. The new entry is published at flush like any new block; until
 * then the durable entry names the old place, whose bytes the merged levels above
 * DESTINATION shadow (docs/merge.md "Reflinks"). *moved false: nothing done, write in place.
 * Blocks this handle placed itself (past move_below) stay where they are. */
static vf_status vx_move(vx_state *st, uint64_t idx, uint64_t e, const vf_wsrc *src, bool *moved,
                         vf_error *err)
{
    *moved = false;
    uint64_t old = e & VX_BAT_OFF_MASK, off = 0;
    bool may = false, shared = false;
    if (!src->io || old >= st->move_below)
        return VF_OK;
    vf_status s = vf_io_share(st->io, 0, src->io, src->off, 0, &may, err); /* the question */
    if (s || !may)
        return s;
    if ((s = vx_alloc(st, st->block_size, &off, err)) ||
        (s = vf_io_share(st->io, off, src->io, src->off, st->block_size, &shared, err)))
        return s;
    /* refused after all (another kind of extent): the block still moves, as a copy */
    if (!shared && (s = vf_wsrc_put(st->io, off, src, st->block_size, err)))
        return s;
    if ((s = vf_vhdx_bat_set(st, idx, off | VX_PB_FULLY_PRESENT, err)))
        return s;
    vf_vhdx_bat_mark(st, idx);
    *moved = true;
    return vf_io_punch(st->io, old, st->block_size, err);
}

/* Write n bytes (whole sectors, inside one block) at voff. */
static vf_status vx_write_block(vx_state *st, uint64_t voff, const vf_wsrc *src, uint64_t n,
                                vf_error *err)
{
    uint64_t b = voff / st->block_size, in = voff % st->block_size;
    uint64_t idx = vf_vhdx_bat_index(st, b);
    uint64_t e = vf_vhdx_bat_get(st, idx);
    unsigned state = (unsigned)(e & VX_BAT_STATE_MASK);
    vf_status s;
    bool moved = false;
    if (state == VX_PB_FULLY_PRESENT && n == st->block_size &&
        ((s = vx_move(st, idx, e, src, &moved, err)) || moved))
        return s;
    if (state == VX_PB_FULLY_PRESENT || state == VX_PB_PARTIALLY_PRESENT) {
        s = vx_put(st, src, n, (e & VX_BAT_OFF_MASK) + in, err);
        /* data first; the bits are published at flush, after the data is durable */
        if (!s && state == VX_PB_PARTIALLY_PRESENT)
            s = vf_vhdx_sb_set(st, b, in / st->lss, n / st->lss, err);
        return s;
    }
    /* Only a NOT_PRESENT block of a differencing file lets the parent show through the rest
     * of the block; every other state gets a zero-filled, fully present block. */
    bool partial = st->has_parent && state == VX_PB_NOT_PRESENT && n < st->block_size;
    if (partial && (s = vx_sb_ensure(st, b, err)))
        return s;
    uint64_t off = 0;
    if ((s = vx_alloc(st, st->block_size, &off, err)) || (s = vx_put(st, src, n, off + in, err)))
        return s;
    uint64_t ne = off | (partial ? VX_PB_PARTIALLY_PRESENT : VX_PB_FULLY_PRESENT);
    if ((s = vf_vhdx_bat_set(st, idx, ne, err)))
        return s;
    st->nalloc++;
    vf_vhdx_bat_mark(st, idx);
    if (partial)
        s = vf_vhdx_sb_set(st, b, in / st->lss, n / st->lss, err);
    return s;
}

static void vx_note_alloc(vf_image *img)
{
    img->info.allocated_blocks = vx_st(img)->nalloc;
    img->info.file_size = vx_st(img)->file_size;
}

/* Block by block; src is advanced as the range is written (a copy of the caller's). */
static vf_status vx_write_range(vf_image *img, uint64_t voff, vf_wsrc src, size_t len,
                                vf_error *err)
{
    vx_state *st = vx_st(img);
    vf_status s = vf_vhdx_begin_modify(st, true, img, err);
    while (!s && len) {
        uint64_t room = st->block_size - voff % st->block_size;
        uint64_t n = len < room ? len : room;
        s = vx_write_block(st, voff, &src, n, err);
        voff += n;
        vf_wsrc_skip(&src, n);
        len -= (size_t)n;
    }
    vx_note_alloc(img);
    return s;
}

vf_status vf_vhdx_write(vf_image *img, uint64_t voff, const void *buf, size_t len, vf_error *err)
{
    return vx_write_range(img, voff, (vf_wsrc){buf, NULL, 0}, len, err);
}

vf_status vf_vhdx_write_from(vf_image *img, uint64_t voff, vf_io *src, uint64_t src_off, size_t len,
                             vf_error *err)
{
    return vx_write_range(img, voff, (vf_wsrc){NULL, src, src_off}, len, err);
}

/* The piece of [voff, voff+len) in voff's block: the block in *b, the piece's offset in it in
 * *in; returns the piece's length. */
static uint64_t vx_piece(const vx_state *st, uint64_t voff, uint64_t len, uint64_t *b, uint64_t *in)
{
    *b = voff / st->block_size;
    *in = voff % st->block_size;
    uint64_t room = st->block_size - *in;
    return len < room ? len : room;
}

vf_status vf_vhdx_write_zeroes(vf_image *img, uint64_t voff, uint64_t len, vf_error *err)
{
    static const uint8_t zero[64 * 1024];
    vx_state *st = vx_st(img);
    vf_status s = vf_vhdx_begin_modify(st, true, img, err);
    while (!s && len) {
        uint64_t b, in, n = vx_piece(st, voff, len, &b, &in);
        uint64_t idx = vf_vhdx_bat_index(st, b);
        unsigned state = (unsigned)(vf_vhdx_bat_get(st, idx) & VX_BAT_STATE_MASK);
        bool whole = in == 0 && (n == st->block_size || voff + n == st->vsize);
        if (whole) {
            st->nalloc -= state == VX_PB_FULLY_PRESENT || state == VX_PB_PARTIALLY_PRESENT;
            s = vf_vhdx_bat_set(st, idx, VX_PB_ZERO, err);
            vf_vhdx_bat_mark(st, idx);
        } else if (state == VX_PB_ZERO || (!st->has_parent && state != VX_PB_FULLY_PRESENT &&
                                           state != VX_PB_PARTIALLY_PRESENT)) {
            /* already reads as zeros and hides nothing */
        } else {
            for (uint64_t done = 0; !s && done < n; done += sizeof zero) {
                uint64_t m = n - done < sizeof zero ? n - done : sizeof zero;
                s = vx_write_block(st, voff + done, &(vf_wsrc){zero, NULL, 0}, m, err);
            }
        }
        voff += n;
        len -= n;
    }
    vx_note_alloc(img);
    return s;
}

/* Zeros over the payload blocks this file holds, punched out of their place (the entry, and
 * for a partially present block the sector bits, say they are there: the bits are published
 * at flush, as after a data write); a block it does not hold gets write_zeroes. */
vf_status vf_vhdx_zero_in_place(vf_image *img, uint64_t voff, uint64_t len, vf_error *err)
{
    vx_state *st = vx_st(img);
    vf_status s = vf_vhdx_begin_modify(st, true, img, err);
    while (!s && len) {
        uint64_t b, in, n = vx_piece(st, voff, len, &b, &in);
        uint64_t e = vf_vhdx_bat_get(st, vf_vhdx_bat_index(st, b));
        unsigned state = (unsigned)(e & VX_BAT_STATE_MASK);
        if (state == VX_PB_FULLY_PRESENT || state == VX_PB_PARTIALLY_PRESENT) {
            s = vf_io_punch(st->io, (e & VX_BAT_OFF_MASK) + in, n, err);
            if (!s && state == VX_PB_PARTIALLY_PRESENT)
                s = vf_vhdx_sb_set(st, b, in / st->lss, n / st->lss, err);
        } else {
            s = vf_vhdx_write_zeroes(img, voff, n, err);
        }
        voff += n;
        len -= n;
    }
    vx_note_alloc(img);
    return s;
}

vf_status vf_vhdx_reserve(vf_image *img, uint64_t nblocks, vf_error *err)
{
    vx_state *st = vx_st(img);
    uint64_t bytes, end, real;
    if (vf_mul_u64(nblocks, st->block_size, &bytes) || vf_add_u64(st->alloc_next, bytes, &end) ||
        end > 2 * VX_MAX_VSIZE)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "cannot reserve %" PRIu64 " blocks", nblocks);
    vf_status s = vf_vhdx_begin_modify(st, false, img, err);
    if (!s)
        s = vf_io_size(st->io, &real, err);
    if (!s && end > real && !st->reserved) {
        st->reserved = true; /* flush cuts what stays unused */
        st->reserve_base = real;
    }
    if (!s && end > real)
        s = vf_io_set_size(st->io, end, err);
    return s;
}

/* Collect the dirty BAT pages and the pending overlay pages into pages[]. */
static vf_status vx_collect(vx_state *st, vx_page **pages, uint8_t **store, size_t *n,
                            vf_error *err)
{
    size_t cnt = 0;
    for (size_t p = 0; p < st->bat_pages; p++)
        cnt += ((unsigned)st->bat_dirty[p / 8] >> (p % 8)) & 1u;
    size_t nb = cnt;
    for (size_t i = 0; i < st->novl; i++)
        cnt += st->ovl[i].pending;
    *n = cnt;
    *pages = calloc(cnt ? cnt : 1, sizeof **pages);
    *store = malloc((nb ? nb : 1) * VX_PAGE);
    if (!*pages || !*store)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating log pages");
    size_t k = 0;
    for (size_t p = 0; p < st->bat_pages; p++) {
        if (!(((unsigned)st->bat_dirty[p / 8] >> (p % 8)) & 1u))
            continue;
        uint8_t *pg = *store + k * VX_PAGE;
        for (size_t j = 0; j < VX_PAGE / 8; j++)
            vf_put_le64(pg + 8 * j, vf_vhdx_bat_get(st, p * (VX_PAGE / 8) + j));
        (*pages)[k].off = st->bat_off + (uint64_t)p * VX_PAGE;
        (*pages)[k++].data = pg;
    }
    for (size_t i = 0; i < st->novl; i++)
        if (st->ovl[i].pending) {
            (*pages)[k].off = st->ovl[i].off;
            (*pages)[k++].data = st->ovl[i].data;
        }
    return VF_OK;
}

/* After publishing: pending pages are on disk (or, in dirty mode, in the log for good). */
static void vx_published(vx_state *st)
{
    memset(st->bat_dirty, 0, (st->bat_pages + 7) / 8);
    size_t w = 0;
    for (size_t i = 0; i < st->novl; i++) {
        if (st->ovl[i].pending && !st->leave_dirty) {
            free(st->ovl[i].data);
            continue;
        }
        st->ovl[i].pending = false;
        st->ovl[w++] = st->ovl[i];
    }
    st->novl = w;
    st->seg_ok = false; /* records moved: the index is rebuilt on the next lookup */
    st->any_dirty = false;
}

vf_status vf_vhdx_flush(vf_image *img, vf_error *err)
{
    vx_state *st = vx_st(img);
    vf_status s = vf_vhdx_sync(st, err); /* data durable before the metadata naming it */
    vx_page *pages = NULL;
    uint8_t *store = NULL;
    size_t n = 0;
    if (!s)
        s = vx_collect(st, &pages, &store, &n, err);
    size_t per = vf_vhdx_log_max_pages(st);
    if (!s && n && per == 0)
        s = VF_FAIL(err, VF_E_UNSUPPORTED, st->hdr.log_offset, "the log is too small to write");
    for (size_t i = 0; !s && i < n; i += per)
        s = vf_vhdx_log_write(st, pages + i, n - i < per ? n - i : per, err);
    if (!s)
        vx_published(st);
    if (!s)
        s = vf_vhdx_trim_reserve(st, err);
    free(pages);
    free(store);
    return s;
}

vf_status vf_vhdx_set_id(vf_image *img, const uint8_t id[16], vf_error *err)
{
    vx_state *st = vx_st(img);
    vf_status s = vf_vhdx_settle(img, err);
    if (!s)
        s = vf_vhdx_flush(img, err);
    if (s)
        return s;
    vx_header h = st->hdr;
    if (!st->fwg_done && (s = vf_random_id(h.fwg, err)))
        return s;
    memcpy(h.dwg, id, 16);
    if ((s = vf_vhdx_header_update(st, &h, err)))
        return s;
    st->fwg_done = st->dwg_done = true;
    vf_vhdx_fill_info(img);
    return VF_OK;
}

/* The new locator item's key/value pairs from link (docs/formats/vhdx.md "Parent linkage": write
 * parent_linkage, relative_path with backslashes, absolute_win32_path when given). */
vf_status vf_vhdx_link_encode(const vf_parent_link *link, uint8_t **item, uint32_t *len,
                              vf_error *err)
{
    char guid[VF_GUID_TEXT_LEN], *rel = NULL;
    vf_guid_text(VF_FORMAT_VHDX, link->id, guid);
    const char *keys[3], *vals[3];
    size_t n = 0;
    keys[n] = "parent_linkage";
    vals[n++] = guid;
    unsigned mask = link->locators ? link->locators : VF_LOCATE_RELATIVE | VF_LOCATE_ABSOLUTE;
    if ((mask & VF_LOCATE_RELATIVE) && link->relative) {
        size_t l = strlen(link->relative); /* the encoder refuses what the format cannot hold */
        if (!(rel = malloc(l + 1)))
            return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "encoding the parent locator");
        for (size_t i = 0; i <= l; i++)
            rel[i] = link->relative[i] == '/' ? '\\' : link->relative[i];
        keys[n] = "relative_path";
        vals[n++] = rel;
    }
    if ((mask & VF_LOCATE_ABSOLUTE) && link->absolute) {
        keys[n] = "absolute_win32_path";
        vals[n++] = link->absolute;
    }
    vf_status st = n == 1 ? VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                                    "a VHDX parent link needs a relative or an absolute path")
                          : vf_vhdx_locator_encode(keys, vals, n, item, len, err);
    free(rel);
    return st;
}

/* Room the locator item may use: up to the next item or the region end, at most the 1 MiB
 * item limit (items[] offsets were bounded by the metadata region when parsed). */
uint64_t vf_vhdx_locator_room(const vx_state *st)
{
    const vx_item *it = &st->items[st->loc_item];
    uint64_t lim = st->meta_len;
    for (uint32_t i = 0; i < st->nitems; i++)
        if (st->items[i].off > it->off && st->items[i].off < lim)
            lim = st->items[i].off;
    lim -= it->off;
    return lim < VX_META_ITEM_MAX ? lim : VX_META_ITEM_MAX;
}

/* Stage bytes at file offset off as pending overlay pages (published by flush). */
vf_status vf_vhdx_stage(vx_state *st, uint64_t off, const uint8_t *data, size_t len, vf_error *err)
{
    uint8_t page[VX_PAGE];
    uint64_t end = off + len;
    for (uint64_t pg = off / VX_PAGE * VX_PAGE; pg < end; pg += VX_PAGE) {
        vf_status s = vf_vhdx_pread(st, page, VX_PAGE, pg, err);
        if (s)
            return s;
        uint64_t a = pg > off ? pg : off, b = pg + VX_PAGE < end ? pg + VX_PAGE : end;
        memcpy(page + (a - pg), data + (a - off), (size_t)(b - a));
        if ((s = vf_vhdx_overlay_add(st, pg, VX_PAGE, page, true, err)))
            return s;
    }
    return VF_OK;
}

vf_status vf_vhdx_set_parent(vf_image *img, const vf_parent_link *link, vf_error *err)
{
    vx_state *st = vx_st(img);
    uint8_t *item = NULL;
    uint32_t len = 0;
    vf_status s = vf_vhdx_link_encode(link, &item, &len, err);
    if (s)
        return s;
    if (st->loc_item == UINT32_MAX) {
        free(item);
        return VF_FAIL(err, VF_E_UNSUPPORTED, st->meta_off,
                       "the image has no parent locator item to rewrite");
    }
    uint64_t at = 0;
    if (!(s = vf_vhdx_locator_place(st, len, &at, err)))
        s = vf_vhdx_locator_replace(img, item, len, at, err);
    free(item);
    if (!s)
        s = vf_vhdx_flush(img, err);
    if (!s)
        vf_vhdx_fill_info(img);
    return s;
}
