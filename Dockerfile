# One image for the web process and the GPU worker; TORCH_INDEX picks the CUDA build for workers.
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu126
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 MAIRA_SAE_HOME=/data
WORKDIR /srv/maira-sae
RUN apt-get update -q && apt-get install -y -q --no-install-recommends npm \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY sae sae
COPY workers workers
COPY db db
COPY app app
COPY templates templates
COPY static static
COPY scripts scripts
RUN pip install "torch==2.13.0" --index-url "$TORCH_INDEX" && pip install . \
    && scripts/setup.sh
VOLUME /data
EXPOSE 8000
CMD ["maira-sae", "serve", "--host", "0.0.0.0"]
