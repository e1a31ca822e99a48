/* test_vhd_real.c - the VHD driver against images other producers made: the Windows images of
 * VF_SHARED_DIR/corpus/real (digest of the whole virtual disk read through vf_image_read must
 * equal the README's), qemu-img/qemu-io dynamic and fixed images (our read equals qemu-img's
 * raw conversion), and our own dynamic image read back by qemu-img.
 * The qemu cases skip only when qemu-img is not installed (CI installs it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "scratch_dir.h"

#include "vf_sha256.h"
#include "vhd_build.h"

#define MIB (1024u * 1024u)

static char tmpdir[4096];

static int setup(void **state)
{
    (void)state;
    return vf_scratch_make(tmpdir, sizeof tmpdir, "vf_test_vhd_real");
}

static int teardown(void **state)
{
    (void)state;
    return vf_scratch_remove(tmpdir);
}

static void run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
}

static bool have_qemu(void)
{
    return system("command -v qemu-img >/dev/null 2>&1 && command -v qemu-io >/dev/null 2>&1") == 0;
}

/* SHA-256 hex of the whole virtual disk, read through the driver in 1 MiB pieces. */
static void image_digest(const char *path, char hex[VF_SHA256_HEX_LEN], uint64_t *size)
{
    vf_io *io;
    vf_image *img;
    vf_error err;
    if (vf_io_file_open(path, VF_IO_RDONLY, &io, &err) != VF_OK ||
        vf_image_open(io, path, 0, &img, &err) != VF_OK)
        fail_msg("open '%s': %s", path, err.msg);
    vf_sha256 *h;
    assert_int_equal(vf_sha256_new(&h, &err), VF_OK);
    uint8_t *buf = malloc(MIB);
    uint64_t vs = vf_image_info_get(img)->virtual_size;
    for (uint64_t off = 0; off < vs; off += MIB) {
        size_t n = vs - off < MIB ? (size_t)(vs - off) : MIB;
        if (vf_image_read(img, off, buf, n, &err) != VF_OK)
            fail_msg("read '%s' at %llu: %s", path, (unsigned long long)off, err.msg);
        assert_int_equal(vf_sha256_update(h, buf, n, &err), VF_OK);
    }
    uint8_t md[VF_SHA256_LEN];
    assert_int_equal(vf_sha256_final(h, md, &err), VF_OK);
    vf_sha256_hex(md, hex);
    vf_report rep;
    vf_report_init(&rep);
    assert_int_equal(vf_image_check(img, &rep, &err), VF_OK);
    if (vf_report_count(&rep, VF_SEV_ERROR))
        fail_msg("check '%s': %s", path, rep.items[0].msg);
    vf_report_free(&rep);
    *size = vs;
    free(buf);
    vf_sha256_free(h);
    vf_image_close(img);
}

/* SHA-256 hex of a plain file. */
static void file_digest(const char *path, char hex[VF_SHA256_HEX_LEN], uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    vf_sha256 *h;
    vf_error err;
    assert_int_equal(vf_sha256_new(&h, &err), VF_OK);
    uint8_t *buf = malloc(MIB);
    size_t n;
    *size = 0;
    while ((n = fread(buf, 1, MIB, f)) > 0) {
        assert_int_equal(vf_sha256_update(h, buf, n, &err), VF_OK);
        *size += n;
    }
    fclose(f);
    uint8_t md[VF_SHA256_LEN];
    assert_int_equal(vf_sha256_final(h, md, &err), VF_OK);
    vf_sha256_hex(md, hex);
    free(buf);
    vf_sha256_free(h);
}

static void test_windows_images(void **state)
{
    (void)state;
    static const struct {
        const char *gz, *sha;
        uint64_t size;
    } real[] = {
        {"dynamic.vhd.gz", "ecff2ef6615a3cddc6a6885f1c6d9cf13a232697e1dc6575f2c2f01f57247784",
         10485760},
        {"fixed.vhd.gz", "459325ab1fcd1d5ec9854cba790ee26378317cda177ffc1072008a1df88e6463",
         10485760},
    };
    const char *shared = getenv("VF_SHARED_DIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/corpus/real", shared ? shared : "");
    struct stat sb;
    if (!shared || stat(dir, &sb) != 0) {
        print_message("no corpus at '%s' (VF_SHARED_DIR): skipping the Windows images\n", dir);
        skip();
    }
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        char out[4200], cmd[9000], hex[VF_SHA256_HEX_LEN];
        snprintf(out, sizeof out, "%s/%.*s", tmpdir, (int)(strlen(real[i].gz) - 3), real[i].gz);
        snprintf(cmd, sizeof cmd, "gzip -dc '%s/%s' > '%s'", dir, real[i].gz, out);
        run(cmd);
        uint64_t size;
        image_digest(out, hex, &size);
        assert_int_equal(size, real[i].size);
        if (strcmp(hex, real[i].sha) != 0)
            fail_msg("%s: digest %s, want %s", real[i].gz, hex, real[i].sha);
    }
}

/* qemu writes, we read: equal to qemu-img's own raw export. */
static void qemu_case(const char *subformat)
{
    if (!have_qemu()) {
        print_message("qemu-img not installed: skipping\n");
        skip();
    }
    char vhd[4200], raw[4200], cmd[9000], a[VF_SHA256_HEX_LEN], b[VF_SHA256_HEX_LEN];
    snprintf(vhd, sizeof vhd, "%s/q-%s.vhd", tmpdir, subformat);
    snprintf(raw, sizeof raw, "%s/q-%s.raw", tmpdir, subformat);
    snprintf(cmd, sizeof cmd, "qemu-img create -q -f vpc -o subformat=%s '%s' 8M", subformat, vhd);
    run(cmd);
    snprintf(cmd, sizeof cmd,
             "qemu-io -f vpc -c 'write -P 0xab 1M 64k' -c 'write -P 0x5c 4095k 2k' "
             "-c 'write -P 0x01 0 512' '%s' >/dev/null",
             vhd);
    run(cmd);
    snprintf(cmd, sizeof cmd, "qemu-img convert -f vpc -O raw '%s' '%s'", vhd, raw);
    run(cmd);
    uint64_t sa, sb;
    image_digest(vhd, a, &sa);
    file_digest(raw, b, &sb);
    assert_int_equal(sa, sb);
    if (strcmp(a, b) != 0)
        fail_msg("%s: our digest %s, qemu-img's %s", subformat, a, b);
}

static void test_qemu_dynamic(void **state)
{
    (void)state;
    qemu_case("dynamic");
}

static void test_qemu_fixed(void **state)
{
    (void)state;
    qemu_case("fixed");
}

static int fill_pattern(vf_image *img, void *ctx)
{
    (void)ctx;
    uint8_t buf[8192];
    vf_error err;
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    if (vf_image_write(img, 0, buf, 512, &err) != VF_OK ||
        vf_image_write(img, 3 * MIB - 4096, buf, sizeof buf, &err) != VF_OK ||
        vf_image_write_zeroes(img, 5 * MIB, MIB, &err) != VF_OK)
        return -1;
    return 0;
}

/* We write, qemu reads: a dynamic image made by our writer converts to the same bytes. */
static void test_ours_read_by_qemu(void **state)
{
    (void)state;
    if (!have_qemu()) {
        print_message("qemu-img not installed: skipping\n");
        skip();
    }
    vf_create_opts o;
    vf_error err;
    vhd_bytes b;
    vhd_build_opts(&o, VF_DISK_DYNAMIC, 6 * MIB, 0);
    o.creator = "win "; /* qemu then sizes by current size, as we do */
    assert_int_equal(vhd_build(&o, fill_pattern, NULL, &b, &err), 0);
    char vhd[4200], raw[4200], cmd[9000], a[VF_SHA256_HEX_LEN], c[VF_SHA256_HEX_LEN];
    snprintf(vhd, sizeof vhd, "%s/ours.vhd", tmpdir);
    snprintf(raw, sizeof raw, "%s/ours.raw", tmpdir);
    FILE *f = fopen(vhd, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.data, 1, b.len, f), b.len);
    fclose(f);
    snprintf(cmd, sizeof cmd, "qemu-img convert -f vpc -O raw '%s' '%s'", vhd, raw);
    run(cmd);
    uint64_t sa, sc;
    image_digest(vhd, a, &sa);
    file_digest(raw, c, &sc);
    assert_int_equal(sa, sc);
    assert_string_equal(a, c);
    vhd_build_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_images),
        cmocka_unit_test(test_qemu_dynamic),
        cmocka_unit_test(test_qemu_fixed),
        cmocka_unit_test(test_ours_read_by_qemu),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
