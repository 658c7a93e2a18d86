/* bench_operator.c — `specx bench operator`: operator overhead per message,
 * throughput and cost versus messages in flight, deadline-timer precision.
 * Prints figures; never passes or fails on time. */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "specx/hist.h"
#include "specx/operator.h"
#include "specx/stats.h"
#include "specx/time.h"

#include "bench.h"
#include "cli.h"

/* ---- no-op executors ----------------------------------------------------- */

enum { BX_INLINE = 0, BX_DEFERRED, BX_HOLD };

typedef struct bexec {
    int mode;
    specx_call **ring; /* BX_DEFERRED: started calls, FIFO */
    size_t head, n, cap;
} bexec;

static int static_result;

static specx_status bx_start(void *ctx, specx_call *call, void *request, specx_time_t deadline)
{
    (void)request;
    (void)deadline;
    bexec *x = ctx;
    if (x->mode == BX_INLINE) {
        specx_call_complete(call, SPECX_OK, &static_result, NULL);
    } else if (x->mode == BX_DEFERRED) {
        if (x->n == x->cap) {
            return SPECX_EBUSY; /* the driver sizes the ring; never expected */
        }
        x->ring[(x->head + x->n++) % x->cap] = call;
    }
    return SPECX_OK;
}

static void bx_cancel(void *ctx, specx_call *call)
{
    bexec *x = ctx;
    if (x->mode == BX_HOLD) {
        specx_call_complete(call, SPECX_ECANCELED, NULL, NULL);
    }
}

static void bx_free_result(void *ctx, void *result)
{
    (void)ctx;
    (void)result;
}

static const specx_executor_ops bx_ops = {
    .start = bx_start, .cancel = bx_cancel, .free_result = bx_free_result};

/* Complete the oldest deferred call (single driver thread). */
static void bx_complete_oldest(bexec *x)
{
    specx_call *c = x->ring[x->head];
    x->head = (x->head + 1) % x->cap;
    x->n--;
    specx_call_complete(c, SPECX_OK, &static_result, NULL);
}

/* ---- output sink ----------------------------------------------------------- */

typedef struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t count;
    specx_time_t last_emit;
    specx_hist lateness_decided; /* decided - deadline */
    specx_hist lateness_emitted; /* callback time - deadline */
    int timer_emits;
} sink;

static void sink_init(sink *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &a);
    pthread_condattr_destroy(&a);
    specx_hist_init(&s->lateness_decided);
    specx_hist_init(&s->lateness_emitted);
}

static void sink_fini(sink *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

static void sink_output(void *user, specx_output *out)
{
    sink *s = user;
    specx_time_t now = specx_time_mono();
    pthread_mutex_lock(&s->mu);
    s->count++;
    s->last_emit = now;
    if (out->deadline != SPECX_TIME_NEVER && out->decided >= out->deadline) {
        specx_hist_record(&s->lateness_decided, out->decided - out->deadline);
        specx_hist_record(&s->lateness_emitted, now - out->deadline);
        s->timer_emits++;
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void sink_wait(sink *s, uint64_t n)
{
    pthread_mutex_lock(&s->mu);
    while (s->count < n) {
        pthread_cond_wait(&s->cv, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- operator set-up --------------------------------------------------------- */

static specx_dur_t plan_deadline;

static void bplan(void *user, const specx_msg_info *msg, size_t exec_index, specx_plan *out)
{
    (void)user;
    (void)msg;
    (void)exec_index;
    out->deadline_kind = SPECX_DEADLINE_RELATIVE;
    out->deadline = plan_deadline;
}

/* --release: a no-op input_release, to price the release path */
static bool use_release;
static uint64_t releases;

static void brelease(void *user, void *input, void *msg_user)
{
    (void)user;
    (void)input;
    (void)msg_user;
    __atomic_fetch_add(&releases, 1, __ATOMIC_RELAXED);
}

typedef struct bop {
    specx_operator *op;
    bexec x[3]; /* 0: remote A (prio 20), 1: remote B (prio 10), 2: local */
    sink s;
} bop;

static int bop_init(bop *b, specx_delivery dl, int mode_remote, int mode_local, size_t ring)
{
    memset(b, 0, sizeof *b);
    sink_init(&b->s);
    specx_operator_config cfg = {
        .plan = bplan, .output = sink_output, .output_user = &b->s, .delivery = dl};
    if (use_release) {
        cfg.input_release = brelease;
    }
    specx_err err = {{0}};
    if (specx_operator_create(&cfg, &b->op, &err) != SPECX_OK) {
        fprintf(stderr, "bench operator: %s\n", err.msg);
        return -1;
    }
    const char *names[3] = {"remote-a", "remote-b", "local"};
    for (int i = 0; i < 3; i++) {
        b->x[i].mode = i == 2 ? mode_local : mode_remote;
        b->x[i].cap = ring;
        b->x[i].ring = calloc(ring, sizeof(specx_call *));
        if (b->x[i].ring == NULL) {
            return -1;
        }
        specx_executor_config ec = {.priority = 20 - 10 * i,
                                    .exec = {.ops = &bx_ops, .ctx = &b->x[i]}};
        snprintf(ec.name, sizeof ec.name, "%s", names[i]);
        specx_status st = i == 2 ? specx_operator_add_local(b->op, &ec, NULL, &err)
                                 : specx_operator_add_remote(b->op, &ec, NULL, &err);
        if (st != SPECX_OK) {
            fprintf(stderr, "bench operator: %s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

static void bop_fini(bop *b)
{
    specx_operator_destroy(b->op);
    for (int i = 0; i < 3; i++) {
        free(b->x[i].ring);
    }
    sink_fini(&b->s);
}

/* ---- measurements ------------------------------------------------------------ */

typedef struct fig {
    double p50_us, p99_us, mean_us, msgs_per_s;
} fig;

static const char *dl_name(specx_delivery d)
{
    return d == SPECX_DELIVER_INLINE ? "inline" : "thread";
}

/* One message in flight, all executors answer inside start(): the most
 * preferred remote decides it; the time is submit -> output callback. */
static int bench_inline(specx_delivery dl, long n, fig *f, bool print_stats)
{
    bop b;
    plan_deadline = SPECX_SEC(10);
    if (bop_init(&b, dl, BX_INLINE, BX_INLINE, 4) != 0) {
        return -1;
    }
    specx_hist h;
    specx_hist_init(&h);
    specx_time_t t0 = specx_time_mono();
    for (long i = 0; i < n; i++) {
        specx_time_t a = specx_time_mono();
        specx_operator_submit(b.op, NULL, NULL, NULL);
        if (dl == SPECX_DELIVER_THREAD) {
            sink_wait(&b.s, (uint64_t)i + 1);
        }
        specx_time_t e = dl == SPECX_DELIVER_THREAD ? b.s.last_emit : specx_time_mono();
        specx_hist_record(&h, e - a);
    }
    specx_time_t t1 = specx_time_mono();
    f->p50_us = specx_dur_us(specx_hist_quantile(&h, 0.5));
    f->p99_us = specx_dur_us(specx_hist_quantile(&h, 0.99));
    f->mean_us = specx_hist_mean(&h) / 1e3;
    f->msgs_per_s = (double)n / ((double)(t1 - t0) / 1e9);
    if (print_stats) {
        specx_operator_stats *s = NULL;
        if (specx_operator_stats_snapshot(b.op, &s) == SPECX_OK) {
            printf("\noperator statistics after the inline run (%s delivery):\n", dl_name(dl));
            specx_stats_print(s, stdout);
            specx_operator_stats_free(s);
        }
    }
    bop_fini(&b);
    return 0;
}

/* W messages in flight: every executor is started and answers later (the
 * driver completes the oldest message's three calls, local first, after each
 * submit once W are in flight). Per-iteration time = one submit + completing
 * one message (three completions and its delivery). */
static int bench_window(specx_delivery dl, long n, long w, fig *f)
{
    bop b;
    plan_deadline = SPECX_SEC(10);
    if (bop_init(&b, dl, BX_DEFERRED, BX_DEFERRED, (size_t)w + 2) != 0) {
        return -1;
    }
    specx_hist h;
    specx_hist_init(&h);
    long done = 0;
    specx_time_t t0 = specx_time_mono();
    for (long i = 0; i < n + w; i++) {
        specx_time_t a = specx_time_mono();
        if (i < n) {
            specx_operator_submit(b.op, NULL, NULL, NULL);
        }
        if (i + 1 >= w && done < n) {
            bx_complete_oldest(&b.x[2]); /* local: held */
            bx_complete_oldest(&b.x[1]); /* remote-b: held, outranks local */
            bx_complete_oldest(&b.x[0]); /* remote-a: decides */
            done++;
        }
        if (i < n && i + 1 >= w) {
            specx_hist_record(&h, specx_time_mono() - a);
        }
    }
    sink_wait(&b.s, (uint64_t)n);
    specx_time_t t1 = specx_time_mono();
    f->p50_us = specx_dur_us(specx_hist_quantile(&h, 0.5));
    f->p99_us = specx_dur_us(specx_hist_quantile(&h, 0.99));
    f->mean_us = specx_hist_mean(&h) / 1e3;
    f->msgs_per_s = (double)n / ((double)(t1 - t0) / 1e9);
    bop_fini(&b);
    return 0;
}

typedef struct dfig {
    double dec_p50_us, dec_p99_us, dec_max_us;
    double emit_p50_us, emit_p99_us, emit_max_us;
    int timer_emits;
} dfig;

/* Deadline precision: remotes never answer (until cancelled), the local one
 * answers inside start(); each message is decided by its deadline timer. */
static int bench_deadline(specx_delivery dl, long n, long w, specx_dur_t deadline, dfig *f)
{
    bop b;
    plan_deadline = deadline;
    if (bop_init(&b, dl, BX_HOLD, BX_INLINE, 4) != 0) {
        return -1;
    }
    for (long i = 0; i < n; i++) {
        if (i >= w) {
            sink_wait(&b.s, (uint64_t)(i - w + 1));
        }
        specx_operator_submit(b.op, NULL, NULL, NULL);
    }
    sink_wait(&b.s, (uint64_t)n);
    f->dec_p50_us = specx_dur_us(specx_hist_quantile(&b.s.lateness_decided, 0.5));
    f->dec_p99_us = specx_dur_us(specx_hist_quantile(&b.s.lateness_decided, 0.99));
    f->dec_max_us = specx_dur_us(specx_hist_quantile(&b.s.lateness_decided, 1.0));
    f->emit_p50_us = specx_dur_us(specx_hist_quantile(&b.s.lateness_emitted, 0.5));
    f->emit_p99_us = specx_dur_us(specx_hist_quantile(&b.s.lateness_emitted, 0.99));
    f->emit_max_us = specx_dur_us(specx_hist_quantile(&b.s.lateness_emitted, 1.0));
    f->timer_emits = b.s.timer_emits;
    bop_fini(&b);
    return 0;
}

static void usage(FILE *f, const specx_cli_opt *opts)
{
    fprintf(f, "usage: specx bench operator [options]\n\n"
               "Operator overhead with no-op executors (one local, two remote), throughput and\n"
               "cost versus messages in flight, and deadline-timer precision. Figures only.\n\n");
    specx_cli_print_options(f, opts);
}

typedef struct op_opts {
    int64_t n, dn, dw;
    double dms;
    bool json, stats;
} op_opts;

/* 0 = run, 1 = --help printed, 2 = usage error (printed). */
static int parse_opts(int argc, char **argv, op_opts *o)
{
    *o = (op_opts){.n = 200000, .dn = 1000, .dw = 32, .dms = 2.0};
    const specx_cli_opt opts[] = {
        {"messages", 0, SPECX_CLI_I64, &o->n, 1000, 1e12, .meta = "N",
         .help = "messages per overhead/throughput run (default 200000)"},
        {"deadline-messages", 0, SPECX_CLI_I64, &o->dn, 1, 1e12, .meta = "N",
         .help = "messages for deadline precision (default 1000)"},
        {"deadline-window", 0, SPECX_CLI_I64, &o->dw, 1, 1e9, .meta = "N",
         .help = "messages in flight for deadline precision (default 32)"},
        {"deadline", 0, SPECX_CLI_DOUBLE, &o->dms, 0.001, 1e6, .meta = "MS",
         .help = "relative deadline in ms (default 2)"},
        {"deadline-ms", 0, SPECX_CLI_DOUBLE, &o->dms, 0.001, 1e6, .help = NULL}, /* old name */
        {"release", 0, SPECX_CLI_FLAG, &use_release,
         .help = "install a (no-op) input_release callback"},
        {"stats", 0, SPECX_CLI_FLAG, &o->stats,
         .help = "print the operator statistics table of one run"},
        {"json", 0, SPECX_CLI_FLAG, &o->json,
         .help = "print the figures as one JSON object instead"},
        {0},
    };
    int rc = specx_cli_parse("specx bench operator", opts, argc, argv, NULL);
    if (rc == SPECX_CLI_HELP) {
        usage(stdout, opts);
    }
    return rc;
}

static const specx_delivery modes[2] = {SPECX_DELIVER_INLINE, SPECX_DELIVER_THREAD};

/* Table 1: one message in flight, answered inside start(). */
static int section_overhead(const op_opts *o, cJSON *root)
{
    if (!o->json) {
        printf("1) overhead, 1 in flight, all answer inside start() (remote-a decides; "
               "the others are never started)\n");
        printf("   %-8s %10s %10s %10s %12s\n", "delivery", "p50 us", "p99 us", "mean us",
               "msgs/s");
    }
    cJSON *jo = cJSON_AddArrayToObject(root, "overhead_inline");
    for (int k = 0; k < 2; k++) {
        fig f;
        long nn = modes[k] == SPECX_DELIVER_THREAD ? o->n / 10 : o->n;
        if (bench_inline(modes[k], nn, &f, false) != 0) {
            return 1;
        }
        if (!o->json) {
            printf("   %-8s %10.2f %10.2f %10.2f %12.0f\n", dl_name(modes[k]), f.p50_us, f.p99_us,
                   f.mean_us, f.msgs_per_s);
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "delivery", dl_name(modes[k]));
        cJSON_AddNumberToObject(e, "messages", (double)nn);
        cJSON_AddNumberToObject(e, "p50_us", f.p50_us);
        cJSON_AddNumberToObject(e, "p99_us", f.p99_us);
        cJSON_AddNumberToObject(e, "msgs_per_s", f.msgs_per_s);
        cJSON_AddItemToArray(jo, e);
    }
    return 0;
}

/* Table 2: every executor started, answering later, W messages in flight. */
static int section_in_flight(const op_opts *o, cJSON *root)
{
    if (!o->json) {
        printf("\n2) all three executors started and answering later, W in flight\n"
               "   (per message: one submit + three completions + delivery)\n");
        printf("   %-8s %6s %10s %10s %10s %12s\n", "delivery", "W", "p50 us", "p99 us", "mean us",
               "msgs/s");
    }
    cJSON *jw = cJSON_AddArrayToObject(root, "in_flight");
    const long ws[4] = {1, 8, 64, 512};
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 4; j++) {
            fig f;
            if (bench_window(modes[k], o->n, ws[j], &f) != 0) {
                return 1;
            }
            if (!o->json) {
                printf("   %-8s %6ld %10.2f %10.2f %10.2f %12.0f\n", dl_name(modes[k]), ws[j],
                       f.p50_us, f.p99_us, f.mean_us, f.msgs_per_s);
            }
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "delivery", dl_name(modes[k]));
            cJSON_AddNumberToObject(e, "in_flight", (double)ws[j]);
            cJSON_AddNumberToObject(e, "p50_us", f.p50_us);
            cJSON_AddNumberToObject(e, "p99_us", f.p99_us);
            cJSON_AddNumberToObject(e, "mean_us", f.mean_us);
            cJSON_AddNumberToObject(e, "msgs_per_s", f.msgs_per_s);
            cJSON_AddItemToArray(jw, e);
        }
    }
    return 0;
}

/* Table 3: how late after the deadline the timer decides and delivers. */
static int section_deadline(const op_opts *o, cJSON *root)
{
    if (!o->json) {
        printf("\n3) deadline precision: %ld messages, %ld in flight, deadline %.3g ms,\n"
               "   remotes never answer, local answers at once; lateness after the deadline\n",
               o->dn, o->dw, o->dms);
        printf("   %-8s %-22s %10s %10s %10s\n", "delivery", "measured at", "p50 us", "p99 us",
               "max us");
    }
    cJSON *jd = cJSON_AddArrayToObject(root, "deadline_precision");
    for (int k = 0; k < 2; k++) {
        dfig f;
        if (bench_deadline(modes[k], o->dn, o->dw, (specx_dur_t)(o->dms * 1e6), &f) != 0) {
            return 1;
        }
        if (!o->json) {
            printf("   %-8s %-22s %10.1f %10.1f %10.1f\n", dl_name(modes[k]), "decision (timer)",
                   f.dec_p50_us, f.dec_p99_us, f.dec_max_us);
            printf("   %-8s %-22s %10.1f %10.1f %10.1f   (%d timer emissions)\n", dl_name(modes[k]),
                   "output callback", f.emit_p50_us, f.emit_p99_us, f.emit_max_us, f.timer_emits);
        }
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "delivery", dl_name(modes[k]));
        cJSON_AddNumberToObject(e, "messages", (double)o->dn);
        cJSON_AddNumberToObject(e, "in_flight", (double)o->dw);
        cJSON_AddNumberToObject(e, "deadline_ms", o->dms);
        cJSON_AddNumberToObject(e, "decided_p50_us", f.dec_p50_us);
        cJSON_AddNumberToObject(e, "decided_p99_us", f.dec_p99_us);
        cJSON_AddNumberToObject(e, "decided_max_us", f.dec_max_us);
        cJSON_AddNumberToObject(e, "emitted_p50_us", f.emit_p50_us);
        cJSON_AddNumberToObject(e, "emitted_p99_us", f.emit_p99_us);
        cJSON_AddNumberToObject(e, "emitted_max_us", f.emit_max_us);
        cJSON_AddItemToArray(jd, e);
    }
    return 0;
}

int specx_bench_operator(int argc, char **argv)
{
    op_opts oo;
    int prc = parse_opts(argc, argv, &oo);
    if (prc != SPECX_CLI_OK) {
        return prc == SPECX_CLI_HELP ? 0 : 2;
    }
    bool json = oo.json;
    cJSON *root = cJSON_CreateObject();
    if (!json) {
        printf("specx bench operator: %ld messages per run; executors: remote-a (20), "
               "remote-b (10), local; no-op work%s\n\n",
               oo.n, use_release ? "; input_release set" : "");
    }
    cJSON_AddBoolToObject(root, "input_release", use_release);
    if (section_overhead(&oo, root) != 0 || section_in_flight(&oo, root) != 0 ||
        section_deadline(&oo, root) != 0) {
        cJSON_Delete(root);
        return 1;
    }
    if (oo.stats && !json) {
        fig f;
        bench_inline(SPECX_DELIVER_INLINE, 10000, &f, true);
    }
    if (use_release) {
        /* every submitted message was released by the time destroy returned */
        cJSON_AddNumberToObject(root, "input_releases", (double)releases);
        if (!json) {
            printf("\ninput_release calls: %llu (one per message submitted)\n",
                   (unsigned long long)releases);
        }
    }
    if (json) {
        char *txt = cJSON_PrintUnformatted(root);
        if (txt != NULL) {
            printf("%s\n", txt);
            free(txt);
        }
    } else {
        printf("\ngoals (2-core machine): median overhead <= 5 us; >= 100000 msgs/s at 64 in "
               "flight;\ndeadline lateness p99 <= 200 us; cost flat from 1 to 512 in flight.\n");
    }
    cJSON_Delete(root);
    return 0;
}
