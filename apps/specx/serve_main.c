/* serve_main.c — `specx-serve`: the detection server alone, the same
 * options as `specx serve`. It links no part of the vehicle side and no
 * FFmpeg: a server host or image needs fewer libraries, and the process
 * runs under valgrind, which cannot execute the RDTSCP that libhwy (pulled
 * in by FFmpeg through libjxl) runs in a constructor. */
#include "commands.h"

int main(int argc, char **argv)
{
    return specx_cmd_serve(argc, argv);
}
