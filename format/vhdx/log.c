/* vhdx/log.c - the VHDX metadata log: find the active sequence, validate every entry and
 * descriptor of it, replay it (into the in-memory overlay for read-only opens, onto the file
 * before any write), and write new entries (the writer protocol of docs/formats/vhdx.md "The log").
 * Layer: format/vhdx. Called by vhdx.c (open) and write.c (flush).
 * Spec: MS-VHDX 2.3 (log); docs/formats/vhdx.md "Log entries". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

enum {
    VX_LE_OFF_SIG = 0,
    VX_LE_OFF_CRC = 4,
    VX_LE_OFF_LEN = 8,
    VX_LE_OFF_TAIL = 12,
    VX_LE_OFF_SEQ = 16,
    VX_LE_OFF_COUNT = 24,
    VX_LE_OFF_GUID = 32,
    VX_LE_OFF_FLUSHED = 48,
    VX_LE_OFF_LAST = 56,
    VX_LE_HDR = 64,
    VX_DESC_SIZE = 32,
};

typedef struct vx_entry {
    uint32_t len, tail;
    uint64_t seq;
    uint32_t count;
    uint64_t flushed, last;
    uint64_t dsec; /* descriptor sectors */
} vx_entry;

uint64_t vf_vhdx_log_entry_bytes(size_t ndata)
{
    uint64_t dsec = ((uint64_t)ndata + 2 + 127) / 128;
    return (dsec + ndata) * VX_PAGE;
}

size_t vf_vhdx_log_max_pages(const vx_state *st)
{
    size_t n = st->hdr.log_length / VX_PAGE;
    while (n && vf_vhdx_log_entry_bytes(n) > st->hdr.log_length)
        n--;
    return n;
}

/* Copy the entry starting at pos (wrapping at the end of the log) into tmp and validate it.
 * Returns NULL when valid, else why not. */
static const char *vx_entry_load(const vx_state *st, const uint8_t *log, uint32_t log_len,
                                 uint32_t pos, uint8_t *tmp, vx_entry *e)
{
    const uint8_t *h = log + pos;
    if (memcmp(h, "loge", 4) != 0)
        return "signature is not 'loge'";
    e->len = (uint32_t)vf_get_le(h + VX_LE_OFF_LEN, 4);
    e->tail = (uint32_t)vf_get_le(h + VX_LE_OFF_TAIL, 4);
    e->seq = vf_get_le(h + VX_LE_OFF_SEQ, 8);
    e->count = (uint32_t)vf_get_le(h + VX_LE_OFF_COUNT, 4);
    e->flushed = vf_get_le(h + VX_LE_OFF_FLUSHED, 8);
    e->last = vf_get_le(h + VX_LE_OFF_LAST, 8);
    if (memcmp(h + VX_LE_OFF_GUID, st->hdr.log_guid, 16) != 0)
        return "'LogGuid' differs from the header's";
    if (e->len == 0 || e->len % VX_PAGE || e->len > log_len)
        return "'EntryLength' is not a non-zero multiple of 4 KiB within the log";
    if (e->tail % VX_PAGE || e->tail >= log_len)
        return "'Tail' is not a 4 KiB multiple inside the log";
    if (e->seq == 0)
        return "'SequenceNumber' is 0";
    e->dsec = ((uint64_t)e->count + 2 + 127) / 128; /* no overflow: count < 2^32 */
    if (e->dsec * VX_PAGE > e->len)
        return "'DescriptorCount' does not fit in 'EntryLength'";
    uint32_t first = log_len - pos < e->len ? log_len - pos : e->len;
    memcpy(tmp, log + pos, first);
    memcpy(tmp + first, log, e->len - first);
    if (!st->skip_checksums &&
        vf_get_le(tmp + VX_LE_OFF_CRC, 4) != vf_vhdx_crc_skip(tmp, e->len, VX_LE_OFF_CRC))
        return "CRC-32C mismatch";
    uint64_t data_idx = 0;
    for (uint32_t k = 0; k < e->count; k++) {
        const uint8_t *d = tmp + VX_LE_HDR + (uint64_t)VX_DESC_SIZE * k;
        bool is_zero = !memcmp(d, "zero", 4);
        if (!is_zero && memcmp(d, "desc", 4) != 0)
            return "a descriptor signature is neither 'zero' nor 'desc'";
        if (vf_get_le(d + 24, 8) != e->seq)
            return "a descriptor's 'SequenceNumber' differs from the entry's";
        if (vf_get_le(d + 16, 8) % VX_PAGE)
            return "a descriptor's 'FileOffset' is not a multiple of 4 KiB";
        if (is_zero) {
            uint64_t zl = vf_get_le(d + 8, 8);
            if (zl == 0 || zl % VX_PAGE)
                return "a zero descriptor's 'ZeroLength' is not a non-zero multiple of 4 KiB";
            continue;
        }
        uint64_t at = (e->dsec + data_idx++) * VX_PAGE;
        if (at + VX_PAGE > e->len)
            return "data sectors run past 'EntryLength'";
        const uint8_t *ds = tmp + at;
        if (memcmp(ds, "data", 4) != 0)
            return "a data sector signature is not 'data'";
        if (vf_get_le(ds + 4, 4) != (e->seq >> 32) || vf_get_le(ds + 4092, 4) != (uint32_t)e->seq)
            return "a data sector's sequence halves differ from the entry's";
    }
    return NULL;
}

/* A descriptor may only touch 4 KiB-aligned space after the header area, outside the log and
 * inside the size the file had or was about to get. */
static vf_status vx_desc_target(const vx_state *st, uint64_t off, uint64_t len, uint64_t limit,
                                uint64_t where, vf_error *err)
{
    if (!vf_range_ok(off, len, limit))
        return VF_FAIL(err, VF_E_CORRUPT, where,
                       "log descriptor writes %" PRIu64 " bytes at %" PRIu64
                       ", past the file end %" PRIu64,
                       len, off, limit);
    if (off < VX_HEADER_AREA)
        return VF_FAIL(err, VF_E_CORRUPT, where,
                       "log descriptor aims at %" PRIu64 ", inside the header area", off);
    if (vf_ranges_overlap(off, len, st->hdr.log_offset, st->hdr.log_length))
        return VF_FAIL(err, VF_E_CORRUPT, where,
                       "log descriptor aims at %" PRIu64 ", inside the log itself", off);
    return VF_OK;
}

static vf_status vx_write_zeros(vx_state *st, uint64_t off, uint64_t len, vf_error *err)
{
    static const uint8_t zero[VX_PAGE];
    for (uint64_t done = 0; done < len; done += VX_PAGE) {
        vf_status s = vf_vhdx_pwrite(st, zero, VX_PAGE, off + done, err);
        if (s)
            return s;
    }
    return VF_OK;
}

/* Apply one validated entry (in tmp): check every target, then write or overlay it. */
static vf_status vx_entry_apply(vx_state *st, const uint8_t *tmp, const vx_entry *e, uint64_t where,
                                uint64_t limit, bool to_disk, bool check_only, vf_error *err)
{
    uint64_t data_idx = 0;
    uint8_t page[VX_PAGE];
    for (uint32_t k = 0; k < e->count; k++) {
        const uint8_t *d = tmp + VX_LE_HDR + (uint64_t)VX_DESC_SIZE * k;
        uint64_t off = vf_get_le(d + 16, 8);
        bool is_zero = !memcmp(d, "zero", 4);
        uint64_t len = is_zero ? vf_get_le(d + 8, 8) : VX_PAGE;
        vf_status s = vx_desc_target(st, off, len, limit, where, err);
        if (s)
            return s;
        if (check_only) {
            data_idx += !is_zero;
            continue;
        }
        if (!is_zero) {
            const uint8_t *ds = tmp + (e->dsec + data_idx++) * VX_PAGE;
            memcpy(page, d + 8, 8);
            memcpy(page + 8, ds + 8, 4084);
            memcpy(page + 4092, d + 4, 4);
        }
        if (to_disk)
            s = is_zero ? vx_write_zeros(st, off, len, err)
                        : vf_vhdx_pwrite(st, page, VX_PAGE, off, err);
        else
            s = vf_vhdx_overlay_add(st, off, len, is_zero ? NULL : page, false, err);
        if (s)
            return s;
    }
    return VF_OK;
}

/* The valid entry with the highest sequence number, or *found false. */
static void vx_find_head(const vx_state *st, const uint8_t *log, uint32_t log_len, uint8_t *tmp,
                         uint32_t *head_pos, vx_entry *head, bool *found)
{
    *found = false;
    for (uint32_t pos = 0; pos < log_len; pos += VX_PAGE) {
        vx_entry e;
        if (vx_entry_load(st, log, log_len, pos, tmp, &e) == NULL &&
            (!*found || e.seq > head->seq)) {
            *found = true;
            *head = e;
            *head_pos = pos;
        }
    }
}

static vf_status vx_replay_sequence(vx_state *st, const uint8_t *log, uint32_t log_len,
                                    uint8_t *tmp, uint32_t head_pos, const vx_entry *head,
                                    bool to_disk, vf_error *err)
{
    uint64_t lo = st->hdr.log_offset;
    if (st->file_size < head->flushed)
        return VF_FAIL(err, VF_E_TRUNCATED, lo + head_pos + VX_LE_OFF_FLUSHED,
                       "log entry says %" PRIu64 " bytes were durable ('FlushedFileOffset'), "
                       "the file has %" PRIu64,
                       head->flushed, st->file_size);
    if (head->last > 2 * VX_MAX_VSIZE)
        return VF_FAIL(err, VF_E_FORMAT, lo + head_pos + VX_LE_OFF_LAST,
                       "log entry 'LastFileOffset' %" PRIu64 " is beyond any valid file",
                       head->last);
    uint64_t limit = head->last > st->file_size ? head->last : st->file_size;
    /* Two passes: validate every entry and target first, so nothing is written for a log
     * that turns out to be bad halfway. */
    for (int pass = 0; pass < 2; pass++) {
        uint32_t pos = head->tail;
        uint64_t prev_seq = 0;
        for (uint32_t steps = 0;; steps++) {
            vx_entry e;
            const char *why = vx_entry_load(st, log, log_len, pos, tmp, &e);
            if (!why && prev_seq && e.seq != prev_seq + 1)
                why = "'SequenceNumber' does not follow the previous entry's";
            if (!why && steps >= log_len / VX_PAGE)
                why = "the sequence does not end at its head";
            if (!why && pos != head_pos && e.seq >= head->seq)
                why = "the sequence passes its head";
            if (why)
                return VF_FAIL(err, VF_E_CORRUPT, lo + pos,
                               "log entry at log offset %" PRIu32
                               " (in the active sequence ending at %" PRIu32 "): %s",
                               pos, head_pos, why);
            vf_status s = vx_entry_apply(st, tmp, &e, lo + pos, limit, to_disk, pass == 0, err);
            if (s)
                return s;
            if (pos == head_pos)
                break;
            prev_seq = e.seq;
            pos = (uint32_t)((pos + (uint64_t)e.len) % log_len);
        }
    }
    return VF_OK;
}

vf_status vf_vhdx_log_replay(vx_state *st, bool to_disk, bool *replayed, vf_error *err)
{
    *replayed = false;
    if (vx_guid_is_zero(st->hdr.log_guid))
        return VF_OK;
    uint32_t log_len = st->hdr.log_length;
    if (log_len > VX_LOG_MAX)
        return VF_FAIL(err, VF_E_UNSUPPORTED, st->hdr.log_offset,
                       "log of %" PRIu32 " bytes needs replay; logs over %u bytes are refused",
                       log_len, VX_LOG_MAX);
    if (!vf_range_ok(st->hdr.log_offset, log_len, st->file_size))
        return VF_FAIL(err, VF_E_TRUNCATED, st->hdr.log_offset,
                       "log at %" PRIu64 " (%" PRIu32 " bytes) runs past the end of the file",
                       st->hdr.log_offset, log_len);
    uint8_t *log = malloc(log_len), *tmp = malloc(log_len);
    vf_status s = VF_OK;
    if (!log || !tmp) {
        s = VF_FAIL_ERRNO(err, ENOMEM, st->hdr.log_offset, "allocating the log");
        goto out;
    }
    if ((s = vf_vhdx_pread_raw(st, log, log_len, st->hdr.log_offset, err)))
        goto out;
    uint32_t head_pos = 0;
    vx_entry head = {0};
    bool found;
    vx_find_head(st, log, log_len, tmp, &head_pos, &head, &found);
    /* No valid entry: at most a torn, never-committed entry; nothing to replay. */
    if (!found)
        goto out;
    if ((s = vx_replay_sequence(st, log, log_len, tmp, head_pos, &head, to_disk, err)))
        goto out;
    if (to_disk) {
        uint64_t want = vx_align_up(head.last, VX_MIB);
        if (want > st->file_size && (s = vf_io_set_size(st->io, want, err)))
            goto out;
        if (want > st->file_size)
            st->file_size = want;
        if ((s = vf_vhdx_sync(st, err)))
            goto out;
    } else if (head.last > st->file_size) {
        st->file_size = head.last; /* replay would extend the file with zeros */
    }
    *replayed = true;
out:
    free(log);
    free(tmp);
    return s;
}

/* Build one entry holding pages (data descriptors only). */
static void vx_entry_build(const vx_state *st, const vx_page *pages, size_t n, uint64_t fsize,
                           uint8_t *buf, uint64_t bytes)
{
    memset(buf, 0, bytes);
    uint64_t dsec = ((uint64_t)n + 2 + 127) / 128;
    memcpy(buf, "loge", 4);
    vf_put_le32(buf + VX_LE_OFF_LEN, (uint32_t)bytes);
    vf_put_le32(buf + VX_LE_OFF_TAIL, (uint32_t)st->log_tail);
    vf_put_le64(buf + VX_LE_OFF_SEQ, st->log_seq);
    vf_put_le32(buf + VX_LE_OFF_COUNT, (uint32_t)n);
    memcpy(buf + VX_LE_OFF_GUID, st->hdr.log_guid, 16);
    vf_put_le64(buf + VX_LE_OFF_FLUSHED, fsize);
    vf_put_le64(buf + VX_LE_OFF_LAST, fsize);
    for (size_t k = 0; k < n; k++) {
        uint8_t *d = buf + VX_LE_HDR + VX_DESC_SIZE * k;
        memcpy(d, "desc", 4);
        memcpy(d + 4, pages[k].data + 4092, 4);
        memcpy(d + 8, pages[k].data, 8);
        vf_put_le64(d + 16, pages[k].off);
        vf_put_le64(d + 24, st->log_seq);
        uint8_t *ds = buf + (dsec + k) * VX_PAGE;
        memcpy(ds, "data", 4);
        vf_put_le32(ds + 4, (uint32_t)(st->log_seq >> 32));
        memcpy(ds + 8, pages[k].data + 8, 4084);
        vf_put_le32(ds + 4092, (uint32_t)st->log_seq);
    }
    vf_vhdx_crc_store(buf, bytes, VX_LE_OFF_CRC);
}

/* Word k of the derived LogGuid is CRC-32C over FileWriteGuid (16 bytes), the current
 * SequenceNumber (8 bytes, little-endian) and k (one byte), stored little-endian; then the
 * RFC 4122 version-4 and variant bits. Every header update raises the sequence number, so
 * the LogGuid still changes with every new log sequence of the file. */
void vf_vhdx_log_guid_derive(const vx_header *h, uint8_t out[16])
{
    uint8_t in[25];
    memcpy(in, h->fwg, 16);
    vf_put_le64(in + 16, h->seq);
    for (unsigned k = 0; k < 4; k++) {
        in[24] = (uint8_t)k;
        vf_put_le32(out + 4 * k, vf_vhdx_crc32c(0, in, sizeof in));
    }
    out[7] = (uint8_t)((out[7] & 0x0fu) | 0x40u); /* data3's high byte (mixed-endian GUID) */
    out[8] = (uint8_t)((out[8] & 0x3fu) | 0x80u);
}

/* Start a log sequence: a fresh LogGuid (so stale entries never match) via a header update;
 * drawn at random, or derived for handles from create (deterministic output). */
static vf_status vx_log_open(vx_state *st, vf_error *err)
{
    vx_header h = st->hdr;
    vf_status s = VF_OK;
    if (st->derived_ids)
        vf_vhdx_log_guid_derive(&st->hdr, h.log_guid);
    else
        s = vf_random_id(h.log_guid, err);
    if (!s)
        s = vf_vhdx_header_update(st, &h, err);
    if (s)
        return s;
    st->log_pos = 0;
    st->log_tail = 0;
    st->log_seq = 1;
    st->log_open = true;
    return VF_OK;
}

vf_status vf_vhdx_log_write(vx_state *st, const vx_page *pages, size_t n, vf_error *err)
{
    uint64_t bytes = vf_vhdx_log_entry_bytes(n);
    if (n == 0 || bytes > st->hdr.log_length)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "log entry of %zu pages does not fit", n);
    vf_status s;
    if (!st->log_open && (s = vx_log_open(st, err)))
        return s;
    if (st->log_pos + bytes > st->hdr.log_length)
        return VF_FAIL(err, VF_E_LIMIT, st->hdr.log_offset,
                       "the log is full of pending entries (dirty mode never drains it)");
    uint64_t fsize;
    if ((s = vf_io_size(st->io, &fsize, err)))
        return s;
    uint8_t *buf = malloc(bytes);
    if (!buf)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a log entry");
    vx_entry_build(st, pages, n, fsize, buf, bytes);
    s = vf_vhdx_pwrite(st, buf, bytes, st->hdr.log_offset + st->log_pos, err);
    free(buf);
    if (!s)
        s = vf_vhdx_sync(st, err);
    if (s)
        return s;
    st->log_pos += bytes;
    st->log_seq++;
    if (st->leave_dirty)
        return VF_OK; /* test support: the entry stays pending */
    for (size_t k = 0; k < n && !s; k++)
        s = vf_vhdx_pwrite(st, pages[k].data, VX_PAGE, pages[k].off, err);
    if (!s)
        s = vf_vhdx_sync(st, err);
    if (s)
        return s;
    vx_header h = st->hdr;
    memset(h.log_guid, 0, 16);
    if ((s = vf_vhdx_header_update(st, &h, err)))
        return s;
    st->log_open = false;
    return VF_OK;
}
