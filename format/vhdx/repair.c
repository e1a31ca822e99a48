/* vhdx/repair.c - the VHDX repairs that cannot lose data: a pending log replayed into the file
 * (what any writer does first) and a header copy that does not validate rewritten from the
 * current one (the normal header update, which writes the other slot). An image that does not
 * open is refused as unsafe. Layer: format/vhdx, reached through vf_vhdx_driver.repair
 * (vf_image_repair). Spec: docs/formats/vhdx.md "Headers", "Repair". */
#include <inttypes.h>
#include <string.h>

#include "vhdx_int.h"

/* What the image open in img needs; actions go into plan. */
static vf_status vx_rep_plan(vf_image *img, vf_repair_plan *plan, vf_error *err)
{
    vx_state *st = img->priv;
    if (img->info.log_replayed)
        vf_repair_add(plan, "'%s': replay the pending log into the file (%" PRIu64 " bytes)",
                      img->name, img->info.log_replay_bytes);
    uint8_t buf[VX_HEADER_SIZE];
    unsigned other = st->cur_slot ^ 1u;
    vf_status s = vf_vhdx_pread_raw(st, buf, sizeof buf, VX_HEADER_SLOT_OFF(other), err);
    if (s)
        return s;
    const char *why = vf_vhdx_header_problem(st, buf);
    if (why)
        vf_repair_add(plan, "'%s': rewrite header %u (at %" PRIu64 ": %s) from header %u",
                      img->name, other + 1, VX_HEADER_SLOT_OFF(other), why, st->cur_slot + 1);
    return VF_OK;
}

static vf_status vx_rep_open(vf_io *io, const char *name, unsigned flags, vf_image **img,
                             vf_error *err)
{
    vf_io *b;
    vf_status s = vf_io_borrow(io, &b, err);
    return s ? s : vf_image_open(b, name, flags, img, err);
}

/* Settle the log and write the other header slot, durable, then confirm by a fresh plan. */
static vf_status vx_rep_apply(vf_io *io, const char *name, vf_error *err)
{
    vf_image *img;
    vf_status s = vx_rep_open(io, name, VF_OPEN_RDWR, &img, err);
    if (s)
        return s;
    s = vf_vhdx_begin_modify(img->priv, false, img, err);
    if (!s)
        s = vf_image_flush(img, err);
    vf_image_close(img);
    if (s)
        return s;
    if ((s = vx_rep_open(io, name, 0, &img, err)) != VF_OK)
        return s;
    vf_repair_plan left;
    memset(&left, 0, sizeof left);
    s = vx_rep_plan(img, &left, err);
    vf_image_close(img);
    if (!s && left.nactions)
        s = VF_FAIL(err, VF_E_CORRUPT, VF_OFF_NONE, "'%s': still needs repair afterwards: %s", name,
                    left.action[0]);
    return s;
}

vf_status vf_vhdx_repair(vf_io *io, const char *name, bool apply, vf_repair_plan *plan,
                         vf_error *err)
{
    vf_image *img;
    vf_error failed;
    vf_status s = vx_rep_open(io, name, 0, &img, &failed);
    if (s == VF_E_IO || s == VF_E_NOMEM) {
        *err = failed;
        return s;
    }
    if (s) {
        vf_repair_refuse(plan, "%s", failed.msg);
        return VF_OK;
    }
    s = vx_rep_plan(img, plan, err);
    vf_image_close(img);
    if (s || !apply || plan->nactions == 0)
        return s;
    return vx_rep_apply(io, name, err);
}
