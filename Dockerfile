# CoReflect in a container: `docker compose up -d` with compose.yaml beside this file.
# Dependencies come from requirements.lock (hash-pinned), then the project itself without them,
# so the image runs exactly the versions that were tested.

FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/coreflect
COPY requirements.lock ./
RUN /opt/coreflect/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flows ./flows
COPY prompts ./prompts
COPY migrations ./migrations
RUN /opt/coreflect/bin/pip install --no-cache-dir --no-deps --no-build-isolation .
# Optional local transcription of voice notes: `docker compose build --build-arg VOICE=yes`
# adds the `voice` extra (faster-whisper, PyAV, numpy; from the index, not hash-pinned). The
# model folder is yours to mount and name in COREFLECT_TRANSCRIBE_MODEL (docs/operating.md).
ARG VOICE=no
RUN if [ "$VOICE" = yes ]; then \
        /opt/coreflect/bin/pip install --no-cache-dir --no-build-isolation ".[voice]"; \
    fi

FROM python:3.12-slim
# A user of its own, no login, owning only the data directory (mode 700: CoReflect refuses a
# data directory other users could read).
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin coreflect \
    && mkdir -p /data \
    && chown coreflect:coreflect /data \
    && chmod 700 /data
COPY --from=build /opt/coreflect /opt/coreflect
ENV PATH=/opt/coreflect/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    COREFLECT_DATA_DIR=/data \
    COREFLECT_HTTP_PORT=8081 \
    COREFLECT_HTTP_LISTEN=0.0.0.0
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]
CMD ["coreflect", "telegram"]
