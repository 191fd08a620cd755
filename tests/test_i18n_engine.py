"""The engine in Korean (issue 15): ``InputError`` reasons in the language of the code asking, also when a
thread pool made them; English unchanged without a language; and Hangul that arrives in odd forms (a zip
from Windows' built-in zip, folder names from a Mac) gives the class names a student typed."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_i18n import english_sentences

from tm_core import i18n, media, project_file
from tm_core.errors import InputError
from tm_core.project import Project
from tm_core.project_reader import ProjectFile

HANGUL = re.compile("[가-힣]")


@contextmanager
def korean():
    token = i18n._language.set("ko")
    try:
        yield
    finally:
        i18n._language.reset(token)


def refusal(fn, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as refused:
        fn(*args, **kwargs)
    return refused.value


def assert_korean(err: InputError, *own_words: str) -> None:
    """``err`` reads in Korean: Hangul in its reason, no English sentence, the user's words kept."""
    text = str(err)
    for word in own_words:
        assert word in text, text
    assert HANGUL.search(err.reason), text
    assert not english_sentences([text], own_words), text


def real_photos(small_data: Path, cls: str, n: int = 2) -> list[Path]:
    return sorted(p for p in (small_data / "rps" / cls).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]


# --- reasons in Korean, the file's name kept ------------------------------------------------------------

def test_refusals_of_files_read_in_korean_and_keep_the_file_name(small_data, tmp_path):
    photo = real_photos(small_data, "rock", 1)[0]
    wav = next((small_data / "speech_commands" / "yes").iterdir())
    with korean():
        not_a_picture = refusal(media.load_image, b"no picture in here", "notes.jpg")
        picture_as_sound = refusal(media.load_audio, photo.read_bytes(), "내 목소리.wav")
        empty = refusal(media.load_image, b"", "빈 사진.png")
        cut_sound = refusal(media.load_audio, wav.read_bytes()[:200], wav.name)
        not_a_zip = refusal(media.read_zip, b"PK\x03\x04 and then nothing", "수업 사진.zip")
        no_folder = refusal(media.list_folder, tmp_path / "없는 폴더")
        not_a_project = refusal(project_file.open_project, b"just text", "우리 반.tmproject.zip")
    assert_korean(not_a_picture, "notes.jpg")
    assert "이미지" in not_a_picture.reason
    assert_korean(picture_as_sound, "내 목소리.wav")
    assert "JPEG" in picture_as_sound.reason and "WAV" in picture_as_sound.reason  # the formats named, in Korean
    assert_korean(empty, "빈 사진.png")
    assert_korean(cut_sound, wav.name)
    assert_korean(not_a_zip, "수업 사진.zip")
    assert_korean(no_folder, "없는 폴더")
    assert_korean(not_a_project, "우리 반.tmproject.zip")


def test_placeholders_are_filled_in_korean(small_data, monkeypatch):
    """Numbers and sizes land in their Korean sentence, nothing left as ``{n}``."""
    photo = real_photos(small_data, "rock", 1)[0]
    monkeypatch.setattr(media.files, "MAX_FILE_BYTES", 1000)
    p = Project("image", ["바위", "보"])
    p.max_samples = 2
    with korean():
        too_big = refusal(media.load_image, photo, "큰 사진.jpg")
        taken = refusal(p.add_class, "바위")
        full = p.full_error()
        short = refusal(p.check_trainable)
    assert_korean(too_big, "큰 사진.jpg")
    assert "1000바이트" in too_big.reason and "{" not in str(too_big)
    assert_korean(taken, "바위")
    assert_korean(full)
    assert full.name == "프로젝트" and "2개" in full.reason and "TM_MAX_SAMPLES" in full.reason
    assert_korean(short, "바위 0", "보 0")  # the class counts kept as they are


def test_english_is_unchanged_without_a_language(small_data):
    photo = real_photos(small_data, "rock", 1)[0]
    assert i18n.current() == "en"
    assert str(refusal(media.load_image, b"no picture in here", "notes.jpg")) == (
        "notes.jpg: is not an image this app can open")
    assert str(refusal(media.load_audio, photo.read_bytes(), "voice.wav")) == (
        "voice.wav: is a JPEG image, not an audio file (use WAV, FLAC, OGG (Vorbis or Opus) or MP3)")
    assert str(refusal(media.load_image, b"")) == "image: is empty"
    assert str(refusal(Project("image", ["rock"]).add_class, "rock")) == "rock: another class already has this name"
    assert str(refusal(project_file.open_project, b"just text")) == "project file: cannot be opened: it is not a zip file"
    assert media.audio._duration_text(750) == "12 min 30 s" and media._size_text(800) == "800 bytes"


# --- thread pools carry the caller's language ---------------------------------------------------------

def test_a_refusal_made_in_a_thread_pool_is_in_the_callers_language(small_data):
    photo = real_photos(small_data, "paper", 1)[0]
    items = [("망가진 사진.jpg", b"\xff\xd8\xff not really a jpeg"), (photo.name, photo.read_bytes())]
    with korean():
        decoded = list(media.decode_images(items, workers=2))
        sounds = list(media.decode_audio_files([("소리.wav", photo.read_bytes())], workers=2))
    (bad_name, bad), (good_name, good) = decoded
    assert isinstance(bad, InputError) and bad_name == "망가진 사진.jpg"
    assert_korean(bad, "망가진 사진.jpg")
    assert good_name == photo.name and good.shape == (224, 224, 3)  # the pool decoded the real photo
    assert_korean(sounds[0], "소리.wav")
    # the same pool, asked without a language: English
    [(_name, english)] = list(media.decode_images(items[:1], workers=2))
    assert str(english) == "망가진 사진.jpg: is not an image this app can open"


def test_a_project_import_in_korean_reports_bad_files_in_korean(small_data):
    """Project.add_files decodes in the media pool: the student's page gets its reasons in Korean."""
    rock = real_photos(small_data, "rock", 2)
    p = Project("image", [])
    with korean():
        results = list(p.add_files([("바위", f.name, f.read_bytes()) for f in rock] + [("바위", "메모.txt", b"hello")]))
    errors = [r for r in results if isinstance(r, InputError)]
    assert len(results) - len(errors) == 2 and p.counts() == {"바위": 2}
    assert len(errors) == 1
    assert_korean(errors[0], "메모.txt")


# --- Hangul in zips without the UTF-8 flag ------------------------------------------------------------

def zip_with_raw_names(files: dict[bytes, bytes]) -> bytes:
    """A zip whose member names are exactly ``files``' keys (raw bytes) and whose UTF-8 flag (0x800) is not
    set, as Windows' built-in zip writes them (cp949 for Korean), or as tools that write UTF-8 without
    saying so. Written by zipfile under ASCII stand-ins of the same length, then the names' bytes are put
    in their place (in the local headers and the central directory; CRCs cover the data, not names)."""
    out = io.BytesIO()
    stand_ins = {}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for i, (raw, data) in enumerate(files.items()):
            stand_in = f"{i:04d}".encode().ljust(len(raw), b"~")[: len(raw)]
            assert len(stand_in) == len(raw) >= 4
            stand_ins[stand_in] = raw
            z.writestr(zipfile.ZipInfo(stand_in.decode()), data)
    blob = out.getvalue()
    for stand_in, raw in stand_ins.items():
        assert blob.count(stand_in) == 2
        blob = blob.replace(stand_in, raw)
    with zipfile.ZipFile(io.BytesIO(blob)) as check:
        assert all(not info.flag_bits & 0x800 for info in check.infolist())
    return blob


@pytest.mark.parametrize("encoding", ["cp949", "utf-8"])
def test_korean_names_in_a_zip_without_the_utf8_flag_are_read_right(small_data, encoding):
    rock, paper = real_photos(small_data, "rock", 2), real_photos(small_data, "paper", 1)
    files = {f"바위/사진{i}.jpg".encode(encoding): f.read_bytes() for i, f in enumerate(rock)}
    files[f"보/{paper[0].name}".encode(encoding)] = paper[0].read_bytes()
    files["café/x.jpg".encode("cp437")] = rock[0].read_bytes()  # a real cp437 name stays as it was
    blob = zip_with_raw_names(files)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:  # what Python alone shows: garble
        assert "바위" not in " ".join(z.namelist())

    listing = media.read_zip(blob, "수업.zip")
    assert listing.classes == ["café", "바위", "보"]
    assert [f.name for f in listing.files if f.class_name == "바위"] == ["바위/사진0.jpg", "바위/사진1.jpg"]
    p = Project("image", [])
    added = list(p.add_listing(listing))
    assert not [r for r in added if isinstance(r, InputError)]
    assert p.counts() == {"café": 1, "바위": 2, "보": 1}  # the members unpack under their stored names


def test_a_flagged_utf8_name_and_nfd_names_in_a_zip_are_one_class(small_data):
    rock = real_photos(small_data, "rock", 2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # zipfile sets the UTF-8 flag itself for non-ASCII names
        z.writestr("바위/1.jpg", rock[0].read_bytes())
        z.writestr(unicodedata.normalize("NFD", "바위/2.jpg"), rock[1].read_bytes())  # zipped on a Mac
        z.writestr("보/1.jpg", rock[0].read_bytes())
    listing = media.read_zip(out.getvalue(), "mac.zip")
    assert listing.classes == ["바위", "보"]
    assert [f.class_name.encode() for f in listing.files] == ["바위".encode()] * 2 + ["보".encode()]


# --- NFD Hangul class names (macOS) are the NFC ones ----------------------------------------------------

def test_a_class_named_in_nfd_is_the_class_typed_in_nfc(small_data, tmp_path):
    nfd = unicodedata.normalize("NFD", "바위")
    assert nfd != "바위" and len(nfd) == 4
    p = Project("image", ["바위", "보"])
    assert p.has_class(nfd) and p.get_class(nfd).name == "바위"
    with pytest.raises(InputError, match="another class already has this name"):
        p.add_class(nfd)
    p.rename_class("보", unicodedata.normalize("NFD", "가위"))
    assert list(p.counts()) == ["바위", "가위"] and all(unicodedata.is_normalized("NFC", n) for n in p.counts())
    rock = real_photos(small_data, "rock", 2)
    added = list(p.add_files([(nfd, rock[0].name, rock[0].read_bytes())]))  # a Mac folder's name
    assert len(added) == 1 and p.counts() == {"바위": 1, "가위": 0}

    legacy = Project("image", ["보"])
    legacy.classes[0].name = unicodedata.normalize("NFD", "보")  # as a file saved before names were NFC holds it
    assert legacy.get_class("보") is legacy.classes[0] and legacy.has_class(legacy.classes[0].name)

    # a folder of class folders copied from a Mac: the NFD folder and an NFC one are one class
    (tmp_path / nfd).mkdir()
    (tmp_path / "바위").mkdir()
    (tmp_path / nfd / "a.jpg").write_bytes(rock[0].read_bytes())
    (tmp_path / "바위" / "b.jpg").write_bytes(rock[1].read_bytes())
    listing = media.list_folder(tmp_path)
    assert listing.classes == ["바위"] and len(listing.files) == 2
    q = Project("image", [])
    assert not [r for r in q.add_listing(listing) if isinstance(r, InputError)]
    assert q.counts() == {"바위": 2}


# --- a project file keeps Hangul class names byte for byte ---------------------------------------------

def test_a_project_file_round_trip_keeps_hangul_class_names_byte_for_byte(small_data):
    names = ["바위", "가위 ✂", "보자기 (손바닥)", "뷁"]
    p = Project("image", names)
    for cls, photo in zip(names, real_photos(small_data, "rock", 2) + real_photos(small_data, "paper", 2)):
        assert [s for s in p.add_files([(cls, photo.name, photo.read_bytes())])]
    blob = project_file.save(ProjectFile(p))
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        manifest = z.read("manifest.json")
    import json

    assert [c["name"].encode("utf-8") for c in json.loads(manifest)["classes"]] == [n.encode("utf-8") for n in names]
    with korean():
        opened = project_file.open_project(blob, "우리 반.tmproject.zip")
    assert [c.name.encode("utf-8") for c in opened.project.classes] == [n.encode("utf-8") for n in names]
    assert opened.project.counts() == {n: 1 for n in names}
    assert project_file.save(opened) == blob  # saved again: the same bytes


# --- pickers and pretrained files ------------------------------------------------------------------------

def closed_port_url() -> str:
    import socket

    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/weights.h5"


@pytest.fixture
def offline_effnet(tmp_path, monkeypatch):
    """EfficientNetV2-B0's file nowhere on disk and its download pointed at a closed port."""
    import dataclasses

    from tm_core import assets

    effnet = "efficientnetv2-b0_notop.h5"
    monkeypatch.setenv("TM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TM_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setitem(assets.ASSETS, effnet, dataclasses.replace(assets.ASSETS[effnet], url=closed_port_url()))
    assets.forget_checks()
    yield effnet
    assets.forget_checks()


def test_a_remembered_download_answer_is_read_in_the_asking_language(offline_effnet):
    """The network answer is remembered once for every page: a Korean page and an English one each read
    it in their own language (it is kept as its English message, translated when asked)."""
    from tm_core import assets

    with korean():
        assert assets.available(offline_effnet) == (False, "다운로드할 인터넷 연결이 없어요")
        with pytest.raises(assets.AssetError) as refused:
            assets.resolve(offline_effnet, download=False)
    assert assets.available(offline_effnet) == (False, "no internet to download it")  # remembered, in English
    missing = str(refused.value)
    assert "다운로드가 꺼져 있어요" in missing and offline_effnet in missing and "TM_MODELS_DIR" in missing
    assert not english_sentences([missing], (offline_effnet, "docs/deploy.md", "python -m tm_core download-models --only"))
    with pytest.raises(assets.AssetError, match="downloading is turned off"):
        assets.resolve(offline_effnet, download=False)


@pytest.mark.slow  # imports Keras (the encoders' modules)
def test_encoder_labels_and_refusals_are_in_the_asking_language(offline_effnet):
    from tm_core.encoders import encoder_label, get_encoder

    with korean():
        labels = [encoder_label(n, k) for n, k in (("hand_landmarks", "hands"), ("yamnet_speech", "audio"),
                                                    ("mobilenet_v2_0.35", "image"), ("movenet_lightning", "pose"))]
        refused = refusal(get_encoder, "efficientnet_v2_b0")
    assert all(HANGUL.search(label) for label in labels) and not english_sentences(labels), labels
    assert "21" in labels[0] and "MobileNetV2" in labels[2]
    assert_korean(refused, offline_effnet, "TM_MODELS_DIR")
    assert encoder_label("hand_landmarks", "hands") == "Hand landmarks only (21 points; faster, smaller export)"


def test_a_damaged_project_file_and_a_bad_link_are_refused_in_korean(small_data, tmp_path):
    import json

    from tm_core.store import ProjectStore

    p = Project("image", ["바위", "보"])
    for cls, photo in zip(("바위", "보"), real_photos(small_data, "rock", 1) + real_photos(small_data, "paper", 1)):
        list(p.add_files([(cls, photo.name, photo.read_bytes())]))
    blob = project_file.save(ProjectFile(p))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["classes"][1]["name"] = "바위"  # two classes of one name
                data = json.dumps(manifest).encode()
            dst.writestr(info, data)
    with korean():
        twice = refusal(project_file.open_project, out.getvalue(), "우리 반.tmproject.zip")
        bad_link = refusal(ProjectStore(tmp_path / "store").folder, "not-a-token")
    assert_korean(twice, "우리 반.tmproject.zip", "바위")
    assert "클래스 2" in twice.reason and "이미 같은 이름의 클래스가 있어요" in twice.reason
    assert_korean(bad_link)
    assert bad_link.name == "프로젝트 링크"
    assert str(refusal(project_file.open_project, out.getvalue())) == (
        "project file: cannot be opened: class 2: 바위: another class already has this name")
