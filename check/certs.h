/*
 * certs — the TLS certificates of xmpp-core ([tls]) and turnd (tls_cert):
 * the chain verifies against the system CA store (or --ca), the names
 * cover every domain and service the configs use, it is not expired nor
 * expiring within 14 days, the key matches, and each daemon's user can
 * read both files.  A file both daemons use is checked once.
 */
#ifndef CHECK_CERTS_H
#define CHECK_CERTS_H

#include "site.h"

#define CERT_WARN_DAYS 14

void certs_check(const struct site *s, const char *ca_file);

#endif
