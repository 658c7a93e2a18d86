/* test_rpc_executor.c — the remote executor under the real operator, over
 * loopback: round trip, fallback when the server is down, cancellation on
 * the wire at the deadline, and a server killed mid-run. argv[1] = group. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* clang-format off: cmocka.h needs the headers above first */
#include <cmocka.h>
/* clang-format on */

#include "specx/local_executor.h"
#include "specx/operator.h"

#include "rpc_test_util.h"

static const char *specx_bin;

typedef struct msg_in {
    specx_image img;
    specx_encoded_frame *frame;
} msg_in;

typedef struct plan_cfg {
    specx_dur_t deadline; /* relative */
} plan_cfg;

static void plan(void *user, const specx_msg_info *msg, size_t exec_index, specx_plan *out)
{
    (void)exec_index;
    const plan_cfg *p = user;
    const msg_in *in = msg->input;
    out->request = in->frame; /* borrowed: lives as long as the message */
    out->deadline_kind = SPECX_DEADLINE_RELATIVE;
    out->deadline = p->deadline;
}

/* Inputs made and not yet released by the operator. */
static atomic_int inputs_live;

static msg_in *make_input(int w, int h)
{
    atomic_fetch_add(&inputs_live, 1);
    msg_in *in = calloc(1, sizeof *in);
    assert_int_equal(specx_image_alloc(&in->img, w, h), SPECX_OK);
    in->frame = tu_frame(w, h, false);
    assert_non_null(in->frame);
    return in;
}

/* The operator's input_release: a cancelled local call may still be
 * detecting on the pixels after the message's output went out, so only the
 * operator knows when the input may go. */
static void release_input(void *release_user, void *input, void *user)
{
    (void)release_user;
    (void)user;
    msg_in *in = input;
    specx_image_clear(&in->img);
    specx_encoded_frame_unref(in->frame);
    free(in);
    atomic_fetch_sub(&inputs_live, 1);
}

/* Destroys op; every input it was given has been released exactly once. */
static void destroy_op(specx_operator *op)
{
    specx_operator_destroy(op);
    assert_int_equal(atomic_load(&inputs_live), 0);
}

/* An operator with a local test detector (delay local_ms) and one remote
 * executor for `server` ("HOST:PORT[,...]"). */
static specx_operator *make_op(const char *server, int local_ms, plan_cfg *pc,
                               specx_output_fn out_fn, void *out_user)
{
    specx_operator_config oc = {.plan = plan,
                                .plan_user = pc,
                                .output = out_fn,
                                .output_user = out_user,
                                .input_release = release_input};
    specx_operator *op;
    specx_err err = {{0}};
    atomic_store(&inputs_live, 0); /* not what a failed earlier test left */
    assert_int_equal(specx_operator_create(&oc, &op, &err), SPECX_OK);

    char model[64];
    snprintf(model, sizeof model, "test:delay_ms=%d", local_ms);
    specx_detector_config dc = {.model = model};
    specx_detector *det;
    assert_int_equal(specx_detector_open(&dc, &det, &err), SPECX_OK);
    specx_local_executor_config lc = {.queue_depth = 4};
    specx_executor_config local = {.name = "local", .priority = 0};
    assert_int_equal(specx_local_executor_create_with(&det, 1, &lc, &local.exec, &err), SPECX_OK);
    assert_int_equal(specx_operator_add_local(op, &local, NULL, &err), SPECX_OK);

    specx_rpc_client_config cc;
    assert_int_equal(specx_rpc_client_config_parse(server, &cc, &err), SPECX_OK);
    cc.reconnect_max = SPECX_MS(200);
    specx_executor_config remote = {.priority = cc.priority, .max_in_flight = cc.max_in_flight};
    snprintf(remote.name, sizeof remote.name, "%s", "cloud");
    assert_int_equal(specx_rpc_executor_create(&cc, &remote.exec, &err), SPECX_OK);
    assert_int_equal(specx_operator_add_remote(op, &remote, NULL, &err), SPECX_OK);
    return op;
}

static void round_trip_mode(const char *opts)
{
    specx_server *srv = tu_server("delay_ms=2,boxes=2", 1, 16);
    char server[128];
    snprintf(server, sizeof server, "127.0.0.1:%d,prio=5%s", specx_server_port(srv), opts);
    plan_cfg pc = {.deadline = tu_scaled(SPECX_SEC(5))};
    specx_operator *op = make_op(server, 300, &pc, NULL, NULL);
    for (int i = 0; i < 5; i++) {
        msg_in *in = make_input(40 + i, 20);
        specx_output *out = NULL;
        assert_int_equal(specx_operator_process(op, in, NULL, &out), SPECX_OK);
        assert_int_equal(out->status, SPECX_OK);
        assert_false(out->is_local);
        assert_string_equal(out->winner_name, "cloud");
        assert_int_equal(out->priority, 5);
        const specx_detections *d = out->result;
        assert_int_equal(d->count, 2);
        assert_int_equal(d->image_width, 40 + i);
        assert_string_equal(d->model, "test");
        /* The remote answer came well before the slow local one. */
        assert_true(out->latency < tu_scaled(SPECX_MS(300)));
        specx_output_free(op, out);
    }
    destroy_op(op);
    specx_server_destroy(srv);
}

static void round_trip_unary(void **state)
{
    (void)state;
    round_trip_mode("");
}

static void round_trip_stream(void **state)
{
    (void)state;
    round_trip_mode(",stream");
}

static void down_mode(const char *opts)
{
    /* A port with nothing behind it. */
    specx_server *srv = tu_server("", 1, 1);
    int port = specx_server_port(srv);
    specx_server_destroy(srv);
    char server[128];
    snprintf(server, sizeof server, "127.0.0.1:%d%s", port, opts);
    plan_cfg pc = {.deadline = SPECX_SEC(20)};
    specx_operator *op = make_op(server, 20, &pc, NULL, NULL);
    for (int i = 0; i < 3; i++) {
        msg_in *in = make_input(16, 16);
        specx_output *out = NULL;
        assert_int_equal(specx_operator_process(op, in, NULL, &out), SPECX_OK);
        assert_int_equal(out->status, SPECX_OK);
        assert_true(out->is_local);
        /* The remote failed at once: the local answer (20 ms) went out
         * without waiting for the 20 s deadline. */
        assert_true(out->latency < tu_scaled(SPECX_SEC(1)));
        assert_int_equal(out->exec[1].fate, SPECX_FATE_FAILED);
        assert_int_equal(out->exec[1].status, SPECX_EUNAVAILABLE);
        specx_output_free(op, out);
    }
    destroy_op(op);
}

static void down_unary(void **state)
{
    (void)state;
    down_mode("");
}

static void down_stream(void **state)
{
    (void)state;
    down_mode(",stream");
}

static void cancel_mode(const char *opts)
{
    /* The server takes 3 s; the deadline is 200 ms: the operator emits the
     * local result and cancels the remote call, which the server sees. */
    specx_server *srv = tu_server("delay_ms=3000", 1, 16);
    char server[128];
    snprintf(server, sizeof server, "127.0.0.1:%d%s", specx_server_port(srv), opts);
    plan_cfg pc = {.deadline = tu_scaled(SPECX_MS(200))};
    specx_operator *op = make_op(server, 10, &pc, NULL, NULL);
    msg_in *in = make_input(16, 16);
    specx_output *out = NULL;
    assert_int_equal(specx_operator_process(op, in, NULL, &out), SPECX_OK);
    assert_true(out->is_local);
    /* A streamed call is expired by the client at the same deadline as the
     * operator's: whichever fires first decides the fate (late: the
     * client's ETIMEDOUT came in just after the operator's deadline, seen
     * on a loaded machine). */
    assert_true(out->exec[1].fate == SPECX_FATE_PENDING_CANCELLED ||
                out->exec[1].fate == SPECX_FATE_FAILED || out->exec[1].fate == SPECX_FATE_LATE);
    assert_true(out->latency < tu_scaled(SPECX_SEC(2)));
    specx_output_free(op, out);
    assert_true(tu_wait_stats(srv, tu_one_received, SPECX_SEC(3)));
    assert_true(tu_wait_stats(srv, tu_one_cancelled, SPECX_SEC(3)));
    specx_server_stats *st = malloc(sizeof *st);
    specx_server_get_stats(srv, st);
    assert_int_equal(st->completed, 0);
    assert_true(specx_hist_quantile(&st->compute, 1.0) < SPECX_MS(2500));
    free(st);
    destroy_op(op);
    specx_server_destroy(srv);
}

static void cancel_unary(void **state)
{
    (void)state;
    cancel_mode("");
}

static void cancel_stream(void **state)
{
    (void)state;
    cancel_mode(",stream");
}

/* ---- killed mid-run: exactly one output per message ------------------- */

typedef struct counts {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int outputs;
    int per_seq[64];
    int remote_wins, local_wins, none;
} counts;

static void on_output(void *user, specx_output *out)
{
    counts *c = user;
    pthread_mutex_lock(&c->mu);
    c->outputs++;
    if (out->seq < 64) {
        c->per_seq[out->seq]++;
    }
    if (out->winner < 0) {
        c->none++;
    } else if (out->is_local) {
        c->local_wins++;
    } else {
        c->remote_wins++;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void killed_mode(const char *opts)
{
    char *argv[] = {(char *)specx_bin, "serve",   "--port",          "0", "--bind",
                    "127.0.0.1",       "--model", "test:delay_ms=5", NULL};
    int port;
    pid_t pid = tu_spawn_listening(argv, &port);
    assert_true(port > 0);
    char server[128];
    snprintf(server, sizeof server, "127.0.0.1:%d%s", port, opts);
    counts c = {.outputs = 0};
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    plan_cfg pc = {.deadline = tu_scaled(SPECX_MS(500))};
    specx_operator *op = make_op(server, 5, &pc, on_output, &c);
    enum { N = 40 };
    for (int i = 0; i < N; i++) {
        msg_in *in = make_input(16, 16);
        if (i == N / 2) {
            tu_stop_child(pid, SIGKILL);
        }
        assert_int_equal(specx_operator_submit(op, in, NULL, NULL), SPECX_OK);
        struct timespec d = {0, 20 * 1000000}; /* a 50 Hz camera */
        nanosleep(&d, NULL);
    }
    specx_operator_shutdown(op);
    pthread_mutex_lock(&c.mu);
    assert_int_equal(c.outputs, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(c.per_seq[i], 1);
    }
    assert_int_equal(c.none, 0);
    assert_true(c.remote_wins >= 5);        /* before the kill */
    assert_true(c.local_wins >= N / 2 - 2); /* after it: fallbacks */
    pthread_mutex_unlock(&c.mu);
    destroy_op(op);
    pthread_mutex_destroy(&c.mu);
    pthread_cond_destroy(&c.cv);
}

static void killed_unary(void **state)
{
    (void)state;
    killed_mode("");
}

static void killed_stream(void **state)
{
    (void)state;
    killed_mode(",stream");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_rpc_executor GROUP [SPECX_BIN]\n");
        return 2;
    }
    specx_bin = argc > 2 ? argv[2] : "./specx";
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "executor") == 0) {
        const struct CMUnitTest t[] = {
            cmocka_unit_test(round_trip_unary), cmocka_unit_test(round_trip_stream),
            cmocka_unit_test(down_unary),       cmocka_unit_test(down_stream),
            cmocka_unit_test(cancel_unary),     cmocka_unit_test(cancel_stream)};
        return cmocka_run_group_tests_name("rpc.executor", t, NULL, NULL);
    }
    if (strcmp(argv[1], "executor_killed") == 0) {
        const struct CMUnitTest t[] = {cmocka_unit_test(killed_unary),
                                       cmocka_unit_test(killed_stream)};
        return cmocka_run_group_tests_name("rpc.executor_killed", t, NULL, NULL);
    }
    fprintf(stderr, "test_rpc_executor: unknown group '%s'\n", argv[1]);
    return 2;
}
