# WebAssembly-extensible AI gateway. `make help` lists the targets.
SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
PLUGIN_OUT := target/plugins
# Bundled channel plugins (served by `make run`); test-only plugins are built for `make test`.
BUNDLED_PLUGINS := openai dummy
TEST_PLUGINS := hostile

.PHONY: help toolchain plugins sdk-venv build run test lint fmt bench ci dist clean
SDK_VENV := target/sdk-venv

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

toolchain: ## Install the wasm32-wasip2 target if missing
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

plugins: toolchain ## Build every plugin as a WASM component into target/plugins/
	@mkdir -p $(PLUGIN_OUT)
	$(CARGO) build --locked --release --target $(WASM_TARGET) -p plugin-dummy --features v2
	cp target/$(WASM_TARGET)/release/plugin_dummy.wasm $(PLUGIN_OUT)/dummy-v2.wasm
	$(CARGO) build --locked --release --target $(WASM_TARGET) $(foreach p,$(BUNDLED_PLUGINS) $(TEST_PLUGINS),-p plugin-$(p))
	@for p in $(BUNDLED_PLUGINS) $(TEST_PLUGINS); do cp target/$(WASM_TARGET)/release/plugin_$${p//-/_}.wasm $(PLUGIN_OUT)/$$p.wasm; done
	@ls -l $(PLUGIN_OUT)

sdk-venv: $(SDK_VENV)/.installed ## Python venv with the official openai and anthropic SDKs (the API-fidelity judges)

$(SDK_VENV)/.installed: tests/sdk/requirements.txt
	@test -x $(SDK_VENV)/bin/python || python3 -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/sdk/requirements.txt
	@touch $@

build: plugins ## Build the release host binary
	$(CARGO) build --locked --release -p gateway-host

run: build ## Build everything and start the gateway with the bundled plugins
	./target/release/gateway --config config/gateway.toml

test: plugins sdk-venv ## Run the whole test suite
	$(CARGO) test --locked --workspace --all-targets

lint: toolchain ## rustfmt check and clippy (host, tests and plugins natively; plugins for wasm)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked --release --target $(WASM_TARGET) -p gateway-guest $(foreach p,$(BUNDLED_PLUGINS) $(TEST_PLUGINS),-p plugin-$(p)) -- -D warnings

fmt: ## Format all code
	$(CARGO) fmt --all

bench: plugins ## Run the runtime benchmarks (figures, not pass/fail)
	$(CARGO) bench --locked -p gateway-host --bench runtime
	$(CARGO) bench --locked -p gateway-tests --bench throughput

dist: build ## Release artefact in dist/: binary, bundled plugins, config
	@rm -rf dist && mkdir -p dist/plugins
	cp target/release/gateway dist/
	@for p in $(BUNDLED_PLUGINS); do cp $(PLUGIN_OUT)/$$p.wasm dist/plugins/; done
	sed -e 's#^plugin_dir = .*#plugin_dir = "plugins"#' -e 's#^data_dir = .*#data_dir = "data"#' config/gateway.toml > dist/gateway.toml
	@echo "dist/ ready: run dist/gateway (it reads dist/gateway.toml) from any directory"

ci: lint test ## What CI runs

clean: ## Remove build output
	$(CARGO) clean
