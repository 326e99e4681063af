/*
 * hostmeta — XEP-0156 documents.  See hostmeta.h.
 *
 * The URL was checked when the config was read (webconf.c: nothing that
 * needs escaping in XML or JSON), so it is written as it is.
 */
#include "hostmeta.h"

#include "buf.h"
#include "webconf.h"

void
hostmeta_write(struct buf *b, const struct web_config *cf, bool json)
{
	if (json) {
		buf_puts(b, "{\"links\":[");
		if (cf->websocket_url)
			buf_printf(b, "{\"rel\":\"" REL_WEBSOCKET "\",\"href\":\"%s\"}",
			    cf->websocket_url);
		if (cf->bosh_url)
			buf_printf(b, "%s{\"rel\":\"" REL_BOSH "\",\"href\":\"%s\"}",
			    cf->websocket_url ? "," : "", cf->bosh_url);
		buf_puts(b, "]}\n");
		return;
	}
	buf_puts(b, "<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='" NS_XRD "'>\n");
	if (cf->websocket_url)
		buf_printf(b, "  <Link rel='" REL_WEBSOCKET "' href='%s'/>\n", cf->websocket_url);
	if (cf->bosh_url)
		buf_printf(b, "  <Link rel='" REL_BOSH "' href='%s'/>\n", cf->bosh_url);
	buf_puts(b, "</XRD>\n");
}
