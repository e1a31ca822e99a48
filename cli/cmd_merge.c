/* cmd_merge.c - placeholder for 'vhdfold merge' until its implementation lands. */
#include <stdio.h>

#include "cli.h"

int vf_cmd_merge(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vhdfold: 'merge' is not implemented yet\n");
    return VF_EXIT_USAGE;
}
