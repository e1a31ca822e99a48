/* cmd_export.c - 'vhdfold export FILE OUT': write the flattened disk seen from FILE as a raw
 * image. Zero runs are not written (OUT is sparse there and is sized with ftruncate); OUT '-'
 * streams every byte to stdout. Layer: cli; the ordered walk is vf_verify_walk (verify/walk.c).
 * The chain is opened and validated before OUT is created, so bad input writes nothing. */
#include <errno.h>
#include <stdio.h>
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

typedef struct vf_export_sink {
    vf_io *out; /* NULL: stdout */
    uint64_t written_bytes;
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

static bool vf_piece_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Write data to the file, skipping all-zero 64 KiB pieces so they stay holes. */
static vf_status vf_export_file(vf_export_sink *s, uint64_t voff, const uint8_t *data, uint64_t len,
                                vf_error *err)
{
    uint64_t pos = 0;
    while (pos < len) {
        uint64_t n = len - pos < VF_EXPORT_PIECE ? len - pos : VF_EXPORT_PIECE;
        if (vf_piece_zero(data + pos, (size_t)n)) {
            pos += n;
            continue;
        }
        uint64_t start = pos;
        while (pos < len) {
            n = len - pos < VF_EXPORT_PIECE ? len - pos : VF_EXPORT_PIECE;
            if (vf_piece_zero(data + pos, (size_t)n))
                break;
            pos += n;
        }
        vf_status st = vf_io_write(s->out, data + start, (size_t)(pos - start), voff + start, err);
        if (st != VF_OK)
            return st;
        s->written_bytes += pos - start;
    }
    return VF_OK;
}

static vf_status vf_export_sink_fn(void *ctx, uint64_t voff, const void *data, uint64_t len,
                                   vf_error *err)
{
    vf_export_sink *s = ctx;
    if (!s->out) {
        if (!data)
            return vf_export_zeros(s, len, err);
        s->written_bytes += len;
        return vf_export_stdout(data, (size_t)len, err);
    }
    if (!data)
        return VF_OK;
    return vf_export_file(s, voff, data, len, err);
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

static vf_status vf_export_run(vf_source *src, vf_export_sink *sink, const vf_cli_common *co,
                               vf_error *err)
{
    vf_progress_bar bar;
    vf_progress_init(&bar, co->progress, "export");
    bar.phase = "copy";
    vf_verify_opts opts;
    vf_cli_verify_opts(&opts, &bar);
    vf_status st = vf_verify_walk(src, &opts, vf_export_sink_fn, sink, err);
    vf_progress_finish(&bar, st, err);
    if (st == VF_OK && sink->out) {
        st = vf_io_set_size(sink->out, vf_source_size(src), err);
        if (st == VF_OK)
            st = vf_io_sync(sink->out, err);
    }
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
    vf_export_sink sink = {NULL, 0};
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
