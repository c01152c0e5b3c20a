/* coco.live: the live updater, driven by the host's loop.
 *   local live = flow:live{ on_batch = fn, on_warning = fn, on_error = fn }
 *     on_warning(msg, source, key): source and key only for a row read with
 *     a warning (counted in stats as warnings)
 *   live:fd()        one pollable fd
 *   live:timeout()   seconds until a step is due anyway (nil: none)
 *   live:step(ms)    a bounded slice of work; rows processed | nil, msg
 *   live:wait()      step until aborted (blocking)
 *   live:abort()     stop; live:stats() cumulative counts; live:close()
 * The callbacks run inside step()/wait(): there, close() only marks the
 * updater (it is destroyed when the step returns, which then returns false)
 * and a nested step() or wait() is an error. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lua/l_graph.h"
#include "engine/live.h"

#define COCO_LIVE_MT "coco.live"

typedef struct llive {
	coco_live *lv;
	lgraph *owner;
	lua_State *L;                 /* the state of the current step */
	int graph_ref;                /* keeps the flow's graph alive */
	int on_batch, on_warning, on_error;   /* registry refs or LUA_NOREF */
	int depth;                    /* inside coco_live_step (callbacks run there) */
	int close_pending;            /* close() was called from a callback */
	pid_t pid;                    /* the process that created it (fork check) */
} llive;

static llive *check_live(lua_State *L, int idx)
{
	llive *l = luaL_checkudata(L, idx, COCO_LIVE_MT);
	if (!l->lv)
		coco_lua_raisef(L, "coco: live updater is closed");
	return l;
}

static void call_ref(llive *l, int ref, int nargs, const char *what)
{
	/* [.., args] */
	lua_State *L = l->L;
	if (ref == LUA_NOREF) {
		lua_pop(L, nargs);
		return;
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
	lua_insert(L, -nargs - 1);
	coco_lua_callback(L, nargs, what);
}

static void cb_batch(void *ud, const coco_source_stats *b)
{
	llive *l = ud;
	coco_lua_push_stats(l->L, b);
	call_ref(l, l->on_batch, 1, "on_batch");
}

static void cb_warning(void *ud, const char *msg)
{
	llive *l = ud;
	lua_pushstring(l->L, msg);
	call_ref(l, l->on_warning, 1, "on_warning");
}

/* A row read with a warning (invalid UTF-8 replaced): on_warning gets it
 * worded like the updater's own ("Flow.source: docs/a.txt: ..."), then
 * the source and the key. */
static void cb_row_warning(void *ud, const char *source, const char *key, const char *msg)
{
	llive *l = ud;
	const char *flow = coco_graph_name(l->owner->g);
	if (strstr(msg, key))
		lua_pushfstring(l->L, "%s.%s: %s", flow, source, msg);
	else
		lua_pushfstring(l->L, "%s.%s: %s: %s", flow, source, key, msg);
	lua_pushstring(l->L, source);
	lua_pushstring(l->L, key);
	call_ref(l, l->on_warning, 3, "on_warning");
}

static void cb_error(void *ud, const char *source, const char *key, const char *msg)
{
	llive *l = ud;
	lua_pushstring(l->L, source);
	lua_pushstring(l->L, key);
	lua_pushstring(l->L, msg);
	call_ref(l, l->on_error, 3, "on_error");
}

int coco_lua_live_new(lua_State *L, int graph_idx, lgraph *lg, int opts)
{
	llive *l = coco_lua_new(L, sizeof *l, COCO_LIVE_MT);
	l->on_batch = l->on_warning = l->on_error = l->graph_ref = LUA_NOREF;
	int self = lua_gettop(L);
	coco_live_opts o;
	memset(&o, 0, sizeof o);
	coco_lua_update_flags(L, opts, &o.update);
	if (lua_istable(L, opts)) {
		lua_getfield(L, opts, "budget_ms");
		o.budget_ms = lua_tonumber(L, -1);
		lua_pop(L, 1);
	}
	l->pid = getpid();
	l->on_batch = coco_lua_opt_ref(L, opts, "on_batch");
	l->on_warning = coco_lua_opt_ref(L, opts, "on_warning");
	l->on_error = coco_lua_opt_ref(L, opts, "on_error");
	o.update.on_error = cb_error;
	o.update.on_warning = cb_row_warning;
	o.update.ud = l;
	o.on_batch = cb_batch;
	o.on_warning = cb_warning;
	o.ud = l;
	l->L = L;
	l->owner = lg;
	char *err = NULL;
	if (coco_live_create(lg->g, lg->st, &o, &l->lv, &err)) {
		l->lv = NULL;
		return coco_lua_fail_free(L, err ? err : coco_strdup("cannot start live mode"));
	}
	lua_pushvalue(L, graph_idx);
	l->graph_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	l->owner = lg;
	lg->nlive++;
	lua_pushvalue(L, self);
	return 1;
}

static void live_destroy(lua_State *L, llive *l)
{
	if (l->lv && l->pid != getpid())
		l->lv = NULL;             /* a forked copy: the parent's fds, targets, thread */
	if (l->lv) {
		coco_live_destroy(l->lv);
		l->lv = NULL;
		coco_lua_graph_unlive(l->owner);
	}
	int *refs[] = { &l->graph_ref, &l->on_batch, &l->on_warning, &l->on_error };
	for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
		luaL_unref(L, LUA_REGISTRYINDEX, *refs[i]);
		*refs[i] = LUA_NOREF;
	}
}

/* Before a step: not from inside a callback of this updater's own step. */
static llive *enter(lua_State *L, const char *what)
{
	llive *l = check_live(L, 1);
	if (l->depth)
		coco_lua_raisef(L, "coco: live:%s called from a live callback", what);
	l->L = L;
	l->depth++;
	return l;
}

/* After a step: 1 if close() was called meanwhile (the updater is gone). */
static int leave(lua_State *L, llive *l)
{
	l->depth--;
	if (!l->close_pending)
		return 0;
	live_destroy(L, l);
	return 1;
}

static int l_fd(lua_State *L)
{
	lua_pushinteger(L, coco_live_fd(check_live(L, 1)->lv));
	return 1;
}

static int l_timeout(lua_State *L)
{
	return coco_lua_push_timeout(L, coco_live_timeout(check_live(L, 1)->lv));
}

static int l_has_capture(lua_State *L)
{
	lua_pushboolean(L, coco_live_has_capture(check_live(L, 1)->lv));
	return 1;
}

/* After a fork, the copy refuses to run (nginx: open in init_worker). */
static int forked(lua_State *L)
{
	llive *l = check_live(L, 1);
	if (l->pid == getpid())
		return 0;
	return coco_lua_fail(L, "coco: this live updater was started in another process (before a fork); "
		"start it after forking (in nginx: in init_worker_by_lua)");
}

/* live:step(ms) -> rows processed | false when aborted | nil, msg */
static int l_step(lua_State *L)
{
	int ms = (int)luaL_optinteger(L, 2, 0);
	if (forked(L))
		return 2;
	llive *l = enter(L, "step");
	char *err = NULL;
	int n = coco_live_step(l->lv, ms, &err);
	if (leave(L, l) && n >= 0)
		n = -2;                       /* closed by a callback: stopped */
	if (n == -2) {
		lua_pushboolean(L, 0);
		return 1;
	}
	if (n < 0) {
		return coco_lua_fail_free(L, err ? err : coco_strdup("live step failed"));
	}
	lua_pushinteger(L, n);
	return 1;
}

static void push_stats_all(lua_State *L, llive *l)
{
	const coco_source_stats *st = coco_live_stats(l->lv);
	lua_newtable(L);
	for (size_t i = 0; st[i].source; i++) {
		coco_lua_push_stats(L, &st[i]);
		lua_rawseti(L, -2, (int)i + 1);
	}
}

/* live:wait() -> stats | nil, msg: steps until aborted (signals in the CLI) */
static int l_wait(lua_State *L)
{
	if (forked(L))
		return 2;
	llive *l = enter(L, "wait");
	for (;;) {
		char *err = NULL;
		int n = coco_live_step(l->lv, -1, &err);
		if (n == -2)
			break;
		if (n < 0) {
			leave(L, l);
			return coco_lua_fail_free(L, err ? err : coco_strdup("live step failed"));
		}
	}
	push_stats_all(L, l);
	leave(L, l);
	return 1;
}

static int l_abort(lua_State *L)
{
	coco_live_abort(check_live(L, 1)->lv);
	return 0;
}

/* live:rescan(reexport, full_reprocess): a full pass of every source now */
static int l_rescan(lua_State *L)
{
	coco_live_rescan(check_live(L, 1)->lv, lua_toboolean(L, 2), lua_toboolean(L, 3));
	return 0;
}

/* live:busy() -> true until the initial (or a rescan's) pass is over */
static int l_busy(lua_State *L)
{
	lua_pushboolean(L, coco_live_busy(check_live(L, 1)->lv));
	return 1;
}

static int l_stats(lua_State *L)
{
	push_stats_all(L, check_live(L, 1));
	return 1;
}

static int l_catch_signals(lua_State *L)
{
	llive *l = check_live(L, 1);
	char *err = NULL;
	if (coco_live_catch_signals(l->lv, &err)) {
		return coco_lua_fail_free(L, err);
	}
	lua_pushboolean(L, 1);
	return 1;
}

static int l_close(lua_State *L)
{
	llive *l = luaL_checkudata(L, 1, COCO_LIVE_MT);
	if (l->depth) {                   /* from a callback: when the step returns */
		if (l->lv)
			coco_live_abort(l->lv);
		l->close_pending = 1;
		return 0;
	}
	live_destroy(L, l);
	return 0;
}

static int l_tostring(lua_State *L)
{
	llive *l = luaL_checkudata(L, 1, COCO_LIVE_MT);
	lua_pushfstring(L, "coco.live(%s)", l->lv ? "running" : "closed");
	return 1;
}

static const luaL_Reg live_methods[] = {
	{ "fd", l_fd },
	{ "timeout", l_timeout },
	{ "has_capture", l_has_capture },
	{ "step", l_step },
	{ "wait", l_wait },
	{ "abort", l_abort },
	{ "stats", l_stats },
	{ "rescan", l_rescan },
	{ "busy", l_busy },
	{ "close", l_close },
	{ "_catch_signals", l_catch_signals },
	{ NULL, NULL }
};

int coco_lua_open_live(lua_State *L)
{
	coco_lua_class(L, COCO_LIVE_MT, live_methods, l_close, l_tostring);
	return 0;
}
