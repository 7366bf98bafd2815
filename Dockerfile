# syntax=docker/dockerfile:1
# paperbot in a container: `make image` builds it, compose.yaml runs it beside PostgreSQL.

# --- build: a wheel of paperbot with its compiled matcher kernel, and every dependency's wheel
FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential=12.* \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md LICENSE requirements.txt ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
COPY config ./config
COPY entry ./entry
# requirements.txt is the lock (`make lock`): pinned dependencies, then paperbot itself (`.[all]`)
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt \
    && python -c "import glob; v = glob.glob('/wheels/paperbot-*.whl')[0].split('-')[1]; open('/wheels/install.txt', 'w').write(f'paperbot[all]=={v}\\n')" \
    && python -c "import glob, sys, zipfile; whl = glob.glob('/wheels/paperbot-*.whl')[0]; names = zipfile.ZipFile(whl).namelist(); sys.exit(0 if any(n.startswith('bot/query/_gather') and n.endswith('.so') for n in names) else 'the compiled matcher kernel was not built')"

# --- run: no compiler, a user without rights, only the wheels
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PAPERBOT_PORT=3000 \
    PAPERBOT_DATABASE_URL=sqlite+aiosqlite:////data/paperbot.db
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels -r /wheels/install.txt \
    && useradd --create-home --uid 10001 paperbot \
    && mkdir /data && chown paperbot /data
USER 10001
WORKDIR /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PAPERBOT_PORT') or os.environ.get('PORT') or 3000}/healthz\", timeout=4).status == 200 else 1)"]
CMD ["paperbot", "run"]
