/* test_netem_h2.c — the HTTP/2 frame scanner and open-request table the
 * proxy uses to time requests: frame starts and ends however the bytes are
 * split into reads, the client preface, non-HTTP/2 streams, RST_STREAM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* cmocka.h needs the headers above first. */
// clang-format off
#include <cmocka.h>
// clang-format on

#include "netem/h2.h"

typedef struct event {
    uint8_t type, flags;
    uint32_t stream;
    bool end;
    size_t at; /* bytes fed before the event's read ended */
} event;

typedef struct recorder {
    event ev[64];
    size_t n;
    size_t fed;
} recorder;

static void record(void *arg, const sx_netem_h2_frame *f, bool end)
{
    recorder *r = arg;
    assert_true(r->n < 64);
    r->ev[r->n++] =
        (event){.type = f->type, .flags = f->flags, .stream = f->stream, .end = end, .at = r->fed};
}

static size_t frame(uint8_t *out, uint32_t len, uint8_t type, uint8_t flags, uint32_t stream)
{
    out[0] = (uint8_t)(len >> 16);
    out[1] = (uint8_t)(len >> 8);
    out[2] = (uint8_t)len;
    out[3] = type;
    out[4] = flags;
    out[5] = (uint8_t)(stream >> 24);
    out[6] = (uint8_t)(stream >> 16);
    out[7] = (uint8_t)(stream >> 8);
    out[8] = (uint8_t)stream;
    memset(out + 9, 0xab, len);
    return 9 + len;
}

/* A client stream: preface, SETTINGS (empty), HEADERS(1), DATA(1, END_STREAM,
 * 40 bytes), HEADERS(3), DATA(3, END_STREAM, 0 bytes). */
static size_t client_bytes(uint8_t *buf)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    size_t n = sizeof preface - 1;
    memcpy(buf, preface, n);
    n += frame(buf + n, 0, 0x4, 0, 0);
    n += frame(buf + n, 12, SX_NETEM_H2_HEADERS, 0x4, 1);
    n += frame(buf + n, 40, SX_NETEM_H2_DATA, SX_NETEM_H2_END_STREAM, 1);
    n += frame(buf + n, 7, SX_NETEM_H2_HEADERS, 0x4, 3);
    n += frame(buf + n, 0, SX_NETEM_H2_DATA, SX_NETEM_H2_END_STREAM, 3);
    return n;
}

static void test_scan_any_split(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t len = client_bytes(buf);
    recorder whole = {0};
    sx_netem_h2_scan s;
    sx_netem_h2_scan_init(&s, true);
    whole.fed = len;
    assert_true(sx_netem_h2_scan_feed(&s, buf, len, record, &whole));
    assert_int_equal(whole.n, 10); /* 5 frames, a start and an end each */
    assert_int_equal(whole.ev[0].type, 0x4);
    assert_int_equal(whole.ev[2].type, SX_NETEM_H2_HEADERS);
    assert_int_equal(whole.ev[2].stream, 1);
    assert_false(whole.ev[2].end);
    assert_true(whole.ev[5].end && whole.ev[5].type == SX_NETEM_H2_DATA &&
                (whole.ev[5].flags & SX_NETEM_H2_END_STREAM));
    assert_int_equal(whole.ev[9].stream, 3);
    assert_true(whole.ev[9].end);

    /* Every way of cutting the stream in two reads, and one byte per read,
     * gives the same events, each reported in the read that completes it. */
    for (size_t cut = 0; cut <= len; cut++) {
        recorder r = {0};
        sx_netem_h2_scan_init(&s, true);
        r.fed = cut;
        assert_true(sx_netem_h2_scan_feed(&s, buf, cut, record, &r));
        r.fed = len;
        assert_true(sx_netem_h2_scan_feed(&s, buf + cut, len - cut, record, &r));
        assert_int_equal(r.n, whole.n);
        for (size_t i = 0; i < r.n; i++) {
            assert_int_equal(r.ev[i].type, whole.ev[i].type);
            assert_int_equal(r.ev[i].stream, whole.ev[i].stream);
            assert_int_equal(r.ev[i].end, whole.ev[i].end);
        }
    }
    recorder bytes = {0};
    sx_netem_h2_scan_init(&s, true);
    for (size_t i = 0; i < len; i++) {
        bytes.fed = i + 1;
        assert_true(sx_netem_h2_scan_feed(&s, buf + i, 1, record, &bytes));
    }
    assert_int_equal(bytes.n, whole.n);
    /* DATA(1) ends with its 40th payload byte: the read of that byte. */
    size_t data1_end = 24 + 9 + (9 + 12) + (9 + 40);
    assert_int_equal(bytes.ev[5].at, data1_end);
}

static void test_not_http2(void **state)
{
    (void)state;
    /* A client that does not open with the preface is not HTTP/2, for good. */
    static const uint8_t get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    sx_netem_h2_scan s;
    recorder r = {0};
    sx_netem_h2_scan_init(&s, true);
    assert_false(sx_netem_h2_scan_feed(&s, get, sizeof get - 1, record, &r));
    assert_true(s.failed);
    uint8_t buf[512];
    size_t len = client_bytes(buf);
    assert_false(sx_netem_h2_scan_feed(&s, buf, len, record, &r));
    assert_int_equal(r.n, 0);
    /* A server side has no preface: frames from its first byte. */
    sx_netem_h2_scan_init(&s, false);
    len = frame(buf, 3, SX_NETEM_H2_HEADERS, SX_NETEM_H2_END_STREAM, 5);
    assert_true(sx_netem_h2_scan_feed(&s, buf, len, record, &r));
    assert_int_equal(r.n, 2);
    assert_int_equal(r.ev[1].stream, 5);
}

static void test_open_requests(void **state)
{
    (void)state;
    sx_netem_h2_reqs r = {0};
    specx_time_t start = 0;
    sx_netem_h2_reqs_start(&r, 1, 100);
    sx_netem_h2_reqs_start(&r, 3, 200);
    sx_netem_h2_reqs_start(&r, 1, 300); /* a later frame of an open stream */
    assert_true(sx_netem_h2_reqs_finish(&r, 1, &start));
    assert_int_equal(start, 100);
    assert_false(sx_netem_h2_reqs_finish(&r, 1, &start));
    assert_true(sx_netem_h2_reqs_finish(&r, 3, &start));
    assert_int_equal(start, 200);
    /* Bounded: past the limit, requests are not timed (nothing breaks). */
    for (uint32_t i = 0; i < SX_NETEM_H2_MAX_OPEN + 10; i++) {
        sx_netem_h2_reqs_start(&r, 2 * i + 1, i);
    }
    assert_int_equal(r.n, SX_NETEM_H2_MAX_OPEN);
    assert_true(sx_netem_h2_reqs_finish(&r, 1, &start));
    assert_false(sx_netem_h2_reqs_finish(&r, 2 * (SX_NETEM_H2_MAX_OPEN + 5) + 1, &start));
    sx_netem_h2_reqs_clear(&r);
    assert_int_equal(r.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_any_split),
        cmocka_unit_test(test_not_http2),
        cmocka_unit_test(test_open_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
