/* test_rpc_wire.c — the wire messages (src/rpc/wire.h) without a network:
 * Request and Response round trips through the generated protobuf-c code,
 * field numbers on the wire as in proto/object_detection.proto, and the
 * zero-copy request path (the frame's bytes are referenced, not copied). */
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/grpc_util.h"
#include "rpc/wire.h"

static grpc_slice_buffer *slices_of(grpc_byte_buffer *bb)
{
    assert_int_equal(bb->type, GRPC_BB_RAW);
    return &bb->data.raw.slice_buffer;
}

/* The whole message as one malloc'd block. */
static uint8_t *flat(grpc_byte_buffer *bb, size_t *len)
{
    uint8_t *data;
    assert_int_equal(sx_rpc_bb_read(bb, &data, len), SPECX_OK);
    return data;
}

static void test_request_references_frame(void **state)
{
    (void)state;
    uint8_t *bytes = malloc(33300);
    assert_non_null(bytes);
    for (size_t i = 0; i < 33300; i++) {
        bytes[i] = (uint8_t)(i * 7);
    }
    specx_encoded_frame *f;
    assert_int_equal(specx_encoded_frame_take(bytes, 33300, &f), SPECX_OK);
    grpc_byte_buffer *bb = sx_rpc_request_encode(f, 42, 250000, false);
    assert_non_null(bb);
    /* One slice is the frame itself: no copy of the image. */
    grpc_slice_buffer *sb = slices_of(bb);
    int refs_frame = 0;
    for (size_t i = 0; i < sb->count; i++) {
        if (GRPC_SLICE_START_PTR(sb->slices[i]) == bytes) {
            assert_int_equal(GRPC_SLICE_LENGTH(sb->slices[i]), 33300);
            refs_frame++;
        }
    }
    assert_int_equal(refs_frame, 1);
    /* The buffer keeps the frame alive after its owner lets go (ASan would
     * report a use after free below otherwise). */
    specx_encoded_frame_unref(f);
    sx_rpc_request r;
    char msg[128];
    assert_int_equal(sx_rpc_request_decode(bb, &r, msg, sizeof msg), SPECX_OK);
    assert_int_equal(r.req_id, 42);
    assert_int_equal(r.deadline_budget_us, 250000);
    assert_false(r.cancel);
    assert_int_equal(r.image_len, 33300);
    assert_int_equal(r.image[33299], (uint8_t)(33299 * 7));
    assert_memory_equal(r.image, bytes, 33300);
    sx_rpc_request_clear(&r);
    sx_rpc_bb_free(bb);
}

static void test_request_wire_format(void **state)
{
    (void)state;
    /* A stream's cancel message: no image; req_id=2 (varint), budget=3,
     * cancel=4 — the numbers the original protocol and its extension use. */
    grpc_byte_buffer *bb = sx_rpc_request_encode(NULL, 5, 100, true);
    size_t len;
    uint8_t *data = flat(bb, &len);
    const uint8_t want[] = {0x10, 0x05, 0x18, 0x64, 0x20, 0x01};
    assert_int_equal(len, sizeof want);
    assert_memory_equal(data, want, sizeof want);
    free(data);
    sx_rpc_bb_free(bb);

    /* image_data is field 1, length-delimited, before the others. */
    specx_encoded_frame *f;
    assert_int_equal(specx_encoded_frame_copy("\x89PNG", 4, &f), SPECX_OK);
    bb = sx_rpc_request_encode(f, 1, 0, false);
    specx_encoded_frame_unref(f);
    data = flat(bb, &len);
    const uint8_t want2[] = {0x0a, 0x04, 0x89, 'P', 'N', 'G', 0x10, 0x01};
    assert_int_equal(len, sizeof want2);
    assert_memory_equal(data, want2, sizeof want2);
    free(data);
    sx_rpc_bb_free(bb);
}

static void test_request_not_a_request(void **state)
{
    (void)state;
    static const char garbage[] = "\xff\xff\xff\xff garbage";
    grpc_byte_buffer *bb = sx_rpc_bb_from((const uint8_t *)garbage, sizeof garbage - 1);
    sx_rpc_request r = {0};
    char msg[128] = "";
    assert_int_equal(sx_rpc_request_decode(bb, &r, msg, sizeof msg), SPECX_EINVAL);
    assert_non_null(strstr(msg, "not a valid object_detection.Request"));
    assert_null(r.msg);
    sx_rpc_bb_free(bb);
}

static void test_response_round_trip(void **state)
{
    (void)state;
    specx_detections det;
    specx_detections_init(&det);
    specx_detection a = {.class_id = 0, .score = 0.5f, .xmin = 1, .xmax = 2, .ymin = 3, .ymax = 4};
    specx_detection b = {
        .class_id = -1, .score = 0.25f, .xmin = 5, .xmax = 6, .ymin = 7, .ymax = 8};
    strcpy(a.label, "person");
    strcpy(b.label, "thing");
    assert_int_equal(specx_detections_push(&det, &a), SPECX_OK);
    assert_int_equal(specx_detections_push(&det, &b), SPECX_OK);
    strcpy(det.model, "yolo");
    det.image_width = 640;
    det.image_height = 480;
    sx_rpc_response_info info = {
        .req_id = 9, .recv_time = 1.5, .infer_ms = 12.5, .queue_ms = 1, .status = SPECX_OK};
    grpc_byte_buffer *bb = sx_rpc_response_encode(&det, &info);
    sx_rpc_response r;
    assert_int_equal(sx_rpc_response_decode(bb, &r), SPECX_OK);
    sx_rpc_bb_free(bb);
    assert_int_equal(r.req_id, 9);
    assert_int_equal(r.status_code, 0);
    assert_non_null(r.det);
    assert_int_equal(r.det->count, 2);
    /* class ids travel as id + 1 (0 = not sent), so class 0 and "none" (-1)
     * both survive */
    assert_int_equal(r.det->items[0].class_id, 0);
    assert_int_equal(r.det->items[1].class_id, -1);
    assert_string_equal(r.det->items[0].label, "person");
    assert_true(r.det->items[1].xmin == 5 && r.det->items[1].ymax == 8);
    assert_string_equal(r.det->model, "yolo");
    assert_int_equal(r.det->image_width, 640);
    assert_int_equal(r.det->image_height, 480);
    assert_true(r.det->infer_ms == 12.5);
    specx_detections_destroy(r.det);

    /* An in-band error (streams): status and message, no detections. */
    info = (sx_rpc_response_info){.req_id = 3,
                                  .status = SPECX_EINVAL,
                                  .with_status = true,
                                  .status_message = "image_data is empty"};
    bb = sx_rpc_response_encode(&det, &info);
    assert_int_equal(sx_rpc_response_decode(bb, &r), SPECX_OK);
    sx_rpc_bb_free(bb);
    assert_int_equal(r.req_id, 3);
    assert_int_equal(r.status_code, specx_rpc_status_to_grpc(SPECX_EINVAL));
    assert_string_equal(r.status_message, "image_data is empty");
    assert_null(r.det);
    specx_detections_clear(&det);
}

/* Response.model_input (11): sent when known, absent (0 x 0) otherwise, and
 * on the wire as field 11, a message of width (1) and height (2). */
static void test_response_model_input(void **state)
{
    (void)state;
    specx_detections det;
    specx_detections_init(&det);
    sx_rpc_response_info info = {
        .req_id = 1, .status = SPECX_OK, .model_input_width = 416, .model_input_height = 320};
    grpc_byte_buffer *bb = sx_rpc_response_encode(&det, &info);
    uint8_t *data;
    size_t len;
    assert_int_equal(sx_rpc_bb_read(bb, &data, &len), SPECX_OK);
    /* tag 11 length-delimited = 0x5a, 6 bytes: 08 a0 03 (416), 10 c0 02 (320) */
    static const uint8_t want[] = {0x5a, 0x06, 0x08, 0xa0, 0x03, 0x10, 0xc0, 0x02};
    bool found = false;
    for (size_t i = 0; i + sizeof want <= len && !found; i++) {
        found = memcmp(data + i, want, sizeof want) == 0;
    }
    free(data);
    assert_true(found);
    sx_rpc_response r;
    assert_int_equal(sx_rpc_response_decode(bb, &r), SPECX_OK);
    sx_rpc_bb_free(bb);
    assert_int_equal(r.model_input_width, 416);
    assert_int_equal(r.model_input_height, 320);
    specx_detections_destroy(r.det);

    /* unknown: not sent at all, so old peers see the message they always did */
    info.model_input_width = info.model_input_height = 0;
    bb = sx_rpc_response_encode(&det, &info);
    assert_int_equal(sx_rpc_bb_read(bb, &data, &len), SPECX_OK);
    for (size_t i = 0; i < len; i++) {
        assert_int_not_equal(data[i], 0x5a);
    }
    free(data);
    assert_int_equal(sx_rpc_response_decode(bb, &r), SPECX_OK);
    sx_rpc_bb_free(bb);
    assert_int_equal(r.model_input_width, 0);
    assert_int_equal(r.model_input_height, 0);
    specx_detections_destroy(r.det);
    specx_detections_clear(&det);
}

int main(void)
{
    sx_rpc_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_references_frame), cmocka_unit_test(test_request_wire_format),
        cmocka_unit_test(test_request_not_a_request),    cmocka_unit_test(test_response_round_trip),
        cmocka_unit_test(test_response_model_input),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sx_rpc_global_shutdown();
    return rc;
}
