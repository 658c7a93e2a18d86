/* grpc_util.c — the gRPC glue shared by the client and the server: deadline
 * conversion, byte-buffer reading, the completion-queue loop. */
#include "rpc/grpc_util.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/tsan_annot.h"

/* gRPC orders the start of a batch before its completion, but through locks
 * TSan cannot see (they are in uninstrumented code): the release/acquire
 * pair on the tag tells it. */
void sx_rpc_tag_post(sx_rpc_tag *tag)
{
    SX_TSAN_RELEASE(tag);
}

grpc_call_error sx_rpc_start_batch(grpc_call *call, const grpc_op *ops, size_t n, sx_rpc_tag *tag)
{
    sx_rpc_tag_post(tag);
    return grpc_call_start_batch(call, ops, n, tag, NULL);
}

void sx_rpc_tag_run(sx_rpc_tag *tag, bool ok)
{
    SX_TSAN_ACQUIRE(tag);
    tag->fn(tag, ok);
}

gpr_timespec sx_rpc_deadline_to_gpr(specx_time_t deadline)
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

specx_time_t sx_rpc_deadline_from_gpr(gpr_timespec t)
{
    if (gpr_time_cmp(t, gpr_inf_future(t.clock_type)) == 0) {
        return SPECX_TIME_NEVER;
    }
    gpr_timespec mono = gpr_convert_clock_type(t, GPR_CLOCK_MONOTONIC);
    gpr_timespec left = gpr_time_sub(mono, gpr_now(GPR_CLOCK_MONOTONIC));
    int64_t ns = left.tv_sec * 1000000000 + left.tv_nsec;
    return specx_time_add(specx_time_now(), ns);
}

grpc_byte_buffer *sx_rpc_bb_from(const uint8_t *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

void sx_rpc_bb_free(grpc_byte_buffer *bb)
{
    if (bb != NULL) {
        grpc_byte_buffer_destroy(bb);
    }
}

specx_status sx_rpc_bb_read(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
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

void sx_rpc_slice_to_buf(grpc_slice s, char *buf, size_t n)
{
    size_t len = GRPC_SLICE_LENGTH(s);
    if (len >= n) {
        len = n - 1;
    }
    memcpy(buf, GRPC_SLICE_START_PTR(s), len);
    buf[len] = '\0';
}

void sx_rpc_cq_run(grpc_completion_queue *cq)
{
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            return;
        }
        if (ev.type == GRPC_OP_COMPLETE) {
            sx_rpc_tag_run(ev.tag, ev.success != 0);
        }
    }
}

void sx_rpc_global_init(void)
{
    grpc_init();
}

void sx_rpc_global_shutdown(void)
{
    grpc_shutdown_blocking();
}
