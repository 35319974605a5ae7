#!/usr/bin/env python3
"""paho-mqtt 2.x peer for myqtt's interop tests (tests/tests/interop_paho.rs).

    python3 paho_peer.py SCENARIO --port PORT --version {311,5} [--qos {1,2}] [--prefix P]

Connects to 127.0.0.1:PORT only. Prints one JSON object per line on stdout, which the Rust
test parses: {"event": "message", "topic": ..., "payload": ..., "qos": ..., "retain": ...},
{"event": "connack", "session_present": ...}, and so on. Exits non-zero (with a JSON "error"
line) on any failure or after TIMEOUT seconds of waiting for one step.

Scenarios:
  pubsub    a subscriber and a publisher; 3 messages at --qos, published after SUBACK
  will      a watcher subscribes to the will topic; a client with a will closes its socket
            without DISCONNECT; then a client with a will disconnects politely (no will)
  retained  a retained message, then a later subscriber receives it with the retain flag
  session   persistent session: subscribe, disconnect, messages published while away
            (QoS 1 and 2), reconnect with the same id: session present, messages delivered
"""

import argparse
import json
import os
import queue
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 10.0
HOST = "127.0.0.1"


def emit(**fields):
    print(json.dumps(fields), flush=True)


def fail(message):
    emit(event="error", message=message)
    sys.exit(1)


class Peer:
    """A paho client running its network loop in a thread, with events on queues."""

    def __init__(self, args, client_id, clean=True, will=None, expiry=None):
        self.v5 = args.version == "5"
        self.port = args.port
        self.clean = clean
        self.expiry = expiry
        protocol = mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311
        kwargs = {} if self.v5 else {"clean_session": clean}
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            **kwargs,
        )
        if will is not None:
            topic, payload, qos = will
            self.client.will_set(topic, payload, qos=qos)
        self.connacks = queue.Queue()
        self.subacks = queue.Queue()
        self.messages = queue.Queue()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connacks.put((reason_code, flags.session_present))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subacks.put((mid, reason_codes))

    def _on_message(self, client, userdata, message):
        self.messages.put(message)

    def connect(self, loop=True):
        kwargs = {}
        if self.v5:
            kwargs["clean_start"] = self.clean
            if self.expiry is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.expiry
                kwargs["properties"] = props
        self.client.connect(HOST, self.port, keepalive=30, **kwargs)
        if loop:
            self.client.loop_start()
            return self.wait_connack()
        return None

    def wait_connack(self):
        reason_code, session_present = get(self.connacks, "CONNACK")
        if reason_code.is_failure:
            fail(f"CONNACK refused: {reason_code}")
        return session_present

    def subscribe(self, topic, qos):
        result, mid = self.client.subscribe(topic, qos)
        if result != mqtt.MQTT_ERR_SUCCESS:
            fail(f"SUBSCRIBE not sent: {result}")
        got_mid, codes = get(self.subacks, "SUBACK")
        if got_mid != mid or codes[0].is_failure:
            fail(f"SUBACK {got_mid} {codes}")
        return codes[0].value

    def publish(self, topic, payload, qos, retain=False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(TIMEOUT)
        if not info.is_published():
            fail(f"publish to {topic} not acknowledged within {TIMEOUT} s")

    def next_message(self, what):
        return get(self.messages, what)

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()


def get(q, what):
    try:
        return q.get(timeout=TIMEOUT)
    except queue.Empty:
        fail(f"no {what} within {TIMEOUT} s")


def emit_message(m):
    emit(
        event="message",
        topic=m.topic,
        payload=m.payload.decode(),
        qos=m.qos,
        retain=bool(m.retain),
    )


def pubsub(args):
    p = args.prefix
    topic = f"{p}/pubsub/{args.version}/{args.qos}"
    sub = Peer(args, f"{p}-sub")
    sub.connect()
    emit(event="suback", granted=sub.subscribe(topic, args.qos))
    pub = Peer(args, f"{p}-pub")
    pub.connect()
    for n in range(3):
        pub.publish(topic, f"message {n}", args.qos)
    for _ in range(3):
        emit_message(sub.next_message("message"))
    pub.disconnect()
    sub.disconnect()


def will(args):
    p = args.prefix
    topic = f"{p}/will/{args.version}"
    watcher = Peer(args, f"{p}-watcher")
    watcher.connect()
    watcher.subscribe(topic, 1)

    # Abrupt: connect with a will, then close the socket without DISCONNECT.
    abrupt = Peer(args, f"{p}-abrupt", will=(topic, "abrupt", 1))
    abrupt.connect(loop=False)
    while abrupt.connacks.empty():
        abrupt.client.loop(timeout=0.1)
    abrupt.wait_connack()
    abrupt.client.socket().close()
    emit(event="closed_abruptly")
    emit_message(watcher.next_message("will after an abrupt close"))

    # Polite: DISCONNECT discards the will.
    polite = Peer(args, f"{p}-polite", will=(topic, "polite", 1))
    polite.connect()
    polite.disconnect()
    # A marker published after the polite disconnect: it must be the next message.
    marker = Peer(args, f"{p}-marker")
    marker.connect()
    marker.publish(topic, "marker", 1)
    emit_message(watcher.next_message("marker"))
    marker.disconnect()
    watcher.disconnect()


def retained(args):
    p = args.prefix
    topic = f"{p}/retained/{args.version}"
    pub = Peer(args, f"{p}-rpub")
    pub.connect()
    pub.publish(topic, "kept", 1, retain=True)
    pub.disconnect()
    sub = Peer(args, f"{p}-rsub")
    sub.connect()
    sub.subscribe(topic, 1)
    emit_message(sub.next_message("retained message"))
    sub.disconnect()


def session(args):
    p = args.prefix
    topic = f"{p}/session/{args.version}"
    client_id = f"{p}-persist"
    first = Peer(args, client_id, clean=False, expiry=300)
    emit(event="connack", session_present=first.connect())
    first.subscribe(topic, 2)
    first.disconnect()
    pub = Peer(args, f"{p}-spub")
    pub.connect()
    pub.publish(topic, "away qos 1", 1)
    pub.publish(topic, "away qos 2", 2)
    pub.disconnect()
    again = Peer(args, client_id, clean=False, expiry=300)
    emit(event="connack", session_present=again.connect())
    for _ in range(2):
        emit_message(again.next_message("message queued while away"))
    again.disconnect()
    # Clean up: a clean session with the same id drops it.
    gone = Peer(args, client_id, clean=True, expiry=0)
    gone.connect()
    gone.disconnect()


SCENARIOS = {"pubsub": pubsub, "will": will, "retained": retained, "session": session}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", choices=["311", "5"], required=True)
    parser.add_argument("--qos", type=int, choices=[0, 1, 2], default=1)
    parser.add_argument("--prefix", default="paho")
    args = parser.parse_args()
    # A hard bound on the whole scenario, whatever the paho threads do.
    watchdog = threading.Timer(4 * TIMEOUT, _watchdog)
    watchdog.daemon = True
    watchdog.start()
    SCENARIOS[args.scenario](args)
    watchdog.cancel()


def _watchdog():
    emit(event="error", message=f"scenario still running after {4 * TIMEOUT} s")
    os._exit(2)


if __name__ == "__main__":
    main()
