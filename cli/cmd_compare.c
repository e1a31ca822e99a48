/* cmd_compare.c - placeholder for 'vhdfold compare' until its implementation lands. */
#include <stdio.h>

#include "cli.h"

int vf_cmd_compare(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vhdfold: 'compare' is not implemented yet\n");
    return VF_EXIT_USAGE;
}
