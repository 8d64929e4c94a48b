#include "errors.h"

#include <errno.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

static int lib;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static ERR_STRING_DATA strings[] = {
    { 0, "ringcrypt" },
    { RC_R_OFFLOAD_FAILED, "offload failed" },
    { RC_R_TIMED_OUT, "offloaded operation timed out" },
    { RC_R_CANCELED, "offloaded operation canceled" },
    { RC_R_SHUT_DOWN, "ringcrypt runtime shut down" },
    { RC_R_BAD_CONFIG, "bad ringcrypt configuration" },
    { RC_R_TAG_MISMATCH, "authentication tag mismatch" },
    { RC_R_CONTEXT_STUCK, "context unusable: an earlier offload never came back" },
    { RC_R_NO_MEMORY, "out of memory" },
    { RC_R_NO_DEFAULT, "cannot load the default provider" },
    { RC_R_TOO_LARGE, "input or output too large to offload" },
    { 0, NULL },
};

static void load(void)
{
    lib = ERR_get_next_error_library();
    for (ERR_STRING_DATA *s = strings; s->string != NULL; s++)
        s->error = ERR_PACK(lib, 0, s->error);
    ERR_load_strings(lib, strings);
}

void rc_err_load(void)
{
    pthread_once(&once, load);
}

void rc_err_raise(int reason, const char *fmt, ...)
{
    va_list ap;

    rc_err_load();
    va_start(ap, fmt);
    ERR_new();
    ERR_set_debug(OPENSSL_FILE, OPENSSL_LINE, "ringcrypt");
    ERR_vset_error(lib, reason, fmt, ap);
    va_end(ap);
}

void rc_err_raise_errno(int err)
{
    int reason = err == ETIMEDOUT  ? RC_R_TIMED_OUT
                 : err == ECANCELED ? RC_R_CANCELED
                 : err == ESHUTDOWN ? RC_R_SHUT_DOWN
                 : err == ENOMEM    ? RC_R_NO_MEMORY
                 : err == EINVAL    ? RC_R_BAD_CONFIG
                                    : RC_R_OFFLOAD_FAILED;

    rc_err_raise(reason, "%s", strerror(err));
}
