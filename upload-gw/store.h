/*
 * store — every filesystem operation on the upload store, relative to one
 * directory descriptor and resolved with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS), so no name from the network can reach outside the
 * store, through a symlink planted inside it or otherwise.
 *
 * Uploads are written to an anonymous O_TMPFILE in the store (or, where
 * the filesystem lacks it, a random name in the store's private
 * PATH_TMPDIR) and linked into place only when complete; the link fails
 * if the name exists, so of two concurrent PUTs exactly one wins.  An
 * abandoned O_TMPFILE vanishes with its descriptor.
 */
#ifndef UPLOAD_STORE_H
#define UPLOAD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct store_tmp {
	int fd;			/* -1 when none */
	bool named;		/* fallback file under PATH_TMPDIR */
	char name[40];
};

/*
 * Opens (creating it and its parents if asked) the store directory: a
 * descriptor, or -1 with message.
 */
int upload_store_open_root(const char *dir, bool create, char *err, size_t errlen);

/* Regular file for reading: fd and *st, or -errno (-EISDIR for dirs). */
int upload_store_open_read(int root, const char *rel, struct stat *st);

/* 1 if rel names anything (or cannot be created), 0 if free, -errno. */
int upload_store_exists(int root, const char *rel);

/* A fresh temporary file: 0, or -errno. */
int upload_store_tmp_create(int root, struct store_tmp *t);
/* The fallback for filesystems without O_TMPFILE (used by the above). */
int upload_store_tmp_create_named(int root, struct store_tmp *t);
/*
 * Makes the temporary file rel (mode 0644), creating parent directories:
 * 0, -EEXIST if the name was taken meanwhile, or another -errno.  With
 * durable, file and directory are fsync'd first.  t is consumed.
 */
int upload_store_tmp_commit(int root, struct store_tmp *t, const char *rel,
    bool durable);
/* Drops an uncommitted temporary file without a trace. */
void upload_store_tmp_discard(int root, struct store_tmp *t);

/*
 * Start-up cleanup: removes the temporary files an earlier run left in
 * PATH_TMPDIR when it was killed (the fallback files; an O_TMPFILE dies
 * with its process), and the directory if that leaves it empty.  Files
 * still locked by a running writer (flock, held by every fallback file's
 * creator) are kept.  *removed counts them.  0, or -errno.
 */
int upload_store_tmp_sweep(int root, unsigned *removed);

/*
 * Start-up self-test: creates, links and removes a file in the store's
 * private directory, proving the store is writable and that finished
 * uploads can be linked into place.  0, or -1 with message.
 */
int upload_store_probe(int root, char *err, size_t errlen);

/* openat2 beneath root without symlinks: fd or -errno. */
int upload_store_openat(int root, const char *rel, int flags);

#endif
