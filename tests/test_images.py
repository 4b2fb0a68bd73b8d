import pytest
import torch

from gmtext.data import images


def test_split_sizes_values_and_order():
    sizes = {}
    for split in images.SPLITS:
        x, y = images.digits(split, labels=True)
        assert x.dtype == torch.int64 and x.shape[1:] == (1, 8, 8)
        assert int(x.min()) >= 0 and int(x.max()) <= 16 and y.shape == (len(x),)
        sizes[split] = len(x)
    assert sizes == {"train": 1000, "val": 350, "test": 447}


def test_splits_are_contiguous_rows_of_the_loader():
    from sklearn.datasets import load_digits

    raw = torch.as_tensor(load_digits().images, dtype=torch.int64)
    joined = torch.cat([images.digits(s) for s in ("train", "val", "test")])[:, 0]
    assert torch.equal(joined, raw)


def test_returned_tensors_are_copies():
    x = images.digits("train")
    x.zero_()
    assert int(images.digits("train").sum()) > 0


def test_unknown_split():
    with pytest.raises(ValueError, match="valid splits: train, val, test"):
        images.digits("validation")
