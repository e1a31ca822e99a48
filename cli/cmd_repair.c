/* cmd_repair.c - 'vhdfold repair FILE [--dry-run]': the repairs that cannot lose data
 * (vf_image_repair: a VHD trailing footer restored from its copy at offset 0, a VHDX pending log
 * replayed, a VHDX header copy re-synced), each printed before it is made; anything else is
 * refused as "cannot repair safely". Layer: cli; the format knowledge is in the drivers. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "output.h"

typedef struct vf_repair_args {
    vf_cli_common co;
    bool dry_run;
    const char *file;
} vf_repair_args;

static const vf_opt vf_repair_opts[] = {
    {.name = "dry-run",
     .short_name = 'n',
     .type = VF_OPT_FLAG,
     .offset = offsetof(vf_repair_args, dry_run),
     .help = "list the repairs; write nothing"},
    {.name = NULL},
};

static const vf_opt_positional vf_repair_positionals[] = {
    {"FILE", "the VHD or VHDX image to repair (only this file is written; its parents are "
             "read only to look for a merge journal)"},
    {NULL, NULL},
};

static const vf_opt_group vf_repair_groups[] = {
    {vf_repair_opts, 0},
    {vf_cli_output_opts, offsetof(vf_repair_args, co)},
    {NULL, 0},
};

const vf_cmd_spec vf_repair_spec = {
    .name = "repair",
    .summary = "make the repairs that cannot lose data",
    .synopsis = "[options] FILE",
    .description =
        "Repair FILE only where no data can be lost, listing each repair before making it: a "
        "dynamic or differencing VHD whose trailing footer is missing (the file cut short) or "
        "damaged gets it back from the copy at offset 0, and one whose copy at offset 0 differs "
        "from a valid trailing footer (a crash between a resize's two footer writes) gets the "
        "copy rewritten from the trailing footer; a VHDX with a pending log has it "
        "replayed; a VHDX header copy that does not validate is rewritten from the good one. "
        "Each repair is checked on a preview of the result before anything is written, and the "
        "image is re-opened afterwards. Any other damage is refused with \"cannot repair "
        "safely\" and nothing written, and so is a FILE in a chain with a pending or running "
        "merge. 'vhdfold check' says when repair would help.",
    .positionals = vf_repair_positionals,
    .groups = vf_repair_groups,
    .exit_status = "0 repaired, nothing to repair, or --dry-run listed the repairs; 2 usage, or "
                   "a merge journal binds FILE's chain; 3 cannot repair safely (or not a "
                   "virtual disk); 4 system error.",
};

static void vf_repair_json(const vf_repair_args *a, const vf_repair_plan *p, bool done, int code)
{
    json_t *o = vf_json_begin("repair");
    json_object_set_new(o, "status", json_integer(p->unsafe ? VF_E_CORRUPT : 0));
    json_object_set_new(o, "exit", json_integer(code));
    json_object_set_new(o, "file", vf_json_text(a->file));
    json_object_set_new(o, "dry_run", json_boolean(a->dry_run));
    json_t *acts = json_array();
    for (size_t i = 0; i < p->nactions; i++)
        json_array_append_new(acts, vf_json_text(p->action[i]));
    json_object_set_new(o, "actions", acts);
    json_object_set_new(o, "repaired", json_boolean(done));
    if (p->unsafe) {
        vf_error e;
        vf_error_clear(&e);
        vf_fail(&e, VF_E_CORRUPT, VF_OFF_NONE, "repair", "cannot repair safely: %s", p->unsafe_why);
        json_object_set_new(o, "error", vf_json_error(&e));
    }
    vf_json_print(o);
}

static void vf_repair_list(const vf_repair_args *a, const vf_repair_plan *p)
{
    if (a->co.json)
        return;
    if (p->nactions == 0 && !p->unsafe)
        printf("'%s': nothing to repair\n", a->file);
    for (size_t i = 0; i < p->nactions; i++) {
        printf("%s: ", a->dry_run ? "would repair" : "repairing");
        vf_cli_puts_text(p->action[i]);
        printf("\n");
    }
    fflush(stdout);
}

static int vf_repair_go(const vf_repair_args *a, vf_io *io)
{
    vf_error err;
    vf_error_clear(&err);
    vf_repair_plan plan;
    vf_status st = vf_image_repair(io, a->file, false, &plan, &err);
    if (st == VF_E_FORMAT) { /* no format recognises the file: nothing to build a repair on */
        plan.unsafe = true;
        snprintf(plan.unsafe_why, sizeof plan.unsafe_why, "%s", err.msg);
        st = VF_OK;
    }
    if (st != VF_OK)
        return vf_cli_fail("repair", a->file, &err, a->co.json);
    if (plan.unsafe) {
        fprintf(stderr, "vhdfold: repair: cannot repair safely: %s\n", plan.unsafe_why);
        if (a->co.json)
            vf_repair_json(a, &plan, false, VF_EXIT_CORRUPT);
        return VF_EXIT_CORRUPT;
    }
    vf_repair_list(a, &plan);
    bool done = false;
    if (plan.nactions && !a->dry_run) {
        vf_repair_plan made;
        if ((st = vf_image_repair(io, a->file, true, &made, &err)) != VF_OK)
            return vf_cli_fail("repair", a->file, &err, a->co.json);
        done = true;
        if (!a->co.json)
            printf("'%s': repaired (%zu repair%s)\n", a->file, made.nactions,
                   made.nactions == 1 ? "" : "s");
    } else if (plan.nactions && !a->co.json) {
        printf("nothing written (--dry-run)\n");
    }
    if (a->co.json)
        vf_repair_json(a, &plan, done, VF_EXIT_OK);
    return VF_EXIT_OK;
}

int vf_cmd_repair(int argc, char **argv)
{
    vf_repair_args a;
    memset(&a, 0, sizeof a);
    char *pos[1];
    int r = vf_opts_parse(&vf_repair_spec, argc, argv, &a, pos, 1);
    if (r >= 0)
        return r;
    a.file = pos[0];
    vf_error err;
    vf_error_clear(&err);
    /* a level of a pending or running merge: the rerun that finishes it checks the file as
     * the journal recorded it (even --dry-run says so: it tells what repair would do) */
    vf_status st = vf_cli_refuse_pending(a.file, "repair", &err);
    if (st != VF_OK)
        return vf_cli_fail("repair", a.file, &err, a.co.json);
    vf_io *io;
    st = vf_io_file_open(a.file, a.dry_run ? VF_IO_RDONLY : VF_IO_RDWR, &io, &err);
    if (st == VF_OK && (st = vf_io_lock(io, !a.dry_run, &err)) != VF_OK)
        vf_io_close(io);
    if (st != VF_OK)
        return vf_cli_fail("repair", a.file, &err, a.co.json);
    r = vf_repair_go(&a, io);
    vf_io_close(io);
    return r;
}
