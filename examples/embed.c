/* embed.c — libspecx embedded in a program of its own: the frames of a video
 * (decoded with specx/video.h, paced at its frame rate) through a local
 * detector and, optionally, a detection server under a per-frame deadline;
 * one JSON line per output on stdout (schema: docs/run.md).
 *
 * usage: specx_embed VIDEO FRAMES [MODEL_DIR [HOST:PORT]] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "specx/pipeline.h"
#include "specx/video.h"

static void on_output(void *user, const specx_pipeline_output *out)
{
    long *outputs = user; /* one callback at a time, in frame order */
    char *line = specx_pipeline_output_json(out);
    if (line != NULL) {
        puts(line);
        free(line);
    }
    (*outputs)++;
}

static int fail(const char *what, const specx_err *err, specx_status st)
{
    fprintf(stderr, "specx_embed: %s: %s\n", what, specx_err_text(err, st));
    return 1;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    errno = 0;
    long frames = argc > 2 ? strtol(argv[2], &end, 10) : 0;
    if (argc < 3 || errno != 0 || *end != '\0' || frames < 1) {
        fprintf(stderr, "usage: specx_embed VIDEO FRAMES [MODEL_DIR [HOST:PORT]]\n");
        return 2;
    }
    specx_err err = {{0}};
    specx_video_source *src = NULL;
    specx_status st = specx_video_source_open(&src, argv[1], NULL, &err);
    if (st != SPECX_OK) {
        return fail(argv[1], &err, st);
    }
    long outputs = 0;
    specx_pipeline_config pc = {
        .local = {.model = "yolo-fastest-1.1", .model_dir = argc > 3 ? argv[3] : NULL},
        .deadline = SPECX_MS(150), /* after each frame's arrival */
        .mode = SPECX_PIPELINE_STREAM,
        .output = on_output,
        .output_user = &outputs};
    specx_rpc_client_config server;
    if (argc > 4) {
        if ((st = specx_rpc_client_config_parse(argv[4], &server, &err)) != SPECX_OK) {
            specx_video_source_close(src);
            return fail("server", &err, st);
        }
        pc.servers = &server;
        pc.n_servers = 1;
    }
    specx_pipeline *p = NULL;
    if ((st = specx_pipeline_create(&pc, &p, &err)) != SPECX_OK) {
        specx_video_source_close(src);
        return fail("pipeline", &err, st);
    }
    specx_video_info info;
    specx_video_source_info(src, &info);
    specx_pacer camera;
    specx_pacer_start(&camera, info.fps);
    long pushed = 0;
    while (pushed < frames) {
        specx_frame fr;
        int eof = 0;
        if ((st = specx_video_source_read(src, &fr, &eof, &err)) != SPECX_OK || eof) {
            break;
        }
        specx_pacer_wait(&camera, pushed, NULL);
        st = specx_pipeline_push(p, &fr.image, pushed, fr.pts, &err); /* takes the image */
        specx_frame_clear(&fr);
        if (st != SPECX_OK) {
            break;
        }
        pushed++;
    }
    specx_pipeline_finish(p); /* every output delivered */
    fprintf(stderr, "specx_embed: %ld frames in, %ld outputs out\n", pushed, outputs);
    specx_pipeline_destroy(p);
    specx_video_source_close(src);
    if (st != SPECX_OK) {
        return fail("video", &err, st);
    }
    return pushed > 0 && outputs == pushed ? 0 : 1;
}
