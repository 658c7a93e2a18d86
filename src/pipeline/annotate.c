/* annotate.c — the annotated output of a run: drawn on the delivery thread,
 * encoded on its own thread (annotate.h).
 *
 * Design notes
 *  - Encoding a 720p frame costs about as much as a frame period, so it must
 *    not run on the delivery thread: latency climbed past a second within 38
 *    frames when it did. Drawing is cheap and stays there.
 *  - The encoder thread runs at nice +10: on a small machine it would
 *    otherwise take the CPU the deadline depends on; it catches up in idle
 *    time and at the end (Linux: the nice value is per thread).
 *  - Lock order: a->mu is a leaf; the writer is only touched by the encoder
 *    thread (and by close after the join). */
#include "pipeline/annotate.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "specx/draw.h"
#include "specx/video.h"

typedef struct ann_item {
    specx_image img;
    struct ann_item *next;
} ann_item;

struct sx_pipeline_annotator {
    specx_video_writer *writer;
    pthread_t thread;
    bool started;
    const char *names[SPECX_PIPELINE_MAX_EXEC];
    specx_rgb colours[SPECX_PIPELINE_MAX_EXEC];
    size_t n_exec;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    ann_item *head, *tail; /* under mu */
    size_t len, peak;      /* under mu */
    bool closing;          /* under mu */
    bool failed;           /* under mu */
    char error[512];       /* under mu, set once */
};

static void fail(sx_pipeline_annotator *a, const char *msg)
{
    pthread_mutex_lock(&a->mu);
    if (!a->failed) {
        a->failed = true;
        snprintf(a->error, sizeof a->error, "%s", msg);
    }
    pthread_mutex_unlock(&a->mu);
}

static void *encoder_main(void *arg)
{
    sx_pipeline_annotator *a = arg;
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0) {
        /* not fatal: the encoder just competes at normal priority */
    }
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->head == NULL && !a->closing) {
            pthread_cond_wait(&a->cv, &a->mu);
        }
        ann_item *it = a->head;
        if (it == NULL) {
            break;
        }
        a->head = it->next;
        if (a->head == NULL) {
            a->tail = NULL;
        }
        a->len--;
        bool failed = a->failed;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        specx_err err = {{0}};
        specx_status st = failed ? SPECX_OK : specx_video_writer_write(a->writer, &it->img, &err);
        specx_image_clear(&it->img);
        free(it);
        if (st != SPECX_OK) {
            fail(a, specx_err_text(&err, st));
        }
        pthread_mutex_lock(&a->mu);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

specx_status sx_pipeline_annotator_open(const char *path, const char *codec, double fps,
                                        const specx_pipeline *p, sx_pipeline_annotator **out,
                                        specx_err *err)
{
    sx_pipeline_annotator *a = calloc(1, sizeof *a);
    if (a == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    a->n_exec = specx_pipeline_executor_count(p);
    for (size_t i = 0; i < a->n_exec && i < SPECX_PIPELINE_MAX_EXEC; i++) {
        a->names[i] = specx_pipeline_executor_name(p, i);
        a->colours[i] = specx_palette_executor(specx_pipeline_palette_index(p, (int)i));
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    specx_video_writer_opts wo = {.fps = fps, .codec = codec};
    specx_status st = specx_video_writer_open(&a->writer, path, &wo, err);
    if (st == SPECX_OK && pthread_create(&a->thread, NULL, encoder_main, a) != 0) {
        st = specx_err_set(err, SPECX_EINTERNAL, "cannot start the encoder thread");
    }
    if (st != SPECX_OK) {
        sx_pipeline_annotator_close(a, NULL);
        return st;
    }
    a->started = true;
    *out = a;
    return SPECX_OK;
}

static void draw(const sx_pipeline_annotator *a, const specx_pipeline_output *out, specx_image *img)
{
    int scale = img->width >= 960 ? 2 : 1;
    specx_rgb white = {255, 255, 255}, red = {200, 30, 30};
    if (out->winner >= 0 && (size_t)out->winner < a->n_exec) {
        specx_rgb col = a->colours[out->winner];
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
    specx_draw_legend(img, a->names, a->colours, a->n_exec, scale);
}

void sx_pipeline_annotator_add(sx_pipeline_annotator *a, const specx_pipeline_output *out)
{
    /* Drawn on the encoder's copy, never on the frame: a local call that was
     * cancelled when this output was decided may still be reading the
     * frame's pixels until its detector's next cancel checkpoint. The copy
     * was made for the encoder queue anyway, so this costs nothing. */
    ann_item *it = calloc(1, sizeof *it);
    if (it == NULL || specx_image_copy(&it->img, out->image) != SPECX_OK) {
        free(it);
        fail(a, "out of memory for annotated frames");
        return;
    }
    draw(a, out, &it->img);
    pthread_mutex_lock(&a->mu);
    while (a->len >= SX_PIPELINE_ANNOTATE_QUEUE_MAX) {
        pthread_cond_wait(&a->cv, &a->mu);
    }
    if (a->tail != NULL) {
        a->tail->next = it;
    } else {
        a->head = it;
    }
    a->tail = it;
    a->len++;
    a->peak = a->len > a->peak ? a->len : a->peak;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

size_t sx_pipeline_annotator_peak(sx_pipeline_annotator *a)
{
    pthread_mutex_lock(&a->mu);
    size_t n = a->peak;
    pthread_mutex_unlock(&a->mu);
    return n;
}

specx_status sx_pipeline_annotator_close(sx_pipeline_annotator *a, specx_err *err)
{
    if (a == NULL) {
        return SPECX_OK;
    }
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->closing = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    specx_err werr = {{0}};
    specx_status st = a->writer != NULL ? specx_video_writer_close(a->writer, &werr) : SPECX_OK;
    if (a->failed) {
        st = specx_err_set(err, SPECX_EIO, "annotated output: %s", a->error);
    } else if (st != SPECX_OK) {
        st = specx_err_set(err, st, "annotated output: %s", specx_err_text(&werr, st));
    }
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
    return st;
}
