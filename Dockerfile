# Mahfil in a container: slim Python, a non-root user, the SQLite file on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_PATH=/data/mahfil.sqlite3

RUN useradd --create-home --uid 10001 mahfil \
    && mkdir /data && chown mahfil:mahfil /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
COPY locales ./locales
COPY scripts ./scripts
# Editable install: the bot reads its catalogs from /app/locales beside the code.
RUN pip install -e . && python scripts/i18n.py compile && chown -R mahfil:mahfil /app

USER mahfil
VOLUME ["/data"]
CMD ["python", "-m", "bot", "run"]
