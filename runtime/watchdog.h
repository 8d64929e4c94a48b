/*
 * Deadlines of requests that have no core to watch them (callback and fd
 * modes): one thread, one list in deadline order (every request gets the same
 * timeout, so arrival order is deadline order).
 */
#ifndef RC_WATCHDOG_H
#define RC_WATCHDOG_H

#include "req.h"

/* Starts watching req; its deadline_ns is set. -errno if no thread could start. */
int rc_watchdog_watch(struct rc_req *req);
void rc_watchdog_unwatch(struct rc_req *req);

void rc_watchdog_stop(void);
void rc_watchdog_forget_after_fork(void);

#endif
