#pragma once
/* coco.graph: the userdata behind a flow (l_graph.c builds it, l_flow.c
 * runs it), and what l_live.c, l_query.c and l_server.c use of it. */
#include <sys/types.h>
#include "lua/coco_lua.h"
#include "engine/indexer.h"
#include "engine/state.h"

#define COCO_GRAPH_MT "coco.graph"

typedef struct lgraph {
	coco_graph *g;
	coco_state *st;
	int st_ro;
	char *state_dir;
	pid_t pid;
	coco_setup_plan plan;
	int nlive;                    /* live updaters (and a running update/evaluate) using it */
	int released;                 /* closed while they ran: free when they end */
} lgraph;
/* The userdata at idx, raising if it is closed: "coco: flow is closed". */
lgraph *coco_lua_check_graph(lua_State *L, int idx);
void coco_lua_push_stats(lua_State *L, const coco_source_stats *s);
/* Close lg's state (not in a forked copy: the parent owns it). */
void coco_lua_graph_close_state(lgraph *lg);
/* A live updater ended: drop its hold on lg. */
void coco_lua_graph_unlive(lgraph *lg);

/* l_flow.c: the flags reexport and full_reprocess of the options table at
 * opts (if it is one) into o. */
void coco_lua_update_flags(lua_State *L, int opts, coco_update_opts *o);

/* l_live.c: push a new updater for the flow at graph_idx; opts table at opts. */
int coco_lua_live_new(lua_State *L, int graph_idx, lgraph *lg, int opts);
