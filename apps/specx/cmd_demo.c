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
#include <sys/stat.h>
#include <unistd.h>

#include "specx/codec.h"
#include "specx/rpc.h"
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
    double fps;
} demo_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: specx demo [--backend B] [--deadline MS] [--out-dir DIR] [--video PATH]\n"
            "                  [--frames N]\n"
            "\n"
            "Starts a detection server (" DEMO_SERVER_MODEL ") in this process on a free\n"
            "loopback port and runs the bundled video through the local model\n"
            "(" DEMO_LOCAL_MODEL ") and that server in stream mode. Writes results.jsonl,\n"
            "annotated.mp4 and stats.json into the output directory.\n"
            "\n"
            "  --backend B     detector backend for both models (default: %s)\n"
            "  --deadline MS   per-frame deadline (default: 2 x a measured server round\n"
            "                  trip + 20 ms, within 30..2000 ms)\n"
            "  --out-dir DIR   output directory (default ./specx-demo-out)\n"
            "  --video PATH    another video or image directory (default: the bundled\n"
            "                  " DEMO_VIDEO ", found in $SPECX_ASSETS_DIR/video,\n"
            "                  ./assets/video or ../shared/assets/video)\n"
            "  --frames N      stop after N frames\n"
            "  --model-dir DIR where models live\n"
            "  --verbose       one line per frame on stderr\n",
            specx_detector_default_backend());
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

/* ---- server ------------------------------------------------------------------ */

static specx_status open_server_detector(void *user, int worker, specx_detector **out,
                                         specx_err *err)
{
    (void)worker;
    const demo_opts *o = user;
    specx_detector_config cfg = {
        .model = DEMO_SERVER_MODEL, .model_dir = o->model_dir, .backend = o->backend};
    return specx_detector_open(&cfg, out, err);
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

/* ---- command -------------------------------------------------------------------- */

int specx_cmd_demo(int argc, char **argv)
{
    demo_opts o = {.out_dir = "specx-demo-out", .fps = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            o.verbose = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (v == NULL) {
            fprintf(stderr, "specx demo: %s needs a value (see specx demo --help)\n", a);
            return 2;
        }
        bool ok = true;
        if (strcmp(a, "--backend") == 0) {
            o.backend = v;
        } else if (strcmp(a, "--model-dir") == 0) {
            o.model_dir = v;
        } else if (strcmp(a, "--out-dir") == 0) {
            o.out_dir = v;
        } else if (strcmp(a, "--video") == 0) {
            o.video = v;
        } else if (strcmp(a, "--deadline") == 0) {
            ok = specx_pipeline_parse_deadline(v, &o.deadline);
            o.deadline_set = true;
        } else if (strcmp(a, "--frames") == 0) {
            char *end;
            long long n = strtoll(v, &end, 10);
            ok = end != v && *end == '\0' && n > 0;
            o.frames = n;
        } else {
            fprintf(stderr, "specx demo: unknown option '%s' (see specx demo --help)\n", a);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "specx demo: bad value '%s' for %s\n", v, a);
            return 2;
        }
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
    if (mkdir_p(o.out_dir) != 0) {
        fprintf(stderr, "specx demo: cannot create %s: %s\n", o.out_dir, strerror(errno));
        return 1;
    }

    specx_time_t t0 = specx_time_now();
    specx_err err = {{0}};
    specx_rpc_server_config sc = {.bind = "127.0.0.1",
                                  .port = 0,
                                  .workers = 1,
                                  .open_detector = open_server_detector,
                                  .open_detector_user = &o};
    specx_rpc_server *srv;
    specx_status st = specx_rpc_server_start(&sc, &srv, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "specx demo: cannot start the server: %s\n", specx_err_text(&err, st));
        return 1;
    }
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", specx_rpc_server_port(srv));
    const char *backend = o.backend != NULL ? o.backend : specx_detector_default_backend();
    printf("server: %s (%s backend, 1 worker) on %s, in this process\n", DEMO_SERVER_MODEL, backend,
           target);

    if (!o.deadline_set) {
        specx_dur_t rtt = 0;
        st = measure_rtt(video, target, &rtt, &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "specx demo: %s\n", specx_err_text(&err, st));
            specx_rpc_server_destroy(srv);
            return 1;
        }
        specx_dur_t d = 2 * rtt + SPECX_MS(20);
        d = d < SPECX_MS(30) ? SPECX_MS(30) : d > SPECX_MS(2000) ? SPECX_MS(2000) : d;
        o.deadline = (d + SPECX_MS(5)) / SPECX_MS(10) * SPECX_MS(10); /* a round number */
        printf("server round trip %.0f ms -> deadline %.0f ms (2 x + 20 ms; --deadline "
               "overrides)\n",
               specx_dur_ms(rtt), specx_dur_ms(o.deadline));
    }
    printf("local: %s; video: %s; outputs in %s/\n", DEMO_LOCAL_MODEL, video, o.out_dir);
    fflush(stdout);

    char server[128], jsonl[4200], ann[4200], stats[4200];
    snprintf(server, sizeof server, "%s,name=cloud-xl416,inflight=1", target);
    snprintf(jsonl, sizeof jsonl, "%s/results.jsonl", o.out_dir);
    snprintf(ann, sizeof ann, "%s/annotated.mp4", o.out_dir);
    snprintf(stats, sizeof stats, "%s/stats.json", o.out_dir);
    const char *servers[1] = {server};
    specx_run_opts ro = {.video = video,
                         .local_model = DEMO_LOCAL_MODEL,
                         .backend = o.backend,
                         .model_dir = o.model_dir,
                         .servers = servers,
                         .n_servers = 1,
                         .deadline = o.deadline,
                         .fps = o.fps,
                         .max_frames = o.frames,
                         .out_jsonl = jsonl,
                         .annotate = ann,
                         .annotate_codec = "mpeg4",
                         .stats_json = stats,
                         .mode = SPECX_PIPELINE_STREAM,
                         .verbose = o.verbose,
                         .prog = "specx demo"};
    int rc = specx_run_video(&ro);

    specx_rpc_server_stop(srv, SPECX_SEC(2));
    specx_rpc_server_stats *ss = malloc(sizeof *ss);
    if (ss != NULL) {
        specx_rpc_server_get_stats(srv, ss);
        printf("server: %llu requests, %llu answered, %llu cancelled by the client, %llu expired "
               "in its queue; compute p50 %.1f ms, p99 %.1f ms\n",
               (unsigned long long)ss->received, (unsigned long long)ss->completed,
               (unsigned long long)ss->cancelled, (unsigned long long)ss->expired,
               specx_hist_quantile(&ss->compute, 0.5) / 1e6,
               specx_hist_quantile(&ss->compute, 0.99) / 1e6);
        free(ss);
    }
    specx_rpc_server_destroy(srv);
    printf("demo %s in %.1f s: %s, %s, %s\n", rc == 0 ? "finished" : "FAILED",
           specx_dur_ms(specx_time_now() - t0) / 1e3, jsonl, ann, stats);
    return rc;
}
