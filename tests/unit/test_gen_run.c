/* test_gen_run.c - unit tests of vf_gen_run (gen/gen.c) on the in-memory file system: every
 * level read back through vf_chain_open/vf_chain_read hashes to the manifest's digest, the
 * images carry the planned identities and links, runs are byte-identical for a seed, and bad
 * options or existing files are refused with nothing written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <vhdfold/vf_chain.h>

#include "gen_int.h"
#include "vf_sha256.h"
#include "vhdx/vhdx_int.h" /* to count BAT states of generated VHDX levels */

static vf_fs *new_fs(void)
{
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, NULL), VF_OK);
    return fs;
}

/* Flat SHA-256 of the chain whose top is path, read through the format library. */
static void chain_sha(vf_fs *fs, const char *path, uint8_t md[32], uint64_t *vsize)
{
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fs;
    vf_chain *c;
    vf_error err = {0};
    if (vf_chain_open(path, &co, &c, &err) != VF_OK)
        fail_msg("opening '%s': %s", path, err.msg);
    uint64_t size = vf_chain_virtual_size(c);
    *vsize = size;
    vf_sha256 *h;
    assert_int_equal(vf_sha256_new(&h, NULL), VF_OK);
    const size_t chunk = 1u << 20;
    uint8_t *buf = malloc(chunk);
    assert_non_null(buf);
    for (uint64_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        if (vf_chain_read(c, off, buf, n, &err) != VF_OK)
            fail_msg("reading '%s' at %llu: %s", path, (unsigned long long)off, err.msg);
        assert_int_equal(vf_sha256_update(h, buf, n, NULL), VF_OK);
    }
    assert_int_equal(vf_sha256_final(h, md, NULL), VF_OK);
    vf_sha256_free(h);
    free(buf);
    vf_chain_close(c);
}

static vf_status run_gen(vf_fs *fs, const char *dir, const vf_gen_opts *o, vf_gen_result *res,
                         vf_error *err)
{
    vf_status st = vf_gen_run(o, fs, dir, res, err);
    if (st == VF_E_UNSUPPORTED)
        print_message("note: %s\n", err->msg);
    return st;
}

/* The reader and the model agree on every level, for each profile and both base types. */
static void test_levels_match_reader(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {2u << 20, (3u << 20) + 512, 8390656};
    unsigned checked = 0;
    for (unsigned i = 0; i < 12; i++) {
        vf_fs *fs = new_fs();
        vf_gen_opts o;
        vf_gen_opts_init(&o);
        o.seed = 1000 + i;
        o.profile = (vf_gen_profile)(i % 4);
        o.base = i % 2 ? VF_GEN_BASE_FIXED : VF_GEN_BASE_DYNAMIC;
        o.virtual_size = sizes[i % 3];
        o.block_size = (512u << 10) << (i % 3);
        o.depth = i % 5;
        o.density_ppm = 500000;
        vf_gen_result res;
        vf_error err = {0};
        if (run_gen(fs, "out", &o, &res, &err) != VF_OK)
            fail_msg("seed %llu: %s", (unsigned long long)o.seed, err.msg);
        for (unsigned l = 0; l < res.nlevels; l++) {
            char path[64];
            snprintf(path, sizeof path, "out/%s", res.levels[l].file);
            uint8_t md[32];
            uint64_t vsize;
            chain_sha(fs, path, md, &vsize);
            assert_int_equal(vsize, o.virtual_size);
            assert_true(res.levels[l].has_sha256);
            if (memcmp(md, res.levels[l].sha256, 32))
                fail_msg("seed %llu level %u: reader and model disagree",
                         (unsigned long long)o.seed, l);
            checked++;
        }
        size_t len;
        assert_non_null(vf_fs_mem_get(fs, "out/manifest.json", &len));
        assert_int_equal(len, strlen(res.manifest));
        vf_gen_result_free(&res);
        vf_fs_mem_free(fs);
    }
    assert_true(checked >= 30);
}

/* Identities, types, parent links and creators are what the plan said. */
static void test_image_metadata(void **state)
{
    (void)state;
    vf_fs *fs = new_fs();
    vf_gen_opts o;
    vf_gen_opts_init(&o);
    o.seed = 77;
    o.virtual_size = 4u << 20;
    o.depth = 3;
    o.base = VF_GEN_BASE_DYNAMIC;
    vf_gen_result res;
    vf_error err = {0};
    if (run_gen(fs, "d", &o, &res, &err) != VF_OK)
        fail_msg("%s", err.msg);
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fs;
    vf_chain *c;
    if (vf_chain_open("d/03-diff.vhd", &co, &c, &err) != VF_OK)
        fail_msg("%s", err.msg);
    assert_int_equal(vf_chain_depth(c), 4);
    for (size_t k = 0; k < 4; k++) {
        const vf_image_info *info = vf_image_info_get(vf_chain_image(c, k));
        const vf_gen_level *lv = &res.levels[3 - k];
        assert_memory_equal(info->id, lv->id, 16);
        assert_int_equal(info->type, lv->type);
        assert_int_equal(info->virtual_size, o.virtual_size);
        assert_int_equal(info->timestamp, lv->timestamp);
        if (k < 3) {
            assert_memory_equal(info->parent_id, res.levels[2 - k].id, 16);
            assert_true(info->has_parent);
        }
    }
    vf_chain_close(c);
    vf_gen_result_free(&res);
    vf_fs_mem_free(fs);
}

/* Same seed, same bytes; the directory name does not leak into the files. */
static void test_byte_identical(void **state)
{
    (void)state;
    vf_fs *fs = new_fs();
    vf_gen_opts o;
    vf_gen_opts_init(&o);
    o.seed = 31337;
    o.virtual_size = 3u << 20;
    o.block_size = 1u << 20;
    o.depth = 2;
    vf_gen_result a, b;
    vf_error err = {0};
    if (run_gen(fs, "a", &o, &a, &err) != VF_OK || run_gen(fs, "bb/c", &o, &b, &err) != VF_OK)
        fail_msg("%s", err.msg);
    for (unsigned l = 0; l < a.nlevels; l++) {
        char pa[64], pb[64];
        snprintf(pa, sizeof pa, "a/%s", a.levels[l].file);
        snprintf(pb, sizeof pb, "bb/c/%s", b.levels[l].file);
        size_t la, lb;
        const uint8_t *da = vf_fs_mem_get(fs, pa, &la);
        assert_non_null(da);
        uint8_t *copy = malloc(la);
        assert_non_null(copy);
        memcpy(copy, da, la);
        const uint8_t *db = vf_fs_mem_get(fs, pb, &lb);
        assert_non_null(db);
        assert_int_equal(la, lb);
        assert_memory_equal(copy, db, la);
        free(copy);
    }
    assert_string_equal(a.manifest, b.manifest);
    vf_gen_result_free(&a);
    vf_gen_result_free(&b);
    vf_fs_mem_free(fs);
}

/* Bad options and existing files: an error naming the problem, and nothing written. */
static void test_refusals_write_nothing(void **state)
{
    (void)state;
    vf_fs *fs = new_fs();
    vf_gen_opts o;
    vf_gen_opts_init(&o);
    vf_gen_result res;
    vf_error err = {0};
    o.virtual_size = 0;
    assert_int_equal(vf_gen_run(&o, fs, "x", &res, &err), VF_E_INVAL);
    assert_non_null(strstr(err.msg, "--size"));
    vf_gen_opts_init(&o);
    o.block_size = 3u << 20;
    assert_int_equal(vf_gen_run(&o, fs, "x", &res, &err), VF_E_INVAL);
    vf_gen_opts_init(&o);
    o.depth = VF_GEN_MAX_DEPTH + 1;
    assert_int_equal(vf_gen_run(&o, fs, "x", &res, &err), VF_E_INVAL);
    size_t len;
    assert_null(vf_fs_mem_get(fs, "x/00-base.vhd", &len));
    assert_null(vf_fs_mem_get(fs, "x/manifest.json", &len));
    /* an existing manifest: refused before any image is written, and left as it was */
    assert_int_equal(vf_fs_mem_put(fs, "y/manifest.json", "keep", 4, NULL), VF_OK);
    vf_gen_opts_init(&o);
    o.virtual_size = 2u << 20;
    assert_int_equal(vf_gen_run(&o, fs, "y", &res, &err), VF_E_INVAL);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_null(vf_fs_mem_get(fs, "y/00-base.vhd", &len));
    const uint8_t *d = vf_fs_mem_get(fs, "y/manifest.json", &len);
    assert_int_equal(len, 4);
    assert_memory_equal(d, "keep", 4);
    vf_fs_mem_free(fs);
}

/* VHDX goes through the same calls: it works end to end, or it is refused cleanly. */
static void test_vhdx(void **state)
{
    (void)state;
    vf_fs *fs = new_fs();
    vf_gen_opts o;
    vf_gen_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.virtual_size = 4u << 20;
    o.block_size = 1u << 20;
    o.depth = 2;
    o.seed = 5;
    vf_gen_result res;
    vf_error err = {0};
    vf_status st = run_gen(fs, "v", &o, &res, &err);
    size_t len;
    if (st == VF_E_UNSUPPORTED) {
        assert_non_null(strstr(err.msg, "vhdx"));
        assert_null(vf_fs_mem_get(fs, "v/00-base.vhdx", &len));
        vf_fs_mem_free(fs);
        return;
    }
    if (st != VF_OK)
        fail_msg("%s", err.msg);
    for (unsigned l = 0; l < res.nlevels; l++) {
        char path[64];
        snprintf(path, sizeof path, "v/%s", res.levels[l].file);
        uint8_t md[32];
        uint64_t vsize;
        chain_sha(fs, path, md, &vsize);
        assert_memory_equal(md, res.levels[l].sha256, 32);
    }
    vf_gen_result_free(&res);
    vf_fs_mem_free(fs);
}

/* Payload-block states of one VHDX level, counted from its BAT (after any log replay). */
typedef struct vx_counts {
    unsigned zero, partial, full, not_present;
    uint32_t lss;
    bool replayed;
} vx_counts;

static void vhdx_counts(vf_fs *fs, const char *path, vx_counts *c)
{
    vf_io *io;
    vf_image *img;
    vf_error err = {0};
    memset(c, 0, sizeof *c);
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDONLY, &io, &err), VF_OK);
    if (vf_image_open(io, path, 0, &img, &err) != VF_OK)
        fail_msg("opening '%s': %s", path, err.msg);
    const vx_state *st = vx_st(img);
    for (uint64_t b = 0; b < st->payload_blocks; b++) {
        unsigned state =
            (unsigned)(vf_vhdx_bat_get(st, vf_vhdx_bat_index(st, b)) & VX_BAT_STATE_MASK);
        c->zero += state == VX_PB_ZERO;
        c->partial += state == VX_PB_PARTIALLY_PRESENT;
        c->full += state == VX_PB_FULLY_PRESENT;
        c->not_present += state == VX_PB_NOT_PRESENT;
    }
    c->lss = st->lss;
    c->replayed = vf_image_info_get(img)->log_replayed;
    vf_image_close(img);
}

/* Issue 6's variety: trims become ZERO blocks, partial child writes PARTIALLY_PRESENT blocks,
 * 4096-byte sectors, dirty levels that only a replay makes right; every level still reads
 * back to its manifest digest, and the same seed gives the same bytes. */
static void test_vhdx_variety(void **state)
{
    (void)state;
    unsigned zero = 0, partial = 0, trims = 0, big = 0, replayed = 0, levels = 0;
    for (unsigned i = 0; i < 6; i++) {
        vf_fs *fs = new_fs();
        vf_gen_opts o;
        vf_gen_opts_init(&o);
        o.format = VF_FORMAT_VHDX;
        o.virtual_size = 8u << 20;
        o.block_size = 1u << (20 + i % 2);
        o.depth = 3;
        o.seed = 600 + i;
        o.density_ppm = 700000;
        o.base = VF_GEN_BASE_DYNAMIC;
        o.sector_size = i % 3 == 2 ? 4096 : 0; /* 0: drawn by the mixed profile */
        o.dirty = (vf_gen_dirty)(i % 3);
        vf_gen_result res;
        vf_error err = {0};
        if (vf_gen_run(&o, fs, "v", &res, &err) != VF_OK)
            fail_msg("seed %u: %s", 600 + i, err.msg);
        for (unsigned l = 0; l < res.nlevels; l++) {
            char path[64];
            snprintf(path, sizeof path, "v/%s", res.levels[l].file);
            uint8_t md[32];
            uint64_t vsize;
            chain_sha(fs, path, md, &vsize);
            assert_memory_equal(md, res.levels[l].sha256, 32);
            vx_counts c;
            vhdx_counts(fs, path, &c);
            assert_int_equal(c.lss, res.opts.sector_size);
            /* a dirty level with writes needs its log; a clean one never does */
            assert_int_equal(c.replayed, res.levels[l].dirty && res.levels[l].writes > 0);
            /* trims come last in a level, one per block: each leaves a ZERO block */
            assert_true(c.zero >= res.levels[l].trims);
            zero += c.zero;
            partial += c.partial;
            trims += res.levels[l].trims;
            replayed += c.replayed;
            levels++;
        }
        big += res.opts.sector_size == 4096;
        /* determinism: a second run elsewhere writes the same bytes */
        vf_gen_result again;
        assert_int_equal(vf_gen_run(&o, fs, "w", &again, &err), VF_OK);
        for (unsigned l = 0; l < res.nlevels; l++) {
            char a[64], b[64];
            size_t la, lb;
            snprintf(a, sizeof a, "v/%s", res.levels[l].file);
            snprintf(b, sizeof b, "w/%s", res.levels[l].file);
            const uint8_t *da = vf_fs_mem_get(fs, a, &la), *db = vf_fs_mem_get(fs, b, &lb);
            assert_non_null(da);
            assert_non_null(db);
            assert_int_equal(la, lb);
            if (memcmp(da, db, la) != 0)
                fail_msg("seed %u level %u: a rerun wrote different bytes", 600 + i, l);
        }
        vf_gen_result_free(&again);
        vf_gen_result_free(&res);
        vf_fs_mem_free(fs);
    }
    print_message("%u levels: %u ZERO blocks from %u trims, %u partially present, %u chains "
                  "with 4 KiB sectors, %u levels replayed\n",
                  levels, zero, trims, partial, big, replayed);
    assert_true(trims > 0);
    assert_true(partial > 0);
    assert_true(big >= 2);
    assert_true(replayed > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_match_reader),
        cmocka_unit_test(test_image_metadata),
        cmocka_unit_test(test_byte_identical),
        cmocka_unit_test(test_refusals_write_nothing),
        cmocka_unit_test(test_vhdx),
        cmocka_unit_test(test_vhdx_variety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
