# The tiktrend image: the CLI, the API (`tiktrend serve`) and the dashboard (`tiktrend dashboard`) over the
# PostgreSQL/TimescaleDB store. Build context: the repository root (see docker-compose.yml).
# Target `spark` adds a Java runtime and PySpark: the Spark master and worker of the compose `spark` profile,
# which run tiktrend's extraction functions (so they need tiktrend itself, on the same Python as the driver).
FROM python:3.11-slim-bookworm AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TIKTREND_DATA_DIR=/opt/tiktrend/data
# uid 50000, group 0: the same owner as Airflow's image, so the shared data volume is writable from both.
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/tiktrend tiktrend \
    && mkdir -p /opt/tiktrend/data /opt/tiktrend/reports \
    && chown -R 50000:0 /opt/tiktrend
WORKDIR /opt/tiktrend/src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[postgres,api,dashboard]"
WORKDIR /opt/tiktrend
USER 50000
EXPOSE 8000 8501
ENTRYPOINT ["tiktrend"]
CMD ["--help"]

FROM base AS spark
USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/*
RUN pip install "/opt/tiktrend/src[postgres,spark]"
ENV PYSPARK_PYTHON=python3 \
    SPARK_NO_DAEMONIZE=1
USER 50000
EXPOSE 7077 8080 8081
# spark-class comes with the pyspark wheel; the compose file names the Master or Worker class.
ENTRYPOINT []
CMD ["spark-class", "org.apache.spark.deploy.master.Master"]
