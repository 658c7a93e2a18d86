/* xnn_net_impl.h — internal to src/detect/xnn/: the buffer plan and operator
 * schedule of an sx_xnn_net, shared by xnn_net.c (plan, fp32 operators, run
 * loop) and xnn_qnet.c (the int8 operators).
 *
 * A tensor is a view (buffer, channel offset, channels) into an NHWC buffer
 * whose pixel stride is the buffer's channel count; a buffer holds floats or,
 * in the int8 path, u8 values with one (scale, zero point). Ops run in
 * schedule order; each reads `in` (and `in2`) and writes `out`. */
#ifndef SPECX_DETECT_XNN_NET_IMPL_H
#define SPECX_DETECT_XNN_NET_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <xnnpack.h>

#include "detect/xnn/xnn_net.h"

typedef struct tview {
    int buf, coff, c;
} tview;

typedef struct tbuf {
    int h, w, c; /* c is the pixel stride */
    int def, last;
    int arena;
    bool u8;     /* int8 path: u8 values, real = qs[ch] * (q - qz[ch]) */
    float *qs;   /* int8 path: scale per channel */
    int32_t *qz; /* int8 path: zero point per channel */
    float *p;    /* float buffers */
    uint8_t *q;  /* u8 buffers */
} tbuf;

typedef enum op_kind {
    OP_CONV,
    OP_DW,
    OP_STEM, /* dense 3x3 with few inputs (first layer), our kernel */
    OP_PWDW, /* a 1x1 convolution fused into the depthwise one reading it */
    OP_DWPW, /* a direct depthwise convolution and the 1x1 one reading it, by bands */
    OP_NOP,  /* the 1x1 convolution of an OP_PWDW or OP_DWPW, or of a fused OP_Q8 */
    OP_MAXPOOL,
    OP_ADD,
    OP_UPSAMPLE,
    OP_COPY,
    OP_Q8, /* an int8 op: see qk and xnn_qnet.c */
} op_kind;

/* What an OP_Q8 computes. */
typedef enum q8_kind {
    QK_STEM,     /* first convolution: float network input -> u8 */
    QK_GEMM,     /* 1x1 convolution: u8 -> u8, or -> float for a [yolo] layer */
    QK_DW,       /* depthwise convolution, its input tensor or fused 1x1 (pw_layer) */
    QK_MAXPOOL,  /* u8 max pooling */
    QK_ADD,      /* shortcut */
    QK_UPSAMPLE, /* nearest */
    QK_COPY,     /* a route input copied into its concatenation */
    QK_QUANT,    /* a float tensor of the fp32 part quantized for int8 readers */
} q8_kind;

struct qop; /* xnn_qnet.c */

typedef struct op {
    op_kind kind;
    q8_kind qk; /* OP_Q8 */
    int layer;
    int in_layer, in2_layer; /* producers read (-1: the network input) */
    tview in, in2, out;
    sx_xnn_act post; /* activation applied after the operator (our loop or fused) */
    xnn_operator_t xop;
    float *wt; /* OP_DW weights in the kernel's layout */
    sx_xnn_conv cv;
    sx_xnn_pwdw pw;     /* OP_PWDW */
    int pw_layer;       /* OP_PWDW, OP_DWPW, QK_DW: the fused 1x1 layer (-1: none) */
    int band;           /* OP_CONV as a banded GEMM: output rows per band (0: one call) */
    sx_xnn_act pw_post; /* OP_DWPW: the 1x1 convolution's activation */
    /* banded ops (OP_CONV with band > 0, OP_DWPW): one task per thread, each
     * with its own rows, fully connected operator and (OP_DWPW) band buffer */
    int ntask;
    xnn_operator_t *txop;
    float **dw_buf;
    struct qop *q;               /* OP_Q8: kernels and scratch (xnn_qnet.c) */
    sx_xnn_view vin, vin2, vout; /* resolved (float buffers; shapes only for u8) */
    uint64_t ns, min_ns;         /* profile: total and fastest run */
} op;

struct sx_xnn_net {
    const sx_xnn_model *m;
    pthreadpool_t pool;
    int threads;
    int nbuf, nop, narena;
    tbuf *bufs;
    op *ops;
    tview *views; /* per layer */
    void **arenas;
    size_t arena_bytes;
    int nyolo;
    int yolo_layer[16];
    bool profile;
    uint64_t runs;
    bool xnn_inited;
    unsigned flags;
    sx_xnn_precision precision;
    int q8_from; /* int8: the first layer computed in int8 (the ones before: fp32) */
    bool simd;   /* int8 kernels: the AVX-512 VNNI versions */
    sx_xnn_observer observe;
    void *observe_ctx;
};

/* The int8 ops (xnn_qnet.c). build: after the arenas are placed. */
specx_status sx_xnn_qop_build(sx_xnn_net *net, op *o, specx_err *err);
void sx_xnn_qop_run(sx_xnn_net *net, op *o);
void sx_xnn_qop_free(op *o);
const char *sx_xnn_qop_name(const op *o);

#endif
