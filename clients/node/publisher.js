#!/usr/bin/env node
// Example: a mission locale's system records a young person's first steps on Parcours.
//
//   node clients/node/publisher.js --endpoint tcp://127.0.0.1:7401 --as ml93 \
//       --beneficiary B-93-0100 [--key keys/ml93.secret --server-key parcoursd.public]
//
// Registers the person, asks for an orientation and records an appointment, pipelined, and
// prints each ack. Exit 0 when every event was accepted (or had been already), 1 when one was
// rejected or the key refused, 3 when the daemon did not answer within --timeout seconds.
"use strict";

const { ConnectionRefused, Partner, pb } = require("./parcours");
const { keys, parse } = require("./args");

async function main() {
  const o = parse(process.argv.slice(2), { endpoint: "tcp://127.0.0.1:7401", as: "ml93",
                                           beneficiary: "B-93-0100", key: "", "server-key": "",
                                           timeout: "30" });
  const partner = new Partner(o.endpoint, o.as, { keys: keys(o) });
  const events = [
    partner.event(o.beneficiary, { beneficiary_registered: {} }),
    partner.event(o.beneficiary, { orientation_requested: {
      requested_type: "PATHWAY_TYPE_EMPLOI", reason: "ORIENTATION_REQUEST_REASON_FIRST_ORIENTATION" } }),
    partner.event(o.beneficiary, { appointment_recorded: {
      kind: "APPOINTMENT_KIND_INDIVIDUAL", status: "APPOINTMENT_STATUS_SEEN", at: Date.now() } }),
  ];
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(
    `parcoursd did not answer on ${o.endpoint} within ${Number(o.timeout) * 1000} ms: is parcoursd running?`)),
    Number(o.timeout) * 1000));
  let ok = true;
  try {
    // Pipelined: all three in flight at once; the daemon applies them in order.
    const acks = await Promise.race([Promise.all(events.map((e) => partner.publish(e))), timeout]);
    for (const ack of acks) {
      const status = pb.enumName("AckStatus", ack.status).replace("ACK_STATUS_", "");
      console.log(`${ack.event_id} ${status} seq=${ack.seq.toString()} version=${ack.version.toString()}` +
                  (ack.message ? ` ${ack.message}` : ""));
      ok = ok && (ack.status === pb.AckStatus.ACK_STATUS_ACCEPTED ||
                  ack.status === pb.AckStatus.ACK_STATUS_DUPLICATE);
    }
  } catch (e) {
    process.stderr.write(`publisher.js: ${e.message}\n`);
    return e instanceof ConnectionRefused ? 1 : 3;
  } finally {
    partner.close();
  }
  return ok ? 0 : 1;
}

main().then((code) => process.exit(code));
