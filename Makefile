# Wraps CMake. `make run` and `make test` install what is missing first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

# What building and running coco needs (make run), and what only the tests
# and benchmarks need on top (make test, make bench): test servers, hosts,
# load generators. make run installs no server.
RUN_PKGS  = cmake pkg-config gcc g++ make luajit2 libluajit2-5.1-dev librocksdb-dev \
            libsqlite3-dev sqlite3 libxxhash-dev libpcre2-dev libcurl4-openssl-dev \
            libexpat1-dev libssl-dev libpq-dev libmicrohttpd-dev
TEST_PKGS = gdb lua-busted luarocks nodejs npm python3-botocore postgresql curl \
            neovim nginx libnginx-mod-http-lua lua-luv stress-ng chromium strace
# the npm servers the specs start (each folder pinned by its package-lock.json)
NPM_DIRS  = spec/servers/azure spec/servers/browser spec/servers/chroma spec/servers/pglite spec/servers/qdrant spec/servers/s3

.PHONY: all build deps deps-test run test unit-asan unit-busy bench bench-scale fuzz install clean

all: build

build: $(BUILD)/Makefile
	@$(MAKE) --no-print-directory -C $(BUILD) -j$(JOBS)

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)

# Idempotent: apt-get runs only when a package is missing, and installs no
# recommended extras. LuaJIT: Debian's luajit2 (OpenResty's branch, which
# nginx-lua needs; installing it replaces the plain luajit packages); the
# build itself accepts either flavour. RUNLEVEL=1: installing a server
# package (make test's PostgreSQL, nginx) does not start its system service.
define apt_install
	@missing=""; \
	for p in $(1); do \
	  case $$p in \
	    npm) command -v npm >/dev/null 2>&1 || dpkg -s npm >/dev/null 2>&1 || missing="$$missing $$p";; \
	    *) dpkg -s $$p 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p";; \
	  esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make $@: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
	    $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_install,$(RUN_PKGS))

deps-test: deps
	$(call apt_install,$(TEST_PKGS))
	@for d in $(NPM_DIRS); do \
	  if [ ! -d $$d/node_modules ]; then \
	    echo "make deps-test: npm ci in $$d"; \
	    (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	  fi; \
	done

run: deps build
	cd examples/docs_index && ../../$(BUILD)/coco flow.lua
	@echo; echo "A few rows of examples/docs_index/index.sqlite:"
	@sqlite3 -header -column examples/docs_index/index.sqlite \
	  "SELECT filename, location, substr(replace(text, char(10), ' '), 1, 60) AS text FROM DocsIndex__doc_chunks ORDER BY filename, json_extract(location, '$$[0]') LIMIT 5"

# C unit tests under ASan+UBSan, then every test (C + busted specs) on the normal build.
test: deps-test build unit-asan
	cd $(BUILD) && ctest --output-on-failure

unit-asan: $(ASAN_BUILD)/Makefile
	@$(MAKE) --no-print-directory -C $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest -L unit --output-on-failure

# The C unit tests again with both cores busy, then pinned to one core: a
# test that leans on this machine's speed fails here, not on a user's
# machine (.ci/run calls it after make test).
unit-busy: build
	@if command -v stress-ng >/dev/null 2>&1; then \
	  stress-ng --cpu $(JOBS) --timeout 900s --quiet & load=$$!; \
	else \
	  load=""; for i in $$(seq $(JOBS)); do yes >/dev/null & load="$$load $$!"; done; \
	fi; \
	trap 'kill $$load 2>/dev/null' EXIT; \
	echo "make unit-busy: C unit tests with $(JOBS) cores busy"; \
	(cd $(BUILD) && ctest -L unit --output-on-failure) || exit 1; \
	kill $$load 2>/dev/null; wait 2>/dev/null; trap - EXIT; \
	echo "make unit-busy: C unit tests pinned to one core"; \
	cd $(BUILD) && taskset -c 0 ctest -L unit --output-on-failure

$(ASAN_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD) -DCOCO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)

bench: deps-test build
	luajit spec/bench/run.lua $(BUILD)
	luajit spec/bench/live.lua $(BUILD)
	luajit spec/bench/bench_s3.lua $(BUILD)
	luajit spec/bench/bench_gdrive.lua $(BUILD)
	luajit spec/bench/bench_postgres.lua $(BUILD)
	luajit spec/bench/bench_pgsource.lua $(BUILD)
	luajit spec/bench/bench_azure.lua $(BUILD)
	luajit spec/bench/bench_harden.lua $(BUILD)
	luajit spec/bench/bench_qdrant.lua $(BUILD)
	luajit spec/bench/bench_chroma.lua $(BUILD)
	luajit spec/bench/bench_server.lua $(BUILD)
	luajit spec/bench/bench_hosts.lua $(BUILD)
	luajit spec/bench/bench_embed.lua $(BUILD)

# #20's scale table: the Foundation flow over generated corpora of SCALE
# files (initial, no-change, one file changed, live idle; wall, CPU, peak
# RSS) beside a find walk+stat. Generates ~0.4 GB (100,000 files) and
# ~4.3 GB (1,000,000; ~5.6 GB on disk, ~5 GB more of SQLite) under
# SCALE_DIR, kept for reruns. Not part of make test or CI.
SCALE ?= 100000,1000000
SCALE_DIR ?= $(CURDIR)/spec/bench/out/scale
bench-scale: build
	SCALE=$(SCALE) SCALE_DIR=$(SCALE_DIR) nice luajit spec/bench/bench_scale.lua $(BUILD)

# The differential fuzzer (spec/fuzz/README.md): random source and flow
# changes, updates (plain, -f, killed, live), every target compared with a
# fresh build over SQLite, PostgreSQL and a Lua target; make test runs three
# 150-step slices (one with --collide). FUZZ_ARGS: --seed S, --collide,
# --no-pg, --profile (where a step's time goes), ...
FUZZ_STEPS ?= 10000
fuzz: deps-test build
	luajit spec/fuzz/run.lua $(BUILD) --steps $(FUZZ_STEPS) --jobs 2 $(FUZZ_ARGS)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
