/* resume.c - the resume decision: given a parsed merge journal and what this invocation
 * resolved and validated itself (SOURCE's levels as opened now, DESTINATION, --child
 * digests), decide to refuse, copy again from zero, continue at the cursor, or go on with a
 * later phase. Layer: merger. Pure (no I/O, no allocation) so fuzz/fuzz_journal.c drives it
 * with hostile records; merge.c gathers the facts and acts. docs/merge.md states the rules. */
#include <stdio.h>
#include <string.h>

#include "merge_int.h"

static void vf_resume_set(vf_resume_plan *p, vf_resume_action a, vf_merge_phase phase,
                          const char *why)
{
    p->action = a;
    p->phase = phase;
    snprintf(p->why, sizeof p->why, "%s", why);
}

/* Levels above DESTINATION: same identities and file sizes as recorded (they never change
 * during a merge); n of them were resolved now. */
static bool vf_resume_upper_match(const vf_journal *j, const vf_resume_facts *f, size_t n,
                                  vf_resume_plan *p)
{
    for (size_t i = 0; i < n; i++) {
        if (memcmp(f->ids[i], j->levels[i].id, 16) != 0) {
            snprintf(p->why, sizeof p->why,
                     "level %zu of SOURCE's chain has another identity than the journal records",
                     i);
            return false;
        }
        if (f->file_sizes[i] != j->levels[i].file_size) {
            snprintf(p->why, sizeof p->why,
                     "level %zu of SOURCE's chain is %llu bytes, the journal records %llu", i,
                     (unsigned long long)f->file_sizes[i],
                     (unsigned long long)j->levels[i].file_size);
            return false;
        }
    }
    return true;
}

/* The request's shape: format, size, --child files (count, and digests when known). */
static bool vf_resume_request_match(const vf_journal *j, const vf_resume_facts *f,
                                    vf_resume_plan *p)
{
    if (f->format != j->format || f->virtual_size != j->virtual_size) {
        snprintf(p->why, sizeof p->why,
                 "it records a %s merge of %llu bytes, SOURCE is %s of %llu bytes",
                 vf_format_name(j->format), (unsigned long long)j->virtual_size,
                 vf_format_name(f->format), (unsigned long long)f->virtual_size);
        return false;
    }
    if (f->nchildren != j->nchildren) {
        snprintf(p->why, sizeof p->why, "it records %zu --child files, %zu are given now",
                 j->nchildren, f->nchildren);
        return false;
    }
    for (size_t i = 0; f->child_digests && i < f->nchildren; i++)
        if (memcmp(f->child_digests[i], j->children[i].digest, VF_SHA256_LEN) != 0) {
            snprintf(p->why, sizeof p->why,
                     "--child file %zu does not show the view the journal records", i + 1);
            return false;
        }
    return true;
}

static bool vf_resume_is(const uint8_t a[16], const uint8_t b[16])
{
    return memcmp(a, b, 16) == 0;
}

/* SOURCE's chain opened through DESTINATION: the copy phase (or the identity phase before
 * DESTINATION took its new identity). */
static void vf_resume_in_chain(const vf_journal *j, const vf_resume_facts *f, vf_resume_plan *p)
{
    size_t k = j->nlevels - 1;
    if (f->nlevels != j->nlevels) {
        snprintf(p->why, sizeof p->why,
                 "SOURCE's chain reaches DESTINATION in %zu levels, it records %zu", f->nlevels,
                 j->nlevels);
        return;
    }
    if (!vf_resume_upper_match(j, f, k, p))
        return;
    bool old = vf_resume_is(f->dest_id, j->levels[k].id);
    bool link = j->has_link_id && vf_resume_is(f->dest_id, j->link_id);
    if (!old && !link) {
        vf_resume_set(p, VF_RESUME_REFUSE, VF_MERGE_PHASE_NONE,
                      "DESTINATION has neither its recorded identity nor the merge's");
        return;
    }
    if (j->phase > VF_MERGE_PHASE_IDENTITY) {
        snprintf(p->why, sizeof p->why,
                 "it is in phase '%s' but DESTINATION has not taken its new identity",
                 vf_merge_phase_name(j->phase));
        return;
    }
    if (j->phase == VF_MERGE_PHASE_IDENTITY && j->cursor != j->virtual_size) {
        snprintf(p->why, sizeof p->why, "it is in phase 'identity' with the copy unfinished");
        return;
    }
    /* the cursor is proven when DESTINATION shows what the merge left there: a format with a
     * merge link (VHDX) carries the merge's link id (set before its first data write), and
     * DESTINATION's file is at least as long as when the cursor was recorded */
    bool proven = f->dest_size >= j->dest_size && (!j->has_link_id || link);
    if (j->cursor == 0)
        vf_resume_set(p, VF_RESUME_CONTINUE, VF_MERGE_PHASE_COPYING, "");
    else if (proven)
        vf_resume_set(p, VF_RESUME_CONTINUE, VF_MERGE_PHASE_COPYING, "");
    else
        vf_resume_set(p, VF_RESUME_RESTART, VF_MERGE_PHASE_COPYING,
                      "DESTINATION does not show the copy the journal's cursor claims; the copy "
                      "starts again from byte 0");
}

/* SOURCE's chain no longer opens through DESTINATION: after the identity phase. */
static void vf_resume_after_copy(const vf_journal *j, const vf_resume_facts *f, vf_resume_plan *p)
{
    size_t k = j->nlevels - 1;
    if (j->phase == VF_MERGE_PHASE_COPYING) {
        snprintf(p->why, sizeof p->why,
                 "it is in phase 'copying' but SOURCE's chain does not open through DESTINATION");
        return;
    }
    bool removing = j->phase == VF_MERGE_PHASE_REMOVING;
    if (f->nlevels > k || (!removing && f->nlevels != k)) {
        snprintf(p->why, sizeof p->why, "%zu levels above DESTINATION resolved, it records %zu",
                 f->nlevels, k);
        return;
    }
    if (!vf_resume_upper_match(j, f, f->nlevels, p))
        return;
    if (f->nlevels == k) {
        bool binds = f->has_upper_parent && (vf_resume_is(f->upper_parent_id, j->levels[k].id) ||
                                             (j->has_link_id && f->has_upper_parent_id2 &&
                                              vf_resume_is(f->upper_parent_id2, j->link_id)));
        if (!binds) {
            snprintf(p->why, sizeof p->why,
                     "level %zu of SOURCE's chain is not a child of the recorded DESTINATION",
                     k - 1);
            return;
        }
    }
    bool now_new = vf_resume_is(f->dest_id, j->new_id);
    if (j->phase == VF_MERGE_PHASE_IDENTITY) {
        bool known = now_new || vf_resume_is(f->dest_id, j->levels[k].id) ||
                     (j->has_link_id && vf_resume_is(f->dest_id, j->link_id));
        if (!known || j->cursor != j->virtual_size || f->dest_size < j->dest_size) {
            snprintf(p->why, sizeof p->why,
                     "it is in phase 'identity' but DESTINATION does not show the finished copy");
            return;
        }
    } else if (!now_new) {
        snprintf(p->why, sizeof p->why,
                 "it is in phase '%s' but DESTINATION does not have the merge's new identity",
                 vf_merge_phase_name(j->phase));
        return;
    }
    vf_resume_set(p, VF_RESUME_LATER, j->phase, "");
}

void vf_resume_decide(const vf_journal *j, const vf_resume_facts *f, vf_resume_plan *p)
{
    vf_resume_set(p, VF_RESUME_REFUSE, VF_MERGE_PHASE_NONE, "");
    if (j->nlevels < 2 || j->nlevels > VF_JOURNAL_MAX_LEVELS ||
        f->nlevels > VF_JOURNAL_MAX_LEVELS || j->cursor > j->virtual_size ||
        j->phase < VF_MERGE_PHASE_COPYING || j->phase > VF_MERGE_PHASE_REMOVING) {
        snprintf(p->why, sizeof p->why, "its fields are out of range");
        return;
    }
    if (!vf_resume_request_match(j, f, p))
        return;
    if (f->dest_in_chain)
        vf_resume_in_chain(j, f, p);
    else
        vf_resume_after_copy(j, f, p);
}
