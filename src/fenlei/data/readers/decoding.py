"""Bytes to text, block by block: BOM rules, binary and archive detection, .gz unpacking, and
decode errors that name their line.

Every reader reads its file through ``decode`` (text chunks) and ``lines`` or ``csv_lines``; no
file is held whole. A problem is raised where it is met, after the text before it: the rows
before a bad byte are read first, so an error is the same for every BLOCK size. The one
exception is a NUL byte: anywhere in a file it means binary data, which also explains any
undecodable byte before it. ``read_text`` is the whole file joined, for small files.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from fenlei.data.readers.registry import config_key, fail
from fenlei.errors import DataError, brief

BLOCK = 1 << 23  # bytes decoded at a time: big enough for speed, small next to a large file
WIDE_CODECS = ("utf-16", "utf-32")  # NUL bytes are normal in these, so no binary check
# the BOMs that mean a wide encoding; UTF-32-LE's begins with UTF-16-LE's, so it is tried first
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_MAGIC = (
    (b"\x1f\x8b", "is a binary gzip file; name it .gz (fenlei unpacks .gz files) or unpack it"),
    (b"PK\x03\x04", "is a binary zip archive; unpack it and give the file inside"),
    (b"BZh", "is a binary bzip2 file; unpack it (bunzip2)"),
    (b"\xfd7zXZ\x00", "is a binary xz file; unpack it (unxz)"),
)
_HEAD = 8  # bytes that hold any BOM or archive magic above
_HIGH = re.compile(rb"[\x80-\xff]")
_BINARY = "looks like a binary file (NUL byte); give a text file (tsv, csv, jsonl)"
Read = Callable[[], bytes]


def decode(path: Path, encoding: str, split: str = "train", allow_empty: bool = False) -> Iterator[str]:
    """The file's text in chunks of about BLOCK bytes (a .gz file unpacked); a one-line DataError
    for a missing, binary, undecodable (or, unless ``allow_empty``, empty) file, naming the line.

    A UTF-8 BOM is dropped. Under the default utf-8, a UTF-16/32 BOM picks that codec (Windows
    Notepad's "Unicode" files); a NUL byte anywhere else means the file is not text.
    """
    codec = _codec(path, encoding, split)
    f, read = _open(path)
    with f:
        head = read()
        while head and len(head) < _HEAD and (more := read()):
            head += more
        block, codec = _bom(head, codec)
        wide = codec.startswith(WIDE_CODECS)
        decoder = codecs.getincrementaldecoder(codec)()
        offset = newlines = 0  # bytes (BOM excluded) and LFs before ``block``; wide: LFs decoded
        first_high = None  # offset of the first non-ASCII byte: did any multi-byte text decode?
        content = bool(head.strip())
        held: list[str] = []  # text of a file that is only whitespace so far: it may yet be "empty"

        def decode_error(err: UnicodeDecodeError, block: bytes, buffered: int, done: str) -> DataError:
            at = err.start - buffered  # in ``block``; below 0: in bytes the previous block left
            more, nul = _rest(block, at, read, not wide) if not (wide and content) else (True, None)
            if not allow_empty and not content and not more:
                return DataError(f"{path} is empty; give a file with a header and at least one row")
            if nul is not None:
                return fail(path, newlines + nul + 1, _packed(head) or _BINARY)
            line = newlines + (done.count("\n") if wide else block.count(b"\n", 0, max(at, 0))) + 1
            mixed = first_high is not None and first_high < offset + at
            return fail(path, line, _decode_hint(err, encoding, _packed(head), mixed))

        while block:
            content = content or bool(block.strip())
            if first_high is None and not wide and not block.isascii():
                first_high = offset + _HIGH.search(block).start()
            nul = -1 if wide else block.find(b"\x00")
            part = block if nul < 0 else block[:nul]
            buffered = len(decoder.getstate()[0])
            try:
                text = decoder.decode(part)
            except UnicodeDecodeError as err:
                done = decoder.decode(part[: max(err.start - buffered, 0)])
                if content:
                    yield "".join(held) + done
                raise decode_error(err, block, buffered, done) from None
            newlines += text.count("\n") if wide else block.count(b"\n")
            if content:
                if held:
                    text, held = "".join(held) + text, []
                yield text
            else:
                held.append(text)
            if nul >= 0:
                raise fail(path, newlines - block.count(b"\n", nul) + 1, _packed(head) or _BINARY)
            offset += len(block)
            block = read()
        buffered = len(decoder.getstate()[0])
        try:
            text = decoder.decode(b"", final=True)
        except UnicodeDecodeError as err:  # a multi-byte character cut off by the end of the file
            raise decode_error(err, b"", buffered, "") from None
        if not content and not allow_empty:
            raise DataError(f"{path} is empty; give a file with a header and at least one row")
        if held or text:
            yield "".join(held) + text


def read_text(path: Path, encoding: str, split: str = "train", allow_empty: bool = False) -> str:
    """The whole file decoded, for small files (one review, ``predict --file``); see ``decode``."""
    return "".join(decode(path, encoding, split, allow_empty))


def lines(path: Path, encoding: str, split: str = "train") -> Iterator[str]:
    """The file's lines as ``split_lines`` splits them, decoded block by block."""

    def cr_only(text: str) -> bool:
        # the classic Mac rule looks at the whole file: a CR here makes it worth a pass to look for LF
        return "\n" not in text and _cr_only(path, encoding, split)

    return _split(decode(path, encoding, split), cr_only)


def split_lines(text: str) -> list[str]:
    """Lines split on LF only, CR stripped: str.splitlines would also split on U+2028 and friends.

    A file with CR but no LF at all has classic Mac line ends, and is split on CR instead.
    """
    return list(_split([text], lambda _: "\n" not in text and "\r" in text.rstrip("\r")))


def csv_lines(path: Path, encoding: str, split: str = "train") -> Iterator[str]:
    """The file's lines with their line ends, split as ``open(newline="")`` splits (LF, CRLF or CR),
    which is what the csv module counts lines by and needs for a line break inside a quoted field."""
    pending: list[str] = []
    for text in decode(path, encoding, split):
        if "\n" not in text and "\r" not in text and not (pending and pending[-1].endswith("\r")):
            pending.append(text)  # as in _split; a CR before it, though, ended a line
            continue
        found = io.StringIO("".join(pending) + text if pending else text, newline="").readlines()
        # the last line may go on in the next chunk, and its CR may be half of a CRLF
        pending = [] if found[-1].endswith("\n") else [found.pop()]
        yield from found
    if pending:
        yield from io.StringIO("".join(pending), newline="").readlines()


def head_bytes(path: Path, size: int = 65536) -> bytes:
    """Up to ``size`` bytes from the start of the file (unpacked if .gz); b"" if it cannot be read.

    Only for guessing a format: the reader reports what is wrong, with a line number.
    """
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read(size)
        with path.open("rb") as f:
            return f.read(size)
    except (OSError, EOFError, zlib.error):
        return b""


def data_suffix(path: Path) -> str:
    """The suffix that names the format: ``.tsv`` for both ``a.tsv`` and ``a.tsv.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _split(chunks: Iterable[str], cr_only: Callable[[str], bool]) -> Iterator[str]:
    """Lines of the text in ``chunks``; ``cr_only(chunk)`` is asked at the first chunk with a CR or LF."""
    pending: list[str] = []  # the start of a line that goes on in the next chunks
    mac = None
    for text in chunks:
        if mac is None:
            if "\n" not in text and "\r" not in text:
                pending.append(text)
                continue
            mac = cr_only(text)
        if mac:
            text = text.replace("\r", "\n")
        if "\n" not in text:
            pending.append(text)  # joined once, at its end: a long line over tiny blocks stays linear
            continue
        parts = text.split("\n")
        if pending:
            pending.append(parts[0])
            parts[0] = "".join(pending)
        pending = [parts.pop()]
        if "\r" in text or "\r" in parts[0]:
            yield from [line[:-1] if line.endswith("\r") else line for line in parts]
        else:
            yield from parts
    tail = "".join(pending)
    if tail:
        yield tail[:-1] if tail.endswith("\r") else tail


def _cr_only(path: Path, encoding: str, split: str) -> bool:
    """Whether the file has CR line ends but no LF: a CR followed by more text, and no LF anywhere."""
    inner = cr_before = False
    try:
        for text in decode(path, encoding, split):
            if "\n" in text:
                return False
            inner = inner or (cr_before and bool(text.lstrip("\r"))) or "\r" in text.rstrip("\r")
            cr_before = cr_before or "\r" in text
    except DataError:
        pass  # the reader meets it again, where it is
    return inner


def _codec(path: Path, encoding: str, split: str) -> str:
    if not path.exists():
        raise DataError(f"{path} not found; check {config_key(split)}")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a file; check {config_key(split)} (or use format aclimdb)")
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        hint = "set data.encoding (e.g. utf-8, gbk, latin-1)"
        raise DataError(f"unknown encoding {brief(encoding)!r}; {hint}") from None


def _bom(head: bytes, codec: str) -> tuple[bytes, str]:
    """The first block without a UTF-8 BOM, and the codec the BOM rules pick."""
    if codec == "utf-8":
        codec = next((name for bom, name in BOMS if head.startswith(bom)), codec)
    if codec in ("utf-8", "utf-8-sig"):
        # dropped here, not by utf-8-sig, whose error offsets would not count the BOM
        return (head[3:] if head.startswith(codecs.BOM_UTF8) else head), "utf-8"
    return head, codec


def _open(path: Path):
    """The open file and its block reader; a .gz file is unpacked as it is read."""
    try:
        if path.suffix.lower() != ".gz":
            f = path.open("rb")
            return f, lambda: _read(path, f.read)
        with path.open("rb") as raw:
            if raw.read(2) != b"\x1f\x8b":
                raise fail(path, None, "is named .gz but is not gzip data; rename it without .gz")
        f = gzip.open(path, "rb")  # noqa: SIM115  (closed by decode's with)
        # read1: what unpacked before a truncation comes back before the error does
        return f, lambda: _read(path, f.read1)
    except OSError as err:  # permissions, a FIFO, a file removed under us
        raise DataError(f"{path} cannot be read ({err.strerror or err}); check the file") from None


def _read(path: Path, read: Callable[[int], bytes]) -> bytes:
    try:
        return read(BLOCK)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        why = f"gzip data is truncated or corrupt ({err}); compress or download it again"
        raise fail(path, None, why) from None
    except OSError as err:
        raise DataError(f"{path} cannot be read ({err.strerror or err}); check the file") from None


def _rest(block: bytes, at: int, read: Read, find_nul: bool) -> tuple[bool, int | None]:
    """Whether the file after ``block`` holds more than whitespace, and (``find_nul``) the LFs
    from the start of ``block`` to the first NUL byte at or after ``block[at:]``, if any."""
    nul = block.find(b"\x00", max(at, 0)) if find_nul else -1
    content = False
    newlines = 0
    while nul < 0:
        newlines += block.count(b"\n")
        try:
            block = read()
        except DataError:
            return content, None  # a corrupt rest of a .gz file: the decode error stands
        content = content or bool(block.strip())
        if not block or (content and not find_nul):
            return content, None
        nul = block.find(b"\x00") if find_nul else -1
    return True, newlines + block.count(b"\n", 0, nul)


def _packed(head: bytes) -> str | None:
    """What to say about an archive or compressed file given where text was expected."""
    return next((what for magic, what in _MAGIC if head.startswith(magic)), None)


def _decode_hint(err: UnicodeDecodeError, encoding: str, packed: str | None, mixed: bool) -> str:
    """What to do about bytes that ``encoding`` cannot decode."""
    if err.encoding.startswith("utf-8"):
        if packed:
            return packed
        if mixed:
            # earlier lines held multi-byte UTF-8 that decoded: no one encoding reads this file
            return (
                "is not valid utf-8, though earlier lines are: the file mixes encodings; convert "
                "every line to one encoding (e.g. with iconv) and set data.encoding to it"
            )
        return "is not valid utf-8; set data.encoding (e.g. gbk, latin-1)"
    return f"is not valid {err.encoding} (data.encoding is {brief(encoding)!r}); check data.encoding"
