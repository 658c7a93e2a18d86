/* wire.c — Request and Response through the generated protobuf-c code.
 *
 * Design notes
 * - Zero-copy requests: a Request is packed with pack_to_buffer into a sink
 *   that turns what protobuf-c appends into gRPC slices. protobuf-c appends a
 *   bytes field's data from the field's own pointer, so when an append is
 *   exactly the frame's bytes the sink makes a slice that references the
 *   frame (holding a ref) instead of copying it; the few bytes around it
 *   (tags, lengths, scalars) are copied into small slices. Any other
 *   behaviour of protobuf-c would still encode correctly, only with a copy.
 * - Decoding flattens the byte buffer and unpacks it; the unpacked Request
 *   is kept as the owner of the image bytes (no further copy). */
#include "rpc/wire.h"

#include <grpc/slice.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object_detection.pb-c.h"
#include "rpc/grpc_util.h"
#include "rpc/tsan_annot.h"

/* ---- Request ---------------------------------------------------------- */

#define SINK_SLICES 8

typedef struct slice_sink {
    ProtobufCBuffer base; /* first: protobuf-c calls base.append */
    specx_encoded_frame *frame;
    const uint8_t *frame_data;
    size_t frame_len;
    grpc_slice slices[SINK_SLICES];
    size_t n;
    uint8_t pend[64]; /* small appends gathered into one copied slice */
    size_t npend;
    bool failed; /* out of slices: encode with a copy instead */
} slice_sink;

/* Runs on whichever gRPC thread drops the slice's last reference: gRPC
 * orders that after the slice's creation, but out of TSan's sight. */
static void frame_slice_done(void *user)
{
    SX_TSAN_ACQUIRE(user);
    specx_encoded_frame_unref(user);
}

static void sink_add(slice_sink *k, grpc_slice s)
{
    if (k->n == SINK_SLICES) {
        grpc_slice_unref(s);
        k->failed = true;
        return;
    }
    k->slices[k->n++] = s;
}

static void sink_flush(slice_sink *k)
{
    if (k->npend > 0) {
        sink_add(k, grpc_slice_from_copied_buffer((const char *)k->pend, k->npend));
        k->npend = 0;
    }
}

static void sink_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    slice_sink *k = (slice_sink *)b;
    if (len == 0 || k->failed) {
        return;
    }
    if (data == k->frame_data && len == k->frame_len) {
        sink_flush(k);
        specx_encoded_frame_ref(k->frame);
        SX_TSAN_RELEASE(k->frame); /* to frame_slice_done */
        sink_add(k, grpc_slice_new_with_user_data((void *)data, len, frame_slice_done, k->frame));
        return;
    }
    if (k->npend + len > sizeof k->pend) {
        sink_flush(k);
    }
    if (len > sizeof k->pend) {
        sink_add(k, grpc_slice_from_copied_buffer((const char *)data, len));
        return;
    }
    memcpy(k->pend + k->npend, data, len);
    k->npend += len;
}

static grpc_byte_buffer *bb_from_slices(grpc_slice *s, size_t n)
{
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(s, n);
    for (size_t i = 0; i < n; i++) {
        grpc_slice_unref(s[i]);
    }
    return bb;
}

grpc_byte_buffer *sx_rpc_message_pack(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    return bb_from_slices(&s, 1);
}

ProtobufCMessage *sx_rpc_message_unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (sx_rpc_bb_read(bb, &data, &len) != SPECX_OK) {
        return NULL;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, data);
    free(data);
    return m;
}

grpc_byte_buffer *sx_rpc_request_encode(specx_encoded_frame *frame, int32_t req_id,
                                        int64_t budget_us, bool cancel)
{
    ObjectDetection__Request req = OBJECT_DETECTION__REQUEST__INIT;
    req.req_id = req_id;
    req.deadline_budget_us = budget_us;
    req.cancel = cancel;
    slice_sink k = {.base = {.append = sink_append}, .frame = frame};
    if (frame != NULL) {
        /* protobuf-c only reads image_data while packing. */
        req.image_data.data = (uint8_t *)specx_encoded_frame_data(frame);
        req.image_data.len = specx_encoded_frame_size(frame);
        k.frame_data = req.image_data.data;
        k.frame_len = req.image_data.len;
    }
    object_detection__request__pack_to_buffer(&req, &k.base);
    sink_flush(&k);
    if (k.failed) {
        for (size_t i = 0; i < k.n; i++) {
            grpc_slice_unref(k.slices[i]);
        }
        return sx_rpc_message_pack(&req.base);
    }
    return bb_from_slices(k.slices, k.n);
}

specx_status sx_rpc_request_decode(grpc_byte_buffer *bb, sx_rpc_request *out, char *msg,
                                   size_t msglen)
{
    uint8_t *data = NULL;
    size_t len = 0;
    specx_status st = sx_rpc_bb_read(bb, &data, &len);
    if (st != SPECX_OK) {
        snprintf(msg, msglen, "cannot read the request message");
        return st == SPECX_ENOMEM ? st : SPECX_EINVAL;
    }
    ObjectDetection__Request *req = object_detection__request__unpack(NULL, len, data);
    free(data);
    if (req == NULL) {
        snprintf(msg, msglen, "request is not a valid object_detection.Request (%zu bytes)", len);
        return SPECX_EINVAL;
    }
    *out = (sx_rpc_request){.req_id = req->req_id,
                            .deadline_budget_us = req->deadline_budget_us,
                            .cancel = req->cancel,
                            .image = req->image_data.data,
                            .image_len = req->image_data.len,
                            .msg = req};
    return SPECX_OK;
}

void sx_rpc_request_clear(sx_rpc_request *r)
{
    if (r->msg != NULL) {
        object_detection__request__free_unpacked(r->msg, NULL);
    }
    *r = (sx_rpc_request){0};
}

/* ---- Response --------------------------------------------------------- */

grpc_byte_buffer *sx_rpc_response_encode(const specx_detections *det,
                                         const sx_rpc_response_info *info)
{
    bool ok = info->status == SPECX_OK;
    size_t n = ok ? det->count : 0;
    ObjectDetection__DetectedObject *objs = NULL, **ptrs = NULL;
    ObjectDetection__BoundingBox *boxes = NULL;
    if (n > 0) {
        objs = calloc(n, sizeof *objs);
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        ptrs = calloc(n, sizeof *ptrs);
        boxes = calloc(n, sizeof *boxes);
        if (objs == NULL || ptrs == NULL || boxes == NULL) {
            free(objs);
            free(ptrs);
            free(boxes);
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const specx_detection *d = &det->items[i];
        object_detection__bounding_box__init(&boxes[i]);
        boxes[i].xmin = d->xmin;
        boxes[i].xmax = d->xmax;
        boxes[i].ymin = d->ymin;
        boxes[i].ymax = d->ymax;
        object_detection__detected_object__init(&objs[i]);
        objs[i].score = d->score;
        objs[i].label = (char *)d->label;
        objs[i].box = &boxes[i];
        objs[i].class_number = d->class_id >= 0 ? d->class_id + 1 : 0;
        ptrs[i] = &objs[i];
    }
    ObjectDetection__Response resp = OBJECT_DETECTION__RESPONSE__INIT;
    resp.n_detected_objects = n;
    resp.detected_objects = ptrs;
    resp.req_id = info->req_id;
    resp.recv_time = info->recv_time;
    resp.model = (char *)det->model;
    resp.infer_ms = info->infer_ms;
    resp.queue_ms = info->queue_ms;
    if (ok) {
        resp.image_width = det->image_width;
        resp.image_height = det->image_height;
    }
    ObjectDetection__ImageSize input = OBJECT_DETECTION__IMAGE_SIZE__INIT;
    if (info->model_input_width > 0 && info->model_input_height > 0) {
        input.width = info->model_input_width;
        input.height = info->model_input_height;
        resp.model_input = &input;
    }
    if (info->with_status) {
        resp.status_code = specx_rpc_status_to_grpc(info->status);
        resp.status_message =
            (char *)(ok || info->status_message == NULL ? "" : info->status_message);
    }
    grpc_byte_buffer *bb = sx_rpc_message_pack(&resp.base);
    free(objs);
    free(ptrs);
    free(boxes);
    return bb;
}

static specx_status detections_from(const ObjectDetection__Response *r, specx_detections **out)
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

specx_status sx_rpc_response_decode(grpc_byte_buffer *bb, sx_rpc_response *out)
{
    *out = (sx_rpc_response){0};
    uint8_t *data = NULL;
    size_t len = 0;
    specx_status st = sx_rpc_bb_read(bb, &data, &len);
    if (st != SPECX_OK) {
        return st;
    }
    ObjectDetection__Response *r = object_detection__response__unpack(NULL, len, data);
    free(data);
    if (r == NULL) {
        return SPECX_EFORMAT;
    }
    out->req_id = r->req_id;
    out->status_code = r->status_code;
    out->queue_ms = r->queue_ms;
    out->infer_ms = r->infer_ms;
    if (r->model_input != NULL && r->model_input->width > 0 && r->model_input->height > 0) {
        out->model_input_width = r->model_input->width;
        out->model_input_height = r->model_input->height;
    }
    if (r->status_message != NULL) {
        snprintf(out->status_message, sizeof out->status_message, "%s", r->status_message);
    }
    st = r->status_code == 0 ? detections_from(r, &out->det) : SPECX_OK;
    object_detection__response__free_unpacked(r, NULL);
    return st;
}
