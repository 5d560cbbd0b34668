"""What is inside a workshop ``.vpk``: its directory tree, ``addoninfo.txt`` and ``missions/*.txt``.

The tree is walked here, a block at a time, keeping only each entry's name (and where the few
text files needed lie): srctools' reader (:class:`srctools.vpk.VPK`) reads it a byte at a time
into one object per entry, which a crafted tree of millions of empty entries turns into a
minute and a gigabyte. The tree's size and its number of files are capped (MAX_TREE_BYTES,
MAX_FILES). The KeyValues text of addoninfo.txt and the mission files is parsed by srctools
(:class:`srctools.keyvalues.Keyvalues`), fed as the game reads it (see :func:`keyvalues_parse`).
Names are data: an entry name is kept as :func:`entry_name` escapes it.
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
from typing import Any, BinaryIO

from srctools.keyvalues import KeyValError, Keyvalues
from srctools.tokenizer import IterTokenizer, Token, Tokenizer
from srctools.vpk import VPK_SIG, get_arch_filename

NOT_A_VPK = "not a valid VPK"
GAME_MODES = ("coop", "versus", "survival", "scavenge", "realism")
# The tree of a real addon is a few MiB at most; more is a corrupt or hostile header.
MAX_TREE_BYTES = 64 * 2**20
MAX_TEXT_BYTES = 2**20  # addoninfo.txt and a mission file are a few KiB
# Files in one VPK: Left 4 Dead 2's own pak01_dir.vpk, the whole game, holds about 40,000; a big
# campaign addon a few thousand. 200,000 keeps four times the game's room, and reading that many
# names stays well under 64 MiB (bench/vpk_tree.py). More is a crafted tree.
MAX_FILES = 200_000
MAX_MISSIONS = 64  # missions/*.txt read per VPK (an addon has one per campaign)
_MAX_NAME = 4096  # bytes in one part of a name (Windows paths stop at 260)
_BLOCK = 2**20  # the tree is read this many bytes at a time
_ENTRY = struct.Struct("<IHHIIH")  # crc, preload bytes, archive, offset, length, terminator
_ENTRY_END = 0xFFFF
_IN_THE_DIR_FILE = 0x7FFF  # the archive index of data kept in the directory file itself
_MAP_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_PLAIN = re.compile(rb"[\x20-\x5b\x5d-\x7e]*")  # printable ASCII but the backslash: kept as it is
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
    left_out: list[str] = field(default_factory=list)  # its Map values that are not map names

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
    sums: list[tuple[int, int]] = field(default_factory=list)  # (CRC32, bytes) of each of `paths`

    @property
    def file_count(self) -> int:
        return len(self.paths)

    @property
    def maps(self) -> list[str]:
        """The maps it ships (``maps/<name>.bsp``), campaign maps or not, whose names are map names."""
        return [name for name in self._bsp_names if is_map_name(name)]

    @property
    def maps_left_out(self) -> list[str]:
        """Names of maps it ships or its campaigns name that are not map names, escaped."""
        bad = [name for name in self._bsp_names if not is_map_name(name)]
        return list(dict.fromkeys([*bad, *(name for c in self.campaigns for name in c.left_out)]))

    @property
    def _bsp_names(self) -> list[str]:
        return [
            p[5:-4] for p in self.paths if p.startswith("maps/") and p.endswith(".bsp") and "/" not in p[5:]
        ]

    @property
    def has_vscripts(self) -> bool:
        return any(path.startswith("scripts/vscripts/") for path in self.paths)


def vpk_read(path: Path | str) -> VpkContents:
    """Read the VPK at `path` (a single file or a ``*_dir.vpk``); raises NotAVpk."""
    tree = _read_tree(Path(path))
    info = _addoninfo(tree, tree.texts.get("addoninfo.txt"))
    campaigns = [
        _campaign(tree, name, entry) for name, entry in sorted(tree.texts.items()) if _is_mission(name)
    ]
    if tree.missions_left_out:
        campaigns.append(Campaign(file="missions/", problem=_too_many_missions(tree.missions_left_out)))
    files = sorted(zip(tree.paths, tree.sums, strict=True))
    return VpkContents(
        paths=[path for path, _sum in files],
        sums=[sum_ for _path, sum_ in files],
        campaigns=campaigns,
        **info,
    )


def vpk_check(path: Path | str) -> None:
    """Raise NotAVpk unless `path` holds a VPK whose tree parses and whose data fits the file."""
    _read_tree(Path(path))


def entry_name(raw: bytes) -> str:
    """A VPK entry's name as stored and shown: its UTF-8 text, with a backslash doubled, a byte
    that is not UTF-8 or an ASCII control character written ``\\xNN`` and any other character
    that does not print (a line separator, a zero-width or right-to-left mark) ``\\uNNNN``.
    Authors' names are data: each is kept whole (the escaping can be undone), on one line, and
    shows what it holds."""
    if _PLAIN.fullmatch(raw):
        return raw.decode()
    text = raw.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace")
    return text if text.isprintable() else "".join(map(_printable, text))


def _printable(char: str) -> str:
    if char.isprintable():
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def paths_pack(paths: Iterable[str]) -> bytes:
    """The paths, compressed for storage (zlib of the newline-joined list)."""
    return zlib.compress("\n".join(paths).encode(), 6)


def paths_unpack(blob: bytes | memoryview | None) -> list[str]:
    if not blob:
        return []
    text = zlib.decompress(bytes(blob)).decode()
    return text.split("\n") if text else []


def sums_pack(sums: Iterable[tuple[int, int]]) -> bytes:
    """Each file's CRC32 and size as the tree gives them, compressed for storage."""
    return zlib.compress("\n".join(f"{crc:08x} {size}" for crc, size in sums).encode(), 6)


def sums_unpack(blob: bytes | memoryview | None) -> list[tuple[int, int]]:
    if not blob:
        return []
    text = zlib.decompress(bytes(blob)).decode()
    lines = text.split("\n") if text else []
    return [(int(crc, 16), int(size)) for crc, size in (line.split(" ") for line in lines)]


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """Where one file's bytes are: `preload` in the tree, then `arch_len` bytes at `offset` of
    the data after the tree (arch_index None) or of archive ``<prefix>_<arch_index>.vpk``."""

    preload: bytes
    arch_index: int | None
    offset: int
    arch_len: int
    crc: int = 0

    @property
    def size(self) -> int:
        return len(self.preload) + self.arch_len


@dataclass
class _Tree:
    path: Path
    data_start: int  # where the data after the tree starts in the directory file
    paths: list[str] = field(default_factory=list)  # every entry's name, lowercased (entry_name)
    sums: list[tuple[int, int]] = field(default_factory=list)  # (CRC32, bytes) of each of `paths`
    texts: dict[str, _Entry] = field(default_factory=dict)  # addoninfo.txt and missions/*.txt
    missions_left_out: int = 0


def _read_tree(path: Path) -> _Tree:
    """The tree, read a block at a time: each entry is checked and only its name kept (and the
    few text files' places), so memory follows the number of files, never the tree's size."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        start, tree_len = _header(file.read(_HEADER_V1.size + _HEADER_V2_EXTRA.size), size)
        file.seek(start)
        tree = _Tree(path=path, data_start=start + tree_len)
        blocks = _Blocks(file, tree_len)
        for name, entry in _entries(blocks):
            _add(tree, name, entry, data_bytes=size - tree.data_start)
    return tree


def _header(header: bytes, size: int) -> tuple[int, int]:
    """Where the tree starts and how many bytes it takes, from the first bytes of the file."""
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
    return start, int(tree_len)


class _Blocks:
    """The tree's bytes, read from the file a block at a time."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self.file, self.left, self.buffer, self.at = file, length, b"", 0

    def string(self) -> bytes:
        """The next NUL-terminated string."""
        while (end := self.buffer.find(b"\0", self.at)) < 0:
            if len(self.buffer) - self.at > _MAX_NAME:
                raise _BadTree(f"a name longer than {_MAX_NAME} bytes")
            self._more()
        text, self.at = self.buffer[self.at : end], end + 1
        return text

    def entry(self) -> tuple[int, int, int, int, int, int]:
        """The fixed part of an entry after its name."""
        if len(self.buffer) - self.at < _ENTRY.size:
            self._more()
        fields, self.at = _ENTRY.unpack_from(self.buffer, self.at), self.at + _ENTRY.size
        return fields

    def take(self, n: int) -> bytes:
        while len(self.buffer) - self.at < n:
            self._more()
        data, self.at = self.buffer[self.at : self.at + n], self.at + n
        return data

    def _more(self) -> None:
        block = self.file.read(min(_BLOCK, self.left)) if self.left else b""
        if not block:
            raise _BadTree("it ends inside an entry")
        self.left -= len(block)
        self.buffer, self.at = self.buffer[self.at :] + block, 0


class _BadTree(ValueError):
    pass


def _entries(blocks: _Blocks) -> Iterator[tuple[bytes, _Entry]]:
    """(raw name, entry) of each file: the tree is extension, then folder, then file name, each
    list ended by an empty string (a blank part is written " ")."""
    try:
        while ext := blocks.string():
            while folder := blocks.string():
                while name := blocks.string():
                    yield _joined(folder, name, ext), _entry(blocks, (folder, name, ext))
    except (_BadTree, struct.error) as exc:
        raise NotAVpk(f"{NOT_A_VPK}: the tree does not parse ({exc})") from exc


def _entry(blocks: _Blocks, parts: tuple[bytes, bytes, bytes]) -> _Entry:
    crc, preload_len, arch, offset, arch_len, end = blocks.entry()
    if end != _ENTRY_END:
        raise _BadTree(f"{entry_name(_joined(*parts))} has a bad terminator")
    preload = blocks.take(preload_len)
    arch_index = None if arch == _IN_THE_DIR_FILE else arch
    return _Entry(preload, arch_index, offset if arch_len else 0, arch_len, crc)


def _joined(folder: bytes, name: bytes, ext: bytes) -> bytes:
    folder, name, ext = (b"" if part == b" " else part for part in (folder, name, ext))
    return folder + (b"/" if folder else b"") + name + (b"." if ext else b"") + ext


def _add(tree: _Tree, raw: bytes, entry: _Entry, *, data_bytes: int) -> None:
    name = entry_name(raw).lower()
    if len(tree.paths) == MAX_FILES:
        raise NotAVpk(f"{NOT_A_VPK}: more than {MAX_FILES} files")
    if entry.arch_index is None and entry.arch_len and entry.offset + entry.arch_len > data_bytes:
        raise NotAVpk(f"{NOT_A_VPK}: {name} lies past the end of the file")
    tree.paths.append(name)
    tree.sums.append((entry.crc, entry.size))
    if name == "addoninfo.txt" or _is_mission(name):
        if len(tree.texts) < MAX_MISSIONS:
            tree.texts[name] = entry
        else:
            tree.missions_left_out += 1


def _is_mission(name: str) -> bool:
    return name.startswith("missions/") and name.endswith(".txt")


def _too_many_missions(left_out: int) -> str:
    return f"more than {MAX_MISSIONS} mission files: {left_out} not read"


def _read_member(tree: _Tree, name: str, entry: _Entry) -> bytes:
    if len(entry.preload) + entry.arch_len > MAX_TEXT_BYTES:
        raise ValueError(f"{name} is {len(entry.preload) + entry.arch_len} bytes, too big to be a text file")
    if not entry.arch_len:
        return entry.preload
    if entry.arch_index is None:
        where, offset = tree.path, tree.data_start + entry.offset
    else:
        prefix = tree.path.name.removesuffix("_dir.vpk")
        where, offset = tree.path.with_name(get_arch_filename(prefix, entry.arch_index)), entry.offset
    with open(where, "rb") as file:
        file.seek(offset)
        return entry.preload + file.read(entry.arch_len)


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
    """The text without its NULs (a database's text and JSON cannot hold them)."""
    codec = next((codec for bom, codec in _BOMS if raw.startswith(bom)), "utf-8")
    return raw.decode(codec, errors="replace").replace("\0", "")


def _game_tokens(tokens: Tokenizer) -> Iterator[tuple[Token, str]]:
    """The tokens without their line breaks, but the one srctools wants after a ``[$FLAG]``."""
    for token, value in tokens:
        if token is not Token.NEWLINE:
            yield token, value
        if token is Token.PROP_FLAG:
            yield Token.NEWLINE, "\n"


def _keyvalues(tree: _Tree, name: str, entry: _Entry) -> Keyvalues:
    return keyvalues_parse(_read_member(tree, name, entry), name)


def _addoninfo(tree: _Tree, entry: _Entry | None) -> dict[str, Any]:
    if entry is None:
        return {"addoninfo_problem": "no addoninfo.txt"}
    try:
        root = _keyvalues(tree, "addoninfo.txt", entry)
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


def _campaign(tree: _Tree, file: str, entry: _Entry) -> Campaign:
    try:
        root = _keyvalues(tree, file, entry)
        mission = root.find_block("mission")
    except Exception as exc:
        return Campaign(file=file, problem=f"{file} unreadable: {_short(exc)}")
    name = mission["DisplayTitle", ""] or mission["Name", ""] or file
    modes_block = mission.find_block("modes", or_blank=True)
    named = {mode: _maps(modes_block.find_block(mode, or_blank=True)) for mode in GAME_MODES}
    modes = {mode: [m for m in maps if is_map_name(m)] for mode, maps in named.items()}
    left_out = [entry_name(m.encode()) for maps in named.values() for m in maps if not is_map_name(m)]
    return Campaign(
        file=file,
        name=name,
        modes={mode: maps for mode, maps in modes.items() if maps},
        left_out=list(dict.fromkeys(left_out)),
    )


def is_map_name(name: str) -> bool:
    """Whether a Source server takes `name` as a map name (``map <name>``, a line of maps.txt)."""
    return _MAP_NAME.fullmatch(name) is not None


def _maps(mode: Keyvalues) -> list[str]:
    """The maps of one game mode in chapter order (the blocks are numbered "1", "2", ...)."""
    chapters = [
        (_number(chapter.real_name), chapter["Map", ""]) for chapter in mode if chapter.has_children()
    ]
    return [name for _order, name in sorted(chapters, key=lambda pair: pair[0]) if name]


def _number(text: str) -> int:
    match = re.match(r"\d+", text.strip())
    return int(match.group()) if match else 1_000_000
