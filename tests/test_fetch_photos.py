"""`make photos`: a failed download fails CI and warns loudly elsewhere (the face tests would silently skip)."""

from __future__ import annotations

import subprocess

import pytest

from tests import fetch_photos


@pytest.fixture
def broken_download(monkeypatch, tmp_path):
    monkeypatch.setattr(fetch_photos, "CACHE", tmp_path / "photos")
    monkeypatch.setattr(fetch_photos, "MARKER", tmp_path / "photos" / ".complete")

    def offline(_work):
        raise subprocess.CalledProcessError(1, ["pip", "download"])

    monkeypatch.setattr(fetch_photos, "fetch_face_recognition", offline)
    monkeypatch.setattr(fetch_photos, "fetch_dlib_examples", lambda _work: None)
    return tmp_path / "photos" / ".complete"


def test_a_failed_download_fails_in_ci(broken_download, monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    assert fetch_photos.main() == 1
    err = capsys.readouterr().err
    assert "could not fetch the test photographs" in err and "CI requires them" in err
    assert not broken_download.exists()


def test_a_failed_download_warns_loudly_outside_ci(broken_download, monkeypatch, capsys):
    monkeypatch.delenv("CI", raising=False)
    assert fetch_photos.main() == 0
    assert "could not fetch the test photographs" in capsys.readouterr().err
    assert not broken_download.exists()


def test_an_incomplete_download_is_a_failure(broken_download, monkeypatch, capsys):
    """A download that "succeeds" without the photographs the tests open is not marked complete."""
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(fetch_photos, "fetch_face_recognition", lambda _work: None)
    assert fetch_photos.main() == 1
    assert "the download lacks obama.jpg" in capsys.readouterr().err
    assert not broken_download.exists()
