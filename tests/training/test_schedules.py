import numpy as np
import pytest

from deeplab_tf.training.schedules import WarmupPolynomialDecay


def test_warm_up_then_polynomial_decay():
    schedule = WarmupPolynomialDecay(0.1, total_steps=10, warmup_steps=4, power=1.0)
    rates = [float(schedule(step)) for step in (0, 3, 4, 7, 10)]
    np.testing.assert_allclose(rates, [0.02, 0.08, 0.1, 0.05, 0.0], rtol=1e-6, atol=1e-7)


def test_train_steps_within_the_warm_up_name_the_fix():
    with pytest.raises(ValueError, match=r"train_steps \(30\) must exceed warmup_steps \(100\).*with train.warmup_steps=N"):
        WarmupPolynomialDecay(0.1, total_steps=30, warmup_steps=100)
