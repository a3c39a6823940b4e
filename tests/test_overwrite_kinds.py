"""--overwrite replaces only a file groklst could have written at an output's name: the quick-look
PNG and the --save-checkpoint file refuse a user's other file there, as GeoTIFF outputs do
(6033d0c); an empty file and an earlier output of the same kind are still replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

from groklst_cli.app import run
from pipelines.errors import InputError
from tests.test_fit_small_fixes import NETWORK, scene

BICUBIC = ["--model", "bicubic"]
NOTES = "field notes\n"
PNG_HEADER = b"\x89PNG\r\n\x1a\n"


def refusal(path: Path, kind: str) -> str:
    return (f"error: {path}: exists and is not a {kind} (its first bytes are no {kind} header), so it is no "
            "output groklst would replace, even with --overwrite "
            "(hint: name another output, or move the file away yourself)")


def test_downscale_quicklook_overwrite_never_replaces_a_file_that_is_no_png(tmp_path: Path, capsys) -> None:
    lst_path, out, png = scene(tmp_path), tmp_path / "o.tif", tmp_path / "x.png"
    png.write_text(NOTES)
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, "-o", str(out), "--quicklook", str(png),
                "--overwrite"]) == 2
    assert capsys.readouterr().err.strip() == refusal(png, "PNG")
    assert png.read_text() == NOTES and not out.exists()  # refused before the downscale


def test_quicklook_overwrite_never_replaces_a_file_that_is_no_png(tmp_path: Path, capsys) -> None:
    lst_path, out, png = scene(tmp_path), tmp_path / "o.tif", tmp_path / "x.png"
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, "-o", str(out)]) == 0
    png.write_text(NOTES)
    capsys.readouterr()
    assert run(["-q", "quicklook", str(out), "-o", str(png), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip() == refusal(png, "PNG")
    assert png.read_text() == NOTES
    png.write_bytes(b"")  # an empty file (mktemp), then the PNG drawn there: both replaced
    assert run(["-q", "quicklook", str(out), "-o", str(png), "--overwrite"]) == 0
    assert run(["-q", "quicklook", str(out), "-o", str(png), "--overwrite"]) == 0
    assert png.read_bytes()[:8] == PNG_HEADER


def test_save_checkpoint_overwrite_never_replaces_a_file_that_is_no_checkpoint(tmp_path: Path, capsys) -> None:
    lst_path, out, ckpt = scene(tmp_path), tmp_path / "o.tif", tmp_path / "ck.pt"
    ckpt.write_text(NOTES)
    command = ["-q", "downscale", str(lst_path), "--fit", "--model", "mocolsk-lite", *NETWORK, "-o", str(out),
               "--save-checkpoint", str(ckpt), "--overwrite"]
    capsys.readouterr()
    assert run(command) == 2
    assert capsys.readouterr().err.strip() == refusal(ckpt, "PyTorch checkpoint")
    assert ckpt.read_text() == NOTES and not out.exists()  # refused before the fit
    ckpt.write_bytes(b"")  # an empty file, then the checkpoint saved there: both replaced
    assert run(command) == 0
    assert run(command) == 0
    assert ckpt.read_bytes()[:4] == b"PK\x03\x04"


def test_a_legacy_pickled_checkpoint_is_replaceable(tmp_path: Path) -> None:
    from pipelines.checkpoint import check_checkpoint_name

    legacy, text = tmp_path / "old.pt", tmp_path / "notes.pt"
    legacy.write_bytes(b"\x80\x02\x8a\x0alz")  # torch.save(..., _use_new_zipfile_serialization=False)
    text.write_text(NOTES)
    check_checkpoint_name(legacy)
    with pytest.raises(InputError, match="exists and is not a PyTorch checkpoint"):
        check_checkpoint_name(text)


def sample_products(folder: Path, capsys) -> list[str]:
    """A small sample scene's TIS and MII product folders (18 x 18 TIS pixels: enough to fit)."""
    assert run(["-q", "sample-scene", str(folder), "--size", "18", "--seed", "2", "--products"]) == 0
    return capsys.readouterr().out.split()[2:4]


def test_an_interpolator_on_product_folders_is_not_warned_about_the_missing_dem(tmp_path: Path, capsys) -> None:
    """bicubic and bilinear read no guidance values: the DEM filled with a constant is unused,
    so no --dem warning; a fit, which learns from the dem band, is still warned."""
    folders = sample_products(tmp_path / "raw", capsys)
    for extra in (["--model", "bicubic"], ["--model", "bilinear", "--scale", "2"]):
        out = tmp_path / f"{extra[1]}.tif"
        assert run(["downscale", *folders, *extra, "-o", str(out)]) == 0
        err = capsys.readouterr().err
        assert out.is_file() and "ingested" in err and "no --dem given" not in err
    assert run(["downscale", *folders, "--fit", "--model", "tsharp", "-o", str(tmp_path / "fit.tif")]) == 0
    assert "warning: no --dem given: the dem band is filled" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--precision", "bf16"], ["--precision", "fp16"], ["--compile"]])
def test_network_execution_options_with_an_interpolator_are_refused(tmp_path: Path, capsys, extra) -> None:
    """An interpolator runs no network: --precision bf16/fp16 and --compile are refused in one
    line, as with --plain, instead of exiting 0 with the option ignored."""
    lst_path, out = scene(tmp_path), tmp_path / "o.tif"
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, *extra, "-o", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {extra[0]}: does not apply to --model bicubic, a non-learned interpolator that runs no network "
        "(hint: drop it, or pass --checkpoint CKPT or --fit to run a network)")
    assert not out.exists()
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, "--precision", "fp32", "-o", str(out)]) == 0


# QA R10: the check ran only where each output is written; it now runs with every early output check


def test_sample_scene_refuses_a_foreign_file_before_writing_anything(tmp_path: Path, capsys) -> None:
    """The LST and guidance were written before the truth's name was refused."""
    fine = tmp_path / "heihe_demo_lst_fine.tif"
    fine.write_text(NOTES)
    capsys.readouterr()
    assert run(["-q", "sample-scene", str(tmp_path), "--size", "8", "--with-truth", "--overwrite"]) == 2
    assert capsys.readouterr().err.strip() == refusal(fine, "TIFF")
    assert [p.name for p in tmp_path.iterdir()] == [fine.name] and fine.read_text() == NOTES


def test_without_overwrite_a_foreign_file_is_not_told_to_pass_overwrite(tmp_path: Path, capsys) -> None:
    """"pass --overwrite" sent the user to an option that is refused next."""
    lst_path, out, png = scene(tmp_path), tmp_path / "o.tif", tmp_path / "x.png"
    png.write_text(NOTES)
    capsys.readouterr()
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, "-o", str(out), "--quicklook", str(png)]) == 2
    assert capsys.readouterr().err.strip() == refusal(png, "PNG")
    out.write_text(NOTES)
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, "-o", str(out), "--skip-existing"]) == 2
    err = capsys.readouterr().err
    assert "is not a readable GeoTIFF" in err and "hint: name another output, or move the file away yourself" in err


def test_a_skipped_scene_keeps_whatever_lies_at_its_quicklook_name(tmp_path: Path, capsys) -> None:
    """Nothing is drawn for a skipped scene, so nothing there is refused (the rerun exited 2)."""
    lst_path, out, png = scene(tmp_path), tmp_path / "o.tif", tmp_path / "x.png"
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, "-o", str(out)]) == 0
    png.write_text(NOTES)
    assert run(["-q", "downscale", str(lst_path), *BICUBIC, "-o", str(out), "--quicklook", str(png),
                "--skip-existing"]) == 0
    assert png.read_text() == NOTES


def test_precision_beside_a_checkpoint_and_an_interpolator_names_the_real_clash(tmp_path: Path, capsys) -> None:
    capsys.readouterr()
    assert run(["-q", "downscale", str(scene(tmp_path)), *BICUBIC, "--checkpoint", str(tmp_path / "x.pt"),
                "--precision", "bf16", "-o", str(tmp_path / "o.tif")]) == 2
    assert "give either --checkpoint or --model, not both" in capsys.readouterr().err


def test_coregister_checks_its_output_before_measuring(tmp_path: Path, capsys, monkeypatch) -> None:
    """It measured for ~30 s on a 300 px scene before 'output already exists' or a foreign file."""
    import pipelines.coregister_scene as coregister_scene

    def measured(*args: object, **kwargs: object) -> None:
        raise AssertionError("measured before the output was checked")

    monkeypatch.setattr(coregister_scene, "_measure", measured)
    lst_path = scene(tmp_path)
    guidance = lst_path.with_name(lst_path.name.replace("_lst", "_guidance"))
    out = tmp_path / "c.tif"
    out.write_text(NOTES)
    capsys.readouterr()
    assert run(["-q", "coregister", str(lst_path), str(guidance), "-o", str(out), "--overwrite"]) == 2
    assert capsys.readouterr().err.strip() == refusal(out, "TIFF")
    out.write_bytes(b"II*\x00an earlier output")
    assert run(["-q", "coregister", str(lst_path), str(guidance), "-o", str(out)]) == 2
    assert "output already exists (hint: pass --overwrite" in capsys.readouterr().err


def test_an_input_named_as_an_output_is_said_to_be_one_before_its_format(tmp_path: Path, capsys) -> None:
    """QA R11: guidance and mask called an ENVI input given as -o "no TIFF", not one of the inputs."""
    import rasterio

    lst_path = scene(tmp_path)
    dem = tmp_path / "dem.bil"
    with rasterio.open(lst_path) as src:
        profile = {**src.profile, "driver": "ENVI"}
        profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
        with rasterio.open(dem, "w", **profile) as dst:
            dst.write(src.read())
    for command in (["guidance", str(lst_path), str(dem), "--scale", "2"], ["mask", str(dem), str(lst_path)]):
        capsys.readouterr()
        assert run(["-q", *command, "-o", str(dem), "--overwrite"]) == 2
        assert "the output is one of the inputs" in capsys.readouterr().err


def test_a_checkpoint_named_as_a_raster_is_refused_up_front(tmp_path: Path, capsys) -> None:
    """QA R11: --save-checkpoint ck.tif worked once; its rerun was refused as 'no TIFF' for ever."""
    capsys.readouterr()
    assert run(["-q", "downscale", str(scene(tmp_path)), "--fit", *NETWORK, "--save-checkpoint",
                str(tmp_path / "ck.tif"), "-o", str(tmp_path / "o.tif")]) == 2
    assert "a checkpoint is a PyTorch file, not .tif (hint: name it .pt)" in capsys.readouterr().err
