/* cmd_run.c — `specx run`: a video paced at camera rate through a local
 * detector and remote servers under a deadline; JSON lines, annotated video,
 * progress bar and summary.
 *
 * Design notes
 *  - Frames are read, then pushed at t0 + i/fps on an absolute
 *    CLOCK_MONOTONIC schedule (clock_nanosleep TIMER_ABSTIME): that is the
 *    camera clock, not a wait for an event. A frame that is already late (slow
 *    decode, or SYNC mode waiting for outputs) is pushed at once; the schedule
 *    is not shifted, so pacing does not drift.
 *  - The output callback (JSON line, drawing, video encoding, progress) runs
 *    on the pipeline's delivery thread in STREAM mode and on this thread in
 *    SYNC mode; never both, so run_ctx needs no lock except for the counters
 *    read after drain. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <libavutil/log.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "specx/draw.h"
#include "specx/rpc.h"
#include "specx/video.h"

#include "cli.h"
#include "commands.h"
#include "run.h"

#define MAX_EXEC 17 /* up to 16 servers + local */

typedef struct run_ctx {
    const specx_run_opts *o;
    specx_pipeline *p;
    FILE *jsonl;
    bool jsonl_close;
    /* annotated output: drawn on the delivery thread, encoded on its own
     * thread (encoding a 720p frame costs about as much as a frame period) */
    specx_video_writer *writer;
    pthread_t enc_thread;
    bool enc_started;
    pthread_mutex_t enc_mu;
    pthread_cond_t enc_cv;
    struct ann_item *enc_head, *enc_tail;
    size_t enc_len, enc_max;
    bool enc_closing;
    bool writer_failed; /* under enc_mu */
    char writer_err[512];
    bool tty;
    int64_t total; /* expected frames, -1 unknown */
    specx_time_t t0, last_progress;
    bool progress_shown;
    /* counters, written by the output callback */
    int64_t outputs, no_result, fallbacks, next_index;
    bool order_ok;
    uint64_t wins[MAX_EXEC];
    uint64_t no_result_by[SPECX_STATUS_COUNT_]; /* by output status */
    char first_err[MAX_EXEC][200];
    const char *names[MAX_EXEC];
    specx_rgb colours[MAX_EXEC];
    size_t n_exec;
} run_ctx;

#define ENC_QUEUE_MAX 64 /* annotated frames waiting for the encoder */

typedef struct ann_item {
    specx_image img;
    struct ann_item *next;
} ann_item;

static volatile sig_atomic_t interrupted;

static void *encoder_main(void *arg)
{
    run_ctx *c = arg;
    /* Below the detectors: on a small machine the encoder would otherwise
     * take the CPU the deadline depends on; it catches up in idle time and
     * at the end (Linux: the nice value is per thread). */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0) {
        /* not fatal: the encoder just competes at normal priority */
    }
    pthread_mutex_lock(&c->enc_mu);
    for (;;) {
        while (c->enc_head == NULL && !c->enc_closing) {
            pthread_cond_wait(&c->enc_cv, &c->enc_mu);
        }
        ann_item *it = c->enc_head;
        if (it == NULL) {
            break;
        }
        c->enc_head = it->next;
        if (c->enc_head == NULL) {
            c->enc_tail = NULL;
        }
        c->enc_len--;
        bool failed = c->writer_failed;
        pthread_cond_broadcast(&c->enc_cv);
        pthread_mutex_unlock(&c->enc_mu);
        specx_err err = {{0}};
        specx_status st = failed ? SPECX_OK : specx_video_writer_write(c->writer, &it->img, &err);
        specx_image_clear(&it->img);
        free(it);
        pthread_mutex_lock(&c->enc_mu);
        if (st != SPECX_OK && !c->writer_failed) {
            c->writer_failed = true;
            snprintf(c->writer_err, sizeof c->writer_err, "%s", specx_err_text(&err, st));
        }
    }
    pthread_mutex_unlock(&c->enc_mu);
    return NULL;
}

/* Queues a copy of img for the encoder; waits while ENC_QUEUE_MAX are queued
 * (the encoder then bounds the run's memory, at the price of delivery). */
static void encoder_push(run_ctx *c, const specx_image *img)
{
    ann_item *it = calloc(1, sizeof *it);
    if (it == NULL || specx_image_copy(&it->img, img) != SPECX_OK) {
        free(it);
        pthread_mutex_lock(&c->enc_mu);
        if (!c->writer_failed) {
            c->writer_failed = true;
            snprintf(c->writer_err, sizeof c->writer_err, "out of memory for annotated frames");
        }
        pthread_mutex_unlock(&c->enc_mu);
        return;
    }
    pthread_mutex_lock(&c->enc_mu);
    while (c->enc_len >= ENC_QUEUE_MAX) {
        pthread_cond_wait(&c->enc_cv, &c->enc_mu);
    }
    if (c->enc_tail != NULL) {
        c->enc_tail->next = it;
    } else {
        c->enc_head = it;
    }
    c->enc_tail = it;
    c->enc_len++;
    c->enc_max = c->enc_len > c->enc_max ? c->enc_len : c->enc_max;
    pthread_cond_broadcast(&c->enc_cv);
    pthread_mutex_unlock(&c->enc_mu);
}

/* Lets the encoder finish the queue and stops it. */
static void encoder_join(run_ctx *c)
{
    if (!c->enc_started) {
        return;
    }
    pthread_mutex_lock(&c->enc_mu);
    c->enc_closing = true;
    pthread_cond_broadcast(&c->enc_cv);
    pthread_mutex_unlock(&c->enc_mu);
    pthread_join(c->enc_thread, NULL);
    c->enc_started = false;
}

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void annotate(run_ctx *c, const specx_pipeline_output *out)
{
    specx_image *img = out->image;
    int scale = img->width >= 960 ? 2 : 1;
    specx_rgb white = {255, 255, 255}, red = {200, 30, 30};
    if (out->winner >= 0) {
        specx_rgb col = c->colours[out->winner];
        specx_draw_detections(img, out->detections, col, scale, scale);
        char dl[32] = "none";
        if (out->deadline_ms >= 0) {
            snprintf(dl, sizeof dl, "%.0f ms", out->deadline_ms);
        }
        specx_draw_banner(img, scale, specx_rgb_contrast(col), col,
                          "frame %lld  winner: %s (prio %d)  %.0f ms  deadline %s  %zu objects%s",
                          (long long)out->index, out->winner_name, out->priority, out->latency_ms,
                          dl, out->detections != NULL ? out->detections->count : 0,
                          out->fallback ? "  FALLBACK (after deadline)" : "");
    } else {
        specx_draw_banner(img, scale, white, red, "frame %lld  NO RESULT: %s",
                          (long long)out->index,
                          out->reason != NULL ? out->reason : specx_strerror(out->status));
    }
    specx_draw_legend(img, c->names, c->colours, c->n_exec, scale);
    encoder_push(c, img);
}

static void progress(run_ctx *c, bool force)
{
    specx_time_t now = specx_time_now();
    if (!c->tty || (now - c->t0 < SPECX_SEC(1) && !force) ||
        (!force && now - c->last_progress < SPECX_MS(100))) {
        return;
    }
    c->last_progress = now;
    char bar[32] = "";
    if (c->total > 0) {
        int w = 24, fill = (int)(w * c->outputs / c->total);
        fill = fill > w ? w : fill;
        for (int i = 0; i < w; i++) {
            bar[i] = i < fill ? '#' : '.';
        }
        bar[w] = '\0';
        fprintf(stderr, "\r\033[K[%s] %lld/%lld", bar, (long long)c->outputs, (long long)c->total);
    } else {
        fprintf(stderr, "\r\033[K%lld frames", (long long)c->outputs);
    }
    for (size_t i = 0; i < c->n_exec; i++) {
        fprintf(stderr, "  %.12s %llu", c->names[i], (unsigned long long)c->wins[i]);
    }
    fprintf(stderr, "  none %lld  %.1f s", (long long)c->no_result,
            specx_dur_ms(now - c->t0) / 1e3);
    c->progress_shown = true;
}

static void on_output(void *user, const specx_pipeline_output *out)
{
    run_ctx *c = user;
    if (out->index != c->next_index) {
        c->order_ok = false;
    }
    c->next_index = out->index + 1;
    c->outputs++;
    if (out->winner >= 0 && (size_t)out->winner < c->n_exec) {
        c->wins[out->winner]++;
    } else {
        c->no_result++;
        if (out->status >= 0 && out->status < SPECX_STATUS_COUNT_) {
            c->no_result_by[out->status]++;
        }
    }
    c->fallbacks += out->fallback;
    for (size_t i = 0; i < out->n_exec && i < c->n_exec; i++) {
        const specx_pipeline_exec *e = &out->exec[i];
        if (c->first_err[i][0] == '\0' && e->fate == SPECX_FATE_FAILED) {
            snprintf(c->first_err[i], sizeof c->first_err[i], "%s%s%s",
                     specx_status_name(e->status), e->message ? ": " : "",
                     e->message ? e->message : "");
        }
    }
    if (c->jsonl != NULL) {
        char *line = specx_pipeline_output_json(out);
        if (line != NULL) {
            fputs(line, c->jsonl);
            fputc('\n', c->jsonl);
            free(line);
        }
    }
    if (c->o->verbose) {
        if (c->progress_shown) {
            fprintf(stderr, "\r\033[K");
        }
        fprintf(stderr, "frame %5lld  %-16s %7.1f ms%s", (long long)out->index,
                out->winner >= 0 ? out->winner_name : "NO RESULT", out->latency_ms,
                out->fallback ? " FALLBACK" : "");
        for (size_t i = 0; i < out->n_exec; i++) {
            const specx_pipeline_exec *e = &out->exec[i];
            fprintf(stderr, "  %s=%s", e->name, specx_fate_name(e->fate));
            if (e->latency_ms >= 0) {
                fprintf(stderr, "(%.0f)", e->latency_ms);
            } else if (e->status != SPECX_OK) {
                fprintf(stderr, "(%s)", specx_status_name(e->status));
            }
        }
        if (out->winner < 0 && out->reason != NULL) {
            fprintf(stderr, "  reason: %s", out->reason);
        }
        fputc('\n', stderr);
    }
    if (c->writer != NULL) {
        annotate(c, out);
    }
    progress(c, false);
}

static cJSON *run_json(const run_ctx *c, const specx_operator_stats *s, double wall_s,
                       const specx_local_executor_stats *ls, bool has_local)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(j, "video", c->o->video);
    cJSON_AddStringToObject(j, "mode", c->o->mode == SPECX_PIPELINE_SYNC ? "sync" : "stream");
    if (c->o->deadline == SPECX_TIME_NEVER) {
        cJSON_AddNullToObject(j, "deadline_ms");
    } else {
        cJSON_AddNumberToObject(j, "deadline_ms", specx_dur_ms(c->o->deadline));
    }
    cJSON_AddNumberToObject(j, "frames", (double)c->outputs);
    cJSON_AddNumberToObject(j, "wall_s", wall_s);
    cJSON_AddNumberToObject(j, "fps", wall_s > 0 ? (double)c->outputs / wall_s : 0);
    cJSON_AddNumberToObject(j, "no_result", (double)c->no_result);
    cJSON *nr = cJSON_AddObjectToObject(j, "no_result_by_status");
    for (int k = 0; nr != NULL && k < SPECX_STATUS_COUNT_; k++) {
        if (c->no_result_by[k] > 0) {
            cJSON_AddNumberToObject(nr, specx_status_name((specx_status)k),
                                    (double)c->no_result_by[k]);
        }
    }
    cJSON_AddNumberToObject(j, "fallback_ratio", specx_stats_fallback_ratio(s));
    cJSON *w = cJSON_AddObjectToObject(j, "wins");
    for (size_t i = 0; w != NULL && i < c->n_exec; i++) {
        cJSON_AddNumberToObject(w, c->names[i], (double)c->wins[i]);
    }
    if (has_local) {
        cJSON *l = cJSON_AddObjectToObject(j, "local_queue");
        if (l != NULL) {
            cJSON_AddNumberToObject(l, "started", (double)ls->started);
            cJSON_AddNumberToObject(l, "completed", (double)ls->completed);
            cJSON_AddNumberToObject(l, "dropped", (double)ls->dropped);
            cJSON_AddNumberToObject(l, "cancelled", (double)ls->cancelled);
            cJSON_AddNumberToObject(l, "timed_out", (double)ls->timed_out);
            cJSON_AddNumberToObject(l, "failed", (double)ls->failed);
        }
    }
    cJSON *op = specx_stats_to_cjson(s);
    if (op != NULL) {
        cJSON_AddItemToObject(j, "operator", op);
    }
    return j;
}

static void print_summary(run_ctx *c, double wall_s, FILE *f)
{
    specx_operator_stats *s = NULL;
    if (specx_pipeline_stats(c->p, &s) != SPECX_OK) {
        fprintf(stderr, "%s: cannot read statistics\n", c->o->prog);
        return;
    }
    specx_local_executor_stats ls = {0};
    bool has_local = specx_pipeline_local_stats(c->p, &ls);
    char dl[32] = "none";
    if (c->o->deadline != SPECX_TIME_NEVER) {
        snprintf(dl, sizeof dl, "%.0f ms", specx_dur_ms(c->o->deadline));
    }
    fprintf(f, "\n%lld frames in %.2f s (%.1f frames/s), mode %s, deadline %s\n",
            (long long)c->outputs, wall_s, wall_s > 0 ? (double)c->outputs / wall_s : 0.0,
            c->o->mode == SPECX_PIPELINE_SYNC ? "sync" : "stream", dl);
    specx_stats_print(s, f);
    fprintf(f, "fallback ratio %.3f; winners:", specx_stats_fallback_ratio(s));
    for (size_t i = 0; i < c->n_exec; i++) {
        fprintf(f, " %s %llu,", c->names[i], (unsigned long long)c->wins[i]);
    }
    fprintf(f, " no result %lld", (long long)c->no_result);
    const char *sep = " (";
    for (int k = 0; k < SPECX_STATUS_COUNT_; k++) {
        if (c->no_result_by[k] > 0) {
            fprintf(f, "%s%s %llu", sep, specx_status_name((specx_status)k),
                    (unsigned long long)c->no_result_by[k]);
            sep = ", ";
        }
    }
    fprintf(f, "%s\n", c->no_result > 0 ? ")" : "");
    if (has_local) {
        fprintf(f,
                "local queue: %llu started, %llu completed, %llu dropped (superseded by a newer "
                "frame), %llu cancelled, %llu expired\n",
                ls.started, ls.completed, ls.dropped, ls.cancelled, ls.timed_out);
    }
    if (c->o->annotate != NULL) {
        fprintf(f, "annotated output: %s (encoder queue peak %zu of %d frames)\n", c->o->annotate,
                c->enc_max, ENC_QUEUE_MAX);
    }
    for (size_t i = 0; i < c->n_exec; i++) {
        if (c->first_err[i][0] != '\0') {
            fprintf(f, "%s: first failure: %s\n", c->names[i], c->first_err[i]);
        }
    }
    if (c->o->stats_json != NULL) {
        cJSON *j = run_json(c, s, wall_s, &ls, has_local);
        char *txt = j != NULL ? cJSON_Print(j) : NULL;
        FILE *sf = txt != NULL ? fopen(c->o->stats_json, "w") : NULL;
        if (sf == NULL || fprintf(sf, "%s\n", txt) < 0 || fclose(sf) != 0) {
            fprintf(stderr, "%s: cannot write %s: %s\n", c->o->prog, c->o->stats_json,
                    txt == NULL ? "out of memory" : strerror(errno));
        }
        free(txt);
        cJSON_Delete(j);
    }
    specx_operator_stats_free(s);
}

static void sleep_until(specx_time_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000), .tv_nsec = (long)(t % 1000000000)};
    while (!interrupted && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

int specx_run_video(const specx_run_opts *o)
{
    const char *prog = o->prog != NULL ? o->prog : "specx run";
    specx_err err = {{0}};
    specx_status st;
    run_ctx c = {.o = o, .order_ok = true, .total = -1};
    pthread_mutex_init(&c.enc_mu, NULL);
    pthread_cond_init(&c.enc_cv, NULL);
    c.tty = isatty(STDERR_FILENO) == 1;

    specx_video_source *src = NULL;
    specx_video_source_opts so = {.dir_fps = o->fps > 0 ? o->fps : 0};
    /* FFmpeg's own lines about a file it cannot open ("moov atom not found")
     * would precede our one-line error, which already says why. */
    int av_level = av_log_get_level();
    if (!o->verbose) {
        av_log_set_level(AV_LOG_FATAL);
    }
    st = specx_video_source_open(&src, o->video, &so, &err);
    av_log_set_level(av_level);
    if (st != SPECX_OK) {
        fprintf(stderr, "%s: %s\n", prog, specx_err_text(&err, st));
        return 1;
    }
    specx_video_info info;
    specx_video_source_info(src, &info);
    /* A live stream (rtsp://, http://) delivers frames at its own rate:
     * reading it is the pacing. Files and directories are paced here. */
    bool live = strstr(o->video, "://") != NULL;
    double fps = o->fps >= 0 ? o->fps : live ? 0 : (info.fps > 0 ? info.fps : 10.0);
    c.total = info.frame_count;
    if (o->max_frames > 0 && (c.total < 0 || c.total > o->max_frames)) {
        c.total = o->max_frames;
    }

    specx_pipeline_config pc = {.local_model = o->local_model,
                                .backend = o->backend,
                                .model_dir = o->model_dir,
                                .local_queue_depth = o->local_queue,
                                .servers = o->servers,
                                .n_servers = o->n_servers,
                                .remote_max_in_flight = o->max_in_flight,
                                .deadline = o->deadline,
                                .jpeg_quality = o->jpeg_quality,
                                .mode = o->mode,
                                .output = on_output,
                                .output_user = &c};
    if (o->n_servers + 1 > MAX_EXEC) {
        fprintf(stderr, "%s: at most %d servers\n", prog, MAX_EXEC - 1);
        specx_video_source_close(src);
        return 2;
    }
    st = specx_pipeline_create(&pc, &c.p, &err);
    if (st != SPECX_OK) {
        fprintf(stderr, "%s: %s\n", prog, specx_err_text(&err, st));
        specx_video_source_close(src);
        return 1;
    }
    c.n_exec = specx_pipeline_executor_count(c.p);
    for (size_t i = 0; i < c.n_exec; i++) {
        c.names[i] = specx_pipeline_executor_name(c.p, i);
        c.colours[i] = specx_palette_executor(specx_pipeline_palette_index(c.p, (int)i));
    }

    int rc = 0;
    if (o->out_jsonl != NULL) {
        if (strcmp(o->out_jsonl, "-") == 0) {
            c.jsonl = stdout;
        } else if ((c.jsonl = fopen(o->out_jsonl, "w")) == NULL) {
            fprintf(stderr, "%s: cannot write %s: %s\n", prog, o->out_jsonl, strerror(errno));
            rc = 1;
        } else {
            c.jsonl_close = true;
        }
    }
    if (rc == 0 && o->annotate != NULL) {
        specx_video_writer_opts wo = {.fps = fps > 0 ? fps : (info.fps > 0 ? info.fps : 10),
                                      .codec = o->annotate_codec};
        st = specx_video_writer_open(&c.writer, o->annotate, &wo, &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "%s: %s\n", prog, specx_err_text(&err, st));
            rc = 1;
        } else if (pthread_create(&c.enc_thread, NULL, encoder_main, &c) != 0) {
            fprintf(stderr, "%s: cannot start the encoder thread\n", prog);
            rc = 1;
        } else {
            c.enc_started = true;
        }
    }

    struct sigaction sa = {.sa_handler = on_sigint}, old_sa;
    sigemptyset(&sa.sa_mask);
    interrupted = 0;
    sigaction(SIGINT, &sa, &old_sa);

    c.t0 = specx_time_now();
    int64_t pushed = 0;
    int consecutive_errors = 0;
    while (rc == 0 && !interrupted && (o->max_frames <= 0 || pushed < o->max_frames)) {
        specx_frame fr;
        int eof = 0;
        st = specx_video_source_read(src, &fr, &eof, &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "%s: %s\n", prog, specx_err_text(&err, st));
            if (++consecutive_errors >= 25 || st == SPECX_ENOMEM) {
                rc = 1;
            }
            continue;
        }
        consecutive_errors = 0;
        if (eof) {
            break;
        }
        if (fps > 0) {
            sleep_until(specx_time_add(c.t0, (specx_dur_t)((double)pushed * 1e9 / fps)));
            if (interrupted) {
                specx_frame_clear(&fr);
                break;
            }
        }
        st = specx_pipeline_push(c.p, &fr.image, pushed, fr.pts, &err);
        specx_frame_clear(&fr);
        if (st != SPECX_OK) {
            fprintf(stderr, "%s: %s\n", prog, specx_err_text(&err, st));
            rc = 1;
            break;
        }
        pushed++;
    }
    specx_pipeline_finish(c.p);
    double wall_s = specx_dur_ms(specx_time_now() - c.t0) / 1e3;
    sigaction(SIGINT, &old_sa, NULL);
    if (c.progress_shown) {
        progress(&c, true);
        fputc('\n', stderr);
    }
    if (interrupted) {
        fprintf(stderr, "%s: interrupted after %lld frames\n", prog, (long long)pushed);
    }
    if (pushed == 0 && rc == 0) {
        fprintf(stderr, "%s: %s has no frames\n", prog, o->video);
        rc = 1;
    }
    if (!c.order_ok || c.outputs != pushed) {
        fprintf(stderr, "%s: internal error: %lld outputs for %lld frames%s\n", prog,
                (long long)c.outputs, (long long)pushed, c.order_ok ? "" : ", out of order");
        rc = 1;
    }
    if (c.jsonl != NULL) {
        fflush(c.jsonl);
        if (c.jsonl_close && fclose(c.jsonl) != 0) {
            fprintf(stderr, "%s: cannot write %s: %s\n", prog, o->out_jsonl, strerror(errno));
            rc = 1;
        }
    }
    encoder_join(&c);
    if (c.writer != NULL) {
        st = specx_video_writer_close(c.writer, &err);
        if (c.writer_failed) {
            fprintf(stderr, "%s: annotated output: %s\n", prog, c.writer_err);
            rc = 1;
        } else if (st != SPECX_OK) {
            fprintf(stderr, "%s: annotated output: %s\n", prog, specx_err_text(&err, st));
            rc = 1;
        }
    }
    if (pushed > 0) {
        print_summary(&c, wall_s, c.jsonl == stdout ? stderr : stdout);
    }
    if (rc == 0 && c.outputs > 0 && c.no_result == c.outputs) {
        /* e.g. remote-only against a server that is down */
        fprintf(stderr, "%s: no frame got a result (see the first failures above)\n", prog);
        rc = 1;
    }
    specx_pipeline_destroy(c.p);
    specx_video_source_close(src);
    pthread_cond_destroy(&c.enc_cv);
    pthread_mutex_destroy(&c.enc_mu);
    return rc;
}

/* ---- command line ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: specx run --video PATH|DIR [--local-model NAME] [--server HOST:PORT[,prio=N]]...\n"
        "                 [options]\n"
        "\n"
        "Runs a video (or a directory of images) paced at its frame rate through a local\n"
        "detector and remote detection servers: each frame goes to all of them, and the\n"
        "most preferred answer available by the deadline wins; the local answer is the\n"
        "fallback. Priorities: a higher number is more preferred; without prio=, a server\n"
        "listed earlier is preferred over one listed later; the local model always ranks\n"
        "lowest. At least one of --local-model and --server is needed.\n"
        "\n"
        "  --video PATH        video file, URL or directory of .jpg/.png images (required)\n"
        "  --server SPEC       HOST:PORT[,prio=N][,stream][,name=S][,inflight=N][,wait-ready]\n"
        "                      (repeatable)\n"
        "  --local-model NAME  on-board model, e.g. yolo-fastest-1.1, or\n"
        "                      test[:delay_ms=N] for the built-in test detector\n"
        "  --deadline MS       per-frame deadline after arrival, or 'none' (default 200)\n"
        "  --mode stream|sync  stream: frames keep arriving at camera rate, several in\n"
        "                      flight (default); sync: one frame at a time\n"
        "  --fps N             pacing rate (default: the source's; 0 = as fast as possible)\n"
        "  --frames N          stop after N frames\n"
        "  --out FILE          one JSON line per frame ('-' = stdout)\n"
        "  --annotate PATH     annotated output: a video (.mp4, .mkv, ...) or a directory\n"
        "  --annotate-codec C  FFmpeg encoder for --annotate video (default libx264;\n"
        "                      mpeg4 costs about a quarter of the CPU, files ~4x larger)\n"
        "  --stats-json FILE   the summary as JSON\n"
        "  --jpeg-quality Q    JPEG quality of frames sent to servers (default 90)\n"
        "  --local-queue N     frames waiting for the local model, drop-oldest (default 1)\n"
        "  --max-in-flight N   calls outstanding per server before frames are shed\n"
        "                      (default 4; inflight=N in --server overrides)\n"
        "  --backend B         local detector backend (default: %s)\n"
        "  --model-dir DIR     where models live (default: $SPECX_MODEL_DIR, ./assets/models,\n"
        "                      ../shared/assets/models)\n"
        "  --verbose           one line per frame on stderr\n",
        specx_detector_default_backend());
}

int specx_cmd_run(int argc, char **argv)
{
    const char *servers[MAX_EXEC];
    specx_run_opts o = {
        .deadline = SPECX_MS(200), .fps = -1, .prog = "specx run", .servers = servers};
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
            fprintf(stderr, "specx run: %s needs a value (see specx run --help)\n", a);
            return 2;
        }
        long n = 0;
        bool ok = true;
        if (strcmp(a, "--video") == 0) {
            o.video = v;
        } else if (strcmp(a, "--server") == 0) {
            if (o.n_servers + 1 >= MAX_EXEC) {
                fprintf(stderr, "specx run: at most %d servers\n", MAX_EXEC - 1);
                return 2;
            }
            specx_rpc_client_config cc;
            specx_err err = {{0}};
            specx_status st = specx_rpc_client_config_parse(v, &cc, &err);
            if (st != SPECX_OK) {
                fprintf(stderr, "specx run: --server: %s\n", specx_err_text(&err, st));
                return 2;
            }
            servers[o.n_servers++] = v;
        } else if (strcmp(a, "--local-model") == 0) {
            o.local_model = v;
        } else if (strcmp(a, "--deadline") == 0) {
            ok = specx_pipeline_parse_deadline(v, &o.deadline);
        } else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "stream") == 0) {
                o.mode = SPECX_PIPELINE_STREAM;
            } else if (strcmp(v, "sync") == 0) {
                o.mode = SPECX_PIPELINE_SYNC;
            } else {
                ok = false;
            }
        } else if (strcmp(a, "--fps") == 0) {
            char *end;
            o.fps = strtod(v, &end);
            ok = end != v && *end == '\0' && o.fps >= 0 && o.fps <= 1000;
        } else if (strcmp(a, "--frames") == 0) {
            ok = specx_cli_long(v, 1, 1L << 40, &n);
            o.max_frames = n;
        } else if (strcmp(a, "--out") == 0) {
            o.out_jsonl = v;
        } else if (strcmp(a, "--annotate") == 0) {
            o.annotate = v;
        } else if (strcmp(a, "--annotate-codec") == 0) {
            o.annotate_codec = v;
        } else if (strcmp(a, "--stats-json") == 0) {
            o.stats_json = v;
        } else if (strcmp(a, "--jpeg-quality") == 0) {
            ok = specx_cli_long(v, 1, 100, &n);
            o.jpeg_quality = (int)n;
        } else if (strcmp(a, "--local-queue") == 0) {
            ok = specx_cli_long(v, 1, 1000, &n);
            o.local_queue = (int)n;
        } else if (strcmp(a, "--max-in-flight") == 0) {
            ok = specx_cli_long(v, 1, 100000, &n);
            o.max_in_flight = (int)n;
        } else if (strcmp(a, "--backend") == 0) {
            o.backend = v;
        } else if (strcmp(a, "--model-dir") == 0) {
            o.model_dir = v;
        } else {
            fprintf(stderr, "specx run: unknown option '%s' (see specx run --help)\n", a);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "specx run: bad value '%s' for %s (see specx run --help)\n", v, a);
            return 2;
        }
    }
    if (o.video == NULL) {
        fprintf(stderr, "specx run: --video PATH is required (see specx run --help)\n");
        return 2;
    }
    if (o.local_model == NULL && o.n_servers == 0) {
        fprintf(stderr, "specx run: give --local-model NAME and/or --server HOST:PORT\n");
        return 2;
    }
    return specx_run_video(&o);
}
