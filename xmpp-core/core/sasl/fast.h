/*
 * fast — the pure parts of XEP-0484 (FAST) and of the HT SASL
 * mechanisms it uses (draft-schmaus-kitten-sasl-ht-08): mechanism names
 * and their channel bindings, token generation, and the HMACs of the
 * exchange.  No I/O; sasl2.c drives the protocol, core/db/token.c
 * stores the tokens.
 *
 * Tokens are stored hashed: the database holds SHA-256(token), never
 * the token.  Issued tokens are longer than SHA-256's block (64 bytes),
 * so HMAC (RFC 2104 §2) itself replaces the key by its hash: the HT
 * exchange HMAC(token, ...) the client computes is computed here from
 * the stored hash alone.
 */
#ifndef XMPP_FAST_H
#define XMPP_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NS_FAST "urn:xmpp:fast:0"

enum fast_cb { FAST_NONE, FAST_ENDP, FAST_EXPR, FAST_UNIQ, FAST_NCB };

#define FAST_TOKEN_LEN 72	/* base64 of 54 random bytes: > 64 */
#define FAST_KEY_LEN 32
#define FAST_MAC_LEN 32
#define FAST_MECH_MAX 24

/* "HT-SHA-256-NONE" ... */
const char *fast_mech_name(enum fast_cb cb);
/* 0 with *cb, or -1: not an HT-SHA-256 mechanism. */
int fast_mech_parse(const char *name, enum fast_cb *cb);
/* The channel-binding type (tls.h) of a mechanism; NULL for NONE. */
const char *fast_cb_type(enum fast_cb cb);

/* A fresh token (NUL-terminated, FAST_TOKEN_LEN chars) and its key. */
int fast_token_new(char *token, uint8_t key[FAST_KEY_LEN]);
/* The stored form of a token: SHA-256 of its characters. */
void fast_token_key(const char *token, size_t len, uint8_t key[FAST_KEY_LEN]);
/* HMAC-SHA-256(key, label || cb): "Initiator" / "Responder" (HT §3.1). */
void fast_ht_mac(const uint8_t key[FAST_KEY_LEN], const char *label,
    const uint8_t *cb, size_t cblen, uint8_t out[FAST_MAC_LEN]);
/*
 * The HT initial response: authcid NUL initiator-hashed-token (32 bytes).
 * 0, or -1 when malformed.
 */
int fast_ht_parse(const char *msg, size_t len, char *authcid, size_t cap,
    uint8_t mac[FAST_MAC_LEN]);

#endif
