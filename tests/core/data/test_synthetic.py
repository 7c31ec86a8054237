"""Procedural faces: shapes, determinism by (seed, index), and that the recorded factors
really drive the pixels (so the demo dataset has known structure to find)."""
import numpy as np
import pandas as pd
import pytest

from core.data.synthetic import FACTOR_COLUMNS, face_factors, render_faces


@pytest.fixture(scope="module")
def faces32():
    """One shared batch for the statistical checks (about 0.2 s to draw)."""
    return render_faces(300, size=32, seed=0)


def test_shapes_and_dtype():
    x, df = render_faces(6, size=64, seed=0)
    assert x.shape == (6, 64, 64, 3) and x.dtype == np.uint8
    assert len(df) == 6
    assert x.std() > 10          # not a blank canvas


@pytest.mark.parametrize("size", [32, 96])
def test_other_sizes_draw_the_same_faces(size):
    x, _ = render_faces(4, size=size, seed=1)
    assert x.shape == (4, size, size, 3)
    # every size draws the same geometry: box-downsampled to 16 px they nearly agree
    ref, _ = render_faces(4, size=16, seed=1)
    k = size // 16
    small = x.reshape(4, 16, k, 16, k, 3).astype(np.float32).mean((2, 4))
    assert np.abs(small - ref).mean() < 4


def test_same_seed_gives_identical_bytes():
    a, fa = render_faces(5, size=32, seed=7)
    b, fb = render_faces(5, size=32, seed=7)
    assert a.tobytes() == b.tobytes()
    pd.testing.assert_frame_equal(fa, fb)


def test_different_seeds_differ():
    a, fa = render_faces(5, size=32, seed=0)
    b, fb = render_faces(5, size=32, seed=1)
    assert (a != b).any(axis=(1, 2, 3)).all()          # every face differs
    assert not np.allclose(fa["face_width"], fb["face_width"])


def test_chunks_equal_one_call():
    whole, fw = render_faces(11, size=32, seed=3)
    parts = [render_faces(n, size=32, seed=3, start=s) for s, n in [(0, 4), (4, 1), (5, 6)]]
    np.testing.assert_array_equal(whole, np.concatenate([p[0] for p in parts]))
    pd.testing.assert_frame_equal(fw, pd.concat([p[1] for p in parts]))
    # the factor table alone agrees with the one render_faces returns
    pd.testing.assert_frame_equal(face_factors(11, seed=3), fw)


def test_factor_table_columns_and_ranges():
    df = face_factors(500, seed=2, start=10)
    assert list(df.columns) == FACTOR_COLUMNS
    assert len(df) == 500 and df.index[0] == 10 and df.index[-1] == 509
    assert not df.isna().any().any()
    for col in ["Smiling", "Eyeglasses", "Long_Hair", "Bald", "Blond_Hair", "glasses"]:
        assert set(df[col].unique()) <= {0, 1}, col
        assert 0 < df[col].mean() < 1, col          # both values occur
    assert df["mouth_curve"].between(-1, 1).all()
    assert df["skin_tone"].between(0, 1).all()
    np.testing.assert_array_equal(df["Smiling"], (df["mouth_curve"] > 0.2).astype(int))
    np.testing.assert_array_equal(df["Eyeglasses"], df["glasses"])
    np.testing.assert_array_equal(df["Long_Hair"], (df["hair_length"] >= 0.5).astype(int))


def test_smiling_roughly_balanced():
    assert 0.45 < face_factors(2000, seed=0)["Smiling"].mean() < 0.55


def test_glasses_add_edges_in_the_eye_band_only(faces32):
    x, df = faces32
    gray = x.astype(np.float32).mean(-1)
    g = df["Eyeglasses"].to_numpy() == 1

    def edge_effect(rows):   # mean horizontal gradient, glasses minus no glasses
        e = np.abs(np.diff(gray[:, rows, 6:26], axis=2)).mean((1, 2))
        return e[g].mean() - e[~g].mean()

    eyes, mouth = edge_effect(slice(12, 19)), edge_effect(slice(21, 26))
    assert eyes > 2 and eyes > 2 * abs(mouth)


def test_skin_tone_darkens_the_face_centre(faces32):
    x, df = faces32
    centre = x[:, 14:20, 12:20].astype(np.float32).mean((1, 2, 3))   # cheeks and nose
    assert np.corrcoef(centre, df["skin_tone"])[0, 1] < -0.8          # 0 light .. 1 dark


def test_rejects_negative_seed():
    with pytest.raises(ValueError):
        face_factors(3, seed=-1)
