"""Real VPK files for tests and benchmarks, written with srctools (the library left4me reads them with).

Three layouts: ``single`` (srctools' own single file: every file's bytes inside the tree),
``footer`` (what Valve's vpk.exe makes for an addon: the bytes after the tree, entries pointing
at them) and ``dir`` (``<name>_dir.vpk`` plus ``<name>_000.vpk`` holding the data).
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from srctools.vpk import VPK

Files = Mapping[str, bytes | str]


def addoninfo(
    title: str, *, version: str = "1.0", author: str = "someone", flags: Iterable[str] = ("campaign", "map")
) -> str:
    """addoninfo.txt in KeyValues, with ``addonContent_<flag> 1`` for each flag."""
    lines = [f'\taddontitle "{title}"', f'\taddonversion "{version}"', f'\taddonauthor "{author}"']
    lines += [f"\taddonContent_{flag.capitalize()} 1" for flag in flags]
    return '"AddonInfo"\n{\n\taddonSteamAppID 550\n' + "\n".join(lines) + "\n}\n"


def mission(name: str, modes: Mapping[str, Sequence[str]], *, title: str = "") -> str:
    """missions/<name>.txt in KeyValues: per mode, numbered chapter blocks naming each map."""
    blocks = []
    for mode, maps in modes.items():
        chapters = "".join(
            f'\t\t\t"{n}"\n\t\t\t{{\n\t\t\t\t"Map" "{m}"\n\t\t\t}}\n' for n, m in enumerate(maps, 1)
        )
        blocks.append(f'\t\t"{mode}"\n\t\t{{\n{chapters}\t\t}}\n')
    head = f'\t"Name" "{name}"\n' + (f'\t"DisplayTitle" "{title}"\n' if title else "")
    return f'"mission"\n{{\n{head}\t"modes"\n\t{{\n{"".join(blocks)}\t}}\n}}\n'


def build_vpk(path: Path, files: Files, *, layout: str = "single", size: int | None = None) -> Path:
    """Write a VPK holding `files` at `path` (for ``dir``: ``<path stem>_dir.vpk``); its path.

    `size` pads a ``footer`` file to that many bytes with a hole (sparse: costs no disk)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout == "dir":
        target = path.with_name(path.name.removesuffix(".vpk").removesuffix("_dir") + "_dir.vpk")
        vpk = VPK(target, mode="w", dir_data_limit=0)
        for name, data in files.items():
            vpk.add_file(name, _bytes(data), arch_index=0)
        vpk.write_dirfile()
        return target
    vpk = VPK(path, mode="w")
    if layout == "footer":
        _footer(vpk, files)
    else:
        for name, data in files.items():
            vpk.add_file(name, _bytes(data))
    vpk.write_dirfile()
    if size is not None:
        os.truncate(path, size)
    return path


def vpk_bytes(tmp: Path, files: Files, *, layout: str = "single") -> bytes:
    return build_vpk(tmp / "built.vpk", files, layout=layout).read_bytes()


def vpk_holding(data: bytes, name: str = "data.bin") -> bytes:
    """The bytes of a small VPK holding one file of `data` (for download tests that need the
    bytes to differ between uploads, yet be a VPK)."""
    with tempfile.TemporaryDirectory() as tmp:
        return vpk_bytes(Path(tmp), {name: data})


def _footer(vpk: VPK, files: Files) -> None:
    data = bytearray()
    for name, content in files.items():
        raw = _bytes(content)
        info = vpk.new_file(name)
        info.crc, info.arch_index, info.offset, info.arch_len = zlib.crc32(raw), None, len(data), len(raw)
        data += raw
    vpk.footer_data = bytes(data)


def _bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else data


def many_empty_entries(path: Path, count: int) -> Path:
    """A VPK of `count` empty files with distinct 3-byte names in one folder (any byte but NUL:
    most names are not UTF-8), written directly: a crafted tree no tool would make, packed as
    densely as the format allows (22 bytes an entry; 3,000,000 of them are a 63 MiB tree)."""
    entry = struct.pack("<IHHIIH", 0, 0, 0x7FFF, 0, 0, 0xFFFF)
    size = 3 + 1 + len(entry)  # name, NUL, entry
    if count > 255**3:
        raise ValueError(f"at most {255**3} distinct 3-byte names")
    # Built a column at a time (the k-th entry's name is its index in base 255, digits 1 to 255):
    # 3,000,000 entries in under a second, where a loop over them took 4 s.
    entries = bytearray(size * count)
    digits = bytes(range(1, 256))
    for place, weight in enumerate((255 * 255, 255, 1)):
        column = b"".join(bytes([d]) * weight for d in digits[: count // weight + 1])
        column *= count // len(column) + 1
        entries[place::size] = column[:count]
    for offset, byte in enumerate(entry):
        entries[4 + offset :: size] = bytes([byte]) * count
    tree = b"dat\0folder\0" + bytes(entries) + b"\0\0\0"
    path.write_bytes(struct.pack("<III", 0x55AA1234, 1, len(tree)) + tree)
    return path
