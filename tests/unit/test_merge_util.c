/* test_merge_util.c - the helpers of tests/merge/merge_test_util.h, linked into each of the
 * merger's C tests. Layer: tests (merger). Uses the generator and the verifier's digest, an
 * independent path from the merger's own digest code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "merge_test_util.h"
#include "vf_verify.h"

void mt_gen(const vf_fs *fs, const char *dir, unsigned depth, vf_gen_base base,
            vf_gen_profile profile, uint64_t seed, vf_gen_result *res)
{
    vf_gen_opts o;
    vf_gen_opts_init(&o);
    o.seed = seed;
    o.depth = depth;
    o.virtual_size = 4u << 20;
    o.block_size = 512u << 10;
    o.base = base;
    o.profile = profile;
    o.density_ppm = 400000;
    vf_error err;
    if (vf_gen_run(&o, fs, dir, res, &err) != VF_OK)
        fail_msg("gen seed %llu depth %u: %s", (unsigned long long)seed, depth, err.msg);
}

void mt_gen_vhdx(const vf_fs *fs, const char *dir, unsigned depth, vf_gen_base base,
                 vf_gen_profile profile, uint64_t seed, vf_gen_result *res)
{
    vf_gen_opts o;
    vf_gen_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.seed = seed;
    o.depth = depth;
    o.virtual_size = 8u << 20;
    o.block_size = 1u << 20;
    o.sector_size = 512;
    o.base = base;
    o.profile = profile;
    o.density_ppm = 400000;
    vf_error err;
    if (vf_gen_run(&o, fs, dir, res, &err) != VF_OK)
        fail_msg("gen vhdx seed %llu depth %u: %s", (unsigned long long)seed, depth, err.msg);
}

void mt_path(char *out, size_t n, const char *dir, const vf_gen_result *g, unsigned lvl)
{
    snprintf(out, n, "%s/%s", dir, g->levels[lvl].file);
}

bool mt_flat(const vf_fs *fs, const char *path, uint8_t md[32])
{
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fs;
    vf_chain *c;
    vf_source *src;
    if (vf_chain_open(path, &co, &c, NULL) != VF_OK)
        return false;
    if (vf_source_from_chain(c, true, &src, NULL) != VF_OK)
        return false;
    vf_verify_opts vo;
    vf_verify_opts_init(&vo);
    vo.threads = 1;
    bool ok = vf_digest_flat(src, &vo, md, NULL) == VF_OK;
    vf_source_free(src);
    return ok;
}

bool mt_exists(const vf_fs *fs, const char *path)
{
    vf_io *io;
    if (vf_fs_open(fs, path, VF_IO_RDONLY, &io, NULL) != VF_OK)
        return false;
    vf_io_close(io);
    return true;
}

void mt_remove(const vf_fs *fs, const char *path)
{
    if (mt_exists(fs, path))
        assert_int_equal(vf_fs_remove(fs, path, NULL), VF_OK);
}

static uint8_t *mt_read_all(const vf_fs *fs, const char *path, size_t *len)
{
    vf_io *io;
    uint64_t size;
    *len = 0;
    if (vf_fs_open(fs, path, VF_IO_RDONLY, &io, NULL) != VF_OK)
        return NULL;
    assert_int_equal(vf_io_size(io, &size, NULL), VF_OK);
    uint8_t *buf = malloc(size ? (size_t)size : 1);
    assert_non_null(buf);
    if (size)
        assert_int_equal(vf_io_read(io, buf, (size_t)size, 0, NULL), VF_OK);
    vf_io_close(io);
    *len = (size_t)size;
    return buf;
}

void mt_snap_take(const vf_fs *fs, const char *const *paths, size_t n, mt_snap *s)
{
    memset(s, 0, sizeof *s);
    assert_true(n <= MT_MAX_FILES);
    for (size_t i = 0; i < n; i++) {
        s->path[i] = strdup(paths[i]);
        s->data[i] = mt_read_all(fs, paths[i], &s->len[i]);
    }
    s->n = n;
}

void mt_snap_restore(const vf_fs *fs, const mt_snap *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (!s->data[i]) {
            mt_remove(fs, s->path[i]);
            continue;
        }
        vf_io *io;
        vf_error err;
        if (vf_fs_open(fs, s->path[i], VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC, &io, &err) != VF_OK)
            fail_msg("restore '%s': %s", s->path[i], err.msg);
        if (s->len[i])
            assert_int_equal(vf_io_write(io, s->data[i], s->len[i], 0, NULL), VF_OK);
        vf_io_close(io);
    }
}

const char *mt_snap_changed(const vf_fs *fs, const mt_snap *s)
{
    for (size_t i = 0; i < s->n; i++) {
        size_t len;
        uint8_t *now = mt_read_all(fs, s->path[i], &len);
        bool same = (!now && !s->data[i]) ||
                    (now && s->data[i] && len == s->len[i] && !memcmp(now, s->data[i], len));
        free(now);
        if (!same)
            return s->path[i];
    }
    return NULL;
}

void mt_snap_free(mt_snap *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->path[i]);
        free(s->data[i]);
    }
    memset(s, 0, sizeof *s);
}
