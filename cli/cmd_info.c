/* cmd_info.c - placeholder for 'vhdfold info' until its implementation lands. */
#include <stdio.h>

#include "cli.h"

int vf_cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vhdfold: 'info' is not implemented yet\n");
    return VF_EXIT_USAGE;
}
