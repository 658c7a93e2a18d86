/* cache.c — the replay's on-disk cache of model answers and JPEG encodings,
 * and its content hash (eval/cache.h). */
#include "eval/cache.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CACHE_VERSION "specx-replay-cache-1"

/* ---- hash -------------------------------------------------------------------- */

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* splitmix64's finalizer: every input bit reaches every output bit */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void absorb(sx_eval_hasher *h, uint64_t w)
{
    h->a = rotl((h->a ^ w) * UINT64_C(0x9e3779b97f4a7c15), 31);
    h->b = rotl((h->b ^ rotl(w, 17)) * UINT64_C(0xc2b2ae3d27d4eb4f), 29) + h->a;
}

void sx_eval_hash_init(sx_eval_hasher *h)
{
    *h = (sx_eval_hasher){.a = UINT64_C(0x243f6a8885a308d3), .b = UINT64_C(0x13198a2e03707344)};
}

void sx_eval_hash_update(sx_eval_hasher *h, const void *data, size_t n)
{
    const uint8_t *p = data;
    h->len += n;
    while (n > 0) {
        h->buf[h->nbuf++] = *p++;
        n--;
        if (h->nbuf == 8) {
            uint64_t w;
            memcpy(&w, h->buf, 8);
            absorb(h, w);
            h->nbuf = 0;
        }
        /* whole words straight from the input */
        while (h->nbuf == 0 && n >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            absorb(h, w);
            p += 8;
            n -= 8;
        }
    }
}

void sx_eval_hash_final(sx_eval_hasher *h, char hex[SX_EVAL_HASH_HEX])
{
    uint64_t w = 0;
    memcpy(&w, h->buf, h->nbuf);
    absorb(h, w ^ ((uint64_t)h->nbuf << 56));
    uint64_t x = mix(h->a ^ mix(h->len)), y = mix(h->b + x);
    snprintf(hex, SX_EVAL_HASH_HEX, "%016llx%016llx", (unsigned long long)x, (unsigned long long)y);
}

void sx_eval_hash_image(const specx_image *img, char hex[SX_EVAL_HASH_HEX])
{
    sx_eval_hasher h;
    sx_eval_hash_init(&h);
    int32_t wh[2] = {img->width, img->height};
    sx_eval_hash_update(&h, wh, sizeof wh);
    for (int y = 0; y < img->height; y++) {
        sx_eval_hash_update(&h, img->data + (size_t)y * (size_t)img->stride,
                            (size_t)img->width * 3);
    }
    sx_eval_hash_final(&h, hex);
}

void sx_eval_hash_bytes(const void *data, size_t n, char hex[SX_EVAL_HASH_HEX])
{
    sx_eval_hasher h;
    sx_eval_hash_init(&h);
    sx_eval_hash_update(&h, data, n);
    sx_eval_hash_final(&h, hex);
}

/* ---- files ------------------------------------------------------------------- */

static void entry_path(const char *dir, const char *key, char *out, size_t n)
{
    char hex[SX_EVAL_HASH_HEX];
    sx_eval_hash_bytes(key, strlen(key), hex);
    snprintf(out, n, "%s/%s.json", dir, hex);
}

/* The entry for key, parsed; NULL on a miss. */
static cJSON *load_entry(const char *dir, const char *key)
{
    char path[4200];
    entry_path(dir, key, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *t = realloc(text, cap);
            if (!t) {
                break;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) {
            break;
        }
    }
    fclose(f);
    if (!text) {
        return NULL;
    }
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(root, "key");
    if (!cJSON_IsString(v) || strcmp(v->valuestring, CACHE_VERSION) != 0 || !cJSON_IsString(k) ||
        strcmp(k->valuestring, key) != 0) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static specx_status store_entry(const char *dir, const char *key, cJSON *root, specx_err *err)
{
    cJSON_AddStringToObject(root, "version", CACHE_VERSION);
    cJSON_AddStringToObject(root, "key", key);
    char *text = cJSON_PrintUnformatted(root);
    if (!text) {
        return specx_err_set(err, SPECX_ENOMEM, "replay cache: out of memory");
    }
    char path[4200], tmp[4300];
    entry_path(dir, key, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    specx_status st = SPECX_OK;
    if (!f) {
        st = specx_err_set(err, SPECX_EIO, "replay cache: cannot write '%s': %s", tmp,
                           strerror(errno));
    } else {
        bool ok = fputs(text, f) >= 0;
        ok = fclose(f) == 0 && ok;
        if (!ok || rename(tmp, path) != 0) {
            st = specx_err_set(err, SPECX_EIO, "replay cache: cannot write '%s': %s", path,
                               strerror(errno));
            unlink(tmp);
        }
    }
    cJSON_free(text);
    return st;
}

static double num(const cJSON *o, const char *name, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

specx_status sx_eval_cache_load_dets(const char *dir, const char *key, specx_detections *out,
                                     double *ms, specx_err *err)
{
    cJSON *root = load_entry(dir, key);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "dets");
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(root);
        return specx_err_set(err, SPECX_ENOTFOUND, "replay cache: no entry");
    }
    specx_detections_reset(out);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *f[7];
        for (int i = 0; i < 7; i++) {
            f[i] = cJSON_GetArrayItem(it, i);
        }
        if (cJSON_GetArraySize(it) != 7 || !cJSON_IsString(f[6])) {
            cJSON_Delete(root);
            return specx_err_set(err, SPECX_ENOTFOUND, "replay cache: malformed entry");
        }
        specx_detection d = {.class_id = (int)f[0]->valuedouble,
                             .score = (float)f[1]->valuedouble,
                             .xmin = (float)f[2]->valuedouble,
                             .ymin = (float)f[3]->valuedouble,
                             .xmax = (float)f[4]->valuedouble,
                             .ymax = (float)f[5]->valuedouble};
        snprintf(d.label, sizeof d.label, "%s", f[6]->valuestring);
        if (specx_detections_push(out, &d) != SPECX_OK) {
            cJSON_Delete(root);
            return specx_err_set(err, SPECX_ENOMEM, "replay cache: out of memory");
        }
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    snprintf(out->model, sizeof out->model, "%s", cJSON_IsString(model) ? model->valuestring : "");
    out->image_width = (int)num(root, "w", 0);
    out->image_height = (int)num(root, "h", 0);
    out->infer_ms = num(root, "ms", 0);
    *ms = out->infer_ms;
    cJSON_Delete(root);
    return SPECX_OK;
}

specx_status sx_eval_cache_store_dets(const char *dir, const char *key, const specx_detections *d,
                                      double ms, specx_err *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "ms", ms);
    cJSON_AddStringToObject(root, "model", d->model);
    cJSON_AddNumberToObject(root, "w", d->image_width);
    cJSON_AddNumberToObject(root, "h", d->image_height);
    cJSON *arr = cJSON_AddArrayToObject(root, "dets");
    for (size_t i = 0; i < d->count; i++) {
        const specx_detection *x = &d->items[i];
        cJSON *o = cJSON_CreateArray();
        double v[6] = {x->class_id, x->score, x->xmin, x->ymin, x->xmax, x->ymax};
        for (int k = 0; k < 6; k++) {
            cJSON_AddItemToArray(o, cJSON_CreateNumber(v[k]));
        }
        cJSON_AddItemToArray(o, cJSON_CreateString(x->label));
        cJSON_AddItemToArray(arr, o);
    }
    specx_status st = store_entry(dir, key, root, err);
    cJSON_Delete(root);
    return st;
}

specx_status sx_eval_cache_load_jpeg(const char *dir, const char *key, sx_eval_jpeg_info *out,
                                     specx_err *err)
{
    cJSON *root = load_entry(dir, key);
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(root, "jpeg_hash");
    double bytes = num(root, "bytes", -1);
    if (!cJSON_IsString(h) || strlen(h->valuestring) != SX_EVAL_HASH_HEX - 1 || bytes <= 0) {
        cJSON_Delete(root);
        return specx_err_set(err, SPECX_ENOTFOUND, "replay cache: no entry");
    }
    out->bytes = (size_t)bytes;
    out->encode_ms = num(root, "encode_ms", 0);
    snprintf(out->hash, sizeof out->hash, "%s", h->valuestring);
    cJSON_Delete(root);
    return SPECX_OK;
}

specx_status sx_eval_cache_store_jpeg(const char *dir, const char *key,
                                      const sx_eval_jpeg_info *info, specx_err *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "bytes", (double)info->bytes);
    cJSON_AddNumberToObject(root, "encode_ms", info->encode_ms);
    cJSON_AddStringToObject(root, "jpeg_hash", info->hash);
    specx_status st = store_entry(dir, key, root, err);
    cJSON_Delete(root);
    return st;
}
