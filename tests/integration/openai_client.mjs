// tests/integration/openai_client.mjs -- OpenAI's official Node client
// (the `openai` npm package, v4) against gemmad over mutual TLS: list the
// models, one plain and one streamed chat completion, and an API error.
//
// usage: node openai_client.mjs BASE_URL CA CERT KEY MODEL
// Prints one line per check: "ok - what" or "not ok - what: why".
import fs from 'node:fs';
import https from 'node:https';
import OpenAI from 'openai';

const [baseURL, ca, cert, key, model] = process.argv.slice(2);
const httpAgent = new https.Agent({
  ca: fs.readFileSync(ca),
  cert: fs.readFileSync(cert),
  key: fs.readFileSync(key),
  keepAlive: true,
});
const client = new OpenAI({ baseURL, apiKey: 'unused-mtls', httpAgent, timeout: 30000, maxRetries: 0 });

let failed = 0;
function check(what, cond, why = '') {
  if (cond) console.log(`ok - ${what}`);
  else { failed++; console.log(`not ok - ${what}${why ? ': ' + why : ''}`); }
}

const messages = [{ role: 'user', content: 'Hello' }];
const params = { model, messages, max_tokens: 10, seed: 5, temperature: 0.8 };

try {
  const list = await client.models.list();
  check('models.list() includes the model', list.data.some((m) => m.id === model),
        JSON.stringify(list.data));

  const plain = await client.chat.completions.create(params);
  const msg = plain.choices[0]?.message;
  check('chat.completions.create: an assistant message',
        msg?.role === 'assistant' && typeof msg.content === 'string' && msg.content.length > 0,
        JSON.stringify(plain));
  check('chat.completions.create: usage counts',
        plain.usage.total_tokens === plain.usage.prompt_tokens + plain.usage.completion_tokens &&
        plain.usage.completion_tokens > 0, JSON.stringify(plain.usage));

  const stream = await client.chat.completions.create({
    ...params, stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta?.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  check('streamed chat: chunks arrive and end with a finish_reason', chunks > 2 && finish !== null,
        `chunks=${chunks} finish=${finish}`);
  check('streamed chat: same text as the plain request (same seed)', text === msg?.content,
        `${JSON.stringify(text)} vs ${JSON.stringify(msg?.content)}`);
  check('streamed chat: usage chunk', usage !== null && usage.completion_tokens > 0,
        JSON.stringify(usage));

  try {
    await client.chat.completions.create({ ...params, model: 'no-such-model' });
    check('unknown model raises an APIError', false, 'no error');
  } catch (e) {
    check('unknown model raises NotFoundError (404) with code model_not_found',
          e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found',
          `${e.constructor.name} ${e.status} ${e.code}`);
  }
} catch (e) {
  check('the client talks to gemmad', false, String(e?.stack || e));
}
httpAgent.destroy();
process.exit(failed ? 1 : 0);
