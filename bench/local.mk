# bench/local.mk -- the side-by-side CPU speed benchmark of our engine
# against the reference llama.cpp v0.5.0 (bench/engine_vs_ref.sh; the
# reference's harness bench/ref_bench.c is compiled by the script at run
# time against $GEMMA_REF_DIR). A benchmark, not a test: `make bench`
# runs it, `make check` does not. BENCH_ARGS passes options, e.g.
# `make bench BENCH_ARGS=--quick`.

EXTRA_DIST += bench/engine_vs_ref.sh bench/ref_bench.c bench/ref_quantize.c bench/membw.c

.PHONY: bench
bench: gemma-run$(EXEEXT)
	GEMMA_RUN='$(abs_top_builddir)/gemma-run$(EXEEXT)' \
	GEMMA_REF_DIR="$${GEMMA_REF_DIR:-$$HOME/.cache/gemmad/reference}" \
	$(SHELL) '$(top_srcdir)/bench/engine_vs_ref.sh' $(BENCH_ARGS)
