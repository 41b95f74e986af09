// Sparky under PM2 (docs/DEPLOYMENT.md): the webhook server and the AI worker.
//
//   pm2 start ecosystem.config.js            # both processes
//   pm2 start ecosystem.config.js --only sparky
//   pm2 save && pm2 startup                  # start them again at boot
//
// Read when PM2 loads this file (`pm2 start`, `pm2 reload`), from the environment of that command:
//   SPARKY_ENV_FILE  the settings, KEY=VALUE lines as in .env.example (default /etc/sparky/sparky.env);
//                    a missing or malformed file stops `pm2 start` with the reason
//   SPARKY_VENV      the virtualenv holding the `sparky` command (default .venv beside this file)
//   SPARKY_LOG_DIR   where the log files go (default /var/log/sparky)
// Edit the env file, then `pm2 reload ecosystem.config.js --update-env` to apply it.
"use strict";

const fs = require("fs");
const path = require("path");

const envFile = process.env.SPARKY_ENV_FILE || "/etc/sparky/sparky.env";
const venv = process.env.SPARKY_VENV || path.join(__dirname, ".venv");
const logDir = process.env.SPARKY_LOG_DIR || "/var/log/sparky";

// KEY=VALUE per line; blank lines and lines starting with # are skipped, `export ` is allowed, and a
// value wholly inside matching quotes loses them (the subset systemd's EnvironmentFile= reads alike,
// so one file serves both). Anything else is refused with its line number.
function readEnvFile(file) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`sparky: cannot read the settings file ${file} (SPARKY_ENV_FILE): ${err.message}`);
  }
  const env = {};
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) {
      throw new Error(`sparky: ${file} line ${index + 1} is not KEY=VALUE (SPARKY_ENV_FILE): ${line.slice(0, 40)}`);
    }
    let value = match[2];
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) {
      value = value.slice(1, -1);
    }
    env[match[1]] = value;
  });
  return env;
}

const settings = readEnvFile(envFile);
try {
  fs.mkdirSync(logDir, { recursive: true, mode: 0o750 });
} catch (err) {
  throw new Error(`sparky: cannot create the log directory ${logDir} (SPARKY_LOG_DIR): ${err.message}`);
}

// shared by both processes
const common = {
  script: path.join(venv, "bin", "sparky"),
  interpreter: "none", // the venv's console script, not node
  exec_mode: "fork", // one server per data dir: never PM2's cluster mode
  instances: 1,
  cwd: __dirname,
  env: settings,
  autorestart: true,
  // 1 s, then 1.5× per crash up to 15 s; back to 1 s once a run lasts 30 s
  exp_backoff_restart_delay: 1000,
  min_uptime: "30s",
  // ten crashes in a row, each within 30 s of its start, and PM2 gives up (`pm2 logs` says why)
  max_restarts: 10,
  // exit status 2 is settings Sparky refuses (the log names them): restarting cannot fix those
  stop_exit_codes: [2],
  max_memory_restart: "1G",
  merge_logs: true,
  watch: false,
};

module.exports = {
  apps: [
    {
      ...common,
      name: "sparky",
      // loopback only: nginx in front terminates TLS and is the only proxy whose X-Forwarded-For is
      // believed (the flags win over HOST and FORWARDED_ALLOW_IPS in the env file); PORT is the env file's
      args: ["serve", "--host", "127.0.0.1", "--forwarded-allow-ips", "127.0.0.1"],
      // PM2 stops a process with SIGINT, which the server takes as SIGTERM: it stops taking connections
      // (up to 30 s for open ones), waits up to 20 s for executions in flight, then closes its clients;
      // 90 s leaves room for all of it before PM2's SIGKILL
      kill_timeout: 90000,
      out_file: path.join(logDir, "sparky.out.log"),
      error_file: path.join(logDir, "sparky.err.log"),
    },
    {
      ...common,
      name: "sparky-ai-worker",
      args: ["ai-worker"],
      // on SIGINT (as on SIGTERM) the cycle in flight finishes (model calls, records, alerts) before the worker exits
      kill_timeout: 120000,
      out_file: path.join(logDir, "sparky-ai-worker.out.log"),
      error_file: path.join(logDir, "sparky-ai-worker.err.log"),
    },
  ],
};
