/* Unit tests for xmpp-core's small containers: buf.c and hmap.c. */
#include "t.h"
#include "buf.h"
#include "hmap.h"
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>

TEST(xmpp_buf_queue)
{
	struct buf b;
	char *s;

	buf_init(&b);
	CHECK_INT(buf_puts(&b, "hello "), 0);
	CHECK_INT(buf_printf(&b, "%s %d", "world", 42), 0);
	CHECK_STR(b.p, "hello world 42");
	buf_consume(&b, 6);
	CHECK_INT(buf_pending(&b), 8);
	CHECK(memcmp(buf_data(&b), "world 42", 8) == 0);
	/* growing after a consumed prefix compacts instead of leaking room */
	for (int i = 0; i < 1000; i++)
		CHECK_INT(buf_append(&b, "0123456789", 10), 0);
	CHECK_INT(buf_pending(&b), 8 + 10000);
	buf_consume(&b, buf_pending(&b));
	CHECK_INT(buf_pending(&b), 0);
	CHECK_INT(buf_puts(&b, "x"), 0);
	s = buf_steal(&b);
	CHECK_STR(s, "x");
	CHECK(b.p == NULL);
	free(s);
	buf_free(&b);
}

TEST(xmpp_hmap_basic)
{
	struct hmap m;
	struct hmap_ent *e;
	char key[64];
	size_t i, n = 0;
	long sum = 0;

	hmap_init(&m);
	for (long k = 0; k < 5000; k++) {
		snprintf(key, sizeof(key), "user%ld@localhost", k);
		CHECK_INT(hmap_put(&m, key, (void *)(k + 1)), 0);
	}
	CHECK_INT(m.n, 5000);
	CHECK((long)hmap_get(&m, "user4999@localhost") == 5000);
	CHECK(hmap_get(&m, "nobody@localhost") == NULL);
	CHECK_INT(hmap_put(&m, "user7@localhost", (void *)1000000), 0);
	CHECK_INT(m.n, 5000);
	CHECK((long)hmap_del(&m, "user7@localhost") == 1000000);
	CHECK(hmap_del(&m, "user7@localhost") == NULL);
	for (e = hmap_first(&m, &i); e; e = hmap_next(&m, e, &i)) {
		n++;
		sum += (long)e->val;
	}
	CHECK_INT(n, 4999);
	CHECK_INT(sum, 5000L * 5001 / 2 - 8);
	hmap_free(&m);
	CHECK_INT(m.n, 0);
}

/* hmap_ref: counters through the value's place, across growth. */
TEST(xmpp_hmap_ref_counts)
{
	struct hmap m;
	char key[32];
	void **v;

	hmap_init(&m);
	for (long k = 0; k < 3000; k++) {
		snprintf(key, sizeof(key), "c%ld", k % 1000);
		CHECK((v = hmap_ref(&m, key)) != NULL);
		if (k < 1000)
			CHECK(*v == NULL);	/* a new key starts at NULL */
		*v = (void *)((uintptr_t)*v + 1);
	}
	CHECK_INT(m.n, 1000);
	CHECK((uintptr_t)hmap_get(&m, "c0") == 3);
	CHECK((uintptr_t)hmap_get(&m, "c999") == 3);
	CHECK(hmap_get(&m, "c1000") == NULL);
	hmap_free(&m);
}
