/* The module's error library: reasons OpenSSL's error queue reports as "ringcrypt". */
#ifndef RC_ENGINE_ERRORS_H
#define RC_ENGINE_ERRORS_H

enum rc_reason {
    RC_R_OFFLOAD_FAILED = 100,   /* the runtime brought no answer */
    RC_R_TIMED_OUT,
    RC_R_CANCELED,
    RC_R_SHUT_DOWN,
    RC_R_BAD_CONFIG,
    RC_R_TAG_MISMATCH,
    RC_R_CONTEXT_STUCK,          /* a context whose offload never came back */
    RC_R_NO_MEMORY,
    RC_R_NO_DEFAULT,             /* the default provider could not be loaded */
    RC_R_TOO_LARGE,              /* more than one request may carry */
};

/* Registers the reason strings (idempotent, thread-safe). */
void rc_err_load(void);

/* Raises reason with a printf-style detail. */
void rc_err_raise(int reason, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Raises the reason matching a runtime errno. */
void rc_err_raise_errno(int err);

#endif
