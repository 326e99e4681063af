/*
 * put — uploads.  The whole answer is decided from the request line and
 * headers (path, MAC, Content-Length, size limit: head.c; then existing
 * name, disk space); only then is the body streamed, chunk by chunk as it
 * arrives, into an anonymous temporary file, which becomes visible under
 * its name only once exactly Content-Length bytes are on disk.  Memory
 * use does not depend on the upload's size.
 */
#include "log.h"
#include "request.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * With fsync on, the disk writes the body while it is still arriving
 * (see writeback): each WB_WINDOW bytes completed are sent to the disk at
 * once, and the window WB_LAG behind is waited for, so an upload never
 * has more than (WB_LAG + 1) * WB_WINDOW bytes dirty or in flight, and the
 * fdatasync before 201 finds at most that much left to write.
 */
#define WB_WINDOW ((uint64_t)4 << 20)
#define WB_LAG 2

static enum MHD_Result
store_error(struct req *r, int err, const char *what)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return upload_req_error(r, 507, "no space left");
	case EEXIST:
	case ENOTDIR:
		return upload_req_error(r, 409, "exists");
	case ELOOP:
	case EXDEV:
		/* The name leads through a symlink planted in the store. */
		return upload_req_error(r, 403, "symlink in path");
	default:
		log_err("%s %s: %s", what, r->logpath, strerror(err));
		return upload_req_error(r, 500, what);
	}
}

enum MHD_Result
upload_put_begin(struct req *r, const char *url)
{
	struct upload_config *cf = r->cf;
	const char *note = NULL;
	unsigned st;
	int rc;

	if ((st = upload_head_put(cf, url, &r->head, r->rel, sizeof(r->rel),
	    &r->expected, &note)) != 0)
		return upload_req_error(r, st, note);
	if ((rc = upload_store_exists(cf->store_fd, r->rel)) != 0)
		return rc > 0 ? upload_req_error(r, 409, "exists") :
		    store_error(r, -rc, "checking name");
	if ((rc = upload_store_tmp_create(cf->store_fd, &r->tmp)) < 0)
		return store_error(r, -rc, "creating temporary file");
	/* Claim the space now, so a full disk is a 507 before the body. */
	if (r->expected > 0 && fallocate(r->tmp.fd, FALLOC_FL_KEEP_SIZE, 0,
	    (off_t)r->expected) < 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
		int e = errno;

		upload_store_tmp_discard(cf->store_fd, &r->tmp);
		return store_error(r, e, "allocating space");
	}
	r->receiving = true;
	return MHD_YES;
}

/*
 * sync_file_range(2) on whole windows of what is written: WRITE starts
 * the just-completed window without waiting; WAIT_BEFORE | WRITE |
 * WAIT_AFTER on an older one waits until it is on the disk (it has had
 * WB_LAG windows' time to get there, so normally this costs nothing),
 * which bounds the dirty pages and gives the client backpressure when
 * the disk is slower than the network.  Durability still comes from the
 * fdatasync at the end: sync_file_range commits no metadata and flushes
 * no disk cache.  A failure here is the upload's write error.
 */
static void
writeback(struct req *r)
{
	while (r->write_err == 0 && r->received - r->flushed >= WB_WINDOW) {
		uint64_t start = r->flushed;

		if (sync_file_range(r->tmp.fd, (off_t)start, (off_t)WB_WINDOW,
		    SYNC_FILE_RANGE_WRITE) < 0)
			r->write_err = errno;
		else if (start >= WB_LAG * WB_WINDOW &&
		    sync_file_range(r->tmp.fd, (off_t)(start - WB_LAG * WB_WINDOW),
		    (off_t)WB_WINDOW, SYNC_FILE_RANGE_WAIT_BEFORE |
		    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) < 0)
			r->write_err = errno;
		r->flushed += WB_WINDOW;
	}
}

enum MHD_Result
upload_put_data(struct req *r, const char *data, size_t *size)
{
	size_t n = *size, off = 0;

	*size = 0;
	if (r->received + n > r->expected) {
		/* libmicrohttpd frames by Content-Length; cannot happen. */
		r->note = "body longer than Content-Length";
		return MHD_NO;
	}
	r->received += n;
	r->bytes = r->received;
	while (r->write_err == 0 && off < n) {
		ssize_t w = write(r->tmp.fd, data + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* Keep reading (and dropping) the body; answer at the end. */
			r->write_err = w < 0 ? errno : EIO;
			break;
		}
		off += (size_t)w;
	}
	if (r->cf->fsync && r->write_err == 0)
		writeback(r);
	return MHD_YES;
}

enum MHD_Result
upload_put_finish(struct req *r)
{
	struct MHD_Response *resp;
	int rc;

	r->receiving = false;
	if (r->write_err) {
		upload_store_tmp_discard(r->cf->store_fd, &r->tmp);
		return store_error(r, r->write_err, "writing upload");
	}
	if (r->received != r->expected) {
		upload_store_tmp_discard(r->cf->store_fd, &r->tmp);
		return upload_req_error(r, 400, "short body");
	}
	rc = upload_store_tmp_commit(r->cf->store_fd, &r->tmp, r->rel, r->cf->fsync);
	if (rc < 0)
		return store_error(r, -rc, "storing upload");
	resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	upload_req_add_common(r, resp);
	return upload_req_queue(r, 201, resp);
}

void
upload_put_cleanup(struct req *r)
{
	/* Aborted, timed out or refused: nothing of it may remain. */
	if (r->tmp.fd >= 0)
		upload_store_tmp_discard(r->cf->store_fd, &r->tmp);
}
