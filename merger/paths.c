/* paths.c - lexical path helpers for the merger: normalizing the request, the journal's
 * name (the one place that decides where a journal lives), relative parent paths for --child, and
 * "is DESTINATION that level" comparisons. Layer: merger. Lexical only (no symlink resolution) so
 * they work on any vf_fs; the POSIX fs additionally compares files by st_dev/st_ino. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "merge_int.h"
#include "path.h"

char *vf_merge_path_abs(const char *path, bool on_posix)
{
    /* Relative paths are taken from the working directory whatever the fs (the memory fs
     * just sees longer keys): a journal written through one fs (e.g. a fault-injecting
     * wrapper) must match a rerun through another. */
    (void)on_posix;
    if (path[0] == '/')
        return vf_path_normalize(path);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        return vf_path_normalize(path);
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *joined = malloc(n);
    if (!joined)
        return NULL;
    strcpy(joined, cwd);
    strcat(joined, "/");
    strcat(joined, path);
    char *out = vf_path_normalize(joined);
    free(joined);
    return out;
}

/* Split the shared leading components of dir and target: *drest points at what is left of
 * dir, *trest at what is left of target (both without a leading '/'). */
static void vf_path_split_common(const char *d, const char *t, const char **drest,
                                 const char **trest)
{
    size_t i = 0, last = 0;
    while (d[i] && d[i] == t[i]) {
        i++;
        if (d[i - 1] == '/')
            last = i;
    }
    if (!d[i] && (t[i] == '/' || !t[i]))
        last = i; /* dir is a whole-component prefix of target */
    *drest = d + last;
    *trest = t + last;
    while (**drest == '/')
        (*drest)++;
    while (**trest == '/')
        (*trest)++;
}

char *vf_merge_path_relative(const char *dir, const char *target)
{
    char *d = vf_path_normalize(dir), *t = vf_path_normalize(target);
    char *out = NULL;
    if (!d || !t)
        goto done;
    if (!strcmp(d, ".")) {
        out = strdup(t);
        goto done;
    }
    const char *rest, *tail;
    vf_path_split_common(d, t, &rest, &tail);
    size_t ups = *rest ? 1 : 0;
    for (const char *q = rest; *q; q++)
        ups += *q == '/';
    out = malloc(ups * 3 + strlen(tail) + 1);
    if (!out)
        goto done;
    size_t o = 0;
    for (size_t i = 0; i < ups; i++) {
        memcpy(out + o, "../", 3);
        o += 3;
    }
    strcpy(out + o, tail);
done:
    free(d);
    free(t);
    return out;
}

char *vf_merge_journal_path(const char *destination)
{
    size_t n = strlen(destination);
    char *out = malloc(n + sizeof VF_JOURNAL_SUFFIX);
    if (out) {
        memcpy(out, destination, n);
        memcpy(out + n, VF_JOURNAL_SUFFIX, sizeof VF_JOURNAL_SUFFIX);
    }
    return out;
}

bool vf_merge_same_file(const vf_fs *fs, const char *a, const char *b)
{
    bool posix = !fs || fs == vf_fs_posix();
    if (posix) {
        struct stat sa, sb;
        if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
            return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    }
    char *na = vf_merge_path_abs(a, posix), *nb = vf_merge_path_abs(b, posix);
    bool same = na && nb && !strcmp(na, nb);
    free(na);
    free(nb);
    return same;
}
