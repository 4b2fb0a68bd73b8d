"""Progressive distillation and reflow: the exact one-step identity, bad input, tiny end-to-end runs."""

import math

import pytest
import torch

from gmtext.data.toy import GaussianMixture
from gmtext.diffusion import CosineSchedule, DDIMSampler, VPSchedule, mixture_velocity, train_diffusion
from gmtext.diffusion import distillation as D
from gmtext.diffusion.samplers import sample
from gmtext.metrics.paths import straightness
from gmtext.nn import ConditionalMLP


def _teacher(dim: int = 3):
    """A fixed nonlinear v-network in float64 (any function will do for the identity)."""
    g = torch.Generator().manual_seed(0)
    w, u = torch.randn(dim, dim, generator=g, dtype=torch.float64), torch.randn(dim, generator=g, dtype=torch.float64)
    return lambda x, t: torch.tanh(x @ w + t[:, None] * u) + 0.3 * x


@pytest.mark.parametrize("schedule", [CosineSchedule(), VPSchedule()], ids=["cosine", "vp"])
def test_one_student_step_with_the_target_lands_on_the_teachers_two_steps(schedule):
    teacher, n = _teacher(), 4
    z1 = torch.randn(5, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    teach = D.distilled_sampler(schedule, "v_prediction")
    path = sample(teacher, teach, (5, 3), 2 * n, x_init=z1, return_path=True)      # (2n + 1, 5, 3)
    student = D.distilled_sampler(schedule, "sample")                              # outputs x0 = the target
    student.set_timesteps(n)
    z = z1
    for k, t in enumerate(student.timesteps):
        target = D.progressive_target(z, path[2 * k + 2], t, student._ends[k], schedule)
        z = student.step(target, t, z).prev_sample
        assert torch.allclose(z, path[2 * k + 2], rtol=0, atol=1e-10), (k, float((z - path[2 * k + 2]).abs().max()))
        # the loss's own two teacher steps are the sampler's
        z_end, _ = D.teacher_two_steps(teacher, schedule, path[2 * k], t.expand(5), n)
        assert torch.allclose(z_end, path[2 * k + 2], rtol=0, atol=1e-10)


def test_the_loss_is_zero_for_a_student_that_does_two_teacher_steps():
    schedule, teacher, n = CosineSchedule(), _teacher(), 4

    def student(z, t):          # a v-network whose x0 is the exact target (t's grid is 1/n)
        z_end, t_end = D.teacher_two_steps(teacher, schedule, z, t.double(), n)
        x = D.progressive_target(z, z_end, t.double(), t_end, schedule)
        a, s = schedule.alpha_sigma(t.double())
        return (a[:, None] * z - x) / s[:, None]                   # v with x0 = a z - s v (VP)
    x0 = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    loss = D.progressive_distillation_loss(student, teacher, schedule, x0, n, torch.Generator().manual_seed(3))
    assert loss.shape == () and float(loss) < 1e-20
    wrong = D.progressive_distillation_loss(teacher, teacher, schedule, x0, n, torch.Generator().manual_seed(3))
    assert float(wrong) > 1e-4                                      # one teacher step is not two


def test_bad_input_is_refused():
    schedule, teacher = CosineSchedule(), _teacher()
    x0 = torch.zeros(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="prediction_type"):
        D.progressive_distillation_loss(teacher, teacher, schedule, x0, 2, prediction_type="epsilon")
    with pytest.raises(ValueError, match="NaN"):
        D.progressive_distillation_loss(teacher, teacher, schedule, x0 * math.nan, 2)
    with pytest.raises(ValueError, match="num_steps"):
        D.progressive_distillation_loss(teacher, teacher, schedule, x0, 0)
    with pytest.raises(ValueError, match="shape"):
        D.progressive_distillation_loss(lambda x, t: x[:, :2], teacher, schedule, x0, 2)
    with pytest.raises(ValueError, match="shape"):
        D.progressive_target(x0, x0[:2], 0.5, 0.25, schedule)
    with pytest.raises(ValueError, match=">= 1/num_steps"):
        D.teacher_two_steps(teacher, schedule, x0, torch.full((4,), 0.1), 2)
    net = ConditionalMLP(3, hidden=8, layers=1)
    with pytest.raises(ValueError, match="power of 2"):
        D.progressive_distillation(net, schedule, x0.float(), 6, 1, torch.Generator())
    with pytest.raises(TypeError, match="nn.Module"):
        D.progressive_distillation(teacher, schedule, x0.float(), 4, 1, torch.Generator())
    with pytest.raises(ValueError, match="one shape"):
        D.reflow(net, torch.zeros(8, 3), torch.zeros(8, 2), 1, torch.Generator())
    with pytest.raises(ValueError, match="NaN"):
        D.reflow(net, torch.zeros(8, 3), torch.full((8, 3), math.nan), 1, torch.Generator())
    with pytest.raises(ValueError, match="noise"):
        D.flow_trajectory(net, torch.zeros(8), 4)


def test_a_one_step_student_matches_its_teacher_on_a_gaussian():
    torch.manual_seed(0)
    gauss = GaussianMixture([[1.0, -0.5]], [[0.5, 0.3]])
    schedule, gen = CosineSchedule(), torch.Generator().manual_seed(0)
    teacher, _ = train_diffusion(ConditionalMLP(2, hidden=64, layers=2), schedule, gauss.sample, 800, gen,
                                 batch_size=256, prediction_type="v_prediction", progress=False)
    stages = D.progressive_distillation(teacher, schedule, gauss.sample, 8, 250, gen, batch_size=256, lr=1e-3,
                                        progress=False)
    assert [s.num_steps for s in stages] == [4, 2, 1] and all(s.seconds > 0 for s in stages)
    n = 4000
    ref = sample(teacher, D.distilled_sampler(schedule), (n, 2), 8, torch.Generator().manual_seed(1))
    one = sample(stages[-1].student, D.distilled_sampler(schedule), (n, 2), 1, torch.Generator().manual_seed(2))
    assert torch.isfinite(one).all()
    se_mean = torch.sqrt((ref.var(0) + one.var(0)) / n)             # independent sets: Monte Carlo error
    assert ((one.mean(0) - ref.mean(0)).abs() < 4 * se_mean).all(), (one.mean(0), ref.mean(0), se_mean)
    se_std = ref.std(0) * math.sqrt(1 / n)                           # se of a std ~ std / sqrt(2n), twice
    assert ((one.std(0) - ref.std(0)).abs() < 4 * se_std).all(), (one.std(0), ref.std(0))
    # and one step of the teacher itself is visibly worse: what the distillation bought
    raw = sample(teacher, D.distilled_sampler(schedule), (n, 2), 1, torch.Generator().manual_seed(2))
    assert ((raw.std(0) - ref.std(0)).abs() > 4 * se_std).any()


def test_reflow_with_the_exact_teacher_straightens_the_paths():
    torch.manual_seed(0)
    mix = GaussianMixture([[-2.0, 0.0], [2.0, 0.0], [0.0, 2.0]], 0.3)
    teacher = lambda x, s: mixture_velocity(mix, x, s)             # noqa: E731 - the exact marginal velocity
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(4000, 2, generator=gen)
    endpoints = D.flow_trajectory(teacher, noise, 100)[0][-1]
    model, hist = D.reflow(ConditionalMLP(2, hidden=64, layers=2), noise, endpoints, 800, gen, progress=False)
    fresh = torch.randn(1000, 2, generator=gen)
    report = {}
    for name, field in (("teacher", teacher), ("reflow", model)):
        traj, times = D.flow_trajectory(field, fresh, 100)
        one = D.flow_trajectory(field, fresh, 1)[0][-1]
        report[name] = (float(straightness(traj, times)), float((one - traj[-1]).norm(dim=1).mean()))
    assert report["reflow"][0] < 0.5 * report["teacher"][0], report
    assert report["reflow"][1] < 0.5 * report["teacher"][1], report
