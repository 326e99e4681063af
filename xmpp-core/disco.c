/*
 * disco — XEP-0030 / XEP-0115 / XEP-0157.  See disco.h.
 */
#include "disco.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "c2s.h"
#include "crypto.h"
#include "iq.h"
#include "pep.h"
#include "pubsubsvc.h"
#include "proxy65.h"
#include "push.h"
#include "server.h"
#include "stanza.h"
#include "upload.h"
#include "xml.h"

#define CAPS_NODE "https://github.com/edge-xmpp/edge"

/* Sorted (XEP-0115 §5.1 orders by byte value). */
static const char *const server_features[] = {
	"http://jabber.org/protocol/disco#info",
	"http://jabber.org/protocol/disco#items",
	"jabber:iq:last",
	"jabber:iq:private",
	"jabber:iq:register",
	"jabber:iq:roster",
	"jabber:iq:version",
	"msgoffline",
	"urn:xmpp:blocking",
	"urn:xmpp:carbons:2",
	"urn:xmpp:extdisco:2",
	"urn:xmpp:pep-vcard-conversion:0",
	"urn:xmpp:ping",
	"urn:xmpp:sid:0",
	"urn:xmpp:time",
	"vcard-temp",
};

static const char *const account_features[] = {
	"http://jabber.org/protocol/disco#info",
	"http://jabber.org/protocol/disco#items",
	"urn:xmpp:mam:0",
	"urn:xmpp:mam:1",
	"urn:xmpp:mam:2",
	"urn:xmpp:mam:2#extended",
	"urn:xmpp:sid:0",
};

/* Features that come with the archive ([mam] enabled): stanza-ids are
 * archive ids. */
static bool
feature_on(const char *f)
{
	return srv.cfg->mam.enabled || (strncmp(f, "urn:xmpp:mam:", 13) != 0 &&
	    strcmp(f, "urn:xmpp:sid:0") != 0);
}

static void
add_contact_field(struct xml_node *x, const char *var, char *const *addrs, size_t n)
{
	struct xml_node *f;

	if (n == 0)
		return;
	f = xml_add(x, "field", "jabber:x:data");
	xml_set_attr(f, "var", var);
	for (size_t i = 0; i < n; i++)
		xml_add_with_text(f, "value", NULL, addrs[i]);
}

static void
server_info(struct xml_node *q)
{
	const struct xmpp_config *cfg = srv.cfg;
	struct xml_node *id = xml_add(q, "identity", NULL), *x, *f;

	xml_set_attr(id, "category", "server");
	xml_set_attr(id, "type", "im");
	xml_set_attr(id, "name", "edge");
	for (size_t i = 0; i < sizeof(server_features) / sizeof(server_features[0]); i++)
		if (feature_on(server_features[i]))
			xml_set_attr(xml_add(q, "feature", NULL), "var", server_features[i]);
	if (cfg->nabuse + cfg->nadmin + cfg->nsupport == 0)
		return;
	/* XEP-0157 */
	x = xml_add(q, "x", "jabber:x:data");
	xml_set_attr(x, "type", "result");
	f = xml_add(x, "field", NULL);
	xml_set_attr(f, "var", "FORM_TYPE");
	xml_set_attr(f, "type", "hidden");
	xml_add_with_text(f, "value", NULL, "http://jabber.org/network/serverinfo");
	add_contact_field(x, "abuse-addresses", cfg->abuse_addrs, cfg->nabuse);
	add_contact_field(x, "admin-addresses", cfg->admin_addrs, cfg->nadmin);
	add_contact_field(x, "support-addresses", cfg->support_addrs, cfg->nsupport);
}

void
disco_init(void)
{
	const struct xmpp_config *cfg = srv.cfg;
	struct buf s;
	uint8_t md[20];
	unsigned mdlen = 0;
	char b64[base64_encoded_len(20)];

	/* XEP-0115 §5.1 verification string */
	buf_init(&s);
	buf_puts(&s, "server/im//edge<");
	for (size_t i = 0; i < sizeof(server_features) / sizeof(server_features[0]); i++)
		if (feature_on(server_features[i]))
			buf_printf(&s, "%s<", server_features[i]);
	if (cfg->nabuse + cfg->nadmin + cfg->nsupport) {
		buf_puts(&s, "http://jabber.org/network/serverinfo<");
		/* fields sorted by var: abuse, admin, support; values sorted */
		if (cfg->nabuse) {
			buf_puts(&s, "abuse-addresses<");
			for (size_t i = 0; i < cfg->nabuse; i++)
				buf_printf(&s, "%s<", cfg->abuse_addrs[i]);
		}
		if (cfg->nadmin) {
			buf_puts(&s, "admin-addresses<");
			for (size_t i = 0; i < cfg->nadmin; i++)
				buf_printf(&s, "%s<", cfg->admin_addrs[i]);
		}
		if (cfg->nsupport) {
			buf_puts(&s, "support-addresses<");
			for (size_t i = 0; i < cfg->nsupport; i++)
				buf_printf(&s, "%s<", cfg->support_addrs[i]);
		}
	}
	EVP_Digest(s.p, s.len, md, &mdlen, EVP_sha1(), NULL);
	base64_encode(md, sizeof(md), b64);
	snprintf(srv.caps_ver, sizeof(srv.caps_ver), "%s", b64);
	buf_free(&s);
}

void
disco_caps(struct buf *b)
{
	buf_printf(b, "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
	    "node='%s' ver='%s'/>", CAPS_NODE, srv.caps_ver);
}

bool
disco_iq(struct c2s *c, struct xml_node *iq, bool to_account)
{
	struct xml_node *q = xml_first_elem(iq), *r, *rq, *id;
	const char *node;

	if (q == NULL || strcmp(stanza_type(iq), "get") != 0)
		return false;
	if (xml_is(q, "query", NS_DISCO_INFO)) {
		r = stanza_iq_result(iq);
		rq = xml_add(r, "query", NS_DISCO_INFO);
		node = xml_attr(q, "node");
		if (node) {
			char want[128];

			snprintf(want, sizeof(want), "%s#%s", CAPS_NODE, srv.caps_ver);
			if (to_account || strcmp(node, want) != 0) {
				xml_free(r);
				iq_error(c, iq, "cancel", "item-not-found");
				return true;
			}
			xml_set_attr(rq, "node", node);
		}
		if (to_account) {
			id = xml_add(rq, "identity", NULL);
			xml_set_attr(id, "category", "account");
			xml_set_attr(id, "type", "registered");
			for (size_t i = 0; i < sizeof(account_features) / sizeof(account_features[0]); i++)
				if (feature_on(account_features[i]))
					xml_set_attr(xml_add(rq, "feature", NULL), "var",
					    account_features[i]);
			pep_disco_info(rq);
			push_disco_account(rq);
		} else {
			server_info(rq);
		}
		iq_reply(c, r);
		return true;
	}
	if (xml_is(q, "query", NS_DISCO_ITEMS)) {
		if (xml_attr(q, "node")) {
			iq_error(c, iq, "cancel", "item-not-found");
			return true;
		}
		r = stanza_iq_result(iq);
		rq = xml_add(r, "query", NS_DISCO_ITEMS);
		if (!to_account) {
			upload_disco_items(rq, c2s_host(c));
			pubsubsvc_disco_items(rq, c2s_host(c));
			proxy65_disco_items(rq, c2s_host(c));
		}
		iq_reply(c, r);
		return true;
	}
	return false;
}
