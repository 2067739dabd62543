"""features.download against a real HTTP server on 127.0.0.1 that honours (or ignores) Range."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.errors import DatasetError
from features import openmic
from features.download import download_openmic, extract_archive, fetch, file_md5


class _Handler(BaseHTTPRequestHandler):
    """Serves `server.files[path]`; honours Range unless `server.ignore_range`; can cut transfers."""

    def do_GET(self) -> None:
        server = self.server
        server.log.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match and not server.ignore_range else 0
        if start >= len(body) > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        end = len(body) if server.cut_after is None else min(len(body), start + server.cut_after)
        self.wfile.write(body[start:end])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.log, httpd.ignore_range, httpd.cut_after = {}, [], False, None
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _tgz(members: dict[str, bytes], links: dict[str, tuple[str, bytes]] | None = None) -> bytes:
    """A gzipped tar of regular files `members`; `links` name -> (linkname, type) adds links."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, (target, kind) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return buffer.getvalue()


def _openmic_tgz(openmic_factory) -> bytes:
    root = openmic_factory("src/openmic-2018", n_clips=8, audio="copy")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(root, arcname="openmic-2018")
    return buffer.getvalue()


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_fetch_downloads_and_verifies(server, tmp_path):
    data = bytes(range(256)) * 5000
    server.files["/f.bin"] = data
    dest = fetch(
        f"{server.base}/f.bin", tmp_path / "f.bin", hashlib.md5(data).hexdigest(), progress=False
    )
    assert dest.read_bytes() == data
    assert not (tmp_path / "f.bin.part").exists()
    fetch(f"{server.base}/f.bin", dest, hashlib.md5(data).hexdigest(), progress=False)
    assert len(server.log) == 1  # present and verified: not downloaded again


def test_fetch_resumes_partial_download_with_range(server, tmp_path):
    data = bytes(range(256)) * 4000
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data[:300_000])
    dest = fetch(
        f"{server.base}/f.bin", tmp_path / "f.bin", hashlib.md5(data).hexdigest(), progress=False
    )
    assert server.log == [("/f.bin", "bytes=300000-")]
    assert dest.read_bytes() == data


def test_fetch_completes_a_full_part_file_after_416(server, tmp_path):
    data = b"complete" * 1000
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data)
    dest = fetch(
        f"{server.base}/f.bin", tmp_path / "f.bin", hashlib.md5(data).hexdigest(), progress=False
    )
    assert server.log == [("/f.bin", f"bytes={len(data)}-")]
    assert dest.read_bytes() == data


def test_fetch_restarts_when_server_ignores_range(server, tmp_path):
    data = b"0123456789" * 10_000
    server.files["/f.bin"] = data
    server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(b"junk that is not the start of the file")
    dest = fetch(
        f"{server.base}/f.bin", tmp_path / "f.bin", hashlib.md5(data).hexdigest(), progress=False
    )
    assert server.log[0][1] is not None
    assert dest.read_bytes() == data


def test_interrupted_download_keeps_part_and_resumes(server, tmp_path):
    data = bytes(range(256)) * 2000
    server.files["/f.bin"] = data
    server.cut_after = 200_000
    with pytest.raises(DatasetError, match="run the download again to resume"):
        fetch(
            f"{server.base}/f.bin",
            tmp_path / "f.bin",
            hashlib.md5(data).hexdigest(),
            progress=False,
        )
    assert (tmp_path / "f.bin.part").stat().st_size == 200_000
    server.cut_after = None
    dest = fetch(
        f"{server.base}/f.bin", tmp_path / "f.bin", hashlib.md5(data).hexdigest(), progress=False
    )
    assert server.log[-1] == ("/f.bin", "bytes=200000-")
    assert file_md5(dest) == hashlib.md5(data).hexdigest()


def test_md5_mismatch_is_a_clear_error_and_removes_the_file(server, tmp_path):
    server.files["/f.bin"] = b"not the archive you want" * 100
    with pytest.raises(
        DatasetError, match=r"f\.bin .* has MD5 [0-9a-f]{32}, expected 0{32}.*deleted"
    ):
        fetch(f"{server.base}/f.bin", tmp_path / "f.bin", "0" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_http_error_names_the_url(server, tmp_path):
    with pytest.raises(DatasetError, match=r"cannot download .*/missing\.tgz: HTTP 404"):
        fetch(f"{server.base}/missing.tgz", tmp_path / "x.tgz", progress=False)


def test_download_openmic_fetches_extracts_and_validates(server, tmp_path, openmic_factory):
    archive = _openmic_tgz(openmic_factory)
    server.files["/openmic.tgz"] = archive
    dest = tmp_path / "dest"
    root = download_openmic(
        dest, url=f"{server.base}/openmic.tgz", md5=hashlib.md5(archive).hexdigest(), progress=False
    )
    assert root == dest / "openmic-2018"
    ds = openmic.load(root)
    assert len(ds.sample_key) == 8
    assert all(p.is_file() and not p.is_symlink() for p in ds.audio_path)
    assert sorted(p.name for p in dest.iterdir()) == [
        "openmic-2018"
    ]  # archive removed, no staging left
    assert (
        download_openmic(dest, url=f"{server.base}/openmic.tgz", md5="0" * 32, progress=False)
        == root
    )
    assert len(server.log) == 1  # the valid folder was reused


def test_download_openmic_refuses_a_damaged_existing_folder(tmp_path):
    (tmp_path / "openmic-2018").mkdir()
    with pytest.raises(
        DatasetError, match=r"exists but is not a complete OpenMIC-2018 folder.*move or delete"
    ):
        download_openmic(tmp_path, url="http://127.0.0.1:9/none", progress=False)


@pytest.mark.parametrize(
    ("members", "links", "reason"),
    [
        ({"openmic-2018/a.txt": b"ok", "../evil.txt": b"evil"}, None, "'..' in its path"),
        ({"openmic-2018/a.txt": b"ok", "ABSOLUTE/abs_evil.txt": b"evil"}, None, "absolute path"),
        (
            {"openmic-2018/a.txt": b"ok"},
            {"openmic-2018/up": ("../../outside", tarfile.SYMTYPE)},
            "outside the folder",
        ),
        (
            {"openmic-2018/a.txt": b"ok"},
            {"openmic-2018/abs": ("/etc/passwd", tarfile.SYMTYPE)},
            "outside the folder",
        ),
        (
            {"openmic-2018/a.txt": b"ok"},
            {"openmic-2018/hard": ("../outside", tarfile.LNKTYPE)},
            "'..'|outside the folder",
        ),
    ],
)
def test_malicious_archive_is_refused_and_nothing_lands_outside(tmp_path, members, links, reason):
    outside = tmp_path / "outside"
    outside.mkdir()
    members = {name.replace("ABSOLUTE", str(outside)): data for name, data in members.items()}
    archive = tmp_path / "bad.tgz"
    archive.write_bytes(_tgz(members, links))
    target = tmp_path / "a" / "b"
    with pytest.raises(DatasetError, match=f"refusing archive member .*({reason})"):
        extract_archive(archive, target)
    assert _files_under(outside) == []
    assert _files_under(target) == []  # not even the good members stay
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "bad.tgz", "outside"]
    assert _files_under(tmp_path / "a") == ["b"]


def test_malicious_download_is_refused(server, tmp_path):
    server.files["/evil.tgz"] = archive = _tgz(
        {"openmic-2018/a.txt": b"ok", "../evil.txt": b"evil"}
    )
    with pytest.raises(DatasetError, match=r"refusing archive member '\.\./evil\.txt'"):
        download_openmic(
            tmp_path / "d",
            url=f"{server.base}/evil.tgz",
            md5=hashlib.md5(archive).hexdigest(),
            progress=False,
        )
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "d" / "openmic-2018").exists()
