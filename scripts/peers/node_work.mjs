// The --work grammar of node_server.mjs and the two things a part can do to a thread.
//
// Parsing mirrors reference_server/work.cpp and scripts/twisted_server.py to the byte: the same
// accepted specs, the same double arithmetic and round-half-away rounding to whole nanoseconds,
// the same error messages (tests/data/work_specs.json is what all three are checked against).
//
// Running a part (sleepFor, spinFor) blocks whichever thread calls it: the main thread in
// inline mode, a worker thread in call-in-thread mode. Loaded as a Worker (node_server.mjs
// does that), this module is also the worker's entry point: it takes one task at a time from
// its port, runs it and posts {id} back. Its per-thread state (the CPU clock's descriptor and
// last reading, the hash buffer) lives in module variables, and every thread has its own copy
// of a module, so threads share nothing here.
import fs from "node:fs";
import { isMainThread, parentPort } from "node:worker_threads";

export const GRAMMAR =
  "expected none or PART[+PART]..., PART = KIND:DURATION[,fixed|exp][,pPROB=DURATION]... or " +
  "sql:STATEMENT or sql:NAME, KIND sleep|spin, DURATION a number with ns|us|ms|s, NAME " +
  "point-read|hot-update|range-scan|sleep-10ms, STATEMENT with {rand} or {rand:N} for a random " +
  "key (e.g. sleep:10ms, spin:200us, spin:2ms+sleep:8ms, sleep:1ms,p0.01=100ms, " +
  "sql:point-read+spin:1ms)";
const HOUR_NS = 3600e9;
const NS_PER_UNIT = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };
// Digits with an optional fraction, or a fraction alone; no sign, exponent, space or "inf".
const DECIMAL = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/;
const PART_STARTS = ["sleep:", "spin:", "sql:"];
const LARGEST_KEY_RANGE = 2147483647;

class BadPart extends Error {}

const quoted = (text) => `'${text}'`;

function readDecimal(text) {
  return DECIMAL.test(text) ? Number(text) : null;
}

function numberInPart(text) {
  const value = readDecimal(text);
  if (value === null) throw new BadPart(`${quoted(text)} is not a number`);
  return value;
}

// '1.5ms' -> 1500000; the unit is the run of lowercase letters at the end.
function nanosecondsInPart(text) {
  const unitAt = text.search(/[a-z]*$/);
  const scale = NS_PER_UNIT[text.slice(unitAt)];
  const value = readDecimal(text.slice(0, unitAt));
  if (value === null || scale === undefined) {
    throw new BadPart(`${quoted(text)} is not a duration with a unit`);
  }
  // Compared before rounding, as work.cpp compares. Math.round is llround here: value >= 0.
  if (value * scale > HOUR_NS) throw new BadPart(`${quoted(text)} is longer than an hour`);
  return Math.round(value * scale);
}

// The spelling of a duration in a spec: the largest unit that divides it, else ns.
function specDuration(ns) {
  if (ns === 0) return "0s";
  for (const [size, unit] of [[1e9, "s"], [1e6, "ms"], [1e3, "us"]]) {
    if (ns % size === 0) return `${ns / size}${unit}`;
  }
  return `${ns}ns`;
}

// A probability as C++'s `ostream << double` writes it (printf's %g, 6 significant digits).
function cppDouble(value) {
  const [mantissa, exponent] = value.toExponential(5).split("e");
  const trim = (digits) => (digits.includes(".") ? digits.replace(/\.?0+$/, "") : digits);
  const power = Number(exponent);
  if (power < -4 || power >= 6) {
    const sign = power < 0 ? "-" : "+";
    return `${trim(mantissa)}e${sign}${String(Math.abs(power)).padStart(2, "0")}`;
  }
  return trim(value.toFixed(5 - power));
}

function checkPlaceholder(placeholder) {
  const match = /^\{rand(?::([0-9]{1,10}))?\}$/.exec(placeholder);
  const range = match && match[1] !== undefined ? Number(match[1]) : 1;
  if (!match || range < 1 || range > LARGEST_KEY_RANGE) {
    throw new BadPart(
      `unknown placeholder '${placeholder}' (expected {rand} or {rand:N}, N from 1 to ` +
        `${LARGEST_KEY_RANGE})`,
    );
  }
}

// sql:STATEMENT or sql:NAME: checked and spelled as given; this peer cannot run it.
function parseSqlPart(statement) {
  if (statement === "") throw new BadPart("no statement after 'sql:'");
  const named = {
    "point-read": "SELECT v FROM kv WHERE id={rand}",
    "hot-update": "UPDATE kv SET n=n+1 WHERE id={rand:8}",
    "range-scan": "SELECT COUNT(*),SUM(n) FROM kv WHERE id BETWEEN {rand} AND {rand}+9999",
    "sleep-10ms": "SELECT SLEEP(0.01)",
  };
  const text = named[statement] ?? statement;
  for (let open = text.indexOf("{"); open !== -1; ) {
    const close = text.indexOf("}", open);
    checkPlaceholder(close === -1 ? text.slice(open) : text.slice(open, close + 1));
    open = text.indexOf("{", close + 1);
  }
  return { kind: "sql", spelling: statement, ns: 0, exponential: false, outliers: [] };
}

function parseOption(part, option, index, total) {
  const equals = option.indexOf("=");
  if (option === "fixed" || option === "exp") {
    if (index !== 1) throw new BadPart("the distribution must come right after the duration");
    part.exponential = option === "exp";
  } else if (option.startsWith("p") && equals !== -1) {
    const probability = numberInPart(option.slice(1, equals));
    if (probability <= 0 || probability > 1) {
      throw new BadPart(`probability in ${quoted(option)} is not in (0, 1]`);
    }
    total.probability += probability;
    part.outliers.push([probability, nanosecondsInPart(option.slice(equals + 1))]);
  } else {
    throw new BadPart(`unknown option ${quoted(option)}`);
  }
}

function parsePart(text) {
  if (text === "") throw new BadPart("it is empty");
  if (text === "none") throw new BadPart("'none' cannot be combined with other parts");
  const colon = text.indexOf(":");
  if (colon === -1) throw new BadPart("no ':' after the kind");
  const kind = text.slice(0, colon);
  if (kind === "sql") return parseSqlPart(text.slice(colon + 1));
  if (kind !== "sleep" && kind !== "spin") throw new BadPart(`unknown kind ${quoted(kind)}`);
  const options = text.slice(colon + 1).split(",");
  const part = { kind, ns: nanosecondsInPart(options[0]), exponential: false, outliers: [] };
  const total = { probability: 0 };
  options.slice(1).forEach((option, i) => parseOption(part, option, i + 1, total));
  if (total.probability > 1 + 1e-12) throw new BadPart("the p...= probabilities add up to over 1");
  return part;
}

// Split at '+', but an sql: part runs on over pieces that start no part (n=n+1).
function splitParts(text) {
  const parts = [];
  for (const piece of text.split("+")) {
    const last = parts.length - 1;
    const startsAPart = PART_STARTS.some((start) => piece.startsWith(start));
    if (last >= 0 && parts[last].startsWith("sql:") && !startsAPart) {
      parts[last] += "+" + piece;
    } else {
      parts.push(piece);
    }
  }
  return parts;
}

// The parts of a spec, in order; throws Error with reference_server's message.
export function parseWork(text) {
  if (text === "none") return [];
  const pieces = splitParts(text);
  return pieces.map((piece, i) => {
    try {
      return parsePart(piece);
    } catch (bad) {
      if (!(bad instanceof BadPart)) throw bad;
      const where = pieces.length > 1 ? `part ${i + 1} ${quoted(piece)}: ` : "";
      throw new Error(`bad work spec ${quoted(text)}: ${where}${bad.message}; ${GRAMMAR}`);
    }
  });
}

function partToString(part) {
  if (part.kind === "sql") return `sql:${part.spelling}`;
  let text = `${part.kind}:${specDuration(part.ns)}`;
  if (part.exponential) text += ",exp";
  for (const [probability, ns] of part.outliers) {
    text += `,p${cppDouble(probability)}=${specDuration(ns)}`;
  }
  return text;
}

export function canonical(parts) {
  return parts.length === 0 ? "none" : parts.map(partToString).join("+");
}

// Mean ns of the parts of one kind, outliers included, summed in work.cpp's order.
export function meanNanoseconds(parts, kind) {
  let total = 0;
  for (const part of parts.filter((p) => p.kind === kind)) {
    let probability = 0;
    let mean = 0;
    for (const [p, ns] of part.outliers) {
      probability += p;
      mean += p * ns;
    }
    total += mean + (1 - probability) * part.ns;
  }
  return total;
}

// One request's cost of a part, in ns; `random` returns a double in [0, 1).
export function sampleNanoseconds(part, random) {
  if (part.outliers.length > 0) {
    let pick = random();
    for (const [probability, ns] of part.outliers) {
      if (pick < probability) return ns;
      pick -= probability;
    }
  }
  if (part.exponential && part.ns > 0) return Math.round(-Math.log(1 - random()) * part.ns);
  return part.ns;
}

// --- Running parts on the calling thread -------------------------------------------------

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

// Blocks the calling thread (no CPU) for ns: Atomics.wait on a cell nobody ever notifies.
export function sleepFor(ns) {
  if (ns > 0) Atomics.wait(sleepCell, 0, 0, ns / 1e6);
}

// The calling thread's CPU time in ns. /proc/thread-self/schedstat's first field is exact only
// when the scheduler last updated it (a tick, every 4 ms at HZ=250, or a switch off the CPU),
// so on its own a spin would be as coarse as a tick. Between two updates the thread has been on
// the CPU the whole time (leaving it would have updated the field), so the wall time since this
// thread first saw the current value is added to it.
const cpuClock = { fd: -1, buffer: Buffer.alloc(64), value: -1, seenAt: 0n };

export function threadCpuNanoseconds() {
  if (cpuClock.fd === -1) cpuClock.fd = fs.openSync("/proc/thread-self/schedstat", "r");
  const length = fs.readSync(cpuClock.fd, cpuClock.buffer, 0, cpuClock.buffer.length, 0);
  const now = process.hrtime.bigint();
  const value = Number(cpuClock.buffer.toString("latin1", 0, length).split(" ")[0]);
  if (value !== cpuClock.value) {
    cpuClock.value = value;
    cpuClock.seenAt = now;
  }
  return value + Number(now - cpuClock.seenAt);
}

const hashWords = new Uint32Array(16).map((_, i) => i + 1);

// 256 passes of 32-bit FNV-1a over 16 words that it rewrites (so the JIT keeps the work): some
// tens of microseconds, between two reads of the CPU clock.
function hashRound() {
  let hash = 0x811c9dc5;
  for (let pass = 0; pass < 256; ++pass) {
    for (let i = 0; i < hashWords.length; ++i) {
      hash = Math.imul(hash ^ hashWords[i], 0x01000193) >>> 0;
      hashWords[i] = hash;
    }
  }
}

// Hashes until the calling thread has used ns more of its own CPU time, however long that
// takes on the wall clock when the thread shares a CPU.
export function spinFor(ns) {
  if (ns <= 0) return;
  const until = threadCpuNanoseconds() + ns;
  while (threadCpuNanoseconds() < until) hashRound();
}

// Runs [kind, ns] steps in order on the calling thread.
export function runSteps(steps) {
  for (const [kind, ns] of steps) {
    if (kind === "sleep") sleepFor(ns);
    else spinFor(ns);
  }
}

// A worker of the call-in-thread pool: one task at a time, in the order posted.
if (!isMainThread && parentPort) {
  parentPort.on("message", ({ id, steps }) => {
    runSteps(steps);
    parentPort.postMessage(id);
  });
}
