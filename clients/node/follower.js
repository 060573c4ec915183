#!/usr/bin/env node
// Example: a partner's system follows its notification stream on Parcours.
//
//   node clients/node/follower.js --endpoint tcp://127.0.0.1:7402 --as ft93 --idle 5 \
//       [--key keys/ft93.secret --server-key parcoursd.public]
//
// Prints one line per notification (partner_seq, seq, what happened, to whom) and acknowledges
// each once printed; stops after --idle seconds with nothing new. What it acknowledged does not
// come again: a second run starts after it. Exit 0, or 1 when the key is refused.
"use strict";

const { ConnectionRefused, Follower, pb } = require("./parcours");
const { keys, parse } = require("./args");

async function main() {
  const o = parse(process.argv.slice(2), { endpoint: "tcp://127.0.0.1:7402", as: "ft93",
                                           idle: "5", key: "", "server-key": "" });
  const follower = new Follower(o.endpoint, o.as, (n) => {
    if (n.erasure) {
      // The person was erased from Parcours: erase every copy of what you were told.
      console.log(`${n.partner_seq.toString()} seq=${n.seq.toString()} Erasure ${n.erasure.beneficiary_id}`);
    } else if (n.withdrawn) {
      console.log(`${n.partner_seq.toString()} seq=${n.seq.toString()} withdrawn`);
    } else {
      const kind = Object.keys(n.event).find((k) => pb.Event.oneofs.payload.oneof.includes(k) && n.event[k]);
      console.log(`${n.partner_seq.toString()} seq=${n.seq.toString()} ${kind} ${n.event.beneficiary_id}`);
    }
  }, { keys: keys(o) });
  try {
    await follower.run(Number(o.idle) * 1000);
  } catch (e) {
    process.stderr.write(`follower.js: ${e.message}\n`);
    return e instanceof ConnectionRefused ? 1 : 3;
  }
  return 0;
}

main().then((code) => process.exit(code));
