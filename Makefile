# The two commands that matter:
#   make quickstart   build the library and run examples/quickstart.c against Opik
#                     (the bundled test server unless OPIK_URL_OVERRIDE is set)
#   make test         every test: lint gates, Rust unit tests, C ABI tests (plain, ASan, valgrind),
#                     header checks, bindings, interop, fuzz and benchmark smoke runs
# Development:
#   make header       regenerate include/opik_attachments.h (pinned cbindgen, tools/gen-header)
#   make header-check fail when the checked-in header differs from the sources
#   make lint         cargo fmt --check, clippy with -D warnings, the MSRV check
# Packaging:
#   make install PREFIX=/usr/local [DESTDIR=staging] [libdir=...] [includedir=...] [bindir=...]
#                     release build; the .so (with SONAME and symlinks), the .a, the C and C++
#                     headers, a pkg-config file, a CMake package and the opik-attachments
#                     command-line tool (see scripts/install)
#   make uninstall PREFIX=...
CC ?= cc
LIBDIR := target/debug
CFLAGS := -std=c11 -g -Wall -Wextra -Werror -Iinclude
PREFIX ?= /usr/local
libdir ?= $(PREFIX)/lib
includedir ?= $(PREFIX)/include
bindir ?= $(PREFIX)/bin

.PHONY: all build quickstart test header header-check lint clean install uninstall
all: build

build:
	cargo build --workspace

target/examples/quickstart: examples/quickstart.c include/opik_attachments.h build
	@mkdir -p target/examples
	$(CC) $(CFLAGS) $< -o $@ -L$(LIBDIR) -lopik_attachments -Wl,-rpath,$(CURDIR)/$(LIBDIR) -lpthread

quickstart: target/examples/quickstart
	scripts/with-test-server $(CURDIR)/target/examples/quickstart

test:
	scripts/test

header:
	cargo run -q -p opik-gen-header

header-check:
	cargo run -q -p opik-gen-header -- --check

lint:
	scripts/lint

install:
	PREFIX='$(PREFIX)' LIBDIR='$(libdir)' INCLUDEDIR='$(includedir)' BINDIR='$(bindir)' DESTDIR='$(DESTDIR)' scripts/install

uninstall:
	PREFIX='$(PREFIX)' LIBDIR='$(libdir)' INCLUDEDIR='$(includedir)' BINDIR='$(bindir)' DESTDIR='$(DESTDIR)' scripts/install --uninstall

clean:
	cargo clean
