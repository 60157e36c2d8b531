# fuzz/local.mk -- build rules for fuzz/ (filled in by its issue).

# fuzz_gguf: the GGUF reader (engine/format/gguf.c), built into the target
# so that it is instrumented. Seeds: tests/tools/gguf_mkfile --seeds DIR.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_gguf
fuzz_fuzz_gguf_SOURCES = fuzz/fuzz_gguf.c engine/format/gguf.c engine/format/tensor_type.c
fuzz_fuzz_gguf_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_gguf_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_gguf_LDADD = common/libcommon.a
endif

# fuzz_bundle: the model.sig parser (bundle/), built into the target so
# that it is instrumented. Seeds: the model.sig files of shared/oms-vectors.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_bundle
fuzz_fuzz_bundle_SOURCES = fuzz/fuzz_bundle.c \
	bundle/util.c bundle/dsse.c bundle/sigfile.c bundle/statement.c \
	bundle/trust.c bundle/walk.c bundle/hash.c bundle/verify.c bundle/sign.c
fuzz_fuzz_bundle_CFLAGS = $(AM_CFLAGS) $(SSL_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_bundle_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_bundle_LDADD = common/libcommon.a $(SSL_LIBS) $(JANSSON_LIBS)
endif

# fuzz_tokenize: the tokenizer (engine/text/) on arbitrary bytes with a
# small in-memory vocabulary; its sources are built into the target so
# that they are instrumented. Seeds: tests/data/tokenizer/strings.txt lines.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_tokenize
fuzz_fuzz_tokenize_SOURCES = fuzz/fuzz_tokenize.c \
	engine/text/utf8.c engine/text/bytemap.c engine/text/vocab.c \
	engine/text/tokenize.c engine/text/detok.c engine/text/chat.c \
	engine/format/gguf.c engine/format/tensor_type.c
fuzz_fuzz_tokenize_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_tokenize_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_tokenize_LDADD = common/libcommon.a
endif

# fuzz_http: gemmad's HTTP request parser with its limits, and the OpenAI
# request reader on every complete body (daemon/http.c, api_request.c and
# llhttp built into the target so they are instrumented).
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_http
fuzz_fuzz_http_SOURCES = fuzz/fuzz_http.c daemon/http.c daemon/api_request.c \
	engine/grammar/schema.c
fuzz_fuzz_http_CPPFLAGS = $(AM_CPPFLAGS) $(LLHTTP_CFLAGS) $(JANSSON_CFLAGS) $(UV_CFLAGS) $(SSL_CFLAGS)
fuzz_fuzz_http_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_http_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_http_LDADD = $(GMD_LLHTTP_LIBS) common/libcommon.a $(JANSSON_LIBS) $(SSL_LIBS)
endif

# fuzz_config: gemmad's configuration parser on arbitrary YAML
# (daemon/conf.c built into the target so it is instrumented).
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_config
fuzz_fuzz_config_SOURCES = fuzz/fuzz_config.c daemon/conf.c \
	common/yaml_doc.c common/yaml_get.c
fuzz_fuzz_config_CPPFLAGS = $(AM_CPPFLAGS) $(YAML_CFLAGS)
fuzz_fuzz_config_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_config_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_config_LDADD = $(ENGINE_LIBS) common/libcommon.a $(YAML_LIBS)
endif

# fuzz_policy: the access-policy parser (policy/) on arbitrary YAML; the
# policy sources are built into the target so they are instrumented.
# Seeds: etc/policy.yaml, tests/data/policy/policy.yaml.in.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_policy
fuzz_fuzz_policy_SOURCES = fuzz/fuzz_policy.c \
	policy/policy.c policy/parse.c policy/decide.c policy/limiter.c \
	common/yaml_doc.c common/yaml_get.c
fuzz_fuzz_policy_CPPFLAGS = $(AM_CPPFLAGS) $(YAML_CFLAGS)
fuzz_fuzz_policy_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_policy_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_policy_LDADD = common/libcommon.a $(YAML_LIBS) -lpthread
endif

# fuzz_model_load: the model loader (engine/model/: metadata, tensor
# binding, then one decode step), its sources built into the target so
# that they are instrumented; the rest of the engine comes from libengine.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_model_load
fuzz_fuzz_model_load_SOURCES = fuzz/fuzz_model_load.c \
	engine/model/model.c engine/model/hparams.c engine/model/weights.c \
	engine/model/context.c engine/model/kv_cache.c engine/model/forward.c \
	engine/model/attention.c engine/model/ffn.c engine/model/moe.c \
	engine/model/ple.c engine/model/ops.c
fuzz_fuzz_model_load_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_model_load_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_model_load_LDADD = $(ENGINE_LIBS)
endif

# fuzz_audit_export: the audit export reader (audit/verify.c) on arbitrary
# bytes; the audit sources are built into the target so they are
# instrumented. Seeds: files written by 'gemmactl audit export'.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_audit_export
fuzz_fuzz_audit_export_SOURCES = fuzz/fuzz_audit_export.c \
	audit/canon.c audit/db.c audit/keys.c audit/verify.c
fuzz_fuzz_audit_export_CPPFLAGS = $(AM_CPPFLAGS) $(SSL_CFLAGS) $(SQLITE_CFLAGS) $(JANSSON_CFLAGS)
fuzz_fuzz_audit_export_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_audit_export_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_audit_export_LDADD = common/libcommon.a $(SSL_LIBS) $(SQLITE_LIBS) $(JANSSON_LIBS)
endif

# fuzz_ctl_client: what gemmactl reads from gemmad (ctl/client_parse.c:
# response head, chunked coding, server-sent events, --url values), built
# into the target so it is instrumented.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_ctl_client
fuzz_fuzz_ctl_client_SOURCES = fuzz/fuzz_ctl_client.c ctl/client_parse.c ctl/client_parse.h
fuzz_fuzz_ctl_client_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_ctl_client_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_ctl_client_LDADD = common/libcommon.a
endif

# fuzz_audit_query: the query string of gemmad's audit routes
# (daemon/audit_query.c, built into the target so it is instrumented).
# Seeds: query strings such as "since=0&principal=CN%3Dalice&tail=1".
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_audit_query
fuzz_fuzz_audit_query_SOURCES = fuzz/fuzz_audit_query.c daemon/audit_query.c
fuzz_fuzz_audit_query_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS)
fuzz_fuzz_audit_query_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_audit_query_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_audit_query_LDADD = common/libcommon.a $(JANSSON_LIBS)
endif

# fuzz_json_schema: the JSON schema compiler and the byte matcher
# (engine/grammar/), built into the target so that they are instrumented:
# the input is a schema, then a NUL, then bytes fed to its matcher.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_json_schema
fuzz_fuzz_json_schema_SOURCES = fuzz/fuzz_json_schema.c \
	engine/grammar/schema.c engine/grammar/step.c
fuzz_fuzz_json_schema_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_json_schema_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_json_schema_LDADD = common/libcommon.a $(JANSSON_LIBS)
endif

# fuzz_tool_format: the tool-call parser (model output) and the renderer of
# chats with tools (engine/grammar/tool_format.c), built in to be
# instrumented. Seeds: tests/data/tools/*.json.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_tool_format
fuzz_fuzz_tool_format_SOURCES = fuzz/fuzz_tool_format.c engine/grammar/tool_format.c \
	engine/text/utf8.c engine/text/bytemap.c engine/text/vocab.c \
	engine/text/tokenize.c engine/text/detok.c \
	engine/format/gguf.c engine/format/tensor_type.c
fuzz_fuzz_tool_format_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_tool_format_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_tool_format_LDADD = common/libcommon.a $(JANSSON_LIBS)
endif

# fuzz_audit_msg: the audit signer's request parser (audit/msg.c, built
# into the target so it is instrumented): the network-facing process is
# the less trusted side. Seeds: none needed (the format is small).
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_audit_msg
fuzz_fuzz_audit_msg_SOURCES = fuzz/fuzz_audit_msg.c audit/msg.c
fuzz_fuzz_audit_msg_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_audit_msg_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_audit_msg_LDADD = common/libcommon.a
endif

# fuzz_yaml_doc: the shared YAML reader (common/yaml_doc.c, yaml_get.c)
# and its typed getters on arbitrary bytes, built into the target so it
# is instrumented. Seeds: etc/gemmad.yaml, etc/policy.yaml.
if BUILD_FUZZERS
noinst_PROGRAMS += fuzz/fuzz_yaml_doc
fuzz_fuzz_yaml_doc_SOURCES = fuzz/fuzz_yaml_doc.c common/yaml_doc.c common/yaml_get.c
fuzz_fuzz_yaml_doc_CPPFLAGS = $(AM_CPPFLAGS) $(YAML_CFLAGS)
fuzz_fuzz_yaml_doc_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
fuzz_fuzz_yaml_doc_LDFLAGS = -fsanitize=fuzzer,address,undefined
fuzz_fuzz_yaml_doc_LDADD = common/libcommon.a $(YAML_LIBS)
endif
