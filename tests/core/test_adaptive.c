/* test_adaptive.c — the round-trip estimate (core/rtt_estimate.h) on
 * samples with known Kaplan-Meier answers, and the deadline policy
 * (core/deadline_policy.h) driving the real operator on the manual clock:
 * after a frame whose cloud call missed, the next frame's local answer goes
 * out at its completion; with the evidence faded, frames wait again. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "core/deadline_policy.h"
#include "core/rtt_estimate.h"
#include "core/virtual_time.h"
#include "fake_executor.h"
#include "harness.h"

#define MS SPECX_MS
#define T0 SPECX_SEC(1000)
#define FLAT SPECX_SEC(1000000) /* a half-life that makes every weight ~1 */

/* n calls sent at T0 and answered after rtt[i] ms. */
static void answered(sx_rtt_estimate *e, const int *rtt, int n, uint64_t key0)
{
    for (int i = 0; i < n; i++) {
        sx_rtt_estimate_sent(e, key0 + (uint64_t)i, T0);
        sx_rtt_estimate_answered(e, key0 + (uint64_t)i, T0 + MS(rtt[i]));
    }
}

static void test_empty_is_unknown(void **state)
{
    (void)state;
    sx_rtt_estimate e;
    sx_rtt_estimate_init(&e, FLAT);
    assert_true(isnan(sx_rtt_estimate_p_within(&e, T0, MS(100))));
    assert_int_equal(sx_rtt_estimate_quantile(&e, T0, 0.5), -1);
}

/* Answers only: the empirical distribution (P(rtt < b), strictly). */
static void test_answers_only(void **state)
{
    (void)state;
    sx_rtt_estimate e;
    sx_rtt_estimate_init(&e, FLAT);
    answered(&e, (const int[]){30, 10, 40, 20}, 4, 0);
    specx_time_t now = T0 + MS(100);
    assert_float_equal(sx_rtt_estimate_p_within(&e, now, MS(25)), 0.5, 1e-6);
    assert_float_equal(sx_rtt_estimate_p_within(&e, now, MS(10)), 0.0, 1e-6);
    assert_float_equal(sx_rtt_estimate_p_within(&e, now, MS(11)), 0.25, 1e-6);
    assert_float_equal(sx_rtt_estimate_p_within(&e, now, MS(41)), 1.0, 1e-6);
    assert_int_equal(sx_rtt_estimate_quantile(&e, now, 0.5), MS(20));
    assert_int_equal(sx_rtt_estimate_quantile(&e, now, 0.26), MS(20));
    assert_int_equal(sx_rtt_estimate_quantile(&e, now, 1.0), MS(40));
}

/* A call that ended without an answer at 20 ms stays in the risk set up to
 * 20 ms: answers 10 and 30 give P(< 25) = 1 - (2/3) = 1/3 (Kaplan-Meier),
 * not the 1/2 of dropping it, and P(< 35) = 1. */
static void test_censored_call(void **state)
{
    (void)state;
    sx_rtt_estimate e;
    sx_rtt_estimate_init(&e, FLAT);
    answered(&e, (const int[]){10, 30}, 2, 0);
    sx_rtt_estimate_sent(&e, 7, T0);
    sx_rtt_estimate_ended(&e, 7, T0 + MS(20));
    specx_time_t now = T0 + MS(100);
    assert_float_equal(sx_rtt_estimate_p_within(&e, now, MS(25)), 1.0 / 3.0, 1e-6);
    assert_float_equal(sx_rtt_estimate_p_within(&e, now, MS(35)), 1.0, 1e-6);
    /* F(10) = 1/3, F(30) = 1 */
    assert_int_equal(sx_rtt_estimate_quantile(&e, now, 0.5), MS(30));
}

/* Calls still out count as at least their age: two answers at 40 ms and
 * two calls out for 60 and 70 ms: P(< 100) = 1/2 at once (they are in the
 * risk set at 40 ms); once they are out for longer than the budget they are
 * known misses, and the figure stays 1/2 with more weight of evidence. A
 * silent link: after only misses, P = 0. */
static void test_outstanding_calls(void **state)
{
    (void)state;
    sx_rtt_estimate e;
    sx_rtt_estimate_init(&e, FLAT);
    answered(&e, (const int[]){40, 40}, 2, 0);
    sx_rtt_estimate_sent(&e, 10, T0 + MS(20));
    sx_rtt_estimate_sent(&e, 11, T0 + MS(30));
    assert_float_equal(sx_rtt_estimate_p_within(&e, T0 + MS(90), MS(100)), 0.5, 1e-6);
    assert_float_equal(sx_rtt_estimate_p_within(&e, T0 + MS(150), MS(100)), 0.5, 1e-6);
    /* only calls out for longer than the budget */
    sx_rtt_estimate_init(&e, FLAT);
    sx_rtt_estimate_sent(&e, 1, T0);
    assert_true(isnan(sx_rtt_estimate_p_within(&e, T0 + MS(50), MS(100)))); /* too early */
    assert_float_equal(sx_rtt_estimate_p_within(&e, T0 + MS(100), MS(100)), 0.0, 1e-9);
}

/* Recency: with a 100 ms half-life, an answer sent 1 s ago weighs 2^-10
 * next to a miss sent just now; long after both, nothing is known. */
static void test_recency_weights(void **state)
{
    (void)state;
    sx_rtt_estimate e;
    sx_rtt_estimate_init(&e, MS(100));
    sx_rtt_estimate_sent(&e, 1, T0);
    sx_rtt_estimate_answered(&e, 1, T0 + MS(30));
    sx_rtt_estimate_sent(&e, 2, T0 + MS(1000));
    sx_rtt_estimate_ended(&e, 2, T0 + MS(1100));
    specx_time_t now = T0 + MS(1100);
    double w_old = exp2(-11.0), w_new = exp2(-1.0);
    assert_float_equal(sx_rtt_estimate_p_within(&e, now, MS(50)), w_old / (w_old + w_new), 1e-9);
    /* 400 ms later the miss weighs 2^-5 < SX_RTT_MIN_WEIGHT: unknown */
    assert_true(isnan(sx_rtt_estimate_p_within(&e, now + MS(400), MS(50))));
}

/* Forgotten calls and calls pushed out of the window count no more. */
static void test_forget_and_window(void **state)
{
    (void)state;
    sx_rtt_estimate e;
    sx_rtt_estimate_init(&e, FLAT);
    sx_rtt_estimate_sent(&e, 1, T0);
    sx_rtt_estimate_forget(&e, 1);
    assert_true(isnan(sx_rtt_estimate_p_within(&e, T0 + MS(500), MS(100))));
    answered(&e, (const int[]){10}, 1, 100);
    for (uint64_t k = 0; k < SX_RTT_WINDOW; k++) {
        sx_rtt_estimate_sent(&e, 200 + k, T0);
        sx_rtt_estimate_ended(&e, 200 + k, T0 + MS(200));
    }
    /* the answer at 10 ms is gone: only misses are left */
    assert_float_equal(sx_rtt_estimate_p_within(&e, T0 + MS(300), MS(100)), 0.0, 1e-9);
    sx_rtt_estimate_answered(&e, 100, T0 + MS(10)); /* no longer known: ignored */
    assert_float_equal(sx_rtt_estimate_p_within(&e, T0 + MS(300), MS(100)), 0.0, 1e-9);
}

/* ---- the policy on the operator ------------------------------------------ */

typedef struct rig {
    specx_operator *op;
    sx_deadline_policy *pol;
    fake_exec *cloud, *local;
    hcollect out;
} rig;

static void rig_plan(void *user, const specx_msg_info *msg, size_t i, specx_plan *out)
{
    rig *r = user;
    sx_deadline_policy_plan(r->pol, msg, i, MS(100), out);
}

static void rig_output(void *user, specx_output *o)
{
    rig *r = user;
    sx_deadline_policy_observe(r->pol, o);
    hcollect_output(&r->out, o);
}

static void rig_add(rig *r, fake_exec *x, const char *name, bool local)
{
    specx_executor_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.priority = local ? 0 : 1;
    c.exec = fake_executor(x);
    specx_err err = {{0}};
    assert_int_equal(local ? specx_operator_add_local(r->op, &c, NULL, &err)
                           : specx_operator_add_remote(r->op, &c, NULL, &err),
                     SPECX_OK);
}

static void rig_setup(rig *r, sx_deadline_policy_kind kind)
{
    memset(r, 0, sizeof *r);
    tclock_install(T0);
    hcollect_init(&r->out);
    sx_deadline_policy_config pc = {.kind = kind, .target = 0.5, .half_life = MS(100)};
    specx_err err = {{0}};
    assert_int_equal(sx_deadline_policy_create(&pc, 2, &r->pol, &err), SPECX_OK);
    specx_operator_config cfg = {.plan = rig_plan,
                                 .plan_user = r,
                                 .output = rig_output,
                                 .output_user = r,
                                 .delivery = SPECX_DELIVER_INLINE};
    assert_int_equal(sx_operator_create_manual(&cfg, &r->op, &err), SPECX_OK);
    r->cloud = fake_create(1);
    r->local = fake_create(2);
    rig_add(r, r->cloud, "cloud", false); /* index 0 */
    rig_add(r, r->local, "local", true);  /* index 1 */
}

static void rig_teardown(rig *r)
{
    specx_operator_destroy(r->op);
    assert_int_equal(fake_results_made(r->cloud), fake_results_freed(r->cloud));
    assert_int_equal(fake_results_made(r->local), fake_results_freed(r->local));
    fake_free(r->cloud);
    fake_free(r->local);
    sx_deadline_policy_destroy(r->pol);
    hcollect_fini(&r->out);
    tclock_uninstall();
}

static void rig_at(rig *r, int64_t ms)
{
    tclock_set(T0 + MS(ms));
    sx_operator_advance(r->op, T0 + MS(ms));
}

/* Frame 0 (nothing known: waits) misses: its local answer (10 ms) goes out
 * at the 100 ms deadline. Frame 1, sent at 110 ms, is planned early: its
 * local answer goes out at its completion, the cloud call is cancelled.
 * Frame 2, a second later (the miss has faded), waits again and the cloud,
 * back at 30 ms, wins. With the fixed policy frame 1 is held to its
 * deadline like frame 0. */
static void run_three_frames(sx_deadline_policy_kind kind)
{
    rig r;
    rig_setup(&r, kind);
    assert_int_equal(specx_operator_submit(r.op, NULL, NULL, NULL), SPECX_OK);
    rig_at(&r, 10);
    assert_true(fake_complete(r.local, 0, SPECX_OK));
    rig_at(&r, 100);
    assert_int_equal(hcollect_count(&r.out), 1);
    assert_int_equal(hcollect_get(&r.out, 0).latency, MS(100));

    rig_at(&r, 110);
    assert_int_equal(specx_operator_submit(r.op, NULL, NULL, NULL), SPECX_OK);
    rig_at(&r, 120);
    assert_true(fake_complete(r.local, 1, SPECX_OK));
    sx_deadline_policy_counts c = sx_deadline_policy_counts_get(r.pol);
    if (kind == SX_DEADLINE_ADAPTIVE) {
        assert_int_equal(hcollect_count(&r.out), 2);
        hout o = hcollect_get(&r.out, 1);
        assert_true(o.is_local);
        assert_int_equal(o.latency, MS(10));
        assert_string_equal(specx_fate_name(o.exec[0].fate), "cancelled");
        assert_int_equal(fake_get(r.cloud, 1).cancels, 1);
        assert_int_equal(c.early, 1);
    } else {
        assert_int_equal(hcollect_count(&r.out), 1);
        rig_at(&r, 210);
        assert_int_equal(hcollect_count(&r.out), 2);
        assert_int_equal(hcollect_get(&r.out, 1).latency, MS(100));
        assert_int_equal(c.early, 0);
    }
    assert_int_equal(c.planned, 2);
    assert_int_equal(c.unknown, kind == SX_DEADLINE_ADAPTIVE ? 1 : 0);

    rig_at(&r, 1200);
    assert_int_equal(specx_operator_submit(r.op, NULL, NULL, NULL), SPECX_OK);
    rig_at(&r, 1210);
    assert_true(fake_complete(r.local, 2, SPECX_OK));
    assert_int_equal(hcollect_count(&r.out), 2); /* held: waits for the cloud */
    rig_at(&r, 1230);
    assert_true(fake_complete(r.cloud, 2, SPECX_OK));
    assert_int_equal(hcollect_count(&r.out), 3);
    hout o2 = hcollect_get(&r.out, 2);
    assert_false(o2.is_local);
    assert_int_equal(o2.latency, MS(30));
    rig_teardown(&r);
}

static void test_policy_adaptive_on_operator(void **state)
{
    (void)state;
    run_three_frames(SX_DEADLINE_ADAPTIVE);
}

static void test_policy_fixed_on_operator(void **state)
{
    (void)state;
    run_three_frames(SX_DEADLINE_FIXED);
}

/* A cloud silent for 20 s, then answering in 30 ms, frames every 100 ms
 * (local answer after 10 ms, deadline 100 ms, half-life 100 ms). While it is
 * silent the policy waits only to probe, and each missed probe doubles the
 * gap to the next (1, 2, 4, 8 s, at most 8 s): few frames pay the deadline.
 * Once it answers, the first probe finds it and every frame after that waits
 * for it and gets the cloud's answer. */
static void test_policy_probe_backoff(void **state)
{
    (void)state;
    rig r;
    rig_setup(&r, SX_DEADLINE_ADAPTIVE);
    enum { SILENT = 200, N = 320 };
    for (int i = 0; i < N; i++) {
        int64_t t = 100 * (int64_t)i;
        rig_at(&r, t);
        assert_int_equal(specx_operator_submit(r.op, NULL, NULL, NULL), SPECX_OK);
        rig_at(&r, t + 10);
        assert_true(fake_complete(r.local, (uint64_t)i, SPECX_OK));
        rig_at(&r, t + 30);
        if (i >= SILENT) {
            (void)fake_complete(r.cloud, (uint64_t)i, SPECX_OK); /* if still out */
        }
        rig_at(&r, t + 99);
    }
    rig_at(&r, 100 * N);
    assert_int_equal(hcollect_count(&r.out), N);
    int waits[SILENT], n_waits = 0;
    for (int i = 0; i < SILENT; i++) {
        hout o = hcollect_get(&r.out, (size_t)i);
        assert_true(o.is_local);
        if (o.latency == MS(100)) {
            waits[n_waits++] = i;
        } else {
            assert_int_equal(o.latency, MS(10));
        }
    }
    assert_int_equal(waits[0], 0);
    assert_true(n_waits >= 4 && n_waits <= 7);
    for (int k = 2; k < n_waits; k++) {
        int gap = waits[k] - waits[k - 1], prev = waits[k - 1] - waits[k - 2];
        assert_true(gap >= prev);
        assert_true(gap <= 90 + 15); /* 8 s, plus the evidence fading */
    }
    int first_cloud = -1;
    for (int i = SILENT; i < N; i++) {
        hout o = hcollect_get(&r.out, (size_t)i);
        if (first_cloud < 0 && !o.is_local) {
            first_cloud = i;
        }
        if (first_cloud >= 0) {
            assert_false(o.is_local);
            assert_int_equal(o.latency, MS(30));
        }
    }
    assert_true(first_cloud >= SILENT && first_cloud <= SILENT + 95);
    rig_teardown(&r);
}

static void test_policy_config(void **state)
{
    (void)state;
    sx_deadline_policy *p = NULL;
    specx_err err = {{0}};
    sx_deadline_policy_config bad = {.kind = SX_DEADLINE_ADAPTIVE, .target = 1.5};
    assert_int_equal(sx_deadline_policy_create(&bad, 2, &p, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "1.5"));
    bad.target = 0;
    assert_int_equal(sx_deadline_policy_create(&bad, 2, &p, &err), SPECX_EINVAL);
    sx_deadline_policy_kind k;
    assert_int_equal(sx_deadline_policy_kind_parse("adaptive", &k, &err), SPECX_OK);
    assert_int_equal(k, SX_DEADLINE_ADAPTIVE);
    assert_int_equal(sx_deadline_policy_kind_parse("fixed", &k, &err), SPECX_OK);
    assert_int_equal(k, SX_DEADLINE_FIXED);
    assert_int_equal(sx_deadline_policy_kind_parse("sometimes", &k, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "sometimes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_is_unknown),
        cmocka_unit_test(test_answers_only),
        cmocka_unit_test(test_censored_call),
        cmocka_unit_test(test_outstanding_calls),
        cmocka_unit_test(test_recency_weights),
        cmocka_unit_test(test_forget_and_window),
        cmocka_unit_test(test_policy_adaptive_on_operator),
        cmocka_unit_test(test_policy_fixed_on_operator),
        cmocka_unit_test(test_policy_probe_backoff),
        cmocka_unit_test(test_policy_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
