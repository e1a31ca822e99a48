/* cmd_digest.c - placeholder for 'vhdfold digest' until its implementation lands. */
#include <stdio.h>

#include "cli.h"

int vf_cmd_digest(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vhdfold: 'digest' is not implemented yet\n");
    return VF_EXIT_USAGE;
}
