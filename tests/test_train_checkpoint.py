import warnings

import pytest
import torch

from gmtext import checkpoint
from gmtext.nn import MLP
from gmtext.train import EMA, EarlyStopping, fit, minibatches


def test_fit_solves_least_squares():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g)
    w_true = torch.tensor([[1.0], [-2.0], [0.5]])
    y = x @ w_true
    net = torch.nn.Linear(3, 1, bias=False)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    hist = fit(lambda b: (net(b[0]) - b[1]).pow(2).mean(), opt,
               minibatches(x, y, batch_size=64, generator=g), steps=400, progress=False)
    assert torch.allclose(net.weight.T, w_true, atol=1e-2)
    assert len(hist.loss) == 400 and hist.loss[-1] < 1e-3 * hist.loss[0]


def test_fit_refuses_nan_and_bad_arguments():
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="diverged"):
        fit(lambda: w.sum() * float("nan"), opt, None, steps=3, progress=False)
    with pytest.raises(ValueError, match="positive int"):
        fit(lambda: w.sum(), opt, None, steps=0, progress=False)
    with pytest.raises(ValueError, match="model="):
        fit(lambda: w.sum(), opt, None, steps=1, ema=EMA(torch.nn.Linear(1, 1)), progress=False)


def test_ema_is_the_exponential_average():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    ema = EMA(net, decay=0.5)
    for value in (1.0, 1.0):
        net.weight.data.fill_(value)
        ema.update(net)
    assert ema.shadow.weight.item() == pytest.approx(0.75)   # 0.5*(0.5*0 + 0.5*1) + 0.5*1
    ema.copy_to(net)
    assert net.weight.item() == pytest.approx(0.75)


def test_early_stopping_restores_the_best_weights():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    # The training loss pushes w up forever; the validation loss is best at w = 1.
    stopper = EarlyStopping(net, lambda: (net.weight - 1).abs().item(), every=1, patience=3)
    hist = fit(lambda: -net.weight.sum(), opt, None, steps=1000, callbacks=[stopper],
               progress=False)
    assert hist.stopped_early and len(hist.loss) < 1000
    assert net.weight.item() == pytest.approx(1.0, abs=1e-6)
    assert [s for s, _ in hist.logs["val"]] == list(range(len(hist.loss)))


def test_minibatches_cover_an_epoch_without_repeats():
    x = torch.arange(10)
    batches = minibatches(x, batch_size=5, generator=torch.Generator().manual_seed(0))
    epoch = torch.cat([next(batches), next(batches)])
    assert sorted(epoch.tolist()) == list(range(10))
    with pytest.raises(ValueError, match="batch_size"):
        next(minibatches(x, batch_size=11))


def test_checkpoint_round_trip_and_atomicity(tmp_path):
    net = MLP(2, 2, hidden=8)
    path = checkpoint.save(net.state_dict(), tmp_path / "a" / "net.pt")
    other = checkpoint.load(MLP(2, 2, hidden=8), path)
    for a, b in zip(net.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert [p.name for p in path.parent.iterdir()] == ["net.pt"]   # no temporary left behind
    with pytest.raises(TypeError, match="state_dict, not a module"):
        checkpoint.save(net, tmp_path / "m.pt")


def test_load_or_train_retrains_on_corrupt_or_mismatched_file(tmp_path):
    path = tmp_path / "net.pt"
    calls = []
    train = calls.append
    assert checkpoint.load_or_train(MLP(2, 2, hidden=8), path, train, verbose=False) is False
    assert checkpoint.load_or_train(MLP(2, 2, hidden=8), path, train, verbose=False) is True
    assert len(calls) == 1
    with pytest.warns(UserWarning, match="does not match"):
        checkpoint.load_or_train(MLP(2, 2, hidden=16), path, train, verbose=False)
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="could not be read"):
        assert checkpoint.load_or_train(MLP(2, 2, hidden=16), path, train, verbose=False) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checkpoint.load_or_train(MLP(2, 2, hidden=16), path, train, verbose=False) is True


def test_mlp_shapes_and_errors():
    net = MLP(3, 2, hidden=16, layers=3, dropout=0.1, zero_last=True)
    assert net(torch.randn(4, 3)).abs().sum() == 0
    with pytest.raises(ValueError, match="last dimension 3"):
        net(torch.randn(4, 2))
    with pytest.raises(ValueError, match="valid: relu"):
        MLP(1, 1, activation="swish")
