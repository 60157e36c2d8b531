# engine/local.mk -- Gemma 4 inference: the engine library and gemma-run.
#
# The library is assembled from fragments, one per part of engine/:
#   format/  GGUF reader and writer, tensor formats, quantization
#   synth/   synthetic Gemma 4 model generator
#   model/   model loading, forward pass, KV cache (engine/gemma.h)
#   cpu/     CPU kernels (threads, AVX2/FMA and AVX-512 with run-time dispatch)
#   cuda/    CUDA backend (optional)
#   text/    tokenizer, chat format, sampling, generation loop
#   grammar/ constrained decoding (JSON schema to token masks), logprobs
#   cli/     gemma-run

noinst_LIBRARIES += engine/libengine.a
engine_libengine_a_SOURCES = engine/gemma.h
engine_libengine_a_CFLAGS = $(AM_CFLAGS)
ENGINE_LIBS = engine/libengine.a $(ENGINE_CUDA_LIBS) common/libcommon.a -lm -lpthread

include engine/format/local.mk
include engine/quant/local.mk
include engine/synth/local.mk
include engine/model/local.mk
include engine/cpu/local.mk
include engine/cuda/local.mk
include engine/text/local.mk
include engine/grammar/local.mk

bin_PROGRAMS += gemma-run
gemma_run_SOURCES = engine/cli/gemma-run.c engine/cli/cli.h \
	engine/cli/cli_synth.c engine/cli/cli_inspect.c \
	engine/cli/cli_generate.c engine/cli/cli_tokenize.c \
	engine/cli/cli_logits.c engine/cli/cli_bench.c
gemma_run_LDADD = $(ENGINE_LIBS)
gemma_run_SOURCES += engine/cli/cli_file.c
