/* video_writer.c — RGB frames out as a video file (FFmpeg: libx264 or MPEG-4
 * part 2) or as a directory of numbered JPEG images.
 *
 * Design notes:
 * - The output is created lazily at the first frame, because only then is
 *   the size known; the first frame's size (rounded down to even, which
 *   4:2:0 chroma needs) is the output size for the whole file.
 * - Encoder choice is made at run time: the requested one, else libx264 when
 *   this FFmpeg build has it, else mpeg4, which every build has.
 * - Frames get pts = 0, 1, 2, ... in a 1/fps time base; packets are rescaled
 *   to the stream's time base, which the muxer may have changed.
 * - Input pixels are first copied into an FFmpeg-allocated RGB frame: sws'
 *   SIMD input readers load past the end of a row (valgrind saw 16-byte reads
 *   beyond a tightly sized buffer), which on a specx_image ending at a page
 *   boundary would fault. FFmpeg's own buffers carry the padding it assumes.
 * - Close sends the NULL frame that drains the encoder's look-ahead before
 *   the trailer is written; without it the last frames would be lost. */
#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "specx/codec.h"
#include "specx/video.h"

#define DEFAULT_FPS 10.0
#define DEFAULT_JPEG_QUALITY 90
#define DEFAULT_CRF 23

struct specx_video_writer {
    char *path;
    specx_video_writer_opts opts;
    char codec_name[32];
    int is_dir;
    int64_t frames;
    /* video */
    AVFormatContext *fmt;
    AVCodecContext *enc;
    AVStream *st;
    struct SwsContext *sws;
    AVFrame *frm;
    AVFrame *rgb; /* padded staging copy of the input frame */
    AVPacket *pkt;
    int header_written;
    int broken; /* the first frame could not start the file: later ones fail too */
};

static specx_status av_fail(specx_err *err, specx_status st, const char *path, const char *what,
                            int averr)
{
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(averr, buf, sizeof buf);
    return specx_err_set(err, st, "%s: %s (%s)", path, what, buf);
}

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), m = strlen(ext);
    return n > m && strcasecmp(path + n - m, ext) == 0;
}

/* mkdir -p: the output directory and any missing parents. */
static specx_status make_dirs(const char *path, specx_err *err)
{
    char *p = strdup(path);
    if (p == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", path);
    }
    for (char *q = p + 1;; q++) {
        char c = *q;
        if (c == '/' || c == '\0') {
            *q = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                specx_status st = specx_err_set(
                    err, SPECX_EIO, "%s: cannot create directory %s: %s", path, p, strerror(e));
                free(p);
                return st;
            }
            *q = c;
        }
        if (c == '\0') {
            break;
        }
    }
    free(p);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return specx_err_set(err, SPECX_EIO, "%s: exists and is not a directory", path);
    }
    return SPECX_OK;
}

specx_status specx_video_writer_open(specx_video_writer **out, const char *path,
                                     const specx_video_writer_opts *opts, specx_err *err)
{
    if (out == NULL || path == NULL || path[0] == '\0') {
        return specx_err_set(err, SPECX_EINVAL, "video writer: no path given");
    }
    if (has_ext(path, ".jpg") || has_ext(path, ".jpeg") || has_ext(path, ".png")) {
        return specx_err_set(err, SPECX_EINVAL,
                             "%s: an image file name; give a video file (.mp4, ...) or a "
                             "directory for frames",
                             path);
    }
    specx_video_writer_opts o = {0};
    if (opts != NULL) {
        o = *opts;
    }
    if (o.fps <= 0) {
        o.fps = DEFAULT_FPS;
    }
    if (o.jpeg_quality <= 0) {
        o.jpeg_quality = DEFAULT_JPEG_QUALITY;
    }
    if (o.jpeg_quality > 100) {
        return specx_err_set(err, SPECX_EINVAL, "%s: JPEG quality %d is not in 1..100", path,
                             o.jpeg_quality);
    }
    if (o.crf <= 0) {
        o.crf = DEFAULT_CRF;
    }
    if (o.threads <= 0) {
        o.threads = 1;
    }

    struct stat sb;
    int exists_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    const AVOutputFormat *of = exists_dir ? NULL : av_guess_format(NULL, path, NULL);
    /* image2 would write one file per frame with FFmpeg's own naming; our
     * directory mode does that job. */
    int is_dir = of == NULL || strcmp(of->name, "image2") == 0 || has_ext(path, "/");
    if (is_dir) {
        specx_status st = make_dirs(path, err);
        if (st != SPECX_OK) {
            return st;
        }
    }
    specx_video_writer *w = calloc(1, sizeof *w);
    if (w == NULL || (w->path = strdup(path)) == NULL) {
        free(w);
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", path);
    }
    w->opts = o;
    w->opts.codec = NULL; /* not owned; only read during open_video */
    w->is_dir = is_dir;
    if (is_dir) {
        snprintf(w->codec_name, sizeof w->codec_name, "jpeg");
    } else if (o.codec != NULL) {
        snprintf(w->codec_name, sizeof w->codec_name, "%s", o.codec);
        /* Check the name now so the mistake surfaces at open, not frame 1. */
        if (avcodec_find_encoder_by_name(o.codec) == NULL) {
            specx_status st = specx_err_set(err, SPECX_EUNSUPPORTED,
                                            "%s: FFmpeg has no encoder named '%s'", path, o.codec);
            free(w->path);
            free(w);
            return st;
        }
        /* Remembered until the first frame, then replaced by the chosen one. */
    }
    *out = w;
    return SPECX_OK;
}

static const AVCodec *pick_encoder(specx_video_writer *w, const AVOutputFormat *of)
{
    const char *tries[3] = {w->codec_name[0] ? w->codec_name : NULL, "libx264", "mpeg4"};
    for (int i = 0; i < 3; i++) {
        if (tries[i] == NULL) {
            continue;
        }
        const AVCodec *c = avcodec_find_encoder_by_name(tries[i]);
        if (c != NULL && avformat_query_codec(of, c->id, FF_COMPLIANCE_NORMAL) == 1) {
            return c;
        }
        if (i == 0) {
            return NULL; /* an explicit request is not silently replaced */
        }
    }
    /* The container's own default (e.g. VP9 for .webm). */
    return of->video_codec != AV_CODEC_ID_NONE ? avcodec_find_encoder(of->video_codec) : NULL;
}

/* The encoder's pixel format, colour tags, threads, GOP and quality
 * settings (the latter partly as encoder options into *dopts). */
static void configure_encoder(specx_video_writer *w, const AVCodec *codec, AVDictionary **dopts)
{
    AVCodecContext *c = w->enc;
    c->time_base = av_inv_q(av_d2q(w->opts.fps, 65535));
    c->framerate = av_d2q(w->opts.fps, 65535);
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    if (codec->pix_fmts != NULL) {
        /* Keep 4:2:0 when offered; else the encoder's first choice. */
        enum AVPixelFormat pick = codec->pix_fmts[0];
        for (const enum AVPixelFormat *p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; p++) {
            if (*p == AV_PIX_FMT_YUV420P) {
                pick = *p;
                break;
            }
        }
        c->pix_fmt = pick;
    }
    /* Tag what sws produces (BT.601, limited range) so readers convert back
     * with the same matrix. */
    c->colorspace = AVCOL_SPC_BT470BG;
    c->color_range = AVCOL_RANGE_MPEG;
    c->thread_count = w->opts.threads;
    /* libx264 reports its settings and statistics at INFO, a dozen lines per
     * file; one level down for this context hides those but keeps warnings
     * and errors visible. */
    c->log_level_offset = AV_LOG_WARNING - AV_LOG_ERROR;
    c->gop_size = (int)(w->opts.fps * 2) > 1 ? (int)(w->opts.fps * 2) : 2;
    if (w->fmt->oformat->flags & AVFMT_GLOBALHEADER) {
        c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    }
    if (strcmp(codec->name, "libx264") == 0) {
        char crf[16];
        snprintf(crf, sizeof crf, "%d", w->opts.crf);
        av_dict_set(dopts, "crf", crf, 0);
        av_dict_set(dopts, "preset", "veryfast", 0);
    } else {
        /* Constant quantiser: crf 23 maps to qscale ~4, good for review. */
        c->flags |= AV_CODEC_FLAG_QSCALE;
        int q = w->opts.crf / 6 + 1;
        c->global_quality = FF_QP2LAMBDA * (q < 2 ? 2 : q > 31 ? 31 : q);
        c->max_b_frames = 0;
    }
}

/* After the encoder is open: the stream parameters, the frame buffer, the
 * file and its header. */
static specx_status open_output(specx_video_writer *w, specx_err *err)
{
    AVCodecContext *c = w->enc;
    int rc = avcodec_parameters_from_context(w->st->codecpar, c);
    if (rc < 0) {
        return av_fail(err, SPECX_EINTERNAL, w->path, "bad encoder parameters", rc);
    }
    w->st->time_base = c->time_base;
    w->st->avg_frame_rate = c->framerate;

    w->frm->format = c->pix_fmt;
    w->frm->width = c->width;
    w->frm->height = c->height;
    rc = av_frame_get_buffer(w->frm, 0);
    if (rc < 0) {
        return av_fail(err, SPECX_ENOMEM, w->path, "cannot allocate a frame", rc);
    }
    if (!(w->fmt->oformat->flags & AVFMT_NOFILE)) {
        rc = avio_open(&w->fmt->pb, w->path, AVIO_FLAG_WRITE);
        if (rc < 0) {
            return av_fail(err, SPECX_EIO, w->path, "cannot create the file", rc);
        }
    }
    rc = avformat_write_header(w->fmt, NULL);
    if (rc < 0) {
        return av_fail(err, SPECX_EIO, w->path, "cannot write the file header", rc);
    }
    w->header_written = 1;
    return SPECX_OK;
}

static specx_status open_video(specx_video_writer *w, const specx_image *img, specx_err *err)
{
    int rc = avformat_alloc_output_context2(&w->fmt, NULL, NULL, w->path);
    if (rc < 0 || w->fmt == NULL) {
        return av_fail(err, SPECX_EUNSUPPORTED, w->path, "no muxer for this file name", rc);
    }
    const AVCodec *codec = pick_encoder(w, w->fmt->oformat);
    if (codec == NULL) {
        return specx_err_set(err, SPECX_EUNSUPPORTED, "%s: no usable video encoder%s%s", w->path,
                             w->codec_name[0] ? " for " : "", w->codec_name);
    }
    snprintf(w->codec_name, sizeof w->codec_name, "%s", codec->name);
    w->st = avformat_new_stream(w->fmt, NULL);
    w->enc = avcodec_alloc_context3(codec);
    w->frm = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (w->st == NULL || w->enc == NULL || w->frm == NULL || w->pkt == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory opening the encoder", w->path);
    }
    w->enc->width = img->width & ~1;
    w->enc->height = img->height & ~1;
    if (w->enc->width < 2 || w->enc->height < 2) {
        return specx_err_set(err, SPECX_EINVAL, "%s: frame %dx%d is too small to encode", w->path,
                             img->width, img->height);
    }
    AVDictionary *dopts = NULL;
    configure_encoder(w, codec, &dopts);
    rc = avcodec_open2(w->enc, codec, &dopts);
    av_dict_free(&dopts);
    if (rc < 0) {
        return av_fail(err, SPECX_EUNSUPPORTED, w->path, "cannot open the video encoder", rc);
    }
    return open_output(w, err);
}

/* Moves every packet the encoder has ready into the file. */
static specx_status drain(specx_video_writer *w, specx_err *err)
{
    for (;;) {
        int rc = avcodec_receive_packet(w->enc, w->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) {
            return SPECX_OK;
        }
        if (rc < 0) {
            return av_fail(err, SPECX_EINTERNAL, w->path, "video encoding failed", rc);
        }
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        rc = av_interleaved_write_frame(w->fmt, w->pkt);
        av_packet_unref(w->pkt);
        if (rc < 0) {
            return av_fail(err, SPECX_EIO, w->path, "write error", rc);
        }
    }
}

static specx_status write_video(specx_video_writer *w, const specx_image *img, specx_err *err)
{
    if (w->broken) {
        return specx_err_set(err, SPECX_ESTOPPED, "%s: the output could not be started earlier",
                             w->path);
    }
    if (w->enc == NULL) {
        specx_status st = open_video(w, img, err);
        if (st != SPECX_OK) {
            w->broken = 1;
            return st;
        }
    }
    int rc = av_frame_make_writable(w->frm);
    if (rc < 0) {
        return av_fail(err, SPECX_ENOMEM, w->path, "cannot reuse the frame buffer", rc);
    }
    w->sws = sws_getCachedContext(w->sws, img->width, img->height, AV_PIX_FMT_RGB24, w->enc->width,
                                  w->enc->height, w->enc->pix_fmt, SWS_BILINEAR, NULL, NULL, NULL);
    if (w->sws == NULL) {
        return specx_err_set(err, SPECX_EINTERNAL, "%s: cannot convert RGB to %s", w->path,
                             av_get_pix_fmt_name(w->enc->pix_fmt));
    }
    if (w->rgb == NULL || w->rgb->width != img->width || w->rgb->height != img->height) {
        av_frame_free(&w->rgb);
        w->rgb = av_frame_alloc();
        if (w->rgb == NULL) {
            return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", w->path);
        }
        w->rgb->format = AV_PIX_FMT_RGB24;
        w->rgb->width = img->width;
        w->rgb->height = img->height;
        rc = av_frame_get_buffer(w->rgb, 0);
        if (rc < 0) {
            av_frame_free(&w->rgb);
            return av_fail(err, SPECX_ENOMEM, w->path, "cannot allocate a frame", rc);
        }
        /* SIMD loads read the padding too: keep it defined. */
        memset(w->rgb->buf[0]->data, 0, w->rgb->buf[0]->size);
    }
    av_image_copy_plane(w->rgb->data[0], w->rgb->linesize[0], img->data, img->stride,
                        img->width * 3, img->height);
    sws_scale(w->sws, (const uint8_t *const *)w->rgb->data, w->rgb->linesize, 0, img->height,
              w->frm->data, w->frm->linesize);
    w->frm->pts = w->frames;
    rc = avcodec_send_frame(w->enc, w->frm);
    if (rc < 0) {
        return av_fail(err, SPECX_EINTERNAL, w->path, "video encoding failed", rc);
    }
    return drain(w, err);
}

static specx_status write_dir(specx_video_writer *w, const specx_image *img, specx_err *err)
{
    size_t n = strlen(w->path) + 32;
    char *file = malloc(n);
    if (file == NULL) {
        return specx_err_set(err, SPECX_ENOMEM, "%s: out of memory", w->path);
    }
    const char *sep = has_ext(w->path, "/") ? "" : "/";
    snprintf(file, n, "%s%sframe_%06lld.jpg", w->path, sep, (long long)w->frames);
    uint8_t *buf = NULL;
    size_t len = 0;
    specx_status st = specx_jpeg_encode(img, w->opts.jpeg_quality, &buf, &len, err);
    if (st == SPECX_OK) {
        FILE *f = fopen(file, "wb");
        if (f == NULL) {
            int e = errno;
            st = specx_err_set(err, SPECX_EIO, "%s: %s", file, strerror(e));
        } else {
            size_t put = fwrite(buf, 1, len, f);
            if (fclose(f) != 0 || put != len) {
                st = specx_err_set(err, SPECX_EIO, "%s: write error", file);
            }
        }
    }
    free(buf);
    free(file);
    return st;
}

specx_status specx_video_writer_write(specx_video_writer *w, const specx_image *img, specx_err *err)
{
    if (w == NULL || img == NULL || img->data == NULL || img->width < 1 || img->height < 1 ||
        img->stride < 3 * img->width) {
        return specx_err_set(err, SPECX_EINVAL, "video writer: invalid frame");
    }
    specx_status st = w->is_dir ? write_dir(w, img, err) : write_video(w, img, err);
    if (st == SPECX_OK) {
        w->frames++;
    }
    return st;
}

const char *specx_video_writer_codec(const specx_video_writer *w)
{
    if (w == NULL || (!w->is_dir && !w->header_written)) {
        return "";
    }
    return w->codec_name;
}

specx_status specx_video_writer_close(specx_video_writer *w, specx_err *err)
{
    if (w == NULL) {
        return SPECX_OK;
    }
    specx_status st = SPECX_OK;
    if (w->header_written) {
        int rc = avcodec_send_frame(w->enc, NULL);
        if (rc < 0) {
            st = av_fail(err, SPECX_EINTERNAL, w->path, "cannot flush the encoder", rc);
        } else {
            st = drain(w, err);
        }
        rc = av_write_trailer(w->fmt);
        if (rc < 0 && st == SPECX_OK) {
            st = av_fail(err, SPECX_EIO, w->path, "cannot finish the file", rc);
        }
    }
    if (w->fmt != NULL) {
        if (!(w->fmt->oformat->flags & AVFMT_NOFILE) && w->fmt->pb != NULL) {
            if (avio_closep(&w->fmt->pb) < 0 && st == SPECX_OK) {
                st = specx_err_set(err, SPECX_EIO, "%s: error closing the file", w->path);
            }
        }
        avformat_free_context(w->fmt);
    }
    sws_freeContext(w->sws);
    av_frame_free(&w->frm);
    av_frame_free(&w->rgb);
    av_packet_free(&w->pkt);
    avcodec_free_context(&w->enc);
    free(w->path);
    free(w);
    return st;
}
