/* newfile.c - temporary file + atomic publish for create and convert, and the parent paths a
 * new child records (newfile.h). Layer: cli; POSIX calls only, no image format knowledge. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "newfile.h"

/* The folder part of path ("." when it has none); yours: free() it. */
static char *vf_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static const char *vf_base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

vf_status vf_newfile_check(const char *target, bool replace, const char *hint, vf_error *err)
{
    struct stat st;
    if (!*vf_base_of(target))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' names a folder, not a file", target);
    if (lstat(target, &st) == 0) {
        if (!replace)
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' exists: not overwritten%s", target,
                           hint ? hint : "");
        if (!S_ISREG(st.st_mode))
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                           "'%s' exists and is not a regular file: not replaced", target);
    } else if (errno != ENOENT) {
        return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "'%s'", target);
    }
    char *dir = vf_dir_of(target);
    if (!dir)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "out of memory");
    vf_status rc = VF_OK;
    if (stat(dir, &st) != 0)
        rc = VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "folder '%s' of '%s'", dir, target);
    else if (!S_ISDIR(st.st_mode))
        rc = VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' (folder of '%s') is not a folder", dir,
                     target);
    else if (access(dir, W_OK) != 0)
        rc = VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "folder '%s' of '%s' is not writable", dir,
                           target);
    free(dir);
    return rc;
}

vf_status vf_newfile_begin(vf_newfile *nf, const char *target, vf_io **io, vf_error *err)
{
    memset(nf, 0, sizeof *nf);
    char *dir = vf_dir_of(target);
    size_t n = (dir ? strlen(dir) : 0) + strlen(target) + 64;
    nf->target = strdup(target);
    nf->tmp = malloc(n);
    if (!dir || !nf->target || !nf->tmp) {
        free(dir);
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "out of memory");
    }
    snprintf(nf->tmp, n, "%s/.%s.%ld.vhdfold-tmp", dir, vf_base_of(target), (long)getpid());
    free(dir);
    vf_status st =
        vf_io_file_open(nf->tmp, VF_IO_RDWR | VF_IO_CREATE | VF_IO_EXCL | VF_IO_NOFOLLOW, io, err);
    nf->made = st == VF_OK;
    return st;
}

static vf_status vf_sync_dir_of(const char *path, vf_error *err)
{
    char *dir = vf_dir_of(path);
    if (!dir)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "out of memory");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    vf_status st = VF_OK;
    if (fd < 0 || fsync(fd) != 0)
        st = VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "syncing folder '%s'", dir);
    if (fd >= 0)
        close(fd);
    free(dir);
    return st;
}

vf_status vf_newfile_publish(vf_newfile *nf, bool replace, vf_error *err)
{
    if (replace) {
        if (rename(nf->tmp, nf->target) != 0)
            return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "renaming '%s' to '%s'", nf->tmp,
                                 nf->target);
    } else {
        if (link(nf->tmp, nf->target) != 0) {
            if (errno == EEXIST)
                return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                               "'%s' appeared while it was written: left as it is", nf->target);
            return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "naming '%s'", nf->target);
        }
        unlink(nf->tmp);
    }
    nf->made = false;
    return vf_sync_dir_of(nf->target, err);
}

void vf_newfile_end(vf_newfile *nf)
{
    if (nf->made && nf->tmp)
        unlink(nf->tmp);
    free(nf->tmp);
    free(nf->target);
    memset(nf, 0, sizeof *nf);
}

/* The path from folder `from` to `to`, both absolute and normalised (realpath). */
static char *vf_relative(const char *from, const char *to)
{
    size_t i = 0, common = 0;
    while (from[i] && from[i] == to[i]) {
        if (from[i] == '/')
            common = i + 1;
        i++;
    }
    const char *frest = from + common, *tail = to + common;
    if (!from[i] && to[i] == '/') { /* from is a whole-component prefix of to */
        frest = "";
        tail = to + i + 1;
    }
    size_t ups = *frest ? 1 : 0;
    for (const char *p = frest; *p; p++)
        ups += *p == '/';
    char *out = malloc(ups * 3 + strlen(tail) + 1);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t u = 0; u < ups; u++)
        strcat(out, "../");
    strcat(out, tail);
    return out;
}

vf_status vf_parent_paths(const char *child_path, const char *parent_path, char **rel, char **abs,
                          vf_error *err)
{
    *rel = *abs = NULL;
    char *dir = vf_dir_of(child_path);
    if (!dir)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "out of memory");
    char *rdir = realpath(dir, NULL);
    int e = errno;
    free(dir);
    if (!rdir)
        return VF_FAIL_ERRNO(err, e, VF_OFF_NONE, "folder of '%s'", child_path);
    *abs = realpath(parent_path, NULL);
    if (!*abs) {
        e = errno;
        free(rdir);
        return VF_FAIL_ERRNO(err, e, VF_OFF_NONE, "parent '%s'", parent_path);
    }
    *rel = vf_relative(rdir, *abs);
    free(rdir);
    if (!*rel) {
        free(*abs);
        *abs = NULL;
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "out of memory");
    }
    return VF_OK;
}

/* The format FILE's extension names (".vhdx" -> vhdx), or VF_FORMAT_NONE. */
vf_format_kind vf_format_of_name(const char *file)
{
    const char *dot = strrchr(file, '.');
    const char *slash = strrchr(file, '/');
    if (!dot || (slash && dot < slash))
        return VF_FORMAT_NONE;
    char ext[16];
    size_t n = strlen(dot + 1);
    if (n == 0 || n >= sizeof ext)
        return VF_FORMAT_NONE;
    for (size_t i = 0; i <= n; i++)
        ext[i] = (char)(dot[1 + i] >= 'A' && dot[1 + i] <= 'Z' ? dot[1 + i] + 32 : dot[1 + i]);
    return vf_format_parse(ext);
}

bool vf_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}
