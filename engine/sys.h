#pragma once
/* The engine's runtime helpers, one copy each: a monotonic clock, helper
 * threads that take no signals, allocation that aborts on OOM. Plain C,
 * used by engine/, connectors/ and lua/. */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>

/* Milliseconds of CLOCK_MONOTONIC: deadlines, retries, timings. */
double coco_now_ms(void);
/* Sleeps ms milliseconds (resumed after a signal). */
void coco_sleep_ms(long ms);

/* pthread_create(th, NULL, fn, ud) with every signal blocked in the new
 * thread (the mask is set around the create and inherited), so a signal
 * of the host (SIGINT, SIGCHLD, SIGALRM, ...) is never delivered to an
 * engine helper thread. The caller's mask is unchanged. Returns 0 or
 * pthread_create's error number. */
int coco_thread_start(pthread_t *th, void *(*fn)(void *), void *ud);
/* Block every signal in the calling thread (*old: the mask before), and
 * restore it: around a library call that starts threads of its own
 * (RocksDB's background threads at open), so they inherit the full mask. */
void coco_signals_block(sigset_t *old);
void coco_signals_restore(const sigset_t *old);

/* Adds 1 to eventfd fd, so a poll on it wakes (retried on EINTR; a full
 * counter is readable anyway). */
void coco_efd_notify(int fd);

/* A self-pipe for SIGINT and SIGTERM, for a loop that polls: the handler
 * writes to the pipe and restores the default actions, so a second signal
 * takes the default action (ends the process). Returns the read end and
 * sets *wr to the write end; -1 with errno. The handler is process-wide:
 * the latest pipe gets the signals. */
int coco_signal_pipe(int *wr);
/* Restores the default actions and closes the pipe. */
void coco_signal_pipe_close(int rd, int wr);

/* malloc/calloc/realloc/strndup that never return NULL: on failure they
 * write "coco: out of memory" to stderr and abort (the engine treats OOM
 * as fatal, buf.h). A size of 0 allocates 1 byte. */
void *coco_xmalloc(size_t n);
void *coco_xcalloc(size_t n, size_t size);
void *coco_xrealloc(void *p, size_t n);
char *coco_xstrndup(const char *s, size_t n);
