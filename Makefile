# codex.offline_ml — the two commands on a fresh Debian 12 machine:
#   make demo   build the images, stage the mirror, start the 4-host demo lab (containers), run site.yml and
#               audit.yml over it, print where the report is
#   make test   yamllint, ansible-lint, ansible-test sanity, unit tests, every Molecule scenario (fleet inside a
#               loopback-only network namespace), bad-input tests
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BUILD := $(ROOT)/build
MIRROR := $(BUILD)/mirror
STUB_MIRROR := $(BUILD)/stub-mirror
COLL_ROOT := $(BUILD)/collections
COLL_LINK := $(COLL_ROOT)/ansible_collections/codex/offline_ml
SCENARIOS ?= torch_cpu torch_stub hf_offline_cache hf_per_user hf_bundle offline_mirror ci_gates

export PATH := $(VENV)/bin:$(PATH)
export CONTAINERS_CONF := $(ROOT)/molecule/_shared/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(COLL_ROOT)
# The test containers' connection (codex_podman: containers.podman.podman with pipelining); test harness only.
export ANSIBLE_CONNECTION_PLUGINS := $(ROOT)/molecule/_shared/connection_plugins
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export CODEX_TEST_WHEELHOUSE := $(MIRROR)/wheels
export CODEX_STUB_WHEELHOUSE := $(STUB_MIRROR)
export CODEX_FAMILY_WHEELS := $(BUILD)/family-wheels

.PHONY: help test soak suite-soak-sample bench bench-fleet demo demo-down lint sanity unit molecule molecule-fleet integration system-deps \
        suite-lint suite-sanity suite-unit suite-molecule suite-fleet suite-integration \
        venv images mirror refresh-locks family-wheels hf-mirror collection mirrors-up mirrors-down build clean

help:
	@echo "make demo   - the main job: site.yml then audit.yml over the 4-container demo lab; prints the report's path"
	@echo "make test   - the whole suite"

# ---------------------------------------------------------------- set-up (idempotent, stamp files)
system-deps: $(BUILD)/.system-deps
$(BUILD)/.system-deps:
	@mkdir -p $(BUILD)
	@missing=""; for c in podman runc debootstrap ip chromium; do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap iproute2 chromium >/dev/null; \
	fi
	@touch $@

venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

collection: $(COLL_LINK)
$(COLL_LINK):
	@mkdir -p $(dir $@)
	ln -sfn $(ROOT) $@

images: system-deps
	@molecule/_shared/build_image.sh bookworm | tail -n1 > $(BUILD)/image-debian12
	@molecule/_shared/build_image.sh trixie | tail -n1 > $(BUILD)/image-debian13

# Staged with the real staging playbook from the committed locks (every set, resolve=none): a fresh clone stages the
# same closure on any day, whatever the index has published since. Re-staged only when the pins, the locks or the
# staging code change. `make refresh-locks` resolves the sets afresh on purpose and says what moved.
LOCKS := molecule/_shared/locks
MIRROR_INPUTS := playbooks/stage_wheels.yml molecule/_shared/stage_vars.yml plugins/module_utils/_stage.py \
                 plugins/module_utils/_stage_lock.py plugins/modules/wheel_stage.py $(wildcard $(LOCKS)/*.txt)
mirror: $(MIRROR)/.stamp $(STUB_MIRROR)/.stamp
$(MIRROR)/.stamp: $(MIRROR_INPUTS) | venv collection
	@mkdir -p $(BUILD)
	flock $(BUILD)/.stage.lock ansible-playbook playbooks/stage_wheels.yml -e stage_wheels_dest=$(MIRROR) \
	  -e @molecule/_shared/stage_vars.yml -e stage_wheels_lock_dir=$(ROOT)/$(LOCKS) -e stage_wheels_resolve=none
	@touch $@

# Resolve every set of the test mirror afresh (the index's newest closure of the same pins) into a scratch mirror,
# print what moved against the committed locks, and replace them; commit the result on purpose.
refresh-locks: venv collection
	rm -rf $(BUILD)/mirror-refresh
	flock $(BUILD)/.stage.lock ansible-playbook playbooks/stage_wheels.yml -e stage_wheels_dest=$(BUILD)/mirror-refresh \
	  -e @molecule/_shared/stage_vars.yml -e stage_wheels_lock_dir=$(ROOT)/$(LOCKS) -e stage_wheels_resolve=all
	rm -f $(LOCKS)/*.txt
	cp $(BUILD)/mirror-refresh/locks/*.txt $(LOCKS)/
	@git --no-pager diff --stat -- $(LOCKS) 2>/dev/null || true
	@echo "refresh-locks: $(LOCKS) now holds the fresh closure (above: what moved); make mirror re-stages from it"
$(STUB_MIRROR)/.stamp: tests/fixtures/stub_torch/build_stub_wheel.py | venv
	rm -rf $(STUB_MIRROR) && mkdir -p $(STUB_MIRROR)
	$(VENV)/bin/python tests/fixtures/stub_torch/build_stub_wheel.py $(STUB_MIRROR)
	@touch $@

# The package registry's torchvision and torchaudio: CUDA builds that break over a CPU torch (the diagnostic's
# tests). Fetched once at build time (pip isolated: this machine's pip config adds no source), never committed.
FAMILY_WHEELS := torchvision==0.28.0 torchaudio==2.11.1
family-wheels: $(BUILD)/family-wheels/.stamp
$(BUILD)/family-wheels/.stamp: | venv
	@mkdir -p $(dir $@)
	PIP_CONFIG_FILE=/dev/null $(VENV)/bin/python -m pip download --isolated --disable-pip-version-check -q \
	  --no-deps --only-binary=:all: --python-version 311 --implementation cp --abi cp311 \
	  --platform manylinux_2_28_x86_64 --dest $(dir $@) $(FAMILY_WHEELS)
	@touch $@

# The Hub mirror of the tests: olah in its own venv (pinned), serving a git repo of the tiny BERT fixture.
hf-mirror: venv
	molecule/_shared/hf_mirror.sh build

build: venv collection images mirror family-wheels hf-mirror

mirrors-up: build
	@molecule/_shared/mirrors.sh start > $(BUILD)/mirrors.env
	@cat $(BUILD)/mirrors.env
mirrors-down:
	@molecule/_shared/mirrors.sh stop
	@molecule/_shared/hf_mirror.sh stop

# ---------------------------------------------------------------- checks
# Each suite is a public target (its set-up first) and a suite-* target (the suite alone, for tests/tools/test_lanes.sh,
# which runs them in two lanes after one set-up: concurrent set-ups would rewrite the same build files).
lint: venv collection mirror
	@$(MAKE) --no-print-directory suite-lint
suite-lint:
	yamllint -s .
	ansible-lint
	$(VENV)/bin/python tests/tools/structure_metrics.py
	python3 tests/tools/role_docs.py --check
	$(VENV)/bin/python tests/tools/check_docs.py
	antsibull-changelog lint
	tests/tools/check_build.sh

# The sanity run installs from build/sanity/wheels only, with HOME under build/sanity; `fetch` (once per ansible-test
# version) is its one step that reaches the index (tests/tools/ansible_test_sanity.sh says why).
sanity: venv
	tests/tools/ansible_test_sanity.sh fetch
	@$(MAKE) --no-print-directory suite-sanity
suite-sanity:
	tests/tools/ansible_test_sanity.sh

# make unit works on a fresh clone: it leaves out the tests marked `wheels` (tests/unit/conftest.py), which need
# the wheels of `make mirror` and `make family-wheels`; suite-unit (make test, after the build) runs them all.
UNIT_ARGS ?=
unit: venv collection
	@$(MAKE) --no-print-directory suite-unit UNIT_ARGS='-m "not wheels"'
suite-unit:
	pytest tests/unit -q -p no:cacheprovider $(UNIT_ARGS)

WITH_MIRRORS := molecule/_shared/with_mirrors.sh molecule/_shared/hf_mirror.sh run
NETNS := molecule/_shared/netns.sh

molecule: build
	@$(MAKE) --no-print-directory suite-molecule
suite-molecule:
	$(WITH_MIRRORS) bash -c 'for s in $(SCENARIOS); do echo "=== molecule scenario $$s"; molecule test -s $$s; done'

# One scenario alone (the lanes list them one by one, so the summary times each).
suite-scenario-%:
	$(WITH_MIRRORS) molecule test -s $*

# The mixed fleet, inside a network namespace that has only `lo`: mirrors and containers start in it.
molecule-fleet: build
	@$(MAKE) --no-print-directory suite-fleet
suite-fleet:
	$(NETNS) run codex-fleet -- $(WITH_MIRRORS) molecule/_shared/lab_release.sh $(CURDIR)/build/lab-release \
	  molecule test -s fleet

# INTEGRATION: a file or folder of tests/integration (default: all of them).
# INTEGRATION_JOBS: pytest-xdist workers, a file per worker (each file's containers and ports are its own; the
# session container is one per worker). `make integration INTEGRATION_JOBS=` runs them one after the other.
INTEGRATION ?= tests/integration
INTEGRATION_JOBS ?= -n 2 --dist loadfile
integration: build
	@$(MAKE) --no-print-directory suite-integration
suite-integration:
	$(WITH_MIRRORS) pytest $(INTEGRATION) -q -p no:cacheprovider -rA $(INTEGRATION_JOBS)

# The whole suite: one set-up, then two lanes at once (tests/tools/test_lanes.sh says which suite runs where and why).
# The host's mirrors start once here for both lanes (a suite's own start then finds them running and leaves them).
# tests/tools/leftovers.py marks every process of the run and fails it if any is still running at its end.
test: build
	python3 tests/tools/leftovers.py run -- env SCENARIOS="$(SCENARIOS)" $(WITH_MIRRORS) tests/tools/test_lanes.sh
	@echo "make test: all suites passed"

# The crash soak (docs/reliability.md): every named fault point and the faults by time on real containers; writes
# its matrix into docs/reliability.md. SOAK_CASES: all (default), or a comma list (tests/soak/soak.py --help).
# make test runs the sample (suite-soak-sample, one host).
SOAK_CASES ?= all
SOAK_HOSTS ?= 4
SOAK_ARGS ?=
soak: build
	$(WITH_MIRRORS) $(VENV)/bin/python tests/soak/soak.py --cases $(SOAK_CASES) --hosts $(SOAK_HOSTS) $(SOAK_ARGS) \
	  $(if $(filter all,$(SOAK_CASES)),--write-docs)
suite-soak-sample:
	$(WITH_MIRRORS) $(VENV)/bin/python tests/soak/soak.py --cases sample --hosts 1

# Benchmarks write docs/benchmarks.md; never part of make test.
bench: build
	$(WITH_MIRRORS) python3 benchmarks/bench_torch_cpu.py
# The fleet sizes 1, 2, 4, 8, then 32 hosts from a converged image, without and with a rollout plan (batches of 8).
bench-fleet: build
	$(WITH_MIRRORS) python3 benchmarks/bench_fleet.py
	$(WITH_MIRRORS) python3 benchmarks/bench_fleet.py --scale 32 --batch 8

# ---------------------------------------------------------------- demo
demo: build
	$(WITH_MIRRORS) demo/run.sh

demo-down: system-deps
	@ids=$$(podman ps -aq --filter label=codex.demo=1); if [ -n "$$ids" ]; then podman rm -f $$ids >/dev/null; fi
	molecule/_shared/mirrors.sh stop
	molecule/_shared/hf_mirror.sh stop

clean: demo-down
	rm -rf $(BUILD)
