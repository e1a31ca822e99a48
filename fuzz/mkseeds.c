/* mkseeds.c - writes the seed inputs of every fuzz target into OUTDIR/<target>/, cut from the
 * templates our own writer makes (fuzz_helpers.c), in the input layout each harness expects
 * (docs/fuzzing.md). Checksum fields are stored as zero so the harnesses fill them in.
 * Layer: fuzz (a build tool, not a harness). Run by fuzz/make-seeds.sh; its output is
 * minimized with afl-cmin and committed under corpus/seeds/. Usage: fuzz_mkseeds OUTDIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_helpers.h"
#ifdef VF_SEED_JOURNAL
#include "merge_int.h"
#endif

/* Inputs above this size are stored sparse ("VFSP"); AFL++ takes at most 1 MiB. */
#define VF_SEED_RAW_MAX (32u << 10)
#define VF_LOG_SECTOR 4096u

static const char *vf_outdir;

static void vf_write(const char *target, const char *name, const uint8_t *p, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", vf_outdir, target);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        VF_FUZZ_CHECK(false, "cannot create '%s': %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/%s/%s", vf_outdir, target, name);
    FILE *f = fopen(path, "wb");
    VF_FUZZ_CHECK(f != NULL, "cannot create '%s': %s", path, strerror(errno));
    VF_FUZZ_CHECK(fwrite(p, 1, len, f) == len && fclose(f) == 0, "cannot write '%s'", path);
    printf("%s/%s: %zu bytes\n", target, name, len);
}

/* A whole file as an input: raw when small, sparse otherwise. */
static void vf_write_file(const char *target, const char *name, const uint8_t *p, size_t len)
{
    if (len <= VF_SEED_RAW_MAX) {
        vf_write(target, name, p, len);
        return;
    }
    vf_fuzz_buf s = vf_fuzz_sparse_encode(p, len);
    vf_write(target, name, s.p, s.len);
    vf_fuzz_buf_free(&s);
}

static void vf_seed_vhd(void)
{
    static const struct {
        vf_fuzz_tpl tpl;
        const char *name;
    } all[] = {{VF_FUZZ_TPL_VHD_FIXED, "fixed"},
               {VF_FUZZ_TPL_VHD_DYNAMIC, "dynamic"},
               {VF_FUZZ_TPL_VHD_DIFF, "diff"}};
    uint8_t footer[512];
    for (size_t i = 0; i < 3; i++) {
        const vf_fuzz_buf *t = vf_fuzz_template(all[i].tpl);
        memcpy(footer, t->p + t->len - 512, 512);
        memset(footer + 64, 0, 4);
        vf_write("vhd_footer", all[i].name, footer, 512);
        vf_write_file("vhd_open", all[i].name, t->p, t->len);
        vf_write_file("check", all[i].name, t->p, t->len);
    }
    /* Dynamic header + BAT (padded to 512), header checksum zeroed. */
    const vf_fuzz_buf *d = vf_fuzz_template(VF_FUZZ_TPL_VHD_DYNAMIC);
    uint64_t hdr = vf_fuzz_get_be64(d->p + 16);
    uint64_t bat = vf_fuzz_get_be64(d->p + hdr + 16);
    uint64_t entries = vf_fuzz_get_be32(d->p + hdr + 28);
    uint64_t end = bat + (entries * 4 + 511) / 512 * 512;
    VF_FUZZ_CHECK(hdr < end && end <= d->len, "dynamic template layout");
    vf_fuzz_buf h = vf_fuzz_buf_dup(d->p + hdr, (size_t)(end - hdr));
    memset(h.p + 36, 0, 4);
    vf_write("vhd_dynhdr", "dynamic", h.p, h.len);
    vf_fuzz_buf_free(&h);

    /* Name and locator entries, then the locator data the entries point at. */
    const vf_fuzz_buf *c = vf_fuzz_template(VF_FUZZ_TPL_VHD_DIFF);
    hdr = vf_fuzz_get_be64(c->p + 16);
    uint64_t lo = 0, hi = 0;
    for (unsigned i = 0; i < 8; i++) {
        const uint8_t *e = c->p + hdr + 576 + 24 * i;
        uint64_t off = vf_fuzz_get_be64(e + 16), space = vf_fuzz_get_be32(e + 4);
        if (!vf_fuzz_get_be32(e) || !off)
            continue;
        lo = lo && lo < off ? lo : off;
        hi = hi > off + space ? hi : off + space;
    }
    vf_fuzz_buf l = {malloc(704 + (size_t)(hi - lo)), 0};
    VF_FUZZ_CHECK(l.p && hi <= c->len, "locator data %llu..%llu", (unsigned long long)lo,
                  (unsigned long long)hi);
    memcpy(l.p, c->p + hdr + 64, 704);
    memcpy(l.p + 704, c->p + lo, (size_t)(hi - lo));
    l.len = 704 + (size_t)(hi - lo);
    vf_write("vhd_locator", "diff", l.p, l.len);
    vf_write("vhd_locator", "names-only", l.p, 704);
    vf_fuzz_buf_free(&l);

    /* The chain pair: the child names its parent "base.vhd" in the same folder. */
    vf_fuzz_buf base = vf_fuzz_sparse_encode(d->p, d->len);
    vf_fuzz_buf child = vf_fuzz_sparse_encode(c->p, c->len);
    size_t n = 0, cap = 64 + base.len + child.len;
    uint8_t *in = malloc(cap);
    VF_FUZZ_CHECK(in != NULL, "out of memory");
    n += (size_t)sprintf((char *)in, "child.vhd\nbase.vhd\n");
    memcpy(in + n, VF_FUZZ_SPLIT, VF_FUZZ_SPLIT_LEN);
    n += VF_FUZZ_SPLIT_LEN;
    memcpy(in + n, child.p, child.len);
    n += child.len;
    memcpy(in + n, VF_FUZZ_SPLIT, VF_FUZZ_SPLIT_LEN);
    n += VF_FUZZ_SPLIT_LEN;
    memcpy(in + n, base.p, base.len);
    n += base.len;
    vf_write("chain", "vhd-2", in, n);
    vf_write("merge_roundtrip", "vhd-2", in, n);
    free(in);
    vf_fuzz_buf_free(&base);
    vf_fuzz_buf_free(&child);
}

/* One log entry of one data descriptor (target: the first 4 KiB of the BAT, unchanged, or with
 * payload block 1 set to `state` when not 0) and one zero descriptor (4 KiB of the unused
 * BAT tail). */
static size_t vf_log_entry(uint8_t *out, const vf_fuzz_buf *t, const vf_fuzz_vhdx_layout *lay,
                           uint64_t seq, uint32_t tail, uint64_t state)
{
    const uint32_t len = 2 * VF_LOG_SECTOR;
    memset(out, 0, len);
    memcpy(out, "loge", 4);
    vf_fuzz_put_le32(out + 8, len);
    vf_fuzz_put_le32(out + 12, tail);
    vf_fuzz_put_le64(out + 16, seq);
    vf_fuzz_put_le32(out + 24, 2);
    memcpy(out + 32, vf_fuzz_log_guid, 16);
    vf_fuzz_put_le64(out + 48, t->len);
    vf_fuzz_put_le64(out + 56, t->len);
    uint8_t sector[VF_LOG_SECTOR];
    memcpy(sector, t->p + lay->bat_off, VF_LOG_SECTOR);
    if (state) /* payload block 1 (not allocated in the template) gets a new state */
        vf_fuzz_put_le64(sector + 8, state);
    uint8_t *dd = out + 64, *zd = out + 96, *data = out + VF_LOG_SECTOR;
    memcpy(dd, "desc", 4);
    memcpy(dd + 4, sector + 4092, 4);
    memcpy(dd + 8, sector, 8);
    vf_fuzz_put_le64(dd + 16, lay->bat_off);
    vf_fuzz_put_le64(dd + 24, seq);
    memcpy(zd, "zero", 4);
    vf_fuzz_put_le64(zd + 8, VF_LOG_SECTOR);
    vf_fuzz_put_le64(zd + 16, lay->bat_off + lay->bat_len - VF_LOG_SECTOR);
    vf_fuzz_put_le64(zd + 24, seq);
    memcpy(data, "data", 4);
    vf_fuzz_put_le32(data + 4, (uint32_t)(seq >> 32));
    memcpy(data + 8, sector + 8, 4084);
    vf_fuzz_put_le32(data + 4092, (uint32_t)seq);
    return len;
}

/* Structured vhdx_log inputs (fuzz_vhdx_log.c): "LOG!", entries, start page, LastFileOffset
 * excess, then 6 bytes per descriptor (kind, target page, zero pages, pattern). */
static void vf_seed_log_structured(const vf_fuzz_buf *t, const vf_fuzz_vhdx_layout *lay)
{
    uint8_t in[4 + 3 + 6 * 4];
    size_t bat_page = (size_t)(lay->bat_off / VF_LOG_SECTOR);
    size_t end_page = (size_t)(t->len / VF_LOG_SECTOR) - 1; /* the last page of the file */
    memcpy(in, "LOG!", 4);
    in[4] = 0, in[5] = 0, in[6] = 0; /* one entry at log page 0, LastFileOffset = file size */
    uint8_t *dsc = in + 7;
    /* zero the BAT's first page (every block NOT_PRESENT) */
    dsc[0] = 1, dsc[1] = (uint8_t)bat_page, dsc[2] = (uint8_t)(bat_page >> 8), dsc[3] = 0;
    vf_write("vhdx_log", "structured-zero-bat", in, 7 + 6);
    /* and a data page over the file's last page, two entries, starting at log page 3 */
    in[4] = 1, in[5] = 3, in[6] = 1;
    dsc[6] = 0, dsc[7] = (uint8_t)end_page, dsc[8] = (uint8_t)(end_page >> 8), dsc[9] = 0;
    dsc[10] = 0x5a, dsc[11] = 0xa5;
    vf_write("vhdx_log", "structured-mixed", in, 7 + 12);
}

static void vf_seed_vhdx(void)
{
    const vf_fuzz_buf *d = vf_fuzz_template(VF_FUZZ_TPL_VHDX_DYNAMIC);
    const vf_fuzz_buf *c = vf_fuzz_template(VF_FUZZ_TPL_VHDX_DIFF);
    vf_fuzz_vhdx_layout lay, clay;
    VF_FUZZ_CHECK(vf_fuzz_vhdx_layout_get(d->p, d->len, &lay) &&
                      vf_fuzz_vhdx_layout_get(c->p, c->len, &clay),
                  "VHDX template layout");
    vf_write_file("vhdx_open", "dynamic", d->p, d->len);
    vf_write_file("vhdx_open", "diff", c->p, c->len);
    vf_write_file("check", "vhdx-dynamic", d->p, d->len);
    vf_write_file("check", "vhdx-diff", c->p, c->len);

    uint8_t hdrs[8192];
    memcpy(hdrs, d->p + (64u << 10), 4096);
    memcpy(hdrs + 4096, d->p + (128u << 10), 4096);
    memset(hdrs + 4, 0, 4);
    memset(hdrs + 4096 + 4, 0, 4);
    vf_write("vhdx_header", "both", hdrs, sizeof hdrs);
    vf_write("vhdx_header", "first", hdrs, 4096);

    const uint8_t *rt = d->p + (192u << 10);
    size_t rt_len = 16 + 32 * (size_t)vf_fuzz_get_le32(rt + 8);
    VF_FUZZ_CHECK(rt_len <= (64u << 10), "region table entries");
    vf_fuzz_buf r = vf_fuzz_buf_dup(rt, rt_len);
    memset(r.p + 4, 0, 4);
    vf_write("vhdx_region", "table", r.p, r.len);
    vf_fuzz_buf_free(&r);

    /* Logs: one entry; two entries in sequence; one entry making block 1 a ZERO block. */
    uint8_t log[4 * VF_LOG_SECTOR];
    size_t n = vf_log_entry(log, d, &lay, 1, 0, 0);
    vf_write("vhdx_log", "one-entry", log, n);
    n += vf_log_entry(log + n, d, &lay, 2, 0, 2);
    vf_write("vhdx_log", "two-entries", log, n);
    n = vf_log_entry(log, d, &lay, 7, 0, 2);
    vf_write("vhdx_log", "zero-block", log, n);
    vf_seed_log_structured(d, &lay);

    /* Metadata: the table entries, then the items area up to its last item's end. */
    const uint8_t *meta = c->p + clay.meta_off;
    size_t count = vf_fuzz_get_le16(meta + 10), items_end = 64u << 10;
    for (size_t i = 0; i < count && i < 2047; i++) {
        const uint8_t *e = meta + 32 + 32 * i;
        size_t end = (size_t)vf_fuzz_get_le32(e + 16) + vf_fuzz_get_le32(e + 20);
        items_end = end > items_end ? end : items_end;
    }
    VF_FUZZ_CHECK(items_end <= clay.meta_len, "metadata items");
    size_t table = 32 + 32 * count, items = items_end - (64u << 10);
    uint8_t *m = malloc(table + VF_FUZZ_SPLIT_LEN + items);
    VF_FUZZ_CHECK(m != NULL, "out of memory");
    memcpy(m, meta, table);
    memcpy(m + table, VF_FUZZ_SPLIT, VF_FUZZ_SPLIT_LEN);
    memcpy(m + table + VF_FUZZ_SPLIT_LEN, meta + (64u << 10), items);
    vf_write("vhdx_meta", "diff", m, table + VF_FUZZ_SPLIT_LEN + items);
    free(m);

    vf_fuzz_buf base = vf_fuzz_sparse_encode(d->p, d->len);
    vf_fuzz_buf child = vf_fuzz_sparse_encode(c->p, c->len);
    size_t len = 0;
    uint8_t *in = malloc(64 + base.len + child.len);
    VF_FUZZ_CHECK(in != NULL, "out of memory");
    len += (size_t)sprintf((char *)in, "child.vhdx\nbase.vhdx\n");
    memcpy(in + len, VF_FUZZ_SPLIT, VF_FUZZ_SPLIT_LEN);
    len += VF_FUZZ_SPLIT_LEN;
    memcpy(in + len, child.p, child.len);
    len += child.len;
    memcpy(in + len, VF_FUZZ_SPLIT, VF_FUZZ_SPLIT_LEN);
    len += VF_FUZZ_SPLIT_LEN;
    memcpy(in + len, base.p, base.len);
    len += base.len;
    vf_write("chain", "vhdx-2", in, len);
    vf_write("merge_roundtrip", "vhdx-2", in, len);
    free(in);
    vf_fuzz_buf_free(&base);
    vf_fuzz_buf_free(&child);
}

#ifdef VF_SEED_JOURNAL
/* Target journal: 16 control bytes (the facts the harness derives, docs/fuzzing.md), then one
 * slot from the journal encoder with its SHA-256 zeroed (the harness signs it). */
static void vf_seed_journal_one(const char *name, const vf_journal *j, const uint8_t ctl[16])
{
    uint8_t *in = calloc(1, 16u + VF_JOURNAL_SLOT_BYTES);
    VF_FUZZ_CHECK(in != NULL, "out of memory");
    size_t len;
    vf_error err;
    VF_FUZZ_CHECK(vf_journal_encode(j, in + 16, &len, &err) == VF_OK, "journal seed: %s", err.msg);
    memcpy(in, ctl, 16);
    memset(in + 16 + 24, 0, VF_SHA256_LEN);
    vf_write("journal", name, in, 16u + len);
    free(in);
}

static void vf_seed_journal(void)
{
    vf_journal_level levels[3];
    vf_journal_child child;
    memset(levels, 0, sizeof levels);
    memset(&child, 0x5A, sizeof child);
    for (size_t i = 0; i < 3; i++) {
        memset(levels[i].id, (int)(0x11 * (i + 1)), 16);
        levels[i].file_size = (i + 1) << 20;
    }
    vf_journal j;
    memset(&j, 0, sizeof j);
    j.seq = 7;
    j.phase = VF_MERGE_PHASE_COPYING;
    j.format = VF_FORMAT_VHD;
    j.cursor = 1u << 20;
    j.virtual_size = 4u << 20;
    j.dest_size = 3u << 20;
    memset(j.merge_id, 0x42, 16);
    memset(j.new_id, 0xAB, 16);
    j.levels = levels;
    j.nlevels = 3;
    uint8_t ctl[16] = {0, 1, 128, 0, 0, 0, 0, 0};
    vf_seed_journal_one("vhd-copying", &j, ctl);
    ctl[2] = 0; /* DESTINATION shorter than recorded: restart */
    vf_seed_journal_one("vhd-copying-short", &j, ctl);
    j.format = VF_FORMAT_VHDX;
    j.has_link_id = true;
    memset(j.link_id, 0xC3, 16);
    j.phase = VF_MERGE_PHASE_IDENTITY;
    j.cursor = j.virtual_size;
    uint8_t ctl_link[16] = {0, 1, 128, 1, 0, 0, 0, 0};
    vf_seed_journal_one("vhdx-identity", &j, ctl_link);
    j.phase = VF_MERGE_PHASE_REMOVING;
    j.remove_merged = true;
    j.children = &child;
    j.nchildren = 1;
    uint8_t ctl_after[16] = {0, 8 | 4, 128, 2 | (0 << 2), 0, 0, 0, 0};
    vf_seed_journal_one("vhdx-removing", &j, ctl_after);
    uint8_t ctl_bad[16] = {0, 1, 128, 0, 1, 1 | 2, 3, 9};
    j.phase = VF_MERGE_PHASE_COPYING;
    vf_seed_journal_one("vhdx-other-chain", &j, ctl_bad);
}
#endif

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    vf_outdir = argv[1];
    if (mkdir(vf_outdir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkseeds: cannot create '%s': %s\n", vf_outdir, strerror(errno));
        return 1;
    }
    vf_seed_vhd();
    vf_seed_vhdx();
#ifdef VF_SEED_JOURNAL
    vf_seed_journal();
#endif
    return 0;
}
