/*
 * The runtime's configuration keys, for the provider's openssl.cnf loader:
 * one table (runtime/config.c) serves RINGCRYPT_*, rc_config_set and
 * openssl.cnf. Not public API; exported like testing.h's hooks.
 */
#ifndef RC_CONFIG_KEYS_H
#define RC_CONFIG_KEYS_H

#include <stddef.h>

#include "ringcrypt.h"

/* The i-th key rc_config_set takes, or NULL past the last. */
RC_API const char *rc_config_key(size_t i);

/* 0 when rc_config_set takes key; else -EINVAL, err naming it and listing the keys. */
RC_API int rc_config_check_key(const char *key, char *err, size_t errlen);

#endif
