"""What is inside a workshop ``.vpk``: its directory tree, ``addoninfo.txt`` and ``missions/*.txt``.

srctools parses the tree (:class:`srctools.vpk.VPK`) and the KeyValues text of addoninfo.txt and
the mission files (:class:`srctools.keyvalues.Keyvalues`): one maintained library made for
Source engine files covers both. The KeyValues text is read as the game reads it (see
:func:`keyvalues_parse`). Only the header and the tree are read: srctools would read the
rest of a single-file VPK (all its file data, up to gigabytes) into memory, so it is handed a
copy of the header and tree held in an anonymous memory file, and the few small text files
needed are read from the real file at their offsets.
"""

from __future__ import annotations

import codecs
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srctools.keyvalues import KeyValError, Keyvalues
from srctools.tokenizer import IterTokenizer, Token, Tokenizer
from srctools.vpk import VPK, VPK_SIG, FileInfo, get_arch_filename

NOT_A_VPK = "not a valid VPK"
GAME_MODES = ("coop", "versus", "survival", "scavenge", "realism")
# The tree of a real addon is a few MiB at most; more is a corrupt or hostile header.
MAX_TREE_BYTES = 64 * 2**20
MAX_TEXT_BYTES = 2**20  # addoninfo.txt and a mission file are a few KiB
_HEADER_V1 = struct.Struct("<III")
_HEADER_V2_EXTRA = struct.Struct("<4I")
_CONTENT_PREFIX = "addoncontent_"
# ``[$X360]``-style conditions, as the game on a PC answers them (others are false).
_CONDITIONS = {"$win32": True, "$windows": True, "$x360": False, "$ps3": False, "$gameconsole": False}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class NotAVpk(ValueError):
    """The file is not a readable VPK; ``str()`` starts with ``not a valid VPK``."""


@dataclass(frozen=True)
class Campaign:
    """One ``missions/*.txt``: the campaign's name and, per game mode, its maps in order."""

    file: str
    name: str = ""
    modes: dict[str, list[str]] = field(default_factory=dict)
    problem: str = ""  # why the file could not be read ("" when it was)

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "modes": self.modes, "problem": self.problem}


@dataclass(frozen=True)
class VpkContents:
    """What one VPK holds, as stored per item version (WorkshopItemContents)."""

    title: str = ""
    addon_version: str = ""
    author: str = ""
    flags: list[str] = field(default_factory=list)  # "campaign", "map", "survivor", ...
    campaigns: list[Campaign] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    addoninfo_problem: str = ""

    @property
    def file_count(self) -> int:
        return len(self.paths)

    @property
    def has_vscripts(self) -> bool:
        return any(path.startswith("scripts/vscripts/") for path in self.paths)


def vpk_read(path: Path | str) -> VpkContents:
    """Read the VPK at `path` (a single file or a ``*_dir.vpk``); raises NotAVpk."""
    tree = _read_tree(Path(path))
    infos = list(tree.vpk)
    paths = sorted(info.filename.lower() for info in infos)
    by_path = {info.filename.lower(): info for info in infos}
    info = _addoninfo(tree, by_path.get("addoninfo.txt"))
    campaigns = [
        _campaign(tree, by_path[name])
        for name in paths
        if name.startswith("missions/") and name.endswith(".txt")
    ]
    return VpkContents(paths=paths, campaigns=campaigns, **info)


def vpk_check(path: Path | str) -> None:
    """Raise NotAVpk unless `path` holds a VPK whose tree parses and whose data fits the file."""
    _read_tree(Path(path))


def paths_pack(paths: Iterable[str]) -> bytes:
    """The paths, compressed for storage (zlib of the newline-joined list)."""
    return zlib.compress("\n".join(paths).encode(), 6)


def paths_unpack(blob: bytes | memoryview | None) -> list[str]:
    if not blob:
        return []
    text = zlib.decompress(bytes(blob)).decode()
    return text.split("\n") if text else []


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tree:
    vpk: VPK
    path: Path
    data_start: int  # where the data after the tree starts in the directory file


def _read_tree(path: Path) -> _Tree:
    with open(path, "rb") as file:
        header = file.read(_HEADER_V1.size + _HEADER_V2_EXTRA.size)
        size = os.fstat(file.fileno()).st_size
        header_len = _header(header, size)
        file.seek(0)
        head = file.read(header_len)
    vpk = _parse(head)
    _check_bounds(vpk, size - header_len)
    return _Tree(vpk=vpk, path=path, data_start=header_len)


def _header(header: bytes, size: int) -> int:
    """How many bytes the header and tree take, from the first bytes of the file."""
    if len(header) < _HEADER_V1.size:
        raise NotAVpk(f"{NOT_A_VPK}: {size} bytes, too short for a header")
    signature, version, tree_len = _HEADER_V1.unpack_from(header)
    if signature != VPK_SIG:
        raise NotAVpk(f"{NOT_A_VPK}: bad magic {header[:4].hex()}")
    if version not in (1, 2):
        raise NotAVpk(f"{NOT_A_VPK}: unknown version {version}")
    start = _HEADER_V1.size + (_HEADER_V2_EXTRA.size if version == 2 else 0)
    if tree_len > MAX_TREE_BYTES or start + tree_len > size:
        raise NotAVpk(f"{NOT_A_VPK}: tree of {tree_len} bytes does not fit a {size}-byte file")
    return start + int(tree_len)


def _parse(head: bytes) -> VPK:
    """srctools' parse of the header and tree alone, from a memory file (so it reads no data)."""
    fd = os.memfd_create("vpk-tree", os.MFD_CLOEXEC)
    try:
        os.write(fd, head)
        try:
            return VPK(f"/proc/self/fd/{fd}", mode="r")
        except Exception as exc:  # srctools raises bare Exception, ValueError, struct.error...
            raise NotAVpk(f"{NOT_A_VPK}: the tree does not parse ({_short(exc)})") from exc
    finally:
        os.close(fd)


def _check_bounds(vpk: VPK, data_bytes: int) -> None:
    """Data kept in the file itself must lie inside it: a cut or padded upload fails here."""
    for info in vpk:
        if info.arch_index is None and info.arch_len and info.offset + info.arch_len > data_bytes:
            raise NotAVpk(f"{NOT_A_VPK}: {info.filename} lies past the end of the file")


def _read_member(tree: _Tree, info: FileInfo) -> bytes:
    if info.size > MAX_TEXT_BYTES:
        raise ValueError(f"{info.filename} is {info.size} bytes, too big to be a text file")
    if not info.arch_len:
        return info.start_data
    if info.arch_index is None:
        where, offset = tree.path, tree.data_start + info.offset
    else:
        prefix = tree.path.name.removesuffix("_dir.vpk")
        where, offset = tree.path.with_name(get_arch_filename(prefix, info.arch_index)), info.offset
    with open(where, "rb") as file:
        file.seek(offset)
        return info.start_data + file.read(info.arch_len)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return text[:200]


# --- addoninfo.txt and missions/*.txt -------------------------------------------------------------


def keyvalues_parse(raw: bytes, filename: str) -> Keyvalues:
    """A KeyValues file of an addon as the game reads it.

    Valve's reader takes tokens, not lines: several pairs on one line, a block on one line or a
    whole file on one line are valid. Keys match in any case (srctools folds them), ``//``
    comments and ``[$X360]``-style conditions are honoured, backslashes are text (the game reads
    these files without escapes). The bytes are UTF-16 when they start with its BOM, else UTF-8
    (a BOM or none; a byte that is not UTF-8 becomes U+FFFD)."""
    tokens = Tokenizer(_text(raw), filename, KeyValError, string_bracket=True, allow_escapes=False)
    return Keyvalues.parse(
        IterTokenizer(_game_tokens(tokens), filename, KeyValError),
        filename,
        flags=_CONDITIONS,
        single_line=True,
    )


def _text(raw: bytes) -> str:
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            return raw.decode(codec, errors="replace")
    return raw.decode("utf-8", errors="replace")


def _game_tokens(tokens: Tokenizer) -> Iterator[tuple[Token, str]]:
    """The tokens without their line breaks, but the one srctools wants after a ``[$FLAG]``."""
    for token, value in tokens:
        if token is not Token.NEWLINE:
            yield token, value
        if token is Token.PROP_FLAG:
            yield Token.NEWLINE, "\n"


def _keyvalues(tree: _Tree, info: FileInfo) -> Keyvalues:
    return keyvalues_parse(_read_member(tree, info), info.filename)


def _addoninfo(tree: _Tree, info: FileInfo | None) -> dict[str, Any]:
    if info is None:
        return {"addoninfo_problem": "no addoninfo.txt"}
    try:
        root = _keyvalues(tree, info)
    except Exception as exc:  # a malformed file of the addon's, never a failure of the read
        return {"addoninfo_problem": f"addoninfo.txt unreadable: {_short(exc)}"}
    values = {kv.name: kv.value for kv in _leaves(root)}
    return {
        "title": values.get("addontitle", "")[:255],
        "addon_version": values.get("addonversion", "")[:64],
        "author": values.get("addonauthor", "")[:255],
        "flags": sorted(
            name.removeprefix(_CONTENT_PREFIX)
            for name, value in values.items()
            if name.startswith(_CONTENT_PREFIX) and value.strip() not in ("", "0")
        ),
    }


def _leaves(root: Keyvalues) -> Iterable[Keyvalues]:
    """The key/value pairs of the file's block (``"AddonInfo" { ... }``), names lowercased."""
    for block in root:
        if block.has_children():
            yield from (kv for kv in block if not kv.has_children())
        else:
            yield block


def _campaign(tree: _Tree, info: FileInfo) -> Campaign:
    file = info.filename.lower()
    try:
        root = _keyvalues(tree, info)
        mission = root.find_block("mission")
    except Exception as exc:
        return Campaign(file=file, problem=f"{file} unreadable: {_short(exc)}")
    name = mission["DisplayTitle", ""] or mission["Name", ""] or file
    modes_block = mission.find_block("modes", or_blank=True)
    modes = {mode: _maps(modes_block.find_block(mode, or_blank=True)) for mode in GAME_MODES}
    return Campaign(file=file, name=name, modes={mode: maps for mode, maps in modes.items() if maps})


def _maps(mode: Keyvalues) -> list[str]:
    """The maps of one game mode in chapter order (the blocks are numbered "1", "2", ...)."""
    chapters = [
        (_number(chapter.real_name), chapter["Map", ""]) for chapter in mode if chapter.has_children()
    ]
    return [name for _order, name in sorted(chapters, key=lambda pair: pair[0]) if name]


def _number(text: str) -> int:
    match = re.match(r"\d+", text.strip())
    return int(match.group()) if match else 1_000_000
