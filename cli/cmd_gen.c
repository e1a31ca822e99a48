/* cmd_gen.c - placeholder for 'vhdfold gen' until its implementation lands. */
#include <stdio.h>

#include "cli.h"

int vf_cmd_gen(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vhdfold: 'gen' is not implemented yet\n");
    return VF_EXIT_USAGE;
}
