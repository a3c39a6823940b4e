"""Output names too long for their folder, and a missing input (QA s7 G2): a 250-byte ``-o``
in an existing folder failed with ``NAME.tif.aux.xml: File name too long`` (a file the user
never named, no hint) where the documented length refusal was due, as it was in a folder not
yet made; a missing ``typo.TIF`` was refused as a naming problem, not as not found."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.atomic import check_writable
from pipelines.errors import InputError
from tests.conftest import write_canonical_scene


def _refusal(name: str, limit: int) -> str:
    """The documented length refusal of the output ``name`` in a folder of name limit ``limit``."""
    size = len(os.fsencode(Path(name).name))
    return (f"{name}: the name is {size} bytes; with groklst's temporary names beside it (up to 49 more) it "
            f"would pass this folder's limit of {limit} (hint: use a name of at most {limit - 49} bytes)")


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """``s_lst.tif`` + ``s_guidance.tif`` in the current folder; the folder's name limit."""
    monkeypatch.chdir(tmp_path)
    write_canonical_scene(tmp_path, "s")
    return os.pathconf(tmp_path, "PC_NAME_MAX")


def test_downscale_refuses_a_long_output_name_in_an_existing_folder_by_its_length(scene: int, capsys) -> None:
    """250 bytes in an existing folder: the refusal said ``NAME.tif.aux.xml: File name too long``."""
    name = "o" * (scene - 9) + ".tif"
    assert run(["-q", "downscale", "s_lst.tif", "--model", "bicubic", "-o", name]) == 2
    assert capsys.readouterr().err == f"error: {_refusal(name, scene)} (scene s_lst.tif)\n"
    assert sorted(os.listdir()) == ["s_guidance.tif", "s_lst.tif"]


@pytest.mark.parametrize("args", [["guidance", "s_lst.tif", "s_guidance.tif"],
                                  ["mask", "s_lst.tif", "s_lst.tif"],
                                  ["coregister", "s_lst.tif", "s_guidance.tif"]], ids=lambda a: a[0])
def test_other_commands_refuse_a_long_output_name_by_its_length(scene: int, capsys, args: list[str]) -> None:
    """guidance, mask and coregister failed the same way as downscale."""
    name = "o" * (scene - 9) + ".tif"
    assert run(["-q", *args, "-o", name]) == 2
    assert capsys.readouterr().err == f"error: {_refusal(name, scene)}\n"


def test_a_long_derived_output_name_is_refused_by_its_length(scene: int, tmp_path: Path, capsys) -> None:
    """A 236-character scene name: its derived ``N_lst_downscaled.tif`` in ``--out-dir .``."""
    stem = "n" * 236
    for kind in ("lst", "guidance"):
        os.link(f"s_{kind}.tif", f"{stem}_{kind}.tif")
    assert run(["-q", "downscale", f"{stem}_lst.tif", "--model", "bicubic", "--out-dir", "."]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {_refusal(f'./{stem}_lst_downscaled.tif', scene)} (scene {stem}_lst.tif)\n"


def test_a_name_past_the_folders_limit_gets_the_same_refusal(tmp_path: Path) -> None:
    """257 bytes: the checks of the file and its sidecars raised ``File name too long``, no hint.
    The name is refused before its folder is made, so no empty folder is left behind."""
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    name = "o" * (limit - 2) + ".tif"
    for target in (tmp_path / name, tmp_path / "new" / name):
        with pytest.raises(InputError) as refused:
            check_writable(target, overwrite=False)
        assert str(refused.value) == _refusal(str(target), limit)
    assert not (tmp_path / "new").exists()


def test_a_missing_input_is_not_found_before_its_name_is_judged(scene: int, capsys) -> None:
    """``typo.TIF`` that does not exist: 'cannot find the guidance: the file name does not end in _lst'."""
    assert run(["downscale", "typo.TIF", "--model", "bicubic"]) == 2
    assert capsys.readouterr().err == "error: typo.TIF: file not found (hint: check the path)\n"


@pytest.mark.parametrize("args", [["downscale", "s_lst.tif", "--model", "bicubic"],
                                  ["guidance", "s_lst.tif", "s_guidance.tif"],
                                  ["mask", "s_lst.tif", "s_lst.tif"],
                                  ["coregister", "s_lst.tif", "s_guidance.tif"]], ids=lambda a: a[0])
def test_a_name_over_the_folders_limit_is_refused_by_its_length_too(scene: int, capsys, args: list[str]) -> None:
    """Past the folder's own limit (257 bytes) the option's folder test, the output's header check
    and downscale's early open raised ``File name too long`` (Path's tests raise ENAMETOOLONG)."""
    name = "o" * (scene - 2) + ".tif"
    assert run(["-q", *args, "-o", name]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {_refusal(name, scene)}") and "File name too long" not in err
    assert sorted(os.listdir()) == ["s_guidance.tif", "s_lst.tif"]


def test_the_scene_suffix_names_a_dash_file_so_it_cannot_read_as_an_option(scene: int, capsys) -> None:
    """QA s7: ``(scene -s_lst.tif)`` named the scene without the ``./`` the error lines use."""
    for kind in ("lst", "guidance"):
        os.link(f"s_{kind}.tif", f"-s_{kind}.tif")
    os.link("s_lst.tif", "o.tif")  # the output exists: an error about the output, naming the scene after it
    assert run(["-q", "downscale", "--model", "bicubic", "-o", "o.tif", "--", "-s_lst.tif"]) == 2
    assert capsys.readouterr().err.strip().endswith("(scene ./-s_lst.tif)")
