/* specx/video.h — frame sources (a video file or stream FFmpeg can read, or a
 * directory of JPEG/PNG images) and frame sinks (an MP4 or other video file,
 * or a directory of JPEG images), all in specx_image RGB8.
 *
 * Contract: a source or writer is used by one thread at a time (thread-
 * compatible); distinct objects are independent. Every call blocks for the
 * file I/O and codec work it needs. Frames handed out are owned by the caller.
 * Errors come back as specx_status with a one-line message naming the path;
 * a failing open leaves *out untouched. */
#ifndef SPECX_VIDEO_H
#define SPECX_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "specx/image.h"
#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sources ------------------------------------------------------------- */

typedef struct specx_video_source specx_video_source;

typedef struct specx_video_source_opts {
    double dir_fps;    /* frame rate given to a directory of images; 0 = 10 */
    size_t max_pixels; /* per-image decode limit for directories; 0 = codec default */
    int threads;       /* FFmpeg decoder threads; 0 = 1 (the detector needs the cores) */
} specx_video_source_opts;

typedef enum specx_video_kind {
    SPECX_VIDEO_FILE = 1, /* anything FFmpeg opens: file or URL (rtsp://, ...) */
    SPECX_VIDEO_DIR,      /* a directory of .jpg/.jpeg/.png, sorted by name */
} specx_video_kind;

typedef struct specx_video_info {
    specx_video_kind kind;
    int width, height;   /* of the stream; for a directory, of its first image */
    double fps;          /* the source's frame rate (0 if FFmpeg cannot tell) */
    int64_t frame_count; /* -1 when the container does not say */
    char codec[32];      /* e.g. "h264", or "images" for a directory */
} specx_video_info;

typedef struct specx_frame {
    specx_image image; /* owned by the caller: specx_frame_clear or take it */
    int64_t index;     /* 0, 1, 2, ... in delivery order */
    double pts;        /* presentation time in seconds from the source's start */
    double fps;        /* the source's frame rate, as in specx_video_info */
} specx_frame;

/* Opens `path`: a directory is read as images; anything else goes to FFmpeg.
 * opts may be NULL. Errors: ENOTFOUND (no such path, or a directory without
 * images), EFORMAT (not a video FFmpeg can read, no video stream),
 * EUNSUPPORTED (no decoder for the stream's codec), EIO. */
specx_status specx_video_source_open(specx_video_source **out, const char *path,
                                     const specx_video_source_opts *opts, specx_err *err);

void specx_video_source_info(const specx_video_source *src, specx_video_info *info);

/* Decodes the next frame into *frame (a new image each time). At the end of
 * the source returns SPECX_OK with *eof = 1 and frame untouched. A frame that
 * cannot be decoded (corrupt image in a directory, decoder error) fails with
 * a message naming the file; for a directory the next call moves on to the
 * following image. */
specx_status specx_video_source_read(specx_video_source *src, specx_frame *frame, int *eof,
                                     specx_err *err);

/* Starts again from the first frame (for looping demos). */
specx_status specx_video_source_rewind(specx_video_source *src, specx_err *err);

void specx_video_source_close(specx_video_source *src); /* NULL-safe */

void specx_frame_clear(specx_frame *frame); /* frees the image; NULL-safe */

/* ---- writers ------------------------------------------------------------- */

typedef struct specx_video_writer specx_video_writer;

typedef struct specx_video_writer_opts {
    double fps;        /* frame rate of the output video; 0 = 10 */
    int jpeg_quality;  /* directory output; 0 = 90 */
    int crf;           /* video quality, lower is better (x264 CRF / MPEG-4 scale); 0 = 23 */
    int threads;       /* encoder threads; 0 = 1 */
    const char *codec; /* FFmpeg encoder name; NULL = libx264 if present, else mpeg4 */
} specx_video_writer_opts;

/* Prepares to write to `path`. If its extension names a video container
 * FFmpeg knows (.mp4, .mkv, .avi, .mov, ...), frames are encoded into that
 * file; otherwise `path` is a directory (created if missing) that receives
 * frame_000000.jpg, frame_000001.jpg, ... A path ending in an image extension
 * (.jpg/.png) is rejected (EINVAL): use specx_image_save for one image.
 * The video file is created at the first frame, whose size fixes the output
 * size: later frames of another size are scaled to it, and odd sizes are
 * rounded down to even (4:2:0 chroma). opts may be NULL. */
specx_status specx_video_writer_open(specx_video_writer **out, const char *path,
                                     const specx_video_writer_opts *opts, specx_err *err);

specx_status specx_video_writer_write(specx_video_writer *w, const specx_image *img,
                                      specx_err *err);

/* The encoder in use ("libx264", "mpeg4", ... or "jpeg" for a directory);
 * "" before the first frame of a video. */
const char *specx_video_writer_codec(const specx_video_writer *w);

/* Flushes the encoder, finishes the file and frees w (also on error).
 * A video writer that got no frames creates no file. NULL-safe. */
specx_status specx_video_writer_close(specx_video_writer *w, specx_err *err);

#ifdef __cplusplus
}
#endif
#endif
