/* fixture.c — the three-executor operator fixture shared by operator tests. */
#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above */
#include <cmocka.h>

static void add(fx *f, fake_exec *x, const char *name, int prio, int max, bool local, int *idx)
{
    specx_executor_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    c.priority = prio;
    c.max_in_flight = max;
    c.exec = fake_executor(x);
    size_t i = 0;
    specx_err err = {{0}};
    specx_status st = local ? specx_operator_add_local(f->op, &c, &i, &err)
                            : specx_operator_add_remote(f->op, &c, &i, &err);
    assert_int_equal(st, SPECX_OK);
    *idx = (int)i;
}

static void rel_fn(void *user, void *input, void *msg_user)
{
    fx *f = user;
    if (f->rel_hook != NULL) {
        f->rel_hook(f->rel_hook_user, input);
    }
    size_t outs = hcollect_count(&f->out);
    pthread_mutex_lock(&f->rel->mu);
    size_t rf = 0;
    for (size_t i = 0; i < f->rel->n_rf && i < 2 * FX_REL_MAX; i++) {
        rf += f->rel->rf[i] == input;
    }
    if (f->rel->n < FX_REL_MAX) {
        f->rel->v[f->rel->n] = (fx_rel_rec){
            .input = input, .user = msg_user, .outputs_before = outs, .req_frees_before = rf};
    }
    f->rel->n++;
    pthread_mutex_unlock(&f->rel->mu);
}

static void req_free_fn(void *request, void *user)
{
    fx *f = user;
    pthread_mutex_lock(&f->rel->mu);
    if (f->rel->n_rf < 2 * FX_REL_MAX) {
        f->rel->rf[f->rel->n_rf] = request;
    }
    f->rel->n_rf++;
    pthread_mutex_unlock(&f->rel->mu);
}

size_t fx_released(fx *f)
{
    pthread_mutex_lock(&f->rel->mu);
    size_t n = f->rel->n;
    pthread_mutex_unlock(&f->rel->mu);
    return n;
}

fx_rel_rec fx_release_get(fx *f, size_t i)
{
    pthread_mutex_lock(&f->rel->mu);
    assert_true(i < f->rel->n && i < FX_REL_MAX);
    fx_rel_rec r = f->rel->v[i];
    pthread_mutex_unlock(&f->rel->mu);
    return r;
}

size_t fx_release_count(fx *f, void *input)
{
    size_t c = 0;
    pthread_mutex_lock(&f->rel->mu);
    for (size_t i = 0; i < f->rel->n && i < FX_REL_MAX; i++) {
        c += f->rel->v[i].input == input;
    }
    pthread_mutex_unlock(&f->rel->mu);
    return c;
}

void fx_count_request_frees(fx *f)
{
    f->plan.request_free = req_free_fn;
    f->plan.request_free_user = f;
}

void fx_setup(fx *f, unsigned flags)
{
    memset(f, 0, sizeof *f);
    f->flags = flags;
    f->ia = f->ib = f->il = -1;
    hcollect_init(&f->out);
    if (!(flags & FX_THREADS)) {
        tclock_install(FX_T0);
    }
    for (int i = 0; i < H_MAX_EXEC; i++) {
        f->plan.e[i] = (hplan){.kind = SPECX_DEADLINE_RELATIVE, .deadline = SPECX_MS(100)};
    }
    specx_operator_config cfg = {
        .plan = hplan_fn,
        .plan_user = &f->plan,
        .output = hcollect_output,
        .output_user = &f->out,
        .accept_late_while_no_local = (flags & FX_ACCEPT_LATE) != 0,
        .delivery = ((flags & FX_THREADS) && !(flags & FX_INLINE_DELIVERY)) ? SPECX_DELIVER_THREAD
                                                                            : SPECX_DELIVER_INLINE,
    };
    if (flags & FX_RELEASE) {
        f->rel = calloc(1, sizeof *f->rel);
        assert_non_null(f->rel);
        pthread_mutex_init(&f->rel->mu, NULL);
        cfg.input_release = rel_fn;
        cfg.release_user = f;
    }
    specx_err err = {{0}};
    /* without real threads: virtual time, deadlines fired by fx_at */
    if (flags & FX_THREADS) {
        assert_int_equal(specx_operator_create(&cfg, &f->op, &err), SPECX_OK);
    } else {
        assert_int_equal(sx_operator_create_manual(&cfg, &f->op, &err), SPECX_OK);
    }
    if (!(flags & FX_NO_A)) {
        f->a = fake_create(1);
        add(f, f->a, "cloud-a", 10, (flags & FX_A_MAX1) ? 1 : 0, false, &f->ia);
    }
    if (!(flags & FX_NO_B)) {
        f->b = fake_create(2);
        add(f, f->b, "cloud-b", 5, 0, false, &f->ib);
    }
    if (!(flags & FX_NO_LOCAL)) {
        f->l = fake_create(3);
        add(f, f->l, "local", 100, 0, true, &f->il);
    }
}

void fx_teardown(fx *f)
{
    specx_operator_destroy(f->op);
    fake_exec *xs[3] = {f->a, f->b, f->l};
    for (int i = 0; i < 3; i++) {
        if (xs[i] != NULL) {
            assert_true(fake_destroyed(xs[i]));
            assert_int_equal(fake_results_made(xs[i]), fake_results_freed(xs[i]));
            fake_free(xs[i]);
        }
    }
    hcollect_fini(&f->out);
    if (f->rel != NULL) {
        pthread_mutex_destroy(&f->rel->mu);
        free(f->rel);
    }
    if (!(f->flags & FX_THREADS)) {
        tclock_uninstall();
    }
}

void fx_at(fx *f, int64_t ms)
{
    tclock_set(FX_T0 + SPECX_MS(ms));
    sx_operator_advance(f->op, FX_T0 + SPECX_MS(ms));
}

specx_operator_stats *fx_snapshot(fx *f)
{
    specx_operator_stats *s = NULL;
    assert_int_equal(specx_operator_stats_snapshot(f->op, &s), SPECX_OK);
    return s;
}

specx_exec_stats fx_stats(fx *f, int index)
{
    specx_operator_stats *s = fx_snapshot(f);
    assert_true(index >= 0 && (size_t)index < s->n_exec);
    specx_exec_stats e = s->exec[index];
    specx_operator_stats_free(s);
    return e;
}
