/* test_vhdx_log.c - the VHDX log under hostile and pending input: CRC-32C shifting, a crafted
 * pending log (data descriptors, zero descriptors, both) read the same way by every reader
 * (driver read, chain read, flat and tree digest, compare, merge --verify) at every level of
 * a chain and as DESTINATION, the replay held in memory until the first write (a refused
 * merge writes nothing), bounds on what a replay may write, and work counts of head search,
 * replay and overlay lookups near the limits (counted, never timed).
 * Layer: tests (format/vhdx, verify, merger). */
#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>

#include "merge_test_util.h"
#include "scratch_dir.h"
#include "test_vhdx_support.h"
#include "vf_sha256.h"
#include "vf_verify.h"

static const uint8_t t_guid[16] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x48,
                                   0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01};

/* One descriptor of a crafted entry: a data page (page != NULL) or zeros. */
typedef struct tdesc {
    uint64_t off, zlen;
    const uint8_t *page;
} tdesc;

typedef struct tlog {
    uint64_t off;
    uint32_t len;
} tlog;

/* Give the VHDX in d a header naming LogGuid t_guid (the other slot, sequence + 1), with the
 * log moved to log_off/log_len when log_len is non-zero. Returns where the log is. */
static tlog t_arm_header(uint8_t *d, uint64_t log_off, uint32_t log_len)
{
    unsigned cur =
        vf_get_le(d + VX_HEADER_SLOT_OFF(1) + 8, 8) > vf_get_le(d + VX_HEADER_SLOT_OFF(0) + 8, 8)
            ? 1
            : 0;
    vx_header h;
    vf_vhdx_header_parse(d + VX_HEADER_SLOT_OFF(cur), &h);
    memcpy(h.log_guid, t_guid, 16);
    h.seq++;
    if (log_len) {
        h.log_offset = log_off;
        h.log_length = log_len;
    }
    vf_vhdx_header_encode(&h, d + VX_HEADER_SLOT_OFF(1 - cur));
    return (tlog){h.log_offset, h.log_length};
}

/* Write one entry at log position pos with a valid CRC. */
static void t_put_entry(uint8_t *d, tlog L, uint32_t pos, uint64_t seq, uint32_t tail,
                        const tdesc *ds, size_t n, uint64_t flushed, uint64_t last)
{
    size_t nd = 0;
    for (size_t i = 0; i < n; i++)
        nd += ds[i].page != NULL;
    uint64_t dsec = (n + 2 + 127) / 128;
    uint32_t len = (uint32_t)((dsec + nd) * VX_PAGE);
    assert_true(pos + len <= L.len);
    uint8_t *e = d + L.off + pos;
    memset(e, 0, len);
    memcpy(e, "loge", 4);
    vf_put_le32(e + 8, len);
    vf_put_le32(e + 12, tail);
    vf_put_le64(e + 16, seq);
    vf_put_le32(e + 24, (uint32_t)n);
    memcpy(e + 32, t_guid, 16);
    vf_put_le64(e + 48, flushed);
    vf_put_le64(e + 56, last);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *q = e + 64 + 32 * i;
        vf_put_le64(q + 16, ds[i].off);
        vf_put_le64(q + 24, seq);
        if (!ds[i].page) {
            memcpy(q, "zero", 4);
            vf_put_le64(q + 8, ds[i].zlen);
            continue;
        }
        memcpy(q, "desc", 4);
        memcpy(q + 4, ds[i].page + 4092, 4);
        memcpy(q + 8, ds[i].page, 8);
        uint8_t *s = e + (dsec + k++) * VX_PAGE;
        memcpy(s, "data", 4);
        vf_put_le32(s + 4, (uint32_t)(seq >> 32));
        memcpy(s + 8, ds[i].page + 8, 4084);
        vf_put_le32(s + 4092, (uint32_t)seq);
    }
    vf_vhdx_crc_store(e, len, 4);
}

/* A pending log of one entry holding ds in the VHDX d (its own 1 MiB log). */
static void t_craft(uint8_t *d, size_t dlen, const tdesc *ds, size_t n)
{
    tlog L = t_arm_header(d, 0, 0);
    memset(d + L.off, 0, L.len);
    t_put_entry(d, L, 0, 1, 0, ds, n, dlen, dlen);
}

static void t_sha(const uint8_t *p, size_t n, uint8_t md[32])
{
    vf_sha256 *h;
    assert_int_equal(vf_sha256_new(&h, NULL), VF_OK);
    assert_int_equal(vf_sha256_update(h, p, n, NULL), VF_OK);
    assert_int_equal(vf_sha256_final(h, md, NULL), VF_OK);
    vf_sha256_free(h);
}

static void test_crc_shift(void **state)
{
    (void)state;
    uint8_t buf[10000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + (i >> 7));
    size_t cuts[] = {0, 1, 8, 4096, 5000, 9999, 10000};
    uint32_t all = vf_vhdx_crc32c(0, buf, sizeof buf);
    for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
        size_t a = cuts[i];
        uint32_t ca = vf_vhdx_crc32c(0, buf, a), cb = vf_vhdx_crc32c(0, buf + a, sizeof buf - a);
        assert_int_equal(vf_vhdx_crc32c_shift(ca, sizeof buf - a) ^ cb, all);
    }
}

/* --- one disk, one answer: every reader of a chain with a pending log --- */

/* The flattened disk of path through the chain reader and the verifier's digests and compare,
 * each against model (the bytes an independent replay gives). */
static void t_all_readers(vf_fs *fs, const char *path, const uint8_t *model, size_t size,
                          const char *what)
{
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fs;
    vf_chain *c;
    vf_error err = {0};
    if (vf_chain_open(path, &co, &c, &err) != VF_OK)
        fail_msg("%s: open: %s", what, err.msg);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    assert_int_equal(vf_chain_read(c, 0, buf, size, &err), VF_OK);
    if (memcmp(buf, model, size) != 0)
        fail_msg("%s: vf_chain_read differs from the replayed reference", what);
    free(buf);
    vf_source *src, *ref;
    assert_int_equal(vf_source_from_chain(c, true, &src, &err), VF_OK);
    assert_int_equal(vf_fs_mem_put(fs, "ref.raw", model, size, &err), VF_OK);
    assert_int_equal(vf_source_open("ref.raw", VF_SOURCE_RAW, &co, &ref, &err), VF_OK);
    uint8_t md[32], want[32];
    t_sha(model, size, want);
    assert_int_equal(vf_digest_flat(src, NULL, md, &err), VF_OK); /* export walks the same */
    if (memcmp(md, want, 32) != 0)
        fail_msg("%s: flat digest differs from the reference", what);
    assert_int_equal(vf_digest_tree(src, NULL, md, &err), VF_OK);
    assert_int_equal(vf_digest_tree(ref, NULL, want, &err), VF_OK);
    if (memcmp(md, want, 32) != 0)
        fail_msg("%s: tree digest differs from the reference", what);
    vf_compare_result cr;
    assert_int_equal(vf_compare(src, ref, NULL, &cr, &err), VF_OK);
    if (!cr.identical)
        fail_msg("%s: compare finds a difference at %llu", what, (unsigned long long)cr.first_diff);
    vf_source_free(src);
    vf_source_free(ref);
}

static bool t_have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* The independent reference: qemu-img replays the log of a copy (check -r all), 7-Zip
 * extracts the raw disk; its SHA-256 must be the model's. Skipped without the tools. */
static void t_tool_reference(const uint8_t *d, size_t len, const uint8_t *model, size_t size)
{
    if (!t_have("qemu-img") || !t_have("7zz") || !t_have("sha256sum"))
        return;
    char dir[4096], cmd[12800], hex[65];
    assert_int_equal(vf_scratch_make(dir, sizeof dir, "vf_vhdx_log"), 0);
    snprintf(cmd, sizeof cmd, "%s/p.vhdx", dir);
    FILE *f = fopen(cmd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && cp p.vhdx q.vhdx && qemu-img check -q -r all -f vhdx q.vhdx >/dev/null "
             "2>&1; 7zz x -so q.vhdx 2>/dev/null | sha256sum | cut -c1-64",
             dir);
    FILE *pp = popen(cmd, "r");
    assert_non_null(pp);
    assert_non_null(fgets(hex, sizeof hex, pp));
    pclose(pp);
    uint8_t md[32];
    char want[65];
    t_sha(model, size, md);
    vf_sha256_hex(md, want);
    if (strcmp(hex, want) != 0)
        fail_msg("qemu-img replay + 7-Zip give %s, the model %s", hex, want);
    assert_int_equal(vf_scratch_remove(dir), 0);
}

/* A standalone dynamic VHDX with four full blocks; the pending log of each kind. */
static void test_pending_matrix(void **state)
{
    (void)state;
    const uint64_t size = 8u * MIB;
    tbuf t;
    vf_image *img = t_create(&t, VF_DISK_DYNAMIC, size, MIB, 512, NULL);
    uint8_t *base = calloc(1, size), *model = malloc(size), page[VX_PAGE], page2[VX_PAGE];
    assert_non_null(base);
    assert_non_null(model);
    t_fill(base, 4u * MIB, 0, 7);
    vf_error err = {0};
    assert_int_equal(vf_image_write(img, 0, base, 4u * MIB, &err), VF_OK);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_extent e0, e2;
    assert_int_equal(vf_image_map(img, 0, MIB, &e0, &err), VF_OK);
    assert_int_equal(vf_image_map(img, 2u * MIB, MIB, &e2, &err), VF_OK);
    assert_int_equal(e0.kind, VF_EXTENT_PRESENT);
    vf_image_close(img);
    /* no log: the map keeps its file offsets and whole runs, the overlay is never asked */
    assert_int_equal(tb_open(&t, 0, &img, &err), VF_OK);
    vf_extent f;
    assert_int_equal(vf_image_map(img, 0, 4u * MIB, &f, &err), VF_OK);
    assert_true(f.kind == VF_EXTENT_PRESENT && !f.overlaid && f.file_off == e0.file_off);
    assert_true(f.len >= MIB);
    uint8_t *all = malloc(size);
    assert_non_null(all);
    assert_int_equal(vf_image_read(img, 0, all, size, &err), VF_OK);
    assert_int_equal(vx_st(img)->log_stats.ovl_steps, 0);
    free(all);
    vf_image_close(img);
    t_fill(page, sizeof page, 1, 99);
    t_fill(page2, sizeof page2, 2, 55);
    /* data over voff 4096; zeros over 8 KiB at voff 2 MiB + 8192; both: a page, zeros over
     * part of it and its neighbour, then a page again on top */
    tdesc data[] = {{e0.file_off + 4096, 0, page}};
    tdesc zero[] = {{e2.file_off + 8192, 8192, NULL}};
    tdesc both[] = {{e0.file_off + 4096, 0, page},
                    {e0.file_off + 4096, 8192, NULL},
                    {e2.file_off + 65536, 0, page2}};
    const tdesc *cases[] = {data, zero, both};
    size_t ns[] = {1, 1, 3};
    for (size_t c = 0; c < 3; c++) {
        tbuf u = tb_copy(&t);
        t_craft(u.d, u.len, cases[c], ns[c]);
        memcpy(model, base, size);
        if (c == 0)
            memcpy(model + 4096, page, VX_PAGE);
        if (c == 1)
            memset(model + 2u * MIB + 8192, 0, 8192);
        if (c == 2) {
            memset(model + 4096, 0, 8192);
            memcpy(model + 2u * MIB + 65536, page2, VX_PAGE);
        }
        /* the driver's own read, and the map: the overridden run has no file offset */
        assert_int_equal(tb_open(&u, 0, &img, &err), VF_OK);
        assert_true(vf_image_info_get(img)->log_replayed);
        uint8_t *buf = malloc(size);
        assert_non_null(buf);
        assert_int_equal(vf_image_read(img, 0, buf, size, &err), VF_OK);
        assert_memory_equal(buf, model, size);
        vf_extent x;
        assert_int_equal(vf_image_map(img, c == 1 ? 2u * MIB + 8192 : 4096, MIB, &x, &err), VF_OK);
        assert_true(x.kind == VF_EXTENT_PRESENT && x.overlaid && x.file_off == 0);
        assert_int_equal(x.len, c == 0 ? 4096u : 8192u);
        assert_int_equal(vf_image_map(img, 0, MIB, &x, &err), VF_OK);
        assert_true(!x.overlaid && x.file_off == e0.file_off);
        assert_true(c == 1 || x.len == 4096); /* cut where the overlay starts */
        vf_image_close(img);
        t_tool_reference(u.d, u.len, model, size);
        /* every reader through the chain */
        vf_fs *fs;
        assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
        assert_int_equal(vf_fs_mem_put(fs, "s.vhdx", u.d, u.len, &err), VF_OK);
        t_all_readers(fs, "s.vhdx", model, size, "standalone");
        vf_fs_mem_free(fs);
        /* the replay written on the first write gives the same disk */
        assert_int_equal(tb_open(&u, VF_OPEN_RDWR, &img, &err), VF_OK);
        assert_int_equal(vf_image_write(img, 7u * MIB, base, 512, &err), VF_OK);
        memcpy(model + 7u * MIB, base, 512);
        assert_int_equal(vf_image_flush(img, &err), VF_OK);
        vf_image_close(img);
        assert_int_equal(tb_open(&u, 0, &img, &err), VF_OK);
        assert_false(vf_image_info_get(img)->log_replayed);
        assert_int_equal(vf_image_read(img, 0, buf, size, &err), VF_OK);
        assert_memory_equal(buf, model, size);
        vf_image_close(img);
        free(buf);
        tb_free(&u);
    }
    free(base);
    free(model);
    tb_free(&t);
}

/* In the generated chain of g, a pending data page in level lvl over bytes that level defines
 * top-most; model (the view before) is patched as an independent replay would. */
static void t_pending_in_level(vf_fs *fs, const vf_gen_result *g, unsigned lvl, uint8_t *model,
                               uint64_t size)
{
    char top[64], p[64];
    mt_path(top, sizeof top, "c", g, g->nlevels - 1);
    mt_path(p, sizeof p, "c", g, lvl);
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fs;
    vf_chain *c;
    vf_error err = {0};
    assert_int_equal(vf_chain_open(top, &co, &c, &err), VF_OK);
    assert_int_equal(vf_chain_read(c, 0, model, size, &err), VF_OK);
    size_t want = g->nlevels - 1 - lvl; /* chain level 0 is the top */
    uint64_t voff = 0, fo = 0, v = 0;
    bool found = false;
    while (!found && v < size) {
        vf_chain_extent e;
        assert_int_equal(vf_chain_map(c, 0, vf_chain_depth(c) - 1, v, size - v, &e, &err), VF_OK);
        uint64_t delta = (VX_PAGE - e.file_off % VX_PAGE) % VX_PAGE;
        if (e.kind == VF_EXTENT_PRESENT && e.level == want && delta + VX_PAGE <= e.len) {
            voff = v + delta;
            fo = e.file_off + delta;
            found = true;
        }
        v += e.len;
    }
    vf_chain_close(c);
    if (!found)
        fail_msg("level %u defines no whole 4 KiB page top-most", lvl);
    uint8_t page[VX_PAGE];
    t_fill(page, sizeof page, voff, (uint8_t)(200 + lvl));
    memcpy(model + voff, page, VX_PAGE);
    size_t len;
    const uint8_t *cur = vf_fs_mem_get(fs, p, &len);
    uint8_t *d = malloc(len);
    assert_non_null(d);
    memcpy(d, cur, len);
    tdesc ds[] = {{fo, 0, page}};
    t_craft(d, len, ds, 1);
    assert_int_equal(vf_fs_mem_put(fs, p, d, len, &err), VF_OK);
    free(d);
}

static void t_merge_verify(const vf_fs *fs, const char *src, const char *dst, int want)
{
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = src;
    o.destination = dst;
    o.fs = fs;
    o.batch_bytes = 1u << 20;
    o.verify = VF_MERGE_VERIFY_FLAT;
    vf_merge_result r;
    int st = vf_merge_run(&o, &r);
    if (st != want)
        fail_msg("merge %s -> %s: status %d (%s)", src, dst, st, r.err.msg);
    vf_merge_result_free(&r);
}

/* Base, middle and top each carry the pending page in turn; the base (and, for the middle
 * case, the middle) is DESTINATION of a merge --verify, which must agree with every reader. */
static void test_pending_levels(void **state)
{
    (void)state;
    for (unsigned lvl = 0; lvl < 3; lvl++) {
        for (unsigned dest = 0; dest <= (lvl == 1 ? 1u : 0u); dest++) {
            vf_fs *fs;
            assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
            vf_gen_result g;
            mt_gen_vhdx(fs, "c", 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 7100 + lvl, &g);
            uint64_t size = 8u * MIB;
            uint8_t *model = malloc(size);
            assert_non_null(model);
            t_pending_in_level(fs, &g, lvl, model, size);
            char top[64], dst[64], what[64];
            mt_path(top, sizeof top, "c", &g, 2);
            mt_path(dst, sizeof dst, "c", &g, dest);
            snprintf(what, sizeof what, "pending page in level %u", lvl);
            t_all_readers(fs, top, model, size, what);
            t_merge_verify(fs, top, dst, VF_MERGE_COMPLETED);
            uint8_t md[32], want[32];
            t_sha(model, size, want);
            assert_true(mt_flat(fs, dst, md));
            if (memcmp(md, want, 32) != 0)
                fail_msg("%s: DESTINATION level %u's view after the merge differs", what, dest);
            free(model);
            vf_gen_result_free(&g);
            vf_fs_mem_free(fs);
        }
    }
}

/* --- a refused merge writes nothing, DESTINATION's pending log included --- */

typedef struct small_fs {
    vf_fs fs;
    const vf_fs *inner;
} small_fs;

static vf_status sm_open(void *self, const char *path, unsigned flags, vf_io **out, vf_error *e)
{
    small_fs *d = self;
    return d->inner->ops->open(d->inner->self, path, flags, out, e);
}
static vf_status sm_remove(void *self, const char *path, vf_error *e)
{
    small_fs *d = self;
    return d->inner->ops->remove(d->inner->self, path, e);
}
static vf_status sm_free(void *self, const char *path, uint64_t *bytes, vf_error *e)
{
    (void)self, (void)path, (void)e;
    *bytes = 4096;
    return VF_OK;
}
static vf_status sm_sync_dir(void *self, const char *path, vf_error *e)
{
    small_fs *d = self;
    return d->inner->ops->sync_dir(d->inner->self, path, e);
}
static const vf_fs_ops sm_ops = {
    .open = sm_open, .remove = sm_remove, .free_space = sm_free, .sync_dir = sm_sync_dir};

static void test_refused_merge_writes_nothing(void **state)
{
    (void)state;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    vf_gen_result g;
    mt_gen_vhdx(fs, "c", 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 7200, &g);
    uint8_t *model = malloc(8u * MIB);
    assert_non_null(model);
    t_pending_in_level(fs, &g, 0, model, 8u * MIB); /* DESTINATION has a pending log */
    char names[4][64];
    const char *ptrs[4];
    for (unsigned l = 0; l < 3; l++) {
        mt_path(names[l], 64, "c", &g, l);
        ptrs[l] = names[l];
    }
    snprintf(names[3], 64, "%.50s.vfmerge", names[0]);
    ptrs[3] = names[3];
    mt_snap s;
    mt_snap_take(fs, ptrs, 4, &s);
    small_fs d;
    memset(&d, 0, sizeof d);
    d.fs.ops = &sm_ops;
    d.fs.self = &d;
    d.inner = fs;
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = names[2];
    o.destination = names[0];
    o.fs = &d.fs;
    vf_merge_result r;
    assert_int_equal(vf_merge_run(&o, &r), VF_MERGE_FAILED);
    assert_int_equal(r.err.sys_errno, ENOSPC);
    vf_merge_result_free(&r);
    const char *changed = mt_snap_changed(fs, &s);
    if (changed)
        fail_msg("the refused merge changed '%s'", changed);
    mt_snap_free(&s);
    free(model);
    vf_gen_result_free(&g);
    vf_fs_mem_free(fs);
}

/* --- bounds on what a replay may write --- */

static void test_replay_bounds(void **state)
{
    (void)state;
    tbuf t;
    vf_image *img = t_create(&t, VF_DISK_DYNAMIC, 8u * MIB, MIB, 512, NULL);
    vf_image_close(img);
    vf_error err = {0};
    uint64_t fsz = t.len;
    struct {
        uint64_t zoff, zlen, last;
        vf_status want;
    } cases[] = {
        {4u * MIB, 3ull << 30, fsz, VF_E_CORRUPT},         /* zeros 3 GiB past the end */
        {4u * MIB, 4096, 128ull << 40, VF_E_CORRUPT},      /* LastFileOffset 128 TiB */
        {fsz, 64u * MIB, fsz + 64u * MIB, VF_OK},          /* growth inside the slack */
        {fsz, 300u * MIB, fsz + 300u * MIB, VF_E_CORRUPT}, /* growth past the slack */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        tbuf u = tb_copy(&t);
        tlog L = t_arm_header(u.d, 0, 0);
        memset(u.d + L.off, 0, L.len);
        tdesc z[] = {{cases[i].zoff, cases[i].zlen, NULL}};
        t_put_entry(u.d, L, 0, 1, 0, z, 1, fsz, cases[i].last);
        tbuf before = tb_copy(&u);
        vf_status st = tb_open(&u, VF_OPEN_RDWR, &img, &err);
        if (st != cases[i].want)
            fail_msg("case %zu: open gave %d (%s)", i, (int)st, err.msg);
        assert_int_equal(u.writes, 0); /* open writes nothing, refused or not */
        if (st == VF_OK) {
            assert_int_equal(vf_image_info_get(img)->log_replay_bytes, cases[i].zlen);
            assert_int_equal(vx_st(img)->log_stats.written, 0);
            assert_int_equal(vf_image_write(img, 0, t.d, 512, &err), VF_OK);
            /* each zeroed byte once: the zeros and the growth coincide here */
            assert_true(vx_st(img)->log_stats.written <= 2 * cases[i].zlen);
            vf_image_close(img);
        }
        if (st != VF_OK)
            assert_memory_equal(u.d, before.d, before.len);
        tb_free(&before);
        tb_free(&u);
    }
    tb_free(&t);
}

/* --- work counts near the limits --- */

/* A VHDX with a log moved to the end of the file, after 8 MiB of free space. */
static tlog t_big_log(tbuf *t, uint32_t log_len)
{
    vf_image *img = t_create(t, VF_DISK_DYNAMIC, 8u * MIB, MIB, 512, NULL);
    vf_image_close(img);
    uint64_t off = (t->len + MIB - 1) / MIB * MIB + 8u * MIB;
    vf_error err = {0};
    vf_io *io = tb_io(t, true);
    assert_int_equal(vf_io_set_size(io, off + log_len, &err), VF_OK);
    vf_io_close(io);
    return t_arm_header(t->d, off, log_len);
}

static void test_head_search_linear(void **state)
{
    (void)state;
    const uint32_t log_len = 8u * MIB;
    tbuf t;
    tlog L = t_big_log(&t, log_len);
    /* every page claims to start an entry as long as the log, with a bad checksum: the old
     * search copied and checked 8 MiB at each of 2048 positions (16 GiB) */
    for (uint32_t pos = 0; pos < log_len; pos += VX_PAGE) {
        uint8_t *e = t.d + L.off + pos;
        memcpy(e, "loge", 4);
        vf_put_le32(e + 8, log_len);
        vf_put_le64(e + 16, 5 + pos / VX_PAGE);
        memcpy(e + 32, t_guid, 16);
    }
    vf_image *img;
    vf_error err = {0};
    assert_int_equal(tb_open(&t, 0, &img, &err), VF_OK);
    assert_false(vf_image_info_get(img)->log_replayed);
    const vx_log_stats *ls = &vx_st(img)->log_stats;
    assert_int_equal(ls->entries, log_len / VX_PAGE);
    assert_true(ls->crc_bytes <= log_len + 8ull * (log_len / VX_PAGE));
    vf_image_close(img);
    tb_free(&t);
}

static void t_zero_descs(tdesc *ds, size_t n, uint64_t base)
{
    for (size_t k = 0; k < n; k++) /* overlapping runs of 1..7 pages over 1024 pages */
        ds[k] = (tdesc){base + (k * 389 % 1024) * VX_PAGE, VX_PAGE * (1 + k % 7), NULL};
}

static void test_overlay_limits(void **state)
{
    (void)state;
    const uint32_t log_len = 8u * MIB;
    const size_t n = VX_LOG_MAX_DESC;
    tdesc *ds = malloc((n + 1) * sizeof *ds);
    assert_non_null(ds);
    t_zero_descs(ds, n + 1, 4u * MIB); /* inside the 8 MiB before the log */
    for (int over = 0; over < 2; over++) {
        tbuf t;
        tlog L = t_big_log(&t, log_len);
        t_put_entry(t.d, L, 0, 1, 0, ds, n + (size_t)over, t.len, t.len);
        vf_image *img;
        vf_error err = {0};
        vf_status st = tb_open(&t, 0, &img, &err);
        if (over) {
            assert_int_equal(st, VF_E_LIMIT);
            assert_non_null(strstr(err.msg, "t.vhdx"));
            tb_free(&t);
            continue;
        }
        if (st != VF_OK)
            fail_msg("open: %s", err.msg);
        vx_state *x = vx_st(img);
        const vx_log_stats *ls = &x->log_stats;
        /* building the index: a merge sort, a sort of the boundaries and a heap sweep */
        uint64_t lg = 17; /* log2(2n) rounded up */
        assert_true(ls->ovl_steps <= 8 * n * lg);
        assert_true(ls->descs <= 2 * n + 2);
        /* what info holds: the index and records (the log itself was freed after replay) */
        uint64_t mem = x->ovl_cap * sizeof(vx_ovl) + x->seg_cap * sizeof(vx_seg);
        assert_true(mem + log_len < 64u * MIB);
        /* a read of one page deep in the overlay: one binary search and the segment met (a
         * scan of the records or segments would cost hundreds of steps here) */
        uint64_t before = ls->ovl_steps;
        uint8_t *buf = malloc(8u * MIB);
        assert_non_null(buf);
        assert_int_equal(vf_vhdx_pread(x, buf, VX_PAGE, 8u * MIB, &err), VF_OK);
        assert_true(x->nseg > 100);
        assert_true(ls->ovl_steps - before <= lg + 2);
        assert_int_equal(vf_vhdx_pread(x, buf, 8u * MIB, 4u * MIB, &err), VF_OK);
        for (size_t k = 0; k < 4u * MIB + 7 * VX_PAGE; k++)
            if (buf[k])
                fail_msg("overlaid byte %zu is not zero", k);
        assert_int_equal(vf_image_read(img, 0, buf, 8u * MIB, &err), VF_OK);
        free(buf);
        vf_image_close(img);
        tb_free(&t);
    }
    free(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_shift),      cmocka_unit_test(test_pending_matrix),
        cmocka_unit_test(test_pending_levels), cmocka_unit_test(test_refused_merge_writes_nothing),
        cmocka_unit_test(test_replay_bounds),  cmocka_unit_test(test_head_search_linear),
        cmocka_unit_test(test_overlay_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
