/*
 * kdf — PBKDF2 off the event loop.
 *
 * Deriving SCRAM keys from a password (registration, password change) and
 * checking a SASL PLAIN password cost a PBKDF2 run each (4096 iterations
 * per hash by default, milliseconds of CPU).  On the loop a burst of them
 * would stall every other client, so they run on one worker thread; the
 * result comes back to the loop through an eventfd and the callback runs
 * there.  The queue is bounded: a full queue refuses the job at once.
 * There is no cancel: callers keep their context alive (c2s_block holds a
 * reference) and check it when called back.
 */
#ifndef XMPP_KDF_H
#define XMPP_KDF_H

#include <stdbool.h>

#include "scram.h"

struct ev_loop;
struct kdf_job;

/*
 * keys: for kdf_derive the new keys for both hashes (indexed by enum
 * scram_hash; NULL when ok is false); for kdf_check NULL.  ok: derived /
 * the password matched.
 */
typedef void kdf_cb(void *arg, bool ok, const struct scram_keys *keys);

/* Starts the worker; 0, or -1 with errno. */
int kdf_init(struct ev_loop *loop, unsigned max_queue);
/* Finishes queued jobs without calling back, joins the worker. */
void kdf_shutdown(void);

/* Fresh salts, then the keys of both hashes.  NULL: queue full. */
struct kdf_job *kdf_derive(const char *password, unsigned iter, kdf_cb *cb,
    void *arg);
/* Checks password against k (hash h), constant time.  NULL: queue full. */
struct kdf_job *kdf_check(enum scram_hash h, const struct scram_keys *k,
    const char *password, kdf_cb *cb, void *arg);

#endif
