"""Real-browser harness: a live server on a free port and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import threading
from pathlib import Path

from PIL import Image

CHROMIUM = "/usr/bin/chromium"
BASE_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


def make_y4m(photo: Image.Image, path: Path, size: tuple[int, int] = (640, 480)) -> Path:
    """A one-frame YUV4MPEG2 file (which Chromium's fake camera loops) showing the photo centred on grey."""
    width, height = size
    canvas = Image.new("RGB", size, (128, 128, 128))
    scale = min(width / photo.width, height / photo.height)
    fitted = photo.resize((round(photo.width * scale), round(photo.height * scale)))
    canvas.paste(fitted, ((width - fitted.width) // 2, (height - fitted.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (width // 2, height // 2)
    with path.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        fh.write(b"FRAME\n")
        fh.write(y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes())
    return path


class LiveServer:
    """The app served by werkzeug in a thread, on 127.0.0.1 and a free port."""

    def __init__(self, app) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
