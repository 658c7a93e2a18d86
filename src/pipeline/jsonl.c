/* jsonl.c — one output as one JSON line (schema: docs/run.md), and the JSON
 * lines file a run writes them to. */
#include "pipeline/jsonl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specx/pipeline.h"

static double round3(double x)
{
    return round(x * 1000.0) / 1000.0;
}

char *specx_pipeline_output_json(const specx_pipeline_output *o)
{
    cJSON *j = cJSON_CreateObject();
    if (j == NULL) {
        return NULL;
    }
    cJSON_AddNumberToObject(j, "frame", (double)o->index);
    cJSON_AddNumberToObject(j, "pts", round(o->pts * 1e6) / 1e6);
    if (o->winner >= 0) {
        cJSON_AddStringToObject(j, "winner", o->winner_name);
        cJSON_AddNumberToObject(j, "priority", o->priority);
        cJSON_AddBoolToObject(j, "local", o->is_local);
    } else {
        cJSON_AddNullToObject(j, "winner");
    }
    cJSON_AddBoolToObject(j, "fallback", o->fallback);
    if (o->early) {
        cJSON_AddBoolToObject(j, "early", true); /* adaptive deadline, operator rule 9 */
    }
    if (o->late_accepted) {
        cJSON_AddBoolToObject(j, "late_accepted", true);
    }
    cJSON_AddStringToObject(j, "status", specx_status_name(o->status));
    if (o->winner < 0 && o->reason != NULL) {
        cJSON_AddStringToObject(j, "reason", o->reason);
    }
    cJSON_AddNumberToObject(j, "latency_ms", round3(o->latency_ms));
    if (o->deadline_ms >= 0) {
        cJSON_AddNumberToObject(j, "deadline_ms", round3(o->deadline_ms));
    } else {
        cJSON_AddNullToObject(j, "deadline_ms");
    }
    cJSON_AddNumberToObject(j, "hol_wait_ms", round3(o->hol_wait_ms));
    cJSON *ex = cJSON_AddObjectToObject(j, "executors");
    for (size_t i = 0; ex != NULL && i < o->n_exec; i++) {
        const specx_pipeline_exec *e = &o->exec[i];
        cJSON *x = cJSON_AddObjectToObject(ex, e->name);
        if (x == NULL) {
            continue;
        }
        cJSON_AddStringToObject(x, "fate", specx_fate_name(e->fate));
        if (e->latency_ms >= 0) {
            cJSON_AddNumberToObject(x, "latency_ms", round3(e->latency_ms));
        } else {
            cJSON_AddNullToObject(x, "latency_ms");
        }
        cJSON_AddNumberToObject(x, "priority", e->priority);
        if (e->status != SPECX_OK) {
            cJSON_AddStringToObject(x, "status", specx_status_name(e->status));
        }
        if (e->message != NULL) {
            cJSON_AddStringToObject(x, "error", e->message);
        }
    }
    cJSON *dets = cJSON_AddArrayToObject(j, "detections");
    if (dets != NULL && o->detections != NULL) {
        if (o->detections->model[0] != '\0') {
            cJSON_AddStringToObject(j, "model", o->detections->model);
        }
        for (size_t i = 0; i < o->detections->count; i++) {
            const specx_detection *d = &o->detections->items[i];
            cJSON *x = cJSON_CreateObject();
            if (x == NULL) {
                break;
            }
            cJSON_AddStringToObject(x, "label", d->label);
            cJSON_AddNumberToObject(x, "class_id", d->class_id);
            cJSON_AddNumberToObject(x, "score", round(d->score * 1e4) / 1e4);
            cJSON *box =
                cJSON_CreateFloatArray((const float[]){d->xmin, d->ymin, d->xmax, d->ymax}, 4);
            for (cJSON *b = box != NULL ? box->child : NULL; b != NULL; b = b->next) {
                cJSON_SetNumberValue(b, round(b->valuedouble * 10.0) / 10.0);
            }
            cJSON_AddItemToObject(x, "box", box);
            cJSON_AddItemToArray(dets, x);
        }
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

specx_status sx_pipeline_jsonl_open(sx_pipeline_jsonl *j, const char *path, specx_err *err)
{
    j->path = path;
    j->f = NULL;
    j->owned = false;
    j->error = 0;
    if (path == NULL) {
        return SPECX_OK;
    }
    if (strcmp(path, "-") == 0) {
        j->f = stdout;
        return SPECX_OK;
    }
    j->f = fopen(path, "w");
    if (j->f == NULL) {
        return specx_err_set(err, SPECX_EIO, "cannot write %s: %s", path, strerror(errno));
    }
    j->owned = true;
    return SPECX_OK;
}

void sx_pipeline_jsonl_write(sx_pipeline_jsonl *j, const specx_pipeline_output *o)
{
    if (j->f == NULL) {
        return;
    }
    char *line = specx_pipeline_output_json(o);
    if (line == NULL) {
        j->error = j->error != 0 ? j->error : ENOMEM;
    } else if ((fputs(line, j->f) == EOF || fputc('\n', j->f) == EOF) && j->error == 0) {
        j->error = errno != 0 ? errno : EIO;
    }
    free(line);
}

specx_status sx_pipeline_jsonl_close(sx_pipeline_jsonl *j, specx_err *err)
{
    if (j->f == NULL) {
        return SPECX_OK;
    }
    int e = j->error;
    if (fflush(j->f) != 0 && e == 0) {
        e = errno;
    }
    if (j->owned && fclose(j->f) != 0 && e == 0) {
        e = errno;
    }
    j->f = NULL;
    if (e != 0) {
        return specx_err_set(err, SPECX_EIO, "cannot write %s: %s",
                             strcmp(j->path, "-") == 0 ? "stdout" : j->path, strerror(e));
    }
    return SPECX_OK;
}
