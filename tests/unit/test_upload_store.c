/* Unit tests for upload-gw/store.c and expire.c on a scratch directory. */
#include "t.h"
#include "../../upload-gw/expire.h"
#include "../../upload-gw/path.h"
#include "../../upload-gw/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static int
scratch(char *dir, size_t len, int *root)
{
	char err[256];

	snprintf(dir, len, "/tmp/upload-store-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	*root = upload_store_open_root(dir, false, err, sizeof(err));
	return *root < 0 ? -1 : 0;
}

static void
rm_tree(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' || (de->d_name[1] != '\0' &&
		    (de->d_name[1] != '.' || de->d_name[2] != '\0')))
			n++;
	closedir(d);
	return n;
}

static int
put(int root, const char *rel, const char *data)
{
	struct store_tmp t;
	int rc = upload_store_tmp_create(root, &t);

	if (rc < 0)
		return rc;
	if (write(t.fd, data, strlen(data)) != (ssize_t)strlen(data)) {
		upload_store_tmp_discard(root, &t);
		return -EIO;
	}
	return upload_store_tmp_commit(root, &t, rel, true);
}

TEST(upload_store_commit_once)
{
	char dir[64], buf[16] = "";
	struct store_tmp a, b;
	struct stat st;
	int root, fd;

	CHECK(scratch(dir, sizeof(dir), &root) == 0);
	CHECK_INT(upload_store_exists(root, "x/y/z.txt"), 0);
	CHECK_INT(put(root, "x/y/z.txt", "first"), 0);
	CHECK_INT(upload_store_exists(root, "x/y/z.txt"), 1);
	CHECK_INT(upload_store_exists(root, "x/y/z.txt/w"), 1);	/* ENOTDIR */
	/* Two uploads to one name: the second link fails, first content kept. */
	CHECK_INT(upload_store_tmp_create(root, &a), 0);
	CHECK_INT(upload_store_tmp_create(root, &b), 0);
	CHECK(write(a.fd, "A", 1) == 1);
	CHECK(write(b.fd, "B", 1) == 1);
	CHECK_INT(upload_store_tmp_commit(root, &a, "race", true), 0);
	CHECK_INT(upload_store_tmp_commit(root, &b, "race", true), -EEXIST);
	CHECK_INT(put(root, "x/y/z.txt", "second"), -EEXIST);
	fd = upload_store_open_read(root, "x/y/z.txt", &st);
	CHECK(fd >= 0);
	CHECK(read(fd, buf, sizeof(buf) - 1) == 5);
	close(fd);
	CHECK_STR(buf, "first");
	CHECK_INT(st.st_mode & 07777, 0644);
	CHECK_INT(upload_store_open_read(root, "x/y", &st), -EISDIR);
	/* An abandoned upload leaves nothing. */
	CHECK_INT(upload_store_tmp_create(root, &a), 0);
	CHECK(write(a.fd, "junk", 4) == 4);
	upload_store_tmp_discard(root, &a);
	CHECK_INT(count_entries(dir), 2);	/* x, race */
	close(root);
	rm_tree(dir);
}

TEST(upload_store_no_symlinks)
{
	char dir[64], path[160];
	struct stat st;
	int root;

	CHECK(scratch(dir, sizeof(dir), &root) == 0);
	snprintf(path, sizeof(path), "%s/out", dir);
	CHECK(symlink("/etc", path) == 0);
	snprintf(path, sizeof(path), "%s/pw", dir);
	CHECK(symlink("/etc/passwd", path) == 0);
	CHECK_INT(upload_store_open_read(root, "pw", &st), -ELOOP);
	CHECK_INT(upload_store_open_read(root, "out/passwd", &st), -ELOOP);
	CHECK_INT(upload_store_exists(root, "out/new"), -ELOOP);
	CHECK_INT(put(root, "out/new", "x"), -ELOOP);
	CHECK_INT(upload_store_open_read(root, "../etc/passwd", &st), -EXDEV);
	CHECK_INT(upload_store_open_read(root, "/etc/passwd", &st), -EXDEV);
	close(root);
	rm_tree(dir);
}

TEST(upload_expire_sweep)
{
	char dir[64], path[160];
	struct expire_stats es;
	struct timeval old[2] = { { 1000, 0 }, { 1000, 0 } };
	int root;

	CHECK(scratch(dir, sizeof(dir), &root) == 0);
	CHECK_INT(put(root, "a/old.txt", "o"), 0);
	CHECK_INT(put(root, "b/new.txt", "n"), 0);
	CHECK_INT(put(root, "c/d/old.txt", "o"), 0);
	snprintf(path, sizeof(path), "%s/a/old.txt", dir);
	CHECK(utimes(path, old) == 0);
	snprintf(path, sizeof(path), "%s/c/d/old.txt", dir);
	CHECK(utimes(path, old) == 0);
	snprintf(path, sizeof(path), "%s/c/d", dir);
	CHECK(utimes(path, old) == 0);
	snprintf(path, sizeof(path), "%s/c", dir);
	CHECK(utimes(path, old) == 0);
	upload_expire_sweep(root, time(NULL) - 3600, &es);
	CHECK_INT(es.files, 2);
	CHECK_INT(es.bytes, 2);
	CHECK_INT(es.errors, 0);
	CHECK_INT(es.dirs, 2);		/* c/d and c; a is too young to prune */
	CHECK_INT(upload_store_exists(root, "b/new.txt"), 1);
	CHECK_INT(upload_store_exists(root, "a"), 1);
	CHECK_INT(upload_store_exists(root, "c"), 0);
	close(root);
	rm_tree(dir);
}

/* The path taken on filesystems without O_TMPFILE. */
TEST(upload_store_named_fallback)
{
	char dir[64], tmpdir[128], buf[8] = "";
	struct store_tmp a, b, c;
	struct stat st;
	int root, fd;

	CHECK(scratch(dir, sizeof(dir), &root) == 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/%s", dir, PATH_TMPDIR);
	CHECK_INT(upload_store_tmp_create_named(root, &a), 0);
	CHECK_INT(upload_store_tmp_create_named(root, &b), 0);
	CHECK_INT(upload_store_tmp_create_named(root, &c), 0);
	CHECK(a.named && b.named && strcmp(a.name, b.name) != 0);
	CHECK_INT(count_entries(tmpdir), 3);
	CHECK(write(a.fd, "AA", 2) == 2);
	CHECK(write(b.fd, "BB", 2) == 2);
	CHECK_INT(upload_store_tmp_commit(root, &a, "n/x.bin", true), 0);
	CHECK_INT(upload_store_tmp_commit(root, &b, "n/x.bin", true), -EEXIST);
	upload_store_tmp_discard(root, &c);
	/* Winner in place, loser and abandoned file gone, nothing left over. */
	CHECK_INT(count_entries(tmpdir), 0);
	fd = upload_store_open_read(root, "n/x.bin", &st);
	CHECK(fd >= 0);
	CHECK(read(fd, buf, sizeof(buf) - 1) == 2);
	close(fd);
	CHECK_STR(buf, "AA");
	CHECK_INT(st.st_mode & 07777, 0644);
	/* The private directory is never reachable as an upload path. */
	CHECK_INT(stat(tmpdir, &st), 0);
	CHECK_INT(st.st_mode & 07777, 0700);
	close(root);
	rm_tree(dir);
}

/* What a killed run leaves on a filesystem without O_TMPFILE. */
TEST(upload_store_sweep_after_crash)
{
	char dir[64], tmpdir[128];
	struct store_tmp a, b;
	struct stat st;
	unsigned removed = 99;
	int root;

	CHECK(scratch(dir, sizeof(dir), &root) == 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/%s", dir, PATH_TMPDIR);
	/* Nothing to do: no directory at all. */
	CHECK_INT(upload_store_tmp_sweep(root, &removed), 0);
	CHECK_INT(removed, 0);
	CHECK_INT(upload_store_tmp_create_named(root, &a), 0);
	CHECK_INT(upload_store_tmp_create_named(root, &b), 0);
	CHECK(write(a.fd, "partial", 7) == 7);
	/* A live upload (its lock held) is kept. */
	CHECK_INT(upload_store_tmp_sweep(root, &removed), 0);
	CHECK_INT(removed, 0);
	CHECK_INT(count_entries(tmpdir), 2);
	/* The process died: descriptors (and locks) gone, names left behind. */
	close(a.fd);
	CHECK_INT(upload_store_tmp_sweep(root, &removed), 0);
	CHECK_INT(removed, 1);
	CHECK_INT(count_entries(tmpdir), 1);
	close(b.fd);
	CHECK_INT(upload_store_tmp_sweep(root, &removed), 0);
	CHECK_INT(removed, 1);
	CHECK(stat(tmpdir, &st) < 0 && errno == ENOENT);
	CHECK_INT(upload_store_exists(root, "x"), 0);
	close(root);
	rm_tree(dir);
}

/* Durable commits from many threads at once share directory fsyncs. */
struct committer {
	int root;
	int id;
	int failed;
};

static void *
commit_many(void *arg)
{
	struct committer *c = arg;
	char rel[64];

	for (int i = 0; i < 25; i++) {
		/* Half share one directory, half get new ones (and parents). */
		if (i % 2)
			snprintf(rel, sizeof(rel), "shared/t%d-%d", c->id, i);
		else
			snprintf(rel, sizeof(rel), "own%d/d%d/f", c->id, i);
		if (put(c->root, rel, "data") != 0)
			c->failed++;
	}
	return NULL;
}

TEST(upload_store_group_commit)
{
	struct committer c[8];
	pthread_t th[8];
	char dir[64], rel[64];
	int root;

	CHECK(scratch(dir, sizeof(dir), &root) == 0);
	for (int i = 0; i < 8; i++) {
		c[i] = (struct committer){ .root = root, .id = i };
		CHECK_INT(pthread_create(&th[i], NULL, commit_many, &c[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(c[i].failed, 0);
	}
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 25; j++) {
			if (j % 2)
				snprintf(rel, sizeof(rel), "shared/t%d-%d", i, j);
			else
				snprintf(rel, sizeof(rel), "own%d/d%d/f", i, j);
			CHECK_INT(upload_store_exists(root, rel), 1);
		}
	/* A name taken meanwhile still loses, durable or not. */
	CHECK_INT(put(root, "shared/t0-1", "again"), -EEXIST);
	close(root);
	rm_tree(dir);
}
