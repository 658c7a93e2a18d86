/* pipeline/uplink.h — internal to src/pipeline: what each server is sent.
 *
 * Contract
 *  - A frame goes to a server scaled to the letterbox of the server's model
 *    (specx_image_fit_size of the input size the server's replies report,
 *    specx_rpc_client_model_input) and JPEG-encoded, once per distinct size
 *    and frame, shared by every server that wants that size. While a
 *    server's size is unknown (no reply yet, an old server), when its model
 *    is larger than the frame, or with full_frames, it gets the whole frame.
 *  - Scaling and encoding run on the uplink's own thread, off the thread
 *    that submits frames: a server's call starts when its encoding is ready
 *    (at once if it already is). A call cancelled while it waits completes
 *    at once with SPECX_ECANCELED; one whose deadline passes while it waits
 *    completes with SPECX_ETIMEDOUT when its turn comes.
 *  - Results come back in pixels of the frame: boxes from a scaled frame are
 *    mapped back (specx_detections_rescale), image_width / image_height are
 *    the frame's.
 *  - Each server is an operator executor (sx_uplink_executor_create) whose
 *    request is the frame's sx_uplink_frame, borrowed from the message.
 *  - Pixels: the uplink thread reads a frame's pixels only until
 *    sx_uplink_frame_retire, which waits for a read in progress; call it
 *    before anything may write to the pixels (the output callback draws).
 *  - Threads: everything is thread-safe. Lock order: the uplink's lock,
 *    then a frame's pixel lock is never held with it (they do not nest). */
#ifndef SX_PIPELINE_UPLINK_H
#define SX_PIPELINE_UPLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "specx/executor.h"
#include "specx/hist.h"
#include "specx/image.h"
#include "specx/rpc.h"
#include "specx/status.h"

typedef struct sx_uplink sx_uplink;
typedef struct sx_uplink_frame sx_uplink_frame;

/* Starts the uplink thread. quality 1..100. */
specx_status sx_uplink_create(int jpeg_quality, bool full_frames, sx_uplink **out, specx_err *err);
/* After every call made through its executors has completed (the operator
 * destroyed): stops the thread and frees. NULL-safe. */
void sx_uplink_destroy(sx_uplink *u);
/* Blocks until no job is queued or running (jobs left behind by calls that
 * were cancelled while they waited are skipped then). */
void sx_uplink_wait_idle(sx_uplink *u);

/* A frame's uplink state, refcount 1; img is borrowed and must stay valid
 * until sx_uplink_frame_retire. NULL when out of memory. */
sx_uplink_frame *sx_uplink_frame_create(const specx_image *img);
/* No pixel read after this returns (a read in progress is waited for). */
void sx_uplink_frame_retire(sx_uplink_frame *f);
void sx_uplink_frame_unref(sx_uplink_frame *f); /* NULL-safe */

/* An executor for one server: a new gRPC client (cfg) behind the uplink.
 * The executor owns the client; u must outlive it. */
specx_status sx_uplink_executor_create(sx_uplink *u, const specx_rpc_client_config *cfg,
                                       specx_executor *out, specx_err *err);

/* What an executor sent: calls started with a frame, how many of those
 * frames were scaled, their image bytes. */
typedef struct sx_uplink_counts {
    uint64_t frames, scaled, bytes;
} sx_uplink_counts;
void sx_uplink_executor_counts(const specx_executor *ex, sx_uplink_counts *out);
/* The link as the executor's client last saw it (specx_rpc_client_link). */
void sx_uplink_executor_link(const specx_executor *ex, specx_rpc_link *out);
/* Calls per backend of the executor's client (specx_rpc_client_backends). */
size_t sx_uplink_executor_backends(const specx_executor *ex, specx_rpc_backend_stats *out,
                                   size_t max);

/* The uplink thread's work: JPEGs made (one per frame and distinct size),
 * jobs skipped (every call that wanted one was over first, or the frame was
 * delivered), and the time per JPEG (scaling included), ns. */
typedef struct sx_uplink_work {
    uint64_t encodes, skipped;
    specx_hist encode_ns;
} sx_uplink_work;
void sx_uplink_work_get(sx_uplink *u, sx_uplink_work *out);

#endif
