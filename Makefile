.PHONY: run test setup lint bench

run:
	@deploy/dev.sh run

test:
	@deploy/dev.sh test $(ARGS)

setup:
	@deploy/dev.sh setup

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

bench:
	@bench/run_all.sh
