/* cmd_export.c - placeholder for 'vhdfold export' until its implementation lands. */
#include <stdio.h>

#include "cli.h"

int vf_cmd_export(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vhdfold: 'export' is not implemented yet\n");
    return VF_EXIT_USAGE;
}
