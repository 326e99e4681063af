/*
 * mac — the upload URL's HMAC, as the XMPP servers in the wild sign it.
 *
 *   v       hex HMAC-SHA256(secret, path + " " + size)
 *           (ejabberd mod_http_upload external_secret, Filer's "v1")
 *   v2, token
 *           hex HMAC-SHA256(secret, path + "\0" + size + "\0" + type)
 *           (Prosody mod_http_upload_external)
 *
 * path is the decoded path after "/<uploadSubDir>/", size the decimal
 * Content-Length.  As in Filer, the parameter decides the form: a value
 * under "v" is checked against the v1 form only, under "v2" or "token"
 * against the v2 form only, so a MAC is never accepted in a form its
 * signer did not use.  Which types a v2 MAC may cover is head.c's
 * decision (the request's own Content-Type).  Comparison is
 * constant-time.
 */
#ifndef UPLOAD_MAC_H
#define UPLOAD_MAC_H

#include <stddef.h>
#include <stdint.h>

enum mac_kind {
	MAC_NONE = 0,
	MAC_V1,
	MAC_V2,
};

/*
 * given: the hex value from the URL, checked in form (MAC_V1 or MAC_V2);
 * types: the content types a v2 MAC may cover (NULL entries skipped;
 * unused for v1).  Returns form if it matched, or MAC_NONE.
 */
enum mac_kind upload_mac_verify(const void *secret, size_t secret_len,
    const char *path, uint64_t size, enum mac_kind form,
    const char *const *types, size_t ntypes, const char *given);

/* Hex MAC of either form into out (65 bytes); for tests and tools. */
int upload_mac_compute(const void *secret, size_t secret_len, const char *path,
    uint64_t size, const char *type, char out[65]);

#endif
