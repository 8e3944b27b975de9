# imagine-bot: slim, non-root. Configure with env (IMAGINEBOT_DISCORD__TOKEN, IMAGINEBOT_REAPI__API_KEY, ...)
# or mount a config.toml at /app/config.toml. Data (SQLite) lives in the /app/data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install . && useradd --system --uid 10001 --home /app imagine && mkdir -p /app/data && chown imagine /app/data

USER imagine
VOLUME ["/app/data"]
# The bot exits on a fatal error; the orchestrator restarts it and unfinished jobs resume.
CMD ["imagine-bot", "run"]
