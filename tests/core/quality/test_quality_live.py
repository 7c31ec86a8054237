"""Live batch checks (face rate, diversity, off-data flags), the one naive cube, hollow markers."""
from __future__ import annotations

import numpy as np

from core.quality.live import LiveJudge, mean_pairwise_distance, off_data


def test_mean_pairwise_distance_known_answer():
    imgs = np.zeros((3, 4, 4, 3), np.uint8)
    imgs[1] = 255                                   # RMS distance 1 to each black image
    assert mean_pairwise_distance(imgs) == np.float32(2 / 3)   # pairs: (0,1)=1, (0,2)=0, (1,2)=1
    assert mean_pairwise_distance(imgs[:1]) == 0.0


def test_live_judge_flags_a_collapsed_batch():
    rng = np.random.default_rng(0)
    z_real = rng.standard_normal((200, 8)).astype(np.float32)

    def decode(z):                                  # a "decoder" whose images vary with z
        v = np.clip(128 + 40 * np.asarray(z)[:, :3], 0, 255)
        return np.broadcast_to(v[:, None, None, :], (len(z), 16, 16, 3)).astype(np.uint8)

    judge = LiveJudge(decode, z_real, trials=4)
    varied = judge.judge(decode(rng.standard_normal((21, 8))))
    collapsed = judge.judge(decode(np.zeros((21, 8))))
    assert 0.7 < varied["sample_diversity_ratio"] < 1.3
    assert collapsed["sample_diversity_ratio"] < 0.01              # zero up to round-off
    assert collapsed["sample_face_rate"] == 0.0     # flat colour: no face


def test_off_data_by_distance_or_mahalanobis():
    d = {"sample_nn": np.array([1.0, 5.0, 1.0]), "sample_mahalanobis": np.array([1.0, 1.0, 9.0]),
         "real_nn_p95": 2.0, "real_mahalanobis": np.linspace(0, 2, 101)}
    assert off_data(d).tolist() == [False, True, True]
    assert off_data({}).shape == (0,)


def test_one_naive_cube_from_the_data():
    from core.analysis.latent_stats import latent_stats
    from core.samplers import sample
    from core.sampling.functions import naive_cube_b

    rng = np.random.default_rng(1)
    z = (rng.standard_normal((4000, 6)) * [1, 2, 3, 1, 1, 1] + [0, 0, 0, 10, -10, 0]).astype(np.float32)
    st = latent_stats(z)
    b = naive_cube_b(st)
    assert np.all(np.abs(st.center) + 2 * st.sigma_fit <= b + 1e-9)   # wide enough for every component
    assert 11.5 < b < 12.5                                             # |+-10| + 2*1: the widest component
    x = sample("cube", st, 2000, seed=0)                               # the sampler's default is that b
    assert np.abs(x).max() <= b and np.abs(x).max() > 0.95 * b


def test_thumbnail_draws_off_data_points_hollow():
    import io

    from PIL import Image

    from dashboard.charts.maps import thumbnail_jpeg

    bg = np.full((100, 100, 3), 255, np.uint8)
    xy = np.array([[0.25, 0.5], [0.75, 0.5]])
    img = np.asarray(Image.open(io.BytesIO(thumbnail_jpeg(bg, [0, 1, 0, 1], xy, off=np.array([False, True])))))
    filled, hollow = img[50, 25].astype(int), img[50, 74].astype(int)
    assert filled[2] < 150                           # orange centre: little blue
    assert hollow.min() > 200                        # background shows through the hollow one


def test_umap_figure_marks_off_data_points():
    from dashboard.charts.maps import umap_figure

    fig = umap_figure(np.zeros((5, 2)), {"color": "#000"}, ("x", "y"), np.zeros((3, 2)),
                      off=np.array([True, False, True]))
    assert list(fig.data[1].marker.symbol) == ["diamond-open", "diamond", "diamond-open"]
    assert "off the data" in fig.data[2].name and len(fig.data) == 3
