/* netem/h2.h — request boundaries in HTTP/2 (gRPC) traffic, from frame
 * headers alone, so the proxy can report request round trips.
 *
 * A scanner follows one direction's byte stream: the client's starts with
 * the 24-byte connection preface, then both are 9-byte frame headers each
 * followed by its payload (RFC 9113 §3.4, §4.1). It reports every frame's
 * start and end; a client stream that does not open with the preface is not
 * HTTP/2, and the scanner gives up on it for good. A
 * request table remembers when each open stream's first frame was read.
 * Both are plain data owned by one connection; not thread-safe. */
#ifndef SX_NETEM_H2_H
#define SX_NETEM_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specx/time.h"

#define SX_NETEM_H2_DATA 0x0
#define SX_NETEM_H2_HEADERS 0x1
#define SX_NETEM_H2_RST_STREAM 0x3
#define SX_NETEM_H2_END_STREAM 0x1 /* flag on DATA and HEADERS */

typedef struct sx_netem_h2_frame {
    uint8_t type, flags;
    uint32_t stream;
} sx_netem_h2_frame;

/* end = false: the frame's header was just read; true: its last byte. */
typedef void (*sx_netem_h2_fn)(void *arg, const sx_netem_h2_frame *f, bool end);

typedef struct sx_netem_h2_scan {
    size_t preface_left; /* preface bytes still expected (24 on the client side, else 0) */
    bool failed;         /* not HTTP/2: ignores everything from now on */
    uint8_t hdr[9];
    size_t have;        /* header bytes collected */
    uint32_t remaining; /* payload bytes of the current frame still to come */
    bool in_payload;
    sx_netem_h2_frame cur;
} sx_netem_h2_scan;

void sx_netem_h2_scan_init(sx_netem_h2_scan *s, bool client_side);
/* Scans the next bytes of the stream, calling fn for frame starts and ends.
 * Returns false (now and ever after) if the bytes are not HTTP/2. */
bool sx_netem_h2_scan_feed(sx_netem_h2_scan *s, const uint8_t *buf, size_t len, sx_netem_h2_fn fn,
                           void *arg);

/* Open requests: stream id → when its first frame was read. Bounded; a
 * request that does not fit is not timed. */
#define SX_NETEM_H2_MAX_OPEN 4096

typedef struct sx_netem_h2_open {
    uint32_t stream;
    specx_time_t start;
} sx_netem_h2_open;

typedef struct sx_netem_h2_reqs {
    sx_netem_h2_open *open;
    size_t n, cap;
} sx_netem_h2_reqs;

/* Records `stream` as started at `t` unless it is already open. */
void sx_netem_h2_reqs_start(sx_netem_h2_reqs *r, uint32_t stream, specx_time_t t);
/* Removes `stream`; true and *start set if it was open. */
bool sx_netem_h2_reqs_finish(sx_netem_h2_reqs *r, uint32_t stream, specx_time_t *start);
void sx_netem_h2_reqs_clear(sx_netem_h2_reqs *r);

#endif
