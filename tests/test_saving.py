"""avb_keras.saving: a damaged model file is named as such wherever avb_keras loads one."""

import shutil

import pytest
from conftest import tiny_avb

from avb_keras import AVB, checkpoints, cli, saving
from avb_keras.export import savedmodel

DAMAGED = r"is damaged or truncated \(not a complete \.keras archive\)"


def _compiled():
    model = tiny_avb()
    model.compile()
    return model


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def test_a_truncated_model_file_is_named_by_every_loader(tmp_path):
    path = saving.save_model(_compiled(), tmp_path / "run" / "model.keras")
    assert isinstance(saving.load_model(path), AVB)  # the whole file loads
    _truncate(path)
    for load in (saving.load_model, savedmodel.load_trained,
                 lambda p: savedmodel.load_trained(p.parent)):  # a run folder
        with pytest.raises(saving.DamagedModelFile, match=f"model.keras {DAMAGED}"):
            load(path)


def test_a_damaged_newest_checkpoint_names_the_one_to_resume_from(tmp_path, monkeypatch):
    """Two complete checkpoints: a run killed after writing the newest and before deleting
    the one before it (one is kept, `checkpoints.KEEP`)."""
    monkeypatch.setattr(checkpoints, "KEEP", 2)
    saver = checkpoints.TrainingCheckpoint(tmp_path)
    saver.set_model(_compiled())
    saver.save(1)
    saver.save(2)
    _truncate(tmp_path / "epoch-0002" / "model.keras")
    with pytest.raises(saving.DamagedModelFile,
                       match=f"{DAMAGED}.*Delete .*epoch-0002 to resume from epoch-0001"):
        checkpoints.latest(tmp_path)
    shutil.rmtree(tmp_path / "epoch-0002")
    assert checkpoints.latest(tmp_path)[1]["epoch"] == 1


def test_the_command_line_names_a_damaged_model_in_one_line(tmp_path, capsys):
    model = _compiled()
    path = saving.save_model(model, tmp_path / "model.keras")
    _truncate(path)
    saver = checkpoints.TrainingCheckpoint(tmp_path / "run" / "checkpoints")
    saver.set_model(model)
    _truncate(saver.save(1) / "model.keras")
    for args in (["export", str(path), "--out", str(tmp_path / "served")],
                 ["train", "--dataset", "four_frames", "--run-dir", str(tmp_path / "run")]):
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("avb-keras: error: The model file")
        assert "is damaged or truncated" in err
    assert not (tmp_path / "served").exists()
