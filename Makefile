# A thin wrapper over cargo. `make help` lists the targets.
CARGO   ?= cargo
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(DESTDIR)$(PREFIX)/bin
MANDIR  := $(DESTDIR)$(PREFIX)/share/man/man1
UNITDIR := $(DESTDIR)$(PREFIX)/lib/systemd/system
RELEASE := target/release

.PHONY: all run test test-deps crash bench lint man install install-man install-unit clean help

all: ## Build the release binaries (the default)
	$(CARGO) build --release

run: all ## Build, then run taskmaster on conf/taskmaster.yaml in the foreground
	$(RELEASE)/taskmaster -c conf/taskmaster.yaml

test: test-deps ## Run every test (unit, integration, crash); installs tmux and mandoc if it can
	$(CARGO) test

test-deps: ## Check for (or, as root with apt-get, install) what the tests need: tmux, mandoc
	@scripts/test-deps

crash: ## The crash tests' long variants (minutes): floods, scale, flapping, fuzzing
	TASKMASTER_CRASH_HEAVY=1 $(CARGO) test --release --test crash -- --nocapture
	TASKMASTER_CRASH_HEAVY=1 $(CARGO) test --release --lib fuzz_tests -- --nocapture

bench: ## Measure taskmaster (and supervisord, installed from PyPI under target/) and print a table
	$(CARGO) bench --bench bench

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

man: ## Check the manual page with mandoc -Tlint, then show it
	mandoc -Tlint -W warning man/taskmaster.1
	man -l man/taskmaster.1

install: all install-man install-unit ## Install both binaries (stripped), the man pages and the systemd unit under $(DESTDIR)$(PREFIX)
	install -d $(BINDIR)
	install -s -m 755 $(RELEASE)/taskmaster $(RELEASE)/taskmasterctl $(BINDIR)

install-man: ## Install the manual, as taskmaster(1) and taskmasterctl(1)
	install -d $(MANDIR)
	install -m 644 man/taskmaster.1 $(MANDIR)
	ln -sf taskmaster.1 $(MANDIR)/taskmasterctl.1

install-unit: ## Install the systemd unit, taskmaster.service, for the binary in $(PREFIX)/bin
	install -d $(UNITDIR)
	sed 's|@BINDIR@|$(PREFIX)/bin|g' dist/taskmaster.service > $(UNITDIR)/taskmaster.service
	chmod 644 $(UNITDIR)/taskmaster.service

clean: ## Remove build products
	$(CARGO) clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | expand -t 14
