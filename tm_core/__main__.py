"""The engine without a browser.

    python -m tm_core train DATA_DIR --out OUT_DIR [--kind image|audio --epochs N --batch-size N
                                                    --learning-rate X --encoder NAME --seed N
                                                    --early-stopping --patience N --folder-recordings]
    python -m tm_core sweep DATA_DIR --learning-rate 0.0001,0.001 --batch-size 16,64 --seeds 3 --out OUT
    python -m tm_core evaluate OUT_DIR TEST_DIR      # JSON on stdout, progress on stderr
    python -m tm_core predict OUT_DIR FILE...
    python -m tm_core download-models [--to DIR] [--from URL] [--only FILE ...]   # for offline rooms

DATA_DIR and TEST_DIR are folders (or zips) of ``<class>/<files>``: images, or for audio any
wav / flac / ogg / mp3 (a folder ``background_noise`` or ``_background_noise_`` is the
Background Noise class). Bad input is one line on stderr and a non-zero exit code, never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: keep its logs quiet

from tm_core.errors import InputError, TMError
from tm_core.training import TrainConfig

EXIT_BAD_INPUT = 2


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Progress:
    """``label n/N`` on stderr: redrawn in place on a terminal, a few lines otherwise."""

    def __init__(self, label: str, total: int | None):
        self.label, self.total = label, total
        self.tty = sys.stderr.isatty()
        self._last = -1.0

    def __call__(self, done: int, total: int | None = None) -> None:
        total = total or self.total
        frac = done / total if total else 0.0
        if self.tty:
            print(f"\r{self.label} {done}/{total}", end="", file=sys.stderr, flush=True)
            if total and done >= total:
                print(file=sys.stderr)
        elif frac - self._last >= 0.25 or (total and done >= total and self._last < 1):
            self._last = frac
            log(f"{self.label} {done}/{total}")


def _listing(path: str):
    from tm_core import media

    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".zip":
        return media.read_zip(p)
    return media.list_folder(p)


def _report_skipped(errors: list[InputError]) -> None:
    for e in errors[:20]:
        log(f"skipped {e}")
    if len(errors) > 20:
        log(f"... and {len(errors) - 20} more skipped files")


def cmd_train(args: argparse.Namespace) -> int:
    if args.kind not in ("image", "audio", "pose", "hands"):
        raise InputError(args.kind, "only image, audio, pose and hands projects can be trained from the command line")
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                         test_fraction=args.test_fraction, seed=args.seed, early_stopping=args.early_stopping,
                         patience=args.patience).validate()
    from tm_core.encoders import default_encoder, encoder_names, get_encoder

    args.encoder = args.encoder or default_encoder(args.kind)
    if args.encoder not in encoder_names(args.kind):
        raise InputError(args.encoder, f"unknown encoder; choose one of: {', '.join(encoder_names(args.kind))}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "exists and is not a folder")
    listing = _listing(args.data_dir)

    from tm_core import augment, export, workflow
    from tm_core.project import Project, Sample
    from tm_core.session import Session

    log(f"loading encoder {args.encoder}")
    encoder = get_encoder(args.encoder, args.kind)
    sess = Session(project=Project(args.kind, class_names=[]), config=config, encoder_name=encoder.name)
    project, skipped = sess.project, []
    pixels: dict = {}  # each picture's decoded pixels, from the import to the backbone without a PNG in between

    def samples():  # the same import as the app's: each file (or, with --folder-recordings, sub-folder) one recording
        for item in project.add_listing(listing, by_folder=args.folder_recordings, pixels=pixels):
            if isinstance(item, Sample):
                yield item
            else:
                skipped.append(item)

    t0 = time.perf_counter()
    progress = Progress("embedding", len(listing.files))
    sess.cache.embed(encoder, samples(), on_progress=lambda done, _: progress(done + len(skipped)), pixels=pixels)
    embed_s = time.perf_counter() - t0
    _report_skipped(skipped)
    for sentence in project.last_import.sentences() if project.last_import is not None else []:
        log(sentence)
    for name, n in project.counts().items():
        if n == 0:
            log(f"class '{name}' has no usable {'sounds' if args.kind == 'audio' else 'images'}: left out")
    if args.kind == "audio" and not (project.background and project.background.samples):
        log("note: no background_noise folder: the model will not know silence or room noise "
            "(the app asks for a Background Noise class)")
    ds, features = workflow.embed(project, sess.cache, encoder, require_background=False)  # all cached by now
    log(f"{len(ds.samples)} samples in {len(ds.class_names)} classes embedded in {embed_s:.1f} s")
    missing = workflow.nothing_found(args.kind, features)
    thing = "person" if args.kind == "pose" else "hand"
    for i, name in enumerate(ds.class_names):
        if n := int(missing[ds.labels == i].sum()):
            log(f"class '{name}': no {thing} found in {n} of {int((ds.labels == i).sum())} pictures"
                + ("" if args.keep_missing else ": left out"))
    if args.augment and not augment.default_views(args.kind):
        log(f"--augment: {args.kind} projects have no altered copies; training on the samples only")
    t0, augmenting = time.perf_counter(), Progress("augmenting", None)
    prepared = workflow.prepare(project, sess.cache, encoder, config, augment_views=args.augment,
                                keep_missing=args.keep_missing, require_background=False,
                                on_progress=lambda stage, d, n: stage == workflow.AUGMENTING and augmenting(d, n))
    if prepared.extra is not None:
        log(f"{len(prepared.extra[1])} augmented views of the training samples embedded in "
            f"{time.perf_counter() - t0:.1f} s")
    ds, features, split = prepared.dataset, prepared.features, prepared.split
    log(f"training {config.epochs} epochs" + (f", early stopping with patience {config.patience}" if config.early_stopping else ""))
    if config.early_stopping and not len(split.test):
        log("note: no samples are held out (each class needs at least 2), so early stopping does nothing")

    width = len(str(config.epochs))

    def on_epoch(s) -> None:
        test = "" if s.test_loss is None else f"  test_loss {s.test_loss:.4f}  test_acc {s.test_accuracy:.4f}"
        print(f"epoch {s.epoch:>{width}}/{config.epochs}  loss {s.loss:.4f}  acc {s.accuracy:.4f}{test}", flush=True)

    rec = workflow.train(sess, prepared, config, on_epoch=on_epoch)
    run, held_out = rec.run, rec.evaluation
    if run.early_stopped_at is not None:
        log(f"stopped early at epoch {run.early_stopped_at}; kept epoch {run.kept_epoch}'s weights "
            f"(test loss {run.kept_stats().test_loss:.4f}, the lowest)")
    elif run.kept_epoch is not None:
        log(f"early stopping did not stop; kept epoch {run.kept_epoch}'s weights (test loss "
            f"{run.kept_stats().test_loss:.4f}, the lowest)")
    run.info.update(encoder=encoder.name, kind=args.kind, counts=project.counts(), skipped=[str(e) for e in skipped],
                    augmented_views=0 if prepared.extra is None else int(len(prepared.extra[1])),
                    held_out_ids=[ds.samples[i].id for i in split.test])
    if held_out.accuracy is not None:
        per = ", ".join(f"{k} {v:.2f}" for k, v in held_out.per_class.items() if v is not None)
        log(f"held-out accuracy {held_out.accuracy:.4f} on {len(run.split.test)} samples ({per})")

    held_out_images = [ds.samples[i].data for i in run.split.test]  # the int8 file is checked on them
    written = export.export_all(out, encoder, run.head, ds.class_names, export.some_images(held_out_images),
                                tflite=not args.no_tflite, on_step=lambda name: log(f"writing {out / name}"))
    if (agree := written.int8_agreement) is not None and agree.n:
        log(f"model_int8.tflite names the same class as model_float32.tflite on {agree.same} of {agree.n} "
            f"held-out pictures ({agree.share:.1%})")
    if args.kind == "image" and export.tfjs.supported(encoder):  # Teachable Machine's TensorFlow.js layout
        log(f"writing {out / 'tfjs'}")
        export.tfjs.write(out / "tfjs", encoder, run.head, ds.class_names)
    elif args.kind == "image":
        log(f"note: no TensorFlow.js export for {encoder.name}: it has layers that export does not write")
    (out / "run.json").write_text(json.dumps({**run.summary(), "held_out": held_out.to_dict()}, indent=1), encoding="utf-8")
    log(f"done: {out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Every combination of the given settings' values (over --seeds seeds) on DATA_DIR's embeddings, as the
    Experiments page's sweep: OUT/sweep.csv (one row per run) and OUT/sweep.json (runs and cells)."""
    from tm_core import grid, workflow
    from tm_core.encoders import default_encoder, encoder_names, get_encoder
    from tm_core.project import Project, Sample
    from tm_core.session import Session

    axes = {name: grid.parse_values(name, text) for name, text in
            (("epochs", args.epochs), ("batch_size", args.batch_size), ("learning_rate", args.learning_rate),
             (grid.NETWORK, args.network)) if text}
    fixed = {k: v[0] for k, v in axes.items() if len(v) == 1 and len(axes) > 1}  # one value: a setting, not an axis
    if grid.NETWORK in axes and args.encoder:
        raise InputError("--network", "give the networks to compare with --network, or one with --encoder")
    if grid.NETWORK in axes:  # one network: the encoder; several: the first listed is embedded first
        args.encoder = fixed.pop(grid.NETWORK, axes[grid.NETWORK][0])
    swept = {k: v for k, v in axes.items() if k not in fixed and not (k == grid.NETWORK and len(v) == 1 < len(axes))}
    if grid.NETWORK in swept and args.kind in ("pose", "hands"):
        raise InputError("--network", "a pose or hand project has one network: what it finds decides the samples")
    base = TrainConfig(test_fraction=args.test_fraction, seed=args.seed, **fixed).validate()
    spec = grid.GridSpec(swept, args.seeds).validate(base)
    args.encoder = args.encoder or default_encoder(args.kind)
    for name in spec.axes.get(grid.NETWORK, (args.encoder,)):
        if name not in encoder_names(args.kind):
            raise InputError(name, f"unknown encoder; choose one of: {', '.join(encoder_names(args.kind))}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "exists and is not a folder")
    listing = _listing(args.data_dir)
    log(f"loading encoder {args.encoder}")
    encoder = get_encoder(args.encoder, args.kind)
    sess = Session(project=Project(args.kind, class_names=[]), config=base, encoder_name=encoder.name)
    _report_skipped([i for i in sess.project.add_listing(listing, by_folder=args.folder_recordings)
                     if not isinstance(i, Sample)])
    embedding = Progress("embedding", None)
    prepared = workflow.prepare(sess.project, sess.cache, encoder, base, keep_missing=args.keep_missing,
                                require_background=False, on_progress=lambda _stage, d, n: embedding(d, n))
    log(f"{spec.runs} runs on {len(prepared.split.train)} training and {len(prepared.split.test)} held-out samples")
    def prepare_network(name: str):
        log(f"loading encoder {name}")
        other = get_encoder(name, args.kind)
        return workflow.prepare(sess.project, sess.cache, other, base, keep_missing=args.keep_missing,
                                require_background=False, on_progress=lambda _stage, d, n: embedding(d, n))

    t0, training = time.perf_counter(), Progress("training epochs", None)
    number = workflow.grid_sweep(sess, prepared, spec, on_progress=training, prepare_network=prepare_network)
    pairs, labels = workflow.grid_results(sess, number)
    runs = grid.run_table(pairs, labels)
    log(f"{len(runs)} runs trained in {time.perf_counter() - t0:.1f} s")
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.csv").write_text(grid.to_csv(runs), encoding="utf-8")
    (out / "sweep.json").write_text(grid.to_json(runs, spec, base), encoding="utf-8")
    cells = grid.cell_table(runs, list(spec.axes))
    print(cells[[*spec.axes, "runs", "accuracy_text", "seconds_text"]].to_string(index=False))
    log(f"done: {out / 'sweep.csv'}, {out / 'sweep.json'}")
    return 0


def _load_model(folder: str):
    from tm_core.predict import ExportedModel

    if not Path(folder).is_dir():
        raise InputError(folder, "is not a folder (give the OUT_DIR that train wrote)")
    log(f"loading {Path(folder) / 'model.keras'}")
    return ExportedModel(folder)


def _model_class(model, folder: str) -> str:
    """The model's class for a test folder name (``background_noise`` → Background Noise)."""
    from tm_core import kinds
    from tm_core.project import BACKGROUND_FOLDERS

    if folder.lower() in BACKGROUND_FOLDERS:
        return next((n for n in model.class_names if kinds.is_background_name(n)), folder)
    return folder


def _file_probs(model, items):
    """(name, InputError | probabilities) per file: a picture's (prepared as the project kind prepares
    pictures), or a sound's clip-level answer (the mean over its one-second windows), as the app gives them."""
    import numpy as np

    from tm_core import kinds, media
    from tm_core.predict import predict_windows

    items = list(items)
    if model.kind == "audio":
        for (name, _), result in zip(items, media.decode_audio_files(items)):
            try:
                if isinstance(result, InputError):
                    raise result
                yield name, predict_windows(model, result[1], name).probs
            except InputError as e:
                yield name, e
        return
    decoded = list(kinds.decode_images(model.kind, items))
    good = [r for _, r in decoded if not isinstance(r, InputError)]
    probs = iter(model.predict(np.stack(good)) if good else [])
    for name, r in decoded:
        yield name, r if isinstance(r, InputError) else next(probs)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from tm_core.evaluation import evaluate

    model = _load_model(args.out_dir)
    listing = _listing(args.test_dir)
    unknown = [c for c in listing.classes if _model_class(model, c) not in model.class_names]
    if unknown:
        raise InputError(args.test_dir, f"has classes the model does not know: {', '.join(unknown)} "
                         f"(the model knows: {', '.join(model.class_names)})")
    skipped = list(listing.skipped)
    rows, labels = [], []
    progress = Progress("predicting", len(listing.files))
    results = _file_probs(model, ((f.name, f.source) for f in listing.files))
    for i, (f, (_, result)) in enumerate(zip(listing.files, results), 1):
        if isinstance(result, InputError):
            skipped.append(result)
        else:
            rows.append(result)
            labels.append(model.class_names.index(_model_class(model, f.class_name)))
        progress(i)
    _report_skipped(skipped)
    if not rows:
        raise InputError(args.test_dir, "has no usable files")
    result = evaluate(np.stack(rows), np.array(labels), model.class_names).to_dict()
    result["skipped"] = [str(e) for e in skipped]
    print(json.dumps(result))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    model = _load_model(args.out_dir)
    failed = 0
    for path, probs in _file_probs(model, ((p, Path(p)) for p in args.files)):
        if isinstance(probs, InputError):
            log(f"error: {probs}")
            failed += 1
            continue
        ranked = sorted(zip(model.class_names, probs.tolist()), key=lambda kv: -kv[1])
        if args.json:
            print(json.dumps({"file": path, "top": ranked[0][0], "probabilities": dict(zip(model.class_names, probs.tolist()))}))
        else:
            print(f"{path}: {ranked[0][0]} {ranked[0][1]:.1%}  (" + ", ".join(f"{k} {v:.1%}" for k, v in ranked) + ")")
    return EXIT_BAD_INPUT if failed else 0


def cmd_download_models(args: argparse.Namespace) -> int:
    from tm_core import model_download

    results = model_download.download_all(model_download.jobs(args.to, args.mirror, args.only))
    log(model_download.summary(results, args.to))
    return 1 if any(r.outcome is model_download.Outcome.FAILED for r in results) else 0


def parser() -> argparse.ArgumentParser:
    from tm_core.project import KINDS

    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m tm_core", description="Teachable Studio's engine: train, evaluate and run image and audio classifiers.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train on DATA_DIR/<class>/<files> and write every export into OUT_DIR",
                       description="Train on DATA_DIR/<class>/<files> exactly as the app's Train page does, and write "
                       "every export into OUT_DIR. The held-out samples are chosen as in the app: a recording is never "
                       "on both sides. Each file is a recording of its own (a photo is one sample; a sound file's "
                       "one-second windows stay together), as when the same files are uploaded in the app; with "
                       "--folder-recordings each sub-folder inside a class folder is one recording (e.g. the frames "
                       "of one video), held out or trained on whole.")
    t.add_argument("data_dir", metavar="DATA_DIR", help="folder (or .zip) of class folders of images or sounds")
    t.add_argument("--out", required=True, metavar="OUT_DIR", help="folder for model.keras, keras_model.h5, labels.txt, *.tflite, run.json and "
                   "(image projects) tfjs/ with model.json, weights.bin, metadata.json")
    t.add_argument("--kind", default="image", choices=KINDS, help="project kind (default: image)")
    t.add_argument("--epochs", type=int, default=d.epochs, help=f"passes over the training samples (default {d.epochs})")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help=f"samples per weight update (default {d.batch_size})")
    t.add_argument("--learning-rate", type=float, default=d.learning_rate, help=f"size of each update (default {d.learning_rate})")
    t.add_argument("--test-fraction", type=float, default=d.test_fraction, help=f"share of each class held out, whole recordings at a time (default {d.test_fraction})")
    t.add_argument("--folder-recordings", action="store_true", help="each sub-folder inside a class folder "
                   "(DATA_DIR/<class>/<recording>/<files>, e.g. the frames of one video) is one recording: held out "
                   "or trained on whole (default: each file is a recording of its own)")
    t.add_argument("--encoder", default=None, help="image: mobilenet_v2_0.35 (default, Teachable Machine's) or "
                   "mobilenet_v1_0.25 (faster); audio: yamnet_speech (default) or yamnet_embedding; pose: movenet_lightning; "
                   "hands: hand_landmarks_mobilenet (default, landmarks + picture) or hand_landmarks (landmarks only)")
    t.add_argument("--keep-missing", action="store_true", help="pose, hands: also train on pictures where no person "
                   "or hand was found (their keypoint features are all zero; by default they are left out and counted)")
    t.add_argument("--augment", action="store_true", help="image: also train on 4 altered copies of each training "
                   "picture (mirrored, zoomed in, turned a little, brighter or darker); audio: on 3 shifted, "
                   "louder/softer and noisier copies of each training sound (off by default: see the README's "
                   "measurements; pose and hands: no copies)")
    t.add_argument("--early-stopping", action="store_true", help="stop when the held-out (test) loss has not gone "
                   "down for --patience epochs, and keep the weights of the epoch where it was lowest (off by default)")
    t.add_argument("--patience", type=int, default=d.patience, help=f"epochs without a lower test loss before early "
                   f"stopping stops (default {d.patience}; only with --early-stopping)")
    t.add_argument("--seed", type=int, default=d.seed, help="fixes split, initial weights and shuffling")
    t.add_argument("--no-tflite", action="store_true", help="skip the TFLite exports (they take the longest)")
    t.set_defaults(func=cmd_train)
    w = sub.add_parser("sweep", help="train every combination of a few settings' values; the table as CSV and JSON",
                       description="Train one head per combination of the values given (comma-separated) for the "
                       "settings given, each repeated over --seeds seeds, all on one held-out split of DATA_DIR, "
                       "embedded once; write OUT/sweep.csv and OUT/sweep.json (the app's Experiments page sweep).")
    w.add_argument("data_dir", metavar="DATA_DIR", help="folder (or .zip) of class folders of images or sounds")
    w.add_argument("--out", required=True, metavar="OUT", help="folder for sweep.csv and sweep.json")
    w.add_argument("--epochs", default=None, metavar="N,N", help=f"epoch counts to try (default: {d.epochs} for all)")
    w.add_argument("--batch-size", default=None, metavar="N,N", help=f"batch sizes to try (default: {d.batch_size})")
    w.add_argument("--learning-rate", default=None, metavar="X,X", help=f"learning rates to try (default: {d.learning_rate})")
    w.add_argument("--network", default=None, metavar="NAME,NAME", help="pretrained networks to compare, e.g. "
                   "mobilenet_v2_0.35,mobilenet_v1_0.25 (image and audio projects; each embeds DATA_DIR once)")
    w.add_argument("--seeds", type=int, default=1, help="runs per combination, each with other starting weights (default 1)")
    w.add_argument("--kind", default="image", choices=KINDS, help="project kind (default: image)")
    w.add_argument("--encoder", default=None, help="as for train")
    w.add_argument("--test-fraction", type=float, default=d.test_fraction, help="share of each class held out")
    w.add_argument("--seed", type=int, default=d.seed, help="fixes the split; the seeds count from it")
    w.add_argument("--folder-recordings", action="store_true", help="as for train")
    w.add_argument("--keep-missing", action="store_true", help="as for train")
    w.set_defaults(func=cmd_sweep)
    e = sub.add_parser("evaluate", help="accuracy of OUT_DIR's model on TEST_DIR/<class>/<files>, as JSON on stdout")
    e.add_argument("out_dir", metavar="OUT_DIR")
    e.add_argument("test_dir", metavar="TEST_DIR")
    e.set_defaults(func=cmd_evaluate)
    r = sub.add_parser("predict", help="top class and probabilities for each image or sound file")
    r.add_argument("out_dir", metavar="OUT_DIR")
    r.add_argument("files", nargs="+", metavar="FILE")
    r.add_argument("--json", action="store_true", help="one JSON object per line")
    r.set_defaults(func=cmd_predict)
    m = sub.add_parser("download-models", help="download every pretrained file the app uses, checked by SHA-256",
                       description="Download every pretrained file the app uses from its official URL (or a mirror), "
                       "with progress; check each against the SHA-256 the repo records; continue an interrupted "
                       "download. Files already in place are not fetched again. For rooms without internet and "
                       "fresh servers: see docs/deploy.md.")
    m.add_argument("--to", metavar="DIR", type=Path, default=None, help="put the files in DIR/<image|pose|hands|"
                   "audio>/ and start the app with TM_MODELS_DIR=DIR (default: $TM_MODELS_DIR, else the app's "
                   "download cache)")
    m.add_argument("--from", dest="mirror", metavar="URL", default=None, help="a mirror laid out as a models folder "
                   "(URL/<image|pose|hands|audio>/<file>; http(s):// or file://) instead of the official URLs "
                   "(default: $TM_MODELS_URL)")
    m.add_argument("--only", nargs="+", metavar="FILE", default=(), help="only these files (names as in "
                   "tm_core/assets.py)")
    m.set_defaults(func=cmd_download_models)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except TMError as e:
        log(f"error: {e}")
    except OSError as e:  # disk full, permission denied, ...
        log(f"error: {e.filename or ''}: {e.strerror or e}")
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
