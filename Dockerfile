# sgportal image: web (gunicorn), worker and beat all run from it.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml /app/
COPY scripts/requirements.py /app/scripts/
RUN python scripts/requirements.py > /tmp/req.txt && \
    pip install -r /tmp/req.txt && rm /tmp/req.txt

COPY . /app
RUN useradd --system --uid 10001 sgportal \
    && DEBUG=1 python manage.py collectstatic --noinput \
    && chown -R sgportal /app/static
USER sgportal

EXPOSE 8000
CMD ["gunicorn", "sgportal.wsgi:application", "--bind", "0.0.0.0:8000"]
