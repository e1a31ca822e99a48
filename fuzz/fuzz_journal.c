/* fuzz_journal.c - target journal: the merge journal parser (vf_journal_parse) and the resume
 * decision (vf_resume_decide) on hostile records. Input: 16 control bytes, then one slot.
 * Unless control bit 0 of byte 0 is set, the harness writes the slot's SHA-256 itself so
 * mutations reach the body (seeds store it as zeros). A parsed record is decided against
 * facts derived from it and perturbed by the control bytes; invariants: a refusal says why,
 * a perturbed identity, size, format or child is never continued, a cursor is only used when
 * DESTINATION is still in SOURCE's chain, a later phase only when it is not. Layer: fuzz;
 * links merger/ (its internal merge_int.h). docs/fuzzing.md lists the layout. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_helpers.h"
#include "merge_int.h"

#define VF_CTL_BYTES 16u

typedef struct vf_facts_store {
    uint8_t (*ids)[16];
    uint64_t *sizes;
    uint8_t (*digests)[VF_SHA256_LEN];
    vf_resume_facts f;
    bool perturbed; /* something bound by the journal differs */
} vf_facts_store;

static void vf_sign(uint8_t *slot, size_t len)
{
    if (len < VF_JOURNAL_HEAD_BYTES)
        return;
    uint64_t body = (uint64_t)slot[16] | (uint64_t)slot[17] << 8 | (uint64_t)slot[18] << 16 |
                    (uint64_t)slot[19] << 24;
    if (body > len - VF_JOURNAL_HEAD_BYTES)
        return;
    vf_sha256 *h;
    if (vf_sha256_new(&h, NULL) != VF_OK)
        return;
    vf_sha256_update(h, slot, 24, NULL);
    vf_sha256_update(h, slot + VF_JOURNAL_HEAD_BYTES, (size_t)body, NULL);
    vf_sha256_final(h, slot + 24, NULL);
    vf_sha256_free(h);
}

/* Facts that match j, then the control bytes' perturbations. */
static bool vf_facts_make(const vf_journal *j, const uint8_t *ctl, vf_facts_store *s)
{
    size_t n = j->nlevels, nc = j->nchildren + 1;
    s->ids = calloc(n, sizeof *s->ids);
    s->sizes = calloc(n, sizeof *s->sizes);
    s->digests = calloc(nc, sizeof *s->digests);
    if (!s->ids || !s->sizes || !s->digests)
        return false;
    for (size_t i = 0; i < n; i++) {
        memcpy(s->ids[i], j->levels[i].id, 16);
        s->sizes[i] = j->levels[i].file_size;
    }
    for (size_t i = 0; i < j->nchildren; i++)
        memcpy(s->digests[i], j->children[i].digest, VF_SHA256_LEN);
    vf_resume_facts *f = &s->f;
    f->format = j->format;
    f->virtual_size = j->virtual_size;
    f->dest_in_chain = (ctl[1] & 1u) != 0;
    f->nlevels = f->dest_in_chain ? n : n - 1 - (ctl[1] >> 1 & 1u);
    f->ids = (const uint8_t(*)[16])s->ids;
    f->file_sizes = s->sizes;
    f->dest_size = j->dest_size + (uint64_t)ctl[2] - 128u;
    f->nchildren = j->nchildren;
    f->child_digests = (ctl[1] & 4u) ? NULL : (const uint8_t(*)[VF_SHA256_LEN])s->digests;
    const uint8_t *dest_ids[4] = {j->levels[n - 1].id, j->link_id, j->new_id, ctl + 8};
    memcpy(f->dest_id, dest_ids[ctl[3] & 3u], 16);
    f->has_upper_parent = (ctl[1] & 8u) != 0;
    memcpy(f->upper_parent_id, dest_ids[ctl[3] >> 2 & 3u], 16);
    f->has_upper_parent_id2 = (ctl[1] & 16u) != 0;
    memcpy(f->upper_parent_id2, dest_ids[ctl[3] >> 4 & 3u], 16);
    /* perturbations of what the journal binds */
    size_t lvl = ctl[4] % n;
    if ((ctl[5] & 1u) && lvl + 1 < n && lvl < f->nlevels) {
        s->ids[lvl][ctl[6] & 15u] ^= 1u;
        s->perturbed = true;
    }
    if ((ctl[5] & 2u) && lvl + 1 < n && lvl < f->nlevels) {
        s->sizes[lvl] += 1u + ctl[7];
        s->perturbed = true;
    }
    if (ctl[5] & 4u) {
        f->virtual_size ^= 1u + (uint64_t)ctl[7];
        s->perturbed = true;
    }
    if (ctl[5] & 8u) {
        f->format = f->format == VF_FORMAT_VHD ? VF_FORMAT_VHDX : VF_FORMAT_VHD;
        s->perturbed = true;
    }
    if (ctl[5] & 16u) {
        f->nchildren += 1u + (ctl[7] & 3u);
        s->perturbed = true;
    }
    if ((ctl[5] & 32u) && j->nchildren && f->child_digests) {
        s->digests[ctl[6] % j->nchildren][0] ^= 1u;
        s->perturbed = true;
    }
    return true;
}

static void vf_facts_free(vf_facts_store *s)
{
    free(s->ids);
    free(s->sizes);
    free(s->digests);
}

static void vf_check_plan(const vf_journal *j, const vf_facts_store *s, const vf_resume_plan *p)
{
    VF_FUZZ_CHECK(p->action >= VF_RESUME_REFUSE && p->action <= VF_RESUME_LATER, "action %d",
                  (int)p->action);
    VF_FUZZ_CHECK(memchr(p->why, 0, sizeof p->why) != NULL, "reason not terminated");
    if (p->action == VF_RESUME_REFUSE) {
        VF_FUZZ_CHECK(p->why[0] != '\0', "a refusal without a reason");
        return;
    }
    VF_FUZZ_CHECK(!s->perturbed, "a journal of another merge was accepted (action %d: %s)",
                  (int)p->action, p->why);
    if (p->action == VF_RESUME_CONTINUE || p->action == VF_RESUME_RESTART) {
        VF_FUZZ_CHECK(s->f.dest_in_chain, "a copy resumed without SOURCE's chain");
        VF_FUZZ_CHECK(j->phase <= VF_MERGE_PHASE_IDENTITY, "copy resumed in phase %d",
                      (int)j->phase);
    }
    if (p->action == VF_RESUME_CONTINUE && j->cursor)
        VF_FUZZ_CHECK(s->f.dest_size >= j->dest_size, "an unproven cursor was continued");
    if (p->action == VF_RESUME_LATER) {
        VF_FUZZ_CHECK(!s->f.dest_in_chain, "a later phase while the copy can run");
        VF_FUZZ_CHECK(p->phase == j->phase && p->phase >= VF_MERGE_PHASE_IDENTITY, "later phase %d",
                      (int)p->phase);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < VF_CTL_BYTES)
        return 0;
    const uint8_t *ctl = data;
    size_t len = size - VF_CTL_BYTES;
    if (len > 2u * VF_JOURNAL_SLOT_BYTES)
        len = 2u * VF_JOURNAL_SLOT_BYTES;
    uint8_t *slot = malloc(len ? len : 1);
    if (!slot)
        return 0;
    memcpy(slot, data + VF_CTL_BYTES, len);
    if (!(ctl[0] & 1u))
        vf_sign(slot, len);
    vf_journal j;
    vf_error err;
    uint64_t before = vf_journal_parse_allocated();
    vf_status st = vf_journal_parse(slot, len, &j, &err);
    VF_FUZZ_CHECK(vf_journal_parse_allocated() - before <= VF_JOURNAL_SLOT_BYTES,
                  "the parser allocated more than a slot");
    if (st == VF_OK) {
        VF_FUZZ_CHECK(j.nlevels >= 2 && j.nlevels <= VF_JOURNAL_MAX_LEVELS &&
                          j.nchildren <= VF_JOURNAL_MAX_CHILDREN && j.cursor <= j.virtual_size,
                      "parsed fields out of range");
        vf_facts_store s;
        memset(&s, 0, sizeof s);
        if (vf_facts_make(&j, ctl, &s)) {
            vf_resume_plan p;
            vf_resume_decide(&j, &s.f, &p);
            vf_check_plan(&j, &s, &p);
        }
        vf_facts_free(&s);
        vf_journal_free(&j);
    } else {
        VF_FUZZ_CHECK(err.code == st && err.msg[0] != '\0', "a failure without a message");
    }
    free(slot);
    return 0;
}
