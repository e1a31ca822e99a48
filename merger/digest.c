/* digest.c - digests of a chain's flattened view for merge --verify and --child checks:
 * flat (SHA-256 of the bytes) and tree (docs/tree-digest.md, blocks no level holds cost
 * nothing). Layer: merger; to be replaced by verify/'s digest API once it lands.
 * Memory: one 2 MiB buffer whatever the virtual size. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "merge_int.h"

#define VF_TREE_BLOCK (2u * 1024u * 1024u)

static vf_status vf_digest_flat(vf_chain *c, uint64_t size, uint8_t *buf, vf_sha256 *h,
                                uint8_t md[VF_SHA256_LEN], vf_error *err)
{
    vf_status st = VF_OK;
    for (uint64_t voff = 0; voff < size && st == VF_OK;) {
        size_t n = size - voff < VF_TREE_BLOCK ? (size_t)(size - voff) : VF_TREE_BLOCK;
        if ((st = vf_chain_read(c, voff, buf, n, err)) == VF_OK)
            st = vf_sha256_update(h, buf, n, err);
        voff += n;
    }
    return st == VF_OK ? vf_sha256_final(h, md, err) : st;
}

/* True when no level of c defines any byte of [voff, voff+len): all zeros, nothing read. */
static vf_status vf_digest_block_absent(vf_chain *c, uint64_t voff, uint64_t len, bool *absent,
                                        vf_error *err)
{
    vf_chain_extent ext;
    vf_status st = vf_chain_map(c, 0, vf_chain_depth(c) - 1, voff, len, &ext, err);
    *absent = st == VF_OK && ext.kind != VF_EXTENT_PRESENT && ext.voff == voff && ext.len >= len;
    return st;
}

static vf_status vf_digest_tree(vf_chain *c, uint64_t size, uint8_t *buf, vf_sha256 *h,
                                uint8_t md[VF_SHA256_LEN], vf_error *err)
{
    uint8_t zero_leaf[VF_SHA256_LEN], leaf[VF_SHA256_LEN], head[32] = "vhdfold-tree-v1";
    vf_put_le64(head + 16, size);
    vf_put_le32(head + 24, VF_TREE_BLOCK);
    vf_sha256 *lh;
    vf_status st = vf_sha256_new(&lh, err);
    if (st != VF_OK)
        return st;
    if ((st = vf_sha256_update_zeros(lh, VF_TREE_BLOCK, err)) == VF_OK &&
        (st = vf_sha256_final(lh, zero_leaf, err)) == VF_OK)
        st = vf_sha256_update(h, head, sizeof head, err);
    for (uint64_t voff = 0; voff < size && st == VF_OK;) {
        size_t n = size - voff < VF_TREE_BLOCK ? (size_t)(size - voff) : VF_TREE_BLOCK;
        bool absent = false;
        if ((st = vf_digest_block_absent(c, voff, n, &absent, err)) != VF_OK)
            break;
        if (absent && n == VF_TREE_BLOCK) {
            memcpy(leaf, zero_leaf, sizeof leaf);
        } else if (absent) {
            if ((st = vf_sha256_update_zeros(lh, n, err)) == VF_OK)
                st = vf_sha256_final(lh, leaf, err);
        } else if ((st = vf_chain_read(c, voff, buf, n, err)) == VF_OK &&
                   (st = vf_sha256_update(lh, buf, n, err)) == VF_OK) {
            st = vf_sha256_final(lh, leaf, err);
        }
        if (st == VF_OK)
            st = vf_sha256_update(h, leaf, sizeof leaf, err);
        voff += n;
    }
    vf_sha256_free(lh);
    return st == VF_OK ? vf_sha256_final(h, md, err) : st;
}

vf_status vf_merge_digest(vf_chain *c, vf_merge_verify mode, uint64_t size,
                          uint8_t md[VF_SHA256_LEN], vf_error *err)
{
    uint8_t *buf = malloc(VF_TREE_BLOCK);
    vf_sha256 *h = NULL;
    vf_status st =
        buf ? vf_sha256_new(&h, err) : VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "digest buffer");
    if (st == VF_OK)
        st = mode == VF_MERGE_VERIFY_FLAT ? vf_digest_flat(c, size, buf, h, md, err)
                                          : vf_digest_tree(c, size, buf, h, md, err);
    vf_sha256_free(h);
    free(buf);
    return st;
}

vf_status vf_merge_first_diff(vf_chain *a, vf_chain *b, uint64_t size, bool *found, uint64_t *voff,
                              vf_error *err)
{
    *found = false;
    *voff = 0;
    uint8_t *ba = malloc(VF_TREE_BLOCK), *bb = malloc(VF_TREE_BLOCK);
    vf_status st = ba && bb ? VF_OK : VF_FAIL_ERRNO(err, ENOMEM, VF_OFF_NONE, "compare buffers");
    for (uint64_t off = 0; off < size && st == VF_OK && !*found;) {
        size_t n = size - off < VF_TREE_BLOCK ? (size_t)(size - off) : VF_TREE_BLOCK;
        if ((st = vf_chain_read(a, off, ba, n, err)) == VF_OK &&
            (st = vf_chain_read(b, off, bb, n, err)) == VF_OK && memcmp(ba, bb, n) != 0) {
            size_t i = 0;
            while (ba[i] == bb[i])
                i++;
            *found = true;
            *voff = off + i;
        }
        off += n;
    }
    free(ba);
    free(bb);
    return st;
}
