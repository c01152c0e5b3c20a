#pragma once
/* Private to the AmazonS3 source: what s3.c, s3_xml.c and sqs.c share,
 * and what the C tests reach. Not part of any public API. */
#include <stdint.h>
#include <stddef.h>

#include "engine/ops.h"
#include "engine/http.h"
#include "engine/prefetch.h"
#include "connectors/localfile/glob.h"
#include "connectors/common/objstore.h"

typedef struct s3_sqs s3_sqs;

typedef struct s3_src {
	coco_arena mem;              /* owns the strings and arrays below */
	const char *bucket;
	coco_objopts obj;            /* prefix, patterns, binary, decode_errors, max_file_size */
	const char *region;
	const char *endpoint;        /* "http://127.0.0.1:4569", as used */
	const char *base;            /* URL of the bucket, no trailing '/' */
	int path_style;
	const char *sigv4;           /* "aws:amz:REGION:s3" */
	char *akid, *secret, *token; /* malloc'd (wiped on close); NULL: anonymous */
	const char *queue_url;       /* sqs_queue_url, or NULL */
	const char *disp;            /* "s3://bucket/prefix" for messages */
	coco_http *http;
	coco_prefetch *pf;           /* GetObject requests started ahead of read() */
	char **get_hdrs;             /* the headers of those requests */
	uint64_t skipped_large, reported_large;
	s3_sqs *sqs;                 /* change capture, NULL until watch() */
} s3_src;

/* ---- s3.c: encoding helpers --------------------------------------------- */
/* AWS UriEncode: unreserved bytes (A-Z a-z 0-9 - _ . ~) kept, every other
 * byte as %XX in upper-case hex; '/' kept when keep_slash. */
void s3_uri_encode(coco_buf *out, const char *s, size_t n, int keep_slash);
/* Form decoding, as S3 encodes keys in listings (encoding-type=url) and in
 * event notifications: '+' is a space, %XX a byte. Returns -1 on a
 * malformed escape (out then holds the bytes as they were). */
int s3_form_decode(coco_buf *out, const char *s, size_t n);
typedef struct s3_param {
	const char *k, *v;
} s3_param;
/* The canonical query SigV4 wants and libcurl 7.88 signs verbatim: sorted
 * by name, names and values UriEncoded, every parameter "k=v". Sorts p. */
void s3_canonical_query(coco_buf *out, s3_param *p, size_t n);
/* "2026-11-21T16:34:04.000Z" -> seconds since the epoch, or -1. */
int64_t s3_parse_iso8601(const char *s, size_t n);
/* The ordinal of an object version: LastModified seconds (8 bytes, little
 * endian) then the ETag without its quotes. */
void s3_ordinal(coco_buf *out, int64_t mtime, const char *etag, size_t n);
/* 1 if the decoded key is a row of this source: under the prefix, not a
 * folder marker ("dir/"), wanted by the patterns. */
int s3_wanted(const s3_src *s, const char *key, size_t n);
/* The user's message for a failed request: wrong credentials (naming the
 * access key id, never the secret), a bucket in another region (naming it),
 * a missing bucket, an unreachable endpoint... what: "cannot list". */
int s3_fail(const s3_src *s, const char *what, const char *key, size_t nkey,
	const coco_http_resp *r, char **err);

/* ---- s3_xml.c: ListObjectsV2 and error documents (expat) ---------------- */
typedef struct s3_obj {
	const char *key;             /* as in the XML (still encoded if url) */
	size_t nkey;
	int64_t mtime;               /* LastModified, seconds */
	const char *etag;            /* without quotes */
	size_t netag;
	int64_t size;
	const char *storage_class;   /* "" when absent */
} s3_obj;

typedef struct s3_page {
	s3_obj *objs;
	size_t n, cap;
	int truncated;
	const char *next_token;      /* NULL when absent */
	int url_encoded;             /* <EncodingType>url</EncodingType> */
} s3_page;

/* Parse one ListObjectsV2 response into page (memory from a). Elements are
 * matched by local name, whatever their namespace. -1 with *err on XML
 * that is not well-formed or not a ListBucketResult. */
int s3_parse_list(const char *xml, size_t n, coco_arena *a, s3_page *page, char **err);

typedef struct s3_error {
	char code[64], message[512], region[64], endpoint[256];
} s3_error;
/* Parse an <Error> document; 0 if it was one, -1 otherwise (e zeroed). */
int s3_parse_error(const char *xml, size_t n, s3_error *e);

/* ---- sqs.c: change capture through SQS ----------------------------------- */
int s3_watch(void *src, int *fd, char **err);
int s3_watch_read(void *src, coco_change_cb cb, void *ud, char **err);
void s3_committed(void *src, const coco_value *keys, size_t n);
void s3_sqs_free(s3_sqs *q);

/* One S3 event message body (or an SNS envelope around one): calls key_cb
 * with the decoded key of each record for bucket `bucket` (any event name
 * but s3:TestEvent). Returns the number of records seen for that bucket, or
 * -1 when the body is not JSON or not an S3 event (*why says why). */
int s3_event_keys(const char *body, size_t n, const char *bucket,
	void (*key_cb)(void *ud, const char *key, size_t nkey), void *ud, const char **why);
