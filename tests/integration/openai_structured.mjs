// tests/integration/openai_structured.mjs -- OpenAI's official Node client
// (the `openai` npm package, v4) gets structured output from gemmad:
// beta.chat.completions.parse() with a json_schema response_format returns
// a parsed object that has the schema's shape, plain and with logprobs;
// and a tool call round-trips (tool_calls, then a role "tool" message).
//
// usage: node openai_structured.mjs BASE_URL CA CERT KEY MODEL
// Prints one line per check: "ok - what" or "not ok - what: why".
import fs from 'node:fs';
import https from 'node:https';
import OpenAI from 'openai';

const [baseURL, ca, cert, key, model] = process.argv.slice(2);
const httpAgent = new https.Agent({
  ca: fs.readFileSync(ca), cert: fs.readFileSync(cert), key: fs.readFileSync(key), keepAlive: true,
});
const client = new OpenAI({ baseURL, apiKey: 'unused-mtls', httpAgent, timeout: 60000, maxRetries: 0 });

let failed = 0;
function check(what, cond, why = '') {
  if (cond) console.log(`ok - ${what}`);
  else { failed++; console.log(`not ok - ${what}${why ? ': ' + why : ''}`); }
}

const schema = {
  type: 'object', additionalProperties: false,
  properties: {
    name: { type: 'string', maxLength: 12 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    color: { type: 'string', enum: ['light blue', 'dark red', 'green'] },
  },
  required: ['name', 'age', 'color'],
};
const response_format = { type: 'json_schema', json_schema: { name: 'person', strict: true, schema } };
const messages = [{ role: 'user', content: 'Extract the person: Ann, 31, likes green.' }];

try {
  let parsedOnce = false;
  for (const seed of [1, 2, 3]) {
    const r = await client.beta.chat.completions.parse({
      model, messages, response_format, max_tokens: 200, temperature: 1, seed });
    const c = r.choices[0];
    if (c.finish_reason !== 'stop') { console.log(`# seed ${seed}: ${c.finish_reason}`); continue; }
    const p = c.message.parsed;
    check(`parse(): seed ${seed} gives a parsed object of the schema's shape`,
          p && typeof p.name === 'string' && p.name.length <= 12 && Number.isInteger(p.age) &&
          p.age >= 0 && p.age <= 120 && schema.properties.color.enum.includes(p.color) &&
          Object.keys(p).length === 3, JSON.stringify(c.message));
    parsedOnce = true;
  }
  check('parse(): at least one answer completed', parsedOnce);

  const r = await client.chat.completions.create({
    model, messages, response_format: { type: 'json_object' }, max_tokens: 60, temperature: 1,
    seed: 4, logprobs: true, top_logprobs: 2 });
  const c = r.choices[0];
  check('json_object with logprobs: logprobs.content entries',
        Array.isArray(c.logprobs?.content) && c.logprobs.content.length > 0 &&
        c.logprobs.content.every((e) => typeof e.logprob === 'number' && e.top_logprobs.length === 2),
        JSON.stringify(c.logprobs).slice(0, 300));
  check('json_object: the content starts an object', c.message.content.startsWith('{'),
        c.message.content);

  // Tool calling: a required call comes back as tool_calls, and the
  // result goes back as a role "tool" message.
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather in a city',
    parameters: { type: 'object', additionalProperties: false, required: ['city', 'unit'],
      properties: { city: { type: 'string', maxLength: 12 },
                    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } } } } }];
  const ask = [{ role: 'user', content: 'Weather in Oslo?' }];
  const tc = await client.chat.completions.create({
    model, messages: ask, tools, tool_choice: 'required', max_tokens: 200, temperature: 1, seed: 2 });
  const call = tc.choices[0].message.tool_calls?.[0];
  let args = null;
  try { args = JSON.parse(call?.function?.arguments); } catch (e) { args = null; }
  check('tools: tool_choice required gives a tool call with arguments of its schema',
        tc.choices[0].finish_reason === 'tool_calls' && call?.type === 'function' &&
        call.function.name === 'get_weather' && typeof args?.city === 'string' &&
        args.city.length <= 12 && ['celsius', 'fahrenheit'].includes(args.unit),
        JSON.stringify(tc.choices[0]));
  const after = await client.chat.completions.create({
    model, tools, max_tokens: 5, temperature: 1, seed: 3,
    messages: [...ask, tc.choices[0].message, { role: 'tool', tool_call_id: call?.id, content: '-3 degrees' }] });
  check('tools: the call and its result go back in the history',
        typeof after.choices[0].finish_reason === 'string', JSON.stringify(after.choices[0]));
  const stream = await client.chat.completions.create({
    model, messages: ask, tools, tool_choice: { type: 'function', function: { name: 'get_weather' } },
    max_tokens: 200, temperature: 1, seed: 4, stream: true });
  let name = '', sargs = '', sfinish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      for (const d of c.delta?.tool_calls || []) {
        name += d.function?.name || '';
        sargs += d.function?.arguments || '';
      }
      if (c.finish_reason) sfinish = c.finish_reason;
    }
  }
  let sparsed = null;
  try { sparsed = JSON.parse(sargs); } catch (e) { sparsed = null; }
  check('tools: a streamed named call arrives as tool_calls deltas',
        sfinish === 'tool_calls' && name === 'get_weather' && typeof sparsed?.city === 'string',
        `${sfinish} ${name} ${sargs}`);

  try {
    await client.chat.completions.create({ model, messages, response_format: {
      type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: 'a+' } } } });
    check('an unsupported schema raises an APIError', false, 'no error');
  } catch (e) {
    check('an unsupported schema raises BadRequestError (400) naming the keyword',
          e instanceof OpenAI.BadRequestError && /pattern/.test(e.message), `${e.constructor.name} ${e.message}`);
  }
} catch (e) {
  check('the client talks to gemmad', false, String(e?.stack || e));
}
httpAgent.destroy();
process.exit(failed ? 1 : 0);
