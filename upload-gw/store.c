/*
 * store — safe, atomic file operations on the upload store.  See store.h.
 */
#include "store.h"
#include "crypto.h"
#include "path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FILE_MODE 0644
#define DIR_MODE 0755

int
upload_store_openat(int root, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	do
		fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : (int)fd;
}

int
upload_store_open_root(const char *dir, bool create, char *err, size_t errlen)
{
	char buf[4096];
	int fd;

	if (create) {
		size_t n = strlen(dir);

		if (n >= sizeof(buf)) {
			snprintf(err, errlen, "%s: path too long", dir);
			return -1;
		}
		memcpy(buf, dir, n + 1);
		for (char *p = buf + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			if (mkdir(buf, DIR_MODE) < 0 && errno != EEXIST) {
				snprintf(err, errlen, "mkdir %s: %s", buf, strerror(errno));
				return -1;
			}
			*p = '/';
		}
		if (mkdir(buf, DIR_MODE) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", buf, strerror(errno));
			return -1;
		}
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	return fd;
}

int
upload_store_open_read(int root, const char *rel, struct stat *st)
{
	int fd = upload_store_openat(root, rel, O_RDONLY | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return S_ISDIR(st->st_mode) ? -EISDIR : -EACCES;
	}
	return fd;
}

int
upload_store_exists(int root, const char *rel)
{
	int fd = upload_store_openat(root, rel, O_PATH);

	if (fd >= 0) {
		close(fd);
		return 1;
	}
	if (fd == -ENOENT)
		return 0;
	if (fd == -ENOTDIR)
		return 1;	/* a parent is a file: the name can never be ours */
	return fd;
}

int
upload_store_tmp_create(int root, struct store_tmp *t)
{
	int fd;

	t->fd = -1;
	t->named = false;
	t->name[0] = '\0';
	fd = openat(root, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd >= 0) {
		t->fd = fd;
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	/* No O_TMPFILE on this filesystem. */
	return upload_store_tmp_create_named(root, t);
}

int
upload_store_tmp_create_named(int root, struct store_tmp *t)
{
	int fd, dfd;

	t->fd = -1;
	t->named = false;
	if (mkdirat(root, PATH_TMPDIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	if ((dfd = upload_store_openat(root, PATH_TMPDIR, O_PATH | O_DIRECTORY)) < 0)
		return dfd;
	if (random_hex(t->name, 16) < 0) {
		close(dfd);
		return -EIO;
	}
	fd = openat(dfd, t->name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0) {
		int e = errno;

		close(dfd);
		return -e;
	}
	close(dfd);
	/*
	 * Held for the file's life: the start-up sweep takes only files
	 * nobody holds, so a second daemon on the same store (or a restart
	 * while an old process still drains) never removes a live upload.
	 */
	flock(fd, LOCK_EX | LOCK_NB);
	t->fd = fd;
	t->named = true;
	return 0;
}

void
upload_store_tmp_discard(int root, struct store_tmp *t)
{
	if (t->fd < 0)
		return;
	if (t->named) {
		int dfd = upload_store_openat(root, PATH_TMPDIR, O_PATH | O_DIRECTORY);

		if (dfd >= 0) {
			unlinkat(dfd, t->name, 0);
			close(dfd);
		}
	}
	close(t->fd);
	t->fd = -1;
}

/*
 * Directories whose fsync makes one upload durable: the one its name was
 * linked into, and the parent of every directory created for it (the
 * new directory's own entry).  At most PATH_MAX_DEPTH.
 */
struct dirset {
	int fd[PATH_MAX_DEPTH + 1];
	size_t n;
};

static void
dirset_close(struct dirset *ds)
{
	for (size_t i = 0; i < ds->n; i++)
		close(ds->fd[i]);
	ds->n = 0;
}

/*
 * Opens (creating) the parent directory of rel: fd or -errno.  With ds,
 * the parents of directories created on the way are kept open in it.
 */
static int
open_parent(int root, const char *rel, const char **base, struct dirset *ds)
{
	const char *s = rel, *slash;
	int cur = dup(root);

	if (cur < 0)
		return -errno;
	while ((slash = strchr(s, '/')) != NULL) {
		char seg[PATH_MAX_SEGMENT + 1];
		size_t l = (size_t)(slash - s);
		int next;

		if (l == 0 || l > PATH_MAX_SEGMENT) {
			close(cur);
			return -EINVAL;
		}
		memcpy(seg, s, l);
		seg[l] = '\0';
		if (mkdirat(cur, seg, DIR_MODE) == 0) {
			if (ds != NULL && ds->n < PATH_MAX_DEPTH &&
			    (ds->fd[ds->n] = dup(cur)) >= 0)
				ds->n++;
		} else if (errno != EEXIST) {
			int e = errno;

			close(cur);
			return -e;
		}
		next = upload_store_openat(cur, seg, O_RDONLY | O_DIRECTORY);
		close(cur);
		if (next < 0)
			return next;
		cur = next;
		s = slash + 1;
	}
	*base = s;
	return cur;
}

static int
link_into(int root, struct store_tmp *t, int dfd, const char *base)
{
	if (t->named) {
		int tdir = upload_store_openat(root, PATH_TMPDIR, O_PATH | O_DIRECTORY);
		int rc;

		if (tdir < 0)
			return tdir;
		rc = renameat2(tdir, t->name, dfd, base, RENAME_NOREPLACE);
		rc = rc < 0 ? -errno : 0;
		close(tdir);
		return rc;
	} else {
		/*
		 * linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the
		 * /proc link works for the unprivileged owner of the fd.
		 */
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
		if (linkat(AT_FDCWD, proc, dfd, base, AT_SYMLINK_FOLLOW) < 0)
			return -errno;
		return 0;
	}
}

/*
 * Group commit of directory fsyncs, per directory.  An upload's entries
 * are durable once an fsync of each of its directories has run that
 * started after the entry was made.  Uploads that wait for the same
 * directory (the store's root, parent of the new directory each slot
 * usually gets, or one directory many uploads go to) share an fsync:
 * whoever arrives while one runs waits for it to end and then for the
 * next one, which one of the waiters starts for all of them.  Different
 * directories are synced side by side, so the disk's cache flushes of
 * uploads finishing together overlap (the block layer merges concurrent
 * flushes) instead of queueing behind one thread.
 */
struct dsync_dir {
	struct dsync_dir *next;
	dev_t dev;
	ino_t ino;
	unsigned users;		/* callers waiting on it */
	uint64_t started;	/* fsyncs begun, the running one included */
	uint64_t done;		/* the last one finished */
	uint64_t err_gen;	/* the last one that failed, 0: none */
	int err;		/* its -errno */
	bool busy;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct dsync_dir *dirs;
} dsync = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL };

/* fsyncs the directory fd, or shares an fsync of it: 0, or -errno. */
static int
dsync_one(int fd)
{
	struct dsync_dir *d, **pp;
	struct stat st;
	uint64_t need;
	int rc;

	if (fstat(fd, &st) < 0)
		return fsync(fd) < 0 ? -errno : 0;
	pthread_mutex_lock(&dsync.lock);
	for (d = dsync.dirs; d != NULL; d = d->next)
		if (d->dev == st.st_dev && d->ino == st.st_ino)
			break;
	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL) {
			pthread_mutex_unlock(&dsync.lock);
			return fsync(fd) < 0 ? -errno : 0;
		}
		d->dev = st.st_dev;
		d->ino = st.st_ino;
		d->next = dsync.dirs;
		dsync.dirs = d;
	}
	d->users++;
	need = d->started + 1;	/* the running one may predate our entry */
	while (d->done < need) {
		if (!d->busy) {
			uint64_t gen = ++d->started;
			int r;

			d->busy = true;
			pthread_mutex_unlock(&dsync.lock);
			r = fsync(fd) < 0 ? -errno : 0;
			pthread_mutex_lock(&dsync.lock);
			d->busy = false;
			d->done = gen;
			if (r < 0) {
				d->err = r;
				d->err_gen = gen;
			}
			pthread_cond_broadcast(&dsync.cond);
		} else {
			pthread_cond_wait(&dsync.cond, &dsync.lock);
		}
	}
	/* Any failure since ours began counts: an entry is never reported
	 * durable on a sync that failed after covering it. */
	rc = d->err_gen >= need ? d->err : 0;
	if (--d->users == 0) {
		for (pp = &dsync.dirs; *pp != d; pp = &(*pp)->next)
			;
		*pp = d->next;
		free(d);
	}
	pthread_mutex_unlock(&dsync.lock);
	return rc;
}

/* fsyncs every directory of ds, the new ones' parents first: 0, or -errno. */
static int
dsync_all(const struct dirset *ds)
{
	int rc = 0;

	for (size_t i = 0; i < ds->n && rc == 0; i++)
		rc = dsync_one(ds->fd[i]);
	return rc;
}

int
upload_store_tmp_commit(int root, struct store_tmp *t, const char *rel, bool durable)
{
	struct dirset ds = { .n = 0 };
	const char *base = NULL;
	int dfd, rc = 0;

	if (fchmod(t->fd, FILE_MODE) < 0 || (durable && fdatasync(t->fd) < 0)) {
		rc = -errno;
		goto out;
	}
	/*
	 * Twice: expiry may prune a parent directory between its creation
	 * and the link (it spares young directories, so once is enough).
	 */
	for (int attempt = 0; attempt < 2; attempt++) {
		dirset_close(&ds);
		if ((dfd = open_parent(root, rel, &base, durable ? &ds : NULL)) < 0) {
			rc = dfd;
			goto out;
		}
		rc = link_into(root, t, dfd, base);
		if (rc == -ENOENT && attempt == 0) {
			close(dfd);
			continue;
		}
		if (rc == 0 && durable) {
			/* The file's own directory is synced with the others. */
			ds.fd[ds.n++] = dfd;
			if ((rc = dsync_all(&ds)) < 0) {
				/* Not durable: not there either, as far as we can. */
				unlinkat(dfd, base, 0);
				t->named = false;
			}
		} else {
			close(dfd);
		}
		break;
	}
out:
	dirset_close(&ds);
	if (rc == 0)
		t->named = false;	/* nothing left to unlink */
	upload_store_tmp_discard(root, t);
	return rc;
}

int
upload_store_tmp_sweep(int root, unsigned *removed)
{
	struct dirent *de;
	DIR *d;
	int fd;

	*removed = 0;
	fd = upload_store_openat(root, PATH_TMPDIR, O_RDONLY | O_DIRECTORY);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	if ((d = fdopendir(fd)) == NULL) {
		int e = errno;

		close(fd);
		return -e;
	}
	while ((de = readdir(d)) != NULL) {
		int f;

		if (de->d_name[0] == '.')
			continue;
		/* Only unlocked files: a locked one is a live upload's. */
		f = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
		if (f < 0)
			continue;
		if (flock(f, LOCK_EX | LOCK_NB) == 0 &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0)
			(*removed)++;
		close(f);
	}
	closedir(d);
	unlinkat(root, PATH_TMPDIR, AT_REMOVEDIR);
	return 0;
}

int
upload_store_probe(int root, char *err, size_t errlen)
{
	char rel[sizeof(PATH_TMPDIR) + 48], rnd[17];
	struct store_tmp t;
	int rc, dfd;

	if (random_hex(rnd, 8) < 0) {
		snprintf(err, errlen, "no randomness");
		return -1;
	}
	snprintf(rel, sizeof(rel), "%s/probe-%s", PATH_TMPDIR, rnd);
	if ((rc = upload_store_tmp_create(root, &t)) < 0) {
		snprintf(err, errlen, "cannot create files: %s", strerror(-rc));
		return -1;
	}
	if ((rc = upload_store_tmp_commit(root, &t, rel, false)) < 0) {
		snprintf(err, errlen, "cannot link files into place%s: %s",
		    rc == -ENOENT ? " (is /proc mounted?)" : "", strerror(-rc));
		return -1;
	}
	if ((dfd = upload_store_openat(root, PATH_TMPDIR, O_PATH | O_DIRECTORY)) >= 0) {
		unlinkat(dfd, rel + sizeof(PATH_TMPDIR), 0);
		close(dfd);
	}
	/* Leaves the store as found (fails harmlessly if temp files live). */
	unlinkat(root, PATH_TMPDIR, AT_REMOVEDIR);
	return 0;
}
