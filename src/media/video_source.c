/* video_source.c — RGB frames from a video file/stream (FFmpeg) or from a
 * directory of JPEG/PNG images.
 *
 * Design notes:
 * - One source = one decoding cursor, used by one thread. The FFmpeg objects
 *   (format, decoder, scaler, packet, frame) live as long as the source.
 * - Decoding follows the send/receive model: receive until EAGAIN, then feed
 *   the next packet of our stream; at the end of the input, send one NULL
 *   packet to drain the frames the decoder still holds (B-frame reordering),
 *   then report eof.
 * - The YUV->RGB matrix follows the stream's colour tags (BT.709 for HD
 *   content tagged so, BT.601 otherwise) and its range (full or limited), so
 *   the RGB values match what other players show.
 * - sws converts into an FFmpeg-allocated (aligned, padded) RGB frame that is
 *   then copied into the caller's image: sws' SIMD code may touch bytes past
 *   a tightly sized row, which a specx_image does not have.
 * - A directory is listed once at open and sorted by name (strcmp), so
 *   frame_0001.png, frame_0002.png, ... play in order. */
#include <dirent.h>
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "specx/codec.h"
#include "specx/video.h"

#define DEFAULT_DIR_FPS 10.0

struct specx_video_source {
    specx_video_info info;
    specx_video_source_opts opts;
    char *path;
    int64_t next_index;
    /* FFmpeg */
    AVFormatContext *fmt;
    AVCodecContext *dec;
    struct SwsContext *sws;
    AVPacket *pkt;
    AVFrame *frm;
    AVFrame *rgb; /* padded conversion target */
    int stream;
    int flushing; /* input exhausted, NULL packet sent */
    int done;     /* decoder drained */
    int64_t start_ts;
    double time_base;
    /* directory */
    char **files;
    size_t nfiles, pos;
};

static specx_status av_fail(specx_err *err, specx_status st, const char *path, const char *what,
                            int averr)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(averr, buf, sizeof buf);
    return specx_err_set(err, st, "%s: %s (%s)", path, what, buf);
}

void specx_frame_clear(specx_frame *frame)
{
    if (frame != NULL) {
        specx_image_clear(&frame->image);
    }
}

/* ---- directory of images ------------------------------------------------- */

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL || name[0] == '.') {
        return 0;
    }
    return strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0 ||
           strcasecmp(dot, ".png") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_files(specx_video_source *s)
{
    for (size_t i = 0; i < s->nfiles; i++) {
        free(s->files[i]);
    }
    free(s->files);
    s->files = NULL;
    s->nfiles = 0;
}

static specx_status dir_open(specx_video_source *s, specx_err *err)
{
    DIR *d = opendir(s->path);
    if (d == NULL) {
        int e = errno;
        return specx_err_set(err, SPECX_EIO, "%s: cannot list directory: %s", s->path, strerror(e));
    }
    size_t cap = 0;
    specx_status st = SPECX_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_image_name(de->d_name)) {
            continue;
        }
        if (s->nfiles == cap) {
            cap = cap ? cap * 2 : 64;
            char **nf = realloc(s->files, cap * sizeof *nf);
            if (nf == NULL) {
                st = SPECX_ENOMEM;
                break;
            }
            s->files = nf;
        }
        size_t n = strlen(s->path) + strlen(de->d_name) + 2;
        char *full = malloc(n);
        if (full == NULL) {
            st = SPECX_ENOMEM;
            break;
        }
        snprintf(full, n, "%s/%s", s->path, de->d_name);
        s->files[s->nfiles++] = full;
    }
    closedir(d);
    if (st != SPECX_OK) {
        free_files(s);
        return specx_err_set(err, st, "%s: out of memory listing images", s->path);
    }
    if (s->nfiles == 0) {
        return specx_err_set(err, SPECX_ENOTFOUND, "%s: no .jpg/.jpeg/.png images in directory",
                             s->path);
    }
    qsort(s->files, s->nfiles, sizeof *s->files, cmp_names);

    /* The first image fixes the advertised size. */
    specx_image first = {0};
    st = specx_image_load(s->files[0], &first, err);
    if (st != SPECX_OK) {
        free_files(s);
        return st;
    }
    s->info.kind = SPECX_VIDEO_DIR;
    s->info.width = first.width;
    s->info.height = first.height;
    s->info.fps = s->opts.dir_fps > 0 ? s->opts.dir_fps : DEFAULT_DIR_FPS;
    s->info.frame_count = (int64_t)s->nfiles;
    snprintf(s->info.codec, sizeof s->info.codec, "images");
    specx_image_clear(&first);
    return SPECX_OK;
}

static specx_status dir_read(specx_video_source *s, specx_frame *frame, int *eof, specx_err *err)
{
    if (s->pos >= s->nfiles) {
        *eof = 1;
        return SPECX_OK;
    }
    const char *file = s->files[s->pos++];
    specx_image img = {0};
    specx_status st = specx_image_load(file, &img, err);
    /* A bad image still consumes its index, so indices map to file names. */
    int64_t index = s->next_index++;
    if (st != SPECX_OK) {
        return st;
    }
    frame->image = img;
    frame->index = index;
    frame->fps = s->info.fps;
    frame->pts = (double)index / s->info.fps;
    *eof = 0;
    return SPECX_OK;
}

/* ---- FFmpeg -------------------------------------------------------------- */

static specx_status av_open(specx_video_source *s, specx_err *err)
{
    int rc = avformat_open_input(&s->fmt, s->path, NULL, NULL);
    if (rc < 0) {
        return av_fail(err, SPECX_EFORMAT, s->path, "not a video FFmpeg can read", rc);
    }
    rc = avformat_find_stream_info(s->fmt, NULL);
    if (rc < 0) {
        return av_fail(err, SPECX_EFORMAT, s->path, "cannot read stream information", rc);
    }
    const AVCodec *codec = NULL;
    rc = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (rc == AVERROR_DECODER_NOT_FOUND) {
        return specx_err_set(err, SPECX_EUNSUPPORTED, "%s: no decoder for its video codec",
                             s->path);
    }
    if (rc < 0) {
        return specx_err_set(err, SPECX_EFORMAT, "%s: no video stream in the file", s->path);
    }
    s->stream = rc;
    AVStream *st = s->fmt->streams[s->stream];
    s->dec = avcodec_alloc_context3(codec);
    s->pkt = av_packet_alloc();
    s->frm = av_frame_alloc();
    if (s->dec == NULL || s->pkt == NULL || s->frm == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory opening the decoder", s->path);
    }
    rc = avcodec_parameters_to_context(s->dec, st->codecpar);
    if (rc < 0) {
        return av_fail(err, SPECX_EINTERNAL, s->path, "bad codec parameters", rc);
    }
    s->dec->thread_count = s->opts.threads > 0 ? s->opts.threads : 1;
    s->dec->pkt_timebase = st->time_base;
    rc = avcodec_open2(s->dec, codec, NULL);
    if (rc < 0) {
        return av_fail(err, SPECX_EUNSUPPORTED, s->path, "cannot open the video decoder", rc);
    }
    AVRational fr = av_guess_frame_rate(s->fmt, st, NULL);
    s->info.kind = SPECX_VIDEO_FILE;
    s->info.width = s->dec->width;
    s->info.height = s->dec->height;
    s->info.fps = (fr.num > 0 && fr.den > 0) ? av_q2d(fr) : 0.0;
    s->info.frame_count = st->nb_frames > 0 ? st->nb_frames : -1;
    snprintf(s->info.codec, sizeof s->info.codec, "%s", codec->name);
    s->time_base = av_q2d(st->time_base);
    s->start_ts = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    if (s->info.width < 1 || s->info.height < 1) {
        return specx_err_set(err, SPECX_EFORMAT, "%s: video stream has no frame size", s->path);
    }
    return SPECX_OK;
}

static specx_status av_convert(specx_video_source *s, specx_frame *frame, specx_err *err)
{
    AVFrame *f = s->frm;
    specx_image img = {0};
    specx_status st = specx_image_alloc(&img, f->width, f->height);
    if (st != SPECX_OK) {
        return specx_err_set(err, st, "%s: cannot allocate a %dx%d frame", s->path, f->width,
                             f->height);
    }
    s->sws =
        sws_getCachedContext(s->sws, f->width, f->height, (enum AVPixelFormat)f->format, f->width,
                             f->height, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
    if (s->sws == NULL) {
        specx_image_clear(&img);
        return specx_err_set(err, SPECX_EUNSUPPORTED, "%s: cannot convert pixel format %s to RGB",
                             s->path, av_get_pix_fmt_name((enum AVPixelFormat)f->format));
    }
    int matrix = f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_DEFAULT;
    int full = f->color_range == AVCOL_RANGE_JPEG;
    /* Fails harmlessly for RGB inputs, where there is no matrix to set. */
    sws_setColorspaceDetails(s->sws, sws_getCoefficients(matrix), full,
                             sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    if (s->rgb == NULL || s->rgb->width != f->width || s->rgb->height != f->height) {
        av_frame_free(&s->rgb);
        s->rgb = av_frame_alloc();
        int rc = AVERROR(ENOMEM);
        if (s->rgb != NULL) {
            s->rgb->format = AV_PIX_FMT_RGB24;
            s->rgb->width = f->width;
            s->rgb->height = f->height;
            rc = av_frame_get_buffer(s->rgb, 0);
        }
        if (rc < 0) {
            av_frame_free(&s->rgb);
            specx_image_clear(&img);
            return av_fail(err, SPECX_ENOMEM, s->path, "cannot allocate a frame", rc);
        }
        memset(s->rgb->buf[0]->data, 0, s->rgb->buf[0]->size);
    }
    sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, s->rgb->data,
              s->rgb->linesize);
    av_image_copy_plane(img.data, img.stride, s->rgb->data[0], s->rgb->linesize[0], img.width * 3,
                        img.height);

    int64_t index = s->next_index++;
    double fps = s->info.fps;
    double pts;
    if (f->best_effort_timestamp != AV_NOPTS_VALUE) {
        pts = (double)(f->best_effort_timestamp - s->start_ts) * s->time_base;
    } else {
        pts = fps > 0 ? (double)index / fps : 0.0;
    }
    frame->image = img;
    frame->index = index;
    frame->pts = pts;
    frame->fps = fps;
    return SPECX_OK;
}

static specx_status av_read(specx_video_source *s, specx_frame *frame, int *eof, specx_err *err)
{
    for (;;) {
        if (s->done) {
            *eof = 1;
            return SPECX_OK;
        }
        int rc = avcodec_receive_frame(s->dec, s->frm);
        if (rc == 0) {
            specx_status st = av_convert(s, frame, err);
            av_frame_unref(s->frm);
            if (st == SPECX_OK) {
                *eof = 0;
            }
            return st;
        }
        if (rc == AVERROR_EOF) {
            s->done = 1;
            continue;
        }
        if (rc != AVERROR(EAGAIN)) {
            return av_fail(err, SPECX_EFORMAT, s->path, "video decoding failed", rc);
        }
        if (s->flushing) {
            /* Drained but the decoder still wants input: nothing more comes. */
            s->done = 1;
            continue;
        }
        rc = av_read_frame(s->fmt, s->pkt);
        if (rc == AVERROR_EOF) {
            s->flushing = 1;
            rc = avcodec_send_packet(s->dec, NULL);
            if (rc < 0 && rc != AVERROR_EOF) {
                return av_fail(err, SPECX_EFORMAT, s->path, "video decoding failed", rc);
            }
            continue;
        }
        if (rc < 0) {
            return av_fail(err, SPECX_EIO, s->path, "read error", rc);
        }
        if (s->pkt->stream_index == s->stream) {
            rc = avcodec_send_packet(s->dec, s->pkt);
            av_packet_unref(s->pkt);
            /* A damaged packet is skipped, as players do; the decoder
             * conceals it in the following frames. */
            if (rc < 0 && rc != AVERROR(EAGAIN) && rc != AVERROR_INVALIDDATA) {
                return av_fail(err, SPECX_EFORMAT, s->path, "video decoding failed", rc);
            }
        } else {
            av_packet_unref(s->pkt);
        }
    }
}

/* ---- public -------------------------------------------------------------- */

specx_status specx_video_source_open(specx_video_source **out, const char *path,
                                     const specx_video_source_opts *opts, specx_err *err)
{
    if (out == NULL || path == NULL || path[0] == '\0') {
        return specx_err_set(err, SPECX_EINVAL, "video source: no path given");
    }
    struct stat sb;
    int is_dir = 0;
    if (stat(path, &sb) == 0) {
        is_dir = S_ISDIR(sb.st_mode);
    } else if (strstr(path, "://") == NULL) {
        /* Only URLs may name something that is not in the file system. */
        int e = errno;
        return specx_err_set(err, e == ENOENT || e == ENOTDIR ? SPECX_ENOTFOUND : SPECX_EIO,
                             "%s: %s", path, strerror(e));
    }
    specx_video_source *s = calloc(1, sizeof *s);
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", path);
    }
    if (opts != NULL) {
        s->opts = *opts;
    }
    specx_status st = is_dir ? dir_open(s, err) : av_open(s, err);
    if (st != SPECX_OK) {
        specx_video_source_close(s);
        return st;
    }
    *out = s;
    return SPECX_OK;
}

void specx_video_source_info(const specx_video_source *src, specx_video_info *info)
{
    *info = src->info;
}

specx_status specx_video_source_read(specx_video_source *src, specx_frame *frame, int *eof,
                                     specx_err *err)
{
    if (src == NULL || frame == NULL || eof == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "video source read: NULL argument");
    }
    if (src->info.kind == SPECX_VIDEO_DIR) {
        return dir_read(src, frame, eof, err);
    }
    return av_read(src, frame, eof, err);
}

specx_status specx_video_source_rewind(specx_video_source *src, specx_err *err)
{
    if (src == NULL) {
        return specx_err_set(err, SPECX_EINVAL, "video source rewind: NULL source");
    }
    if (src->info.kind == SPECX_VIDEO_FILE) {
        int rc = av_seek_frame(src->fmt, src->stream, src->start_ts, AVSEEK_FLAG_BACKWARD);
        if (rc < 0) {
            return av_fail(err, SPECX_EUNSUPPORTED, src->path, "cannot seek to the start", rc);
        }
        avcodec_flush_buffers(src->dec);
        src->flushing = 0;
        src->done = 0;
    }
    src->pos = 0;
    src->next_index = 0;
    return SPECX_OK;
}

void specx_video_source_close(specx_video_source *src)
{
    if (src == NULL) {
        return;
    }
    sws_freeContext(src->sws);
    av_frame_free(&src->frm);
    av_frame_free(&src->rgb);
    av_packet_free(&src->pkt);
    avcodec_free_context(&src->dec);
    avformat_close_input(&src->fmt);
    free_files(src);
    free(src->path);
    free(src);
}
