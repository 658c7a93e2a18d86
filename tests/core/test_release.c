/* test_release.c — the operator's input_release: called once per message,
 * only after its output and after every call for it completed (including
 * late completions of cancelled calls), for process(), at shutdown, never for
 * a failed submit; on a manual clock, then on real threads. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "fixture.h"

#define OK SPECX_OK
#define IN(i) ((void *)(uintptr_t)(0x1000 + (i)))

/* The output goes out while the cancelled calls are still running on the
 * input: the release waits for the last late completion, on its thread. */
static void test_release_after_output_and_late_completion(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_RELEASE);
    fake_set_cancel_mode(f.b, FAKE_CANCEL_IGNORE);
    fake_set_cancel_mode(f.l, FAKE_CANCEL_IGNORE);
    assert_int_equal(specx_operator_submit(f.op, IN(0), (void *)0x77, NULL), OK);
    fx_at(&f, 10);
    assert_true(fake_complete(f.a, 0, OK)); /* most preferred: emitted at once */
    assert_int_equal(hcollect_count(&f.out), 1);
    assert_int_equal(fake_get(f.b, 0).cancels, 1);
    assert_int_equal(fake_get(f.l, 0).cancels, 1);
    assert_int_equal(fx_released(&f), 0); /* b and local still hold the input */
    assert_true(fake_complete(f.b, 0, OK));
    assert_int_equal(fx_released(&f), 0); /* local still running on it */
    fx_at(&f, 500);
    assert_int_equal(fx_released(&f), 0);
    assert_true(fake_complete(f.l, 0, OK)); /* late completion of a cancelled call */
    assert_int_equal(fx_released(&f), 1);
    fx_rel_rec r = fx_release_get(&f, 0);
    assert_ptr_equal(r.input, IN(0));
    assert_ptr_equal(r.user, (void *)0x77);
    assert_int_equal(r.outputs_before, 1);
    fx_teardown(&f);
}

/* The last reference can also be the delivery: calls all completed before
 * the output, which is held behind an earlier message (head of line). */
static void test_release_after_delivery(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_RELEASE);
    assert_int_equal(specx_operator_submit(f.op, IN(0), NULL, NULL), OK);
    assert_int_equal(specx_operator_submit(f.op, IN(1), NULL, NULL), OK);
    /* message 1 decided and all its calls complete (cancel completes inline) */
    assert_true(fake_complete(f.a, 1, OK));
    assert_int_equal(fake_completions(f.b), 1);
    assert_int_equal(fake_completions(f.l), 1);
    assert_int_equal(hcollect_count(&f.out), 0); /* waits for message 0 */
    assert_int_equal(fx_released(&f), 0);        /* not delivered yet */
    assert_true(fake_complete(f.a, 0, OK));
    assert_int_equal(hcollect_count(&f.out), 2);
    assert_int_equal(fx_released(&f), 2);
    assert_int_equal(fx_release_count(&f, IN(0)), 1);
    assert_int_equal(fx_release_count(&f, IN(1)), 1);
    for (size_t i = 0; i < 2; i++) {
        fx_rel_rec r = fx_release_get(&f, i);
        assert_true(r.outputs_before > (size_t)((uintptr_t)r.input - 0x1000));
    }
    fx_teardown(&f);
}

/* Inline delivery: a message whose last reference the delivery dropped is
 * released by the delivering thread after its batch. A head of line decided
 * by another thread while that release runs is delivered all the same (by
 * the delivering thread, when its releases are done), not left for the next
 * event. Deterministic: the release of message 1 starts the other thread,
 * which decides message 2, and waits until that thread returned. */
typedef struct hol_release {
    fx *f;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t t;
    bool started, done, completed;
} hol_release;

static void *complete_msg2(void *arg)
{
    hol_release *h = arg;
    bool ok = fake_complete(h->f->l, 2, OK); /* decides the head: message 2 */
    pthread_mutex_lock(&h->mu);
    h->completed = ok;
    h->done = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void hol_release_hook(void *user, void *input)
{
    hol_release *h = user;
    if (input != IN(1) || h->started) {
        return;
    }
    h->started = true;
    if (pthread_create(&h->t, NULL, complete_msg2, h) != 0) {
        return; /* the test sees started && !done */
    }
    pthread_mutex_lock(&h->mu);
    while (!h->done) {
        pthread_cond_wait(&h->cv, &h->mu);
    }
    pthread_mutex_unlock(&h->mu);
}

static void test_release_inline_head_decided_meanwhile(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_RELEASE | FX_NO_A | FX_NO_B);
    hol_release h = {.f = &f};
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    f.rel_hook = hol_release_hook;
    f.rel_hook_user = &h;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(specx_operator_submit(f.op, IN(i), NULL, NULL), OK);
    }
    assert_true(fake_complete(f.l, 1, OK)); /* decided, waits behind message 0 */
    assert_int_equal(hcollect_count(&f.out), 0);
    /* delivers 0 and 1; 1's release runs in the delivery, 2 is decided meanwhile */
    assert_true(fake_complete(f.l, 0, OK));
    assert_true(h.started);
    pthread_join(h.t, NULL);
    assert_true(h.done);
    assert_true(h.completed);
    assert_int_equal(hcollect_count(&f.out), 3); /* without waiting for another event */
    assert_true(f.out.in_order);
    assert_int_equal(fx_released(&f), 3);
    fx_teardown(&f);
    pthread_mutex_destroy(&h.mu);
    pthread_cond_destroy(&h.cv);
}

/* Many messages with mixed outcomes: exactly one release each, each after
 * its own output, and after every request_free of the message ran. */
static void script_mixed(void *user, uint64_t seq, fake_action *a)
{
    int who = *(int *)user;
    switch ((seq + (uint64_t)who) % 4) {
    case 0:
        *a = (fake_action){.mode = FAKE_INLINE, .status = OK};
        break;
    case 1:
        *a = (fake_action){.mode = FAKE_START_FAIL, .status = SPECX_EUNAVAILABLE};
        break;
    case 2:
        *a = (fake_action){.mode = FAKE_INLINE, .status = SPECX_EIO};
        break;
    default:
        *a = (fake_action){.mode = FAKE_HOLD};
        break;
    }
}

static void test_release_exactly_once(void **state)
{
    (void)state;
    enum { N = 40 };
    fx f;
    fx_setup(&f, FX_RELEASE);
    fx_count_request_frees(&f);
    /* seq % 4: 0 cloud-a wins inside start(); 1 every start/call fails;
     * 2 cloud-b times out; 3 cloud-a (held, completed below) wins over a held
     * cloud-b while the local call keeps running (cancel ignored) */
    int ida = 0, idb = 1, idl = 0;
    fake_set_script(f.a, script_mixed, &ida);
    fake_set_script(f.b, script_mixed, &idb);
    fake_set_script(f.l, script_mixed, &idl);
    fake_set_cancel_mode(f.l, FAKE_CANCEL_IGNORE);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(specx_operator_submit(f.op, IN(i), NULL, NULL), OK);
        if (i % 4 == 3) {
            assert_true(fake_complete(f.a, i, OK));
        }
        if (i % 7 == 3) {
            fx_at(&f, (int64_t)(i + 1) * 50); /* expire what is pending */
        }
    }
    fx_at(&f, 10000);
    assert_int_equal(hcollect_count(&f.out), N);
    /* held local calls (cancel ignored) keep their messages' inputs */
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(fx_release_count(&f, IN(i)), i % 4 == 3 ? 0 : 1);
    }
    assert_int_equal(fx_released(&f), N - N / 4);
    for (size_t i = 3; i < N; i += 4) {
        assert_true(fake_complete(f.l, i, OK));
        assert_int_equal(fx_release_count(&f, IN(i)), 1);
    }
    assert_int_equal(fx_released(&f), N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(fx_release_count(&f, IN(i)), 1);
        fx_rel_rec r = fx_release_get(&f, i);
        assert_true(r.outputs_before > (size_t)((uintptr_t)r.input - 0x1000));
    }
    /* two remote plans per message, each request freed before the release */
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(fx_release_get(&f, i).req_frees_before, 2);
    }
    fx_teardown(&f);
}

/* A call decided away before it started: its request_free is deferred to the
 * deciding thread and still runs before the release. */
static void test_release_after_unstarted_request_free(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_RELEASE);
    fx_count_request_frees(&f);
    fake_set_default(f.a, (fake_action){.mode = FAKE_INLINE, .status = OK});
    assert_int_equal(specx_operator_submit(f.op, IN(0), NULL, NULL), OK);
    assert_int_equal(hcollect_count(&f.out), 1);
    assert_false(fake_get(f.b, 0).started);
    assert_false(fake_get(f.l, 0).started);
    assert_int_equal(fx_released(&f), 1);
    fx_rel_rec r = fx_release_get(&f, 0);
    assert_int_equal(r.req_frees_before, 2);
    assert_int_equal(r.outputs_before, 1);
    fx_teardown(&f);
}

/* process(): the caller holds the input through its output; released in
 * specx_output_free (on the caller's thread), not before. */
static void test_release_process(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_RELEASE | FX_NO_A | FX_NO_B);
    fake_set_default(f.l, (fake_action){.mode = FAKE_INLINE, .status = OK});
    specx_output *out = NULL;
    assert_int_equal(specx_operator_process(f.op, IN(5), NULL, &out), OK);
    assert_ptr_equal(out->input, IN(5));
    assert_int_equal(fx_released(&f), 0);
    specx_output_free(f.op, out);
    assert_int_equal(fx_released(&f), 1);
    assert_ptr_equal(fx_release_get(&f, 0).input, IN(5));
    fx_teardown(&f);
}

/* Shutdown with pending work: every message released when it returns (the
 * cancelled calls complete from the fakes' worker threads); a submit that
 * fails is never released. */
static void test_release_shutdown_and_failed_submit(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, FX_RELEASE);
    fake_set_cancel_mode(f.a, FAKE_CANCEL_ASYNC);
    fake_set_cancel_mode(f.b, FAKE_CANCEL_ASYNC);
    fake_set_cancel_mode(f.l, FAKE_CANCEL_ASYNC);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(specx_operator_submit(f.op, IN(i), NULL, NULL), OK);
    }
    assert_true(fake_complete(f.b, 1, OK));
    assert_int_equal(fx_released(&f), 0);
    specx_operator_shutdown(f.op);
    assert_int_equal(hcollect_count(&f.out), 5);
    assert_int_equal(fx_released(&f), 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(fx_release_count(&f, IN(i)), 1);
    }
    assert_int_equal(specx_operator_submit(f.op, IN(9), NULL, NULL), SPECX_ESTOPPED);
    specx_output *out = NULL;
    assert_int_equal(specx_operator_process(f.op, IN(10), NULL, &out), SPECX_ESTOPPED);
    fx_teardown(&f); /* f.rel freed: count before */
}

static size_t g_rel_calls;
static void count_rel(void *user, void *input, void *msg_user)
{
    (void)user;
    (void)input;
    (void)msg_user;
    g_rel_calls++;
}

/* Submit refused for lack of executors / plan: no message, no release. */
static void test_release_never_for_invalid_submit(void **state)
{
    (void)state;
    g_rel_calls = 0;
    specx_operator *op = NULL;
    specx_operator_config cfg = {.input_release = count_rel};
    specx_err err = {{0}};
    assert_int_equal(specx_operator_create(&cfg, &op, &err), OK);
    assert_int_equal(specx_operator_submit(op, IN(0), NULL, NULL), SPECX_EINVAL);
    fake_exec *x = fake_create(1);
    specx_executor_config c = {.name = "remote", .exec = fake_executor(x)};
    assert_int_equal(specx_operator_add_remote(op, &c, NULL, &err), OK);
    assert_int_equal(specx_operator_submit(op, IN(1), NULL, NULL), SPECX_EINVAL); /* no plan */
    specx_operator_destroy(op);
    fake_free(x);
    assert_int_equal(g_rel_calls, 0);
}

/* Real threads: random delays, cancels completing from the fakes' threads;
 * one release per message, all of them before destroy returns. */
static void threads_case(unsigned flags)
{
    enum { N = 300 };
    fx f;
    fx_setup(&f, FX_RELEASE | FX_THREADS | flags);
    fx_count_request_frees(&f);
    for (int i = 0; i < H_MAX_EXEC; i++) {
        f.plan.e[i].deadline = SPECX_MS(2);
    }
    fake_set_default(f.a, (fake_action){.mode = FAKE_DELAY, .delay = SPECX_US(1500)});
    fake_set_default(f.b, (fake_action){.mode = FAKE_DELAY, .delay = SPECX_US(300)});
    fake_set_default(f.l, (fake_action){.mode = FAKE_DELAY, .delay = SPECX_US(900)});
    fake_set_cancel_mode(f.a, FAKE_CANCEL_ASYNC);
    fake_set_cancel_mode(f.b, FAKE_CANCEL_INLINE);
    fake_set_cancel_mode(f.l, FAKE_CANCEL_IGNORE); /* keeps running on the input */
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(specx_operator_submit(f.op, IN(i), NULL, NULL), OK);
    }
    assert_true(hcollect_wait(&f.out, N, 20000));
    /* fx_teardown destroys the operator; every release must be in by then */
    specx_operator_destroy(f.op);
    f.op = NULL;
    assert_int_equal(fx_released(&f), N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(fx_release_count(&f, IN(i)), 1);
        fx_rel_rec r = fx_release_get(&f, i);
        assert_true(r.outputs_before > (size_t)((uintptr_t)r.input - 0x1000));
        assert_int_equal(r.req_frees_before, 2);
    }
    /* each local call started ran to the end (one is not started when its
     * message was decided first: a submitter preempted past the 2 ms
     * deadlines between two start()s) */
    assert_int_equal(fake_completions(f.l), fake_starts(f.l));
    fx_teardown(&f);
}

static void test_release_threads(void **state)
{
    (void)state;
    threads_case(0);
}

static void test_release_threads_inline(void **state)
{
    (void)state;
    threads_case(FX_INLINE_DELIVERY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_after_output_and_late_completion),
        cmocka_unit_test(test_release_after_delivery),
        cmocka_unit_test(test_release_inline_head_decided_meanwhile),
        cmocka_unit_test(test_release_exactly_once),
        cmocka_unit_test(test_release_after_unstarted_request_free),
        cmocka_unit_test(test_release_process),
        cmocka_unit_test(test_release_shutdown_and_failed_submit),
        cmocka_unit_test(test_release_never_for_invalid_submit),
        cmocka_unit_test(test_release_threads),
        cmocka_unit_test(test_release_threads_inline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
