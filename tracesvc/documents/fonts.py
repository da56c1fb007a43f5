"""The one CJK font every report and case file uses, carried inside the document itself.

Noto Sans CJK SC from Debian's `fonts-noto-cjk` (bookworm: 1:20220127, the same files on every
machine that installs it; `.ci/run` does). Each document embeds a subset of the Simplified-Chinese
face holding just the characters it uses, so it renders the same wherever it is opened, with or
without a Chinese font installed there, and never falls back to whatever fontconfig would pick.
Set TRACESVC_CJK_FONT_DIR to use the same files from another directory.
"""

from __future__ import annotations

import base64
import io
import os
from functools import lru_cache
from pathlib import Path

FAMILY = "TracesvcCJK"
FONT_STACK = f'"{FAMILY}", "Noto Sans CJK SC", sans-serif'
FACE_NAME = "Noto Sans CJK SC"
DEBIAN_DIR = Path("/usr/share/fonts/opentype/noto")
FILES = {"normal": "NotoSansCJK-Regular.ttc", "bold": "NotoSansCJK-Bold.ttc"}
INSTALL_HINT = "install Debian's fonts-noto-cjk (apt-get install -y fonts-noto-cjk) or set TRACESVC_CJK_FONT_DIR"


class FontMissing(RuntimeError):
    """The CJK font is not on this machine."""


def font_dir() -> Path:
    return Path(os.environ.get("TRACESVC_CJK_FONT_DIR") or DEBIAN_DIR)


@lru_cache(maxsize=4)
def _face_index(path: Path) -> int:
    """Which font of the collection is the Simplified-Chinese face."""
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(path), lazy=True)
    for n, font in enumerate(collection.fonts):
        if font["name"].getDebugName(1) == FACE_NAME:
            return n
    raise FontMissing(f"{path} holds no {FACE_NAME} face: {INSTALL_HINT}")


def font_file(weight: str = "normal") -> tuple[Path, int]:
    """(collection file, face index) of the weight; FontMissing when it is not installed."""
    path = font_dir() / FILES[weight]
    if not path.is_file():
        raise FontMissing(f"no {path}: {INSTALL_HINT}")
    return path, _face_index(path)


def available() -> bool:
    try:
        font_file()
    except FontMissing:
        return False
    return True


@lru_cache(maxsize=32)
def subset_otf(weight: str, chars: frozenset[str]) -> bytes:
    """An OpenType font of the face holding only these characters (and what shaping them needs)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    path, index = font_file(weight)
    font = TTFont(str(path), fontNumber=index)
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(chars)))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def font_face_css(text: str) -> str:
    """@font-face rules (regular and, when installed, bold) embedding the subset `text` needs."""
    chars = frozenset(ch for ch in text if ch.isprintable()) | frozenset(" ")
    rules = []
    for weight, name in FILES.items():
        if weight != "normal" and not (font_dir() / name).is_file():
            continue
        data = base64.b64encode(subset_otf(weight, chars)).decode()
        rules.append(
            f'@font-face{{font-family:"{FAMILY}";font-weight:{weight};font-style:normal;'
            f'src:url(data:font/otf;base64,{data}) format("opentype")}}'
        )
    return "\n".join(rules)
