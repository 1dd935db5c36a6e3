// The portal's GraphQL client: registered documents only, over HTTP and over SSE.
//
// Each request sends the document and its sha256 (persistedQuery), so a hub that
// runs only trusted documents accepts it. Subscriptions use GraphQL over SSE
// (graphql-sse, distinct connections mode) with fetch, which can send the bearer
// token as a header; the stream reconnects after a dropped connection.

const TOKEN_KEY = "onematter.portal.token";

export class Api {
  constructor(config) {
    this.documents = config.documents || {};
    this.demoToken = config.demoToken || null;
    this.demoRole = config.demoRole || null;
  }

  get token() {
    return sessionStorage.getItem(TOKEN_KEY) || this.demoToken;
  }

  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  body(name, variables) {
    const doc = this.documents[name];
    if (!doc) throw new Error(`unknown document ${name}`);
    return JSON.stringify({
      query: doc.query,
      operationName: name,
      variables: variables || {},
      extensions: { persistedQuery: { version: 1, sha256Hash: doc.hash } },
    });
  }

  headers(accept) {
    const headers = { "Content-Type": "application/json", Accept: accept };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return headers;
  }

  async query(name, variables) {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: this.headers("application/graphql-response+json, application/json"),
      body: this.body(name, variables),
    });
    let payload;
    try {
      payload = await response.json();
    } catch (e) {
      throw new Error(`枢纽返回了无法解析的应答（HTTP ${response.status}）`);
    }
    return payload; // { data, errors }
  }

  // Calls onUpdate(payload) for each `next` event until stop() is called.
  subscribe(name, variables, { onUpdate, onState }) {
    let stopped = false;
    let controller = null;
    let retry = 1000;
    const run = async () => {
      while (!stopped) {
        controller = new AbortController();
        try {
          const response = await fetch("/graphql", {
            method: "POST",
            headers: this.headers("text/event-stream"),
            body: this.body(name, variables),
            signal: controller.signal,
          });
          if (response.status === 401) {
            onState("expired"); // the token is no longer valid: reconnecting cannot help
            return;
          }
          if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
          onState("live");
          retry = 1000;
          const ended = await readEvents(response.body, (event, data) => {
            if (event === "next" && data) onUpdate(data);
          });
          if (ended === "complete") onState("ended");
        } catch (e) {
          if (stopped) return;
          onState("reconnecting");
        }
        if (stopped) return;
        await new Promise((resolve) => setTimeout(resolve, retry));
        retry = Math.min(retry * 2, 30000);
      }
    };
    run();
    return () => {
      stopped = true;
      if (controller) controller.abort();
    };
  }
}

// Reads an SSE body; calls onEvent(name, decoded data); returns "complete" or "closed".
async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return "closed";
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      let event = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(":")) continue; // keep-alive
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      const text = data.join("\n");
      onEvent(event, text ? JSON.parse(text) : null);
      if (event === "complete") return "complete";
    }
  }
}
