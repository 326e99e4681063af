/* Unit tests for xmpp-core/core/sasl/kdf.c: PBKDF2 on the worker thread. */
#include <string.h>

#include "t.h"
#include "evloop.h"
#include "kdf.h"
#include "scram.h"

struct result {
	int calls;
	bool ok;
	struct scram_keys keys[2];
	struct ev_loop *loop;
	int want;
};

static void
on_result(void *arg, bool ok, const struct scram_keys *keys)
{
	struct result *r = arg;

	r->calls++;
	r->ok = ok;
	if (keys)
		memcpy(r->keys, keys, sizeof(r->keys));
	if (r->calls == r->want)
		ev_break(r->loop);
}

static void
on_timeout(struct ev_loop *loop, struct ev_timer *t)
{
	(void)t;
	ev_break(loop);
}

/* Runs the loop until r->want callbacks came (or 10 s passed). */
static void
wait_for(struct ev_loop *loop, struct result *r, int want)
{
	struct ev_timer t;

	r->loop = loop;
	r->want = want;
	ev_timer_init(&t, on_timeout, NULL);
	ev_timer_start(loop, &t, 10000);
	if (r->calls < want)
		ev_run(loop);
	ev_timer_stop(loop, &t);
}

TEST(xmpp_kdf_derive_then_check)
{
	struct ev_loop *loop = ev_loop_new();
	struct result d = { 0 }, good = { 0 }, bad = { 0 };

	CHECK(loop != NULL);
	CHECK_INT(kdf_init(loop, 4), 0);
	CHECK(kdf_derive("pencil", 4096, on_result, &d) != NULL);
	wait_for(loop, &d, 1);
	CHECK_INT(d.calls, 1);
	CHECK(d.ok);
	CHECK_INT(d.keys[SCRAM_SHA1].iter, 4096);
	CHECK_INT(d.keys[SCRAM_SHA256].iter, 4096);
	/* the derived keys verify the password on both hashes, and only it */
	CHECK(scram_check_password(SCRAM_SHA1, &d.keys[SCRAM_SHA1], "pencil", 6));
	CHECK(kdf_check(SCRAM_SHA256, &d.keys[SCRAM_SHA256], "pencil", on_result, &good) != NULL);
	CHECK(kdf_check(SCRAM_SHA256, &d.keys[SCRAM_SHA256], "pencul", on_result, &bad) != NULL);
	wait_for(loop, &good, 1);
	wait_for(loop, &bad, 1);
	CHECK(good.ok);
	CHECK(!bad.ok);
	kdf_shutdown();
	ev_loop_free(loop);
}

TEST(xmpp_kdf_queue_is_bounded)
{
	struct ev_loop *loop = ev_loop_new();
	struct result r = { 0 };
	int queued = 0;

	CHECK(loop != NULL);
	CHECK_INT(kdf_init(loop, 2), 0);
	for (int i = 0; i < 5; i++)
		if (kdf_derive("pencil", 4096, on_result, &r) != NULL)
			queued++;
	/* jobs count until called back, so exactly the bound gets in */
	CHECK_INT(queued, 2);
	wait_for(loop, &r, 2);
	CHECK_INT(r.calls, 2);
	/* room again once called back */
	CHECK(kdf_derive("pencil", 4096, on_result, &r) != NULL);
	/* shutdown with a job in flight: no callback, nothing leaks */
	kdf_shutdown();
	CHECK_INT(r.calls, 2);
	ev_loop_free(loop);
}
