/* cmd_convert.c - `vhdfold convert SOURCE OUT`: the flattened view of SOURCE's chain as a new
 * standalone image (any format the library creates, or raw), zero runs left unallocated.
 * The flat digest is computed on its own thread while each piece is written (bghash.h);
 * before OUT appears (temporary file + atomic publish, newfile.h) it is opened afresh and
 * compared byte for byte with SOURCE's view, so the digest printed is both disks'.
 * Layer: cli, over vf_verify_walk, vf_compare and vf_image_create/write. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bghash.h"
#include "newfile.h"
#include "output.h"

typedef struct vf_conv_cli {
    vf_cli_common co;
    int format, type; /* 0: SOURCE's format, dynamic */
    uint64_t block;
    bool force, verify, no_verify;
    const char *source, *out;
} vf_conv_cli;

#define VF_CONV_OPT(field) offsetof(vf_conv_cli, field)

static const vf_opt_choice vf_conv_types[] = {
    {"fixed", VF_DISK_FIXED}, {"dynamic", VF_DISK_DYNAMIC}, {NULL, 0}};

static const vf_opt vf_conv_table[] = {
    {.name = "format",
     .short_name = 'f',
     .type = VF_OPT_ENUM,
     .offset = VF_CONV_OPT(format),
     .choices = vf_opt_formats_raw,
     .help = "format of OUT (default: the one OUT's extension names, .raw included, else "
             "SOURCE's); raw is a plain disk image"},
    {.name = "type",
     .short_name = 't',
     .type = VF_OPT_ENUM,
     .offset = VF_CONV_OPT(type),
     .choices = vf_conv_types,
     .help = "fixed or dynamic (default dynamic)"},
    {.name = "block-size",
     .short_name = 'b',
     .type = VF_OPT_SIZE,
     .offset = VF_CONV_OPT(block),
     .arg = "SIZE",
     .min = 1,
     .max = UINT32_MAX,
     .help = "block size of a dynamic OUT (default: the format's)"},
    {.name = "force",
     .type = VF_OPT_FLAG,
     .offset = VF_CONV_OPT(force),
     .help = "replace an existing OUT (a regular file, not part of SOURCE's chain)"},
    {.name = "verify",
     .type = VF_OPT_FLAG,
     .offset = VF_CONV_OPT(verify),
     .help = "compare OUT, read back, with SOURCE's view before OUT appears (the "
             "default for images; raw only when asked); a mismatch exits 1"},
    {.name = "no-verify",
     .type = VF_OPT_FLAG,
     .offset = VF_CONV_OPT(no_verify),
     .help = "skip that comparison"},
    {.name = NULL},
};

static const vf_opt_positional vf_conv_positionals[] = {
    {"SOURCE", "the image whose flattened view (its whole chain) is copied"},
    {"OUT", "the new standalone image"},
    {NULL, NULL},
};

static const vf_opt_group vf_conv_groups[] = {
    {vf_conv_table, 0},
    {vf_cli_output_opts, VF_CONV_OPT(co)},
    {vf_cli_chain_opts, VF_CONV_OPT(co)},
    {vf_cli_share_opts, VF_CONV_OPT(co)}, /* SOURCE's chain is only read */
    {NULL, 0},
};

const vf_cmd_spec vf_convert_spec = {
    .name = "convert",
    .summary = "copy the flattened chain into a new standalone image",
    .synopsis = "[options] SOURCE OUT",
    .description =
        "Write the disk seen from SOURCE (its chain flattened) into OUT, a new fixed or "
        "dynamic image of any format, or a raw file. Runs that read as zeros are not "
        "written: a dynamic OUT leaves their blocks unallocated, a raw OUT leaves holes. OUT "
        "is written under a temporary name in its folder and verified (read back and compared "
        "byte for byte with SOURCE's view, so the flat digest printed is both disks') before "
        "it appears; an existing OUT is refused without --force.",
    .positionals = vf_conv_positionals,
    .groups = vf_conv_groups,
    .exit_status = "0 converted, 1 verification mismatch (OUT not written), 2 usage, invalid "
                   "option or OUT exists, 3 corrupt or unsupported image, 4 system error or a file "
                   "in use (a merge runs: --force-share reads it).",
};

/* Where the walk writes: an image, or the raw file. */
typedef struct vf_conv_sink {
    vf_image *img;
    vf_io *raw;
    vf_bghash *hash; /* the source's flat digest, computed on the way (own thread) */
    uint32_t grain;  /* zero detection unit: the logical sector */
    uint64_t written;
} vf_conv_sink;

static vf_status vf_conv_put(vf_conv_sink *s, uint64_t voff, const uint8_t *p, uint64_t len,
                             vf_error *err)
{
    s->written += len;
    if (s->raw)
        return vf_io_write(s->raw, p, (size_t)len, voff, err);
    return vf_image_write(s->img, voff, p, (size_t)len, err);
}

static bool vf_conv_zero(const uint8_t *p, size_t n)
{
    return p[0] == 0 && !memcmp(p, p + 1, n - 1);
}

/* The runs of non-zero sectors of one piece, written. */
static vf_status vf_conv_write_piece(vf_conv_sink *s, uint64_t voff, const uint8_t *p, uint64_t len,
                                     vf_error *err)
{
    uint64_t g = s->grain, run = 0, start = 0;
    if (voff % g || len % g) /* never from a chain (whole sectors) */
        return vf_conv_put(s, voff, p, len, err);
    vf_status st = VF_OK;
    for (uint64_t o = 0; st == VF_OK && o < len; o += g) {
        if (!vf_conv_zero(p + o, (size_t)g)) {
            if (!run)
                start = o;
            run += g;
            continue;
        }
        if (run)
            st = vf_conv_put(s, voff + start, p + start, run, err);
        run = 0;
    }
    if (st == VF_OK && run)
        st = vf_conv_put(s, voff + start, p + start, run, err);
    return st;
}

/* A vf_walk_fn: the piece goes to the hashing thread, its non-zero runs are written
 * meanwhile, and the call returns when both are done (the walk then reuses the buffer). */
static vf_status vf_conv_sink_fn(void *ctx, uint64_t voff, const void *data, uint64_t len,
                                 vf_error *err)
{
    vf_conv_sink *s = ctx;
    vf_bghash_post(s->hash, data, len);
    vf_status st = data ? vf_conv_write_piece(s, voff, data, len, err) : VF_OK;
    vf_status hst = vf_bghash_wait(s->hash, st == VF_OK ? err : NULL);
    return st != VF_OK ? st : hst;
}

typedef struct vf_conv_result {
    vf_create_opts co;
    bool raw, verify, mismatch;
    char digest[VF_SHA256_HEX_LEN];
    vf_compare_result cmp; /* the verification's answer */
    uint64_t written, virtual_size;
} vf_conv_result;

/* The --format choice OUT's extension names, any case ("x.VHDX", "x.raw"), or 0. */
static int vf_conv_format_of_name(const char *out)
{
    const char *dot = strrchr(out, '.'), *slash = strrchr(out, '/');
    if (!dot || (slash && dot < slash))
        return 0;
    for (const vf_opt_choice *ch = vf_opt_formats_raw; ch->name; ch++)
        if (!strcasecmp(dot + 1, ch->name))
            return ch->value;
    return 0;
}

/* What OUT will be, checked against its format's limits; nothing written. */
static vf_status vf_conv_plan(const vf_conv_cli *c, vf_chain *ch, vf_conv_result *r, vf_error *err)
{
    const vf_image_info *ti = vf_image_info_get(vf_chain_image(ch, 0));
    r->virtual_size = vf_chain_virtual_size(ch);
    int by_name = vf_conv_format_of_name(c->out);
    int format = c->format ? c->format : by_name ? by_name : (int)ti->format;
    r->raw = format == VF_OPT_FORMAT_RAW;
    if (c->verify && c->no_verify)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--verify and --no-verify contradict");
    r->verify = c->verify || (!r->raw && !c->no_verify);
    for (size_t l = 0; l < vf_chain_depth(ch); l++)
        if (vf_same_file(vf_chain_path(ch, l), c->out))
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                           "'%s' is level %zu of the chain of '%s': not overwritten", c->out, l,
                           c->source);
    vf_create_opts_init(&r->co);
    if (r->raw)
        return (c->type || c->block) ? VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                                               "--type and --block-size do not apply to raw")
                                     : VF_OK;
    r->co.format = (vf_format_kind)format;
    r->co.type = c->type ? (vf_disk_type)c->type : VF_DISK_DYNAMIC;
    r->co.virtual_size = r->virtual_size;
    r->co.block_size = (uint32_t)c->block;
    r->co.logical_sector_size = ti->logical_sector_size;
    r->co.physical_sector_size = ti->physical_sector_size;
    if (r->co.type == VF_DISK_FIXED && c->block)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--block-size: a fixed image has no blocks");
    return vf_cli_check_create(&r->co, err);
}

/* At most how many blocks OUT will allocate: each level's allocated blocks, each covering at
 * most (its block size / OUT's) + 1 of OUT's, never more than OUT has (all of them when a
 * level is fixed). Announced once before the copy (vf_image_reserve), so a VHD moves its
 * footer, and syncs, once rather than once per new block; the image gives back what stays
 * unused when it is flushed. Cost: one look at each level's info. */
static uint64_t vf_conv_blocks_bound(vf_chain *ch, vf_image *out)
{
    const vf_image_info *oi = vf_image_info_get(out);
    if (!oi->block_size)
        return 0;
    uint64_t n = 0;
    for (size_t l = 0; l < vf_chain_depth(ch); l++) {
        const vf_image_info *li = vf_image_info_get(vf_chain_image(ch, l));
        if (!li->block_size)
            return oi->total_blocks;
        uint64_t per = li->block_size / oi->block_size + 1;
        if (li->allocated_blocks > (oi->total_blocks - n) / per)
            return oi->total_blocks;
        n += li->allocated_blocks * per;
    }
    return n < oi->total_blocks ? n : oi->total_blocks;
}

/* Copy SOURCE's view into io (consumed): an image of r->co, or raw. */
static vf_status vf_conv_copy(const vf_conv_cli *c, vf_chain *ch, vf_io *io, vf_conv_result *r,
                              vf_error *err)
{
    vf_conv_sink s = {.grain = vf_image_info_get(vf_chain_image(ch, 0))->logical_sector_size};
    vf_status st = VF_OK;
    if (r->raw) {
        s.raw = io;
        st = vf_io_set_size(io, r->virtual_size, err);
    } else {
        st = vf_image_create(io, c->out, &r->co, &s.img, err);
        io = NULL;
    }
    if (st == VF_OK && s.img)
        st = vf_image_reserve(s.img, vf_conv_blocks_bound(ch, s.img), err);
    vf_source *src = NULL;
    if (st == VF_OK && (st = vf_bghash_start(&s.hash, err)) == VF_OK)
        st = vf_source_from_chain(ch, false, &src, err);
    vf_progress_bar bar;
    vf_progress_init(&bar, c->co.progress, "convert");
    bar.phase = "copy";
    vf_verify_opts vo;
    vf_cli_verify_opts(&vo, &bar);
    if (st == VF_OK)
        st = vf_verify_walk(src, &vo, vf_conv_sink_fn, &s, err);
    vf_progress_finish(&bar, st, err);
    uint8_t md[VF_SHA256_LEN];
    if (st == VF_OK && (st = vf_bghash_final(s.hash, md, err)) == VF_OK)
        vf_sha256_hex(md, r->digest);
    if (st == VF_OK)
        st = s.img ? vf_image_flush(s.img, err) : vf_io_sync(io, err);
    r->written = s.written;
    vf_source_free(src);
    vf_bghash_free(s.hash);
    vf_image_close(s.img);
    vf_io_close(io);
    return st;
}

/* The written file, opened afresh as a standalone image (or raw), compared byte for byte
 * with SOURCE's view (zero runs on both sides cost no read). */
static vf_status vf_conv_verify(vf_chain *ch, const char *tmp, vf_conv_result *r, vf_error *err)
{
    vf_chain_opts copts;
    vf_chain_opts_init(&copts);
    copts.max_depth = 1; /* standalone: a parent link would fail the open */
    copts.lock = true;
    vf_source *out, *src;
    vf_status st = vf_source_open(tmp, r->raw ? VF_SOURCE_RAW : VF_SOURCE_CHAIN, &copts, &out, err);
    if (st != VF_OK)
        return st;
    if ((st = vf_source_from_chain(ch, false, &src, err)) == VF_OK) {
        vf_verify_opts vo;
        vf_cli_verify_opts(&vo, NULL);
        if ((st = vf_compare(src, out, &vo, &r->cmp, err)) == VF_OK)
            r->mismatch = !r->cmp.identical;
        vf_source_free(src);
    }
    vf_source_free(out);
    return st;
}

static vf_status vf_conv_run(const vf_conv_cli *c, vf_chain *ch, vf_conv_result *r, vf_error *err)
{
    vf_newfile nf;
    vf_io *io = NULL;
    vf_status st = vf_newfile_begin(&nf, c->out, &io, err);
    if (st == VF_OK)
        st = vf_conv_copy(c, ch, io, r, err);
    if (st == VF_OK && r->verify && (st = vf_conv_verify(ch, nf.tmp, r, err)) == VF_OK &&
        r->mismatch)
        st = VF_FAIL(err, VF_E_CORRUPT, r->cmp.first_diff,
                     "verification failed: '%s' read back differs from SOURCE '%s' from byte "
                     "%llu on (differing 2 MiB blocks: %llu); OUT not written",
                     c->out, c->source, (unsigned long long)r->cmp.first_diff,
                     (unsigned long long)r->cmp.diff_blocks);
    if (st == VF_OK)
        st = vf_newfile_publish(&nf, c->force, err);
    vf_newfile_end(&nf);
    return st;
}

static void vf_conv_print(const vf_conv_cli *c, const vf_conv_result *r)
{
    const char *fmt = r->raw ? "raw" : vf_format_name(r->co.format);
    const char *type = r->raw ? NULL : vf_disk_type_name(r->co.type);
    if (!c->co.json) {
        printf("converted '%s' to '%s': %s%s%s, virtual size %llu, %llu bytes of data written\n",
               c->source, c->out, fmt, type ? " " : "", type ? type : "",
               (unsigned long long)r->virtual_size, (unsigned long long)r->written);
        printf("%s: %s\n", r->verify ? "verified (flat)" : "digest (not verified)", r->digest);
        return;
    }
    json_t *o = vf_json_begin("convert");
    json_object_set_new(o, "status", json_integer(0));
    json_object_set_new(o, "exit", json_integer(VF_EXIT_OK));
    json_object_set_new(o, "source", vf_json_text(c->source));
    json_object_set_new(o, "file", vf_json_text(c->out));
    json_object_set_new(o, "format", vf_json_text(fmt));
    json_object_set_new(o, "type", type ? vf_json_text(type) : json_null());
    json_object_set_new(o, "virtual_size", vf_json_u64(r->virtual_size));
    json_object_set_new(o, "data_bytes", vf_json_u64(r->written));
    json_object_set_new(o, "verified", json_boolean(r->verify));
    json_object_set_new(o, "digest", vf_json_text(r->digest));
    vf_json_print(o);
}

int vf_cmd_convert(int argc, char **argv)
{
    vf_conv_cli c;
    memset(&c, 0, sizeof c);
    char *pos[2];
    int rc = vf_opts_parse(&vf_convert_spec, argc, argv, &c, pos, 2);
    if (rc >= 0)
        return rc;
    c.source = pos[0];
    c.out = pos[1];
    vf_error err;
    vf_error_clear(&err);
    vf_conv_result r;
    memset(&r, 0, sizeof r);
    vf_chain *ch = NULL;
    const char *blame = c.source;
    vf_status st = vf_cli_open_chain(c.source, &c.co, &ch, &err);
    if (st == VF_OK) {
        vf_cli_pending_note(ch, &c.co);
        blame = c.out;
        st = vf_newfile_check(c.out, c.force, " (--force replaces it)", &err);
    }
    if (st == VF_OK)
        st = vf_conv_plan(&c, ch, &r, &err);
    if (st == VF_OK)
        st = vf_conv_run(&c, ch, &r, &err);
    vf_chain_close(ch);
    if (st == VF_OK) {
        vf_conv_print(&c, &r);
        return VF_EXIT_OK;
    }
    if (!r.mismatch)
        return vf_cli_fail("convert", blame, &err, c.co.json);
    vf_report_error(&err); /* the answer is "no": exit 1, as merge --verify */
    if (c.co.json) {
        json_t *o = vf_json_begin("convert");
        json_object_set_new(o, "status", json_integer(err.code));
        json_object_set_new(o, "exit", json_integer(VF_EXIT_NO));
        json_object_set_new(o, "file", vf_json_text(c.out));
        json_object_set_new(o, "error", vf_json_error(&err));
        vf_json_print(o);
    }
    return VF_EXIT_NO;
}
