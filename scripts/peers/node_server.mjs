#!/usr/bin/env node
// A poolbench peer written the way a Node.js service would be: one event loop (net.createServer)
// that reads `\r\n`-terminated lines and answers each with `ack:<line>\r\n`, taking the same
// flags as reference_server so that `loadgen sweep --server-cmd "node scripts/peers/node_server.mjs
// --port {port} --mode {mode} --pool-size {pool} --work {work}"` measures it like our server.
// Node 20's standard library only (Debian's nodejs); node_work.mjs beside it holds the --work
// grammar and the code that runs a part.
//
// Where the work of a request runs, and what its parts do there:
//
// inline: on the event-loop thread, so every other connection waits meanwhile.
//   sleep:D  Atomics.wait on a SharedArrayBuffer cell for D: the loop thread is blocked and
//            uses no CPU, like a synchronous driver call would.
//   spin:D   the loop thread hashes until it has itself used D of CPU time.
// call-in-thread (alias worker-threads): on a fixed pool of --pool-size worker_threads, all made
//   at start. Each worker runs one request at a time; requests wait in a FIFO queue on the loop
//   thread, and a worker posts {id} back when done, after which the loop writes the reply.
//   sleep:D  Atomics.wait in the worker: that worker is blocked for D, the others go on.
//   spin:D   the worker hashes until it has itself used D of CPU time. Workers are real threads
//            with their own V8 isolates (no global lock), so N spinning workers use N CPUs.
// libuv: on libuv's own threadpool, through a built-in asynchronous API that runs there.
//   spin:D   crypto.pbkdf2 (sha256) with the iteration count that costs D of CPU time of a
//            pool thread. The cost of one iteration is measured once, at start, by timing
//            crypto.pbkdf2Sync on the loop thread's own CPU clock; where it drifts later (a busy
//            shared machine), so does the cost of a spin part. The pool is as big as
//            UV_THREADPOOL_SIZE, so when that differs from --pool-size the peer runs itself
//            again with it set (libuv reads it once) and passes signals and the exit status
//            through. The process a caller started then only waits: the work's CPU time is its
//            child's.
//   sleep:D  refused (exit 2): Node has no built-in call that just blocks a libuv pool thread
//            for a given time, and faking one would not be what a Node service does.
//
// "Its own CPU time": Node 20 has no per-thread CPU clock, so the thread reads its
// /proc/thread-self/schedstat (first field: ns on the CPU) once per hashing round; see
// node_work.mjs for how it is made finer than a scheduler tick.
//
// Departures from reference_server (reference_server/README.md):
// - sql: parts are parsed and printed by --print-work, but this peer has no database client:
//   running them exits 2.
// - No stats, admin endpoint, --lf, --max-queue, idle timeout or per-connection bounds; inline
//   mode runs every line of one read before reading again (no 16-line turns).
// - Random durations (exp, pPROB) and --fail-rate are drawn on the loop thread when a request is
//   dispatched; only the sampled costs travel to a worker.
// - Shutdown: SIGTERM or SIGINT stops accepting and reading, answers every request already read,
//   closes each connection once its replies are written and exits 0; a second signal or 10 s
//   exits 3 at once.
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import { spawn } from "node:child_process";
import { Worker } from "node:worker_threads";
import * as work from "./node_work.mjs";

const PROGRAM = "node_server.mjs";
const MODES = {
  inline: "inline",
  "call-in-thread": "call-in-thread",
  "worker-threads": "call-in-thread",
  libuv: "libuv",
};
const DRAIN_LIMIT_MS = 10_000;
const EXIT_BAD_USAGE = 2;
const EXIT_DRAIN_CUT = 3;
const SQL_REFUSAL =
  "sql: work needs a database client; this peer has none (reference_server and " +
  "scripts/twisted_server.py have one)";

const HELP = `usage: node ${PROGRAM} [FLAGS]

A line server (each \\r\\n-terminated line is answered ack:<line>\\r\\n) as a poolbench peer.

FLAGS
  --port N          TCP port; 0 picks a free one (default 9090)
  --bind ADDR       address to listen on (default 127.0.0.1)
  --port-file PATH  write the chosen port to PATH (a temporary file, then renamed)
  --mode M          inline | call-in-thread (alias worker-threads) | libuv
                    (default call-in-thread); see the header of this file for what each does
  --pool-size N     worker threads (call-in-thread) or UV_THREADPOOL_SIZE (libuv), >= 1
                    (default 10)
  --work SPEC       work per request (default sleep:1s): none | PART[+PART]..., PART =
                    KIND:DURATION[,fixed|exp][,pPROB=DURATION]..., units ns|us|ms|s, KIND sleep
                    (blocks the thread) or spin (D of the thread's own CPU time); sql: parts
                    parse but cannot run here
  --fail-rate P     probability in [0, 1] that a request is answered err:injected failure|<line>
  --seed N          seed for the random choices (fail rate, exp and pPROB durations)
  --max-line N      longest line in bytes (default 16384); a longer one is answered
                    err:line too long and the connection closes
  --print-work SPEC print {"canonical", "cpu_ns", "blocking_ns"} of SPEC as JSON and exit
  --help            this text

The first line on stderr is "listening on HOST:PORT". SIGTERM or SIGINT: stop accepting, answer
every request already read, then exit.

EXIT STATUS
  0  clean stop (every request read was answered), or --help / --print-work
  1  an internal failure (a worker thread or crypto.pbkdf2 failed)
  2  bad flags, a bad work spec, work this mode cannot run, or a port that cannot be bound
  3  the drain was cut: a second signal, or requests still unanswered after 10 s
`;

class UsageError extends Error {}

function integerFlag(name, text, min, max) {
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    throw new UsageError(`${name} must be an integer in [${min}, ${max}], got '${text}'`);
  }
  return value;
}

function probabilityFlag(name, text) {
  const value = /^[0-9.eE+-]+$/.test(text) ? Number(text) : NaN;
  if (!(value >= 0 && value <= 1)) throw new UsageError(`${name} must be in [0, 1], got '${text}'`);
  return value;
}

const FLAG_READERS = {
  "--port": (c, v) => (c.port = integerFlag("--port", v, 0, 65535)),
  "--bind": (c, v) => (c.bind = v),
  "--port-file": (c, v) => (c.portFile = v),
  "--mode": (c, v) => {
    if (!(v in MODES)) {
      throw new UsageError(`--mode: unknown mode '${v}' (${Object.keys(MODES).join(", ")})`);
    }
    c.mode = MODES[v];
  },
  "--pool-size": (c, v) => (c.poolSize = integerFlag("--pool-size", v, 1, 1024)),
  "--work": (c, v) => (c.work = v),
  "--fail-rate": (c, v) => (c.failRate = probabilityFlag("--fail-rate", v)),
  "--seed": (c, v) => (c.seed = integerFlag("--seed", v, 0, Number.MAX_SAFE_INTEGER)),
  "--max-line": (c, v) => (c.maxLine = integerFlag("--max-line", v, 1, 1 << 30)),
  "--print-work": (c, v) => (c.printWork = v),
};

// argv without node and the script; throws UsageError.
function parseFlags(argv) {
  const config = {
    port: 9090, bind: "127.0.0.1", portFile: null, mode: "call-in-thread", poolSize: 10,
    work: "sleep:1s", failRate: 0, seed: null, maxLine: 16384, printWork: null, help: false,
  };
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === "--help" || argv[i] === "-h") {
      config.help = true;
      continue;
    }
    const equals = argv[i].indexOf("=");
    const name = equals === -1 ? argv[i] : argv[i].slice(0, equals);
    if (!(name in FLAG_READERS)) throw new UsageError(`unknown flag '${argv[i]}'`);
    const value = equals === -1 ? argv[++i] : argv[i].slice(equals + 1);
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    FLAG_READERS[name](config, value);
  }
  return config;
}

function printWork(spec) {
  try {
    const parts = work.parseWork(spec);
    const cpu = work.meanNanoseconds(parts, "spin");
    const blocking = work.meanNanoseconds(parts, "sleep");
    const printed = { canonical: work.canonical(parts), cpu_ns: cpu, blocking_ns: blocking };
    process.stdout.write(JSON.stringify(printed) + "\n");
    return 0;
  } catch (bad) {
    process.stderr.write(`${bad.message}\n`);
    return EXIT_BAD_USAGE;
  }
}

// The parts to run, or a UsageError for work this peer or mode cannot run.
function runnableWork(config) {
  let parts;
  try {
    parts = work.parseWork(config.work);
  } catch (bad) {
    throw new UsageError(`--work: ${bad.message}`);
  }
  if (parts.some((part) => part.kind === "sql")) throw new UsageError(SQL_REFUSAL);
  if (config.mode === "libuv" && parts.some((part) => part.kind === "sleep")) {
    throw new UsageError(
      "--mode libuv runs spin parts only (as crypto.pbkdf2 on libuv's pool): Node has no " +
        "built-in call that blocks a pool thread for a given time, so sleep parts are refused",
    );
  }
  return parts;
}

// mulberry32: a small seeded generator of doubles in [0, 1) for --seed.
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// --- Where the work runs: submit(steps, done), done called on the loop thread -------------

function inlineExecutor() {
  return (steps, done) => {
    work.runSteps(steps);
    done();
  };
}

// The pool and a promise that resolves once every worker runs. Each worker is a V8 isolate that
// costs tens of ms of CPU to start, so the server listens only after that: measured from the
// first connection, 32 workers starting on one CPU took it over for a second and more.
function workerPoolExecutor(size) {
  const url = new URL("./node_work.mjs", import.meta.url);
  const idle = [];
  const queue = [];
  const pending = new Map();
  const online = [];
  let lastId = 0;
  const start = (worker, task) => worker.postMessage(task);
  for (let i = 0; i < size; ++i) {
    const worker = new Worker(url);
    online.push(new Promise((resolve) => worker.once("online", resolve)));
    worker.on("error", (error) => fatal(`a worker thread failed: ${error.stack ?? error}`));
    worker.on("message", (id) => {
      const done = pending.get(id);
      pending.delete(id);
      if (queue.length > 0) start(worker, queue.shift());
      else idle.push(worker);
      done();
    });
    idle.push(worker);
  }
  const submit = (steps, done) => {
    const task = { id: ++lastId, steps };
    pending.set(task.id, done);
    if (idle.length > 0) start(idle.pop(), task);
    else queue.push(task);
  };
  return { submit, ready: Promise.all(online) };
}

const PBKDF2_ARGS = ["poolbench", "peer", 32, "sha256"];

// ns of CPU one pbkdf2 iteration costs on this thread. Many short calls with the CPU clock read
// between them: the clock is only fine-grained while it is read often (node_work.mjs). A first
// pass warms OpenSSL and the clock up and is not counted.
function pbkdf2NanosecondsPerIteration() {
  const [password, salt, length, digest] = PBKDF2_ARGS;
  const iterationsPerCall = 200;
  const measure = (budgetNs) => {
    const start = work.threadCpuNanoseconds();
    let iterations = 0;
    let used = 0;
    while (used < budgetNs) {
      crypto.pbkdf2Sync(password, salt, iterationsPerCall, length, digest);
      iterations += iterationsPerCall;
      used = work.threadCpuNanoseconds() - start;
    }
    return used / iterations;
  };
  measure(20e6);
  return measure(100e6);
}

function libuvExecutor(nsPerIteration) {
  return (steps, done) => {
    const run = (index) => {
      if (index === steps.length) return done();
      const iterations = Math.max(1, Math.round(steps[index][1] / nsPerIteration));
      const [password, salt, length, digest] = PBKDF2_ARGS;
      crypto.pbkdf2(password, salt, iterations, length, digest, (error) => {
        if (error) fatal(`crypto.pbkdf2 failed: ${error.message}`);
        run(index + 1);
      });
    };
    run(0);
  };
}

// --- Connections ---------------------------------------------------------------------------

const CRLF = Buffer.from("\r\n");

function fatal(message) {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
  process.exit(1);
}

// `<what>` of an err: reply stays on one line and splits at its first '|'.
const errorText = (what) => what.replace(/[|\r\n]/g, "/");

class Peer {
  constructor(config, parts, submit) {
    this.config = config;
    this.parts = parts;
    this.submit = submit;
    this.random = config.seed === null ? Math.random : seededRandom(config.seed);
    this.connections = new Set();
    this.draining = false;
  }

  accept(socket) {
    const connection = { socket, buffered: Buffer.alloc(0), inFlight: 0, reading: true };
    this.connections.add(connection);
    socket.setNoDelay(true);
    socket.on("data", (bytes) => this.read(connection, bytes));
    socket.on("end", () => this.stopReading(connection));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      this.connections.delete(connection);
      this.exitIfDrained();
    });
    if (this.draining) this.stopReading(connection);
  }

  read(connection, bytes) {
    if (!connection.reading) return;
    const { buffered } = connection;
    let rest = buffered.length === 0 ? bytes : Buffer.concat([buffered, bytes]);
    for (let end = rest.indexOf(CRLF); end !== -1 && connection.reading; end = rest.indexOf(CRLF)) {
      const line = rest.subarray(0, end);
      rest = rest.subarray(end + 2);
      if (line.length > this.config.maxLine) return this.refuseLongLine(connection);
      this.dispatch(connection, line);
    }
    // A line of --max-line bytes fits with its CRLF; two bytes more without one cannot be a line.
    if (rest.length > this.config.maxLine + 1) return this.refuseLongLine(connection);
    connection.buffered = Buffer.from(rest);
  }

  refuseLongLine(connection) {
    connection.socket.write("err:line too long\r\n");
    this.stopReading(connection);
  }

  stopReading(connection) {
    connection.reading = false;
    connection.buffered = Buffer.alloc(0);
    connection.socket.pause();
    this.closeIfDone(connection);
  }

  closeIfDone(connection) {
    // Half-open sockets wait for the peer's FIN after ours: close as soon as our replies are out.
    if (!connection.reading && connection.inFlight === 0) {
      connection.socket.end(() => connection.socket.destroy());
    }
  }

  dispatch(connection, line) {
    const copy = Buffer.from(line);
    const steps = this.parts.map((part) => [part.kind, work.sampleNanoseconds(part, this.random)]);
    const fails = this.config.failRate > 0 && this.random() < this.config.failRate;
    connection.inFlight += 1;
    this.submit(steps, () => {
      connection.inFlight -= 1;
      const head = fails ? `err:${errorText("injected failure")}|` : "ack:";
      const reply = Buffer.concat([Buffer.from(head), copy, CRLF]);
      if (!connection.socket.destroyed) connection.socket.write(reply);
      this.closeIfDone(connection);
    });
  }

  drain() {
    this.draining = true;
    this.server.close();
    for (const connection of this.connections) this.stopReading(connection);
    this.exitIfDrained();
  }

  exitIfDrained() {
    if (this.draining && this.connections.size === 0) process.exit(0);
  }
}

function writePortFile(path, port) {
  const temporary = `${path}.tmp.${process.pid}`;
  fs.writeFileSync(temporary, `${port}\n`);
  fs.renameSync(temporary, path);
}

function handleSignals(peer) {
  let signals = 0;
  const onSignal = () => {
    signals += 1;
    if (signals > 1) process.exit(EXIT_DRAIN_CUT);
    setTimeout(() => process.exit(EXIT_DRAIN_CUT), DRAIN_LIMIT_MS).unref();
    peer.drain();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

function serve(config, parts, submit, note) {
  const peer = new Peer(config, parts, submit);
  // Half-open: a client that shuts down its sending side still gets its replies.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => peer.accept(socket));
  peer.server = server;
  server.on("error", (error) => {
    const where = `${config.bind}:${config.port}`;
    process.stderr.write(`${PROGRAM}: cannot listen on ${where}: ${error.message}\n`);
    process.exit(EXIT_BAD_USAGE);
  });
  server.listen({ port: config.port, host: config.bind, backlog: 511 }, () => {
    const { address, port } = server.address();
    process.stderr.write(`listening on ${address}:${port}\n`);
    if (note) process.stderr.write(`${PROGRAM}: ${note}\n`);
    if (config.portFile) writePortFile(config.portFile, port);
  });
  handleSignals(peer);
}

// libuv sizes its pool from UV_THREADPOOL_SIZE once: run this script again with it set, passing
// signals on (the child drains) and its exit status back.
function rerunWithThreadpoolSize(size) {
  const child = spawn(process.execPath, process.argv.slice(1), {
    stdio: "inherit",
    env: { ...process.env, UV_THREADPOOL_SIZE: String(size) },
  });
  for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? 128 + os.constants.signals[signal]));
}

function main(argv) {
  let config;
  let parts;
  try {
    config = parseFlags(argv);
    if (config.help) return process.stdout.write(HELP);
    if (config.printWork !== null) return (process.exitCode = printWork(config.printWork));
    parts = runnableWork(config);
  } catch (bad) {
    if (!(bad instanceof UsageError)) throw bad;
    process.stderr.write(`${PROGRAM}: ${bad.message}\n(see --help)\n`);
    return (process.exitCode = EXIT_BAD_USAGE);
  }
  if (config.mode === "inline") return serve(config, parts, inlineExecutor());
  if (config.mode === "call-in-thread") {
    const pool = workerPoolExecutor(config.poolSize);
    return pool.ready.then(() => serve(config, parts, pool.submit));
  }
  if (process.env.UV_THREADPOOL_SIZE !== String(config.poolSize)) {
    return rerunWithThreadpoolSize(config.poolSize);
  }
  const nsPerIteration = pbkdf2NanosecondsPerIteration();
  const note = `libuv: one pbkdf2 iteration costs ${nsPerIteration.toFixed(0)} ns of CPU`;
  serve(config, parts, libuvExecutor(nsPerIteration), note);
}

main(process.argv.slice(2));
