"""Deploy over HTTP from a real server on 127.0.0.1: plain, and resumed with Range after a drop."""

from __future__ import annotations

import http.server
from pathlib import Path

import pytest

from envstacks.floor.errors import DeployError
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.published.http_download import download
from envstacks.stages.deploying import DeployOptions
from kits.http_server import QuietHandler, serve
from kits.layers import FRAMEWORK, RUNTIME


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with ``Range`` support; the first GET of each archive is cut short."""

    requests: list[tuple[str, str | None]]
    cut: set[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        range_header = self.headers.get("Range")
        self.requests.append((self.path, range_header))
        path = Path(self.translate_path(self.path))
        if not path.is_file() or not path.name.endswith(".tar.zst"):
            super().do_GET()
            return
        data = path.read_bytes()
        start = 0
        if range_header:
            start = int(range_header.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if self.path not in self.cut:
            # Drop the connection half-way through the first transfer of this archive.
            self.cut.add(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def test_deploy_over_http(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    with serve(output, QuietHandler) as url:
        result = deploy(
            url, target, DeployOptions(include=["app-one"]), pm=pm, reporter=RecordingReporter()
        )
        again = deploy(
            url, target, DeployOptions(include=["app-one"]), pm=pm, reporter=RecordingReporter()
        )
    assert result.installed == (RUNTIME, FRAMEWORK, "app-one")
    assert result.source == f"{url}__venvstacks__/venvstacks.json"
    assert (target / "app-one" / "postinstall.json").is_file()
    assert again.reused == result.installed
    assert not (target / ".envstacks-downloads").exists()  # downloads are not kept


def test_interrupted_downloads_resume_with_range(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    handler = type("Handler", (RangeHandler,), {"requests": [], "cut": set()})
    reporter = RecordingReporter()
    with serve(output, handler) as url:
        result = deploy(url, tmp_path / "deployed", pm=pm, reporter=reporter)
    assert len(result.installed) == 4
    archive = f"/{RUNTIME}.tar.zst"
    ranges = [value for path, value in handler.requests if path == archive]
    size = (output / f"{RUNTIME}.tar.zst").stat().st_size
    assert ranges[0] is None
    assert ranges[1] is not None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert int(ranges[1].removeprefix("bytes=").rstrip("-")) <= size
    fetches = [task for task in reporter.tasks if task.action == "fetch" and task.layer == RUNTIME]
    assert fetches[0].done == size  # resumed bytes are not counted twice


def test_download_keeps_no_more_than_the_recorded_size(tmp_path, publish_layers_to):
    output = publish_layers_to(tmp_path / "dist")
    archive = output / f"{RUNTIME}.tar.zst"
    with serve(output, QuietHandler) as url:
        part = tmp_path / "x.part"
        with pytest.raises(DeployError, match="more than the 10 bytes recorded"):
            download(url + archive.name, part, size=10, task=RecordingReporter().task("x", "fetch"))


def test_missing_manifest_over_http_names_what_was_tried(tmp_path, pm):
    (tmp_path / "empty").mkdir()
    with (
        serve(tmp_path / "empty", QuietHandler) as url,
        pytest.raises(DeployError, match=r"no manifest found \(tried .*venvstacks\.json"),
    ):
        deploy(url, tmp_path / "t", pm=pm, reporter=RecordingReporter())
    assert not any((tmp_path / "t").glob("[!_]*"))
