// xmpp.js (@xmpp/client 0.14) as a phone that reconnects, driven by
// tests/integration/test_xmpp_sasl2.py.  Arguments: SERVICE DOMAIN USER
// PASSWORD.  One JSON object per line on stdout for every event the test
// waits for; commands, one per line on stdin:
//   drop            the TCP connection dies (no </stream>, no SM ack)
//   reconnect       connect again: SASL2 with the FAST token if one is
//                   saved, inline SM <resume/>, as xmpp.js does it
//   password PW     the password xmpp.js falls back to
//   send JID BODY   a chat message
//   quit            </stream>, exit
// What goes over the wire is reported too ("out"/"in" lines), so the
// test sees the mechanisms and inline elements used.
import { webcrypto } from "node:crypto";
import readline from "node:readline";
import { client, xml } from "@xmpp/client";

// Debian 12's node 18 has WebCrypto only as node:crypto's (xmpp.js's
// HT-SHA-256-NONE wants the global; it looks it up when it runs), and no
// ES2023 toSorted (@xmpp/resolve's, when it resolves a domain)
globalThis.crypto ??= webcrypto;
if (!Array.prototype.toSorted)
  Object.defineProperty(Array.prototype, "toSorted", {
    value(cmp) {
      return [...this].sort(cmp);
    },
  });

const [service, domain, username, initialPassword] = process.argv.slice(2);
let password = initialPassword;
const agentId = "5b0a6e2e-6f1c-4b8e-9a0c-2c1f8a9d7e31";
const userAgent = xml("user-agent", { id: agentId }, [
  xml("software", {}, "xmpp.js"),
  xml("device", {}, "node test phone"),
]);

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const xmpp = client({
  service,
  domain,
  resource: "phone",
  // our own credentials callback: the password can change between
  // connections, the user agent id stays (FAST tokens are bound to it)
  credentials: async (authenticate, mechanisms, fast) => {
    const token = await fast?.fetch();
    const mechanism = mechanisms.find((m) => m !== "PLAIN") ?? mechanisms[0];
    await authenticate({ username, password, token }, mechanism, userAgent);
  },
});
xmpp.reconnect.stop(); // the test decides when to come back

const saveToken = xmpp.fast.saveToken.bind(xmpp.fast);
xmpp.fast.saveToken = async (t) => {
  await saveToken(t);
  say({ ev: "token", token: t.token, mechanism: t.mechanism, expiry: t.expiry });
};

xmpp.on("error", (err) => say({ ev: "error", error: String(err), condition: err.condition }));
xmpp.on("offline", () => say({ ev: "offline" }));
xmpp.on("disconnect", () => say({ ev: "disconnect" }));
xmpp.on("online", (jid) => say({ ev: "online", jid: jid.toString(),
  sm: xmpp.streamManagement.enabled, smid: xmpp.streamManagement.id }));
xmpp.streamManagement.on("resumed", () => say({ ev: "resumed",
  jid: xmpp.jid.toString() }));
xmpp.on("send", (el) => say({ ev: "out", data: el.toString() }));
xmpp.on("element", (el) => say({ ev: "in", data: el.toString() }));
xmpp.on("stanza", (st) => {
  if (st.is("message") && st.getChildText("body"))
    say({ ev: "message", from: st.attrs.from, body: st.getChildText("body") });
});

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", async (line) => {
  const [cmd, ...rest] = line.trim().split(" ");
  try {
    if (cmd === "drop") {
      // starttls wraps the TCP socket (@xmpp/tls lib/Socket.js)
      (xmpp.socket.socket ?? xmpp.socket).destroy();
    } else if (cmd === "reconnect") {
      await xmpp.reconnect.reconnect();
    } else if (cmd === "password") {
      password = rest.join(" ");
      say({ ev: "ok" });
    } else if (cmd === "send") {
      await xmpp.send(xml("message", { to: rest[0], type: "chat" },
        xml("body", {}, rest.slice(1).join(" "))));
      say({ ev: "sent" });
    } else if (cmd === "quit") {
      await xmpp.stop();
      process.exit(0);
    }
  } catch (err) {
    say({ ev: "error", error: String(err), condition: err.condition });
  }
});

xmpp.start().catch((err) => say({ ev: "error", error: String(err),
  condition: err.condition }));
