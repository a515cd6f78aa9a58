"""Fetch the real test photographs into .cache/photos (git-ignored); run by `make test`.

Sources: the face-recognition 1.3.0 source distribution (tests/test_images) and Debian's libdlib19.1 package
(examples/johns: 5 people x 11 photos; examples/faces: group photos). Nothing here is committed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "photos"
MARKER = CACHE / ".complete"
#: what the tests open by name; a download that lacks any of these is a failed download
EXPECTED = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "bald_guys.jpg", "johns/John_Salley",
            "johns/John_Savage", "johns/John_Schneider", "johns/John_Shimkus", "johns/John_Simm")

sys.path.insert(0, str(ROOT))
from volunteer.config import running_in_ci  # noqa: E402


def _pip() -> list[str]:
    for candidate in ([sys.executable, "-m", "pip"], ["python3", "-m", "pip"], [str(ROOT / ".tools/bin/pip")]):
        if subprocess.run([*candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    raise RuntimeError("no pip found to download the face-recognition source distribution")


def fetch_face_recognition(work: Path) -> None:
    subprocess.run([*_pip(), "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                    "face-recognition==1.3.0", "-d", str(work)], check=True)
    sdist = next(work.glob("face_recognition-1.3.0.tar.gz"))
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if "/tests/test_images/" in member.name and member.isfile():
                data = tar.extractfile(member).read()
                (CACHE / Path(member.name).name).write_bytes(data)


def fetch_dlib_examples(work: Path) -> None:
    subprocess.run(["apt-get", "download", "-qq", "libdlib19.1"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deb = next(work.glob("libdlib19.1_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "x")], check=True)
    examples = work / "x/usr/share/doc/libdlib19.1/examples"
    shutil.copytree(examples / "johns", CACHE / "johns", dirs_exist_ok=True)
    for name in ("bald_guys.jpg", "2008_002470.jpg", "2009_004587.jpg", "dogs.jpg"):
        if (examples / "faces" / name).exists():
            shutil.copy(examples / "faces" / name, CACHE / name)


def fail(problem: str) -> int:
    """In CI a missing photo set fails the build; elsewhere the face tests skip, so say so loudly."""
    banner = "!" * 78
    print(f"{banner}\nfetch_photos: could not fetch the test photographs: {problem}\n"
          f"Without them every face test is skipped{' -- and CI requires them' if running_in_ci() else ''}.\n"
          f"Needs the package registries (PyPI for face-recognition 1.3.0, Debian for libdlib19.1); retry with "
          f"`make photos`.\n{banner}", file=sys.stderr)
    return 1 if running_in_ci() else 0


def main() -> int:
    if MARKER.exists():
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            fetch_face_recognition(Path(tmp))
            fetch_dlib_examples(Path(tmp))
        except (subprocess.CalledProcessError, StopIteration, RuntimeError, OSError) as exc:
            return fail(repr(exc))
    missing = [name for name in EXPECTED if not (CACHE / name).exists()]
    if missing:
        return fail(f"the download lacks {', '.join(missing)}")
    MARKER.write_text("ok\n")
    print(f"fetch_photos: test photographs in {CACHE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
