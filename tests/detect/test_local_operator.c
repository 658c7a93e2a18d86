/* test_local_operator.c — the local executor under the real operator: a
 * local-only message, a remote result that wins while the local detector is
 * running (the operator cancels it, the detector stops at a checkpoint), and
 * the drop-oldest queue policy seen as outputs. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* cmocka needs the headers above */
#include <cmocka.h>

#include "specx/detector.h"
#include "specx/executor.h"
#include "specx/local_executor.h"
#include "specx/operator.h"

#include "test_timeout.h"

/* ---- a detector the test steps through (see test_local_executor.c) ----- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int tokens, entered, cancelled;
} g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};

static specx_status gate_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                                specx_detections *out, specx_err *err)
{
    (void)impl;
    (void)img;
    pthread_mutex_lock(&g.mu);
    g.entered++;
    pthread_cond_broadcast(&g.cv);
    while (g.tokens == 0 && !atomic_load(cancel)) {
        struct timespec ts = specx_test_realtime_in(0.001 / specx_test_timeout_scale());
        pthread_cond_timedwait(&g.cv, &g.mu, &ts); /* a checkpoint per ms */
    }
    if (g.tokens == 0) {
        g.cancelled++;
        pthread_cond_broadcast(&g.cv);
        pthread_mutex_unlock(&g.mu);
        return specx_err_set(err, SPECX_ECANCELED, "test detector cancelled");
    }
    g.tokens--;
    pthread_mutex_unlock(&g.mu);
    specx_detection d = {.class_id = 2, .score = 0.5f, .xmax = 1, .ymax = 1};
    snprintf(d.label, sizeof d.label, "car");
    return specx_detections_push(out, &d);
}

static const specx_detector_ops gate_ops = {.detect = gate_detect};

static void release(int n)
{
    pthread_mutex_lock(&g.mu);
    g.tokens += n;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

static void wait_gate(int *counter, int n)
{
    struct timespec ts = specx_test_realtime_in(5);
    pthread_mutex_lock(&g.mu);
    while (*counter < n) {
        if (pthread_cond_timedwait(&g.cv, &g.mu, &ts) != 0) {
            pthread_mutex_unlock(&g.mu);
            fail_msg("timed out waiting for the test detector (%d < %d)", *counter, n);
        }
    }
    pthread_mutex_unlock(&g.mu);
}

/* ---- a remote executor the test completes by hand ----------------------- */

static struct {
    pthread_mutex_t mu;
    specx_call *call;
} remote = {PTHREAD_MUTEX_INITIALIZER, NULL};

static specx_status remote_start(void *ctx, specx_call *call, void *request, specx_time_t dl)
{
    (void)ctx;
    (void)request;
    (void)dl;
    pthread_mutex_lock(&remote.mu);
    remote.call = call;
    pthread_mutex_unlock(&remote.mu);
    return SPECX_OK;
}

static void remote_cancel(void *ctx, specx_call *call)
{
    (void)ctx;
    pthread_mutex_lock(&remote.mu);
    int mine = remote.call == call;
    if (mine) {
        remote.call = NULL;
    }
    pthread_mutex_unlock(&remote.mu);
    if (mine) {
        specx_call_complete(call, SPECX_ECANCELED, NULL, "cancelled");
    }
}

static void remote_free(void *ctx, void *result)
{
    (void)ctx;
    specx_detections_destroy(result);
}

static const specx_executor_ops remote_ops = {
    .start = remote_start, .cancel = remote_cancel, .free_result = remote_free};

static void plan(void *user, const specx_msg_info *msg, size_t exec_index, specx_plan *out)
{
    (void)user;
    (void)msg;
    (void)exec_index;
    out->deadline_kind = SPECX_DEADLINE_RELATIVE;
    out->deadline = SPECX_SEC(30);
}

/* ---- outputs ------------------------------------------------------------- */

typedef struct seen {
    uint64_t seq;
    int winner;
    int is_local;
    specx_status status;
    specx_fate local_fate;
    char label[SPECX_LABEL_MAX];
    char reason[160];
} seen;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    seen out[16];
    int n;
    size_t local_index;
} outs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {{0}}, 0, 0};

static void on_output(void *user, specx_output *o)
{
    (void)user;
    pthread_mutex_lock(&outs.mu);
    seen *s = &outs.out[outs.n++];
    s->seq = o->seq;
    s->winner = o->winner;
    s->is_local = o->is_local;
    s->status = o->status;
    s->local_fate = o->exec[outs.local_index].fate;
    const specx_detections *d = o->result;
    snprintf(s->label, sizeof s->label, "%s", d != NULL && d->count > 0 ? d->items[0].label : "");
    snprintf(s->reason, sizeof s->reason, "%s", o->reason != NULL ? o->reason : "");
    pthread_cond_broadcast(&outs.cv);
    pthread_mutex_unlock(&outs.mu);
}

static void wait_outputs(int n)
{
    struct timespec ts = specx_test_realtime_in(5);
    pthread_mutex_lock(&outs.mu);
    while (outs.n < n) {
        if (pthread_cond_timedwait(&outs.cv, &outs.mu, &ts) != 0) {
            pthread_mutex_unlock(&outs.mu);
            fail_msg("timed out waiting for %d outputs (have %d)", n, outs.n);
        }
    }
    pthread_mutex_unlock(&outs.mu);
}

static specx_image img;

static int setup(void **state)
{
    (void)state;
    g.tokens = g.entered = g.cancelled = 0;
    outs.n = 0;
    remote.call = NULL;
    return specx_image_alloc(&img, 64, 48) == SPECX_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    specx_image_clear(&img);
    return 0;
}

static specx_operator *make_op(int with_remote, int depth, specx_executor *local_out)
{
    specx_operator_config oc = {.plan = plan, .output = on_output};
    specx_operator *op = NULL;
    specx_err err = {{0}};
    assert_int_equal(specx_operator_create(&oc, &op, &err), SPECX_OK);
    specx_detector *det = NULL;
    specx_detector_info info = {.model = "gate", .backend = "test"};
    assert_int_equal(specx_detector_wrap(&gate_ops, NULL, &info, &det), SPECX_OK);
    specx_local_executor_config lc = {.queue_depth = depth};
    specx_executor_config ec = {.name = "local", .priority = 0};
    assert_int_equal(specx_local_executor_create_with(&det, 1, &lc, &ec.exec, &err), SPECX_OK);
    *local_out = ec.exec;
    assert_int_equal(specx_operator_add_local(op, &ec, &outs.local_index, &err), SPECX_OK);
    if (with_remote) {
        specx_executor_config rc = {
            .name = "cloud", .priority = 10, .exec = {.ops = &remote_ops, .ctx = NULL}};
        assert_int_equal(specx_operator_add_remote(op, &rc, NULL, &err), SPECX_OK);
    }
    return op;
}

static void test_local_only_process(void **state)
{
    (void)state;
    specx_executor local;
    specx_operator *op = make_op(0, 0, &local);
    release(1);
    specx_output *o = NULL;
    assert_int_equal(specx_operator_process(op, &img, NULL, &o), SPECX_OK);
    assert_true(o->is_local);
    assert_int_equal(o->status, SPECX_OK);
    const specx_detections *d = o->result;
    assert_int_equal(d->count, 1);
    assert_string_equal(d->items[0].label, "car");
    assert_int_equal(d->image_width, 64);
    specx_output_free(op, o);
    specx_operator_destroy(op);
}

static void test_remote_wins_local_cancelled(void **state)
{
    (void)state;
    specx_executor local;
    specx_operator *op = make_op(1, 0, &local);
    assert_int_equal(specx_operator_submit(op, &img, NULL, NULL), SPECX_OK);
    wait_gate(&g.entered, 1); /* the local detector is running */
    pthread_mutex_lock(&remote.mu);
    specx_call *call = remote.call;
    remote.call = NULL;
    pthread_mutex_unlock(&remote.mu);
    assert_non_null(call);
    specx_detections *r = specx_detections_create();
    specx_detection d = {.class_id = 0, .score = 0.9f, .xmax = 2, .ymax = 2};
    snprintf(d.label, sizeof d.label, "person");
    assert_int_equal(specx_detections_push(r, &d), SPECX_OK);
    specx_call_complete(call, SPECX_OK, r, NULL);
    wait_outputs(1);
    assert_int_equal(outs.out[0].is_local, 0);
    assert_string_equal(outs.out[0].label, "person");
    assert_int_equal(outs.out[0].local_fate, SPECX_FATE_CANCELLED);
    /* the operator's cancel reached the running detector */
    wait_gate(&g.cancelled, 1);
    specx_operator_shutdown(op); /* every call has completed after this */
    specx_local_executor_stats s;
    specx_local_executor_get_stats(&local, &s);
    assert_int_equal(s.cancelled, 1);
    assert_int_equal(s.completed, 0);
    assert_int_equal(s.running, 0);
    specx_operator_destroy(op);
}

static void test_drop_oldest_as_outputs(void **state)
{
    (void)state;
    specx_executor local;
    specx_operator *op = make_op(0, 1, &local);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(specx_operator_submit(op, &img, NULL, NULL), SPECX_OK);
        if (i == 0) {
            wait_gate(&g.entered, 1);
        }
    }
    release(2);
    wait_outputs(3);
    /* In order; the superseded frame is an explicit "no result", not a gap. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(outs.out[i].seq, (uint64_t)i);
    }
    assert_true(outs.out[0].is_local);
    assert_int_equal(outs.out[0].status, SPECX_OK);
    assert_int_equal(outs.out[1].winner, -1);
    assert_int_equal(outs.out[1].status, SPECX_EBUSY);
    assert_int_equal(outs.out[1].local_fate, SPECX_FATE_FAILED);
    assert_true(outs.out[2].is_local);
    assert_int_equal(outs.out[2].status, SPECX_OK);
    specx_local_executor_stats s;
    specx_local_executor_get_stats(&local, &s);
    assert_int_equal(s.dropped, 1);
    specx_operator_destroy(op);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_only_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_wins_local_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_oldest_as_outputs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
