/* dataset.c — labelled-image datasets: image files, their sizes from the
 * JPEG/PNG headers, and YOLO-format labels converted to pixel boxes. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "specx/eval.h"

/* ---- image sizes from headers ------------------------------------------- */

static specx_status jpeg_size(FILE *f, const char *path, int *w, int *h, specx_err *err)
{
    /* Walk the marker segments after SOI until a start-of-frame marker. */
    for (;;) {
        int c = fgetc(f);
        while (c != EOF && c != 0xFF) {
            c = fgetc(f); /* tolerate padding between segments */
        }
        while (c == 0xFF) {
            c = fgetc(f); /* fill bytes */
        }
        if (c == EOF) {
            break;
        }
        int marker = c;
        if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
            continue; /* no length field */
        }
        if (marker == 0xD9 || marker == 0xDA) {
            break; /* end of image / start of scan before any frame header */
        }
        uint8_t len_b[2];
        if (fread(len_b, 1, 2, f) != 2) {
            break;
        }
        int len = (len_b[0] << 8) | len_b[1];
        if (len < 2) {
            break;
        }
        bool sof =
            marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
        if (sof) {
            uint8_t b[5];
            if (len < 7 || fread(b, 1, 5, f) != 5) {
                break;
            }
            *h = (b[1] << 8) | b[2];
            *w = (b[3] << 8) | b[4];
            if (*w <= 0 || *h <= 0) {
                break;
            }
            return SPECX_OK;
        }
        if (fseek(f, len - 2, SEEK_CUR) != 0) {
            break;
        }
    }
    return specx_err_set(err, SPECX_EFORMAT, "%s: no JPEG frame header (SOF) found", path);
}

specx_status specx_eval_image_size(const char *path, int *width, int *height, specx_err *err)
{
    /* not blocking on a FIFO named like an image */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return specx_err_set(err, SPECX_ENOTFOUND, "cannot open image '%s': %s", path,
                             strerror(errno));
    }
    struct stat sb;
    FILE *f = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (f = fdopen(fd, "rb")) == NULL) {
        close(fd);
        return specx_err_set(err, SPECX_EFORMAT, "image '%s' is not a regular file", path);
    }
    uint8_t head[24];
    size_t n = fread(head, 1, sizeof head, f);
    specx_status st;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 24 && memcmp(head, png_sig, 8) == 0 && memcmp(head + 12, "IHDR", 4) == 0) {
        *width = (int)((uint32_t)head[16] << 24 | (uint32_t)head[17] << 16 |
                       (uint32_t)head[18] << 8 | head[19]);
        *height = (int)((uint32_t)head[20] << 24 | (uint32_t)head[21] << 16 |
                        (uint32_t)head[22] << 8 | head[23]);
        st = *width > 0 && *height > 0
                 ? SPECX_OK
                 : specx_err_set(err, SPECX_EFORMAT, "%s: bad PNG size", path);
    } else if (n >= 2 && head[0] == 0xFF && head[1] == 0xD8) {
        fseek(f, 2, SEEK_SET);
        st = jpeg_size(f, path, width, height, err);
    } else {
        st = specx_err_set(err, SPECX_EUNSUPPORTED, "%s: neither a JPEG nor a PNG file", path);
    }
    fclose(f);
    return st;
}

/* ---- loader ------------------------------------------------------------------ */

static bool has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) {
        return false;
    }
    static const char *exts[] = {".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        if (strcmp(dot, exts[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const specx_eval_image *)a)->name, ((const specx_eval_image *)b)->name);
}

static char *join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + (c ? strlen(c) : 0) + 3;
    char *s = malloc(n);
    if (s) {
        snprintf(s, n, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "");
    }
    return s;
}

/* Reads im's label file if there is one (*found says whether). */
static specx_status load_labels(specx_eval_image *im, const char *labels_dir, bool *found,
                                specx_err *err)
{
    const char *dot = strrchr(im->name, '.');
    size_t stem = dot ? (size_t)(dot - im->name) : strlen(im->name);
    size_t plen = strlen(labels_dir) + stem + 8;
    char *path = malloc(plen);
    if (!path) {
        return specx_err_set(err, SPECX_ENOMEM, "out of memory");
    }
    snprintf(path, plen, "%s/%.*s.txt", labels_dir, (int)stem, im->name);
    FILE *f = fopen(path, "r");
    if (!f) {
        free(path);
        return SPECX_OK; /* no label file: an image with no objects */
    }
    *found = true;
    char line[512];
    int ln = 0;
    size_t cap = 0;
    specx_status st = SPECX_OK;
    while (fgets(line, sizeof line, f)) {
        ln++;
        char *s = line;
        while (isspace((unsigned char)*s)) {
            s++;
        }
        if (*s == '\0' || *s == '#') {
            continue;
        }
        int cls;
        double cx, cy, w, h;
        char extra;
        int got = sscanf(s, "%d %lf %lf %lf %lf %c", &cls, &cx, &cy, &w, &h, &extra);
        if (got != 5 || cls < 0 || w < 0 || h < 0 || cx < -0.01 || cx > 1.01 || cy < -0.01 ||
            cy > 1.01 || w > 1.01 || h > 1.01) {
            st = specx_err_set(err, SPECX_EFORMAT,
                               "%s:%d: expected 'class cx cy w h' with values normalised to 0..1",
                               path, ln);
            break;
        }
        if (im->n_boxes == cap) {
            cap = cap ? cap * 2 : 8;
            specx_eval_box *nb = realloc(im->boxes, cap * sizeof *nb);
            if (!nb) {
                st = specx_err_set(err, SPECX_ENOMEM, "out of memory");
                break;
            }
            im->boxes = nb;
        }
        specx_eval_box *b = &im->boxes[im->n_boxes++];
        b->class_id = cls;
        b->crowd = 0;
        b->xmin = (float)((cx - w / 2) * im->width);
        b->xmax = (float)((cx + w / 2) * im->width);
        b->ymin = (float)((cy - h / 2) * im->height);
        b->ymax = (float)((cy + h / 2) * im->height);
    }
    fclose(f);
    free(path);
    return st;
}

/* Sizes and labels of every image. A labels directory that is missing, or
 * that holds no labelled object for any image, is an error: an evaluation
 * against no ground truth would report mAP 0 as if it had measured it. */
static specx_status load_all_labels(specx_eval_dataset *ds, const char *lab_dir,
                                    const char *labels_opt, specx_err *err)
{
    DIR *ld = opendir(lab_dir);
    if (!ld) {
        return specx_err_set(err, SPECX_ENOTFOUND,
                             "eval: cannot open label directory '%s' (%s): %s", lab_dir,
                             labels_opt ? "--labels" : "the default 'labels'", strerror(errno));
    }
    closedir(ld);
    size_t files = 0, boxes = 0;
    specx_status st = SPECX_OK;
    for (size_t i = 0; i < ds->count && st == SPECX_OK; i++) {
        specx_eval_image *im = &ds->images[i];
        bool found = false;
        st = specx_eval_image_size(im->path, &im->width, &im->height, err);
        if (st == SPECX_OK) {
            st = load_labels(im, lab_dir, &found, err);
        }
        files += found;
        boxes += im->n_boxes;
    }
    if (st == SPECX_OK && boxes == 0) {
        st = specx_err_set(err, SPECX_EFORMAT,
                           "eval: no labelled objects: %zu of the %zu images have a label file "
                           "in '%s' and all of those are empty (YOLO lines 'class cx cy w h')",
                           files, ds->count, lab_dir);
    }
    return st;
}

specx_status specx_eval_dataset_check_classes(const specx_eval_dataset *ds, int n_classes,
                                              const char *names_origin, specx_err *err)
{
    for (size_t i = 0; i < ds->count; i++) {
        const specx_eval_image *im = &ds->images[i];
        for (size_t k = 0; k < im->n_boxes; k++) {
            if (im->boxes[k].class_id >= n_classes) {
                return specx_err_set(err, SPECX_EFORMAT,
                                     "eval: the labels of %s have class %d, outside the %d "
                                     "classes of %s (0..%d)",
                                     im->name, im->boxes[k].class_id, n_classes,
                                     names_origin ? names_origin : "the names list", n_classes - 1);
            }
        }
    }
    return SPECX_OK;
}

void specx_eval_dataset_free(specx_eval_dataset *ds)
{
    if (!ds) {
        return;
    }
    for (size_t i = 0; i < ds->count; i++) {
        free(ds->images[i].name);
        free(ds->images[i].path);
        free(ds->images[i].boxes);
    }
    free(ds->images);
    free(ds);
}

specx_status specx_eval_dataset_load(const char *root, const char *images, const char *labels,
                                     specx_eval_dataset **out, specx_err *err)
{
    *out = NULL;
    if (!root) {
        return specx_err_set(err, SPECX_EINVAL, "eval: no dataset directory given");
    }
    char *img_dir = join(root, images ? images : "images", NULL);
    char *lab_dir = join(root, labels ? labels : "labels", NULL);
    specx_eval_dataset *ds = calloc(1, sizeof *ds);
    specx_status st = SPECX_OK;
    DIR *d = NULL;
    if (!img_dir || !lab_dir || !ds) {
        st = specx_err_set(err, SPECX_ENOMEM, "out of memory");
        goto done;
    }
    d = opendir(img_dir);
    if (!d) {
        st = specx_err_set(err, SPECX_ENOTFOUND, "eval: cannot open image directory '%s': %s",
                           img_dir, strerror(errno));
        goto done;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !has_image_ext(e->d_name)) {
            continue;
        }
        if (ds->count == cap) {
            cap = cap ? cap * 2 : 64;
            specx_eval_image *ni = realloc(ds->images, cap * sizeof *ni);
            if (!ni) {
                st = specx_err_set(err, SPECX_ENOMEM, "out of memory");
                goto done;
            }
            ds->images = ni;
        }
        specx_eval_image *im = &ds->images[ds->count];
        memset(im, 0, sizeof *im);
        im->name = strdup(e->d_name);
        im->path = join(img_dir, e->d_name, NULL);
        ds->count++;
        if (!im->name || !im->path) {
            st = specx_err_set(err, SPECX_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (ds->count == 0) {
        st =
            specx_err_set(err, SPECX_ENOTFOUND, "eval: no .jpg/.jpeg/.png images in '%s'", img_dir);
        goto done;
    }
    qsort(ds->images, ds->count, sizeof *ds->images, cmp_name);
    st = load_all_labels(ds, lab_dir, labels, err);
done:
    if (d) {
        closedir(d);
    }
    free(img_dir);
    free(lab_dir);
    if (st != SPECX_OK) {
        specx_eval_dataset_free(ds);
        return st;
    }
    *out = ds;
    return SPECX_OK;
}
