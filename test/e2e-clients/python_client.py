"""A stock python-socketio client (Debian's python3-socketio) against the gateway.

Usage: python_client.py BASE_URL TOKEN CHAT_ID
Prints one JSON object per line for the test to follow; exits 0 once its session has ended.
"""
import json
import sys
import threading

import socketio

base, token, chat_id = sys.argv[1:4]


_out_lock = threading.Lock()


def out(**fields):
    # Handlers run on python-socketio's threads: one whole line at a time.
    with _out_lock:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


# A refused handshake carries the contract's code.
refused = socketio.Client(reconnection=False)


@refused.event
def connect_error(data):
    out(event="refused", data=data)


try:
    refused.connect(base, socketio_path="ws", auth={"token": "not-a-jwt"}, wait_timeout=2)
except socketio.exceptions.ConnectionError:
    pass
finally:
    refused.disconnect()

sio = socketio.Client(reconnection=False)
heard = threading.Event()
ended = threading.Event()
gone = threading.Event()


@sio.on("message:new")
def on_message(message):
    out(event="message:new", text=message["text"], sender=message["sender"]["username"])
    if message["text"] == "from the browser":
        heard.set()


@sio.on("session:ended")
def on_ended(payload):
    out(event="session:ended", reason=payload["reason"])
    ended.set()


@sio.event
def disconnect():
    out(event="disconnect")
    gone.set()


sio.connect(base, socketio_path="ws", auth={"token": token}, wait_timeout=10)
out(event="connected", transport=sio.transport())
joined = sio.call("chat:join", {"chat_id": chat_id}, timeout=10)
out(event="joined", ok=joined["ok"])
junk = sio.call("message:send", "not an object", timeout=10)
out(event="junk", code=junk["error"]["code"])
sent = sio.call("message:send", {"chat_id": chat_id, "text": "from python"}, timeout=10)
out(event="sent", ok=sent["ok"], text=sent["message"]["text"])

for what, flag in (("message from the browser", heard), ("session:ended", ended), ("disconnect", gone)):
    if not flag.wait(30):
        out(event="timeout", waiting=what)
        sys.exit(1)
out(event="done")
