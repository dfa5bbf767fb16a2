# Airflow 3 with tiktrend installed beside it, as a deployment runs it: the DAG's tasks import tiktrend's stage
# functions. Build context: the repository root (see docker-compose.yml).
ARG AIRFLOW_VERSION=3.1.8
FROM apache/airflow:${AIRFLOW_VERSION}-python3.11
ARG AIRFLOW_VERSION
USER root
# A Java runtime for the extraction stage's Spark engine (the driver runs in the task's process), and tesseract
# for the heavy stage's cover OCR (English data; add tesseract-ocr-vie and the like for other scripts).
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless tesseract-ocr \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /opt/tiktrend/data /opt/tiktrend/src \
    && chown -R airflow:0 /opt/tiktrend
USER airflow
COPY --chown=airflow:0 pyproject.toml README.md /opt/tiktrend/src/
COPY --chown=airflow:0 src /opt/tiktrend/src/src
# Airflow pinned in the same command, so that tiktrend's requirements never move Airflow's own version.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/tiktrend/src[postgres,spark]"
ENV TIKTREND_DATA_DIR=/opt/tiktrend/data
