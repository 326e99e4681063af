/*
 * extdisco — XEP-0215.  See extdisco.h.
 */
#include "extdisco.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c2s.h"
#include "crypto.h"
#include "iq.h"
#include "registry.h"
#include "svcconf.h"
#include "router.h"
#include "server.h"
#include "stanza.h"
#include "xml.h"

int
extdisco_credential(const char *secret, const char *who, time_t expiry,
    char *user, size_t ulen, char *pass, size_t plen)
{
	uint8_t mac[HMAC_SHA1_LEN];
	int n;

	n = snprintf(user, ulen, "%lld:%s", (long long)expiry, who);
	if (n < 0 || (size_t)n >= ulen || plen < base64_encoded_len(HMAC_SHA1_LEN))
		return -1;
	if (hmac_sha1(secret, strlen(secret), user, (size_t)n, mac) < 0)
		return -1;
	base64_encode(mac, sizeof(mac), pass);
	explicit_bzero(mac, sizeof(mac));
	return 0;
}

static void
add_service(struct xml_node *parent, const struct extdisco_service *s,
    const char *who, bool with_credentials)
{
	const struct svc_config *sc = extdisco_cfg();
	struct xml_node *x = xml_add(parent, "service", NULL);
	char port[8], user[2 * JID_PART_MAX + 32], pass[64], stamp[32];
	time_t exp;
	struct tm tm;

	if (x == NULL)
		return;
	snprintf(port, sizeof(port), "%u", s->port);
	xml_set_attr(x, "type", s->type);
	xml_set_attr(x, "host", s->host);
	xml_set_attr(x, "port", port);
	if (s->transport)
		xml_set_attr(x, "transport", s->transport);
	if (s->name)
		xml_set_attr(x, "name", s->name);
	if (!s->restricted)
		return;
	xml_set_attr(x, "restricted", "1");
	if (!with_credentials || sc->turn_secret == NULL)
		return;
	exp = time(NULL) + (time_t)sc->turn_ttl;
	if (extdisco_credential(sc->turn_secret, who, exp, user, sizeof(user),
	    pass, sizeof(pass)) == -1)
		return;
	gmtime_r(&exp, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	xml_set_attr(x, "username", user);
	xml_set_attr(x, "password", pass);
	xml_set_attr(x, "expires", stamp);
	explicit_bzero(pass, sizeof(pass));
}

static bool
extdisco_iq(struct iq_req *req)
{
	struct c2s *c = req->c;
	struct xml_node *n = req->iq;
	const struct svc_config *sc = extdisco_cfg();
	struct xml_node *q = xml_first_elem(n), *r, *rq, *want;
	const char *type, *host, *port_s;
	char port[8];
	size_t found = 0;

	if (strcmp(stanza_type(n), "get") != 0) {
		iq_error(c, n, "cancel", "bad-request");
		xml_free(n);
		return true;
	}
	if ((r = stanza_iq_result(n)) == NULL) {
		iq_error(c, n, "wait", "resource-constraint");
		xml_free(n);
		return true;
	}
	if (strcmp(q->name, "services") == 0) {
		/* XEP-0215 §3.1: all services, or those of one type */
		type = xml_attr(q, "type");
		rq = xml_add(r, "services", NS_EXTDISCO);
		if (type)
			xml_set_attr(rq, "type", type);
		for (size_t i = 0; i < sc->nservices; i++)
			if (type == NULL || strcmp(type, sc->services[i].type) == 0)
				add_service(rq, &sc->services[i], c->user->bare, true);
		iq_reply(c, r);
		xml_free(n);
		return true;
	}
	/* §3.3: credentials for one service, named by host and type (and port) */
	want = xml_child(q, "service", NULL);
	host = want ? xml_attr(want, "host") : NULL;
	type = want ? xml_attr(want, "type") : NULL;
	port_s = want ? xml_attr(want, "port") : NULL;
	if (host == NULL || type == NULL) {
		xml_free(r);
		iq_error(c, n, "modify", "bad-request");
		xml_free(n);
		return true;
	}
	rq = xml_add(r, "credentials", NS_EXTDISCO);
	for (size_t i = 0; i < sc->nservices; i++) {
		const struct extdisco_service *s = &sc->services[i];

		snprintf(port, sizeof(port), "%u", s->port);
		if (strcmp(s->host, host) != 0 || strcmp(s->type, type) != 0 ||
		    (port_s && strcmp(port_s, port) != 0))
			continue;
		add_service(rq, s, c->user->bare, true);
		found++;
	}
	if (found == 0) {
		xml_free(r);
		iq_error(c, n, "cancel", "item-not-found");
	} else {
		iq_reply(c, r);
	}
	xml_free(n);
	return true;
}

static const struct iq_handler iqs[] = {
	{ "services", NS_EXTDISCO, IQ_NOTO | IQ_SERVER, extdisco_iq },
	{ "credentials", NS_EXTDISCO, IQ_NOTO | IQ_SERVER, extdisco_iq },
	{ NULL, NULL, 0, NULL },
};

static const char *const features[] = { NS_EXTDISCO, NULL };

struct module extdisco_module = {
	.name = "extdisco",
	.folder = "services",
	.config_load = extdisco_config_load,
	.config_free = svc_module_config_free,
	.iqs = iqs,
	.server_features = features,
};
