/* check.c - structural check of a whole chain: every image's own check, then the links.
 * Layer: verify. Called by 'vhdfold check' and the conformance runner through
 * vf_verify_check_chain (vf_verify.h). The drivers in format/ judge each file; this file
 * judges how the levels fit together, which no single driver can see. */
#include <string.h>

#include "source_int.h"

static void vf_check_identity(vf_report *rep, const vf_image_info *child,
                              const vf_image_info *parent, const char *cname, const char *pname)
{
    bool match = !memcmp(child->parent_id, parent->id, 16) ||
                 (child->has_parent_id2 && !memcmp(child->parent_id2, parent->id, 16));
    if (match)
        return;
    char want[VF_GUID_TEXT_LEN], got[VF_GUID_TEXT_LEN];
    vf_guid_text(child->format, child->parent_id, want);
    vf_guid_text(parent->format, parent->id, got);
    vf_report_add(rep, VF_SEV_ERROR, VF_E_CHAIN, VF_OFF_NONE, cname,
                  "parent identity %s does not match '%s' identity %s", want, pname, got);
}

/* Producers disagree on what the VHD parent time stamp holds (docs/chain.md "What makes a candidate
 * the parent"): a warning, for formats whose images carry time stamps (VF_INFO_TIMESTAMPS). */
static void vf_check_timestamp(vf_report *rep, const vf_image_info *child,
                               const vf_image_info *parent, const char *cname, const char *pname)
{
    if (!(child->fields & VF_INFO_TIMESTAMPS) || !(parent->fields & VF_INFO_TIMESTAMPS))
        return;
    if (child->parent_timestamp == parent->timestamp)
        return;
    vf_report_add(rep, VF_SEV_WARNING, VF_E_CHAIN, VF_OFF_NONE, cname,
                  "parent time stamp %lu differs from '%s' footer time stamp %lu",
                  (unsigned long)child->parent_timestamp, pname, (unsigned long)parent->timestamp);
}

static void vf_check_geometry(vf_report *rep, const vf_image_info *child,
                              const vf_image_info *parent, const char *cname, const char *pname)
{
    if (child->format != parent->format)
        vf_report_add(rep, VF_SEV_ERROR, VF_E_CHAIN, VF_OFF_NONE, cname,
                      "a %s image cannot have the %s image '%s' as parent",
                      vf_format_name(child->format), vf_format_name(parent->format), pname);
    if (child->logical_sector_size != parent->logical_sector_size)
        vf_report_add(rep, VF_SEV_ERROR, VF_E_CHAIN, VF_OFF_NONE, cname,
                      "logical sector size %lu differs from '%s' (%lu)",
                      (unsigned long)child->logical_sector_size, pname,
                      (unsigned long)parent->logical_sector_size);
    /* A parent larger than its child is legal after a child shrink was refused; smaller
     * parents read as zeros past their end, which Hyper-V allows after a child resize. */
    if (child->virtual_size != parent->virtual_size)
        vf_report_add(rep, VF_SEV_WARNING, VF_E_CHAIN, VF_OFF_NONE, cname,
                      "virtual size %llu differs from '%s' (%llu)",
                      (unsigned long long)child->virtual_size, pname,
                      (unsigned long long)parent->virtual_size);
    if (parent->type != VF_DISK_FIXED && parent->type != VF_DISK_DYNAMIC &&
        parent->type != VF_DISK_DIFF)
        vf_report_add(rep, VF_SEV_ERROR, VF_E_CHAIN, VF_OFF_NONE, pname,
                      "disk type %d cannot be a parent", (int)parent->type);
}

static void vf_check_link(vf_report *rep, vf_chain *c, size_t level)
{
    const vf_image_info *child = vf_image_info_get(vf_chain_image(c, level));
    const vf_image_info *parent = vf_image_info_get(vf_chain_image(c, level + 1));
    const char *cname = vf_chain_path(c, level);
    const char *pname = vf_chain_path(c, level + 1);
    if (!child->has_parent) {
        vf_report_add(rep, VF_SEV_ERROR, VF_E_CHAIN, VF_OFF_NONE, cname,
                      "has no parent but the chain continues with '%s'", pname);
        return;
    }
    vf_check_identity(rep, child, parent, cname, pname);
    vf_check_timestamp(rep, child, parent, cname, pname);
    vf_check_geometry(rep, child, parent, cname, pname);
}

vf_status vf_verify_check_chain(vf_chain *c, vf_report *rep, vf_error *err)
{
    size_t depth = vf_chain_depth(c);
    for (size_t level = 0; level < depth; level++) {
        vf_status st = vf_image_check(vf_chain_image(c, level), rep, err);
        if (st != VF_OK)
            return st;
    }
    for (size_t level = 0; level + 1 < depth; level++)
        vf_check_link(rep, c, level);
    const vf_image_info *base = vf_image_info_get(vf_chain_image(c, depth - 1));
    if (base->has_parent)
        vf_report_add(rep, VF_SEV_ERROR, VF_E_CHAIN, VF_OFF_NONE, vf_chain_path(c, depth - 1),
                      "is a differencing image but the chain ends here");
    return VF_OK;
}
