# Multi-stage: build wheels with compilers, run on a slim image as a non-root user.
FROM python:3.11-slim-bookworm AS build
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=tipline.settings
RUN groupadd --system tipline && useradd --system --gid tipline --home /app tipline
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels
COPY --chown=tipline:tipline . .
# Static files are collected at build time with throwaway secrets (no secret in the image).
RUN TIPLINE_SECRET_KEY=build TIPLINE_RECEIPT_SALT=build TIPLINE_STATIC_ROOT=/app/static-root \
    python manage.py collectstatic --noinput --skip-checks
ENV TIPLINE_STATIC_ROOT=/app/static-root TIPLINE_DATA_DIR=/data
RUN mkdir -p /data && chown tipline:tipline /data
USER tipline
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/es/').status == 200 else 1)" || exit 1
# tipline.gunicorn_conf: no access log, client addresses redacted from the error log.
CMD ["gunicorn", "tipline.wsgi", "--config", "python:tipline.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "8"]
