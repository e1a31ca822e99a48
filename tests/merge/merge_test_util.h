/* merge_test_util.h - helpers shared by the merger's C tests (tests/unit/test_merge*.c):
 * generate a small chain through any vf_fs, name its files, digest a view, and snapshot /
 * restore / compare a set of files. Layer: tests (merger). Defined in test_merge_util.c. */
#ifndef VHDFOLD_MERGE_TEST_UTIL_H
#define VHDFOLD_MERGE_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vhdfold/vf_io.h>

#include "vf_gen.h"
#include "vf_merge.h"

#define MT_MAX_FILES 24

/* A chain of depth levels above the base, 4 MiB virtual, 512 KiB blocks, in dir. */
void mt_gen(const vf_fs *fs, const char *dir, unsigned depth, vf_gen_base base,
            vf_gen_profile profile, uint64_t seed, vf_gen_result *res);
/* A VHDX chain of depth levels above the base, 8 MiB virtual, 1 MiB blocks (the VHDX
 * minimum), 512-byte sectors, in dir. */
void mt_gen_vhdx(const vf_fs *fs, const char *dir, unsigned depth, vf_gen_base base,
                 vf_gen_profile profile, uint64_t seed, vf_gen_result *res);
/* dir/<file of generator level lvl> (0 = base). */
void mt_path(char *out, size_t n, const char *dir, const vf_gen_result *g, unsigned lvl);
/* Flat SHA-256 of the view from path (the verifier's digest); false when it does not open. */
bool mt_flat(const vf_fs *fs, const char *path, uint8_t md[32]);
bool mt_exists(const vf_fs *fs, const char *path);
void mt_remove(const vf_fs *fs, const char *path); /* missing is fine */

typedef struct mt_snap {
    size_t n;
    char *path[MT_MAX_FILES];
    uint8_t *data[MT_MAX_FILES]; /* NULL: the file did not exist */
    size_t len[MT_MAX_FILES];
} mt_snap;

/* Remember the bytes of every path (missing files are remembered as missing). */
void mt_snap_take(const vf_fs *fs, const char *const *paths, size_t n, mt_snap *s);
/* Put every file back as remembered (missing ones removed). */
void mt_snap_restore(const vf_fs *fs, const mt_snap *s);
/* Name of the first file whose bytes differ from the snapshot, or NULL. */
const char *mt_snap_changed(const vf_fs *fs, const mt_snap *s);
void mt_snap_free(mt_snap *s);

#endif
