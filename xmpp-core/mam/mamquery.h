/*
 * mamquery — XEP-0313 queries of an account's archive: the query form
 * (with, start, end and the #extended before-id, after-id, ids), RSM paging
 * (XEP-0059: max, after, before, empty before for the last page, index),
 * flipped pages, form discovery and archive metadata, answered in the
 * namespace asked (urn:xmpp:mam:2, :1, or :0 whose <fin/> is a message).
 *
 * One SQL statement per page returns the page, the size of the whole
 * result set and how many of the ids the query names exist (an unknown id
 * is item-not-found), on the account's pinned connection so the account's
 * own earlier messages are there.  The connection is blocked meanwhile, so
 * the results and the IQ answer keep their place among other stanzas.
 * Results are written as stored, without re-parsing, and a page stops
 * early (complete='false') rather than overflow the output buffer.
 */
#ifndef XMPP_MAMQUERY_H
#define XMPP_MAMQUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jid.h"

struct buf;
struct c2s;
struct mam_config;
struct xml_node;

struct mam_query {
	const char *ns;		/* the query's namespace (points into the IQ) */
	const char *queryid;	/* or NULL */
	bool with;
	char with_bare[2 * JID_PART_MAX + 2];
	char with_res[JID_PART_MAX + 1];
	int64_t lo, hi;		/* the result set: lo < id < hi */
	int64_t plo, phi;	/* this page: the same narrowed by RSM after/before */
	bool after, before;	/* RSM <after/>, <before/> (empty or not) */
	bool backward;		/* a page from the end (RSM <before/>) */
	unsigned max;		/* results wanted (capped) */
	long long index;	/* RSM <index/>, -1 when absent */
	bool flip;		/* #extended <flip-page/> */
	int64_t *ids;		/* #extended ids, or NULL */
	size_t nids;
	int64_t *refs;		/* ids that must be in the archive */
	size_t nrefs;
};

/*
 * Reads a <query/> into out.  -1 with the error type and condition of the
 * answer (bad-request, feature-not-implemented, item-not-found for an id
 * that cannot be ours, not-acceptable beyond the limits).
 */
int mam_query_parse(const struct xml_node *q, const struct mam_config *cfg,
    struct mam_query *out, const char **type, const char **cond);
/* The same with the page sizes given (another archive's, such as a
 * room's, with its own limits). */
int mam_query_parse_page(const struct xml_node *q, unsigned default_page,
    unsigned max_page, struct mam_query *out, const char **type,
    const char **cond);
void mam_query_free(struct mam_query *q);

/*
 * The page of a result set to send (rows first..last of res, a page
 * statement's answer: column 0 the set's size, 2 NULL for no rows, 3 the
 * stored stanza), cut to the asked max (a row more than asked says there
 * is more) and to half the output buffer left after out_pending (each
 * result costing its stanza plus overhead, at least one result); the RSM
 * index where the page starts or ends the set, else -1.
 */
#include <libpq-fe.h>
struct mam_page {
	int first, last;
	bool more;
	long long total;
	int64_t index;
};
void mam_page_cut(const struct mam_query *q, PGresult *res, size_t out_pending,
    size_t overhead, struct mam_page *pg);
/* <start/> and <end/> of a <metadata/> answer (XEP-0313 §7.1) from a row
 * (min id, max id), NULL for an empty archive: nothing added then. */
struct xml_node;
void mam_metadata_fill(struct xml_node *m, PGresult *res);
/* ids as a PostgreSQL array literal ({1,2,3}) appended to b. */
struct buf;
void mam_id_array(struct buf *b, const int64_t *v, size_t n);

/* Archive ids as text: decimal, no sign or leading zero; -1 if malformed. */
int mam_id_parse(const char *s, int64_t *out);
/* XEP-0082 DateTime to microseconds since the epoch; -1 if malformed. */
int mam_time_parse(const char *s, int64_t *out);
/* Microseconds to "YYYY-MM-DDThh:mm:ss.uuuuuuZ" (buf >= 32). */
char *mam_time_format(int64_t us, char *buf, size_t len);

/* Runs a query IQ (takes iq). */
void mamquery_iq(struct c2s *c, struct xml_node *iq, const struct xml_node *q);
/* The form of the namespace asked (XEP-0313 §4.1.5). */
void mamquery_form(struct c2s *c, const struct xml_node *iq, const char *ns);
/* First and last message of the archive (takes iq). */
void mamquery_metadata(struct c2s *c, struct xml_node *iq);
/* Bind2 (XEP-0386 §3.2): the same <metadata/> into the <bound/> b
 * (registry.h bind2_bound). */
int mamquery_bind2_bound(struct c2s *c, struct buf *b);

#endif
