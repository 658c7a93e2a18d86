/* client_key.c — whom a call counts against in the fair work queue
 * (serve/queue.h): an authenticated identity, a trusted proxy's header, or
 * the connection. */
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <stdio.h>
#include <string.h>

#include "serve/server.h"

/* The value of header `name` in md, or false. */
static bool header_value(const grpc_metadata_array *md, const char *name, char *out, size_t n)
{
    for (size_t i = 0; md != NULL && i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, name) == 0) {
            sx_rpc_slice_to_buf(md->metadata[i].value, out, n);
            return out[0] != '\0';
        }
    }
    return false;
}

void sx_serve_client_key(const specx_server *srv, grpc_call *call, const grpc_metadata_array *md,
                         const char *identity, char *out, size_t n)
{
    /* Prefixes keep the three kinds apart: a header cannot pose as a
     * connection or as an identity. */
    if (identity != NULL && identity[0] != '\0') {
        snprintf(out, n, "id:%s", identity);
        return;
    }
    const char *hdr = srv->cfg.client_key_header;
    char val[SX_SERVE_CLIENT_KEY_MAX];
    if (hdr != NULL && hdr[0] != '\0' && header_value(md, hdr, val, sizeof val)) {
        snprintf(out, n, "hdr:%s", val);
        return;
    }
    char *peer = grpc_call_get_peer(call);
    snprintf(out, n, "peer:%s", peer != NULL ? peer : "");
    gpr_free(peer);
}
