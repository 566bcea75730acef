// A thread's scratch buffer of floats, grown on demand (each kernel file keeps its own, thread-local).
#ifndef IGN_SCRATCH_H
#define IGN_SCRATCH_H

#include <stdlib.h>

/// `*storage` (holding `*capacity` floats) grown to at least `count` floats, 64-byte aligned; what
/// it held is not kept. Aborts when memory runs out.
static inline float *ign_scratch(float **storage, size_t *capacity, size_t count) {
    if (count > *capacity) {
        free(*storage);
        *storage = aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
        if (!*storage) abort();
        *capacity = count;
    }
    return *storage;
}

#endif
