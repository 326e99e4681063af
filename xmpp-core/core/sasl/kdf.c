/*
 * kdf — PBKDF2 on a worker thread.  See kdf.h.
 *
 * Two lists under one mutex: jobs waiting for the worker and jobs done.
 * The worker takes one job at a time, computes without the lock, puts it
 * on the done list and writes the eventfd; the loop drains the done list
 * and calls back.  Passwords and derived keys are wiped before a job is
 * freed.
 */
#include "kdf.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "evloop.h"
#include "log.h"

enum kdf_op { KDF_DERIVE, KDF_CHECK };

struct kdf_job {
	struct kdf_job *next;
	enum kdf_op op;
	enum scram_hash h;	/* KDF_CHECK */
	unsigned iter;		/* KDF_DERIVE */
	char *password;
	struct scram_keys keys[2];
	bool ok;
	kdf_cb *cb;
	void *arg;
};

struct kdf_list {
	struct kdf_job *head, **tail;
};

static struct {
	struct ev_loop *loop;
	struct ev_io io;
	int efd;
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct kdf_list todo, done;
	unsigned queued, max_queue;	/* jobs not yet called back */
	bool stop;
} k = { .efd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void
list_init(struct kdf_list *l)
{
	l->head = NULL;
	l->tail = &l->head;
}

static void
list_push(struct kdf_list *l, struct kdf_job *j)
{
	j->next = NULL;
	*l->tail = j;
	l->tail = &j->next;
}

static struct kdf_job *
list_pop(struct kdf_list *l)
{
	struct kdf_job *j = l->head;

	if (j && (l->head = j->next) == NULL)
		l->tail = &l->head;
	return j;
}

static void
job_free(struct kdf_job *j)
{
	if (j->password) {
		OPENSSL_cleanse(j->password, strlen(j->password));
		free(j->password);
	}
	OPENSSL_cleanse(j->keys, sizeof(j->keys));
	free(j);
}

static void
job_run(struct kdf_job *j)
{
	size_t len = strlen(j->password);

	if (j->op == KDF_CHECK) {
		j->ok = scram_check_password(j->h, &j->keys[j->h], j->password, len);
		return;
	}
	j->ok = scram_make_keys(SCRAM_SHA1, j->password, j->iter, &j->keys[SCRAM_SHA1]) == 0 &&
	    scram_make_keys(SCRAM_SHA256, j->password, j->iter, &j->keys[SCRAM_SHA256]) == 0;
}

static void *
worker(void *unused)
{
	struct kdf_job *j;
	uint64_t one = 1;

	(void)unused;
	pthread_mutex_lock(&k.mu);
	for (;;) {
		while (!k.stop && k.todo.head == NULL)
			pthread_cond_wait(&k.cv, &k.mu);
		if (k.stop)
			break;
		j = list_pop(&k.todo);
		pthread_mutex_unlock(&k.mu);
		job_run(j);
		pthread_mutex_lock(&k.mu);
		list_push(&k.done, j);
		/* a full counter cannot happen: the loop drains it */
		if (write(k.efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
			log_err("kdf: eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&k.mu);
	return NULL;
}

static void
on_done(struct ev_loop *loop, struct ev_io *io, uint32_t revents)
{
	struct kdf_job *j;
	uint64_t n;

	(void)loop;
	(void)io;
	(void)revents;
	if (read(k.efd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_err("kdf: eventfd: %s", strerror(errno));
	for (;;) {
		pthread_mutex_lock(&k.mu);
		j = list_pop(&k.done);
		if (j)
			k.queued--;
		pthread_mutex_unlock(&k.mu);
		if (j == NULL)
			break;
		j->cb(j->arg, j->ok, j->op == KDF_DERIVE && j->ok ? j->keys : NULL);
		job_free(j);
	}
}

int
kdf_init(struct ev_loop *loop, unsigned max_queue)
{
	sigset_t all, old;
	int err;

	list_init(&k.todo);
	list_init(&k.done);
	k.loop = loop;
	k.max_queue = max_queue;
	k.stop = false;
	if ((k.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		return -1;
	ev_io_init(&k.io, k.efd, on_done, NULL);
	if (ev_io_start(loop, &k.io, EPOLLIN) == -1)
		goto fail;
	/* the worker takes no signals: the loop's signalfd gets them all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&k.thread, NULL, worker, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		ev_io_stop(loop, &k.io);
		errno = err;
		goto fail;
	}
	k.running = true;
	return 0;
fail:
	err = errno;
	close(k.efd);
	k.efd = -1;
	errno = err;
	return -1;
}

void
kdf_shutdown(void)
{
	struct kdf_job *j;

	if (!k.running)
		return;
	pthread_mutex_lock(&k.mu);
	k.stop = true;
	pthread_cond_signal(&k.cv);
	pthread_mutex_unlock(&k.mu);
	pthread_join(k.thread, NULL);
	k.running = false;
	while ((j = list_pop(&k.todo)) != NULL)
		job_free(j);
	while ((j = list_pop(&k.done)) != NULL)
		job_free(j);
	k.queued = 0;
	ev_io_stop(k.loop, &k.io);
	close(k.efd);
	k.efd = -1;
}

static struct kdf_job *
submit(struct kdf_job *j, const char *password, kdf_cb *cb, void *arg)
{
	if ((j->password = strdup(password)) == NULL) {
		job_free(j);
		return NULL;
	}
	j->cb = cb;
	j->arg = arg;
	pthread_mutex_lock(&k.mu);
	if (!k.running || k.queued >= k.max_queue) {
		pthread_mutex_unlock(&k.mu);
		job_free(j);
		return NULL;
	}
	k.queued++;
	list_push(&k.todo, j);
	pthread_cond_signal(&k.cv);
	pthread_mutex_unlock(&k.mu);
	return j;
}

struct kdf_job *
kdf_derive(const char *password, unsigned iter, kdf_cb *cb, void *arg)
{
	struct kdf_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->op = KDF_DERIVE;
	j->iter = iter;
	return submit(j, password, cb, arg);
}

struct kdf_job *
kdf_check(enum scram_hash h, const struct scram_keys *keys, const char *password,
    kdf_cb *cb, void *arg)
{
	struct kdf_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->op = KDF_CHECK;
	j->h = h;
	j->keys[h] = *keys;
	return submit(j, password, cb, arg);
}
