/* test_races.c — edges and races: a result exactly at its deadline, the
 * timer at and just before the deadline, completion inside start(), and
 * cancellation racing completion on real threads (many iterations). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "fixture.h"

/* A result stamped exactly at its deadline is late; one nanosecond before is
 * on time (operator.h: on time iff t < deadline). */
static void test_result_exactly_at_deadline(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_B);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), SPECX_OK);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), SPECX_OK);
    specx_time_t d = FX_T0 + SPECX_MS(100);
    tclock_set(d - 1);
    assert_true(fake_complete(f.a, 0, SPECX_OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    assert_int_equal(hcollect_get(&f.out, 0).winner, f.ia);
    tclock_set(d);
    assert_true(fake_complete(f.a, 1, SPECX_OK)); /* late: dropped */
    assert_int_equal(hcollect_count(&f.out), 1);
    assert_true(fake_complete(f.l, 1, SPECX_OK));
    assert_int_equal(hcollect_count(&f.out), 2);
    hout o = hcollect_get(&f.out, 1);
    assert_int_equal(o.winner, f.il);
    assert_true(o.fallback); /* the local result came at the deadline */
    assert_string_equal(specx_fate_name(o.exec[f.ia].fate), "late");
    specx_exec_stats e = fx_stats(&f, f.ia);
    assert_int_equal(e.won, 1);
    assert_int_equal(e.late, 1);
    fx_teardown(&f);
}

/* The deadline timer fires at the deadline, not one nanosecond before. */
static void test_timer_at_deadline(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_B);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), SPECX_OK);
    assert_true(fake_complete(f.l, 0, SPECX_OK)); /* held */
    specx_time_t d = FX_T0 + SPECX_MS(100);
    tclock_set(d - 1);
    assert_int_equal(sx_operator_advance(f.op, d - 1), 0);
    assert_int_equal(hcollect_count(&f.out), 0);
    tclock_set(d);
    assert_int_equal(sx_operator_advance(f.op, d), 1);
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_int_equal(o.decided, d);
    fx_teardown(&f);
}

/* Every executor completes inside its start(): most preferred first; a
 * failure inside start() is not pending; the message is decided before
 * submit returns and the local call is never started. */
static void test_all_complete_inside_start(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    fake_set_default(f.a, (fake_action){.mode = FAKE_INLINE, .status = SPECX_EIO});
    fake_set_default(f.b, (fake_action){.mode = FAKE_INLINE, .status = SPECX_OK});
    fake_set_default(f.l, (fake_action){.mode = FAKE_INLINE, .status = SPECX_OK});
    for (int i = 0; i < 10; i++) {
        assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), SPECX_OK);
        assert_int_equal(hcollect_count(&f.out), (size_t)i + 1);
    }
    hout o = hcollect_get(&f.out, 9);
    assert_int_equal(o.winner, f.ib);
    assert_string_equal(specx_fate_name(o.exec[f.ia].fate), "failed");
    assert_string_equal(specx_fate_name(o.exec[f.il].fate), "cancelled");
    assert_int_equal(fake_starts(f.l), 0);
    assert_int_equal(sx_operator_next_deadline(f.op), SPECX_TIME_NEVER);
    fx_teardown(&f);
}

typedef struct racer {
    fx *f;
    pthread_barrier_t *bar;
    int n;
    int won_race; /* fake_complete(B) returned true */
} racer;

static void *racer_main(void *arg)
{
    racer *r = arg;
    for (int i = 0; i < r->n; i++) {
        pthread_barrier_wait(r->bar);
        if (fake_complete(r->f->b, (uint64_t)i, SPECX_OK)) {
            r->won_race++;
        }
    }
    return NULL;
}

/* cloud-a's result (deciding the message, cancelling cloud-b) races cloud-b's
 * own completion from another thread: exactly one completion per call,
 * cancel never after completion, consistent fates and counts. */
static void race_cancel_vs_complete(unsigned flags, fake_cancel_mode cm)
{
    fx f;
    fx_setup(&f, FX_THREADS | FX_NO_LOCAL | flags);
    f.plan.e[f.ia].deadline = SPECX_SEC(60);
    f.plan.e[f.ib].deadline = SPECX_SEC(60);
    fake_set_cancel_mode(f.b, cm);
    const int n = 2000;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    racer r = {.f = &f, .bar = &bar, .n = n};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, racer_main, &r), 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), SPECX_OK);
        pthread_barrier_wait(&bar);
        assert_true(fake_complete(f.a, (uint64_t)i, SPECX_OK));
    }
    pthread_join(t, NULL);
    assert_true(hcollect_wait(&f.out, (size_t)n, 20000));
    specx_operator_shutdown(f.op);
    size_t outranked = 0, cancelled = 0;
    for (int i = 0; i < n; i++) {
        hout o = hcollect_get(&f.out, (size_t)i);
        assert_int_equal(o.seq, (uint64_t)i);
        assert_int_equal(o.winner, f.ia);
        if (o.exec[f.ib].fate == SPECX_FATE_OUTRANKED) {
            outranked++;
        } else {
            assert_int_equal(o.exec[f.ib].fate, SPECX_FATE_CANCELLED);
            cancelled++;
        }
    }
    assert_true(f.out.in_order);
    assert_int_equal(fake_completions(f.b), (size_t)n); /* exactly once each */
    assert_int_equal(fake_late_cancels(f.b), 0);        /* never after completion */
    assert_true((size_t)r.won_race >= outranked);
    specx_exec_stats b = fx_stats(&f, f.ib);
    assert_int_equal(b.outranked + b.cancelled, (uint64_t)n);
    assert_int_equal(b.sent, (uint64_t)n);
    assert_int_equal(b.completed, (uint64_t)n);
    assert_int_equal(b.in_flight, 0);
    print_message("cancel race (%s, cancel %s): b outranked %zu, cancelled %zu, racer won %d\n",
                  (flags & FX_INLINE_DELIVERY) ? "inline" : "thread",
                  cm == FAKE_CANCEL_INLINE ? "inline" : "async", outranked, cancelled, r.won_race);
    pthread_barrier_destroy(&bar);
    fx_teardown(&f);
}

static void test_cancel_races_completion_thread(void **state)
{
    (void)state;
    race_cancel_vs_complete(0, FAKE_CANCEL_INLINE);
}

static void test_cancel_races_completion_inline(void **state)
{
    (void)state;
    race_cancel_vs_complete(FX_INLINE_DELIVERY, FAKE_CANCEL_INLINE);
}

static void test_cancel_races_completion_async(void **state)
{
    (void)state;
    race_cancel_vs_complete(FX_INLINE_DELIVERY, FAKE_CANCEL_ASYNC);
}

/* Real timer thread: a deadline in the near future fires and emits the held
 * local result (bounds are generous: the machine is shared). */
static void test_real_timer_fires(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_THREADS | FX_NO_B);
    f.plan.e[f.ia].deadline = SPECX_MS(20);
    fake_set_default(f.l, (fake_action){.mode = FAKE_INLINE, .status = SPECX_OK});
    specx_time_t t0 = specx_time_mono();
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), SPECX_OK);
    assert_true(hcollect_wait(&f.out, 1, 5000));
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_true(o.decided >= o.deadline);
    assert_true(o.decided - t0 >= SPECX_MS(20));
    assert_true(o.decided - o.deadline <
                (specx_dur_t)((double)SPECX_MS(500) * test_timeout_scale()));
    assert_string_equal(specx_fate_name(o.exec[f.ia].fate), "pending_cancelled");
    fx_teardown(&f);
}

typedef struct submitter {
    specx_operator *op;
    size_t accepted;
    specx_status last;
} submitter;

static void *submit_until_stopped(void *arg)
{
    submitter *sb = arg;
    for (;;) {
        specx_status st = specx_operator_submit(sb->op, NULL, NULL, NULL);
        if (st != SPECX_OK) {
            sb->last = st;
            break;
        }
        sb->accepted++;
    }
    return NULL;
}

/* Shutdown racing a submitting thread: every accepted message gets exactly
 * one output, in order; submits after shutdown fail with ESTOPPED. */
static void test_shutdown_races_submit(void **state)
{
    (void)state;
    for (int iter = 0; iter < 20; iter++) {
        fx f;
        fx_setup(&f, FX_THREADS | ((iter & 1) ? FX_INLINE_DELIVERY : 0));
        fake_action delay = {.mode = FAKE_DELAY, .status = SPECX_OK, .delay = SPECX_US(300)};
        fake_set_default(f.a, delay);
        fake_set_default(f.b, (fake_action){.mode = FAKE_INLINE, .status = SPECX_EIO});
        fake_set_default(f.l, (fake_action){.mode = FAKE_DELAY, .delay = SPECX_US(100)});
        fake_set_cancel_mode(f.a, (iter & 2) ? FAKE_CANCEL_ASYNC : FAKE_CANCEL_INLINE);
        submitter sb = {.op = f.op};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, submit_until_stopped, &sb), 0);
        assert_true(hcollect_wait(&f.out, 50, 10000));
        specx_operator_shutdown(f.op);
        pthread_join(t, NULL);
        assert_int_equal(sb.last, SPECX_ESTOPPED);
        assert_int_equal(hcollect_count(&f.out), sb.accepted);
        assert_true(f.out.in_order);
        for (size_t i = 0; i < sb.accepted; i++) {
            hout o = hcollect_get(&f.out, i);
            assert_true(o.winner >= 0 || o.status == SPECX_ESTOPPED);
        }
        specx_operator_stats *s = fx_snapshot(&f);
        assert_int_equal(s->outputs, sb.accepted);
        for (size_t i = 0; i < s->n_exec; i++) {
            assert_int_equal(s->exec[i].in_flight, 0);
            assert_int_equal(s->exec[i].sent, s->exec[i].completed); /* no start failures */
        }
        specx_operator_stats_free(s);
        fx_teardown(&f);
    }
}

typedef struct chain {
    specx_operator *op;
    hcollect *c;
    size_t target, submitted;
    specx_status process_from_cb;
} chain;

static void chain_output(void *user, specx_output *out)
{
    chain *ch = user;
    hcollect_output(ch->c, out);
    if (out->seq == 0) {
        specx_output *o2 = NULL;
        ch->process_from_cb = specx_operator_process(ch->op, NULL, NULL, &o2);
    }
    if (ch->submitted < ch->target) {
        ch->submitted++;
        assert_int_equal(specx_operator_submit(ch->op, NULL, NULL, NULL), SPECX_OK);
    }
}

/* Output callbacks may submit (each output submits the next message), in
 * both delivery modes; process() from a callback is refused. */
static void test_submit_from_output_callback(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        hcollect c;
        hcollect_init(&c);
        chain ch = {.c = &c, .target = 500};
        specx_operator_config cfg = {.output = chain_output,
                                     .output_user = &ch,
                                     .delivery =
                                         mode ? SPECX_DELIVER_INLINE : SPECX_DELIVER_THREAD};
        assert_int_equal(specx_operator_create(&cfg, &ch.op, NULL), SPECX_OK);
        fake_exec *l = fake_create(3);
        fake_set_default(l, (fake_action){.mode = mode ? FAKE_INLINE : FAKE_DELAY,
                                          .status = SPECX_OK,
                                          .delay = SPECX_US(10)});
        specx_executor_config ec = {.name = "local", .exec = fake_executor(l)};
        assert_int_equal(specx_operator_add_local(ch.op, &ec, NULL, NULL), SPECX_OK);
        ch.submitted = 1;
        assert_int_equal(specx_operator_submit(ch.op, NULL, NULL, NULL), SPECX_OK);
        assert_true(hcollect_wait(&c, ch.target, 20000));
        specx_operator_destroy(ch.op);
        assert_int_equal(hcollect_count(&c), ch.target);
        assert_true(c.in_order);
        assert_int_equal(ch.process_from_cb, SPECX_EINVAL);
        assert_int_equal(fake_results_made(l), fake_results_freed(l));
        fake_free(l);
        hcollect_fini(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_exactly_at_deadline),
        cmocka_unit_test(test_timer_at_deadline),
        cmocka_unit_test(test_all_complete_inside_start),
        cmocka_unit_test(test_cancel_races_completion_thread),
        cmocka_unit_test(test_cancel_races_completion_inline),
        cmocka_unit_test(test_cancel_races_completion_async),
        cmocka_unit_test(test_real_timer_fires),
        cmocka_unit_test(test_shutdown_races_submit),
        cmocka_unit_test(test_submit_from_output_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
