"""Groups, decoder neighbours, sparse codes and input-scale fits against naive references."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from sae import load_sae
from sae.groups import feature_groups, group_bounds
from sae.scale import ScaleFit, choose_input_scale, compare_input_scales
from sae.similarity import decoder_neighbours
from sae.sparse import active_counts, to_dense, to_sparse


def test_feature_groups() -> None:
    groups = feature_groups([4, 2, 1, 1])
    assert groups.tolist() == [0, 0, 0, 0, 1, 1, 2, 3]
    assert group_bounds([4, 2, 1, 1]) == [(0, 4), (4, 6), (6, 7), (7, 8)]
    with pytest.raises(ValueError):
        feature_groups([3, 0])


@pytest.mark.parametrize(("d_sae", "chunk_size"), [(64, 7), (100, 64), (50, 1024)])
def test_decoder_neighbours_match_naive(d_sae: int, chunk_size: int) -> None:
    generator = torch.Generator().manual_seed(d_sae)
    W_dec = torch.randn(d_sae, 12, generator=generator) * torch.rand(d_sae, 1, generator=generator)
    neighbours = decoder_neighbours(W_dec, n=5, chunk_size=chunk_size)
    unit = W_dec / W_dec.norm(dim=1, keepdim=True)
    cosine = unit @ unit.T
    cosine.fill_diagonal_(-2.0)
    naive = cosine.topk(5, dim=1)
    assert torch.equal(neighbours.indices, naive.indices)
    assert_close(neighbours.cosines, naive.values)
    assert not bool((neighbours.indices == torch.arange(d_sae)[:, None]).any())


def test_decoder_neighbours_finds_planted_pair() -> None:
    W_dec = torch.randn(40, 16, generator=torch.Generator().manual_seed(1))
    W_dec[7] = 3 * W_dec[30] + 0.01 * W_dec[7]
    neighbours = decoder_neighbours(W_dec, n=3, chunk_size=8)
    assert neighbours.indices[7, 0] == 30 and neighbours.indices[30, 0] == 7
    assert neighbours.cosines[7, 0] > 0.999


def test_sparse_codes_round_trip() -> None:
    acts = torch.relu(torch.randn(20, 50, generator=torch.Generator().manual_seed(2)) - 1.5)
    k = int(active_counts(acts).max())
    codes = to_sparse(acts, k, dtype=torch.float32)
    assert codes.indices.dtype == torch.int32 and codes.indices.shape == (20, k)
    assert torch.equal(to_dense(codes, 50), acts)
    truncated = to_dense(to_sparse(acts, 2, dtype=torch.float32), 50)
    assert torch.equal(active_counts(truncated), active_counts(acts).clamp(max=2))
    assert torch.equal(truncated.amax(dim=1), acts.amax(dim=1))


def test_compare_input_scales_matches_naive(shared_dir: Path) -> None:
    fixture = shared_dir / "fixtures" / "dictionary_learning_ef4"
    sae = load_sae(fixture)
    x = torch.load(fixture / "expected.pt", weights_only=True)["x"]
    fits = compare_input_scales(sae, x, candidates=(1.0, 22.34), chunk_size=5)
    for fit, scale in zip(fits, (1.0, 22.34), strict=True):
        xs = x / scale
        with torch.no_grad():
            features = sae.encode(xs)
            fvu = (xs - sae.decode(features)).pow(2).sum() / (xs - xs.mean(0)).pow(2).sum()
        assert fit.scale == scale
        assert fit.fvu == pytest.approx(float(fvu), rel=1e-4)
        assert fit.l0 == pytest.approx(float((features > 0).sum(1).float().mean()))
    # The fixture SAE was trained on raw x (the factor folded in), so scale 1 fits.
    assert fits[0].fvu < 1 < fits[1].fvu
    assert choose_input_scale(fits, sae.k).scale == 1.0


def test_choose_input_scale_rules() -> None:
    fits = [ScaleFit(1.0, 0.2, 900.0), ScaleFit(22.34, 0.4, 250.0), ScaleFit(5.0, 1.3, 256.0)]
    assert choose_input_scale(fits, 256).scale == 22.34
    assert choose_input_scale([ScaleFit(1.0, 2.0, 1.0), ScaleFit(2.0, 1.5, 9.0)], 256).scale == 2.0
    with pytest.raises(ValueError):
        choose_input_scale([], 256)
