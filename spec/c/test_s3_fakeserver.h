/* A scripted HTTP/1.1 server on 127.0.0.1 for the C tests of engine/http.c
 * and connectors/s3: one thread, poll() over the listening socket and every
 * connection (keep-alive), one request at a time per connection. For each
 * request the test's handler writes the raw response, and may delay it,
 * close the connection after it, or drop the connection without one. Every
 * request is logged (method, target, header block, body, connection
 * number) for the test to check. The server counts the requests waiting
 * for their answer at once; a gate (fk_gate) holds every answer until n of
 * them wait together, so a test sees requests overlap instead of timing
 * them. Header-only: static functions. */
#pragma once
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine/buf.h"

typedef struct fk_req {
	char *method, *target, *headers, *body;   /* malloc'd, NUL-terminated */
	size_t nbody;
	int conn;                                  /* connection number, from 1 */
	double at;                                 /* ms, when it arrived */
} fk_req;

typedef struct fk_resp {
	coco_buf raw;            /* status line, headers, body */
	int delay_ms;
	int close;               /* close the connection after the response */
	int drop;                /* close the connection instead of answering */
} fk_resp;

/* n: index of the request (from 0) in the log. */
typedef void (*fk_handler)(void *ud, const fk_req *rq, int n, fk_resp *out);

typedef struct fk_conn {
	int fd, id;
	coco_buf in, out;
	size_t sent;
	double due;              /* ms: send out then */
	int close_after, busy;
} fk_conn;

typedef struct fk_server {
	int lfd, port, pipe[2];
	pthread_t th;
	fk_handler h;
	void *ud;
	pthread_mutex_t mu;
	fk_req *log;
	int nlog, caplog, nconn;
	fk_conn *c[256];
	int nc;
	/* under mu: requests received and not answered yet, the most at once
	 * since fk_gate(); answers held until `gate` wait (0: open) or until
	 * gate_until (ms), so that a client that never gets there fails its
	 * checks instead of hanging */
	int waiting, max_waiting, gate;
	double gate_until;
} fk_server;

static double fk_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The value of header name in a header block, copied into buf; NULL if absent. */
static const char *fk_header(const char *headers, const char *name, char *buf, size_t nbuf)
{
	size_t nl = strlen(name);
	for (const char *p = headers; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t n = (size_t)(eol - v);
			if (n >= nbuf)
				n = nbuf - 1;
			memcpy(buf, v, n);
			buf[n] = 0;
			return buf;
		}
		p = *eol ? eol + 2 : eol;
	}
	return NULL;
}

/* Appends a whole response: status, extra header lines ("A: b\r\n..."), body. */
static void fk_reply(fk_resp *o, int status, const char *extra, const char *body, size_t nbody)
{
	coco_buf_printf(&o->raw, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, nbody,
		extra ? extra : "");
	if (nbody)
		coco_buf_add(&o->raw, body, nbody);
}

static void fk_conn_close(fk_server *s, int i)
{
	fk_conn *c = s->c[i];
	if (c->busy) {
		pthread_mutex_lock(&s->mu);
		s->waiting--;
		pthread_mutex_unlock(&s->mu);
	}
	close(c->fd);
	coco_buf_free(&c->in);
	coco_buf_free(&c->out);
	free(c);
	s->c[i] = s->c[--s->nc];
}

/* A whole request in c->in? Parse it, ask the handler, queue the answer. */
static int fk_take_request(fk_server *s, fk_conn *c)
{
	if (c->busy || !c->in.n)
		return 0;
	char *end = memmem(c->in.p, c->in.n, "\r\n\r\n", 4);
	if (!end)
		return 0;
	size_t hlen = (size_t)(end - c->in.p) + 4;
	char tmp[32];
	char *hdr = strndup(c->in.p, hlen);
	const char *cl = fk_header(strstr(hdr, "\r\n") + 2, "Content-Length", tmp, sizeof tmp);
	size_t blen = cl ? strtoul(cl, NULL, 10) : 0;
	if (c->in.n < hlen + blen) {
		free(hdr);
		return 0;
	}
	fk_req rq = {0};
	char *sp1 = strchr(hdr, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	rq.method = strndup(hdr, sp1 ? (size_t)(sp1 - hdr) : 0);
	rq.target = sp2 ? strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1)) : strdup("");
	rq.headers = strdup(strstr(hdr, "\r\n") + 2);
	rq.body = strndup(c->in.p + hlen, blen);
	rq.nbody = blen;
	rq.conn = c->id;
	rq.at = fk_now();
	free(hdr);
	memmove(c->in.p, c->in.p + hlen + blen, c->in.n - hlen - blen);
	c->in.n -= hlen + blen;
	pthread_mutex_lock(&s->mu);
	if (s->nlog == s->caplog) {
		s->caplog = s->caplog ? 2 * s->caplog : 64;
		s->log = realloc(s->log, (size_t)s->caplog * sizeof *s->log);
	}
	int n = s->nlog;
	s->log[s->nlog++] = rq;
	pthread_mutex_unlock(&s->mu);
	fk_resp o = {0};
	s->h(s->ud, &rq, n, &o);
	if (o.drop) {
		coco_buf_free(&o.raw);
		return -1;
	}
	coco_buf_clear(&c->out);
	coco_buf_add(&c->out, o.raw.p, o.raw.n);
	coco_buf_free(&o.raw);
	c->sent = 0;
	c->due = fk_now() + o.delay_ms;
	c->close_after = o.close;
	c->busy = 1;
	pthread_mutex_lock(&s->mu);
	if (++s->waiting > s->max_waiting)
		s->max_waiting = s->waiting;
	if (s->gate && s->waiting >= s->gate)
		s->gate = 0;                           /* opens: every held answer goes */
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void *fk_main(void *ud)
{
	fk_server *s = ud;
	for (;;) {
		struct pollfd pf[260];
		int np = 0;
		double now = fk_now(), next = -1;
		pthread_mutex_lock(&s->mu);
		if (s->gate && now >= s->gate_until)
			s->gate = 0;
		int held = s->gate > 0;
		if (held)
			next = s->gate_until;
		pthread_mutex_unlock(&s->mu);
		pf[np++] = (struct pollfd){ .fd = s->pipe[0], .events = POLLIN };
		pf[np++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
		for (int i = 0; i < s->nc; i++) {
			fk_conn *c = s->c[i];
			short ev = POLLIN;
			if (c->busy && !held) {
				if (c->due <= now)
					ev |= POLLOUT;
				else if (next < 0 || c->due < next)
					next = c->due;
			}
			pf[np++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		int timeout = next < 0 ? 1000 : (int)(next - now) + 1;
		if (poll(pf, (nfds_t)np, timeout) < 0 && errno != EINTR)
			break;
		if (pf[0].revents)
			break;
		if (pf[1].revents & POLLIN) {
			int fd = accept(s->lfd, NULL, NULL);
			if (fd >= 0 && s->nc < 256) {
				fk_conn *c = calloc(1, sizeof *c);
				c->fd = fd;
				c->id = ++s->nconn;
				s->c[s->nc++] = c;
			} else if (fd >= 0) {
				close(fd);
			}
		}
		for (int k = 2; k < np; k++) {
			int i;
			for (i = 0; i < s->nc && s->c[i]->fd != pf[k].fd; i++)
				;
			if (i == s->nc)
				continue;
			fk_conn *c = s->c[i];
			int dead = 0;
			if (pf[k].revents & (POLLIN | POLLHUP | POLLERR)) {
				char buf[65536];
				ssize_t r = read(c->fd, buf, sizeof buf);
				if (r <= 0)
					dead = 1;
				else
					coco_buf_add(&c->in, buf, (size_t)r);
			}
			if (!dead && c->busy && c->due <= fk_now() && (pf[k].revents & POLLOUT)) {
				ssize_t w = write(c->fd, c->out.p + c->sent, c->out.n - c->sent);
				if (w < 0)
					dead = 1;
				else if ((c->sent += (size_t)w) == c->out.n) {
					c->busy = 0;
					pthread_mutex_lock(&s->mu);
					s->waiting--;
					pthread_mutex_unlock(&s->mu);
					if (c->close_after)
						dead = 1;
				}
			}
			if (!dead && fk_take_request(s, c) < 0)
				dead = 1;
			if (dead)
				fk_conn_close(s, i);
		}
	}
	while (s->nc)
		fk_conn_close(s, 0);
	return NULL;
}

static int fk_start(fk_server *s, fk_handler h, void *ud)
{
	memset(s, 0, sizeof *s);
	s->h = h;
	s->ud = ud;
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) || listen(s->lfd, 64) ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &al) || pipe(s->pipe))
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->th, NULL, fk_main, s);
}

static void fk_stop(fk_server *s)
{
	if (write(s->pipe[1], "x", 1) < 0)
		perror("fk_stop");
	pthread_join(s->th, NULL);
	close(s->pipe[0]);
	close(s->pipe[1]);
	close(s->lfd);
	for (int i = 0; i < s->nlog; i++) {
		free(s->log[i].method);
		free(s->log[i].target);
		free(s->log[i].headers);
		free(s->log[i].body);
	}
	free(s->log);
	pthread_mutex_destroy(&s->mu);
}

/* Hold the answers of the requests that come from now on until n of them
 * wait at once (then all go), or 60 s at most; max_waiting counts from now. */
__attribute__((unused)) static void fk_gate(fk_server *s, int n)
{
	pthread_mutex_lock(&s->mu);
	s->gate = n;
	s->gate_until = fk_now() + 60000;
	s->max_waiting = s->waiting;
	pthread_mutex_unlock(&s->mu);
}

/* The most requests that waited for their answer at once since fk_gate(). */
__attribute__((unused)) static int fk_max_waiting(fk_server *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->max_waiting;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* When request n (from 0, in the log's order) arrived, in fk_now() ms. */
__attribute__((unused)) static double fk_at(fk_server *s, int n)
{
	pthread_mutex_lock(&s->mu);
	double t = n < s->nlog ? s->log[n].at : -1;
	pthread_mutex_unlock(&s->mu);
	return t;
}

__attribute__((unused)) static int fk_count(fk_server *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->nlog;
	pthread_mutex_unlock(&s->mu);
	return n;
}
