# modbot with CPU PyTorch. Build: docker build -t modbot .
# Detoxify weights are fetched at build time (PRELOAD_MODEL=original by default; empty to skip) into a cache at
# a fixed path the runtime user can read, so the container runs without network. For air-gapped builds, copy a
# checkpoint in and set scorers.toxicity.checkpoint/config_dir (MODBOT_SCORERS__TOXICITY__CHECKPOINT, ...).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The model cache: the same path at build time (root fills it) and at run time (user modbot reads it).
ENV HF_HOME=/opt/modbot/cache/huggingface TORCH_HOME=/opt/modbot/cache/torch
WORKDIR /app

RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md LICENSE ./
COPY modbot ./modbot
RUN pip install .
COPY config ./config

# A fixed uid, so a bind-mounted data folder can be given to it: chown -R 10001:10001 ./data
RUN groupadd --gid 10001 modbot && useradd --uid 10001 --gid 10001 --create-home modbot \
    && mkdir -p /data "$HF_HOME" "$TORCH_HOME" && chown modbot:modbot /data

ARG PRELOAD_MODEL=original
# Loaded through modbot's own loader, exactly as `modbot run` will load it; then readable by user modbot.
RUN if [ -n "$PRELOAD_MODEL" ]; then \
      python -c "from modbot.scoring.detoxify_loading import load_named_model; load_named_model('$PRELOAD_MODEL')"; \
    fi \
    && chown -R modbot:modbot /opt/modbot/cache && chmod -R a+rX /opt/modbot/cache

# After the preload, nothing may be fetched at run time. Settings come from the environment
# (MODBOT_<SECTION>__<KEY>, see config/modbot.yaml). The shipped config's webhook URL (127.0.0.1) would be the
# container itself: it is cleared here (~ is YAML's "empty"), so the daemon refuses to start until
# MODBOT_SINK__WEBHOOK__URL names your platform (or MODBOT_SINK__TYPE=log or wordpress is set).
ENV HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    MODBOT_DATA_DIR=/data MODBOT_USERS_FILE=/data/moderators.yaml MODBOT_REVIEW_HOST=0.0.0.0 \
    MODBOT_SINK__WEBHOOK__URL="~" MODBOT_HEALTH__ENABLED=true MODBOT_HEALTH__PORT=8081

USER modbot
VOLUME ["/data"]
EXPOSE 8080
# Ready = model and rules loaded and Redis answering (GET /readyz); the start period covers loading the model.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('MODBOT_HEALTH__PORT', '8081'), timeout=4)"]
# The embedded Valkey keeps its data in /data unless MODBOT_REDIS_URL points at a server.
CMD ["modbot", "run", "--config", "/app/config/modbot.yaml"]
