/* cmd_export.c - 'vhdfold export FILE OUT': write the flattened disk seen from FILE as a raw
 * image. OUT a file: the runs of the chain's map (vf_chain_map, the extents the digests use)
 * are copied file to file in the kernel (vf_io_copy: a reflink or copy_file_range) where one
 * level's file holds them as stored, read and written where they are not (a VHDX log
 * overlay), and left as holes where they are zero (OUT is sized with ftruncate). OUT '-'
 * streams every byte to stdout through the ordered walk (vf_verify_walk, verify/walk.c).
 * Layer: cli. The chain is opened and validated before OUT is created, so bad input writes
 * nothing. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output.h"

static const vf_opt_positional vf_export_args[] = {
    {"FILE", "the VHD or VHDX image whose flattened disk is written"},
    {"OUT", "the raw image to write (replaced if it exists); '-' writes to stdout"},
    {NULL, NULL},
};

static const vf_opt_group vf_export_groups[] = {
    {vf_cli_output_opts, 0},
    {vf_cli_chain_opts, 0},
    {vf_cli_share_opts, 0},
    {NULL, 0},
};

const vf_cmd_spec vf_export_spec = {
    .name = "export",
    .summary = "write the flattened disk as a raw image",
    .synopsis = "[options] FILE OUT",
    .description = "Write the flattened disk seen from FILE to OUT as a raw image (virtual size "
                   "bytes). Zero runs are left as holes. With --json a summary is printed on "
                   "stdout (not with OUT '-').",
    .positionals = vf_export_args,
    .groups = vf_export_groups,
    .exit_status = "0 written, 2 usage, 3 corrupt or unsupported image, 4 system error.",
};

#define VF_EXPORT_PIECE (64u << 10)
/* One map and copy call covers at most this much, so progress and Ctrl-C stay responsive. */
#define VF_EXPORT_RUN_MAX (256ull << 20)
/* Buffer for the runs no file holds as stored (read through the chain, then written). */
#define VF_EXPORT_BUF (4u << 20)

typedef struct vf_export_sink {
    vf_io *out; /* NULL: stdout */
    uint64_t written_bytes;
    uint64_t copied_bytes; /* of written_bytes: handed to vf_io_copy from a level's file */
} vf_export_sink;

static vf_status vf_export_stdout(const void *data, size_t len, vf_error *err)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(STDOUT_FILENO, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return VF_FAIL_ERRNO(err, errno, VF_OFF_NONE, "writing to standard output");
        p += n;
        len -= (size_t)n;
    }
    return VF_OK;
}

static vf_status vf_export_zeros(vf_export_sink *s, uint64_t len, vf_error *err)
{
    static const uint8_t zeros[VF_EXPORT_PIECE];
    while (len) {
        size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;
        vf_status st = vf_export_stdout(zeros, n, err);
        if (st != VF_OK)
            return st;
        s->written_bytes += n;
        len -= n;
    }
    return VF_OK;
}

static vf_status vf_export_sink_fn(void *ctx, uint64_t voff, const void *data, uint64_t len,
                                   vf_error *err)
{
    (void)voff;
    vf_export_sink *s = ctx;
    if (!data)
        return vf_export_zeros(s, len, err);
    s->written_bytes += len;
    return vf_export_stdout(data, (size_t)len, err);
}

static int vf_export_parse(int argc, char **argv, vf_cli_common *co, const char **file,
                           const char **out)
{
    char *pos[2];
    int r = vf_opts_parse(&vf_export_spec, argc, argv, co, pos, 2);
    if (r >= 0)
        return r;
    *file = pos[0];
    *out = pos[1];
    if (co->json && !strcmp(*out, "-"))
        return vf_usage_error("export", "--json cannot be used when OUT is '-'");
    return -1;
}

/* Refuse to overwrite a file of the chain itself (exporting a disk onto its own parent). */
static vf_status vf_export_target_ok(vf_chain *c, const char *out, vf_error *err)
{
    struct stat so, si;
    if (stat(out, &so) != 0)
        return VF_OK;
    for (size_t i = 0; i < vf_chain_depth(c); i++) {
        if (stat(vf_chain_path(c, i), &si) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                           "export: output '%s' is '%s', level %zu of the chain being read", out,
                           vf_chain_path(c, i), i);
    }
    return VF_OK;
}

/* Runs that lie back to back in one level's file, not copied yet: one vf_io_copy. */
typedef struct vf_export_pend {
    vf_io *src;
    uint64_t voff, file_off, len;
} vf_export_pend;

static vf_status vf_export_flush(vf_export_sink *s, vf_export_pend *p, vf_error *err)
{
    if (!p->len)
        return VF_OK;
    vf_status st = vf_io_copy(s->out, p->voff, p->src, p->file_off, p->len, err);
    if (st == VF_OK) {
        s->written_bytes += p->len;
        s->copied_bytes += p->len;
    }
    p->len = 0;
    return st;
}

/* [voff, voff+len) through the chain's read (a log overlay, an unaligned tail), written. */
static vf_status vf_export_through(vf_export_sink *s, vf_chain *c, uint8_t *buf, uint64_t voff,
                                   uint64_t len, vf_error *err)
{
    vf_status st = VF_OK;
    while (st == VF_OK && len) {
        size_t n = len < VF_EXPORT_BUF ? (size_t)len : VF_EXPORT_BUF;
        if ((st = vf_chain_read(c, voff, buf, n, err)) == VF_OK &&
            (st = vf_io_write(s->out, buf, n, voff, err)) == VF_OK)
            s->written_bytes += n;
        voff += n;
        len -= n;
    }
    return st;
}

/* The run at voff, from the chain's map; *direct when one level's file holds it as stored
 * (then *src and ext->file_off say where). */
static vf_status vf_export_map(vf_chain *c, uint64_t voff, uint64_t want, vf_chain_extent *ext,
                               vf_io **src, vf_error *err)
{
    vf_status st = vf_chain_map(c, 0, vf_chain_depth(c) - 1, voff, want, ext, err);
    if (st != VF_OK)
        return st;
    if (ext->voff != voff || ext->len == 0 || ext->len > want)
        return VF_FAIL(err, VF_E_CORRUPT, VF_OFF_NONE,
                       "'%s': the chain mapped %llu+%llu to a run %llu+%llu", vf_chain_path(c, 0),
                       (unsigned long long)voff, (unsigned long long)want,
                       (unsigned long long)ext->voff, (unsigned long long)ext->len);
    *src = NULL;
    if (ext->kind == VF_EXTENT_PRESENT && !ext->overlaid && ext->file_off != 0)
        *src = vf_image_io(vf_chain_image(c, ext->level));
    return VF_OK;
}

/* One step of the copy: the run at *voff copied (or queued behind the pending copy it
 * continues), read and written, or skipped (a hole); *voff moves past it. */
static vf_status vf_export_step(vf_chain *c, vf_export_sink *s, vf_export_pend *p, uint8_t *buf,
                                uint64_t *voff, uint64_t size, uint32_t sector, vf_error *err)
{
    uint64_t want = size - *voff < VF_EXPORT_RUN_MAX ? size - *voff : VF_EXPORT_RUN_MAX;
    vf_status st;
    if (*voff % sector) { /* never after a chain's own runs; read whatever is left */
        st = vf_export_through(s, c, buf, *voff, size - *voff, err);
        *voff = size;
        return st;
    }
    vf_chain_extent ext;
    vf_io *src = NULL;
    st = vf_export_map(c, *voff, want, &ext, &src, err);
    if (st != VF_OK)
        return st;
    bool joins = p->len && src == p->src && p->voff + p->len == *voff &&
                 p->file_off + p->len == ext.file_off && p->len < VF_EXPORT_RUN_MAX;
    if (p->len && !joins && (st = vf_export_flush(s, p, err)) != VF_OK)
        return st;
    if (src && !p->len)
        *p = (vf_export_pend){src, *voff, ext.file_off, 0};
    if (src)
        p->len += ext.len;
    else if (ext.kind == VF_EXTENT_PRESENT)
        st = vf_export_through(s, c, buf, *voff, ext.len, err);
    *voff += ext.len;
    return st;
}

/* OUT a file: sized first (holes everywhere), then every run that is not zero copied in. */
static vf_status vf_export_copy(vf_chain *c, vf_export_sink *s, vf_progress_bar *bar, vf_error *err)
{
    uint64_t size = vf_chain_virtual_size(c), voff = 0;
    uint32_t sector = vf_image_info_get(vf_chain_image(c, 0))->logical_sector_size;
    uint8_t *buf = malloc(VF_EXPORT_BUF);
    if (!buf)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "export: allocating a buffer");
    const atomic_int *cancel = vf_cli_cancel_flag();
    vf_export_pend p = {NULL, 0, 0, 0};
    vf_status st = vf_io_set_size(s->out, size, err);
    while (st == VF_OK && voff < size) {
        if (atomic_load(cancel)) {
            st = VF_FAIL(err, VF_E_CANCELED, VF_OFF_NONE, "'%s': canceled", vf_chain_path(c, 0));
            break;
        }
        st = vf_export_step(c, s, &p, buf, &voff, size, sector ? sector : 512, err);
        vf_progress_update(bar, voff, size);
    }
    if (st == VF_OK)
        st = vf_export_flush(s, &p, err);
    free(buf);
    return st;
}

static vf_status vf_export_run(vf_source *src, vf_export_sink *sink, const vf_cli_common *co,
                               vf_error *err)
{
    vf_progress_bar bar;
    vf_progress_init(&bar, co->progress, "export");
    bar.phase = "copy";
    vf_status st;
    if (sink->out) {
        st = vf_export_copy(vf_source_chain(src), sink, &bar, err);
    } else {
        vf_verify_opts opts;
        vf_cli_verify_opts(&opts, &bar);
        st = vf_verify_walk(src, &opts, vf_export_sink_fn, sink, err);
    }
    vf_progress_finish(&bar, st, err);
    if (st == VF_OK && sink->out)
        st = vf_io_sync(sink->out, err);
    return st;
}

static void vf_export_summary(const char *file, const char *out, vf_source *src,
                              const vf_export_sink *sink)
{
    json_t *o = vf_json_begin("export");
    json_object_set_new(o, "file", vf_json_text(file));
    json_object_set_new(o, "output", vf_json_text(out));
    json_object_set_new(o, "virtual_size", vf_json_u64(vf_source_size(src)));
    json_object_set_new(o, "written_bytes", vf_json_u64(sink->written_bytes));
    json_object_set_new(o, "copied_bytes", vf_json_u64(sink->copied_bytes));
    vf_json_print(o);
}

int vf_cmd_export(int argc, char **argv)
{
    vf_cli_common co = {0};
    const char *file = NULL, *out = NULL;
    int r = vf_export_parse(argc, argv, &co, &file, &out);
    if (r >= 0)
        return r;
    vf_error err;
    vf_error_clear(&err);
    vf_chain *c;
    vf_source *src = NULL;
    vf_export_sink sink = {NULL, 0, 0};
    bool to_stdout = !strcmp(out, "-");
    vf_status st = vf_cli_open_chain(file, &co, &c, &err);
    if (st == VF_OK)
        vf_cli_pending_note(c, &co);
    if (st == VF_OK)
        st = vf_source_from_chain(c, true, &src, &err);
    if (st != VF_OK)
        return vf_cli_fail("export", file, &err, co.json);
    if (!to_stdout && (st = vf_export_target_ok(vf_source_chain(src), out, &err)) == VF_OK)
        st = vf_io_file_open(out, VF_IO_RDWR | VF_IO_CREATE | VF_IO_TRUNC, &sink.out, &err);
    if (st == VF_OK)
        st = vf_export_run(src, &sink, &co, &err);
    if (st == VF_OK && co.json)
        vf_export_summary(file, out, src, &sink);
    vf_io_close(sink.out);
    if (st != VF_OK && sink.out)
        unlink(out); /* a partial export is worse than none */
    vf_source_free(src);
    return st == VF_OK ? VF_EXIT_OK : vf_cli_fail("export", out, &err, co.json);
}
