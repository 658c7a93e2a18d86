/* cmd_demo.c — `specx demo`: the whole system on the bundled video with no
 * set-up: an in-process detection server on a free loopback port, the local
 * model, a deadline from a measured round trip, summary and outputs.
 *
 * Deadline choice: unless --deadline is given, two frames are sent to the
 * server before the run (the first warms the model up) and the deadline is
 * 2 x the second round trip + 20 ms, clamped to 30..2000 ms: the probe runs
 * alone, while during the run the local model, the video encoder and the
 * client share the machine (2 cores here), so the server's time roughly
 * doubles; a deadline much longer than that would only delay the fallback.
 * (darknet: ~317 ms per xl-416 frame -> ~650 ms; xnnpack: tens of ms.)
 * The server has one worker, so the client keeps one call in flight
 * (inflight=1): a second one would only queue behind the first and miss its
 * deadline. The annotated video is MPEG-4 part 2, not H.264: on this 2-core
 * machine libx264 took more CPU than both detectors together (perf: 44 % of
 * the demo's cycles); mpeg4 takes about a quarter of that. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/codec.h"
#include "specx/pipeline.h"
#include "specx/rpc.h"
#include "specx/serve.h"
#include "specx/video.h"

#include "cli.h"
#include "commands.h"
#include "run.h"

#define DEMO_SERVER_MODEL "yolo-fastest-1.1-xl-416"
#define DEMO_LOCAL_MODEL "yolo-fastest-1.1"
#define DEMO_VIDEO "udacity_test_video.mp4"

typedef struct demo_opts {
    const char *backend, *model_dir, *out_dir, *video;
    specx_dur_t deadline;
    bool deadline_set, verbose;
    int64_t frames;
} demo_opts;

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx demo [--backend B] [--deadline MS] [--out-dir DIR] [--video PATH]\n"
               "                  [--frames N] [--model-dir DIR] [--verbose]\n"
               "\n"
               "Starts a detection server (" DEMO_SERVER_MODEL ") in this process on a free\n"
               "loopback port and runs the bundled video through the local model\n"
               "(" DEMO_LOCAL_MODEL ") and that server in stream mode. Writes results.jsonl,\n"
               "annotated.mp4 and stats.json into the output directory.\n"
               "\n");
    specx_cli_print_options(f, opts);
}

/* ---- round-trip probe ------------------------------------------------------- */

typedef struct probe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    specx_status st;
    char msg[256];
} probe;

static void probe_done(void *user, specx_status st, specx_detections *result, const char *msg)
{
    probe *p = user;
    specx_detections_destroy(result);
    pthread_mutex_lock(&p->mu);
    p->done = true;
    p->st = st;
    snprintf(p->msg, sizeof p->msg, "%s", msg != NULL ? msg : "");
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Round trip of one frame to the server, or -1 with a message. */
static specx_dur_t probe_once(specx_rpc_client *cl, specx_encoded_frame *enc, specx_err *err)
{
    probe p = {.done = false};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    specx_time_t t0 = specx_time_now();
    specx_status st =
        specx_rpc_call_start(cl, enc, specx_time_add(t0, SPECX_SEC(30)), probe_done, &p, NULL);
    if (st == SPECX_OK) {
        pthread_mutex_lock(&p.mu);
        while (!p.done) {
            pthread_cond_wait(&p.cv, &p.mu);
        }
        pthread_mutex_unlock(&p.mu);
        st = p.st;
        if (st != SPECX_OK) {
            specx_err_set(err, st, "probe: %s", p.msg);
        }
    } else {
        specx_err_set(err, st, "probe: cannot start a call: %s", specx_strerror(st));
    }
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    return st == SPECX_OK ? specx_time_now() - t0 : -1;
}

static specx_status measure_rtt(const char *video, const char *target, specx_dur_t *rtt,
                                specx_err *err)
{
    specx_video_source *src;
    specx_status st = specx_video_source_open(&src, video, NULL, err);
    if (st != SPECX_OK) {
        return st;
    }
    specx_frame fr;
    int eof = 0;
    st = specx_video_source_read(src, &fr, &eof, err);
    specx_video_source_close(src);
    if (st != SPECX_OK) {
        return st;
    }
    if (eof) {
        return specx_err_set(err, SPECX_EFORMAT, "%s has no frames", video);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    specx_encoded_frame *enc = NULL;
    st = specx_jpeg_encode(&fr.image, 90, &buf, &len, err);
    specx_frame_clear(&fr);
    if (st == SPECX_OK && (st = specx_encoded_frame_take(buf, len, &enc)) != SPECX_OK) {
        free(buf);
    }
    if (st != SPECX_OK) {
        return st;
    }
    specx_rpc_client_config cc;
    specx_rpc_client_config_init(&cc);
    snprintf(cc.target, sizeof cc.target, "%s", target);
    specx_rpc_client *cl;
    st = specx_rpc_client_create(&cc, &cl, err);
    if (st == SPECX_OK) {
        specx_dur_t d = probe_once(cl, enc, err); /* warm-up */
        if (d >= 0) {
            d = probe_once(cl, enc, err);
        }
        st = d >= 0 ? SPECX_OK : SPECX_EUNAVAILABLE;
        *rtt = d;
        specx_rpc_client_destroy(cl);
    }
    specx_encoded_frame_unref(enc);
    return st;
}

/* ---- the demo ---------------------------------------------------------------------- */

/* Chooses the deadline from a measured round trip (see the top of the file). */
static int choose_deadline(demo_opts *o, const char *video, const char *target)
{
    specx_dur_t rtt = 0;
    specx_err err = {{0}};
    specx_status st = measure_rtt(video, target, &rtt, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx demo: %s\n", specx_err_text(&err, st));
        return 1;
    }
    specx_dur_t d = 2 * rtt + SPECX_MS(20);
    d = d < SPECX_MS(30) ? SPECX_MS(30) : d > SPECX_MS(2000) ? SPECX_MS(2000) : d;
    o->deadline = (d + SPECX_MS(5)) / SPECX_MS(10) * SPECX_MS(10); /* a round number */
    printf("server round trip %.0f ms -> deadline %.0f ms (2 x + 20 ms; --deadline "
           "overrides)\n",
           specx_dur_ms(rtt), specx_dur_ms(o->deadline));
    return 0;
}

static void print_server_stats(specx_server *srv)
{
    specx_server_stats *ss = malloc(sizeof *ss);
    if (ss == NULL) {
        return;
    }
    specx_server_get_stats(srv, ss);
    printf("server: %llu requests, %llu answered, %llu cancelled by the client, %llu expired "
           "in its queue; compute p50 %.1f ms, p99 %.1f ms\n",
           (unsigned long long)ss->received, (unsigned long long)ss->completed,
           (unsigned long long)ss->cancelled, (unsigned long long)ss->expired,
           specx_hist_quantile(&ss->compute, 0.5) / 1e6,
           specx_hist_quantile(&ss->compute, 0.99) / 1e6);
    free(ss);
}

/* The run itself: the in-process server, the deadline, the video. */
static int run_demo(demo_opts *o, const char *video)
{
    specx_time_t t0 = specx_time_now();
    specx_err err = {{0}};
    specx_detector_config server_model = {
        .model = DEMO_SERVER_MODEL, .model_dir = o->model_dir, .backend = o->backend};
    specx_server_config sc = {.bind = "127.0.0.1",
                              .port = 0,
                              .workers = 1,
                              .open_detector = specx_pipeline_open_detector,
                              .open_detector_user = &server_model};
    specx_server *srv;
    specx_status st = specx_server_start(&sc, &srv, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx demo: cannot start the server: %s\n", specx_err_text(&err, st));
        return 1;
    }
    specx_rpc_client_config server;
    specx_rpc_client_config_init(&server);
    snprintf(server.target, sizeof server.target, "127.0.0.1:%d", specx_server_port(srv));
    snprintf(server.name, sizeof server.name, "cloud-xl416");
    server.max_in_flight = 1;
    server.max_in_flight_set = true;
    const char *backend = o->backend != NULL ? o->backend : specx_detector_default_backend();
    printf("server: %s (%s backend, 1 worker) on %s, in this process\n", DEMO_SERVER_MODEL, backend,
           server.target);
    if (!o->deadline_set && choose_deadline(o, video, server.target) != 0) {
        specx_server_destroy(srv);
        return 1;
    }
    printf("local: %s; video: %s; outputs in %s/\n", DEMO_LOCAL_MODEL, video, o->out_dir);
    fflush(stdout);

    char jsonl[4200], ann[4200], stats[4200];
    snprintf(jsonl, sizeof jsonl, "%s/results.jsonl", o->out_dir);
    snprintf(ann, sizeof ann, "%s/annotated.mp4", o->out_dir);
    snprintf(stats, sizeof stats, "%s/stats.json", o->out_dir);
    specx_pipeline_run_config rc = {.pipeline = {.local = {.model = DEMO_LOCAL_MODEL,
                                                           .backend = o->backend,
                                                           .model_dir = o->model_dir},
                                                 .servers = &server,
                                                 .n_servers = 1,
                                                 .deadline = o->deadline,
                                                 .mode = SPECX_PIPELINE_STREAM},
                                    .video = video,
                                    .fps = -1,
                                    .max_frames = o->frames,
                                    .jsonl = jsonl,
                                    .annotate = ann,
                                    .annotate_codec = "mpeg4"};
    specx_run_report rep = {.prog = "specx demo", .verbose = o->verbose, .stats_json = stats};
    int rc_run = specx_cmd_run_video(&rc, &rep);

    specx_server_stop(srv, SPECX_SEC(2));
    print_server_stats(srv);
    specx_server_destroy(srv);
    printf("demo %s in %.1f s: %s, %s, %s\n", rc_run == 0 ? "finished" : "FAILED",
           specx_dur_ms(specx_time_now() - t0) / 1e3, jsonl, ann, stats);
    return rc_run;
}

int specx_cmd_demo(int argc, char **argv)
{
    demo_opts o = {.out_dir = "specx-demo-out"};
    char backend_help[96];
    snprintf(backend_help, sizeof backend_help, "detector backend for both models (default: %s)",
             specx_detector_default_backend());
    const specx_cli_opt opts[] = {
        {"backend", 0, SPECX_CLI_STRING, &o.backend, .meta = "B", .help = backend_help},
        {"deadline", 0, SPECX_CLI_DEADLINE, &o.deadline, .set = &o.deadline_set, .meta = "MS",
         .help = "per-frame deadline (default: 2 x a measured server round\n"
                 "trip + 20 ms, within 30..2000 ms)"},
        {"out-dir", 0, SPECX_CLI_STRING, &o.out_dir, .meta = "DIR",
         .help = "output directory (default ./specx-demo-out)"},
        {"video", 0, SPECX_CLI_STRING, &o.video, .meta = "PATH",
         .help = "another video or image directory (default: the bundled\n" DEMO_VIDEO
                 ", found in $SPECX_ASSETS_DIR/video,\n./assets/video or ../shared/assets/video)"},
        {"frames", 0, SPECX_CLI_I64, &o.frames, 1, 1099511627776.0, .meta = "N",
         .help = "stop after N frames"},
        {"model-dir", 0, SPECX_CLI_STRING, &o.model_dir, .meta = "DIR",
         .help = "where models live (default: $SPECX_MODEL_DIR, ./assets/models,\n"
                 "../shared/assets/models)"},
        {"verbose", 'v', SPECX_CLI_FLAG, &o.verbose, .help = "one line per frame on stderr"},
        {0},
    };
    int rc = specx_cli_parse("specx demo", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 0;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    char video[4096];
    if (o.video != NULL) {
        snprintf(video, sizeof video, "%s", o.video);
    } else if (!specx_cli_find_asset("video/" DEMO_VIDEO, video, sizeof video)) {
        fprintf(stderr,
                "specx demo: cannot find " DEMO_VIDEO " (looked in $SPECX_ASSETS_DIR/video, "
                "./assets/video, ../shared/assets/video; run `make assets` or give "
                "--video)\n");
        return 1;
    }
    if (specx_cli_mkdir_p(o.out_dir) != 0) {
        fprintf(stderr, "specx demo: cannot create %s: %s\n", o.out_dir, strerror(errno));
        return 1;
    }
    return run_demo(&o, video);
}
