"""The normalized records every stage agrees on, and the column contracts of the frames between stages.

A source-specific importer turns one raw record into one :class:`Video` (one observation of a video);
extraction turns a frame of videos into a frame of keyword mentions (``MENTION_COLUMNS``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

MODALITIES: Final = ("hashtag", "caption", "music", "transcript", "ocr", "image_caption", "emoji")
UNKNOWN: Final = "unknown"
# A video id is the platform's id: digits on TikTok, but other sources (and tests) may use other safe tokens.
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Observations stamped further than this in the future are clock or parsing errors, not data.
MAX_FUTURE_SKEW: Final = timedelta(days=1)
MAX_CAPTION_CHARS: Final = 10_000
MAX_TRANSCRIPT_CHARS: Final = 200_000
MAX_COUNT: Final = 2**63 - 1  # counters are BIGINT in every store
COUNTERS: Final = ("views", "likes", "comments", "shares", "saves")


class RecordError(ValueError):
    """A raw record that cannot be turned into a Video; ``reason`` is what goes into quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def tiktok_id_time(video_id: str) -> datetime | None:
    """Creation time encoded in a TikTok video id (its upper 32 bits are Unix seconds), if it is one."""
    if not video_id.isdigit() or len(video_id) < 18:
        return None
    seconds = int(video_id) >> 32
    # Ids from before TikTok existed or far in the future are not snowflake ids.
    if not 1_400_000_000 <= seconds <= 4_000_000_000:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


class Video(BaseModel):
    """One observation of one video, normalized from any source shape."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    video_id: str
    observed_at: datetime
    created_at: datetime | None = None
    region: str = UNKNOWN
    category: str = UNKNOWN
    author: str | None = None
    author_followers: int | None = Field(default=None, ge=0)
    caption: str = ""
    hashtags: list[str] = Field(default_factory=list)
    music_id: str | None = None
    music_title: str | None = None
    music_author: str | None = None
    music_original: bool | None = None
    views: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    likes: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    comments: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    shares: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    saves: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    duration_s: float | None = Field(default=None, ge=0)
    language: str | None = None
    cover_url: str | None = None
    video_url: str | None = None
    source: str
    # Speech or subtitles (the Research API's voice_to_text), for the transcript modality; most shapes lack it.
    transcript: str | None = Field(default=None, max_length=MAX_TRANSCRIPT_CHARS)

    @field_validator("video_id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _VIDEO_ID.match(value):
            raise ValueError("video_id must be 1-64 characters of letters, digits, '_', '.', ':' or '-'")
        return value

    @field_validator("observed_at", "created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @field_validator("region", "category", mode="before")
    @classmethod
    def _label(cls, value: object, info: ValidationInfo) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return UNKNOWN
        if isinstance(value, str) and value != UNKNOWN:
            return value.strip().upper() if info.field_name == "region" else value.strip().lower()
        return value

    @field_validator("caption")
    @classmethod
    def _caption_size(cls, value: str) -> str:
        if len(value) > MAX_CAPTION_CHARS:
            raise ValueError(f"caption has {len(value)} characters, more than the {MAX_CAPTION_CHARS} allowed")
        return value

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return [t.strip().lstrip("#") for t in value if t and t.strip().lstrip("#")]

    @model_validator(mode="after")
    def _times(self) -> Video:
        if self.created_at is None:
            self.created_at = tiktok_id_time(self.video_id)
        now = datetime.now(tz=UTC)
        if self.observed_at > now + MAX_FUTURE_SKEW:
            raise ValueError(f"observed_at {self.observed_at.isoformat()} is in the future")
        if self.created_at is not None and self.created_at > self.observed_at + MAX_FUTURE_SKEW:
            raise ValueError(
                f"created_at {self.created_at.isoformat()} is after observed_at {self.observed_at.isoformat()}"
            )
        return self

    @property
    def posted_at(self) -> datetime:
        """The time a mention counts at: creation time, or first observation when creation is unknown."""
        return self.created_at or self.observed_at


# Column contracts of the pandas frames passed between stages (and loaded into the store).
VIDEO_COLUMNS: Final = (*Video.model_fields.keys(),)
MENTION_COLUMNS: Final = ("video_id", "keyword", "display", "modality", "weight", "is_generic")
