# The Tipline image: web (public or staff), worker, notifier and beat alike; the role is chosen
# by TIPLINE_ROLE and the command (docker-compose.yml).
#
# Multi-stage: wheels are built in the first stage, the final one gets the installed packages
# only (no compiler, no pip cache, no build tools). Base images are pinned to an exact release
# (update them together, on purpose). BuildKit (Docker's default builder) is needed. No secret is in any layer: static files are collected
# with throwaway values, and every secret comes at run time from a file (*_FILE).
FROM python:3.11.14-slim-bookworm AS build
WORKDIR /build
COPY requirements.txt .
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt

FROM python:3.11.14-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=tipline.settings \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# System packages the scrubbers need: none. Their native code comes in the wheels: FFmpeg
# (PyAV), QPDF (pikepdf), libheif (pillow-heif), PDFium (pypdfium2), libjpeg/zlib (Pillow),
# libxml2 (lxml). So the image carries no ImageMagick, LibreOffice or exiftool to attack.
RUN groupadd --system --gid 10001 tipline \
    && useradd --system --uid 10001 --gid tipline --home /app --shell /usr/sbin/nologin tipline
WORKDIR /app
# The wheels are mounted from the build stage, not copied: no layer keeps them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels pip install --no-index /wheels/*
COPY --chown=root:root . .
# Static files are collected at build time with throwaway secrets (not kept in the image).
RUN TIPLINE_SECRET_KEY=build TIPLINE_RECEIPT_SALT=build TIPLINE_STATIC_ROOT=/app/static-root \
    python manage.py collectstatic --noinput --skip-checks >/dev/null \
    && python -m compileall -q /app
ENV TIPLINE_STATIC_ROOT=/app/static-root TIPLINE_DATA_DIR=/data
RUN mkdir -p /data && chown tipline:tipline /data && chmod 0700 /data
USER tipline
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["python", "-m", "tipline.healthcheck", "http://127.0.0.1:8000/healthz"]
# tipline.gunicorn_conf: gthread workers, no access log, addresses redacted from the error log.
CMD ["gunicorn", "tipline.wsgi", "--config", "python:tipline.gunicorn_conf", "--bind", "0.0.0.0:8000"]
