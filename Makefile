# Everything runs from a project-local virtual environment that bootstraps itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CONFIG ?= config/sim.toml
SCENARIO ?= default
SPEED ?=
DURATION ?=
DIST   ?= dist
# pip: errors only. Twice quiet drops warnings too (this machine's pip config names an
# index folder that lacks some packages: one "Location ... is ignored" line per lookup).
PIP    := $(BIN)/pip --quiet --quiet

.PHONY: interop sim test lint bench fuzz grammars clean venv wheel exi-mypyc exi-mypyc-clean josev-venv

venv: $(STAMP)

# First run: quiet except for errors (one line says what is happening).
$(STAMP): pyproject.toml
	@echo "setting up $(VENV) (first run, about a minute)"
	@$(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip
	@$(PIP) install -e '.[dev,sim]'
	@touch $(STAMP)

# The distributable wheel (what a board installs; the grid-code presets are inside).
wheel: $(STAMP)
	@$(PIP) wheel --no-deps -w $(DIST) .

# `make sim`: the default scenario (config/scenarios/); `make sim SCENARIO=grid_trip`,
# `make sim SCENARIO=csms_offline SPEED=120`; `make sim SCENARIO=` runs hal + the
# controller on $(CONFIG) without a scenario.
sim: $(STAMP)
	$(BIN)/evse sim $(if $(SCENARIO),--scenario $(SCENARIO),--config $(CONFIG)) \
		$(if $(SPEED),--speed $(SPEED),) $(if $(DURATION),--duration $(DURATION),)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check evse hal tests bench
	$(BIN)/mypy --strict evse hal

bench: $(STAMP)
	@$(PIP) install -e '.[bench]'
	$(BIN)/python -m bench $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# EXI grammar tables: regenerate from the ISO 15118 XSDs (not committed; see README).
SCHEMAS ?= ../shared/iso15118/schemas
grammars: $(STAMP)
	$(BIN)/python -m evse.iso15118.exi.generator $(SCHEMAS)

# Long fuzz runs: EXI decoder, MCU framing, SLAC frames, the -20 session core, a hostile
# CSMS against the OCPP client, and the grid engine against EPRI OpenDER (bounded runs of
# each are part of `make test`).
FUZZ_EXAMPLES ?= 200000
OCPP_FUZZ_FRAMES ?= 20000
SECC_FUZZ_SESSIONS ?= 20000
OCPP_FUZZ_SIM_FRAMES ?= 3000
OCPP_FUZZ_SEED ?=
# per preset and direction: 10,002 series against OpenDER
OPENDER_SERIES ?= 1667
fuzz: $(STAMP)
	EXI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) EXI_DIFF_EXAMPLES=2000 $(BIN)/python -m pytest -q \
		-p no:cacheprovider tests/unit/exi/test_exi_fuzz.py tests/unit/exi/test_exi_differential.py
	MCU_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/unit/devices/test_mcu_framing.py
	SECC_FUZZ_SESSIONS=$(SECC_FUZZ_SESSIONS) $(BIN)/python -m pytest -q -p no:cacheprovider \
		--timeout=0 tests/unit/iso15118/test_d20_common_fuzz.py
	SLAC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/unit/slac/test_slac_fuzz.py
	OCPP_FUZZ_FRAMES=$(OCPP_FUZZ_FRAMES) OCPP_FUZZ_SIM_FRAMES=$(OCPP_FUZZ_SIM_FRAMES) \
		$(if $(OCPP_FUZZ_SEED),OCPP_FUZZ_SEED=$(OCPP_FUZZ_SEED),) \
		$(BIN)/python -m pytest -q -s -p no:cacheprovider --timeout=0 \
		tests/integration/ocpp/test_ocpp_hostile_fuzz.py \
		tests/integration/ocpp/test_ocpp_hostile_sim.py
	OPENDER_SERIES=$(OPENDER_SERIES) OPENDER_SECONDS=20 $(BIN)/python -m pytest -q \
		-p no:cacheprovider --timeout=0 tests/differential/test_opender_ieee1547.py

# Every service x mode x transport combination against the `iso15118` package (make test
# runs one per direction and transport; each run starts a JVM).
interop: $(STAMP)
	INTEROP_FULL=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/interop

# Optional: compile the EXI codec core with mypyc, in place, behind the same API.
# One module per run keeps each module's runtime library inside the package.
exi-mypyc: $(STAMP)
	for m in decoder encoder; do $(BIN)/mypyc evse/iso15118/exi/$$m.py || exit 1; done

exi-mypyc-clean:
	rm -f evse/iso15118/exi/*.so
	rm -rf build

# The `iso15118` package ("Josev"): an independent EVCC and SECC for tests/interop/josev.
# Its own venv: it pins pydantic 1 and cryptography 44; its EVCC needs aiofile, which it
# does not declare. The interop fixture runs this target when the venv is missing.
JOSEV_VENV    ?= .venv-josev
JOSEV_VERSION ?= 0.31.2
josev-venv: $(JOSEV_VENV)/.installed

$(JOSEV_VENV)/.installed:
	@echo "setting up $(JOSEV_VENV) (iso15118==$(JOSEV_VERSION), the interop peer)"
	@rm -rf $(JOSEV_VENV)
	@$(PYTHON) -m venv $(JOSEV_VENV)
	@$(JOSEV_VENV)/bin/pip --quiet --quiet install iso15118==$(JOSEV_VERSION) aiofile
	@touch $@
