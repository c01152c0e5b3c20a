/* Change capture for AmazonS3 through SQS: S3 event notifications (direct,
 * or wrapped by SNS, or from EventBridge) taken from a queue.
 *
 * A worker thread long-polls the queue (JSON protocol: ReceiveMessage,
 * WaitTimeSeconds=20, MaxNumberOfMessages=10) with its own curl-multi
 * client, and hands what it received to the source's thread through an
 * inbox; an eventfd is the watch fd the live loop polls. watch_read()
 * reports each record's key as "re-check this row" (COCO_CHANGE_ROW: the
 * engine reads the object again and decides) and holds the message until
 * committed() says the rows it names are committed; only then is it
 * deleted (DeleteMessageBatch, by the worker, with the newest receipt handle
 * seen for it). A message that names no row of this source (s3:TestEvent,
 * another bucket, a key outside the prefix or the patterns) is deleted at
 * once. Events are at-least-once and may be late: the periodic full re-list
 * (refresh_interval) stays the safety net. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "connectors/s3/s3_int.h"
#include "engine/keyesc.h"
#include "engine/functions/json.h"
#include "engine/sys.h"

#define WAIT_SECONDS 20
#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 60000

typedef struct sqs_msg {
	char *id, *handle;
	char **keys;                 /* decoded keys not committed yet */
	size_t nkeys, cap;
	struct sqs_msg *next;
} sqs_msg;

struct s3_sqs {
	s3_src *s;
	char *endpoint;              /* where requests go: "https://sqs.us-east-1.amazonaws.com/" */
	char *sigv4;                 /* "aws:amz:REGION:sqs" */
	char **hdrs_recv, **hdrs_del;
	int efd;
	pthread_t th;
	int started;
	coco_http *http;             /* the worker's client */
	pthread_mutex_t mu;          /* guards what follows, up to held */
	int stop;
	sqs_msg *inbox;              /* received, not reported yet (in order) */
	sqs_msg **inbox_tail;
	char **dels;                 /* receipt handles to delete */
	size_t ndels, capdels;
	char *warning;
	uint64_t received, deleted;  /* counts, for tests */
	sqs_msg *held;               /* the source's thread only: reported, not committed */
};

static void msg_free(sqs_msg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nkeys; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->id);
	free(m->handle);
	free(m);
}

static void msg_add_key(sqs_msg *m, const char *k, size_t n)
{
	coco_buf esc = {0};
	if (coco_key_needs_escape(k, n)) {       /* the key as list() gives it (keyesc.h) */
		coco_key_escape(k, n, &esc);
		k = esc.p;
		n = esc.n;
	}
	for (size_t i = 0; i < m->nkeys; i++)
		if (strlen(m->keys[i]) == n && !memcmp(m->keys[i], k, n)) {
			coco_buf_free(&esc);
			return;
		}
	if (m->nkeys == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 4;
		m->keys = coco_xrealloc(m->keys, m->cap * sizeof *m->keys);
	}
	m->keys[m->nkeys++] = coco_xstrndup(k, n);
	coco_buf_free(&esc);
}

/* ---- event bodies -------------------------------------------------------- */

/* s.bucket.name and s.object.key of an S3 record (or an EventBridge detail). */
static int record_key(const char *rec, size_t n, coco_buf *bucket, coco_buf *key)
{
	const char *b, *o;
	size_t nb, no;
	if (!coco_json_get(rec, n, "bucket", 6, &b, &nb) || !coco_json_get(rec, n, "object", 6, &o, &no))
		return -1;
	if (coco_json_get_str(b, nb, "name", bucket) || coco_json_get_str(o, no, "key", key))
		return -1;
	return 0;
}

int s3_event_keys(const char *body, size_t n, const char *bucket,
	void (*key_cb)(void *ud, const char *key, size_t nkey), void *ud, const char **why)
{
	size_t at;
	const char *msg;
	*why = NULL;
	if (coco_json_check(body, n, &at, &msg)) {
		*why = "the message body is not JSON";
		return -1;
	}
	coco_json_trim(&body, &n);
	coco_buf t = {0}, bk = {0}, key = {0}, dec = {0};
	int count = -1;
	/* S3 -> SNS -> SQS without raw delivery: the event is in Message */
	if (!coco_json_get_str(body, n, "Type", &t) && !strcmp(t.p, "Notification") &&
	    !coco_json_get_str(body, n, "Message", &t)) {
		count = s3_event_keys(t.p, t.n, bucket, key_cb, ud, why);
		goto out;
	}
	if (!coco_json_get_str(body, n, "Event", &t) && !strcmp(t.p, "s3:TestEvent")) {
		count = 0;
		goto out;
	}
	const char *v;
	size_t nv;
	if (coco_json_get(body, n, "Records", 7, &v, &nv)) {
		coco_json_iter it;
		if (coco_json_iter_init(&it, v, nv) != '[') {
			*why = "Records is not an array";
			goto out;
		}
		count = 0;
		const char *rec, *k;
		size_t nrec, nk;
		while (coco_json_iter_next(&it, &k, &nk, &rec, &nrec)) {
			const char *s3;
			size_t ns3;
			if (!coco_json_get(rec, nrec, "s3", 2, &s3, &ns3) || record_key(s3, ns3, &bk, &key))
				continue;
			if (strcmp(bk.p, bucket))
				continue;
			coco_buf_clear(&dec);
			s3_form_decode(&dec, key.p, key.n);        /* S3 events encode keys as forms do */
			key_cb(ud, dec.p ? dec.p : "", dec.n);
			count++;
		}
		goto out;
	}
	/* EventBridge: detail.bucket.name, detail.object.key (not encoded) */
	if (coco_json_get(body, n, "detail", 6, &v, &nv) && !record_key(v, nv, &bk, &key)) {
		count = 0;
		if (!strcmp(bk.p, bucket)) {
			key_cb(ud, key.p ? key.p : "", key.n);
			count = 1;
		}
		goto out;
	}
	*why = "not an S3 event notification";
out:
	coco_buf_free(&t);
	coco_buf_free(&bk);
	coco_buf_free(&key);
	coco_buf_free(&dec);
	return count;
}

/* ---- requests ------------------------------------------------------------ */

static char **hdrs(const s3_src *s, const char *action)
{
	char **h = coco_xcalloc(4, sizeof *h);
	h[0] = coco_strdup("Content-Type: application/x-amz-json-1.0");
	coco_buf b = {0};
	coco_buf_printf(&b, "X-Amz-Target: AmazonSQS.%s", action);
	h[1] = coco_buf_take(&b);
	if (s->token) {
		coco_buf_printf(&b, "x-amz-security-token: %s", s->token);
		h[2] = coco_buf_take(&b);
	}
	return h;
}

static void hdrs_free(char **h)
{
	for (int i = 0; h && h[i]; i++) {
		explicit_bzero(h[i], strlen(h[i]));
		free(h[i]);
	}
	free(h);
}

static coco_http_xfer *post(s3_sqs *q, coco_http *h, char **hd, const coco_buf *body, long timeout_ms)
{
	const s3_src *s = q->s;
	coco_http_req r = { .method = "POST", .url = q->endpoint, .headers = (const char *const *)hd,
		.body = body->p, .nbody = body->n, .timeout_ms = timeout_ms };
	if (s->akid) {
		r.aws_sigv4 = q->sigv4;
		r.access_key = s->akid;
		r.secret_key = s->secret;
	}
	return coco_http_start(h, &r, NULL);
}

/* "SQS http://...: QueueDoesNotExist: The specified queue does not exist." */
static void sqs_error(const s3_sqs *q, const char *what, const coco_http_resp *r, coco_buf *out)
{
	coco_buf_printf(out, "AmazonS3: SQS queue %s: %s: ", q->s->queue_url, what);
	if (r->error) {
		coco_buf_printf(out, "cannot reach %s: %s", q->endpoint, r->error);
		return;
	}
	coco_buf type = {0}, msg = {0};
	const char *b = r->body.p ? r->body.p : "";
	size_t at;
	const char *why;
	if (!coco_json_check(b, r->body.n, &at, &why)) {
		coco_json_get_str(b, r->body.n, "__type", &type);
		if (coco_json_get_str(b, r->body.n, "message", &msg))
			coco_json_get_str(b, r->body.n, "Message", &msg);
	}
	const char *t = type.p ? strrchr(type.p, '#') : NULL;
	t = t ? t + 1 : type.p;
	if (t && t[0])
		coco_buf_printf(out, "%s%s%s (HTTP %ld)", t, msg.n ? ": " : "", msg.n ? msg.p : "", r->status);
	else
		coco_buf_printf(out, "HTTP %ld", r->status);
	if (t && (strstr(t, "InvalidClientTokenId") || strstr(t, "SignatureDoesNotMatch") ||
	          strstr(t, "AccessDenied")))
		coco_buf_printf(out, "; access key id '%s'", q->s->akid ? q->s->akid : "(none)");
	coco_buf_free(&type);
	coco_buf_free(&msg);
}

typedef struct keyctx {
	const s3_src *s;
	sqs_msg *m;
} keyctx;

static void on_key(void *ud, const char *key, size_t n)
{
	keyctx *c = ud;
	if (s3_wanted(c->s, key, n))
		msg_add_key(c->m, key, n);
}

/* ReceiveMessage's answer: each message into the inbox. */
static int take_messages(s3_sqs *q, const coco_http_resp *r, coco_buf *warn)
{
	const char *b = r->body.p ? r->body.p : "";
	size_t n = r->body.n, at;
	const char *why, *v, *el, *k;
	size_t nv, nel, nk;
	if (coco_json_check(b, n, &at, &why)) {
		coco_buf_printf(warn, "AmazonS3: SQS queue %s: ReceiveMessage answered with "
			"malformed JSON", q->s->queue_url);
		return -1;
	}
	if (!coco_json_get(b, n, "Messages", 8, &v, &nv))
		return 0;                               /* {}: nothing arrived */
	coco_json_iter it;
	if (coco_json_iter_init(&it, v, nv) != '[')
		return 0;
	coco_buf body = {0};
	sqs_msg *got = NULL, **tail = &got;
	while (coco_json_iter_next(&it, &k, &nk, &el, &nel)) {
		sqs_msg *m = coco_xcalloc(1, sizeof *m);
		coco_buf t = {0};
		if (!coco_json_get_str(el, nel, "MessageId", &t))
			m->id = coco_buf_take(&t);
		if (!coco_json_get_str(el, nel, "ReceiptHandle", &t))
			m->handle = coco_buf_take(&t);
		coco_buf_free(&t);
		if (!m->id || !m->handle) {
			msg_free(m);
			continue;
		}
		if (!coco_json_get_str(el, nel, "Body", &body)) {
			keyctx c = { q->s, m };
			const char *bad;
			if (s3_event_keys(body.p, body.n, q->s->bucket, on_key, &c, &bad) < 0 && !warn->n)
				coco_buf_printf(warn, "AmazonS3: SQS queue %s: message %s ignored: %s",
					q->s->queue_url, m->id, bad);
		}
		*tail = m;
		tail = &m->next;
	}
	coco_buf_free(&body);
	pthread_mutex_lock(&q->mu);
	for (sqs_msg *m = got; m; m = m->next)
		q->received++;
	*q->inbox_tail = got;
	if (got)
		q->inbox_tail = tail;
	pthread_mutex_unlock(&q->mu);
	return got != NULL;
}

static void *worker(void *ud)
{
	s3_sqs *q = ud;
	coco_http_xfer *recv = NULL, *del[64];
	int ndel = 0, failing = 0;
	double retry_at = 0;
	long backoff = RETRY_MIN_MS;
	coco_buf rbody = {0}, dbody = {0}, warn = {0};
	coco_buf_adds(&rbody, "{\"QueueUrl\":");
	coco_json_str(&rbody, q->s->queue_url, strlen(q->s->queue_url));
	coco_buf_printf(&rbody, ",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":%d,"
		"\"MessageSystemAttributeNames\":[\"ApproximateReceiveCount\"]}", WAIT_SECONDS);
	for (;;) {
		pthread_mutex_lock(&q->mu);
		int stop = q->stop;
		while (!stop && q->ndels && ndel < 64) {      /* batches of up to 10 */
			size_t k = q->ndels < 10 ? q->ndels : 10;
			coco_buf_clear(&dbody);
			coco_buf_adds(&dbody, "{\"QueueUrl\":");
			coco_json_str(&dbody, q->s->queue_url, strlen(q->s->queue_url));
			coco_buf_adds(&dbody, ",\"Entries\":[");
			for (size_t i = 0; i < k; i++) {
				char *h = q->dels[q->ndels - 1 - i];
				coco_buf_printf(&dbody, "%s{\"Id\":\"m%zu\",\"ReceiptHandle\":", i ? "," : "", i);
				coco_json_str(&dbody, h, strlen(h));
				coco_buf_putc(&dbody, '}');
				free(h);
			}
			coco_buf_adds(&dbody, "]}");
			q->ndels -= k;
			q->deleted += k;
			del[ndel++] = post(q, q->http, q->hdrs_del, &dbody, 30000);
		}
		pthread_mutex_unlock(&q->mu);
		if (stop)
			break;
		if (!recv && coco_now_ms() >= retry_at)
			recv = post(q, q->http, q->hdrs_recv, &rbody, (WAIT_SECONDS + 10) * 1000L);
		long wait = 1000;
		if (!recv) {
			long d = (long)(retry_at - coco_now_ms()) + 1;
			wait = d < wait ? (d > 0 ? d : 0) : wait;
		}
		coco_http_run(q->http, wait);
		if (recv && coco_http_done(recv)) {
			coco_http_resp *r = coco_http_resp_of(recv);
			coco_buf_clear(&warn);
			int ok = !r->error && r->status == 200;
			if (!ok) {
				sqs_error(q, "ReceiveMessage", r, &warn);
				coco_buf_adds(&warn, "; retrying (full re-lists cover the gap)");
				retry_at = coco_now_ms() + backoff;
				backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
			} else {
				backoff = RETRY_MIN_MS;
				failing = 0;
			}
			int got = ok ? take_messages(q, r, &warn) : 0;
			if (warn.n && !failing) {
				pthread_mutex_lock(&q->mu);
				free(q->warning);
				q->warning = coco_strdup(warn.p);
				pthread_mutex_unlock(&q->mu);
			}
			if (!ok)
				failing = 1;
			if (got || warn.n)
				coco_efd_notify(q->efd);
			coco_http_release(q->http, recv);
			recv = NULL;
		}
		for (int i = 0; i < ndel; i++) {
			if (!coco_http_done(del[i]))
				continue;
			/* a failed delete: the message comes back after its visibility
			 * timeout, is processed again (idempotent) and deleted then */
			coco_http_release(q->http, del[i]);
			del[i--] = del[--ndel];
		}
	}
	coco_http_release(q->http, recv);
	for (int i = 0; i < ndel; i++)
		coco_http_release(q->http, del[i]);
	coco_buf_free(&rbody);
	coco_buf_free(&dbody);
	coco_buf_free(&warn);
	return NULL;
}

/* ---- the source's side --------------------------------------------------- */

/* Region of an SQS endpoint host: sqs.REGION.amazonaws.com, REGION.queue.amazonaws.com. */
static void queue_region(const char *host, size_t n, coco_buf *out)
{
	const char *aws = memmem(host, n, ".amazonaws.com", 14);
	if (!aws)
		return;
	if (n > 4 && !memcmp(host, "sqs.", 4)) {
		const char *e = memchr(host + 4, '.', (size_t)(aws - host - 4) + 1);
		if (e == aws)
			coco_buf_add(out, host + 4, (size_t)(aws - host - 4));
	} else {
		const char *e = memmem(host, n, ".queue.amazonaws.com", 20);
		if (e && !memchr(host, '.', (size_t)(e - host)))
			coco_buf_add(out, host, (size_t)(e - host));
	}
}

void s3_sqs_free(s3_sqs *q)
{
	if (!q)
		return;
	if (q->started) {
		pthread_mutex_lock(&q->mu);
		q->stop = 1;
		pthread_mutex_unlock(&q->mu);
		coco_http_wakeup(q->http);
		pthread_join(q->th, NULL);
	}
	coco_http_destroy(q->http);
	for (sqs_msg *m = q->inbox, *n; m; m = n) {
		n = m->next;
		msg_free(m);
	}
	for (sqs_msg *m = q->held, *n; m; m = n) {
		n = m->next;
		msg_free(m);
	}
	for (size_t i = 0; i < q->ndels; i++)
		free(q->dels[i]);
	free(q->dels);
	free(q->warning);
	free(q->endpoint);
	free(q->sigv4);
	hdrs_free(q->hdrs_recv);
	hdrs_free(q->hdrs_del);
	if (q->efd >= 0)
		close(q->efd);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

int s3_watch(void *src, int *fd, char **err)
{
	s3_src *s = src;
	*fd = -1;
	if (!s->queue_url || s->sqs)
		return s->sqs ? (*fd = s->sqs->efd, 0) : 0;
	const char *u = s->queue_url, *p = strstr(u, "://");
	if (!p || (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)))
		return coco_seterr(err, "AmazonS3: sqs_queue_url '%s' is not an http(s):// URL", u);
	const char *host = p + 3, *slash = strchr(host, '/');
	size_t nhost = slash ? (size_t)(slash - host) : strlen(host);
	s3_sqs *q = coco_xcalloc(1, sizeof *q);
	q->s = s;
	q->efd = -1;
	pthread_mutex_init(&q->mu, NULL);
	q->inbox_tail = &q->inbox;
	coco_buf b = {0};
	const char *ep = getenv("AWS_ENDPOINT_URL_SQS");
	if (ep && ep[0]) {
		if (!strstr(ep, "://"))
			coco_buf_adds(&b, "https://");
		coco_buf_adds(&b, ep);
	} else {
		coco_buf_add(&b, u, (size_t)(host - u) + nhost);
	}
	if (!b.n || b.p[b.n - 1] != '/')
		coco_buf_putc(&b, '/');
	q->endpoint = coco_buf_take(&b);
	queue_region(host, nhost, &b);
	coco_buf_printf(&b, "%s", b.n ? "" : s->region);
	coco_buf tmp = {0};
	coco_buf_printf(&tmp, "aws:amz:%s:sqs", b.p);
	q->sigv4 = coco_buf_take(&tmp);
	coco_buf_free(&b);
	q->hdrs_recv = hdrs(s, "ReceiveMessage");
	q->hdrs_del = hdrs(s, "DeleteMessageBatch");
	coco_http_opts ho = { .max_inflight = 8 };
	q->http = coco_http_create(&ho);

	/* the queue must exist and answer, or live mode would wait for nothing */
	char **hd = hdrs(s, "GetQueueAttributes");
	coco_buf body = {0};
	coco_buf_adds(&body, "{\"QueueUrl\":");
	coco_json_str(&body, u, strlen(u));
	coco_buf_adds(&body, ",\"AttributeNames\":[\"QueueArn\"]}");
	coco_http_xfer *x = post(q, q->http, hd, &body, 30000);
	coco_http_wait(q->http, x);
	coco_http_resp *r = coco_http_resp_of(x);
	int bad = r->error || r->status != 200;
	if (bad) {
		coco_buf m = {0};
		sqs_error(q, "GetQueueAttributes", r, &m);
		coco_seterr(err, "%s", m.p);
		coco_buf_free(&m);
	}
	coco_http_release(q->http, x);
	coco_buf_free(&body);
	hdrs_free(hd);
	if (bad)
		goto fail;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0) {
		coco_seterr(err, "AmazonS3: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (coco_thread_start(&q->th, worker, q)) {
		coco_seterr(err, "AmazonS3: cannot start the SQS thread");
		goto fail;
	}
	q->started = 1;
	s->sqs = q;
	*fd = q->efd;
	return 0;
fail:
	s3_sqs_free(q);
	return -1;
}

/* Queue m's receipt handle for deletion (the caller wakes the worker). */
static void delete_msg(s3_sqs *q, sqs_msg *m)
{
	pthread_mutex_lock(&q->mu);
	if (q->ndels == q->capdels) {
		q->capdels = q->capdels ? 2 * q->capdels : 16;
		q->dels = coco_xrealloc(q->dels, q->capdels * sizeof *q->dels);
	}
	q->dels[q->ndels++] = m->handle;
	m->handle = NULL;
	pthread_mutex_unlock(&q->mu);
	msg_free(m);
}

int s3_watch_read(void *src, coco_change_cb cb, void *ud, char **err)
{
	s3_src *s = src;
	s3_sqs *q = s->sqs;
	(void)err;
	if (!q)
		return 0;
	uint64_t v;
	while (read(q->efd, &v, sizeof v) > 0)
		;
	pthread_mutex_lock(&q->mu);
	sqs_msg *in = q->inbox;
	q->inbox = NULL;
	q->inbox_tail = &q->inbox;
	char *warning = q->warning;
	q->warning = NULL;
	pthread_mutex_unlock(&q->mu);
	int stop = 0, dels = 0;
	if (warning)
		stop = cb(ud, COCO_CHANGE_RESCAN, NULL, warning);
	free(warning);
	for (sqs_msg *m = in, *next; m; m = next) {
		next = m->next;
		m->next = NULL;
		sqs_msg *h = q->held;
		while (h && strcmp(h->id, m->id))
			h = h->next;
		if (h) {                        /* delivered again while held: keep the newest handle */
			free(h->handle);
			h->handle = m->handle;
			m->handle = NULL;
			msg_free(m);
			continue;
		}
		if (!m->nkeys) {                /* nothing of ours: done with it */
			delete_msg(q, m);
			dels = 1;
			continue;
		}
		for (size_t i = 0; i < m->nkeys && !stop; i++) {
			coco_value k = coco_v_str(m->keys[i], strlen(m->keys[i]));
			stop = cb(ud, COCO_CHANGE_ROW, &k, NULL);
		}
		m->next = q->held;
		q->held = m;
	}
	if (dels)
		coco_http_wakeup(q->http);
	return 0;
}

void s3_committed(void *src, const coco_value *keys, size_t n)
{
	s3_src *s = src;
	s3_sqs *q = s->sqs;
	if (!q)
		return;
	int dels = 0;
	for (sqs_msg **pm = &q->held; *pm;) {
		sqs_msg *m = *pm;
		if (keys) {
			for (size_t i = 0; i < m->nkeys;) {
				int hit = 0;
				for (size_t j = 0; j < n && !hit; j++)
					hit = keys[j].kind == COCO_STR && keys[j].n == strlen(m->keys[i]) &&
						!memcmp(keys[j].u.s, m->keys[i], keys[j].n);
				if (hit) {
					free(m->keys[i]);
					m->keys[i] = m->keys[--m->nkeys];
				} else {
					i++;
				}
			}
		} else {
			for (size_t i = 0; i < m->nkeys; i++)
				free(m->keys[i]);
			m->nkeys = 0;
		}
		if (m->nkeys) {
			pm = &m->next;
			continue;
		}
		*pm = m->next;
		delete_msg(q, m);
		dels = 1;
	}
	if (dels)
		coco_http_wakeup(q->http);
}
