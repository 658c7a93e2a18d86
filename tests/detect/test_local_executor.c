/* test_local_executor.c — the local executor driven directly, with a
 * recording stand-in for the operator's call layer (specx_call_complete and
 * friends are defined here) and a test detector whose progress the test
 * controls: completion statuses, order, thread, queue policy, cancellation,
 * deadlines, shutdown. */
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
#include "specx/time.h"

#include "test_timeout.h"

/* ---- the call layer stand-in -------------------------------------------- */

struct specx_call {
    int id;
    void *data;
};

typedef struct completion {
    int id;
    specx_status st;
    void *result;
    char msg[160];
    int on_main;
} completion;

static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ccv = PTHREAD_COND_INITIALIZER;
static completion done[64];
static int ndone;
static int times_completed[64];
static pthread_t main_thread;
static specx_executor *reenter; /* cancel() into it from completions */

void specx_call_complete(specx_call *call, specx_status status, void *result, const char *errmsg)
{
    /* The executor must not hold its lock here: re-entering it must work. */
    if (reenter != NULL) {
        static struct specx_call stranger = {.id = 63};
        reenter->ops->cancel(reenter->ctx, &stranger);
    }
    pthread_mutex_lock(&cmu);
    completion *c = &done[ndone++];
    c->id = call->id;
    c->st = status;
    c->result = result;
    snprintf(c->msg, sizeof c->msg, "%s", errmsg != NULL ? errmsg : "");
    c->on_main = pthread_equal(pthread_self(), main_thread);
    times_completed[call->id]++;
    pthread_cond_broadcast(&ccv);
    pthread_mutex_unlock(&cmu);
}

void specx_call_set_data(specx_call *call, void *data)
{
    call->data = data;
}
void *specx_call_data(const specx_call *call)
{
    return call->data;
}
uint64_t specx_call_seq(const specx_call *call)
{
    return (uint64_t)call->id;
}

static void wait_done(int n)
{
    struct timespec ts = specx_test_realtime_in(5);
    pthread_mutex_lock(&cmu);
    while (ndone < n) {
        if (pthread_cond_timedwait(&ccv, &cmu, &ts) != 0) {
            pthread_mutex_unlock(&cmu);
            fail_msg("timed out waiting for %d completions (have %d)", n, ndone);
        }
    }
    pthread_mutex_unlock(&cmu);
}

static int n_done(void)
{
    pthread_mutex_lock(&cmu);
    int n = ndone;
    pthread_mutex_unlock(&cmu);
    return n;
}

/* ---- a detector the test steps through ----------------------------------- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int tokens;  /* detections allowed to finish */
    int entered; /* detect() calls that began */
} gate;

static gate g;

static specx_status gate_detect(void *impl, const specx_image *img, const atomic_bool *cancel,
                                specx_detections *out, specx_err *err)
{
    (void)impl;
    if (img->width == 1) {
        return specx_err_set(err, SPECX_EFORMAT, "test detector: image too small");
    }
    pthread_mutex_lock(&g.mu);
    g.entered++;
    pthread_cond_broadcast(&g.cv);
    /* Emulates a network's checkpoints: look at the flag every millisecond. */
    while (g.tokens == 0 && !(cancel != NULL && atomic_load(cancel))) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&g.cv, &g.mu, &ts);
    }
    if (g.tokens == 0) {
        pthread_mutex_unlock(&g.mu);
        return specx_err_set(err, SPECX_ECANCELED, "test detector cancelled");
    }
    g.tokens--;
    pthread_mutex_unlock(&g.mu);
    specx_detection d = {.class_id = 7, .score = (float)img->width / 1000.0f, .xmax = 1, .ymax = 1};
    snprintf(d.label, sizeof d.label, "truck");
    return specx_detections_push(out, &d);
}

static const specx_detector_ops gate_ops = {.detect = gate_detect, .destroy = NULL};

static void release(int n)
{
    pthread_mutex_lock(&g.mu);
    g.tokens += n;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

static void wait_entered(int n)
{
    struct timespec ts = specx_test_realtime_in(5);
    pthread_mutex_lock(&g.mu);
    while (g.entered < n) {
        if (pthread_cond_timedwait(&g.cv, &g.mu, &ts) != 0) {
            pthread_mutex_unlock(&g.mu);
            fail_msg("timed out waiting for %d detections to start", n);
        }
    }
    pthread_mutex_unlock(&g.mu);
}

static specx_image img200;
static specx_image img1;
static struct specx_call calls[8];

static int setup(void **state)
{
    (void)state;
    main_thread = pthread_self();
    memset(done, 0, sizeof done);
    memset(times_completed, 0, sizeof times_completed);
    ndone = 0;
    reenter = NULL;
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    g.tokens = 0;
    g.entered = 0;
    for (int i = 0; i < 8; i++) {
        calls[i].id = i;
        calls[i].data = NULL;
    }
    if (specx_image_alloc(&img200, 200, 100) != SPECX_OK ||
        specx_image_alloc(&img1, 1, 1) != SPECX_OK) {
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    specx_image_clear(&img200);
    specx_image_clear(&img1);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    specx_time_set_clock(NULL, NULL);
    /* every call completed at most once */
    for (int i = 0; i < 64; i++) {
        if (times_completed[i] > 1) {
            return -1;
        }
    }
    return 0;
}

static void make(specx_executor *ex, int workers, int depth, specx_local_queue_policy policy)
{
    specx_detector *dets[4];
    specx_detector_info info = {.model = "gate", .backend = "test", .num_classes = 80};
    for (int i = 0; i < workers; i++) {
        assert_int_equal(specx_detector_wrap(&gate_ops, NULL, &info, &dets[i]), SPECX_OK);
    }
    specx_local_executor_config cfg = {.queue_depth = depth, .policy = policy};
    specx_err err = {{0}};
    assert_int_equal(specx_local_executor_create_with(dets, (size_t)workers, &cfg, ex, &err),
                     SPECX_OK);
}

static specx_status start(specx_executor *ex, int id, const specx_image *img, specx_time_t dl)
{
    return ex->ops->start(ex->ctx, &calls[id], (void *)img, dl);
}

static void free_results(specx_executor *ex)
{
    for (int i = 0; i < ndone; i++) {
        if (done[i].result != NULL) {
            ex->ops->free_result(ex->ctx, done[i].result);
            done[i].result = NULL;
        }
    }
}

static void test_complete_ok(void **state)
{
    (void)state;
    specx_executor ex;
    make(&ex, 1, 0, SPECX_LOCAL_DROP_OLDEST);
    reenter = &ex;
    assert_int_equal(start(&ex, 0, &img200, SPECX_TIME_NEVER), SPECX_OK);
    release(1);
    wait_done(1);
    assert_int_equal(done[0].id, 0);
    assert_int_equal(done[0].st, SPECX_OK);
    assert_false(done[0].on_main); /* completed by the worker */
    specx_detections *d = done[0].result;
    assert_non_null(d);
    assert_int_equal(d->count, 1);
    assert_string_equal(d->items[0].label, "truck");
    assert_float_equal(d->items[0].score, 0.2, 1e-6);
    assert_string_equal(d->model, "gate");
    assert_int_equal(d->image_width, 200);

    /* a failing detector: the call fails with its status and message */
    assert_int_equal(start(&ex, 1, &img1, SPECX_TIME_NEVER), SPECX_OK);
    wait_done(2);
    assert_int_equal(done[1].st, SPECX_EFORMAT);
    assert_null(done[1].result);
    assert_non_null(strstr(done[1].msg, "too small"));
    assert_int_equal(start(&ex, 2, NULL, SPECX_TIME_NEVER), SPECX_EINVAL);

    specx_local_executor_stats s;
    specx_local_executor_get_stats(&ex, &s);
    assert_int_equal(s.started, 2);
    assert_int_equal(s.completed, 1);
    assert_int_equal(s.failed, 1);
    reenter = NULL;
    free_results(&ex);
    ex.ops->destroy(ex.ctx);
    assert_int_equal(n_done(), 2);
}

static void test_drop_oldest(void **state)
{
    (void)state;
    specx_executor ex;
    make(&ex, 1, 1, SPECX_LOCAL_DROP_OLDEST);
    reenter = &ex;
    assert_int_equal(start(&ex, 0, &img200, SPECX_TIME_NEVER), SPECX_OK);
    wait_entered(1);                                                      /* 0 is running */
    assert_int_equal(start(&ex, 1, &img200, SPECX_TIME_NEVER), SPECX_OK); /* queued */
    assert_int_equal(n_done(), 0);
    assert_int_equal(start(&ex, 2, &img200, SPECX_TIME_NEVER), SPECX_OK); /* supersedes 1 */
    /* 1 completed inside start(), on the caller's thread, before it returned */
    assert_int_equal(n_done(), 1);
    assert_int_equal(done[0].id, 1);
    assert_int_equal(done[0].st, SPECX_EBUSY);
    assert_true(done[0].on_main);
    assert_non_null(strstr(done[0].msg, "queue full"));
    release(2);
    wait_done(3);
    assert_int_equal(done[1].id, 0);
    assert_int_equal(done[1].st, SPECX_OK);
    assert_int_equal(done[2].id, 2);
    assert_int_equal(done[2].st, SPECX_OK);
    specx_local_executor_stats s;
    specx_local_executor_get_stats(&ex, &s);
    assert_int_equal(s.dropped, 1);
    assert_int_equal(s.completed, 2);
    assert_int_equal(g.entered, 2);
    reenter = NULL;
    free_results(&ex);
    ex.ops->destroy(ex.ctx);
}

static void test_reject_new(void **state)
{
    (void)state;
    specx_executor ex;
    make(&ex, 1, 1, SPECX_LOCAL_REJECT_NEW);
    assert_int_equal(start(&ex, 0, &img200, SPECX_TIME_NEVER), SPECX_OK);
    wait_entered(1);
    assert_int_equal(start(&ex, 1, &img200, SPECX_TIME_NEVER), SPECX_OK);
    /* start fails: this call is never completed */
    assert_int_equal(start(&ex, 2, &img200, SPECX_TIME_NEVER), SPECX_EBUSY);
    release(2);
    wait_done(2);
    assert_int_equal(done[0].id, 0);
    assert_int_equal(done[1].id, 1);
    specx_local_executor_stats s;
    specx_local_executor_get_stats(&ex, &s);
    assert_int_equal(s.rejected, 1);
    free_results(&ex);
    ex.ops->destroy(ex.ctx);
    assert_int_equal(n_done(), 2);
    assert_int_equal(times_completed[2], 0);
}

static void test_cancel(void **state)
{
    (void)state;
    specx_executor ex;
    make(&ex, 1, 4, SPECX_LOCAL_DROP_OLDEST);
    reenter = &ex;
    assert_int_equal(start(&ex, 0, &img200, SPECX_TIME_NEVER), SPECX_OK);
    wait_entered(1);
    assert_int_equal(start(&ex, 1, &img200, SPECX_TIME_NEVER), SPECX_OK);
    assert_int_equal(start(&ex, 2, &img200, SPECX_TIME_NEVER), SPECX_OK);
    /* queued: removed and completed inside cancel() */
    ex.ops->cancel(ex.ctx, &calls[1]);
    assert_int_equal(n_done(), 1);
    assert_int_equal(done[0].id, 1);
    assert_int_equal(done[0].st, SPECX_ECANCELED);
    assert_true(done[0].on_main);
    /* running: the flag stops it at its next checkpoint, on the worker */
    ex.ops->cancel(ex.ctx, &calls[0]);
    ex.ops->cancel(ex.ctx, &calls[0]); /* idempotent */
    wait_done(2);
    assert_int_equal(done[1].id, 0);
    assert_int_equal(done[1].st, SPECX_ECANCELED);
    assert_null(done[1].result);
    assert_false(done[1].on_main);
    /* the next one still runs normally */
    release(1);
    wait_done(3);
    assert_int_equal(done[2].id, 2);
    assert_int_equal(done[2].st, SPECX_OK);
    specx_local_executor_stats s;
    specx_local_executor_get_stats(&ex, &s);
    assert_int_equal(s.cancelled, 2);
    reenter = NULL;
    free_results(&ex);
    ex.ops->destroy(ex.ctx);
    assert_int_equal(n_done(), 3);
}

static _Atomic specx_time_t fake_now;
static specx_time_t fake_clock(void *arg)
{
    (void)arg;
    return atomic_load(&fake_now);
}

static void test_deadline_passed_in_queue(void **state)
{
    (void)state;
    atomic_store(&fake_now, SPECX_SEC(100));
    specx_time_set_clock(fake_clock, NULL);
    specx_executor ex;
    make(&ex, 1, 2, SPECX_LOCAL_DROP_OLDEST);
    assert_int_equal(start(&ex, 0, &img200, SPECX_TIME_NEVER), SPECX_OK);
    wait_entered(1);
    assert_int_equal(start(&ex, 1, &img200, SPECX_SEC(100) + SPECX_MS(10)), SPECX_OK);
    assert_int_equal(start(&ex, 2, &img200, SPECX_SEC(100) + SPECX_MS(50)), SPECX_OK);
    atomic_store(&fake_now, SPECX_SEC(100) + SPECX_MS(20));
    release(2);
    wait_done(3);
    assert_int_equal(done[0].id, 0);
    assert_int_equal(done[0].st, SPECX_OK);
    assert_int_equal(done[1].id, 1);
    assert_int_equal(done[1].st, SPECX_ETIMEDOUT); /* never ran */
    assert_int_equal(done[2].id, 2);
    assert_int_equal(done[2].st, SPECX_OK);
    assert_int_equal(g.entered, 2);
    free_results(&ex);
    ex.ops->destroy(ex.ctx);
    specx_time_set_clock(NULL, NULL);
}

static void test_two_workers_run_concurrently(void **state)
{
    (void)state;
    specx_executor ex;
    make(&ex, 2, 1, SPECX_LOCAL_DROP_OLDEST);
    assert_int_equal(start(&ex, 0, &img200, SPECX_TIME_NEVER), SPECX_OK);
    assert_int_equal(start(&ex, 1, &img200, SPECX_TIME_NEVER), SPECX_OK);
    wait_entered(2); /* both inside a detector at once */
    specx_local_executor_stats s;
    specx_local_executor_get_stats(&ex, &s);
    assert_int_equal(s.running, 2);
    assert_int_equal(s.queued, 0);
    release(2);
    wait_done(2);
    assert_int_equal(done[0].st, SPECX_OK);
    assert_int_equal(done[1].st, SPECX_OK);
    assert_int_not_equal(done[0].id, done[1].id);
    free_results(&ex);
    ex.ops->destroy(ex.ctx);
}

static void test_destroy_completes_everything(void **state)
{
    (void)state;
    specx_executor ex;
    make(&ex, 1, 2, SPECX_LOCAL_DROP_OLDEST);
    assert_int_equal(start(&ex, 0, &img200, SPECX_TIME_NEVER), SPECX_OK);
    wait_entered(1);
    assert_int_equal(start(&ex, 1, &img200, SPECX_TIME_NEVER), SPECX_OK);
    ex.ops->destroy(ex.ctx); /* returns once the worker is gone */
    assert_int_equal(n_done(), 2);
    assert_int_equal(times_completed[0], 1);
    assert_int_equal(times_completed[1], 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(done[i].st, done[i].id == 0 ? SPECX_ECANCELED : SPECX_ESTOPPED);
    }
}

static void test_create_from_model(void **state)
{
    (void)state;
    const char *a = getenv("SPECX_SHARED_ASSETS");
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/models", a != NULL ? a : "../shared/assets");
    specx_local_executor_config cfg = {.detector = {.model = "yolo-fastest-1.1", .model_dir = dir},
                                       .workers = 1};
    specx_executor ex;
    specx_err err = {{0}};
    specx_status st = specx_local_executor_create(&cfg, &ex, &err);
    if (st != SPECX_OK) {
        fail_msg("%s", specx_err_text(&err, st));
    }
    assert_int_equal(start(&ex, 0, &img200, SPECX_TIME_NEVER), SPECX_OK);
    wait_done(1);
    assert_int_equal(done[0].st, SPECX_OK);
    specx_detections *d = done[0].result;
    assert_string_equal(d->model, "yolo-fastest-1.1");
    assert_true(d->infer_ms > 0);
    free_results(&ex);
    ex.ops->destroy(ex.ctx);

    cfg.detector.model = "no-such-model";
    assert_int_equal(specx_local_executor_create(&cfg, &ex, &err), SPECX_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no-such-model"));
    cfg.detector.model = "yolo-fastest-1.1";
    cfg.workers = -3;
    assert_int_equal(specx_local_executor_create(&cfg, &ex, &err), SPECX_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_complete_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_passed_in_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_workers_run_concurrently, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_completes_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_from_model, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
