/*
 * replay — runs a libFuzzer target without libFuzzer, so `make check`
 * (and `make check SAN=1`) exercises every target on every build: each
 * file of the corpus directories given, then a fixed number of inputs
 * mutated from them with a seeded generator (bit flips, byte changes,
 * insertions of interesting bytes, truncation, splices of two entries,
 * repetition up to -max_len).  Deterministic: the same build replays the
 * same inputs, so a failure reproduces; the failing input is written to
 * $REPLAY_CRASH_DIR (default the working directory) as crash-<target>
 * before the target runs it, and removed when it passes.
 *
 *   replay [-runs=N] [-max_len=N] [-seed=N] DIR...
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	uint8_t *p;
	size_t n;
};

static struct input *corpus;
static size_t ncorpus;
static char crash_path[4096];
static uint64_t rng;

static uint64_t
next(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static size_t
below(size_t n)
{
	return n ? (size_t)(next() % n) : 0;
}

static void
add_file(const char *path)
{
	struct input in;
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	in.n = (size_t)st.st_size;
	if ((in.p = malloc(in.n ? in.n : 1)) == NULL ||
	    read(fd, in.p, in.n) != (ssize_t)in.n) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	close(fd);
	corpus = realloc(corpus, (ncorpus + 1) * sizeof(*corpus));
	if (corpus == NULL)
		exit(2);
	corpus[ncorpus++] = in;
}

static void
add_dir(const char *dir)
{
	struct dirent **names;
	char path[4096];
	int n = scandir(dir, &names, NULL, alphasort);

	if (n < 0)
		return;		/* a target without seeds: mutations of nothing */
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			add_file(path);
		}
		free(names[i]);
	}
	free(names);
}

/* Writes the input about to run, so a crash leaves it behind. */
static void
keep(const uint8_t *p, size_t n)
{
	int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0) {
		if (write(fd, p, n) < 0)
			fprintf(stderr, "replay: %s: %s\n", crash_path, strerror(errno));
		close(fd);
	}
}

static void
run(const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);	/* exact size: ASan sees overreads */

	if (copy == NULL)
		exit(2);
	memcpy(copy, p, n);
	keep(copy, n);
	LLVMFuzzerTestOneInput(copy, n);
	free(copy);
}

static const uint8_t interesting[] = {
	0x00, 0x01, 0x7f, 0x80, 0xff, '<', '>', '\'', '"', '&', '=', '/',
	':', ' ', '\n', '\r', ',', '%', '\\', 0xc3, 0xe2, 0xf0,
};

static size_t
mutate(uint8_t *buf, size_t n, size_t max)
{
	unsigned rounds = 1 + (unsigned)below(4);

	for (unsigned r = 0; r < rounds; r++) {
		switch (below(7)) {
		case 0:		/* flip a bit */
			if (n)
				buf[below(n)] ^= (uint8_t)(1u << below(8));
			break;
		case 1:		/* set a byte */
			if (n)
				buf[below(n)] = interesting[below(sizeof(interesting))];
			break;
		case 2:		/* insert a byte */
			if (n < max) {
				size_t at = below(n + 1);

				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = below(2) ? interesting[below(sizeof(interesting))] :
				    (uint8_t)next();
				n++;
			}
			break;
		case 3:		/* truncate */
			n = below(n + 1);
			break;
		case 4:		/* splice another entry's tail */
			if (ncorpus) {
				const struct input *o = &corpus[below(ncorpus)];
				size_t at = below(n + 1), from = below(o->n + 1);
				size_t len = o->n - from;

				if (at + len > max)
					len = max - at;
				memcpy(buf + at, o->p + from, len);
				n = at + len;
			}
			break;
		case 5:		/* repeat a piece: long tokens, deep nesting */
			if (n) {
				size_t from = below(n), len = 1 + below(n - from);
				unsigned times = 1 + (unsigned)below(64);

				while (times-- && n + len <= max) {
					memmove(buf + from + len, buf + from, n - from);
					n += len;
				}
			}
			break;
		default:	/* remove a byte */
			if (n) {
				size_t at = below(n);

				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
			}
			break;
		}
	}
	return n;
}

int
main(int argc, char **argv)
{
	unsigned long runs = 2000, max = 65536, seed = 1;
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *dir = getenv("REPLAY_CRASH_DIR");
	uint8_t *buf;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "-runs=", 6) == 0)
			runs = strtoul(argv[i] + 6, NULL, 10);
		else if (strncmp(argv[i], "-max_len=", 9) == 0)
			max = strtoul(argv[i] + 9, NULL, 10);
		else if (strncmp(argv[i], "-seed=", 6) == 0)
			seed = strtoul(argv[i] + 6, NULL, 10);
		else
			add_dir(argv[i]);
	}
	if (max == 0)
		max = 1;
	snprintf(crash_path, sizeof(crash_path), "%s/crash-%s", dir ? dir : ".", name);
	rng = seed * 0x9e3779b97f4a7c15ULL + 1;
	for (size_t i = 0; i < ncorpus; i++)
		run(corpus[i].p, corpus[i].n > max ? max : corpus[i].n);
	if ((buf = malloc(max)) == NULL)
		return 2;
	for (unsigned long k = 0; k < runs; k++) {
		size_t n = 0;

		if (ncorpus) {
			const struct input *in = &corpus[below(ncorpus)];

			n = in->n > max ? max : in->n;
			memcpy(buf, in->p, n);
		}
		n = mutate(buf, n, max);
		run(buf, n);
	}
	unlink(crash_path);
	printf("%s: %zu seeds, %lu mutated inputs\n", name, ncorpus, runs);
	free(buf);
	for (size_t i = 0; i < ncorpus; i++)
		free(corpus[i].p);
	free(corpus);
	return 0;
}
