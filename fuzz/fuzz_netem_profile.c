/* fuzz_netem_profile.c — libFuzzer harness: the netem profile parser on
 * arbitrary text; a profile it accepts then drives a simulated link (the
 * proxy's own delay, capacity and outage code on a virtual clock) for a
 * few seconds of traffic both ways, whose arrivals must be times, in
 * order, not before their sends. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "specx/netem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    specx_netem_profile *p = NULL;
    specx_err err = {{0}};
    specx_status st = specx_netem_profile_parse(text, "fuzz", NULL, &p, &err);
    free(text);
    if (st != SPECX_OK) {
        return 0;
    }
    specx_netem_sim *sim = NULL;
    if (specx_netem_sim_create(p, 1, &sim, &err) == SPECX_OK) {
        specx_time_t last[2] = {0, 0};
        for (int i = 0; i < 60; i++) {
            specx_netem_dir d = i % 2 ? SPECX_NETEM_DOWN : SPECX_NETEM_UP;
            specx_time_t sent = (specx_time_t)i * SPECX_MS(50);
            specx_time_t arrival = 0;
            size_t bytes = d == SPECX_NETEM_UP ? 33300 : 1000;
            if (specx_netem_sim_send(sim, d, sent, bytes, &arrival, &err) != SPECX_OK) {
                abort(); /* sends in time order are always accepted */
            }
            if (arrival < sent || arrival < last[d]) {
                abort();
            }
            last[d] = arrival;
        }
        specx_netem_sim_destroy(sim);
    }
    specx_netem_profile_free(p);
    return 0;
}
