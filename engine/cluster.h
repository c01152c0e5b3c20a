#pragma once
/* Cluster mode (../shared/notes/cluster.md): the partitions of a flow's
 * PostgreSQL state (state.h, coco_state_pg_open) held by processes.
 *
 * K = 256 partitions; a source row's partition is the fingerprint of its
 * state key (`<source>\0<key>`) mod K. A read-write store holds none when
 * opened; coco_cluster_balance claims them (lease rows, FOR UPDATE SKIP
 * LOCKED, the partition's epoch bumped on each claim, expiring on the
 * database's clock, renewed by the store's heartbeat thread). A pass over
 * the store touches only the rows of the partitions held
 * (coco_state_owns), and every write is fenced: its transaction re-reads
 * the lease rows of the partitions held FOR SHARE and writes nothing when
 * one has another owner or epoch (that partition is dropped). A worker
 * above its fair share gives partitions up at the next batch boundary
 * (coco_state_shed), once its batch in flight is committed. Setup
 * records K and the flow's fingerprint (the cluster row); workers and
 * updates of another flow refuse to start. Implemented in cluster.c. */
#include "engine/state.h"
#include "engine/fingerprint.h"
#include "engine/graph.h"

#define COCO_CLUSTER_PARTS 256   /* K */

/* The flow's fingerprint as the cluster row records it: its sources' and
 * exports' names and logic fingerprints. */
coco_fp coco_cluster_flow_fp(const coco_graph *g);

/* Whether st is a cluster store (PostgreSQL). */
int coco_cluster_is(const coco_state *st);

/* setup: records K and the flow's fingerprint fp (the cluster row). */
int coco_cluster_setup(coco_state *st, coco_fp fp, char **err);

/* Before a worker or an update: the cluster row holds K and fp, else -2:
 *   "cluster URL ...: flow F is not set up there: run coco setup flow.lua --cluster URL first"
 *   "cluster URL ...: flow F compiles to fingerprint 0123..., the cluster was set up with
 *    4567...: run coco setup flow.lua --cluster URL again"
 * path: the flow file as the user named it (for the message). -1: the
 * database could not tell (unreachable). */
int coco_cluster_check(coco_state *st, coco_fp fp, const char *path, char **err);

/* Registers this process in the workers table (its heartbeat is the
 * store's); close removes it. */
int coco_cluster_join(coco_state *st, char **err);

/* A worker's pass: rows processed (added, updated, deleted) and rows that
 * failed, added to its row in the workers table (status shows them). */
int coco_cluster_report(coco_state *st, uint64_t rows, uint64_t errors, char **err);

typedef struct coco_cluster_share {
	int held;                     /* partitions held after the call */
	int claimed, released;        /* by the call */
	int others;                   /* held by other live processes */
	int live;                     /* live workers (joined ones) */
	int fair;                     /* the share aimed at */
	int lease_ms;                 /* a lease's life ($COCO_CLUSTER_LEASE_MS, default 20 s) */
} coco_cluster_share;

/* At a pass boundary: forgets the partitions lost since the last call,
 * gives up those above the fair share (ceil(K / live workers), keeping the
 * rest), claims free or expired ones up to it. all (an update): the fair
 * share is every partition; when none could be claimed because live
 * processes hold them, -1: "cluster URL ...: flow F is in use by another
 * coco process (host pid N; its lease ends in S s unless renewed)". */
int coco_cluster_balance(coco_state *st, int all, coco_cluster_share *sh, char **err);

/* `coco cluster status`: the rows tracked, who holds the partitions, the
 * workers (host, pid, heartbeat age, partitions, rows, rows/s, errors). Appended to out:
 *   Flow Docs, URL postgres://... (schema "coco_Docs"): 1000 source rows tracked
 *     host pid 4242: 256 partitions, epoch 7, lease ends in 19 s
 *   workers: 1 live
 *     host pid 4242: heartbeat 1.2 s ago, 256 partitions, 1000 rows (12.5/s), 0 errors
 * (rows per second: over the worker's life so far) */
int coco_state_pg_status(const char *url, const char *flow, coco_buf *out, char **err);
