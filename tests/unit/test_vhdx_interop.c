/* test_vhdx_interop.c - the VHDX driver against real files and other tools: the Windows
 * images of the shared corpus (digests from its README, the Hyper-V checkpoint described by
 * info and refused by digest naming the paths tried), qemu-img-made dynamic VHDX read equal to
 * qemu-img's raw conversion, our dynamic files passing `qemu-img check`, and a dirty image of
 * ours read the same by us (overlay) and by qemu after its replay, files grown by
 * vf_image_resize (qemu's and ours) clean and equal under qemu-img and 7-Zip. Tools missing
 * make the case skip (reported as skipped, not passed). Files live in a mkdtemp folder. */
#include <sys/stat.h>
#include <unistd.h>

#include "test_vhdx_support.h"
#include "scratch_dir.h"
#include "vf_sha256.h"

static char tmpdir[4096];

static int setup(void **state)
{
    (void)state;
    return vf_scratch_make(tmpdir, sizeof tmpdir, "vf_vhdx_interop");
}

static int teardown(void **state)
{
    (void)state;
    return vf_scratch_remove(tmpdir);
}

static bool have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static int run(const char *fmt, ...) VF_PRINTF(1, 2);
static int run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *path(const char *name)
{
    static char p[4][4400];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static vf_image *open_file(const char *p, unsigned flags)
{
    vf_io *io;
    vf_error err = {0};
    if (vf_io_file_open(p, (flags & VF_OPEN_RDWR) ? VF_IO_RDWR : VF_IO_RDONLY, &io, &err))
        fail_msg("%s: %s", p, err.msg);
    vf_image *img;
    if (vf_image_open(io, p, flags, &img, &err) != VF_OK)
        fail_msg("open %s: %s", p, err.msg);
    return img;
}

static uint8_t *read_all(vf_image *img, size_t *len)
{
    *len = (size_t)vf_image_info_get(img)->virtual_size;
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    vf_error err = {0};
    if (vf_image_read(img, 0, b, *len, &err) != VF_OK)
        fail_msg("read: %s", err.msg);
    return b;
}

static uint8_t *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len ? *len : 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static const char *corpus(const char *name)
{
    const char *sh = getenv("VF_SHARED_DIR");
    static char p[4096];
    snprintf(p, sizeof p, "%s/corpus/real/%s.gz", sh ? sh : "", name);
    return access(p, R_OK) == 0 ? p : NULL;
}

static void test_corpus_digests(void **state)
{
    (void)state;
    static const struct {
        const char *name, *sha;
        vf_disk_type type;
    } imgs[] = {
        {"dynamic.vhdx", "8e2b5e9265d694b42b81819e3bff29770eff4ed0f4f9f311693ff3dbdc93efac",
         VF_DISK_DYNAMIC},
        {"fixed.vhdx", "bc0be4623b15aa84216fb31ba24e3b621ec7f1c72d198c990ac0eced222d9f62",
         VF_DISK_FIXED},
    };
    if (!corpus(imgs[0].name))
        skip();
    for (size_t i = 0; i < ARRAY_LEN(imgs); i++) {
        assert_int_equal(run("gunzip -c '%s' > '%s'", corpus(imgs[i].name), path(imgs[i].name)), 0);
        vf_image *img = open_file(path(imgs[i].name), 0);
        assert_int_equal(vf_image_info_get(img)->type, imgs[i].type);
        size_t len;
        uint8_t *b = read_all(img, &len);
        uint8_t md[VF_SHA256_LEN];
        char hex[VF_SHA256_HEX_LEN];
        assert_int_equal(vf_sha256_once(b, len, md, NULL), VF_OK);
        vf_sha256_hex(md, hex);
        assert_string_equal(hex, imgs[i].sha);
        vf_report rep;
        vf_report_init(&rep);
        assert_int_equal(vf_image_check(img, &rep, NULL), VF_OK);
        assert_int_equal(vf_report_count(&rep, VF_SEV_ERROR), 0);
        vf_report_free(&rep);
        free(b);
        vf_image_close(img);
    }
}

static void test_corpus_checkpoint(void **state)
{
    (void)state;
    const char *src = corpus("differencing.avhdx");
    if (!src)
        skip();
    const char *p = path("differencing.avhdx");
    assert_int_equal(run("gunzip -c '%s' > '%s'", src, p), 0);
    vf_image *img = open_file(p, 0);
    const vf_image_info *in = vf_image_info_get(img);
    assert_int_equal(in->type, VF_DISK_DIFF);
    assert_true(in->has_parent);
    assert_int_equal(in->virtual_size, 8589934592ull);
    vf_locator loc[4];
    size_t n = 0;
    assert_int_equal(vf_image_locators(img, loc, 4, &n, NULL), VF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(loc[0].kind, VF_LOC_RELATIVE);
    assert_int_equal(loc[1].kind, VF_LOC_VOLUME);
    assert_int_equal(loc[2].kind, VF_LOC_ABSOLUTE);
    assert_non_null(strstr(loc[0].path, ".avhdx"));
    /* this file's own view reads (absent runs as zeros) */
    uint8_t buf[4096];
    assert_int_equal(vf_image_read(img, 0, buf, sizeof buf, NULL), VF_OK);
    vf_image_close(img);
    const char *cli = getenv("VHDFOLD");
    if (cli && access(cli, X_OK) == 0) {
        assert_int_equal(run("'%s' info '%s' > '%s' 2>&1", cli, p, path("info.txt")), 3);
        assert_int_equal(run("grep -q 'relative_path' '%s'", path("info.txt")), 0);
        assert_int_equal(run("'%s' digest '%s' > /dev/null 2> '%s'", cli, p, path("err.txt")), 3);
        assert_int_equal(run("grep -q 'Generation 1_49C4BAF3' '%s'", path("err.txt")), 0);
    }
}

/* qemu-img creates (ZERO blocks by default) and qemu-io writes; we read what qemu reads. */
static void test_qemu_made(void **state)
{
    (void)state;
    if (!have("qemu-img") || !have("qemu-io"))
        skip();
    static const char *const variants[] = {"block_size=1M", "block_size=8M,block_state_zero=off"};
    for (size_t v = 0; v < ARRAY_LEN(variants); v++) {
        const char *q = path("q.vhdx"), *raw = path("q.raw");
        unlink(q);
        assert_int_equal(run("qemu-img create -q -f vhdx -o %s '%s' 24M", variants[v], q), 0);
        assert_int_equal(run("qemu-io -f vhdx -c 'write -P 0x61 0 1M' -c 'write -P 0x62 3584k 1M'"
                             " -c 'write -P 0x63 20M 512' -c 'write -z 9M 2M' '%s' >/dev/null",
                             q),
                         0);
        assert_int_equal(run("qemu-img convert -f vhdx -O raw '%s' '%s'", q, raw), 0);
        vf_image *img = open_file(q, 0);
        size_t len, rlen;
        uint8_t *ours = read_all(img, &len), *theirs = slurp(raw, &rlen);
        assert_int_equal(len, rlen);
        assert_memory_equal(ours, theirs, len);
        assert_int_equal(ours[0], 0x61);
        free(ours);
        free(theirs);
        vf_image_close(img);
    }
}

static vf_image *create_file(const char *p, vf_disk_type type, uint64_t size, uint32_t bs)
{
    unlink(p);
    vf_io *io;
    vf_error err = {0};
    assert_int_equal(vf_io_file_open(p, VF_IO_RDWR | VF_IO_CREATE, &io, &err), VF_OK);
    vf_create_opts o;
    vf_create_opts_init(&o);
    o.format = VF_FORMAT_VHDX;
    o.type = type;
    o.virtual_size = size;
    o.block_size = bs;
    vf_image *img;
    if (vf_image_create(io, p, &o, &img, &err) != VF_OK)
        fail_msg("create %s: %s", p, err.msg);
    return img;
}

static void write_model(vf_image *img, uint8_t *model, uint64_t voff, size_t len, uint8_t salt)
{
    t_fill(model + voff, len, voff, salt);
    vf_error err = {0};
    if (vf_image_write(img, voff, model + voff, len, &err) != VF_OK)
        fail_msg("write: %s", err.msg);
}

/* Our dynamic files: qemu-img check is clean and qemu reads our content. */
static void test_ours_qemu_check(void **state)
{
    (void)state;
    if (!have("qemu-img"))
        skip();
    static const uint32_t bss[] = {1u * MIB, 2u * MIB, 32u * MIB};
    for (size_t i = 0; i < ARRAY_LEN(bss); i++) {
        const uint64_t size = 40u * MIB;
        const char *p = path("ours.vhdx"), *raw = path("ours.raw");
        vf_image *img = create_file(p, VF_DISK_DYNAMIC, size, bss[i]);
        uint8_t *model = calloc(1, size);
        write_model(img, model, 512, 4096, 1);
        write_model(img, model, 3u * MIB - 512, 2u * MIB, 2);
        write_model(img, model, size - MIB, MIB, 3);
        vf_error err = {0};
        assert_int_equal(vf_image_write_zeroes(img, 0, bss[i], &err), VF_OK);
        memset(model, 0, bss[i]);
        assert_int_equal(vf_image_flush(img, &err), VF_OK);
        vf_image_close(img);
        assert_int_equal(run("qemu-img check -q -f vhdx '%s'", p), 0);
        assert_int_equal(run("qemu-img convert -f vhdx -O raw '%s' '%s'", p, raw), 0);
        size_t rlen;
        uint8_t *theirs = slurp(raw, &rlen);
        assert_int_equal(rlen, size);
        assert_memory_equal(theirs, model, size);
        free(theirs);
        free(model);
    }
}

/* A dirty image of ours: we read the post-replay content read-only; qemu replays it
 * (check -r all) and then reads the same bytes. */
static void test_dirty_vs_qemu(void **state)
{
    (void)state;
    if (!have("qemu-img"))
        skip();
    const uint64_t size = 16u * MIB;
    const char *p = path("dirty.vhdx"), *raw = path("dirty.raw");
    vf_image *img = create_file(p, VF_DISK_DYNAMIC, size, MIB);
    uint8_t *model = calloc(1, size);
    vf_error err = {0};
    assert_int_equal(vf_vhdx_set_leave_dirty(img, true, &err), VF_OK);
    write_model(img, model, 0, 2u * MIB, 5);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    write_model(img, model, 7u * MIB + 4096, 8192, 6);
    assert_int_equal(vf_image_flush(img, &err), VF_OK);
    vf_image_close(img);
    img = open_file(p, 0);
    assert_true(vf_image_info_get(img)->log_replayed);
    size_t len;
    uint8_t *ours = read_all(img, &len);
    assert_memory_equal(ours, model, size);
    free(ours);
    vf_image_close(img);
    /* qemu refuses a read-only open of a dirty file: proof the log really is pending */
    assert_true(run("qemu-img convert -f vhdx -O raw '%s' '%s' 2>/dev/null", p, raw) != 0);
    assert_int_equal(run("qemu-img check -q -r all -f vhdx '%s' >/dev/null 2>&1", p), 0);
    assert_int_equal(run("qemu-img convert -f vhdx -O raw '%s' '%s'", p, raw), 0);
    size_t rlen;
    uint8_t *theirs = slurp(raw, &rlen);
    assert_int_equal(rlen, size);
    assert_memory_equal(theirs, model, size);
    free(theirs);
    img = open_file(p, 0);
    assert_false(vf_image_info_get(img)->log_replayed);
    ours = read_all(img, &len);
    assert_memory_equal(ours, model, size);
    free(ours);
    vf_image_close(img);
    free(model);
}

/* Growing: a qemu-made dynamic file and one of ours (short last block), grown by us, pass
 * `qemu-img check`, qemu reports the new size and reads what we read (7-Zip too). */
static void test_resize_vs_qemu(void **state)
{
    (void)state;
    if (!have("qemu-img"))
        skip();
    for (int ours = 0; ours < 2; ours++) {
        const char *p = path("grow.vhdx"), *raw = path("grow.raw");
        const uint64_t old_size = 3u * MIB + 512 * ours, new_size = 70u * MIB;
        uint8_t *model = calloc(1, new_size);
        vf_image *img;
        if (ours) {
            img = create_file(p, VF_DISK_DYNAMIC, old_size, MIB);
            write_model(img, model, 0, (size_t)old_size, 7);
            vf_error e = {0};
            assert_int_equal(vf_image_flush(img, &e), VF_OK);
            vf_image_close(img);
        } else {
            assert_int_equal(run("rm -f '%s' && qemu-img create -q -f vhdx '%s' %llu", p, p,
                                 (unsigned long long)old_size),
                             0);
        }
        img = open_file(p, VF_OPEN_RDWR);
        vf_error err = {0};
        assert_int_equal(vf_image_resize(img, new_size, &err), VF_OK);
        write_model(img, model, new_size - 2u * MIB, MIB, 8);
        assert_int_equal(vf_image_flush(img, &err), VF_OK);
        vf_image_close(img);
        assert_int_equal(run("qemu-img check -q -f vhdx '%s'", p), 0);
        assert_int_equal(
            run("qemu-img info '%s' | grep -q '(%llu bytes)'", p, (unsigned long long)new_size), 0);
        assert_int_equal(run("qemu-img convert -f vhdx -O raw '%s' '%s'", p, raw), 0);
        size_t rlen;
        uint8_t *theirs = slurp(raw, &rlen);
        assert_int_equal(rlen, new_size);
        assert_memory_equal(theirs, model, new_size);
        free(theirs);
        if (have("7zz")) {
            assert_int_equal(run("7zz x -so '%s' 2>/dev/null | cmp -s - '%s'", p, raw), 0);
        }
        assert_int_equal(run("rm -f '%s' '%s'", p, raw), 0);
        free(model);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_digests), cmocka_unit_test(test_corpus_checkpoint),
        cmocka_unit_test(test_qemu_made),      cmocka_unit_test(test_ours_qemu_check),
        cmocka_unit_test(test_dirty_vs_qemu),  cmocka_unit_test(test_resize_vs_qemu),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
