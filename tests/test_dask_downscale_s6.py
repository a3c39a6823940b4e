"""``--dask-scheduler`` given the dashboard's web address is said to be one, with the scheduler's
usual address; an unknown scheduler host is looked up once and said to be unknown; the library's
``DownscaleOptions(tile=...)`` takes the CLI's default overlap; and an ``--align`` scene with a
checkpoint of other bands and an overlap over half the tile is refused for the overlap first."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

import pytest

import pipelines.downscale as downscale
import pipelines.scenes as scenes
from groklst_cli.app import run
from groklst_cli.commands.downscale import _overlap_or_default
from pipelines.downscale import DownscaleOptions
from pipelines.errors import InputError
from pipelines.tiling import check_tile_sizes
from tests.conftest import write_canonical_scene
from tests.test_dask_s5 import HTTP_HINT, HTTP_PROBLEM, _refused
from tests.test_downscale_learned import save_checkpoint

pytest.importorskip("dask.distributed")

URL_PROBLEM = HTTP_PROBLEM.replace("an HTTP server", "a web address")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8787", "http://127.0.0.1:8787/status", "https://127.0.0.1"])
def test_the_dashboards_web_address_is_said_to_be_one(tmp_path: Path, capsys, url: str) -> None:
    """QA: the dashboard URL pasted from the browser was "not a dask scheduler address (unknown
    address scheme 'http' ...)"; it is said as an HTTP server at the address is (test_dask_s5)."""
    assert _refused(tmp_path, capsys, url) == f"error: --dask-scheduler: {url}: {URL_PROBLEM} (hint: {HTTP_HINT})"


def test_an_ipv6_dashboard_address_gives_the_schedulers_in_brackets() -> None:
    with pytest.raises(InputError) as refused:
        with scenes.dask_client("http://[::1]:8787", workers=False):
            pass
    assert str(refused.value).endswith("(hint: give the address dask scheduler prints, such as tcp://[::1]:8786)")


@pytest.mark.parametrize("scheme", ["tcp", "tls"])
def test_an_unknown_host_is_looked_up_once(monkeypatch, scheme: str) -> None:
    """QA: an unknown host was looked up by distributed until the connect timeout and twice more
    by the probes after it (each as slow as the DNS), then said as "no dask scheduler answered"."""
    monkeypatch.setattr(scenes, "CONNECT_TIMEOUT_S", 1)
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def lookup(host, *args, **kwargs):
        if host == "nohost.invalid":
            looked_up.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    address = f"{scheme}://nohost.invalid:8786"
    with pytest.raises(InputError) as refused:
        with scenes.dask_client(address, workers=False):
            pass
    assert str(refused.value) == (f"--dask-scheduler: {address}: the host 'nohost.invalid' is not known "
                                  f"(hint: {scenes.ADDRESS_HINT})")
    assert looked_up == ["nohost.invalid"]


@pytest.mark.parametrize(("tile", "overlap"), [(96, 48), (40, 20), (129, 64), (128, 64), (768, 64), (1024, 64)])
def test_the_librarys_default_overlap_is_at_most_half_the_tile(tile: int, overlap: int) -> None:
    """QA: ``DownscaleOptions(tile=96)`` kept the overlap 64, which the tile check refuses as more
    than half the tile, while ``downscale --tile 96`` defaulted to 48."""
    options = DownscaleOptions(tile=tile)
    assert options.tile_overlap() == overlap == downscale.default_overlap(tile) == _overlap_or_default(None, tile)
    used = check_tile_sizes(options.tile, options.tile_overlap(), 1)
    assert (used.tile, used.overlap) == (tile, overlap)
    # review: replace() kept the overlap decided for the default tile (64) when it was set on creation
    assert replace(DownscaleOptions(), tile=tile).tile_overlap() == overlap


def test_the_library_default_and_a_given_overlap() -> None:
    assert DownscaleOptions().tile_overlap() == 64
    assert DownscaleOptions(tile=96, overlap=10).tile_overlap() == 10
    assert replace(DownscaleOptions(overlap=10), tile=96).tile_overlap() == 10
    assert DownscaleOptions(tile=96, overlap=0).overlap == 0


@pytest.mark.parametrize("align", [True, False])
def test_the_overlap_is_refused_before_a_checkpoints_bands(tmp_path: Path, capsys, align: bool) -> None:
    """An --align scene with two faults, a checkpoint of other bands and an overlap over half the
    tile: the option's error, fixed by a flag, comes first, as without --align (the header
    checks before aligning, 486785a and 3a4b12f, did not move it after the bands')."""
    lst, guidance = write_canonical_scene(tmp_path, "a", bands=("red", "nir"), ratio=2)
    ckpt = save_checkpoint(tmp_path / "ck.pt", scale=2)
    out = tmp_path / "out"
    capsys.readouterr()
    assert run(["downscale", str(lst), "--guidance", str(guidance), *(["--align"] if align else []),
                "-c", str(ckpt), "-o", str(out / "x.tif"), "--tile", "40", "--overlap", "30", "--json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error == ("--overlap 30 at x2 (15 LR px) with --tile 40 at x2 (20 LR px): the overlap is more than half "
                     "the tile, so tiles would mostly recompute their neighbours (hint: pass --overlap 20 or less, "
                     "or a larger --tile)")
    assert captured.err.splitlines()[-1] == f"error: {error}"
    assert not out.exists()
