#!/usr/bin/env python3
# The Linux kernel's TCP as a peer for the TCP lab tests and bench: echo server, sink and client over plain
# sockets, one JSON line of results on stdout (servers print {"listening": port} first,
# the client {"connected": true}). Every wait is bounded.
#   serve-echo PORT | serve-sink PORT | connect HOST PORT --send-bytes N --seed S
#   [--seconds T] [--mark-file F --until-file G] [--timeout S]
import argparse, hashlib, json, os, random, socket, sys, threading, time

BLOCK = 65521  # prime, so a shifted or swapped chunk of the repeated block changes the hash


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def listener(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(8)
    emit({"listening": port})
    return s


def serve(args, echo):
    s = listener(args.port)
    s.settimeout(args.timeout)
    conn, peer = s.accept()
    conn.settimeout(args.timeout)
    h, n, t0 = hashlib.sha256(), 0, None
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        if t0 is None:
            t0 = time.monotonic()
        h.update(data)
        n += len(data)
        if echo:
            conn.sendall(data)
    seconds = time.monotonic() - t0 if t0 is not None else 0.0
    conn.close()
    emit({"mode": "serve-echo" if echo else "serve-sink", "peer": peer[0], "receivedBytes": n,
          "receivedSha256": h.hexdigest(), "seconds": seconds})


def connect_with_retry(host, port, deadline):
    # Our stack may not be listening yet when this starts: a refused or unreachable connect is tried again.
    while True:
        try:
            return socket.create_connection((host, port), timeout=2)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Sender:
    """Sends the seeded stream until its byte count, time limit or stop file; counts progress at the mark file."""

    def __init__(self, conn, args):
        self.conn, self.args = conn, args
        self.block = random.Random(args.seed).randbytes(BLOCK)
        self.sent, self.at_mark, self.hash = 0, None, hashlib.sha256()

    def done(self, t0):
        a = self.args
        if a.until_file and os.path.exists(a.until_file):
            return True
        if a.seconds and time.monotonic() - t0 >= a.seconds:
            return True
        return a.send_bytes > 0 and self.sent >= a.send_bytes

    def run(self):
        a, t0 = self.args, time.monotonic()
        while not self.done(t0) and time.monotonic() - t0 < a.timeout:
            off = self.sent % BLOCK
            chunk = self.block[off:] + self.block[:off]
            if a.send_bytes > 0:
                chunk = chunk[: a.send_bytes - self.sent]
            self.conn.sendall(chunk)
            self.hash.update(chunk)
            self.sent += len(chunk)
            if a.mark_file and self.at_mark is None and os.path.exists(a.mark_file):
                self.at_mark = self.sent
        self.seconds = time.monotonic() - t0
        self.conn.shutdown(socket.SHUT_WR)


def client(args):
    conn = connect_with_retry(args.host, args.port, time.monotonic() + args.timeout)
    conn.settimeout(args.timeout)
    emit({"connected": True})
    sender = Sender(conn, args)
    thread = threading.Thread(target=sender.run, daemon=True)
    thread.start()
    h, n = hashlib.sha256(), 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        h.update(data)
        n += len(data)
    thread.join(args.timeout)
    conn.close()
    emit({"mode": "connect", "sentBytes": sender.sent, "sentSha256": sender.hash.hexdigest(),
          "receivedBytes": n, "receivedSha256": h.hexdigest(), "sentAtMark": sender.at_mark,
          "seconds": getattr(sender, "seconds", None)})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["serve-echo", "serve-sink", "connect"])
    p.add_argument("rest", nargs="*")
    p.add_argument("--send-bytes", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--mark-file")
    p.add_argument("--until-file")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    if args.mode == "connect":
        args.host, args.port = args.rest[0], int(args.rest[1])
        client(args)
    else:
        args.port = int(args.rest[0])
        serve(args, args.mode == "serve-echo")


if __name__ == "__main__":
    main()
