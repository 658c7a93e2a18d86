/* xnn_net.h — internal: an sx_xnn_model turned into a fixed schedule of XNNPACK
 * operators and small loops over pre-planned buffers (NHWC, batch 1).
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

#include "detect/xnn/xnn_kernels.h"
#include "detect/xnn/xnn_model.h"

typedef struct sx_xnn_net sx_xnn_net;

/* flags: SX_XNN_NET_NO_DIRECT runs every convolution on XNNPACK (no direct
 * depthwise kernel); it exists to test and measure that path. */
#define SX_XNN_NET_NO_DIRECT 1u
specx_status sx_xnn_net_create(const sx_xnn_model *m, int threads, unsigned flags, sx_xnn_net **out,
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

/* Per-step timing (off by default; costs two clock reads per step). */
void sx_xnn_net_set_profile(sx_xnn_net *net, bool on);
void sx_xnn_net_profile_reset(sx_xnn_net *net);
/* Prints one line per step (layer, what, shape, ms/run, share) for `runs`. */
void sx_xnn_net_profile_print(const sx_xnn_net *net, FILE *f);
size_t sx_xnn_net_arena_bytes(const sx_xnn_net *net);

#endif
