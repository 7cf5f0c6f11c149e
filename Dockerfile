# Slim, non-root image: migrates the database, then serves the API with uvicorn (uvloop + httptools).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    TOUCHPOINT_DATABASE_URL=sqlite+aiosqlite:////data/touchpoint.db
RUN useradd --create-home --uid 10001 touchpoint && mkdir /data && chown touchpoint /data
COPY --from=build /install /usr/local
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations
USER touchpoint
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# `serve` applies pending migrations before it starts listening.
CMD ["touchpoint", "serve", "--host", "0.0.0.0", "--port", "8000"]
