/* vhdx/log.c - the VHDX metadata log: find the active sequence, validate every entry and
 * descriptor of it, replay it (held in the in-memory overlay at open, written onto the file
 * on the handle's first write), and write new entries (the writer protocol of
 * docs/formats/vhdx.md "The log").
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

/* The log held in memory, with the CRC of every prefix of whole pages: the CRC of any run
 * of pages is then two table reads and a shift (crc32c.c), so no byte of the log is run
 * through CRC-32C more than once however many positions claim to start an entry. */
typedef struct vx_log {
    vx_state *st;
    uint8_t *buf;
    uint32_t len;
    uint32_t *pcrc; /* pcrc[i]: CRC of pages [0, i) */
} vx_log;

static const uint8_t *vx_log_at(const vx_log *L, uint32_t pos, uint64_t rel)
{
    return L->buf + (pos + rel) % L->len;
}

/* CRC of n bytes at a (whole pages, no wrap). */
static uint32_t vx_span_crc(const vx_log *L, uint32_t a, uint32_t n)
{
    return L->pcrc[(a + n) / VX_PAGE] ^ vf_vhdx_crc32c_shift(L->pcrc[a / VX_PAGE], n);
}

/* CRC of the entry of e->len bytes at pos (wrapping), its checksum field read as zero. */
static uint32_t vx_entry_crc(vx_log *L, uint32_t pos, uint32_t len)
{
    static const uint8_t zero[4];
    uint32_t first = L->len - pos < len ? L->len - pos : len;
    uint32_t c = vx_span_crc(L, pos, first);
    if (len > first)
        c = vf_vhdx_crc32c_shift(c, len - first) ^ vx_span_crc(L, 0, len - first);
    const uint8_t *field = L->buf + pos + VX_LE_OFF_CRC;
    uint32_t diff = vf_vhdx_crc32c(0, field, 4) ^ vf_vhdx_crc32c(0, zero, 4);
    L->st->log_stats.crc_bytes += 8;
    return c ^ vf_vhdx_crc32c_shift(diff, len - VX_LE_OFF_CRC - 4);
}

/* The header fields of the entry at pos, checked without touching the rest of the entry. */
static const char *vx_entry_head(const vx_log *L, uint32_t pos, vx_entry *e)
{
    const uint8_t *h = L->buf + pos;
    if (memcmp(h, "loge", 4) != 0)
        return "signature is not 'loge'";
    e->len = (uint32_t)vf_get_le(h + VX_LE_OFF_LEN, 4);
    e->tail = (uint32_t)vf_get_le(h + VX_LE_OFF_TAIL, 4);
    e->seq = vf_get_le(h + VX_LE_OFF_SEQ, 8);
    e->count = (uint32_t)vf_get_le(h + VX_LE_OFF_COUNT, 4);
    e->flushed = vf_get_le(h + VX_LE_OFF_FLUSHED, 8);
    e->last = vf_get_le(h + VX_LE_OFF_LAST, 8);
    if (memcmp(h + VX_LE_OFF_GUID, L->st->hdr.log_guid, 16) != 0)
        return "'LogGuid' differs from the header's";
    if (e->len == 0 || e->len % VX_PAGE || e->len > L->len)
        return "'EntryLength' is not a non-zero multiple of 4 KiB within the log";
    if (e->tail % VX_PAGE || e->tail >= L->len)
        return "'Tail' is not a 4 KiB multiple inside the log";
    if (e->seq == 0)
        return "'SequenceNumber' is 0";
    e->dsec = ((uint64_t)e->count + 2 + 127) / 128; /* no overflow: count < 2^32 */
    if (e->dsec * VX_PAGE > e->len)
        return "'DescriptorCount' does not fit in 'EntryLength'";
    return NULL;
}

/* Descriptors and data sectors in order; the first bad one ends the look (so the pages
 * looked at stop at the next page that starts another entry). */
static const char *vx_entry_descs(vx_log *L, uint32_t pos, const vx_entry *e)
{
    uint64_t data_idx = 0;
    for (uint32_t k = 0; k < e->count; k++) {
        L->st->log_stats.descs++;
        const uint8_t *d = vx_log_at(L, pos, VX_LE_HDR + (uint64_t)VX_DESC_SIZE * k);
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
        const uint8_t *ds = vx_log_at(L, pos, at);
        if (memcmp(ds, "data", 4) != 0)
            return "a data sector signature is not 'data'";
        if (vf_get_le(ds + 4, 4) != (e->seq >> 32) || vf_get_le(ds + 4092, 4) != (uint32_t)e->seq)
            return "a data sector's sequence halves differ from the entry's";
    }
    return NULL;
}

/* The entry at pos: header, checksum, descriptors. Returns NULL when valid, else why not. */
static const char *vx_entry_load(vx_log *L, uint32_t pos, vx_entry *e)
{
    const char *why = vx_entry_head(L, pos, e);
    if (why)
        return why;
    L->st->log_stats.entries++;
    if (!L->st->skip_checksums &&
        vf_get_le(L->buf + pos + VX_LE_OFF_CRC, 4) != vx_entry_crc(L, pos, e->len))
        return "CRC-32C mismatch";
    return vx_entry_descs(L, pos, e);
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

/* Check every target of one validated entry and hold it in the overlay. */
static vf_status vx_entry_apply(vx_log *L, uint32_t pos, const vx_entry *e, uint64_t limit,
                                vf_error *err)
{
    vx_state *st = L->st;
    uint64_t where = st->hdr.log_offset + pos, data_idx = 0;
    for (uint32_t k = 0; k < e->count; k++) {
        const uint8_t *d = vx_log_at(L, pos, VX_LE_HDR + (uint64_t)VX_DESC_SIZE * k);
        uint64_t off = vf_get_le(d + 16, 8);
        bool is_zero = !memcmp(d, "zero", 4);
        uint64_t len = is_zero ? vf_get_le(d + 8, 8) : VX_PAGE;
        vf_status s = vx_desc_target(st, off, len, limit, where, err);
        if (!s && st->novl >= VX_LOG_MAX_DESC)
            s = VF_FAIL(err, VF_E_LIMIT, where,
                        "'%s': the log's active sequence has more than %u descriptors", st->name,
                        VX_LOG_MAX_DESC);
        if (s)
            return s;
        if (is_zero) {
            s = vf_vhdx_overlay_add(st, off, len, NULL, false, err);
        } else {
            uint64_t at = (pos + (e->dsec + data_idx++) * VX_PAGE) % L->len;
            s = vf_vhdx_overlay_add_log(st, off, st->hdr.log_offset + at, d + 8, d + 4, err);
        }
        if (s)
            return s;
    }
    return VF_OK;
}

/* The valid entry with the highest sequence number, or *found false. */
static void vx_find_head(vx_log *L, uint32_t *head_pos, vx_entry *head, bool *found)
{
    *found = false;
    for (uint32_t pos = 0; pos < L->len; pos += VX_PAGE) {
        vx_entry e;
        if (vx_entry_load(L, pos, &e) == NULL && (!*found || e.seq > head->seq)) {
            *found = true;
            *head = e;
            *head_pos = pos;
        }
    }
}

/* Where the file's own structures end: its size, its regions, its log. */
static uint64_t vx_struct_end(const vx_state *st)
{
    uint64_t end = st->file_size;
    for (uint32_t i = 0; i < st->nregions; i++)
        if (st->regions[i].off + st->regions[i].len > end)
            end = st->regions[i].off + st->regions[i].len;
    if (st->hdr.log_offset + st->hdr.log_length > end)
        end = st->hdr.log_offset + st->hdr.log_length;
    return vx_align_up(end, VX_MIB);
}

static vf_status vx_replay_limit(vx_state *st, uint32_t head_pos, const vx_entry *head,
                                 uint64_t *limit, vf_error *err)
{
    uint64_t lo = st->hdr.log_offset;
    if (st->file_size < head->flushed)
        return VF_FAIL(err, VF_E_TRUNCATED, lo + head_pos + VX_LE_OFF_FLUSHED,
                       "log entry says %" PRIu64 " bytes were durable ('FlushedFileOffset'), "
                       "the file has %" PRIu64,
                       head->flushed, st->file_size);
    uint64_t cap = vx_struct_end(st) + VX_REPLAY_SLACK;
    if (head->last > cap)
        return VF_FAIL(err, VF_E_CORRUPT, lo + head_pos + VX_LE_OFF_LAST,
                       "log entry 'LastFileOffset' %" PRIu64 " would grow the file of %" PRIu64
                       " bytes past %" PRIu64 " (its structures plus %llu MiB)",
                       head->last, st->file_size, cap, VX_REPLAY_SLACK / VX_MIB);
    *limit = head->last > st->file_size ? head->last : st->file_size;
    return VF_OK;
}

static vf_status vx_replay_sequence(vx_log *L, uint32_t head_pos, const vx_entry *head,
                                    vf_error *err)
{
    vx_state *st = L->st;
    uint64_t limit = 0;
    vf_status s = vx_replay_limit(st, head_pos, head, &limit, err);
    if (s)
        return s;
    uint32_t pos = head->tail;
    uint64_t prev_seq = 0, walked = 0;
    for (;;) {
        vx_entry e;
        const char *why = vx_entry_load(L, pos, &e);
        if (!why && prev_seq && e.seq != prev_seq + 1)
            why = "'SequenceNumber' does not follow the previous entry's";
        if (!why && (walked += e.len) > L->len)
            why = "the sequence does not end at its head within the log";
        if (!why && pos != head_pos && e.seq >= head->seq)
            why = "the sequence passes its head";
        if (why)
            return VF_FAIL(err, VF_E_CORRUPT, st->hdr.log_offset + pos,
                           "log entry at log offset %" PRIu32
                           " (in the active sequence ending at %" PRIu32 "): %s",
                           pos, head_pos, why);
        if ((s = vx_entry_apply(L, pos, &e, limit, err)))
            return s;
        if (pos == head_pos)
            return VF_OK;
        prev_seq = e.seq;
        pos = (uint32_t)((pos + (uint64_t)e.len) % L->len);
    }
}

/* Bytes writing the held replay would write or add to the file: overlaid bytes inside the
 * file once each, and the growth to LastFileOffset (zeros past the end come with it). */
static uint64_t vx_replay_cost(const vx_state *st)
{
    uint64_t n = 0, d = st->disk_size;
    for (size_t i = 0; i < st->nseg; i++) {
        const vx_seg *g = &st->seg[i];
        bool zeros = !st->ovl[g->rec].data && st->ovl[g->rec].src == VX_OVL_ZEROS;
        uint64_t end = zeros && g->end > d ? (g->off > d ? g->off : d) : g->end;
        n += end - g->off;
    }
    uint64_t want = vx_align_up(st->replay_last, VX_MIB);
    return n + (want > d ? want - d : 0);
}

static vf_status vx_log_load(vx_state *st, vx_log *L, vf_error *err)
{
    uint32_t log_len = st->hdr.log_length;
    if (log_len > VX_LOG_MAX)
        return VF_FAIL(err, VF_E_LIMIT, st->hdr.log_offset,
                       "'%s': log of %" PRIu32 " bytes needs replay; logs over %u bytes are "
                       "refused",
                       st->name, log_len, VX_LOG_MAX);
    if (log_len < VX_PAGE || !vf_range_ok(st->hdr.log_offset, log_len, st->file_size))
        return VF_FAIL(err, VF_E_TRUNCATED, st->hdr.log_offset,
                       "log at %" PRIu64 " (%" PRIu32 " bytes) runs past the end of the file",
                       st->hdr.log_offset, log_len);
    uint8_t *buf = malloc(log_len);
    L->pcrc = malloc((log_len / VX_PAGE + 1) * sizeof *L->pcrc);
    L->buf = buf;
    L->len = log_len;
    L->st = st;
    if (!buf || !L->pcrc)
        return VF_FAIL_ERRNO(err, ENOMEM, st->hdr.log_offset, "allocating the log");
    vf_status s = vf_vhdx_pread_raw(st, buf, log_len, st->hdr.log_offset, err);
    if (s)
        return s;
    L->pcrc[0] = 0;
    for (uint32_t i = 0; i < log_len / VX_PAGE; i++)
        L->pcrc[i + 1] = vf_vhdx_crc32c(L->pcrc[i], buf + (size_t)i * VX_PAGE, VX_PAGE);
    st->log_stats.crc_bytes += log_len;
    return VF_OK;
}

vf_status vf_vhdx_log_replay(vx_state *st, bool *replayed, vf_error *err)
{
    *replayed = false;
    if (vx_guid_is_zero(st->hdr.log_guid))
        return VF_OK;
    vx_log L = {0};
    vf_status s = vx_log_load(st, &L, err);
    uint32_t head_pos = 0;
    vx_entry head = {0};
    bool found = false;
    if (!s)
        vx_find_head(&L, &head_pos, &head, &found);
    /* No valid entry: at most a torn, never-committed entry; nothing to replay. */
    if (!s && found)
        s = vx_replay_sequence(&L, head_pos, &head, err);
    if (!s && found)
        s = vf_vhdx_overlay_index(st, err);
    if (!s && found) {
        st->held = true;
        st->replay_last = head.last;
        st->replay_bytes = vx_replay_cost(st);
        if (head.last > st->file_size)
            st->file_size = head.last; /* replay extends the file with zeros */
        *replayed = true;
    }
    free(L.buf);
    free(L.pcrc);
    return s;
}

/* One index segment onto the file, in pieces of the buffer (cap bytes, a multiple of 4 KiB). */
static vf_status vx_seg_write(vx_state *st, const vx_seg *g, uint8_t *buf, size_t cap,
                              vf_error *err)
{
    vf_status s = VF_OK;
    const vx_ovl *o = &st->ovl[g->rec];
    uint64_t end = g->end;
    if (!o->data && o->src == VX_OVL_ZEROS && end > st->disk_size) /* the growth gives zeros */
        end = g->off > st->disk_size ? g->off : st->disk_size;
    for (uint64_t at = g->off; !s && at < end;) {
        size_t n = end - at < cap ? (size_t)(end - at) : cap;
        s = vf_vhdx_overlay_apply(st, buf, n, at, err);
        if (!s)
            s = vf_vhdx_pwrite(st, buf, n, at, err);
        st->log_stats.written += n;
        at += n;
    }
    return s;
}

vf_status vf_vhdx_log_write_replay(vx_state *st, vf_error *err)
{
    if (!st->held)
        return VF_OK;
    enum { CAP = 64 * 1024 };
    uint8_t *buf = malloc(CAP);
    if (!buf)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating the replay buffer");
    vf_status s = vf_vhdx_overlay_index(st, err);
    for (size_t i = 0; !s && i < st->nseg; i++)
        s = vx_seg_write(st, &st->seg[i], buf, CAP, err);
    free(buf);
    uint64_t want = vx_align_up(st->replay_last, VX_MIB), real = 0;
    if (!s)
        s = vf_io_size(st->io, &real, err);
    if (!s && want > real) {
        st->log_stats.written += want - real;
        s = vf_io_set_size(st->io, want, err);
    }
    if (!s)
        s = vf_vhdx_sync(st, err);
    if (s)
        return s;
    vf_vhdx_overlay_free(st);
    st->held = false;
    st->disk_size = want > real ? want : real;
    if (st->disk_size > st->file_size)
        st->file_size = st->disk_size;
    return VF_OK;
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
