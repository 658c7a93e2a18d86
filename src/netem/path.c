/* path.c — one direction of an emulated link: the correlated delay process,
 * capacity, outages and in-order release (model in netem/path.h).
 *
 * Design notes: the latent process is stepped lazily, one grid point at a
 * time, as send times advance, so its realization depends on the seed and on
 * time only. Only two grid values are kept (the ones around the last query):
 * queries are nondecreasing because transmission ends (e) are. */
#include "netem/path.h"

#include <math.h>

void sx_netem_path_init(sx_netem_path *p, const sx_netem_dir_cfg *cfg, uint64_t seed,
                        specx_netem_dir dir, specx_time_t origin)
{
    *p = (sx_netem_path){.cfg = cfg, .origin = origin, .free = origin};
    sx_netem_rng_seed(&p->rng, seed, SX_NETEM_STREAM_DELAY(dir));
    p->fixed = sx_netem_dist_is_fixed(&cfg->delay) != 0;
    if (cfg->tau_ms > 0) {
        /* Knots τ apart: ρ = e^-1 between neighbours. */
        p->step_ns = (int64_t)llround(cfg->tau_ms * 1e6);
        if (p->step_ns < 1000) {
            p->step_ns = 1000;
        }
        p->rho = exp(-1.0);
        p->innov = sqrt(1.0 - p->rho * p->rho);
        if (!p->fixed) {
            p->x0 = sx_netem_rng_normal(&p->rng);
            p->x1 = p->rho * p->x0 + p->innov * sx_netem_rng_normal(&p->rng);
        }
    }
    sx_netem_outage_init(&p->outage, &cfg->outage, origin, seed);
}

void sx_netem_path_clear(sx_netem_path *p)
{
    sx_netem_outage_clear(&p->outage);
}

double sx_netem_path_latent(sx_netem_path *p, specx_time_t t)
{
    if (p->step_ns == 0) {
        return sx_netem_rng_normal(&p->rng);
    }
    int64_t rel = t > p->origin ? t - p->origin : 0;
    int64_t k = rel / p->step_ns;
    if (k < p->k) {
        return p->x0; /* not in normal use: queries are nondecreasing */
    }
    if (k - p->k > SX_NETEM_MAX_CATCHUP_STEPS) {
        p->k = k;
        p->x0 = sx_netem_rng_normal(&p->rng);
        p->x1 = p->rho * p->x0 + p->innov * sx_netem_rng_normal(&p->rng);
    }
    while (p->k < k) {
        p->x0 = p->x1;
        p->x1 = p->rho * p->x1 + p->innov * sx_netem_rng_normal(&p->rng);
        p->k++;
    }
    /* Linear interpolation has variance (1−w)² + w² + 2w(1−w)ρ < 1 between
     * grid points; dividing by its root keeps X(t) exactly N(0, 1). */
    double w = (double)(rel - k * p->step_ns) / (double)p->step_ns;
    double var = (1 - w) * (1 - w) + w * w + 2 * w * (1 - w) * p->rho;
    return ((1 - w) * p->x0 + w * p->x1) / sqrt(var);
}

specx_time_t sx_netem_path_send(sx_netem_path *p, specx_time_t arrival, size_t bytes,
                                specx_time_t *floor)
{
    const sx_netem_dir_cfg *cfg = p->cfg;
    specx_time_t s = arrival > p->free ? arrival : p->free;
    s = sx_netem_outage_adjust(&p->outage, s);
    int64_t ser = cfg->rate_bps > 0 ? (int64_t)llround((double)bytes * 8e9 / cfg->rate_bps) : 0;
    specx_time_t e = specx_time_add(s, ser);
    p->free = e;
    double z = p->fixed ? 0.0 : sx_netem_path_latent(p, e);
    double delay_ms = sx_netem_dist_at(&cfg->delay, z);
    specx_time_t r = specx_time_add(e, (int64_t)llround(delay_ms * 1e6));
    if (r < *floor) {
        r = *floor;
    }
    r = sx_netem_outage_adjust(&p->outage, r);
    *floor = r;
    return r;
}

size_t sx_netem_path_chunk_max(const sx_netem_path *p)
{
    return p->cfg->rate_bps > 0 ? SX_NETEM_CHUNK_MAX_RATED : SX_NETEM_CHUNK_MAX;
}
