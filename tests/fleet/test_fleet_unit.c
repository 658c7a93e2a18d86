/* test_fleet_unit.c — the parts of the fleet work that need no network:
 * the server's fair request order (serve/fairq.h) step by step on a manual
 * clock, the --server syntax for several backends, and the test detector's
 * compute time, which the fleet tests and `specx bench fleet` take as a
 * replica's inference time (the model checked before results rest on it).
 * Usage: test_fleet_unit fairq|config|delay */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "specx/detector.h"
#include "specx/image.h"
#include "specx/rpc.h"

#include "serve/fairq.h"
#include "serve/queue.h"
#include "test_timeout.h"

/* ---- fair queue --------------------------------------------------------- */

#define NJOBS 32

typedef struct jobs {
    sx_serve_job j[NJOBS];
    int n;
} jobs;

/* A job of client `who` with deadline `dl` (ms on the manual clock). */
static sx_serve_job *mk(jobs *js, const char *who, int dl)
{
    assert_true(js->n < NJOBS);
    sx_serve_job *j = &js->j[js->n++];
    memset(j, 0, sizeof *j);
    sx_heap_node_init(&j->node);
    j->deadline = SPECX_MS(dl);
    atomic_init(&j->cancel, false);
    sx_serve_job_set_client(j, who);
    return j;
}

static sx_serve_job *push(sx_serve_fairq *f, jobs *js, const char *who, int dl)
{
    sx_serve_job *j = mk(js, who, dl);
    assert_int_equal(sx_serve_fairq_push(f, j), SPECX_OK);
    return j;
}

/* Takes the next job at `now_ms` and checks it is `want`. */
static void expect(sx_serve_fairq *f, int now_ms, const sx_serve_job *want)
{
    sx_serve_job *got = sx_serve_fairq_take(f, SPECX_MS(now_ms));
    if (got != want) {
        fail_msg("took %s/%lld, expected %s/%lld", got != NULL ? got->client : "(none)",
                 got != NULL ? (long long)(got->deadline / 1000000) : -1LL,
                 want != NULL ? want->client : "(none)",
                 want != NULL ? (long long)(want->deadline / 1000000) : -1LL);
    }
}

static void deadline_order_within_a_client(void **state)
{
    (void)state;
    sx_serve_fairq f;
    sx_serve_fairq_init(&f, 16);
    jobs js = {0};
    sx_serve_job *a30 = push(&f, &js, "a", 30), *a10 = push(&f, &js, "a", 10);
    sx_serve_job *a20 = push(&f, &js, "a", 20), *a10b = push(&f, &js, "a", 10);
    expect(&f, 0, a10);
    expect(&f, 0, a10b); /* equal deadlines: arrival order */
    expect(&f, 0, a20);
    expect(&f, 0, a30);
    expect(&f, 0, NULL);
    assert_false(sx_serve_fairq_ready(&f));
    sx_serve_fairq_fini(&f);
}

static void idle_clients_first_then_turns(void **state)
{
    (void)state;
    sx_serve_fairq f;
    sx_serve_fairq_init(&f, 32);
    jobs js = {0};
    /* A floods: 6 jobs (tags 0..5); B and C arrive with one job each, later. */
    sx_serve_job *a[6];
    for (int i = 0; i < 6; i++) {
        a[i] = push(&f, &js, "flood", 100 + i);
    }
    expect(&f, 0, a[0]); /* V = 0; A's head tag is now 1 */
    sx_serve_job *b1 = push(&f, &js, "b", 500);
    sx_serve_job *c1 = push(&f, &js, "c", 400);
    assert_int_equal(sx_serve_fairq_clients(&f), 3);
    /* B and C start at V = 0, ahead of the flooder's 1; between them the
     * first to get its tag goes first (not deadline order: between
     * clients, turns). */
    expect(&f, 0, b1);
    expect(&f, 0, c1);
    expect(&f, 0, a[1]); /* V = 1 */
    /* B sends two at once: it starts at V = 1 (after its last, 1), then
     * alternates with A, whose tag 2 came first. */
    sx_serve_job *b2 = push(&f, &js, "b", 600), *b3 = push(&f, &js, "b", 601);
    expect(&f, 0, b2);
    expect(&f, 0, a[2]);
    expect(&f, 0, b3);
    expect(&f, 0, a[3]);
    expect(&f, 0, a[4]);
    expect(&f, 0, a[5]);
    expect(&f, 0, NULL);
    assert_int_equal(sx_serve_fairq_clients(&f), 0);
    sx_serve_fairq_fini(&f);
}

/* Four equal clients, one request each per tick, always in the same order
 * (a fixed phase, as vehicles at a camera rate have), a worker for two:
 * every request left over expires and is answered before the next tick, so
 * each client's queue is empty when its next request comes. Who is served
 * must rotate (a client just served starts behind the others): each gets
 * half, not the first two in phase order all of it (which a queue that
 * served idle clients in arrival order did). */
static void overload_rotates_between_equal_clients(void **state)
{
    (void)state;
    enum { CLIENTS = 4, TICKS = 100, PER_TICK = 2 };
    sx_serve_fairq f;
    sx_serve_fairq_init(&f, 64);
    sx_serve_job *all = calloc(CLIENTS * TICKS, sizeof *all);
    assert_non_null(all);
    int served[CLIENTS] = {0}, expired = 0;
    for (int t = 0; t < TICKS; t++) {
        for (sx_serve_job *j; (j = sx_serve_fairq_take(&f, SPECX_MS(10 * t))) != NULL;) {
            assert_true(j->deadline <= SPECX_MS(10 * t));
            expired++; /* last tick's leftovers */
        }
        for (int k = 0; k < CLIENTS; k++) {
            sx_serve_job *j = &all[t * CLIENTS + k];
            sx_heap_node_init(&j->node);
            j->deadline = SPECX_MS(10 * (t + 1));
            atomic_init(&j->cancel, false);
            char key[8];
            snprintf(key, sizeof key, "v%d", k);
            sx_serve_job_set_client(j, key);
            assert_int_equal(sx_serve_fairq_push(&f, j), SPECX_OK);
        }
        for (int done = 0; done < PER_TICK; done++) {
            sx_serve_job *j = sx_serve_fairq_take(&f, SPECX_MS(10 * t + 5));
            assert_non_null(j);
            served[j->client[1] - '0']++;
        }
    }
    for (int k = 0; k < CLIENTS; k++) {
        if (served[k] < 45 || served[k] > 55) {
            fail_msg("client %d served %d of %d requests (others: %d %d %d %d)", k, served[k],
                     TICKS, served[0], served[1], served[2], served[3]);
        }
    }
    assert_int_equal(expired, (CLIENTS - PER_TICK) * (TICKS - 1));
    sx_serve_fairq_fini(&f);
    free(all);
}

static void stale_heads_keep_the_turn(void **state)
{
    (void)state;
    sx_serve_fairq f;
    sx_serve_fairq_init(&f, 32);
    jobs js = {0};
    sx_serve_job *a1 = push(&f, &js, "a", 10), *a2 = push(&f, &js, "a", 20);
    sx_serve_job *a3 = push(&f, &js, "a", 300);
    sx_serve_job *b1 = push(&f, &js, "b", 200);
    atomic_store(&a2->cancel, true);
    /* At 15 ms a1 has expired and a2 is cancelled: both come out to be
     * answered without computing, and A's turn then goes to a3. */
    expect(&f, 15, a1);
    expect(&f, 15, a2);
    expect(&f, 15, a3);
    expect(&f, 15, b1);
    expect(&f, 15, NULL);
    sx_serve_fairq_fini(&f);
}

static void full_queue_pushes_out_the_longest(void **state)
{
    (void)state;
    sx_serve_fairq f;
    sx_serve_fairq_init(&f, 4);
    jobs js = {0};
    sx_serve_job *a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = push(&f, &js, "a", 10 * (i + 1));
    }
    /* Full. A itself is refused. */
    assert_int_equal(sx_serve_fairq_push(&f, mk(&js, "a", 5)), SPECX_EBUSY);
    /* B (nothing queued) pushes out A's latest deadline. */
    sx_serve_job *b1 = push(&f, &js, "b", 100);
    assert_true(a[3]->evicted);
    assert_int_equal(f.len, 4);
    /* A (3) against B (1): A is refused; B (1 < 3 - 1) pushes out a[2]. */
    assert_int_equal(sx_serve_fairq_push(&f, mk(&js, "a", 1)), SPECX_EBUSY);
    sx_serve_job *b2 = push(&f, &js, "b", 101);
    assert_true(a[2]->evicted);
    /* Now 2 and 2: neither pushes the other out; C (none queued) pushes out
     * the first longest queue's latest (A's a[1]). */
    assert_int_equal(sx_serve_fairq_push(&f, mk(&js, "b", 102)), SPECX_EBUSY);
    sx_serve_job *c1 = push(&f, &js, "c", 1);
    assert_true(a[1]->evicted);
    assert_false(a[0]->evicted || b1->evicted || b2->evicted);
    /* The evicted come out first, to be answered; then the fair order (all
     * three start at tag 0: A, B, C in the order they got it, then B's
     * second at tag 1). */
    expect(&f, 0, a[3]);
    expect(&f, 0, a[2]);
    expect(&f, 0, a[1]);
    expect(&f, 0, a[0]);
    expect(&f, 0, b1);
    expect(&f, 0, c1);
    expect(&f, 0, b2);
    expect(&f, 0, NULL);
    sx_serve_fairq_fini(&f);
}

static void many_clients_and_reuse(void **state)
{
    (void)state;
    sx_serve_fairq f;
    sx_serve_fairq_init(&f, 8);
    jobs js = {0};
    char key[SX_SERVE_CLIENT_KEY_MAX + 20];
    /* A key longer than the limit is cut, consistently. */
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    sx_serve_job *l1 = push(&f, &js, key, 1), *l2 = push(&f, &js, key, 2);
    assert_int_equal(sx_serve_fairq_clients(&f), 1);
    expect(&f, 0, l1);
    expect(&f, 0, l2);
    /* Clients come and go; emptied ones are reused, and fini frees those
     * still holding jobs (the leak checker watches). */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 6; i++) {
            snprintf(key, sizeof key, "peer:ipv4:10.0.0.%d:5000", i);
            push(&f, &js, key, i);
        }
        for (int i = 0; i < 6; i++) {
            assert_non_null(sx_serve_fairq_take(&f, 0));
        }
        js.n = 2;
    }
    push(&f, &js, "left", 1);
    push(&f, &js, "over", 1);
    sx_serve_fairq_fini(&f);
}

/* ---- server strings ------------------------------------------------------- */

static void multi_backend_targets(void **state)
{
    (void)state;
    specx_rpc_client_config c;
    specx_err err = {{0}};
    assert_int_equal(
        specx_rpc_client_config_parse(
            "ipv4:127.0.0.1:5001,127.0.0.1:5002,10.0.0.3:5003,lb=round_robin,prio=3", &c, &err),
        SPECX_OK);
    assert_string_equal(c.target, "ipv4:127.0.0.1:5001,127.0.0.1:5002,10.0.0.3:5003");
    assert_string_equal(c.lb, "round_robin");
    assert_int_equal(c.priority, 3);
    assert_false(c.no_health_check);
    assert_int_equal(specx_rpc_client_config_parse("ipv6:[::1]:5001,[::1]:5002,stream", &c, &err),
                     SPECX_OK);
    assert_string_equal(c.target, "ipv6:[::1]:5001,[::1]:5002");
    assert_true(c.streaming);
    assert_string_equal(c.lb, "");
    assert_int_equal(
        specx_rpc_client_config_parse(
            "dns:///detect.example:12345,lb=pick_first,health=off,name=pool", &c, &err),
        SPECX_OK);
    assert_string_equal(c.target, "dns:///detect.example:12345");
    assert_string_equal(c.lb, "pick_first");
    assert_true(c.no_health_check);
    assert_string_equal(c.name, "pool");
    assert_int_equal(specx_rpc_client_config_parse("dns:h:1", &c, &err), SPECX_OK);
    assert_int_equal(specx_rpc_client_config_parse("unix:/run/specx.sock", &c, &err), SPECX_OK);
    /* An option value may hold ':' (after its '='). */
    assert_int_equal(specx_rpc_client_config_parse("h:1,name=a:b", &c, &err), SPECX_OK);
    assert_string_equal(c.name, "a:b");

    const char *bad[] = {
        "127.0.0.1:5001,127.0.0.1:5002",          /* a list needs ipv4: */
        "ipv4:127.0.0.1:5001,lb=rr",              /* unknown policy */
        "ipv4:127.0.0.1:5001,stream,127.0.0.1:6", /* backends come before options */
        "ipv4:127.0.0.1:0",                       /* port */
        "ipv4:127.0.0.1:5001,h:99999",            /* port of a later backend */
        "ipv4:",                                  /* nothing */
        "dns:///nohostport",                      /* no port */
        "h:1,health=maybe",
        "h:1,lb=",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        specx_rpc_client_config keep;
        specx_rpc_client_config_init(&keep);
        keep.priority = 99;
        err.msg[0] = '\0';
        if (specx_rpc_client_config_parse(bad[i], &keep, &err) != SPECX_EINVAL) {
            fail_msg("'%s' was accepted", bad[i]);
        }
        assert_int_equal(keep.priority, 99);
        assert_true(strlen(err.msg) > 0);
    }
    /* A list too long for the target buffer is refused, not cut. */
    char longlist[2000] = "ipv4:127.0.0.1:1";
    for (int i = 0; i < 60; i++) {
        strcat(longlist, ",127.0.0.1:10000");
    }
    assert_int_equal(specx_rpc_client_config_parse(longlist, &c, &err), SPECX_EINVAL);
}

/* ---- the test detector's compute time ------------------------------------ */

static void detector_delay_is_accurate(void **state)
{
    (void)state;
    specx_detector_config dc = {.model = "test:delay_ms=20"};
    specx_detector *det;
    specx_err err = {{0}};
    assert_int_equal(specx_detector_open(&dc, &det, &err), SPECX_OK);
    specx_image img = {0};
    assert_int_equal(specx_image_alloc(&img, 8, 8), SPECX_OK);
    enum { N = 25 };
    double ms[N];
    for (int i = 0; i < N; i++) {
        specx_detections d;
        specx_detections_init(&d);
        specx_time_t t0 = specx_time_mono();
        assert_int_equal(specx_detector_detect(det, &img, NULL, &d, &err), SPECX_OK);
        ms[i] = specx_dur_ms(specx_time_mono() - t0);
        specx_detections_clear(&d);
    }
    /* Never shorter than asked; the median within one wake-up of it. */
    double lo = ms[0], sorted[N];
    for (int i = 0; i < N; i++) {
        lo = ms[i] < lo ? ms[i] : lo;
        sorted[i] = ms[i];
    }
    for (int i = 1; i < N; i++) {
        for (int k = i; k > 0 && sorted[k - 1] > sorted[k]; k--) {
            double t = sorted[k];
            sorted[k] = sorted[k - 1];
            sorted[k - 1] = t;
        }
    }
    printf("# test:delay_ms=20: min %.2f ms, median %.2f ms, max %.2f ms over %d\n", lo,
           sorted[N / 2], sorted[N - 1], N);
    assert_true(lo >= 20.0);
    assert_true(sorted[N / 2] <= 20.0 + 2.0 * specx_test_timeout_scale());
    /* The cancel checkpoints still stop it within about a slice. */
    atomic_bool cancel = true;
    specx_detections d;
    specx_detections_init(&d);
    specx_time_t t0 = specx_time_mono();
    assert_int_equal(specx_detector_detect(det, &img, &cancel, &d, &err), SPECX_ECANCELED);
    assert_true(specx_dur_ms(specx_time_mono() - t0) < 5.0 * specx_test_timeout_scale());
    specx_detections_clear(&d);
    specx_image_clear(&img);
    specx_detector_close(det);
}

int main(int argc, char **argv)
{
    const char *g = argc > 1 ? argv[1] : "";
    if (strcmp(g, "fairq") == 0) {
        const struct CMUnitTest t[] = {
            cmocka_unit_test(deadline_order_within_a_client),
            cmocka_unit_test(idle_clients_first_then_turns),
            cmocka_unit_test(overload_rotates_between_equal_clients),
            cmocka_unit_test(stale_heads_keep_the_turn),
            cmocka_unit_test(full_queue_pushes_out_the_longest),
            cmocka_unit_test(many_clients_and_reuse),
        };
        return cmocka_run_group_tests_name("fleet.fairq", t, NULL, NULL);
    }
    if (strcmp(g, "config") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(multi_backend_targets)};
        return cmocka_run_group_tests_name("fleet.config", t, NULL, NULL);
    }
    if (strcmp(g, "delay") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(detector_delay_is_accurate)};
        return cmocka_run_group_tests_name("fleet.detector_delay", t, NULL, NULL);
    }
    fprintf(stderr, "usage: test_fleet_unit fairq|config|delay\n");
    return 2;
}
