/* core/grow.h — internal: the growth of an array kept with its capacity,
 * shared by the modules that append to arrays (tracker, scorer, mAP).
 *
 * Contract
 *  - sx_grow makes *p hold at least `need` elements of `size` bytes: the
 *    capacity starts at `first` and doubles until it covers `need`.
 *  - On allocation failure or a size that does not fit in size_t it returns
 *    false and leaves *p and *cap unchanged (the old array stays valid). */
#ifndef SX_CORE_GROW_H
#define SX_CORE_GROW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static inline bool sx_grow(void **p, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap) {
        return true;
    }
    size_t n = *cap ? *cap : first;
    while (n < need) {
        if (n > SIZE_MAX / 2) {
            return false;
        }
        n *= 2;
    }
    if (size != 0 && n > SIZE_MAX / size) {
        return false;
    }
    void *q = realloc(*p, n * size);
    if (q == NULL) {
        return false;
    }
    *p = q;
    *cap = n;
    return true;
}

#endif
