/*
 * expire — store sweep.  See expire.h.
 */
#include "expire.h"
#include "log.h"
#include "path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPIRE_MAX_DEPTH (PATH_MAX_DEPTH + 2)
#define EXPIRE_DIR_GRACE 60		/* seconds a new directory is spared */
#define EXPIRE_TMP_AGE (24 * 3600)	/* abandoned fallback temp files */
#define EXPIRE_CHECK_EVERY 256

struct sweep {
	time_t cutoff;
	time_t now;
	dev_t dev;
	unsigned long seen;
	struct expire_stats *st;
};

static int
signal_pending(void)
{
	sigset_t set;

	if (sigpending(&set) < 0)
		return 0;
	return sigismember(&set, SIGTERM) == 1 || sigismember(&set, SIGINT) == 1 ||
	    sigismember(&set, SIGHUP) == 1;
}

/* Sweeps the directory open as dfd (consumed).  Returns 1 if interrupted. */
static int
sweep_dir(struct sweep *s, int dfd, int depth, time_t cutoff)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int stop = 0;

	if (d == NULL) {
		close(dfd);
		s->st->errors++;
		return 0;
	}
	while (!stop && (de = readdir(d)) != NULL) {
		struct stat st;
		const char *n = de->d_name;

		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		if (++s->seen % EXPIRE_CHECK_EVERY == 0 && signal_pending()) {
			stop = 1;
			break;
		}
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				s->st->errors++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub;
			time_t sub_cutoff = cutoff;

			if (st.st_dev != s->dev || depth >= EXPIRE_MAX_DEPTH)
				continue;
			if (depth == 0 && strcmp(n, PATH_TMPDIR) == 0)
				sub_cutoff = s->now - EXPIRE_TMP_AGE;
			sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			    O_CLOEXEC);
			if (sub < 0) {
				s->st->errors++;
				continue;
			}
			stop = sweep_dir(s, sub, depth + 1, sub_cutoff);
			if (stop)
				break;
			/*
			 * Judged by the mtime from before the sweep emptied it:
			 * a directory an upload just created is spared, and an
			 * upload racing with the rmdir retries (store.c).
			 */
			if (st.st_mtime < s->now - EXPIRE_DIR_GRACE &&
			    unlinkat(dirfd(d), n, AT_REMOVEDIR) == 0)
				s->st->dirs++;
			continue;
		}
		if (!S_ISREG(st.st_mode) || st.st_mtime >= cutoff)
			continue;
		if (unlinkat(dirfd(d), n, 0) == 0) {
			s->st->files++;
			s->st->bytes += (uint64_t)st.st_size;
		} else if (errno != ENOENT) {
			s->st->errors++;
		}
	}
	closedir(d);
	return stop;
}

void
upload_expire_sweep(int root, time_t cutoff, struct expire_stats *st)
{
	struct sweep s = { .cutoff = cutoff, .now = time(NULL), .st = st };
	struct stat rst;
	int dfd;

	memset(st, 0, sizeof(*st));
	if (fstat(root, &rst) < 0 ||
	    (dfd = openat(root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		st->errors++;
		return;
	}
	s.dev = rst.st_dev;
	st->interrupted = sweep_dir(&s, dfd, 0, cutoff);
}
