/* vhd/reclaim.c - reuse of space past an allocation mark that no structure names (blocks an
 * interrupted batch wrote and never published, an unused reservation): the trailing footer
 * moves back to the end of what is named, and the next allocations take the free runs past
 * the mark, lowest first, stepping over the blocks that are named. Layer: format/vhd. Called
 * through vf_vhd_driver.reclaim (vf_image_reclaim) and by write.c (allocation, trim).
 * Spec: docs/formats/vhd.md "Writing"; docs/merge.md "Resume reuses what it allocated". */
#include <stdlib.h>
#include <string.h>

#include "vhd_int.h"

static int vhd_uspan_cmp(const void *a, const void *b)
{
    const vf_vhd_uspan *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

static uint64_t vhd_sec_up(uint64_t v)
{
    return (v + VHD_SECTOR - 1) / VHD_SECTOR * VHD_SECTOR;
}

/* Metadata and allocated blocks ending past from, sorted; *high: the end of the last. */
static vf_status vhd_used_spans(const vf_vhd *v, uint64_t from, vf_vhd_uspan **out, size_t *n,
                                uint64_t *high, vf_error *err)
{
    vf_vhd_range meta[3 + VHD_LOCATORS];
    size_t nmeta = vf_vhd_meta_ranges(v, meta);
    vf_vhd_uspan *sp = malloc(((size_t)v->bat.used + nmeta + 1) * sizeof *sp);
    if (!sp)
        return VF_FAIL(err, VF_E_NOMEM, VF_OFF_NONE, "reclaim: no memory");
    size_t k = 0;
    for (size_t m = 0; m < nmeta; m++)
        if (meta[m].off + meta[m].len > from)
            sp[k++] = (vf_vhd_uspan){meta[m].off, vhd_sec_up(meta[m].off + meta[m].len)};
    for (uint32_t b = vf_vhd_bat_next(&v->bat, 0, v->entries); b < v->entries;
         b = vf_vhd_bat_next(&v->bat, b + 1, v->entries)) {
        uint64_t off = (uint64_t)vf_vhd_bat_get(&v->bat, b) * VHD_SECTOR;
        if (off + v->block_total > from && k < v->bat.used + nmeta)
            sp[k++] = (vf_vhd_uspan){off, off + v->block_total};
    }
    qsort(sp, k, sizeof *sp, vhd_uspan_cmp);
    *high = from;
    for (size_t i = 0; i < k; i++)
        if (sp[i].end > *high)
            *high = sp[i].end;
    *out = sp;
    *n = k;
    return VF_OK;
}

uint64_t vf_vhd_skip_fit(vf_vhd *v, uint64_t at, uint64_t len)
{
    while (v->iskip < v->nskip) {
        const vf_vhd_uspan *s = &v->skip[v->iskip];
        if (s->end <= at) {
            v->iskip++; /* allocations only move forward: never needed again */
            continue;
        }
        if (at + len <= s->off)
            break;
        at = s->end;
        v->iskip++;
    }
    if (v->iskip == v->nskip && v->skip) {
        free(v->skip);
        v->skip = NULL;
        v->nskip = v->iskip = 0;
    }
    return at;
}

uint64_t vf_vhd_data_high(const vf_vhd *v)
{
    return v->nskip && v->skip_high > v->data_end ? v->skip_high : v->data_end;
}

/* The trailing footer at foot (< footer_off), durable, then the file cut after it; until the
 * cut the old footer still ends the file. */
static vf_status vhd_footer_down(vf_vhd *v, uint64_t foot, vf_error *err)
{
    uint8_t raw[VHD_FOOTER_SIZE];
    vf_vhd_footer_encode(&v->footer, raw);
    vf_status st = vf_io_write(v->io, raw, VHD_FOOTER_SIZE, foot, err);
    if (st == VF_OK)
        st = vf_io_sync(v->io, err);
    if (st == VF_OK)
        st = vf_io_set_size(v->io, foot + VHD_FOOTER_SIZE, err);
    if (st == VF_OK)
        st = vf_io_sync(v->io, err);
    if (st != VF_OK)
        return st;
    v->footer_off = foot;
    v->footer_len = VHD_FOOTER_SIZE;
    v->file_size = foot + VHD_FOOTER_SIZE;
    v->img->info.file_size = v->file_size;
    return VF_OK;
}

vf_status vf_vhd_reclaim(vf_image *img, uint64_t mark, vf_error *err)
{
    vf_vhd *v = img->priv;
    if (v->footer.disk_type == VF_DISK_FIXED)
        return VF_OK;
    if (v->npend || v->skip || v->footer_dirty)
        return VF_FAIL(err, VF_E_STATE, VF_OFF_NONE,
                       "'%s': space is reclaimed before the handle's first write", img->name);
    /* mark is a file size: its trailing footer stood where new blocks went next */
    if (mark < VHD_FOOTER_SIZE || mark > v->file_size)
        return VF_OK;
    uint64_t from = vhd_sec_up(mark - VHD_FOOTER_SIZE);
    if (from >= v->data_end)
        return VF_OK; /* nothing past the mark */
    vf_vhd_uspan *sp = NULL;
    size_t n = 0;
    uint64_t high = 0;
    vf_status st = vhd_used_spans(v, from, &sp, &n, &high, err);
    if (st != VF_OK)
        return st;
    if (high > v->footer_off) { /* named space past the footer: leave the file alone */
        free(sp);
        return VF_OK;
    }
    if (v->footer_off > high && (st = vhd_footer_down(v, high, err)) != VF_OK) {
        free(sp);
        return st;
    }
    v->skip = sp;
    v->nskip = n;
    v->iskip = 0;
    v->skip_high = high;
    v->data_end = from;
    return VF_OK;
}
