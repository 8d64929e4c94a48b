/* Process-wide runtime state: configuration, start/stop, fork. */
#ifndef RC_RUNTIME_H
#define RC_RUNTIME_H

#include <stdbool.h>

#include "config.h"

/* Bumped in every fork child: objects stamped with an older value are the parent's. */
extern unsigned int rc_fork_gen;

/* 0 once the runtime runs (starting it if needed), else rc_init's error. */
int rc_runtime_ready(void);

/* The configuration in force; valid while the runtime runs. */
const struct rc_config *rc_runtime_config(void);

/* True when work runs on the caller (RINGCRYPT_BACKEND=inline). */
bool rc_runtime_inline(void);

#endif
