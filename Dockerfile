# The edge service in a container. Build: docker build -t edge .
# Run: docker run -d --name edge --restart unless-stopped --env-file /etc/edge/edge.env \
#        -v /etc/edge/edge.yaml:/etc/edge/edge.yaml:ro -v edge-data:/var/lib/edge \
#        -p 127.0.0.1:9108:9108 edge
# (http.listen must then be 0.0.0.0:9108 inside the container.)
FROM debian:12-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/edge --shell /usr/sbin/nologin edge \
    && install -d -o edge -g edge -m 0750 /var/lib/edge
WORKDIR /opt/edge
COPY pyproject.toml README.md ./
COPY edge edge
COPY ingest ingest
COPY models models
COPY alerts alerts
COPY center center
# PyAV and onnxruntime wheels bring their own FFmpeg and runtime: no system codecs needed
RUN python3 -m venv .venv && .venv/bin/pip install --no-cache-dir . \
    && .venv/bin/edge schema > /dev/null
USER edge
VOLUME /var/lib/edge
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s CMD python3 -c \
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=3)"
ENTRYPOINT ["/opt/edge/.venv/bin/edge"]
CMD ["run", "--config", "/etc/edge/edge.yaml"]
