// xmpp.js (@xmpp/client 0.14) over WebSocket (RFC 7395), driven by
// tests/integration/test_xmpp_web.py.  Arguments: SERVICE (ws://...)
// DOMAIN USER PASSWORD.  One JSON object per line on stdout for every
// event the test waits for; commands, one per line on stdin:
//   roster          fetch the roster: {"ev":"roster","items":[jid...]}
//   send JID BODY   a chat message
//   reconnect       connect again (SM resumption when enabled)
//   quit            <close/>, exit
// xmpp.js uses the global WebSocket: node 22 has one, node 20 behind
// --experimental-websocket (the test passes it when node knows it), and
// for Debian 12's node 18 the "ws" package stands in.
import { webcrypto } from "node:crypto";
import readline from "node:readline";

globalThis.crypto ??= webcrypto;
if (typeof globalThis.WebSocket === "undefined")
  globalThis.WebSocket = (await import("ws")).WebSocket;
const { client, xml } = await import("@xmpp/client");

const [service, domain, username, password] = process.argv.slice(2);

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

const xmpp = client({ service, domain, resource: "web", username, password });
xmpp.reconnect.stop(); // the test decides when to come back

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
    if (cmd === "roster") {
      const r = await xmpp.iqCaller.get(xml("query", { xmlns: "jabber:iq:roster" }));
      say({ ev: "roster", items: r.getChildren("item").map((i) => i.attrs.jid) });
    } else if (cmd === "send") {
      await xmpp.send(xml("message", { to: rest[0], type: "chat" },
        xml("body", {}, rest.slice(1).join(" "))));
      say({ ev: "sent" });
    } else if (cmd === "presence") {
      await xmpp.send(xml("presence"));
      say({ ev: "sent" });
    } else if (cmd === "reconnect") {
      await xmpp.reconnect.reconnect();
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
