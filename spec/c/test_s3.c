/* The AmazonS3 source (connectors/s3) without a real store: encoding
 * helpers, the expat listing parser (any namespace, url-encoded keys, bad
 * documents), S3 event bodies, and the source itself against a scripted
 * server on 127.0.0.1 -- canonical list queries and paging, decoding,
 * filters, ordinals, reads, a listing that fails midway (-1, so nothing is
 * deleted), requests in flight through prefetch, and the user's messages
 * for wrong credentials, other regions, missing buckets, a dead endpoint. */
#include "spec/c/test_s3_fakeserver.h"
#include "connectors/s3/s3_int.h"

#include "spec/c/check.h"

extern const coco_source_ops coco_s3_source;

static int str_is(const coco_buf *b, const char *s)
{
	return b->n == strlen(s) && (!b->n || !memcmp(b->p, s, b->n));
}

/* ---- helpers ------------------------------------------------------------- */

static void test_encoding(void)
{
	coco_buf b = {0};
	s3_uri_encode(&b, "dir/a b+c~_.-€.txt", strlen("dir/a b+c~_.-€.txt"), 1);
	CHECK(str_is(&b, "dir/a%20b%2Bc~_.-%E2%82%AC.txt"));
	coco_buf_clear(&b);
	s3_uri_encode(&b, "1/abc==+", 8, 0);
	CHECK(str_is(&b, "1%2Fabc%3D%3D%2B"));

	coco_buf_clear(&b);
	CHECK(s3_form_decode(&b, "a+b.txt", 7) == 0 && str_is(&b, "a b.txt"));
	coco_buf_clear(&b);
	CHECK(s3_form_decode(&b, "a%2Bb.txt", 9) == 0 && str_is(&b, "a+b.txt"));
	coco_buf_clear(&b);
	CHECK(s3_form_decode(&b, "100%25.csv", 10) == 0 && str_is(&b, "100%.csv"));
	coco_buf_clear(&b);
	const char *k = "%ED%95%9C%EA%B8%80/x.txt";
	CHECK(s3_form_decode(&b, k, strlen(k)) == 0 && str_is(&b, "한글/x.txt"));
	coco_buf_clear(&b);
	CHECK(s3_form_decode(&b, "a%20b%2fc", 9) == 0 && str_is(&b, "a b/c"));
	coco_buf_clear(&b);
	CHECK(s3_form_decode(&b, "bad%zz%4", 8) == -1 && str_is(&b, "bad%zz%4"));

	s3_param p[] = { { "prefix", "a b/€" }, { "max-keys", "1000" }, { "list-type", "2" },
		{ "continuation-token", "1/abc+==" }, { "encoding-type", "url" }, { "delete", NULL } };
	coco_buf_clear(&b);
	s3_canonical_query(&b, p, 6);
	CHECK(str_is(&b, "continuation-token=1%2Fabc%2B%3D%3D&delete=&encoding-type=url&list-type=2"
		"&max-keys=1000&prefix=a%20b%2F%E2%82%AC"));

	CHECK(s3_parse_iso8601("2026-11-21T16:34:04.000Z", 24) == 1795278844);
	CHECK(s3_parse_iso8601("2026-11-21T16:34:04Z", 20) == 1795278844);
	CHECK(s3_parse_iso8601("yesterday", 9) == -1);
	coco_buf_clear(&b);
	s3_ordinal(&b, 0x0102030405060708LL, "abc", 3);
	CHECK(b.n == 11 && b.p[0] == 0x08 && b.p[7] == 0x01 && !memcmp(b.p + 8, "abc", 3));
	coco_buf_free(&b);
}

/* ---- listing documents --------------------------------------------------- */

static void test_xml(void)
{
	coco_arena a = {0};
	s3_page pg;
	char *err = NULL;
	/* AWS's namespace, keys url-encoded, EncodingType after Contents */
	const char *aws =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>b</Name><Prefix></Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
		"<IsTruncated>true</IsTruncated>"
		"<Contents><Key>a+b.txt</Key><LastModified>2026-11-21T16:34:04.000Z</LastModified>"
		"<ETag>&quot;d41d8cd98f00b204e9800998ecf8427e&quot;</ETag><Size>12</Size>"
		"<StorageClass>STANDARD</StorageClass><Owner><ID>x</ID><DisplayName>Key</DisplayName></Owner></Contents>"
		"<Contents><Key>%ED%95%9C/x.txt</Key><LastModified>2026-11-21T16:34:05.000Z</LastModified>"
		"<ETag>\"abc-2\"</ETag><Size>0</Size><StorageClass>GLACIER</StorageClass></Contents>"
		"<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes>"
		"<EncodingType>url</EncodingType>"
		"<NextContinuationToken>1/abc+==</NextContinuationToken></ListBucketResult>";
	CHECK(s3_parse_list(aws, strlen(aws), &a, &pg, &err) == 0);
	CHECK(pg.n == 2 && pg.truncated && pg.url_encoded);
	CHECK(pg.next_token && !strcmp(pg.next_token, "1/abc+=="));
	CHECK(pg.n == 2 && pg.objs[0].nkey == 7 && !memcmp(pg.objs[0].key, "a+b.txt", 7));
	CHECK(pg.n == 2 && pg.objs[0].mtime == 1795278844 && pg.objs[0].size == 12);
	CHECK(pg.n == 2 && pg.objs[0].netag == 32 && !memcmp(pg.objs[0].etag, "d41d8cd98f00b204e9800998ecf8427e", 32));
	CHECK(pg.n == 2 && !strcmp(pg.objs[1].storage_class, "GLACIER") && pg.objs[1].netag == 5);

	/* s3rver's namespace, an unknown one, a prefixed one, none at all */
	const char *ns[] = {
		"<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\">",
		"<ListBucketResult xmlns=\"urn:example:not-s3\">",
		"<s3:ListBucketResult xmlns:s3=\"urn:x\">",
		"<ListBucketResult>" };
	const char *close[] = { "</ListBucketResult>", "</ListBucketResult>", "</s3:ListBucketResult>",
		"</ListBucketResult>" };
	for (int i = 0; i < 4; i++) {
		coco_buf d = {0};
		const char *p = i == 2 ? "s3:" : "";
		coco_buf_printf(&d, "%s<%sIsTruncated>false</%sIsTruncated><%sContents><%sKey>a b+c.txt</%sKey>"
			"<%sETag>\"e\"</%sETag><%sLastModified>2026-11-21T16:34:04.000Z</%sLastModified>"
			"<%sSize>3</%sSize></%sContents>%s", ns[i], p, p, p, p, p, p, p, p, p, p, p, p, close[i]);
		coco_arena_reset(&a);
		CHECK(s3_parse_list(d.p, d.n, &a, &pg, &err) == 0);
		CHECK(pg.n == 1 && !pg.truncated && !pg.url_encoded && pg.objs[0].nkey == 9 &&
			!memcmp(pg.objs[0].key, "a b+c.txt", 9) && pg.objs[0].size == 3 && pg.objs[0].netag == 1);
		coco_buf_free(&d);
	}

	/* a raw control character: not XML; another root: not a listing */
	const char *ctl = "<ListBucketResult><Contents><Key>a\x01.txt</Key></Contents></ListBucketResult>";
	coco_arena_reset(&a);
	CHECK(s3_parse_list(ctl, strlen(ctl), &a, &pg, &err) == -1);
	CHECK(err && strstr(err, "malformed XML"));
	free(err);
	err = NULL;
	const char *other = "<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>";
	CHECK(s3_parse_list(other, strlen(other), &a, &pg, &err) == -1);
	CHECK(err && strstr(err, "not a ListBucketResult"));
	free(err);
	err = NULL;
	CHECK(s3_parse_list("", 0, &a, &pg, &err) == -1);
	free(err);
	err = NULL;

	s3_error e;
	const char *ex = "<?xml version=\"1.0\"?><Error><Code>AuthorizationHeaderMalformed</Code>"
		"<Message>the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message>"
		"<Region>eu-west-1</Region><RequestId>1</RequestId></Error>";
	CHECK(s3_parse_error(ex, strlen(ex), &e) == 0);
	CHECK(!strcmp(e.code, "AuthorizationHeaderMalformed") && !strcmp(e.region, "eu-west-1"));
	CHECK(strstr(e.message, "expecting 'eu-west-1'") != NULL);
	CHECK(s3_parse_error("not xml", 7, &e) == -1 && !e.code[0]);
	CHECK(s3_parse_error(aws, strlen(aws), &e) == -1);
	coco_arena_destroy(&a);
}

/* ---- event bodies -------------------------------------------------------- */

typedef struct keys {
	char k[8][64];
	int n;
} keys;

static void key_cb(void *ud, const char *key, size_t n)
{
	keys *ks = ud;
	if (ks->n < 8 && n < 64) {
		memcpy(ks->k[ks->n], key, n);
		ks->k[ks->n][n] = 0;
	}
	ks->n++;
}

static void test_events(void)
{
	const char *why;
	keys ks = {0};
	const char *direct = "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
		"\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"bkt\"},"
		"\"object\":{\"key\":\"dir/red+flower%2B1.jpg\",\"size\":3,\"eTag\":\"e\"}}},"
		"{\"eventName\":\"ObjectRemoved:Delete\",\"s3\":{\"bucket\":{\"name\":\"other\"},"
		"\"object\":{\"key\":\"x\"}}},"
		"{\"eventName\":\"LifecycleExpiration:Delete\",\"s3\":{\"bucket\":{\"name\":\"bkt\"},"
		"\"object\":{\"key\":\"%ED%95%9C.txt\"}}}]}";
	CHECK(s3_event_keys(direct, strlen(direct), "bkt", key_cb, &ks, &why) == 2);
	CHECK(ks.n == 2 && !strcmp(ks.k[0], "dir/red flower+1.jpg") && !strcmp(ks.k[1], "한.txt"));

	/* SNS envelope: the S3 event is a JSON string in Message */
	const char *sns = "{\"Type\":\"Notification\",\"MessageId\":\"m\",\"TopicArn\":\"arn\","
		"\"Message\":\"{\\\"Records\\\":[{\\\"eventName\\\":\\\"ObjectCreated:Copy\\\","
		"\\\"s3\\\":{\\\"bucket\\\":{\\\"name\\\":\\\"bkt\\\"},\\\"object\\\":{\\\"key\\\":\\\"a+b\\\"}}}]}\"}";
	ks.n = 0;
	CHECK(s3_event_keys(sns, strlen(sns), "bkt", key_cb, &ks, &why) == 1);
	CHECK(ks.n == 1 && !strcmp(ks.k[0], "a b"));

	const char *test = "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Bucket\":\"bkt\"}";
	ks.n = 0;
	CHECK(s3_event_keys(test, strlen(test), "bkt", key_cb, &ks, &why) == 0 && ks.n == 0);

	const char *eb = "{\"detail-type\":\"Object Created\",\"source\":\"aws.s3\",\"detail\":"
		"{\"bucket\":{\"name\":\"bkt\"},\"object\":{\"key\":\"a+b c\"}}}";
	ks.n = 0;
	CHECK(s3_event_keys(eb, strlen(eb), "bkt", key_cb, &ks, &why) == 1);
	CHECK(ks.n == 1 && !strcmp(ks.k[0], "a+b c"));

	ks.n = 0;
	CHECK(s3_event_keys("nope", 4, "bkt", key_cb, &ks, &why) == -1 && why && ks.n == 0);
	CHECK(s3_event_keys("{\"a\":1}", 7, "bkt", key_cb, &ks, &why) == -1 && why && ks.n == 0);
	CHECK(s3_event_keys("{\"Records\":{}}", 14, "bkt", key_cb, &ks, &why) == -1);
}

/* ---- the source against a scripted server -------------------------------- */

typedef struct srv {
	int mode;
	int fail_page2;          /* 500 for every page-2 request */
	int delay_ms;
} srv;

enum { S_BUCKET, S_DENIED, S_REGION301, S_REGION400, S_NOBUCKET, S_NOTOKEN };

static const char *const page1 =
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>true</IsTruncated>"
	"<Contents><Key>docs/a+b.md</Key><LastModified>2026-11-21T16:34:04.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>5</Size></Contents>"
	"<Contents><Key>docs/a%2Bb.md</Key><LastModified>2026-11-21T16:34:04.000Z</LastModified><ETag>&quot;e2&quot;</ETag><Size>5</Size></Contents>"
	"<Contents><Key>docs/dir/</Key><LastModified>2026-11-21T16:34:04.000Z</LastModified><ETag>&quot;e3&quot;</ETag><Size>0</Size></Contents>"
	"<Contents><Key>docs/skip.bin</Key><LastModified>2026-11-21T16:34:04.000Z</LastModified><ETag>&quot;e4&quot;</ETag><Size>5</Size></Contents>"
	"<EncodingType>url</EncodingType><NextContinuationToken>t/1+=</NextContinuationToken></ListBucketResult>";
static const char *const page2 =
	"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>false</IsTruncated>"
	"<Contents><Key>docs/%ED%95%9C.md</Key><LastModified>2026-11-21T16:34:05.000Z</LastModified><ETag>&quot;e5&quot;</ETag><Size>5</Size></Contents>"
	"<Contents><Key>docs/big.md</Key><LastModified>2026-11-21T16:34:05.000Z</LastModified><ETag>&quot;e6&quot;</ETag><Size>5000</Size></Contents>"
	"<Contents><Key>docs/cold.md</Key><LastModified>2026-11-21T16:34:05.000Z</LastModified><ETag>&quot;e7&quot;</ETag><Size>5</Size><StorageClass>DEEP_ARCHIVE</StorageClass></Contents>"
	"<EncodingType>url</EncodingType></ListBucketResult>";

static void xml_error(fk_resp *o, int status, const char *extra, const char *code, const char *msg,
	const char *more)
{
	coco_buf b = {0};
	coco_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
		"<Message>%s</Message>%s<RequestId>r</RequestId></Error>", code, msg, more ? more : "");
	fk_reply(o, status, extra, b.p, b.n);
	coco_buf_free(&b);
}

static void s3_handler(void *ud, const fk_req *rq, int n, fk_resp *o)
{
	srv *sv = ud;
	(void)n;
	o->delay_ms = sv->delay_ms;
	if (sv->mode == S_DENIED) {
		xml_error(o, 403, NULL, "InvalidAccessKeyId",
			"The AWS Access Key Id you provided does not exist in our records.", NULL);
		return;
	}
	if (sv->mode == S_REGION301) {
		xml_error(o, 301, "x-amz-bucket-region: eu-west-1\r\n", "PermanentRedirect",
			"The bucket you are attempting to access must be addressed using the specified endpoint.",
			"<Endpoint>bkt.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>bkt</Bucket>");
		return;
	}
	if (sv->mode == S_REGION400) {
		xml_error(o, 400, NULL, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-south-1'",
			"<Region>ap-south-1</Region>");
		return;
	}
	if (sv->mode == S_NOBUCKET) {
		xml_error(o, 404, NULL, "NoSuchBucket", "The specified bucket does not exist", NULL);
		return;
	}
	if (!strncmp(rq->target, "/bkt?", 5)) {            /* ListObjectsV2 */
		if (strstr(rq->target, "continuation-token=")) {
			if (sv->fail_page2)
				xml_error(o, 500, NULL, "InternalError", "We encountered an internal error.", NULL);
			else
				fk_reply(o, 200, "Content-Type: application/xml\r\n", page2, strlen(page2));
		} else if (sv->mode == S_NOTOKEN) {
			const char *t = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
			fk_reply(o, 200, NULL, t, strlen(t));
		} else {
			fk_reply(o, 200, "Content-Type: application/xml\r\n", page1, strlen(page1));
		}
		return;
	}
	/* GetObject: the body is the path; a few special keys */
	const char *path = rq->target;
	if (strstr(path, "gone")) {
		xml_error(o, 404, NULL, "NoSuchKey", "The specified key does not exist.", NULL);
	} else if (strstr(path, "latin1")) {
		fk_reply(o, 200, "ETag: \"b\"\r\nLast-Modified: Sat, 21 Nov 2026 16:34:04 GMT\r\n", "caf\xe9", 4);
	} else if (strstr(path, "huge")) {
		char *big = calloc(1, 5000);
		memset(big, 'a', 5000);
		fk_reply(o, 200, "ETag: \"h\"\r\n", big, 5000);
		free(big);
	} else if (strstr(path, "cold")) {
		xml_error(o, 403, NULL, "InvalidObjectState", "The operation is not valid for the object's storage class", NULL);
	} else {
		coco_buf e = {0};
		coco_buf_printf(&e, "ETag: \"e1\"\r\nLast-Modified: Sat, 21 Nov 2026 16:34:04 GMT\r\n");
		fk_reply(o, 200, e.p, path, strlen(path));
		coco_buf_free(&e);
	}
}

typedef struct listed {
	char key[16][64];
	coco_buf ord[16];
	int n, stop_after;
} listed;

static int list_cb(void *ud, const coco_value *key, const void *ord, size_t nord)
{
	listed *l = ud;
	if (l->n < 16 && key->n < 64) {
		memcpy(l->key[l->n], key->u.s, key->n);
		l->key[l->n][key->n] = 0;
		coco_buf_clear(&l->ord[l->n]);
		coco_buf_add(&l->ord[l->n], ord, nord);
	}
	l->n++;
	return l->stop_after && l->n >= l->stop_after;
}

static void listed_free(listed *l)
{
	for (int i = 0; i < 16; i++)
		coco_buf_free(&l->ord[i]);
}

/* Options in the source's order. */
typedef struct opts {
	coco_optval v[16];
	const char *inc[4];
} opts;

static coco_optval *opt(opts *o, const char *name)
{
	int i = coco_opt_index(coco_s3_source.opts, name);
	if (i < 0) {
		fprintf(stderr, "no option %s\n", name);
		abort();
	}
	o->v[i].set = 1;
	return &o->v[i];
}

static void *open_src(opts *o, char **err)
{
	void *src = NULL;
	if (coco_s3_source.open(o->v, "/tmp", &src, err))
		return NULL;
	return src;
}

static void base_opts(opts *o, int port, const char *prefix)
{
	static char ep[64];
	memset(o, 0, sizeof *o);
	opt(o, "bucket_name")->s = "bkt";
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", port);
	opt(o, "endpoint")->s = ep;
	if (prefix)
		opt(o, "prefix")->s = prefix;
}

static void test_source(void)
{
	setenv("AWS_ACCESS_KEY_ID", "AKIATESTKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "sekret/VALUE+never-shown", 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_S3");
	srv sv = {0};
	fk_server fs;
	CHECK(fk_start(&fs, s3_handler, &sv) == 0);
	opts o;
	char *err = NULL;

	/* addressing, without any I/O */
	memset(&o, 0, sizeof o);
	opt(&o, "bucket_name")->s = "bkt";
	s3_src *s = open_src(&o, &err);
	CHECK(s && !strcmp(s->base, "https://bkt.s3.us-east-1.amazonaws.com") && !s->path_style);
	coco_s3_source.close(s);
	opt(&o, "region")->s = "eu-west-1";
	opt(&o, "bucket_name")->s = "my.dotted.bucket";
	s = open_src(&o, &err);
	CHECK(s && !strcmp(s->base, "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket") && s->path_style);
	coco_s3_source.close(s);
	memset(&o, 0, sizeof o);
	opt(&o, "bucket_name")->s = "bkt";
	opt(&o, "endpoint")->s = "https://acct.r2.cloudflarestorage.com/";
	opt(&o, "region")->s = "auto";
	s = open_src(&o, &err);
	CHECK(s && !strcmp(s->base, "https://acct.r2.cloudflarestorage.com/bkt") && !strcmp(s->sigv4, "aws:amz:auto:s3"));
	coco_s3_source.close(s);
	opt(&o, "force_path_style")->b = 0;
	s = open_src(&o, &err);
	CHECK(s && !strcmp(s->base, "https://bkt.acct.r2.cloudflarestorage.com"));
	coco_s3_source.close(s);
	memset(&o, 0, sizeof o);
	opt(&o, "bucket_name")->s = "a/b";
	CHECK(!open_src(&o, &err) && err && strstr(err, "contains '/'"));
	free(err);
	err = NULL;
	memset(&o, 0, sizeof o);
	opt(&o, "bucket_name")->s = "bkt";
	opt(&o, "included_patterns")->list = o.inc;
	o.inc[0] = "[abc";
	opt(&o, "included_patterns")->nlist = 1;
	CHECK(!open_src(&o, &err) && err && strstr(err, "bad pattern '[abc'"));
	free(err);
	err = NULL;

	/* listing: two pages, keys decoded, filters, ordinals */
	base_opts(&o, fs.port, "docs/");
	o.inc[0] = "*.md";
	opt(&o, "included_patterns")->list = o.inc;
	opt(&o, "included_patterns")->nlist = 1;
	opt(&o, "max_file_size")->i = 1000;
	s = open_src(&o, &err);
	CHECK(s != NULL);
	listed l = {0};
	int n0 = fk_count(&fs);
	CHECK(coco_s3_source.list(s, list_cb, &l, &err) == 0);
	CHECK(fk_count(&fs) - n0 == 2);
	CHECK(l.n == 3);
	CHECK(!strcmp(l.key[0], "docs/a b.md") && !strcmp(l.key[1], "docs/a+b.md") && !strcmp(l.key[2], "docs/한.md"));
	CHECK(s->skipped_large == 1);
	coco_buf want = {0};
	s3_ordinal(&want, 1795278844, "e1", 2);
	CHECK(l.ord[0].n == want.n && !memcmp(l.ord[0].p, want.p, want.n));
	/* the requests: canonical queries, signed, the token encoded */
	pthread_mutex_lock(&fs.mu);
	fk_req *r1 = &fs.log[n0], *r2 = &fs.log[n0 + 1];
	CHECK(!strcmp(r1->target, "/bkt?encoding-type=url&list-type=2&max-keys=1000&prefix=docs%2F"));
	CHECK(!strcmp(r2->target, "/bkt?continuation-token=t%2F1%2B%3D&encoding-type=url&list-type=2&max-keys=1000&prefix=docs%2F"));
	char hv[512];
	CHECK(fk_header(r1->headers, "x-amz-content-sha256", hv, sizeof hv) && !strcmp(hv, "UNSIGNED-PAYLOAD"));
	CHECK(fk_header(r1->headers, "Authorization", hv, sizeof hv) &&
		strstr(hv, "Credential=AKIATESTKEY/") && strstr(hv, "/us-east-1/s3/aws4_request"));
	CHECK(!strstr(r1->headers, "sekret"));
	pthread_mutex_unlock(&fs.mu);

	/* stopping early is not a failure */
	listed l2 = { .stop_after = 1 };
	CHECK(coco_s3_source.list(s, list_cb, &l2, &err) == 0 && l2.n == 1);
	listed_free(&l2);

	/* read: the object's path encoded, the ordinal from the GET */
	coco_arena a = {0};
	coco_value row, key = coco_v_str("docs/a b+c.md", 13);
	coco_buf ord = {0};
	CHECK(coco_s3_source.read(s, &key, &a, &row, &ord, &err) == 0);
	CHECK(row.kind == COCO_STRUCT && row.n == 2 && row.u.fields[0].n == 13 &&
		row.u.fields[1].kind == COCO_STR);
	CHECK(row.u.fields[1].n == strlen("/bkt/docs/a%20b%2Bc.md") &&
		!memcmp(row.u.fields[1].u.s, "/bkt/docs/a%20b%2Bc.md", row.u.fields[1].n));
	CHECK(ord.n == want.n && !memcmp(ord.p, want.p, want.n));
	key = coco_v_str("docs/gone.md", 12);
	CHECK(coco_s3_source.read(s, &key, &a, &row, &ord, &err) == 1);   /* deleted since listed */
	key = coco_v_str("docs/huge.md", 12);
	CHECK(coco_s3_source.read(s, &key, &a, &row, &ord, &err) == 1);   /* grew past max_file_size */
	key = coco_v_str("docs/x.bin", 10);
	CHECK(coco_s3_source.read(s, &key, &a, &row, &ord, &err) == 1);   /* not wanted */
	key = coco_v_str("other/x.md", 10);
	CHECK(coco_s3_source.read(s, &key, &a, &row, &ord, &err) == 1);   /* outside the prefix */
	key = coco_v_str("docs/latin1.md", 14);              /* read, with a warning */
	CHECK(coco_s3_source.read(s, &key, &a, &row, &ord, &err) == 2);
	CHECK(err && !strcmp(err, "s3://bkt/docs/latin1.md: not valid UTF-8 (first bad byte at 3); "
		"1 invalid sequence replaced with U+FFFD"));
	CHECK(row.u.fields[1].n == 6 && !memcmp(row.u.fields[1].u.s, "caf\xef\xbf\xbd", 6));
	CHECK(ord.n > 0);
	free(err);
	err = NULL;
	key = coco_v_str("docs/cold.md", 12);
	CHECK(coco_s3_source.read(s, &key, &a, &row, &ord, &err) == -1);
	CHECK(err && strstr(err, "s3://bkt/docs/cold.md: cannot read: InvalidObjectState"));
	free(err);
	err = NULL;

	/* prefetch: 40 objects, in flight together: the server sees 16 (the
	 * client's cap) wait for their answers at once (it holds them until
	 * then), never more */
	sv.delay_ms = 100;
	coco_value keys[40];
	char names[40][32];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof names[i], "docs/p%02d.md", i);
		keys[i] = coco_v_str(names[i], strlen(names[i]));
	}
	fk_gate(&fs, 16);
	coco_s3_source.prefetch(s, keys, 40);
	int ok = 1;
	for (int i = 0; i < 40; i++) {
		if (i == 5)
			continue;                        /* skipped by the indexer: dropped */
		ok &= coco_s3_source.read(s, &keys[i], &a, &row, &ord, &err) == 0 &&
			row.u.fields[1].n == strlen(names[i]) + 5 &&
			!memcmp(row.u.fields[1].u.s + 5, names[i], strlen(names[i]));
	}
	CHECK(ok);
	CHECK(fk_max_waiting(&fs) == 16);
	/* hinted again (a live pass resumed in a later slice): the requests
	 * started for it are kept, not sent twice */
	int before = fk_count(&fs);
	coco_s3_source.prefetch(s, keys, 40);
	for (double end = fk_now() + 60000; fk_count(&fs) - before < 40 && fk_now() < end;)
		coco_http_run(s->http, 20);
	CHECK(fk_count(&fs) - before == 40);
	coco_s3_source.prefetch(s, keys + 10, 30);
	ok = 1;
	for (int i = 10; i < 40; i++)
		ok &= coco_s3_source.read(s, &keys[i], &a, &row, &ord, &err) == 0 &&
			!memcmp(row.u.fields[1].u.s + 5, names[i], strlen(names[i]));
	CHECK(ok);
	CHECK(fk_count(&fs) - before == 40);
	/* a key never hinted still reads */
	key = coco_v_str("docs/zz.md", 10);
	CHECK(coco_s3_source.read(s, &key, &a, &row, &ord, &err) == 0);
	sv.delay_ms = 0;

	/* a listing that fails on its second page fails whole */
	sv.fail_page2 = 1;
	listed l3 = {0};
	CHECK(coco_s3_source.list(s, list_cb, &l3, &err) == -1);
	CHECK(l3.n == 2);                          /* page 1 was seen: the indexer must not delete */
	CHECK(err && strstr(err, "AmazonS3: s3://bkt/docs/: cannot list: InternalError") && strstr(err, "HTTP 500"));
	free(err);
	err = NULL;
	listed_free(&l3);
	sv.fail_page2 = 0;
	sv.mode = S_NOTOKEN;
	listed l4 = {0};
	CHECK(coco_s3_source.list(s, list_cb, &l4, &err) == -1 && err && strstr(err, "without a new continuation token"));
	free(err);
	err = NULL;

	/* the user's messages */
	sv.mode = S_DENIED;
	CHECK(coco_s3_source.list(s, list_cb, &l4, &err) == -1);
	CHECK(err && strstr(err, "access key id 'AKIATESTKEY' was rejected (InvalidAccessKeyId"));
	CHECK(err && !strstr(err, "sekret"));
	free(err);
	err = NULL;
	sv.mode = S_REGION301;
	CHECK(coco_s3_source.list(s, list_cb, &l4, &err) == -1);
	CHECK(err && strstr(err, "bucket 'bkt' is in region 'eu-west-1', not 'us-east-1'"));
	free(err);
	err = NULL;
	sv.mode = S_REGION400;
	CHECK(coco_s3_source.list(s, list_cb, &l4, &err) == -1);
	CHECK(err && strstr(err, "is in region 'ap-south-1'"));
	free(err);
	err = NULL;
	sv.mode = S_NOBUCKET;
	CHECK(coco_s3_source.list(s, list_cb, &l4, &err) == -1);
	CHECK(err && strstr(err, "bucket 'bkt' does not exist"));
	free(err);
	err = NULL;
	listed_free(&l4);
	coco_s3_source.close(s);

	/* a dead endpoint */
	fk_stop(&fs);
	base_opts(&o, fs.port, NULL);
	s = open_src(&o, &err);
	listed l5 = {0};
	CHECK(coco_s3_source.list(s, list_cb, &l5, &err) == -1 && l5.n == 0);
	CHECK(err && strstr(err, "cannot reach http://127.0.0.1:") && strstr(err, "(5 attempts)"));
	free(err);
	err = NULL;
	coco_s3_source.close(s);

	listed_free(&l);
	coco_buf_free(&want);
	coco_buf_free(&ord);
	coco_arena_destroy(&a);
}

int main(void)
{
	test_encoding();
	test_xml();
	test_events();
	test_source();
	return CHECK_DONE();
}
