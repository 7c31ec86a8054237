import numpy as np
import pytest

from core.store import atomic


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "z.npy"
    with pytest.raises(KeyboardInterrupt):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"\x93NUMPY half")
            raise KeyboardInterrupt
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # temp file cleaned too


def test_interrupted_overwrite_keeps_old_version(tmp_path):
    target = tmp_path / "a.json"
    atomic.write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("{broken")
            raise RuntimeError("killed")
    assert atomic.read_json(target) == {"v": 1}


def test_npy_round_trip_and_no_pickle(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    atomic.save_npy(tmp_path / "a.npy", a)
    np.testing.assert_array_equal(atomic.load_npy(tmp_path / "a.npy", mmap=True), a)
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        atomic.load_npy(tmp_path / "obj.npy")
