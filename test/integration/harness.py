"""Starts the real binary and talks to it like a user would.

The binary is the sanitizer-instrumented debug build unless APPCONFIG_BINARY
names another; its stderr is checked for sanitizer reports when it stops.
"""
import http.client
import os
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("APPCONFIG_BUILD", os.path.join(ROOT, "build"))
NAME = "appconfig-extension"


# Exit statuses of the binary (src/program/main.cpp): anything else, e.g. 86/87 from a sanitizer, is a bug.
EXIT_STARTUP_REFUSED = 2  # a setting, the manifest or the port stopped start-up
EXIT_FATAL = 1            # a fatal error after start-up (Runtime API failure, poll error)
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer", "ERROR: UndefinedBehaviorSanitizer")


def sanitizer_report(text):
    """The sanitizer report in a process's output, or None."""
    return text[-6000:] if any(m in text for m in SANITIZER_MARKS) else None


def debug_binary():
    return os.environ.get("APPCONFIG_BINARY", os.path.join(BUILD, "debug", NAME))


def release_binary(arch):
    return os.path.join(BUILD, "release", arch, NAME)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Agent:
    """One running extension process in standalone (agent) mode."""

    def __init__(self, env=None, local_dir=None, binary=None, port=None):
        self.port = port or free_port()
        self.binary = binary or debug_binary()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AWS_APPCONFIG_EXTENSION_HTTP_PORT": str(self.port),
            "AWS_APPCONFIG_EXTENSION_LOG_LEVEL": "debug",
            # Sanitizer reports must fail the test, never pass silently.
            "ASAN_OPTIONS": "abort_on_error=0:exitcode=86:detect_leaks=1",
            "UBSAN_OPTIONS": "halt_on_error=1:exitcode=87:print_stacktrace=1",
        }
        if local_dir is not None:
            self.env["LOCAL_DEVELOPMENT_DIRECTORY"] = local_dir
        if env:
            self.env.update(env)
        self.stderr_file = tempfile.NamedTemporaryFile(prefix="agent-stderr-", delete=False)
        self.proc = None
        self.scanned = False  # its log was checked for sanitizer reports after it exited

    def start(self, wait=True):
        self.proc = subprocess.Popen([self.binary], env=self.env, stdout=self.stderr_file,
                                     stderr=self.stderr_file, stdin=subprocess.DEVNULL)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}: {self.stderr()}")
            try:
                status, _, _ = self.get("/ping")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("agent did not answer /ping in time: " + self.stderr())

    def stderr(self):
        self.stderr_file.flush()
        with open(self.stderr_file.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def get(self, path, headers=None, method="GET", timeout=5):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def raw(self, data, timeout=5, read_until_close=True):
        """Sends raw bytes; returns everything read until the server closes (or timeout)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            s.sendall(data)
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                if not b:
                    break
                chunks.append(b)
                if not read_until_close:
                    break
            return b"".join(chunks)
        finally:
            s.close()

    def wait_exit(self, timeout=10):
        """Waits for a process expected to exit by itself; returns (status, stderr), never a sanitizer abort."""
        self.proc.wait(timeout=timeout)
        err = self.stderr()
        self.scanned = True
        report = sanitizer_report(err)
        if report:
            raise AssertionError("sanitizer report:\n" + report)
        return self.proc.returncode, err

    def close(self):
        """tearDown: stops a running agent; an agent that already exited still has its log scanned."""
        if self.proc is None or self.scanned:
            return
        if self.proc.poll() is None:
            self.stop()
            return
        self.scanned = True
        report = sanitizer_report(self.stderr())
        if report:
            raise AssertionError(f"agent (exit {self.proc.returncode}) left a sanitizer report:\n" + report)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("agent did not exit on SIGTERM: " + self.stderr())
        code = self.proc.returncode
        err = self.stderr()
        self.scanned = True
        os.unlink(self.stderr_file.name)
        report = sanitizer_report(err)
        if report:
            raise AssertionError("sanitizer report:\n" + report)
        return code


def status_of(raw_response):
    line = raw_response.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
