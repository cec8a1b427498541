# pchat — one non-recursive GNU Makefile. Everything it builds lands under $(BUILD)/.
#
#   make            build the daemons, tools and test programs
#   make run        install what is missing, start a whole single-host pool (deploy/dev.yaml)
#   make test       install what is missing, build, run every test; ends with "N passed, N failed"
#   make asan       the same build with AddressSanitizer + UBSan in build/asan, then its unit tests
#   make bench      run the load tool against a local pool and print figures (docs/PERFORMANCE.md)
#   make clean

.SUFFIXES:
.DELETE_ON_ERROR:
.SECONDARY:
SHELL := /bin/bash

BUILD ?= build
CC ?= cc
OPT ?= -O2
SAN ?=

PKGS := sofia-sip-ua libzmq libpq yaml-0.1 libprotobuf-c expat
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
        -Werror=implicit-function-declaration -Wno-missing-field-initializers
# -DXML_DTD: Debian's expat.h declares the billion-laughs limits only under XML_DTD.
CPPFLAGS := -D_GNU_SOURCE -DXML_DTD -Icommon -I$(BUILD)/gen -Icompliance/include
CFLAGS := -std=gnu11 $(OPT) -g $(WARN) -fstack-protector-strong -fPIC $(SAN) $(PKG_CFLAGS)
ifeq ($(SAN),)
CPPFLAGS += -D_FORTIFY_SOURCE=2
endif
LDFLAGS := $(SAN) -Wl,-z,relro,-z,now
LDLIBS := $(PKG_LIBS) -lm -ldl

# --- sources ---------------------------------------------------------------------------------
PROTO := proto/pchat.proto
GEN_C := $(BUILD)/gen/pchat.pb-c.c
GEN_H := $(BUILD)/gen/pchat.pb-c.h

COMMON_SRC := $(wildcard common/*.c)
FRONTEND_SRC := $(wildcard frontend/*.c)
CHANNEL_SRC := $(wildcard channel/*.c)
COMPLIANCE_SRC := $(wildcard compliance/*.c)
CLIENT_SRC := $(wildcard tools/sipclient/*.c)
PCHATCTL_SRC := $(wildcard tools/pchatctl/*.c)
LOAD_SRC := $(wildcard tools/load/*.c)
ADAPTER_DIRS := $(patsubst %/,%,$(dir $(wildcard compliance/adapters/*/*.c)))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
ITEST_SRC := $(wildcard tests/itest/*.c)
INTEROP_SRC := $(wildcard tests/interop/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIBPCHAT := $(BUILD)/lib/libpchat.a
LIBCLIENT := $(BUILD)/lib/libpchatclient.a

BINS := $(if $(FRONTEND_SRC),$(BUILD)/bin/pchat-frontend) \
        $(if $(CHANNEL_SRC),$(BUILD)/bin/pchat-channel) \
        $(if $(COMPLIANCE_SRC),$(BUILD)/bin/pchat-compliance) \
        $(if $(PCHATCTL_SRC),$(BUILD)/bin/pchatctl) \
        $(if $(LOAD_SRC),$(BUILD)/bin/pchat-load)
ADAPTERS := $(foreach d,$(sort $(ADAPTER_DIRS)),$(BUILD)/lib/pchat/adapters/$(notdir $(d)).so)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
ITEST_BINS := $(patsubst tests/itest/%.c,$(BUILD)/tests/itest/%,$(ITEST_SRC))

.PHONY: all deps run test unit asan bench clean interop check-deps
all: $(BINS) $(ADAPTERS)

# --- generated protobuf code -------------------------------------------------------------------
$(GEN_C) $(GEN_H) &: $(PROTO)
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $(PROTO)

# V=1 shows the full command lines
Q := $(if $(V),,@)

$(BUILD)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/gen/pchat.pb-c.o: $(GEN_C)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-unused-parameter -c -o $@ $<

# --- libraries and programs --------------------------------------------------------------------
$(LIBPCHAT): $(call obj,$(COMMON_SRC)) $(BUILD)/obj/gen/pchat.pb-c.o
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBCLIENT): $(call obj,$(CLIENT_SRC))
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

define program
$(BUILD)/bin/$(1): $(call obj,$(2)) $(3)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(eval $(call program,pchat-frontend,$(FRONTEND_SRC),$(LIBPCHAT)))
$(eval $(call program,pchat-channel,$(CHANNEL_SRC),$(LIBPCHAT)))
$(eval $(call program,pchat-compliance,$(COMPLIANCE_SRC),$(LIBPCHAT)))
$(eval $(call program,pchatctl,$(PCHATCTL_SRC),$(LIBPCHAT)))
$(eval $(call program,pchat-load,$(LOAD_SRC),$(LIBCLIENT) $(LIBPCHAT)))

# Compliance adapters: compliance/adapters/<name>/*.c -> lib/pchat/adapters/<name>.so
define adapter
$(BUILD)/lib/pchat/adapters/$(notdir $(1)).so: $(call obj,$(wildcard $(1)/*.c))
	@mkdir -p $$(dir $$@)
	$$(CC) -shared $$(LDFLAGS) -o $$@ $$^
endef
$(foreach d,$(sort $(ADAPTER_DIRS)),$(eval $(call adapter,$(d))))

# --- tests -------------------------------------------------------------------------------------
$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(LIBPCHAT)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/itest/%: $(BUILD)/obj/tests/itest/%.o $(LIBCLIENT) $(LIBPCHAT)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The benchmark's baseline, a bare sofia-sip UAS (tests/bench/run-bench.sh, docs/PERFORMANCE.md).
BENCH_BINS := $(if $(wildcard tests/bench/bare_uas.c),$(BUILD)/tests/bench/bare_uas)
$(BUILD)/tests/bench/bare_uas: $(BUILD)/obj/tests/bench/bare_uas.o $(LIBPCHAT)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The interop driver links libpurple (pidgin-sipe's host); the shim works around Debian 12's
# libxml2 SAX1 breakage (xccos/PROTOCOL.md §9).
PURPLE_CFLAGS = $(shell pkg-config --cflags purple glib-2.0 libxml-2.0 2>/dev/null)
PURPLE_LIBS = $(shell pkg-config --libs purple glib-2.0 libxml-2.0 2>/dev/null)
INTEROP_BINS := $(if $(wildcard tests/interop/purple-driver.c),$(BUILD)/tests/interop/purple-driver) \
                $(if $(wildcard tests/interop/libxml2-sax1-shim.c),$(BUILD)/tests/interop/libxml2-sax1-shim.so)
$(BUILD)/tests/interop/purple-driver: tests/interop/purple-driver.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-deprecated-declarations $(PURPLE_CFLAGS) -o $@ $< $(PURPLE_LIBS)
$(BUILD)/tests/interop/libxml2-sax1-shim.so: tests/interop/libxml2-sax1-shim.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -shared -fPIC $(PURPLE_CFLAGS) -o $@ $< $(PURPLE_LIBS) -ldl
interop: $(INTEROP_BINS)

TEST_PROGRAMS := $(BINS) $(ADAPTERS) $(UNIT_BINS) $(ITEST_BINS) $(INTEROP_BINS) $(BENCH_BINS)

unit: $(UNIT_BINS)
	tests/run-tests.pl $(UNIT_BINS)

# --- user-facing entry points -------------------------------------------------------------------
# deploy/install-deps.sh is idempotent: it only calls apt-get when something is missing.
deps:
	@deploy/install-deps.sh

test: deps
	@$(MAKE) --no-print-directory $(TEST_PROGRAMS)
	@BUILD=$(BUILD) tests/run-tests.pl

run: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) deploy/run-pool.sh deploy/dev.yaml

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  build/asan/bin/pchat-frontend build/asan/bin/pchat-channel unit-asan
unit-asan: $(UNIT_BINS)
	tests/run-tests.pl $(UNIT_BINS)

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	@BUILD=$(BUILD) tests/bench/run-bench.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
