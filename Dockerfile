# modbot with CPU PyTorch. Build: docker build -t modbot .
# Detoxify weights are fetched at build time (PRELOAD_MODEL=original by default; empty to skip), so the
# container runs without network. For air-gapped builds, copy a checkpoint in and set checkpoint/config_dir.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md LICENSE ./
COPY modbot ./modbot
RUN pip install .
COPY config ./config

ARG PRELOAD_MODEL=original
RUN if [ -n "$PRELOAD_MODEL" ]; then \
      python -c "from detoxify import Detoxify; Detoxify('$PRELOAD_MODEL')"; \
    fi
# After the preload, nothing may be fetched at run time.
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MODBOT_DATA_DIR=/data MODBOT_REVIEW_HOST=0.0.0.0 \
    MODBOT_USERS_FILE=/data/moderators.yaml

RUN useradd --create-home modbot && mkdir -p /data && chown modbot /data
USER modbot
VOLUME ["/data"]
EXPOSE 8080
# The embedded Valkey keeps its data in /data unless MODBOT_REDIS_URL points at a server.
CMD ["modbot", "run", "--config", "/app/config/modbot.yaml"]
