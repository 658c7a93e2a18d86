/* specx/netem.h — an emulated network link in user space: a TCP proxy that
 * delays, rate-limits and interrupts the bytes passing through it, and the
 * same link model run on a virtual clock.
 *
 * A *profile* says, per direction ("up" = client→server, "down" =
 * server→client), how long bytes take (a time-correlated one-way delay
 * process: a marginal distribution and a correlation time τ), how fast they
 * may go (a capacity) and when nothing passes (outages); and for the whole
 * link, the reference traffic and the request round-trip targets it was
 * calibrated against. Profiles are built in (specx_netem_builtin_names) or
 * parsed from the key=value text format of docs/netem.md.
 *
 * A *link* is a running proxy: it listens on a TCP port and forwards each
 * accepted connection to a target host:port, applying the profile to each
 * direction. Byte order on a connection is never changed. One thread runs
 * all connections (epoll, timeouts computed from the next release time).
 *
 * A *simulator* runs the same link code on a virtual clock, without
 * sockets: given when a message of so many bytes is sent in a direction, it
 * says when its last byte arrives. specx_netem_simulate_traffic drives it
 * with periodic request/reply traffic; `specx netem --describe` prints that.
 *
 * Determinism: the delay process of a direction is a function of the seed
 * and of time since the link started only (not of the traffic), so one seed
 * is one realization of the link; the simulator and a proxy started with
 * the same seed see the same delay process.
 *
 * Thread-safety: profiles are immutable after creation and may be shared
 * between threads; specx_netem_stats_get may be called from any thread while
 * a link runs; start/stop/destroy are thread-compatible (one owner); a
 * simulator is thread-compatible. Ownership: every object returned through
 * an out-pointer is owned by the caller and released with its _free or
 * _destroy function. If a call returns an error, its out-pointer is left
 * NULL (or, for plain results, untouched) and nothing else changed. */
#ifndef SPECX_NETEM_H
#define SPECX_NETEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "specx/hist.h"
#include "specx/status.h"
#include "specx/time.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum specx_netem_dir {
    SPECX_NETEM_UP = 0,   /* client → server (e.g. frames to the cloud) */
    SPECX_NETEM_DOWN = 1, /* server → client (e.g. detections back) */
} specx_netem_dir;

/* Periodic request/reply traffic on one connection: a request of
 * request_bytes every 1/hz seconds for `seconds`, the first at virtual time
 * `start` (seconds since the link started); the far end replies with
 * reply_bytes as soon as a request has arrived. */
typedef struct specx_netem_traffic {
    size_t request_bytes;
    size_t reply_bytes;
    double hz;
    double seconds;
    double start;
} specx_netem_traffic;

typedef struct specx_netem_profile specx_netem_profile;

/* NULL-terminated list of built-in profile names ("5g-sf", "lan", "lte", ...).
 * Static storage. Thread-safe. */
const char *const *specx_netem_builtin_names(void);

/* Parses profile text (format in docs/netem.md). `origin` names the text in
 * error messages (a file name, or NULL). Relative trace file paths are
 * resolved against `base_dir` (NULL = current directory). Not blocking
 * except for reading trace files. */
specx_status specx_netem_profile_parse(const char *text, const char *origin, const char *base_dir,
                                       specx_netem_profile **out, specx_err *err);

/* A built-in profile by name, else the profile file at that path. */
specx_status specx_netem_profile_load(const char *name_or_path, specx_netem_profile **out,
                                      specx_err *err);

void specx_netem_profile_free(specx_netem_profile *p); /* NULL-safe */

/* The profile's name ("" if the text gave none). */
const char *specx_netem_profile_name(const specx_netem_profile *p);

/* The traffic the profile is calibrated for (its `reference_traffic`), or
 * NULL if it names none. Points into the profile. */
const specx_netem_traffic *specx_netem_profile_reference(const specx_netem_profile *p);

/* The text a built-in profile is defined by (with its sources as comments),
 * or NULL for a name that is not built in. Static storage. */
const char *specx_netem_builtin_text(const char *name);

/* ---- the link model on a virtual clock --------------------------------- */

typedef struct specx_netem_sim specx_netem_sim;

/* A simulated link with `seed`: one connection, both directions, starting at
 * virtual time 0. The profile is copied. */
specx_status specx_netem_sim_create(const specx_netem_profile *p, uint64_t seed,
                                    specx_netem_sim **out, specx_err *err);

/* A message of `bytes` (> 0) is handed to direction `dir` at virtual time
 * `sent` (ns since the link started); *arrival receives when its last byte
 * reaches the far side. Messages in one direction are sent in time order
 * (`sent` nondecreasing, else SPECX_EINVAL) and arrive in that order;
 * they share the direction's capacity. Deterministic for a seed and a
 * sequence of sends; the delay process itself depends on time only. */
specx_status specx_netem_sim_send(specx_netem_sim *sim, specx_netem_dir dir, specx_time_t sent,
                                  size_t bytes, specx_time_t *arrival, specx_err *err);

void specx_netem_sim_destroy(specx_netem_sim *sim); /* NULL-safe */

/* What requests experienced under some traffic: round trip = reply's last
 * byte arrived − request sent. Quantiles in ms. */
typedef struct specx_netem_rtt_summary {
    uint64_t requests;
    double p1_ms, p10_ms, p50_ms, p90_ms, p99_ms, p999_ms;
    double mean_ms, max_ms;
    double lag1_autocorr; /* correlation of consecutive requests' round trips */
} specx_netem_rtt_summary;

/* Runs `traffic` through a fresh simulator with `seed`. CPU-bound: a few
 * seconds per 100 h of 30 Hz traffic (Release build). */
specx_status specx_netem_simulate_traffic(const specx_netem_profile *p, uint64_t seed,
                                          const specx_netem_traffic *traffic,
                                          specx_netem_rtt_summary *out, specx_err *err);

/* Prints the profile's settings and what requests experience under
 * `traffic` (NULL: the profile's reference traffic) for traffic->seconds of
 * virtual time (0: 100 hours, a few seconds of CPU), next to the profile's
 * targets when the traffic is the reference. json: one line,
 *   {"profile":..,"traffic":{"bytes":..,"hz":..},"rtt_ms":{"p1":..,"p10":..,
 *    "p50":..,"p90":..,"p99":..},"lag1_autocorr":..} */
specx_status specx_netem_profile_describe(const specx_netem_profile *p, uint64_t seed,
                                          const specx_netem_traffic *traffic, bool json, FILE *out,
                                          specx_err *err);

/* ---- the proxy ------------------------------------------------------------ */

typedef struct specx_netem_config {
    const char *listen_host;            /* NULL = "127.0.0.1" */
    int listen_port;                    /* 0 = any free port (see specx_netem_port) */
    const char *target;                 /* "host:port" the proxy connects to */
    const specx_netem_profile *profile; /* copied at start; NULL = no impairment */
    uint64_t seed;
} specx_netem_config;

typedef struct specx_netem_dir_stats {
    uint64_t bytes;      /* delivered to the far side */
    uint64_t chunks;     /* reads forwarded */
    specx_hist delay_ns; /* per chunk (not per request): release − read, all causes */
} specx_netem_dir_stats;

typedef struct specx_netem_stats {
    uint64_t connections;         /* accepted since start */
    uint64_t active;              /* open now */
    uint64_t connect_failures;    /* target refused / unreachable */
    uint64_t connection_errors;   /* reset or other socket error mid-stream */
    int64_t outage_ns[2];         /* outage time elapsed so far, per direction */
    specx_netem_dir_stats dir[2]; /* indexed by specx_netem_dir */
    /* Request round trips, on connections that speak HTTP/2 (gRPC): from the
     * proxy reading a stream's first byte from the client to releasing the
     * end of that stream's reply to the client. Empty for other traffic. */
    uint64_t http2_connections;
    specx_hist request_rtt_ns;
} specx_netem_stats;

typedef struct specx_netem specx_netem;

/* Binds, listens and starts the proxy thread. Returns once the port is open
 * (connections made after it returns are served). The link's clock (the
 * time origin of its delay process and outages) starts here. */
specx_status specx_netem_start(const specx_netem_config *cfg, specx_netem **out, specx_err *err);

/* The port actually listened on. Thread-safe. */
int specx_netem_port(const specx_netem *link);

/* A consistent snapshot. Thread-safe, non-blocking apart from a short lock. */
void specx_netem_stats_get(specx_netem *link, specx_netem_stats *out);

/* Prints the statistics as a short human-readable table. */
void specx_netem_stats_print(const specx_netem_stats *st, FILE *out);

/* Stops the proxy: closes the listening socket and every connection, joins
 * the thread. Blocks until done; idempotent. Stats stay readable. */
void specx_netem_stop(specx_netem *link);

/* Stops (if needed) and frees. NULL-safe. */
void specx_netem_destroy(specx_netem *link);

#ifdef __cplusplus
}
#endif
#endif
