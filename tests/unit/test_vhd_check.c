/* test_vhd_check.c - vhd/check.c: a clean image has no findings of warning level; each oddity
 * (orphaned space after an unpublished allocation, differing footer copies under RECOVER,
 * bitmap padding bits, feature bits, reserved bytes, saved state, locator space in sectors)
 * yields one finding of the documented severity whose message names the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vhd_build.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIB (1024u * 1024u)
#define BLOCK (512u * 1024)

static vhd_bytes good_dyn, good_diff, good_fixed, orphaned;

static int one_block(vf_image *img, void *ctx)
{
    (void)ctx;
    uint8_t buf[512];
    memset(buf, 1, sizeof buf);
    vf_error err;
    return vf_image_write(img, 0, buf, sizeof buf, &err) == VF_OK ? 0 : -1;
}

/* Writes a second block and copies the bytes before any flush: data without a BAT entry. */
static int unpublished(vf_image *img, void *ctx)
{
    uint8_t buf[512];
    memset(buf, 2, sizeof buf);
    vf_error err;
    if (vf_image_write(img, 2 * BLOCK, buf, sizeof buf, &err) != VF_OK)
        return -1;
    size_t n;
    const uint8_t *d = vf_io_mem_data(vf_image_io(img), &n);
    vhd_bytes *out = ctx;
    out->data = malloc(n);
    memcpy(out->data, d, n);
    out->len = n;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    vf_create_opts o;
    vf_error err;
    vhd_bytes tmp;
    vhd_build_opts(&o, VF_DISK_DYNAMIC, 4 * MIB, BLOCK);
    if (vhd_build(&o, one_block, NULL, &good_dyn, &err) ||
        vhd_build(&o, unpublished, &orphaned, &tmp, &err))
        return -1;
    vhd_build_free(&tmp);
    vf_parent_link link = {.relative = "p.vhd"};
    vhd_build_opts(&o, VF_DISK_DIFF, 4 * MIB, BLOCK);
    o.parent = &link;
    if (vhd_build(&o, one_block, NULL, &good_diff, &err))
        return -1;
    vhd_build_opts(&o, VF_DISK_FIXED, MIB, 0);
    return vhd_build(&o, one_block, NULL, &good_fixed, &err);
}

static int teardown(void **state)
{
    (void)state;
    vhd_build_free(&good_dyn);
    vhd_build_free(&good_diff);
    vhd_build_free(&good_fixed);
    vhd_build_free(&orphaned);
    return 0;
}

static void m_none(vhd_bytes *b)
{
    (void)b;
}
static void m_padding(vhd_bytes *b)
{
    uint64_t blk = (uint64_t)vhd_build_get32(b->data, 1536) * 512;
    b->data[blk + 200] = 0x10; /* 1024 sectors use 128 bitmap bytes; 200 is padding */
}
static void both(vhd_bytes *b, size_t at, uint8_t v)
{
    b->data[b->len - 512 + at] = v;
    vhd_build_fix_footer(b->data, b->len - 512);
    if (memcmp(b->data, "conectix", 8) == 0 && b->len > 2048) {
        b->data[at] = v;
        vhd_build_fix_footer(b->data, 0);
    }
}
static void m_features(vhd_bytes *b)
{
    both(b, 11, 0);
}
static void m_temporary(vhd_bytes *b)
{
    both(b, 11, 3);
}
static void m_reserved(vhd_bytes *b)
{
    both(b, 85, 1);
}
static void m_saved(vhd_bytes *b)
{
    both(b, 84, 1);
}
static void m_copy(vhd_bytes *b)
{
    b->data[30] ^= 1;
    vhd_build_fix_footer(b->data, 0);
}
static void m_header_csum(vhd_bytes *b)
{
    b->data[512 + 900] ^= 1; /* a torn set_parent, accepted by VF_OPEN_RECOVER */
}
static void m_space_sectors(vhd_bytes *b)
{
    vhd_build_put32(b->data, 512 + 576 + 4, 1); /* 1 sector, the spec's unit */
    vhd_build_fix_header(b->data, 512);
}

enum { DYN, DIFF, FIX, ORPH };

static const struct {
    const char *name;
    int base;
    void (*mutate)(vhd_bytes *b);
    vf_severity sev;  /* of the expected finding */
    const char *word; /* NULL: no finding at warning level or above */
} cases[] = {
    {"clean dynamic", DYN, m_none, VF_SEV_WARNING, NULL},
    {"clean differencing", DIFF, m_none, VF_SEV_WARNING, NULL},
    {"clean fixed", FIX, m_none, VF_SEV_WARNING, NULL},
    {"orphaned block", ORPH, m_none, VF_SEV_WARNING, "orphaned space"},
    {"bitmap padding", DYN, m_padding, VF_SEV_WARNING, "padding bits"},
    {"reserved feature bit clear", DYN, m_features, VF_SEV_WARNING, "'features'"},
    {"temporary disk", DYN, m_temporary, VF_SEV_INFO, "temporary"},
    {"hidden flag byte", FIX, m_reserved, VF_SEV_INFO, "'reserved' byte 85"},
    {"saved state", DYN, m_saved, VF_SEV_WARNING, "'saved state'"},
    {"copies differ", DYN, m_copy, VF_SEV_ERROR, "copy at offset 0"},
    {"header checksum", DIFF, m_header_csum, VF_SEV_ERROR, "header: 'checksum'"},
    {"locator space in sectors", DIFF, m_space_sectors, VF_SEV_INFO, "read as sectors"},
};

static void test_findings(void **state)
{
    (void)state;
    const vhd_bytes *bases[] = {&good_dyn, &good_diff, &good_fixed, &orphaned};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        const vhd_bytes *src = bases[cases[i].base];
        vhd_bytes b = {malloc(src->len), src->len};
        memcpy(b.data, src->data, src->len);
        cases[i].mutate(&b);
        vf_image *img;
        vf_error err;
        if (vhd_build_open(b.data, b.len, VF_OPEN_RECOVER, &img, &err) != VF_OK)
            fail_msg("%s: open: %s", cases[i].name, err.msg);
        vf_report rep;
        vf_report_init(&rep);
        assert_int_equal(vf_image_check(img, &rep, &err), VF_OK);
        if (!cases[i].word) {
            if (vf_report_count(&rep, VF_SEV_WARNING))
                fail_msg("%s: unexpected finding '%s'", cases[i].name, rep.items[0].msg);
        } else {
            bool seen = false;
            for (size_t k = 0; k < rep.count; k++)
                if (strstr(rep.items[k].msg, cases[i].word) &&
                    rep.items[k].severity == cases[i].sev && !strcmp(rep.items[k].file, "test.vhd"))
                    seen = true;
            if (!seen)
                fail_msg("%s: no finding with '%s' at severity %d (%zu findings)", cases[i].name,
                         cases[i].word, (int)cases[i].sev, rep.count);
        }
        vf_report_free(&rep);
        vf_image_close(img);
        vhd_build_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_findings)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
