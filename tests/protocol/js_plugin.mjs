// The conformance profile (docs/plugin-protocol.md, section 15) in JavaScript, written from the specification alone:
// no PixSim code. It proves a plugin in another language can speak protocol 1, and the suite checks it as it checks
// the Python reference plugin. Run: node js_plugin.mjs, with the protocol socket on the fd named by
// PIXSIM_PROTOCOL_FD (default 3).
import net from "node:net";

const TAG = "$pixsim";
const manifest = {
  id: "js-sample",
  name: "Conformance sample in JavaScript",
  version: "1.0.0",
  description: "The conformance profile, written from the protocol specification.",
  trust: "community",
  isolation: "process",
  permissions: ["behavior:extend_conditions", "behavior:extend_effects", "event:subscribe", "session:read"],
};
const hooks = ["register_behavior", "on_session_updated"];

const socket = new net.Socket({ fd: Number(process.env.PIXSIM_PROTOCOL_FD ?? 3), readable: true, writable: true });
let buffer = Buffer.alloc(0);
const inbox = [];
let waiting = null;

socket.on("data", (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  while (buffer.length >= 4) {
    const size = buffer.readUInt32BE(0);
    if (buffer.length < 4 + size) break;
    const body = buffer.subarray(4, 4 + size).toString("utf8");
    buffer = buffer.subarray(4 + size);
    inbox.push(JSON.parse(body));
  }
  if (waiting && inbox.length) {
    const wake = waiting;
    waiting = null;
    wake();
  }
});
socket.on("end", () => process.exit(0));

async function next() {
  while (!inbox.length) await new Promise((resolve) => (waiting = resolve));
  return inbox.shift();
}

function send(message) {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  socket.write(Buffer.concat([header, body]));
}

// -- values ----------------------------------------------------------------------------------------------------------
const shared = new Map();

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== "object") return value;
  const tag = value[TAG];
  if (tag === undefined) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  if (tag === "ref") {
    if (!shared.has(value.key)) throw new Error(`unknown shared value ${value.key}`);
    return shared.get(value.key);
  }
  if (tag === "dict") return decode(value.value);
  if (tag === "datetime") return value.iso;
  return decode(value.fields); // a snapshot, view or event: its fields
}

// -- capability requests --------------------------------------------------------------------------------------------
let capIds = 0;
let current = { call: 0, item: null };

class Denied extends Error {}

async function capability(capability, member, args) {
  const id = ++capIds;
  send({ type: "cap", id, call: current.call, item: current.item, capability, member, args, kwargs: {} });
  const answer = await next();
  if (answer.type !== "cap_result" || answer.id !== id || typeof answer.ok !== "boolean") {
    throw new Error("the host's answer to a capability request is not believed");
  }
  if (answer.ok) return decode(answer.value);
  throw answer.error?.type === "PermissionDenied" ? new Denied(answer.error.message) : new Error(answer.error?.message);
}

// -- the plugin ----------------------------------------------------------------------------------------------------
const extensions = new Map(); // full id -> function

const hookImpls = {
  async register_behavior() {
    extensions.set(await capability("behavior", "register_condition_evaluator", ["is_tired"]), isTired);
    extensions.set(await capability("behavior", "register_effect_handler", ["mark_seen"]), markSeen);
    return null;
  },
  async on_session_updated(event) {
    const seen = {};
    try {
      const session = await capability("session", "get_session", [event.session.id]);
      seen.session = session === null ? null : session.version;
    } catch (error) {
      if (!(error instanceof Denied)) throw error;
      seen.session = "denied";
    }
    try {
      const world = await capability("world", "get_world", [event.world_id]);
      seen.world = world === null ? null : world.name;
    } catch (error) {
      if (!(error instanceof Denied)) throw error;
      seen.world = "denied";
    }
    return seen;
  },
};

async function isTired(params, view) {
  return (view.state.energy ?? 100) < (params.below ?? 30);
}

async function markSeen(params, view) {
  const previous = (await capability("effect", "get_flag", ["seen"])) ?? 0;
  return { flags: { seen: previous + 1 }, relationships: { [`npc:${view.npc.id}`]: { affinity: 1 } } };
}

async function call(message) {
  for (const [key, value] of Object.entries(message.shared ?? {})) shared.set(key, decode(value));
  const target = message.hook != null ? hooks.includes(message.hook) && hookImpls[message.hook] : extensions.get(message.extension);
  if (!target) {
    for (const key of message.drop ?? []) shared.delete(key);
    const name = message.hook ?? message.extension;
    return { type: "error", id: message.id, error: { type: "LookupError", message: `no ${name}` } };
  }
  const results = [];
  for (const [index, raw] of message.items.entries()) {
    current = { call: message.id, item: index };
    try {
      results.push({ ok: true, value: await target(...decode(raw)) });
    } catch (error) {
      const type = error instanceof Denied ? "PermissionDenied" : "Error";
      results.push({ ok: false, error: { type, message: String(error.message).slice(0, 2000) } });
    }
  }
  current = { call: 0, item: null };
  for (const key of message.drop ?? []) shared.delete(key); // after the items: they may refer to a dropped value
  return { type: "result", id: message.id, results };
}

for (;;) {
  const message = await next();
  switch (message.type) {
    case "hello":
      send({ type: "welcome", id: message.id, protocol: 1, manifest, hooks });
      break;
    case "grant":
      send({ type: "ack", id: message.id });
      break;
    case "ping":
      send({ type: "pong", id: message.id });
      break;
    case "call":
      send(await call(message));
      break;
    case "shutdown":
      send({ type: "bye", id: message.id });
      socket.end(() => process.exit(0));
      break;
    default:
      process.exit(2); // anything else is out of turn: a conforming plugin closes rather than guess
  }
}
