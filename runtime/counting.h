/*
 * Calls the provider module runs on its caller's thread without making a
 * request: whether placement would run a call there anyway (then copying
 * its inputs into a request would buy nothing), and counting the calls it
 * ran, so that an application's counters show ringcrypt in its path. Not
 * public API; exported in the map's private node.
 */
#ifndef RC_COUNTING_H
#define RC_COUNTING_H

#include "ringcrypt.h"

/* One more operation run on the caller's thread (rc_stats' inline_ops). */
RC_API void rc_count_inline(void);

/*
 * 1 when rc_offload, called now on this thread with a request that has no
 * kernel form, would run its work right here (no ASYNC job, backend
 * "inline", or placement finds nothing to overlap); 0 when it would go to a
 * backend, or when the runtime cannot start (rc_offload then says why).
 * Asking changes nothing: placement decides again in rc_offload.
 */
RC_API int rc_offload_here(void);

#endif
