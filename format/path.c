/* path.c - lexical path helpers: normalise, join, dirname and basename without touching the
 * file system. Layer: format (internal, path.h). Callers: fs_mem.c (keys of the memory file
 * system), chain.c (parent candidates), io_file.c (directory of a path). */
#include <stdlib.h>
#include <string.h>

#include "path.h"

/* Appends component [s, s+n) to out (which has room: out never grows beyond the input). */
static void vf_path_push(char *out, size_t *used, bool absolute, const char *s, size_t n)
{
    if (*used > (absolute ? 1u : 0u))
        out[(*used)++] = '/';
    memcpy(out + *used, s, n);
    *used += n;
}

/* Removes the last component of out; false when there is none to remove (or it is ".."). */
static bool vf_path_pop(char *out, size_t *used, bool absolute)
{
    size_t start = absolute ? 1u : 0u;
    if (*used <= start)
        return false;
    size_t i = *used;
    while (i > start && out[i - 1] != '/')
        i--;
    if (*used - i == 2 && out[i] == '.' && out[i + 1] == '.')
        return false;
    *used = i > start ? i - 1 : start;
    return true;
}

char *vf_path_normalize(const char *path)
{
    size_t len = strlen(path);
    char *out = malloc(len + 2);
    if (!out)
        return NULL;
    bool absolute = path[0] == '/';
    size_t used = 0;
    if (absolute)
        out[used++] = '/';
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            if (vf_path_pop(out, &used, absolute) || absolute)
                continue; /* "/.." is "/" */
        }
        vf_path_push(out, &used, absolute, s, n);
    }
    if (used == 0)
        out[used++] = '.';
    out[used] = '\0';
    return out;
}

const char *vf_path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

char *vf_path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    while (slash > path && slash[-1] == '/')
        slash--;
    if (slash == path)
        return strdup("/");
    size_t n = (size_t)(slash - path);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, path, n);
    out[n] = '\0';
    return out;
}

char *vf_path_join(const char *dir, const char *rel)
{
    if (rel[0] == '/' || !dir || !dir[0])
        return vf_path_normalize(rel);
    size_t dn = strlen(dir), rn = strlen(rel);
    char *tmp = malloc(dn + rn + 2);
    if (!tmp)
        return NULL;
    memcpy(tmp, dir, dn);
    tmp[dn] = '/';
    memcpy(tmp + dn + 1, rel, rn + 1);
    char *out = vf_path_normalize(tmp);
    free(tmp);
    return out;
}

bool vf_path_is_windows_absolute(const char *path)
{
    char c = path[0];
    bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (letter && path[1] == ':' && (path[2] == '\\' || path[2] == '/'))
        return true;
    return (path[0] == '\\' && path[1] == '\\') || (path[0] == '/' && path[1] == '/');
}

bool vf_path_escapes(const char *n)
{
    return n[0] == '/' || (n[0] == '.' && n[1] == '.' && (n[2] == '\0' || n[2] == '/'));
}

/* rel of path below the normalised dir nd, or NULL (not below it). Borrowed from np. */
static const char *vf_path_below(const char *nd, const char *np)
{
    if (strcmp(nd, ".") == 0)
        return vf_path_escapes(np) || strcmp(np, ".") == 0 ? NULL : np;
    if (strcmp(nd, "/") == 0)
        return np[0] == '/' && np[1] ? np + 1 : NULL;
    size_t n = strlen(nd);
    return strncmp(np, nd, n) == 0 && np[n] == '/' && np[n + 1] ? np + n + 1 : NULL;
}

int vf_path_under(const char *dir, const char *path, char **rel)
{
    *rel = NULL;
    char *nd = vf_path_normalize(dir), *np = vf_path_normalize(path);
    int r = -1;
    if (nd && np) {
        const char *below = vf_path_below(nd, np);
        r = below ? ((*rel = strdup(below)) ? 1 : -1) : 0;
    }
    free(nd);
    free(np);
    return r;
}
