#!/usr/bin/env node
/**
 * An OpenAI-compatible server that answers at once, in its own process, for measuring the client's
 * own cost per call (bench/endpointsBench.ts): /v1/models, and /v1/chat/completions streaming a fixed
 * answer in `CHUNKS` chunks with usage. Prints its URL on stdout, exits when stdin closes.
 *   node bench/instantOpenAiServer.mjs [CHUNKS]
 */
import http from "node:http";

const chunks = Number(process.argv[2] ?? 16);
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (d) => {
    body += d;
  });
  req.on("end", () => {
    if (req.url === "/v1/models") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "instant", object: "model" }] }));
      return;
    }
    if (req.url !== "/v1/chat/completions") {
      res.writeHead(404).end();
      return;
    }
    const parsed = JSON.parse(body);
    if (!parsed.stream) {
      // The start-up JSON-schema probe.
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          choices: [{ index: 0, message: { role: "assistant", content: '{"probe":"rust-kb-ok"}' }, finish_reason: "stop" }],
          usage: { prompt_tokens: 1, completion_tokens: 1 },
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    let out = "";
    for (let i = 0; i < chunks; i++) out += `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "tok " }, finish_reason: null }] })}\n\n`;
    out += `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })}\n\n`;
    out += `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 100, completion_tokens: chunks } })}\n\n`;
    out += "data: [DONE]\n\n";
    res.end(out);
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`http://127.0.0.1:${server.address().port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
