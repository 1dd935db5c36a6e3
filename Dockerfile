# syntax=docker/dockerfile:1
# The hub's image: the installed `onematter` command, run as an unprivileged user.
#   docker build -t onematter-hub .
#   docker run -p 8000:8000 -v ./deploy/hub.toml:/etc/onematter/hub.toml:ro \
#     -e ONEMATTER_AUTH_SECRET=... onematter-hub
# compose.yaml runs two replicas of it beside PostgreSQL, Redis and the router.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: wheels for the hub and its pinned dependencies -----------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY domain/ domain/
COPY connectors/ connectors/
COPY fixtures/ fixtures/
COPY gateway/ gateway/
COPY schema/ schema/
COPY registry/ registry/
# The [tracing] extra: OpenTelemetry, switched on by [ops] tracing = true and OTEL_*.
RUN pip wheel --no-cache-dir --constraint constraints.txt --wheel-dir /wheels '.[tracing]'

# -- run --------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 onematter \
 && useradd --system --uid 10001 --gid onematter --home-dir /home/onematter --create-home onematter
# Only the wheels built above, every version pinned by constraints.txt (hence DL3013 below).
COPY --from=build /wheels /wheels
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-index --find-links /wheels 'onematter-hub[tracing]' \
 && rm -rf /wheels
# The probe, and the second subgraph of the compose topology (deploy/appointments).
COPY deploy/healthcheck.py /opt/onematter/healthcheck.py
COPY deploy/appointments/ /opt/onematter/appointments/

USER 10001:10001
WORKDIR /home/onematter
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ONEMATTER__HUB__HOST=0.0.0.0 \
    ONEMATTER__HUB__PORT=8000
EXPOSE 8000
# Alive (/livez) and ready (/readyz: registry and cache reachable) on the configured port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "/opt/onematter/healthcheck.py"]
ENTRYPOINT ["onematter"]
CMD ["serve", "--config", "/etc/onematter/hub.toml"]
