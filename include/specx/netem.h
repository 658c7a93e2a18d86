/* specx/netem.h — an emulated network link in user space: a TCP proxy that
 * delays, rate-limits and interrupts the bytes passing through it.
 *
 * A *profile* says, per direction ("up" = client→server, "down" =
 * server→client), how long bytes take (a one-way delay distribution), how
 * fast they may go (a bandwidth limit) and when nothing passes (outages).
 * Profiles are built in (specx_netem_builtin_names) or parsed from a small
 * key=value text format documented in docs/netem.md.
 *
 * A *link* is a running proxy: it listens on a TCP port and forwards each
 * accepted connection to a target host:port, applying the profile to each
 * direction. Byte order on a connection is never changed. One thread runs
 * all connections (epoll, timeouts computed from the next release time).
 *
 * Determinism: every random draw comes from a stream derived from the seed
 * and the connection's accept index (and the direction), so one seed gives
 * the same delays for the same traffic pattern.
 *
 * Thread-safety: profiles are immutable after creation and may be shared
 * between threads; specx_netem_stats_get may be called from any thread while a
 * link runs; start/stop/destroy are thread-compatible (one owner).
 * Ownership: every object returned through an out-pointer is owned by the
 * caller and released with its _free/_destroy function. If a call returns an
 * error, its out-pointer is left NULL. */
#ifndef SPECX_NETEM_H
#define SPECX_NETEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "specx/hist.h"
#include "specx/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum specx_netem_dir {
    SPECX_NETEM_UP = 0,   /* client → server (e.g. frames to the cloud) */
    SPECX_NETEM_DOWN = 1, /* server → client (e.g. detections back) */
} specx_netem_dir;

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

/* The text a built-in profile is defined by (with its sources as comments),
 * or NULL for a name that is not built in. Static storage. */
const char *specx_netem_builtin_text(const char *name);

/* Draws n round-trip times (milliseconds) the way the link would produce
 * them for one isolated request/response: up delay + down delay + the
 * serialization time of up_bytes and down_bytes at each direction's rate.
 * Outages are not included. Deterministic for a given seed. */
specx_status specx_netem_profile_sample_rtt(const specx_netem_profile *p, uint64_t seed,
                                            size_t up_bytes, size_t down_bytes, double *out_ms,
                                            size_t n, specx_err *err);

/* Prints the profile (per-direction settings), then the RTT quantiles it
 * produces (from `samples` draws with `seed`) next to the profile's targets
 * where it has any. */
specx_status specx_netem_profile_describe(const specx_netem_profile *p, uint64_t seed,
                                          size_t samples, FILE *out, specx_err *err);

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
    specx_hist delay_ns; /* per chunk: delivery time − arrival time (all causes) */
} specx_netem_dir_stats;

typedef struct specx_netem_stats {
    uint64_t connections;         /* accepted since start */
    uint64_t active;              /* open now */
    uint64_t connect_failures;    /* target refused / unreachable */
    uint64_t connection_errors;   /* reset or other socket error mid-stream */
    int64_t outage_ns[2];         /* outage time elapsed so far, per direction */
    specx_netem_dir_stats dir[2]; /* indexed by specx_netem_dir */
} specx_netem_stats;

typedef struct specx_netem specx_netem;

/* Binds, listens and starts the proxy thread. Returns once the port is open
 * (connections made after it returns are served). */
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
