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
 * Content-Length.  Prosody signs the type the client declared, which the
 * client sends as the PUT's Content-Type, while Filer derives it from the
 * extension; every candidate type is tried, so neither client hits
 * "Invalid MAC".  Like Filer, a value under any of the three names is
 * checked against both forms.  Comparison is constant-time.
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
 * given: the hex value from the URL.  types: candidate content types for
 * v2 (NULL entries skipped).  Returns which form matched, or MAC_NONE.
 */
enum mac_kind upload_mac_verify(const void *secret, size_t secret_len,
    const char *path, uint64_t size, const char *const *types, size_t ntypes,
    const char *given);

/* Hex MAC of either form into out (65 bytes); for tests and tools. */
int upload_mac_compute(const void *secret, size_t secret_len, const char *path,
    uint64_t size, const char *type, char out[65]);

#endif
