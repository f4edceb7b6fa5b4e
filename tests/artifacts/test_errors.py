"""Errors that name a setting by its argument or config key, and show it as a flag on request."""

import pickle

import pytest

from deeplab_tf.artifacts.errors import ArgumentError, ArgumentFileNotFoundError, ArgumentValueError


def test_the_message_names_the_setting_and_flagged_spells_it_as_asked():
    error = ArgumentValueError("pass `data_dir`=DIR or set `train.warmup_steps`=0; `x y` and ` are text")
    assert str(error) == "pass data_dir=DIR or set train.warmup_steps=0; `x y` and ` are text"
    assert (
        error.flagged(lambda name: f"<{name}>")
        == "pass <data_dir>=DIR or set <train.warmup_steps>=0; `x y` and ` are text"
    )
    assert isinstance(error, ValueError) and isinstance(error, ArgumentError)


def test_the_built_in_type_is_kept_and_a_pickled_error_keeps_its_template():
    with pytest.raises(FileNotFoundError, match="^path=/m does not exist$"):
        raise ArgumentFileNotFoundError("`path`=/m does not exist")
    copy = pickle.loads(pickle.dumps(ArgumentFileNotFoundError("`path`=/m does not exist")))
    assert type(copy) is ArgumentFileNotFoundError and str(copy) == "path=/m does not exist"
    assert copy.flagged(lambda name: "--model") == "--model=/m does not exist"
