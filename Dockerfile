# imagine-bot: a slim, non-root image built from this repository's own files.
#   docker build -t imagine-bot .
#   docker run -d -e DISCORD_TOKEN=... -v imagine-data:/app/data imagine-bot
# Configure with the environment (DISCORD_TOKEN, REAPI_API_KEY, IMAGINEBOT_<SECTION>__<KEY>) or mount a
# config.toml at /app/config.toml. Data (SQLite) lives in the /app/data volume. tests/unit/test_deploy.py checks
# this file against the package and its configuration.

# --- build: a virtual environment holding the dependencies, then the bot -----------------------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when the dependencies change,
# not on every change to bot/ or cogs/.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt
RUN pip install -r requirements.txt

# Then the bot itself, without touching the dependencies installed above.
COPY README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-deps .

# --- runtime: the same base with only the virtual environment copied in --------------------------------
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    IMAGINEBOT_METRICS__ENABLED=true \
    IMAGINEBOT_METRICS__HOST=0.0.0.0

# A fixed numeric uid/gid, so that orchestrators can verify "non-root" and host volumes can be prepared for it.
RUN groupadd --system --gid 10001 imagine \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin imagine \
    && mkdir -p /app/data \
    && chown 10001:10001 /app/data

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER 10001:10001
# Declared after the chown: a new named volume starts with this ownership.
VOLUME ["/app/data"]
# /healthz and /metrics (see [metrics] in config.example.toml).
EXPOSE 9108

# The slim image has no curl: the bot's own command asks /healthz and exits 0 or 1.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["imagine-bot", "healthcheck"]

# SIGTERM (docker stop) lets the bot store in-flight requests and resume them at the next start; give it
# more than jobs.shutdown_grace + 5 s (docker stop -t 30, or stop_grace_period in compose.yaml).
ENTRYPOINT ["imagine-bot"]
CMD ["run"]
