# imaging-gateway: HL7 v2 (MLLP), DICOM and HTTP in one process.
# It binds every interface, so the API needs tokens: mount a tokens file (made with
# `imaging-gateway token NAME --role reader`) at /etc/imaging-gateway/tokens.toml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    IMAGING_GW_HTTP_HOST=0.0.0.0 \
    IMAGING_GW_MLLP_HOST=0.0.0.0 \
    IMAGING_GW_DICOM_HOST=0.0.0.0 \
    IMAGING_GW_DATABASE_URL=sqlite+aiosqlite:////var/lib/imaging-gateway/gateway.db \
    IMAGING_GW_TOKENS_FILE=/etc/imaging-gateway/tokens.toml

RUN useradd --system --uid 10001 --home-dir /var/lib/imaging-gateway --create-home gateway

WORKDIR /opt/imaging-gateway
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY listeners ./listeners
COPY mappers ./mappers
COPY store ./store
RUN pip install .

USER gateway
WORKDIR /var/lib/imaging-gateway
VOLUME ["/var/lib/imaging-gateway"]
EXPOSE 2575 11112 8080

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('IMAGING_GW_HTTP_PORT', '8080'), timeout=2)"]

CMD ["imaging-gateway", "serve"]
