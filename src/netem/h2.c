/* h2.c — HTTP/2 frame boundaries and open-request bookkeeping for the
 * proxy's request round trips (netem/h2.h). */
#include "netem/h2.h"

#include <stdlib.h>
#include <string.h>

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"; /* 24 bytes */

void sx_netem_h2_scan_init(sx_netem_h2_scan *s, bool client_side)
{
    memset(s, 0, sizeof *s);
    s->preface_left = client_side ? sizeof preface - 1 : 0;
}

static size_t eat_preface(sx_netem_h2_scan *s, const uint8_t *buf, size_t len)
{
    size_t off = sizeof preface - 1 - s->preface_left;
    size_t n = len < s->preface_left ? len : s->preface_left;
    if (memcmp(buf, preface + off, n) != 0) {
        s->failed = true;
    }
    s->preface_left -= n;
    return n;
}

bool sx_netem_h2_scan_feed(sx_netem_h2_scan *s, const uint8_t *buf, size_t len, sx_netem_h2_fn fn,
                           void *arg)
{
    size_t i = 0;
    if (!s->failed && s->preface_left > 0) {
        i = eat_preface(s, buf, len);
    }
    while (!s->failed && i < len) {
        if (s->in_payload) {
            size_t n = len - i < s->remaining ? len - i : s->remaining;
            s->remaining -= (uint32_t)n;
            i += n;
        } else {
            s->hdr[s->have++] = buf[i++];
            if (s->have < sizeof s->hdr) {
                continue;
            }
            uint32_t flen = (uint32_t)s->hdr[0] << 16 | (uint32_t)s->hdr[1] << 8 | s->hdr[2];
            s->cur.type = s->hdr[3];
            s->cur.flags = s->hdr[4];
            s->cur.stream = ((uint32_t)s->hdr[5] << 24 | (uint32_t)s->hdr[6] << 16 |
                             (uint32_t)s->hdr[7] << 8 | s->hdr[8]) &
                            0x7fffffffu;
            s->have = 0;
            fn(arg, &s->cur, false);
            s->remaining = flen;
            s->in_payload = true;
        }
        if (s->in_payload && s->remaining == 0) {
            s->in_payload = false;
            fn(arg, &s->cur, true);
        }
    }
    return !s->failed;
}

void sx_netem_h2_reqs_start(sx_netem_h2_reqs *r, uint32_t stream, specx_time_t t)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->open[i].stream == stream) {
            return;
        }
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        if (cap > SX_NETEM_H2_MAX_OPEN) {
            return;
        }
        sx_netem_h2_open *o = realloc(r->open, cap * sizeof *o);
        if (!o) {
            return;
        }
        r->open = o;
        r->cap = cap;
    }
    r->open[r->n++] = (sx_netem_h2_open){.stream = stream, .start = t};
}

bool sx_netem_h2_reqs_finish(sx_netem_h2_reqs *r, uint32_t stream, specx_time_t *start)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->open[i].stream == stream) {
            *start = r->open[i].start;
            r->open[i] = r->open[--r->n]; /* order does not matter */
            return true;
        }
    }
    return false;
}

void sx_netem_h2_reqs_clear(sx_netem_h2_reqs *r)
{
    free(r->open);
    memset(r, 0, sizeof *r);
}
