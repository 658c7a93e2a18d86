/* test_rpc.c — the rpc tests over loopback with real servers; argv[1] picks
 * the group (one ctest per group: rpc.<group>). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* clang-format off: cmocka.h needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "rpc_test_util.h"

static const char *specx_bin;

/* ---- config ----------------------------------------------------------- */

static void config_parse(void **state)
{
    (void)state;
    specx_rpc_client_config c;
    specx_err err = {{0}};
    assert_int_equal(specx_rpc_client_config_parse("host.example:50051", &c, &err), SPECX_OK);
    assert_string_equal(c.target, "host.example:50051");
    assert_int_equal(c.priority, 1);
    assert_false(c.priority_set);
    assert_false(c.max_in_flight_set);
    assert_false(c.streaming);
    assert_false(c.wait_for_ready);
    assert_string_equal(c.tls_ca, "");
    assert_int_equal(specx_rpc_client_config_parse(
                         "10.0.0.2:12345,prio=7,stream,tls-ca=/x/ca.pem,wait-ready", &c, &err),
                     SPECX_OK);
    assert_string_equal(c.target, "10.0.0.2:12345");
    assert_int_equal(c.priority, 7);
    assert_true(c.priority_set);
    assert_false(c.max_in_flight_set);
    assert_true(c.streaming);
    assert_true(c.wait_for_ready);
    assert_string_equal(c.tls_ca, "/x/ca.pem");
    assert_int_equal(
        specx_rpc_client_config_parse("[::1]:80,name=gpu,inflight=4,prio=-2", &c, &err), SPECX_OK);
    assert_string_equal(c.target, "[::1]:80");
    assert_string_equal(c.name, "gpu");
    assert_int_equal(c.max_in_flight, 4);
    assert_true(c.max_in_flight_set);
    assert_int_equal(c.priority, -2);
    assert_true(c.priority_set);
    /* "was set" means given, even when the value equals the default */
    assert_int_equal(specx_rpc_client_config_parse("h:1,priority=1,inflight=0", &c, &err),
                     SPECX_OK);
    assert_true(c.priority_set);
    assert_true(c.max_in_flight_set);
    assert_int_equal(c.max_in_flight, 0);

    const char *bad[] = {"",
                         "nohost",
                         "host:0",
                         "host:70000",
                         "host:12,prio=x",
                         "host:12,bogus",
                         "host:12,tls-ca=",
                         "host:12,stream=1",
                         ":12"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        specx_rpc_client_config keep;
        specx_rpc_client_config_init(&keep);
        keep.priority = 99;
        err.msg[0] = '\0';
        assert_int_equal(specx_rpc_client_config_parse(bad[i], &keep, &err), SPECX_EINVAL);
        assert_int_equal(keep.priority, 99); /* unchanged on error */
        assert_true(strlen(err.msg) > 0);
    }
}

static void status_mapping(void **state)
{
    (void)state;
    /* Round trip for every status gRPC can express distinctly. */
    specx_status st[] = {SPECX_OK,        SPECX_ECANCELED,    SPECX_ETIMEDOUT,
                         SPECX_EINVAL,    SPECX_EUNAVAILABLE, SPECX_EBUSY,
                         SPECX_ENOTFOUND, SPECX_EINTERNAL,    SPECX_EACCESS};
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        assert_int_equal(specx_rpc_status_from_grpc(specx_rpc_status_to_grpc(st[i])), st[i]);
    }
    assert_int_equal(specx_rpc_status_to_grpc(SPECX_EFORMAT), 3); /* INVALID_ARGUMENT */
    assert_int_equal(specx_rpc_status_to_grpc(SPECX_ETOOBIG), 8); /* RESOURCE_EXHAUSTED */
    assert_int_equal(specx_rpc_status_from_grpc(14), SPECX_EUNAVAILABLE);
    assert_int_equal(specx_rpc_status_from_grpc(4), SPECX_ETIMEDOUT);
    assert_int_equal(specx_rpc_status_to_grpc(SPECX_EACCESS), 16);  /* UNAUTHENTICATED */
    assert_int_equal(specx_rpc_status_from_grpc(7), SPECX_EACCESS); /* PERMISSION_DENIED */
}

static void frame_refcount(void **state)
{
    (void)state;
    specx_encoded_frame *f;
    assert_int_equal(specx_encoded_frame_copy("abc", 3, &f), SPECX_OK);
    assert_int_equal(specx_encoded_frame_size(f), 3);
    assert_memory_equal(specx_encoded_frame_data(f), "abc", 3);
    specx_encoded_frame *g = specx_encoded_frame_ref(f);
    assert_ptr_equal(f, g);
    specx_encoded_frame_unref(f);
    assert_memory_equal(specx_encoded_frame_data(g), "abc", 3); /* still alive */
    specx_encoded_frame_request_free(g, NULL);
    specx_encoded_frame_unref(NULL);
}

/* ---- round trip ------------------------------------------------------- */

static void round_trip_mode(const char *opts)
{
    specx_server *srv = tu_server("delay_ms=1,boxes=3", 2, 64);
    assert_non_null(srv);
    specx_rpc_client *c = tu_client(specx_server_port(srv), opts);
    assert_non_null(c);
    tu_waiter *w = tu_waiter_new();
    enum { N = 20 };
    specx_encoded_frame *fr[N];
    for (int i = 0; i < N; i++) {
        fr[i] = tu_frame(40 + i, 30, i % 2 == 1);
        assert_non_null(fr[i]);
        specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(10)));
        assert_int_equal(specx_rpc_call_start(c, fr[i], dl, tu_done, tu_slot(w, i), NULL),
                         SPECX_OK);
    }
    assert_true(tu_wait(w, N, SPECX_SEC(10)));
    for (int i = 0; i < N; i++) {
        tu_rec *r = &w->rec[i];
        assert_int_equal(r->calls, 1);
        if (r->st != SPECX_OK) {
            printf("call %d: %s: %s\n", i, specx_status_name(r->st), r->msg);
        }
        assert_int_equal(r->st, SPECX_OK);
        assert_non_null(r->res);
        assert_int_equal(r->res->count, 3);
        assert_int_equal(r->res->image_width, 40 + i); /* its own frame's answer */
        assert_int_equal(r->res->image_height, 30);
        assert_string_equal(r->res->model, "test");
        assert_string_equal(r->res->items[0].label, "test");
        assert_int_equal(r->res->items[0].class_id, 0);
        assert_int_equal(r->res->items[2].class_id, 2);
        assert_true(r->res->items[0].xmax == (float)(40 + i));
        assert_true(r->res->infer_ms > 0);
        specx_encoded_frame_unref(fr[i]);
    }
    specx_rpc_client_destroy(c);
    specx_server_stats *st = malloc(sizeof *st);
    specx_server_get_stats(srv, st);
    assert_int_equal(st->received, N);
    assert_int_equal(st->completed, N);
    assert_int_equal(st->compute.count, N);
    free(st);
    char *json = specx_server_stats_json(srv);
    assert_non_null(strstr(json, "\"completed\":20"));
    assert_non_null(strstr(json, "\"expired_before_start\":0"));
    free(json);
    specx_server_destroy(srv);
    tu_waiter_delete(w);
}

static void round_trip_unary(void **state)
{
    (void)state;
    round_trip_mode("");
}

static void round_trip_stream(void **state)
{
    (void)state;
    round_trip_mode(",stream");
}

/* ---- deadline --------------------------------------------------------- */

static bool a_running(const specx_server_stats *s)
{
    return s->received >= 1 && s->queue_len == 0;
}

static void deadline_mode(const char *opts)
{
    /* One worker busy for 400 ms with A; B (deadline 100 ms) waits behind it.
     * Both scale with the test timeout scale: B's deadline must stay well
     * inside A's compute time, or B starts before its deadline and is
     * cancelled there instead of expiring in the queue. */
    char spec[64];
    snprintf(spec, sizeof spec, "delay_ms=%lld",
             (long long)(tu_scaled(SPECX_MS(400)) / SPECX_MS(1)));
    specx_server *srv = tu_server(spec, 1, 8);
    assert_non_null(srv);
    specx_rpc_client *c = tu_client(specx_server_port(srv), opts);
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *f = tu_frame(16, 16, false);
    specx_time_t t0 = specx_time_now();
    assert_int_equal(specx_rpc_call_start(c, f, specx_time_add(t0, tu_scaled(SPECX_SEC(10))),
                                          tu_done, tu_slot(w, 0), NULL),
                     SPECX_OK);
    /* A is on the worker, not just received: B arriving while A still sat in
     * the queue would go first (deadline order within a client). */
    assert_true(tu_wait_stats(srv, a_running, SPECX_SEC(5)));
    specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_MS(100)));
    assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, 1), NULL), SPECX_OK);
    assert_true(tu_wait(w, 2, SPECX_SEC(10)));
    assert_int_equal(w->rec[0].st, SPECX_OK);
    assert_int_equal(w->rec[1].st, SPECX_ETIMEDOUT);
    /* About the deadline: not before it, well before A's 400 ms are over. */
    specx_dur_t late = w->rec[1].at - dl;
    assert_true(late >= -SPECX_MS(2));
    assert_true(late < tu_scaled(SPECX_MS(250)));
    /* The server did not compute B: counted as expired before start. */
    bool expired_seen = tu_wait_stats(srv, tu_one_expired, SPECX_SEC(5));
    if (!expired_seen) {
        char *j = specx_server_stats_json(srv);
        printf("stats: %s\n", j);
        free(j);
    }
    assert_true(expired_seen);
    specx_server_stats *st = malloc(sizeof *st);
    specx_server_get_stats(srv, st);
    assert_int_equal(st->completed, 1);
    assert_int_equal(st->expired, 1);
    assert_int_equal(st->compute.count, 1);
    free(st);
    specx_encoded_frame_unref(f);
    specx_rpc_client_destroy(c);
    specx_server_destroy(srv);
    tu_waiter_delete(w);
}

static void deadline_unary(void **state)
{
    (void)state;
    deadline_mode("");
}

static void deadline_stream(void **state)
{
    (void)state;
    deadline_mode(",stream");
}

/* ---- cancel ----------------------------------------------------------- */

static void cancel_mode(const char *opts)
{
    specx_server *srv = tu_server("delay_ms=5000", 1, 8);
    assert_non_null(srv);
    specx_rpc_client *c = tu_client(specx_server_port(srv), opts);
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *f = tu_frame(16, 16, false);
    specx_rpc_call *call = NULL;
    assert_int_equal(specx_rpc_call_start(c, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, 0), &call),
                     SPECX_OK);
    assert_non_null(call);
    assert_true(tu_wait_stats(srv, tu_one_received, SPECX_SEC(5)));
    specx_time_t t0 = specx_time_now();
    specx_rpc_call_cancel(call);
    assert_true(tu_wait(w, 1, SPECX_SEC(5)));
    assert_int_equal(w->rec[0].calls, 1);
    assert_int_equal(w->rec[0].st, SPECX_ECANCELED);
    assert_true(w->rec[0].at - t0 < tu_scaled(SPECX_MS(500)));
    /* The server saw it and stopped the detector at a checkpoint. */
    assert_true(tu_wait_stats(srv, tu_one_cancelled, SPECX_SEC(3)));
    specx_server_stats *st = malloc(sizeof *st);
    specx_server_get_stats(srv, st);
    assert_int_equal(st->completed, 0);
    assert_true(specx_hist_quantile(&st->compute, 1.0) < SPECX_SEC(3));
    free(st);
    specx_encoded_frame_unref(f);
    specx_rpc_client_destroy(c);
    specx_server_destroy(srv);
    tu_waiter_delete(w);
}

static void cancel_unary(void **state)
{
    (void)state;
    cancel_mode("");
}

static void cancel_stream(void **state)
{
    (void)state;
    cancel_mode(",stream");
}

/* Cancel before the server starts the work (queued behind another request):
 * never computed; and cancel racing completion: exactly one completion. */
static bool a_running_b_queued(const specx_server_stats *s)
{
    return s->received >= 2 && s->queue_len == 1;
}

static void cancel_grid_mode(const char *opts)
{
    specx_server *srv = tu_server("delay_ms=300", 1, 8);
    specx_rpc_client *c = tu_client(specx_server_port(srv), opts);
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *f = tu_frame(16, 16, false);
    specx_rpc_call *b = NULL;
    assert_int_equal(specx_rpc_call_start(c, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, 0), NULL),
                     SPECX_OK);
    assert_true(tu_wait_stats(srv, tu_one_received, SPECX_SEC(5)));
    assert_int_equal(specx_rpc_call_start(c, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, 1), &b),
                     SPECX_OK);
    assert_true(tu_wait_stats(srv, a_running_b_queued, SPECX_SEC(5)));
    specx_rpc_call_cancel(b);
    assert_true(tu_wait(w, 2, SPECX_SEC(5)));
    assert_int_equal(w->rec[0].st, SPECX_OK);
    assert_int_equal(w->rec[1].st, SPECX_ECANCELED);
    assert_true(tu_wait_stats(srv, tu_one_cancelled, SPECX_SEC(5)));
    specx_server_stats *st = malloc(sizeof *st);
    specx_server_get_stats(srv, st);
    assert_int_equal(st->compute.count, 1); /* B was never computed */
    assert_int_equal(st->completed, 1);
    free(st);
    specx_rpc_client_destroy(c);
    specx_server_destroy(srv);

    /* Racing: cancel right after start, against a server that answers at once. */
    srv = tu_server("", 2, 256);
    c = tu_client(specx_server_port(srv), opts);
    enum { N = 100 };
    for (int i = 0; i < N; i++) {
        specx_rpc_call *k = NULL;
        assert_int_equal(
            specx_rpc_call_start(c, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, 10 + i), &k),
            SPECX_OK);
        if (i % 2 == 0) {
            /* Holding the recorder's lock keeps a concurrent done callback
             * from returning, so `k` stays valid (cancel is allowed until
             * done has returned); a streamed cancel completes inline on this
             * thread, hence the recursive lock. */
            pthread_mutex_lock(&w->mu);
            if (w->rec[10 + i].calls == 0) {
                specx_rpc_call_cancel(k); /* races with the reply */
            }
            pthread_mutex_unlock(&w->mu);
        }
    }
    assert_true(tu_wait(w, 2 + N, SPECX_SEC(10)));
    for (int i = 0; i < N; i++) {
        tu_rec *r = &w->rec[10 + i];
        assert_int_equal(r->calls, 1);
        assert_true(r->st == SPECX_OK || (i % 2 == 0 && r->st == SPECX_ECANCELED));
    }
    specx_rpc_client_destroy(c);
    specx_server_destroy(srv);
    specx_encoded_frame_unref(f);
    tu_waiter_delete(w);
}

static void cancel_grid_unary(void **state)
{
    (void)state;
    cancel_grid_mode("");
}

static void cancel_grid_stream(void **state)
{
    (void)state;
    cancel_grid_mode(",stream");
}

/* ---- server down ------------------------------------------------------ */

static int free_port(void)
{
    /* A port that was free a moment ago: start and stop a server on port 0. */
    specx_server *srv = tu_server("", 1, 1);
    int port = specx_server_port(srv);
    specx_server_destroy(srv);
    return port;
}

static void down_mode(const char *opts)
{
    int port = free_port();
    specx_rpc_client *c = tu_client(port, opts);
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *f = tu_frame(16, 16, false);
    for (int i = 0; i < 3; i++) {
        specx_time_t t0 = specx_time_now();
        specx_time_t dl = specx_time_add(t0, SPECX_SEC(10));
        assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, i), NULL), SPECX_OK);
        assert_true(tu_wait(w, i + 1, SPECX_SEC(5)));
        assert_int_equal(w->rec[i].st, SPECX_EUNAVAILABLE);
        /* Fails fast: milliseconds, not the 10 s deadline. */
        assert_true(w->rec[i].at - t0 < tu_scaled(SPECX_MS(500)));
    }
    specx_rpc_client_destroy(c);

    /* wait-ready: waits for the server instead; here, until the deadline. */
    char o2[64];
    snprintf(o2, sizeof o2, "%s,wait-ready", opts);
    c = tu_client(port, o2);
    specx_time_t t0 = specx_time_now();
    specx_time_t dl = specx_time_add(t0, tu_scaled(SPECX_MS(300)));
    assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, 10), NULL), SPECX_OK);
    assert_true(tu_wait(w, 4, SPECX_SEC(5)));
    assert_int_equal(w->rec[10].st, SPECX_ETIMEDOUT);
    assert_true(w->rec[10].at - dl > -SPECX_MS(5));
    specx_rpc_client_destroy(c);
    specx_encoded_frame_unref(f);
    tu_waiter_delete(w);
}

static void down_unary(void **state)
{
    (void)state;
    down_mode("");
}

static void down_stream(void **state)
{
    (void)state;
    down_mode(",stream");
}

/* ---- reconnect after the server comes back --------------------------- */

static void reconnect_mode(const char *opts)
{
    specx_server *srv = tu_server("", 1, 8);
    int port = specx_server_port(srv);
    specx_rpc_client *c = tu_client(port, opts);
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *f = tu_frame(16, 16, false);
    int n = 0;
    specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(5)));
    assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, n), NULL), SPECX_OK);
    assert_true(tu_wait(w, ++n, SPECX_SEC(5)));
    assert_int_equal(w->rec[0].st, SPECX_OK);

    specx_server_destroy(srv);
    dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(5)));
    assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, n), NULL), SPECX_OK);
    assert_true(tu_wait(w, ++n, SPECX_SEC(5)));
    assert_int_equal(w->rec[1].st, SPECX_EUNAVAILABLE);

    /* Back on the same port: the same client recovers (reconnect backoff is
     * short), without being recreated. */
    srv = tu_server_on("", 1, 8, port);
    assert_non_null(srv);
    specx_time_t until = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(5)));
    bool ok = false;
    while (!ok && specx_time_now() < until && n < TU_MAX) {
        dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(2)));
        assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, n), NULL), SPECX_OK);
        assert_true(tu_wait(w, n + 1, SPECX_SEC(5)));
        ok = w->rec[n].st == SPECX_OK;
        n++;
        if (!ok) {
            struct timespec d = {0, 20000000}; /* retry pacing, test only */
            nanosleep(&d, NULL);
        }
    }
    assert_true(ok);
    for (int i = 0; i < n; i++) {
        assert_int_equal(w->rec[i].calls, 1);
    }
    specx_encoded_frame_unref(f);
    specx_rpc_client_destroy(c);
    specx_server_destroy(srv);
    tu_waiter_delete(w);
}

static void reconnect_unary(void **state)
{
    (void)state;
    reconnect_mode("");
}

static void reconnect_stream(void **state)
{
    (void)state;
    reconnect_mode(",stream");
}

/* ---- graceful shutdown ------------------------------------------------ */

static bool two_received(const specx_server_stats *s)
{
    return s->received >= 2;
}

static void shutdown_grace(void **state)
{
    (void)state;
    /* Work in flight finishes within the grace period; an idle open stream
     * does not hold the shutdown up. */
    specx_server *srv = tu_server("delay_ms=300", 2, 8);
    int port = specx_server_port(srv);
    specx_rpc_client *cu = tu_client(port, ""), *cs = tu_client(port, ",stream");
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *f = tu_frame(16, 16, false);
    assert_int_equal(specx_rpc_call_start(cu, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, 0), NULL),
                     SPECX_OK);
    assert_int_equal(specx_rpc_call_start(cs, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, 1), NULL),
                     SPECX_OK);
    assert_true(tu_wait_stats(srv, two_received, SPECX_SEC(5)));
    specx_time_t t0 = specx_time_now();
    specx_server_stop(srv, SPECX_SEC(30));
    specx_dur_t took = specx_time_now() - t0;
    assert_true(took < tu_scaled(SPECX_SEC(3)));
    assert_true(tu_wait(w, 2, SPECX_SEC(5)));
    assert_int_equal(w->rec[0].st, SPECX_OK);
    assert_int_equal(w->rec[1].st, SPECX_OK);
    /* Stopped: fails fast. */
    assert_int_equal(specx_rpc_call_start(cs, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, 2), NULL),
                     SPECX_OK);
    assert_true(tu_wait(w, 3, SPECX_SEC(5)));
    assert_int_equal(w->rec[2].st, SPECX_EUNAVAILABLE);
    specx_rpc_client_destroy(cu);
    specx_rpc_client_destroy(cs);
    specx_server_destroy(srv);

    /* Grace over: what is left is cancelled, the detector stops. */
    srv = tu_server("delay_ms=5000", 1, 8);
    cu = tu_client(specx_server_port(srv), "");
    assert_int_equal(specx_rpc_call_start(cu, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, 3), NULL),
                     SPECX_OK);
    assert_true(tu_wait_stats(srv, tu_one_received, SPECX_SEC(5)));
    t0 = specx_time_now();
    specx_server_stop(srv, SPECX_MS(200));
    took = specx_time_now() - t0;
    assert_true(took >= SPECX_MS(190));
    assert_true(took < tu_scaled(SPECX_SEC(2)));
    assert_true(tu_wait(w, 4, SPECX_SEC(5)));
    assert_int_not_equal(w->rec[3].st, SPECX_OK);
    specx_server_stats *st = malloc(sizeof *st);
    specx_server_get_stats(srv, st);
    assert_int_equal(st->cancelled, 1);
    assert_int_equal(st->completed, 0);
    free(st);
    specx_rpc_client_destroy(cu);
    specx_server_destroy(srv);
    specx_encoded_frame_unref(f);
    tu_waiter_delete(w);
}

/* ---- server killed mid-run (a real `specx serve` process) ------------- */

static void killed_mode(const char *opts)
{
    char *argv[] = {(char *)specx_bin, "serve",     "--port",  "0",
                    "--bind",          "127.0.0.1", "--model", "test:delay_ms=200",
                    "--workers",       "2",         NULL};
    int port;
    pid_t pid = tu_spawn_listening(argv, &port);
    assert_true(pid > 0);
    assert_true(port > 0);
    specx_rpc_client *c = tu_client(port, opts);
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *f = tu_frame(16, 16, false);
    /* 2 quick ones complete; then 4 in flight when the server is killed. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(specx_rpc_call_start(c, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, i), NULL),
                         SPECX_OK);
    }
    assert_true(tu_wait(w, 2, SPECX_SEC(10)));
    for (int i = 2; i < 6; i++) {
        assert_int_equal(specx_rpc_call_start(c, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, i), NULL),
                         SPECX_OK);
    }
    tu_stop_child(pid, SIGKILL);
    assert_true(tu_wait(w, 6, SPECX_SEC(5)));
    /* Later messages: each gets exactly one (fast) failure. */
    for (int i = 6; i < 12; i++) {
        specx_time_t t0 = specx_time_now();
        assert_int_equal(specx_rpc_call_start(c, f, specx_time_add(t0, SPECX_SEC(10)), tu_done,
                                              tu_slot(w, i), NULL),
                         SPECX_OK);
        assert_true(tu_wait(w, i + 1, SPECX_SEC(5)));
        assert_true(w->rec[i].at - t0 < tu_scaled(SPECX_MS(500)));
    }
    for (int i = 0; i < 12; i++) {
        assert_int_equal(w->rec[i].calls, 1);
        if (i < 2) {
            assert_int_equal(w->rec[i].st, SPECX_OK);
        } else {
            assert_int_equal(w->rec[i].st, SPECX_EUNAVAILABLE);
        }
    }
    specx_rpc_client_destroy(c);
    specx_encoded_frame_unref(f);
    tu_waiter_delete(w);
}

static void killed_unary(void **state)
{
    (void)state;
    killed_mode("");
}

static void killed_stream(void **state)
{
    (void)state;
    killed_mode(",stream");
}

/* ---- streaming with out-of-order replies ------------------------------ */

static void stream_order(void **state)
{
    (void)state;
    /* 4 workers; the delay is the image width in ms: wide frames sent first
     * come back last. */
    specx_server *srv = tu_server("delay_from_width=1", 4, 64);
    specx_rpc_client *c = tu_client(specx_server_port(srv), ",stream");
    tu_waiter *w = tu_waiter_new();
    int widths[] = {120, 90, 60, 30, 100, 10, 50, 20};
    enum { N = 8 };
    for (int i = 0; i < N; i++) {
        specx_encoded_frame *f = tu_frame(widths[i], 8, false);
        assert_int_equal(specx_rpc_call_start(c, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, i), NULL),
                         SPECX_OK);
        specx_encoded_frame_unref(f); /* the call holds its own reference */
    }
    /* The same frame twice: two requests, two distinct answers. */
    specx_encoded_frame *f = tu_frame(15, 8, false);
    assert_int_equal(specx_rpc_call_start(c, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, N), NULL),
                     SPECX_OK);
    assert_int_equal(specx_rpc_call_start(c, f, SPECX_TIME_NEVER, tu_done, tu_slot(w, N + 1), NULL),
                     SPECX_OK);
    specx_encoded_frame_unref(f);
    assert_true(tu_wait(w, N + 2, SPECX_SEC(10)));
    bool out_of_order = false;
    for (int i = 0; i < N + 2; i++) {
        assert_int_equal(w->rec[i].calls, 1);
        assert_int_equal(w->rec[i].st, SPECX_OK);
        assert_int_equal(w->rec[i].res->image_width, i < N ? widths[i] : 15);
        if (i > 0 && i < N && w->rec[i].at < w->rec[i - 1].at) {
            out_of_order = true;
        }
    }
    assert_true(out_of_order);
    specx_rpc_client_destroy(c);
    specx_server_destroy(srv);
    tu_waiter_delete(w);
}

/* ---- bad input -------------------------------------------------------- */

static void bad_mode(const char *opts)
{
    specx_server *srv = tu_server("", 1, 16);
    specx_rpc_client *c = tu_client(specx_server_port(srv), opts);
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *png = tu_frame(64, 48, false), *jpg = tu_frame(64, 48, true);
    uint8_t rnd[1000];
    srand(7);
    for (size_t i = 0; i < sizeof rnd; i++) {
        rnd[i] = (uint8_t)rand();
    }
    rnd[0] = 0x12;
    size_t big_len = 20u << 20;
    uint8_t *big = calloc(1, big_len);
    memcpy(big, specx_encoded_frame_data(png), specx_encoded_frame_size(png));
    specx_encoded_frame *in[6];
    assert_int_equal(specx_encoded_frame_copy(rnd, sizeof rnd, &in[0]), SPECX_OK);
    assert_int_equal(specx_encoded_frame_copy(specx_encoded_frame_data(png),
                                              specx_encoded_frame_size(png) / 2, &in[1]),
                     SPECX_OK);
    assert_int_equal(specx_encoded_frame_copy(specx_encoded_frame_data(jpg),
                                              specx_encoded_frame_size(jpg) / 2, &in[2]),
                     SPECX_OK);
    assert_int_equal(specx_encoded_frame_copy(NULL, 0, &in[3]), SPECX_OK);
    assert_int_equal(specx_encoded_frame_take(big, big_len, &in[4]), SPECX_OK);
    in[5] = specx_encoded_frame_ref(png);
    specx_status want[6] = {SPECX_EINVAL, SPECX_EINVAL, SPECX_EINVAL,
                            SPECX_EINVAL, SPECX_EBUSY,  SPECX_OK};
    const char *what[6] = {"random bytes", "truncated PNG", "truncated JPEG",
                           "empty image",  "20 MB message", "good PNG afterwards"};
    for (int i = 0; i < 6; i++) {
        specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(10)));
        assert_int_equal(specx_rpc_call_start(c, in[i], dl, tu_done, tu_slot(w, i), NULL),
                         SPECX_OK);
        assert_true(tu_wait(w, i + 1, SPECX_SEC(10)));
        printf("%-20s -> %s: %s\n", what[i], specx_status_name(w->rec[i].st), w->rec[i].msg);
        if (i == 4 && opts[0] != '\0' && w->rec[i].st == SPECX_EUNAVAILABLE) {
            /* A stream is torn down by an oversized message: the next request
             * opens a new one. The status says why. */
            assert_non_null(strstr(w->rec[i].msg, "larger than max"));
        } else {
            assert_int_equal(w->rec[i].st, want[i]);
        }
        if (want[i] != SPECX_OK) {
            assert_true(strlen(w->rec[i].msg) > 10);
        }
        specx_encoded_frame_unref(in[i]);
    }
    assert_non_null(strstr(w->rec[0].msg, "neither JPEG nor PNG"));
    assert_non_null(strstr(w->rec[3].msg, "empty"));
    specx_encoded_frame_unref(png);
    specx_encoded_frame_unref(jpg);
    specx_rpc_client_destroy(c);
    specx_server_destroy(srv);
    tu_waiter_delete(w);
}

static void bad_unary(void **state)
{
    (void)state;
    bad_mode("");
}

static void bad_stream(void **state)
{
    (void)state;
    bad_mode(",stream");
}

/* ---- mutated images (a light fuzz of the request path) ----------------- */

static void fuzz_images(void **state)
{
    (void)state;
    /* Bit flips, byte overwrites and truncations of a valid PNG and JPEG: every
     * call completes exactly once, OK or INVALID_ARGUMENT (RESOURCE_EXHAUSTED
     * when a flip made the header announce more pixels than the limit), and
     * the server keeps serving (ASan watches the decoders behind it). */
    specx_server *srv = tu_server("", 2, 256);
    specx_rpc_client *c = tu_client(specx_server_port(srv), "");
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *seed[2] = {tu_frame(48, 32, false), tu_frame(48, 32, true)};
    enum { N = 200 };
    uint32_t x = 2463534242u;
    for (int i = 0; i < N; i++) {
        const specx_encoded_frame *sf = seed[i % 2];
        size_t len = specx_encoded_frame_size(sf);
        uint8_t *buf = malloc(len);
        memcpy(buf, specx_encoded_frame_data(sf), len);
        for (int k = 0; k < 1 + i % 8; k++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t pos = 8 + x % (len - 8); /* keep the magic: reach the decoder */
            if (k % 3 == 0) {
                buf[pos] ^= (uint8_t)(1u << (x % 8));
            } else if (k % 3 == 1) {
                buf[pos] = (uint8_t)(x >> 8);
            } else {
                len = pos;
            }
        }
        specx_encoded_frame *f;
        assert_int_equal(specx_encoded_frame_take(buf, len, &f), SPECX_OK);
        specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(20)));
        assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, i % TU_MAX), NULL),
                         SPECX_OK);
        specx_encoded_frame_unref(f);
    }
    assert_true(tu_wait(w, N, SPECX_SEC(30)));
    int ok = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(w->rec[i].calls, 1);
        if (w->rec[i].st == SPECX_OK) {
            ok++;
        } else if (w->rec[i].st != SPECX_EBUSY) {
            assert_int_equal(w->rec[i].st, SPECX_EINVAL);
            bad++;
        } else {
            bad++; /* a header mutated into a size over the pixel limit */
        }
    }
    printf("mutated images: %d decoded, %d rejected\n", ok, bad);
    assert_true(bad > 0);
    /* Still serving. */
    specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(5)));
    assert_int_equal(specx_rpc_call_start(c, seed[0], dl, tu_done, tu_slot(w, N), NULL), SPECX_OK);
    assert_true(tu_wait(w, N + 1, SPECX_SEC(5)));
    assert_int_equal(w->rec[N].st, SPECX_OK);
    specx_encoded_frame_unref(seed[0]);
    specx_encoded_frame_unref(seed[1]);
    specx_rpc_client_destroy(c);
    specx_server_destroy(srv);
    tu_waiter_delete(w);
}

/* ---- a real model behind the server ---------------------------------- */

static char model_dir[1024];

static specx_status open_real(void *user, int worker, specx_detector **out, specx_err *err)
{
    (void)user;
    (void)worker;
    specx_detector_config cfg = {.model = "yolo-fastest-1.1", .model_dir = model_dir};
    return specx_detector_open(&cfg, out, err);
}

static void real_model(void **state)
{
    (void)state;
    const char *assets = getenv("SPECX_SHARED_ASSETS");
    assert_non_null(assets);
    snprintf(model_dir, sizeof model_dir, "%s/models", assets);
    char path[1200];
    snprintf(path, sizeof path, "%s/images/udacity_highway/test1.jpg", assets);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    uint8_t *buf = malloc(1 << 22);
    size_t len = fread(buf, 1, 1 << 22, fp);
    fclose(fp);
    specx_encoded_frame *f;
    assert_int_equal(specx_encoded_frame_take(buf, len, &f), SPECX_OK);

    specx_server_config cfg = {
        .bind = "127.0.0.1", .port = 0, .workers = 1, .open_detector = open_real};
    specx_server *srv;
    specx_err err = {{0}};
    specx_status st = specx_server_start(&cfg, &srv, &err);
    if (st != SPECX_OK) {
        fail_msg("server with yolo-fastest-1.1: %s", specx_err_text(&err, st));
    }
    tu_waiter *w = tu_waiter_new();
    for (int mode = 0; mode < 2; mode++) {
        specx_rpc_client *c = tu_client(specx_server_port(srv), mode ? ",stream" : "");
        specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(20)));
        assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, mode), NULL), SPECX_OK);
        assert_true(tu_wait(w, mode + 1, SPECX_SEC(30)));
        tu_rec *r = &w->rec[mode];
        if (r->st != SPECX_OK) {
            fail_msg("%s", r->msg);
        }
        const specx_detections *d = r->res;
        assert_string_equal(d->model, "yolo-fastest-1.1");
        assert_int_equal(d->image_width, 1280);
        assert_int_equal(d->image_height, 720);
        assert_true(d->infer_ms > 0);
        int cars = 0;
        for (size_t i = 0; i < d->count; i++) {
            const specx_detection *o = &d->items[i];
            assert_true(o->xmin >= -1 && o->xmax <= 1281 && o->xmin <= o->xmax);
            assert_true(o->ymin >= -1 && o->ymax <= 721 && o->ymin <= o->ymax);
            assert_true(o->score > 0 && o->score <= 1);
            if (strcmp(o->label, "car") == 0) {
                assert_int_equal(o->class_id, 2); /* coco.names order */
                cars++;
            }
        }
        printf("%s: %zu detections, %d cars, server %.1f ms\n", mode ? "stream" : "unary", d->count,
               cars, d->infer_ms);
        assert_true(cars >= 1); /* a highway with cars */
        /* the reply said the model's input (decoded at 1/4 for it: 320x180
         * covers the 320x320 letterbox; the boxes above are in 1280x720) */
        int mw = 0, mh = 0;
        assert_true(specx_rpc_client_model_input(c, &mw, &mh));
        assert_int_equal(mw, 320);
        assert_int_equal(mh, 320);
        specx_rpc_client_destroy(c);
    }
    specx_encoded_frame_unref(f);
    specx_server_destroy(srv);
    tu_waiter_delete(w);
}

/* ---- C client against a Python grpcio server --------------------------- */

static void py_server_mode(const char *opts)
{
    char script[1024];
    snprintf(script, sizeof script, "%s/tests/rpc/py/od_server.py", tu_source_dir());
    char *argv[] = {"/usr/bin/python3", script, "--reverse", "--boxes", "2", NULL};
    int port;
    pid_t pid = tu_spawn_listening(argv, &port);
    assert_true(pid > 0);
    assert_true(port > 0);
    specx_rpc_client *c = tu_client(port, opts);
    tu_waiter *w = tu_waiter_new();
    enum { N = 8 }; /* even: the server answers each pair in reverse order */
    size_t sizes[N];
    for (int i = 0; i < N; i++) {
        specx_encoded_frame *f = tu_frame(20 + 7 * i, 10, false);
        sizes[i] = specx_encoded_frame_size(f);
        specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(10)));
        assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, i), NULL), SPECX_OK);
        specx_encoded_frame_unref(f);
    }
    assert_true(tu_wait(w, N, SPECX_SEC(15)));
    for (int i = 0; i < N; i++) {
        assert_int_equal(w->rec[i].calls, 1);
        assert_int_equal(w->rec[i].st, SPECX_OK);
        /* The Python server reports len(image_data) as image_width. */
        assert_int_equal(w->rec[i].res->image_width, (int)sizes[i]);
        assert_int_equal(w->rec[i].res->count, 2);
        assert_string_equal(w->rec[i].res->items[1].label, "py");
        assert_int_equal(w->rec[i].res->items[1].class_id, 1);
        assert_string_equal(w->rec[i].res->model, "python-test");
    }
    specx_rpc_client_destroy(c);
    int status = tu_stop_child(pid, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tu_waiter_delete(w);
}

static void py_server_unary(void **state)
{
    (void)state;
    py_server_mode("");
}

static void py_server_stream(void **state)
{
    (void)state;
    py_server_mode(",stream");
}

/* ---- TLS -------------------------------------------------------------- */

static void tls_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/specx-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout %s/key.pem "
             "-out %s/cert.pem >/dev/null 2>&1",
             dir, dir);
    assert_int_equal(system(cmd), 0);
    char cert[256], key[256];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    char *argv[] = {(char *)specx_bin, "serve",   "--port", "0",          "--bind",
                    "127.0.0.1",       "--model", "test",   "--tls-cert", cert,
                    "--tls-key",       key,       NULL};
    int port;
    pid_t pid = tu_spawn_listening(argv, &port);
    assert_true(port > 0);
    char opts[600];
    snprintf(opts, sizeof opts, ",tls-ca=%s,tls-host=localhost", cert);
    tu_waiter *w = tu_waiter_new();
    specx_encoded_frame *f = tu_frame(32, 32, false);
    for (int mode = 0; mode < 2; mode++) {
        char o[700];
        snprintf(o, sizeof o, "%s%s", opts, mode == 1 ? ",stream" : "");
        specx_rpc_client *c = tu_client(port, o);
        specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(10)));
        assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, mode), NULL), SPECX_OK);
        assert_true(tu_wait(w, mode + 1, SPECX_SEC(10)));
        assert_int_equal(w->rec[mode].st, SPECX_OK);
        assert_int_equal(w->rec[mode].res->image_width, 32);
        specx_rpc_client_destroy(c);
    }
    /* A plaintext client cannot talk to the TLS server. */
    specx_rpc_client *c = tu_client(port, "");
    specx_time_t dl = specx_time_add(specx_time_now(), tu_scaled(SPECX_SEC(5)));
    assert_int_equal(specx_rpc_call_start(c, f, dl, tu_done, tu_slot(w, 2), NULL), SPECX_OK);
    assert_true(tu_wait(w, 3, SPECX_SEC(10)));
    assert_int_not_equal(w->rec[2].st, SPECX_OK);
    specx_rpc_client_destroy(c);
    specx_encoded_frame_unref(f);
    int status = tu_stop_child(pid, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    tu_waiter_delete(w);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_rpc GROUP [SPECX_BIN]\n");
        return 2;
    }
    specx_bin = argc > 2 ? argv[2] : "./specx";
    signal(SIGPIPE, SIG_IGN);
    const char *g = argv[1];
    if (strcmp(g, "config") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(config_parse),
                                       cmocka_unit_test(status_mapping),
                                       cmocka_unit_test(frame_refcount)};
        return cmocka_run_group_tests_name("rpc.config", t, NULL, NULL);
    }
    if (strcmp(g, "roundtrip") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(round_trip_unary),
                                       cmocka_unit_test(round_trip_stream)};
        return cmocka_run_group_tests_name("rpc.roundtrip", t, NULL, NULL);
    }
    if (strcmp(g, "deadline") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(deadline_unary),
                                       cmocka_unit_test(deadline_stream)};
        return cmocka_run_group_tests_name("rpc.deadline", t, NULL, NULL);
    }
    if (strcmp(g, "cancel") == 0) {
        const struct CMUnitTest t[] = {
            cmocka_unit_test(cancel_unary), cmocka_unit_test(cancel_stream),
            cmocka_unit_test(cancel_grid_unary), cmocka_unit_test(cancel_grid_stream)};
        return cmocka_run_group_tests_name("rpc.cancel", t, NULL, NULL);
    }
    if (strcmp(g, "down") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(down_unary), cmocka_unit_test(down_stream)};
        return cmocka_run_group_tests_name("rpc.down", t, NULL, NULL);
    }
    if (strcmp(g, "shutdown") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(shutdown_grace)};
        return cmocka_run_group_tests_name("rpc.shutdown", t, NULL, NULL);
    }
    if (strcmp(g, "reconnect") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(reconnect_unary),
                                       cmocka_unit_test(reconnect_stream)};
        return cmocka_run_group_tests_name("rpc.reconnect", t, NULL, NULL);
    }
    if (strcmp(g, "killed") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(killed_unary),
                                       cmocka_unit_test(killed_stream)};
        return cmocka_run_group_tests_name("rpc.killed", t, NULL, NULL);
    }
    if (strcmp(g, "stream_order") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(stream_order)};
        return cmocka_run_group_tests_name("rpc.stream_order", t, NULL, NULL);
    }
    if (strcmp(g, "bad_input") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(bad_unary), cmocka_unit_test(bad_stream)};
        return cmocka_run_group_tests_name("rpc.bad_input", t, NULL, NULL);
    }
    if (strcmp(g, "real_model") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(real_model)};
        return cmocka_run_group_tests_name("rpc.real_model", t, NULL, NULL);
    }
    if (strcmp(g, "fuzz_images") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(fuzz_images)};
        return cmocka_run_group_tests_name("rpc.fuzz_images", t, NULL, NULL);
    }
    if (strcmp(g, "py_server") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(py_server_unary),
                                       cmocka_unit_test(py_server_stream)};
        return cmocka_run_group_tests_name("rpc.interop_py_server", t, NULL, NULL);
    }
    if (strcmp(g, "tls") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(tls_round_trip)};
        return cmocka_run_group_tests_name("rpc.tls", t, NULL, NULL);
    }
    fprintf(stderr, "test_rpc: unknown group '%s'\n", g);
    return 2;
}
