# Charter production image: gunicorn for the web, the same image for the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CHARTER_VAR_DIR=/var/lib/charter \
    CHARTER_STATIC_ROOT=/app/staticfiles \
    PORT=8000

WORKDIR /app

# Dependencies first (their own layer, rebuilt only when pyproject.toml or the pins change),
# at the exact versions CI tested (constraints.txt).
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); \
print('\n'.join(d['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -c constraints.txt -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY . .

# Static files are collected at build time (whitenoise serves them, hashed and compressed).
# The settings refuse to load without a secret key when DEBUG is off: give them a throwaway.
RUN DEBUG=false SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
    CHARTER_VAR_DIR=/tmp/build-var python manage.py collectstatic --noinput \
 && rm -rf /tmp/build-var

RUN useradd --create-home --uid 10001 charter \
 && mkdir -p /var/lib/charter \
 && chown charter:charter /var/lib/charter
USER charter
VOLUME ["/var/lib/charter"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=5 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"

CMD ["sh", "-c", "exec gunicorn config.wsgi --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-3} --access-logfile - --forwarded-allow-ips='*'"]
