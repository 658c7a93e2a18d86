/* test_stress.c — randomized stress: 10,000 messages per delivery mode, four
 * executors with random 0-2 ms delays, failures and start failures, three
 * cancel behaviours, up to 64 messages in flight, real timers. Checks: one
 * output per message, in order; never worse than the best result that
 * arrived (as the fakes recorded) before its deadline; statistics add up;
 * no leaks (ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "specx/stats.h"

#include "fake_executor.h"
#include "harness.h"

#define N_MSG 10000
#define WINDOW 64
#define N_EX 4 /* 0..2 remote, 3 local */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

typedef struct exspec {
    int id;
    int fail_pct, start_fail_pct;
    int64_t max_delay_ns;
} exspec;

static const exspec specs[N_EX] = {
    {.id = 0, .fail_pct = 10, .start_fail_pct = 0, .max_delay_ns = SPECX_MS(2)},
    {.id = 1, .fail_pct = 10, .start_fail_pct = 2, .max_delay_ns = SPECX_MS(2)},
    {.id = 2, .fail_pct = 5, .start_fail_pct = 0, .max_delay_ns = SPECX_MS(1)},
    {.id = 3, .fail_pct = 5, .start_fail_pct = 0, .max_delay_ns = SPECX_MS(2)},
};

static void script(void *user, uint64_t seq, fake_action *a)
{
    const exspec *s = user;
    uint64_t r = mix(seq * 8 + (uint64_t)s->id + 0x1234);
    int pct = (int)(r % 100);
    a->mode = FAKE_DELAY;
    a->status = SPECX_OK;
    a->delay = (int64_t)((r >> 8) % (uint64_t)s->max_delay_ns);
    if (pct < s->start_fail_pct) {
        a->mode = FAKE_START_FAIL;
        a->status = SPECX_EUNAVAILABLE;
    } else if (pct < s->start_fail_pct + s->fail_pct) {
        a->status = SPECX_EIO;
    } else if (pct >= 97) {
        a->mode = FAKE_INLINE; /* now and then inside start() */
    }
}

static void plan(void *user, const specx_msg_info *msg, size_t exec_index, specx_plan *out)
{
    (void)user;
    uint64_t r = mix(msg->seq * 16 + exec_index + 99);
    if (exec_index == 2 && msg->seq % 7 == 0) {
        out->skip = true;
        return;
    }
    specx_dur_t d = SPECX_US(500) + (specx_dur_t)(r % 1000) * SPECX_US(1);
    if (r & (1u << 20)) {
        out->deadline_kind = SPECX_DEADLINE_ABSOLUTE;
        out->deadline = msg->arrival + d;
    } else {
        out->deadline_kind = SPECX_DEADLINE_RELATIVE;
        out->deadline = d;
    }
}

static void run(specx_delivery delivery)
{
    hcollect c;
    hcollect_init(&c);
    specx_operator_config cfg = {
        .plan = plan, .output = hcollect_output, .output_user = &c, .delivery = delivery};
    specx_operator *op = NULL;
    assert_int_equal(specx_operator_create(&cfg, &op, NULL), SPECX_OK);
    fake_exec *fx[N_EX];
    int rank[N_EX] = {3, 2, 1, 0};
    const fake_cancel_mode cms[N_EX] = {FAKE_CANCEL_INLINE, FAKE_CANCEL_ASYNC, FAKE_CANCEL_IGNORE,
                                        FAKE_CANCEL_INLINE};
    for (int i = 0; i < N_EX; i++) {
        fx[i] = fake_create(i);
        fake_set_script(fx[i], script, (void *)&specs[i]);
        fake_set_cancel_mode(fx[i], cms[i]);
        specx_executor_config ec = {.priority = 30 - 10 * i,
                                    .max_in_flight = i == 0 ? 48 : 0,
                                    .exec = fake_executor(fx[i])};
        snprintf(ec.name, sizeof ec.name, "%s%d", i == 3 ? "local" : "remote", i);
        size_t idx = 0;
        specx_status st = i == 3 ? specx_operator_add_local(op, &ec, &idx, NULL)
                                 : specx_operator_add_remote(op, &ec, &idx, NULL);
        assert_int_equal(st, SPECX_OK);
        assert_int_equal(idx, (size_t)i);
    }
    for (int i = 0; i < N_MSG; i++) {
        if (i >= WINDOW) {
            assert_true(hcollect_wait(&c, (size_t)(i - WINDOW + 1), 30000));
        }
        assert_int_equal(specx_operator_submit(op, NULL, NULL, NULL), SPECX_OK);
    }
    assert_true(hcollect_wait(&c, N_MSG, 30000));
    specx_operator_shutdown(op);
    assert_int_equal(hcollect_count(&c), N_MSG);
    assert_true(c.in_order);

    size_t wins[N_EX + 1] = {0}, fallbacks = 0;
    for (size_t k = 0; k < N_MSG; k++) {
        hout o = hcollect_get(&c, k);
        assert_int_equal(o.seq, k);
        int best = -1; /* rank of the best result the operator surely saw in time */
        for (int i = 0; i < N_EX; i++) {
            fake_rec r = fake_get(fx[i], k);
            if (!r.completed || r.status != SPECX_OK) {
                continue;
            }
            bool in_time = i == 3 ? r.t_after < o.decided : r.t_after < r.deadline;
            if (in_time && rank[i] > best) {
                best = rank[i];
            }
        }
        int got = o.winner >= 0 ? rank[o.winner] : -1;
        if (got < best) {
            fail_msg("msg %zu: winner %d (rank %d) worse than rank %d in time", k, o.winner, got,
                     best);
        }
        if (o.winner >= 0) {
            assert_int_equal(o.result_id, o.winner);
            assert_int_equal(o.result_seq, k);
            assert_int_equal(o.exec[o.winner].fate, SPECX_FATE_WON);
            wins[o.winner]++;
        } else {
            wins[N_EX]++;
        }
        fallbacks += o.fallback;
    }
    specx_operator_stats *s = NULL;
    assert_int_equal(specx_operator_stats_snapshot(op, &s), SPECX_OK);
    assert_int_equal(s->outputs, N_MSG);
    assert_int_equal(s->pending, 0);
    assert_int_equal(s->fallbacks, fallbacks);
    for (int i = 0; i < N_EX; i++) {
        const specx_exec_stats *e = &s->exec[i];
        uint64_t sum =
            e->won + e->outranked + e->late + e->failed + e->skipped + e->shed + e->cancelled;
        assert_int_equal(sum, N_MSG); /* each (message, executor) counted once */
        assert_int_equal(e->won, wins[i]);
        assert_int_equal(e->in_flight, 0);
        assert_int_equal(e->completed, fake_completions(fx[i]));
        assert_int_equal(fake_late_cancels(fx[i]), 0);
    }
    print_message("%s: wins r0 %zu r1 %zu r2 %zu local %zu none %zu, fallbacks %zu, shed r0 "
                  "%llu, late r0 %llu, e2e p50 %.3f ms p99 %.3f ms\n",
                  delivery == SPECX_DELIVER_INLINE ? "inline" : "thread", wins[0], wins[1], wins[2],
                  wins[3], wins[4], fallbacks, (unsigned long long)s->exec[0].shed,
                  (unsigned long long)s->exec[0].late,
                  specx_dur_ms(specx_hist_quantile(&s->latency, 0.5)),
                  specx_dur_ms(specx_hist_quantile(&s->latency, 0.99)));
    specx_operator_stats_free(s);
    specx_operator_destroy(op);
    for (int i = 0; i < N_EX; i++) {
        assert_int_equal(fake_results_made(fx[i]), fake_results_freed(fx[i]));
        fake_free(fx[i]);
    }
    hcollect_fini(&c);
}

static void test_stress_thread_delivery(void **state)
{
    (void)state;
    run(SPECX_DELIVER_THREAD);
}

static void test_stress_inline_delivery(void **state)
{
    (void)state;
    run(SPECX_DELIVER_INLINE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_thread_delivery),
        cmocka_unit_test(test_stress_inline_delivery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
