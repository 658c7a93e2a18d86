/* convert.c — conversions between specx and gRPC: deadlines, status codes,
 * byte buffers, and the Request/Response wire messages. */
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/status.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

gpr_timespec rpc_deadline_to_gpr(specx_time_t deadline)
{
    if (deadline == SPECX_TIME_NEVER) {
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    }
    /* gRPC's monotonic clock has its own epoch: convert through "time left". */
    specx_dur_t left = deadline - specx_time_now();
    if (left < 0) {
        left = 0;
    }
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(left, GPR_TIMESPAN));
}

specx_time_t rpc_deadline_from_gpr(gpr_timespec t)
{
    if (gpr_time_cmp(t, gpr_inf_future(t.clock_type)) == 0) {
        return SPECX_TIME_NEVER;
    }
    gpr_timespec mono = gpr_convert_clock_type(t, GPR_CLOCK_MONOTONIC);
    gpr_timespec left = gpr_time_sub(mono, gpr_now(GPR_CLOCK_MONOTONIC));
    int64_t ns = left.tv_sec * 1000000000 + left.tv_nsec;
    return specx_time_add(specx_time_now(), ns);
}

specx_status specx_rpc_status_from_grpc(int code)
{
    switch ((grpc_status_code)code) {
    case GRPC_STATUS_OK:
        return SPECX_OK;
    case GRPC_STATUS_CANCELLED:
        return SPECX_ECANCELED;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return SPECX_ETIMEDOUT;
    case GRPC_STATUS_INVALID_ARGUMENT:
        return SPECX_EINVAL;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return SPECX_EBUSY;
    case GRPC_STATUS_NOT_FOUND:
        return SPECX_ENOTFOUND;
    case GRPC_STATUS_UNIMPLEMENTED:
        return SPECX_EUNSUPPORTED;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_ABORTED:
    case GRPC_STATUS_UNAUTHENTICATED:
    case GRPC_STATUS_PERMISSION_DENIED:
        return SPECX_EUNAVAILABLE;
    case GRPC_STATUS_FAILED_PRECONDITION:
        return SPECX_ESTOPPED;
    default:
        return SPECX_EINTERNAL;
    }
}

int specx_rpc_status_to_grpc(specx_status st)
{
    switch (st) {
    case SPECX_OK:
        return GRPC_STATUS_OK;
    case SPECX_EINVAL:
    case SPECX_EFORMAT:
    case SPECX_EUNSUPPORTED:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case SPECX_ETOOBIG:
    case SPECX_EBUSY:
    case SPECX_ENOMEM:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case SPECX_ETIMEDOUT:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case SPECX_ECANCELED:
        return GRPC_STATUS_CANCELLED;
    case SPECX_ESTOPPED:
    case SPECX_EUNAVAILABLE:
        return GRPC_STATUS_UNAVAILABLE;
    case SPECX_ENOTFOUND:
        return GRPC_STATUS_NOT_FOUND;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

specx_status rpc_bb_read(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    grpc_byte_buffer_reader rd;
    if (!grpc_byte_buffer_reader_init(&rd, bb)) {
        return SPECX_EFORMAT;
    }
    size_t total = grpc_byte_buffer_length(bb);
    uint8_t *buf = malloc(total > 0 ? total : 1);
    if (buf == NULL) {
        grpc_byte_buffer_reader_destroy(&rd);
        return SPECX_ENOMEM;
    }
    size_t off = 0;
    grpc_slice s;
    while (grpc_byte_buffer_reader_next(&rd, &s)) {
        size_t n = GRPC_SLICE_LENGTH(s);
        if (off + n <= total) {
            memcpy(buf + off, GRPC_SLICE_START_PTR(s), n);
        }
        off += n;
        grpc_slice_unref(s);
    }
    grpc_byte_buffer_reader_destroy(&rd);
    *out = buf;
    *len = off <= total ? off : total;
    return SPECX_OK;
}

grpc_byte_buffer *rpc_bb_from_copy(const void *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static void frame_slice_done(void *user)
{
    specx_encoded_frame_unref(user);
}

grpc_byte_buffer *rpc_bb_request(specx_encoded_frame *frame, int32_t req_id, int64_t budget_us,
                                 bool cancel)
{
    /* Request{image_data=1, req_id=2, deadline_budget_us=3, cancel=4} encoded
     * by hand around the frame bytes so that they are referenced, not copied. */
    uint8_t head[16], tail[32];
    size_t nh = 0, nt = 0;
    size_t len = frame != NULL ? specx_encoded_frame_size(frame) : 0;
    if (len > 0) {
        head[nh++] = 0x0a;
        nh += put_varint(head + nh, len);
    }
    if (req_id != 0) {
        tail[nt++] = 0x10;
        nt += put_varint(tail + nt, (uint64_t)(int64_t)req_id);
    }
    if (budget_us != 0) {
        tail[nt++] = 0x18;
        nt += put_varint(tail + nt, (uint64_t)budget_us);
    }
    if (cancel) {
        tail[nt++] = 0x20;
        tail[nt++] = 0x01;
    }
    grpc_slice s[3];
    size_t n = 0;
    if (nh > 0) {
        s[n++] = grpc_slice_from_copied_buffer((const char *)head, nh);
        s[n++] = grpc_slice_new_with_user_data((void *)specx_encoded_frame_data(frame), len,
                                               frame_slice_done, specx_encoded_frame_ref(frame));
    }
    if (nt > 0) {
        s[n++] = grpc_slice_from_copied_buffer((const char *)tail, nt);
    }
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(s, n);
    for (size_t i = 0; i < n; i++) {
        grpc_slice_unref(s[i]);
    }
    return bb;
}

specx_status rpc_response_to_detections(const ObjectDetection__Response *r, specx_detections **out)
{
    specx_detections *d = specx_detections_create();
    if (d == NULL) {
        return SPECX_ENOMEM;
    }
    for (size_t i = 0; i < r->n_detected_objects; i++) {
        const ObjectDetection__DetectedObject *o = r->detected_objects[i];
        specx_detection it = {.class_id = o->class_number - 1, .score = o->score};
        if (o->label != NULL) {
            snprintf(it.label, sizeof it.label, "%s", o->label);
        }
        if (o->box != NULL) {
            it.xmin = o->box->xmin;
            it.xmax = o->box->xmax;
            it.ymin = o->box->ymin;
            it.ymax = o->box->ymax;
        }
        if (specx_detections_push(d, &it) != SPECX_OK) {
            specx_detections_destroy(d);
            return SPECX_ENOMEM;
        }
    }
    if (r->model != NULL) {
        snprintf(d->model, sizeof d->model, "%s", r->model);
    }
    d->image_width = r->image_width;
    d->image_height = r->image_height;
    d->infer_ms = r->infer_ms;
    *out = d;
    return SPECX_OK;
}

void rpc_slice_to_buf(grpc_slice s, char *buf, size_t n)
{
    size_t len = GRPC_SLICE_LENGTH(s);
    if (len >= n) {
        len = n - 1;
    }
    memcpy(buf, GRPC_SLICE_START_PTR(s), len);
    buf[len] = '\0';
}

void rpc_global_init(void)
{
    grpc_init();
}

void rpc_global_shutdown(void)
{
    grpc_shutdown_blocking();
}
