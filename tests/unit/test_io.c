/* test_io.c - unit tests of the I/O layer: path helpers (path.c), the POSIX backend and file
 * system (io_file.c, including the EINTR/short-count loop driven by a fake system call), the
 * memory backend (io_mem.c) and the memory file system with its locks (fs_mem.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <vhdfold/vf_io.h>

#include "path.h"

/* The retry loop of io_file.c, exported (hidden) for this test. */
typedef ssize_t (*vf_sys_rw)(void *ctx, void *buf, size_t len, uint64_t off);
vf_status vf_io_file_loop(vf_sys_rw fn, void *ctx, bool writing, void *buf, size_t len,
                          uint64_t off, const char *name, vf_error *err);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static char *make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/vf_test_io.XXXXXX", base && *base ? base : P_tmpdir);
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    return strdup(dir);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void assert_msg_has(const vf_error *e, const char *needle)
{
    if (!strstr(e->msg, needle))
        fail_msg("message '%s' lacks '%s'", e->msg, needle);
}

/* --- path.c --- */

static void test_path_normalize(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"a/b", "a/b"},       {"a//b", "a/b"},         {"./a/./b", "a/b"},
        {"a/x/../b", "a/b"},  {"a/..", "."},           {"", "."},
        {"../a", "../a"},     {"../../a/..", "../.."}, {"/..", "/"},
        {"/a/../../b", "/b"}, {"//a///b/", "/a/b"},    {"a/b/../../..", ".."},
        {"/", "/"},           {"x/./../y/.", "y"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *got = vf_path_normalize(cases[i].in);
        assert_non_null(got);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("normalize('%s') = '%s', want '%s'", cases[i].in, got, cases[i].want);
        free(got);
    }
}

static void test_path_parts(void **state)
{
    (void)state;
    static const struct {
        const char *in, *dir, *base;
    } cases[] = {
        {"a/b", "a", "b"},
        {"b", ".", "b"},
        {"/b", "/", "b"},
        {"a//b", "a", "b"},
        {"/x/y/z.vhd", "/x/y", "z.vhd"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *d = vf_path_dirname(cases[i].in);
        assert_non_null(d);
        if (strcmp(d, cases[i].dir) != 0 || strcmp(vf_path_basename(cases[i].in), cases[i].base))
            fail_msg("'%s': dir '%s' base '%s'", cases[i].in, d, vf_path_basename(cases[i].in));
        free(d);
    }
    char *j = vf_path_join("dir/sub", "../p.vhd");
    assert_string_equal(j, "dir/p.vhd");
    free(j);
    j = vf_path_join("dir", "/abs/p.vhd");
    assert_string_equal(j, "/abs/p.vhd");
    free(j);
    assert_true(vf_path_is_windows_absolute("C:\\dir\\p.vhd"));
    assert_true(vf_path_is_windows_absolute("c:/dir/p.vhd"));
    assert_true(vf_path_is_windows_absolute("\\\\?\\Volume{x}\\p.vhdx"));
    assert_false(vf_path_is_windows_absolute(".\\p.vhd"));
    assert_false(vf_path_is_windows_absolute("/p.vhd"));
}

/* --- the retry loop, with a fake system call --- */

typedef struct fake_sys {
    const int *script; /* per call: >0 bytes to move, 0 = EOF/no progress, <0 = -errno */
    size_t ncalls, at;
    uint8_t file[64];
    uint64_t last_off;
} fake_sys;

static ssize_t fake_rw(void *ctx, void *buf, size_t len, uint64_t off)
{
    fake_sys *f = ctx;
    assert_true(f->at < f->ncalls);
    int act = f->script[f->at++];
    f->last_off = off;
    if (act < 0) {
        errno = -act;
        return -1;
    }
    size_t n = (size_t)act < len ? (size_t)act : len;
    memcpy(buf, f->file + off, n); /* reads only; the writes check offsets */
    return (ssize_t)n;
}

static void test_loop_eintr_short(void **state)
{
    (void)state;
    static const int script[] = {-EINTR, 3, -EINTR, 1, 100};
    fake_sys f = {script, ARRAY_LEN(script), 0, {0}, 0};
    for (int i = 0; i < 64; i++)
        f.file[i] = (uint8_t)i;
    uint8_t buf[10];
    vf_error e;
    vf_error_clear(&e);
    assert_int_equal(vf_io_file_loop(fake_rw, &f, false, buf, 10, 20, "f.vhd", &e), VF_OK);
    assert_int_equal(f.at, 5);
    assert_int_equal(f.last_off, 24); /* 20 + 3 + 1 */
    for (int i = 0; i < 10; i++)
        assert_int_equal(buf[i], 20 + i);
}

static void test_loop_eof_and_errors(void **state)
{
    (void)state;
    uint8_t buf[16];
    vf_error e;
    static const int eof[] = {4, 0};
    fake_sys f = {eof, ARRAY_LEN(eof), 0, {0}, 0};
    assert_int_equal(vf_io_file_loop(fake_rw, &f, false, buf, 16, 8, "base.vhd", &e),
                     VF_E_TRUNCATED);
    assert_msg_has(&e, "'base.vhd'");
    assert_msg_has(&e, "offset 8");
    assert_int_equal(e.off, 12);

    static const int eio[] = {2, -EIO};
    fake_sys g = {eio, ARRAY_LEN(eio), 0, {0}, 0};
    assert_int_equal(vf_io_file_loop(fake_rw, &g, false, buf, 16, 0, "x.vhd", &e), VF_E_IO);
    assert_int_equal(e.sys_errno, EIO);
    assert_msg_has(&e, "'x.vhd'");
    assert_msg_has(&e, "reading");

    static const int stuck[] = {5, 0};
    fake_sys h = {stuck, ARRAY_LEN(stuck), 0, {0}, 0};
    assert_int_equal(vf_io_file_loop(fake_rw, &h, true, buf, 16, 0, "y.vhd", &e), VF_E_IO);
    assert_msg_has(&e, "no progress");

    static const int nospc[] = {-ENOSPC};
    fake_sys k = {nospc, ARRAY_LEN(nospc), 0, {0}, 0};
    assert_int_equal(vf_io_file_loop(fake_rw, &k, true, buf, 16, 0, "z.vhd", &e), VF_E_IO);
    assert_int_equal(e.sys_errno, ENOSPC);
    assert_msg_has(&e, "writing");
}

/* --- POSIX backend --- */

static void test_file_roundtrip(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char *path = join(dir, "a.img");
    vf_error e;
    vf_io *io;
    assert_int_equal(vf_io_file_open(path, VF_IO_RDWR | VF_IO_CREATE | VF_IO_EXCL, &io, &e), VF_OK);
    assert_true(io->writable);
    assert_string_equal(io->name, path);
    uint8_t data[5000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    assert_int_equal(vf_io_write(io, data, sizeof data, 1000, &e), VF_OK);
    uint64_t size;
    assert_int_equal(vf_io_size(io, &size, &e), VF_OK);
    assert_int_equal(size, 6000);
    uint8_t back[6000];
    assert_int_equal(vf_io_read(io, back, 6000, 0, &e), VF_OK);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(back[i], 0);
    assert_memory_equal(back + 1000, data, sizeof data);
    assert_int_equal(vf_io_read(io, back, 100, 5950, &e), VF_E_TRUNCATED);
    assert_msg_has(&e, path);
    assert_msg_has(&e, "offset 5950");
    assert_int_equal(vf_io_sync(io, &e), VF_OK);
    assert_int_equal(vf_io_set_size(io, 512, &e), VF_OK);
    assert_int_equal(vf_io_size(io, &size, &e), VF_OK);
    assert_int_equal(size, 512);
    vf_io_close(io);

    /* Present: EXCL refuses, and a read-only handle refuses writes. */
    assert_int_equal(vf_io_file_open(path, VF_IO_RDWR | VF_IO_CREATE | VF_IO_EXCL, &io, &e),
                     VF_E_IO);
    assert_int_equal(e.sys_errno, EEXIST);
    assert_null(io);
    assert_int_equal(vf_io_file_open(path, VF_IO_RDONLY, &io, &e), VF_OK);
    assert_false(io->writable);
    assert_int_equal(vf_io_write(io, data, 1, 0, &e), VF_E_INVAL);
    assert_msg_has(&e, "read-only");
    assert_int_equal(vf_io_set_size(io, 0, &e), VF_E_INVAL);
    vf_io_close(io);
    /* TRUNC empties it. */
    assert_int_equal(vf_io_file_open(path, VF_IO_RDWR | VF_IO_TRUNC, &io, &e), VF_OK);
    assert_int_equal(vf_io_size(io, &size, &e), VF_OK);
    assert_int_equal(size, 0);
    vf_io_close(io);
    assert_int_equal(vf_io_file_open(path, VF_IO_TRUNC, &io, &e), VF_E_INVAL);

    char *missing = join(dir, "missing.vhd");
    assert_int_equal(vf_io_file_open(missing, VF_IO_RDONLY, &io, &e), VF_E_IO);
    assert_int_equal(e.sys_errno, ENOENT);
    assert_msg_has(&e, missing);
    assert_int_equal(vf_io_file_open(dir, VF_IO_RDONLY, &io, &e), VF_E_IO);
    assert_int_equal(e.sys_errno, EISDIR);

    unlink(path);
    rmdir(dir);
    free(missing);
    free(path);
    free(dir);
}

static void test_file_read_only_permission(void **state)
{
    (void)state;
    if (geteuid() == 0) /* root ignores file modes; the check below would be meaningless */
        skip();
    char *dir = make_tmpdir();
    char *path = join(dir, "ro.img");
    vf_error e;
    vf_io *io;
    assert_int_equal(vf_io_file_open(path, VF_IO_RDWR | VF_IO_CREATE, &io, &e), VF_OK);
    vf_io_close(io);
    assert_int_equal(chmod(path, 0444), 0);
    assert_int_equal(vf_io_file_open(path, VF_IO_RDWR, &io, &e), VF_E_IO);
    assert_int_equal(e.sys_errno, EACCES);
    assert_msg_has(&e, path);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static void test_file_locks(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char *path = join(dir, "l.img");
    vf_error e;
    vf_io *a, *b, *w, *w2;
    assert_int_equal(vf_io_file_open(path, VF_IO_RDWR | VF_IO_CREATE, &w, &e), VF_OK);
    assert_int_equal(vf_io_file_open(path, VF_IO_RDONLY, &a, &e), VF_OK);
    assert_int_equal(vf_io_file_open(path, VF_IO_RDONLY, &b, &e), VF_OK);
    assert_int_equal(vf_io_lock(a, false, &e), VF_OK);
    assert_int_equal(vf_io_lock(b, false, &e), VF_OK);
    assert_int_equal(vf_io_lock(w, true, &e), VF_E_BUSY);
    assert_msg_has(&e, path);
    assert_int_equal(vf_io_lock(a, true, &e), VF_E_INVAL); /* read-only: no exclusive */
    vf_io_close(a);
    vf_io_close(b);
    assert_int_equal(vf_io_lock(w, true, &e), VF_OK);
    assert_int_equal(vf_io_file_open(path, VF_IO_RDONLY, &a, &e), VF_OK);
    assert_int_equal(vf_io_lock(a, false, &e), VF_E_BUSY);
    assert_int_equal(vf_io_file_open(path, VF_IO_RDWR, &w2, &e), VF_OK);
    assert_int_equal(vf_io_lock(w2, true, &e), VF_E_BUSY);
    vf_io_close(w);
    assert_int_equal(vf_io_lock(w2, true, &e), VF_OK); /* released on close */
    vf_io_close(w2);
    vf_io_close(a);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* vf_io_lock_holder: nobody, another process (its pid, from the lock on the pid byte), a
 * handle of this process (pid unknown), and the memory fs (no processes: -1). */
static void test_lock_holder(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char *path = join(dir, "h.img");
    vf_error e;
    vf_io *q, *w;
    int64_t pid = 99;
    assert_int_equal(vf_io_file_open(path, VF_IO_RDWR | VF_IO_CREATE, &w, &e), VF_OK);
    assert_int_equal(vf_io_file_open(path, VF_IO_RDONLY, &q, &e), VF_OK);
    assert_int_equal(vf_io_lock_holder(q, true, &pid, &e), VF_OK);
    assert_int_equal(pid, 0);
    int go[2], done[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(done), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) { /* holds an exclusive lock until the parent has looked (or exited) */
        close(go[0]);
        close(done[1]);
        vf_io *c;
        char b = 0;
        if (vf_io_file_open(path, VF_IO_RDWR, &c, NULL) != VF_OK || vf_io_lock(c, true, NULL))
            _exit(1);
        if (write(go[1], &b, 1) != 1 || read(done[0], &b, 1) != 1)
            _exit(1);
        _exit(0);
    }
    close(go[1]);
    close(done[0]);
    char b;
    assert_int_equal(read(go[0], &b, 1), 1);
    assert_int_equal(vf_io_lock_holder(q, false, &pid, &e), VF_OK);
    assert_int_equal(pid, (int64_t)child);
    assert_int_equal(vf_io_lock(q, false, &e), VF_E_BUSY);
    assert_msg_has(&e, "process");
    assert_int_equal(write(done[1], &b, 1), 1);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(vf_io_lock_holder(q, false, &pid, &e), VF_OK);
    assert_int_equal(pid, 0); /* the child's locks went with it */
    /* another handle of this process: the whole-file lock conflicts, no pid to give */
    assert_int_equal(vf_io_lock(w, true, &e), VF_OK);
    assert_int_equal(vf_io_lock_holder(q, false, &pid, &e), VF_OK);
    assert_int_equal(pid, -1);
    assert_int_equal(vf_io_lock_holder(w, true, &pid, &e), VF_OK);
    assert_int_equal(pid, 0); /* its own lock is no conflict */
    vf_io_close(w);
    vf_io_close(q);
    /* the memory fs */
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, &e), VF_OK);
    assert_int_equal(vf_fs_mem_put(fs, "m", "x", 1, &e), VF_OK);
    assert_int_equal(vf_fs_open(fs, "m", VF_IO_RDWR, &w, &e), VF_OK);
    assert_int_equal(vf_fs_open(fs, "m", VF_IO_RDONLY, &q, &e), VF_OK);
    assert_int_equal(vf_io_lock_holder(q, false, &pid, &e), VF_OK);
    assert_int_equal(pid, 0);
    assert_int_equal(vf_io_lock(w, true, &e), VF_OK);
    assert_int_equal(vf_io_lock_holder(q, false, &pid, &e), VF_OK);
    assert_int_equal(pid, -1);
    vf_io_close(w);
    vf_io_close(q);
    vf_fs_mem_free(fs);
    close(go[0]);
    close(done[1]);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static void test_posix_fs(void **state)
{
    (void)state;
    const vf_fs *fs = vf_fs_posix();
    assert_ptr_equal(fs, vf_fs_posix());
    char *dir = make_tmpdir();
    char *path = join(dir, "f.img");
    vf_error e;
    vf_io *io;
    assert_int_equal(vf_fs_open(fs, path, VF_IO_RDWR | VF_IO_CREATE, &io, &e), VF_OK);
    assert_int_equal(vf_io_write(io, "abc", 3, 0, &e), VF_OK);
    vf_io_close(io);
    assert_int_equal(vf_fs_open(NULL, path, VF_IO_RDONLY, &io, &e), VF_OK); /* NULL = posix */
    vf_io_close(io);
    uint64_t free_bytes = 0;
    assert_int_equal(fs->ops->free_space(fs->self, path, &free_bytes, &e), VF_OK);
    assert_true(free_bytes > 0);
    assert_int_equal(fs->ops->sync_dir(fs->self, path, &e), VF_OK);
    assert_int_equal(fs->ops->sync_dir(fs->self, dir, &e), VF_OK);
    assert_int_equal(vf_fs_remove(fs, path, &e), VF_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), -1);
    assert_int_equal(vf_fs_remove(fs, path, &e), VF_E_IO);
    assert_int_equal(e.sys_errno, ENOENT);
    assert_msg_has(&e, path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* --- memory backend --- */

static void test_mem_io(void **state)
{
    (void)state;
    vf_error e;
    vf_io *io;
    assert_int_equal(vf_io_mem_new("hello", 5, "m.vhd", true, &io, &e), VF_OK);
    size_t len;
    const uint8_t *p = vf_io_mem_data(io, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "hello", 5);
    assert_int_equal(vf_io_write(io, "XY", 2, 10, &e), VF_OK);
    uint8_t buf[12];
    assert_int_equal(vf_io_read(io, buf, 12, 0, &e), VF_OK);
    assert_memory_equal(buf, "hello\0\0\0\0\0XY", 12);
    assert_int_equal(vf_io_read(io, buf, 2, 11, &e), VF_E_TRUNCATED);
    assert_msg_has(&e, "'m.vhd'");
    assert_msg_has(&e, "offset 11");
    assert_int_equal(vf_io_set_size(io, 3, &e), VF_OK);
    assert_int_equal(vf_io_set_size(io, 6, &e), VF_OK);
    assert_int_equal(vf_io_read(io, buf, 6, 0, &e), VF_OK);
    assert_memory_equal(buf, "hel\0\0\0", 6); /* regrown bytes are zeros */
    assert_int_equal(vf_io_write(io, "x", 1, (uint64_t)1 << 50, &e), VF_E_NOMEM);
    assert_msg_has(&e, "'m.vhd'");
    assert_int_equal(vf_io_set_size(io, (uint64_t)1 << 50, &e), VF_E_NOMEM);
    assert_int_equal(vf_io_write(io, "x", 1, UINT64_MAX, &e), VF_E_NOMEM);
    assert_int_equal(vf_io_lock(io, true, &e), VF_OK);
    assert_int_equal(vf_io_sync(io, &e), VF_OK);
    vf_io_close(io);

    assert_int_equal(vf_io_mem_new(NULL, 0, NULL, false, &io, &e), VF_OK);
    assert_int_equal(vf_io_write(io, "x", 1, 0, &e), VF_E_INVAL);
    assert_int_equal(vf_io_read(io, buf, 1, 0, &e), VF_E_TRUNCATED);
    vf_io_close(io);
    assert_int_equal(vf_io_mem_new(NULL, 4, "bad", false, &io, &e), VF_E_INVAL);
    vf_io_close(NULL);
}

static void test_memfs_files(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, &e), VF_OK);
    assert_int_equal(vf_fs_mem_put(fs, "d/a.vhd", "abcd", 4, &e), VF_OK);
    size_t len;
    const uint8_t *p = vf_fs_mem_get(fs, "./d//x/../a.vhd", &len);
    assert_non_null(p);
    assert_int_equal(len, 4);
    assert_null(vf_fs_mem_get(fs, "d/b.vhd", &len));

    vf_io *r, *w;
    assert_int_equal(vf_fs_open(fs, "d/./a.vhd", VF_IO_RDONLY, &r, &e), VF_OK);
    assert_string_equal(r->name, "d/./a.vhd");
    assert_int_equal(vf_fs_open(fs, "d/x/../a.vhd", VF_IO_RDWR, &w, &e), VF_OK);
    assert_int_equal(vf_io_write(w, "ZZ", 2, 3, &e), VF_OK);
    uint8_t buf[5];
    assert_int_equal(vf_io_read(r, buf, 5, 0, &e), VF_OK); /* shared bytes */
    assert_memory_equal(buf, "abcZZ", 5);
    assert_int_equal(vf_io_write(r, "q", 1, 0, &e), VF_E_INVAL);
    p = vf_fs_mem_get(fs, "d/a.vhd", &len);
    assert_int_equal(len, 5);
    assert_memory_equal(p, "abcZZ", 5);

    /* Removal keeps open handles working, as on POSIX. */
    assert_int_equal(vf_fs_remove(fs, "d/a.vhd", &e), VF_OK);
    assert_null(vf_fs_mem_get(fs, "d/a.vhd", &len));
    assert_int_equal(vf_io_read(r, buf, 5, 0, &e), VF_OK);
    assert_int_equal(vf_fs_remove(fs, "d/a.vhd", &e), VF_E_IO);
    assert_int_equal(e.sys_errno, ENOENT);
    vf_io_close(r);

    vf_io *n;
    assert_int_equal(vf_fs_open(fs, "d/a.vhd", VF_IO_RDONLY, &n, &e), VF_E_IO);
    assert_int_equal(e.sys_errno, ENOENT);
    assert_msg_has(&e, "'d/a.vhd'");
    assert_int_equal(vf_fs_open(fs, "n.vhd", VF_IO_RDWR | VF_IO_CREATE | VF_IO_EXCL, &n, &e),
                     VF_OK);
    vf_io *n2;
    assert_int_equal(vf_fs_open(fs, "n.vhd", VF_IO_RDWR | VF_IO_CREATE | VF_IO_EXCL, &n2, &e),
                     VF_E_IO);
    assert_int_equal(e.sys_errno, EEXIST);
    assert_int_equal(vf_io_write(n, "12345", 5, 0, &e), VF_OK);
    assert_int_equal(vf_fs_open(fs, "n.vhd", VF_IO_RDWR | VF_IO_TRUNC, &n2, &e), VF_OK);
    uint64_t size;
    assert_int_equal(vf_io_size(n, &size, &e), VF_OK);
    assert_int_equal(size, 0);
    vf_io_close(n2);
    uint64_t free_bytes;
    assert_int_equal(fs->ops->free_space(fs->self, "n.vhd", &free_bytes, &e), VF_OK);
    assert_true(free_bytes > 0);
    assert_int_equal(fs->ops->sync_dir(fs->self, "n.vhd", &e), VF_OK);

    /* Freeing the fs while a handle is open: the handle still works until closed. */
    vf_fs_mem_free(fs);
    assert_int_equal(vf_io_write(n, "ok", 2, 0, &e), VF_OK);
    vf_io_close(n);
    vf_io_close(w);
    vf_fs_mem_free(NULL);
}

static void test_memfs_locks(void **state)
{
    (void)state;
    vf_error e;
    vf_fs *fs;
    assert_int_equal(vf_fs_mem_new(&fs, &e), VF_OK);
    assert_int_equal(vf_fs_mem_put(fs, "a.vhd", "x", 1, &e), VF_OK);
    vf_io *r1, *r2, *w;
    assert_int_equal(vf_fs_open(fs, "a.vhd", 0, &r1, &e), VF_OK);
    assert_int_equal(vf_fs_open(fs, "./a.vhd", 0, &r2, &e), VF_OK);
    assert_int_equal(vf_fs_open(fs, "a.vhd", VF_IO_RDWR, &w, &e), VF_OK);
    assert_int_equal(vf_io_lock(r1, false, &e), VF_OK);
    assert_int_equal(vf_io_lock(r2, false, &e), VF_OK);
    assert_int_equal(vf_io_lock(w, true, &e), VF_E_BUSY);
    assert_msg_has(&e, "'a.vhd'");
    assert_int_equal(vf_io_lock(r1, false, &e), VF_OK); /* again: no change */
    vf_io_close(r1);
    assert_int_equal(vf_io_lock(w, true, &e), VF_E_BUSY);
    vf_io_close(r2);
    assert_int_equal(vf_io_lock(w, true, &e), VF_OK);
    assert_int_equal(vf_fs_open(fs, "a.vhd", 0, &r1, &e), VF_OK);
    assert_int_equal(vf_io_lock(r1, false, &e), VF_E_BUSY);
    assert_int_equal(vf_io_lock(w, false, &e), VF_OK); /* downgrade */
    assert_int_equal(vf_io_lock(r1, false, &e), VF_OK);
    assert_int_equal(vf_io_lock(w, true, &e), VF_E_BUSY); /* upgrade blocked by r1 */
    vf_io_close(r1);
    assert_int_equal(vf_io_lock(w, true, &e), VF_OK); /* upgrade */
    vf_io_close(w);
    assert_int_equal(vf_fs_open(fs, "a.vhd", VF_IO_RDWR, &w, &e), VF_OK);
    assert_int_equal(vf_io_lock(w, true, &e), VF_OK); /* released on close */
    vf_io_close(w);
    vf_fs_mem_free(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_normalize),   cmocka_unit_test(test_path_parts),
        cmocka_unit_test(test_loop_eintr_short), cmocka_unit_test(test_loop_eof_and_errors),
        cmocka_unit_test(test_file_roundtrip),   cmocka_unit_test(test_file_read_only_permission),
        cmocka_unit_test(test_file_locks),       cmocka_unit_test(test_lock_holder),
        cmocka_unit_test(test_posix_fs),         cmocka_unit_test(test_mem_io),
        cmocka_unit_test(test_memfs_files),      cmocka_unit_test(test_memfs_locks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
