/* cmd_conform.c - placeholder for 'vhdfold conform' until its implementation lands. */
#include <stdio.h>

#include "cli.h"

int vf_cmd_conform(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vhdfold: 'conform' is not implemented yet\n");
    return VF_EXIT_USAGE;
}
