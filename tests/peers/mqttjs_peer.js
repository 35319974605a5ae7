#!/usr/bin/env node
// MQTT.js (npm `mqtt`, installed by `npm ci` in tests/peers/node) peer for myqtt's interop
// tests (tests/tests/interop_mqttjs.rs, interop_tls.rs).
//
//     node mqttjs_peer.js SCENARIO --url URL --version {311,5} [--qos {0,1,2}] [--prefix P]
//                         [--ca FILE]
//
// URL is mqtt://, ws://, mqtts:// or wss:// on 127.0.0.1 (loopback only); --ca is the PEM CA
// that signed the server's certificate (TLS URLs). Prints one JSON object per line on stdout,
// which the Rust test parses: {"event": "message", "topic", "payload", "qos", "retain"},
// {"event": "suback", "granted"}, {"event": "connack", "session_present"}. Exits non-zero
// (with a JSON "error" line) on any failure or after TIMEOUT ms of waiting for one step.
//
// Scenarios (the same as tests/peers/paho_peer.py):
//   pubsub    a subscriber and a publisher; 3 messages at --qos, published after SUBACK
//   will      a watcher subscribes to the will topic; a client with a will destroys its socket
//             without DISCONNECT; then a client with a will disconnects politely (no will)
//   retained  a retained message, then a later subscriber receives it with the retain flag
//   session   persistent session: subscribe, disconnect, messages published while away
//             (QoS 1 and 2), reconnect with the same id: session present, messages delivered
"use strict";

const fs = require("node:fs");
const path = require("node:path");
const { parseArgs } = require("node:util");
const mqtt = require(path.join(__dirname, "node", "node_modules", "mqtt"));

const TIMEOUT = 10000;

function emit(fields) {
  process.stdout.write(JSON.stringify(fields) + "\n");
}

function fail(message) {
  emit({ event: "error", message: String(message) });
  process.exit(1);
}

/** `promise`, or a failure naming `what` after TIMEOUT ms. */
function within(what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${TIMEOUT} ms`)), TIMEOUT);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An MQTT.js client with its CONNACK and messages on queues. */
class Peer {
  constructor(args, clientId, { clean = true, will = null, expiry = null } = {}) {
    this.options = {
      clientId,
      protocolVersion: args.version === "5" ? 5 : 4,
      clean,
      keepalive: 30,
      reconnectPeriod: 0,
      connectTimeout: TIMEOUT,
    };
    if (args.version === "5" && expiry !== null) {
      this.options.properties = { sessionExpiryInterval: expiry };
    }
    if (will !== null) {
      const [topic, payload, qos] = will;
      this.options.will = { topic, payload, qos, retain: false };
    }
    if (args.ca) {
      this.options.ca = fs.readFileSync(args.ca);
      this.options.rejectUnauthorized = true;
    }
    this.url = args.url;
    this.messages = [];
    this.waiting = [];
  }

  /** Connects and resolves to the CONNACK's session present flag. */
  async connect() {
    this.client = mqtt.connect(this.url, this.options);
    // Installed before the CONNACK can arrive: a resumed session's messages may follow it
    // immediately.
    this.client.on("message", (topic, payload, packet) => {
      const m = { topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain };
      const waiter = this.waiting.shift();
      if (waiter) {
        waiter(m);
      } else {
        this.messages.push(m);
      }
    });
    const connack = await within(
      "CONNACK",
      new Promise((resolve, reject) => {
        this.client.once("connect", resolve);
        this.client.once("error", reject);
      }),
    );
    this.client.on("error", (e) => fail(`client ${this.options.clientId}: ${e.message}`));
    return connack.sessionPresent;
  }

  async subscribe(topic, qos) {
    const granted = await within("SUBACK", this.client.subscribeAsync(topic, { qos }));
    if (granted.length !== 1 || granted[0].qos > 2) {
      fail(`SUBACK ${JSON.stringify(granted)}`);
    }
    return granted[0].qos;
  }

  async publish(topic, payload, qos, retain = false) {
    await within(`acknowledgement of a publish to ${topic}`, this.client.publishAsync(topic, payload, { qos, retain }));
  }

  nextMessage(what) {
    const queued = this.messages.shift();
    if (queued) {
      return Promise.resolve(queued);
    }
    return within(what, new Promise((resolve) => this.waiting.push(resolve)));
  }

  /** DISCONNECT, then close. */
  async disconnect() {
    await within("a clean close", this.client.endAsync());
  }

  /** Closes the socket without DISCONNECT. */
  abort() {
    this.client.stream.destroy();
    this.client.end(true);
  }
}

function emitMessage(m) {
  emit({ event: "message", ...m });
}

async function pubsub(args) {
  const p = args.prefix;
  const qos = Number(args.qos);
  const topic = `${p}/pubsub/${args.version}/${qos}`;
  const sub = new Peer(args, `${p}-sub`);
  await sub.connect();
  emit({ event: "suback", granted: await sub.subscribe(topic, qos) });
  const pub = new Peer(args, `${p}-pub`);
  await pub.connect();
  for (let n = 0; n < 3; n++) {
    await pub.publish(topic, `message ${n}`, qos);
  }
  for (let n = 0; n < 3; n++) {
    emitMessage(await sub.nextMessage("message"));
  }
  await pub.disconnect();
  await sub.disconnect();
}

async function will(args) {
  const p = args.prefix;
  const topic = `${p}/will/${args.version}`;
  const watcher = new Peer(args, `${p}-watcher`);
  await watcher.connect();
  await watcher.subscribe(topic, 1);

  const abrupt = new Peer(args, `${p}-abrupt`, { will: [topic, "abrupt", 1] });
  await abrupt.connect();
  abrupt.abort();
  emit({ event: "closed_abruptly" });
  emitMessage(await watcher.nextMessage("will after an abrupt close"));

  const polite = new Peer(args, `${p}-polite`, { will: [topic, "polite", 1] });
  await polite.connect();
  await polite.disconnect();
  // A marker published after the polite disconnect: it must be the next message.
  const marker = new Peer(args, `${p}-marker`);
  await marker.connect();
  await marker.publish(topic, "marker", 1);
  emitMessage(await watcher.nextMessage("marker"));
  await marker.disconnect();
  await watcher.disconnect();
}

async function retained(args) {
  const p = args.prefix;
  const topic = `${p}/retained/${args.version}`;
  const pub = new Peer(args, `${p}-rpub`);
  await pub.connect();
  await pub.publish(topic, "kept", 1, true);
  await pub.disconnect();
  const sub = new Peer(args, `${p}-rsub`);
  await sub.connect();
  await sub.subscribe(topic, 1);
  emitMessage(await sub.nextMessage("retained message"));
  // Clean up: an empty retained message deletes it.
  await sub.publish(topic, "", 1, true);
  await sub.disconnect();
}

async function session(args) {
  const p = args.prefix;
  const topic = `${p}/session/${args.version}`;
  const clientId = `${p}-persist`;
  const first = new Peer(args, clientId, { clean: false, expiry: 300 });
  emit({ event: "connack", session_present: await first.connect() });
  await first.subscribe(topic, 2);
  await first.disconnect();
  const pub = new Peer(args, `${p}-spub`);
  await pub.connect();
  await pub.publish(topic, "away qos 1", 1);
  await pub.publish(topic, "away qos 2", 2);
  await pub.disconnect();
  const again = new Peer(args, clientId, { clean: false, expiry: 300 });
  emit({ event: "connack", session_present: await again.connect() });
  for (let n = 0; n < 2; n++) {
    emitMessage(await again.nextMessage("message queued while away"));
  }
  await again.disconnect();
  // Clean up: a clean session with the same id drops it.
  const gone = new Peer(args, clientId, { clean: true, expiry: 0 });
  await gone.connect();
  await gone.disconnect();
}

const SCENARIOS = { pubsub, will, retained, session };

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: "string" },
      version: { type: "string" },
      qos: { type: "string", default: "1" },
      prefix: { type: "string", default: "mqttjs" },
      ca: { type: "string" },
    },
  });
  const scenario = SCENARIOS[positionals[0]];
  if (!scenario || !values.url || !["311", "5"].includes(values.version)) {
    fail(`usage: mqttjs_peer.js {${Object.keys(SCENARIOS).join(",")}} --url URL --version {311,5}`);
  }
  if (!["0", "1", "2"].includes(values.qos)) {
    fail(`--qos ${values.qos}: 0, 1 or 2`);
  }
  // A hard bound on the whole scenario.
  const watchdog = setTimeout(() => {
    emit({ event: "error", message: `scenario still running after ${4 * TIMEOUT} ms` });
    process.exit(2);
  }, 4 * TIMEOUT);
  await scenario(values);
  clearTimeout(watchdog);
  process.exit(0);
}

main().catch((e) => fail(e && e.stack ? e.stack : e));
