/* fuzz_server_spec.c — libFuzzer harness: the --server string parser
 * (HOST:PORT[,prio=N][,stream][,tls-ca=FILE]...). A string it accepts must
 * give a target and leave the config consistent; one it refuses must leave
 * the config untouched. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "specx/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    specx_rpc_client_config cfg, before;
    specx_rpc_client_config_init(&cfg);
    memcpy(&before, &cfg, sizeof cfg);
    specx_err err = {{0}};
    if (specx_rpc_client_config_parse(s, &cfg, &err) == SPECX_OK) {
        if (cfg.target[0] == '\0' || memchr(cfg.target, '\0', sizeof cfg.target) == NULL ||
            memchr(cfg.name, '\0', sizeof cfg.name) == NULL) {
            abort();
        }
    } else if (memcmp(&cfg, &before, sizeof cfg) != 0) {
        abort(); /* "on error *out is unchanged" */
    }
    free(s);
    return 0;
}
