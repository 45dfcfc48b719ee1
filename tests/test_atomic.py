"""avb_keras.atomic: a target is replaced whole or not at all, and no temporary stays behind."""

import pytest

from avb_keras import atomic


def test_a_failed_write_keeps_the_target_and_leaves_nothing(tmp_path):
    target = tmp_path / "metrics.json"
    atomic.write_text(target, "good")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic.atomic_path(target) as temporary:
            temporary.write_text("half")
            raise RuntimeError("crash")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_temporaries_are_hidden_keep_the_suffix_and_are_found_as_leftovers(tmp_path):
    temporary = atomic.temporary_path(tmp_path / "model.keras")
    assert temporary.parent == tmp_path and temporary.suffix == ".keras"
    assert temporary.name.startswith(".model.partial-")
    (tmp_path / "epoch-0001").mkdir()
    folder = atomic.temporary_path(tmp_path / "epoch-0002")
    folder.mkdir()
    temporary.write_text("killed mid-save")
    assert atomic.leftovers(tmp_path) == sorted([folder, temporary])
    atomic.remove_leftovers(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["epoch-0001"]


def test_folders_replace_whole_or_refuse_to_overwrite(tmp_path):
    target = tmp_path / "base" / "1"
    for text in ("first", "second"):
        with atomic.atomic_path(target) as temporary:
            temporary.mkdir()
            (temporary / "saved_model.pb").write_text(text)
    assert [p.name for p in target.iterdir()] == ["saved_model.pb"]
    assert (target / "saved_model.pb").read_text() == "second"
    with pytest.raises(FileExistsError, match="left untouched"):
        with atomic.atomic_path(target, overwrite=False) as temporary:
            temporary.mkdir()
    assert (target / "saved_model.pb").read_text() == "second"
    assert atomic.leftovers(target.parent) == []
