/* test_merge_journal_trust.c - the merge journal beside DESTINATION is untrusted input:
 * journals crafted with the encoder (bound to the real chain by identities and sizes read
 * from it, then altered) must never make a plain merge remove, re-point or skip anything.
 * Each case checks the status (32775 and the journal named in the message, with how to
 * delete it), that every file, an unrelated one included, is unchanged, or that the merge
 * copies again from zero and ends with the right view. Memory fs; the symbolic-link and
 * owner cases need a real file system (tests/merge/cli_journal.sh). Layer: tests (merger). */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "merge_int.h"
#include "merge_test_util.h"

#define DIR_ "t"
#define SECRET "other/secret.txt"

typedef struct fixture {
    vf_fs *fs;
    vf_gen_result g;
    char top[64], mid[64], base[64], jpath[80];
    mt_snap snap;
} fixture;

static void fixture_init(fixture *fx, vf_format_kind fmt)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(vf_fs_mem_new(&fx->fs, NULL), VF_OK);
    if (fmt == VF_FORMAT_VHDX)
        mt_gen_vhdx(fx->fs, DIR_, 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 77, &fx->g);
    else
        mt_gen(fx->fs, DIR_, 2, VF_GEN_BASE_DYNAMIC, VF_GEN_PROFILE_MIXED, 76, &fx->g);
    mt_path(fx->top, sizeof fx->top, DIR_, &fx->g, 2);
    mt_path(fx->mid, sizeof fx->mid, DIR_, &fx->g, 1);
    mt_path(fx->base, sizeof fx->base, DIR_, &fx->g, 0);
    snprintf(fx->jpath, sizeof fx->jpath, "%s.vfmerge", fx->base);
    vf_io *io;
    assert_int_equal(vf_fs_open(fx->fs, SECRET, VF_IO_RDWR | VF_IO_CREATE, &io, NULL), VF_OK);
    assert_int_equal(vf_io_write(io, "keep me", 7, 0, NULL), VF_OK);
    vf_io_close(io);
}

static void fixture_snap(fixture *fx)
{
    const char *files[] = {fx->top, fx->mid, fx->base, fx->jpath, SECRET};
    mt_snap_take(fx->fs, files, 5, &fx->snap);
}

static void fixture_free(fixture *fx)
{
    mt_snap_free(&fx->snap);
    vf_gen_result_free(&fx->g);
    vf_fs_mem_free(fx->fs);
}

/* A record bound to the chain top -> base as it is: what a forger can read from the files. */
static void bound_journal(fixture *fx, vf_journal *j)
{
    memset(j, 0, sizeof *j);
    vf_chain_opts co;
    vf_chain_opts_init(&co);
    co.fs = fx->fs;
    vf_chain *c;
    assert_int_equal(vf_chain_open(fx->top, &co, &c, NULL), VF_OK);
    assert_int_equal(vf_chain_depth(c), 3);
    j->seq = 5;
    j->phase = VF_MERGE_PHASE_COPYING;
    j->format = vf_image_info_get(vf_chain_image(c, 0))->format;
    j->virtual_size = vf_chain_virtual_size(c);
    j->nlevels = 3;
    j->levels = calloc(3, sizeof *j->levels);
    j->children = calloc(1, sizeof *j->children);
    for (size_t i = 0; i < 3; i++) {
        vf_image *img = vf_chain_image(c, i);
        memcpy(j->levels[i].id, vf_image_info_get(img)->id, 16);
        assert_int_equal(vf_io_size(vf_image_io(img), &j->levels[i].file_size, NULL), VF_OK);
    }
    vf_chain_close(c);
    j->dest_size = j->levels[2].file_size;
    memset(j->merge_id, 0x42, 16);
    memset(j->new_id, 0x77, 16);
    j->has_link_id = j->format == VF_FORMAT_VHDX;
    memset(j->link_id, 0x3C, 16);
}

static void plant(fixture *fx, const vf_journal *j)
{
    uint8_t *buf = malloc(VF_JOURNAL_SLOT_BYTES);
    size_t len;
    assert_int_equal(vf_journal_encode(j, buf, &len, NULL), VF_OK);
    vf_io *io;
    assert_int_equal(vf_fs_open(fx->fs, fx->jpath, VF_IO_RDWR | VF_IO_CREATE, &io, NULL), VF_OK);
    assert_int_equal(vf_io_write(io, buf, len, (j->seq % 2) * VF_JOURNAL_SLOT_BYTES, NULL), VF_OK);
    vf_io_close(io);
    free(buf);
}

static int plain_merge(fixture *fx, vf_merge_result *r)
{
    vf_merge_opts o;
    vf_merge_opts_init(&o);
    o.source = fx->top;
    o.destination = fx->base;
    o.fs = fx->fs;
    o.batch_bytes = 1u << 20;
    return vf_merge_run(&o, r);
}

/* The merge is refused with 32775 naming the journal and rm, and nothing changed. */
static void expect_refused(fixture *fx, const char *what, const char *reason)
{
    fixture_snap(fx);
    vf_merge_result r;
    int status = plain_merge(fx, &r);
    if (status != VF_MERGE_INVALID_STATE)
        fail_msg("%s: status %d (%s), want 32775", what, status, r.err.msg);
    if (!strstr(r.err.msg, fx->jpath) || !strstr(r.err.msg, "rm") ||
        (reason && !strstr(r.err.msg, reason)))
        fail_msg("%s: message lacks the journal, rm or '%s': %s", what, reason ? reason : "",
                 r.err.msg);
    vf_merge_result_free(&r);
    const char *changed = mt_snap_changed(fx->fs, &fx->snap);
    if (changed)
        fail_msg("%s: '%s' changed", what, changed);
}

static void expect_view(fixture *fx, const char *path, unsigned lvl, const char *what)
{
    uint8_t md[32];
    if (!mt_flat(fx->fs, path, md) || memcmp(md, fx->g.levels[lvl].sha256, 32) != 0)
        fail_msg("%s: the view from '%s' is not the generator's", what, path);
}

/* A removing-phase record: the plain merge removes nothing (and refuses: DESTINATION does
 * not have the merge's new identity). */
static void test_removing_phase(void **state)
{
    (void)state;
    for (int f = 0; f < 2; f++) {
        fixture fx;
        fixture_init(&fx, f ? VF_FORMAT_VHDX : VF_FORMAT_VHD);
        vf_journal j;
        bound_journal(&fx, &j);
        j.phase = VF_MERGE_PHASE_REMOVING;
        j.remove_merged = true;
        j.cursor = j.virtual_size;
        plant(&fx, &j);
        expect_refused(&fx, "removing phase", "new identity");
        vf_journal_free(&j);
        fixture_free(&fx);
    }
}

/* A children-phase record with a child: a plain merge (no --child) re-points nothing. */
static void test_children_phase(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx, VF_FORMAT_VHD);
    vf_journal j;
    bound_journal(&fx, &j);
    j.phase = VF_MERGE_PHASE_CHILDREN;
    j.cursor = j.virtual_size;
    j.nchildren = 1;
    plant(&fx, &j);
    expect_refused(&fx, "children phase", "--child");
    vf_journal_free(&j);
    fixture_free(&fx);
}

/* A cursor claiming the copy is done that DESTINATION does not corroborate (VHD: the file is
 * shorter than recorded; VHDX: DESTINATION does not carry G'): the copy starts again from
 * byte 0 and the merge ends with SOURCE's view; SOURCE stays (no --remove-merged). Also in
 * the identity phase, where the merge would otherwise skip to the new identity. */
static void test_cursor_done(void **state)
{
    (void)state;
    for (int c = 0; c < 4; c++) {
        fixture fx;
        fixture_init(&fx, c & 1 ? VF_FORMAT_VHDX : VF_FORMAT_VHD);
        vf_journal j;
        bound_journal(&fx, &j);
        j.cursor = j.virtual_size;
        j.phase = c & 2 ? VF_MERGE_PHASE_IDENTITY : VF_MERGE_PHASE_COPYING;
        if (!(c & 1))
            j.dest_size += 1;
        plant(&fx, &j);
        vf_merge_result r;
        int status = plain_merge(&fx, &r);
        if (status != 0)
            fail_msg("case %d: %d %s", c, status, r.err.msg);
        assert_true(r.resumed);
        assert_non_null(strstr(r.note, "byte 0"));
        vf_merge_result_free(&r);
        expect_view(&fx, fx.base, 2, "destination after the restarted copy");
        assert_true(mt_exists(fx.fs, fx.top) && mt_exists(fx.fs, fx.mid));
        assert_false(mt_exists(fx.fs, fx.jpath));
        vf_journal_free(&j);
        fixture_free(&fx);
    }
}

/* Records of another merge: another level identity, file size, virtual size, level count,
 * a cursor past the size (the parser refuses it), another journal version. */
static void test_other_merge(void **state)
{
    (void)state;
    for (int c = 0; c < 6; c++) {
        fixture fx;
        fixture_init(&fx, VF_FORMAT_VHD);
        vf_journal j;
        bound_journal(&fx, &j);
        const char *reason = NULL;
        switch (c) {
        case 0:
            j.levels[1].id[7] ^= 1;
            reason = "identity";
            break;
        case 1:
            j.levels[0].file_size += 512;
            reason = "bytes";
            break;
        case 2:
            j.virtual_size += 1u << 20;
            reason = "bytes";
            break;
        case 3:
            j.levels[2].id[0] ^= 1;
            reason = "DESTINATION";
            break;
        case 4:
            j.nlevels = 2;
            memcpy(j.levels[1].id, j.levels[2].id, 16);
            break;
        case 5:
            j.cursor = j.virtual_size + 1;
            reason = "does not use";
            break;
        }
        plant(&fx, &j);
        expect_refused(&fx, "another merge", reason);
        vf_journal_free(&j);
        fixture_free(&fx);
    }
}

/* Two records from two merges (merge ids differ) are refused, not mixed. */
static void test_two_merges(void **state)
{
    (void)state;
    fixture fx;
    fixture_init(&fx, VF_FORMAT_VHD);
    vf_journal j;
    bound_journal(&fx, &j);
    plant(&fx, &j);
    j.seq++;
    j.merge_id[0] ^= 1;
    plant(&fx, &j);
    expect_refused(&fx, "two merges", "two merges");
    vf_journal_free(&j);
    fixture_free(&fx);
}

typedef struct canceler {
    atomic_bool flag;
    int calls;
} canceler;

static void cancel_midway(void *user, unsigned pct, uint64_t done, uint64_t total)
{
    canceler *c = user;
    (void)pct;
    if (done > total / 2 && ++c->calls == 1) /* past a batch or two: a cursor is recorded */
        atomic_store(&c->flag, true);
}

/* The genuine record of an interrupted merge (canceled mid-copy, a cursor past 0) still
 * finishes with the same request; with --remove-merged given again it removes SOURCE and
 * the intermediate, without it it keeps them and says so. */
static void test_genuine_resume(void **state)
{
    (void)state;
    for (int again = 0; again < 2; again++) {
        fixture fx;
        fixture_init(&fx, again ? VF_FORMAT_VHDX : VF_FORMAT_VHD);
        canceler c = {false, 0};
        vf_merge_opts o;
        vf_merge_opts_init(&o);
        o.source = fx.top;
        o.destination = fx.base;
        o.fs = fx.fs;
        o.remove_merged = true;
        o.batch_bytes = 1u << 20;
        o.progress = cancel_midway;
        o.progress_user = &c;
        vf_merge_result r;
        assert_int_not_equal(vf_merge_run_ex(&o, &r, &c.flag, NULL), 0);
        assert_int_equal(r.err.code, VF_E_CANCELED);
        vf_merge_result_free(&r);
        vf_journal j;
        bool found;
        assert_int_equal(vf_journal_load(fx.fs, fx.jpath, &found, &j, NULL), VF_OK);
        assert_true(found && j.phase == VF_MERGE_PHASE_COPYING && j.cursor > 0);
        vf_journal_free(&j);
        o.progress = NULL;
        o.remove_merged = again == 0;
        if (vf_merge_run(&o, &r) != 0)
            fail_msg("resume: %d %s", r.status, r.err.msg);
        assert_true(r.resumed);
        assert_null(strstr(r.note, "byte 0")); /* the cursor was used */
        if (again)
            assert_non_null(strstr(r.note, "not removed"));
        vf_merge_result_free(&r);
        expect_view(&fx, fx.base, 2, "destination");
        assert_true(mt_exists(fx.fs, fx.top) == (again == 1));
        assert_true(mt_exists(fx.fs, fx.mid) == (again == 1));
        assert_false(mt_exists(fx.fs, fx.jpath));
        assert_true(mt_exists(fx.fs, SECRET));
        fixture_free(&fx);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_removing_phase), cmocka_unit_test(test_children_phase),
        cmocka_unit_test(test_cursor_done),    cmocka_unit_test(test_other_merge),
        cmocka_unit_test(test_two_merges),     cmocka_unit_test(test_genuine_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
