/* chain_map.c - test helper: print the flattened runs of a chain as nbdinfo --map does
 * ("OFFSET LENGTH TYPE": 0 data, 2 zero, 3 hole,zero), from vf_chain_map over every level.
 * Layer: tests (links only the public library, as the nbdkit plugin does). */
#include <inttypes.h>
#include <stdio.h>

#include <vhdfold/vf_chain.h>

static unsigned type_of(vf_extent_kind kind)
{
    return kind == VF_EXTENT_PRESENT ? 0u : kind == VF_EXTENT_ZERO ? 2u : 3u;
}

int main(int argc, char **argv)
{
    vf_chain *c;
    vf_error err;
    vf_chain_opts opts;
    vf_chain_opts_init(&opts);
    if (argc != 2) {
        fprintf(stderr, "usage: chain_map TOP\n");
        return 2;
    }
    if (vf_chain_open(argv[1], &opts, &c, &err) != VF_OK) {
        fprintf(stderr, "chain_map: %s\n", err.msg);
        return 1;
    }
    uint64_t size = vf_chain_virtual_size(c), pos = 0;
    while (pos < size) {
        vf_chain_extent e;
        if (vf_chain_map(c, 0, vf_chain_depth(c) - 1, pos, size - pos, &e, &err) != VF_OK) {
            fprintf(stderr, "chain_map: %s\n", err.msg);
            vf_chain_close(c);
            return 1;
        }
        printf("%" PRIu64 " %" PRIu64 " %u\n", e.voff, e.len, type_of(e.kind));
        pos = e.voff + e.len;
    }
    vf_chain_close(c);
    return 0;
}
