// args.js: the examples' options (--name value or --name=value) and their keys.
"use strict";

const { readKey } = require("./parcours");

function parse(argv, defaults) {
  const options = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    let [name, value] = argv[i].split(/=(.*)/s, 2);
    if (!name.startsWith("--") || !(name.slice(2) in defaults)) {
      process.stderr.write(`unknown option ${argv[i]}; options: ${Object.keys(defaults).map((k) => "--" + k).join(" ")}\n`);
      process.exit(2);
    }
    if (value === undefined) value = argv[++i];
    if (value === undefined) {
      process.stderr.write(`${name} takes a value\n`);
      process.exit(2);
    }
    options[name.slice(2)] = value;
  }
  return options;
}

// {secretKey, publicKey, serverKey} from --key PARTNER.secret (PARTNER.public beside it, as
// parcoursctl keygen writes them) and --server-key, or null without them (a plain daemon).
function keys(options) {
  if (!options.key && !options["server-key"]) return null;
  if (!options.key || !options["server-key"]) {
    process.stderr.write("CURVE needs --key (the partner's secret key) and --server-key (the daemon's public key)\n");
    process.exit(2);
  }
  try {
    return { secretKey: readKey(options.key, true),
             publicKey: readKey(options.key.replace(/\.secret$/, ".public"), false),
             serverKey: readKey(options["server-key"], false) };
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    process.exit(2);
  }
}

module.exports = { keys, parse };
