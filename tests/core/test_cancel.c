/* test_cancel.c — the cancel vs complete handshake (executor.h): cancel() is
 * never invoked, nor still running, after specx_call_complete() for the same
 * call returned; and a completion never waits for other calls' cancel(),
 * only for a cancel() of its own call that is already running.
 *
 * A strict executor checks the first promise on every cancel(), at entry and
 * at exit. Interleavings are forced with condition variables: a cancel()
 * that blocks until the test's other thread did something. Where correct
 * code must keep that other thread blocked, the wait is bounded (the test
 * cannot observe "blocked" otherwise); the bound is only ever reached in
 * the correct case, and a broken operator fails well before it. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "fake_executor.h"
#include "harness.h"
#include "test_timeout.h"

#define OK SPECX_OK
#define STRICT_MAX 1024

/* ---- the strict executor ------------------------------------------------------ */

typedef struct strict strict;
/* Runs inside cancel(), between its two checks, with no lock held. */
typedef void (*strict_hook)(strict *s, uint64_t seq);

struct strict {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    specx_call *call[STRICT_MAX]; /* outstanding calls, by message seq */
    bool returned[STRICT_MAX];    /* specx_call_complete returned */
    bool in_cancel[STRICT_MAX];   /* cancel() running */
    int cancels[STRICT_MAX];
    int late; /* cancel() entered, or still running, after complete returned */
    int completions;
    strict_hook hook;
    void *hook_user;
};

static void strict_init(strict *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
}

static void strict_fini(strict *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

static specx_status strict_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    (void)request;
    (void)deadline;
    strict *s = ctx;
    uint64_t seq = specx_call_seq(call);
    if (seq >= STRICT_MAX) {
        return SPECX_EINVAL;
    }
    pthread_mutex_lock(&s->mu);
    s->call[seq] = call;
    pthread_mutex_unlock(&s->mu);
    return OK;
}

static void strict_cancel(void *ctx, specx_call *call)
{
    strict *s = ctx;
    uint64_t seq = specx_call_seq(call); /* the operator keeps the call valid here */
    pthread_mutex_lock(&s->mu);
    s->cancels[seq]++;
    s->late += s->returned[seq];
    s->in_cancel[seq] = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->hook != NULL) {
        s->hook(s, seq);
    }
    pthread_mutex_lock(&s->mu);
    s->late += s->returned[seq];
    s->in_cancel[seq] = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static const specx_executor_ops strict_ops = {.start = strict_start, .cancel = strict_cancel};

/* Complete message seq's call (no result) on this thread; false if it is not
 * outstanding. */
static bool strict_complete(strict *s, uint64_t seq, specx_status st)
{
    pthread_mutex_lock(&s->mu);
    specx_call *c = s->call[seq];
    s->call[seq] = NULL;
    pthread_mutex_unlock(&s->mu);
    if (c == NULL) {
        return false;
    }
    specx_call_complete(c, st, NULL, "strict");
    pthread_mutex_lock(&s->mu);
    s->returned[seq] = true;
    s->completions++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return true;
}

/* Wait until *flag (guarded by s->mu) is true, at most `seconds` (scaled). */
static bool strict_wait(strict *s, const bool *flag, double seconds)
{
    struct timespec until = specx_test_realtime_in(seconds);
    pthread_mutex_lock(&s->mu);
    while (!*flag && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
    }
    bool v = *flag;
    pthread_mutex_unlock(&s->mu);
    return v;
}

static int strict_get(strict *s, const int *v)
{
    pthread_mutex_lock(&s->mu);
    int r = *v;
    pthread_mutex_unlock(&s->mu);
    return r;
}

/* ---- the operator: "win" (fake), then two strict executors -------------------- */

/* Executor indices: cancels of one decision run in index order. */
enum { I_WIN = 0, I_P = 1, I_Q = 2 };

typedef struct rig {
    specx_operator *op;
    fake_exec *win;
    strict p, q;
    hplan_table plan;
    hcollect out;
    bool q_returned_in_p_cancel; /* guarded by p.mu */
} rig;

static void rig_setup(rig *r, specx_delivery delivery)
{
    memset(r, 0, sizeof *r);
    hcollect_init(&r->out);
    strict_init(&r->p);
    strict_init(&r->q);
    for (int i = 0; i < 3; i++) {
        r->plan.e[i] = (hplan){.kind = SPECX_DEADLINE_RELATIVE, .deadline = SPECX_SEC(60)};
    }
    specx_operator_config cfg = {.plan = hplan_fn,
                                 .plan_user = &r->plan,
                                 .output = hcollect_output,
                                 .output_user = &r->out,
                                 .delivery = delivery};
    assert_int_equal(specx_operator_create(&cfg, &r->op, NULL), OK);
    r->win = fake_create(1);
    specx_executor_config c[3] = {
        {.name = "win", .priority = 10, .exec = fake_executor(r->win)},
        {.name = "p", .priority = 5, .exec = {.ops = &strict_ops, .ctx = &r->p}},
        {.name = "q", .priority = 1, .exec = {.ops = &strict_ops, .ctx = &r->q}},
    };
    for (size_t i = 0; i < 3; i++) {
        size_t idx = 0;
        assert_int_equal(specx_operator_add_remote(r->op, &c[i], &idx, NULL), OK);
        assert_int_equal(idx, i);
    }
}

static void rig_teardown(rig *r)
{
    specx_operator_destroy(r->op);
    assert_int_equal(fake_results_made(r->win), fake_results_freed(r->win));
    fake_free(r->win);
    strict_fini(&r->p);
    strict_fini(&r->q);
    hcollect_fini(&r->out);
}

/* A thread that waits until a cancel() of message 0 runs on `watch`, then
 * completes message 0's call on `target`. */
typedef struct completer {
    strict *watch, *target;
    pthread_t t;
    bool saw_cancel, completed;
} completer;

static void *completer_main(void *arg)
{
    completer *c = arg;
    c->saw_cancel = strict_wait(c->watch, &c->watch->in_cancel[0], 10);
    c->completed = strict_complete(c->target, 0, SPECX_ECANCELED);
    return NULL;
}

/* ---- a completion does not wait for another call's cancel() ------------------- */

static void hook_wait_q_returned(strict *s, uint64_t seq)
{
    rig *r = s->hook_user;
    bool q_returned = strict_wait(&r->q, &r->q.returned[seq], 5);
    pthread_mutex_lock(&s->mu);
    r->q_returned_in_p_cancel = q_returned;
    pthread_mutex_unlock(&s->mu);
}

/* "win" decides message 0; the decision cancels p, then q. p's cancel()
 * blocks until q's completion (on another thread, started once p's cancel
 * runs) has returned: q's completion must not wait for p's cancel(), and
 * q's queued cancel() must then not be invoked at all. */
static void complete_not_blocked_by_other_cancel(specx_delivery delivery)
{
    rig r;
    rig_setup(&r, delivery);
    r.p.hook = hook_wait_q_returned;
    r.p.hook_user = &r;
    assert_int_equal(specx_operator_submit(r.op, NULL, NULL, NULL), OK);
    completer c = {.watch = &r.p, .target = &r.q};
    assert_int_equal(pthread_create(&c.t, NULL, completer_main, &c), 0);
    assert_true(fake_complete(r.win, 0, OK)); /* decides; runs p's then q's cancel */
    pthread_join(c.t, NULL);
    assert_true(c.saw_cancel);
    assert_true(c.completed);
    pthread_mutex_lock(&r.p.mu);
    bool q_returned_during_p_cancel = r.q_returned_in_p_cancel;
    pthread_mutex_unlock(&r.p.mu);
    assert_true(q_returned_during_p_cancel);
    assert_int_equal(strict_get(&r.q, &r.q.late), 0);
    assert_int_equal(strict_get(&r.q, &r.q.cancels[0]), 0); /* completed before its turn */
    assert_int_equal(strict_get(&r.p, &r.p.cancels[0]), 1);
    assert_true(strict_complete(&r.p, 0, SPECX_ECANCELED)); /* p's cancel did nothing */
    assert_true(hcollect_wait(&r.out, 1, 10000));
    hout o = hcollect_get(&r.out, 0);
    assert_int_equal(o.winner, I_WIN);
    assert_int_equal(o.exec[I_P].fate, SPECX_FATE_CANCELLED);
    assert_int_equal(o.exec[I_Q].fate, SPECX_FATE_CANCELLED);
    rig_teardown(&r);
}

static void test_complete_not_blocked_by_other_cancel_thread(void **state)
{
    (void)state;
    complete_not_blocked_by_other_cancel(SPECX_DELIVER_THREAD);
}

static void test_complete_not_blocked_by_other_cancel_inline(void **state)
{
    (void)state;
    complete_not_blocked_by_other_cancel(SPECX_DELIVER_INLINE);
}

/* ---- cancel() never runs after complete() returned ---------------------------- */

static void hook_wait_own_return(strict *s, uint64_t seq)
{
    /* the operator must keep the completion from returning until this
     * cancel() returned: only the bound ends this wait in correct code */
    (void)strict_wait(s, &s->returned[seq], 0.2);
}

/* p's own cancel() is slow; its call is completed from another thread while
 * that cancel() runs: the completion returns only after the cancel() did
 * (the strict executor counts a cancel() still running after it). */
static void cancel_not_after_complete(specx_delivery delivery)
{
    rig r;
    rig_setup(&r, delivery);
    r.p.hook = hook_wait_own_return;
    assert_int_equal(specx_operator_submit(r.op, NULL, NULL, NULL), OK);
    completer c = {.watch = &r.p, .target = &r.p};
    assert_int_equal(pthread_create(&c.t, NULL, completer_main, &c), 0);
    assert_true(fake_complete(r.win, 0, OK)); /* decides; runs p's then q's cancel */
    pthread_join(c.t, NULL);
    assert_true(c.saw_cancel);
    assert_true(c.completed);
    assert_int_equal(strict_get(&r.p, &r.p.late), 0);
    assert_int_equal(strict_get(&r.p, &r.p.cancels[0]), 1);
    assert_true(strict_complete(&r.q, 0, SPECX_ECANCELED));
    assert_int_equal(strict_get(&r.q, &r.q.late), 0);
    assert_true(hcollect_wait(&r.out, 1, 10000));
    rig_teardown(&r);
}

static void test_cancel_not_after_complete_thread(void **state)
{
    (void)state;
    cancel_not_after_complete(SPECX_DELIVER_THREAD);
}

static void test_cancel_not_after_complete_inline(void **state)
{
    (void)state;
    cancel_not_after_complete(SPECX_DELIVER_INLINE);
}

/* ---- the same, raced: many messages, no forced order -------------------------- */

static void hook_slow(strict *s, uint64_t seq)
{
    (void)s;
    (void)seq;
    for (int k = 0; k < 20; k++) {
        sched_yield(); /* a cancel() that takes a while, without blocking */
    }
}

typedef struct racer {
    rig *r;
    pthread_barrier_t bar;
    int n, completed;
} racer;

static void *race_q(void *arg)
{
    racer *x = arg;
    for (int i = 0; i < x->n; i++) {
        pthread_barrier_wait(&x->bar);
        for (int k = 0; k < i % 50; k++) {
            sched_yield(); /* vary where the completion lands */
        }
        x->completed += strict_complete(&x->r->q, (uint64_t)i, SPECX_ECANCELED);
    }
    return NULL;
}

/* "win" decides each message on this thread while another thread completes
 * q's call: q's cancel() comes after p's slow one, or its call is completed
 * during, before or after it. Never a cancel() after completion; every call
 * completed exactly once; outputs in order. */
static void test_cancel_complete_race_strict(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        rig r;
        rig_setup(&r, mode ? SPECX_DELIVER_INLINE : SPECX_DELIVER_THREAD);
        r.p.hook = hook_slow;
        r.q.hook = hook_slow;
        racer x = {.r = &r, .n = 400};
        pthread_barrier_init(&x.bar, NULL, 2);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, race_q, &x), 0);
        for (int i = 0; i < x.n; i++) {
            assert_int_equal(specx_operator_submit(r.op, NULL, NULL, NULL), OK);
            pthread_barrier_wait(&x.bar);
            assert_true(fake_complete(r.win, (uint64_t)i, OK));
            assert_true(strict_complete(&r.p, (uint64_t)i, SPECX_ECANCELED));
        }
        pthread_join(t, NULL);
        assert_int_equal(x.completed, x.n);
        assert_true(hcollect_wait(&r.out, (size_t)x.n, 20000));
        assert_true(r.out.in_order);
        assert_int_equal(strict_get(&r.p, &r.p.late), 0);
        assert_int_equal(strict_get(&r.q, &r.q.late), 0);
        int q_cancels = 0;
        for (int i = 0; i < x.n; i++) {
            q_cancels += strict_get(&r.q, &r.q.cancels[i]);
        }
        print_message(
            "race (%s): q's cancel() ran for %d of %d calls (the others completed first)\n",
            mode ? "inline" : "thread", q_cancels, x.n);
        pthread_barrier_destroy(&x.bar);
        rig_teardown(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_not_blocked_by_other_cancel_thread),
        cmocka_unit_test(test_complete_not_blocked_by_other_cancel_inline),
        cmocka_unit_test(test_cancel_not_after_complete_thread),
        cmocka_unit_test(test_cancel_not_after_complete_inline),
        cmocka_unit_test(test_cancel_complete_race_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
