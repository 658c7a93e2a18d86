/* eval/cache.h — internal to src/eval: the replay's on-disk cache of model
 * answers and JPEG encodings, and the content hash that keys it.
 *
 * Contract
 *  - An entry is one JSON file named by the hash of its key string; the
 *    key string is stored inside and checked on load, so a hash collision
 *    reads as a miss, never as another frame's answer.
 *  - Keys: detections by (model, backend, threshold, hash of the image the
 *    model saw: the decoded pixels for the local model, the JPEG bytes for
 *    the cloud); a JPEG encoding by (quality, hash of the pixels).
 *  - Entries are written to a temporary file and renamed into place, so
 *    concurrent runs sharing a cache see whole entries or none.
 *  - `dir` is an existing directory (the caller picks and creates it).
 *  - Thread-compatible; functions block on file I/O only. */
#ifndef SX_EVAL_CACHE_H
#define SX_EVAL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "specx/detection.h"
#include "specx/image.h"
#include "specx/status.h"

#define SX_EVAL_HASH_HEX 33 /* 128 bits as 32 hex digits + NUL */

/* A 128-bit non-cryptographic content hash, fed incrementally. */
typedef struct sx_eval_hasher {
    uint64_t a, b, len;
    uint8_t buf[8];
    size_t nbuf;
} sx_eval_hasher;

void sx_eval_hash_init(sx_eval_hasher *h);
void sx_eval_hash_update(sx_eval_hasher *h, const void *data, size_t n);
void sx_eval_hash_final(sx_eval_hasher *h, char hex[SX_EVAL_HASH_HEX]);
/* Width, height and the RGB rows (stride padding excluded). */
void sx_eval_hash_image(const specx_image *img, char hex[SX_EVAL_HASH_HEX]);
void sx_eval_hash_bytes(const void *data, size_t n, char hex[SX_EVAL_HASH_HEX]);

/* SPECX_ENOTFOUND on a miss (or an unreadable / foreign entry). */
specx_status sx_eval_cache_load_dets(const char *dir, const char *key, specx_detections *out,
                                     double *ms, specx_err *err);
specx_status sx_eval_cache_store_dets(const char *dir, const char *key, const specx_detections *d,
                                      double ms, specx_err *err);

typedef struct sx_eval_jpeg_info {
    size_t bytes;
    double encode_ms;
    char hash[SX_EVAL_HASH_HEX];
} sx_eval_jpeg_info;

specx_status sx_eval_cache_load_jpeg(const char *dir, const char *key, sx_eval_jpeg_info *out,
                                     specx_err *err);
specx_status sx_eval_cache_store_jpeg(const char *dir, const char *key,
                                      const sx_eval_jpeg_info *info, specx_err *err);

#endif
