/* coco server's bindings: the HTTP server, a poller that joins it with
 * live updaters, and the inspection JSON of a flow (engine/inspect.h).
 *   local srv = core.server{ listen =, token =, cors =, max_body =,
 *                            handler = function(req) ... end, on_gone = fn(id) }
 *   srv:fd() srv:timeout() srv:run() srv:address() srv:close()
 *   srv:respond(id, status, body, ctype, headers)  -- a request left pending
 *   srv:broadcast(event, data) srv:nstreams() srv:counts()
 * The handler gets { id, method, path, args = {..}, body } and returns
 * status, body[, ctype[, headers]] to answer at once, "sse" to make the
 * request an event stream, or nothing to answer later with srv:respond.
 *   local p = core.poller()   p:add(fd, tag) p:fd() p:wait(ms) -> { tag, ... }
 *   core.inspect_graph(g) / inspect_rows(g, i, after, limit, q) /
 *   inspect_row(g, i, keytext) / inspect_export(g, x, after, limit) -> json | nil, msg[, status] */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include "lua/l_graph.h"
#include "engine/inspect.h"
#include "engine/server.h"
#include "engine/sys.h"

#define COCO_SERVER_MT "coco.server"
#define COCO_POLLER_MT "coco.poller"

typedef struct lserver {
	coco_server *s;
	lua_State *L;                 /* the state running srv:run() */
	int handler, on_gone;         /* registry refs */
	int running;
} lserver;

static lserver *check_server(lua_State *L, int idx)
{
	lserver *ls = luaL_checkudata(L, idx, COCO_SERVER_MT);
	if (!ls->s)
		coco_lua_raisef(L, "coco: server is closed");
	return ls;
}

static void push_arg(void *ud, const char *k, const char *v)
{
	lua_State *L = ud;
	lua_pushstring(L, v);
	lua_setfield(L, -2, k);
}

static void respond_error(coco_http_req *r, int status, const char *msg)
{
	coco_buf b = {0};
	coco_buf_adds(&b, "{\"error\":");
	coco_json_str(&b, msg, strlen(msg));
	coco_buf_adds(&b, "}\n");
	coco_http_respond(r, status, "application/json", b.p, b.n, NULL);
	coco_buf_free(&b);
}

static void on_request(void *ud, coco_http_req *r)
{
	lserver *ls = ud;
	lua_State *L = ls->L;
	int top = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ls->handler);
	lua_createtable(L, 0, 5);                        /* [handler, req] */
	lua_pushnumber(L, (lua_Number)coco_http_id(r));
	lua_setfield(L, -2, "id");
	lua_pushstring(L, coco_http_method(r));
	lua_setfield(L, -2, "method");
	lua_pushstring(L, coco_http_path(r));
	lua_setfield(L, -2, "path");
	lua_newtable(L);
	coco_http_args(r, push_arg, L);
	lua_setfield(L, -2, "args");
	size_t n;
	const char *body = coco_http_body(r, &n);
	lua_pushlstring(L, body, n);
	lua_setfield(L, -2, "body");
	if (coco_lua_pcall(L, 1, 4)) {
		const char *msg = lua_tostring(L, -1);
		respond_error(r, 500, msg ? msg : "handler failed");
		lua_settop(L, top);
		return;
	}
	/* [status, body, ctype, headers] */
	if (lua_type(L, -4) == LUA_TSTRING && !strcmp(lua_tostring(L, -4), "sse")) {
		coco_http_sse(r);
	} else if (lua_isnumber(L, -4)) {
		size_t bn = 0;
		const char *b = lua_tolstring(L, -3, &bn);
		coco_http_respond(r, (int)lua_tointeger(L, -4), lua_tostring(L, -2), b ? b : "", bn,
			lua_tostring(L, -1));
	}
	lua_settop(L, top);
}

static void on_gone(void *ud, uint64_t id)
{
	lserver *ls = ud;
	if (ls->on_gone == LUA_NOREF || !ls->L)
		return;
	lua_rawgeti(ls->L, LUA_REGISTRYINDEX, ls->on_gone);
	lua_pushnumber(ls->L, (lua_Number)id);
	coco_lua_callback(ls->L, 1, "on_gone");
}

static const char *opt_str(lua_State *L, int t, const char *name)
{
	lua_getfield(L, t, name);
	const char *s = lua_tostring(L, -1);
	lua_pop(L, 1);                /* the table keeps the string alive */
	return s;
}

/* core.server(opts) -> srv | nil, msg */
static int l_server_new(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_getfield(L, 1, "handler");
	luaL_argcheck(L, lua_isfunction(L, -1), 1, "handler must be a function");
	lua_pop(L, 1);
	lserver *ls = coco_lua_new(L, sizeof *ls, COCO_SERVER_MT);
	ls->handler = ls->on_gone = LUA_NOREF;
	coco_server_opts o;
	memset(&o, 0, sizeof o);
	o.listen = opt_str(L, 1, "listen");
	o.token = opt_str(L, 1, "token");
	o.cors = opt_str(L, 1, "cors");
	lua_getfield(L, 1, "max_body");
	o.max_body = (size_t)lua_tonumber(L, -1);
	lua_getfield(L, 1, "max_conns");
	o.max_conns = (unsigned)lua_tonumber(L, -1);
	lua_pop(L, 2);
	o.handler = on_request;
	o.on_gone = on_gone;
	o.ud = ls;
	char *err = NULL;
	if (coco_server_create(&o, &ls->s, &err)) {
		ls->s = NULL;
		return coco_lua_fail_free(L, err ? err : coco_strdup("cannot start the server"));
	}
	ls->handler = coco_lua_opt_ref(L, 1, "handler");   /* a function: checked above */
	ls->on_gone = coco_lua_opt_ref(L, 1, "on_gone");
	return 1;
}

static int l_fd(lua_State *L)
{
	lua_pushinteger(L, coco_server_fd(check_server(L, 1)->s));
	return 1;
}

static int l_timeout(lua_State *L)
{
	return coco_lua_push_timeout(L, coco_server_timeout(check_server(L, 1)->s));
}

static int l_run(lua_State *L)
{
	lserver *ls = check_server(L, 1);
	if (ls->running)
		return coco_lua_raisef(L, "coco: server:run() called from a request handler");
	ls->L = L;
	ls->running = 1;
	coco_server_run(ls->s);
	ls->running = 0;
	return 0;
}

static int l_address(lua_State *L)
{
	lua_pushstring(L, coco_server_address(check_server(L, 1)->s));
	return 1;
}

/* srv:respond(id, status, body, ctype, headers) -> true | false (the client left) */
static int l_respond(lua_State *L)
{
	lserver *ls = check_server(L, 1);
	coco_http_req *r = coco_server_pending(ls->s, (uint64_t)luaL_checknumber(L, 2));
	if (!r) {
		lua_pushboolean(L, 0);
		return 1;
	}
	size_t n;
	const char *body = luaL_optlstring(L, 4, "", &n);
	coco_http_respond(r, (int)luaL_checkinteger(L, 3), luaL_optstring(L, 5, NULL), body, n,
		luaL_optstring(L, 6, NULL));
	lua_pushboolean(L, 1);
	return 1;
}

static int l_broadcast(lua_State *L)
{
	lserver *ls = check_server(L, 1);
	size_t n;
	const char *data = luaL_checklstring(L, 3, &n);
	coco_server_broadcast(ls->s, luaL_checkstring(L, 2), data, n);
	return 0;
}

static int l_nstreams(lua_State *L)
{
	lua_pushinteger(L, (lua_Integer)coco_server_nstreams(check_server(L, 1)->s));
	return 1;
}

/* srv:counts() -> { ["2xx"] = n, ... } */
static int l_counts(lua_State *L)
{
	const uint64_t *c = coco_server_counts(check_server(L, 1)->s);
	lua_newtable(L);
	for (int i = 1; i <= 5; i++) {
		char k[8];
		snprintf(k, sizeof k, "%dxx", i);
		lua_pushnumber(L, (lua_Number)c[i]);
		lua_setfield(L, -2, k);
	}
	return 1;
}

static int l_close(lua_State *L)
{
	lserver *ls = luaL_checkudata(L, 1, COCO_SERVER_MT);
	if (ls->running)
		return coco_lua_raisef(L, "coco: server:close() called from a request handler");
	if (ls->s) {
		ls->L = L;
		coco_server_destroy(ls->s);
		ls->s = NULL;
	}
	luaL_unref(L, LUA_REGISTRYINDEX, ls->handler);
	luaL_unref(L, LUA_REGISTRYINDEX, ls->on_gone);
	ls->handler = ls->on_gone = LUA_NOREF;
	return 0;
}

static int l_tostring(lua_State *L)
{
	lserver *ls = luaL_checkudata(L, 1, COCO_SERVER_MT);
	lua_pushfstring(L, "coco.server(%s)", ls->s ? coco_server_address(ls->s) : "closed");
	return 1;
}

static const luaL_Reg server_methods[] = {
	{ "fd", l_fd },
	{ "timeout", l_timeout },
	{ "run", l_run },
	{ "address", l_address },
	{ "respond", l_respond },
	{ "broadcast", l_broadcast },
	{ "nstreams", l_nstreams },
	{ "counts", l_counts },
	{ "close", l_close },
	{ NULL, NULL }
};

/* ---- the poller: one epoll fd over several ---------------------------- */
typedef struct lpoller {
	int fd;
} lpoller;

static int l_poller_new(lua_State *L)
{
	lpoller *p = coco_lua_new(L, sizeof *p, COCO_POLLER_MT);
	p->fd = epoll_create1(EPOLL_CLOEXEC);
	if (p->fd < 0) {
		return coco_lua_failf(L, "epoll_create1: %s", strerror(errno));
	}
	return 1;
}

static lpoller *check_poller(lua_State *L)
{
	lpoller *p = luaL_checkudata(L, 1, COCO_POLLER_MT);
	if (p->fd < 0)
		coco_lua_raisef(L, "coco: poller is closed");
	return p;
}

/* p:add(fd, tag) -- tag: a small integer >= 1 */
static int l_poller_add(lua_State *L)
{
	lpoller *p = check_poller(L);
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)luaL_checkinteger(L, 3) };
	if (epoll_ctl(p->fd, EPOLL_CTL_ADD, (int)luaL_checkinteger(L, 2), &ev))
		return coco_lua_raisef(L, "coco: poller:add: %s", strerror(errno));
	return 0;
}

static int l_poller_del(lua_State *L)
{
	lpoller *p = check_poller(L);
	epoll_ctl(p->fd, EPOLL_CTL_DEL, (int)luaL_checkinteger(L, 2), NULL);
	return 0;
}

static int l_poller_fd(lua_State *L)
{
	lua_pushinteger(L, check_poller(L)->fd);
	return 1;
}

/* p:wait(ms) -> { tag = true, ... } (ms < 0: until something is ready) */
static int l_poller_wait(lua_State *L)
{
	lpoller *p = check_poller(L);
	int ms = (int)luaL_optinteger(L, 2, -1);
	struct epoll_event evs[32];
	int n = epoll_wait(p->fd, evs, 32, ms);
	lua_newtable(L);
	for (int i = 0; i < n; i++) {
		lua_pushboolean(L, 1);
		lua_rawseti(L, -2, (int)evs[i].data.u32);
	}
	return 1;
}

static int l_poller_close(lua_State *L)
{
	lpoller *p = luaL_checkudata(L, 1, COCO_POLLER_MT);
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	return 0;
}

static const luaL_Reg poller_methods[] = {
	{ "add", l_poller_add },
	{ "del", l_poller_del },
	{ "fd", l_poller_fd },
	{ "wait", l_poller_wait },
	{ "close", l_poller_close },
	{ NULL, NULL }
};

/* core.signal_fd() -> fd: readable once SIGINT or SIGTERM came (the first
 * one; a second takes the default action). For `coco server` without -L,
 * whose loop has no updater to catch them. */
static int l_signal_fd(lua_State *L)
{
	static int rd = -1, wr = -1;
	if (rd < 0 && (rd = coco_signal_pipe(&wr)) < 0)
		return coco_lua_raisef(L, "coco: pipe: %s", strerror(errno));
	lua_pushinteger(L, rd);
	return 1;
}

/* ---- inspection -------------------------------------------------------- */
/* nil, msg, an HTTP status */
static int fail_status(lua_State *L, const char *msg, int status)
{
	coco_lua_fail(L, msg);
	lua_pushinteger(L, status);
	return 3;
}

static int push_json(lua_State *L, coco_buf *b, int rc, char *err, int status)
{
	if (rc < 0) {
		coco_buf_free(b);
		fail_status(L, err, status);
		free(err);
		return 3;
	}
	lua_pushlstring(L, b->p ? b->p : "", b->n);
	coco_buf_free(b);
	return 1;
}

static int l_inspect_graph(lua_State *L)
{
	coco_buf b = {0};
	coco_inspect_graph(coco_lua_check_graph(L, 1)->g, &b);
	return push_json(L, &b, 0, NULL, 0);
}

static size_t source_arg(lua_State *L, lgraph *lg, int idx)
{
	lua_Integer i = luaL_checkinteger(L, idx);
	luaL_argcheck(L, i >= 1 && (size_t)i <= coco_graph_nsources(lg->g), idx, "no such source");
	return (size_t)i - 1;
}

static int no_state(lua_State *L)
{
	return fail_status(L, "the flow has no state yet (run an update first)", 409);
}

/* core.inspect_rows(g, source, after, limit, q) */
static int l_inspect_rows(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	size_t si = source_arg(L, lg, 2);
	if (!lg->st)
		return no_state(L);
	coco_buf b = {0};
	char *err = NULL;
	int rc = coco_inspect_rows(lg->g, lg->st, si, luaL_optstring(L, 3, NULL),
		(size_t)luaL_optinteger(L, 4, 100), luaL_optstring(L, 5, NULL), &b, &err);
	return push_json(L, &b, rc, err, 400);
}

/* core.inspect_row(g, source, keytext) -> json | nil, msg, status (400, 404, 500) */
static int l_inspect_row(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	size_t si = source_arg(L, lg, 2);
	const char *text = luaL_checkstring(L, 3);
	coco_arena a = {0};
	coco_value key;
	char *err = NULL;
	if (coco_inspect_key_parse(lg->g, si, text, &a, &key, &err)) {
		coco_arena_destroy(&a);
		coco_buf b = {0};
		return push_json(L, &b, -1, err, 400);
	}
	coco_buf b = {0};
	int rc = coco_inspect_row(lg->g, lg->st, si, &key, &b, &err);
	coco_arena_destroy(&a);
	if (rc == 1) {
		coco_buf_free(&b);
		return fail_status(L, lua_pushfstring(L, "%s has no row with key '%s'",
			coco_graph_source(lg->g, si)->name, text), 404);
	}
	return push_json(L, &b, rc, err, 500);
}

/* core.inspect_export(g, x, after, limit) */
static int l_inspect_export(lua_State *L)
{
	lgraph *lg = coco_lua_check_graph(L, 1);
	lua_Integer x = luaL_checkinteger(L, 2);
	luaL_argcheck(L, x >= 1 && (size_t)x <= coco_graph_nexports(lg->g), 2, "no such export");
	if (!lg->st)
		return no_state(L);
	coco_buf b = {0};
	char *err = NULL;
	int rc = coco_inspect_export(lg->g, lg->st, (size_t)x - 1, luaL_optstring(L, 3, NULL),
		(size_t)luaL_optinteger(L, 4, 100), &b, &err);
	return push_json(L, &b, rc, err, 400);
}

static const luaL_Reg core_funcs[] = {
	{ "server", l_server_new },
	{ "poller", l_poller_new },
	{ "signal_fd", l_signal_fd },
	{ "inspect_graph", l_inspect_graph },
	{ "inspect_rows", l_inspect_rows },
	{ "inspect_row", l_inspect_row },
	{ "inspect_export", l_inspect_export },
	{ NULL, NULL }
};

int coco_lua_open_server(lua_State *L)
{
	/* [core] */
	coco_lua_class(L, COCO_SERVER_MT, server_methods, l_close, l_tostring);
	coco_lua_class(L, COCO_POLLER_MT, poller_methods, l_poller_close, NULL);
	luaL_register(L, NULL, core_funcs);
	return 0;
}
