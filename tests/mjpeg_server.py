"""An MJPEG-over-HTTP stream on 127.0.0.1, as network encoders and IP cameras serve it."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

BOUNDARY = "frame"


def numbered_frame(number: int, width: int, height: int) -> np.ndarray:
    """A BGR picture whose frame number can be read back from its blocks."""
    frame = np.full((height, width, 3), 40, np.uint8)
    frame[:, : width // 2] = (number * 7) % 256
    cv2.putText(frame, str(number), (10, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255,) * 3, 3)
    return frame


class MjpegServer:
    """Serves numbered JPEG frames at ``fps``; ``stall`` stops sending on open connections."""

    def __init__(self, width: int = 320, height: int = 240, fps: float = 25.0) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.sending = threading.Event()
        self.sending.set()
        self.frames_sent = 0
        self.frames_to_skip = 0
        self.frames_to_repeat = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.end_headers()
                next_due = time.monotonic()
                try:
                    while not server.closed.is_set():
                        if not server.sending.is_set():
                            # A stalled encoder: the connection stays open, nothing comes.
                            server.closed.wait(0.05)
                            continue
                        next_due += 1.0 / server.fps
                        time.sleep(max(0.0, next_due - time.monotonic()))
                        if server.frames_to_skip:
                            # Frames the encoder lost: their time passes, nothing is sent.
                            server.frames_sent += 1
                            server.frames_to_skip -= 1
                            continue
                        number = server.frames_sent
                        if server.frames_to_repeat:
                            # A frozen input: the same picture again.
                            number = max(0, number - 1)
                            server.frames_to_repeat -= 1
                        ok, jpeg = cv2.imencode(
                            ".jpg", numbered_frame(number, server.width, server.height)
                        )
                        assert ok
                        self.wfile.write(
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                            + jpeg.tobytes()
                            + b"\r\n"
                        )
                        if number == server.frames_sent:
                            server.frames_sent += 1
                except (BrokenPipeError, ConnectionResetError):
                    return

        self.closed = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def skip(self, frames: int) -> None:
        self.frames_to_skip = frames

    def repeat(self, frames: int) -> None:
        self.frames_to_repeat = frames

    def stall(self) -> None:
        self.sending.clear()

    def resume(self) -> None:
        self.sending.set()

    def close(self) -> None:
        self.closed.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
