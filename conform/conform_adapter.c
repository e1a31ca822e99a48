/* conform_adapter.c - the peer adapters shipped with vhdfold (conform/adapters/, installed to
 * DATADIR/vhdfold/adapters): `--adapter NAME` picks one by name, and the `{adapters}`
 * placeholder of any template names the folder they are found in. The folder is looked up in a
 * documented order (docs/conform.md "Adapters"): $VHDFOLD_ADAPTERS, the source tree when the
 * binary runs from its build tree, the folder installed beside the binary, the configured
 * install folder. Reproducers always name an installed folder, never the source tree.
 * Layer: conform (private). Called by conform.c before any case runs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conform_int.h"

#ifndef VF_ADAPTERS_INSTALLED
#define VF_ADAPTERS_INSTALLED "/usr/local/share/vhdfold/adapters"
#endif
#ifndef VF_ADAPTERS_REL
#define VF_ADAPTERS_REL "../share/vhdfold/adapters"
#endif
/* Written by CMake beside the binary in the build tree (never installed): the source tree's
 * adapter folder, one line. */
#define VF_ADAPTERS_MARKER "vhdfold-source-adapters"

typedef struct vf_adapter_spec {
    const char *name;
    bool reader;
    const char *tmpl;   /* --reader or --impl */
    const char *result; /* --result, NULL = {dest} */
    const char *raw;    /* --reader-raw, NULL = none */
} vf_adapter_spec;

static const vf_adapter_spec vf_adapters[] = {
    {"7zip", true, "{adapters}/7zip/flatten.sh {top}", NULL,
     "{adapters}/7zip/flatten.sh --raw {out} {top}"},
    {"libvhdi", true, "/usr/bin/python3 {adapters}/libvhdi/flatten.py {top}", NULL,
     "/usr/bin/python3 {adapters}/libvhdi/flatten.py --raw {out} {top}"},
    {"qemu-img", true, "{adapters}/qemu-img/flatten.sh {top}", NULL,
     "{adapters}/qemu-img/flatten.sh --raw {out} {top}"},
    {"vhd-lib", false, "node {adapters}/vhd-lib/merge.js {dir} {chain}", "{source}", NULL},
    {"vhd-lib-072", false, "node {adapters}/vhd-lib/merge072.js {dir} {source} {dest}", NULL, NULL},
    {"vhd-util", false, "{adapters}/vhd-util/coalesce.sh {chain}", NULL, NULL},
};

static bool vf_is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* dst = realpath(src) (or src when it cannot be resolved), bounded by len. */
static void vf_set_dir(char *dst, size_t len, const char *src)
{
    char *r = realpath(src, NULL);
    snprintf(dst, len, "%s", r ? r : src);
    free(r);
}

/* The source tree's adapters named by the marker beside the binary in exedir, if any. */
static bool vf_marker_dir(const char *exedir, char *out, size_t len)
{
    char p[PATH_MAX + 64], *text = NULL;
    snprintf(p, sizeof p, "%s/%s", exedir, VF_ADAPTERS_MARKER);
    if (vf_read_text(p, PATH_MAX, &text, NULL))
        return false;
    text[strcspn(text, "\r\n")] = '\0';
    bool ok = text[0] == '/' && vf_is_dir(text);
    if (ok)
        vf_set_dir(out, len, text);
    free(text);
    return ok;
}

vf_status vf_conform_adapters_find(char *run, char *show, size_t len, vf_error *err)
{
    const char *env = getenv("VHDFOLD_ADAPTERS");
    if (env && *env) {
        if (!vf_is_dir(env))
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "VHDFOLD_ADAPTERS='%s': not a folder",
                           env);
        vf_set_dir(run, len, env);
        snprintf(show, len, "%s", run);
        return VF_OK;
    }
    char exe[PATH_MAX], beside[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    if (exe[0] && vf_marker_dir(exe, run, len)) {
        snprintf(show, len, "%s", VF_ADAPTERS_INSTALLED); /* where `cmake --install` puts them */
        return VF_OK;
    }
    snprintf(beside, sizeof beside, "%s/%s", exe, VF_ADAPTERS_REL);
    const char *found = exe[0] && vf_is_dir(beside)        ? beside
                        : vf_is_dir(VF_ADAPTERS_INSTALLED) ? VF_ADAPTERS_INSTALLED
                                                           : NULL;
    if (!found)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "no conformance adapters found: VHDFOLD_ADAPTERS is not set, and neither "
                       "'%s' nor '%s' is a folder",
                       beside, VF_ADAPTERS_INSTALLED);
    vf_set_dir(run, len, found);
    snprintf(show, len, "%s", run);
    return VF_OK;
}

static vf_status vf_adapter_fill(vf_conform_opts *o, vf_error *err)
{
    if (!o->adapter)
        return VF_OK;
    if (o->impl || o->reader)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "--adapter excludes --impl and --reader (it sets one of them)");
    for (size_t i = 0; i < sizeof vf_adapters / sizeof vf_adapters[0]; i++) {
        const vf_adapter_spec *a = &vf_adapters[i];
        if (strcmp(a->name, o->adapter))
            continue;
        if (a->reader) {
            o->reader = a->tmpl;
            if (!o->reader_raw)
                o->reader_raw = a->raw;
        } else {
            o->impl = a->tmpl;
            if (!o->result)
                o->result = a->result;
        }
        return VF_OK;
    }
    return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                   "--adapter '%s': not an adapter (7zip, libvhdi, qemu-img, vhd-lib, "
                   "vhd-lib-072, vhd-util)",
                   o->adapter);
}

vf_status vf_conform_adapter_apply(vf_conform_opts *o, vf_error *err)
{
    vf_status st = vf_adapter_fill(o, err);
    if (o->reader_raw && !o->reader_raw[0])
        o->reader_raw = NULL; /* --reader-raw '': do not locate (a 4 GiB view is costly) */
    return st;
}

bool vf_conform_uses_adapters(const char *tmpl)
{
    for (const char *p = tmpl; p && *p; p++) {
        if (p[0] == '{' && p[1] == '{')
            p++;
        else if (!strncmp(p, "{adapters}", 10))
            return true;
    }
    return false;
}

char *vf_conform_subst_adapters(const char *tmpl, const char *dir)
{
    char *q = vf_shell_quote(dir);
    size_t n = 0;
    for (const char *p = tmpl; q && *p; p++)
        n += !strncmp(p, "{adapters}", 10);
    char *out = q ? malloc(strlen(tmpl) + n * strlen(q) + 1) : NULL, *w = out;
    for (const char *p = tmpl; out && *p;) {
        if (p[0] == '{' && p[1] == '{') { /* a literal brace stays for vf_conform_subst */
            *w++ = *p++;
            *w++ = *p++;
        } else if (!strncmp(p, "{adapters}", 10)) {
            w = stpcpy(w, q);
            p += 10;
        } else {
            *w++ = *p++;
        }
    }
    if (out)
        *w = '\0';
    free(q);
    return out;
}
