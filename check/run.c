/*
 * run — fork, exec, read, wait.  See run.h.
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int
run_capture(char *const argv[], char *out, size_t cap, int *status)
{
	size_t n = 0;
	char junk[512];
	ssize_t r;
	pid_t pid;
	int fd[2], st;

	out[0] = '\0';
	if (pipe2(fd, O_CLOEXEC) == -1) {
		snprintf(out, cap, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(out, cap, "fork: %s", strerror(errno));
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		if (nul >= 0)
			dup2(nul, 0);
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		execv(argv[0], argv);
		fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		if (n < cap - 1)
			r = read(fd[0], out + n, cap - 1 - n);
		else
			r = read(fd[0], junk, sizeof(junk));	/* let it finish */
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (n < cap - 1)
			n += (size_t)r;
	}
	out[n] = '\0';
	close(fd[0]);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR) {
			snprintf(out, cap, "waitpid: %s", strerror(errno));
			return -1;
		}
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return 0;
}
