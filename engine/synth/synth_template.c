/*
 * engine/synth/synth_template.c -- the chat template synthetic models carry
 * as tokenizer.chat_template.
 *
 * The core of the real Gemma 4 template (google-gemma-4-31B-it.jinja,
 * docs/architecture.md E13), without tools: <bos>; a system turn when
 * there is a system/developer message or thinking is on (<|think|> at its
 * top); "<|turn>ROLE\n...<turn|>\n" per message with the assistant written
 * "model", user/system text trimmed and the thought channel stripped from
 * model text; the generation prompt "<|turn>model\n", followed by the
 * empty thought channel "<|channel>thought\n<channel|>" when thinking is
 * off.
 */
#include "engine/synth/synth.h"

static const char template_text[] =
    "{%- macro strip_thinking(text) -%}\n"
    "    {%- set ns = namespace(result='') -%}\n"
    "    {%- for part in text.split('<channel|>') -%}\n"
    "        {%- if '<|channel>' in part -%}\n"
    "            {%- set ns.result = ns.result + part.split('<|channel>')[0] -%}\n"
    "        {%- else -%}\n"
    "            {%- set ns.result = ns.result + part -%}\n"
    "        {%- endif -%}\n"
    "    {%- endfor -%}\n"
    "    {{- ns.result | trim -}}\n"
    "{%- endmacro -%}\n"
    "{%- set loop_messages = messages -%}\n"
    "{{- bos_token -}}\n"
    "{%- if (enable_thinking is defined and enable_thinking) or "
    "messages[0]['role'] in ['system', 'developer'] -%}\n"
    "    {{- '<|turn>system\\n' -}}\n"
    "    {%- if enable_thinking is defined and enable_thinking -%}\n"
    "        {{- '<|think|>\\n' -}}\n"
    "    {%- endif -%}\n"
    "    {%- if messages[0]['role'] in ['system', 'developer'] -%}\n"
    "        {{- messages[0]['content'] | trim -}}\n"
    "        {%- set loop_messages = messages[1:] -%}\n"
    "    {%- endif -%}\n"
    "    {{- '<turn|>\\n' -}}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}\n"
    "    {{- '<|turn>' + role + '\\n' -}}\n"
    "    {%- if role == 'model' -%}\n"
    "        {{- strip_thinking(message['content']) -}}\n"
    "    {%- else -%}\n"
    "        {{- message['content'] | trim -}}\n"
    "    {%- endif -%}\n"
    "    {{- '<turn|>\\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{- '<|turn>model\\n' -}}\n"
    "    {%- if not enable_thinking | default(false) -%}\n"
    "        {{- '<|channel>thought\\n<channel|>' -}}\n"
    "    {%- endif -%}\n"
    "{%- endif -%}\n";

const char *gm_synth_chat_template(void)
{
    return template_text;
}
