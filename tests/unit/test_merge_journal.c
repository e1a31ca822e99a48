/* test_merge_journal.c - unit tests of the merger's pure parts: the journal record encoding
 * (round trip, torn and damaged slots, limits, hostile fields), the resume decision
 * (vf_resume_decide), the path helpers used for --child links and
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
    j->dest_size = 5u << 20;
    for (int i = 0; i < 16; i++) {
        j->new_id[i] = (uint8_t)(0xA0 + i);
        j->merge_id[i] = (uint8_t)(0x30 + i);
    }
    for (int i = 0; i < VF_SHA256_LEN; i++)
        j->digest_before[i] = (uint8_t)i;
    j->nlevels = nlevels;
    j->levels = calloc(nlevels ? nlevels : 1, sizeof *j->levels);
    for (size_t i = 0; i < nlevels; i++) {
        memset(j->levels[i].id, (int)i + 1, 16);
        j->levels[i].file_size = 1000u * (i + 1);
    }
    j->nchildren = nchildren;
    j->children = calloc(nchildren ? nchildren : 1, sizeof *j->children);
    for (size_t i = 0; i < nchildren; i++)
        memset(j->children[i].digest, 0x5A, VF_SHA256_LEN);
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
    assert_int_equal(back.dest_size, 5u << 20);
    assert_memory_equal(back.new_id, j.new_id, 16);
    assert_memory_equal(back.merge_id, j.merge_id, 16);
    assert_memory_equal(back.digest_before, j.digest_before, VF_SHA256_LEN);
    assert_int_equal(back.nlevels, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_memory_equal(back.levels[i].id, j.levels[i].id, 16);
        assert_int_equal(back.levels[i].file_size, j.levels[i].file_size);
    }
    assert_int_equal(back.nchildren, 1);
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
    assert_memory_equal(back.levels[2].id, j.levels[2].id, 16);
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
    uint8_t *buf = malloc(VF_JOURNAL_SLOT_BYTES);
    size_t len;
    vf_error err;
    fill_journal(&j, VF_JOURNAL_MAX_LEVELS + 1, 0);
    assert_int_equal(vf_journal_encode(&j, buf, &len, &err), VF_E_LIMIT);
    vf_journal_free(&j);
    /* the most levels and children together overflow the slot */
    fill_journal(&j, VF_JOURNAL_MAX_LEVELS, VF_JOURNAL_MAX_CHILDREN);
    assert_int_equal(vf_journal_encode(&j, buf, &len, &err), VF_E_LIMIT);
    assert_non_null(strstr(err.msg, "does not fit"));
    vf_journal_free(&j);
    free(buf);
}

/* Re-sign a slot after its body was altered (what a forger with the encoder can do). */
static void resign(uint8_t *buf, size_t body_len)
{
    buf[16] = (uint8_t)body_len;
    buf[17] = (uint8_t)(body_len >> 8);
    buf[18] = (uint8_t)(body_len >> 16);
    buf[19] = (uint8_t)(body_len >> 24);
    vf_sha256 *h;
    assert_int_equal(vf_sha256_new(&h, NULL), VF_OK);
    vf_sha256_update(h, buf, 24, NULL);
    vf_sha256_update(h, buf + VF_JOURNAL_HEAD_BYTES, body_len, NULL);
    vf_sha256_final(h, buf + 24, NULL);
    vf_sha256_free(h);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Counts that disagree with the body length, unknown phases, a cursor past the size: all
 * refused before anything is allocated; what is allocated stays within the slot. */
static void test_journal_hostile_fields(void **state)
{
    (void)state;
    vf_journal j, back;
    fill_journal(&j, 3, 1);
    uint8_t *good = malloc(VF_JOURNAL_SLOT_BYTES), *buf = malloc(VF_JOURNAL_SLOT_BYTES);
    size_t len;
    assert_int_equal(vf_journal_encode(&j, good, &len, NULL), VF_OK);
    size_t body = (size_t)(good[16] | good[17] << 8 | good[18] << 16);
    uint8_t *b = buf + VF_JOURNAL_HEAD_BYTES;
    static const struct {
        size_t off;
        uint32_t v;
    } bad[] = {
        {0, 1},                          /* version 1 (paths) */
        {0, 4},                          /* future version */
        {60, 1},                         /* allocation mark past DESTINATION's size */
        {4, 0},                          /* phase none */
        {4, 5},                          /* unknown phase */
        {8, 7},                          /* unknown format */
        {12, 3},                         /* unknown digest mode */
        {16, 2},                         /* unknown flag */
        {20, 1},                         /* one level */
        {20, 4},                         /* a level more than the body holds */
        {20, VF_JOURNAL_MAX_LEVELS + 1}, /* too many */
        {20, 0xFFFFFFFFu},               /* huge */
        {24, 2},                         /* a child more than the body holds */
        {24, 0xFFFFFFFFu},               /* huge */
        {28, 2},                         /* unknown extra */
        {36, 1},                         /* cursor high word: past the virtual size */
        {40, 0},                         /* virtual size 0 (with a cursor) */
        {44, 0},                         /* (virtual size high word 0: still valid) */
    };
    uint64_t before = vf_journal_parse_allocated();
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        memcpy(buf, good, VF_JOURNAL_SLOT_BYTES);
        put32(b + bad[i].off, bad[i].v);
        resign(buf, body);
        vf_status st = vf_journal_parse(buf, len, &back, NULL);
        if (bad[i].off == 44) {
            assert_int_equal(st, VF_OK);
            vf_journal_free(&back);
            continue;
        }
        if (st == VF_OK)
            fail_msg("field at %zu = %u was accepted", bad[i].off, bad[i].v);
    }
    assert_int_equal(vf_journal_parse_allocated() - before,
                     3 * sizeof(vf_journal_level) + sizeof(vf_journal_child));
    /* a body one byte short or long of what its counts need */
    memcpy(buf, good, VF_JOURNAL_SLOT_BYTES);
    resign(buf, body - 1);
    assert_int_equal(vf_journal_parse(buf, len, &back, NULL), VF_E_FORMAT);
    resign(buf, body + 1);
    assert_int_equal(vf_journal_parse(buf, len, &back, NULL), VF_E_FORMAT);
    /* a body length past one slot, even when the buffer is longer */
    put32(buf + 16, VF_JOURNAL_SLOT_BYTES); /* refused before the digest is computed */
    assert_int_equal(vf_journal_parse(buf, VF_JOURNAL_SLOT_BYTES, &back, NULL), VF_E_FORMAT);
    /* the largest record that fits: allocations stay below the slot size */
    vf_journal_free(&j);
    fill_journal(&j, VF_JOURNAL_MAX_LEVELS, 1024 - 770);
    assert_int_equal(vf_journal_encode(&j, buf, &len, NULL), VF_OK);
    before = vf_journal_parse_allocated();
    assert_int_equal(vf_journal_parse(buf, len, &back, NULL), VF_OK);
    assert_true(vf_journal_parse_allocated() - before <= VF_JOURNAL_SLOT_BYTES);
    vf_journal_free(&back);
    vf_journal_free(&j);
    free(good);
    free(buf);
}

/* --- the resume decision --- */

typedef struct facts_buf {
    uint8_t ids[4][16];
    uint64_t sizes[4];
    uint8_t digests[1][VF_SHA256_LEN];
    vf_resume_facts f;
} facts_buf;

/* Facts that match fill_journal(j, 3, 1) in the copy phase. */
static void facts_for(const vf_journal *j, facts_buf *fb)
{
    memset(fb, 0, sizeof *fb);
    for (size_t i = 0; i < j->nlevels; i++) {
        memcpy(fb->ids[i], j->levels[i].id, 16);
        fb->sizes[i] = j->levels[i].file_size;
    }
    memcpy(fb->digests[0], j->children[0].digest, VF_SHA256_LEN);
    vf_resume_facts *f = &fb->f;
    f->format = j->format;
    f->virtual_size = j->virtual_size;
    f->dest_in_chain = true;
    f->nlevels = j->nlevels;
    f->ids = (const uint8_t(*)[16])fb->ids;
    f->file_sizes = fb->sizes;
    memcpy(f->dest_id, j->levels[j->nlevels - 1].id, 16);
    f->dest_size = j->dest_size;
    f->nchildren = j->nchildren;
    f->child_digests = (const uint8_t(*)[VF_SHA256_LEN])fb->digests;
}

static vf_resume_action decide(const vf_journal *j, const vf_resume_facts *f, vf_resume_plan *p)
{
    vf_resume_decide(j, f, p);
    return p->action;
}

static void test_resume_copying(void **state)
{
    (void)state;
    vf_journal j;
    fill_journal(&j, 3, 1);
    j.phase = VF_MERGE_PHASE_COPYING;
    facts_buf fb;
    vf_resume_plan p;
    facts_for(&j, &fb);
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_CONTINUE);
    /* DESTINATION shorter than when the cursor was recorded: the cursor is not proven */
    fb.f.dest_size = j.dest_size - 1;
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_RESTART);
    assert_non_null(strstr(p.why, "byte 0"));
    /* ... unless there is no cursor to prove */
    j.cursor = 0;
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_CONTINUE);
    j.cursor = 3u << 20;
    /* VHDX: the cursor is proven only when DESTINATION carries G' */
    j.format = fb.f.format = VF_FORMAT_VHDX;
    j.has_link_id = true;
    memset(j.link_id, 0xC3, 16);
    facts_for(&j, &fb);
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_RESTART);
    memcpy(fb.f.dest_id, j.link_id, 16);
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_CONTINUE);
    /* an identity phase with the copy unfinished; a later phase while DESTINATION still
     * opens in SOURCE's chain */
    j.phase = VF_MERGE_PHASE_IDENTITY;
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_REFUSE);
    j.cursor = j.virtual_size;
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_CONTINUE);
    j.phase = VF_MERGE_PHASE_REMOVING;
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_REFUSE);
    vf_journal_free(&j);
}

/* Anything of the merge's binding that differs is a refusal. */
static void test_resume_mismatch(void **state)
{
    (void)state;
    vf_journal j;
    fill_journal(&j, 3, 1);
    j.phase = VF_MERGE_PHASE_COPYING;
    facts_buf fb;
    vf_resume_plan p;
    for (int c = 0; c < 9; c++) {
        facts_for(&j, &fb);
        switch (c) {
        case 0:
            fb.ids[1][3] ^= 1;
            break; /* an intermediate's identity */
        case 1:
            fb.sizes[0]++;
            break; /* SOURCE's file size */
        case 2:
            fb.f.virtual_size++;
            break; /* the virtual size */
        case 3:
            fb.f.format = VF_FORMAT_VHDX;
            break; /* the format */
        case 4:
            fb.f.nlevels = 2;
            break; /* DESTINATION at another level */
        case 5:
            fb.f.dest_id[0] ^= 1;
            break; /* DESTINATION's identity */
        case 6:
            fb.f.nchildren = 0;
            break; /* --child not given again */
        case 7:
            fb.digests[0][5] ^= 1;
            break; /* another --child */
        case 8:
            fb.f.nlevels = VF_JOURNAL_MAX_LEVELS + 1;
            break;
        }
        if (decide(&j, &fb.f, &p) != VF_RESUME_REFUSE)
            fail_msg("case %d was not refused", c);
        assert_true(p.why[0] != '\0');
    }
    j.cursor = j.virtual_size + 1; /* out of range (the parser refuses it too) */
    facts_for(&j, &fb);
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_REFUSE);
    vf_journal_free(&j);
}

/* After the copy: DESTINATION must carry the merge's new identity, the levels above it must
 * be the recorded ones and bind it; an interrupted removal may have left fewer. */
static void test_resume_after_copy(void **state)
{
    (void)state;
    vf_journal j;
    fill_journal(&j, 3, 1);
    j.cursor = j.virtual_size;
    facts_buf fb;
    vf_resume_plan p;
    facts_for(&j, &fb);
    fb.f.dest_in_chain = false;
    fb.f.nlevels = 2;
    fb.f.child_digests = NULL;
    fb.f.has_upper_parent = true;
    memcpy(fb.f.upper_parent_id, j.levels[2].id, 16);
    memcpy(fb.f.dest_id, j.new_id, 16);
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_LATER);
    assert_int_equal(p.phase, VF_MERGE_PHASE_CHILDREN);
    fb.f.dest_id[0] ^= 1; /* DESTINATION without the new identity */
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_REFUSE);
    fb.f.dest_id[0] ^= 1;
    fb.f.upper_parent_id[0] ^= 1; /* level k-1 is not DESTINATION's child */
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_REFUSE);
    fb.f.upper_parent_id[0] ^= 1;
    fb.f.nlevels = 1; /* a level gone: only while removing */
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_REFUSE);
    j.phase = VF_MERGE_PHASE_REMOVING;
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_LATER);
    fb.f.nlevels = 0;
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_LATER);
    j.phase = VF_MERGE_PHASE_COPYING; /* copying, yet no chain through DESTINATION */
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_REFUSE);
    /* identity phase: the old identity is fine, a shrunken DESTINATION is not */
    j.phase = VF_MERGE_PHASE_IDENTITY;
    fb.f.nlevels = 2;
    memcpy(fb.f.dest_id, j.levels[2].id, 16);
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_LATER);
    fb.f.dest_size = j.dest_size - 1;
    assert_int_equal(decide(&j, &fb.f, &p), VF_RESUME_REFUSE);
    vf_journal_free(&j);
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
        cmocka_unit_test(test_journal_hostile_fields),
        cmocka_unit_test(test_resume_copying),
        cmocka_unit_test(test_resume_mismatch),
        cmocka_unit_test(test_resume_after_copy),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_status_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
