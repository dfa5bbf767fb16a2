"""One settings object, read from ``TIKTREND_*`` environment variables (and ``.env``) at the edge."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable about a tiktrend deployment; algorithms never read this directly."""

    model_config = SettingsConfigDict(env_prefix="TIKTREND_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("data"), description="Root of the raw zone, quarantine and simulator output.")
    database_url: str = Field(
        default="",
        description="duckdb:///path/file.duckdb (default: <data_dir>/tiktrend.duckdb) or postgresql://...",
    )
    chunk_size: int = Field(default=20_000, ge=1, description="Records normalized and loaded per batch chunk.")
    chunk_mib: int = Field(default=8, ge=1, description="...or fewer, once their source text passes this many MiB.")
    duckdb_checkpoint_mb: int = Field(
        default=64,
        ge=1,
        description="DuckDB store: commits go to the write-ahead log, copied into the file past this many MiB "
        "and when the store closes (docs/storage.md).",
    )
    # The PostgreSQL backend (postgresql:// URLs); docs/storage.md explains each.
    pg_pool_size: int = Field(default=4, ge=1, description="Connections the PostgreSQL pool keeps at most.")
    pg_connect_timeout_s: int = Field(default=10, ge=1, description="Seconds to wait for a PostgreSQL connection.")
    pg_retries: int = Field(default=4, ge=1, description="Attempts of a transaction that failed transiently.")
    pg_auto_upgrade: bool = Field(default=True, description="Apply missing schema migrations when a store opens.")
    pg_timescale: Literal["auto", "on", "off"] = Field(
        default="auto", description="TimescaleDB for a new schema: when the server has it (auto), required, or never."
    )
    pg_partition_months_ahead: int = Field(default=2, ge=0, description="Monthly partitions created ahead of time.")
    pg_chunk_days: int = Field(default=7, ge=1, description="TimescaleDB chunk interval of the hypertables.")
    pg_compress_after_days: int | None = Field(default=30, ge=1, description="TimescaleDB: compress older chunks.")
    pg_retention_days: int | None = Field(default=None, ge=1, description="Drop raw mentions/stats older than this.")
    pg_refresh_every_minutes: int = Field(default=30, ge=1, description="TimescaleDB continuous aggregate refresh.")
    pg_refresh_lookback_days: int = Field(default=3, ge=1, description="How far back each aggregate refresh looks.")
    max_caption_chars: int = Field(default=10_000, ge=1, description="Longer captions are quarantined as oversized.")
    # Extraction (extract/): optional heavy models, all local, none downloaded at run time.
    embed_model_path: Path | None = Field(
        default=None, description="Local sentence-transformers model for keyword merges (default: the bundled MiniLM)."
    )
    merge_threshold: float = Field(default=0.9, gt=0, le=1, description="Cosine similarity that merges two keywords.")
    whisper_model_dir: Path | None = Field(default=None, description="Local faster-whisper model; speech-to-text off.")
    # The heavy stage (orchestrate.heavy_stage, docs/extraction.md): OCR of covers, speech, image captions.
    ocr: Literal["off", "auto", "on"] = Field(
        default="auto",
        description="Cover OCR: never, when tesseract is installed (auto), or always (no tesseract: an error).",
    )
    ocr_cache_dir: Path | None = Field(
        default=None, description="OCR results kept by image content hash (default: <data_dir>/cache/ocr)."
    )
    cover_download_dir: Path | None = Field(
        default=None, description="Where http(s) covers are downloaded for OCR; unset: no downloads, local covers only."
    )
    caption_model_dir: Path | None = Field(
        default=None, description="Local image-to-text model (transformers) for image_caption; unset: captions off."
    )
    heavy_workers: int | None = Field(default=None, ge=1, description="OCR processes at once (default: one per core).")
    heavy_budget_s: float = Field(
        default=900.0, gt=0, description="The heavy stage starts no new chunk of videos after this many seconds."
    )
    spark_master: str = Field(default="local[*]", description="Spark master URL for `tiktrend extract --engine spark`.")
    # The API (`tiktrend serve`, api/) and the backtest reports it serves.
    api_key: SecretStr | None = Field(
        default=None, description="When set, API requests must send it in the X-API-Key header (/health excepted)."
    )
    api_cors_origins: list[str] = Field(
        default_factory=list, description='Origins allowed to call the API from a browser (JSON list, ["*"] = any).'
    )
    api_duckdb_hold_s: float = Field(
        default=2.0, ge=0, description="Seconds the API keeps a DuckDB file open after its last request."
    )
    api_cache_check_s: float = Field(
        default=1.0, ge=0, description="API answers are kept until a run changes the data; checked this often (0: off)."
    )
    reports_dir: Path = Field(default=Path("reports"), description="Where `tiktrend backtest --out` reports are found.")
    # Collection (collect/, `tiktrend collect`): where the live sources are, and the credentials they need.
    # Secrets have no default: a source whose credentials are missing says which variable to set.
    tiktok_web_url: str = Field(default="https://www.tiktok.com", description="The TikTok web app (web source).")
    tiktok_ms_token: SecretStr | None = Field(
        default=None, description="msToken cookie(s) of a logged-out browser session; several, comma separated."
    )
    tiktok_cookies: SecretStr | None = Field(default=None, description="A browser session's Cookie header (web).")
    tiktok_user_agent: str | None = Field(default=None, description="User agent of the web source (default: Chrome).")
    chromium_path: Path | None = Field(
        default=None, description="Chromium for the web source's browser session (default: chromium on the PATH)."
    )
    chromium_args: list[str] = Field(
        default_factory=list,
        description="Extra chromium flags for the browser session (JSON list), e.g. --proxy-server=... .",
    )
    tiktok_session_url: str | None = Field(
        default=None, description="Page the browser session opens first (default: TIKTREND_TIKTOK_WEB_URL)."
    )
    tiktok_session_timeout_s: float = Field(
        default=30.0, gt=0, description="Browser session: page load and request signer wait, in seconds."
    )
    research_api_url: str = Field(default="https://open.tiktokapis.com", description="The TikTok Research API.")
    research_client_key: SecretStr | None = Field(default=None, description="Research API client key.")
    research_client_secret: SecretStr | None = Field(default=None, description="Research API client secret.")
    research_daily_requests: int = Field(default=1_000, ge=1, description="Research API requests allowed a day.")
    research_daily_records: int = Field(default=100_000, ge=1, description="Research API records allowed a day.")
    creative_center_url: str = Field(default="https://ads.tiktok.com", description="TikTok Creative Center.")
    creative_center_headers: SecretStr | None = Field(
        default=None,
        description="Headers a Creative Center browser session sends (JSON object: anonymous-user-id, user-sign...).",
    )
    collect_attempts: int = Field(default=5, ge=1, description="Attempts per request before a region gives up.")
    collect_backoff_s: float = Field(default=2.0, ge=0, description="Base of the exponential backoff (jittered).")
    collect_backoff_cap_s: float = Field(default=120.0, ge=0, description="Longest wait between two attempts.")
    collect_pause_s: float = Field(default=1.0, ge=0, description="Pause between two requests (politeness).")
    # Orchestration (dags/tiktrend_pipeline.py): each task retries with exponential backoff.
    airflow_retries: int = Field(default=3, ge=0, description="Retries of each Airflow task before the run fails.")
    airflow_retry_delay_s: float = Field(
        default=60.0, ge=0, description="Wait before an Airflow task's first retry; doubles each retry (max 30 min)."
    )
    # Alerts (alerts.py, `tiktrend alerts`): rules applied to the trends table after detection. One rule from
    # these variables (when any TIKTREND_ALERT_<filter> is set) plus any in the rules file (JSON or YAML).
    alert_webhook_url: SecretStr | None = Field(
        default=None, description="Slack-compatible incoming webhook; unset: alerts go to the log only."
    )
    alert_rules_file: Path | None = Field(default=None, description="JSON or YAML file of alert rules.")
    alert_detector: str | None = Field(default=None, description="Alert rule: only this detector's trends.")
    alert_window: str | None = Field(default=None, description="Alert rule: only this window (1h, 1d, 7d).")
    alert_min_score: float | None = Field(default=None, description="Alert rule: minimum detector score.")
    alert_min_growth: float | None = Field(default=None, description="Alert rule: minimum growth (1.0 = +100%).")
    alert_min_engagement: int | None = Field(
        default=None, ge=0, description="Alert rule: minimum likes + comments + shares + saves in the window."
    )
    alert_region: str | None = Field(default=None, description="Alert rule: only this region (* = all combined).")
    alert_category: str | None = Field(default=None, description="Alert rule: only this category.")
    alert_cooldown_h: float = Field(
        default=24.0, ge=0, description="Hours before the same trend (rule, keyword, slice, window) alerts again."
    )
    alert_attempts: int = Field(default=4, ge=1, description="Delivery attempts per alert and run.")
    alert_backoff_s: float = Field(default=1.0, ge=0, description="Base of the delivery backoff (exponential).")
    alert_timeout_s: float = Field(default=10.0, gt=0, description="Seconds to wait for the webhook's answer.")

    @model_validator(mode="after")
    def _default_database(self) -> Settings:
        if not self.database_url:
            self.database_url = f"duckdb:///{self.data_dir / 'tiktrend.duckdb'}"
        return self

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def sim_dir(self) -> Path:
        return self.data_dir / "sim"

    @property
    def collect_dir(self) -> Path:
        return self.data_dir / "collect"

    @property
    def ocr_cache(self) -> Path:
        return self.ocr_cache_dir or self.data_dir / "cache" / "ocr"
