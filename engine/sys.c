/* The engine's runtime helpers: clock, signal-free threads, allocation. */
#define _GNU_SOURCE
#include "engine/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double coco_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void coco_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void coco_signals_block(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
}

void coco_signals_restore(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

void coco_efd_notify(int fd)
{
	uint64_t one = 1;
	while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

static volatile sig_atomic_t sig_wr = -1;

static void on_signal(int sig)
{
	/* first signal: wake the loop; a second one takes the default action */
	int saved = errno;
	char c = (char)sig;
	if (write(sig_wr, &c, 1) < 0) {
		/* nothing to do in a handler */
	}
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	errno = saved;
}

int coco_signal_pipe(int *wr)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return -1;
	sig_wr = *wr = p[1];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return p[0];
}

void coco_signal_pipe_close(int rd, int wr)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	close(rd);
	close(wr);
	if (sig_wr == wr)
		sig_wr = -1;
}

int coco_thread_start(pthread_t *th, void *(*fn)(void *), void *ud)
{
	sigset_t old;
	coco_signals_block(&old);
	int rc = pthread_create(th, NULL, fn, ud);
	coco_signals_restore(&old);
	return rc;
}

static void *oom(void *p)
{
	if (!p) {
		fputs("coco: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *coco_xmalloc(size_t n)
{
	return oom(malloc(n ? n : 1));
}

void *coco_xcalloc(size_t n, size_t size)
{
	return oom(calloc(n ? n : 1, size ? size : 1));
}

void *coco_xrealloc(void *p, size_t n)
{
	return oom(realloc(p, n ? n : 1));
}

char *coco_xstrndup(const char *s, size_t n)
{
	return oom(strndup(s, n));
}
