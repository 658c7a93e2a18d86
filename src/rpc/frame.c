/* frame.c — the refcounted encoded frame shared by every server a frame goes to. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "specx/rpc.h"

struct specx_encoded_frame {
    atomic_int refs;
    size_t len;
    uint8_t *data;
};

specx_status specx_encoded_frame_take(void *data, size_t len, specx_encoded_frame **out)
{
    if (out == NULL || (data == NULL && len > 0)) {
        return SPECX_EINVAL;
    }
    specx_encoded_frame *f = malloc(sizeof *f);
    if (f == NULL) {
        return SPECX_ENOMEM;
    }
    atomic_init(&f->refs, 1);
    f->len = len;
    f->data = data;
    *out = f;
    return SPECX_OK;
}

specx_status specx_encoded_frame_copy(const void *data, size_t len, specx_encoded_frame **out)
{
    if (out == NULL || (data == NULL && len > 0)) {
        return SPECX_EINVAL;
    }
    uint8_t *copy = malloc(len > 0 ? len : 1);
    if (copy == NULL) {
        return SPECX_ENOMEM;
    }
    if (len > 0) {
        memcpy(copy, data, len);
    }
    specx_status st = specx_encoded_frame_take(copy, len, out);
    if (st != SPECX_OK) {
        free(copy);
    }
    return st;
}

specx_encoded_frame *specx_encoded_frame_ref(specx_encoded_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void specx_encoded_frame_unref(specx_encoded_frame *f)
{
    if (f == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        free(f->data);
        free(f);
    }
}

const uint8_t *specx_encoded_frame_data(const specx_encoded_frame *f)
{
    return f->data;
}

size_t specx_encoded_frame_size(const specx_encoded_frame *f)
{
    return f->len;
}

void specx_encoded_frame_request_free(void *request, void *user)
{
    (void)user;
    specx_encoded_frame_unref(request);
}
