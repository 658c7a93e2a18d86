/* test_late.c — the operator's late-result callback (operator.h,
 * specx_late_result) on a manual clock: a remote result after its deadline
 * reaches the callback exactly once with its message's seq and its own
 * deadline, still counted late; never a winner (in time, or accepted late),
 * never a timeout or a result completed before its deadline; the callback
 * may keep the result; and it never runs after destroy returned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "fixture.h"

#define OK SPECX_OK

static fx_late_rec late_get(fx *f, size_t i)
{
    pthread_mutex_lock(&f->late->mu);
    assert_true(i < f->late->n);
    fx_late_rec r = f->late->v[i];
    pthread_mutex_unlock(&f->late->mu);
    return r;
}

static size_t late_count(fx *f)
{
    pthread_mutex_lock(&f->late->mu);
    size_t n = f->late->n;
    pthread_mutex_unlock(&f->late->mu);
    return n;
}

/* Late while the message is undecided: handed over with every field, counted
 * late as without the callback, freed by the operator after the callback. */
static void test_late_before_decision(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_LATE);
    f.plan.e[f.ia].deadline = SPECX_MS(50);
    int in0 = 0, in1 = 0;
    assert_int_equal(specx_operator_submit(f.op, &in0, NULL, NULL), OK);
    assert_int_equal(specx_operator_submit(f.op, &in1, NULL, NULL), OK);
    fx_at(&f, 60);
    assert_true(fake_complete(f.a, 1, OK)); /* message 1's call, 10 ms late */
    assert_int_equal(late_count(&f), 1);
    fx_late_rec r = late_get(&f, 0);
    assert_int_equal(r.seq, 1);
    assert_ptr_equal(r.input, &in1);
    assert_int_equal(r.exec, (size_t)f.ia);
    assert_string_equal(r.exec_name, "cloud-a");
    assert_int_equal(r.arrival, FX_T0);
    assert_int_equal(r.deadline, FX_T0 + SPECX_MS(50));
    assert_int_equal(r.completed, FX_T0 + SPECX_MS(60));
    assert_int_equal(r.result_id, 1);
    assert_int_equal(r.result_seq, 1);
    assert_int_equal(fake_results_freed(f.a), 1); /* not taken: freed after the callback */
    specx_exec_stats e = fx_stats(&f, f.ia);
    assert_int_equal(e.late, 1);
    assert_int_equal(e.won, 0);
    /* the selection is unchanged: cloud-b wins message 1 */
    assert_true(fake_complete(f.b, 1, OK));
    assert_true(fake_complete(f.a, 0, SPECX_ECANCELED)); /* not late: an error */
    assert_true(fake_complete(f.b, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 2);
    assert_int_equal(hcollect_get(&f.out, 1).winner, f.ib);
    assert_int_equal(late_count(&f), 1);
    fx_teardown(&f);
    assert_int_equal(f.late_at_destroy, 1);
}

/* Winners never reach it: the in-time winner, nor a call that completed
 * after the decision but before its deadline (cancelled); a call still out
 * at the decision that completes OK past its deadline does (late). */
static void test_late_never_winners(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_LATE);
    fake_set_cancel_mode(f.b, FAKE_CANCEL_IGNORE);
    fake_set_cancel_mode(f.l, FAKE_CANCEL_IGNORE);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.a, 0, OK)); /* winners */
    assert_true(fake_complete(f.a, 1, OK));
    fx_at(&f, 50);
    assert_true(fake_complete(f.b, 0, OK)); /* before its deadline: cancelled */
    assert_true(fake_complete(f.l, 0, OK)); /* local: no deadline */
    assert_int_equal(late_count(&f), 0);
    fx_at(&f, 150);
    assert_true(fake_complete(f.b, 1, OK)); /* past its deadline, message decided */
    assert_true(fake_complete(f.l, 1, OK));
    assert_int_equal(late_count(&f), 1);
    fx_late_rec r = late_get(&f, 0);
    assert_int_equal(r.seq, 1);
    assert_int_equal(r.exec, (size_t)f.ib);
    assert_int_equal(r.result_id, 2);
    assert_int_equal(r.outputs_before, 2); /* its message was long decided */
    assert_int_equal(fx_stats(&f, f.ib).late, 1);
    assert_int_equal(fx_stats(&f, f.ib).cancelled, 1);
    fx_teardown(&f);
}

/* A late result accepted by the rule-4 option is the winner: no callback.
 * A wire timeout at the deadline is late but has no result: no callback. */
static void test_late_accepted_and_timeout_not_handed(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_LATE | FX_ACCEPT_LATE);
    f.plan.e[f.ia].deadline = SPECX_MS(50);
    f.plan.e[f.ib].deadline = SPECX_MS(50);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 50);
    assert_true(fake_complete(f.a, 0, SPECX_ETIMEDOUT));
    fx_at(&f, 70);
    assert_true(fake_complete(f.b, 0, OK)); /* accepted late: wins */
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ib);
    assert_true(o.late_accepted);
    assert_int_equal(late_count(&f), 0);
    assert_int_equal(fx_stats(&f, f.ia).late, 1);
    assert_false(fake_complete(f.l, 0, OK)); /* cancelled at the decision */
    assert_int_equal(late_count(&f), 0);
    fx_teardown(&f);
}

/* The callback may keep the result; the operator then does not free it. */
static void test_late_take_result(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_LATE);
    f.late->take = true;
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 100); /* exactly at the deadline: late */
    assert_true(fake_complete(f.a, 0, OK));
    assert_int_equal(late_count(&f), 1);
    assert_int_equal(fake_results_freed(f.a), 0);
    fake_result *kept = f.late->taken[0];
    assert_non_null(kept);
    assert_int_equal(kept->seq, 0);
    specx_operator_free_result(f.op, f.ia, kept);
    assert_int_equal(fake_results_freed(f.a), 1);
    assert_true(fake_complete(f.b, 0, OK));
    assert_true(fake_complete(f.l, 0, OK));
    assert_int_equal(late_count(&f), 2);
    assert_int_equal(late_get(&f, 1).exec, (size_t)f.ib);
    specx_operator_free_result(f.op, f.ib, f.late->taken[1]);
    fx_teardown(&f);
}

/* A late result completing while destroy shuts the operator down (cloud-a's
 * worker finishes it 30 ms later in real time, cancel ignored) is handed over
 * before destroy returns, and nothing runs after. */
static void test_late_not_after_destroy(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_LATE | FX_NO_B);
    fake_set_default(f.a, (fake_action){.mode = FAKE_DELAY, .status = OK, .delay = SPECX_MS(30)});
    fake_set_cancel_mode(f.a, FAKE_CANCEL_IGNORE);
    f.plan.e[f.ia].deadline = SPECX_MS(50);
    fx_at(&f, 0);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 60); /* the clock stays here: the worker completes late */
    assert_true(fake_complete(f.l, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    assert_int_equal(hcollect_get(&f.out, 0).winner, f.il);
    fx_teardown(&f); /* waits for cloud-a's call */
    assert_int_equal(f.late_at_destroy, 1);
    assert_int_equal(f.late_after_destroy, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_before_decision),
        cmocka_unit_test(test_late_never_winners),
        cmocka_unit_test(test_late_accepted_and_timeout_not_handed),
        cmocka_unit_test(test_late_take_result),
        cmocka_unit_test(test_late_not_after_destroy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
