/* vhdx/linkage2.c - vf_image_set_parent_id2 for VHDX: add or replace the 'parent_linkage2' entry
 * of a differencing image's parent locator, keeping every other entry (parent_linkage and the
 * paths) as it is. The new locator item goes through the log like set_parent's, so a crash
 * leaves the old item or the new one; when its slot is too short it moves to free space of
 * the metadata region (locslot.c). Only the FileWriteGuid changes (not a user-visible
 * change): the DataWriteGuid that children bind to stays.
 * Layer: format/vhdx. Called through vf_vhdx_driver by image.c; the merger uses it for the
 * VHDX merge protocol of docs/merge.md "VHDX: the identity protocol".
 * Spec: MS-VHDX 2.6.2.6 (parent locator; "either linkage matches") ; docs/formats/vhdx.md "Parent
 * locator item", "Parent linkage". */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vhdx_int.h"

/* The current entries with parent_linkage2 set to text (replaced in place or appended). The
 * arrays borrow st->kv's strings and text; *keys and *vals are yours (free both). */
static vf_status vx_l2_entries(const vx_state *st, const char *text, const char ***keys,
                               const char ***vals, size_t *n, vf_error *err)
{
    size_t cap = (size_t)st->nkv + 1; /* nkv < 65536 (KeyValueCount is 16 bits) */
    *keys = calloc(cap, sizeof **keys);
    *vals = calloc(cap, sizeof **vals);
    if (!*keys || !*vals)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "allocating the parent locator entries");
    size_t k = 0;
    bool replaced = false;
    for (uint32_t i = 0; i < st->nkv; i++) {
        (*keys)[k] = st->kv[i].key;
        bool is_l2 = !strcmp(st->kv[i].key, "parent_linkage2");
        (*vals)[k++] = is_l2 ? text : st->kv[i].value;
        replaced |= is_l2;
    }
    if (!replaced) {
        (*keys)[k] = "parent_linkage2";
        (*vals)[k++] = text;
    }
    *n = k;
    return VF_OK;
}

vf_status vf_vhdx_set_parent_id2(vf_image *img, const uint8_t id2[16], vf_error *err)
{
    vx_state *st = vx_st(img);
    if (!st->has_parent || st->loc_item == UINT32_MAX)
        return VF_FAIL(err, VF_E_UNSUPPORTED, st->meta_off,
                       "the image has no parent locator to hold 'parent_linkage2'");
    if (img->info.has_parent_id2 && !memcmp(img->info.parent_id2, id2, 16))
        return VF_OK; /* already there (a resumed merge): nothing to write */
    char text[VF_GUID_TEXT_LEN];
    vf_guid_text(VF_FORMAT_VHDX, id2, text);
    const char **keys = NULL, **vals = NULL;
    size_t n = 0;
    uint8_t *item = NULL;
    uint32_t len = 0;
    vf_status s = vx_l2_entries(st, text, &keys, &vals, &n, err);
    if (!s)
        s = vf_vhdx_locator_encode(keys, vals, n, &item, &len, err);
    uint64_t at = 0;
    if (!s)
        s = vf_vhdx_locator_place(st, len, &at, err); /* its slot, or free space (moved) */
    free(keys); /* borrowed strings: st->kv is still intact here */
    free(vals);
    if (!s)
        s = vf_vhdx_locator_replace(img, item, len, at, err);
    free(item);
    if (!s)
        s = vf_vhdx_flush(img, err);
    if (!s)
        vf_vhdx_fill_info(img);
    return s;
}
