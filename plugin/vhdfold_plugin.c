/* vhdfold_plugin.c - nbdkit plugin serving the flattened view of a VHD/VHDX chain over NBD.
 * Layer: plugin (a program of the library, like the CLI): links only libvhdfold and includes
 * only its public headers <vhdfold/...>. docs/nbd.md is the user's page.
 *
 * Threads: a chain handle is not safe for concurrent use. Read-only, every connection opens
 * its own chain in .open and nbdkit runs under SERIALIZE_REQUESTS (connections in parallel,
 * one request at a time per connection). Writable, all connections share the one chain
 * opened at start (one writer, one set of locks) and .thread_model narrows the model to
 * SERIALIZE_ALL_REQUESTS, so the library sees one call at a time. */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <vhdfold/vf_chain.h>
#include <vhdfold/vf_error.h>
#include <vhdfold/vf_image.h>
#include <vhdfold/vf_report.h>
#include <vhdfold/vf_sha256.h>
#include <vhdfold/vf_verify.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS

#define VFP_MAX_REQUEST (32u * 1024 * 1024) /* largest request we advertise */
#define VFP_MAX_EXTENTS 4096                /* extents returned per .extents call at most */
#define VFP_MAX_SECTOR 4096

typedef enum vfp_verify {
    VFP_VERIFY_NONE,
    VFP_VERIFY_CHECK,
    VFP_VERIFY_FLAT,
    VFP_VERIFY_TREE
} vfp_verify;

/* Configuration (set in .config, read-only once serving) and the chain opened at start. */
static struct {
    char *file;          /* absolute path of TOP */
    char *parent_dir;    /* parent-dir=, or NULL */
    bool allow_absolute; /* allow-absolute-parents=true */
    vfp_verify verify;
    bool writable;
    bool have_digest; /* digest= given: refuse unless the verify digest equals it */
    uint8_t digest[VF_SHA256_LEN];
    vf_chain *chain; /* opened in .get_ready; the shared handle when writable */
    uint64_t size;
    uint32_t sector;
    vf_format_kind format;
} g;

typedef struct vfp_conn {
    vf_chain *c;
    bool own; /* opened for this connection (read-only mode) */
} vfp_conn;

/* --- errors --- */

static int vfp_errno(const vf_error *e)
{
    switch (e->code) {
    case VF_E_INVAL:
        return EINVAL;
    case VF_E_NOMEM:
        return ENOMEM;
    case VF_E_IO:
        return e->sys_errno ? e->sys_errno : EIO;
    case VF_E_BUSY:
        return EBUSY;
    case VF_E_LIMIT:
        return ENOSPC;
    default:
        return EIO;
    }
}

/* Log the library's error and set the NBD error; returns -1 for the callback. */
static int vfp_fail(const char *what, const vf_error *e)
{
    nbdkit_error("vhdfold: %s: %s (%s)", what, e->msg, vf_status_name(e->code));
    nbdkit_set_error(vfp_errno(e));
    return -1;
}

/* --- configuration --- */

static void vfp_unload(void)
{
    if (g.chain && g.writable) {
        vf_error err;
        if (vf_image_flush(vf_chain_image(g.chain, 0), &err) != VF_OK)
            vfp_fail("flush at shutdown", &err);
    }
    vf_chain_close(g.chain);
    free(g.file);
    free(g.parent_dir);
    memset(&g, 0, sizeof g);
}

static int vfp_parse_hex(const char *s, uint8_t out[VF_SHA256_LEN])
{
    if (strlen(s) != 2 * VF_SHA256_LEN)
        return -1;
    for (size_t i = 0; i < VF_SHA256_LEN; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
            !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int vfp_parse_verify(const char *value)
{
    static const char *const names[] = {"none", "check", "flat", "tree"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(value, names[i]) == 0) {
            g.verify = (vfp_verify)i;
            return 0;
        }
    nbdkit_error("vhdfold: verify=%s: expected none, check, flat or tree", value);
    return -1;
}

static int vfp_config(const char *key, const char *value)
{
    if (strcmp(key, "file") == 0) {
        free(g.file);
        return (g.file = nbdkit_realpath(value)) ? 0 : -1;
    }
    if (strcmp(key, "parent-dir") == 0) {
        free(g.parent_dir);
        return (g.parent_dir = nbdkit_realpath(value)) ? 0 : -1;
    }
    if (strcmp(key, "verify") == 0)
        return vfp_parse_verify(value);
    if (strcmp(key, "writable") == 0) {
        int b = nbdkit_parse_bool(value);
        g.writable = b == 1;
        return b < 0 ? -1 : 0;
    }
    if (strcmp(key, "allow-absolute-parents") == 0) {
        int b = nbdkit_parse_bool(value);
        g.allow_absolute = b == 1;
        return b < 0 ? -1 : 0;
    }
    if (strcmp(key, "digest") == 0) {
        if (vfp_parse_hex(value, g.digest) != 0) {
            nbdkit_error("vhdfold: digest=%s: expected 64 hexadecimal digits", value);
            return -1;
        }
        g.have_digest = true;
        return 0;
    }
    nbdkit_error("vhdfold: unknown parameter '%s'", key);
    return -1;
}

static int vfp_config_complete(void)
{
    if (!g.file) {
        nbdkit_error("vhdfold: file=TOP is required (the top image of the chain)");
        return -1;
    }
    if (g.have_digest && g.verify != VFP_VERIFY_FLAT && g.verify != VFP_VERIFY_TREE) {
        nbdkit_error("vhdfold: digest= needs verify=flat or verify=tree");
        return -1;
    }
    return 0;
}

static int vfp_thread_model(void)
{
    return g.writable ? NBDKIT_THREAD_MODEL_SERIALIZE_ALL_REQUESTS
                      : NBDKIT_THREAD_MODEL_SERIALIZE_REQUESTS;
}

/* --- opening the chain --- */

/* The chain options every open uses: shared locks and the parent policy of docs/chain.md
 * "Policy" (parent-dir=, allow-absolute-parents=). */
static int vfp_chain_opts(vf_chain_opts *opts)
{
    vf_chain_opts_init(opts);
    opts->lock = true;
    opts->parent_dir = g.parent_dir;
    opts->allow_absolute_parents = g.allow_absolute;
    return 0;
}

static int vfp_open_chain(vf_chain **out)
{
    vf_chain_opts opts;
    vf_error err;
    if (vfp_chain_opts(&opts) != 0)
        return -1;
    if (vf_chain_open(g.file, &opts, out, &err) != VF_OK)
        return vfp_fail("cannot open the chain", &err);
    return 0;
}

/* A merge interrupted on this chain left DEST.vfmerge beside its destination (docs/merge.md):
 * the chain must be resumed with vhdfold merge before anything writes to it. */
static int vfp_no_merge_journal(vf_chain *c)
{
    for (size_t lvl = 0; lvl < vf_chain_depth(c); lvl++) {
        const char *path = vf_chain_path(c, lvl);
        size_t n = strlen(path) + sizeof ".vfmerge";
        char *j = malloc(n);
        if (!j) {
            nbdkit_error("vhdfold: out of memory");
            return -1;
        }
        snprintf(j, n, "%s.vfmerge", path);
        struct stat sb;
        int found = lstat(j, &sb) == 0;
        if (found)
            nbdkit_error("vhdfold: '%s' has a pending merge journal '%s': resume or roll back "
                         "the merge (vhdfold merge) before serving it writable",
                         path, j);
        free(j);
        if (found)
            return -1;
    }
    return 0;
}

static int vfp_check(vf_chain *c)
{
    vf_report rep;
    vf_error err;
    vf_report_init(&rep);
    if (vf_verify_check_chain(c, &rep, &err) != VF_OK) {
        vf_report_free(&rep);
        return vfp_fail("cannot check the chain", &err);
    }
    for (size_t i = 0; i < rep.count; i++) {
        const vf_finding *f = &rep.items[i];
        if (f->severity == VF_SEV_ERROR)
            nbdkit_error("vhdfold: check: '%s': %s", f->file, f->msg);
        else
            nbdkit_debug("vhdfold: check: '%s': %s", f->file, f->msg);
    }
    size_t errors = vf_report_count(&rep, VF_SEV_ERROR);
    vf_report_free(&rep);
    if (errors) {
        nbdkit_error("vhdfold: '%s': the chain check found %zu error(s); not serving it", g.file,
                     errors);
        return -1;
    }
    return 0;
}

static void vfp_hex(const uint8_t md[VF_SHA256_LEN], char out[2 * VF_SHA256_LEN + 1])
{
    for (size_t i = 0; i < VF_SHA256_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int vfp_digest(vf_chain *c)
{
    vf_source *src;
    vf_error err;
    uint8_t md[VF_SHA256_LEN];
    vf_verify_opts vo;
    vf_verify_opts_init(&vo);
    /* Read, never map: a level truncated by another program while it is hashed must fail
     * the digest, not kill nbdkit with SIGBUS. */
    vo.no_views = true;
    if (vf_source_from_chain(c, false, &src, &err) != VF_OK)
        return vfp_fail("cannot digest the chain", &err);
    vf_status st = g.verify == VFP_VERIFY_TREE ? vf_digest_tree(src, &vo, md, &err)
                                               : vf_digest_flat(src, &vo, md, &err);
    vf_source_free(src);
    if (st != VF_OK)
        return vfp_fail("cannot digest the chain", &err);
    char hex[2 * VF_SHA256_LEN + 1];
    vfp_hex(md, hex);
    const char *mode = g.verify == VFP_VERIFY_TREE ? "tree" : "flat";
    nbdkit_debug("vhdfold: %s digest of '%s': %s", mode, g.file, hex);
    if (g.have_digest && memcmp(md, g.digest, VF_SHA256_LEN) != 0) {
        nbdkit_error("vhdfold: '%s': %s digest %s is not the expected one; not serving it", g.file,
                     mode, hex);
        return -1;
    }
    return 0;
}

static int vfp_run_verify(vf_chain *c)
{
    if (g.verify == VFP_VERIFY_NONE)
        return 0;
    if (vfp_check(c) != 0)
        return -1;
    return g.verify == VFP_VERIFY_CHECK ? 0 : vfp_digest(c);
}

static int vfp_make_writable(vf_chain *c)
{
    vf_error err;
    if (vf_chain_reopen_rw(c, 0, &err) != VF_OK)
        return vfp_fail("cannot open the top for writing", &err);
    return 0;
}

/* Open and validate the chain before nbdkit forks, so every refusal reaches the user. */
static int vfp_get_ready(void)
{
    if (vfp_open_chain(&g.chain) != 0)
        return -1;
    if (g.writable && vfp_no_merge_journal(g.chain) != 0)
        return -1;
    if (vfp_run_verify(g.chain) != 0)
        return -1;
    if (g.writable && vfp_make_writable(g.chain) != 0)
        return -1;
    const vf_image_info *top = vf_image_info_get(vf_chain_image(g.chain, 0));
    g.size = vf_chain_virtual_size(g.chain);
    g.sector = top->logical_sector_size ? top->logical_sector_size : 512;
    g.format = top->format;
    if (g.sector > VFP_MAX_SECTOR) {
        nbdkit_error("vhdfold: '%s': logical sector size %" PRIu32 " is not served", g.file,
                     g.sector);
        return -1;
    }
    nbdkit_debug("vhdfold: serving '%s' (%s, %zu level(s), %" PRIu64 " bytes, %s)", g.file,
                 vf_format_name(g.format), vf_chain_depth(g.chain), g.size,
                 g.writable ? "writable" : "read-only");
    return 0;
}

/* The chain a connection opened must be the one validated at start, level by level. */
static int vfp_same_chain(vf_chain *c)
{
    size_t depth = vf_chain_depth(c);
    bool same = depth == vf_chain_depth(g.chain);
    for (size_t lvl = 0; same && lvl < depth; lvl++) {
        const vf_image_info *a = vf_image_info_get(vf_chain_image(c, lvl));
        const vf_image_info *b = vf_image_info_get(vf_chain_image(g.chain, lvl));
        same = a->format == b->format && memcmp(a->id, b->id, sizeof a->id) == 0;
    }
    if (!same)
        nbdkit_error("vhdfold: '%s' changed since nbdkit started (another chain now)", g.file);
    return same ? 0 : -1;
}

static void *vfp_open(int readonly)
{
    (void)readonly;
    vfp_conn *h = calloc(1, sizeof *h);
    if (!h) {
        nbdkit_error("vhdfold: out of memory");
        return NULL;
    }
    if (g.writable) {
        h->c = g.chain;
        return h;
    }
    if (vfp_open_chain(&h->c) != 0 || vfp_same_chain(h->c) != 0) {
        vf_chain_close(h->c);
        free(h);
        return NULL;
    }
    h->own = true;
    return h;
}

static void vfp_close(void *handle)
{
    vfp_conn *h = handle;
    if (h->own)
        vf_chain_close(h->c);
    free(h);
}

/* --- what the export offers --- */

static int64_t vfp_get_size(void *handle)
{
    (void)handle;
    return (int64_t)g.size;
}

static int vfp_block_size(void *handle, uint32_t *minimum, uint32_t *preferred, uint32_t *maximum)
{
    (void)handle;
    *minimum = g.sector;
    *preferred = g.sector > 4096 ? g.sector : 4096;
    *maximum = VFP_MAX_REQUEST;
    return 0;
}

static int vfp_can_write(void *handle)
{
    (void)handle;
    return g.writable;
}

static int vfp_can_flush(void *handle)
{
    (void)handle;
    return g.writable;
}

/* Trim becomes the format's ZERO block state where it has one (VHDX); without one (VHD)
 * zeros would be allocated and written, so trim is not offered there. */
static int vfp_can_trim(void *handle)
{
    (void)handle;
    vf_format_limits lim;
    if (!g.writable || vf_format_get_limits(g.format, &lim, NULL) != VF_OK)
        return 0;
    return (lim.features & VF_FEATURE_ZERO_BLOCKS) != 0;
}

static int vfp_can_zero(void *handle)
{
    (void)handle;
    return g.writable;
}

static int vfp_can_fast_zero(void *handle)
{
    (void)handle;
    return 0;
}

static int vfp_can_fua(void *handle)
{
    (void)handle;
    return g.writable ? NBDKIT_FUA_EMULATE : NBDKIT_FUA_NONE;
}

/* Read-only: every connection reads the same unchanging files. Writable: one shared handle,
 * and a flush on any connection makes every connection's writes durable. */
static int vfp_can_multi_conn(void *handle)
{
    (void)handle;
    return 1;
}

static int vfp_can_extents(void *handle)
{
    (void)handle;
    return 1;
}

/* --- data --- */

static int vfp_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
    vfp_conn *h = handle;
    vf_error err;
    (void)flags;
    if (vf_chain_read(h->c, offset, buf, count, &err) != VF_OK)
        return vfp_fail("read", &err);
    return 0;
}

static uint32_t vfp_extent_type(vf_extent_kind kind)
{
    switch (kind) {
    case VF_EXTENT_PRESENT:
        return 0;
    case VF_EXTENT_ZERO:
        return NBDKIT_EXTENT_ZERO;
    default: /* no level defines it: reads as zeros from the base */
        return NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;
    }
}

static int vfp_extents(void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                       struct nbdkit_extents *extents)
{
    vfp_conn *h = handle;
    uint64_t pos = offset - offset % g.sector, end = offset + count;
    size_t depth = vf_chain_depth(h->c);
    for (unsigned n = 0; pos < end && pos < g.size && n < VFP_MAX_EXTENTS; n++) {
        vf_chain_extent e;
        vf_error err;
        if (vf_chain_map(h->c, 0, depth - 1, pos, end - pos, &e, &err) != VF_OK)
            return vfp_fail("map", &err);
        if (nbdkit_add_extent(extents, e.voff, e.len, vfp_extent_type(e.kind)) != 0)
            return -1;
        pos = e.voff + e.len;
        if (flags & NBDKIT_FLAG_REQ_ONE)
            break;
    }
    return 0;
}

/* --- writes (writable=true only; all on level 0) --- */

/* The sector holding off, with [off, off+len) (inside that sector) replaced by src, or by
 * zeros when src is NULL, written back to the top. */
static int vfp_write_partial(vf_chain *c, uint64_t off, const void *src, size_t len)
{
    uint8_t sec[VFP_MAX_SECTOR];
    uint64_t at = off - off % g.sector;
    vf_error err;
    if (vf_chain_read(c, at, sec, g.sector, &err) != VF_OK)
        return vfp_fail("read for a partial-sector write", &err);
    if (src)
        memcpy(sec + (off - at), src, len);
    else
        memset(sec + (off - at), 0, len);
    if (vf_image_write(vf_chain_image(c, 0), at, sec, g.sector, &err) != VF_OK)
        return vfp_fail("write", &err);
    return 0;
}

/* Aligned middle part: data from src, or zeros (the format's zero state) when src is NULL. */
static int vfp_write_whole(vf_chain *c, uint64_t off, const void *src, uint64_t len)
{
    vf_error err;
    vf_image *top = vf_chain_image(c, 0);
    vf_status st = src ? vf_image_write(top, off, src, (size_t)len, &err)
                       : vf_image_write_zeroes(top, off, len, &err);
    return st == VF_OK ? 0 : vfp_fail(src ? "write" : "write zeroes", &err);
}

/* Write [off, off+len): the unaligned head and tail sectors read-modify-write. */
static int vfp_write_range(vf_chain *c, uint64_t off, const uint8_t *src, uint64_t len)
{
    uint64_t head = off % g.sector;
    if (head) {
        uint64_t n = g.sector - head < len ? g.sector - head : len;
        if (vfp_write_partial(c, off, src, (size_t)n) != 0)
            return -1;
        off += n, len -= n, src = src ? src + n : NULL;
    }
    uint64_t whole = len - len % g.sector;
    if (whole && vfp_write_whole(c, off, src, whole) != 0)
        return -1;
    off += whole, len -= whole, src = src ? src + whole : NULL;
    return len ? vfp_write_partial(c, off, src, (size_t)len) : 0;
}

static int vfp_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset,
                      uint32_t flags)
{
    vfp_conn *h = handle;
    (void)flags; /* FUA is emulated by nbdkit with a flush */
    return vfp_write_range(h->c, offset, buf, count);
}

static int vfp_zero(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
    vfp_conn *h = handle;
    if (flags & NBDKIT_FLAG_FAST_ZERO) {
        nbdkit_set_error(ENOTSUP);
        return -1;
    }
    return vfp_write_range(h->c, offset, NULL, count);
}

/* Trim is advisory: the whole sectors inside the range get the VHDX ZERO state. */
static int vfp_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
    vfp_conn *h = handle;
    (void)flags;
    uint64_t start = (offset + g.sector - 1) / g.sector * g.sector;
    uint64_t end = (offset + count) / g.sector * g.sector;
    return end > start ? vfp_write_whole(h->c, start, NULL, end - start) : 0;
}

static int vfp_flush(void *handle, uint32_t flags)
{
    vfp_conn *h = handle;
    vf_error err;
    (void)flags;
    if (vf_image_flush(vf_chain_image(h->c, 0), &err) != VF_OK)
        return vfp_fail("flush", &err);
    return 0;
}

#define VFP_CONFIG_HELP                                                                            \
    "file=TOP           (required) top image of the VHD/VHDX chain\n"                              \
    "parent-dir=DIR     look for parents only inside DIR (docs/chain.md \"Policy\")\n"             \
    "allow-absolute-parents=BOOL  also follow absolute POSIX parent locators (default false)\n"    \
    "verify=MODE        none (default), check, flat or tree: refuse a chain that fails\n"          \
    "digest=HEX         with verify=flat|tree: refuse unless the digest equals HEX\n"              \
    "writable=BOOL      serve read-write: writes go to TOP only (default false)"

static struct nbdkit_plugin plugin = {
    .name = "vhdfold",
    .longname = "vhdfold: VHD/VHDX differencing chains",
    .version = VFP_VERSION,
    .description = "Serve the flattened view of a VHD or VHDX differencing chain",
    .unload = vfp_unload,
    .config = vfp_config,
    .config_complete = vfp_config_complete,
    .config_help = VFP_CONFIG_HELP,
    .magic_config_key = "file",
    .thread_model = vfp_thread_model,
    .get_ready = vfp_get_ready,
    .open = vfp_open,
    .close = vfp_close,
    .get_size = vfp_get_size,
    .block_size = vfp_block_size,
    .can_write = vfp_can_write,
    .can_flush = vfp_can_flush,
    .can_trim = vfp_can_trim,
    .can_zero = vfp_can_zero,
    .can_fast_zero = vfp_can_fast_zero,
    .can_fua = vfp_can_fua,
    .can_multi_conn = vfp_can_multi_conn,
    .can_extents = vfp_can_extents,
    .pread = vfp_pread,
    .pwrite = vfp_pwrite,
    .zero = vfp_zero,
    .trim = vfp_trim,
    .flush = vfp_flush,
    .extents = vfp_extents,
    .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
