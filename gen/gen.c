/* gen.c - vf_gen_run: validates the options, builds the plan (model.c), writes each level
 * through the generic image calls (vf_image_create / write / write_zeroes / flush), computes
 * the digests from the model (digest.c) and writes manifest.json (manifest.c).
 * Layer: gen. Called by cli/cmd_gen.c, the conformance runner and tests. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opts_int.h"
#include "gen_int.h"

#define VF_GEN_WRITE_CHUNK (4u << 20)

static void vf_gen_defaults(vf_gen_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->format = vf_format_default();
    opts->depth = VF_GEN_DEFAULT_DEPTH;
    opts->virtual_size = VF_GEN_DEFAULT_SIZE;
    opts->block_size = VF_GEN_DEFAULT_BLOCK;
    opts->base = VF_GEN_BASE_AUTO;
    opts->density_ppm = VF_GEN_DEFAULT_DENSITY_PPM;
    opts->profile = VF_GEN_PROFILE_MIXED;
    opts->flat_limit = VF_GEN_DEFAULT_FLAT_LIMIT;
}

void vf_gen_opts_init_size(vf_gen_opts *opts, size_t size)
{
    vf_gen_opts def;
    vf_gen_defaults(&def);
    vf_opts_fill(opts, size, &def, sizeof def);
}

/* Replace *opts by own, a library-sized copy (docs/library.md "Growing structs"). */
static vf_status vf_gen_adopt(const vf_gen_opts **opts, vf_gen_opts *own, vf_error *err)
{
    if (*opts == own)
        return VF_OK;
    vf_gen_defaults(own);
    vf_status st = vf_opts_adopt(own, sizeof *own, *opts, VF_GEN_OPTS_V1, "vf_gen_opts", err);
    if (st == VF_OK)
        *opts = own;
    return st;
}

static const char *const vf_gen_profiles[] = {"mixed", "aligned", "sector", "blocks"};

bool vf_gen_parse_profile(const char *text, vf_gen_profile *out)
{
    for (unsigned i = 0; i < sizeof vf_gen_profiles / sizeof *vf_gen_profiles; i++)
        if (!strcmp(text, vf_gen_profiles[i])) {
            *out = (vf_gen_profile)i;
            return true;
        }
    return false;
}

const char *vf_gen_profile_name(vf_gen_profile p)
{
    return (unsigned)p < 4 ? vf_gen_profiles[p] : "unknown";
}

const char *vf_gen_base_name(vf_gen_base b)
{
    return b == VF_GEN_BASE_FIXED ? "fixed" : b == VF_GEN_BASE_DYNAMIC ? "dynamic" : "auto";
}

static const char *const vf_gen_dirty_names[] = {"none", "top", "all"};

bool vf_gen_parse_dirty(const char *text, vf_gen_dirty *out)
{
    for (unsigned i = 0; i < 3; i++)
        if (!strcmp(text, vf_gen_dirty_names[i])) {
            *out = (vf_gen_dirty)i;
            return true;
        }
    return false;
}

const char *vf_gen_dirty_name(vf_gen_dirty d)
{
    return (unsigned)d < 3 ? vf_gen_dirty_names[d] : "unknown";
}

/* Exact decimal: no floating point, so every platform reads the same density. */
bool vf_gen_parse_density(const char *text, uint32_t *ppm)
{
    uint64_t whole = 0, frac = 0, scale = 1000000;
    const char *p = text;
    if (!p || !*p)
        return false;
    bool digits = false;
    while (*p >= '0' && *p <= '9') {
        whole = whole * 10 + (uint64_t)(*p++ - '0');
        digits = true;
        if (whole > 100)
            return false;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            digits = true;
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            } else if (*p != '0') {
                return false; /* finer than one part per million */
            }
            p++;
        }
    }
    bool percent = *p == '%';
    if (percent)
        p++;
    if (*p || !digits)
        return false;
    uint64_t v = whole * 1000000 + frac;
    if (percent) {
        if (v % 100)
            return false;
        v /= 100;
    }
    if (v > 1000000)
        return false;
    *ppm = (uint32_t)v;
    return true;
}

vf_status vf_gen_draw_seed(uint64_t *seed, vf_error *err)
{
    uint8_t b[16];
    vf_status st = vf_random_id(b, err);
    if (st != VF_OK)
        return st;
    *seed = 0;
    for (unsigned i = 0; i < 6; i++)
        *seed = *seed << 8 | b[i];
    return VF_OK;
}

/* The size rules: the driver's limits, and only sizes every known reader of the format
 * accepts (7-Zip 26.02 refuses VHDX sizes that are an odd number of logical sectors, or not a
 * multiple of 4096 bytes, qemu-img's files as much as ours; docs/gen.md). */
static vf_status vf_gen_validate_size(const vf_gen_opts *o, const vf_format_limits *lim,
                                      vf_error *err)
{
    const char *fmt = vf_format_name(o->format);
    if (o->virtual_size == 0)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--size 0: the virtual size must be > 0");
    if (o->virtual_size < (1u << 20) || o->virtual_size > lim->max_virtual_size ||
        o->virtual_size % 512)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "--size %llu: the virtual size must be a multiple of 512 bytes from "
                       "1 MiB to %llu bytes for %s",
                       (unsigned long long)o->virtual_size,
                       (unsigned long long)lim->max_virtual_size, fmt);
    if (o->virtual_size % lim->portable_align)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "--size %llu: %s virtual sizes must be a multiple of %lu bytes here",
                       (unsigned long long)o->virtual_size, fmt,
                       (unsigned long)lim->portable_align);
    return VF_OK;
}

static vf_status vf_gen_validate_block(const vf_gen_opts *o, const vf_format_limits *lim,
                                       vf_error *err)
{
    if (!o->block_size || (o->block_size & (o->block_size - 1)))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "--block-size %lu: the block size must be a power of two",
                       (unsigned long)o->block_size);
    uint32_t min_bs =
        lim->min_block_size > VF_GEN_MIN_BLOCK ? lim->min_block_size : VF_GEN_MIN_BLOCK;
    uint32_t max_bs =
        lim->max_block_size < VF_GEN_MAX_BLOCK ? lim->max_block_size : VF_GEN_MAX_BLOCK;
    if (o->block_size < min_bs || o->block_size > max_bs)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "--block-size %lu: the block size must be from %lu to %lu bytes for %s",
                       (unsigned long)o->block_size, (unsigned long)min_bs, (unsigned long)max_bs,
                       vf_format_name(o->format));
    return VF_OK;
}

static vf_status vf_gen_validate_sector(const vf_gen_opts *o, const vf_format_limits *lim,
                                        vf_error *err)
{
    unsigned bit = o->sector_size == 512    ? VF_SECTOR_512
                   : o->sector_size == 4096 ? VF_SECTOR_4096
                                            : 0;
    char others[32] = "";
    if (!(lim->sector_sizes & VF_SECTOR_4096))
        snprintf(others, sizeof others, " for %s", vf_format_name(o->format));
    if (o->sector_size != 0 && !(bit & lim->sector_sizes))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--sector-size %lu: expected 512%s%s",
                       (unsigned long)o->sector_size,
                       (lim->sector_sizes & VF_SECTOR_4096) ? " or 4096" : "", others);
    uint64_t two = (uint64_t)lim->portable_sectors * o->sector_size;
    if (o->sector_size > 512 && two && o->virtual_size % two)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "--size %llu: with --sector-size %lu, %s virtual sizes must be a "
                       "multiple of %llu bytes here",
                       (unsigned long long)o->virtual_size, (unsigned long)o->sector_size,
                       vf_format_name(o->format), (unsigned long long)two);
    return VF_OK;
}

vf_status vf_gen_validate(const vf_gen_opts *opts, vf_error *err)
{
    vf_gen_opts own;
    vf_status ast = vf_gen_adopt(&opts, &own, err);
    if (ast != VF_OK)
        return ast;
    const vf_gen_opts *o = opts;
    vf_format_limits lim;
    if (vf_format_get_limits(o->format, &lim, NULL) != VF_OK)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--format: unknown image format");
    if (!vf_format_samples_get(o->format))
        return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "gen --format %s: the driver has no sample of producers to imitate",
                       vf_format_name(o->format));
    vf_status st = vf_gen_validate_size(o, &lim, err);
    if (st == VF_OK)
        st = vf_gen_validate_block(o, &lim, err);
    if (st != VF_OK)
        return st;
    if (o->depth > VF_GEN_MAX_DEPTH)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--depth %u: at most %d differencing levels",
                       o->depth, VF_GEN_MAX_DEPTH);
    if (o->density_ppm > 1000000)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--density must be between 0 and 1");
    if ((unsigned)o->profile > VF_GEN_PROFILE_BLOCKS || (unsigned)o->base > VF_GEN_BASE_DYNAMIC)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "unknown profile or base type");
    if ((st = vf_gen_validate_sector(o, &lim, err)) != VF_OK)
        return st;
    if ((unsigned)o->dirty > VF_GEN_DIRTY_ALL)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--dirty: expected none, top or all");
    if (o->dirty != VF_GEN_DIRTY_NONE && !(lim.features & VF_FEATURE_LOG))
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                       "--dirty %s: %s images have no log to leave pending",
                       vf_gen_dirty_name(o->dirty), vf_format_name(o->format));
    if (o->seed > VF_GEN_MAX_SEED)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "--seed must be at most %llu",
                       (unsigned long long)VF_GEN_MAX_SEED);
    return vf_gen_select_check(o, err);
}

/* The drivers are the authority on what can be created: refuse early and clearly. */
static vf_status vf_gen_can_create(vf_format_kind f, vf_error *err)
{
    vf_format_limits lim;
    if (vf_format_get_limits(f, &lim, err) != VF_OK)
        return VF_E_INVAL;
    if (!(lim.features & VF_FEATURE_CREATE))
        return VF_FAIL(err, VF_E_UNSUPPORTED, VF_OFF_NONE,
                       "gen --format %s: creating %s images is not supported yet",
                       vf_format_name(f), vf_format_name(f));
    return VF_OK;
}

static void vf_gen_file_name(const vf_gen_opts *o, unsigned level, char out[VF_GEN_FILE_MAX])
{
    snprintf(out, VF_GEN_FILE_MAX, "%02u-%s.%s", level, level ? "diff" : "base",
             vf_format_name(o->format));
}

/* Fill the per-level results that do not need files: names, metadata, counts, digests. */
static void vf_gen_describe(const vf_gen_plan *plan, vf_gen_result *res)
{
    memset(res, 0, sizeof *res);
    res->opts = plan->opts;
    res->nlevels = plan->nlevels;
    bool flat = plan->opts.virtual_size <= plan->opts.flat_limit;
    for (unsigned l = 0; l < plan->nlevels; l++) {
        const vf_gen_plan_level *pl = &plan->lv[l];
        vf_gen_level *lv = &res->levels[l];
        const vf_gen_creator *cr = vf_gen_creator_get(plan->opts.format, pl->creator);
        vf_gen_file_name(&plan->opts, l, lv->file);
        lv->type = pl->type;
        snprintf(lv->creator, sizeof lv->creator, "%s", cr->shown);
        lv->locators = vf_gen_locmode_get(plan->opts.format, pl->locmode)->name;
        lv->dirty = plan->opts.dirty == VF_GEN_DIRTY_ALL ||
                    (plan->opts.dirty == VF_GEN_DIRTY_TOP && l + 1 == plan->nlevels);
        memcpy(lv->id, pl->id, 16);
        lv->timestamp = pl->timestamp;
        for (size_t i = 0; i < pl->nw; i++) {
            lv->writes++;
            lv->trims += pl->w[i].trim;
            if (pl->w[i].zero) {
                lv->zero_writes++;
                lv->zeroed_bytes += pl->w[i].len;
            } else {
                lv->written_bytes += pl->w[i].len;
            }
        }
        lv->has_sha256 = flat;
    }
}

/* Every level's digests, from the model (the plan is only read: safe beside the writer).
 * split: the flat digest on a thread of its own (see vf_gen_split_for). */
static vf_status vf_gen_digests(const vf_gen_plan *plan, vf_gen_result *res, bool split,
                                vf_error *err)
{
    for (unsigned l = 0; l < plan->nlevels; l++) {
        vf_gen_level *lv = &res->levels[l];
        vf_status st =
            vf_gen_digest_level(plan, l, lv->has_sha256, split, lv->sha256, lv->tree, err);
        if (st != VF_OK)
            return st;
    }
    return VF_OK;
}

/* Whether to give the flat digest a thread of its own, beside the tree digest (and the writer,
 * which mostly waits on I/O): whenever there is a core for each busy thread. On an idle 2-core
 * machine bench/gen.sh went from 0.49x to 0.63x dd with the split; under heavy load from other
 * processes it gained nothing (it costs a second pass producing the bytes, ~7% more CPU). */
static bool vf_gen_split_for(unsigned busy_threads)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus > 0 && (unsigned long)cpus >= busy_threads;
}

/* The digests run on a second thread while the images are written (hashing and writing
 * overlap on two cores); without a thread they run after the writes. */
typedef struct vf_gen_digest_job {
    const vf_gen_plan *plan;
    vf_gen_result *res;
    vf_status st;
    vf_error err;
    pthread_t tid;
    bool started;
} vf_gen_digest_job;

static void *vf_gen_digest_main(void *arg)
{
    vf_gen_digest_job *job = arg;
    job->st = vf_gen_digests(job->plan, job->res, vf_gen_split_for(2), &job->err);
    return NULL;
}

static void vf_gen_digest_start(vf_gen_digest_job *job)
{
    job->started = pthread_create(&job->tid, NULL, vf_gen_digest_main, job) == 0;
}

static vf_status vf_gen_digest_finish(vf_gen_digest_job *job, vf_error *err)
{
    if (job->started)
        pthread_join(job->tid, NULL);
    else
        vf_gen_digest_main(job);
    if (job->st != VF_OK && err)
        *err = job->err;
    return job->st;
}

typedef struct vf_gen_writer {
    const vf_gen_plan *plan;
    const vf_fs *fs;
    const char *outdir;
    uint8_t *buf;
    uint64_t done_bytes;
    unsigned created; /* files created so far (levels), for cleanup */
    bool manifest_created;
} vf_gen_writer;

static vf_status vf_gen_path(const vf_gen_writer *w, const char *file, char *out, size_t max,
                             vf_error *err)
{
    int n = snprintf(out, max, "%s/%s", w->outdir, file);
    if (n < 0 || (size_t)n >= max)
        return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "output path '%s/%s' is too long", w->outdir,
                       file);
    return VF_OK;
}

/* Blocks of the level that receive any write: a hint for the driver. */
static uint64_t vf_gen_touched_blocks(const vf_gen_plan_level *pl, uint64_t bs)
{
    uint64_t n = 0, next = 0; /* next: the first block not counted yet */
    for (size_t i = 0; i < pl->map.n; i++) {
        uint64_t first = pl->map.v[i].voff / bs;
        uint64_t last = (pl->map.v[i].voff + pl->map.v[i].len - 1) / bs;
        if (first < next)
            first = next;
        if (last >= first) {
            n += last - first + 1;
            next = last + 1;
        }
    }
    return n;
}

static vf_status vf_gen_apply(vf_gen_writer *w, vf_image *img, unsigned level, vf_error *err)
{
    const vf_gen_plan *plan = w->plan;
    const vf_gen_plan_level *pl = &plan->lv[level];
    vf_status st = vf_image_reserve(img, vf_gen_touched_blocks(pl, plan->opts.block_size), err);
    for (size_t i = 0; st == VF_OK && i < pl->nw; i++) {
        const vf_gen_write *wr = &pl->w[i];
        if (wr->zero) {
            st = vf_image_write_zeroes(img, wr->voff, wr->len, err);
            w->done_bytes += wr->len;
            continue;
        }
        for (uint64_t off = 0; st == VF_OK && off < wr->len;) {
            size_t n =
                (size_t)(wr->len - off < VF_GEN_WRITE_CHUNK ? wr->len - off : VF_GEN_WRITE_CHUNK);
            vf_gen_fill(plan->opts.seed, level, wr->write, wr->voff + off, w->buf, n);
            st = vf_image_write(img, wr->voff + off, w->buf, n, err);
            off += n;
            w->done_bytes += n;
            if (plan->opts.progress)
                plan->opts.progress(plan->opts.progress_ctx, w->done_bytes, plan->total_bytes);
        }
    }
    if (st == VF_OK)
        st = vf_image_flush(img, err);
    return st;
}

/* Generated files need durability, not crash ordering: an interrupted run leaves no usable
 * chain (and removes what it created), so the format writers' intermediate syncs are
 * swallowed by this wrapper and each file is synced once, when it is complete. */
typedef struct vf_gen_lazy {
    vf_io *inner;
} vf_gen_lazy;

static vf_status vf_gen_lazy_read(void *self, void *buf, size_t len, uint64_t off, vf_error *e)
{
    return vf_io_read(((vf_gen_lazy *)self)->inner, buf, len, off, e);
}

static vf_status vf_gen_lazy_write(void *self, const void *buf, size_t len, uint64_t off,
                                   vf_error *e)
{
    return vf_io_write(((vf_gen_lazy *)self)->inner, buf, len, off, e);
}

static vf_status vf_gen_lazy_sync(void *self, vf_error *e)
{
    (void)self;
    (void)e;
    return VF_OK;
}

static vf_status vf_gen_lazy_size(void *self, uint64_t *size, vf_error *e)
{
    return vf_io_size(((vf_gen_lazy *)self)->inner, size, e);
}

static vf_status vf_gen_lazy_set_size(void *self, uint64_t size, vf_error *e)
{
    return vf_io_set_size(((vf_gen_lazy *)self)->inner, size, e);
}

static vf_status vf_gen_lazy_lock(void *self, bool exclusive, vf_error *e)
{
    return vf_io_lock(((vf_gen_lazy *)self)->inner, exclusive, e);
}

static void vf_gen_lazy_close(void *self)
{
    vf_gen_lazy *z = self;
    vf_io_close(z->inner);
    free(z);
}

static const vf_io_ops vf_gen_lazy_ops = {
    .read_at = vf_gen_lazy_read,
    .write_at = vf_gen_lazy_write,
    .sync = vf_gen_lazy_sync,
    .get_size = vf_gen_lazy_size,
    .set_size = vf_gen_lazy_set_size,
    .lock = vf_gen_lazy_lock,
    .close = vf_gen_lazy_close,
};

/* Create path and wrap it; *inner borrows the real handle (for the final sync). */
static vf_status vf_gen_lazy_open(vf_gen_writer *w, const char *path, vf_io **out, vf_io **inner,
                                  vf_error *err)
{
    vf_io *raw;
    vf_status st = vf_fs_open(w->fs, path, VF_IO_RDWR | VF_IO_CREATE | VF_IO_EXCL, &raw, err);
    if (st != VF_OK)
        return st;
    vf_gen_lazy *z = malloc(sizeof *z);
    if (!z) {
        vf_io_close(raw);
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating a file wrapper");
    }
    z->inner = raw;
    *inner = raw;
    return vf_io_new(&vf_gen_lazy_ops, z, path, true, out, err);
}

static vf_status vf_gen_write_level(vf_gen_writer *w, const vf_gen_result *res, unsigned level,
                                    vf_error *err)
{
    const vf_gen_opts *o = &w->plan->opts;
    const vf_gen_plan_level *pl = &w->plan->lv[level];
    const vf_gen_creator *cr = vf_gen_creator_get(o->format, pl->creator);
    char path[4096], absolute[128];
    vf_status st = vf_gen_path(w, res->levels[level].file, path, sizeof path, err);
    if (st != VF_OK)
        return st;
    vf_create_opts co;
    vf_create_opts_init(&co);
    co.format = o->format;
    co.type = pl->type;
    co.virtual_size = o->virtual_size;
    co.block_size = o->block_size;
    co.logical_sector_size = o->sector_size;
    co.physical_sector_size = o->sector_size;
    co.timestamp = pl->timestamp;
    co.creator = cr->app;
    co.creator_version = cr->version;
    co.creator_os = cr->os;
    co.flags |= VF_CREATE_PACKED; /* the layout of the producers it imitates, no padding */
    memcpy(co.id, pl->id, 16);
    /* VHDX's other identities are derived from the level's identity, never random. */
    for (unsigned i = 0; i < 16; i++) {
        co.file_write_guid[i] = (uint8_t)(pl->id[15 - i] ^ 0x5a);
        co.page83[i] = (uint8_t)(pl->id[i] ^ 0xa5);
    }
    vf_parent_link link = {0};
    if (level > 0) {
        const vf_gen_locmode *lm = vf_gen_locmode_get(o->format, pl->locmode);
        const char *parent = res->levels[level - 1].file;
        memcpy(link.id, w->plan->lv[level - 1].id, 16);
        link.timestamp = w->plan->lv[level - 1].timestamp;
        link.relative = parent;
        /* A fixed Windows path keeps the bytes independent of where OUTDIR is. */
        if (lm->absolute_is_relative)
            snprintf(absolute, sizeof absolute, ".\\%s", parent);
        else
            snprintf(absolute, sizeof absolute, "C:\\vhdfold\\gen-%llu\\%s",
                     (unsigned long long)o->seed, parent);
        link.absolute = absolute;
        link.locators = lm->mask;
        co.parent = &link;
    }
    vf_io *io = NULL, *inner = NULL;
    if ((st = vf_gen_lazy_open(w, path, &io, &inner, err)) != VF_OK)
        return st;
    w->created = level + 1;
    if (res->levels[level].dirty)
        co.flags |= VF_CREATE_LEAVE_DIRTY;
    vf_image *img;
    if ((st = vf_image_create(io, path, &co, &img, err)) != VF_OK)
        return st;
    st = vf_gen_apply(w, img, level, err);
    if (st == VF_OK)
        st = vf_io_sync(inner, err); /* the file is complete: make it durable once */
    vf_image_close(img);
    return st;
}

static vf_status vf_gen_write_manifest(vf_gen_writer *w, const char *text, vf_error *err)
{
    char path[4096];
    vf_io *io;
    vf_status st = vf_gen_path(w, "manifest.json", path, sizeof path, err);
    if (st == VF_OK)
        st = vf_fs_open(w->fs, path, VF_IO_RDWR | VF_IO_CREATE | VF_IO_EXCL, &io, err);
    if (st != VF_OK)
        return st;
    w->manifest_created = true;
    st = vf_io_write(io, text, strlen(text), 0, err);
    if (st == VF_OK)
        st = vf_io_sync(io, err);
    vf_io_close(io);
    return st;
}

/* Refuse before writing anything when a target file exists. */
static vf_status vf_gen_check_absent(vf_gen_writer *w, const vf_gen_result *res, vf_error *err)
{
    char path[4096];
    for (unsigned l = 0; l <= res->nlevels; l++) {
        const char *file = l < res->nlevels ? res->levels[l].file : "manifest.json";
        vf_status st = vf_gen_path(w, file, path, sizeof path, err);
        if (st != VF_OK)
            return st;
        vf_io *io;
        if (vf_fs_open(w->fs, path, VF_IO_RDONLY, &io, NULL) == VF_OK) {
            vf_io_close(io);
            return VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                           "'%s' already exists; gen writes only into a fresh directory", path);
        }
    }
    return VF_OK;
}

static void vf_gen_cleanup(vf_gen_writer *w, const vf_gen_result *res)
{
    char path[4096];
    for (unsigned l = 0; l < w->created; l++)
        if (vf_gen_path(w, res->levels[l].file, path, sizeof path, NULL) == VF_OK)
            vf_fs_remove(w->fs, path, NULL);
    if (w->manifest_created && vf_gen_path(w, "manifest.json", path, sizeof path, NULL) == VF_OK)
        vf_fs_remove(w->fs, path, NULL);
}

vf_status vf_gen_model_only(const vf_gen_opts *opts, vf_gen_result *res, vf_error *err)
{
    memset(res, 0, sizeof *res);
    vf_gen_opts own;
    vf_status ast = vf_gen_adopt(&opts, &own, err);
    if (ast != VF_OK)
        return ast;
    vf_gen_plan plan;
    vf_status st = vf_gen_validate(opts, err);
    if (st != VF_OK || (st = vf_gen_plan_build(opts, &plan, err)) != VF_OK)
        return st;
    vf_gen_describe(&plan, res);
    st = vf_gen_digests(&plan, res, vf_gen_split_for(1), err);
    if (st == VF_OK)
        st = vf_gen_manifest(res, &res->manifest, err);
    vf_gen_plan_free(&plan);
    if (st != VF_OK)
        vf_gen_result_free(res);
    return st;
}

vf_status vf_gen_run(const vf_gen_opts *opts, const vf_fs *fs, const char *outdir,
                     vf_gen_result *res, vf_error *err)
{
    memset(res, 0, sizeof *res);
    vf_gen_opts own;
    vf_status ast = vf_gen_adopt(&opts, &own, err);
    if (ast != VF_OK)
        return ast;
    vf_gen_plan plan = {0};
    vf_gen_writer w = {.fs = fs ? fs : vf_fs_posix(), .outdir = outdir, .plan = &plan};
    vf_status st = vf_gen_validate(opts, err);
    if (st == VF_OK)
        st = vf_gen_can_create(opts->format, err);
    if (st == VF_OK)
        st = vf_gen_plan_build(opts, &plan, err);
    if (st != VF_OK)
        return st;
    vf_gen_describe(&plan, res);
    if ((st = vf_gen_check_absent(&w, res, err)) == VF_OK) {
        vf_gen_digest_job job = {.plan = &plan, .res = res};
        vf_gen_digest_start(&job);
        if (!(w.buf = malloc(VF_GEN_WRITE_CHUNK)))
            st = VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating the write buffer");
        for (unsigned l = 0; st == VF_OK && l < plan.nlevels; l++)
            st = vf_gen_write_level(&w, res, l, err);
        vf_status dst = vf_gen_digest_finish(&job, st == VF_OK ? err : NULL);
        if (st == VF_OK)
            st = dst;
        if (st == VF_OK)
            st = vf_gen_manifest(res, &res->manifest, err);
        if (st == VF_OK)
            st = vf_gen_write_manifest(&w, res->manifest, err);
        if (st != VF_OK)
            vf_gen_cleanup(&w, res);
    }
    free(w.buf);
    vf_gen_plan_free(&plan);
    if (st != VF_OK)
        vf_gen_result_free(res);
    return st;
}

vf_status vf_gen_list_writes(const vf_gen_opts *opts, vf_gen_write_info **out, size_t *n,
                             vf_error *err)
{
    *out = NULL;
    *n = 0;
    vf_gen_opts own;
    vf_status st = vf_gen_adopt(&opts, &own, err);
    if (st != VF_OK)
        return st;
    vf_gen_plan plan;
    st = vf_gen_validate(opts, err);
    if (st == VF_OK)
        st = vf_gen_plan_build(opts, &plan, err);
    if (st != VF_OK)
        return st;
    st = vf_gen_list_fill(&plan, out, n, err);
    vf_gen_plan_free(&plan);
    return st;
}

void vf_gen_result_free(vf_gen_result *res)
{
    if (!res)
        return;
    free(res->manifest);
    res->manifest = NULL;
}
