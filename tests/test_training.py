"""Training the head: Teachable Machine's defaults, Keras' Adam step for step, stop, split."""

import numpy as np
import pytest

from tm_core.errors import InputError
from tm_core.evaluation import evaluate, evaluate_run
from tm_core.training import EpochStats, TrainConfig, held_out_count, init_head, split_per_class, train


def blobs(n_per_class=40, k=3, d=32, seed=0, spread=1.0):
    """Separable-ish Gaussian blobs: real learning, small enough to be instant."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    x = np.concatenate([centres[c] + spread * rng.normal(size=(n_per_class, d)) for c in range(k)]).astype(np.float32)
    y = np.repeat(np.arange(k), n_per_class)
    return x, y, [f"Class {i + 1}" for i in range(k)]


def test_defaults_are_teachable_machines():
    c = TrainConfig()
    assert (c.epochs, c.batch_size, c.learning_rate, c.hidden_units, c.test_fraction) == (50, 16, 0.001, 100, 0.15)


@pytest.mark.parametrize("field,value", [("epochs", 0), ("epochs", 2.5), ("batch_size", 0), ("learning_rate", 0.0),
                                         ("learning_rate", 5.0), ("test_fraction", 1.0), ("hidden_units", -1)])
def test_bad_settings_are_refused_with_their_name(field, value):
    with pytest.raises(InputError) as e:
        TrainConfig(**{field: value}).validate()
    assert field.split("_")[0] in str(e.value)


def test_split_holds_out_fifteen_percent_of_each_class_reproducibly():
    y = np.repeat([0, 1, 2], [150, 100, 7])
    s = split_per_class(y, 0.15, seed=3)
    assert [int((y[s.test] == c).sum()) for c in range(3)] == [23, 15, 1]
    assert not set(s.train) & set(s.test) and len(s.train) + len(s.test) == len(y)
    again = split_per_class(y, 0.15, seed=3)
    assert np.array_equal(s.test, again.test)
    assert not np.array_equal(s.test, split_per_class(y, 0.15, seed=4).test)
    assert held_out_count(1, 0.15) == 0 and held_out_count(2, 0.15) == 1 and held_out_count(10, 0.0) == 0


def test_train_learns_and_reports_every_epoch():
    x, y, names = blobs()
    seen: list[EpochStats] = []
    run = train(x, y, names, TrainConfig(epochs=20), on_epoch=seen.append)
    assert [s.epoch for s in seen] == list(range(1, 21)) and run.history == seen
    assert seen[-1].loss < seen[0].loss and seen[-1].accuracy == 1.0
    assert seen[-1].test_accuracy == 1.0 and seen[-1].test_loss < seen[0].test_loss
    assert len(run.split.test) == 3 * 6 and not run.stopped
    ev = evaluate_run(run, x, y)
    assert ev.accuracy == 1.0 and ev.confusion.trace() == 18
    assert run.head.predict_proba(x).shape == (120, 3)
    assert run.summary()["history"][0]["epoch"] == 1


def test_same_seed_same_run_other_seed_other_run():
    x, y, names = blobs(spread=3.0)
    a = train(x, y, names, TrainConfig(epochs=3, seed=1))
    b = train(x, y, names, TrainConfig(epochs=3, seed=1))
    c = train(x, y, names, TrainConfig(epochs=3, seed=2))
    assert np.array_equal(a.head.w1, b.head.w1) and a.history == b.history
    assert not np.array_equal(a.head.w1, c.head.w1)


def test_stop_between_epochs_keeps_what_was_done():
    x, y, names = blobs()
    seen = []
    run = train(x, y, names, TrainConfig(epochs=50), on_epoch=seen.append, should_stop=lambda: len(seen) >= 4)
    assert run.stopped and len(run.history) == 4
    assert run.head.predict_proba(x).argmax(1).tolist() != [0] * len(x)  # a usable head, not the initial one


def test_on_head_gives_each_epochs_head_for_interrupted_runs():
    x, y, names = blobs()
    heads = []

    def interrupt(stats):
        if stats.epoch == 3:
            raise KeyboardInterrupt  # what a Streamlit rerun does to a running script, in effect

    with pytest.raises(KeyboardInterrupt):
        train(x, y, names, TrainConfig(epochs=10), on_head=heads.append, on_epoch=interrupt)
    assert len(heads) == 3 and not np.array_equal(heads[0].w1, heads[2].w1)
    full = train(x, y, names, TrainConfig(epochs=3))
    np.testing.assert_array_equal(heads[2].w1, full.head.w1)  # the kept head is the real epoch-3 head


def test_needs_two_classes():
    x, y, names = blobs(k=2)
    with pytest.raises(InputError):
        train(x[y == 0], y[y == 0], names)


def test_initial_weights_are_variance_scaling_like_teachable_machine():
    head = init_head(1280, 3, 100, seed=0)
    assert head.w1.shape == (1280, 100) and head.w2.shape == (100, 3) and not head.b1.any()
    assert abs(head.w1.std() - np.sqrt(1 / 1280)) < 0.1 * np.sqrt(1 / 1280)
    assert np.abs(head.w1).max() <= 2 * np.sqrt(1 / 1280) / 0.87962566103423978 + 1e-6  # truncated at 2σ


def test_matches_keras_adam_step_for_step():
    """The NumPy loop is Keras' Adam + softmax cross-entropy: same batches, same weights after."""
    import keras

    x, y, names = blobs(n_per_class=30, d=24, spread=2.5)
    config = TrainConfig(epochs=3, batch_size=16, learning_rate=0.01, hidden_units=12, seed=5)
    run = train(x, y, names, config)

    start = init_head(x.shape[1], 3, 12, config.seed)
    model = keras.Sequential([keras.Input((x.shape[1],)), *start.keras_layers()])
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="categorical_crossentropy")
    xtr, ytr = x[run.split.train], np.eye(3, dtype=np.float32)[y[run.split.train]]
    rng = np.random.default_rng(config.seed + 1)
    keras_losses = []
    for _ in range(config.epochs):
        order = rng.permutation(len(xtr))
        batches = [order[i:i + 16] for i in range(0, len(order), 16)]
        losses = [float(model.train_on_batch(xtr[b], ytr[b])) * len(b) for b in batches]  # batch mean, before its update
        keras_losses.append(sum(losses) / len(order))
    w1, b1, w2 = model.get_weights()
    np.testing.assert_allclose(run.head.w1, w1, atol=2e-5)
    np.testing.assert_allclose(run.head.b1, b1, atol=2e-5)
    np.testing.assert_allclose(run.head.w2, w2, atol=2e-5)
    np.testing.assert_allclose([h.loss for h in run.history], keras_losses, rtol=1e-4)


def test_evaluate_confusion_per_class_and_mistakes():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    ev = evaluate(probs, np.array([0, 1, 1, 1]), ["cat", "dog"])
    assert ev.accuracy == 0.75 and ev.per_class == {"cat": 1.0, "dog": 2 / 3}
    assert ev.confusion.tolist() == [[1, 0], [1, 2]] and ev.support == {"cat": 1, "dog": 3}
    assert [(m.index, m.true, m.predicted) for m in ev.mistakes] == [(2, "dog", "cat")]
    empty = evaluate(np.zeros((0, 2)), np.zeros(0, int), ["cat", "dog"])
    assert empty.accuracy is None and empty.per_class == {"cat": None, "dog": None}


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_overlapping_trainings_keep_one_blas_thread_and_restore_it_after_the_last():
    """Two sessions' trainings overlapping in one server: BLAS stays on one thread until the last one
    ends, then goes back to what it was (``threadpool_limits`` alone restored it under the other one).
    The overlap is played out in order here: a starts, b starts, a ends, b ends."""
    from tm_core.training import one_blas_thread

    before = _blas_threads()
    if not before or max(before) < 2:
        pytest.skip("BLAS runs on one thread here: nothing to tell apart")
    a, b = one_blas_thread(), one_blas_thread()
    a.__enter__()
    b.__enter__()
    assert _blas_threads() == [1] * len(before)
    a.__exit__(None, None, None)
    assert _blas_threads() == [1] * len(before)  # b is still training
    x, y, names = blobs()
    run = train(x, y, names, TrainConfig(epochs=3))  # a third one in and out meanwhile
    assert len(run.history) == 3 and _blas_threads() == [1] * len(before)
    b.__exit__(None, None, None)
    assert _blas_threads() == before
