# Wraps CMake. `make run` and `make test` install what is missing first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

DEB_PKGS = cmake pkg-config gcc make gdb luajit2 libluajit2-5.1-dev librocksdb-dev \
           libsqlite3-dev sqlite3 libxxhash-dev libpcre2-dev lua-busted nodejs \
           libcurl4-openssl-dev libexpat1-dev libssl-dev python3-botocore npm \
           libpq-dev postgresql \
           neovim nginx libnginx-mod-http-lua lua-luv curl

.PHONY: all build deps run test unit-asan bench install clean

all: build

build: $(BUILD)/Makefile
	@$(MAKE) --no-print-directory -C $(BUILD) -j$(JOBS)

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) $(CMAKE_ARGS)

# Idempotent: apt-get runs only when a package is missing. LuaJIT: Debian's
# luajit2 (OpenResty's branch, which nginx-lua needs; installing it replaces
# the plain luajit packages); the build itself accepts either flavour.
# RUNLEVEL=1: installing a server package does not start its system service.
deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	  case $$p in \
	    npm) command -v npm >/dev/null 2>&1 || dpkg -s npm >/dev/null 2>&1 || missing="$$missing $$p";; \
	    *) dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p";; \
	  esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $$SUDO apt-get install -y -qq $$missing; \
	fi
	@if [ ! -d spec/servers/s3/node_modules ]; then \
	  echo "make deps: npm ci in spec/servers/s3 (s3rver, fauxqs for the AmazonS3 specs)"; \
	  cd spec/servers/s3 && npm ci --no-audit --no-fund --loglevel=error; \
	fi
	@if [ ! -d spec/servers/pglite/node_modules ]; then \
	  echo "make deps: npm ci in spec/servers/pglite (PGlite + pgvector for the Postgres specs)"; \
	  cd spec/servers/pglite && npm ci --no-audit --no-fund --loglevel=error; \
	fi

run: deps build
	cd examples/docs_index && ../../$(BUILD)/coco flow.lua
	@echo; echo "A few rows of examples/docs_index/index.sqlite:"
	@sqlite3 -header -column examples/docs_index/index.sqlite \
	  "SELECT filename, location, substr(replace(text, char(10), ' '), 1, 60) AS text FROM DocsIndex__doc_chunks ORDER BY filename, json_extract(location, '$$[0]') LIMIT 5"

# C unit tests under ASan+UBSan, then every test (C + busted specs) on the normal build.
test: deps build unit-asan
	cd $(BUILD) && ctest --output-on-failure

unit-asan: $(ASAN_BUILD)/Makefile
	@$(MAKE) --no-print-directory -C $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest -L unit --output-on-failure

$(ASAN_BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(ASAN_BUILD) -DCOCO_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)

bench: deps build
	luajit spec/bench/run.lua $(BUILD)
	luajit spec/bench/live.lua $(BUILD)
	luajit spec/bench/bench_s3.lua $(BUILD)
	luajit spec/bench/bench_gdrive.lua $(BUILD)
	luajit spec/bench/bench_postgres.lua $(BUILD)
	luajit spec/bench/bench_hosts.lua $(BUILD)
	luajit spec/bench/bench_embed.lua $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
