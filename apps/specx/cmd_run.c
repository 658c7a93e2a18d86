/* cmd_run.c — `specx run`: the options, and the printing around a paced
 * video run (specx_pipeline_run in specx/pipeline.h): one line per frame,
 * a progress bar, the summary and its JSON.
 *
 * The per-output hook runs on the pipeline's delivery thread in STREAM mode
 * and on the playing thread in SYNC mode, never both, so run_view needs no
 * lock; the summary is printed after play, when every output is in. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <libavutil/log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "run.h"

typedef struct run_view {
    const specx_run_report *rep;
    specx_pipeline_run *run;
    bool tty, progress_shown;
    specx_time_t last_progress;
} run_view;

static void progress(run_view *v, bool force)
{
    const specx_pipeline_run_counts *c = specx_pipeline_run_counts_get(v->run);
    specx_pipeline *p = specx_pipeline_run_engine(v->run);
    specx_time_t now = specx_time_now();
    if (!v->tty || (now - c->started < SPECX_SEC(1) && !force) ||
        (!force && now - v->last_progress < SPECX_MS(100))) {
        return;
    }
    v->last_progress = now;
    if (c->total > 0) {
        char bar[32] = "";
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
        fprintf(stderr, "  %.12s %llu", specx_pipeline_executor_name(p, i),
                (unsigned long long)c->wins[i]);
    }
    fprintf(stderr, "  none %lld  %.1f s", (long long)c->no_result,
            specx_dur_ms(now - c->started) / 1e3);
    v->progress_shown = true;
}

static void verbose_line(const run_view *v, const specx_pipeline_output *out)
{
    if (v->progress_shown) {
        fprintf(stderr, "\r\033[K");
    }
    fprintf(stderr, "frame %5lld  %-16s %7.1f ms%s%s", (long long)out->index,
            out->winner >= 0 ? out->winner_name : "NO RESULT", out->latency_ms,
            out->fallback ? " FALLBACK" : "", out->early ? " EARLY" : "");
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

static void on_output(void *user, const specx_pipeline_output *out)
{
    run_view *v = user;
    if (v->rep->verbose) {
        verbose_line(v, out);
    }
    progress(v, false);
}

static void on_notice(void *user, const char *line)
{
    const run_view *v = user;
    fprintf(stderr, "%s: %s\n", v->rep->prog, line);
}

static const char *mode_name(const specx_pipeline_run_config *cfg)
{
    return cfg->pipeline.mode == SPECX_PIPELINE_SYNC ? "sync" : "stream";
}

/* "backends": {server name: [{peer, calls, ok, failed}, ...]} — where
 * each server's calls went (gRPC load balancing between its backends). */
static void backends_json(cJSON *j, specx_pipeline *p, size_t n_exec)
{
    cJSON *all = NULL;
    for (size_t i = 0; i < n_exec; i++) {
        specx_rpc_backend_stats b[SPECX_RPC_MAX_BACKENDS];
        size_t n = specx_pipeline_server_backends(p, i, b, SPECX_RPC_MAX_BACKENDS);
        if (n == 0) {
            continue;
        }
        if (all == NULL && (all = cJSON_AddObjectToObject(j, "backends")) == NULL) {
            return;
        }
        cJSON *arr = cJSON_AddArrayToObject(all, specx_pipeline_executor_name(p, i));
        for (size_t k = 0; arr != NULL && k < n; k++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "peer", b[k].peer);
            cJSON_AddNumberToObject(o, "calls", (double)b[k].calls);
            cJSON_AddNumberToObject(o, "ok", (double)b[k].ok);
            cJSON_AddNumberToObject(o, "failed", (double)b[k].failed);
            cJSON_AddItemToArray(arr, o);
        }
    }
}

/* One line per server whose calls went to more than one backend. */
static void print_backends(specx_pipeline *p, size_t n_exec, FILE *f)
{
    for (size_t i = 0; i < n_exec; i++) {
        specx_rpc_backend_stats b[SPECX_RPC_MAX_BACKENDS];
        size_t n = specx_pipeline_server_backends(p, i, b, SPECX_RPC_MAX_BACKENDS);
        if (n < 2) {
            continue;
        }
        fprintf(f, "%s backends (calls, ok):", specx_pipeline_executor_name(p, i));
        for (size_t k = 0; k < n; k++) {
            fprintf(f, "%s %s %llu %llu", k > 0 ? "," : "",
                    b[k].peer[0] != '\0' ? b[k].peer : "(none)", (unsigned long long)b[k].calls,
                    (unsigned long long)b[k].ok);
        }
        fputc('\n', f);
    }
}

static cJSON *summary_json(const specx_pipeline_run_config *cfg, specx_pipeline *p,
                           const specx_pipeline_run_counts *c, const specx_operator_stats *s)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL) {
        return NULL;
    }
    cJSON_AddStringToObject(j, "video", cfg->video);
    cJSON_AddStringToObject(j, "mode", mode_name(cfg));
    if (cfg->pipeline.deadline == SPECX_TIME_NEVER) {
        cJSON_AddNullToObject(j, "deadline_ms");
    } else {
        cJSON_AddNumberToObject(j, "deadline_ms", specx_dur_ms(cfg->pipeline.deadline));
    }
    cJSON_AddStringToObject(j, "deadline_policy",
                            cfg->pipeline.adaptive_deadline ? "adaptive" : "fixed");
    if (cfg->pipeline.adaptive_deadline) {
        double t = cfg->pipeline.adaptive_target;
        cJSON_AddNumberToObject(j, "adaptive_target", t > 0 ? t : 0.5);
    }
    cJSON_AddNumberToObject(j, "frames", (double)c->outputs);
    cJSON_AddNumberToObject(j, "wall_s", c->wall_s);
    cJSON_AddNumberToObject(j, "fps", c->wall_s > 0 ? (double)c->outputs / c->wall_s : 0);
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
        cJSON_AddNumberToObject(w, specx_pipeline_executor_name(p, i), (double)c->wins[i]);
    }
    specx_local_executor_stats ls;
    cJSON *l =
        specx_pipeline_local_stats(p, &ls) ? cJSON_AddObjectToObject(j, "local_queue") : NULL;
    if (l != NULL) {
        cJSON_AddNumberToObject(l, "started", (double)ls.started);
        cJSON_AddNumberToObject(l, "completed", (double)ls.completed);
        cJSON_AddNumberToObject(l, "dropped", (double)ls.dropped);
        cJSON_AddNumberToObject(l, "cancelled", (double)ls.cancelled);
        cJSON_AddNumberToObject(l, "timed_out", (double)ls.timed_out);
        cJSON_AddNumberToObject(l, "failed", (double)ls.failed);
    }
    backends_json(j, p, c->n_exec);
    specx_pipeline_uplink_counts u;
    cJSON *up = c->n_exec > 0 ? cJSON_AddObjectToObject(j, "uplink") : NULL;
    for (size_t i = 0; up != NULL && specx_pipeline_uplink_stats(p, i, &u); i++) {
        cJSON *e = cJSON_AddObjectToObject(up, specx_pipeline_executor_name(p, i));
        cJSON_AddNumberToObject(e, "frames", (double)u.frames_sent);
        cJSON_AddNumberToObject(e, "scaled", (double)u.frames_scaled);
        cJSON_AddNumberToObject(e, "bytes", (double)u.bytes_sent);
    }
    cJSON *op = specx_stats_to_cjson(s);
    if (op != NULL) {
        cJSON_AddItemToObject(j, "operator", op);
    }
    return j;
}

/* False (after saying why) when the file could not be written. */
static bool write_summary_json(const specx_pipeline_run_config *cfg, const specx_run_report *rep,
                               specx_pipeline *p, const specx_pipeline_run_counts *c,
                               const specx_operator_stats *s)
{
    cJSON *j = summary_json(cfg, p, c, s);
    char *txt = j != NULL ? cJSON_Print(j) : NULL;
    FILE *sf = txt != NULL ? fopen(rep->stats_json, "w") : NULL;
    bool ok = sf != NULL;
    if (sf != NULL) {
        ok = fprintf(sf, "%s\n", txt) >= 0;
        ok = fclose(sf) == 0 && ok; /* a full disk shows at the flush */
    }
    if (!ok) {
        fprintf(stderr, "%s: cannot write %s: %s\n", rep->prog, rep->stats_json,
                txt == NULL ? "out of memory" : strerror(errno));
    }
    free(txt);
    cJSON_Delete(j);
    return ok;
}

static void print_counts(specx_pipeline *p, const specx_pipeline_run_counts *c, FILE *f)
{
    for (size_t i = 0; i < c->n_exec; i++) {
        fprintf(f, " %s %llu,", specx_pipeline_executor_name(p, i), (unsigned long long)c->wins[i]);
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
}

/* What went to the servers: frames, how many scaled to the server's model,
 * bytes per frame; the JPEGs made for them and the time each took. */
static void print_uplink(specx_pipeline *p, FILE *f)
{
    specx_pipeline_uplink_counts u;
    for (size_t i = 0; specx_pipeline_uplink_stats(p, i, &u); i++) {
        fprintf(f, "uplink to %s: %llu frames, %llu scaled to its model, %.1f KB/frame\n",
                specx_pipeline_executor_name(p, i), (unsigned long long)u.frames_sent,
                (unsigned long long)u.frames_scaled,
                u.frames_sent > 0 ? (double)u.bytes_sent / (double)u.frames_sent / 1024.0 : 0.0);
    }
    specx_pipeline_encoder_counts e;
    if (specx_pipeline_encoder_stats(p, &e) && e.encodes > 0) {
        fprintf(f,
                "frames encoded for the servers: %llu (%llu not needed any more), %.2f ms p50, "
                "%.2f ms p99 each\n",
                (unsigned long long)e.encodes, (unsigned long long)e.skipped,
                specx_dur_ms(specx_hist_quantile(&e.encode_ns, 0.5)),
                specx_dur_ms(specx_hist_quantile(&e.encode_ns, 0.99)));
    }
}

/* False when the summary or its JSON could not be written (said on stderr). */
static bool print_summary(const specx_pipeline_run_config *cfg, const specx_run_report *rep,
                          specx_pipeline_run *run, FILE *f)
{
    specx_pipeline *p = specx_pipeline_run_engine(run);
    const specx_pipeline_run_counts *c = specx_pipeline_run_counts_get(run);
    specx_operator_stats *s = NULL;
    if (specx_pipeline_stats(p, &s) != SPECX_OK) {
        fprintf(stderr, "%s: cannot read statistics\n", rep->prog);
        return false;
    }
    char dl[64] = "none";
    if (cfg->pipeline.deadline != SPECX_TIME_NEVER) {
        snprintf(dl, sizeof dl, "%.0f ms", specx_dur_ms(cfg->pipeline.deadline));
    }
    if (cfg->pipeline.adaptive_deadline) {
        double t = cfg->pipeline.adaptive_target;
        size_t len = strlen(dl);
        snprintf(dl + len, sizeof dl - len, " (adaptive, target %g)", t > 0 ? t : 0.5);
    }
    fprintf(f, "\n%lld frames in %.2f s (%.1f frames/s), mode %s, deadline %s\n",
            (long long)c->outputs, c->wall_s, c->wall_s > 0 ? (double)c->outputs / c->wall_s : 0.0,
            mode_name(cfg), dl);
    specx_stats_print(s, f);
    fprintf(f, "fallback ratio %.3f; winners:", specx_stats_fallback_ratio(s));
    print_counts(p, c, f);
    print_backends(p, c->n_exec, f);
    specx_local_executor_stats ls;
    if (specx_pipeline_local_stats(p, &ls)) {
        fprintf(f,
                "local queue: %llu started, %llu completed, %llu dropped (superseded by a newer "
                "frame), %llu cancelled, %llu expired\n",
                ls.started, ls.completed, ls.dropped, ls.cancelled, ls.timed_out);
    }
    print_uplink(p, f);
    if (cfg->annotate != NULL) {
        fprintf(f, "annotated output: %s (encoder queue peak %zu of %zu frames)\n", cfg->annotate,
                c->annotate_queue_peak, c->annotate_queue_max);
    }
    for (size_t i = 0; i < c->n_exec; i++) {
        if (c->first_failure[i][0] != '\0') {
            fprintf(f, "%s: first failure: %s\n", specx_pipeline_executor_name(p, i),
                    c->first_failure[i]);
        }
    }
    bool ok = rep->stats_json == NULL || write_summary_json(cfg, rep, p, c, s);
    specx_operator_stats_free(s);
    if (fflush(f) != 0 || ferror(f)) {
        fprintf(stderr, "%s: cannot write the summary to %s: %s\n", rep->prog,
                f == stdout ? "stdout" : "stderr", strerror(errno));
        ok = false;
    }
    return ok;
}

/* Opens the run with FFmpeg's own lines about a file it cannot open ("moov
 * atom not found") silenced: our one-line error already says why. */
static specx_status open_quietly(const specx_pipeline_run_config *cfg, bool verbose,
                                 specx_pipeline_run **run, specx_err *err)
{
    int av_level = av_log_get_level();
    if (!verbose) {
        av_log_set_level(AV_LOG_FATAL);
    }
    specx_status st = specx_pipeline_run_open(cfg, run, err);
    av_log_set_level(av_level);
    return st;
}

/* --metrics: the registry and its endpoint, the address on stderr. */
static specx_status metrics_open(const specx_run_report *rep, specx_metrics **reg,
                                 specx_metrics_http **http, specx_err *err)
{
    *reg = NULL;
    *http = NULL;
    if (rep->metrics == NULL) {
        return SPECX_OK;
    }
    specx_status st = specx_metrics_create(reg, err);
    if (st == SPECX_OK) {
        st = specx_metrics_http_open(*reg, rep->metrics, http, err);
    }
    if (st == SPECX_OK) {
        fprintf(stderr, "%s: metrics on http://%.*s:%d/metrics\n", rep->prog,
                (int)(strrchr(rep->metrics, ':') - rep->metrics), rep->metrics,
                specx_metrics_http_port(*http));
    }
    return st;
}

static int run_video(const specx_pipeline_run_config *run_cfg, const specx_run_report *rep,
                     specx_metrics *reg)
{
    run_view v = {.rep = rep, .tty = isatty(STDERR_FILENO) == 1};
    specx_pipeline_run_config with_hooks = *run_cfg;
    with_hooks.pipeline.output = on_output;
    with_hooks.pipeline.output_user = &v;
    with_hooks.pipeline.metrics = reg;
    with_hooks.notice = on_notice;
    with_hooks.notice_user = &v;
    const specx_pipeline_run_config *cfg = &with_hooks;
    specx_err err = {{0}};
    /* Caught from before the open (a model load, FFmpeg probing a stream
     * can take seconds): a SIGINT then is not lost, also in a process that
     * inherited SIGINT ignored (a background job of a script), which would
     * otherwise run to the end of the video. */
    atomic_bool stop = false;
    specx_cli_sigint_catch(&stop);
    specx_status st = open_quietly(cfg, rep->verbose, &v.run, &err);
    if (st != SPECX_OK || atomic_load(&stop)) {
        specx_cli_sigint_restore();
        if (st != SPECX_OK) {
            fprintf(stderr, "%s: %s\n", rep->prog, specx_err_text(&err, st));
        } else {
            fprintf(stderr, "%s: interrupted before the first frame\n", rep->prog);
            specx_pipeline_run_close(v.run);
        }
        return 1;
    }
    /* FFmpeg's own lines about a damaged stream would come before, and
     * repeat, what our error says; --verbose shows them. */
    int av_level = av_log_get_level();
    if (!rep->verbose) {
        av_log_set_level(AV_LOG_FATAL);
    }
    st = specx_pipeline_run_play(v.run, &stop, &err);
    av_log_set_level(av_level);
    specx_cli_sigint_restore();
    const specx_pipeline_run_counts *c = specx_pipeline_run_counts_get(v.run);
    if (v.progress_shown) {
        progress(&v, true);
        fputc('\n', stderr);
    }
    if (c->interrupted) {
        fprintf(stderr, "%s: interrupted after %lld frames\n", rep->prog, (long long)c->pushed);
    }
    int rc = 0;
    if (st != SPECX_OK) {
        fprintf(stderr, "%s: %s\n", rep->prog, specx_err_text(&err, st));
        rc = 1;
    }
    if (c->pushed > 0) {
        bool to_stdout = cfg->jsonl != NULL && strcmp(cfg->jsonl, "-") == 0;
        /* lost output fails the run: a caller reading our exit code must
         * not take a missing summary or stats file for a result */
        if (!print_summary(cfg, rep, v.run, to_stdout ? stderr : stdout)) {
            rc = 1;
        }
    }
    if (rc == 0 && c->outputs > 0 && c->no_result == c->outputs) {
        /* e.g. remote-only against a server that is down */
        fprintf(stderr, "%s: no frame got a result (see the first failures above)\n", rep->prog);
        rc = 1;
    }
    specx_pipeline_run_close(v.run);
    return rc;
}

int specx_cmd_run_video(const specx_pipeline_run_config *run_cfg, const specx_run_report *rep)
{
    specx_metrics *reg;
    specx_metrics_http *http;
    specx_err err = {{0}};
    specx_status st = metrics_open(rep, &reg, &http, &err);
    int rc = 1;
    if (st == SPECX_OK) {
        rc = run_video(run_cfg, rep, reg);
    } else {
        fprintf(stderr, "%s: %s\n", rep->prog, specx_err_text(&err, st));
    }
    specx_metrics_http_close(http);
    specx_metrics_destroy(reg);
    return rc;
}

/* ---- command line ------------------------------------------------------------ */

typedef struct run_args {
    specx_pipeline_run_config cfg;
    specx_rpc_client_config servers[SPECX_PIPELINE_MAX_SERVERS];
    specx_run_report rep;
} run_args;

static bool take_server(const char *v, void *out, char *msg, size_t n)
{
    run_args *a = out;
    specx_pipeline_config *pc = &a->cfg.pipeline;
    return specx_cli_server(v, a->servers, &pc->n_servers, SPECX_PIPELINE_MAX_SERVERS, msg, n);
}

static bool take_mode(const char *v, void *out, char *msg, size_t n)
{
    specx_pipeline_mode *m = out;
    if (strcmp(v, "stream") == 0) {
        *m = SPECX_PIPELINE_STREAM;
    } else if (strcmp(v, "sync") == 0) {
        *m = SPECX_PIPELINE_SYNC;
    } else {
        snprintf(msg, n, "want stream or sync");
        return false;
    }
    return true;
}

static bool take_deadline_policy(const char *v, void *out, char *msg, size_t n)
{
    bool *adaptive = out;
    if (strcmp(v, "fixed") == 0) {
        *adaptive = false;
    } else if (strcmp(v, "adaptive") == 0) {
        *adaptive = true;
    } else {
        snprintf(msg, n, "want fixed or adaptive");
        return false;
    }
    return true;
}

static void usage(FILE *f, const specx_cli_opt *opts)
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
        "\n");
    specx_cli_print_options(f, opts);
}

int specx_cmd_run(int argc, char **argv)
{
    run_args a = {0};
    specx_pipeline_config *pc = &a.cfg.pipeline;
    pc->servers = a.servers;
    pc->deadline = SPECX_MS(200);
    a.cfg.fps = -1;
    a.rep.prog = "specx run";
    char backend_help[96];
    snprintf(backend_help, sizeof backend_help, "local detector backend (default: %s)",
             specx_detector_default_backend());
    const specx_cli_opt opts[] = {
        {"video", 0, SPECX_CLI_STRING, &a.cfg.video, .meta = "PATH",
         .help = "video file, URL or directory of .jpg/.png images (required)"},
        {"server", 0, SPECX_CLI_CALL, &a, .call = take_server, .meta = "SPEC",
         .help = "TARGET[,prio=N][,stream][,name=S][,inflight=N][,wait-ready]\n"
                 "[,lb=round_robin|pick_first][,health=on|off]\n"
                 "[,tls-ca=FILE][,tls-cert=FILE,tls-key=FILE]\n"
                 "[,token-file=PATH|token-env=VAR] (repeatable, up to 16).\n"
                 "TARGET is HOST:PORT, ipv4:HOST:PORT,HOST:PORT,... (several\n"
                 "replicas, one executor) or dns:///HOST:PORT.\n"
                 "tls-ca: the server's CA (TLS); tls-cert/tls-key: this vehicle's\n"
                 "certificate for servers that require one (mutual TLS);\n"
                 "token-file/token-env: where the vehicle's bearer token is (sent as\n"
                 "'authorization: Bearer'; never on the command line)"},
        {"local-model", 0, SPECX_CLI_STRING, &pc->local.model, .meta = "NAME",
         .help = "on-board model, e.g. yolo-fastest-1.1, or\n"
                 "test[:delay_ms=N] for the built-in test detector"},
        {"deadline", 0, SPECX_CLI_DEADLINE, &pc->deadline, .meta = "MS",
         .help = "per-frame deadline after arrival, or 'none' (default 200)"},
        {"deadline-policy", 0, SPECX_CLI_CALL, &pc->adaptive_deadline, .call = take_deadline_policy,
         .meta = "fixed|adaptive",
         .help = "fixed: every frame waits for the servers up to the deadline\n"
                 "(default); adaptive: the local answer goes out as soon as it\n"
                 "is ready when a server is predicted to miss (docs/run.md)"},
        {"adaptive-target", 0, SPECX_CLI_DOUBLE, &pc->adaptive_target, 0.001, 1, .meta = "P",
         .help = "adaptive: wait for a server when its estimated chance of\n"
                 "answering in time is >= P (default 0.5)"},
        {"mode", 0, SPECX_CLI_CALL, &pc->mode, .call = take_mode, .meta = "stream|sync",
         .help = "stream: frames keep arriving at camera rate, several in\n"
                 "flight (default); sync: one frame at a time"},
        {"fps", 0, SPECX_CLI_DOUBLE, &a.cfg.fps, 0, 1000, .meta = "N",
         .help = "pacing rate (default: the source's; 0 = as fast as possible)"},
        {"frames", 0, SPECX_CLI_I64, &a.cfg.max_frames, 1, 1099511627776.0, .meta = "N",
         .help = "stop after N frames"},
        {"out", 0, SPECX_CLI_STRING, &a.cfg.jsonl, .meta = "FILE",
         .help = "one JSON line per frame ('-' = stdout)"},
        {"annotate", 0, SPECX_CLI_STRING, &a.cfg.annotate, .meta = "PATH",
         .help = "annotated output: a video (.mp4, .mkv, ...) or a directory"},
        {"annotate-codec", 0, SPECX_CLI_STRING, &a.cfg.annotate_codec, .meta = "C",
         .help = "FFmpeg encoder for --annotate video (default libx264;\n"
                 "mpeg4 costs about a quarter of the CPU, files ~4x larger)"},
        {"stats-json", 0, SPECX_CLI_STRING, &a.rep.stats_json, .meta = "FILE",
         .help = "the summary as JSON"},
        {"jpeg-quality", 0, SPECX_CLI_INT, &pc->jpeg_quality, 1, 100, .meta = "Q",
         .help = "JPEG quality of frames sent to servers (default 90)"},
        {"full-frames", 0, SPECX_CLI_FLAG, &pc->full_frames,
         .help = "send servers whole frames, not scaled to their model\n(for comparisons)"},
        {"local-queue", 0, SPECX_CLI_INT, &pc->local_queue_depth, 1, 1000, .meta = "N",
         .help = "frames waiting for the local model, drop-oldest (default 1)"},
        {"max-in-flight", 0, SPECX_CLI_INT, &pc->remote_max_in_flight, 1, 100000, .meta = "N",
         .help = "calls outstanding per server before frames are shed\n"
                 "(default 4; inflight=N in --server overrides)"},
        {"backend", 0, SPECX_CLI_STRING, &pc->local.backend, .meta = "B", .help = backend_help},
        {"precision", 0, SPECX_CLI_STRING, &pc->local.precision, .meta = "P",
         .help = "fp32 (default) or int8 (xnnpack backend only)"},
        {"model-dir", 0, SPECX_CLI_STRING, &pc->local.model_dir, .meta = "DIR",
         .help = "where models live (default: $SPECX_MODEL_DIR, ./assets/models,\n"
                 "../shared/assets/models)"},
        {"metrics", 0, SPECX_CLI_STRING, &a.rep.metrics, .meta = "ADDR:PORT",
         .help = "serve the vehicle's Prometheus metrics at http://ADDR:PORT/metrics\n"
                 "while running (port 0 picks one; printed on stderr)"},
        {"verbose", 'v', SPECX_CLI_FLAG, &a.rep.verbose, .help = "one line per frame on stderr"},
        {0},
    };
    int rc = specx_cli_parse(a.rep.prog, opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
        return 0;
    }
    if (rc != SPECX_CLI_OK) {
        return 2;
    }
    if (a.cfg.video == NULL) {
        fprintf(stderr, "specx run: --video PATH is required (see specx run --help)\n");
        return 2;
    }
    if (pc->local.model == NULL && pc->n_servers == 0) {
        fprintf(stderr, "specx run: give --local-model NAME and/or --server HOST:PORT\n");
        return 2;
    }
    return specx_cmd_run_video(&a.cfg, &a.rep);
}
