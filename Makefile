.PHONY: run test setup lint bench screenshots soak

run:
	@deploy/dev.sh run

test:
	@deploy/dev.sh test $(ARGS)

setup:
	@deploy/dev.sh setup

# The browser tests once more, saving the README's pictures (overlay list and page, job page,
# phone view) into docs/ (LEFT4ME_SCREENSHOTS=DIR for another folder).
screenshots:
	@deploy/dev.sh screenshots $(ARGS)

# ruff (lint and format), mypy with django-stubs (strict, non-test code) and import-linter
# (apps import one way: api -> notices -> servers | fleet -> overlays -> workshop -> jobs -> left4me; contracts in
# pyproject.toml).
lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

bench:
	@bench/run_all.sh

# The chaos soak (bench/soak.py): users, faults, kills and a Redis restart for DURATION (seconds or
# 3m, 30m; default 3m), then the invariants; exits 1 when one broke. CI runs it for 3 minutes.
DURATION ?= 3m
soak:
	@deploy/dev.sh soak $(DURATION)
