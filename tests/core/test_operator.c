/* test_operator.c — one deterministic test per selection rule (DESIGN.md §2),
 * the late-accept option, shutdown, process() and head-of-line ordering, on a
 * manual clock with inline delivery; checks output fields, fates and counters. */
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "core/operator_internal.h"
#include "fixture.h"
#include "test_timeout.h"

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
    assert_int_equal(sx_operator_next_deadline(f.op), FX_T0 + SPECX_MS(100));
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
    assert_int_equal(sx_operator_next_deadline(f.op), SPECX_TIME_NEVER);
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
    assert_int_equal(sx_operator_next_deadline(f.op), FX_T0 + SPECX_MS(50));
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

/* A plan deadline already in the past still sends the call (the executor
 * sees the past deadline and can fail fast); the call expires at once and is
 * accounted like any call that missed its deadline. Remote-only: the message
 * is "no result", timed out, the calls pending_cancelled and counted when
 * they complete; a fail-fast ETIMEDOUT inside start() is late. */
static void test_past_deadline_still_sent(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_LOCAL);
    specx_time_t past = FX_T0 - SPECX_MS(5);
    f.plan.e[f.ia] = (hplan){.kind = SPECX_DEADLINE_ABSOLUTE, .deadline = past};
    f.plan.e[f.ib] = (hplan){.kind = SPECX_DEADLINE_ABSOLUTE, .deadline = past};
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(fake_starts(f.a), 1);
    assert_int_equal(fake_starts(f.b), 1);
    assert_int_equal(fake_get(f.a, 0).deadline, past);
    assert_int_equal(hcollect_count(&f.out), 1); /* expired at once */
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, -1);
    assert_int_equal(o.status, SPECX_ETIMEDOUT);
    assert_int_equal(o.deadline, past);
    assert_non_null(strstr(o.reason, "cloud-a missed its deadline"));
    assert_non_null(strstr(o.reason, "cloud-b missed its deadline"));
    check_fates(&o, &f, SPECX_FATE_PENDING_CANCELLED, SPECX_FATE_PENDING_CANCELLED, 0);
    assert_int_equal(fake_get(f.a, 0).cancels, 1); /* completes ECANCELED in cancel() */
    check_counts(&f, f.ia, 1, 1, 0, 0, 0, 0, 0, 0, 1);
    assert_int_equal(sx_operator_next_deadline(f.op), SPECX_TIME_NEVER);

    /* cloud-a fails fast inside start(): a missed deadline, late */
    fake_set_default(f.a, (fake_action){.mode = FAKE_INLINE, .status = SPECX_ETIMEDOUT});
    f.plan.e[f.ib].skip = true;
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(fake_starts(f.a), 2);
    assert_int_equal(hcollect_count(&f.out), 2);
    o = hcollect_get(&f.out, 1);
    assert_int_equal(o.status, SPECX_ETIMEDOUT);
    check_fates(&o, &f, SPECX_FATE_LATE, SPECX_FATE_SKIPPED, 0);
    check_counts(&f, f.ia, 2, 2, 0, 0, 1, 0, 0, 0, 1);

    /* beside a future deadline: sent too, and not pending: cloud-b's result
     * is emitted on arrival although cloud-a ranks higher */
    fake_set_default(f.a, (fake_action){.mode = FAKE_HOLD});
    f.plan.e[f.ib] = (hplan){.kind = SPECX_DEADLINE_RELATIVE, .deadline = SPECX_MS(100)};
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(fake_starts(f.a), 3);
    fx_at(&f, 10);
    assert_true(fake_complete(f.b, 2, OK));
    assert_int_equal(hcollect_count(&f.out), 3);
    o = hcollect_get(&f.out, 2);
    assert_int_equal(o.winner, f.ib);
    check_fates(&o, &f, SPECX_FATE_PENDING_CANCELLED, SPECX_FATE_WON, 0);
    fx_teardown(&f);
}

/* A deadline timer that cannot be armed (allocation failure) decides the
 * message at once: "no result" with SPECX_ENOMEM and a reason that says so,
 * not the shutdown text. White-box: the timer heap is replaced by one that
 * holds a single entry, so the second message's arm fails. */
static void test_timer_arm_failure_reason(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_B);
    sx_heap_fini(&f.op->timers); /* no submit yet: nothing armed, no thread */
    assert_int_equal(sx_heap_init_fixed(&f.op->timers, 1), OK);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_int_equal(hcollect_count(&f.out), 0); /* message 1 waits behind 0 */
    assert_true(fake_complete(f.a, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 2);
    hout o = hcollect_get(&f.out, 1);
    assert_int_equal(o.winner, -1);
    assert_int_equal(o.status, SPECX_ENOMEM);
    assert_null(strstr(o.reason, "shut down"));
    assert_non_null(strstr(o.reason, "out of memory"));
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

/* Virtual time: advance() fires nothing on an operator that has a timer
 * thread (only sx_operator_create_manual makes one without), while
 * next_deadline reports the armed deadline either way. */
static void test_advance_needs_manual_timers(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_NO_B | FX_THREADS);
    f.plan.e[f.ia].deadline = SPECX_SEC(60); /* far: the timer thread stays asleep */
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), OK);
    assert_true(fake_complete(f.l, 0, OK)); /* held: cloud-a is still pending */
    specx_time_t d = sx_operator_next_deadline(f.op);
    assert_true(d != SPECX_TIME_NEVER);
    assert_int_equal(sx_operator_advance(f.op, SPECX_TIME_NEVER - 1), 0);
    assert_int_equal(sx_operator_next_deadline(f.op), d);
    specx_operator_shutdown(f.op); /* decides it: the held local result */
    assert_int_equal(hcollect_count(&f.out), 1);
    hout o = hcollect_get(&f.out, 0);
    assert_int_equal(o.winner, f.il);
    assert_int_equal(o.exec[f.ia].fate, SPECX_FATE_CANCELLED); /* not past its deadline */
    fx_teardown(&f);
}

/* An executor that never runs (the operator below never submits). */
static specx_status idle_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    (void)ctx;
    (void)call;
    (void)request;
    (void)deadline;
    return SPECX_EUNAVAILABLE;
}

static void idle_cancel(void *ctx, specx_call *call)
{
    (void)ctx;
    (void)call;
}

static const specx_executor_ops idle_ops = {.start = idle_start, .cancel = idle_cancel};

enum { N_NAMES = 200 };

typedef struct adder {
    specx_operator *op;
    specx_status st;
} adder;

static void *add_remotes(void *arg)
{
    adder *a = arg;
    for (int i = 1; i < N_NAMES && a->st == OK; i++) {
        specx_executor_config c = {.exec = {.ops = &idle_ops}};
        snprintf(c.name, sizeof c.name, "r%d", i);
        a->st = specx_operator_add_remote(a->op, &c, NULL, NULL);
    }
    return NULL;
}

/* executor_count / executor_name are thread-safe against add_*, and a name
 * stays valid until destroy (the table it came from grows meanwhile). */
static void test_executor_names_while_adding(void **state)
{
    (void)state;
    specx_operator *op = NULL;
    specx_operator_config cfg = {0};
    assert_int_equal(specx_operator_create(&cfg, &op, NULL), OK);
    specx_executor_config c = {.name = "r0", .exec = {.ops = &idle_ops}};
    assert_int_equal(specx_operator_add_remote(op, &c, NULL, NULL), OK);
    const char *first = specx_operator_executor_name(op, 0);
    adder a = {.op = op, .st = OK};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, add_remotes, &a), 0);
    /* read while the other thread adds (and the table is reallocated) */
    size_t bad = 0;
    for (int k = 0; k < 20000 && specx_operator_executor_count(op) < N_NAMES; k++) {
        size_t n = specx_operator_executor_count(op);
        const char *name = specx_operator_executor_name(op, n - 1);
        char want[16];
        snprintf(want, sizeof want, "r%zu", n - 1);
        bad += name == NULL || strcmp(name, want) != 0;
    }
    pthread_join(t, NULL);
    assert_int_equal(a.st, OK);
    assert_int_equal(bad, 0);
    assert_int_equal(specx_operator_executor_count(op), N_NAMES);
    assert_string_equal(first, "r0");
    assert_null(specx_operator_executor_name(op, N_NAMES));
    specx_operator_destroy(op);
}

/* shutdown and process from inside the operator's calls into user and
 * executor code (plan, start, cancel, input_release) would wait for the
 * calling thread itself: shutdown returns at once without doing anything,
 * process fails with SPECX_EINVAL, and the message goes on as if nothing
 * was asked. Each case runs on a worker thread so that a hang fails the
 * test instead of stalling it. */
enum { NEST_PLAN, NEST_START, NEST_CANCEL, NEST_RELEASE, NEST_COUNT };

typedef struct nest nest;
typedef struct nest_exec {
    nest *n;
    specx_call *held;
} nest_exec;

struct nest {
    specx_operator *op;
    int where;
    nest_exec ex[2]; /* 0: "win" (priority 10), 1: "other" (priority 5) */
    hcollect out;
    int nested;              /* times shutdown returned inside a callback */
    specx_status process_st; /* process() inside the callback */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
};

static void nest_call(nest *n, int where)
{
    if (n->where != where) {
        return;
    }
    specx_operator_shutdown(n->op);
    n->nested++;
    specx_output *out = NULL;
    n->process_st = specx_operator_process(n->op, NULL, NULL, &out);
}

static void nest_plan(void *user, const specx_msg_info *msg, size_t exec_index, specx_plan *out)
{
    (void)msg;
    nest *n = user;
    if (exec_index == 1) {
        nest_call(n, NEST_PLAN);
    }
    out->deadline = SPECX_SEC(60);
}

static specx_status nest_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    (void)request;
    (void)deadline;
    nest_exec *x = ctx;
    x->held = call;
    if (x == &x->n->ex[1]) {
        nest_call(x->n, NEST_START);
    }
    return OK;
}

static void nest_cancel(void *ctx, specx_call *call)
{
    nest_exec *x = ctx;
    nest_call(x->n, NEST_CANCEL);
    if (x->held == call) {
        x->held = NULL;
        specx_call_complete(call, SPECX_ECANCELED, NULL, NULL);
    }
}

static void nest_release(void *user, void *input, void *msg_user)
{
    (void)input;
    (void)msg_user;
    nest_call(user, NEST_RELEASE);
}

static const specx_executor_ops nest_ops = {.start = nest_start, .cancel = nest_cancel};

/* submit; "win" answers, which cancels "other"; all on this thread (inline
 * delivery, cancel completes inline, the last reference drops here). */
static void *nest_run(void *arg)
{
    nest *n = arg;
    if (specx_operator_submit(n->op, NULL, NULL, NULL) == OK && n->ex[0].held != NULL) {
        specx_call *c = n->ex[0].held;
        n->ex[0].held = NULL;
        fake_result *r = malloc(sizeof *r); /* what the output collector reads */
        if (r != NULL) {
            *r = (fake_result){.id = 1};
        }
        specx_call_complete(c, r != NULL ? OK : SPECX_ENOMEM, r, NULL);
    }
    pthread_mutex_lock(&n->mu);
    n->done = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

static void test_shutdown_inside_callbacks(void **state)
{
    (void)state;
    for (int where = 0; where < NEST_COUNT; where++) {
        nest n = {.where = where};
        hcollect_init(&n.out);
        pthread_mutex_init(&n.mu, NULL);
        pthread_cond_init(&n.cv, NULL);
        specx_operator_config cfg = {.plan = nest_plan,
                                     .plan_user = &n,
                                     .output = hcollect_output,
                                     .output_user = &n.out,
                                     .delivery = SPECX_DELIVER_INLINE,
                                     .input_release = nest_release,
                                     .release_user = &n};
        assert_int_equal(specx_operator_create(&cfg, &n.op, NULL), OK);
        for (int i = 0; i < 2; i++) {
            n.ex[i].n = &n;
            specx_executor_config c = {.priority = 10 - 5 * i,
                                       .exec = {.ops = &nest_ops, .ctx = &n.ex[i]}};
            snprintf(c.name, sizeof c.name, "%s", i == 0 ? "win" : "other");
            assert_int_equal(specx_operator_add_remote(n.op, &c, NULL, NULL), OK);
        }
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, nest_run, &n), 0);
        struct timespec until = specx_test_realtime_in(10);
        pthread_mutex_lock(&n.mu);
        while (!n.done && pthread_cond_timedwait(&n.cv, &n.mu, &until) == 0) {
        }
        bool done = n.done;
        pthread_mutex_unlock(&n.mu);
        if (!done) {
            fail_msg("case %d: shutdown inside the callback did not return", where);
        }
        pthread_join(t, NULL);
        assert_int_equal(n.nested, 1);
        assert_int_equal(n.process_st, SPECX_EINVAL);
        assert_int_equal(hcollect_count(&n.out), 1);
        hout o = hcollect_get(&n.out, 0);
        assert_int_equal(o.winner, 0); /* the nested shutdown changed nothing */
        specx_operator_destroy(n.op);
        hcollect_fini(&n.out);
        pthread_mutex_destroy(&n.mu);
        pthread_cond_destroy(&n.cv);
    }
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
        cmocka_unit_test(test_past_deadline_still_sent),
        cmocka_unit_test(test_timer_arm_failure_reason),
        cmocka_unit_test(test_rule6_cancelled_completes_anyway),
        cmocka_unit_test(test_rule7_shed_and_skip),
        cmocka_unit_test(test_rule8_local_only),
        cmocka_unit_test(test_rule8_remote_only),
        cmocka_unit_test(test_shutdown_pending),
        cmocka_unit_test(test_process_blocking),
        cmocka_unit_test(test_process_waits_for_earlier),
        cmocka_unit_test(test_ordering_slow_early_message),
        cmocka_unit_test(test_advance_needs_manual_timers),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_executor_names_while_adding),
        cmocka_unit_test(test_shutdown_inside_callbacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
