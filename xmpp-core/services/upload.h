/*
 * upload — HTTP File Upload (XEP-0363) on upload.<domain> (or the
 * configured service JID): slot requests checked against max_file_size,
 * answered with PUT/GET URLs under the configured public base URL, the
 * PUT URL signed for upload-gw with the shared secret — the `v` MAC
 * ejabberd's external_secret uses (HMAC-SHA256 of "path size") or `v2`
 * (HMAC-SHA256 of "path\0size\0content-type", Prosody's form), hex.
 * Nothing is stored: the URL is the permission.
 */
#ifndef XMPP_UPLOAD_H
#define XMPP_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jid.h"

struct xml_node;
struct svc_config;

#define NS_UPLOAD "urn:xmpp:http:upload:0"


/* The file name as the last path segment: directory parts dropped,
 * controls removed, percent-encoded (out, NUL-terminated) and decoded
 * (dec), at most 200 decoded bytes ending with the original extension.
 * Never empty, ".", or "..". */
void upload_name(const char *in, char *out, size_t outlen, char *dec,
    size_t declen);
/* Hex MAC for path (decoded, after the upload directory) and size; type
 * NULL for v1.  0, or -1. */
int upload_mac(const char *secret, const char *path, uint64_t size,
    const char *type, char out[65]);

#endif
