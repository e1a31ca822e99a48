/* vhd/footer.c - the 512-byte VHD hard disk footer: checksum, parse, encode, CHS geometry and
 * the printable creator string.
 * Layer: format/vhd. Called by vhd.c (open), create.c, identity.c and check.c; no I/O here.
 * Spec: VHD spec 1.0 "Hard Disk Footer Format" and appendix (docs/formats/vhd.md "Footer fields",
 * "Footer checksum", "CHS geometry"). */
#include <stdio.h>
#include <string.h>

#include "endian.h"
#include "vhd_int.h"

_Static_assert(VHD_FOOTER_OFF_RESERVED + VHD_FOOTER_RESERVED_BYTES == VHD_FOOTER_SIZE,
               "footer layout covers 512 bytes");

/* One's complement of the byte sum, the checksum field counted as zero (docs/formats/vhd.md "Footer
 * checksum"). */
uint32_t vf_vhd_checksum(const uint8_t *buf, size_t len, size_t csum_off)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < len; i++)
        if (i < csum_off || i >= csum_off + 4)
            sum += buf[i];
    return ~sum;
}

vf_status vf_vhd_footer_parse(const uint8_t *buf, vf_vhd_footer *f, bool skip_csum, vf_error *err)
{
    vf_cur c = vf_cur_make(buf, VHD_FOOTER_SIZE);
    vf_cur_bytes(&c, f->cookie, 8);
    f->features = vf_cur_be32(&c);
    f->version = vf_cur_be32(&c);
    f->data_offset = vf_cur_be64(&c);
    f->timestamp = vf_cur_be32(&c);
    vf_cur_bytes(&c, f->creator_app, 4);
    f->creator_version = vf_cur_be32(&c);
    f->creator_os = vf_cur_be32(&c);
    f->original_size = vf_cur_be64(&c);
    f->current_size = vf_cur_be64(&c);
    f->cylinders = vf_cur_be16(&c);
    f->heads = vf_cur_u8(&c);
    f->sectors_per_track = vf_cur_u8(&c);
    f->disk_type = vf_cur_be32(&c);
    f->checksum = vf_cur_be32(&c);
    vf_cur_bytes(&c, f->unique_id, 16);
    f->saved_state = vf_cur_u8(&c);
    vf_cur_bytes(&c, f->reserved, VHD_FOOTER_RESERVED_BYTES);
    if (c.overrun) /* cannot happen with a 512-byte buffer; kept as the parser pattern */
        return VF_FAIL(err, VF_E_TRUNCATED, VF_OFF_NONE, "hard disk footer: short buffer");
    if (memcmp(f->cookie, "conectix", 8) != 0)
        return VF_FAIL(err, VF_E_FORMAT, VHD_FOOTER_OFF_COOKIE,
                       "hard disk footer: 'cookie' is not \"conectix\"");
    uint32_t want = vf_vhd_checksum(buf, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM);
    if (!skip_csum && want != f->checksum)
        return VF_FAIL(err, VF_E_FORMAT, VHD_FOOTER_OFF_CHECKSUM,
                       "hard disk footer: 'checksum' is 0x%08x, the bytes sum to 0x%08x",
                       f->checksum, want);
    if (f->version >> 16 != 1)
        return VF_FAIL(err, VF_E_UNSUPPORTED, VHD_FOOTER_OFF_VERSION,
                       "hard disk footer: 'file format version' 0x%08x is not 1.x", f->version);
    if (f->disk_type != VF_DISK_FIXED && f->disk_type != VF_DISK_DYNAMIC &&
        f->disk_type != VF_DISK_DIFF)
        return VF_FAIL(err, VF_E_FORMAT, VHD_FOOTER_OFF_DISK_TYPE,
                       "hard disk footer: 'disk type' %u is unknown (expected 2 fixed, 3 "
                       "dynamic or 4 differencing)",
                       f->disk_type);
    return VF_OK;
}

void vf_vhd_footer_encode(vf_vhd_footer *f, uint8_t *buf)
{
    memset(buf, 0, VHD_FOOTER_SIZE);
    memcpy(buf + VHD_FOOTER_OFF_COOKIE, f->cookie, 8);
    vf_put_be32(buf + VHD_FOOTER_OFF_FEATURES, f->features);
    vf_put_be32(buf + VHD_FOOTER_OFF_VERSION, f->version);
    vf_put_be64(buf + VHD_FOOTER_OFF_DATA_OFFSET, f->data_offset);
    vf_put_be32(buf + VHD_FOOTER_OFF_TIMESTAMP, f->timestamp);
    memcpy(buf + VHD_FOOTER_OFF_CREATOR_APP, f->creator_app, 4);
    vf_put_be32(buf + VHD_FOOTER_OFF_CREATOR_VERSION, f->creator_version);
    vf_put_be32(buf + VHD_FOOTER_OFF_CREATOR_OS, f->creator_os);
    vf_put_be64(buf + VHD_FOOTER_OFF_ORIGINAL_SIZE, f->original_size);
    vf_put_be64(buf + VHD_FOOTER_OFF_CURRENT_SIZE, f->current_size);
    vf_put_be16(buf + VHD_FOOTER_OFF_CYLINDERS, f->cylinders);
    buf[VHD_FOOTER_OFF_HEADS] = f->heads;
    buf[VHD_FOOTER_OFF_SPT] = f->sectors_per_track;
    vf_put_be32(buf + VHD_FOOTER_OFF_DISK_TYPE, f->disk_type);
    memcpy(buf + VHD_FOOTER_OFF_UNIQUE_ID, f->unique_id, 16);
    buf[VHD_FOOTER_OFF_SAVED_STATE] = f->saved_state;
    memcpy(buf + VHD_FOOTER_OFF_RESERVED, f->reserved, VHD_FOOTER_RESERVED_BYTES);
    f->checksum = vf_vhd_checksum(buf, VHD_FOOTER_SIZE, VHD_FOOTER_OFF_CHECKSUM);
    vf_put_be32(buf + VHD_FOOTER_OFF_CHECKSUM, f->checksum);
}

const char *vf_vhd_footer_field_name(size_t off)
{
    static const struct {
        size_t end;
        const char *name;
    } fields[] = {
        {VHD_FOOTER_OFF_FEATURES, "cookie"},
        {VHD_FOOTER_OFF_VERSION, "features"},
        {VHD_FOOTER_OFF_DATA_OFFSET, "file format version"},
        {VHD_FOOTER_OFF_TIMESTAMP, "data offset"},
        {VHD_FOOTER_OFF_CREATOR_APP, "time stamp"},
        {VHD_FOOTER_OFF_CREATOR_VERSION, "creator application"},
        {VHD_FOOTER_OFF_CREATOR_OS, "creator version"},
        {VHD_FOOTER_OFF_ORIGINAL_SIZE, "creator host os"},
        {VHD_FOOTER_OFF_CURRENT_SIZE, "original size"},
        {VHD_FOOTER_OFF_CYLINDERS, "current size"},
        {VHD_FOOTER_OFF_DISK_TYPE, "disk geometry"},
        {VHD_FOOTER_OFF_CHECKSUM, "disk type"},
        {VHD_FOOTER_OFF_UNIQUE_ID, "checksum"},
        {VHD_FOOTER_OFF_SAVED_STATE, "unique id"},
        {VHD_FOOTER_OFF_RESERVED, "saved state"},
        {VHD_FOOTER_SIZE, "reserved"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (off < fields[i].end)
            return fields[i].name;
    return "reserved";
}

/* Spec appendix "CHS calculation", without qemu's rounding up: the result may describe fewer
 * sectors than size; current size stays authoritative (docs/formats/vhd.md). */
void vf_vhd_chs(uint64_t size, uint16_t *cyl, uint8_t *heads, uint8_t *spt)
{
    uint64_t total = size / VHD_SECTOR;
    const uint64_t max = 65535ull * 16 * 255;
    if (total > max)
        total = max;
    uint64_t s, h, ch;
    if (total >= 65535ull * 16 * 63) {
        s = 255;
        h = 16;
        ch = total / s;
    } else {
        s = 17;
        ch = total / s;
        h = (ch + 1023) / 1024;
        if (h < 4)
            h = 4;
        if (ch >= h * 1024 || h > 16) {
            s = 31;
            h = 16;
            ch = total / s;
        }
        if (ch >= h * 1024) {
            s = 63;
            h = 16;
            ch = total / s;
        }
    }
    *cyl = (uint16_t)(ch / h);
    *heads = (uint8_t)h;
    *spt = (uint8_t)s;
}

void vf_vhd_creator_text(const uint8_t app[4], char *out, size_t cap)
{
    size_t p = 0;
    out[0] = '\0';
    for (size_t i = 0; i < 4; i++) {
        char piece[5];
        uint8_t b = app[i];
        if (b == 0)
            snprintf(piece, sizeof piece, "\\0");
        else if (b == '\\')
            snprintf(piece, sizeof piece, "\\\\");
        else if (b >= 0x20 && b < 0x7f)
            snprintf(piece, sizeof piece, "%c", (char)b);
        else
            snprintf(piece, sizeof piece, "\\x%02x", (unsigned)b);
        size_t n = strlen(piece);
        if (p + n + 1 > cap)
            break;
        memcpy(out + p, piece, n + 1);
        p += n;
    }
}
