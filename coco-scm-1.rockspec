-- LuaRocks: build and install coco from a checkout.
--   luarocks --lua-version 5.1 make                 (system tree; root)
--   luarocks --lua-version 5.1 --tree DIR make      (any tree)
-- coco.so goes to the tree's lib/lua/5.1, the coco binary to its bin.
-- The C libraries come from Debian (make deps installs them).
rockspec_format = "3.0"
package = "coco"
version = "scm-1"
source = { url = "git+file:///dev/null" }   -- `luarocks make` builds the checkout it runs in
description = {
  summary = "Incremental indexing engine: flows in Lua, targets kept exactly in sync",
  detailed = [[
coco keeps search and RAG indexes (chunk, vector and full-text tables) in
sync with their sources, re-doing only what a change touches. The engine is
C with RocksDB state; flows are Lua. `require "coco"` loads it into luajit,
Neovim or nginx-lua; the coco binary is its command line.]],
  labels = { "indexing", "rag", "search", "luajit" },
}
dependencies = { "lua == 5.1" }   -- LuaJIT (coco.so uses the Lua 5.1 C API)
build = {
  type = "command",
  build_command = [[cmake -S . -B build.luarocks -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOCO_TESTS=OFF ]]
    .. [[-DCMAKE_INSTALL_PREFIX="$(PREFIX)" -DCOCO_INSTALL_CMOD="$(LIBDIR)" ]]
    .. [[&& cmake --build build.luarocks -j 4]],
  install_command = [[cmake --install build.luarocks]],
}
