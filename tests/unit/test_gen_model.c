/* test_gen_model.c - unit tests of the generator's model (gen/model.c, gen/digest.c):
 * the PRNG against the published SplitMix64 outputs and pinned keys, the extent map and the
 * view against brute-force byte arrays, the model's digests against hashing a materialised
 * disk, option parsing and validation. No image files: see test_gen_run.c for those. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gen_int.h"
#include "vf_sha256.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Pinned values, computed once from the definitions in docs/gen.md (keys cross-checked
 * with an independent Python transcription). */
#define VF_PIN_KEY_000 0x238275BC38FCBE91ull
#define VF_PIN_KEY_42_3_7 0xE657606FF05C1364ull
#define VF_PIN_MANIFEST_1 "54d436a53d094b4103a2cdc47431f4d655fd2596647ea9be6b7ca32893ec4a7b"
#define VF_PIN_MANIFEST_2024 "ae9135cc9891f24c5df6387ff97cd2a6d0e39fe967bb1b705a3613bc256c290f"
#define VF_PIN_MANIFEST_BIG "52860ba4ba100576297a01680655505b260a4f45bf7bf1923ec9259eefabaf9c"

/* SplitMix64 seeded with 0: the first outputs of the reference implementation. */
static void test_splitmix_reference(void **state)
{
    (void)state;
    vf_gen_rng r;
    vf_gen_rng_init(&r, 0);
    assert_int_equal(vf_gen_next(&r), 0xE220A8397B1DCDAFull);
    assert_int_equal(vf_gen_next(&r), 0x6E789E6AA1B965F4ull);
    assert_int_equal(vf_gen_next(&r), 0x06C45D188009454Full);
    /* random access agrees with the sequential stream */
    assert_int_equal(vf_gen_at(0, 2), 0x06C45D188009454Full);
}

/* Frozen: changing a key or the data layout changes every seed's bytes. */
static void test_keys_and_data_pinned(void **state)
{
    (void)state;
    assert_int_equal(vf_gen_key(0, 0, 0), VF_PIN_KEY_000);
    assert_int_equal(vf_gen_key(42, 3, 7), VF_PIN_KEY_42_3_7);
    uint8_t buf[16];
    vf_gen_fill(42, 3, 7, 4096, buf, sizeof buf);
    uint64_t w0 = 0;
    for (int i = 7; i >= 0; i--)
        w0 = w0 << 8 | buf[i];
    assert_int_equal(w0, vf_gen_at(vf_gen_key(42, 3, 7), 4096 / 8));
    /* the same bytes whatever the start of the buffer */
    uint8_t big[4112];
    vf_gen_fill(42, 3, 7, 0, big, sizeof big);
    assert_memory_equal(big + 4096, buf, sizeof buf);
}

/* The map against a byte-per-sector array, random puts. */
static void test_map_random(void **state)
{
    (void)state;
    enum { NS = 256 };
    uint32_t truth[NS];
    vf_gen_map m = {0};
    vf_gen_rng r;
    vf_gen_rng_init(&r, 99);
    memset(truth, 0, sizeof truth);
    for (uint32_t w = 1; w <= 400; w++) {
        uint64_t s = vf_gen_below(&r, NS), n = 1 + vf_gen_below(&r, NS - s);
        assert_int_equal(vf_gen_map_put(&m, s * 512, n * 512, w, false, NULL), VF_OK);
        for (uint64_t k = s; k < s + n; k++)
            truth[k] = w;
        uint32_t seen[NS];
        memset(seen, 0, sizeof seen);
        for (size_t i = 0; i < m.n; i++) {
            assert_true(m.v[i].len > 0);
            if (i)
                assert_true(m.v[i - 1].voff + m.v[i - 1].len <= m.v[i].voff);
            for (uint64_t k = m.v[i].voff / 512; k < (m.v[i].voff + m.v[i].len) / 512; k++)
                seen[k] = m.v[i].write;
        }
        assert_memory_equal(seen, truth, sizeof truth);
    }
    assert_true(vf_gen_map_intersects(&m, 0, NS * 512));
    vf_gen_map_free(&m);
}

/* The view from `top`, materialised by replaying every write of levels 0..top in order. */
static uint8_t *materialise(const vf_gen_plan *plan, unsigned top)
{
    uint64_t size = plan->opts.virtual_size;
    uint8_t *disk = calloc(1, size);
    assert_non_null(disk);
    for (unsigned l = 0; l <= top; l++)
        for (size_t i = 0; i < plan->lv[l].nw; i++) {
            const vf_gen_write *w = &plan->lv[l].w[i];
            if (w->zero)
                memset(disk + w->voff, 0, w->len);
            else
                vf_gen_fill(plan->opts.seed, l, w->write, w->voff, disk + w->voff, w->len);
        }
    return disk;
}

static void tree_of(const uint8_t *disk, uint64_t size, uint8_t out[32])
{
    const uint64_t b = 2u << 20;
    vf_sha256 *h;
    assert_int_equal(vf_sha256_new(&h, NULL), VF_OK);
    uint8_t head[32] = "vhdfold-tree-v1";
    for (int i = 0; i < 8; i++)
        head[16 + i] = (uint8_t)(size >> (8 * i));
    head[24 + 2] = 0x20; /* 2 MiB little-endian */
    assert_int_equal(vf_sha256_update(h, head, sizeof head, NULL), VF_OK);
    for (uint64_t off = 0; off < size; off += b) {
        uint8_t leaf[32];
        uint64_t n = size - off < b ? size - off : b;
        assert_int_equal(vf_sha256_once(disk + off, n, leaf, NULL), VF_OK);
        assert_int_equal(vf_sha256_update(h, leaf, 32, NULL), VF_OK);
    }
    assert_int_equal(vf_sha256_final(h, out, NULL), VF_OK);
    vf_sha256_free(h);
}

/* For many seeds, profiles, sizes: model digests == hashes of the replayed disk. */
static void test_digests_match_replay(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {1u << 20, 3u << 20, (5u << 20) + 3 * 512, 8390656};
    static const uint32_t blocks[] = {512u << 10, 1u << 20, 2u << 20};
    unsigned cases = 0, zero_writes = 0, crossing = 0;
    for (uint64_t seed = 1; seed <= 48; seed++) {
        vf_gen_opts o;
        vf_gen_opts_init(&o);
        o.seed = seed * 7919;
        o.profile = (vf_gen_profile)(seed % 4);
        o.virtual_size = sizes[seed % ARRAY_LEN(sizes)];
        o.block_size = blocks[(seed / 4) % ARRAY_LEN(blocks)];
        o.depth = (unsigned)(seed % 6);
        o.density_ppm = 300000 + (uint32_t)(seed % 5) * 150000;
        vf_gen_plan plan;
        assert_int_equal(vf_gen_plan_build(&o, &plan, NULL), VF_OK);
        for (unsigned top = 0; top < plan.nlevels; top++) {
            uint8_t *disk = materialise(&plan, top);
            uint8_t want_flat[32], want_tree[32], flat[32], tree[32];
            assert_int_equal(vf_sha256_once(disk, o.virtual_size, want_flat, NULL), VF_OK);
            tree_of(disk, o.virtual_size, want_tree);
            /* one pass for both digests, and the flat digest on a thread of its own */
            for (int split = 0; split < 2; split++) {
                memset(flat, 0, 32);
                memset(tree, 0, 32);
                assert_int_equal(
                    vf_gen_digest_level(&plan, top, true, split != 0, flat, tree, NULL), VF_OK);
                if (memcmp(flat, want_flat, 32) || memcmp(tree, want_tree, 32))
                    fail_msg("seed %llu level %u split %d: model digest differs from the "
                             "replayed disk",
                             (unsigned long long)o.seed, top, split);
            }
            free(disk);
            for (size_t i = 0; i < plan.lv[top].nw; i++) {
                const vf_gen_write *w = &plan.lv[top].w[i];
                zero_writes += w->zero;
                crossing += w->voff / o.block_size != (w->voff + w->len - 1) / o.block_size;
            }
            cases++;
        }
        vf_gen_plan_free(&plan);
    }
    /* the mix really contains the kinds it promises */
    assert_true(cases > 100);
    assert_true(zero_writes > 10);
    print_message("%u views, %u zero writes, %u block-crossing writes\n", cases, zero_writes,
                  crossing);
    assert_true(crossing > 10);
}

/* Whole-block profile writes whole blocks only; aligned profile stays 4 KiB aligned. */
static void test_profiles_shape(void **state)
{
    (void)state;
    vf_gen_opts o;
    vf_gen_opts_init(&o);
    o.virtual_size = 16u << 20;
    o.block_size = 1u << 20;
    o.depth = 4;
    o.density_ppm = 500000;
    for (int p = VF_GEN_PROFILE_ALIGNED; p <= VF_GEN_PROFILE_BLOCKS; p++) {
        o.profile = (vf_gen_profile)p;
        o.seed = 5;
        vf_gen_plan plan;
        assert_int_equal(vf_gen_plan_build(&o, &plan, NULL), VF_OK);
        size_t n = 0;
        for (unsigned l = 0; l < plan.nlevels; l++)
            for (size_t i = 0; i < plan.lv[l].nw; i++, n++) {
                const vf_gen_write *w = &plan.lv[l].w[i];
                if (p == VF_GEN_PROFILE_BLOCKS)
                    assert_true(w->voff % o.block_size == 0 && w->len == o.block_size);
                if (p == VF_GEN_PROFILE_ALIGNED)
                    assert_true(w->voff % 4096 == 0 && w->len % 4096 == 0);
                assert_true(w->voff % 512 == 0 && w->len % 512 == 0);
                if (l == 0)
                    assert_false(w->zero);
            }
        assert_true(n > 10);
        vf_gen_plan_free(&plan);
    }
}

/* Same options, same manifest; another seed, another one. Pinned manifests for 3 seeds. */
static void test_manifest_stable(void **state)
{
    (void)state;
    static const struct {
        uint64_t seed;
        const char *sha;
    } pins[] = {
        {1, VF_PIN_MANIFEST_1},
        {2024, VF_PIN_MANIFEST_2024},
        {9007199254740991ull, VF_PIN_MANIFEST_BIG},
    };
    unsigned mismatches = 0;
    for (size_t i = 0; i < ARRAY_LEN(pins); i++) {
        vf_gen_opts o;
        vf_gen_opts_init(&o);
        o.seed = pins[i].seed;
        o.virtual_size = 4u << 20;
        o.block_size = 512u << 10;
        o.depth = 3;
        o.density_ppm = 400000;
        vf_gen_result a, b;
        assert_int_equal(vf_gen_model_only(&o, &a, NULL), VF_OK);
        assert_int_equal(vf_gen_model_only(&o, &b, NULL), VF_OK);
        assert_string_equal(a.manifest, b.manifest);
        uint8_t md[32];
        char hex[VF_SHA256_HEX_LEN];
        assert_int_equal(vf_sha256_once(a.manifest, strlen(a.manifest), md, NULL), VF_OK);
        vf_sha256_hex(md, hex);
        if (strcmp(hex, pins[i].sha)) {
            print_error("seed %llu: manifest sha256 %s, pinned %s\n", (unsigned long long)o.seed,
                        hex, pins[i].sha);
            mismatches++;
        }
        o.seed++;
        vf_gen_result c;
        assert_int_equal(vf_gen_model_only(&o, &c, NULL), VF_OK);
        assert_string_not_equal(a.manifest, c.manifest);
        vf_gen_result_free(&a);
        vf_gen_result_free(&b);
        vf_gen_result_free(&c);
    }
    assert_int_equal(mismatches, 0);
}

static void test_density_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool ok;
        uint32_t ppm;
    } cases[] = {
        {"0.3", true, 300000}, {"1", true, 1000000},  {".05", true, 50000}, {"0", true, 0},
        {"25%", true, 250000}, {"0.000001", true, 1}, {"1.5", false, 0},    {"", false, 0},
        {"-0.1", false, 0},    {"0.1x", false, 0},    {".", false, 0},      {"0.0000001", false, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        uint32_t ppm = 12345;
        bool ok = vf_gen_parse_density(cases[i].text, &ppm);
        if (ok != cases[i].ok || (ok && ppm != cases[i].ppm))
            fail_msg("'%s': got %d/%u", cases[i].text, ok, ppm);
    }
}

static void test_validate(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint64_t size;
        uint32_t bs;
        unsigned depth;
        vf_format_kind fmt;
        const char *needle;
    } cases[] = {
        {"size 0", 0, 2u << 20, 1, VF_FORMAT_VHD, "--size 0"},
        {"size not sector multiple", (4u << 20) + 100, 2u << 20, 1, VF_FORMAT_VHD, "--size"},
        {"vhd over 2040 GiB", 2048ull << 30, 2u << 20, 1, VF_FORMAT_VHD, "--size"},
        {"block not power of two", 4u << 20, 3u << 20, 1, VF_FORMAT_VHD, "power of two"},
        {"block too small", 4u << 20, 4096, 1, VF_FORMAT_VHD, "--block-size"},
        {"vhdx block under 1 MiB", 4u << 20, 512u << 10, 1, VF_FORMAT_VHDX, "--block-size"},
        {"depth over the limit", 4u << 20, 2u << 20, 65, VF_FORMAT_VHD, "--depth 65"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        vf_gen_opts o;
        vf_gen_opts_init(&o);
        o.virtual_size = cases[i].size;
        o.block_size = cases[i].bs;
        o.depth = cases[i].depth;
        o.format = cases[i].fmt;
        vf_error err = {0};
        if (vf_gen_validate(&o, &err) != VF_E_INVAL || !strstr(err.msg, cases[i].needle))
            fail_msg("%s: got '%s'", cases[i].name, err.msg);
    }
    vf_gen_opts o;
    vf_gen_opts_init(&o);
    o.depth = 64;
    o.virtual_size = 2040ull << 30;
    assert_int_equal(vf_gen_validate(&o, NULL), VF_OK);
    /* sector sizes and dirty levels: VHDX only, and sizes 7-Zip can read */
    static const struct {
        vf_format_kind fmt;
        uint32_t sector;
        vf_gen_dirty dirty;
        uint64_t size;
        const char *needle; /* NULL: accepted */
    } more[] = {
        {VF_FORMAT_VHD, 4096, VF_GEN_DIRTY_NONE, 8u << 20, "--sector-size 4096"},
        {VF_FORMAT_VHDX, 1024, VF_GEN_DIRTY_NONE, 8u << 20, "--sector-size 1024"},
        {VF_FORMAT_VHDX, 4096, VF_GEN_DIRTY_NONE, (8u << 20) + 4096, "8192"},
        {VF_FORMAT_VHDX, 512, VF_GEN_DIRTY_NONE, (8u << 20) + 2048, "4096"},
        {VF_FORMAT_VHD, 0, VF_GEN_DIRTY_TOP, 8u << 20, "--dirty top"},
        {VF_FORMAT_VHDX, 0, (vf_gen_dirty)7, 8u << 20, "--dirty"},
        {VF_FORMAT_VHDX, 4096, VF_GEN_DIRTY_ALL, (8u << 20) + 8192, NULL},
        {VF_FORMAT_VHDX, 512, VF_GEN_DIRTY_TOP, (8u << 20) + 4096, NULL},
        {VF_FORMAT_VHD, 512, VF_GEN_DIRTY_NONE, (8u << 20) + 512, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(more); i++) {
        vf_gen_opts_init(&o);
        o.format = more[i].fmt;
        o.sector_size = more[i].sector;
        o.dirty = more[i].dirty;
        o.virtual_size = more[i].size;
        vf_error err = {0};
        vf_status st = vf_gen_validate(&o, &err);
        if (more[i].needle ? st != VF_E_INVAL || !strstr(err.msg, more[i].needle) : st != VF_OK)
            fail_msg("case %zu: status %d, '%s'", i, (int)st, err.msg);
    }
}

/* The sector size a VHDX chain gets: given, or drawn by the mixed profile only (both values
 * occur over seeds), and never 4096 when the size is an odd number of 4 KiB sectors. */
static void test_sector_draw(void **state)
{
    (void)state;
    unsigned big = 0, small = 0;
    for (uint64_t seed = 0; seed < 64; seed++) {
        vf_gen_opts o;
        vf_gen_opts_init(&o);
        o.format = VF_FORMAT_VHDX;
        o.virtual_size = 4u << 20;
        o.block_size = 1u << 20;
        o.depth = 0;
        o.seed = seed;
        vf_gen_plan p;
        assert_int_equal(vf_gen_plan_build(&o, &p, NULL), VF_OK);
        big += p.opts.sector_size == 4096;
        small += p.opts.sector_size == 512;
        vf_gen_plan_free(&p);
        o.virtual_size = (4u << 20) + 4096;
        assert_int_equal(vf_gen_plan_build(&o, &p, NULL), VF_OK);
        assert_int_equal(p.opts.sector_size, 512);
        vf_gen_plan_free(&p);
        o.virtual_size = 4u << 20;
        o.profile = VF_GEN_PROFILE_ALIGNED;
        assert_int_equal(vf_gen_plan_build(&o, &p, NULL), VF_OK);
        assert_int_equal(p.opts.sector_size, 512);
        vf_gen_plan_free(&p);
        o.format = VF_FORMAT_VHD;
        o.profile = VF_GEN_PROFILE_MIXED;
        assert_int_equal(vf_gen_plan_build(&o, &p, NULL), VF_OK);
        assert_int_equal(p.opts.sector_size, 512);
        vf_gen_plan_free(&p);
    }
    assert_int_equal(big + small, 64);
    assert_true(big >= 16 && small >= 16);
}

/* With 4096-byte sectors every planned write is 4 KiB aligned; trims are whole blocks over
 * a lower level's data, only in VHDX differencing levels. */
static void test_vhdx_plan_shape(void **state)
{
    (void)state;
    unsigned trims = 0;
    for (uint64_t seed = 0; seed < 16; seed++) {
        vf_gen_opts o;
        vf_gen_opts_init(&o);
        o.format = VF_FORMAT_VHDX;
        o.virtual_size = (6u << 20) + 8192;
        o.block_size = 1u << 20;
        o.depth = 4;
        o.seed = seed;
        o.density_ppm = 600000;
        o.sector_size = seed % 2 ? 4096 : 512;
        o.profile = (vf_gen_profile)(seed % 4);
        vf_gen_plan p;
        assert_int_equal(vf_gen_plan_build(&o, &p, NULL), VF_OK);
        for (unsigned l = 0; l < p.nlevels; l++)
            for (size_t i = 0; i < p.lv[l].nw; i++) {
                const vf_gen_write *w = &p.lv[l].w[i];
                assert_int_equal(w->voff % o.sector_size, 0);
                assert_int_equal(w->len % o.sector_size, 0);
                if (!w->trim)
                    continue;
                trims++;
                assert_true(l > 0 && w->zero);
                assert_int_equal(w->voff % o.block_size, 0);
                assert_true(w->len == o.block_size || w->voff + w->len == o.virtual_size);
                bool lower = false;
                for (unsigned k = 0; k < l; k++)
                    lower |= vf_gen_map_intersects(&p.lv[k].map, w->voff, w->len);
                assert_true(lower);
            }
        vf_gen_plan_free(&p);
        o.format = VF_FORMAT_VHD; /* VHD plans never trim */
        o.sector_size = 0;
        assert_int_equal(vf_gen_plan_build(&o, &p, NULL), VF_OK);
        for (unsigned l = 0; l < p.nlevels; l++)
            for (size_t i = 0; i < p.lv[l].nw; i++)
                assert_false(p.lv[l].w[i].trim);
        vf_gen_plan_free(&p);
    }
    assert_true(trims > 0);
}

static void test_chs_exact(void **state)
{
    (void)state;
    assert_true(vf_gen_chs_exact(8390656));   /* 241/4/17: qemu's 8 MiB */
    assert_false(vf_gen_chs_exact(8u << 20)); /* 8 MiB itself is not a CHS product */
    assert_false(vf_gen_chs_exact(4u << 20));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_splitmix_reference), cmocka_unit_test(test_keys_and_data_pinned),
        cmocka_unit_test(test_map_random),         cmocka_unit_test(test_digests_match_replay),
        cmocka_unit_test(test_profiles_shape),     cmocka_unit_test(test_manifest_stable),
        cmocka_unit_test(test_density_parse),      cmocka_unit_test(test_validate),
        cmocka_unit_test(test_chs_exact),          cmocka_unit_test(test_sector_draw),
        cmocka_unit_test(test_vhdx_plan_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
