/*
 * tlsticket — TLS session ticket keys from a file, for stateless
 * resumption that survives a reload, a restart and (later) a move to
 * another node with the same file.  Private to tls.c (tls.h:
 * tls_server_conf.ticket_key_file).
 *
 * The file: one key per line, 160 hex digits (80 bytes: a 16-byte name,
 * an AES-256 key, an HMAC-SHA-256 key; `openssl rand -hex 80`), the
 * newest first, at most TLS_TICKET_KEYS_MAX, `#` comments; a secret,
 * refused when group or other may read it.  The first key seals new
 * tickets (RFC 5077 §4's layout, as OpenSSL's callback has it: AES-256-
 * CBC, HMAC-SHA-256); every listed key opens them, an older one asks
 * for a fresh ticket.
 */
#ifndef EDGE_TLSTICKET_H
#define EDGE_TLSTICKET_H

#include <stddef.h>

#include <openssl/evp.h>

struct tlsticket_keys;

/* The keys of path, or NULL with the reason in err. */
struct tlsticket_keys *tlsticket_load(const char *path, char *err, size_t errlen);
void tlsticket_free(struct tlsticket_keys *t);
/*
 * SSL_CTX_set_tlsext_ticket_key_evp_cb's work with keys t: 1 done, 2
 * opened with an older key (renew), 0 unknown key (a full handshake),
 * -1 error.
 */
int tlsticket_crypt(const struct tlsticket_keys *t, unsigned char *name,
    unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc);

#endif
