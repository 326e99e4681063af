/* Unit tests for xmpp-core/core/xml/arena.c and the expat parser living in one. */
#include "t.h"
#include "arena.h"
#include "xml.h"

#include <stdint.h>
#include <stdlib.h>

TEST(xml_arena_blocks)
{
	struct arena *a = arena_new();
	unsigned char *p[64];
	size_t base;

	CHECK(a != NULL);
	base = arena_mapped(a);
	CHECK_INT(base, ARENA_CHUNK);
	/* aligned, distinct, writable, for every size up to past ARENA_BIG */
	for (unsigned i = 0; i < 64; i++) {
		size_t n = 1 + i * 97;

		p[i] = arena_malloc(a, n);
		CHECK(p[i] != NULL);
		CHECK_INT((uintptr_t)p[i] % 16, 0);
		memset(p[i], (int)i, n);
	}
	for (unsigned i = 0; i < 64; i++)
		for (size_t k = 0; k < 1 + i * 97; k++)
			if (p[i][k] != (unsigned char)i)
				CHECK(!"block overwritten");
	/* a freed block is reused for the same size */
	{
		void *q = p[10];

		arena_release(p[10]);
		p[10] = arena_malloc(a, 1 + 10 * 97);
		CHECK(p[10] == q);
	}
	/* realloc keeps the contents; growth within the block stays put */
	p[0] = arena_realloc(a, p[0], 8);
	CHECK(p[0][0] == 0);
	p[5] = arena_realloc(a, p[5], 20000);	/* into a mapping of its own */
	CHECK(p[5] != NULL);
	for (size_t k = 0; k < 1 + 5 * 97; k++)
		if (p[5][k] != 5)
			CHECK(!"realloc lost data");
	memset(p[5], 0xaa, 20000);
	for (unsigned i = 0; i < 64; i++)
		arena_release(p[i]);
	arena_free(a);
}

TEST(xml_arena_bounded)
{
	struct arena *a = arena_new();
	void *p[8] = { 0 };
	size_t peak = 0;

	CHECK(a != NULL);
	/* a busy owner reallocating and freeing reuses its blocks */
	for (unsigned round = 0; round < 100000; round++) {
		unsigned i = round % 8;
		size_t n = 16 + (round * 7919u) % 6000;

		p[i] = arena_realloc(a, p[i], n);
		CHECK(p[i] != NULL);
		memset(p[i], 1, n);
		if (round % 3 == 0) {
			arena_release(p[i]);
			p[i] = NULL;
		}
		if (round == 1000)
			peak = arena_mapped(a);
		CHECK(round < 1000 || arena_mapped(a) <= peak + 8 * 8192);
	}
	for (unsigned i = 0; i < 8; i++)
		arena_release(p[i]);
	/* big blocks went back with their mappings */
	CHECK(arena_mapped(a) <= peak);
	arena_free(a);
}

TEST(xml_arena_heap_fallback)
{
	char *p = arena_malloc(NULL, 10);

	CHECK(p != NULL);
	memcpy(p, "123456789", 10);
	p = arena_realloc(NULL, p, 5000);
	CHECK(p != NULL);
	CHECK_STR(p, "123456789");
	arena_release(p);
	arena_release(NULL);
}

static int nstanzas;

static void
s_open(void *arg, const char *name, const char *ns, const char **attrs)
{
	(void)arg; (void)name; (void)ns; (void)attrs;
}

static void
s_stanza(void *arg, struct xml_node *n)
{
	(void)arg;
	nstanzas++;
	xml_free(n);
}

static void
s_close(void *arg)
{
	(void)arg;
}

static const struct xml_stream_cb scb = { s_open, s_stanza, s_close };

#define SHDR "<?xml version='1.0'?><stream:stream xmlns='jabber:client' " \
	"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"

/* A long-lived busy stream: its parser's memory stays bounded. */
TEST(xml_arena_stream_bounded)
{
	struct xml_limits lim = { 262144, 32, 64, 0, 0 };
	struct xml_stream *s = xml_stream_new(&lim, &scb, NULL);
	char msg[9000], body[6000];
	size_t after_first = 0, most = 0;

	CHECK(s != NULL);
	nstanzas = 0;
	CHECK(xml_stream_feed(s, SHDR, sizeof(SHDR) - 1) > 0);
	for (unsigned i = 0; i < 100000; i++) {
		/* varied sizes, names, namespaces and attributes */
		size_t blen = (i * 7919u) % (i % 100 == 0 ? sizeof(body) : 300);
		int n;

		memset(body, 'a' + (int)(i % 26), blen);
		body[blen] = '\0';
		n = snprintf(msg, sizeof(msg), "<message to='u%u@example.com/r%u' "
		    "id='m%u' type='chat' xml:lang='en'><body>%s</body>"
		    "<x%u xmlns='urn:x:%u' a%u='v'/></message> ",
		    i % 1000, i % 7, i, body, i % 50, i % 40, i % 9);
		CHECK(xml_stream_feed(s, msg, (size_t)n) == n);
		if (i == 999)
			after_first = xml_stream_mem(s);
		if (xml_stream_mem(s) > most)
			most = xml_stream_mem(s);
	}
	CHECK_INT(nstanzas, 100000);
	/* expat's name pools and buffers settle: no growth past warm-up */
	CHECK(most <= after_first + 4 * ARENA_CHUNK);
	CHECK(most <= 128 * 1024);
	/* parked: no parser, nothing mapped; it resumes and continues */
	CHECK(xml_stream_park(s));
	CHECK_INT(xml_stream_mem(s), 0);
	CHECK(xml_stream_feed(s, "<presence/>", 11) == 11);
	CHECK_INT(nstanzas, 100001);
	xml_stream_free(s);
}
