/* xnn_calib.h — internal: activation ranges for the int8 path, from the
 * batch-norm statistics in the weights and/or measured on the fp32
 * network's layer outputs over calibration images.
 *
 * sx_xnn_calibrate is the whole procedure. Underneath: an sx_xnn_calib
 * observes the fp32 net (SX_XNN_NET_NO_DIRECT, so every layer output is a
 * tensor of its own) over every input: pass 0 finds each channel's minimum
 * and maximum, pass 1 fills histograms between them. Not thread-safe. */
#ifndef SPECX_DETECT_XNN_CALIB_H
#define SPECX_DETECT_XNN_CALIB_H

#include "detect/xnn/xnn.h"
#include "detect/xnn/xnn_model.h"
#include "detect/xnn/xnn_net.h"

typedef struct sx_xnn_calib sx_xnn_calib;

specx_status sx_xnn_calib_create(int layers, sx_xnn_calib **out, specx_err *err);
void sx_xnn_calib_destroy(sx_xnn_calib *c); /* NULL-safe */

void sx_xnn_calib_set_pass(sx_xnn_calib *c, int pass); /* 0 or 1 */
/* An sx_xnn_observer: ctx is the sx_xnn_calib. */
void sx_xnn_calib_observe(void *ctx, int layer, const sx_xnn_view *v);

/* Per layer and output channel (NULL for layers never observed): MINMAX
 * keeps the whole observed range; PERCENTILE clips each end at `param`
 * (e.g. 0.9999: the lowest and highest 0.01 % of a channel's values fall
 * outside). Every range contains 0. out is filled; release it with
 * sx_xnn_ranges_clear. */
specx_status sx_xnn_calib_ranges(const sx_xnn_calib *c, sx_xnn_calib_method method, double param,
                                 sx_xnn_ranges *out, specx_err *err);

/* Ranges without images, from the batch-norm statistics in the weights:
 * each channel's mean +- k standard deviations before its activation (over
 * darknet's training data), then the activation; carried through shortcuts
 * (sums of independent terms), pooling, upsampling, dropout and routes. A
 * layer without statistics (a convolution without batch norm, or anything
 * fed by one) takes its ranges from `data` (NULL: none, the layer stays
 * uncalibrated). Release out with sx_xnn_ranges_clear. */
specx_status sx_xnn_ranges_from_bn(const sx_xnn_model *m, double k, const sx_xnn_ranges *data,
                                   sx_xnn_ranges *out, specx_err *err);

/* Without images, the default is batch-norm ranges of this width. */
#define SX_XNN_CALIB_BN_K 8.0

/* The ranges of model m by `method` (xnn.h) from n letterboxed network
 * inputs (height x width x 3 floats each; n may be 0 for SX_XNN_CALIB_BN
 * and the default). The default with inputs tries batch-norm widths 6, 7,
 * 8 and 10 and keeps the one whose int8 net (built with `flags`) is
 * closest to fp32 on them; without inputs it is SX_XNN_CALIB_BN_K. *chosen
 * says which width (or the method's param). Blocking, single-threaded;
 * release out with sx_xnn_ranges_clear. */
specx_status sx_xnn_calibrate(const sx_xnn_model *m, const float *const *inputs, int n,
                              sx_xnn_calib_method method, double param, unsigned flags,
                              sx_xnn_ranges *out, double *chosen, specx_err *err);

#endif
