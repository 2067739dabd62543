"""Download files with resume and MD5 check, and fetch + unpack OpenMIC-2018.

`fetch(url, dest, md5=...)` is the generic piece (also used for model weights): it downloads into
``<dest>.part``, resumes that file with an HTTP Range request after an interruption, restarts when the
server ignores Range, checks the MD5 and only then renames the file to `dest`.
`download_openmic(dest_dir)` fetches the release archive, unpacks it safely and validates it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from core.errors import DatasetError
from features import openmic

OPENMIC_URL = "https://zenodo.org/record/1432913/files/openmic-2018-v1.0.0.tgz"
OPENMIC_MD5 = "e4ccf187e2bb5ab2e115416e8aafe7f4"
OPENMIC_ARCHIVE_NAME = "openmic-2018-v1.0.0.tgz"
CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60.0
USER_AGENT = "openmic-compare (python urllib)"


def file_md5(path: str | Path) -> str:
    """Hex MD5 digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str,
    dest: str | Path,
    md5: str | None = None,
    progress: bool = True,
    *,
    timeout_s: float = TIMEOUT_S,
) -> Path:
    """Download `url` to `dest`, resuming a partial download, and check its MD5.

    Parameters
    ----------
    url : str
        http(s) or file URL.
    dest : str or Path
        Final file. Data goes to ``<dest>.part`` first; a ``.part`` left by an interrupted run
        is resumed with ``Range: bytes=<size>-`` (a server that answers 200 instead of 206 makes
        the download restart from zero).
    md5 : str or None
        Expected hex MD5. On mismatch the downloaded file is deleted (so the next call starts
        afresh) and `DatasetError` is raised. None skips the check.
    progress : bool
        Show a tqdm byte progress bar on stderr.
    timeout_s : float
        Socket timeout per read.

    Returns
    -------
    Path
        `dest`. When `dest` already exists with the right MD5 nothing is downloaded.

    Raises
    ------
    DatasetError
        Network failure or interrupted transfer (the ``.part`` file is kept; call again to
        resume) or MD5 mismatch.
    """
    dest = Path(dest)
    if dest.is_file() and (md5 is None or file_md5(dest) == md5.lower()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _download_to(url, part, progress=progress, timeout_s=timeout_s)
    if md5 is not None:
        actual = file_md5(part)
        if actual != md5.lower():
            part.unlink()
            raise DatasetError(
                f"{dest.name} downloaded from {url} has MD5 {actual}, expected {md5.lower()}; "
                "the file was deleted: run the download again"
            )
    os.replace(part, dest)
    return dest


def _download_to(url: str, part: Path, *, progress: bool, timeout_s: float) -> None:
    """Append the rest of `url` to `part` (starting over if the server ignores Range)."""
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing left to fetch: the .part is complete
            return
        raise DatasetError(
            f"cannot download {url}: HTTP {err.code} {err.reason}; check the URL and try again"
        ) from err
    except (urllib.error.URLError, OSError) as err:
        raise DatasetError(
            f"cannot download {url} ({err}); check the connection and try again"
        ) from err
    with response:
        resumed = bool(offset) and response.status == 206
        if resumed and not _starts_at(response.headers.get("Content-Range", ""), offset):
            response.close()
            part.unlink()  # the server resumed elsewhere: start over
            return _download_to(url, part, progress=progress, timeout_s=timeout_s)
        if not resumed:
            offset = 0  # a plain 200 answer carries the whole file
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        bar = tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name.removesuffix(".part"), disable=None if progress else True, file=sys.stderr,
        )  # fmt: skip
        with bar, open(part, "ab" if resumed else "wb") as out:
            try:
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, urllib.error.URLError) as err:  # includes http.client.IncompleteRead
                raise DatasetError(
                    f"download of {url} was interrupted ({err}); {part} keeps what arrived: "
                    "run the download again to resume"
                ) from err
    received = part.stat().st_size
    if total is not None and received < total:
        raise DatasetError(
            f"download of {url} stopped at {received} of {total} bytes; {part} keeps what arrived: "
            "run the download again to resume"
        )


def _starts_at(content_range: str, offset: int) -> bool:
    """Whether a ``Content-Range: bytes <start>-<end>/<total>`` header starts at `offset`."""
    match = re.match(r"bytes\s+(\d+)-", content_range)
    return match is not None and int(match.group(1)) == offset


def _check_member(member: tarfile.TarInfo, dest: Path) -> None:
    """Refuse members that could write outside `dest`: absolute, '..', outside links, devices."""
    name = PurePosixPath(member.name)
    if member.name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", member.name):
        raise DatasetError(f"refusing archive member {member.name!r}: absolute path")
    if ".." in name.parts:
        raise DatasetError(f"refusing archive member {member.name!r}: '..' in its path")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise DatasetError(f"refusing archive member {member.name!r}: not a file, folder or link")
    if member.issym() or member.islnk():
        base = dest if member.islnk() else (dest / name).parent
        target = PurePosixPath(member.linkname)
        resolved = Path(os.path.normpath(base / target))
        if target.is_absolute() or not resolved.is_relative_to(dest):
            raise DatasetError(
                f"refusing archive member {member.name!r}: link to {member.linkname!r} outside the folder"
            )


def _checked_members(archive: tarfile.TarFile, dest: Path) -> Iterator[tarfile.TarInfo]:
    for member in archive:
        _check_member(member, dest)
        yield member


def extract_archive(archive: str | Path, dest_dir: str | Path) -> list[Path]:
    """Unpack a tar archive into `dest_dir`, refusing members that would land outside it.

    Every member is checked (no absolute path, no '..', no link leading outside, no device) and
    extracted with tarfile's ``"data"`` filter where Python has it. The archive is unpacked into a
    temporary folder inside `dest_dir` and its top-level entries are moved into place only when all
    of it succeeded, so a refused or broken archive leaves nothing behind.

    Returns
    -------
    list of Path
        The top-level entries created in `dest_dir`.
    """
    archive, dest_dir = Path(archive), Path(dest_dir).resolve()
    dest_dir.mkdir(parents=True, exist_ok=True)
    staging = dest_dir / f".extract.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _checked_members(tar, staging)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, members=members, filter="data")
            else:  # Python without extraction filters: the member check above is the guard
                tar.extractall(staging, members=members)
        entries = sorted(staging.iterdir())
        clashes = [e.name for e in entries if (dest_dir / e.name).exists()]
        if clashes:
            raise DatasetError(f"{dest_dir} already holds {clashes}; move them away and run again")
        for entry in entries:
            os.replace(entry, dest_dir / entry.name)
        return [dest_dir / e.name for e in entries]
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DatasetError(
            f"cannot unpack {archive} ({err}); delete it and download again"
        ) from err
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_openmic(
    dest_dir: str | Path,
    *,
    url: str = OPENMIC_URL,
    md5: str = OPENMIC_MD5,
    progress: bool = True,
    keep_archive: bool = False,
) -> Path:
    """Download, check and unpack OpenMIC-2018 into ``dest_dir/openmic-2018``.

    Nothing is downloaded when that folder already exists and loads cleanly. An interrupted
    download resumes on the next call.

    Parameters
    ----------
    dest_dir : str or Path
        Folder that receives ``openmic-2018/`` (about 2.6 GB download, more unpacked).
    url, md5 : str
        Archive location and its MD5 (Zenodo record 1432913 by default).
    progress : bool
        Progress bar and a final message on stderr.
    keep_archive : bool
        Keep the ``.tgz`` after a successful unpack.

    Returns
    -------
    Path
        The dataset root, ready for `features.openmic.load`.

    Examples
    --------
    >>> root = download_openmic(".")   # ./openmic-2018
    """
    dest_dir = Path(dest_dir)
    root = dest_dir / openmic.DATASET_DIRNAME
    if root.exists():
        try:
            openmic.load(root)
        except DatasetError as err:
            raise DatasetError(
                f"{root} exists but is not a complete OpenMIC-2018 folder ({err}); "
                "move or delete it, then run the download again"
            ) from err
        _say(f"OpenMIC-2018 is already in {root}", progress)
        return root
    archive = fetch(url, dest_dir / OPENMIC_ARCHIVE_NAME, md5, progress)
    entries = extract_archive(archive, dest_dir)
    if root not in entries:
        raise DatasetError(
            f"{archive} holds {[e.name for e in entries]}, not {openmic.DATASET_DIRNAME}/: check the URL"
        )
    openmic.load(root)
    if not keep_archive:
        archive.unlink()
    _say(f"OpenMIC-2018 is ready in {root}", progress)
    return root


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr)
