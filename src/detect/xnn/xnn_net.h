/* xnn_net.h — internal: an sx_xnn_model turned into a fixed schedule of XNNPACK
 * operators and small loops over pre-planned buffers (NHWC, batch 1), in
 * fp32 or int8 (u8 activations, s8 weights; see xnn_q8.h). Both take a
 * float input and give float [yolo] inputs.
 *
 * Ownership: sx_xnn_net_create borrows the model, which must outlive the net.
 * Not thread-safe: one run at a time per net (buffers are reused). Runs
 * block; with threads > 1 they use the net's own pthreadpool. */
#ifndef SPECX_DETECT_XNN_NET_H
#define SPECX_DETECT_XNN_NET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "specx/status.h"

#include "detect/xnn/xnn.h"
#include "detect/xnn/xnn_kernels.h"
#include "detect/xnn/xnn_model.h"

typedef struct sx_xnn_net sx_xnn_net;

/* A calibrated range (int8 path), lo <= 0 <= hi. */
typedef struct sx_xnn_range {
    float lo, hi;
} sx_xnn_range;

/* Every layer's output ranges, one per channel (NULL: never observed). */
typedef struct sx_xnn_ranges {
    int n;
    sx_xnn_range **layer; /* [n] arrays of out_c */
} sx_xnn_ranges;
void sx_xnn_ranges_clear(sx_xnn_ranges *r);

/* flags: as sx_xnn_opts (xnn.h) */
#define SX_XNN_NET_NO_DIRECT SX_XNN_NO_DIRECT
#define SX_XNN_NET_PORTABLE SX_XNN_PORTABLE
#define SX_XNN_NET_NO_FUSE SX_XNN_NO_FUSE
#define SX_XNN_NET_ALL_INT8 SX_XNN_ALL_INT8

typedef struct sx_xnn_net_opts {
    int threads; /* 1..64 */
    unsigned flags;
    sx_xnn_precision precision;
    const sx_xnn_ranges *ranges; /* int8: per layer and channel; borrowed for the call */
} sx_xnn_net_opts;

/* int8: layers at more than a quarter of the input width (few channels,
 * where int8 kernels are not faster: see docs/xnnpack.md) run in fp32, the
 * rest in int8; a float tensor read by an int8 layer is quantized once.
 * Errors name the layer when the int8 path cannot run it (logistic
 * activation, dense convolutions other than the first). */
specx_status sx_xnn_net_create(const sx_xnn_model *m, const sx_xnn_net_opts *opts, sx_xnn_net **out,
                               specx_err *err);
void sx_xnn_net_destroy(sx_xnn_net *net); /* NULL-safe */

/* The input tensor to fill: height x width x 3 floats, NHWC, contiguous. */
float *sx_xnn_net_input(sx_xnn_net *net);

/* Runs every layer; checks `cancel` between layers (SPECX_ECANCELED). */
specx_status sx_xnn_net_run(sx_xnn_net *net, const atomic_bool *cancel, specx_err *err);

/* The yolo layers in network order: the raw (pre-logistic) input of the k-th
 * yolo layer as a view into the net's buffers, valid until the next run. */
int sx_xnn_net_yolo_count(const sx_xnn_net *net);
const sx_xnn_layer *sx_xnn_net_yolo_layer(const sx_xnn_net *net, int k);
sx_xnn_view sx_xnn_net_yolo_view(const sx_xnn_net *net, int k);

/* Called after every step with its layer and output view (float buffers
 * only: calibration runs the fp32 net with SX_XNN_NET_NO_DIRECT, where every
 * layer output is a float tensor of its own). NULL turns it off. */
void sx_xnn_net_set_observer(sx_xnn_net *net, sx_xnn_observer fn, void *ctx);

/* Per-step timing (off by default; costs two clock reads per step). */
void sx_xnn_net_set_profile(sx_xnn_net *net, bool on);
void sx_xnn_net_profile_reset(sx_xnn_net *net);
/* Prints one line per step (layer, what, shape, ms/run, share) for `runs`. */
void sx_xnn_net_profile_print(const sx_xnn_net *net, FILE *f);
size_t sx_xnn_net_arena_bytes(const sx_xnn_net *net);

#endif
