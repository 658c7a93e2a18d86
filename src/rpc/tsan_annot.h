/* rpc/tsan_annot.h — internal to src/rpc and src/serve: ThreadSanitizer
 * annotations for the hand-offs gRPC makes between threads without TSan
 * seeing them (its locks wait on futexes in uninstrumented code).
 *
 * Contract: SX_TSAN_RELEASE(p) before handing p to gRPC, SX_TSAN_ACQUIRE(p)
 * on the thread gRPC hands p back to; what the first thread wrote before the
 * release is then ordered before what the second does after the acquire.
 * Only for a happens-before that gRPC really provides (a batch's tag coming
 * out of a completion queue, a slice's destroy callback): never to hide a
 * race. Both compile to nothing unless the build uses -fsanitize=thread. */
#ifndef SX_RPC_TSAN_ANNOT_H
#define SX_RPC_TSAN_ANNOT_H

#if defined(__SANITIZE_THREAD__)
#define SX_TSAN_ON 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SX_TSAN_ON 1
#endif
#endif

#ifdef SX_TSAN_ON
#include <sanitizer/tsan_interface.h>
#define SX_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define SX_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define SX_TSAN_RELEASE(p) ((void)(p))
#define SX_TSAN_ACQUIRE(p) ((void)(p))
#endif

#endif
