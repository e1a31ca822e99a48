/* opts_int.h - how the library takes in an options struct that may come from a caller built
 * against an older or newer header (docs/library.md "Growing structs"). Layer: every layer of
 * libvhdfold (format, verify, gen, merger) includes it; never installed. */
#ifndef VHDFOLD_OPTS_INT_H
#define VHDFOLD_OPTS_INT_H

#include <stddef.h>

#include <vhdfold/vf_chain.h>
#include <vhdfold/vf_error.h>
#include <vhdfold/vf_gen.h>
#include <vhdfold/vf_image.h>
#include <vhdfold/vf_merge.h>
#include <vhdfold/vf_verify.h>

/* The size of the first published version of a struct: the end of its field last. */
#define VF_OPTS_V1_SIZE(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))

/* The first published version of each struct (0.1): a caller's struct_size is at least this.
 * Never change these; fields added later are past them. */
#define VF_CHAIN_OPTS_V1 VF_OPTS_V1_SIZE(vf_chain_opts, nnamed)
#define VF_CREATE_OPTS_V1 VF_OPTS_V1_SIZE(vf_create_opts, flags)
#define VF_VERIFY_OPTS_V1 VF_OPTS_V1_SIZE(vf_verify_opts, tree_batch)
#define VF_GEN_OPTS_V1 VF_OPTS_V1_SIZE(vf_gen_opts, progress_ctx)
#define VF_MERGE_OPTS_V1 VF_OPTS_V1_SIZE(vf_merge_opts, parent_dir)

/* Fill the caller's struct o of `size` bytes (what its header said) with the library's
 * defaults in def (lib_size bytes): the common prefix is copied, bytes past lib_size are
 * zeroed, and struct_size (the first member, a size_t) records size. */
void vf_opts_fill(void *o, size_t size, const void *def, size_t lib_size);

/* Copy the caller's struct src over dst (lib_size bytes, already holding the defaults), as
 * many bytes as both know; dst's struct_size becomes lib_size. VF_E_INVAL when src's
 * struct_size is below min_size (not filled by the init macro: 0, or garbage);
 * VF_E_UNSUPPORTED when it is larger than lib_size and a byte past lib_size is set (a field
 * this library does not know). what names the struct in the message. */
vf_status vf_opts_adopt(void *dst, size_t lib_size, const void *src, size_t min_size,
                        const char *what, vf_error *err);

#endif
