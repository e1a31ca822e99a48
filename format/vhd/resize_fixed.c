/* vhd/resize_fixed.c - changing a fixed VHD's virtual size in place. A fixed VHD is its data
 * followed by one footer, so the footer must move; the order keeps every intermediate file a
 * valid fixed VHD showing the old disk or the new one (a fixed footer may lie past its
 * 'current size': readers show 'current size' bytes). Growing: the old footer copied to the
 * new end, the bytes between the old size and the new end zeroed, then the new footer over
 * the copy. Shrinking (only when the bytes past the new end are zeros): the new footer over
 * the old one, then at the new end, then the file cut after it. Each step is synced. The
 * same size again finishes a shrink that stopped after its first step.
 * Layer: format/vhd, called from resize.c. Spec: docs/formats/vhd.md "Resizing". */
#include <inttypes.h>
#include <string.h>

#include "vhd_int.h"

static const uint8_t vhd_zero[64 * 1024];

/* The first non-zero byte in [from, to), or UINT64_MAX (reads bounded by the caller: to is at
 * most the footer's offset, which lies in the file). */
static vf_status vhd_first_nonzero(vf_io *io, uint64_t from, uint64_t to, uint64_t *at,
                                   vf_error *err)
{
    uint8_t buf[sizeof vhd_zero];
    *at = UINT64_MAX;
    for (uint64_t off = from; off < to; off += sizeof buf) {
        size_t n = to - off < sizeof buf ? (size_t)(to - off) : sizeof buf;
        vf_status st = vf_io_read(io, buf, n, off, err);
        if (st != VF_OK)
            return st;
        if (memcmp(buf, vhd_zero, n) == 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (buf[i]) {
                *at = off + i;
                return VF_OK;
            }
    }
    return VF_OK;
}

vf_status vf_vhd_fixed_resize_check(const vf_vhd *v, uint64_t new_size, vf_error *err)
{
    if (v->footer_len != VHD_FOOTER_SIZE)
        return VF_FAIL(err, VF_E_UNSUPPORTED, v->footer_off,
                       "a fixed VHD with a legacy 511-byte footer is not resized (rewrite its "
                       "footer first, e.g. with set-id)");
    uint64_t old = v->footer.current_size, at;
    if (new_size >= old)
        return VF_OK;
    vf_status st = vhd_first_nonzero(v->io, new_size, old, &at, err);
    if (st == VF_OK && at != UINT64_MAX)
        return VF_FAIL(err, VF_E_UNSUPPORTED, at,
                       "cannot shrink to %" PRIu64 " bytes: byte %" PRIu64
                       " past the new end is not zero",
                       new_size, at);
    return st;
}

/* The footer with size `size`, written at `off` and synced. */
static vf_status vhd_fixed_footer(vf_vhd *v, uint64_t size, uint64_t off, vf_error *err)
{
    vf_vhd_footer f = v->footer;
    f.current_size = size;
    vf_vhd_chs(size, &f.cylinders, &f.heads, &f.sectors_per_track);
    uint8_t raw[VHD_FOOTER_SIZE];
    vf_vhd_footer_encode(&f, raw);
    vf_status st = vf_io_write(v->io, raw, sizeof raw, off, err);
    return st == VF_OK ? vf_io_sync(v->io, err) : st;
}

static vf_status vhd_fixed_zero(vf_vhd *v, uint64_t from, uint64_t to, vf_error *err)
{
    vf_status st = VF_OK;
    for (uint64_t off = from; st == VF_OK && off < to; off += sizeof vhd_zero) {
        size_t n = to - off < sizeof vhd_zero ? (size_t)(to - off) : sizeof vhd_zero;
        st = vf_io_write(v->io, vhd_zero, n, off, err);
    }
    return st == VF_OK ? vf_io_sync(v->io, err) : st;
}

static vf_status vhd_fixed_cut(vf_vhd *v, uint64_t size, vf_error *err)
{
    vf_status st = vf_io_set_size(v->io, size, err);
    return st == VF_OK ? vf_io_sync(v->io, err) : st;
}

/* Old disk throughout, until the last step shows the new one. */
static vf_status vhd_fixed_grow(vf_vhd *v, uint64_t new_size, vf_error *err)
{
    uint64_t old = v->footer.current_size, fo = v->footer_off;
    uint64_t zero_end = fo + VHD_FOOTER_SIZE < new_size ? fo + VHD_FOOTER_SIZE : new_size;
    vf_status st = VF_OK;
    if (new_size != fo)
        st = vhd_fixed_footer(v, old, new_size, err); /* the old footer at the new end */
    if (st != VF_OK && new_size > fo)                 /* a short extending write: cut it off */
        (void)vf_io_set_size(v->io, fo + VHD_FOOTER_SIZE, NULL);
    if (st == VF_OK && new_size < fo)
        st = vhd_fixed_cut(v, new_size + VHD_FOOTER_SIZE, err);
    if (st == VF_OK)
        st = vhd_fixed_zero(v, old, zero_end, err); /* slack and the old footer */
    return st == VF_OK ? vhd_fixed_footer(v, new_size, new_size, err) : st;
}

/* New disk from the first step on: the bytes it drops were checked to be zeros. */
static vf_status vhd_fixed_shrink(vf_vhd *v, uint64_t new_size, vf_error *err)
{
    vf_status st = vhd_fixed_footer(v, new_size, v->footer_off, err);
    if (st == VF_OK)
        st = vhd_fixed_footer(v, new_size, new_size, err);
    return st == VF_OK ? vhd_fixed_cut(v, new_size + VHD_FOOTER_SIZE, err) : st;
}

/* The same size again: a footer left past the data with only zeros before it, or a copy of
 * itself at the end of the data then zeros (a shrink stopped after its first or second
 * step), moves to the end of the data, byte for byte as it is (its geometry included), and
 * the file is cut after it; anything else is left as it is. */
static vf_status vhd_fixed_finish(vf_vhd *v, vf_error *err)
{
    uint64_t size = v->footer.current_size, at;
    if (v->footer_off <= size || v->footer_len != VHD_FOOTER_SIZE)
        return VF_OK;
    uint8_t mine[VHD_FOOTER_SIZE], there[VHD_FOOTER_SIZE];
    vf_status st = vf_io_read(v->io, mine, sizeof mine, v->footer_off, err);
    if (st == VF_OK)
        st = vf_io_read(v->io, there, sizeof there, size, err);
    if (st != VF_OK)
        return st;
    uint64_t from = memcmp(mine, there, sizeof mine) == 0 ? size + VHD_FOOTER_SIZE : size;
    if ((st = vhd_first_nonzero(v->io, from, v->footer_off, &at, err)) != VF_OK || at != UINT64_MAX)
        return st;
    if ((st = vf_io_write(v->io, mine, sizeof mine, size, err)) == VF_OK)
        st = vf_io_sync(v->io, err);
    return st == VF_OK ? vhd_fixed_cut(v, size + VHD_FOOTER_SIZE, err) : st;
}

vf_status vf_vhd_fixed_resize(vf_vhd *v, uint64_t new_size, vf_error *err)
{
    if (new_size == v->footer.current_size)
        return vhd_fixed_finish(v, err);
    return new_size > v->footer.current_size ? vhd_fixed_grow(v, new_size, err)
                                             : vhd_fixed_shrink(v, new_size, err);
}
