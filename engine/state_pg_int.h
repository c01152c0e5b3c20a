#pragma once
/* Internals of the PostgreSQL store, shared by state_pg.c (the store:
 * reads, writes, snapshots, iterators) and cluster.c (partitions, leases,
 * workers, the cluster row). Nothing else includes this. */
#include "engine/cluster.h"

#include <pthread.h>
#include <stdint.h>

#include <libpq-fe.h>

#define PARTS COCO_CLUSTER_PARTS

typedef struct pgs {
	coco_state base;                      /* ops: pg_ops */
	char *url;                            /* as given (password and all): each new connection */
	char *label;                          /* "cluster URL <url, password redacted>" */
	char *schema;                         /* quoted identifier */
	char *flow;                           /* the flow's name */
	char *dir;                            /* scratch files: $TMPDIR or /tmp */
	int ro;
	char owner[96];                       /* read-write: "host pid N" */
	long lease_ms;
	/* The partitions this process holds: epoch[p] > 0 its claim's epoch,
	 * 0 not held, -1 lost since the last pass boundary (the heartbeat or a
	 * write found it taken): every write fails until coco_cluster_balance
	 * forgets it, as a batch may hold rows of it. Read and written with
	 * __atomic (the writer and heartbeat threads, the main thread). */
	int64_t epoch[PARTS];
	int worker;                           /* registered in the workers table */
	int live;                             /* live workers as the heartbeat last saw (__atomic) */
	pthread_t hb;                         /* the heartbeat (read-write) */
	int hb_on, hb_stop;
	pthread_cond_t hb_cv;
	pthread_mutex_t mu;                   /* the pool; hb_stop */
	PGconn **idle;
	size_t nidle, cap;
} pgs;

/* state_pg.c */
int pg_fail(const pgs *s, const char *msg, char **err);
int res_fail(const pgs *s, PGconn *c, PGresult *r, char **err);
int exec_sql(const pgs *s, PGconn *c, const char *sql, char **err);
PGconn *pg_connect(const pgs *s, int prepare, char **err);
PGconn *take(pgs *s, char **err);
void give(pgs *s, PGconn *c);
pgs *pg_new(const char *url, const char *flow, int ro);
/* 0 when the flow's tables exist in the database, else -1 ("no state for
 * flow F in cluster URL ..."). */
int pg_exists(const pgs *s, PGconn *c, char **err);

/* cluster.c */
/* The owner name of this process ("host pid N"), set in s->owner. */
void lease_owner(pgs *s);
/* Starts the heartbeat thread (read-write stores). */
void lease_start(pgs *s);
/* Stops it, frees the partitions held and the worker's row. */
void lease_release(pgs *s);
/* In a write's transaction on c: every partition held is still this
 * process's (owner and epoch, re-read FOR SHARE), else -1 and the lost
 * ones are marked. */
int lease_fence(pgs *s, PGconn *c, char **err);
/* The shed op (state.h): above the fair share of the live workers. */
int lease_shed(coco_state *st, int now);
/* The partition of a state key (a source row's `<source>\0<key>`). */
int lease_part(const void *k, size_t kn);
