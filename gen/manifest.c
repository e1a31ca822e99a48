/* manifest.c - renders a generated chain as OUTDIR/manifest.json (the shape of docs/gen.md
 * "manifest.json", plus fields that only grow: schema, options, per-level identity, counts and the
 * tree digest). Layer: gen. Called by gen.c; uses jansson. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gen_int.h"
#include "vf_sha256.h"

#define VF_GEN_MANIFEST_SCHEMA 1

static json_t *vf_gen_hex(const uint8_t md[32])
{
    char hex[VF_SHA256_HEX_LEN];
    vf_sha256_hex(md, hex);
    return json_string(hex);
}

static json_t *vf_gen_level_json(const vf_gen_result *res, unsigned l)
{
    const vf_gen_level *lv = &res->levels[l];
    char guid[VF_GUID_TEXT_LEN];
    vf_guid_text(res->opts.format, lv->id, guid);
    json_t *o = json_object();
    json_object_set_new(o, "level", json_integer(l));
    json_object_set_new(o, "file", json_string(lv->file));
    json_object_set_new(o, "type", json_string(vf_disk_type_name(lv->type)));
    json_object_set_new(o, "parent", l ? json_string(res->levels[l - 1].file) : json_null());
    json_object_set_new(o, "id", json_string(guid));
    json_object_set_new(o, "timestamp", json_integer(lv->timestamp));
    json_object_set_new(o, "creator", json_string(lv->creator));
    json_object_set_new(o, "locators", l ? json_string(lv->locators) : json_null());
    json_object_set_new(o, "writes", json_integer(lv->writes));
    json_object_set_new(o, "zero_writes", json_integer(lv->zero_writes));
    json_object_set_new(o, "written_bytes", json_integer((json_int_t)lv->written_bytes));
    json_object_set_new(o, "zeroed_bytes", json_integer((json_int_t)lv->zeroed_bytes));
    /* formats with ZERO blocks trim, formats with a log can be left dirty (VHDX); VHD
     * manifests keep their pinned bytes */
    if (vf_gen_has(res->opts.format, VF_FEATURE_ZERO_BLOCKS))
        json_object_set_new(o, "trims", json_integer(lv->trims));
    if (vf_gen_has(res->opts.format, VF_FEATURE_LOG))
        json_object_set_new(o, "dirty", json_boolean(lv->dirty));
    json_object_set_new(o, "sha256", lv->has_sha256 ? vf_gen_hex(lv->sha256) : json_null());
    json_object_set_new(o, "tree", vf_gen_hex(lv->tree));
    return o;
}

vf_status vf_gen_manifest(const vf_gen_result *res, char **out, vf_error *err)
{
    const vf_gen_opts *o = &res->opts;
    char density[32];
    snprintf(density, sizeof density, "%u.%06u", o->density_ppm / 1000000,
             o->density_ppm % 1000000);
    json_t *root = json_object(), *levels = json_array();
    json_object_set_new(root, "schema", json_integer(VF_GEN_MANIFEST_SCHEMA));
    json_object_set_new(root, "generator", json_string("vhdfold gen"));
    json_object_set_new(root, "format", json_string(vf_format_name(o->format)));
    json_object_set_new(root, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(root, "virtual_size", json_integer((json_int_t)o->virtual_size));
    json_object_set_new(root, "block_size", json_integer(o->block_size));
    json_object_set_new(root, "depth", json_integer(o->depth));
    json_object_set_new(root, "base", json_string(vf_gen_base_name(o->base)));
    json_object_set_new(root, "profile", json_string(vf_gen_profile_name(o->profile)));
    json_object_set_new(root, "density", json_string(density));
    /* formats with a log (VHDX) record the sector size and the dirty mode; VHD manifests
     * keep their pinned bytes */
    if (vf_gen_has(o->format, VF_FEATURE_LOG)) {
        json_object_set_new(root, "sector_size", json_integer(o->sector_size));
        json_object_set_new(root, "dirty", json_string(vf_gen_dirty_name(o->dirty)));
    }
    /* only a thinned chain says so: full chains keep their pinned manifests */
    if (o->writes)
        json_object_set_new(root, "writes_selected", json_string(o->writes));
    json_object_set_new(root, "flat_limit", json_integer((json_int_t)o->flat_limit));
    json_object_set_new(root, "tree_digest", json_string("vhdfold-tree-v1"));
    for (unsigned l = 0; l < res->nlevels; l++)
        json_array_append_new(levels, vf_gen_level_json(res, l));
    json_object_set_new(root, "levels", levels);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "rendering manifest.json");
    /* Own copy with a final newline, freed with free(). */
    size_t n = strlen(text);
    *out = malloc(n + 2);
    if (*out) {
        memcpy(*out, text, n);
        memcpy(*out + n, "\n", 2);
    }
    free(text);
    if (!*out)
        return VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "rendering manifest.json");
    return VF_OK;
}
