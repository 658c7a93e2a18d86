/* xnn_net.h — internal: an xnn_model turned into a fixed schedule of XNNPACK
 * operators and small loops over pre-planned buffers (NHWC, batch 1).
 *
 * Ownership: xnn_net_create borrows the model, which must outlive the net.
 * Not thread-safe: one run at a time per net (buffers are reused). Runs
 * block; with threads > 1 they use the net's own pthreadpool. */
#ifndef SPECX_DETECT_XNN_NET_H
#define SPECX_DETECT_XNN_NET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "specx/status.h"

#include "xnn_kernels.h"
#include "xnn_model.h"

typedef struct xnn_net xnn_net;

/* flags: XNN_NET_NO_DIRECT runs every convolution on XNNPACK (no direct
 * depthwise kernel); it exists to test and measure that path. */
#define XNN_NET_NO_DIRECT 1u
specx_status xnn_net_create(const xnn_model *m, int threads, unsigned flags, xnn_net **out,
                            specx_err *err);
void xnn_net_free(xnn_net *net); /* NULL-safe */

/* The input tensor to fill: height x width x 3 floats, NHWC, contiguous. */
float *xnn_net_input(xnn_net *net);

/* Runs every layer; checks `cancel` between layers (SPECX_ECANCELED). */
specx_status xnn_net_run(xnn_net *net, const atomic_bool *cancel, specx_err *err);

/* The yolo layers in network order: the raw (pre-logistic) input of the k-th
 * yolo layer as a view into the net's buffers, valid until the next run. */
int xnn_net_yolo_count(const xnn_net *net);
const xnn_layer *xnn_net_yolo_layer(const xnn_net *net, int k);
xk_view xnn_net_yolo_view(const xnn_net *net, int k);

/* Per-step timing (off by default; costs two clock reads per step). */
void xnn_net_set_profile(xnn_net *net, bool on);
void xnn_net_profile_reset(xnn_net *net);
/* Prints one line per step (layer, what, shape, ms/run, share) for `runs`. */
void xnn_net_profile_print(const xnn_net *net, FILE *f);
size_t xnn_net_arena_bytes(const xnn_net *net);

#endif
