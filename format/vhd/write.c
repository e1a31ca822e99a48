/* vhd/write.c - writing a VHD: data in place, new blocks at the end of data, and the
 * crash-safe publication of metadata (BAT entries, bitmap bits, footers) at flush.
 * Layer: format/vhd. Reached through image.c (vf_image_write, _write_from, _write_zeroes,
 * _reserve, _flush), which has checked range, alignment and that the handle is writable and
 * not failed. Data comes from a buffer or, for write_from, straight from another file.
 * Order (docs/formats/vhd.md "Writing"): a valid footer sits at EOF at every
 * instant; data of new blocks is written before anything points at it; BAT entries and new
 * bits of existing blocks are written only after a sync, at flush or when the pending set is
 * full. */
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

#define VHD_ZERO_CHUNK 65536u
static const uint8_t vhd_zeros[VHD_ZERO_CHUNK];

/* len bytes of src (a buffer, another file, or zeros) at off. */
static vf_status vhd_put(vf_vhd *v, uint64_t off, const vf_wsrc *src, uint64_t len, vf_error *err)
{
    /* Data goes down in one request (the I/O layer loops over short counts); only zeros are
     * written in chunks, from a static buffer. */
    if (src->buf || src->io)
        return vf_wsrc_put(v->io, off, src, len, err);
    while (len) {
        size_t n = len < VHD_ZERO_CHUNK ? (size_t)len : VHD_ZERO_CHUNK;
        vf_status st = vf_io_write(v->io, vhd_zeros, n, off, err);
        if (st != VF_OK)
            return st;
        off += n;
        len -= n;
    }
    return VF_OK;
}

static const vf_wsrc vhd_zero_src = {NULL, NULL, 0};

static vf_status vhd_put_footer(vf_vhd *v, uint64_t off, vf_error *err)
{
    uint8_t raw[VHD_FOOTER_SIZE];
    vf_vhd_footer_encode(&v->footer, raw);
    return vf_io_write(v->io, raw, VHD_FOOTER_SIZE, off, err);
}

vf_status vf_vhd_alloc_space(vf_vhd *v, uint64_t len, uint64_t *off, vf_error *err)
{
    uint64_t end, at = vf_vhd_skip_fit(v, v->data_end, len);
    if (vf_add_u64(at, len, &end) || (end - len) / VHD_SECTOR >= VHD_BAT_UNUSED)
        return VF_FAIL(err, VF_E_LIMIT, at,
                       "no room for %llu more bytes: VHD block offsets end at 2 TiB",
                       (unsigned long long)len);
    if (end > v->footer_off) {
        /* Move the trailing footer past all space announced by vf_image_reserve, once, and
         * make it durable before the old footer is overwritten by data. */
        uint64_t stride = v->block_total + (v->packed ? 0 : VHD_DATA_ALIGN - VHD_SECTOR);
        uint64_t want = v->reserve_blocks * stride, foot;
        if (want < len || vf_add_u64(at, want, &foot) || foot / VHD_SECTOR >= VHD_BAT_UNUSED)
            foot = end;
        vf_status st = vhd_put_footer(v, foot, err);
        if (st != VF_OK) {
            /* A short or failed write may have left part of a footer at the new EOF: cut the
             * file back so the old footer ends it again (best effort; the error stands). */
            vf_io_set_size(v->io, v->file_size, NULL);
            return st;
        }
        if ((st = vf_io_sync(v->io, err)) != VF_OK)
            return st;
        v->footer_off = foot;
        v->footer_len = VHD_FOOTER_SIZE;
        v->file_size = foot + VHD_FOOTER_SIZE;
        v->reserve_blocks = 0;
        v->img->info.file_size = v->file_size;
    }
    *off = at;
    v->data_end = end;
    return VF_OK;
}

/* After a failed (possibly short) BAT sector write: put back what the sector held on disk,
 * i.e. the in-memory entries with this batch's new blocks still unallocated (best effort;
 * a half-written entry could otherwise point anywhere). */
static void vhd_restore_bat_sector(vf_vhd *v, uint32_t s, size_t n)
{
    uint8_t sec[VHD_SECTOR];
    vf_vhd_bat_encode_sector(&v->bat, s, sec);
    uint64_t first = (uint64_t)s * (VHD_SECTOR / 4);
    for (size_t i = 0; i < v->npend; i++) {
        const vf_vhd_pending *p = &v->pend[i];
        if (p->is_new && p->block >= first && p->block < first + VHD_SECTOR / 4)
            vf_put_be32(sec + (p->block - first) * 4, VHD_BAT_UNUSED);
    }
    vf_io_write(v->io, sec, n, v->hdr.table_offset + (uint64_t)s * VHD_SECTOR, NULL);
}

/* The bitmaps of the pending blocks that are new (is_new) or not, as asked, whose bits changed
 * since they were last written. */
static vf_status vhd_put_bitmaps(vf_vhd *v, bool is_new, vf_error *err)
{
    for (size_t i = 0; i < v->npend; i++) {
        vf_vhd_pending *p = &v->pend[i];
        if (p->is_new != is_new || !p->bits_dirty)
            continue;
        vf_status st = vf_io_write(v->io, p->bitmap, v->bitmap_bytes,
                                   (uint64_t)vf_vhd_bat_get(&v->bat, p->block) * VHD_SECTOR, err);
        if (st != VF_OK)
            return st;
        if (is_new)
            p->bits_dirty = false;
    }
    return VF_OK;
}

/* Publish: data and the final bitmaps of new blocks durable, then BAT sectors and bitmaps of
 * existing blocks, durable; then footers. trim (explicit flushes only) gives back unused
 * reserved space; an automatic publish keeps it. */
static vf_status vhd_publish(vf_vhd *v, bool trim, vf_error *err)
{
    /* New blocks: their final bitmaps are durable with their data, before any BAT entry
     * points at them. */
    vf_status st = vhd_put_bitmaps(v, true, err);
    if (st == VF_OK)
        st = vf_io_sync(v->io, err);
    if (st != VF_OK || v->footer.disk_type == VF_DISK_FIXED)
        return st;
    if (v->npend) {
        if ((st = vhd_put_bitmaps(v, false, err)) != VF_OK)
            return st;
        uint64_t bat_raw = (uint64_t)v->entries * 4;
        for (uint32_t s = 0; s < v->bat_sectors; s++) {
            if (!v->bat_dirty[s])
                continue;
            uint8_t sec[VHD_SECTOR];
            vf_vhd_bat_encode_sector(&v->bat, s, sec);
            uint64_t at = (uint64_t)s * VHD_SECTOR;
            /* Only the entries' bytes: the padding may not be ours to overwrite. */
            size_t n = bat_raw - at < VHD_SECTOR ? (size_t)(bat_raw - at) : VHD_SECTOR;
            if ((st = vf_io_write(v->io, sec, n, v->hdr.table_offset + at, err)) != VF_OK) {
                vhd_restore_bat_sector(v, s, n);
                return st;
            }
            v->bat_dirty[s] = 0;
        }
        if ((st = vf_io_sync(v->io, err)) != VF_OK)
            return st;
        v->npend = 0;
        v->cache_valid = false;
    }
    uint64_t high = vf_vhd_data_high(v); /* past data_end: blocks a reclaim steps over */
    if (trim && v->footer_off > high) {
        /* Unused reservation: a footer at the true end first, then cut the file. Until the
         * cut, the old footer at EOF is still valid. */
        if ((st = vhd_put_footer(v, high, err)) != VF_OK ||
            (st = vf_io_sync(v->io, err)) != VF_OK ||
            (st = vf_io_set_size(v->io, high + VHD_FOOTER_SIZE, err)) != VF_OK ||
            (st = vf_io_sync(v->io, err)) != VF_OK)
            return st;
        v->footer_off = high;
        v->file_size = high + VHD_FOOTER_SIZE;
        v->img->info.file_size = v->file_size;
    }
    if (v->footer_dirty || v->copy_differs) {
        if ((st = vhd_put_footer(v, 0, err)) != VF_OK || (st = vf_io_sync(v->io, err)) != VF_OK)
            return st;
        v->footer_dirty = false;
        v->copy_differs = false;
    }
    return VF_OK;
}

vf_status vf_vhd_flush(vf_image *img, vf_error *err)
{
    return vhd_publish(img->priv, true, err);
}

vf_status vf_vhd_reserve(vf_image *img, uint64_t nblocks, vf_error *err)
{
    (void)err;
    vf_vhd *v = img->priv;
    if (v->footer.disk_type == VF_DISK_FIXED)
        return VF_OK;
    /* Never more than the table can hold, so the product below cannot overflow. */
    v->reserve_blocks = nblocks < v->entries ? nblocks : v->entries;
    return VF_OK;
}

static vf_vhd_pending *vhd_find_pending(vf_vhd *v, uint32_t b)
{
    for (size_t i = 0; i < v->npend; i++)
        if (v->pend[i].block == b)
            return &v->pend[i];
    return NULL;
}

/* The next pending slot (publishing the batch first when full); not counted until used. */
static vf_status vhd_pending_slot(vf_vhd *v, vf_vhd_pending **out, vf_error *err)
{
    if (v->npend >= v->pend_limit) {
        vf_status st = vhd_publish(v, false, err);
        if (st != VF_OK)
            return st;
    }
    vf_vhd_pending *p = &v->pend[v->npend];
    if (!p->bitmap && !(p->bitmap = malloc(v->bitmap_bytes)))
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "sector bitmap: no memory");
    *out = p;
    return VF_OK;
}

/* Space for a new block. Unless the handle is packed, padding goes before the bitmap so that
 * the data after it starts on a VHD_DATA_ALIGN boundary (BAT entries are sector offsets, so
 * any reader follows); the padding is nobody's, and check does not call it orphaned. */
static vf_status vhd_alloc_block(vf_vhd *v, uint64_t *off, vf_error *err)
{
    uint64_t pad = 0;
    if (!v->packed) {
        uint64_t data =
            vf_vhd_skip_fit(v, v->data_end, v->block_total + VHD_DATA_ALIGN) + v->bitmap_bytes;
        pad = (VHD_DATA_ALIGN - data % VHD_DATA_ALIGN) % VHD_DATA_ALIGN;
        if (data - v->bitmap_bytes != v->data_end)
            v->data_end = data - v->bitmap_bytes; /* the free run starts past a named range */
    }
    vf_status st = vf_vhd_alloc_space(v, pad + v->block_total, off, err);
    if (st == VF_OK)
        *off += pad;
    return st;
}

/* A block not in the file yet: bitmap and data at the end of data, BAT entry pending. */
static vf_status vhd_new_block(vf_vhd *v, uint32_t b, uint32_t inb, const vf_wsrc *src, uint32_t n,
                               vf_error *err)
{
    vf_vhd_pending *p = NULL;
    uint64_t off;
    /* The entry's page first: once space is claimed, recording the entry cannot fail. */
    vf_status st = vf_vhd_bat_prepare(&v->bat, b, err);
    if (st == VF_OK)
        st = vhd_pending_slot(v, &p, err);
    if (st == VF_OK)
        st = vhd_alloc_block(v, &off, err);
    if (st != VF_OK)
        return st;
    bool dynamic = v->footer.disk_type == VF_DISK_DYNAMIC;
    memset(p->bitmap, 0, v->bitmap_bytes);
    /* Dynamic: zero-filled block, every bit set (qemu's way); differencing: only the
     * sectors written, so the rest keeps falling through to the parent. */
    if (dynamic)
        vf_vhd_bitmap_set(p->bitmap, 0, v->spb);
    else
        vf_vhd_bitmap_set(p->bitmap, inb / VHD_SECTOR, n / VHD_SECTOR);
    uint64_t data = off + v->bitmap_bytes;
    if ((st = vf_io_write(v->io, p->bitmap, v->bitmap_bytes, off, err)) != VF_OK)
        return st;
    if (dynamic && (st = vhd_put(v, data, &vhd_zero_src, inb, err)) != VF_OK)
        return st;
    if ((st = vhd_put(v, data + inb, src, n, err)) != VF_OK)
        return st;
    if (dynamic &&
        (st = vhd_put(v, data + inb + n, &vhd_zero_src, v->block_size - inb - n, err)) != VF_OK)
        return st;
    p->block = b;
    p->is_new = true;
    p->bits_dirty = false;
    v->npend++;
    vf_vhd_bat_set(&v->bat, b, (uint32_t)(off / VHD_SECTOR)); /* < 2^32 - 1: alloc_space */
    v->bat_dirty[b / (VHD_SECTOR / 4)] = 1;
    v->img->info.allocated_blocks++;
    return VF_OK;
}

static bool vhd_all_set(const uint8_t *bm, uint32_t k, uint32_t cnt)
{
    bool bit;
    return vf_vhd_bitmap_run(bm, k, k + cnt, &bit) == cnt && bit;
}

/* A block already in the file: data in place, then new bits (published after a sync). */
static vf_status vhd_old_block(vf_vhd *v, uint32_t b, uint32_t inb, const vf_wsrc *src, uint32_t n,
                               vf_error *err)
{
    uint64_t boff = (uint64_t)vf_vhd_bat_get(&v->bat, b) * VHD_SECTOR;
    vf_status st = vhd_put(v, boff + v->bitmap_bytes + inb, src, n, err);
    if (st != VF_OK)
        return st;
    uint32_t k = inb / VHD_SECTOR, cnt = n / VHD_SECTOR;
    vf_vhd_pending *p = vhd_find_pending(v, b);
    if (p) {
        if (vhd_all_set(p->bitmap, k, cnt))
            return VF_OK;
        /* New or not, the bitmap goes to disk once, when the batch is published: writing a
         * new block's bitmap on every write would cost a bitmap per run (docs/bounds.md
         * "What a merge writes"). */
        vf_vhd_bitmap_set(p->bitmap, k, cnt);
        p->bits_dirty = true;
        return VF_OK;
    }
    const uint8_t *bm;
    if ((st = vf_vhd_bitmap_of(v, b, &bm, err)) != VF_OK)
        return st;
    if (vhd_all_set(bm, k, cnt))
        return VF_OK;
    if ((st = vhd_pending_slot(v, &p, err)) != VF_OK)
        return st;
    /* The slot may have published the batch (cache dropped): fetch the bitmap again. */
    if ((st = vf_vhd_bitmap_of(v, b, &bm, err)) != VF_OK)
        return st;
    memcpy(p->bitmap, bm, v->bitmap_bytes);
    vf_vhd_bitmap_set(p->bitmap, k, cnt);
    p->block = b;
    p->is_new = false;
    p->bits_dirty = true;
    v->npend++;
    return VF_OK;
}

/* src is advanced as the range is written (a copy of the caller's). */
static vf_status vhd_write_range(vf_vhd *v, uint64_t voff, vf_wsrc src, uint64_t len, bool zeroes,
                                 vf_error *err)
{
    if (v->footer.disk_type == VF_DISK_FIXED)
        return vhd_put(v, voff, &src, len, err);
    uint64_t bs = v->block_size;
    while (len) {
        uint32_t b = (uint32_t)(voff / bs); /* < entries: checked at open */
        uint32_t inb = (uint32_t)(voff % bs);
        uint32_t n = (uint32_t)(len < bs - inb ? len : bs - inb);
        vf_status st = VF_OK;
        if (vf_vhd_bat_get(&v->bat, b) != VHD_BAT_UNUSED)
            st = vhd_old_block(v, b, inb, &src, n, err);
        else if (!(zeroes && v->footer.disk_type == VF_DISK_DYNAMIC))
            st = vhd_new_block(v, b, inb, &src, n, err);
        /* else: an unallocated dynamic block already reads as zeros */
        if (st != VF_OK)
            return st;
        voff += n;
        len -= n;
        vf_wsrc_skip(&src, n);
    }
    return VF_OK;
}

vf_status vf_vhd_write(vf_image *img, uint64_t voff, const void *buf, size_t len, vf_error *err)
{
    return vhd_write_range(img->priv, voff, (vf_wsrc){buf, NULL, 0}, len, false, err);
}

vf_status vf_vhd_write_from(vf_image *img, uint64_t voff, vf_io *src, uint64_t src_off, size_t len,
                            vf_error *err)
{
    return vhd_write_range(img->priv, voff, (vf_wsrc){NULL, src, src_off}, len, false, err);
}

vf_status vf_vhd_write_zeroes(vf_image *img, uint64_t voff, uint64_t len, vf_error *err)
{
    return vhd_write_range(img->priv, voff, vhd_zero_src, len, true, err);
}
