"""A seeded, deterministic TikTok trending feed with planted trends and their ground truth.

It is the embedded default input of the demo, the tests and the backtest. The feed is crawled every hour;
each record is one observation of one video, shaped like :class:`tiktrend.models.Video`. Background
content (words, hashtags, sounds, generic reach tags) has a stable share of volume, so only the planted
trends should look like trends to a share-of-volume detector, while raw counts grow with the daily cycle
and the drift of the volume.

Example::

    out = write_simulation(SimConfig(seed=7, hours=96), Path("data/sim"))
    truth = planted_trends(SimConfig(seed=7, hours=96))
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]

SOURCE: Final = "simulator"
TRUTH_COLUMNS: Final = ("keyword", "display", "kind", "region", "onset", "peak", "peak_rate")


# --------------------------------------------------------------------------------------------------------
# Regions, volume shape
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionProfile:
    """How one region posts: its language, clock and share of the feed."""

    language: str
    utc_offset: int  # summer offset in hours; the daily cycle follows local time
    weight: float  # relative share of the feed's volume
    english_share: float  # captions written in English anyway
    original_sound_share: float  # videos using their own "original sound"


REGIONS: Final[dict[str, RegionProfile]] = {
    "US": RegionProfile("en", -5, 0.30, 1.0, 0.35),
    "GB": RegionProfile("en", 1, 0.14, 1.0, 0.35),
    "DE": RegionProfile("de", 2, 0.14, 0.2, 0.30),
    "FR": RegionProfile("fr", 2, 0.14, 0.15, 0.30),
    "VN": RegionProfile("vi", 7, 0.28, 0.08, 0.45),
    "CA": RegionProfile("en", -4, 0.08, 1.0, 0.35),
    "AU": RegionProfile("en", 10, 0.07, 1.0, 0.35),
    "AT": RegionProfile("de", 2, 0.04, 0.2, 0.30),
    "BE": RegionProfile("fr", 2, 0.04, 0.15, 0.30),
}

# Relative posting activity by local hour: night trough around 4:00, evening peak around 21:00.
_HOURLY: Final = np.array([
    0.75, 0.5, 0.35, 0.25, 0.2, 0.22, 0.35, 0.55, 0.7, 0.75, 0.8, 0.85,
    0.95, 0.9, 0.85, 0.88, 0.95, 1.05, 1.2, 1.35, 1.5, 1.55, 1.4, 1.1,
])  # fmt: skip
_ACTIVITY: Final[Floats] = _HOURLY / _HOURLY.mean()

# Later crawls of the same video: how many (0-4) and how many hours apart.
_REOBSERVATIONS: Final = (0.32, 0.26, 0.2, 0.13, 0.09)
_CRAWL_GAPS: Final = (0.6, 0.28, 0.12)
_CRAWL_SPREAD_S: Final = 600  # a crawl takes a few minutes, so its records are spread over them

# --------------------------------------------------------------------------------------------------------
# Background vocabulary
# --------------------------------------------------------------------------------------------------------

LANGUAGES: Final = ("en", "de", "fr", "vi")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Caption openers per language, most frequent first (sampled Zipf).
_PHRASES: Final[dict[str, tuple[str, ...]]] = {
    "en": (
        "wait for it", "pov:", "this is your sign", "no way", "obsessed", "day in my life", "rate this",
        "part 2", "storytime", "me every morning", "not me doing this again", "the way i screamed",
        "this took forever", "be honest", "trying this for the first time", "watch till the end",
        "best day ever", "can't believe this worked", "it's giving", "who else", "literally me",
        "new favorite", "quick one", "tag someone", "plot twist", "weekend mood", "i tried", "so good",
        "why did nobody tell me", "just vibes", "tell me why", "i can't stop", "guess what", "the ending tho",
        "this is so me", "okay but why", "unpopular opinion", "small win", "real talk", "hear me out",
    ),
    "de": (
        "warte bis zum ende", "einfach nur", "wer kennt's", "so lecker", "ich kann nicht mehr",
        "kennt ihr das", "mein tag", "wie findet ihr das", "teil 2", "endlich", "heute mal", "was sagt ihr",
        "zu gut", "ich liebe es", "mal ehrlich", "wer noch", "das bin so ich", "schaut bis zum schluss",
        "nicht schon wieder", "bester tag", "kurz und knapp", "für euch", "gemütlich", "feierabend",
        "hätte ich das früher gewusst", "übrigens", "so schön", "grüße gehen raus", "ohne worte", "na toll",
    ),
    "fr": (
        "attendez la fin", "c'est trop", "j'avoue", "trop bien", "mdr", "partie 2", "ma journée",
        "vous en pensez quoi", "incroyable", "on teste", "petit moment", "je suis choquée", "trop mignon",
        "c'est moi", "enfin", "ça marche", "à refaire", "mon préféré", "quelle journée", "tellement vrai",
        "j'adore", "pas possible", "ce soir", "au calme", "ça vous dit", "la vie", "c'est parti",
        "bref", "on est d'accord", "vraiment",
    ),
    "vi": (
        "hôm nay", "đẹp quá", "chill thôi", "xem đến cuối", "thật sự", "vui quá", "cười xỉu",
        "ngon quá trời", "một ngày của tôi", "buổi sáng", "trời ơi", "dễ thương quá", "phần 2", "cuối tuần",
        "đi chơi", "không thể tin được", "yêu quá", "bạn thấy sao", "mê quá", "siêu đỉnh", "tâm trạng",
        "nhà mình", "bình yên", "cảm ơn mọi người", "ăn gì hôm nay", "hạnh phúc", "đáng yêu", "món ăn",
        "đẹp quá trời", "thử ngay",
    ),
}  # fmt: skip

# Category -> (weight, its hashtags most frequent first, emoji, topic words per language).
_CATEGORY_DATA: Final[dict[str, tuple[float, str, str, dict[str, str]]]] = {
    "comedy": (14, "comedy funny humor meme prank skit relatable lol", "😂🤣💀", {
        "en": "i'm crying|bro really|the ending", "de": "ich lach mich tot|zu lustig",
        "fr": "je suis mort|trop drôle", "vi": "cười xỉu|hài quá|bó tay"}),
    "dance": (12, "dance dancechallenge dancer choreography dancetok dancetutorial", "💃🔥✨", {
        "en": "new dance|learn this|tutorial", "de": "tanz|neuer tanz", "fr": "danse|chorégraphie",
        "vi": "nhảy|vũ đạo|điệu nhảy"}),
    "music": (10, "music song singing cover guitar piano newmusic singer", "🎶🎸🎤", {
        "en": "new song|my cover|this beat|on repeat", "de": "neuer song|mein cover|ohrwurm",
        "fr": "nouvelle chanson|ma reprise|en boucle", "vi": "bài hát mới|cover|nghe hoài"}),
    "food": (9, "food foodtok recipe cooking easyrecipe foodie dinner baking", "🍜🍕😋", {
        "en": "easy dinner|street food|so tasty", "de": "rezept|abendessen|lecker",
        "fr": "trop bon|recette facile|miam", "vi": "món ngon|ngon lắm|ăn vặt|quán ngon"}),
    "lifestyle": (8, "lifestyle vlog dayinmylife aesthetic routine selfcare motivation", "✨🤍☕", {
        "en": "slow morning|reset|little vlog", "de": "mein alltag|mein tag",
        "fr": "petit vlog|mon quotidien", "vi": "một ngày|cuộc sống|thường ngày"}),
    "beauty": (7, "makeup skincare beauty grwm makeuptutorial nails hair", "💄💅✨", {
        "en": "my skincare|get ready with me|makeup look", "de": "hautpflege|schminken",
        "fr": "maquillage|ma routine beauté", "vi": "trang điểm|skincare|làm đẹp"}),
    "pets": (7, "dog cat pets puppy dogsoftiktok catsoftiktok cute kitten", "🐶🐱🥹", {
        "en": "my dog|this cat|good boy", "de": "mein hund|katze|süß", "fr": "mon chien|mon chat",
        "vi": "con mèo|cún cưng|dễ thương"}),
    "gaming": (6, "gaming gamer minecraft fortnite roblox valorant twitch clips", "🎮🕹️😤", {
        "en": "clutch|gg|new update|ranked", "de": "zocken|neues update", "fr": "on joue|mise à jour",
        "vi": "chơi game|leo rank|gg"}),
    "sports": (5, "football soccer sports basketball nba goal skills", "⚽🏀🔥", {
        "en": "what a goal|game day|the skills", "de": "was für ein tor|spieltag",
        "fr": "quel but|jour de match", "vi": "bàn thắng đẹp|bóng đá|tập luyện"}),
    "fashion": (5, "fashion ootd outfit style thrift haul outfitinspo", "👗👟🖤", {
        "en": "outfit of the day|thrift haul|fit check", "de": "outfit|mein look", "fr": "ma tenue|le look",
        "vi": "phối đồ|outfit|thời trang"}),
    "travel": (4, "travel traveltok vacation beach wanderlust roadtrip explore", "✈️🌅🏝️", {
        "en": "hidden gem|road trip|sunset views", "de": "urlaub|reisen|geheimtipp",
        "fr": "vacances|voyage|coucher de soleil", "vi": "du lịch|đà lạt|biển đẹp"}),
    "fitness": (4, "gym fitness workout gymtok fitnessmotivation running pilates", "💪🏋️🔥", {
        "en": "leg day|workout|progress", "de": "training|beintag|fortschritt",
        "fr": "séance|entraînement|motivation", "vi": "tập gym|giảm cân|động lực"}),
    "family": (3, "family mom momlife baby parenting kids couple", "👶❤️🥰", {
        "en": "my kids|mom life|our baby", "de": "meine kinder|mama alltag", "fr": "mes enfants|vie de maman",
        "vi": "gia đình|con gái|em bé"}),
    "education": (3, "learnontiktok education facts history science studytok didyouknow", "📚🧠💡", {
        "en": "did you know|fun fact|study with me", "de": "wusstest du|lernen",
        "fr": "le saviez-vous|apprendre", "vi": "bạn có biết|học tiếng anh|kiến thức"}),
    "diy": (2, "diy crafts homedecor lifehack cleaning organization cleantok", "🛠️🧽✨", {
        "en": "life hack|before and after|clean with me", "de": "vorher nachher|basteln|putzen",
        "fr": "avant après|astuce|ménage", "vi": "mẹo hay|dọn nhà|tự làm"}),
    "tech": (2, "tech iphone apple gadgets ai setup android", "📱💻⚡", {
        "en": "new iphone|setup tour|this gadget", "de": "neues handy|mein setup",
        "fr": "mon setup|nouveau téléphone", "vi": "điện thoại mới|công nghệ|đánh giá"}),
    "art": (1.5, "art drawing painting artist sketch digitalart arttok", "🎨🖌️✨", {
        "en": "speed paint|my drawing|process", "de": "zeichnen|mein bild", "fr": "mon dessin|peinture",
        "vi": "vẽ tranh|nghệ thuật"}),
    "cars": (1.5, "cars car carsoftiktok bmw jdm supercar drift", "🚗🏎️💨", {
        "en": "dream car|listen to that|car meet", "de": "traumauto|hör dir das an",
        "fr": "voiture de rêve|écoutez ça", "vi": "xe đẹp|siêu xe|độ xe"}),
    "asmr": (1, "asmr satisfying oddlysatisfying relaxing asmrsounds tingles", "🎧😌🫧", {
        "en": "so satisfying|relaxing", "de": "so befriedigend|entspannend",
        "fr": "tellement satisfaisant|relaxant", "vi": "thư giãn|đã tai"}),
}  # fmt: skip
CATEGORIES: Final = tuple(_CATEGORY_DATA)

# Region-flavoured hashtags, most frequent first.
_REGION_TAGS: Final[dict[str, str]] = {
    "US": "usa america nyc texas california la florida",
    "GB": "uk london british manchester fyuk scotland",
    "DE": "deutschland germany berlin lustig münchen hamburg deutsch",
    "FR": "france paris humour drôle marseille lyon français",
    "VN": "vietnam tiktokvietnam hanoi saigon anngon haihuoc giaitri dulich reviewanngon",
    "CA": "canada toronto vancouver canadian",
    "AU": "australia aussie sydney melbourne",
    "AT": "österreich wien austria lustig",
    "BE": "belgique bruxelles belgium humour",
}

# Long tail of everyday hashtags: word x suffix, like "coffeelover" or "beachvibes".
_TAIL_WORDS: Final = _words(
    "coffee summer beach cat dog pizza book study plant garden sunset city girl boy mom dad car home sushi "
    "ramen tea yoga hiking camping fishing soccer guitar piano movie anime kpop horse bunny baby couple "
    "wedding birthday party school college work office weekend morning rain snow ocean mountain island "
    "vintage retro thrift nail hair skin shoe sneaker"
)
_TAIL_SUFFIXES: Final = ("tok", "lover", "life", "vibes", "daily", "goals", "time", "inspo", "ideas", "2025")

# Generic reach tags: (spelling, weight) everywhere, plus extra weight per language.
_GENERIC_TAGS: Final[dict[str, float]] = {
    "fyp": 30, "foryou": 14, "foryoupage": 10, "viral": 10, "trending": 5, "capcut": 5, "fypシ゚": 4,
    "viralvideo": 3, "fyp✨": 2, "fypppp": 2, "fypp": 2, "foryourpage": 2, "fy": 2, "xyzbca": 1.5,
    "xuhuong": 0.5, "xh": 0.3, "xhhhhhh": 0.1, "fypage": 1, "fypシ": 1.5,
}  # fmt: skip
_GENERIC_BY_LANGUAGE: Final[dict[str, dict[str, float]]] = {
    "en": {},
    "de": {"fürdich": 6, "fy": 3},
    "fr": {"pourtoi": 8, "pt": 1},
    "vi": {"xuhuong": 22, "xh": 10, "xhhhhhh": 3, "xuhuongtiktok": 4, "tiktokviral": 2},
}
GENERIC_TAGS: Final = frozenset(set(_GENERIC_TAGS) | {t for d in _GENERIC_BY_LANGUAGE.values() for t in d})

_EMOJI: Final = _words("😂 😭 ✨ 🔥 ❤️ 🥰 😍 💀 🙏 👀 🥹 💅 🤣 😅 💕 🫶 👏 😳 🤍 💯")

# Background songs: title, artist, language (a language-specific song is more popular in its regions).
_SONGS: Final = (
    ("Summer Again", "Luna Park", "en"), ("Falling Slowly Tonight", "Jay Rivers", "en"),
    ("Golden Hour Drive", "Kimi Sato", "en"), ("Heartbeat City", "The Velvet Pines", "en"),
    ("Lost In Tokyo", "Aria Lux", "en"), ("Late Night Talk", "Marco Blue", "en"),
    ("Blue Jeans Forever", "Ella Frost", "en"), ("Moonlight Drive", "DJ Sundae", "en"),
    ("Sugar Rush Club", "Nico Vale", "en"), ("Bad Habit Club", "Sienna Gold", "en"),
    ("Into The Wild", "Lil Pebble", "en"), ("Honey Dip", "Harbor Kids", "en"),
    ("Electric Love Song", "Zane Miles", "en"), ("Candy Clouds", "Coco Rain", "en"),
    ("Wildflower Road", "Felix Storm", "en"), ("Dancing Alone", "Mara Quinn", "en"),
    ("Stay With Me Tonight", "Oscar Reed", "en"), ("Pink Lemonade", "Yuna Park", "en"),
    ("Daydreamer", "Tommy Neon", "en"), ("Hold On Tight", "Bella Ray", "en"),
    ("Neon Hearts", "Luna Park", "en"), ("Ocean Drive Home", "Jay Rivers", "en"),
    ("Tidal Wave", "Aria Lux", "en"), ("Slow Dancing In July", "Ella Frost", "en"),
    ("Paradise Lost", "Marco Blue", "en"), ("Caffeine", "Sienna Gold", "en"),
    ("Better Days", "Nico Vale", "en"), ("Main Character", "Coco Rain", "en"),
    ("Butterflies", "Yuna Park", "en"), ("Overthinking", "Zane Miles", "en"),
    ("Ride Or Die", "Oscar Reed", "en"), ("City Lights", "Mara Quinn", "en"),
    ("Runaway Train", "Felix Storm", "en"), ("Good Vibes Only", "DJ Sundae", "en"),
    ("Midnight Snack", "Tommy Neon", "en"), ("Firework Sky", "Bella Ray", "en"),
    ("Nur Noch Kurz", "Jonas Falk", "de"), ("Sommer In Der Stadt", "Nachtblau", "de"),
    ("Bis Morgen Früh", "Jonas Falk", "de"), ("Tout Va Bien", "Clara Luce", "fr"),
    ("Mon Amour Encore", "Les Voisins", "fr"), ("La Nuit Est À Nous", "Clara Luce", "fr"),
    ("Mưa Tháng Sáu", "Quang Huy", "vi"), ("Em Là Nhất", "Ngọc Mai", "vi"),
    ("Phố Cũ Còn Anh", "Đức Anh", "vi"), ("Ngày Mai Em Đi Xa", "Ngọc Mai", "vi"),
    ("Chiều Hà Nội", "Quang Huy", "vi"), ("Yêu Từ Đâu", "Đức Anh", "vi"),
)  # fmt: skip
_SONG_VERSIONS: Final = ("", " (Sped Up)", " (Slowed + Reverb)", " Remix")

_NAMES: Final[dict[str, tuple[str, str]]] = {
    "en": (
        "emma olivia ava mia liam noah jake tyler chloe sophie grace ella jack harry lily zoe mason ethan maddie kayla",
        "smith jones brown taylor wilson davies miller clark lewis walker hall young",
    ),
    "de": (
        "lena mia hannah emma leon finn paul jonas lukas marie lea sophie max felix anna",
        "mueller schmidt schneider fischer weber meyer wagner becker hoffmann",
    ),
    "fr": (
        "lea chloe manon camille ines jade lucas hugo louis nathan theo emma louise lina",
        "martin bernard dubois thomas robert richard petit durand leroy moreau",
    ),
    "vi": (
        "linh trang huong thao mai anh minh tuan duc hoang ngoc phuong vy khanh quynh",
        "nguyen tran le pham hoang vu vo dang bui do",
    ),
}
_HANDLE_WORDS: Final = _words("official vlogs tv daily cooks eats xo art fit beauty gaming music life")

# --------------------------------------------------------------------------------------------------------
# Planted trend candidates: never part of the background vocabulary
# --------------------------------------------------------------------------------------------------------

# (display, language or "*" for any region, category it lives in)
_TREND_HASHTAGS: Final = (
    ("NightRoutine", "*", "lifestyle"), ("GlassSkinChallenge", "*", "beauty"), ("CloudBread", "*", "food"),
    ("MatchaLatteArt", "*", "food"), ("SilentWalking", "*", "fitness"), ("DopamineDecor", "*", "diy"),
    ("LemonDropDance", "*", "dance"), ("SkyMirrorChallenge", "*", "travel"),
    ("CozyGamerSetup", "*", "gaming"), ("BentoBoxMonday", "*", "food"), ("TinyKitchenHacks", "*", "diy"),
    ("OfficeSirenLook", "*", "fashion"), ("PuzzleFaceChallenge", "*", "comedy"),
    ("StrawberryMilkNails", "*", "beauty"), ("RetroCamcorder", "*", "tech"), ("FrogCoreFits", "*", "fashion"),
    ("ButterBoardParty", "*", "food"), ("ZoomiesHour", "*", "pets"), ("SideEyeCat", "*", "pets"),
    ("BackwardsRunChallenge", "*", "sports"), ("HandMirrorDance", "*", "dance"),
    ("SpeedSketchDuel", "*", "art"), ("TailgateRecipes", "en", "food"), ("SundayRoastRanking", "en", "food"),
    ("TubeStrikeDiaries", "en", "comedy"), ("DubaiSchokolade", "de", "food"),
    ("Dönerpreisbremse", "de", "comedy"), ("Balkonkraftwerk", "de", "diy"),
    ("Feierabendrunde", "de", "fitness"), ("ApéroDînatoire", "fr", "food"), ("BoulangerieTour", "fr", "food"),
    ("RentréeVibes", "fr", "lifestyle"), ("PétanqueChallenge", "fr", "sports"), ("CàPhêMuối", "vi", "food"),
    ("TràChanhGiãTay", "vi", "food"), ("BánhMìChảo", "vi", "food"), ("ThửTháchMùaHè", "vi", "dance"),
)  # fmt: skip
# (title, artist, language or "*", category)
_TREND_SOUNDS: Final = (
    ("Espresso Sped Up", "Sable Carter", "*", "music"), ("Velvet Static", "Nova Reyes", "*", "dance"),
    ("Gravity Hug Sped Up", "Milo Hart", "*", "dance"), ("Neon Lullaby", "Juniper Vale", "*", "music"),
    ("Pocket Full Of Sun", "The Marigolds", "*", "lifestyle"),
    ("Run It Back Techno Remix", "DJ Kestrel", "*", "fitness"), ("Lemon Skies", "Ivy Lane", "*", "travel"),
    ("Paper Moon Remix", "Kai Summers", "*", "dance"), ("Oh No Not Again", "Benny Cole", "*", "comedy"),
    ("Glitter Tantrum", "Rosa Vex", "*", "beauty"), ("Tea Time Freestyle", "Lil Brolly", "en", "comedy"),
    ("Sommerregen", "Leni Ostwald", "de", "music"), ("Kopf Hoch Tanz", "Die Nachtfalter", "de", "dance"),
    ("Cœur en Papier", "Inès Morel", "fr", "music"), ("Soleil de Minuit", "Théo Lavigne", "fr", "dance"),
    ("Hẹn Em Mùa Hạ", "Minh Khang", "vi", "music"), ("Giấc Mơ Xanh", "Thảo Vy", "vi", "dance"),
)  # fmt: skip


def keyword_key(text: str) -> str:
    """Canonical key of a hashtag or title: NFKC, lower-cased, without a leading '#'."""
    return unicodedata.normalize("NFKC", text).strip().lstrip("#").lower()


def background_vocabulary() -> frozenset[str]:
    """Every background hashtag, caption word or phrase (also without spaces) and song title, as keys."""
    terms: set[str] = set(GENERIC_TAGS)
    for _, tags, _, topics in _CATEGORY_DATA.values():
        terms.update(tags.split())
        for words in topics.values():
            terms.update(_phrase_terms(words.split("|")))
    for tags in _REGION_TAGS.values():
        terms.update(tags.split())
    terms.update(w + s for w in _TAIL_WORDS for s in _TAIL_SUFFIXES)
    for phrases in _PHRASES.values():
        terms.update(_phrase_terms(phrases))
    terms.update(keyword_key(title) for title, _, _ in _songs())
    return frozenset(keyword_key(t) for t in terms)


def _phrase_terms(phrases: Sequence[str]) -> set[str]:
    terms: set[str] = set()
    for phrase in phrases:
        terms.update(phrase.split())
        terms.update({phrase, phrase.replace(" ", "")})
    return terms


def _songs() -> list[tuple[str, str, str]]:
    # The most popular third of the songs also circulate as edits (sped up, slowed, remixed).
    songs = list(_SONGS)
    for title, artist, language in _SONGS[: len(_SONGS) // 3]:
        songs.extend((title + version, artist, language) for version in _SONG_VERSIONS[1:])
    return songs


# --------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimConfig:
    """What to simulate: horizon, regions, volume and how many trends to plant."""

    seed: int = 7
    hours: int = 96
    start: datetime = datetime(2025, 6, 2, tzinfo=UTC)
    regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "VN")
    videos_per_hour: float = 300.0  # mean over all regions, before cycles/drift
    n_trends: int = 12
    drift: float = 0.4  # volume grows by this fraction from the start to the end of the horizon
    sound_share: float = 1 / 3  # share of planted trends that are sounds (the rest are hashtags)
    global_share: float = 0.4  # share of planted trends that trend in every region
    early_trends: int = 2  # trends that peak in the first half (at most a quarter of n_trends)
    peak_rate_range: tuple[float, float] = (0.02, 0.10)
    spillover: float = 0.01  # a regional trend's rate elsewhere, relative to its own region

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not 48 <= self.hours <= 24 * 90:
            raise ValueError(f"hours must be between 48 and {24 * 90}, got {self.hours}")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware (e.g. tzinfo=UTC)")
        self._check_regions()
        if not 0 < self.videos_per_hour <= 100_000:
            raise ValueError(f"videos_per_hour must be in (0, 100000], got {self.videos_per_hour}")
        self._check_trends()
        if not -0.9 <= self.drift <= 10:
            raise ValueError(f"drift must be between -0.9 and 10, got {self.drift}")

    def _check_regions(self) -> None:
        if not self.regions:
            raise ValueError("regions must not be empty")
        if len(set(self.regions)) != len(self.regions):
            raise ValueError(f"regions must be unique, got {self.regions}")
        unknown = [r for r in self.regions if r not in REGIONS]
        if unknown:
            raise ValueError(f"unknown regions {unknown}; known: {sorted(REGIONS)}")

    def _check_trends(self) -> None:
        n_sounds = round(self.n_trends * self.sound_share)
        if self.n_trends < 0 or n_sounds > len(_TREND_SOUNDS):
            raise ValueError(f"n_trends must be >= 0 with at most {len(_TREND_SOUNDS)} sounds, got {self.n_trends}")
        if self.n_trends - n_sounds > len(_TREND_HASHTAGS):
            raise ValueError(f"at most {len(_TREND_HASHTAGS)} hashtag trends can be planted")
        for name in ("sound_share", "global_share", "spillover"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.early_trends < 0:
            raise ValueError(f"early_trends must be >= 0, got {self.early_trends}")
        low, high = self.peak_rate_range
        if not 0 < low <= high <= 0.5:
            raise ValueError(f"peak_rate_range needs 0 < low <= high <= 0.5, got {self.peak_rate_range}")

    @property
    def end(self) -> datetime:
        """The end of the horizon (and the time of the last crawl)."""
        return self.start + timedelta(hours=self.hours)


@dataclass(frozen=True)
class PlantedTrend:
    """One planted trend: what it is, where, when it takes off and peaks, and how big it gets."""

    keyword: str  # canonical key: NFKC, lower-cased, no '#'
    display: str  # as users write it
    kind: str  # "hashtag" or "sound"
    region: str  # a region code, or "*" when it trends in every region
    onset: datetime  # when usage starts to take off
    peak: datetime  # when usage peaks
    peak_rate: float  # fraction of the region's videos carrying it at the peak


@dataclass(frozen=True)
class SimOutput:
    """Where write_simulation put the feed and the ground truth, and how much it wrote."""

    feed_path: Path
    truth_path: Path
    records: int
    videos: int


def planted_trends(config: SimConfig) -> list[PlantedTrend]:
    """The trends planted in the feed of ``config``: the ground truth, ordered by onset."""
    plan = _TrendPlan.draw(config)
    return sorted((p.trend for p in plan), key=lambda t: (t.onset, t.keyword))


def simulate(config: SimConfig) -> Iterator[dict[str, Any]]:
    """Yield the raw feed records of ``config`` (JSON-able dicts shaped like ``Video``) by observed_at."""
    rng = np.random.default_rng([config.seed, 2])
    plans = _TrendPlan.draw(config)
    videos, authors = _draw_videos(config, rng, plans)
    statics = _VideoWriter(config, rng, videos, authors, plans).write_all()
    obs = _draw_observations(config, rng, videos)
    yield from _records(config, statics, videos, obs)


def write_simulation(config: SimConfig, out_dir: Path) -> SimOutput:
    """Write ``feed-<seed>.jsonl.gz`` and ``ground_truth-<seed>.csv`` into ``out_dir``, byte-deterministic."""
    out_dir.mkdir(parents=True, exist_ok=True)
    feed_path = out_dir / f"feed-{config.seed}.jsonl.gz"
    truth_path = out_dir / f"ground_truth-{config.seed}.csv"
    records, videos = _write_feed(simulate(config), feed_path)
    _write_truth(planted_trends(config), truth_path)
    return SimOutput(feed_path=feed_path, truth_path=truth_path, records=records, videos=videos)


def _write_feed(records: Iterator[dict[str, Any]], path: Path) -> tuple[int, int]:
    count, video_ids = 0, set()
    lines: list[str] = []
    # filename="" and mtime=0 keep the gzip header free of the path and the clock.
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz,
    ):
        for record in records:
            lines.append(json.dumps(record, ensure_ascii=False))
            video_ids.add(record["video_id"])
            count += 1
            if len(lines) == 5000:
                gz.write(("\n".join(lines) + "\n").encode("utf-8"))
                lines = []
        if lines:
            gz.write(("\n".join(lines) + "\n").encode("utf-8"))
    return count, len(video_ids)


def _write_truth(trends: list[PlantedTrend], path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRUTH_COLUMNS)
        for t in trends:
            onset, peak = t.onset.isoformat(), t.peak.isoformat()
            writer.writerow((t.keyword, t.display, t.kind, t.region, onset, peak, t.peak_rate))


# --------------------------------------------------------------------------------------------------------
# Planted trends
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TrendPlan:
    trend: PlantedTrend
    category: str
    artist: str  # sounds only
    onset_h: float  # hours since the start
    peak_h: float

    @staticmethod
    def draw(config: SimConfig) -> list[_TrendPlan]:
        rng = np.random.default_rng([config.seed, 1])
        n = config.n_trends
        n_sounds = round(n * config.sound_share)
        kinds = rng.permutation(["sound"] * n_sounds + ["hashtag"] * (n - n_sounds)).tolist()
        is_global = rng.permutation(np.arange(n) < round(n * config.global_share)).tolist()
        early = set(rng.choice(n, size=min(config.early_trends, n // 4), replace=False).tolist())
        used: set[str] = set()
        plans = []
        for i in range(n):
            region = "*" if is_global[i] else str(rng.choice(config.regions))
            display, artist, category = _pick_idea(rng, kinds[i], region, used)
            onset_h, peak_h = _trend_times(rng, config.hours, early=i in early)
            low, high = config.peak_rate_range
            trend = PlantedTrend(
                keyword=keyword_key(display),
                display=display,
                kind=kinds[i],
                region=region,
                onset=config.start + timedelta(hours=onset_h),
                peak=config.start + timedelta(hours=peak_h),
                peak_rate=round(float(rng.uniform(low, high)), 4),
            )
            plans.append(_TrendPlan(trend, category, artist, float(onset_h), float(peak_h)))
        return plans

    def usage(self, hours: Floats) -> Floats:
        """Share of videos carrying the trend at these times (hours since start), 1 at the peak."""
        rise = self.peak_h - self.onset_h
        s = (hours - self.onset_h) / rise
        # Logistic take-off, scaled so that it is about 1% of the peak at the onset and exactly 1 at the peak.
        up = 1 / (1 + np.exp(-8 * (s - 0.6))) * (1 + math.exp(-3.2))
        # After the peak it fades a little slower than it rose.
        down = np.exp(-(hours - self.peak_h) / (0.9 * rise + 6))
        result: Floats = np.where(hours <= self.peak_h, up, down)
        return result


def _pick_idea(rng: np.random.Generator, kind: str, region: str, used: set[str]) -> tuple[str, str, str]:
    language = "*" if region == "*" else REGIONS[region].language
    ideas = (
        [(d, "", lang, c) for d, lang, c in _TREND_HASHTAGS]
        if kind == "hashtag"
        else [(d, a, lang, c) for d, a, lang, c in _TREND_SOUNDS]
    )
    free = [idea for idea in ideas if idea[0] not in used]
    local = [idea for idea in free if idea[2] == language != "*"]
    neutral = [idea for idea in free if idea[2] == "*"]
    # A regional trend is usually in the region's own language; a global one in English.
    pool = local if local and rng.random() < 0.7 else neutral or free
    display, artist, _, category = pool[int(rng.integers(len(pool)))]
    used.add(display)
    return display, artist, category


def _trend_times(rng: np.random.Generator, hours: int, *, early: bool) -> tuple[int, int]:
    if early:
        onset = int(rng.integers(hours // 10, hours // 4 + 1))
        return onset, onset + int(rng.integers(12, 25))
    # Late trends take off in the second half and are still rising or peaking in the last day.
    onset = int(rng.integers(max(hours // 2, hours - 48), hours - 16 + 1))
    low = max(12, hours - 24 - onset)
    high = max(low, min(48, hours + 6 - onset))
    return onset, onset + int(rng.integers(low, high + 1))


# --------------------------------------------------------------------------------------------------------
# Videos: everything drawn per video, vectorized
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Authors:
    handles: list[str]
    followers: Ints
    weights: Floats  # how often each posts (Zipf: a few post a lot)


@dataclass(frozen=True)
class _Videos:
    region: Ints  # index into config.regions
    created_s: Ints  # seconds since start
    category: Ints  # index into CATEGORIES
    language: Ints  # index into LANGUAGES
    author: Ints  # index into the region's author pool
    followers: Ints
    carries: Bools  # [video, trend]
    song: Ints  # index into _songs(), -1 for an original sound
    id_low: Ints  # the random lower 32 bits of the id
    final_views: Floats
    half_life_h: Floats
    rates: Floats  # [video, 4]: likes per view, then comments, shares, saves per like
    duration_s: Floats

    @property
    def n(self) -> int:
        return len(self.created_s)


def _hourly_volume(config: SimConfig) -> Floats:
    """Expected videos per [hour, region]: regional share x local daily cycle x drift."""
    weights = np.array([REGIONS[r].weight for r in config.regions])
    weights = weights / weights.sum()
    start_hour = int(config.start.timestamp()) // 3600
    hours = np.arange(config.hours)
    offsets = np.array([REGIONS[r].utc_offset for r in config.regions])
    local = (start_hour + hours[:, None] + offsets[None, :]) % 24
    drift = 1 + config.drift * (hours + 0.5) / config.hours
    volume: Floats = config.videos_per_hour * weights[None, :] * _ACTIVITY[local] * drift[:, None]
    return volume


def _draw_videos(
    config: SimConfig, rng: np.random.Generator, plans: list[_TrendPlan]
) -> tuple[_Videos, list[_Authors]]:
    counts = rng.poisson(_hourly_volume(config))
    hour, region = np.nonzero(counts)
    repeats = counts[hour, region]
    hour, region = np.repeat(hour, repeats), np.repeat(region, repeats)
    n = len(hour)
    created_s = hour * 3600 + rng.integers(0, 3600, n)
    order = np.lexsort((region, created_s))
    region, created_s = region[order].astype(np.int64), created_s[order].astype(np.int64)
    pools, author = _draw_authors(config, rng, region)
    followers = np.zeros(n, dtype=np.int64)
    for r, pool in enumerate(pools):
        followers[region == r] = pool.followers[author[region == r]]
    carries = _draw_carries(config, rng, plans, region, created_s)
    on_trend: Bools = carries.sum(axis=1) > 0
    views, half_life, rates = _draw_engagement(rng, followers, on_trend)
    videos = _Videos(
        region=region,
        created_s=created_s,
        category=_draw_categories(rng, plans, carries),
        language=_draw_languages(config, rng, region),
        author=author,
        followers=followers,
        carries=carries,
        song=_draw_songs(config, rng, region),
        id_low=rng.integers(0, 2**32, n, dtype=np.int64),
        final_views=views,
        half_life_h=half_life,
        rates=rates,
        duration_s=np.clip(np.round(rng.lognormal(math.log(22), 0.7, n)), 5, 600),
    )
    return videos, pools


def _draw_carries(
    config: SimConfig, rng: np.random.Generator, plans: list[_TrendPlan], region: Ints, created_s: Ints
) -> Bools:
    hours = created_s / 3600.0
    carries = np.zeros((len(created_s), len(plans)), dtype=bool)
    for j, plan in enumerate(plans):
        if plan.trend.region == "*":
            reach = np.ones(len(region))
        else:
            home = config.regions.index(plan.trend.region)
            reach = np.where(region == home, 1.0, config.spillover)
        p = plan.trend.peak_rate * plan.usage(hours) * reach
        carries[:, j] = rng.random(len(region)) < p
    # A video has one sound: when two trending sounds compete, the first planted one wins.
    sounds = [j for j, plan in enumerate(plans) if plan.trend.kind == "sound"]
    taken = np.zeros(len(region), dtype=bool)
    for j in sounds:
        carries[:, j] &= ~taken
        taken |= carries[:, j]
    return carries


def _zipf(n: int, exponent: float = 1.0) -> Floats:
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** exponent
    result: Floats = weights / weights.sum()
    return result


def _draw_authors(config: SimConfig, rng: np.random.Generator, region: Ints) -> tuple[list[_Authors], Ints]:
    pools = []
    author = np.zeros(len(region), dtype=np.int64)
    for r, code in enumerate(config.regions):
        mine = np.nonzero(region == r)[0]
        pool = _author_pool(rng, REGIONS[code].language, max(200, len(mine) // 3))
        author[mine] = rng.choice(len(pool.handles), size=len(mine), p=pool.weights)
        pools.append(pool)
    return pools, author


def _author_pool(rng: np.random.Generator, language: str, size: int) -> _Authors:
    first, last = (names.split() for names in _NAMES[language])
    picks = rng.integers(0, 1000, size=(size, 5)).tolist()
    handles: list[str] = []
    seen: set[str] = set()
    for i, (a, b, c, d, pattern) in enumerate(picks):
        f, la, w = first[a % len(first)], last[b % len(last)], _HANDLE_WORDS[c % len(_HANDLE_WORDS)]
        options = (f"{f}.{la}", f"{f}{la}{d % 100:02d}", f"{f}_{w}", f"{f}{1990 + d % 20}", f"{w}.{f}{la}")
        handle = options[pattern % len(options)]
        handle = handle if handle not in seen else f"{handle}_{i % 997}"
        handle = handle if handle not in seen else f"{handle}{i}"
        seen.add(handle)
        handles.append(handle)
    followers = np.minimum(rng.lognormal(math.log(3000), 2.0, size), 8e7).astype(np.int64)
    return _Authors(handles, followers, _zipf(size, 0.7))


def _draw_categories(rng: np.random.Generator, plans: list[_TrendPlan], carries: Bools) -> Ints:
    weights = np.array([data[0] for data in _CATEGORY_DATA.values()], dtype=float)
    category = rng.choice(len(CATEGORIES), size=len(carries), p=weights / weights.sum())
    # Most videos riding a trend belong to the trend's own niche.
    follow = rng.random(len(carries)) < 0.7
    for j, plan in enumerate(plans):
        category = np.where(carries[:, j] & follow, CATEGORIES.index(plan.category), category)
    return category.astype(np.int64)


def _draw_languages(config: SimConfig, rng: np.random.Generator, region: Ints) -> Ints:
    own = np.array([LANGUAGES.index(REGIONS[r].language) for r in config.regions])[region]
    english = np.array([REGIONS[r].english_share for r in config.regions])[region]
    language: Ints = np.where(rng.random(len(region)) < english, LANGUAGES.index("en"), own)
    return language


def _draw_songs(config: SimConfig, rng: np.random.Generator, region: Ints) -> Ints:
    songs = _songs()
    base = _zipf(len(songs), 1.1)[rng.permutation(len(songs))]
    song = np.full(len(region), -1, dtype=np.int64)
    for r, code in enumerate(config.regions):
        profile = REGIONS[code]
        # Each region has its own charts: the global ranking, shaken, with local songs boosted.
        local = np.array([4.0 if lang == profile.language else 1.0 for _, _, lang in songs])
        weights = base * local * rng.lognormal(0, 0.8, len(songs))
        mine = np.nonzero(region == r)[0]
        picks = rng.choice(len(songs), size=len(mine), p=weights / weights.sum())
        original = rng.random(len(mine)) < profile.original_sound_share
        song[mine] = np.where(original, -1, picks)
    return song


def _draw_engagement(rng: np.random.Generator, followers: Ints, on_trend: Bools) -> tuple[Floats, ...]:
    n = len(followers)
    # Heavy-tailed virality: median a few thousand views, a few videos in the millions; bigger accounts
    # reach more people, and riding a trend helps.
    reach = 0.3 * (np.log1p(followers) - math.log(3000))
    log_views = rng.normal(8.0, 1.5, n) + reach + np.where(on_trend, math.log(1.8), 0.0)
    final_views = np.exp(np.minimum(log_views, math.log(3e8)))
    half_life = rng.lognormal(math.log(8), 0.6, n)
    medians = np.log([0.08, 0.015, 0.02, 0.03])  # likes/view; comments, shares, saves per like
    rates = np.exp(rng.normal(medians, [0.45, 0.6, 0.7, 0.6], size=(n, 4)))
    rates[:, 0] = np.clip(rates[:, 0], 0.005, 0.4)
    return final_views, half_life, rates


# --------------------------------------------------------------------------------------------------------
# Video text: captions, hashtags, sounds (a Python loop over pre-drawn numbers)
# --------------------------------------------------------------------------------------------------------

# Named uniform draws per video, so no decision reuses another's randomness.
_CHOICES: Final = (
    "n_tags", "n_generic", "generic_case", "text_topic", "capitalize", "emoji", "emoji_local", "mention",
    "layout", "url", "url_kind", "trend_spelling", "trend_position",
)  # fmt: skip
_SLOTS: Final = 6  # most hashtags a video gets besides planted ones


class _VideoWriter:
    """Turns the pre-drawn numbers of each video into its text fields."""

    def __init__(
        self,
        config: SimConfig,
        rng: np.random.Generator,
        videos: _Videos,
        authors: list[_Authors],
        plans: list[_TrendPlan],
    ):
        self.config, self.videos, self.authors, self.plans = config, videos, authors, plans
        self.start_ts = int(config.start.timestamp())
        self.songs = _songs()
        tail = [w + s for s in _TAIL_SUFFIXES for w in _TAIL_WORDS]
        self.tail = [tail[i] for i in rng.permutation(len(tail))]
        n = videos.n
        self.u = {name: rng.random(n).tolist() for name in _CHOICES}
        self.generic = _draw_generic_tags(config, rng, videos.region)
        self.slot_source = rng.random((n, _SLOTS)).tolist()
        self.slot_case = rng.random((n, _SLOTS)).tolist()
        self.tag_ranks = _zipf_ranks(rng, n, _SLOTS, 12, 1.0)
        self.tail_ranks = _zipf_ranks(rng, n, _SLOTS, len(self.tail), 1.1)
        self.word_ranks = _zipf_ranks(rng, n, 2, 40, 1.0)
        self.emoji_ranks = _zipf_ranks(rng, n, 3, len(_EMOJI), 1.0)
        self.tokens = rng.integers(0, 2**62, size=(n, 4)).tolist()
        self.carried: list[list[int]] = [[] for _ in range(n)]
        for i, j in zip(*np.nonzero(videos.carries), strict=True):
            self.carried[int(i)].append(int(j))

    def write_all(self) -> list[dict[str, Any]]:
        return [self.write(i) for i in range(self.videos.n)]

    def write(self, i: int) -> dict[str, Any]:
        v = self.videos
        r, category = int(v.region[i]), CATEGORIES[int(v.category[i])]
        code, language = self.config.regions[r], LANGUAGES[int(v.language[i])]
        author = self.authors[r].handles[int(v.author[i])]
        created = self.start_ts + int(v.created_s[i])
        video_id = str((created << 32) | int(v.id_low[i]))
        tags = self._hashtags(i, code, category)
        return {
            "video_id": video_id,
            "observed_at": None,
            "created_at": _iso(created),
            "region": code,
            "category": category,
            "author": author,
            "author_followers": int(v.followers[i]),
            "caption": self._caption(i, r, language, category, tags),
            "hashtags": tags,
            **self._music(i, code, author, video_id),
            "views": 0,
            "likes": 0,
            "comments": 0,
            "shares": 0,
            "saves": 0,
            "duration_s": float(v.duration_s[i]),
            "language": language,
            "cover_url": self._cover_url(i, code),
            "video_url": f"https://www.tiktok.com/@{author}/video/{video_id}",
            "source": SOURCE,
            "transcript": None,
        }

    def _hashtags(self, i: int, code: str, category: str) -> list[str]:
        u = {name: values[i] for name, values in self.u.items()}
        planted = [
            _spell_trend(self.plans[j].trend.display, u["trend_spelling"])
            for j in self.carried[i]
            if self.plans[j].trend.kind == "hashtag"
        ]
        total = max(1 + int(u["n_tags"] * _SLOTS), len(planted))
        # Most videos carry 1-3 generic reach tags; they never crowd out the planted ones.
        n_generic = 0 if u["n_generic"] < 0.2 else 1 + int((u["n_generic"] - 0.2) / 0.8 * 3)
        n_generic = min(n_generic, total - len(planted))
        tags = self.generic[i][:n_generic]
        if u["generic_case"] < 0.05:
            tags = [tag.upper() for tag in tags]
        category_tags = _CATEGORY_DATA[category][1].split()
        region_tags = _REGION_TAGS[code].split()
        for k in range(total - n_generic - len(planted)):
            source, rank = self.slot_source[i][k], self.tag_ranks[i][k]
            if source < 0.55:
                tag = category_tags[rank % len(category_tags)]
            elif source < 0.75:
                tag = region_tags[rank % len(region_tags)]
            else:
                tag = self.tail[self.tail_ranks[i][k]]
            tags.append(_spell_background(tag, self.slot_case[i][k]))
        for tag in planted:
            tags.insert(int(u["trend_position"] * (len(tags) + 1)), tag)
        # The structured list keeps each tag once (case-insensitively), like the platform does.
        return list({tag.lower(): tag for tag in reversed(tags)}.values())[::-1]

    def _caption(self, i: int, r: int, language: str, category: str, tags: list[str]) -> str:
        u = {name: values[i] for name, values in self.u.items()}
        phrases = _PHRASES[language]
        text = phrases[self.word_ranks[i][0] % len(phrases)]
        if u["text_topic"] < 0.5:
            topics = _CATEGORY_DATA[category][3][language].split("|")
            text = f"{text} {topics[self.word_ranks[i][1] % len(topics)]}"
        if u["capitalize"] < 0.4:
            text = text[0].upper() + text[1:]
        handles = self.authors[r].handles
        mention = "@" + handles[self.tokens[i][0] % len(handles)] if u["mention"] < 0.1 else ""
        hashtags = " ".join("#" + t for t in tags)
        emoji = self._emoji(i, category, u["emoji"], u["emoji_local"])
        if u["layout"] < 0.06:  # nothing but hashtags
            parts = [hashtags]
        elif u["layout"] < 0.14:  # hashtags first
            parts = [hashtags, text + emoji, mention]
        else:
            parts = [text + emoji, mention, hashtags]
        if u["url"] < 0.03:
            parts.append(self._url(i, handles[int(self.videos.author[i])], u["url_kind"]))
        return " ".join(p for p in parts if p)

    def _emoji(self, i: int, category: str, u: float, local: float) -> str:
        count = 0 if u < 0.25 else 1 if u < 0.6 else 2 if u < 0.85 else 3
        picks = [_EMOJI[k] for k in self.emoji_ranks[i][:count]]
        if picks and local < 0.4:
            picks[-1] = list(_CATEGORY_DATA[category][2])[self.tokens[i][1] % 3]
        return (" " + "".join(picks)) if picks else ""

    def _url(self, i: int, author: str, kind: float) -> str:
        if kind < 0.5:
            return f"link in bio 👉 https://linktr.ee/{author}"
        return f"shop here: https://vt.tiktok.com/ZS{_base62(self.tokens[i][2])[:7]}/"

    def _music(self, i: int, code: str, author: str, video_id: str) -> dict[str, Any]:
        for j in self.carried[i]:
            plan = self.plans[j]
            if plan.trend.kind == "sound":
                music_id = str(7_200_000_000_000_000_000 + j * 7919)
                return _music_fields(music_id, plan.trend.display, plan.artist)
        song = int(self.videos.song[i])
        if song >= 0:
            title, artist, _ = self.songs[song]
            return _music_fields(str(7_100_000_000_000_000_000 + song * 104_729), title, artist)
        label = "nhạc nền" if code == "VN" else "original sound"
        fields = _music_fields(str(int(video_id) + 1_000_003), f"{label} - {author}", author)
        fields["music_original"] = True
        return fields

    def _cover_url(self, i: int, code: str) -> str:
        asia = code == "VN"
        host, bucket = ("p16-sign-sg", "tos-alisg-p-0037") if asia else ("p16-sign-va", "tos-maliva-p-0068")
        key = f"{self.tokens[i][2]:016x}{self.tokens[i][3]:016x}"
        return f"https://{host}.tiktokcdn.com/obj/{bucket}/{key}~tplv-tiktokx-cropcenter:300:400.jpeg"


def _draw_generic_tags(config: SimConfig, rng: np.random.Generator, region: Ints) -> list[list[str]]:
    """Three generic reach tags per video from its region's mix (Vietnam favours #xuhuong)."""
    picks: list[list[str]] = [[] for _ in range(len(region))]
    for r, code in enumerate(config.regions):
        weights = dict(_GENERIC_TAGS)
        for tag, extra in _GENERIC_BY_LANGUAGE[REGIONS[code].language].items():
            weights[tag] = weights.get(tag, 0) + extra
        tags = sorted(weights)
        p = np.array([weights[t] for t in tags])
        mine = np.nonzero(region == r)[0]
        drawn = rng.choice(len(tags), size=(len(mine), 3), p=p / p.sum()).tolist()
        for i, row in zip(mine.tolist(), drawn, strict=True):
            picks[i] = [tags[k] for k in row]
    return picks


def _zipf_ranks(rng: np.random.Generator, n: int, k: int, size: int, exponent: float) -> list[list[int]]:
    ranks: list[list[int]] = rng.choice(size, size=(n, k), p=_zipf(size, exponent)).tolist()
    return ranks


def _music_fields(music_id: str, title: str, artist: str) -> dict[str, Any]:
    return {"music_id": music_id, "music_title": title, "music_author": artist, "music_original": False}


def _spell_trend(display: str, u: float) -> str:
    # People copy the trend's spelling, or type it all lower (or all upper) case.
    return display if u < 0.7 else display.lower() if u < 0.92 else display.upper()


def _spell_background(tag: str, u: float) -> str:
    return tag if u < 0.82 else tag.capitalize() if u < 0.97 else tag.upper()


def _base62(value: int) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    out = []
    while value:
        value, digit = divmod(value, 62)
        out.append(alphabet[digit])
    return "".join(out) or "0"


def _iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat()


# --------------------------------------------------------------------------------------------------------
# Observations: hourly crawls, counters on a saturating curve
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Observations:
    video: Ints  # index of the observed video
    observed_s: Ints  # seconds since start


def _draw_observations(config: SimConfig, rng: np.random.Generator, videos: _Videos) -> _Observations:
    n = videos.n
    extra = rng.choice(len(_REOBSERVATIONS), size=n, p=_REOBSERVATIONS)
    video = np.repeat(np.arange(n), 1 + extra)
    first = np.r_[0, np.cumsum(1 + extra)[:-1]]
    step = rng.choice(len(_CRAWL_GAPS), size=len(video), p=_CRAWL_GAPS) + 1
    step[first] = 0
    # The first crawl after creation, then later crawls a few hours apart.
    offset = np.cumsum(step) - np.repeat(np.cumsum(step)[first], 1 + extra)
    crawl = videos.created_s[video] // 3600 + 1 + offset
    keep = crawl <= config.hours
    observed = crawl * 3600 + rng.integers(0, _CRAWL_SPREAD_S, len(video))
    video, observed = video[keep], observed[keep]
    order = np.lexsort((video, observed))
    return _Observations(video=video[order].astype(np.int64), observed_s=observed[order].astype(np.int64))


def _counters(videos: _Videos, obs: _Observations) -> Ints:
    """[record, 5] views, likes, comments, shares, saves: one saturating curve per video, never decreasing."""
    v = obs.video
    age_h = (obs.observed_s - videos.created_s[v]) / 3600.0
    reached = videos.final_views[v] * (1 - np.exp(-age_h * math.log(2) / videos.half_life_h[v]))
    rates = videos.rates[v]
    likes = reached * rates[:, 0]
    counters = np.column_stack([reached, likes, *(likes * rates[:, k] for k in (1, 2, 3))])
    result: Ints = np.floor(counters).astype(np.int64)
    return result


def _records(
    config: SimConfig, statics: list[dict[str, Any]], videos: _Videos, obs: _Observations
) -> Iterator[dict[str, Any]]:
    start_ts = int(config.start.timestamp())
    counters = _counters(videos, obs).tolist()
    for k, (i, seconds) in enumerate(zip(obs.video.tolist(), obs.observed_s.tolist(), strict=True)):
        record = dict(statics[i])
        record["hashtags"] = list(record["hashtags"])
        record["observed_at"] = _iso(start_ts + seconds)
        views, likes, comments, shares, saves = counters[k]
        record.update(views=views, likes=likes, comments=comments, shares=shares, saves=saves)
        yield record
