/* cmd_check.c - placeholder for 'vhdfold check' until its implementation lands. */
#include <stdio.h>

#include "cli.h"

int vf_cmd_check(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vhdfold: 'check' is not implemented yet\n");
    return VF_EXIT_USAGE;
}
