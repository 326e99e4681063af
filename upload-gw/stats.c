/*
 * stats — upload-gw's Prometheus series.  See stats.h and deploy/METRICS.md.
 *
 * Requests are served by libmicrohttpd's threads, the endpoint by the
 * main loop (metrics_http.c): the counters are C11 atomics, added to
 * with relaxed order (each is one independent total; a scrape that sees
 * an upload's count a moment before its bytes is still a true reading).
 * Disk use is the store's file system as statvfs(2) sees it at the
 * scrape: what fills up, whoever fills it.
 */
#include "stats.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/statvfs.h>

#include "config.h"
#include "metrics.h"
#include "request.h"

static struct {
	atomic_uint_fast64_t uploads, upload_bytes, refused;
	atomic_uint_fast64_t downloads, download_bytes;
	atomic_uint_fast64_t expired_files, expired_bytes, sweeps;
} st;

static struct metrics_server *server;

static void
add(atomic_uint_fast64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint64_t
get(atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void
upload_stats_request(const struct req *r, bool completed)
{
	if (r->method == HEAD_PUT) {
		if (completed && r->status == 201) {
			add(&st.uploads, 1);
			add(&st.upload_bytes, r->received);
		} else {
			add(&st.refused, 1);	/* refused, failed or cut off */
		}
	} else if (r->method == HEAD_GET && completed &&
	    (r->status == 200 || r->status == 206)) {
		add(&st.downloads, 1);
		add(&st.download_bytes, r->bytes);
	}
}

void
upload_stats_expired(const struct expire_stats *s)
{
	add(&st.expired_files, s->files);
	add(&st.expired_bytes, s->bytes);
	add(&st.sweeps, 1);
}

static void
counter(struct metrics_out *o, const char *name, const char *help, uint64_t v)
{
	metrics_family(o, name, "counter", help);
	metrics_u64(o, name, NULL, v);
}

static void
collect(struct metrics_out *o, void *arg)
{
	struct upload_config *c = upload_config_current();
	struct statvfs vfs;

	(void)arg;
	counter(o, "upload_uploads_total", "Uploads stored (PUT answered 201).",
	    get(&st.uploads));
	counter(o, "upload_uploaded_bytes_total", "Bytes of the uploads stored.",
	    get(&st.upload_bytes));
	counter(o, "upload_uploads_refused_total",
	    "PUTs not stored: refused (bad MAC, too large, exists ...), failed or cut off.",
	    get(&st.refused));
	counter(o, "upload_downloads_total", "GETs answered with a file (200 or 206).",
	    get(&st.downloads));
	counter(o, "upload_downloaded_bytes_total", "Bytes of the files (or ranges) sent.",
	    get(&st.download_bytes));
	counter(o, "upload_expired_files_total",
	    "Files removed by the expiry sweep (expire_after).", get(&st.expired_files));
	counter(o, "upload_expired_bytes_total", "Bytes freed by the expiry sweep.",
	    get(&st.expired_bytes));
	counter(o, "upload_expiry_sweeps_total", "Expiry sweeps run.", get(&st.sweeps));
	if (c->store_fd >= 0 && fstatvfs(c->store_fd, &vfs) == 0) {
		metrics_family(o, "upload_disk_size_bytes", "gauge",
		    "Size of the file system holding storeDir.");
		metrics_u64(o, "upload_disk_size_bytes", NULL,
		    (uint64_t)vfs.f_blocks * vfs.f_frsize);
		metrics_family(o, "upload_disk_free_bytes", "gauge",
		    "Space on storeDir's file system available to upload-gw's user.");
		metrics_u64(o, "upload_disk_free_bytes", NULL,
		    (uint64_t)vfs.f_bavail * vfs.f_frsize);
	}
	upload_config_put(c);
}

int
upload_stats_open(const struct metrics_conf *mc, char *err, size_t errlen)
{
	if (!mc->enabled)
		return 0;
	return (server = metrics_server_new(mc, err, errlen)) ? 0 : -1;
}

int
upload_stats_start(struct ev_loop *loop, char *err, size_t errlen)
{
	if (server == NULL)
		return 0;
	return metrics_server_start(server, loop, collect, NULL, err, errlen);
}

void
upload_stats_close(void)
{
	metrics_server_free(server);
	server = NULL;
}
