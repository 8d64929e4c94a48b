/*
 * Hooks for ringcrypt's own tests; not part of the public API and not for
 * applications. They reach code paths the kernel only takes under duress.
 */
#ifndef RC_TESTING_H
#define RC_TESTING_H

#include "ringcrypt.h"

/* The next n MSG_RING sends aim at fd -1, so the kernel fails them for real. */
RC_API void rc_testing_fail_msg_ring(unsigned int n);

#endif
