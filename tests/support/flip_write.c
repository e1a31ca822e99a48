/* flip_write.c - an LD_PRELOAD shim for CLI tests: flips one bit in the Nth large write
 * (2 MiB or more: data, not the metadata an image's creation writes) to a file whose name ends in
 * FLIP_SUFFIX, so a test can corrupt what a command writes without touching the command, and check
 * that its verification catches it (convert's read-back compare). The caller's buffer is never
 * changed: the bytes go down from a copy. Environment: VF_FLIP_AT=N (1-based; unset: the shim does
 * nothing), VF_FLIP_SUFFIX (default ".vhdfold-tmp"); VF_FAIL_AT=N makes the Nth large write to
 * such a file fail with EIO instead, writing nothing (a disk failing in the middle of a copy).
 * Built as a module by tests/commands.cmake; not part of vhdfold. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define FLIP_MIN (2 * 1024 * 1024)

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

static long flip_seen; /* large writes to matching files so far */
static long fail_seen; /* the same, counted for VF_FAIL_AT */

/* Does fd name a file whose path ends in the suffix? */
static int flip_matches(int fd)
{
    const char *suffix = getenv("VF_FLIP_SUFFIX");
    char link[64], path[PATH_MAX];
    if (!suffix)
        suffix = ".vhdfold-tmp";
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0)
        return 0;
    path[n] = 0;
    size_t ls = strlen(suffix);
    return (size_t)n >= ls && strcmp(path + n - ls, suffix) == 0;
}

/* The write to make: buf itself, or a copy with one bit flipped (*copy to free). */
static const void *flip_buf(int fd, const void *buf, size_t len, void **copy)
{
    const char *at = getenv("VF_FLIP_AT");
    *copy = NULL;
    if (!at || len < FLIP_MIN || !flip_matches(fd) || ++flip_seen != atol(at))
        return buf;
    if (!(*copy = malloc(len)))
        return buf;
    memcpy(*copy, buf, len);
    ((unsigned char *)*copy)[len / 2] ^= 0x10;
    return *copy;
}

/* Is this the write VF_FAIL_AT names? */
static int fail_now(int fd, size_t len)
{
    const char *at = getenv("VF_FAIL_AT");
    return at && len >= FLIP_MIN && flip_matches(fd) && ++fail_seen == atol(at);
}

static ssize_t flip_pwrite(const char *name, int fd, const void *buf, size_t len, off_t off)
{
    if (fail_now(fd, len)) {
        errno = EIO;
        return -1;
    }
    pwrite_fn real;
    *(void **)&real = dlsym(RTLD_NEXT, name); /* the POSIX way to take a function's address */
    void *copy;
    const void *p = flip_buf(fd, buf, len, &copy);
    ssize_t r = real(fd, p, len, off);
    free(copy);
    return r;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return flip_pwrite("pwrite", fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    return flip_pwrite("pwrite64", fd, buf, len, off);
}
