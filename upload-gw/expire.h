/*
 * expire — the built-in replacement for Filer's purge cron job: removes
 * files older than expire_after and prunes the directories left empty.
 *
 * Runs on the main thread (the HTTP threads never wait for it).  The walk
 * never follows symlinks, stays on the store's filesystem and is bounded
 * in depth; it checks for a pending SIGTERM/SIGINT/SIGHUP every few
 * hundred entries and stops early so the daemon stays responsive.
 */
#ifndef UPLOAD_EXPIRE_H
#define UPLOAD_EXPIRE_H

#include <stdint.h>
#include <time.h>

struct expire_stats {
	uint64_t files;		/* removed */
	uint64_t dirs;		/* pruned */
	uint64_t bytes;		/* freed */
	uint64_t errors;
	int interrupted;	/* stopped for a pending signal */
};

/*
 * Removes regular files under root modified before cutoff, stale
 * temporary files, and empty directories not modified for a minute.
 */
void upload_expire_sweep(int root, time_t cutoff, struct expire_stats *st);

#endif
