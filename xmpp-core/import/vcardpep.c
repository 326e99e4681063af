/*
 * vcardpep — a vcard-temp made from an account's vcard4 (XEP-0292) and
 * avatar (XEP-0084) PEP items, as Prosody's mod_vcard_legacy answered
 * vcard-temp requests from them: Prosody keeps no vcard-temp of its own
 * then, neither in SQL (prosody.c) nor in its XEP-0227 files
 * (xep0227.c), and clients asking for a vCard avatar would find none.
 * See import.h.
 */
#include "import.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fragment.h"
#include "xml.h"

#define NS_VCARD4 "urn:ietf:params:xml:ns:vcard-4.0"
#define NS_AVATAR_DATA "urn:xmpp:avatar:data"

/* vcard-temp from the vcard4 and avatar nodes, as mod_vcard_legacy
 * answered vcard-temp requests from them (XEP-0398). */
void
imp_vcard_from_pep(struct imp *im, const char *vcard4, const char *avatar_data,
    const char *avatar_type)
{
	static const struct { const char *v4, *val, *temp; } map[] = {
		{ "fn", "text", "FN" }, { "nickname", "text", "NICKNAME" },
		{ "url", "uri", "URL" }, { "bday", "date", "BDAY" },
		{ "note", "text", "DESC" }, { "title", "text", "TITLE" },
		{ "role", "text", "ROLE" },
	};
	struct xml_node *v4 = NULL, *d = NULL, *x;
	struct buf b;
	char *t;

	if (vcard4 == NULL && avatar_data == NULL)
		return;
	buf_init(&b);
	if (buf_puts(&b, "<vCard xmlns='vcard-temp'>") == -1)
		goto oom;
	if (vcard4 && (v4 = fragment_parse(vcard4, strlen(vcard4),
	    "http://jabber.org/protocol/pubsub")) != NULL) {
		for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
			if ((x = xml_child(v4, map[k].v4, NS_VCARD4)) == NULL ||
			    (x = xml_child(x, map[k].val, NS_VCARD4)) == NULL ||
			    (t = xml_text(x)) == NULL)
				continue;
			if (t[0] && (buf_printf(&b, "<%s>", map[k].temp) == -1 ||
			    xml_escape(&b, t, strlen(t), false) == -1 ||
			    buf_printf(&b, "</%s>", map[k].temp) == -1)) {
				free(t);
				goto oom;
			}
			free(t);
		}
		if ((x = xml_child(v4, "email", NS_VCARD4)) != NULL &&
		    (x = xml_child(x, "text", NS_VCARD4)) != NULL && (t = xml_text(x)) != NULL) {
			if (t[0] && (buf_puts(&b, "<EMAIL><INTERNET/><USERID>") == -1 ||
			    xml_escape(&b, t, strlen(t), false) == -1 ||
			    buf_puts(&b, "</USERID></EMAIL>") == -1)) {
				free(t);
				goto oom;
			}
			free(t);
		}
	}
	if (avatar_data && (d = fragment_parse(avatar_data, strlen(avatar_data),
	    "http://jabber.org/protocol/pubsub")) != NULL &&
	    xml_is(d, "data", NS_AVATAR_DATA) && (t = xml_text(d)) != NULL) {
		if (buf_puts(&b, "<PHOTO><TYPE>") == -1 ||
		    xml_escape(&b, avatar_type && avatar_type[0] ? avatar_type : "image/png",
		    strlen(avatar_type && avatar_type[0] ? avatar_type : "image/png"),
		    false) == -1 ||
		    buf_puts(&b, "</TYPE><BINVAL>") == -1 ||
		    xml_escape(&b, t, strlen(t), false) == -1 ||
		    buf_puts(&b, "</BINVAL></PHOTO>") == -1) {
			free(t);
			goto oom;
		}
		free(t);
	}
	if (buf_puts(&b, "</vCard>") == -1)
		goto oom;
	tgt_vcard(im, b.p, b.len);
	goto out;
oom:
	im->failed = true;
	snprintf(im->err, sizeof(im->err), "out of memory");
out:
	xml_free(v4);
	xml_free(d);
	buf_free(&b);
}
