/*
 * scram — SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), server side,
 * with the -PLUS channel-binding variants (RFC 5929, RFC 9266), and the
 * derivation of stored credentials (salt, iterations, StoredKey,
 * ServerKey): passwords are never stored, only these keys, for both
 * hashes.  Pure functions: no I/O, no logging; the caller looks the keys
 * up (asynchronously) between the client-first and client-final messages.
 */
#ifndef XMPP_SCRAM_H
#define XMPP_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum scram_hash { SCRAM_SHA1 = 0, SCRAM_SHA256 = 1 };

#define SCRAM_HASH_MAX 32
#define SCRAM_SALT_LEN 16
#define SCRAM_SALT_MAX 64
#define SCRAM_NONCE_MAX 128
#define SCRAM_MSG_MAX 2048

struct scram_keys {
	uint8_t salt[SCRAM_SALT_MAX];
	size_t saltlen;
	unsigned iter;
	uint8_t stored[SCRAM_HASH_MAX];
	uint8_t server[SCRAM_HASH_MAX];
};

size_t scram_hash_len(enum scram_hash h);
const char *scram_mech_name(enum scram_hash h, bool plus);

/* PBKDF2 + the RFC 5802 key schedule.  0 / -1. */
int scram_derive(enum scram_hash h, const char *password, size_t pwlen,
    const uint8_t *salt, size_t saltlen, unsigned iter, struct scram_keys *out);
/* The keys from SaltedPassword itself (XEP-0480's upgrade hash). */
int scram_keys_from_salted(enum scram_hash h, const uint8_t *salted,
    const uint8_t *salt, size_t saltlen, unsigned iter, struct scram_keys *out);
/* Fresh random salt, then scram_derive. */
int scram_make_keys(enum scram_hash h, const char *password, unsigned iter,
    struct scram_keys *out);
/* Checks a plaintext password (SASL PLAIN) against stored keys, constant time. */
bool scram_check_password(enum scram_hash h, const struct scram_keys *k,
    const char *password, size_t pwlen);

struct scram_server {
	enum scram_hash h;
	bool plus;		/* mechanism is -PLUS */
	bool plus_offered;	/* we advertised -PLUS on this connection */
	char cb_type[32];	/* p=<type> */
	char gs2[64 + 2 * 1024];/* gs2 header as sent, for c= */
	char user[1024];	/* decoded saslname */
	char authzid[1024];
	char cnonce[SCRAM_NONCE_MAX + 1];
	char nonce[2 * SCRAM_NONCE_MAX + 1];
	char *client_first_bare;
	char *server_first;
	struct scram_keys keys;
	char ssdp[64];		/* XEP-0474 hash for server-first ("h="), "" none */
	int state;
};

/*
 * XEP-0474 (SSDP, 0.5.0 §5.1): base64 of H(sorted mechanisms joined by
 * 0x1E [, 0x1F, sorted channel-binding types joined by 0x1E]) with the
 * hash of the SCRAM mechanism in use; cbs NULL when XEP-0440 was not
 * advertised.  0, or -1 when it does not fit.
 */
int scram_ssdp(enum scram_hash h, const char *const *mechs, size_t nmechs,
    const char *const *cbs, size_t ncbs, char *out, size_t outlen);

/*
 * Parses client-first.  Returns 0, or -1 with *err set to a SASL failure
 * condition ("malformed-request", "invalid-mechanism", ...).
 */
int scram_server_start(struct scram_server *s, enum scram_hash h, bool plus,
    bool plus_offered, const char *msg, size_t len, const char **err);
/*
 * Builds server-first with the stored keys (snonce NULL: random), with
 * ",h=" s->ssdp appended when set.  The result stays owned by s.
 */
const char *scram_server_first(struct scram_server *s,
    const struct scram_keys *keys, const char *snonce);
/*
 * Verifies client-final.  cb/cblen is the channel-binding data of the
 * type the client chose (ignored without p=).  On success writes
 * server-final ("v=...") into out and returns 0; -1 with *err otherwise.
 */
int scram_server_final(struct scram_server *s, const char *msg, size_t len,
    const uint8_t *cb, size_t cblen, char *out, size_t outlen,
    const char **err);
void scram_server_clear(struct scram_server *s);

/* SASL PLAIN (RFC 4616): authzid NUL authcid NUL passwd.  0 / -1. */
int sasl_plain_parse(const char *msg, size_t len, char *authzid, size_t azlen,
    char *authcid, size_t aclen, char *passwd, size_t pwlen);

#endif
