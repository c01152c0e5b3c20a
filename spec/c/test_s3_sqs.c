/* AmazonS3's SQS change capture against a scripted SQS (JSON protocol) on
 * 127.0.0.1: the queue is checked when watching starts; each record's key is
 * reported; messages naming nothing of ours (s3:TestEvent, another bucket,
 * not JSON) are deleted at once; the others only once committed() covers
 * every key they name, with the newest receipt handle when the message was
 * delivered again meanwhile; duplicates are deleted too; close() stops the
 * worker in the middle of a long poll. */
#include "spec/c/test_s3_fakeserver.h"
#include "connectors/s3/s3_int.h"

#include "spec/c/check.h"

extern const coco_source_ops coco_s3_source;

#define QURL "http://sqs.us-east-1.localhost:1/000000000000/events"

typedef struct sqs_fake {
	pthread_mutex_t mu;
	char *batches[8];            /* ReceiveMessage answers, in order */
	int nbatches, next;
	char deleted[32][32];        /* receipt handles deleted */
	int ndeleted, receives;
	int poll_ms;                 /* how long an empty ReceiveMessage is held */
} sqs_fake;

static void sqs_handler(void *ud, const fk_req *rq, int n, fk_resp *o)
{
	sqs_fake *f = ud;
	char target[128];
	(void)n;
	if (!fk_header(rq->headers, "X-Amz-Target", target, sizeof target)) {
		fk_reply(o, 400, NULL, "{}", 2);
		return;
	}
	if (!strstr(rq->body, "\"QueueUrl\":\"" QURL "\"")) {
		const char *e = "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\","
			"\"message\":\"The specified queue does not exist.\"}";
		fk_reply(o, 400, "x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender\r\n", e, strlen(e));
		return;
	}
	if (!strcmp(target, "AmazonSQS.GetQueueAttributes")) {
		const char *b = "{\"Attributes\":{\"QueueArn\":\"arn:aws:sqs:us-east-1:000000000000:events\"}}";
		fk_reply(o, 200, NULL, b, strlen(b));
	} else if (!strcmp(target, "AmazonSQS.ReceiveMessage")) {
		pthread_mutex_lock(&f->mu);
		f->receives++;
		char *b = f->next < f->nbatches ? f->batches[f->next++] : NULL;
		int wait = f->poll_ms;
		pthread_mutex_unlock(&f->mu);
		if (b) {
			fk_reply(o, 200, NULL, b, strlen(b));
		} else {
			fk_reply(o, 200, NULL, "{}", 2);
			o->delay_ms = wait;              /* a long poll */
		}
	} else if (!strcmp(target, "AmazonSQS.DeleteMessageBatch")) {
		pthread_mutex_lock(&f->mu);
		for (const char *p = rq->body; (p = strstr(p, "\"ReceiptHandle\":\"")); ) {
			p += 17;
			const char *q = strchr(p, '"');
			if (f->ndeleted < 32 && q && q - p < 32) {
				memcpy(f->deleted[f->ndeleted], p, (size_t)(q - p));
				f->deleted[f->ndeleted++][q - p] = 0;
			}
		}
		pthread_mutex_unlock(&f->mu);
		fk_reply(o, 200, NULL, "{\"Successful\":[],\"Failed\":[]}", 29);
	} else {
		fk_reply(o, 400, NULL, "{}", 2);
	}
}

static void script(sqs_fake *f, const char *batch)
{
	pthread_mutex_lock(&f->mu);
	f->batches[f->nbatches++] = strdup(batch);
	pthread_mutex_unlock(&f->mu);
}

static int deleted(sqs_fake *f, const char *handle)
{
	pthread_mutex_lock(&f->mu);
	int hit = 0;
	for (int i = 0; i < f->ndeleted; i++)
		hit |= !strcmp(f->deleted[i], handle);
	pthread_mutex_unlock(&f->mu);
	return hit;
}

static int ndeleted(sqs_fake *f)
{
	pthread_mutex_lock(&f->mu);
	int n = f->ndeleted;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* Waits (up to ms) until the watch fd is readable. */
static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1;
}

static int nreceives(sqs_fake *f)
{
	pthread_mutex_lock(&f->mu);
	int n = f->receives;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* Waits (a minute at most) until the fake saw n deletes. */
static int wait_deletes(sqs_fake *f, int n)
{
	double end = fk_now() + 60000;
	while (ndeleted(f) < n && fk_now() < end)
		poll(NULL, 0, 10);
	return ndeleted(f) >= n;
}

/* Waits (a minute at most) until the fake saw n ReceiveMessage calls. */
static int wait_receives(sqs_fake *f, int n)
{
	double end = fk_now() + 60000;
	while (nreceives(f) < n && fk_now() < end)
		poll(NULL, 0, 10);
	return nreceives(f) >= n;
}

typedef struct seen {
	char keys[16][64];
	int n, rescans;
	char msg[512];
} seen;

static int on_change(void *ud, coco_change_kind kind, const coco_value *key, const char *msg)
{
	seen *s = ud;
	if (msg)
		snprintf(s->msg, sizeof s->msg, "%s", msg);
	if (kind == COCO_CHANGE_RESCAN)
		s->rescans++;
	if (kind == COCO_CHANGE_ROW && key && s->n < 16 && key->n < 64) {
		memcpy(s->keys[s->n], key->u.s, key->n);
		s->keys[s->n++][key->n] = 0;
	}
	return 0;
}

static int has(const seen *s, const char *k)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->keys[i], k))
			return 1;
	return 0;
}

/* A message of the ReceiveMessage answer; body is JSON text, escaped here. */
static void msg(coco_buf *b, const char *id, const char *handle, const char *body)
{
	coco_buf_printf(b, "%s{\"MessageId\":\"%s\",\"ReceiptHandle\":\"%s\",\"MD5OfBody\":\"x\",\"Body\":",
		b->n > 13 ? "," : "", id, handle);
	coco_json_str(b, body, strlen(body));
	coco_buf_adds(b, ",\"Attributes\":{\"ApproximateReceiveCount\":\"1\"}}");
}

static const char *event(const char *bucket, const char *key)
{
	static char buf[4][512];
	static int k;
	char *b = buf[k++ % 4];
	snprintf(b, 512, "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
		"\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"%s\"},"
		"\"object\":{\"key\":\"%s\",\"size\":1,\"eTag\":\"e\",\"sequencer\":\"0A\"}}}]}", bucket, key);
	return b;
}

static void *open_src(int port, const char *queue, char **err)
{
	int nopt = (int)coco_opt_count(coco_s3_source.opts);
	coco_optval v[16] = {{0}};
	(void)nopt;
	v[coco_opt_index(coco_s3_source.opts, "bucket_name")] = (coco_optval){ .set = 1, .s = "bkt" };
	v[coco_opt_index(coco_s3_source.opts, "prefix")] = (coco_optval){ .set = 1, .s = "docs/" };
	v[coco_opt_index(coco_s3_source.opts, "endpoint")] = (coco_optval){ .set = 1, .s = "http://127.0.0.1:9" };
	v[coco_opt_index(coco_s3_source.opts, "sqs_queue_url")] = (coco_optval){ .set = 1, .s = queue };
	char ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
	setenv("AWS_ENDPOINT_URL_SQS", ep, 1);
	void *src = NULL;
	if (coco_s3_source.open(v, "/tmp", &src, err))
		return NULL;
	return src;
}

int main(void)
{
	setenv("AWS_ACCESS_KEY_ID", "AKIDSQS", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	sqs_fake f = { .mu = PTHREAD_MUTEX_INITIALIZER, .poll_ms = 300 };
	fk_server fs;
	CHECK(fk_start(&fs, sqs_handler, &f) == 0);
	char *err = NULL;
	int fd = -1;

	/* no queue: no change capture, no fd */
	void *src = open_src(fs.port, NULL, &err);
	CHECK(src && coco_s3_source.watch(src, &fd, &err) == 0 && fd == -1);
	coco_s3_source.close(src);

	/* a queue that does not exist: watching fails, saying so */
	src = open_src(fs.port, "http://sqs.us-east-1.localhost:1/000000000000/nope", &err);
	CHECK(coco_s3_source.watch(src, &fd, &err) == -1);
	CHECK(err && strstr(err, "QueueDoesNotExist: The specified queue does not exist."));
	free(err);
	err = NULL;
	coco_s3_source.close(src);

	src = open_src(fs.port, QURL, &err);
	CHECK(coco_s3_source.watch(src, &fd, &err) == 0 && fd >= 0);

	/* one answer: ours, a test event, another bucket, a duplicate, two keys
	 * in one message, one outside the prefix, not JSON */
	coco_buf b = {0};
	coco_buf_adds(&b, "{\"Messages\":[");
	msg(&b, "m1", "h1", event("bkt", "docs/a+b.md"));
	msg(&b, "m2", "h2", "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Bucket\":\"bkt\"}");
	msg(&b, "m3", "h3", event("other", "docs/a.md"));
	msg(&b, "m4", "h4", event("bkt", "docs/a+b.md"));
	msg(&b, "m5", "h5", "{\"Records\":[{\"eventName\":\"ObjectRemoved:Delete\",\"s3\":{\"bucket\":"
		"{\"name\":\"bkt\"},\"object\":{\"key\":\"docs/b.md\"}}},{\"eventName\":\"ObjectCreated:Copy\","
		"\"s3\":{\"bucket\":{\"name\":\"bkt\"},\"object\":{\"key\":\"docs/%C3%A9.md\"}}}]}");
	msg(&b, "m6", "h6", event("bkt", "elsewhere/x.md"));
	msg(&b, "m7", "h7", "this is not JSON");
	coco_buf_adds(&b, "]}");
	script(&f, b.p);
	CHECK(readable(fd, 60000));
	seen sn = {0};
	CHECK(coco_s3_source.watch_read(src, on_change, &sn, &err) == 0);
	CHECK(sn.n == 4 && has(&sn, "docs/a b.md") && has(&sn, "docs/b.md") && has(&sn, "docs/é.md"));
	CHECK(sn.rescans == 1 && strstr(sn.msg, "message m7 ignored: the message body is not JSON"));
	CHECK(wait_deletes(&f, 4));
	CHECK(deleted(&f, "h2") && deleted(&f, "h3") && deleted(&f, "h6") && deleted(&f, "h7"));
	CHECK(!deleted(&f, "h1") && !deleted(&f, "h4") && !deleted(&f, "h5"));

	/* m5 comes again (its visibility timed out): the newest handle wins */
	coco_buf_clear(&b);
	coco_buf_adds(&b, "{\"Messages\":[");
	msg(&b, "m5", "h5b", "{\"Records\":[{\"eventName\":\"ObjectRemoved:Delete\",\"s3\":{\"bucket\":"
		"{\"name\":\"bkt\"},\"object\":{\"key\":\"docs/b.md\"}}}]}");
	coco_buf_adds(&b, "]}");
	script(&f, b.p);
	CHECK(readable(fd, 60000));
	seen sn2 = {0};
	CHECK(coco_s3_source.watch_read(src, on_change, &sn2, &err) == 0);
	CHECK(sn2.n == 0);                        /* held already: not reported again */

	/* committed: each message goes once every key it names is committed */
	coco_value k = coco_v_str("docs/a b.md", 11);
	coco_s3_source.committed(src, &k, 1);
	CHECK(wait_deletes(&f, 6));
	CHECK(deleted(&f, "h1") && deleted(&f, "h4"));   /* both duplicates */
	k = coco_v_str("docs/b.md", 9);
	coco_s3_source.committed(src, &k, 1);
	/* m5 still names docs/é.md: not deleted. The worker takes what is to
	 * delete before each ReceiveMessage; two more of them have gone by
	 * when the second is answered (its long poll gives a delete it sent
	 * before time to arrive) */
	int r0 = nreceives(&f);
	CHECK(wait_receives(&f, r0 + 2));
	CHECK(ndeleted(&f) == 6);
	k = coco_v_str("docs/é.md", strlen("docs/é.md"));
	coco_s3_source.committed(src, &k, 1);
	CHECK(wait_deletes(&f, 7));
	CHECK(deleted(&f, "h5b") && !deleted(&f, "h5"));

	/* close in the middle of a long poll: it does not wait for the answer
	 * (a minute later) */
	pthread_mutex_lock(&f.mu);
	f.poll_ms = 60000;
	int r1 = f.receives;
	pthread_mutex_unlock(&f.mu);
	CHECK(wait_receives(&f, r1 + 1));           /* a poll held for a minute */
	double t0 = fk_now();
	coco_s3_source.close(src);
	CHECK(fk_now() - t0 < 50000);
	CHECK(f.receives >= 3);

	fk_stop(&fs);
	coco_buf_free(&b);
	for (int i = 0; i < f.nbatches; i++)
		free(f.batches[i]);
	return CHECK_DONE();
}
