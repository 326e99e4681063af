/*
 * libFuzzer target: what a client's MAM query goes through
 * (xmpp-core/mam/mamquery.c): the bytes as a <query/> element through the
 * restricted parser, then the form/RSM parser; and the same bytes as an
 * archive id and an XEP-0082 time.  A parsed time written back must parse
 * to the same microsecond; a parsed query's bounds must be ordered sanely.
 */
#include "fragment.h"
#include "mam.h"
#include "mamquery.h"
#include "server.h"
#include "xml.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const struct mam_config cfg = { .enabled = true, .default_page = 20,
	    .max_page = 100, .max_prefs = 10, .max_age = 0, .expire_batch = 1000,
	    .max_pending = 4 << 20 };
	struct mam_query q;
	struct xml_node *n;
	const char *type, *cond;
	char s[256], out[40];
	int64_t t, u;

	if (size > 65536)
		return 0;
	if ((n = fragment_parse((const char *)data, size, NS_CLIENT)) != NULL) {
		if (mam_query_parse(n, &cfg, &q, &type, &cond) == 0 &&
		    (q.max > cfg.max_page || q.lo < -1 || q.plo < q.lo || q.phi > q.hi ||
		    q.nids > cfg.max_page))
			abort();
		mam_query_free(&q);
		xml_free(n);
	}
	if (size < sizeof(s)) {
		memcpy(s, data, size);
		s[size] = '\0';
		mam_id_parse(s, &t);
		if (mam_time_parse(s, &t) == 0) {
			mam_time_format(t, out, sizeof(out));
			if (mam_time_parse(out, &u) != 0 || u != t)
				abort();
		}
	}
	return 0;
}
