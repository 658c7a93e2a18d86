/* test_stats.c — statistics export: snapshot contents, JSON (string and
 * cJSON object) and the readable table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cjson/cJSON.h>

#include <cmocka.h>

#include "fixture.h"

/* Three messages: cloud-a wins at 20 ms, a local fallback at 150 ms, and an
 * all-failed "no result". */
static void scenario(fx *f)
{
    for (int i = 0; i < 3; i++) {
        assert_int_equal(specx_operator_submit(f->op, NULL, NULL, NULL), SPECX_OK);
    }
    fx_at(f, 20);
    assert_true(fake_complete(f->a, 0, SPECX_OK));
    assert_true(fake_complete(f->a, 2, SPECX_EIO));
    assert_true(fake_complete(f->b, 2, SPECX_EIO));
    assert_true(fake_complete(f->l, 2, SPECX_EIO));
    fx_at(f, 100);
    fx_at(f, 150);
    assert_true(fake_complete(f->l, 1, SPECX_OK));
    assert_int_equal(hcollect_count(&f->out), 3);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_non_null(v);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void test_stats_json(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    scenario(&f);
    specx_operator_stats *s = fx_snapshot(&f);
    assert_int_equal(s->outputs, 3);
    assert_int_equal(s->remote_wins, 1);
    assert_int_equal(s->local_wins, 1);
    assert_int_equal(s->no_results, 1);
    assert_int_equal(s->fallbacks, 1);
    char *txt = specx_stats_to_json(s);
    assert_non_null(txt);
    cJSON *root = cJSON_Parse(txt);
    assert_non_null(root);
    assert_true(num(root, "outputs") == 3);
    assert_true(num(root, "no_results") == 1);
    assert_true(num(root, "fallback_ratio") > 0.33 && num(root, "fallback_ratio") < 0.34);
    const cJSON *lat = cJSON_GetObjectItemCaseSensitive(root, "latency");
    assert_true(num(lat, "count") == 3);
    assert_true(num(lat, "max_ms") == 150.0);
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(root, "executors");
    assert_true(cJSON_IsArray(ex));
    assert_int_equal(cJSON_GetArraySize(ex), 3);
    const cJSON *a = cJSON_GetArrayItem(ex, f.ia);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "name")->valuestring, "cloud-a");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(a, "kind")->valuestring, "remote");
    assert_true(num(a, "priority") == 10);
    assert_true(num(a, "won") == 1);
    assert_true(num(a, "failed") == 1);
    assert_true(num(a, "cancelled") == 1);
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(a, "latency");
    assert_true(num(al, "p50_ms") == 20.0);
    const cJSON *l = cJSON_GetArrayItem(ex, f.il);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(l, "kind")->valuestring, "local");
    cJSON_Delete(root);
    free(txt);
    /* the cJSON form embeds in a larger document */
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "operator", specx_stats_to_cjson(s));
    assert_non_null(cJSON_GetObjectItemCaseSensitive(doc, "operator"));
    cJSON_Delete(doc);
    specx_operator_stats_free(s);
    fx_teardown(&f);
}

static void test_stats_table(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    scenario(&f);
    specx_operator_stats *s = fx_snapshot(&f);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    specx_stats_print(s, m);
    fclose(m);
    assert_non_null(strstr(buf, "higher = more preferred"));
    assert_non_null(strstr(buf, "cloud-a"));
    assert_non_null(strstr(buf, "remote"));
    assert_non_null(strstr(buf, "local"));
    assert_non_null(strstr(buf, "p99 ms"));
    assert_non_null(strstr(buf, "no result 1"));
    assert_non_null(strstr(buf, "fallback after deadline 1 (33.3%)"));
    free(buf);
    specx_operator_stats_free(s);
    fx_teardown(&f);
}

/* The diff of two snapshots counts what happened in between. */
static void test_stats_diff(void **state)
{
    (void)state;
    fx f;
    fx_setup(&f, 0);
    scenario(&f);
    specx_operator_stats *before = fx_snapshot(&f);
    fake_set_default(f.b, (fake_action){.mode = FAKE_INLINE, .status = SPECX_OK});
    assert_int_equal(specx_operator_submit(f.op, NULL, NULL, NULL), SPECX_OK); /* A pending */
    fx_at(&f, 170);
    assert_true(fake_complete(f.a, 3, SPECX_EIO)); /* B (held) wins */
    specx_operator_stats *now = fx_snapshot(&f), *d = NULL;
    assert_int_equal(specx_stats_diff(now, before, &d), SPECX_OK);
    assert_int_equal(d->submitted, 1);
    assert_int_equal(d->outputs, 1);
    assert_int_equal(d->remote_wins, 1);
    assert_int_equal(d->no_results, 0);
    assert_int_equal(d->fallbacks, 0);
    assert_int_equal(d->latency.count, 1);
    int64_t mx = specx_hist_quantile(&d->latency, 1.0); /* bucket precision */
    assert_true(mx >= SPECX_MS(20) && mx <= SPECX_MS(20) + SPECX_MS(20) / 32);
    assert_int_equal(d->exec[f.ia].failed, 1);
    assert_int_equal(d->exec[f.ia].won, 0);
    assert_int_equal(d->exec[f.ib].won, 1);
    assert_int_equal(d->exec[f.il].cancelled, 1);
    assert_int_equal(d->exec[f.ia].latency.count, 0);
    assert_int_equal(now->outputs, 4); /* totals unchanged */
    specx_operator_stats_free(d);
    specx_operator_stats_free(now);
    specx_operator_stats_free(before);
    fx_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_stats_table),
        cmocka_unit_test(test_stats_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
