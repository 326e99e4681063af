/*
 * auth — SASL on a c2s stream: the mechanisms and their exchange, for
 * both profiles, RFC 6120 §6 ("SASL1", urn:ietf:params:xml:ns:xmpp-sasl)
 * and XEP-0388 ("SASL2", whose elements sasl2.c parses): SCRAM-SHA-1/
 * -256 (+PLUS with the channel bindings tls.h provides, XEP-0440 types
 * advertised, XEP-0474 downgrade protection in server-first), PLAIN,
 * and on SASL2 the FAST token mechanisms HT-SHA-256-* (fast.h) and the
 * XEP-0480 task UPGR-SCRAM-SHA-256 (SHA-1-only accounts).  The
 * account's keys are fetched asynchronously; an unknown user gets a
 * deterministic fake salt so the exchange looks the same as for a real
 * one.  Failures of either profile count towards the per-IP ban.
 */
#ifndef XMPP_AUTH_H
#define XMPP_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "fast.h"

struct auth;
struct buf;
struct c2s;
struct xml_node;

enum auth_profile { AUTH_SASL1, AUTH_SASL2 };

#define AUTH_MSG_MAX 4096	/* a decoded SASL message */

/* A successful exchange, as sasl2_authenticated() gets it. */
struct auth_outcome {
	const char *local;
	const char *mech;
	const void *extra;	/* additional data (SCRAM's server-final) */
	size_t extralen;
	bool token;		/* FAST: authenticated with a token */
	bool token_new;		/* ... the one of the 'new' slot */
	uint64_t token_age_s;	/* ... issued that long ago */
	uint8_t token_key[FAST_KEY_LEN];
};

/* SASL1 <mechanisms/> and the XEP-0440 <sasl-channel-binding/>. */
void auth_features(struct c2s *c, struct buf *b);
/* SASL2: the <mechanism/> elements of <authentication/>. */
void auth_sasl2_mechanisms(struct c2s *c, struct buf *b);
/* Whether channel-binding type cb (FAST's HT mechanisms) works on c. */
bool auth_fast_available(struct c2s *c, enum fast_cb cb);
/* An element in the SASL1 namespace; takes ownership. */
void auth_handle(struct c2s *c, struct xml_node *n);
/*
 * SASL2 (sasl2.c): starts mechanism mech with the decoded initial
 * response (resp NULL: none was sent), goes on with a response, or is
 * aborted.  Outcomes: <challenge/> and <failure/> are sent here, success
 * calls sasl2_authenticated().
 */
void auth_start(struct c2s *c, const char *mech, const char *resp, size_t len);
/* Decodes an element's base64 text ("=" or nothing: empty): length or -1. */
long auth_decode(struct xml_node *n, char *out, size_t cap);
void auth_response(struct c2s *c, struct xml_node *n);
/* XEP-0480 upgrade task: <next/>, then the client's <task-data/>. */
void auth_next(struct c2s *c, struct xml_node *n);
void auth_task_data(struct c2s *c, struct xml_node *n);
void auth_fail(struct c2s *c, const char *cond, const char *why);
void auth_free(struct auth *a);

#endif
