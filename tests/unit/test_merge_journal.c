/* test_merge_journal.c - unit tests of the merger's pure parts: the journal record encoding
 * (round trip, torn and damaged slots, limits), the path helpers used for --child links and
 * DESTINATION matching, and the status-code mapping. Layer: tests (unit, merger). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "merge_int.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void fill_journal(vf_journal *j, size_t nlevels, size_t nchildren)
{
    memset(j, 0, sizeof *j);
    j->seq = 41;
    j->phase = VF_MERGE_PHASE_CHILDREN;
    j->format = VF_FORMAT_VHD;
    j->remove_merged = true;
    j->digest_mode = VF_MERGE_VERIFY_TREE;
    j->cursor = 3u << 20;
    j->virtual_size = 8u << 20;
    for (int i = 0; i < 16; i++)
        j->new_id[i] = (uint8_t)(0xA0 + i);
    for (int i = 0; i < VF_SHA256_LEN; i++)
        j->digest_before[i] = (uint8_t)i;
    j->source = strdup("/d/top.vhd");
    j->destination = strdup("/d/base.vhd");
    j->nlevels = nlevels;
    j->levels = calloc(nlevels, sizeof *j->levels);
    for (size_t i = 0; i < nlevels; i++) {
        char name[64];
        snprintf(name, sizeof name, "/d/level-%zu.vhd", i);
        j->levels[i].path = strdup(name);
        memset(j->levels[i].id, (int)i + 1, 16);
    }
    j->nchildren = nchildren;
    j->children = calloc(nchildren ? nchildren : 1, sizeof *j->children);
    for (size_t i = 0; i < nchildren; i++) {
        j->children[i].path = strdup("/d/child.vhd");
        memset(j->children[i].digest, 0x5A, VF_SHA256_LEN);
    }
}

static void test_journal_round_trip(void **state)
{
    (void)state;
    vf_journal j, back;
    fill_journal(&j, 5, 1);
    uint8_t *buf = malloc(VF_JOURNAL_SLOT_BYTES);
    size_t len;
    assert_int_equal(vf_journal_encode(&j, buf, &len, NULL), VF_OK);
    assert_true(len % 512 == 0 && len > VF_JOURNAL_HEAD_BYTES && len <= VF_JOURNAL_SLOT_BYTES);
    assert_int_equal(vf_journal_parse(buf, len, &back, NULL), VF_OK);
    assert_int_equal(back.seq, 41);
    assert_int_equal(back.phase, VF_MERGE_PHASE_CHILDREN);
    assert_int_equal(back.format, VF_FORMAT_VHD);
    assert_true(back.remove_merged);
    assert_int_equal(back.digest_mode, VF_MERGE_VERIFY_TREE);
    assert_int_equal(back.cursor, 3u << 20);
    assert_int_equal(back.virtual_size, 8u << 20);
    assert_memory_equal(back.new_id, j.new_id, 16);
    assert_memory_equal(back.digest_before, j.digest_before, VF_SHA256_LEN);
    assert_string_equal(back.source, "/d/top.vhd");
    assert_string_equal(back.destination, "/d/base.vhd");
    assert_int_equal(back.nlevels, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_memory_equal(back.levels[i].id, j.levels[i].id, 16);
        assert_string_equal(back.levels[i].path, j.levels[i].path);
    }
    assert_int_equal(back.nchildren, 1);
    assert_string_equal(back.children[0].path, "/d/child.vhd");
    assert_memory_equal(back.children[0].digest, j.children[0].digest, VF_SHA256_LEN);
    vf_journal_free(&back);
    vf_journal_free(&j);
    free(buf);
}

/* VHDX records carry G' (link_id); a VHD record never does, and a record whose format and
 * link_id disagree is refused (a resume must not guess G'). */
static void test_journal_link_id(void **state)
{
    (void)state;
    vf_journal j, back;
    fill_journal(&j, 3, 0);
    j.format = VF_FORMAT_VHDX;
    j.has_link_id = true;
    memset(j.link_id, 0xC3, 16);
    uint8_t *buf = malloc(VF_JOURNAL_SLOT_BYTES);
    size_t len;
    assert_int_equal(vf_journal_encode(&j, buf, &len, NULL), VF_OK);
    assert_int_equal(vf_journal_parse(buf, len, &back, NULL), VF_OK);
    assert_int_equal(back.format, VF_FORMAT_VHDX);
    assert_true(back.has_link_id);
    assert_memory_equal(back.link_id, j.link_id, 16);
    assert_memory_equal(back.new_id, j.new_id, 16);
    assert_string_equal(back.levels[2].path, j.levels[2].path);
    vf_journal_free(&back);
    j.has_link_id = false; /* VHDX without G' */
    assert_int_equal(vf_journal_encode(&j, buf, &len, NULL), VF_OK);
    assert_int_equal(vf_journal_parse(buf, len, &back, NULL), VF_E_FORMAT);
    j.format = VF_FORMAT_VHD; /* VHD with G' */
    j.has_link_id = true;
    assert_int_equal(vf_journal_encode(&j, buf, &len, NULL), VF_OK);
    assert_int_equal(vf_journal_parse(buf, len, &back, NULL), VF_E_FORMAT);
    vf_journal_free(&j);
    free(buf);
}

/* A torn slot (only its first sectors written over an older record, or cut short) and any
 * flipped byte must fail the digest: the other slot then stays authoritative. */
static void test_journal_damage(void **state)
{
    (void)state;
    vf_journal j, back;
    fill_journal(&j, 3, 0);
    uint8_t *buf = malloc(VF_JOURNAL_SLOT_BYTES);
    size_t len;
    assert_int_equal(vf_journal_encode(&j, buf, &len, NULL), VF_OK);
    size_t used = VF_JOURNAL_HEAD_BYTES + (size_t)(buf[16] | buf[17] << 8 | buf[18] << 16);
    assert_true(used <= len);
    for (size_t off = 0; off < used; off += 3) {
        buf[off] ^= 0x10;
        vf_error err;
        if (vf_journal_parse(buf, len, &back, &err) == VF_OK)
            fail_msg("a flipped byte at %zu was accepted", off);
        assert_int_equal(err.code, VF_E_FORMAT);
        buf[off] ^= 0x10;
    }
    /* cut short: the body length runs past what was read */
    assert_int_equal(vf_journal_parse(buf, VF_JOURNAL_HEAD_BYTES + 8, &back, NULL), VF_E_FORMAT);
    /* an empty (zero) slot, as a sparse file reads before its first record */
    uint8_t zero[1024] = {0};
    assert_int_equal(vf_journal_parse(zero, sizeof zero, &back, NULL), VF_E_FORMAT);
    assert_int_equal(vf_journal_parse(buf, len, &back, NULL), VF_OK);
    vf_journal_free(&back);
    vf_journal_free(&j);
    free(buf);
}

static void test_journal_limits(void **state)
{
    (void)state;
    vf_journal j;
    fill_journal(&j, 2, 0);
    /* a path longer than the record allows */
    free(j.levels[1].path);
    j.levels[1].path = malloc(VF_JOURNAL_MAX_PATH + 2);
    memset(j.levels[1].path, 'a', VF_JOURNAL_MAX_PATH + 1);
    j.levels[1].path[VF_JOURNAL_MAX_PATH + 1] = '\0';
    uint8_t *buf = malloc(VF_JOURNAL_SLOT_BYTES);
    size_t len;
    vf_error err;
    assert_int_equal(vf_journal_encode(&j, buf, &len, &err), VF_E_LIMIT);
    assert_non_null(strstr(err.msg, "does not fit"));
    vf_journal_free(&j);
    /* many long paths overflow the slot */
    fill_journal(&j, 200, 0);
    for (size_t i = 0; i < j.nlevels; i++) {
        free(j.levels[i].path);
        j.levels[i].path = malloc(1001);
        memset(j.levels[i].path, 'b', 1000);
        j.levels[i].path[1000] = '\0';
    }
    assert_int_equal(vf_journal_encode(&j, buf, &len, &err), VF_E_LIMIT);
    vf_journal_free(&j);
    free(buf);
}

static void test_paths(void **state)
{
    (void)state;
    static const struct {
        const char *dir, *target, *want;
    } cases[] = {
        {"/a/b", "/a/b/x.vhd", "x.vhd"},        {"/a/b", "/a/c/x.vhd", "../c/x.vhd"},
        {"/a/b", "/a/bc/x.vhd", "../bc/x.vhd"}, {"/a/b/c", "/x.vhd", "../../../x.vhd"},
        {"/", "/x/y.vhd", "x/y.vhd"},           {"d", "d/base.vhd", "base.vhd"},
        {".", "base.vhd", "base.vhd"},          {"d/e", "d/base.vhd", "../base.vhd"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *got = vf_merge_path_relative(cases[i].dir, cases[i].target);
        if (!got || strcmp(got, cases[i].want) != 0)
            fail_msg("relative(%s, %s): got '%s', want '%s'", cases[i].dir, cases[i].target,
                     got ? got : "(null)", cases[i].want);
        free(got);
    }
    char *p = vf_merge_path_abs("/a/./b/../c.vhd", false);
    assert_string_equal(p, "/a/c.vhd");
    free(p);
    p = vf_merge_path_abs("x.vhd", true);
    assert_true(p[0] == '/' && strstr(p, "/x.vhd"));
    free(p);
    assert_true(vf_merge_same_file(NULL, "/", "/."));
}

static void test_status_map(void **state)
{
    (void)state;
    static const struct {
        vf_status st;
        int err_no, want;
    } cases[] = {
        {VF_OK, 0, 0},
        {VF_E_INVAL, 0, 32773},
        {VF_E_NOMEM, 0, 32778},
        {VF_E_IO, ENOENT, 32779},
        {VF_E_IO, EACCES, 32769},
        {VF_E_IO, EROFS, 32769},
        {VF_E_IO, ENOSPC, 32768},
        {VF_E_IO, EIO, 32768},
        {VF_E_IO, ETIMEDOUT, 32772},
        {VF_E_FORMAT, 0, 32776},
        {VF_E_UNSUPPORTED, 0, 32770},
        {VF_E_BUSY, EAGAIN, 32774},
        {VF_E_STATE, 0, 32775},
        {VF_E_CHAIN, 0, 32768},
        {VF_E_CANCELED, 0, 32768},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int got = vf_merge_status_from(cases[i].st, cases[i].err_no);
        if (got != cases[i].want)
            fail_msg("%s/%d: got %d, want %d", vf_status_name(cases[i].st), cases[i].err_no, got,
                     cases[i].want);
    }
    assert_string_equal(vf_merge_status_name(32774), "in use");
    assert_string_equal(vf_merge_status_name(32775), "invalid state");
    assert_string_equal(vf_merge_status_name(1), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_round_trip),
        cmocka_unit_test(test_journal_damage),
        cmocka_unit_test(test_journal_link_id),
        cmocka_unit_test(test_journal_limits),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_status_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
