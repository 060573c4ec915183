// parcours.js: a Parcours partner in Node.js, written from proto/parcours.proto alone.
//
// What a partner's IT team needs, with zeromq.js (CURVE included in its prebuilt binaries) and
// protobufjs; the Python module (clients/python/parcours_partner.py) and libparcours are the
// references it follows, and it says a refused key in their words. Its traps, handled here:
//  - protobufjs loads the contract with keepCase, so that fields keep the proto's names;
//  - 64-bit fields decode as Long: seq, partner_seq, version and stream_id go above 2^53, so
//    they are kept as strings (Long.toString) and never turned into numbers;
//  - zeromq.js takes one send at a time on a socket: sends are chained, each awaited.
"use strict";

const fs = require("fs");
const path = require("path");
const protobuf = require("protobufjs");
const zmq = require("zeromq");

// Word for word libparcours' (clients/libparcours/parcours.h) and the Python module's.
const KEY_REFUSED =
  "parcoursd refused this partner's key: it is not in the territory's partners file, or it " +
  "was revoked (check the secret key given, and ask the territory's admin)";
const HANDSHAKE_FAILED =
  "the CURVE handshake with parcoursd failed: the daemon's public key given is not this " +
  "daemon's, or only one side uses CURVE (check the server key file and [security] curve)";

class ConnectionRefused extends Error {}

const PROTO = path.join(__dirname, "..", "..", "proto", "parcours.proto");
const root = new protobuf.Root().loadSync(PROTO, { keepCase: true });
const pb = {
  Event: root.lookupType("parcours.v1.Event"),
  Ack: root.lookupType("parcours.v1.Ack"),
  DeliverRequest: root.lookupType("parcours.v1.DeliverRequest"),
  DeliverReply: root.lookupType("parcours.v1.DeliverReply"),
  AckStatus: root.lookupEnum("parcours.v1.AckStatus").values,
  ErrorCode: root.lookupEnum("parcours.v1.ErrorCode").values,
  enumName: (name, value) => root.lookupEnum("parcours.v1." + name).valuesById[value],
};

// A key file as `parcoursctl keygen` writes it: comment lines, then 40 characters of Z85. A
// secret key must be readable by its owner only.
function readKey(file, secret) {
  const st = fs.statSync(file);
  if (secret && (st.mode & 0o077) !== 0)
    throw new Error(`${file}: a secret key must be readable by its owner only (chmod 600)`);
  const key = fs.readFileSync(file, "utf8").split("\n").map((l) => l.trim())
    .find((l) => l && !l.startsWith("#"));
  if (!key || key.length !== 40)
    throw new Error(`${file}: no key of 40 Z85 characters (parcoursctl keygen makes them)`);
  return key;
}

// A time-ordered event id: 48-bit milliseconds then 80 random bits, Crockford base32.
function newEventId() {
  const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let value = (BigInt(Date.now()) << 80n) | BigInt("0x" + require("crypto").randomBytes(10).toString("hex"));
  let out = "";
  for (let i = 0; i < 26; i++) {
    out = crockford[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

// A CURVE client DEALER (keys: {secretKey, publicKey, serverKey}, Z85), whose handshakes are
// watched: onRefused(error) is called once ZAP refused the key, or after two failed handshakes
// in a row; onConnected() after each that succeeded.
function dealer(keys, onConnected, onRefused) {
  const options = { linger: 0 };
  if (keys) {
    options.curveSecretKey = keys.secretKey;
    options.curvePublicKey = keys.publicKey;
    options.curveServerKey = keys.serverKey;
  }
  const socket = new zmq.Dealer(options);
  let failed = 0;
  socket.events.on("handshake", () => { failed = 0; onConnected(); });
  // 400: ZAP refused the key; another status is the daemon failing, not the key.
  socket.events.on("handshake:error:auth", (e) => onRefused(new ConnectionRefused(
    e.error && e.error.status !== undefined && Number(e.error.status) !== 400 ? HANDSHAKE_FAILED
                                                                             : KEY_REFUSED)));
  socket.events.on("handshake:error:protocol", () => onRefused(new ConnectionRefused(HANDSHAKE_FAILED)));
  // The daemon closing the connection (another server key); a handshake that timed out (a
  // daemon stalled or slow) is not counted.
  socket.events.on("handshake:error:other", (e) => {
    const code = e.error && (e.error.code || "");
    if ((code === "EPIPE" || code === "ECONNRESET") && ++failed >= 2)
      onRefused(new ConnectionRefused(HANDSHAKE_FAILED));
  });
  return socket;
}

// Sends on one socket one at a time, in order (zeromq.js' rule).
function sender(socket) {
  let chain = Promise.resolve();
  return (bytes) => {
    const sent = chain.then(() => socket.send(bytes));
    chain = sent.catch(() => {}); // one failed send does not stop the next ones
    return sent;
  };
}

// One partner's connection to a territory's ingest endpoint: publish() returns a promise of the
// event's final Ack. An unanswered event is sent again with the same bytes after ackTimeoutMs
// (the daemon applies a (partner_id, event_id) pair once and answers DUPLICATE), one answered
// RETRY after a backoff; the connection is made in the background and events wait for it.
class Partner {
  constructor(endpoint, partnerId, { keys = null, ackTimeoutMs = 5000, maxAttempts = 5 } = {}) {
    this.partnerId = partnerId;
    this.ackTimeoutMs = ackTimeoutMs;
    this.maxAttempts = maxAttempts;
    this.inFlight = new Map(); // event_id -> {bytes, attempts, timer, resolve, reject}
    this.connected = false;
    this.refused = null;
    this.socket = dealer(keys, () => this._connected(), (e) => this._refuse(e));
    this.send = sender(this.socket);
    this.socket.connect(endpoint);
    this._receive();
  }

  event(beneficiaryId, payload) {
    return { event_id: newEventId(), partner_id: this.partnerId, beneficiary_id: beneficiaryId,
             occurred_at: Date.now(), ...payload };
  }

  publish(event) {
    if (this.refused) return Promise.reject(this.refused);
    const bytes = pb.Event.encode(pb.Event.fromObject(event)).finish();
    return new Promise((resolve, reject) => {
      const entry = { bytes, attempts: 0, timer: null, resolve, reject };
      this.inFlight.set(event.event_id, entry);
      if (this.connected) this._attempt(event.event_id, entry);
    });
  }

  _connected() {
    this.connected = true;
    for (const [id, entry] of this.inFlight) if (entry.attempts === 0) this._attempt(id, entry);
  }

  _attempt(id, entry) {
    if (entry.attempts >= this.maxAttempts) {
      this.inFlight.delete(id);
      entry.reject(new Error(`event ${id}: no answer after ${entry.attempts} sends`));
      return;
    }
    entry.attempts++;
    this.send(entry.bytes).catch(() => {}); // a send lost with a connection: the timer re-sends
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => this._attempt(id, entry), this.ackTimeoutMs);
  }

  _refuse(error) {
    if (this.refused) return;
    this.refused = error;
    for (const entry of this.inFlight.values()) { clearTimeout(entry.timer); entry.reject(error); }
    this.inFlight.clear();
  }

  async _receive() {
    try {
      for await (const [frame] of this.socket) {
        const ack = pb.Ack.decode(frame);
        const entry = this.inFlight.get(ack.event_id);
        if (!entry) continue; // the answer to a copy already settled
        clearTimeout(entry.timer);
        if (ack.status === pb.AckStatus.ACK_STATUS_RETRY) {
          entry.timer = setTimeout(() => this._attempt(ack.event_id, entry), 200 * entry.attempts);
          continue;
        }
        this.inFlight.delete(ack.event_id);
        entry.resolve(ack);
      }
    } catch (e) {
      if (!this.socket.closed) throw e;
    }
  }

  close() {
    for (const entry of this.inFlight.values()) clearTimeout(entry.timer);
    this.socket.close();
  }
}

// A partner's notification stream on the deliver endpoint, with the rules every follower
// keeps: Subscribe on every new connection and wait for Subscribed before acknowledging;
// subscribe again on NOT_SUBSCRIBED; never acknowledge beyond what the current subscription
// sent; dedupe on (stream_id, partner_seq); acknowledge after the handler returned.
class Follower {
  constructor(endpoint, partnerId, handler, { keys = null, window = 100 } = {}) {
    this.partnerId = partnerId;
    this.handler = handler;
    this.window = window;
    this.streamId = null;
    this.last = 0n; // the last partner_seq handled (BigInt: 64 bits)
    this.awaiting = false;
    this.refused = null;
    this.onRefused = null;
    this.socket = dealer(keys, () => this._subscribe(), (e) => {
      this.refused = e;
      if (this.onRefused) this.onRefused(e);
    });
    this.send = sender(this.socket);
    this.socket.connect(endpoint);
  }

  _subscribe() {
    this.awaiting = true;
    const request = pb.DeliverRequest.fromObject({
      subscribe: { partner_id: this.partnerId, window: this.window } });
    this.send(pb.DeliverRequest.encode(request).finish()).catch(() => {});
  }

  _ack(upTo) {
    const request = pb.DeliverRequest.fromObject({ ack: { up_to: upTo.toString() } });
    this.send(pb.DeliverRequest.encode(request).finish()).catch(() => {});
  }

  // Reads until idleMs pass with nothing new (heartbeats do not count); resolves then.
  async run(idleMs) {
    if (this.refused) throw this.refused;
    let idle = null;
    const stop = () => this.socket.close();
    const rearm = () => { clearTimeout(idle); idle = setTimeout(stop, idleMs); };
    this.onRefused = stop; // a refused key ends the loop, which then says why
    rearm();
    try {
      for await (const [frame] of this.socket) {
        const reply = pb.DeliverReply.decode(frame);
        if (reply.subscribed) {
          const stream = reply.subscribed.stream_id.toString();
          if (this.streamId !== null && stream !== this.streamId)
            this.last = BigInt(reply.subscribed.cursor.toString()); // restored: numbered again
          this.streamId = stream;
          this.awaiting = false;
        } else if (reply.error) {
          if (reply.error.code === pb.ErrorCode.ERROR_CODE_NOT_SUBSCRIBED && !this.awaiting)
            this._subscribe();
          else if (reply.error.code !== pb.ErrorCode.ERROR_CODE_NOT_SUBSCRIBED)
            throw new Error(`${pb.enumName("ErrorCode", reply.error.code)}: ${reply.error.message}`);
        } else if (reply.notification && !this.awaiting) {
          const n = reply.notification;
          const seq = BigInt(n.partner_seq.toString());
          if (seq <= this.last) { this._ack(seq); continue; } // a redelivery
          await this.handler(n);
          this.last = seq;
          this._ack(seq);
          rearm();
        }
      }
    } catch (e) {
      if (!this.socket.closed) throw e;
    } finally {
      clearTimeout(idle);
    }
    if (this.refused) throw this.refused;
  }
}

module.exports = { ConnectionRefused, Follower, HANDSHAKE_FAILED, KEY_REFUSED, Partner, newEventId,
                   pb, readKey };
