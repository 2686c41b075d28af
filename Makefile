# nirvis: install, demo, test. Everything a fresh machine needs is installed from the registries.
VENV        ?= .venv
PY          := $(VENV)/bin/python
NIRVIS      := $(VENV)/bin/nirvis
DEMO_OUT    ?= demo_out
# The demo trains one run per seed and reports mean ± std over them (tools/demo_seeds.py); the torch
# thread count is fixed because it changes the training floats (README, "Reproducibility").
DEMO_SEEDS   ?= 1000,1001,1002
DEMO_STEPS   ?= 150
DEMO_THREADS ?= 2
# Debian packages for headless OpenGL (EGL on Mesa llvmpipe), used by the `gl` render backend.
DEB_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1

.PHONY: install demo test clean system-deps

install: $(VENV)/.installed

system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  if ! dpkg -s $(DEB_PACKAGES) >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PACKAGES) >/dev/null; \
	  fi; \
	else echo "note: not root; make sure these Debian packages are installed: $(DEB_PACKAGES)"; fi

$(VENV)/.installed: pyproject.toml constraints.txt | system-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	# face landmarks for `nirvis eval --align`; --no-deps: its light deps come with the [align] extra
	$(PY) -m pip install -q -c constraints.txt --no-deps mediapipe==0.10.14
	touch $@

demo: install
	$(NIRVIS) identities --count 16 --seed 0 --out $(DEMO_OUT)/identities --preview $(DEMO_OUT)/identities.png --force
	$(NIRVIS) render-preview --identities 8 --poses 3 --seed 0 --out $(DEMO_OUT)/pairs.png
	$(NIRVIS) render-dataset --out $(DEMO_OUT)/dataset --config configs/render/small.yaml --identities 64 --images-per-identity 4 --force
	$(NIRVIS) verify $(DEMO_OUT)/dataset
	$(NIRVIS) preview $(DEMO_OUT)/dataset --out $(DEMO_OUT)/dataset.png
	$(NIRVIS) render-dataset --out $(DEMO_OUT)/eval_set --config configs/render/small.yaml --identities 16 --images-per-identity 4 --seed 1 --force --quiet
	$(NIRVIS) eval-fixture casia --images raw_faces --out $(DEMO_OUT)/casia_raw --force
	$(PY) tools/demo_seeds.py --config configs/train/tiny.yaml --data $(DEMO_OUT)/dataset --out $(DEMO_OUT)/seeds \
	  --seeds $(DEMO_SEEDS) --steps $(DEMO_STEPS) --threads $(DEMO_THREADS) \
	  --casia $(DEMO_OUT)/casia_raw --align-cache $(DEMO_OUT)/align_cache --synthetic $(DEMO_OUT)/eval_set
	@echo "demo: identities/ + identities.png, pairs.png, dataset/ (64 x 4 pairs) + dataset.png, seeds/seed_<S>/ per training seed (run/: tiny model, eval_casia/: CASIA layout of raw rendered frames with --align, eval_synthetic/: held-out synthetic identities), seeds/summary.md (mean ± std over the seeds)"

test: install
	$(VENV)/bin/ruff check src tests tools
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
