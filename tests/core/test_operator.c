/* test_operator.c — one deterministic test per selection rule (DESIGN.md §2),
 * the late-accept option, shutdown, process() and head-of-line ordering, on a
 * manual clock with inline delivery; checks output fields, fates and counters. */
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "fixture.h"

#define OK SPECX_OK

static void check_fates(const hout *o, const fx *f, specx_fate fa, specx_fate fb, specx_fate fl)
{
    if (f->ia >= 0) {
        assert_string_equal(specx_fate_name(o->exec[f->ia].fate), specx_fate_name(fa));
    }
    if (f->ib >= 0) {
        assert_string_equal(specx_fate_name(o->exec[f->ib].fate), specx_fate_name(fb));
    }
    if (f->il >= 0) {
        assert_string_equal(specx_fate_name(o->exec[f->il].fate), specx_fate_name(fl));
    }
}

/* counters: sent, completed, won, outranked, late, failed, skipped, shed, cancelled */
static void check_counts(fx *f, int idx, uint64_t sent, uint64_t completed, uint64_t won,
                         uint64_t outranked, uint64_t late, uint64_t failed, uint64_t skipped,
                         uint64_t shed, uint64_t cancelled)
{
    specx_exec_stats e = fx_stats(f, idx);
    assert_int_equal(e.sent, sent);
    assert_int_equal(e.completed, completed);
    assert_int_equal(e.won, won);
    assert_int_equal(e.outranked, outranked);
    assert_int_equal(e.late, late);
    assert_int_equal(e.failed, failed);
    assert_int_equal(e.skipped, skipped);
    assert_int_equal(e.shed, shed);
    assert_int_equal(e.cancelled, cancelled);
}

/* Rule 1: held while a more preferred executor is pending; emitted the moment
 * the most preferred one answers; the others are outranked. */
static void test_rule1_hold_then_emit(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    uint64_t seq = 99;
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, &seq), OK);
    assert_int_equal(seq, 0);
    assert_int_equal(f.plan.plans_called, 2); /* once per remote executor */
    fake_rec ra = fake_get(f.a, 0);
    assert_true(ra.started);
    assert_int_equal(ra.deadline, FX_T0 + SPECX_MS(100));
    assert_int_equal(fake_get(f.l, 0).deadline, SPECX_TIME_NEVER);
    fx_at(&f, 10);
    assert_true(fake_complete(f.b, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 0);
    assert_true(fake_complete(f.l, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 20);
    assert_true(fake_complete(f.a, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.seq, 0);
    assert_int_equal(o.winner, f.ia);
    assert_int_equal(o.priority, 10);
    assert_false(o.is_local);
    assert_false(o.fallback);
    assert_int_equal(o.status, OK);
    assert_int_equal(o.result_id, 1);
    assert_int_equal(o.latency, SPECX_MS(20));
    assert_int_equal(o.deadline, FX_T0 + SPECX_MS(100));
    assert_int_equal(o.exec[f.ia].latency, SPECX_MS(20));
    assert_int_equal(o.exec[f.ib].latency, SPECX_MS(10));
    check_fates(&o, &f, SPECX_FATE_WON, SPECX_FATE_OUTRANKED, SPECX_FATE_OUTRANKED);
    assert_int_equal(fake_cancels(f.b) + fake_cancels(f.l), 0);
    check_counts(&f, f.ia, 1, 1, 1, 0, 0, 0, 0, 0, 0);
    check_counts(&f, f.ib, 1, 1, 0, 1, 0, 0, 0, 0, 0);
    check_counts(&f, f.il, 1, 1, 0, 1, 0, 0, 0, 0, 0);
    specx_operator_stats *s = fx_snapshot(&f);
    assert_int_equal(s->outputs, 1);
    assert_int_equal(s->remote_wins, 1);
    assert_int_equal(s->exec[f.ia].latency.count, 1);
    specx_operator_stats_free(s);
    fx_teardown(&f);
}

/* Rules 1 + 6: the most preferred answers first: emitted at once, the other
 * calls are cancelled (and complete with ECANCELED). */
static void test_rule1_rule6_emit_and_cancel(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 5);
    assert_true(fake_complete(f.a, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    check_fates(&o, &f, SPECX_FATE_WON, SPECX_FATE_CANCELLED, SPECX_FATE_CANCELLED);
    assert_int_equal(o.exec[f.ib].latency, -1);
    assert_int_equal(fake_get(f.b, 0).cancels, 1);
    assert_int_equal(fake_get(f.l, 0).cancels, 1);
    assert_true(fake_get(f.b, 0).completed);
    assert_int_equal(fake_get(f.b, 0).status, SPECX_ECANCELED);
    check_counts(&f, f.ia, 1, 1, 1, 0, 0, 0, 0, 0, 0);
    check_counts(&f, f.ib, 1, 1, 0, 0, 0, 0, 0, 0, 1);
    check_counts(&f, f.il, 1, 1, 0, 0, 0, 0, 0, 0, 1);
    fx_teardown(&f);
}

/* Completion inside start(): the most preferred call is started first; once
 * it decided the message the remaining calls are never started. */
static void test_rule1_inline_in_start(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    fake_set_default(f.a, (fake_action){.mode = FAKE_INLINE, .status = OK});
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ia);
    check_fates(&o, &f, SPECX_FATE_WON, SPECX_FATE_CANCELLED, SPECX_FATE_CANCELLED);
    assert_int_equal(fake_starts(f.b), 0);
    assert_int_equal(fake_starts(f.l), 0);
    check_counts(&f, f.ib, 0, 0, 0, 0, 0, 0, 0, 0, 1);
    check_counts(&f, f.il, 0, 0, 0, 0, 0, 0, 0, 0, 1);
    fx_teardown(&f);
}

/* Rule 2: a failure of the pending more-preferred executor releases the held
 * result at once, long before the deadline. */
static void test_rule2_failure_releases_held(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.b, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 15);
    assert_true(fake_complete(f.a, 0, SPECX_EUNAVAILABLE));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ib);
    assert_int_equal(o.priority, 5);
    assert_int_equal(o.decided, FX_T0 + SPECX_MS(15));
    assert_int_equal(o.exec[f.ia].status, SPECX_EUNAVAILABLE);
    check_fates(&o, &f, SPECX_FATE_FAILED, SPECX_FATE_WON, SPECX_FATE_CANCELLED);
    check_counts(&f, f.ia, 1, 1, 0, 0, 0, 1, 0, 0, 0);
    fx_teardown(&f);
}

/* A start() failure is a failure too. */
static void test_rule2_start_failure(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    fake_set_default(f.a, (fake_action){.mode = FAKE_START_FAIL, .status = SPECX_EUNAVAILABLE});
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 3);
    assert_true(fake_complete(f.b, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ib);
    check_fates(&o, &f, SPECX_FATE_FAILED, SPECX_FATE_WON, SPECX_FATE_CANCELLED);
    check_counts(&f, f.ia, 1, 0, 0, 0, 0, 1, 0, 0, 0);
    fx_teardown(&f);
}

/* Rule 3: at the deadline the most preferred held result (here the local one,
 * held since t=10) is emitted; outstanding remotes are pending_cancelled.
 * The local executor ranks lowest although its number (100) is the largest. */
static void test_rule3_deadline_emits_held(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(specx_operator_next_deadline(f.op), FX_T0 + SPECX_MS(100));
    fx_at(&f, 10);
    assert_true(fake_complete(f.l, 0, OK));
    fx_at(&f, 99);
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 100);
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_true(o.is_local);
    assert_false(o.fallback); /* it arrived before the deadline */
    assert_int_equal(o.priority, 100);
    assert_int_equal(o.decided, FX_T0 + SPECX_MS(100));
    check_fates(&o, &f, SPECX_FATE_PENDING_CANCELLED, SPECX_FATE_PENDING_CANCELLED, SPECX_FATE_WON);
    assert_int_equal(fake_cancels(f.a), 1);
    assert_int_equal(fake_cancels(f.b), 1);
    assert_int_equal(specx_operator_next_deadline(f.op), SPECX_TIME_NEVER);
    check_counts(&f, f.ia, 1, 1, 0, 0, 0, 0, 0, 0, 1);
    check_counts(&f, f.il, 1, 1, 1, 0, 0, 0, 0, 0, 0);
    specx_operator_stats *s = fx_snapshot(&f);
    assert_int_equal(s->local_wins, 1);
    assert_int_equal(s->fallbacks, 0);
    specx_operator_stats_free(s);
    fx_teardown(&f);
}

/* Rule 3 per executor: cloud-a's deadline (50) passes, so a result of
 * cloud-b at 60 no longer waits for it — even before any timer ran. */
static void test_rule3_per_executor_deadline(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    f.plan.e[f.ia].deadline = SPECX_MS(50);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(specx_operator_next_deadline(f.op), FX_T0 + SPECX_MS(50));
    tclock_set(FX_T0 + SPECX_MS(60)); /* no advance(): the completion sees the clock */
    assert_true(fake_complete(f.b, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ib);
    assert_int_equal(o.deadline, FX_T0 + SPECX_MS(100)); /* latest planned */
    check_fates(&o, &f, SPECX_FATE_PENDING_CANCELLED, SPECX_FATE_WON, SPECX_FATE_CANCELLED);
    assert_int_equal(o.exec[f.ia].deadline, FX_T0 + SPECX_MS(50));
    fx_teardown(&f);
}

/* Rule 4: a remote result after its deadline is dropped and counted late. */
static void test_rule4_late_dropped(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    f.plan.e[f.ia].deadline = SPECX_MS(50);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 60);
    assert_true(fake_complete(f.a, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 0);
    assert_int_equal(fake_results_freed(f.a), 1); /* dropped at once */
    check_counts(&f, f.ia, 1, 1, 0, 0, 1, 0, 0, 0, 0);
    fx_at(&f, 70);
    assert_true(fake_complete(f.b, 0, OK));
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ib);
    check_fates(&o, &f, SPECX_FATE_LATE, SPECX_FATE_WON, SPECX_FATE_CANCELLED);
    fx_teardown(&f);
}

/* Rule 4: a remote executor whose wire deadline expires completes with
 * ETIMEDOUT at its deadline: that is late (a missed deadline), while the same
 * status before the deadline is an ordinary failure (rule 2). */
static void test_rule4_timed_out_is_late(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    f.plan.e[f.ia].deadline = SPECX_MS(50);
    f.plan.e[f.ib].deadline = SPECX_MS(80);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 30);
    assert_true(fake_complete(f.b, 0, SPECX_ETIMEDOUT)); /* early: failed */
    fx_at(&f, 50);
    assert_true(fake_complete(f.a, 0, SPECX_ETIMEDOUT)); /* at its deadline: late */
    assert_true(fake_complete(f.l, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_false(o.fallback); /* the message deadline is cloud-b's, 80 ms */
    check_fates(&o, &f, SPECX_FATE_LATE, SPECX_FATE_FAILED, SPECX_FATE_WON);
    check_counts(&f, f.ia, 1, 1, 0, 0, 1, 0, 0, 0, 0);
    check_counts(&f, f.ib, 1, 1, 0, 0, 0, 1, 0, 0, 0);
    fx_teardown(&f);
}

/* Rule 4 option: while the local result has not come, a late remote result
 * is accepted (flagged late_accepted)... */
static void test_rule4_late_accepted_while_no_local(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_ACCEPT_LATE);
    f.plan.e[f.ia].deadline = SPECX_MS(50);
    f.plan.e[f.ib].deadline = SPECX_MS(50);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 60);
    assert_int_equal(hcollect_count(&f.out), 0); /* waits for local (rule 5) */
    fx_at(&f, 70);
    assert_true(fake_complete(f.b, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ib);
    assert_true(o.late_accepted);
    assert_false(o.fallback);
    check_fates(&o, &f, SPECX_FATE_PENDING_CANCELLED, SPECX_FATE_WON, SPECX_FATE_CANCELLED);
    specx_exec_stats e = fx_stats(&f, f.ib);
    assert_int_equal(e.won, 1);
    assert_int_equal(e.late_accepted, 1);
    assert_int_equal(e.late, 0);
    specx_operator_stats *s = fx_snapshot(&f);
    assert_int_equal(s->late_accepted, 1);
    specx_operator_stats_free(s);
    fx_teardown(&f);
}

/* ...but not once the local result has arrived: then the default rule. */
static void test_rule4_option_local_arrived(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_ACCEPT_LATE);
    f.plan.e[f.ia].deadline = SPECX_MS(50);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 30);
    assert_true(fake_complete(f.l, 0, OK));
    fx_at(&f, 60);
    assert_true(fake_complete(f.a, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 70);
    assert_true(fake_complete(f.b, 0, OK));
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.ib);
    assert_false(o.late_accepted);
    check_fates(&o, &f, SPECX_FATE_LATE, SPECX_FATE_WON, SPECX_FATE_OUTRANKED);
    fx_teardown(&f);
}

/* Rule 5: nothing held at the deadline: the local result, when it comes, is
 * emitted flagged fallback. */
static void test_rule5_fallback_after_deadline(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 100);
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 150);
    assert_true(fake_complete(f.l, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_true(o.fallback);
    assert_true(o.is_local);
    assert_int_equal(o.latency, SPECX_MS(150));
    check_fates(&o, &f, SPECX_FATE_PENDING_CANCELLED, SPECX_FATE_PENDING_CANCELLED, SPECX_FATE_WON);
    specx_operator_stats *s = fx_snapshot(&f);
    assert_int_equal(s->fallbacks, 1);
    assert_int_equal(s->after_deadline, 1);
    assert_true(specx_stats_fallback_ratio(s) == 1.0);
    specx_operator_stats_free(s);
    fx_teardown(&f);
}

/* Rule 5: everything failed: an explicit "no result" with the reason. */
static void test_rule5_all_failed(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.b, 0, SPECX_EIO));
    assert_true(fake_complete(f.a, 0, SPECX_EUNAVAILABLE));
    assert_int_equal(hcollect_count(&f.out), 0);
    assert_true(fake_complete(f.l, 0, SPECX_EINTERNAL));
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, -1);
    assert_int_equal(o.result_id, -1);
    assert_int_equal(o.status, SPECX_EUNAVAILABLE); /* first in preference order */
    assert_non_null(strstr(o.reason, "cloud-a failed (unavailable: fake failure)"));
    assert_non_null(strstr(o.reason, "cloud-b failed (io_error"));
    assert_non_null(strstr(o.reason, "local failed (internal"));
    check_fates(&o, &f, SPECX_FATE_FAILED, SPECX_FATE_FAILED, SPECX_FATE_FAILED);
    specx_operator_stats *s = fx_snapshot(&f);
    assert_int_equal(s->no_results, 1);
    assert_int_equal(s->exec[f.il].failed, 1);
    specx_operator_stats_free(s);
    fx_teardown(&f);
}

/* Rule 5, remote-only: deadlines pass with nothing: "no result", timed out. */
static void test_rule5_remote_only_timeout(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_LOCAL);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 100);
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, -1);
    assert_int_equal(o.status, SPECX_ETIMEDOUT);
    assert_non_null(strstr(o.reason, "cloud-a missed its deadline"));
    check_fates(&o, &f, SPECX_FATE_PENDING_CANCELLED, SPECX_FATE_PENDING_CANCELLED, 0);
    fx_teardown(&f);
}

/* Rule 6 counting: a cancelled call that completes OK anyway counts as
 * cancelled before its deadline, late after it. */
static void test_rule6_cancelled_completes_anyway(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    fake_set_cancel_mode(f.b, FAKE_CANCEL_IGNORE);
    fake_set_cancel_mode(f.l, FAKE_CANCEL_IGNORE);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.a, 0, OK));
    assert_true(fake_complete(f.a, 1, OK));
    assert_int_equal(hcollect_count(&f.out), 2);
    assert_int_equal(fake_get(f.b, 0).cancels, 1);
    assert_int_equal(fake_get(f.b, 1).cancels, 1);
    fx_at(&f, 50);
    assert_true(fake_complete(f.b, 0, OK)); /* before its deadline: cancelled */
    fx_at(&f, 150);
    assert_true(fake_complete(f.b, 1, OK)); /* after: late */
    assert_true(fake_complete(f.l, 0, OK)); /* local: no deadline: cancelled */
    assert_true(fake_complete(f.l, 1, OK));
    hout o = hcollect_get(&f.out, 1);
    check_fates(&o, &f, SPECX_FATE_WON, SPECX_FATE_CANCELLED, SPECX_FATE_CANCELLED);
    check_counts(&f, f.ib, 2, 2, 0, 0, 1, 0, 0, 0, 1);
    check_counts(&f, f.il, 2, 2, 0, 0, 0, 0, 0, 0, 2);
    assert_int_equal(fake_results_freed(f.b), 2);
    fx_teardown(&f);
}

/* Rule 7: with max_in_flight calls outstanding the executor is shed; plan
 * skips are counted as skipped. */
static void test_rule7_shed_and_skip(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_A_MAX1);
    f.plan.e[f.ib].skip = true;
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK); /* A busy */
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK); /* A shed */
    assert_int_equal(fake_starts(f.a), 1);
    assert_int_equal(fake_starts(f.b), 0);
    fx_at(&f, 5);
    assert_true(fake_complete(f.l, 1, OK));      /* msg 1: only local was asked */
    assert_int_equal(hcollect_count(&f.out), 0); /* waits for msg 0 (ordering) */
    assert_true(fake_complete(f.a, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 2);
    hout o0 = hcollect_get(&f.out, 0), o1 = hcollect_get(&f.out, 1);
    assert_int_equal(o0.winner, f.ia);
    check_fates(&o0, &f, SPECX_FATE_WON, SPECX_FATE_SKIPPED, SPECX_FATE_CANCELLED);
    assert_int_equal(o1.winner, f.il);
    assert_false(o1.fallback);
    assert_int_equal(o1.deadline, SPECX_TIME_NEVER); /* no remote call planned */
    check_fates(&o1, &f, SPECX_FATE_SHED, SPECX_FATE_SKIPPED, SPECX_FATE_WON);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK); /* A free again */
    assert_int_equal(fake_starts(f.a), 2);
    check_counts(&f, f.ia, 2, 1, 1, 0, 0, 0, 0, 1, 0);
    check_counts(&f, f.ib, 0, 0, 0, 0, 0, 0, 3, 0, 0);
    specx_exec_stats ea = fx_stats(&f, f.ia);
    assert_int_equal(ea.in_flight, 1);
    fx_teardown(&f);
}

/* Rule 8: local-only needs no plan and has no deadline. */
static void test_rule8_local_only(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_A | FX_NO_B);
    fake_set_default(f.l, (fake_action){.mode = FAKE_INLINE, .status = OK});
    assert_int_equal(specx_operator_submit(f.op, NULL, (void *)0x1234, NULL), OK);
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_false(o.fallback);
    assert_int_equal(o.deadline, SPECX_TIME_NEVER);
    assert_ptr_equal(o.user, (void *)0x1234);
    assert_int_equal(f.plan.plans_called, 0);
    fx_teardown(&f);
}

/* Rule 8: remote-only works; a message every executor skips is "no result". */
static void test_rule8_remote_only(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_LOCAL);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_true(fake_complete(f.a, 0, OK));
    f.plan.e[f.ia].skip = true;
    f.plan.e[f.ib].skip = true;
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(hcollect_count(&f.out), 2);
    hout o0 = hcollect_get(&f.out, 0), o1 = hcollect_get(&f.out, 1);
    assert_int_equal(o0.winner, f.ia);
    assert_int_equal(o1.winner, -1);
    assert_int_equal(o1.status, SPECX_EUNAVAILABLE);
    assert_non_null(strstr(o1.reason, "cloud-a skipped"));
    check_fates(&o1, &f, SPECX_FATE_SKIPPED, SPECX_FATE_SKIPPED, 0);
    fx_teardown(&f);
}

/* Shutdown with messages pending: each is emitted with its best held result
 * or as "no result" (stopped); later submits fail; everything is freed. */
static void test_shutdown_pending(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    fake_set_cancel_mode(f.a, FAKE_CANCEL_ASYNC); /* completes from its thread */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    }
    fx_at(&f, 10);
    assert_true(fake_complete(f.b, 0, OK)); /* msg 0: B held */
    assert_true(fake_complete(f.l, 2, OK)); /* msg 2: local held */
    assert_int_equal(hcollect_count(&f.out), 0);
    specx_operator_shutdown(f.op);
    assert_int_equal(hcollect_count(&f.out), 3);
    hout o0 = hcollect_get(&f.out, 0), o1 = hcollect_get(&f.out, 1), o2 = hcollect_get(&f.out, 2);
    assert_int_equal(o0.winner, f.ib);
    check_fates(&o0, &f, SPECX_FATE_CANCELLED, SPECX_FATE_WON, SPECX_FATE_CANCELLED);
    assert_int_equal(o1.winner, -1);
    assert_int_equal(o1.status, SPECX_ESTOPPED);
    check_fates(&o1, &f, SPECX_FATE_CANCELLED, SPECX_FATE_CANCELLED, SPECX_FATE_CANCELLED);
    assert_int_equal(o2.winner, f.il);
    /* every call completed before shutdown returned */
    assert_int_equal(fake_completions(f.a), 3);
    assert_int_equal(fake_completions(f.b), 3);
    assert_int_equal(fake_completions(f.l), 3);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), SPECX_ESTOPPED);
    specx_operator_shutdown(f.op); /* idempotent */
    assert_int_equal(hcollect_count(&f.out), 3);
    check_counts(&f, f.ia, 3, 3, 0, 0, 0, 0, 0, 0, 3);
    fx_teardown(&f);
}

/* process(): blocking, returns the output; the result can be taken. */
static void test_process_blocking(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_B);
    fake_set_default(f.a, (fake_action){.mode = FAKE_INLINE, .status = OK});
    specx_output *out = NULL;
    assert_int_equal(specx_operator_process(f.op, (void *)0x42, NULL, &out), OK);
    assert_non_null(out);
    assert_int_equal(out->winner, f.ia);
    assert_ptr_equal(out->input, (void *)0x42);
    assert_int_equal(hcollect_count(&f.out), 0); /* not given to the callback */
    fake_result *r = specx_output_take_result(out);
    assert_non_null(r);
    assert_int_equal(r->id, 1);
    assert_null(out->result);
    specx_output_free(f.op, out);
    specx_operator_free_result(f.op, f.ia, r);
    /* without taking the result: release frees it */
    assert_int_equal(specx_operator_process(f.op, NULL, NULL, &out), OK);
    assert_non_null(out->result);
    specx_output_free(f.op, out);
    specx_operator_stats *s = fx_snapshot(&f);
    assert_int_equal(s->outputs, 2);
    specx_operator_stats_free(s);
    fx_teardown(&f);
}

typedef struct proc_arg {
    fx *f;
    sem_t planned;
    size_t outputs_seen;
    uint64_t seq;
} proc_arg;

static void plan_signal(void *user, const specx_msg_info *msg, size_t exec_index, specx_plan *out)
{
    proc_arg *p = user;
    hplan_fn(&p->f->plan, msg, exec_index, out);
    if (msg->seq == 1 && exec_index == 0) {
        sem_post(&p->planned);
    }
}

static void *proc_thread(void *arg)
{
    proc_arg *p = arg;
    specx_output *out = NULL;
    assert_int_equal(specx_operator_process(p->f->op, NULL, NULL, &out), OK);
    p->outputs_seen = hcollect_count(&p->f->out);
    p->seq = out->seq;
    specx_output_free(p->f->op, out);
    return NULL;
}

/* process() after a pending submit returns only after that earlier output
 * has been delivered (ordering across both styles). */
static void test_process_waits_for_earlier(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_B | FX_NO_LOCAL | FX_THREADS);
    proc_arg p = {.f = &f};
    sem_init(&p.planned, 0, 0);
    specx_operator_destroy(f.op); /* rebuild with a signalling plan */
    fake_free(f.a);
    f.a = fake_create(1);
    specx_operator_config cfg = {
        .plan = plan_signal, .plan_user = &p, .output = hcollect_output, .output_user = &f.out};
    assert_int_equal(specx_operator_create(&cfg, &f.op, NULL), OK);
    specx_executor_config c = {.name = "cloud-a", .priority = 10, .exec = fake_executor(f.a)};
    assert_int_equal(specx_operator_add_remote(f.op, &c, NULL, NULL), OK);
    f.plan.e[0].deadline = SPECX_SEC(30);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK); /* seq 0, held */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, proc_thread, &p), 0);
    sem_wait(&p.planned); /* seq 1 is being submitted */
    assert_true(fake_complete(f.a, 0, OK));
    /* seq 1's call is outstanding (hold) until we complete it too */
    while (!fake_complete(f.a, 1, OK)) {
        sched_yield(); /* its start() may not have run yet */
    }
    pthread_join(t, NULL);
    assert_int_equal(p.seq, 1);
    assert_int_equal(p.outputs_seen, 1);
    sem_destroy(&p.planned);
    fx_teardown(&f);
}

/* Head-of-line: a later message decided at once waits for a slow earlier
 * one; the wait shows as emitted - decided. */
static void test_ordering_slow_early_message(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK); /* slow */
    fx_at(&f, 5);
    fake_set_default(f.a, (fake_action){.mode = FAKE_INLINE, .status = OK});
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK); /* decided now */
    assert_int_equal(hcollect_count(&f.out), 0);
    fx_at(&f, 10);
    assert_true(fake_complete(f.l, 0, OK));
    fx_at(&f, 100); /* msg 0's deadline: local wins, then msg 1 follows */
    assert_int_equal(hcollect_count(&f.out), 2);
    hout o0 = hcollect_get(&f.out, 0), o1 = hcollect_get(&f.out, 1);
    assert_int_equal(o0.seq, 0);
    assert_int_equal(o1.seq, 1);
    assert_int_equal(o0.winner, f.il);
    assert_int_equal(o1.winner, f.ia);
    assert_int_equal(o1.decided, FX_T0 + SPECX_MS(5));
    assert_int_equal(o1.emitted, FX_T0 + SPECX_MS(100));
    assert_int_equal(o1.latency, SPECX_MS(95));
    assert_true(f.out.in_order);
    specx_operator_stats *s = fx_snapshot(&f);
    assert_int_equal(specx_hist_quantile(&s->hol_wait, 1.0), SPECX_MS(95));
    specx_operator_stats_free(s);
    fx_teardown(&f);
}

/* Contract checks: registration errors and submit without executors. */
static void test_config_errors(void **state)
{
    (void)state;
    specx_operator *op = NULL;
    specx_operator_config cfg = {0};
    specx_err err = {{0}};
    assert_int_equal(specx_operator_create(&cfg, &op, &err), OK);
    assert_int_equal(specx_operator_submit(op, NULL, NULL, NULL), SPECX_EINVAL);
    fake_exec *x = fake_create(1), *y = fake_create(2);
    specx_executor_config c = {.name = "loc", .exec = fake_executor(x)};
    assert_int_equal(specx_operator_add_local(op, &c, NULL, &err), OK);
    specx_executor_config c2 = {.name = "loc2", .exec = fake_executor(y)};
    assert_int_equal(specx_operator_add_local(op, &c2, NULL, &err), SPECX_EINVAL);
    assert_non_null(strstr(err.msg, "already registered"));
    assert_int_equal(specx_operator_add_remote(op, &c2, NULL, &err), OK);
    /* remote without a plan: submit refuses */
    assert_int_equal(specx_operator_submit(op, NULL, NULL, NULL), SPECX_EINVAL);
    assert_int_equal(specx_operator_executor_count(op), 2);
    assert_string_equal(specx_operator_executor_name(op, 1), "loc2");
    specx_operator_destroy(op);
    fake_free(x);
    fake_free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule1_hold_then_emit),
        cmocka_unit_test(test_rule1_rule6_emit_and_cancel),
        cmocka_unit_test(test_rule1_inline_in_start),
        cmocka_unit_test(test_rule2_failure_releases_held),
        cmocka_unit_test(test_rule2_start_failure),
        cmocka_unit_test(test_rule3_deadline_emits_held),
        cmocka_unit_test(test_rule3_per_executor_deadline),
        cmocka_unit_test(test_rule4_late_dropped),
        cmocka_unit_test(test_rule4_timed_out_is_late),
        cmocka_unit_test(test_rule4_late_accepted_while_no_local),
        cmocka_unit_test(test_rule4_option_local_arrived),
        cmocka_unit_test(test_rule5_fallback_after_deadline),
        cmocka_unit_test(test_rule5_all_failed),
        cmocka_unit_test(test_rule5_remote_only_timeout),
        cmocka_unit_test(test_rule6_cancelled_completes_anyway),
        cmocka_unit_test(test_rule7_shed_and_skip),
        cmocka_unit_test(test_rule8_local_only),
        cmocka_unit_test(test_rule8_remote_only),
        cmocka_unit_test(test_shutdown_pending),
        cmocka_unit_test(test_process_blocking),
        cmocka_unit_test(test_process_waits_for_earlier),
        cmocka_unit_test(test_ordering_slow_early_message),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
