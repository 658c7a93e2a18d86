/* test_early.c — rule 9, "emit local early" (specx_plan.emit_local_early),
 * on the manual clock with inline delivery: the local answer is emitted at
 * its completion instead of at the deadline, a remote answer that comes
 * first still wins, the waived call is cancelled and counted as usual, and
 * without the flag (or without a local answer) nothing changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "fixture.h"

#define OK SPECX_OK

static void check_fate(const hout *o, int idx, specx_fate want)
{
    assert_string_equal(specx_fate_name(o->exec[idx].fate), specx_fate_name(want));
}

/* One remote (cloud-a, deadline 100 ms) and the local executor. */
static void setup_one(fx *f, bool early)
{
    fx_setup(f, FX_NO_B);
    f->plan.e[f->ia].emit_local_early = early;
}

/* With the flag: the local result is emitted when it completes (10 ms), not
 * at the deadline; the cloud call is cancelled (fate cancelled, counted
 * cancelled when its ECANCELED completion comes back). */
static void test_local_emitted_at_completion(void **state)
{
    (void)state;
    fx f;
    setup_one(&f, true);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.l, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_true(o.is_local);
    assert_false(o.fallback); /* in before the message deadline */
    assert_int_equal(o.decided, FX_T0 + SPECX_MS(10));
    assert_int_equal(o.latency, SPECX_MS(10));
    assert_int_equal(o.deadline, FX_T0 + SPECX_MS(100)); /* still the planned one */
    check_fate(&o, f.ia, SPECX_FATE_CANCELLED);
    check_fate(&o, f.il, SPECX_FATE_WON);
    assert_int_equal(fake_get(f.a, 0).cancels, 1);
    assert_int_equal(fake_get(f.a, 0).status, SPECX_ECANCELED);
    assert_int_equal(sx_operator_next_deadline(f.op), SPECX_TIME_NEVER);
    specx_exec_stats a = fx_stats(&f, f.ia);
    assert_int_equal(a.sent, 1);
    assert_int_equal(a.cancelled, 1);
    assert_int_equal(a.late, 0);
    assert_int_equal(fx_stats(&f, f.il).won, 1);
    fx_teardown(&f);
}

/* The same events without the flag: the local result is held to the
 * deadline (rule 3), the cloud call then pending_cancelled. */
static void test_without_flag_held_to_deadline(void **state)
{
    (void)state;
    fx f;
    setup_one(&f, false);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.l, 0, OK));
    fx_at(&f, 99);
    assert_int_equal(hcollect_count(&f.out), 0);
    assert_int_equal(fake_get(f.a, 0).cancels, 0);
    fx_at(&f, 100);
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_int_equal(o.decided, FX_T0 + SPECX_MS(100));
    check_fate(&o, f.ia, SPECX_FATE_PENDING_CANCELLED);
    fx_teardown(&f);
}

/* A remote answer that arrives before the local one wins at once (rule 1);
 * the local call is cancelled. */
static void test_remote_first_still_wins(void **state)
{
    (void)state;
    fx f;
    setup_one(&f, true);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 5);
    assert_true(fake_complete(f.a, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ia);
    assert_int_equal(o.latency, SPECX_MS(5));
    check_fate(&o, f.ia, SPECX_FATE_WON);
    check_fate(&o, f.il, SPECX_FATE_CANCELLED);
    assert_int_equal(fake_get(f.l, 0).cancels, 1);
    assert_int_equal(fx_stats(&f, f.il).cancelled, 1);
    fx_teardown(&f);
}

/* The local call fails: nothing is held, so the flag waives nothing; the
 * cloud is waited for as usual and wins at 50 ms. */
static void test_local_failure_waives_nothing(void **state)
{
    (void)state;
    fx f;
    setup_one(&f, true);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.l, 0, SPECX_EINTERNAL));
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 50);
    assert_true(fake_complete(f.a, 0, OK));
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ia);
    check_fate(&o, f.il, SPECX_FATE_FAILED);
    fx_teardown(&f);
}

/* Per call: cloud-a (more preferred) waived, cloud-b not. The local answer
 * at 10 ms still waits for cloud-b; cloud-b's answer at 20 ms is emitted at
 * once although cloud-a (which outranks it) is still out: cloud-a was waived
 * by the local answer and is cancelled. */
static void test_per_call_flags(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    f.plan.e[f.ia].emit_local_early = true;
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.l, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 20);
    assert_true(fake_complete(f.b, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ib);
    assert_int_equal(o.decided, FX_T0 + SPECX_MS(20));
    check_fate(&o, f.ia, SPECX_FATE_CANCELLED);
    check_fate(&o, f.ib, SPECX_FATE_WON);
    check_fate(&o, f.il, SPECX_FATE_OUTRANKED);
    assert_int_equal(fake_get(f.a, 0).cancels, 1);
    fx_teardown(&f);
}

/* The converse: cloud-b waived, cloud-a not. The local answer waits for
 * cloud-a up to its deadline; cloud-b is cancelled then (its deadline had
 * not passed: it was no longer waited for). */
static void test_unflagged_call_still_waited_for(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    f.plan.e[f.ib].emit_local_early = true;
    f.plan.e[f.ib].deadline = SPECX_MS(200);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.l, 0, OK));
    fx_at(&f, 99);
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 100);
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_int_equal(o.decided, FX_T0 + SPECX_MS(100));
    check_fate(&o, f.ia, SPECX_FATE_PENDING_CANCELLED);
    check_fate(&o, f.ib, SPECX_FATE_CANCELLED);
    fx_teardown(&f);
}

/* Without a local executor the flag has no effect: the cloud's deadline
 * passes and the output is "no result" (SPECX_ETIMEDOUT). */
static void test_no_local_no_effect(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_B | FX_NO_LOCAL);
    f.plan.e[f.ia].emit_local_early = true;
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 99);
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 100);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, -1);
    assert_int_equal(o.status, SPECX_ETIMEDOUT);
    fx_teardown(&f);
}

/* Ordering holds: message 0 (no flag) waits for its deadline, message 1
 * (flag) is decided at its local completion but emitted after message 0. */
static void test_early_message_keeps_order(void **state)
{
    (void)state;
    fx f;
    setup_one(&f, false);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    f.plan.e[f.ia].emit_local_early = true;
    fx_at(&f, 5);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.l, 0, OK));
    fx_at(&f, 20);
    assert_true(fake_complete(f.l, 1, OK));
    assert_int_equal(hcollect_count(&f.out), 0); /* 1 decided, behind 0 */
    assert_int_equal(fake_get(f.a, 1).cancels, 1);
    fx_at(&f, 100);
    assert_int_equal(hcollect_count(&f.out), 2);
    hout o1 = hcollect_get(&f.out, 1);
    assert_int_equal(o1.seq, 1);
    assert_int_equal(o1.winner, f.il);
    assert_int_equal(o1.decided, FX_T0 + SPECX_MS(20));
    assert_int_equal(o1.emitted, FX_T0 + SPECX_MS(100));
    fx_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_emitted_at_completion),
        cmocka_unit_test(test_without_flag_held_to_deadline),
        cmocka_unit_test(test_remote_first_still_wins),
        cmocka_unit_test(test_local_failure_waives_nothing),
        cmocka_unit_test(test_per_call_flags),
        cmocka_unit_test(test_unflagged_call_still_waited_for),
        cmocka_unit_test(test_no_local_no_effect),
        cmocka_unit_test(test_early_message_keeps_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
