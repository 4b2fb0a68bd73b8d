"""Autoregressive models (section 1.x): causality of masked networks, the chain rule, samplers."""

import itertools
import math

import pytest
import torch

from gmtext.autoregressive import (complete, dependency_matrix, digits_network, fit_autoregressive,
                                   log_prob, nll_loss, rank_in_order, sample)
from gmtext.data.images import digits
from gmtext.nn.masked import MADE, NADE, encode_levels, hidden_degrees, made_masks
from gmtext.nn.pixelcnn import PixelCNN, conv_mask
from gmtext.recipes.autoregressive import fit_digits
from gmtext.train import TrainConfig



def _order(seed):
    return torch.randperm(64, generator=torch.Generator().manual_seed(seed))


SMALL = {  # networks on 8x8 digits, small enough for exact checks
    "fvsbn": lambda: MADE(hidden=(), order=_order(1)),
    "made": lambda: MADE(hidden=(100, 100), activation="tanh", order=_order(2)),
    "nade": lambda: NADE(hidden=12, order=_order(3)),
    "nade_onehot": lambda: NADE(hidden=12, encoding="onehot"),
    "pixelcnn": lambda: PixelCNN(channels=8, blocks=3),
    "pixelcnn_onehot": lambda: PixelCNN(channels=8, blocks=1, encoding="onehot"),
}


def _net(name):
    torch.manual_seed(0)
    return SMALL[name]().eval()


@pytest.mark.parametrize("name", SMALL)
def test_jacobian_is_exactly_zero_on_the_present_and_future(name):
    net = _net(name)
    x = torch.randint(0, 17, (1, 1, 8, 8), generator=torch.Generator().manual_seed(4))
    jac = dependency_matrix(net, x)                                        # (D, D), by autograd
    rank = rank_in_order(net.order)
    future = rank[None, :] >= rank[:, None]                                # j at or after i
    assert jac.shape == (64, 64)
    assert (jac[future] == 0).all()                                        # exactly zero
    if isinstance(net, PixelCNN):                                          # what the masks reach
        assert torch.equal(jac > 0, _reachable(net))
    else:                                                                  # all of the past
        assert (jac[~future] > 0).all()


def _reachable(net):
    """Pixels j that output i can read through the stack of masks (a path of non-zero taps)."""
    def spread(kernel, reach):                  # reach[j, y, x]: feature (y, x) reads input j
        c, new = kernel.shape[0] // 2, torch.zeros_like(reach)
        for dy, dx in (kernel > 0).nonzero().tolist():
            shifted = torch.zeros_like(reach)   # output (y, x) reads position (y + dy - c, x + dx - c)
            def window(s):                      # destination and source ranges of a shift s
                return slice(max(0, -s), 8 - max(0, s)), slice(max(0, s), 8 + min(0, s))
            (ys, ys2), (xs, xs2) = window(dy - c), window(dx - c)
            shifted[:, ys, xs] = reach[:, ys2, xs2]
            new |= shifted
        return new
    reach = spread(net.first.mask[0, 0], torch.eye(64, dtype=torch.bool).view(64, 8, 8))
    for block in net.blocks:
        reach = reach | spread(block.conv.mask[0, 0], reach)               # residual + type B
    return reach.reshape(64, 64).T                                         # [output i, input j]


@pytest.mark.parametrize("name", SMALL)
def test_changing_later_pixels_leaves_a_conditional_unchanged(name):
    net = _net(name)
    gen = torch.Generator().manual_seed(5)
    x = torch.randint(0, 17, (1, 1, 8, 8), generator=gen)
    with torch.no_grad():
        reference = net(x)[0]                                              # (D, V)
        rank = rank_in_order(net.order)
        for i in range(0, 64, 3):
            later = rank >= rank[i]
            y = x.clone().view(1, -1)
            y[0, later] = torch.randint(0, 17, (int(later.sum()),), generator=gen)
            assert torch.equal(net(y.view(1, 1, 8, 8))[0, i], reference[i])
            y[0, ~later] = (y[0, ~later] + 1) % 17                         # an earlier pixel moves
            if (~later).any():
                assert not torch.equal(net(y.view(1, 1, 8, 8))[0, i], reference[i])


def _tiny(kind):
    torch.manual_seed(0)
    shape, levels = (1, 1, 3), 3
    if kind == "made":
        return MADE(shape, levels, hidden=(8,), order=torch.tensor([2, 0, 1])).eval()
    if kind == "nade":
        return NADE(shape, levels, hidden=4, order=torch.tensor([1, 2, 0])).eval()
    return PixelCNN(shape, levels, channels=4, first_kernel=3, blocks=1).eval()


ALL_TINY = torch.tensor(list(itertools.product(range(3), repeat=3))).view(27, 1, 1, 3)


@pytest.mark.parametrize("kind", ["made", "nade", "pixelcnn"])
def test_chain_rule_gives_a_normalised_distribution(kind):
    with torch.no_grad():
        total = log_prob(_tiny(kind), ALL_TINY).exp().sum()              # all 3^3 images
    assert abs(float(total) - 1.0) < 1e-5


def _frequencies(x):
    index = (x.view(len(x), -1) * torch.tensor([9, 3, 1])).sum(1)
    return torch.bincount(index, minlength=27).double() / len(x)


@pytest.mark.parametrize("kind", ["made", "nade", "pixelcnn"])
def test_sequential_sampling_draws_from_the_model(kind):
    net, n = _tiny(kind), 40000
    x = sample(net, n, torch.Generator().manual_seed(6))
    with torch.no_grad():
        p = log_prob(net, ALL_TINY).exp().double()
    se = (p * (1 - p) / n).sqrt()
    assert ((_frequencies(x) - p).abs() < 5 * se + 1e-4).all()


def test_completion_samples_the_conditional_and_keeps_known_pixels():
    net, n = _tiny("pixelcnn"), 40000                                     # raster order
    known = torch.tensor([[[True, False, False]]])                        # first pixel given
    start = torch.full((n, 1, 1, 3), 2)
    x = complete(net, start, known, torch.Generator().manual_seed(7))
    assert (x[:, 0, 0, 0] == 2).all()
    with torch.no_grad():
        p = log_prob(net, ALL_TINY).exp().double()
    p = torch.where(ALL_TINY[:, 0, 0, 0] == 2, p, 0.0)
    p = p / p.sum()                                                       # p(x2, x3 | x1 = 2)
    se = (p * (1 - p) / n).sqrt()
    assert ((_frequencies(x) - p).abs() < 5 * se + 1e-4).all()


def test_temperature_rescales_the_first_conditional():
    net, n, temperature = _tiny("pixelcnn"), 40000, 0.5
    x = sample(net, n, torch.Generator().manual_seed(8), temperature=temperature)
    with torch.no_grad():
        first = (net(ALL_TINY[:1])[0, 0] / temperature).softmax(-1).double()   # p(x1)^(1/T)
    counts = torch.bincount(x[:, 0, 0, 0], minlength=3).double() / n
    assert ((counts - first).abs() < 5 * (first * (1 - first) / n).sqrt() + 1e-4).all()


def test_made_masks_connect_only_increasing_degrees():
    d = 7
    inputs = torch.randperm(d, generator=torch.Generator().manual_seed(9)) + 1
    hidden = [hidden_degrees(11, d),
              torch.randint(1, d, (13,), generator=torch.Generator().manual_seed(1))]
    masks = made_masks(inputs, hidden, inputs)
    paths = masks[0]
    for mask in masks[1:]:
        paths = mask @ paths                                              # number of paths j -> i
    allowed = inputs[:, None] > inputs[None, :]
    assert (paths[~allowed] == 0).all() and (paths[allowed] > 0).all()
    assert torch.equal(made_masks(torch.arange(1, 4), [], torch.arange(1, 4))[0],
                       torch.ones(3, 3).tril(-1))                         # FVSBN: strictly lower


def test_conv_masks_and_encodings():
    assert torch.equal(conv_mask(3, "B"), torch.tensor([[1.0, 1, 1], [1, 1, 0], [0, 0, 0]]))
    assert conv_mask(5, "A").sum() == 12 and conv_mask(5, "B").sum() == 13
    x = torch.randint(0, 17, (4, 1, 8, 8))
    onehot, thermo = (encode_levels(x, 17, (1, 8, 8), e) for e in ("onehot", "thermometer"))
    assert torch.equal(thermo, onehot.flip(-1).cumsum(-1).flip(-1)[..., 1:])   # [x > k] = sum_{v>k}
    assert torch.equal(onehot.argmax(-1), x.view(4, -1))
    assert torch.equal(thermo.sum(-1), x.view(4, -1).float())


def test_bad_inputs_raise_clear_errors():
    net = digits_network("fvsbn")
    x = torch.randint(0, 17, (2, 1, 8, 8))
    with pytest.raises(TypeError, match="integer grey levels"):
        log_prob(net, x.float() / 16)
    with pytest.raises(ValueError, match="0 .. 16"):
        log_prob(net, x + 1)
    with pytest.raises(ValueError, match="0 .. 16"):
        log_prob(net, x - 1)
    with pytest.raises(ValueError, match="shape"):
        log_prob(net, x.view(2, 64))
    with pytest.raises(ValueError, match="temperature"):
        sample(net, 2, temperature=0.0)
    with pytest.raises(ValueError, match="positive int"):
        sample(net, 0)
    with pytest.raises(ValueError, match="known"):
        complete(net, x, torch.ones(8, 8, dtype=torch.bool))
    with pytest.raises(TypeError, match="boolean"):
        complete(net, x, torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match="valid: fvsbn"):
        digits_network("pixelrnn")
    with pytest.raises(ValueError, match="onehot"):
        PixelCNN(encoding="binary")
    with pytest.raises(ValueError, match="permutation"):
        MADE(order=torch.zeros(64, dtype=torch.long))
    with pytest.raises(ValueError, match="kind"):
        conv_mask(3, "C")
    with pytest.raises(ValueError, match="one image"):
        dependency_matrix(net, x)


def test_training_lowers_the_exact_nll_below_uniform():
    torch.manual_seed(0)
    net = digits_network("fvsbn")
    train, val = digits("train"), digits("val")
    fit_autoregressive(net, train, val, TrainConfig(60, lr=3e-3, eval_every=30, progress=False),
                       generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert float(nll_loss(net.eval(), val)) < 64 * math.log(17) - 40
    with pytest.raises(TypeError):
        fit_autoregressive(net, train.float(), val, TrainConfig(1, progress=False))


def test_recipe_is_deterministic_and_leaves_the_global_state_alone():
    state = torch.random.get_rng_state()
    first = fit_digits("fvsbn", profile="quick", seed=3, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = fit_digits("fvsbn", profile="quick", seed=3, progress=False)
    assert torch.equal(first.test_log_prob, second.test_log_prob)
    assert first.test_nll == pytest.approx(-float(first.test_log_prob.double().mean()))
