/* test_replay.c — the replay evaluation on a virtual clock: the operator's
 * rules as the real operator applies them to simulated executors (cloud in
 * time, at the deadline, fallback, shedding, server expiry, local drops),
 * determinism for a seed, the link model against the netem simulator under
 * the same traffic, hooks for new modes, reply sizes against protobuf-c, and
 * compute-time distributions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h needs the headers above first. */
// clang-format off
#include <cmocka.h>
// clang-format on

#include "specx/eval.h"
#include "specx/netem.h"

#include "object_detection.pb-c.h"

#define MAX_FRAMES 60000

/* A synthetic frame set: local answers say class 1, cloud answers class 2. */
typedef struct world {
    size_t n;
    specx_replay_frame fr[MAX_FRAMES];
    specx_detections local, cloud;
    specx_replay_dist lms, cms;
} world;

typedef struct rec {
    size_t n;
    int winner[MAX_FRAMES];
    double latency[MAX_FRAMES];
    bool fallback[MAX_FRAMES];
    specx_status status[MAX_FRAMES];
    int cls[MAX_FRAMES];
    bool in_order;
} rec;

static void push(specx_detections *d, int cls)
{
    specx_detection it = {
        .class_id = cls, .score = 0.9f, .xmin = 1, .ymin = 2, .xmax = 30, .ymax = 40};
    snprintf(it.label, sizeof it.label, "c%d", cls);
    assert_int_equal(specx_detections_push(d, &it), SPECX_OK);
}

static void world_init(world *w, size_t n, size_t req_bytes, double enc_ms, double local_ms,
                       double cloud_ms)
{
    memset(w, 0, sizeof *w);
    specx_detections_init(&w->local);
    specx_detections_init(&w->cloud);
    push(&w->local, 1);
    push(&w->cloud, 2);
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        w->fr[i] = (specx_replay_frame){.local = &w->local,
                                        .cloud = &w->cloud,
                                        .request_bytes = req_bytes,
                                        .reply_bytes = 1000,
                                        .encode_ms = enc_ms};
    }
    specx_err err;
    assert_int_equal(specx_replay_dist_from(&local_ms, 1, "l", &w->lms, &err), SPECX_OK);
    assert_int_equal(specx_replay_dist_from(&cloud_ms, 1, "c", &w->cms, &err), SPECX_OK);
}

static void world_clear(world *w)
{
    specx_detections_clear(&w->local);
    specx_detections_clear(&w->cloud);
    specx_replay_dist_clear(&w->lms);
    specx_replay_dist_clear(&w->cms);
}

static void on_out(void *user, const specx_replay_output *o)
{
    rec *r = user;
    if (o->frame != r->n) {
        r->in_order = false;
    }
    r->winner[o->frame] = o->winner;
    r->latency[o->frame] = o->latency_ms;
    r->fallback[o->frame] = o->fallback;
    r->status[o->frame] = o->status;
    r->cls[o->frame] =
        o->detections && o->detections->count ? o->detections->items[0].class_id : -1;
    r->n++;
}

static specx_replay_config cfg_of(world *w, const char *mode, double fps, double deadline_ms,
                                  rec *r)
{
    memset(r, 0, sizeof *r);
    r->in_order = true;
    return (specx_replay_config){.frames = w->fr,
                                 .n_frames = w->n,
                                 .fps = fps,
                                 .seed = 1,
                                 .local_ms = &w->lms,
                                 .cloud_ms = &w->cms,
                                 .deadline = (specx_dur_t)(deadline_ms * 1e6),
                                 .mode = specx_replay_mode_builtin(mode),
                                 .output = on_out,
                                 .output_user = r};
}

static void run(const specx_replay_config *c, specx_replay_stats *st)
{
    specx_err err = {{0}};
    specx_status s = specx_replay_run(c, st, &err);
    if (s != SPECX_OK) {
        fail_msg("replay: %s", err.msg);
    }
}

/* No link, constant times: the cloud answers 10 ms after the 2 ms of
 * encoding; with a 50 ms deadline every frame is the cloud's, emitted as
 * soon as it arrives (rule 1); with 8 ms the cloud is never in time: cloud
 * mode has no result (a wire deadline, SPECX_ETIMEDOUT) and speculative
 * emits the local answer (ready at 2 + 4 ms: it starts after the encoding)
 * at the deadline (rule 3), not before. */
static void test_rules_in_time_and_at_deadline(void **state)
{
    (void)state;
    static world w;
    static rec r;
    world_init(&w, 50, 20000, 2, 4, 10);
    specx_replay_stats st;
    specx_replay_config c = cfg_of(&w, "speculative", 10, 50, &r);
    run(&c, &st);
    assert_int_equal(r.n, 50);
    assert_true(r.in_order);
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(r.winner[i], 0);
        assert_int_equal(r.cls[i], 2);
        assert_true(fabs(r.latency[i] - 12.0) < 1e-6);
    }
    assert_int_equal(st.cloud_won, 50);
    assert_int_equal(st.local_cancelled + st.local_computed, 50);

    c = cfg_of(&w, "speculative", 10, 8, &r);
    run(&c, &st);
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(r.winner[i], 1);
        assert_int_equal(r.cls[i], 1);
        assert_false(r.fallback[i]);
        assert_true(fabs(r.latency[i] - 8.0) < 1e-6); /* held until the deadline */
    }
    c = cfg_of(&w, "cloud", 10, 8, &r);
    run(&c, &st);
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(r.winner[i], -1);
        assert_int_equal(r.status[i], SPECX_ETIMEDOUT);
        assert_true(fabs(r.latency[i] - 8.0) < 1e-6);
    }
    assert_int_equal(st.cloud_late, 50);
    /* the server saw the budget run out: never computed (expired in queue or
     * stopped by its deadline / the client's RST) */
    assert_int_equal(st.server_computed, 0);
    world_clear(&w);
}

/* Local slower than the deadline, cloud slower still: speculative gets
 * the local answer after the deadline, flagged fallback (rule 5). */
static void test_fallback(void **state)
{
    (void)state;
    static world w;
    static rec r;
    world_init(&w, 20, 20000, 0, 30, 80);
    specx_replay_stats st;
    specx_replay_config c = cfg_of(&w, "speculative", 10, 20, &r);
    run(&c, &st);
    for (size_t i = 0; i < 20; i++) {
        assert_int_equal(r.winner[i], 1);
        assert_true(r.fallback[i]);
        assert_true(fabs(r.latency[i] - 30.0) < 1e-6);
    }
    assert_int_equal(st.fallbacks, 20);
    world_clear(&w);
}

/* A cloud slower than the frame rate: with a bound of 2 calls in flight the
 * operator sheds (rule 7); with no bound the server's queue grows and
 * requests whose deadline passed while queued are dropped unstarted. Every
 * frame still gets exactly one output, in order. */
static void test_shedding_and_server_expiry(void **state)
{
    (void)state;
    static world w;
    static rec r;
    world_init(&w, 60, 20000, 0, 4, 50);
    specx_replay_stats st;
    specx_replay_config c = cfg_of(&w, "cloud", 30, 200, &r);
    c.max_in_flight = 2;
    run(&c, &st);
    assert_int_equal(r.n, 60);
    assert_true(r.in_order);
    assert_true(st.cloud_shed > 10);
    assert_int_equal(st.cloud_sent + st.cloud_shed, 60);

    c = cfg_of(&w, "cloud", 30, 200, &r);
    c.max_in_flight = 1000;
    run(&c, &st);
    assert_int_equal(r.n, 60);
    /* the queue grows: requests start late and are stopped when their
     * deadline passes (or dropped unstarted): one computed per 50 ms at most */
    assert_true(st.server_expired + st.server_cancelled + st.server_stopped > 10);
    assert_int_equal(
        st.server_computed + st.server_expired + st.server_cancelled + st.server_stopped, 60);
    assert_true(st.cloud_won > 5 && st.cloud_won < 40);
    /* the one server computes one frame per 50 ms: every winner came in time */
    for (size_t i = 0; i < 60; i++) {
        if (r.winner[i] == 0) {
            assert_true(r.latency[i] < 200.0);
        }
    }
    world_clear(&w);
}

/* Local model slower than the camera: the drop-oldest queue (depth 1)
 * displaces waiting frames, which come out as "no result" (SPECX_EBUSY). */
static void test_local_drops(void **state)
{
    (void)state;
    static world w;
    static rec r;
    world_init(&w, 30, 20000, 0, 100, 10);
    specx_replay_stats st;
    specx_replay_config c = cfg_of(&w, "local", 30, 50, &r);
    run(&c, &st);
    assert_int_equal(r.n, 30);
    assert_true(st.local_dropped > 10);
    size_t none = 0;
    for (size_t i = 0; i < 30; i++) {
        if (r.winner[i] < 0) {
            assert_int_equal(r.status[i], SPECX_EBUSY);
            none++;
        }
    }
    assert_int_equal(none, st.local_dropped);
    assert_int_equal(st.local_computed + st.local_dropped, 30);
    world_clear(&w);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    return v[(size_t)(q * (double)(n - 1) + 0.5)];
}

/* The replay's cloud path under the netem reference traffic of 5g-sf (33.3
 * KB requests at 30 Hz, 1 KB replies, answered at once) must see the round
 * trips the netem simulator reports for the same seed and window: the
 * replay adds only a TCP handshake, ~130 bytes of HTTP/2 and gRPC framing
 * per request and 54 per reply. 30 minutes of traffic. */
static void test_link_matches_netem(void **state)
{
    (void)state;
    static world w;
    static rec r;
    specx_netem_profile *prof;
    specx_err err;
    assert_int_equal(specx_netem_profile_load("5g-sf", &prof, &err), SPECX_OK);
    const specx_netem_traffic *ref = specx_netem_profile_reference(prof);
    assert_non_null(ref);
    size_t n = 54000;
    world_init(&w, n, ref->request_bytes - 130, 0, 1, 0);
    for (size_t i = 0; i < n; i++) {
        w.fr[i].reply_bytes = ref->reply_bytes - 54;
    }
    specx_replay_stats st;
    specx_replay_config c = cfg_of(&w, "cloud-unbounded", ref->hz, 0, &r);
    c.profile = prof;
    c.seed = 7;
    run(&c, &st);
    assert_int_equal(st.cloud_won, n);
    specx_netem_traffic t = *ref;
    t.seconds = (double)n / ref->hz;
    specx_netem_rtt_summary sim;
    assert_int_equal(specx_netem_simulate_traffic(prof, 7, &t, &sim, &err), SPECX_OK);
    double p50 = quantile(r.latency, n, 0.50), p90 = quantile(r.latency, n, 0.90),
           p99 = quantile(r.latency, n, 0.99);
    printf("replay p50/p90/p99 %.1f / %.1f / %.1f ms; netem simulator %.1f / %.1f / %.1f ms\n", p50,
           p90, p99, sim.p50_ms, sim.p90_ms, sim.p99_ms);
    assert_true(fabs(p50 / sim.p50_ms - 1) < 0.02);
    assert_true(fabs(p90 / sim.p90_ms - 1) < 0.02);
    assert_true(fabs(p99 / sim.p99_ms - 1) < 0.02);
    specx_netem_profile_free(prof);
    world_clear(&w);
}

/* Same seed, same outputs; another seed, another link (and other draws). */
static void test_determinism(void **state)
{
    (void)state;
    static world w;
    static rec a, b;
    specx_netem_profile *prof;
    specx_err err;
    assert_int_equal(specx_netem_profile_load("5g-sf", &prof, &err), SPECX_OK);
    world_init(&w, 600, 90000, 3, 4, 20);
    specx_replay_dist_clear(&w.cms);
    double cms[] = {12, 15, 18, 25, 40};
    assert_int_equal(specx_replay_dist_from(cms, 5, "c", &w.cms, &err), SPECX_OK);
    for (int seed = 1; seed <= 2; seed++) {
        specx_replay_config c = cfg_of(&w, "speculative", 10, 150, &a);
        c.profile = prof;
        c.seed = (uint64_t)seed;
        run(&c, NULL);
        c = cfg_of(&w, "speculative", 10, 150, &b);
        c.profile = prof;
        c.seed = (uint64_t)seed;
        run(&c, NULL);
        assert_memory_equal(a.winner, b.winner, 600 * sizeof a.winner[0]);
        assert_memory_equal(a.latency, b.latency, 600 * sizeof a.latency[0]);
    }
    static rec s1;
    specx_replay_config c = cfg_of(&w, "speculative", 10, 150, &s1);
    c.profile = prof;
    c.seed = 1;
    run(&c, NULL);
    assert_memory_not_equal(s1.latency, a.latency, 600 * sizeof a.latency[0]);
    specx_netem_profile_free(prof);
    world_clear(&w);
}

/* specx_replay_reply_bytes against protobuf-c's encoder, for the
 * Response specx serve builds (src/rpc/wire.c): labels, class numbers,
 * a zero coordinate (not sent), model, sizes, timings. */
static void test_reply_bytes(void **state)
{
    (void)state;
    specx_detections d;
    specx_detections_init(&d);
    for (int i = 0; i < 300; i++) {
        specx_detection x = {.class_id = i % 90,
                             .score = 0.005f + (float)i / 400,
                             .xmin = (float)i,
                             .ymin = 2.5f,
                             .xmax = 40.0f + (float)i,
                             .ymax = 300.25f};
        snprintf(x.label, sizeof x.label, i % 3 ? "person" : "traffic light");
        specx_detections_push(&d, &x);
    }
    strcpy(d.model, "yolo-fastest-1.1-xl-416");
    d.image_width = 1280;
    d.image_height = 720;
    ObjectDetection__BoundingBox box[300];
    ObjectDetection__DetectedObject obj[300], *ptr[300];
    for (size_t i = 0; i < d.count; i++) {
        object_detection__bounding_box__init(&box[i]);
        box[i].xmin = d.items[i].xmin;
        box[i].xmax = d.items[i].xmax;
        box[i].ymin = d.items[i].ymin;
        box[i].ymax = d.items[i].ymax;
        object_detection__detected_object__init(&obj[i]);
        obj[i].score = d.items[i].score;
        obj[i].label = d.items[i].label;
        obj[i].box = &box[i];
        obj[i].class_number = d.items[i].class_id + 1;
        ptr[i] = &obj[i];
    }
    ObjectDetection__Response r = OBJECT_DETECTION__RESPONSE__INIT;
    r.n_detected_objects = d.count;
    r.detected_objects = ptr;
    r.req_id = 1000;
    r.recv_time = 1.7e9;
    r.model = d.model;
    r.infer_ms = 16.5;
    r.queue_ms = 0.2;
    r.image_width = 1280;
    r.image_height = 720;
    size_t want = object_detection__response__get_packed_size(&r);
    printf("300 detections: %zu bytes\n", want);
    assert_int_equal(specx_replay_reply_bytes(&d), want);
    /* no detections */
    r.n_detected_objects = 0;
    d.count = 0;
    assert_int_equal(specx_replay_reply_bytes(&d), object_detection__response__get_packed_size(&r));
    specx_detections_clear(&d);
}

/* Compute-time distributions: a constant, a file (comments, blank lines,
 * errors with file:line), "measured". */
static void test_dists(void **state)
{
    (void)state;
    specx_replay_dist d, m;
    specx_err err;
    assert_int_equal(specx_replay_dist_parse("3", NULL, &d, &err), SPECX_OK);
    assert_int_equal(d.n, 1);
    assert_true(d.ms[0] == 3);
    assert_non_null(strstr(d.desc, "constant 3 ms"));
    specx_replay_dist_clear(&d);
    assert_int_equal(specx_replay_dist_parse("-1", NULL, &d, &err), SPECX_EINVAL);
    assert_int_equal(specx_replay_dist_parse("measured", NULL, &d, &err), SPECX_EINVAL);
    double v[] = {5, 1, 3};
    assert_int_equal(specx_replay_dist_from(v, 3, "mine", &m, &err), SPECX_OK);
    assert_int_equal(specx_replay_dist_parse("measured", &m, &d, &err), SPECX_OK);
    assert_true(specx_replay_dist_quantile(&d, 0.5) == 3);
    specx_replay_dist_clear(&d);
    char path[] = "/tmp/specx-dist-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# compute times\n12.5\n\n 14 # slow\n13\n", f);
    fclose(f);
    assert_int_equal(specx_replay_dist_parse(path, NULL, &d, &err), SPECX_OK);
    assert_int_equal(d.n, 3);
    assert_true(specx_replay_dist_quantile(&d, 1.0) == 14);
    specx_replay_dist_clear(&d);
    f = fopen(path, "w");
    fputs("12\nfast\n", f);
    fclose(f);
    assert_int_equal(specx_replay_dist_parse(path, NULL, &d, &err), SPECX_EFORMAT);
    assert_non_null(strstr(err.msg, ":2:"));
    unlink(path);
    assert_int_equal(specx_replay_dist_parse("/nonexistent/x", NULL, &d, &err), SPECX_ENOTFOUND);
    specx_replay_dist_clear(&m);
}

/* A new mode through the hooks: a plan that skips the cloud on odd frames,
 * calls kept after the decision (answers still reach on_reply), and a post
 * hook that scores each frame with the latest cloud answer received so far
 * (a stand-in for "carry late answers forward"). */
typedef struct hook_state {
    size_t replies;
    size_t late_replies; /* after their frame's output */
    size_t last_reply_frame;
    bool have_reply;
    size_t emitted_upto;
    size_t posts, posted_from_reply;
} hook_state;

static specx_dur_t skip_odd(void *user, size_t frame, specx_time_t arrival, specx_dur_t d)
{
    (void)user;
    (void)arrival;
    return frame % 2 ? -1 : d;
}

static void on_reply(void *user, size_t frame, specx_time_t at, const specx_detections *d)
{
    (void)at;
    (void)d;
    hook_state *h = user;
    h->replies++;
    h->late_replies += frame < h->emitted_upto;
    h->last_reply_frame = frame;
    h->have_reply = true;
}

static bool carry(void *user, const specx_replay_output *o, specx_detections *scored)
{
    hook_state *h = user;
    h->posts++;
    h->emitted_upto = o->frame + 1;
    if (o->winner != 0 && h->have_reply) {
        specx_detection x = {.class_id = 9, .score = 0.5f, .xmax = 1, .ymax = 1};
        specx_detections_push(scored, &x);
        h->posted_from_reply++;
        return true;
    }
    return false;
}

static void test_mode_hooks(void **state)
{
    (void)state;
    static world w;
    static rec r;
    world_init(&w, 40, 20000, 0, 4, 60);
    hook_state h = {0};
    specx_replay_mode mode = *specx_replay_mode_builtin("speculative");
    mode.name = "carry-forward";
    mode.plan = skip_odd;
    mode.on_reply = on_reply;
    mode.post = carry;
    mode.keep_calls = true;
    mode.user = &h;
    specx_replay_stats st;
    specx_replay_config c = cfg_of(&w, "speculative", 10, 30, &r);
    c.mode = &mode;
    run(&c, &st);
    assert_int_equal(r.n, 40);
    assert_int_equal(st.cloud_sent, 20); /* even frames only */
    assert_int_equal(st.cloud_won, 0);   /* 60 ms > 30 ms: never in time */
    assert_int_equal(h.replies, 20);     /* kept: every answer still came */
    assert_int_equal(h.late_replies, 20);
    assert_int_equal(h.posts, 40);
    /* frames decided after the first answer (at 60 ms) are scored with it */
    assert_true(h.posted_from_reply >= 38);
    assert_int_equal(r.cls[0], 1);
    assert_int_equal(r.cls[39], 9);
    world_clear(&w);
}

/* speculative-adaptive (operator rule 9 planned by core/deadline_policy.h,
 * target 0.5). A cloud always in time: the same outputs as speculative,
 * nothing planned early. A cloud that never makes the 50 ms deadline (a
 * 200 ms server): frame 0 knows nothing yet and waits to the deadline; its
 * miss makes frame 1 go out with the local answer when it is ready (its
 * 4 ms of compute from arrival) instead of at 50 ms; later frames wait again
 * only to probe the link once the evidence has faded (half-life 500 ms), so
 * a few of the 40 frames wait, most do not. */
static void test_adaptive_mode(void **state)
{
    (void)state;
    static world w;
    static rec r;
    world_init(&w, 40, 20000, 2, 4, 10);
    specx_replay_stats st;
    specx_replay_config c = cfg_of(&w, "speculative-adaptive", 10, 50, &r);
    assert_non_null(c.mode);
    assert_true(c.mode->adaptive_target > 0);
    run(&c, &st);
    assert_int_equal(r.n, 40);
    for (size_t i = 0; i < 40; i++) {
        assert_int_equal(r.winner[i], 0);
        assert_true(fabs(r.latency[i] - 12.0) < 1e-6);
    }
    assert_int_equal(st.cloud_early, 0);
    world_clear(&w);

    world_init(&w, 40, 20000, 2, 4, 200);
    c = cfg_of(&w, "speculative", 10, 50, &r);
    run(&c, &st);
    for (size_t i = 0; i < 40; i++) {
        assert_true(fabs(r.latency[i] - 50.0) < 1e-6); /* fixed: held to the deadline */
    }
    c = cfg_of(&w, "speculative-adaptive", 10, 50, &r);
    run(&c, &st);
    assert_int_equal(r.n, 40);
    assert_true(r.in_order);
    assert_true(fabs(r.latency[0] - 50.0) < 1e-6);
    assert_true(fabs(r.latency[1] - 4.0) < 1e-6);
    size_t waited = 0;
    for (size_t i = 0; i < 40; i++) {
        assert_int_equal(r.winner[i], 1);
        bool w50 = fabs(r.latency[i] - 50.0) < 1e-6;
        assert_true(w50 || fabs(r.latency[i] - 4.0) < 1e-6);
        waited += w50;
    }
    assert_true(waited >= 2 && waited <= 8);
    assert_int_equal(st.cloud_early, 40 - waited);
    world_clear(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_in_time_and_at_deadline),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_shedding_and_server_expiry),
        cmocka_unit_test(test_local_drops),
        cmocka_unit_test(test_link_matches_netem),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_reply_bytes),
        cmocka_unit_test(test_dists),
        cmocka_unit_test(test_mode_hooks),
        cmocka_unit_test(test_adaptive_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
