/* cmd_set_parent.c - `vhdfold set-parent CHILD NEWPARENT`: re-point a differencing image at a
 * parent that moved (same identity, checked as the chain layer binds it), or with
 * --ignore-id-mismatch at another image, printing the flat digests of CHILD's view before and
 * after. Locators are rewritten relative first, then absolute; the driver makes the rewrite
 * crash-safe (docs/cli.md, the set-parent section). Layer: cli, over vf_image_set_parent. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "newfile.h"
#include "output.h"

typedef struct vf_setp_cli {
    vf_cli_common co;
    bool ignore_id, recover;
    const char *child, *parent;
} vf_setp_cli;

#define VF_SETP_OPT(field) offsetof(vf_setp_cli, field)

static const vf_opt vf_setp_table[] = {
    {.name = "ignore-id-mismatch",
     .type = VF_OPT_FLAG,
     .offset = VF_SETP_OPT(ignore_id),
     .help = "re-point CHILD even when NEWPARENT is not the image it expects (its view may "
             "change: the flat digests before and after are printed)"},
    {.name = "recover",
     .type = VF_OPT_FLAG,
     .offset = VF_SETP_OPT(recover),
     .help = "accept a CHILD whose parent link a crash tore during an earlier set-parent, and "
             "rewrite it (docs/cli.md)"},
    {.name = NULL},
};

static const vf_opt_positional vf_setp_positionals[] = {
    {"CHILD", "the differencing image to re-point"},
    {"NEWPARENT", "the image CHILD is to read through from now on"},
    {NULL, NULL},
};

static const vf_opt_group vf_setp_groups[] = {
    {vf_setp_table, 0},
    {vf_cli_output_opts, VF_SETP_OPT(co)},
    {vf_cli_chain_opts, VF_SETP_OPT(co)},
    {NULL, 0},
};

const vf_cmd_spec vf_set_parent_spec = {
    .name = "set-parent",
    .summary = "re-point a differencing image at a moved (or another) parent",
    .synopsis = "[options] CHILD NEWPARENT",
    .description =
        "Rewrite CHILD's parent locators to name NEWPARENT, relative to CHILD's folder first, "
        "then by its absolute path. By default only when NEWPARENT is the image CHILD expects "
        "(its identity, and for formats that record one the parent's time stamp): a parent "
        "moved to another folder. --ignore-id-mismatch binds CHILD to NEWPARENT's identity "
        "whatever it was, says that the view may change and prints the flat digests of "
        "CHILD's view before (when its old parent still opens) and after. Nothing is written "
        "before both images are validated; CHILD or NEWPARENT in a chain with a pending or "
        "running merge is refused.",
    .positionals = vf_setp_positionals,
    .groups = vf_setp_groups,
    .exit_status = "0 re-pointed, 2 usage or invalid parameter or a merge journal binds the "
                   "chain, 3 identity mismatch (without --ignore-id-mismatch), corrupt or "
                   "unsupported image, 4 system error.",
};

static bool vf_setp_binds(const vf_image_info *ci, const vf_image_info *pi)
{
    bool id = !memcmp(ci->parent_id, pi->id, 16) ||
              (ci->has_parent_id2 && !memcmp(ci->parent_id2, pi->id, 16));
    bool ts = !(ci->fields & VF_INFO_TIMESTAMPS) || ci->parent_timestamp == pi->timestamp;
    return id && ts;
}

static vf_status vf_setp_mismatch(const vf_setp_cli *c, const vf_image_info *ci,
                                  const vf_image_info *pi, vf_error *err)
{
    char want[VF_GUID_TEXT_LEN], got[VF_GUID_TEXT_LEN], ts[96] = "";
    vf_guid_text(ci->format, ci->parent_id, want);
    vf_guid_text(pi->format, pi->id, got);
    if (ci->fields & VF_INFO_TIMESTAMPS)
        snprintf(ts, sizeof ts, " (time stamp %lu; it has %lu)",
                 (unsigned long)ci->parent_timestamp, (unsigned long)pi->timestamp);
    return VF_FAIL(err, VF_E_CHAIN, VF_OFF_NONE,
                   "'%s' expects parent id %s%s but '%s' has id %s: not re-pointed "
                   "(--ignore-id-mismatch overrides; the view may change)",
                   c->child, want, ts, c->parent, got);
}

/* Nothing is re-pointed while a merge journal binds CHILD (as SOURCE, an intermediate, or
 * DESTINATION: CHILD's chain reaches the journal's level) or NEWPARENT's chain (CHILD would
 * read through a half-merged view, as create --parent refuses): the rerun that finishes the
 * merge checks the identities and links it recorded. */
static vf_status vf_setp_refuse_pending(const vf_setp_cli *c, vf_error *err)
{
    /* both looked at unlocked, before NEWPARENT's chain is opened with locks: a running merge
     * is this refusal (exit 2, the merge named), not a lock error suggesting -U */
    vf_status st = vf_cli_refuse_pending(c->child, "set-parent", err);
    return st == VF_OK ? vf_cli_refuse_pending(c->parent, "set-parent", err) : st;
}

/* CHILD alone, read-only (nothing written while validating), and its fitness. */
static vf_status vf_setp_validate(const vf_setp_cli *c, vf_chain *pc, bool *binds, vf_error *err)
{
    vf_image *img = NULL;
    vf_io *io = NULL;
    vf_status st = vf_io_file_open(c->child, VF_IO_RDONLY | VF_IO_REGULAR, &io, err);
    if (st == VF_OK)
        st = vf_image_open(io, c->child, c->recover ? VF_OPEN_RECOVER : 0u, &img, err);
    if (st != VF_OK)
        return st;
    const vf_image_info *ci = vf_image_info_get(img),
                        *pi = vf_image_info_get(vf_chain_image(pc, 0));
    if (!ci->has_parent)
        st = VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' is a %s image: it has no parent to set",
                     c->child, vf_disk_type_name(ci->type));
    else if (ci->format != pi->format)
        st = VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' is %s but '%s' is %s", c->child,
                     vf_format_name(ci->format), c->parent, vf_format_name(pi->format));
    else if (ci->logical_sector_size != pi->logical_sector_size)
        st = VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE, "'%s' has %u-byte sectors but '%s' %u-byte",
                     c->child, (unsigned)ci->logical_sector_size, c->parent,
                     (unsigned)pi->logical_sector_size);
    for (size_t l = 0; st == VF_OK && l < vf_chain_depth(pc); l++)
        if (vf_same_file(vf_chain_path(pc, l), c->child))
            st = VF_FAIL(err, VF_E_INVAL, VF_OFF_NONE,
                         "'%s' is in the chain of '%s' (level %zu): that would be a loop", c->child,
                         c->parent, l);
    *binds = st == VF_OK && vf_setp_binds(ci, pi);
    if (st == VF_OK && !*binds && !c->ignore_id)
        st = vf_setp_mismatch(c, ci, pi, err);
    vf_image_close(img);
    return st;
}

/* Flat digest of CHILD's view as its chain opens now, into hex; false (why in why) if not. */
static bool vf_setp_digest(const vf_setp_cli *c, char hex[VF_SHA256_HEX_LEN], vf_error *why)
{
    vf_chain *cc;
    vf_source *src;
    uint8_t md[VF_SHA256_LEN];
    vf_verify_opts vo;
    vf_cli_verify_opts(&vo, NULL);
    if (vf_cli_open_chain(c->child, &c->co, &cc, why) != VF_OK)
        return false;
    bool ok = vf_source_from_chain(cc, true, &src, why) == VF_OK &&
              vf_digest_flat(src, &vo, md, why) == VF_OK;
    vf_source_free(src);
    if (ok)
        vf_sha256_hex(md, hex);
    return ok;
}

static vf_status vf_setp_write(const vf_setp_cli *c, vf_chain *pc, vf_error *err)
{
    const vf_image_info *pi = vf_image_info_get(vf_chain_image(pc, 0));
    vf_parent_link link = {0};
    memcpy(link.id, pi->id, 16);
    link.timestamp = pi->timestamp;
    char *rel = NULL, *abs = NULL;
    vf_status st = vf_parent_paths(c->child, c->parent, &rel, &abs, err);
    vf_io *io = NULL;
    vf_image *img = NULL;
    unsigned fl = VF_OPEN_RDWR | (c->recover ? VF_OPEN_RECOVER : 0u);
    if (st == VF_OK &&
        (st = vf_io_file_open(c->child, VF_IO_RDWR | VF_IO_REGULAR, &io, err)) == VF_OK) {
        if ((st = vf_io_lock(io, true, err)) == VF_OK)
            st = vf_image_open(io, c->child, fl, &img, err);
        else
            vf_io_close(io);
    }
    link.relative = rel;
    link.absolute = abs;
    if (st == VF_OK && (st = vf_image_set_parent(img, &link, err)) == VF_OK)
        st = vf_image_flush(img, err);
    vf_image_close(img);
    free(rel);
    free(abs);
    return st;
}

/* After the rewrite: CHILD's chain opens through NEWPARENT. */
static vf_status vf_setp_reopen(const vf_setp_cli *c, vf_error *err)
{
    vf_chain *cc;
    vf_status st = vf_cli_open_chain(c->child, &c->co, &cc, err);
    if (st != VF_OK)
        return st;
    if (vf_chain_depth(cc) < 2 || !vf_same_file(vf_chain_path(cc, 1), c->parent))
        st = VF_FAIL(err, VF_E_CHAIN, VF_OFF_NONE,
                     "'%s' was re-pointed but its chain now opens through '%s', not '%s'", c->child,
                     vf_chain_depth(cc) < 2 ? "nothing" : vf_chain_path(cc, 1), c->parent);
    vf_chain_close(cc);
    return st;
}

typedef struct vf_setp_result {
    bool binds, have_before, have_after;
    char before[VF_SHA256_HEX_LEN], after[VF_SHA256_HEX_LEN];
    vf_error before_why, after_why;
} vf_setp_result;

static void vf_setp_print(const vf_setp_cli *c, const vf_setp_result *r)
{
    if (c->co.json) {
        json_t *o = vf_json_begin("set-parent");
        json_object_set_new(o, "status", json_integer(0));
        json_object_set_new(o, "exit", json_integer(VF_EXIT_OK));
        json_object_set_new(o, "file", vf_json_text(c->child));
        json_object_set_new(o, "parent", vf_json_text(c->parent));
        json_object_set_new(o, "identity_matched", json_boolean(r->binds));
        if (!r->binds) {
            json_object_set_new(o, "digest_before",
                                r->have_before ? vf_json_text(r->before) : json_null());
            json_object_set_new(o, "digest_after", vf_json_text(r->after));
            json_object_set_new(o, "view_changed",
                                r->have_before ? json_boolean(strcmp(r->before, r->after))
                                               : json_null());
        }
        vf_json_print(o);
        return;
    }
    printf("re-pointed '%s' at '%s'%s\n", c->child, c->parent,
           r->binds ? " (same identity: the view is unchanged)" : "");
    if (r->binds)
        return;
    if (r->have_before)
        printf("digest before: %s\n", r->before);
    else
        printf("digest before: unavailable (%s)\n", r->before_why.msg);
    printf("digest after:  %s\n", r->after);
    if (r->have_before)
        printf("the view %s\n", strcmp(r->before, r->after) ? "changed" : "is unchanged");
}

static void vf_setp_warn(void)
{
    bool tty = isatty(STDERR_FILENO);
    fprintf(stderr,
            "%svhdfold set-parent: --ignore-id-mismatch: NEWPARENT is not the image "
            "CHILD expects; the view of CHILD may change%s\n",
            tty ? "\033[1m" : "", tty ? "\033[0m" : "");
}

int vf_cmd_set_parent(int argc, char **argv)
{
    vf_setp_cli c;
    memset(&c, 0, sizeof c);
    char *pos[2];
    int rc = vf_opts_parse(&vf_set_parent_spec, argc, argv, &c, pos, 2);
    if (rc >= 0)
        return rc;
    c.child = pos[0];
    c.parent = pos[1];
    vf_error err;
    vf_error_clear(&err);
    vf_setp_result r;
    memset(&r, 0, sizeof r);
    vf_chain *pc = NULL;
    vf_status st = vf_setp_refuse_pending(&c, &err);
    if (st == VF_OK)
        st = vf_cli_open_chain(c.parent, &c.co, &pc, &err);
    if (st == VF_OK) /* again through the parent options given, which may reach further */
        st = vf_cli_refuse_pending_in(pc, c.parent, "set-parent", &err);
    if (st == VF_OK)
        st = vf_setp_validate(&c, pc, &r.binds, &err);
    if (st == VF_OK && !r.binds) {
        vf_setp_warn();
        r.have_before = vf_setp_digest(&c, r.before, &r.before_why);
    }
    if (st == VF_OK)
        st = vf_setp_write(&c, pc, &err);
    vf_chain_close(pc);
    if (st == VF_OK)
        st = vf_setp_reopen(&c, &err);
    if (st == VF_OK && !r.binds && !vf_setp_digest(&c, r.after, &err))
        st = err.code;
    if (st == VF_OK)
        vf_setp_print(&c, &r);
    return st == VF_OK ? VF_EXIT_OK : vf_cli_fail("set-parent", c.child, &err, c.co.json);
}
