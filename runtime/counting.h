/*
 * What the provider module counts that the runtime never sees: operations it
 * ran on the caller's thread without asking the runtime (no ASYNC job), so
 * that a synchronous application's counters show ringcrypt in its path. Not
 * public API; exported in the map's private node.
 */
#ifndef RC_COUNTING_H
#define RC_COUNTING_H

#include "ringcrypt.h"

/* One more operation run on the caller's thread (rc_stats' inline_ops). */
RC_API void rc_count_inline(void);

#endif
