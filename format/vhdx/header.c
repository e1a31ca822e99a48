/* vhdx/header.c - the file type identifier and the two VHDX headers: parse, pick the
 * current one, encode, and the header update protocol (write the non-current slot, flush).
 * Layer: format/vhdx. Called by vhdx.c (open), create.c, log.c and write.c.
 * Spec: MS-VHDX 2.1-2.2.2; docs/formats/vhdx.md "File identifier", "Headers". */
#include <inttypes.h>
#include <string.h>

#include "vhdx_int.h"

void vf_vhdx_header_parse(const uint8_t *buf, vx_header *h)
{
    vf_cur c = vf_cur_make(buf, VX_HEADER_SIZE);
    vf_cur_seek(&c, VX_HDR_OFF_SEQ);
    h->seq = vf_cur_le64(&c);
    vf_cur_bytes(&c, h->fwg, 16);
    vf_cur_bytes(&c, h->dwg, 16);
    vf_cur_bytes(&c, h->log_guid, 16);
    h->log_version = vf_cur_le16(&c);
    h->version = vf_cur_le16(&c);
    h->log_length = vf_cur_le32(&c);
    h->log_offset = vf_cur_le64(&c);
}

void vf_vhdx_header_encode(const vx_header *h, uint8_t buf[VX_HEADER_SIZE])
{
    memset(buf, 0, VX_HEADER_SIZE);
    memcpy(buf + VX_HDR_OFF_SIG, "head", 4);
    vf_put_le64(buf + VX_HDR_OFF_SEQ, h->seq);
    memcpy(buf + VX_HDR_OFF_FWG, h->fwg, 16);
    memcpy(buf + VX_HDR_OFF_DWG, h->dwg, 16);
    memcpy(buf + VX_HDR_OFF_LOGGUID, h->log_guid, 16);
    vf_put_le16(buf + VX_HDR_OFF_LOGVER, h->log_version);
    vf_put_le16(buf + VX_HDR_OFF_VERSION, h->version);
    vf_put_le32(buf + VX_HDR_OFF_LOGLEN, h->log_length);
    vf_put_le64(buf + VX_HDR_OFF_LOGOFF, h->log_offset);
    vf_vhdx_crc_store(buf, VX_HEADER_SIZE, VX_HDR_OFF_CRC);
}

/* Why slot i is unusable, or NULL when it is valid. */
static const char *vx_header_problem(const vx_state *st, const uint8_t *buf)
{
    if (memcmp(buf, "head", 4) != 0)
        return "signature is not 'head'";
    if (!st->skip_checksums &&
        vf_get_le(buf + VX_HDR_OFF_CRC, 4) != vf_vhdx_crc_skip(buf, VX_HEADER_SIZE, VX_HDR_OFF_CRC))
        return "CRC-32C mismatch";
    if (vf_get_le(buf + VX_HDR_OFF_VERSION, 2) != 1)
        return "'Version' is not 1";
    return NULL;
}

const char *vf_vhdx_header_problem(const vx_state *st, const uint8_t *buf)
{
    return vx_header_problem(st, buf);
}

/* The log must sit after the header area, 1 MiB aligned, without wrapping. */
static vf_status vx_header_validate(const vx_state *st, const vx_header *h, uint64_t off,
                                    vf_error *err)
{
    if (h->log_version != 0)
        return VF_FAIL(err, VF_E_UNSUPPORTED, off + VX_HDR_OFF_LOGVER,
                       "header 'LogVersion' is %u, only 0 is defined", h->log_version);
    if (h->log_length % VX_MIB || h->log_offset % VX_MIB ||
        (h->log_length && h->log_offset < VX_HEADER_AREA))
        return VF_FAIL(err, VF_E_FORMAT, off + VX_HDR_OFF_LOGLEN,
                       "header log at %" PRIu64 " length %" PRIu32
                       ": both must be multiples of 1 MiB, after the 1 MiB header area",
                       h->log_offset, h->log_length);
    if (h->log_offset > UINT64_MAX - h->log_length)
        return VF_FAIL(err, VF_E_FORMAT, off + VX_HDR_OFF_LOGOFF,
                       "header 'LogOffset' + 'LogLength' wraps");
    if (h->log_length == 0 && !vx_guid_is_zero(h->log_guid))
        return VF_FAIL(err, VF_E_CORRUPT, off + VX_HDR_OFF_LOGLEN,
                       "header has a 'LogGuid' but 'LogLength' is 0");
    (void)st;
    return VF_OK;
}

vf_status vf_vhdx_header_read(vx_state *st, vf_error *err)
{
    uint8_t buf[2][VX_HEADER_SIZE];
    const char *why[2];
    vf_status s;
    for (unsigned i = 0; i < 2; i++) {
        if ((s = vf_vhdx_pread_raw(st, buf[i], VX_HEADER_SIZE, VX_HEADER_SLOT_OFF(i), err)))
            return s;
        why[i] = vx_header_problem(st, buf[i]);
    }
    if (why[0] && why[1])
        return VF_FAIL(err, VF_E_FORMAT, VX_HEADER_SLOT_OFF(0),
                       "no valid header: header 1 %s, header 2 %s", why[0], why[1]);
    vx_header h[2];
    vf_vhdx_header_parse(buf[0], &h[0]);
    vf_vhdx_header_parse(buf[1], &h[1]);
    unsigned cur;
    if (why[0] || why[1]) {
        cur = why[0] ? 1 : 0;
    } else if (h[0].seq == h[1].seq) {
        /* Spec: corrupt. Disk2vhd writes two identical headers; accept only that case. */
        if (memcmp(buf[0] + 8, buf[1] + 8, VX_HEADER_SIZE - 8) != 0)
            return VF_FAIL(err, VF_E_CORRUPT, VX_HEADER_SLOT_OFF(1),
                           "both headers have 'SequenceNumber' %" PRIu64 " but different contents",
                           h[0].seq);
        cur = 0;
    } else {
        cur = h[1].seq > h[0].seq ? 1 : 0;
    }
    vf_status vs = vx_header_validate(st, &h[cur], VX_HEADER_SLOT_OFF(cur), err);
    if (vs)
        return vs;
    st->hdr = h[cur];
    st->cur_slot = cur;
    return VF_OK;
}

vf_status vf_vhdx_header_update(vx_state *st, const vx_header *h, vf_error *err)
{
    if (st->hdr.seq == UINT64_MAX)
        return VF_FAIL(err, VF_E_FORMAT, VX_HEADER_SLOT_OFF(st->cur_slot) + VX_HDR_OFF_SEQ,
                       "header 'SequenceNumber' %" PRIu64 " cannot be incremented", st->hdr.seq);
    vx_header nh = *h;
    nh.seq = st->hdr.seq + 1;
    uint8_t buf[VX_HEADER_SIZE];
    vf_vhdx_header_encode(&nh, buf);
    unsigned slot = st->cur_slot ^ 1u;
    vf_status s = vf_vhdx_pwrite(st, buf, sizeof buf, VX_HEADER_SLOT_OFF(slot), err);
    if (!s)
        s = vf_vhdx_sync(st, err);
    if (s)
        return s;
    st->hdr = nh;
    st->cur_slot = slot;
    return VF_OK;
}

/* Decode the creator (UTF-16LE, diagnostic only) as printable ASCII, '?' for the rest. */
static void vx_creator_text(const uint8_t *p, size_t units, char *out, size_t out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < units && o + 1 < out_len; i++) {
        uint16_t u = (uint16_t)vf_get_le(p + 2 * i, 2);
        if (u == 0)
            break;
        out[o++] = (u >= 0x20 && u < 0x7F) ? (char)u : '?';
    }
    out[o] = '\0';
}

vf_status vf_vhdx_fileid_check(vx_state *st, char *creator, size_t creator_len, vf_error *err)
{
    uint8_t buf[8 + 512];
    vf_status s = vf_vhdx_pread_raw(st, buf, sizeof buf, 0, err);
    if (s)
        return s;
    if (memcmp(buf, "vhdxfile", 8) != 0)
        return VF_FAIL(err, VF_E_FORMAT, 0, "file type identifier signature is not 'vhdxfile'");
    vx_creator_text(buf + 8, 256, creator, creator_len);
    return VF_OK;
}
