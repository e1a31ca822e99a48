/* newfile.h - how the commands that make a file (create, convert) write it: under a temporary
 * name in the target's folder, published by one atomic step (link or rename) once complete and
 * durable, so a crash leaves the target absent (or, with replace, the old one) and at worst a
 * hidden temporary file. Also the parent paths a new child records. Layer: cli; POSIX only,
 * nothing here knows an image format. */
#ifndef VHDFOLD_CLI_NEWFILE_H
#define VHDFOLD_CLI_NEWFILE_H

#include <stdbool.h>

#include <vhdfold/vf_error.h>
#include <vhdfold/vf_image.h>
#include <vhdfold/vf_io.h>

typedef struct vf_newfile {
    char *target; /* as given */
    char *tmp;    /* "<folder>/.<name>.<pid>.vhdfold-tmp" */
    bool made;    /* tmp exists and is ours */
} vf_newfile;

/* Refuse early, before anything is written: a target that exists (unless replace, and then
 * only a regular file; hint, appended to the refusal, may say how to replace it), or whose
 * folder is missing or not writable. Errors: VF_E_INVAL naming the file, VF_E_IO (the folder). */
vf_status vf_newfile_check(const char *target, bool replace, const char *hint, vf_error *err);

/* Create the temporary file (exclusive, read-write) for target; *io is yours. */
vf_status vf_newfile_begin(vf_newfile *nf, const char *target, vf_io **io, vf_error *err);

/* Give the (complete, synced, closed) temporary file the target's name: link + unlink, which
 * fails when the target appeared meanwhile, or rename when replace; then sync the folder. */
vf_status vf_newfile_publish(vf_newfile *nf, bool replace, vf_error *err);

/* Remove the temporary file when it was not published; free the names. */
void vf_newfile_end(vf_newfile *nf);

/* The paths a child in child_path's folder records for its parent parent_path (which must
 * exist): *rel relative to the child's folder, *abs absolute (symbolic links resolved). Both
 * yours: free() them. Errors: VF_E_IO (a folder cannot be resolved), VF_E_NOMEM. */
vf_status vf_parent_paths(const char *child_path, const char *parent_path, char **rel, char **abs,
                          vf_error *err);

/* The format whose driver name is file's extension, any case ("a.VHDX": vhdx), or
 * VF_FORMAT_NONE. */
vf_format_kind vf_format_of_name(const char *file);

/* Whether a and b name the same file (device and inode); false when either is missing. */
bool vf_same_file(const char *a, const char *b);

#endif
