/* vhd/header.c - the 1024-byte dynamic disk header with its eight parent locator entries:
 * parse (cookie, checksum, version, block size) and encode.
 * Layer: format/vhd. Called by vhd.c (open), create.c, identity.c, check.c; no I/O here.
 * Spec: VHD spec 1.0 "Dynamic Disk Header Format" (docs/formats/vhd.md "Dynamic header fields",
 * "Locator entries"). */
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

_Static_assert(VHD_HEADER_OFF_LOCATORS + VHD_LOCATORS * VHD_LOCATOR_ENTRY_SIZE ==
                   VHD_HEADER_OFF_RESERVED2,
               "locator table ends where the last reserved field starts");
_Static_assert(VHD_HEADER_OFF_RESERVED2 + VHD_HEADER_RESERVED2_BYTES == VHD_HEADER_SIZE,
               "dynamic header layout covers 1024 bytes");

vf_status vf_vhd_header_parse(const uint8_t *buf, vf_vhd_header *h, bool skip_csum, vf_error *err)
{
    vf_cur c = vf_cur_make(buf, VHD_HEADER_SIZE);
    vf_cur_bytes(&c, h->cookie, 8);
    h->data_offset = vf_cur_be64(&c);
    h->table_offset = vf_cur_be64(&c);
    h->version = vf_cur_be32(&c);
    h->max_table_entries = vf_cur_be32(&c);
    h->block_size = vf_cur_be32(&c);
    h->checksum = vf_cur_be32(&c);
    vf_cur_bytes(&c, h->parent_id, 16);
    h->parent_timestamp = vf_cur_be32(&c);
    h->reserved1 = vf_cur_be32(&c);
    vf_cur_bytes(&c, h->parent_name, VHD_PARENT_NAME_BYTES);
    for (size_t i = 0; i < VHD_LOCATORS; i++) {
        vf_vhd_ploc *l = &h->loc[i];
        l->code = vf_cur_be32(&c);
        l->space = vf_cur_be32(&c);
        l->len = vf_cur_be32(&c);
        l->reserved = vf_cur_be32(&c);
        l->off = vf_cur_be64(&c);
    }
    vf_cur_bytes(&c, h->reserved2, VHD_HEADER_RESERVED2_BYTES);
    if (c.overrun)
        return VF_FAIL(err, VF_E_TRUNCATED, VF_OFF_NONE, "dynamic disk header: short buffer");
    if (memcmp(h->cookie, "cxsparse", 8) != 0)
        return VF_FAIL(err, VF_E_FORMAT, VHD_HEADER_OFF_COOKIE,
                       "dynamic disk header: 'cookie' is not \"cxsparse\"");
    uint32_t want = vf_vhd_checksum(buf, VHD_HEADER_SIZE, VHD_HEADER_OFF_CHECKSUM);
    if (!skip_csum && want != h->checksum)
        return VF_FAIL(err, VF_E_FORMAT, VHD_HEADER_OFF_CHECKSUM,
                       "dynamic disk header: 'checksum' is 0x%08x, the bytes sum to 0x%08x",
                       h->checksum, want);
    if (h->version >> 16 != 1)
        return VF_FAIL(err, VF_E_UNSUPPORTED, VHD_HEADER_OFF_VERSION,
                       "dynamic disk header: 'header version' 0x%08x is not 1.x", h->version);
    /* 512 <= block size <= 2^31, a power of two: qemu's rule and the sector bitmap's. */
    if (h->block_size < VHD_SECTOR || !vf_is_pow2(h->block_size))
        return VF_FAIL(err, VF_E_FORMAT, VHD_HEADER_OFF_BLOCK_SIZE,
                       "dynamic disk header: 'block size' %u is not a power of two >= 512",
                       h->block_size);
    return VF_OK;
}

void vf_vhd_header_encode(vf_vhd_header *h, uint8_t *buf)
{
    memset(buf, 0, VHD_HEADER_SIZE);
    memcpy(buf + VHD_HEADER_OFF_COOKIE, h->cookie, 8);
    vf_put_be64(buf + VHD_HEADER_OFF_DATA_OFFSET, h->data_offset);
    vf_put_be64(buf + VHD_HEADER_OFF_TABLE_OFFSET, h->table_offset);
    vf_put_be32(buf + VHD_HEADER_OFF_VERSION, h->version);
    vf_put_be32(buf + VHD_HEADER_OFF_MAX_ENTRIES, h->max_table_entries);
    vf_put_be32(buf + VHD_HEADER_OFF_BLOCK_SIZE, h->block_size);
    memcpy(buf + VHD_HEADER_OFF_PARENT_ID, h->parent_id, 16);
    vf_put_be32(buf + VHD_HEADER_OFF_PARENT_TIMESTAMP, h->parent_timestamp);
    vf_put_be32(buf + VHD_HEADER_OFF_RESERVED1, h->reserved1);
    memcpy(buf + VHD_HEADER_OFF_PARENT_NAME, h->parent_name, VHD_PARENT_NAME_BYTES);
    for (size_t i = 0; i < VHD_LOCATORS; i++) {
        uint8_t *e = buf + VHD_HEADER_OFF_LOCATORS + i * VHD_LOCATOR_ENTRY_SIZE;
        vf_put_be32(e, h->loc[i].code);
        vf_put_be32(e + 4, h->loc[i].space);
        vf_put_be32(e + 8, h->loc[i].len);
        vf_put_be32(e + 12, h->loc[i].reserved);
        vf_put_be64(e + 16, h->loc[i].off);
    }
    memcpy(buf + VHD_HEADER_OFF_RESERVED2, h->reserved2, VHD_HEADER_RESERVED2_BYTES);
    h->checksum = vf_vhd_checksum(buf, VHD_HEADER_SIZE, VHD_HEADER_OFF_CHECKSUM);
    vf_put_be32(buf + VHD_HEADER_OFF_CHECKSUM, h->checksum);
}

uint64_t vf_vhd_ploc_space_bytes(const vf_vhd_ploc *l)
{
    /* The spec says sectors, producers store bytes; a value under 512 cannot be a byte count
     * of a 512-aligned reservation, so it is taken as sectors (ocaml-vhd does the same). */
    if (l->space < VHD_SECTOR)
        return (uint64_t)l->space * VHD_SECTOR;
    return l->space;
}
