"""A tiny TCP proxy on 127.0.0.1 that a test can take down, bring back or silence.

``up`` forwards to the target; ``down`` closes the listening socket and every connection (new
connections are refused: a closed port); ``silent`` accepts connections and swallows every byte
without answering (a server that stops responding). ``up`` again reopens the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.backends.dynamodb import require_loopback


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        require_loopback(f"http://{target_host}:{target_port}")
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = "down"
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    # -- control ----------------------------------------------------------------------------
    def up(self) -> None:
        self._listen()
        self.mode = "up"

    def silent(self) -> None:
        """Keep accepting, never answer; established connections stop forwarding too."""
        self._listen()
        self.mode = "silent"

    def down(self) -> None:
        self.mode = "down"
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(), which otherwise keeps the port
            # in LISTEN (close() alone does not), so ``up`` can bind the same port again.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # -- plumbing ---------------------------------------------------------------------------
    def _listen(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self.mode == "down":
                return False
            self._sockets.add(sock)
            return True

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed: the proxy is down
                return
            if not self._track(client):
                client.close()
                continue
            if self.mode == "silent":
                threading.Thread(target=self._pump, args=(client, None), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            if not self._track(upstream):
                upstream.close()
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket | None) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if sink is not None and self.mode == "up":
                    sink.sendall(data)
        except OSError:
            pass  # a socket closed by down(): this pump is simply over
        finally:
            if sink is not None:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
