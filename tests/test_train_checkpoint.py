import dataclasses
import math
import warnings

import pytest
import torch

from gmtext import checkpoint
from gmtext.nn import MLP
from gmtext.train import (EMA, EarlyStopping, TrainConfig, fit, make_lr_scheduler,
                          make_optimizer, minibatches)


def test_fit_solves_least_squares():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 3, generator=g)
    w_true = torch.tensor([[1.0], [-2.0], [0.5]])
    y = x @ w_true
    net = torch.nn.Linear(3, 1, bias=False)
    hist = fit(net, lambda b: (net(b[0]) - b[1]).pow(2).mean(),
               minibatches(x, y, batch_size=64, generator=g),
               TrainConfig(400, lr=0.05, progress=False))
    assert torch.allclose(net.weight.T, w_true, atol=1e-2)
    assert len(hist.loss) == 400 and hist.loss[-1] < 1e-3 * hist.loss[0]
    assert hist.ema is None


def test_fit_refuses_nan_and_bad_arguments():
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="diverged"):
        fit(None, lambda: w.sum() * float("nan"), None, TrainConfig(3, progress=False),
            optimizer=opt)
    with pytest.raises(ValueError, match="optimizer="):
        fit(None, lambda: w.sum(), None, TrainConfig(1, progress=False))
    with pytest.raises(ValueError, match="ema_decay"):
        fit(None, lambda: w.sum(), None, TrainConfig(1, ema_decay=0.9), optimizer=opt)
    with pytest.raises(ValueError, match="evaluate"):
        fit(torch.nn.Linear(1, 1), lambda: w.sum(), None, TrainConfig(1, eval_every=1))
    with pytest.raises(ValueError, match="evaluate"):
        fit(torch.nn.Linear(1, 1), lambda: w.sum(), None, TrainConfig(1), evaluate=lambda: 0.0)
    with pytest.raises(TypeError, match="TrainConfig"):
        fit(torch.nn.Linear(1, 1), lambda: w.sum(), None, 10)


@pytest.mark.parametrize("field, value, words", [
    ("steps", 0, "steps must be an int >= 1"),
    ("steps", 2.5, "steps must be an int >= 1"),
    ("lr", 0.0, "lr must be a finite number > 0"),
    ("lr", float("nan"), "lr must be a finite number > 0"),
    ("optimizer", "rmsprop", "valid: adam, adamw, sgd"),
    ("weight_decay", -1e-4, "weight_decay must be a number >= 0"),
    ("lr_schedule", "linear", "valid: constant, cosine"),
    ("lr_min", 1.5, "lr_min is a fraction of lr"),
    ("ema_decay", 1.0, r"ema_decay must be None or in \[0, 1\)"),
    ("ema_decay", -0.1, r"ema_decay must be None or in \[0, 1\)"),
    ("clip_grad_norm", -1.0, "clip_grad_norm must be None or a finite number > 0"),
    ("clip_grad_norm", 0.0, "clip_grad_norm must be None or a finite number > 0"),
    ("max_seconds", 0, "max_seconds must be None or a finite number > 0"),
    ("eval_every", 0, "eval_every must be an int >= 1"),
    ("patience", 0, "patience must be an int >= 1"),
])
def test_train_config_names_the_bad_field_and_the_valid_values(field, value, words):
    kwargs = {"steps": 10, field: value}
    with pytest.raises(ValueError, match=words):
        TrainConfig(**kwargs)


def test_train_config_is_frozen():
    config = TrainConfig(10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.lr = 1.0


def test_make_optimizer_builds_the_named_optimiser():
    params = [torch.zeros(2, requires_grad=True)]
    for name, kind in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                       ("sgd", torch.optim.SGD)):
        opt = make_optimizer(params, TrainConfig(1, lr=0.3, optimizer=name, weight_decay=0.1))
        assert type(opt) is kind
        assert opt.param_groups[0]["lr"] == 0.3 and opt.param_groups[0]["weight_decay"] == 0.1


def test_cosine_schedule_matches_its_formula_and_ends_at_lr_min():
    opt = make_optimizer([torch.zeros(1, requires_grad=True)], TrainConfig(1))
    config = TrainConfig(8, lr=1e-3, lr_schedule="cosine", lr_min=0.1)
    sched = make_lr_scheduler(opt, config)
    lrs = []
    for _ in range(8):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    k = torch.arange(1, 9, dtype=torch.float64)
    expected = 1e-3 * (0.1 + 0.9 * 0.5 * (1 + torch.cos(math.pi * k / 8)))
    assert torch.allclose(torch.tensor(lrs, dtype=torch.float64), expected, rtol=1e-12)
    assert lrs[-1] == pytest.approx(1e-4)


def test_clipping_bounds_the_gradient_norm():
    net = torch.nn.Linear(4, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    # one SGD step with lr 1 moves the weights by exactly the clipped gradient
    fit(net, lambda: -1000.0 * net.weight.sum(), None,
        TrainConfig(1, lr=1.0, optimizer="sgd", clip_grad_norm=0.5, progress=False))
    assert float(net.weight.detach().norm()) == pytest.approx(0.5, rel=1e-5)


def test_ema_is_the_exponential_average():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    ema = EMA(net, decay=0.5, warmup=False)
    for value in (1.0, 1.0):
        net.weight.data.fill_(value)
        ema.update(net)
    assert ema.shadow.weight.item() == pytest.approx(0.75)   # 0.5*(0.5*0 + 0.5*1) + 0.5*1
    ema.copy_to(net)
    assert net.weight.item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        EMA(net, decay=1.0)


def test_ema_warmup_uses_min_of_decay_and_the_count_ratio():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    ema, average = EMA(net, decay=0.5), 0.0
    for k in range(20):
        net.weight.data.fill_(float(k + 1))
        ema.update(net)
        decay = min(0.5, (1 + k) / (10 + k))
        average = decay * average + (1 - decay) * (k + 1)
        assert ema.shadow.weight.item() == pytest.approx(average)


def test_fit_returns_the_average_in_eval_mode():
    net = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Dropout(0.1))
    hist = fit(net, lambda: net[0].weight.pow(2).sum(), None,
               TrainConfig(5, ema_decay=0.9, progress=False))
    assert hist.ema is not None and not hist.ema.training
    assert all(not p.requires_grad for p in hist.ema.parameters())


def test_early_stopping_restores_the_best_weights():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    # The training loss pushes w up forever; the validation loss is best at w = 1.
    hist = fit(net, lambda: -net.weight.sum(), None,
               TrainConfig(1000, lr=0.1, optimizer="sgd", eval_every=1, patience=3,
                           progress=False),
               evaluate=lambda: (net.weight - 1).abs().item())
    assert hist.stopped_early and len(hist.loss) < 1000
    assert net.weight.item() == pytest.approx(1.0, abs=1e-6)
    assert [s for s, _ in hist.logs["val"]] == list(range(len(hist.loss)))


def test_early_stopping_callback_still_works_on_its_own():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    stopper = EarlyStopping(net, lambda: (net.weight - 1).abs().item(), every=1, patience=3)
    hist = fit(net, lambda: -net.weight.sum(), None,
               TrainConfig(1000, lr=0.1, optimizer="sgd", progress=False), callbacks=[stopper])
    assert hist.stopped_early and net.weight.item() == pytest.approx(1.0, abs=1e-6)


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
